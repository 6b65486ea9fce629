//! Private rooms in Redis, under the store's prefix. A room is one entity in a slot of its own:
//!
//! - `room:{room:<id>}`: a hash with `version` and `record` (the record's JSON), written by one
//!   script that checks the version and sets both.
//!
//! Beside it, each in a slot of its own and written by separate commands that are safe to repeat:
//!
//! - `code:{code:<CODE>}`: a pointer from the code (normalised) to the id of the room that holds
//!   it. A room takes its code with a script on this key alone before the room is written (`SET`
//!   unless another room's id is there), so a code in use is refused as before; it is deleted
//!   after its room, if it still points at it. Finding a room by its code follows the pointer and
//!   checks that the room's record has that code: a pointer left by a room that never was or is
//!   gone leads nowhere (and keeps its code taken until it expires);
//! - `expiry`: a sorted set of room ids scored by when the sweeper should look at them;
//! - `starts`: the pending starts, scored by when the completer should look at them (see
//!   [`RedisSchedule`]);
//! - `attempts:{user:<id>}`: the user's wrong codes in the current window, expiring with it.
//!
//! The room is the truth; `expiry` and `starts` are indexes beside it, kept a superset of it. A
//! write adds what it needs before the room's write and again after (a start on the schedule, the
//! room at its expiry, never later than an entry already there: an early entry costs the sweeper a
//! look, a late one would keep a room past its time); a write that ends a start takes it off the
//! schedule after, and puts it back if the room still records it then; a write that loses its
//! compare-and-set takes off the start it added that the room does not record. The sweeper's take
//! reads each room taken: a room gone is skipped, one due later goes back at its due time, one
//! whose start is pending is left to the start (it ends the room, or undone, puts it back). Only a
//! writer that died between its write and its second add, while a sweeper took the entry and read
//! the room before that write, could leave a room off `expiry`; its keys then expire by
//! themselves a little after the room should have (the backstop below).
//!
//! Room and code keys expire a while after the room should have: a backstop if no sweeper ever
//! runs. A room with a pending start is kept a day past that, since its players wait on it, not
//! on its expiry.

use super::{PrivateRoomStore, RoomRecord, StartSchedule, StoreError};
use std::time::Duration;
use warren_runtime::Redis;
use warren_runtime::redis_client::{script, tag};
use warren_runtime::starts::{RedisSchedule, Start};

/// How long after its expiry a room's keys stay in Redis unless swept first.
const BACKSTOP_MS: u64 = 60_000;
/// The same for a room whose start is pending: the completer, not the sweeper, ends it.
const START_BACKSTOP_MS: u64 = 86_400_000;

/// KEYS: room. ARGV: version, record, keys' end (ms). 1 if created, 0 if the room exists.
const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'record', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1";

/// KEYS: room. ARGV: expected, version, record, keys' end (ms). The record replaced, or nil if the
/// version is not `expected`.
const REPLACE: &str = r"
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return false end
local old = redis.call('HGET', KEYS[1], 'record')
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'record', ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return old or ''";

/// KEYS: room. ARGV: expected. The record deleted, or nil if the version is not `expected`.
const DELETE: &str = r"
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return false end
local old = redis.call('HGET', KEYS[1], 'record')
redis.call('DEL', KEYS[1])
return old or ''";

/// KEYS: code. ARGV: room id, keys' end (ms). Takes the code for the room: 1 if it was free, 2 if
/// it is the room's already (a repeat; its end is put off if need be), 0 if another room has it.
const TAKE_CODE: &str = r"
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
  return 1
end
if holder ~= ARGV[1] then return 0 end
redis.call('PEXPIREAT', KEYS[1], ARGV[2], 'GT')
return 2";

/// KEYS: code. ARGV: room id, keys' end (ms). Puts off the end of the code if it is the room's.
const KEEP_CODE: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIREAT', KEYS[1], ARGV[2], 'GT')
return 1";

/// KEYS: code. ARGV: room id. Frees the code if it is the room's.
const FREE_CODE: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])";

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
    take_code: redis::Script,
    keep_code: redis::Script,
    free_code: redis::Script,
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

impl From<redis::RedisError> for StoreError {
    fn from(error: redis::RedisError) -> Self {
        unavailable(error)
    }
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn encode(record: &RoomRecord) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode(json: &str) -> Result<RoomRecord, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The start of a room a script replaced or deleted. A record that cannot be read counts as
/// without one (a start left on the schedule is dropped by its reader).
fn old_start(old: &str) -> Option<Start> {
    match decode(old) {
        Ok(old) => old.start,
        Err(error) => {
            tracing::warn!(%error, "a private room replaced could not be read");
            None
        }
    }
}

fn keys_end(record: &RoomRecord) -> u64 {
    let backstop = if record.start.is_some() {
        START_BACKSTOP_MS
    } else {
        BACKSTOP_MS
    };
    record.due_at().saturating_add(backstop)
}

/// Logs a failure to keep an index or the code after the room's write went through: the write
/// stands (it is what the caller is told), and what is left behind is tidied by its readers or
/// expires.
fn log_index(outcome: Result<(), StoreError>, room_id: &str, step: &str) {
    if let Err(error) = outcome {
        tracing::warn!(%error, room_id, step, "a private room index was not kept");
    }
}

impl RedisStore {
    pub fn new(redis: Redis, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        let schedule = RedisSchedule::new(redis.clone(), format!("{prefix}starts"));
        Self {
            redis,
            prefix,
            schedule,
            create: script(CREATE),
            replace: script(REPLACE),
            delete: script(DELETE),
            take_code: script(TAKE_CODE),
            keep_code: script(KEEP_CODE),
            free_code: script(FREE_CODE),
            take_due: script(TAKE_DUE),
            count: script(COUNT),
        }
    }

    fn room_key(&self, room_id: &str) -> String {
        format!("{}room:{}", self.prefix, tag("room", room_id))
    }

    fn code_key(&self, code: &str) -> String {
        format!("{}code:{}", self.prefix, tag("code", code))
    }

    fn expiry_key(&self) -> String {
        format!("{}expiry", self.prefix)
    }

    fn attempts_key(&self, user_id: &str) -> String {
        format!("{}attempts:{}", self.prefix, tag("user", user_id))
    }

    /// The room's start as it stands (`None` if the room is gone or has none).
    async fn current_start(&self, room_id: &str) -> Result<Option<Start>, StoreError> {
        Ok(self.get(room_id).await?.and_then(|record| record.start))
    }

    /// Puts room `room_id` in the expiry schedule at `due`, or leaves it earlier if it is there
    /// earlier already.
    async fn expire_by(&self, room_id: &str, due: u64) -> Result<(), StoreError> {
        redis::cmd("ZADD")
            .arg(self.expiry_key())
            .arg("LT")
            .arg(due)
            .arg(room_id)
            .query_async::<i64>(&mut self.redis.clone())
            .await?;
        Ok(())
    }

    /// The entries `record` needs: in the expiry schedule by its due time, its start on the
    /// start schedule.
    async fn add_entries(&self, record: &RoomRecord) -> Result<(), StoreError> {
        let expiry = self.expire_by(record.id(), record.due_at());
        let schedule = async {
            if let Some(start) = &record.start {
                self.schedule.add(record.id(), start).await?;
            }
            Ok::<_, StoreError>(())
        };
        tokio::try_join!(expiry, schedule)?;
        Ok(())
    }

    /// Takes `old`, a start the room had, off the schedule unless it is still the room's (`new`).
    async fn end_start(
        &self,
        room_id: &str,
        old: Option<Start>,
        new: Option<&Start>,
    ) -> Result<(), StoreError> {
        match old {
            Some(old) if new.is_none_or(|new| new.request_id != old.request_id) => {
                self.schedule
                    .remove(room_id, &old.request_id, || self.current_start(room_id))
                    .await
            }
            _ => Ok(()),
        }
    }

    /// After the write of `record` over a room whose start was `old`: its entries added again,
    /// and the start it ended taken off.
    async fn after_write(&self, record: &RoomRecord, old: Option<Start>) {
        let id = record.id();
        let (again, ended) = tokio::join!(
            self.add_entries(record),
            self.end_start(id, old, record.start.as_ref())
        );
        log_index(again, id, "add after the write");
        log_index(ended, id, "unschedule");
    }

    /// After a write of `record` was refused: a start added for it that the room as it stands
    /// does not record is taken off. (An expiry entry added for it is at most early, and the
    /// sweeper puts it right; a code's end put off is harmless.)
    async fn after_refusal(&self, record: &RoomRecord) {
        if record.start.is_none() {
            return;
        }
        let id = record.id();
        let outcome = async {
            let now = self.current_start(id).await?;
            self.end_start(id, record.start.clone(), now.as_ref()).await
        };
        log_index(outcome.await, id, "tidy after a refused write");
    }

    /// Frees `code` if it is room `room_id`'s.
    async fn free_code(&self, code: &str, room_id: &str) -> Result<(), StoreError> {
        self.free_code
            .key(self.code_key(code))
            .arg(room_id)
            .invoke_async::<i64>(&mut self.redis.clone())
            .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl PrivateRoomStore for RedisStore {
    async fn create(&self, record: &RoomRecord) -> Result<(), StoreError> {
        let id = record.id();
        let code = record.code_key();
        let json = encode(record)?;
        let took: i64 = self
            .take_code
            .key(self.code_key(&code))
            .arg(id)
            .arg(keys_end(record))
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        if took == 0 {
            // As before the code was its own key: a room with this id is the first refusal.
            let exists: bool = redis::cmd("EXISTS")
                .arg(self.room_key(id))
                .query_async(&mut self.redis.clone())
                .await
                .map_err(unavailable)?;
            return Err(if exists {
                StoreError::AlreadyExists
            } else {
                StoreError::CodeTaken
            });
        }
        if let Err(error) = self.add_entries(record).await {
            // Not written: the code goes back (were it left, it would expire).
            if took == 1 {
                log_index(self.free_code(&code, id).await, id, "free a code not used");
            }
            return Err(error);
        }
        // An error here may follow a write that went through: the code stays (and expires).
        let created: i64 = self
            .create
            .key(self.room_key(id))
            .arg(record.version())
            .arg(json)
            .arg(keys_end(record))
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        if created == 1 {
            self.after_write(record, None).await;
            return Ok(());
        }
        // A room with this id exists, and the code just taken is not its own (had it been, the
        // code would have been taken already).
        if took == 1 {
            log_index(self.free_code(&code, id).await, id, "free a code refused");
        }
        self.after_refusal(record).await;
        Err(StoreError::AlreadyExists)
    }

    async fn get(&self, room_id: &str) -> Result<Option<RoomRecord>, StoreError> {
        let record: Option<String> = redis::cmd("HGET")
            .arg(self.room_key(room_id))
            .arg("record")
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        record.as_deref().map(decode).transpose()
    }

    async fn find_code(&self, code: &str) -> Result<Option<String>, StoreError> {
        let room_id: Option<String> = redis::cmd("GET")
            .arg(self.code_key(code))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        let Some(room_id) = room_id else {
            return Ok(None);
        };
        // The pointer counts only if its room agrees: a room being created, or gone, has none.
        let record = self.get(&room_id).await?;
        Ok(record
            .is_some_and(|record| record.code_key() == code)
            .then_some(room_id))
    }

    async fn replace(&self, record: &RoomRecord, expected: u64) -> Result<bool, StoreError> {
        let id = record.id();
        let json = encode(record)?;
        let keep_code = async {
            self.keep_code
                .key(self.code_key(&record.code_key()))
                .arg(id)
                .arg(keys_end(record))
                .invoke_async::<i64>(&mut self.redis.clone())
                .await?;
            Ok::<_, StoreError>(())
        };
        tokio::try_join!(keep_code, self.add_entries(record))?;
        let old: Option<String> = self
            .replace
            .key(self.room_key(id))
            .arg(expected)
            .arg(record.version())
            .arg(json)
            .arg(keys_end(record))
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        match old {
            Some(old) => {
                self.after_write(record, old_start(&old)).await;
                Ok(true)
            }
            None => {
                self.after_refusal(record).await;
                Ok(false)
            }
        }
    }

    async fn delete(&self, record: &RoomRecord, expected: u64) -> Result<bool, StoreError> {
        let id = record.id();
        let old: Option<String> = self
            .delete
            .key(self.room_key(id))
            .arg(expected)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        let Some(old) = old else {
            return Ok(false);
        };
        let expiry = async {
            redis::cmd("ZREM")
                .arg(self.expiry_key())
                .arg(id)
                .query_async::<i64>(&mut self.redis.clone())
                .await?;
            Ok::<_, StoreError>(())
        };
        let code = record.code_key();
        let (code, expiry, ended) = tokio::join!(
            self.free_code(&code, id),
            expiry,
            self.end_start(id, old_start(&old), None)
        );
        log_index(code, id, "free the code");
        log_index(expiry, id, "leave the expiry schedule");
        log_index(ended, id, "unschedule");
        Ok(true)
    }

    async fn take_due(&self, now: u64, limit: usize) -> Result<Vec<String>, StoreError> {
        let taken: Vec<String> = self
            .take_due
            .key(self.expiry_key())
            .arg(now)
            .arg(limit.max(1))
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        let reads = taken.iter().map(|room_id| {
            let mut redis = self.redis.clone();
            let key = self.room_key(room_id);
            async move {
                redis::cmd("HGET")
                    .arg(key)
                    .arg("record")
                    .query_async::<Option<String>>(&mut redis)
                    .await
            }
        });
        let records = futures_util::future::join_all(reads).await;
        let mut due = Vec::with_capacity(taken.len());
        for (room_id, record) in taken.into_iter().zip(records) {
            let record = match record.map(|json| json.as_deref().map(decode).transpose()) {
                Ok(Ok(record)) => record,
                // Unreadable now: the sweeper's own read says what to do.
                Err(_) | Ok(Err(_)) => {
                    due.push(room_id);
                    continue;
                }
            };
            match record {
                // Gone: deleted (its entry is being taken off) or its keys expired.
                None => {}
                // Its players wait on the start, which ends the room or, undone, puts it back.
                Some(record) if record.start.is_some() => {}
                // A write since put its expiry off, and left the entry where it was.
                Some(record) if record.due_at() > now => {
                    let later = self.expire_by(&room_id, record.due_at()).await;
                    log_index(later, &room_id, "expire later");
                }
                Some(_) => due.push(room_id),
            }
        }
        Ok(due)
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
            .take_due(now, limit, lease_until, |id| async move {
                self.current_start(&id).await
            })
            .await
    }

    async fn retry_start_at(&self, room_id: &str, at: u64) -> Result<(), StoreError> {
        self.schedule
            .retry_at(room_id, at, self.current_start(room_id))
            .await
    }
}
