//! The journal in Redis, shared by every gateway of a deployment.
//!
//! Every key of a user's journal shares the user's hash tag, `{user:<id>}`: `<prefix>seq:{user:<id>}`,
//! the last number given (kept for good, so numbers never go back); `<prefix>log:{user:<id>}`, a
//! list of the newest events as JSON, trimmed to the count and expiring a time to live after the
//! last one; and, per event, `<prefix>id:{user:<id>}:<event id>`, the number the user got for it,
//! for the dedup window.
//!
//! Appending a batch is one Lua script per recipient, all sent at once: each numbers that user's
//! events of the batch in order, in one step no other writer interleaves, and skips an event the
//! user already has a number for. So a batch that failed half-way (a timeout, a crash) and is
//! appended again numbers each event once for each recipient. Two batches appended at the same
//! time may be interleaved differently for different users: each user's sequence is their own.

use crate::Redis;
use crate::redis_client::{script, tag};
use std::collections::{BTreeMap, HashMap};
use warren_bus::journal::{
    DEDUP_WINDOW, JournalError, JournalStore, Kept, ResumeConfig, Resumed, recipients, resumed,
};
use warren_contracts::Event;

/// KEYS: the user's counter, their list, then one mark per event (the event's number for the
/// user, once given). ARGV: max events, ttl ms, dedup ms, then per event the stored JSON after
/// its `seq` field. Numbers the events not marked yet, in order; returns each event's number.
const APPEND: &str = r#"
local max, ttl, dedup = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local answers = {}
local appended = false
for i = 3, #KEYS do
  local done = redis.call('GET', KEYS[i])
  if done then
    answers[#answers + 1] = done
  else
    local seq = redis.call('INCR', KEYS[1])
    redis.call('RPUSH', KEYS[2], '{"seq":' .. seq .. ',' .. ARGV[i + 1])
    redis.call('SET', KEYS[i], seq, 'PX', dedup)
    answers[#answers + 1] = tostring(seq)
    appended = true
  end
end
if appended then
  redis.call('LTRIM', KEYS[2], -max, -1)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return answers"#;

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
            append: script(APPEND),
            after: script(AFTER),
        }
    }

    fn seq_key(&self, user: &str) -> String {
        format!("{}seq:{}", self.prefix, tag("user", user))
    }

    fn log_key(&self, user: &str) -> String {
        format!("{}log:{}", self.prefix, tag("user", user))
    }

    fn mark_key(&self, user: &str, event: &Event) -> String {
        format!("{}id:{}:{}", self.prefix, tag("user", user), event.id)
    }

    /// Numbers `events[i]` for `user`, for each `i` of `indexes` in order; their numbers.
    async fn append_for(
        &self,
        user: &str,
        indexes: &[usize],
        events: &[Event],
        stored: &[String],
    ) -> Result<Vec<u64>, JournalError> {
        let mut invocation = self.append.prepare_invoke();
        invocation.key(self.seq_key(user)).key(self.log_key(user));
        for &i in indexes {
            invocation.key(self.mark_key(user, &events[i]));
        }
        invocation
            .arg(self.config.max_events.max(1))
            .arg(self.config.ttl_ms().max(1))
            .arg(u64::try_from(DEDUP_WINDOW.as_millis()).unwrap_or(u64::MAX));
        for &i in indexes {
            invocation.arg(&stored[i]);
        }
        let numbers: Vec<u64> = invocation
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        if numbers.len() != indexes.len() {
            return Err(JournalError::Corrupt(format!(
                "{} numbers for {} events",
                numbers.len(),
                indexes.len()
            )));
        }
        Ok(numbers)
    }
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

/// The recipients of `events`, in order of first appearance, each with the indexes of their
/// events in order.
fn by_recipient(events: &[Event]) -> Vec<(&str, Vec<usize>)> {
    let mut users: Vec<(&str, Vec<usize>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, event) in events.iter().enumerate() {
        for user in recipients(event) {
            let at = *index.entry(user.as_str()).or_insert_with(|| {
                users.push((user.as_str(), Vec::new()));
                users.len() - 1
            });
            users[at].1.push(i);
        }
    }
    users
}

#[async_trait::async_trait]
impl JournalStore for RedisJournal {
    async fn append(
        &self,
        events: &[Event],
        now: u64,
    ) -> Result<Vec<BTreeMap<String, u64>>, JournalError> {
        let stored = events
            .iter()
            .map(|event| stored_rest(event, now))
            .collect::<Result<Vec<_>, _>>()?;
        let users = by_recipient(events);
        // One script per user, each in the user's slot; each is idempotent, so a failure of some
        // is mended by appending the batch again.
        let numbers = futures_util::future::try_join_all(
            users
                .iter()
                .map(|(user, indexes)| self.append_for(user, indexes, events, &stored)),
        )
        .await?;
        let mut answers = vec![BTreeMap::new(); events.len()];
        for ((user, indexes), numbers) in users.iter().zip(numbers) {
            for (&i, number) in indexes.iter().zip(numbers) {
                answers[i].insert((*user).to_owned(), number);
            }
        }
        Ok(answers)
    }

    async fn after(&self, user: &str, after: u64, now: u64) -> Result<Resumed, JournalError> {
        let answer: Vec<String> = self
            .after
            .key(self.seq_key(user))
            .key(self.log_key(user))
            .arg(after)
            .invoke_async(&mut self.redis.clone())
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
        let head: Option<u64> = redis::cmd("GET")
            .arg(self.seq_key(user))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(head.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_batch_is_split_by_recipient_in_order() {
        let event = |to: &[&str]| {
            Event::new(
                "x",
                to.iter().map(|u| (*u).to_owned()).collect(),
                json!(null),
            )
        };
        let events = [event(&["a", "b"]), event(&["b", "b"]), event(&["c", "a"])];
        assert_eq!(
            by_recipient(&events),
            vec![("a", vec![0, 2]), ("b", vec![0, 1]), ("c", vec![2])]
        );
    }
}
