//! Sessions in Redis: one hash per session, `<prefix>session:<id>` with the fields `version` and
//! `record` (the JSON of the record). A replace is a Lua script that writes only if `version` is
//! still the one the writer read, so instances never overwrite each other's moves.
//!
//! Sessions expire a day after their last change. `<prefix>running` is a sorted set of the
//! sessions not finished, scored by their last change (ms), written by the same scripts as the
//! sessions: a session whose score is more than a day old has expired, and is pruned when counted.
//!
//! Presence: `<prefix>presence:<user>` is a hash, gateway id → `<ms>:<0|1>` (the newest statement
//! of each gateway wins); `<prefix>user_sessions:<user>` a set of session ids; `<prefix>away` a
//! sorted set of `<session>|<user>` scored by the deadline, from which a script takes what is due,
//! so each deadline goes to one sweeping instance; `<prefix>outboxes` likewise holds the sessions
//! whose outbox is to be looked at, in case its writer died before publishing it.

use super::{Away, PresenceStore, SessionRecord, SessionStore, StoreError};
use redis::aio::ConnectionManager;
use warren_contracts::event::now_millis;
use warren_contracts::sessions::Status;

const TTL_SECONDS: u64 = 86_400;

/// KEYS: session, running. ARGV: version, record, ttl, now (ms), session id, running (0 or 1).
const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'record', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if ARGV[6] == '1' then redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5]) end
return 1";

/// KEYS: session, running. ARGV: expected, version, record, ttl, now (ms), session id, running.
const REPLACE: &str = r"
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'record', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if ARGV[7] == '1' then
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
else
  redis.call('ZREM', KEYS[2], ARGV[6])
end
return 1";

/// KEYS: running. ARGV: the oldest score of a session that has not expired.
const COUNT_RUNNING: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
return redis.call('ZCARD', KEYS[1])";

const SET_PRESENCE: &str = r"
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local at = tonumber(string.match(current, '^(%d+):'))
  if at and at > tonumber(ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1";

const TAKE_DUE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, member in ipairs(due) do redis.call('ZREM', KEYS[1], member) end
return due";

pub struct RedisStore {
    redis: ConnectionManager,
    prefix: String,
    create: redis::Script,
    replace: redis::Script,
    set_presence: redis::Script,
    take_due: redis::Script,
    count_running: redis::Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisStore {
    pub fn new(redis: ConnectionManager, prefix: impl Into<String>) -> Self {
        Self {
            redis,
            prefix: prefix.into(),
            create: redis::Script::new(CREATE),
            replace: redis::Script::new(REPLACE),
            set_presence: redis::Script::new(SET_PRESENCE),
            take_due: redis::Script::new(TAKE_DUE),
            count_running: redis::Script::new(COUNT_RUNNING),
        }
    }

    fn key(&self, session_id: &str) -> String {
        format!("{}session:{session_id}", self.prefix)
    }

    fn running_key(&self) -> String {
        format!("{}running", self.prefix)
    }
}

fn running(record: &SessionRecord) -> &'static str {
    if record.session.status == Status::Running {
        "1"
    } else {
        "0"
    }
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn encode(record: &SessionRecord) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait::async_trait]
impl SessionStore for RedisStore {
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let created: i64 = self
            .create
            .key(self.key(&record.session.session_id))
            .key(self.running_key())
            .arg(record.version())
            .arg(encode(record)?)
            .arg(TTL_SECONDS)
            .arg(now_millis())
            .arg(&record.session.session_id)
            .arg(running(record))
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        if created == 1 {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists)
        }
    }

    async fn get(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let record: Option<String> = redis::cmd("HGET")
            .arg(self.key(session_id))
            .arg("record")
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        record
            .map(|json| serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    async fn watch_outbox(&self, session_id: &str, due: u64) -> Result<(), StoreError> {
        let _: () = redis::cmd("ZADD")
            .arg(format!("{}outboxes", self.prefix))
            .arg(due)
            .arg(session_id)
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn take_due_outboxes(&self, now: u64) -> Result<Vec<String>, StoreError> {
        self.take_due
            .key(format!("{}outboxes", self.prefix))
            .arg(now)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }

    async fn count_running(&self) -> Result<u64, StoreError> {
        let oldest = now_millis().saturating_sub(TTL_SECONDS * 1000);
        self.count_running
            .key(self.running_key())
            .arg(oldest)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }

    async fn replace(&self, record: &SessionRecord, expected: u64) -> Result<bool, StoreError> {
        let replaced: i64 = self
            .replace
            .key(self.key(&record.session.session_id))
            .key(self.running_key())
            .arg(expected)
            .arg(record.version())
            .arg(encode(record)?)
            .arg(TTL_SECONDS)
            .arg(now_millis())
            .arg(&record.session.session_id)
            .arg(running(record))
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(replaced == 1)
    }
}

fn away_member(away: &Away) -> String {
    format!("{}|{}", away.session_id, away.user_id)
}

#[async_trait::async_trait]
impl PresenceStore for RedisStore {
    async fn set_presence(
        &self,
        user_id: &str,
        gateway_id: &str,
        online: bool,
        at: u64,
    ) -> Result<bool, StoreError> {
        let _: i64 = self
            .set_presence
            .key(format!("{}presence:{user_id}", self.prefix))
            .arg(gateway_id)
            .arg(at)
            .arg(u8::from(online))
            .arg(TTL_SECONDS)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        self.is_online(user_id).await
    }

    async fn is_online(&self, user_id: &str) -> Result<bool, StoreError> {
        let statements: Vec<String> = redis::cmd("HVALS")
            .arg(format!("{}presence:{user_id}", self.prefix))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(statements.iter().any(|s| s.ends_with(":1")))
    }

    async fn add_user_session(&self, user_id: &str, session_id: &str) -> Result<(), StoreError> {
        let key = format!("{}user_sessions:{user_id}", self.prefix);
        let _: () = redis::pipe()
            .atomic()
            .cmd("SADD")
            .arg(&key)
            .arg(session_id)
            .ignore()
            .cmd("EXPIRE")
            .arg(&key)
            .arg(TTL_SECONDS)
            .ignore()
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn user_sessions(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        redis::cmd("SMEMBERS")
            .arg(format!("{}user_sessions:{user_id}", self.prefix))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }

    async fn schedule_away(&self, away: &Away, deadline: u64) -> Result<(), StoreError> {
        let _: () = redis::cmd("ZADD")
            .arg(format!("{}away", self.prefix))
            .arg(deadline)
            .arg(away_member(away))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn cancel_away(&self, away: &Away) -> Result<(), StoreError> {
        let _: () = redis::cmd("ZREM")
            .arg(format!("{}away", self.prefix))
            .arg(away_member(away))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn take_due(&self, now: u64) -> Result<Vec<Away>, StoreError> {
        let due: Vec<String> = self
            .take_due
            .key(format!("{}away", self.prefix))
            .arg(now)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(due
            .into_iter()
            .filter_map(|member| {
                let (session_id, user_id) = member.split_once('|')?;
                Some(Away {
                    session_id: session_id.to_owned(),
                    user_id: user_id.to_owned(),
                })
            })
            .collect())
    }
}
