//! Private rooms in Redis, under the store's prefix:
//!
//! - `room:<id>`: a hash with `version` and `record` (the record's JSON);
//! - `code:<CODE>`: the room id its code (normalised) leads to;
//! - `expiry`: a sorted set of room ids scored by when the sweeper should look at them;
//! - `starts`: a sorted set of the rooms whose start is pending, scored by when the completer
//!   should look at them;
//! - `attempts:<user>`: the user's wrong codes in the current window, expiring with it.
//!
//! Each write is one Lua script, so a room, its code and its schedule entries change together, and
//! only if the room's `version` is still the one the writer read. Room and code keys also expire a
//! while after the room should have: a backstop if no sweeper ever runs. A room with a pending
//! start is kept a day past that, since its players wait on it, not on its expiry.

use super::{PrivateRoomStore, RoomRecord, StartSchedule, StoreError};
use std::time::Duration;
use warren_runtime::Redis;
use warren_runtime::starts::RedisSchedule;

/// How long after its expiry a room's keys stay in Redis unless swept first.
const BACKSTOP_MS: u64 = 60_000;
/// The same for a room whose start is pending: the completer, not the sweeper, ends it.
const START_BACKSTOP_MS: u64 = 86_400_000;

/// KEYS[4]: starts. Puts the room on the start schedule at `due` unless it is on it already (the
/// completer moves it as it works), or takes it off (`due` 0); shared by the scripts below.
const SCHEDULE: &str = r"
local function schedule(due, id)
  if due == '0' then
    redis.call('ZREM', KEYS[4], id)
  else
    redis.call('ZADD', KEYS[4], 'NX', due, id)
  end
end
";

/// KEYS: room, code, expiry, starts. ARGV: version, record, keys' end (ms), due (ms), room id,
/// start due (ms, 0: none).
const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'record', ARGV[2])
redis.call('SET', KEYS[2], ARGV[5])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('PEXPIREAT', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
schedule(ARGV[6], ARGV[5])
return 1";

/// KEYS: room, code, expiry, starts. ARGV: expected, version, record, keys' end (ms), due (ms),
/// room id, start due (ms, 0: none).
const REPLACE: &str = r"
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'record', ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
if redis.call('GET', KEYS[2]) == ARGV[6] then redis.call('PEXPIREAT', KEYS[2], ARGV[4]) end
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
schedule(ARGV[7], ARGV[6])
return 1";

/// KEYS: room, code, expiry, starts. ARGV: expected, room id.
const DELETE: &str = r"
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
redis.call('ZREM', KEYS[3], ARGV[2])
schedule('0', ARGV[2])
return 1";

/// KEYS: expiry. ARGV: now (ms), limit.
const TAKE_DUE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(due) do redis.call('ZREM', KEYS[1], member) end
return due";

/// KEYS: attempts. ARGV: window (ms). The window is set with the first count; a key somehow
/// left without one gets it on the next, so no user stays locked out.
const COUNT: &str = r"
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n";

pub struct RedisStore {
    redis: Redis,
    prefix: String,
    create: redis::Script,
    replace: redis::Script,
    delete: redis::Script,
    take_due: redis::Script,
    /// The schedule of pending starts (`starts`).
    schedule: RedisSchedule,
    count: redis::Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisStore {
    pub fn new(redis: Redis, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        let schedule = RedisSchedule::new(
            redis.clone(),
            format!("{prefix}starts"),
            format!("{prefix}room:"),
        );
        Self {
            redis,
            prefix,
            schedule,
            create: redis::Script::new(&format!("{SCHEDULE}{CREATE}")),
            replace: redis::Script::new(&format!("{SCHEDULE}{REPLACE}")),
            delete: redis::Script::new(&format!("{SCHEDULE}{DELETE}")),
            take_due: redis::Script::new(TAKE_DUE),
            count: redis::Script::new(COUNT),
        }
    }

    fn room_key(&self, room_id: &str) -> String {
        format!("{}room:{room_id}", self.prefix)
    }

    fn code_key(&self, code: &str) -> String {
        format!("{}code:{code}", self.prefix)
    }

    fn expiry_key(&self) -> String {
        format!("{}expiry", self.prefix)
    }

    fn starts_key(&self) -> String {
        format!("{}starts", self.prefix)
    }

    fn attempts_key(&self, user_id: &str) -> String {
        format!("{}attempts:{user_id}", self.prefix)
    }

    /// A script invocation with the room's four keys.
    fn invocation<'a>(
        &self,
        script: &'a redis::Script,
        record: &RoomRecord,
    ) -> redis::ScriptInvocation<'a> {
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.room_key(record.id()))
            .key(self.code_key(&record.code_key()))
            .key(self.expiry_key())
            .key(self.starts_key());
        invocation
    }
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn encode(record: &RoomRecord) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn keys_end(record: &RoomRecord) -> u64 {
    let backstop = if record.start.is_some() {
        START_BACKSTOP_MS
    } else {
        BACKSTOP_MS
    };
    record.due_at().saturating_add(backstop)
}

#[async_trait::async_trait]
impl PrivateRoomStore for RedisStore {
    async fn create(&self, record: &RoomRecord) -> Result<(), StoreError> {
        let created: i64 = self
            .invocation(&self.create, record)
            .arg(record.version())
            .arg(encode(record)?)
            .arg(keys_end(record))
            .arg(record.due_at())
            .arg(record.id())
            .arg(record.start_due().unwrap_or(0))
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        match created {
            1 => Ok(()),
            0 => Err(StoreError::CodeTaken),
            _ => Err(StoreError::AlreadyExists),
        }
    }

    async fn get(&self, room_id: &str) -> Result<Option<RoomRecord>, StoreError> {
        let record: Option<String> = redis::cmd("HGET")
            .arg(self.room_key(room_id))
            .arg("record")
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        record
            .map(|json| serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    async fn find_code(&self, code: &str) -> Result<Option<String>, StoreError> {
        redis::cmd("GET")
            .arg(self.code_key(code))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }

    async fn replace(&self, record: &RoomRecord, expected: u64) -> Result<bool, StoreError> {
        let replaced: i64 = self
            .invocation(&self.replace, record)
            .arg(expected)
            .arg(record.version())
            .arg(encode(record)?)
            .arg(keys_end(record))
            .arg(record.due_at())
            .arg(record.id())
            .arg(record.start_due().unwrap_or(0))
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(replaced == 1)
    }

    async fn delete(&self, record: &RoomRecord, expected: u64) -> Result<bool, StoreError> {
        let deleted: i64 = self
            .invocation(&self.delete, record)
            .arg(expected)
            .arg(record.id())
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(deleted == 1)
    }

    async fn take_due(&self, now: u64, limit: usize) -> Result<Vec<String>, StoreError> {
        self.take_due
            .key(self.expiry_key())
            .arg(now)
            .arg(limit.max(1))
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }

    async fn count_wrong_code(&self, user_id: &str, window: Duration) -> Result<u32, StoreError> {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let count: u64 = self
            .count
            .key(self.attempts_key(user_id))
            .arg(window_ms)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn wrong_codes(&self, user_id: &str) -> Result<u32, StoreError> {
        let count: Option<u64> = redis::cmd("GET")
            .arg(self.attempts_key(user_id))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(count.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)))
    }
}

#[async_trait::async_trait]
impl StartSchedule for RedisStore {
    type Error = StoreError;

    async fn take_due_starts(
        &self,
        now: u64,
        limit: usize,
        lease_until: u64,
    ) -> Result<Vec<String>, StoreError> {
        self.schedule
            .take_due(now, limit, lease_until)
            .await
            .map_err(unavailable)
    }

    async fn retry_start_at(&self, room_id: &str, at: u64) -> Result<(), StoreError> {
        self.schedule
            .move_to(room_id, at)
            .await
            .map_err(unavailable)
    }
}
