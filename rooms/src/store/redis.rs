//! Rooms in Redis, under the store's prefix. A room is one entity in a slot of its own:
//!
//! - `room:{room:<id>}`: a hash with `version` and `record` (the record's JSON), written by one
//!   script that checks the version and sets both. It expires a day after its last change, so
//!   that a room abandoned by everyone does not stay for ever.
//!
//! Beside the rooms, indexes, each one key (one slot) of its own:
//!
//! - `open` and `open:<mode>`: the ids of the listed rooms (see [`RoomRecord::listed`]), of every
//!   mode and of one, scored by creation time;
//! - `starts`: the pending starts, scored by when the completer should look at them (see
//!   [`RedisSchedule`]).
//!
//! The room is the truth and each index a superset of it, written by separate commands that are
//! safe to repeat. A write that needs an entry (a room listed, a start recorded) adds it before
//! the room's write and again after; a write that ends one (a room no longer listed, a start
//! undone, a room deleted) takes it off after the room's write, then reads the room again and
//! puts the entry back if the room wants it after all (a concurrent write got there first); a
//! write that loses its compare-and-set takes off what it added that the room does not want, the
//! same way. Whoever reads an index checks each entry against its room: the list skips rooms gone
//! or not listed and drops their entries, the completer's schedule drops starts the room does not
//! record. A listed room could be missing from the list only if a writer died between its write
//! and its second add while another request took the entry off and read the room before that
//! write; the room's next change lists it again.

use super::{RoomRecord, RoomStore, StartSchedule, StoreError};
use warren_contracts::rooms::Room;
use warren_runtime::Redis;
use warren_runtime::redis_client::{script, tag};
use warren_runtime::starts::{RedisSchedule, Start};

const TTL_SECONDS: u64 = 86_400;

/// KEYS: room. ARGV: version, record, TTL (s). 1 if created, 0 if the room exists.
const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'record', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1";

/// KEYS: room. ARGV: expected, version, record, TTL (s). The record replaced (so that the caller
/// knows which entries the change ended), or nil if the version is not `expected`.
const REPLACE: &str = r"
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return false end
local old = redis.call('HGET', KEYS[1], 'record')
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'record', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return old or ''";

/// KEYS: room. ARGV: expected. The record deleted, or nil if the version is not `expected`.
const DELETE: &str = r"
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return false end
local old = redis.call('HGET', KEYS[1], 'record')
redis.call('DEL', KEYS[1])
return old or ''";

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

/// What a room a script replaced or deleted had in the indexes: whether it was listed, and its
/// start. A record that cannot be read counts as listed (taking a room out of the lists is
/// harmless) without a start (a start left on the schedule is dropped by its reader).
fn was(old: &str) -> (bool, Option<Start>) {
    match decode(old) {
        Ok(old) => (old.listed(), old.start),
        Err(error) => {
            tracing::warn!(%error, "a room replaced could not be read");
            (true, None)
        }
    }
}

/// Logs a failure to keep an index after the room's write went through: the write stands (it is
/// what the caller is told), and the index is left a superset that its readers tidy.
fn log_index(outcome: Result<(), StoreError>, room_id: &str, step: &str) {
    if let Err(error) = outcome {
        tracing::warn!(%error, room_id, step, "a room index was not kept; its readers tidy it");
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
        }
    }

    fn room_key(&self, room_id: &str) -> String {
        format!("{}room:{}", self.prefix, tag("room", room_id))
    }

    fn open_key(&self, mode: Option<&str>) -> String {
        match mode {
            Some(mode) => format!("{}open:{mode}", self.prefix),
            None => format!("{}open", self.prefix),
        }
    }

    /// The room's start as it stands (`None` if the room is gone or has none).
    async fn current_start(&self, room_id: &str) -> Result<Option<Start>, StoreError> {
        Ok(self.get(room_id).await?.and_then(|record| record.start))
    }

    /// Puts `room` in both lists (its score is its creation time, so a repeat changes nothing).
    async fn list_in(&self, room: &Room) -> Result<(), StoreError> {
        let add = |key: String| {
            let mut redis = self.redis.clone();
            let (score, id) = (room.created_at, room.room_id.clone());
            async move {
                redis::cmd("ZADD")
                    .arg(key)
                    .arg(score)
                    .arg(id)
                    .query_async::<i64>(&mut redis)
                    .await
            }
        };
        tokio::try_join!(
            add(self.open_key(None)),
            add(self.open_key(Some(&room.mode)))
        )?;
        Ok(())
    }

    /// Takes room `room_id` out of the lists at `keys`, then reads it again and puts it back in
    /// both if it is listed after all (a concurrent write listed it).
    async fn unlist(&self, room_id: &str, keys: Vec<String>) -> Result<(), StoreError> {
        let removals = keys.into_iter().map(|key| {
            let mut redis = self.redis.clone();
            let id = room_id.to_owned();
            async move {
                redis::cmd("ZREM")
                    .arg(key)
                    .arg(id)
                    .query_async::<i64>(&mut redis)
                    .await
            }
        });
        for removed in futures_util::future::join_all(removals).await {
            removed?;
        }
        match self.get(room_id).await? {
            Some(record) if record.listed() => self.list_in(&record.room).await,
            _ => Ok(()),
        }
    }

    /// Both lists of `room`.
    fn lists_of(&self, room: &Room) -> Vec<String> {
        vec![self.open_key(None), self.open_key(Some(&room.mode))]
    }

    /// The entries `record` needs: in the lists if it is listed, its start on the schedule.
    async fn add_entries(&self, record: &RoomRecord) -> Result<(), StoreError> {
        let list = async {
            if record.listed() {
                self.list_in(&record.room).await?;
            }
            Ok::<_, StoreError>(())
        };
        let schedule = async {
            if let Some(start) = &record.start {
                self.schedule.add(record.id(), start).await?;
            }
            Ok::<_, StoreError>(())
        };
        tokio::try_join!(list, schedule)?;
        Ok(())
    }

    /// After the write of `record` over a room that was listed or not (`was_listed`) and had the
    /// start `old_start`: its entries added again, and those it ended taken off.
    async fn after_write(&self, record: &RoomRecord, was_listed: bool, old_start: Option<Start>) {
        let id = record.id();
        let again = self.add_entries(record);
        let unlist = async {
            if was_listed && !record.listed() {
                self.unlist(id, self.lists_of(&record.room)).await?;
            }
            Ok::<_, StoreError>(())
        };
        let ended = self.end_start(id, old_start, record.start.as_ref());
        let (again, unlist, ended) = tokio::join!(again, unlist, ended);
        log_index(again, id, "add after the write");
        log_index(unlist, id, "unlist");
        log_index(ended, id, "unschedule");
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

    /// After a write of `record` was refused: the entries added for it that the room as it
    /// stands does not want are taken off.
    async fn after_refusal(&self, record: &RoomRecord) {
        let id = record.id();
        if !record.listed() && record.start.is_none() {
            return;
        }
        let outcome = async {
            let current = self.get(id).await?;
            let listed_now = current.as_ref().is_some_and(RoomRecord::listed);
            let now = current.and_then(|current| current.start);
            let unlist = async {
                if record.listed() && !listed_now {
                    self.unlist(id, self.lists_of(&record.room)).await?;
                }
                Ok::<_, StoreError>(())
            };
            let ended = self.end_start(id, record.start.clone(), now.as_ref());
            let (unlist, ended) = tokio::join!(unlist, ended);
            unlist.and(ended)
        };
        log_index(outcome.await, id, "tidy after a refused write");
    }

    /// Takes room `room_id` out of the list at `index` (met there by a reader while gone or not
    /// listed); put back in both lists if it is listed after all.
    async fn drop_listed(&self, index: String, room_id: String) {
        let outcome = self.unlist(&room_id, vec![index]).await;
        log_index(outcome, &room_id, "drop from the list");
    }
}

#[async_trait::async_trait]
impl RoomStore for RedisStore {
    async fn create(&self, record: &RoomRecord) -> Result<(), StoreError> {
        let json = encode(record)?;
        self.add_entries(record).await?;
        let created: i64 = self
            .create
            .key(self.room_key(record.id()))
            .arg(record.version())
            .arg(json)
            .arg(TTL_SECONDS)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        if created == 1 {
            self.after_write(record, false, None).await;
            Ok(())
        } else {
            self.after_refusal(record).await;
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
        let json = encode(record)?;
        self.add_entries(record).await?;
        let old: Option<String> = self
            .replace
            .key(self.room_key(record.id()))
            .arg(expected)
            .arg(record.version())
            .arg(json)
            .arg(TTL_SECONDS)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        match old {
            Some(old) => {
                let (was_listed, old_start) = was(&old);
                self.after_write(record, was_listed, old_start).await;
                Ok(true)
            }
            None => {
                self.after_refusal(record).await;
                Ok(false)
            }
        }
    }

    async fn delete(&self, room: &Room, expected: u64) -> Result<bool, StoreError> {
        let old: Option<String> = self
            .delete
            .key(self.room_key(&room.room_id))
            .arg(expected)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        let Some(old) = old else {
            return Ok(false);
        };
        let (was_listed, old_start) = was(&old);
        let id = room.room_id.as_str();
        let unlist = async {
            if was_listed {
                self.unlist(id, self.lists_of(room)).await?;
            }
            Ok::<_, StoreError>(())
        };
        let ended = self.end_start(id, old_start, None);
        let (unlist, ended) = tokio::join!(unlist, ended);
        log_index(unlist, id, "unlist");
        log_index(ended, id, "unschedule");
        Ok(true)
    }

    async fn list(&self, mode: Option<&str>, limit: usize) -> Result<Vec<Room>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let index = self.open_key(mode);
        let ids: Vec<String> = redis::cmd("ZREVRANGE")
            .arg(&index)
            .arg(0)
            .arg(limit - 1)
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        let reads = ids.iter().map(|id| {
            let mut redis = self.redis.clone();
            let key = self.room_key(id);
            async move {
                redis::cmd("HGET")
                    .arg(key)
                    .arg("record")
                    .query_async::<Option<String>>(&mut redis)
                    .await
            }
        });
        let records = futures_util::future::join_all(reads).await;
        let mut rooms = Vec::with_capacity(ids.len());
        let mut stale = Vec::new();
        for (id, record) in ids.into_iter().zip(records) {
            match record.map_err(unavailable)? {
                Some(json) => {
                    let record = decode(&json)?;
                    if record.listed() {
                        rooms.push(record.room);
                    } else {
                        // Left by a write that died before taking it off, or being taken off now.
                        stale.push(id);
                    }
                }
                // Its room expired (or is being created: its write lists it again).
                None => stale.push(id),
            }
        }
        for id in stale {
            self.drop_listed(index.clone(), id).await;
        }
        Ok(rooms)
    }

    async fn count_listed(&self) -> Result<u64, StoreError> {
        // The index, a superset: a room just unlisted, or expired and not met by a list yet,
        // still counts.
        redis::cmd("ZCARD")
            .arg(self.open_key(None))
            .query_async(&mut self.redis.clone())
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
