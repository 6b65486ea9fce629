//! Rooms in Redis: one hash per room, `<prefix>room:<id>` with the fields `version` and `record`
//! (the JSON of the record), and the list of listed rooms as sorted sets scored by creation time:
//! `<prefix>open` for every mode and `<prefix>open:<mode>` per mode; and `<prefix>starts`, the
//! pending starts scored by when the completer should look at them. Each write is a Lua script
//! that checks the version and updates the record and the sets together, so the list never shows
//! a room that is full or gone for longer than it takes to read it, and a start is on the schedule
//! exactly while its room records it.
//!
//! A room expires a day after its last change, so that one abandoned by everyone does not stay
//! forever; the list drops entries whose room has expired when it meets them.

use super::{RoomRecord, RoomStore, StartSchedule, StoreError};
use warren_contracts::rooms::Room;
use warren_runtime::Redis;
use warren_runtime::starts::RedisSchedule;

const TTL_SECONDS: u64 = 86_400;

/// KEYS: room, open, open:<mode>, starts. ARGV: listed (0/1), score, id. Puts the room in or out
/// of the list, and on or off the start schedule (`due` 0: off; otherwise on at `due` unless it
/// is on already, since the completer moves it as it works); shared by the scripts below.
const LIST: &str = r"
local function list(listed, score, id)
  if listed == '1' then
    redis.call('ZADD', KEYS[2], score, id)
    redis.call('ZADD', KEYS[3], score, id)
  else
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
  end
end
local function schedule(due, id)
  if due == '0' then
    redis.call('ZREM', KEYS[4], id)
  else
    redis.call('ZADD', KEYS[4], 'NX', due, id)
  end
end
";

const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[4], 'record', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
list(ARGV[1], ARGV[2], ARGV[3])
schedule(ARGV[7], ARGV[3])
return 1";

const REPLACE: &str = r"
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[4] then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[5], 'record', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[7])
list(ARGV[1], ARGV[2], ARGV[3])
schedule(ARGV[8], ARGV[3])
return 1";

const DELETE: &str = r"
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[4] then return 0 end
redis.call('DEL', KEYS[1])
list('0', ARGV[2], ARGV[3])
schedule('0', ARGV[3])
return 1";

pub struct RedisStore {
    redis: Redis,
    prefix: String,
    create: redis::Script,
    replace: redis::Script,
    delete: redis::Script,
    /// The schedule of pending starts (`starts`).
    schedule: RedisSchedule,
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
        let script = |body: &str| redis::Script::new(&format!("{LIST}{body}"));
        Self {
            redis,
            prefix,
            schedule,
            create: script(CREATE),
            replace: script(REPLACE),
            delete: script(DELETE),
        }
    }

    fn room_key(&self, room_id: &str) -> String {
        format!("{}room:{room_id}", self.prefix)
    }

    fn starts_key(&self) -> String {
        format!("{}starts", self.prefix)
    }

    fn open_key(&self, mode: Option<&str>) -> String {
        match mode {
            Some(mode) => format!("{}open:{mode}", self.prefix),
            None => format!("{}open", self.prefix),
        }
    }

    /// A script invocation with the room's four keys and its list arguments.
    fn invocation<'a>(
        &self,
        script: &'a redis::Script,
        room: &Room,
        listed: bool,
    ) -> redis::ScriptInvocation<'a> {
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.room_key(&room.room_id))
            .key(self.open_key(None))
            .key(self.open_key(Some(&room.mode)))
            .key(self.starts_key())
            .arg(u8::from(listed))
            .arg(room.created_at)
            .arg(&room.room_id);
        invocation
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

#[async_trait::async_trait]
impl RoomStore for RedisStore {
    async fn create(&self, record: &RoomRecord) -> Result<(), StoreError> {
        let created: i64 = self
            .invocation(&self.create, &record.room, record.listed())
            .arg(record.version())
            .arg(encode(record)?)
            .arg(TTL_SECONDS)
            .arg(record.start_due().unwrap_or(0))
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        if created == 1 {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists)
        }
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

    async fn replace(&self, record: &RoomRecord, expected: u64) -> Result<bool, StoreError> {
        let replaced: i64 = self
            .invocation(&self.replace, &record.room, record.listed())
            .arg(expected)
            .arg(record.version())
            .arg(encode(record)?)
            .arg(TTL_SECONDS)
            .arg(record.start_due().unwrap_or(0))
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(replaced == 1)
    }

    async fn delete(&self, room: &Room, expected: u64) -> Result<bool, StoreError> {
        let deleted: i64 = self
            .invocation(&self.delete, room, false)
            .arg(expected)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(deleted == 1)
    }

    async fn list(&self, mode: Option<&str>, limit: usize) -> Result<Vec<Room>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let index = self.open_key(mode);
        let mut redis = self.redis.clone();
        let ids: Vec<String> = redis::cmd("ZREVRANGE")
            .arg(&index)
            .arg(0)
            .arg(limit - 1)
            .query_async(&mut redis)
            .await
            .map_err(unavailable)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut fetch = redis::pipe();
        for id in &ids {
            fetch.cmd("HGET").arg(self.room_key(id)).arg("record");
        }
        let records: Vec<Option<String>> =
            fetch.query_async(&mut redis).await.map_err(unavailable)?;
        let mut rooms = Vec::with_capacity(ids.len());
        for (id, record) in ids.iter().zip(records) {
            match record {
                Some(json) => {
                    let record = decode(&json)?;
                    if record.listed() {
                        rooms.push(record.room);
                    }
                }
                None => {
                    // Its room expired; the entry goes the first time someone meets it.
                    let _: Result<(), _> = redis::cmd("ZREM")
                        .arg(&index)
                        .arg(id)
                        .query_async(&mut redis)
                        .await;
                }
            }
        }
        Ok(rooms)
    }

    async fn count_listed(&self) -> Result<u64, StoreError> {
        let mut redis = self.redis.clone();
        redis::cmd("ZCARD")
            .arg(self.open_key(None))
            .query_async(&mut redis)
            .await
            .map_err(unavailable)
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
