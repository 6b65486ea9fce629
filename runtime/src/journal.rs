//! The journal in Redis, shared by every gateway of a deployment.
//!
//! Per user: `<prefix>seq:<user>`, the last number given (kept for good, so numbers never go
//! back), and `<prefix>log:<user>`, a list of the newest events as JSON, trimmed to the count
//! and expiring a time to live after the last one. Per event: `<prefix>id:<event id>`, the
//! numbers it got, for the dedup window. One Lua script numbers a whole batch, so a batch is one
//! round trip and no other writer can interleave.

use crate::Redis;
use std::collections::BTreeMap;
use warren_bus::journal::{
    DEDUP_WINDOW, JournalError, JournalStore, Kept, ResumeConfig, Resumed, recipients, resumed,
};
use warren_contracts::Event;

/// Lua that numbers and keeps a batch of events: `journal_append(argv, i)` reads, from `argv[i]`
/// on, the prefix, max events, ttl ms and dedup ms, then per event its id, the stored JSON after
/// its `seq` field, the number of recipients and the recipients. It returns per event its
/// numbers, joined by commas in the order of its recipients. Other scripts that must number
/// events in the same step as their own write (the sessions store) prepend it; see
/// [`RedisJournal::append_args`].
pub const APPEND_FUNCTION: &str = r#"
local function journal_append(argv, i)
  local prefix, max, ttl, dedup = argv[i], tonumber(argv[i + 1]), argv[i + 2], argv[i + 3]
  local answers = {}
  i = i + 4
  while i <= #argv do
    local id_key = prefix .. 'id:' .. argv[i]
    local rest = argv[i + 1]
    local n = tonumber(argv[i + 2])
    local done = redis.call('GET', id_key)
    if done then
      answers[#answers + 1] = done
    else
      local seqs = {}
      for j = 1, n do
        local user = argv[i + 2 + j]
        local seq = redis.call('INCR', prefix .. 'seq:' .. user)
        local log = prefix .. 'log:' .. user
        redis.call('RPUSH', log, '{"seq":' .. seq .. ',' .. rest)
        redis.call('LTRIM', log, -max, -1)
        redis.call('PEXPIRE', log, ttl)
        seqs[j] = seq
      end
      local answer = table.concat(seqs, ',')
      redis.call('SET', id_key, answer, 'PX', dedup)
      answers[#answers + 1] = answer
    end
    i = i + 3 + n
  end
  return answers
end
"#;

/// The journal's own append: nothing but the function.
const APPEND_CALL: &str = "return journal_append(ARGV, 1)";

/// KEYS: the user's counter, their list. ARGV: after. Returns the counter, then the kept events
/// after `after`: the list holds consecutive numbers ending at the counter, so they are its last
/// `counter - after` entries.
const AFTER: &str = r"
local head = tonumber(redis.call('GET', KEYS[1]) or '0')
local wanted = head - tonumber(ARGV[1])
if wanted <= 0 then return {tostring(head)} end
local kept = redis.call('LRANGE', KEYS[2], -wanted, -1)
table.insert(kept, 1, tostring(head))
return kept";

pub struct RedisJournal {
    redis: Redis,
    prefix: String,
    config: ResumeConfig,
    append: redis::Script,
    after: redis::Script,
}

impl std::fmt::Debug for RedisJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisJournal")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisJournal {
    pub fn new(redis: Redis, prefix: impl Into<String>, config: ResumeConfig) -> Self {
        Self {
            redis,
            prefix: prefix.into(),
            config,
            append: redis::Script::new(&format!("{APPEND_FUNCTION}{APPEND_CALL}")),
            after: redis::Script::new(AFTER),
        }
    }

    /// Adds what [`APPEND_FUNCTION`] reads for `events` to `invocation`, from the current end of
    /// its arguments: the script then calls `journal_append(ARGV, <index of the first>)`.
    pub fn append_args(
        &self,
        invocation: &mut redis::ScriptInvocation<'_>,
        events: &[Event],
        now: u64,
    ) -> Result<(), JournalError> {
        invocation
            .arg(&self.prefix)
            .arg(self.config.max_events.max(1))
            .arg(self.config.ttl_ms().max(1))
            .arg(u64::try_from(DEDUP_WINDOW.as_millis()).unwrap_or(u64::MAX));
        for event in events {
            let users = recipients(event);
            invocation
                .arg(event.id.to_string())
                .arg(stored_rest(event, now)?)
                .arg(users.len());
            for user in users {
                invocation.arg(user.as_str());
            }
        }
        Ok(())
    }
}

/// Each event's numbers by recipient, from what [`APPEND_FUNCTION`] returned for `events`.
pub fn read_answers(
    answers: &[String],
    events: &[Event],
) -> Result<Vec<BTreeMap<String, u64>>, JournalError> {
    if answers.len() != events.len() {
        return Err(JournalError::Corrupt(format!(
            "{} answers for {} events",
            answers.len(),
            events.len()
        )));
    }
    answers
        .iter()
        .zip(events)
        .map(|(answer, event)| {
            let seqs = answer.split(',').filter(|s| !s.is_empty()).map(|s| {
                s.parse::<u64>()
                    .map_err(|e| JournalError::Corrupt(e.to_string()))
            });
            recipients(event)
                .into_iter()
                .zip(seqs)
                .map(|(user, seq)| Ok((user.clone(), seq?)))
                .collect()
        })
        .collect()
}

fn unavailable(error: redis::RedisError) -> JournalError {
    JournalError::Unavailable(error.to_string())
}

/// The stored JSON of `event` after its opening `{"seq":N,`.
fn stored_rest(event: &Event, now: u64) -> Result<String, JournalError> {
    let kind =
        serde_json::to_string(&event.kind).map_err(|e| JournalError::Corrupt(e.to_string()))?;
    let data =
        serde_json::to_string(&event.data).map_err(|e| JournalError::Corrupt(e.to_string()))?;
    Ok(format!(r#""at":{now},"type":{kind},"data":{data}}}"#))
}

#[async_trait::async_trait]
impl JournalStore for RedisJournal {
    async fn append(
        &self,
        events: &[Event],
        now: u64,
    ) -> Result<Vec<BTreeMap<String, u64>>, JournalError> {
        let mut invocation = self.append.prepare_invoke();
        self.append_args(&mut invocation, events, now)?;
        let mut redis = self.redis.clone();
        let answers: Vec<String> = invocation
            .invoke_async(&mut redis)
            .await
            .map_err(unavailable)?;
        read_answers(&answers, events)
    }

    async fn after(&self, user: &str, after: u64, now: u64) -> Result<Resumed, JournalError> {
        let mut redis = self.redis.clone();
        let answer: Vec<String> = self
            .after
            .key(format!("{}seq:{user}", self.prefix))
            .key(format!("{}log:{user}", self.prefix))
            .arg(after)
            .invoke_async(&mut redis)
            .await
            .map_err(unavailable)?;
        let Some((head, stored)) = answer.split_first() else {
            return Err(JournalError::Corrupt("no counter in the answer".into()));
        };
        let head: u64 = head
            .parse()
            .map_err(|e: std::num::ParseIntError| JournalError::Corrupt(e.to_string()))?;
        let oldest = now.saturating_sub(self.config.ttl_ms());
        let mut kept = Vec::with_capacity(stored.len());
        for json in stored {
            let entry: Kept =
                serde_json::from_str(json).map_err(|e| JournalError::Corrupt(e.to_string()))?;
            if entry.at >= oldest {
                kept.push(entry.event);
            }
        }
        Ok(resumed(head, after, kept))
    }

    async fn head(&self, user: &str) -> Result<u64, JournalError> {
        let mut redis = self.redis.clone();
        let head: Option<u64> = redis::cmd("GET")
            .arg(format!("{}seq:{user}", self.prefix))
            .query_async(&mut redis)
            .await
            .map_err(unavailable)?;
        Ok(head.unwrap_or(0))
    }
}
