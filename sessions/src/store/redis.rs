//! Sessions in Redis: one hash per session, `<prefix>session:<id>` with the fields `version` and
//! `record` (the JSON of the record). A replace is a Lua script that writes only if `version` is
//! still the one the writer read, so instances never overwrite each other's moves.
//!
//! Sessions expire a day after their last change.

use super::{SessionRecord, SessionStore, StoreError};
use redis::aio::ConnectionManager;

const TTL_SECONDS: u64 = 86_400;

const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'record', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1";

const REPLACE: &str = r"
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'record', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1";

pub struct RedisStore {
    redis: ConnectionManager,
    prefix: String,
    create: redis::Script,
    replace: redis::Script,
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
        }
    }

    fn key(&self, session_id: &str) -> String {
        format!("{}session:{session_id}", self.prefix)
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
            .arg(record.version())
            .arg(encode(record)?)
            .arg(TTL_SECONDS)
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

    async fn replace(&self, record: &SessionRecord, expected: u64) -> Result<bool, StoreError> {
        let replaced: i64 = self
            .replace
            .key(self.key(&record.session.session_id))
            .arg(expected)
            .arg(record.version())
            .arg(encode(record)?)
            .arg(TTL_SECONDS)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(replaced == 1)
    }
}
