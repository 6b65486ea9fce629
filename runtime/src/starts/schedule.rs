//! The schedule of pending starts as both room stores keep it: in memory a [`DueSet`] under the
//! store's own lock; in Redis a sorted set of its own ([`RedisSchedule`]), one key in one slot,
//! apart from the rooms.
//!
//! In Redis the room is the truth and the schedule an index beside it, written by separate
//! commands that are each safe to repeat. Its members are starts, not rooms: `["<room id>",
//! "<request id>"]` (JSON), scored by when the completer should look at each. A start's request id
//! is never used by another start, so taking one start's entry off never touches a later start of
//! the same room. The store keeps the schedule a superset of the starts its rooms record:
//!
//! - the write that records a start is preceded by [`RedisSchedule::add`] and followed by it
//!   again (both leave an entry that is on already where it is: the completer moves it as it
//!   works);
//! - the write that ends a start (undone, or the room deleted) is followed by
//!   [`RedisSchedule::remove`], which looks at the room again after taking the entry off and puts
//!   it back if the room says the start is still there;
//! - whoever meets an entry whose room does not record that start ([`RedisSchedule::take_due`])
//!   drops it the same way.
//!
//! Taking an entry off, then looking, means a concurrent write that records the start either
//! lands before the look (and the entry goes back) or adds its entry again after it lands: a start
//! a room records is never missing from the schedule, which would leave its players waiting for
//! ever. Only a writer that stalls between its first add and its write for longer than the start's
//! first look (so that the completer drops the entry meanwhile), together with a crash in the
//! moments that follow (of that writer before its second add, or of the completer before it looks
//! again), could lose one; the room then ends when its keys expire. A start whose first attempt
//! fails is put back by that attempt's [`RedisSchedule::retry_at`] whether or not it was there.

use crate::Redis;
use crate::starts::Start;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Display;
use std::future::Future;

/// Ids ordered by when they are due, each at most once.
#[derive(Debug, Default)]
pub struct DueSet {
    order: BTreeSet<(u64, String)>,
    due: HashMap<String, u64>,
}

impl DueSet {
    /// Keeps `id` in step with what its record says: on the schedule at `due` if it has a start
    /// (where it already stands, if it is on it), off it if not.
    pub fn keep(&mut self, id: &str, due: Option<u64>) {
        match due {
            Some(due) if !self.due.contains_key(id) => {
                self.due.insert(id.to_owned(), due);
                self.order.insert((due, id.to_owned()));
            }
            Some(_) => {}
            None => self.remove(id),
        }
    }

    pub fn remove(&mut self, id: &str) {
        if let Some(due) = self.due.remove(id) {
            self.order.remove(&(due, id.to_owned()));
        }
    }

    /// Moves `id` to `at`, if it is on the schedule.
    pub fn move_to(&mut self, id: &str, at: u64) {
        if let Some(due) = self.due.get_mut(id) {
            self.order.remove(&(*due, id.to_owned()));
            *due = at;
            self.order.insert((at, id.to_owned()));
        }
    }

    /// Up to `limit` ids due by `now`, each moved to `lease_until` as it is handed out; those
    /// `exists` says are gone leave the schedule instead.
    pub fn take_due(
        &mut self,
        now: u64,
        limit: usize,
        lease_until: u64,
        exists: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let due: Vec<String> = self
            .order
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(limit)
            .map(|(_, id)| id.clone())
            .collect();
        let mut taken = Vec::with_capacity(due.len());
        for id in due {
            if exists(&id) {
                self.move_to(&id, lease_until);
                taken.push(id);
            } else {
                self.remove(&id);
            }
        }
        taken
    }
}

/// KEYS: the schedule. ARGV: now, limit, lease until. The entries due by `now`, each moved to the
/// end of its lease as it is handed out, so that one taker has it at a time. Which of them are
/// still starts is for the caller to see: their rooms live in other slots.
const TAKE_DUE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, entry in ipairs(due) do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[3], entry)
end
return due";

/// A store's schedule of starts in Redis: the sorted set at `key` (see the module's comment). The
/// rooms are the store's: where the schedule needs to know what a room records, the store passes
/// a `current` that reads the room's start (`None` if the room is gone or has none).
pub struct RedisSchedule {
    redis: Redis,
    key: String,
    take_due: redis::Script,
}

impl std::fmt::Debug for RedisSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSchedule")
            .field("key", &self.key)
            .finish()
    }
}

/// The schedule's entry for the start `request_id` of room `room_id`.
fn entry(room_id: &str, request_id: &str) -> String {
    serde_json::json!([room_id, request_id]).to_string()
}

/// The room and request id an entry names; `None` if it is not an entry.
fn parse(entry: &str) -> Option<(String, String)> {
    serde_json::from_str(entry).ok()
}

/// Whether `current`, a room's start as it stands, is the start `request_id`.
fn is(current: Option<&Start>, request_id: &str) -> bool {
    current.is_some_and(|start| start.request_id == request_id)
}

impl RedisSchedule {
    /// The schedule at `key`.
    pub fn new(redis: Redis, key: String) -> Self {
        Self {
            redis,
            key,
            take_due: crate::redis_client::script(TAKE_DUE),
        }
    }

    async fn zadd(&self, flag: Option<&str>, at: u64, entry: &str) -> redis::RedisResult<()> {
        let mut command = redis::cmd("ZADD");
        command.arg(&self.key);
        if let Some(flag) = flag {
            command.arg(flag);
        }
        command
            .arg(at)
            .arg(entry)
            .query_async::<i64>(&mut self.redis.clone())
            .await
            .map(|_| ())
    }

    async fn zrem(&self, entry: &str) -> redis::RedisResult<()> {
        redis::cmd("ZREM")
            .arg(&self.key)
            .arg(entry)
            .query_async::<i64>(&mut self.redis.clone())
            .await
            .map(|_| ())
    }

    /// Puts `start`, room `room_id`'s, on the schedule at its [`Start::look_at`] unless it is on
    /// it already (where the completer may have moved it). Called before the room's write that
    /// records the start, and again after it.
    pub async fn add(&self, room_id: &str, start: &Start) -> redis::RedisResult<()> {
        self.zadd(
            Some("NX"),
            start.look_at,
            &entry(room_id, &start.request_id),
        )
        .await
    }

    /// Takes the start `request_id` of room `room_id` off the schedule, after the write that
    /// ended it (or a write that would have recorded it and lost); then reads the room's start
    /// again with `current`, and puts the entry back if the room records that start after all.
    pub async fn remove<E, Fut>(
        &self,
        room_id: &str,
        request_id: &str,
        current: impl FnOnce() -> Fut,
    ) -> Result<(), E>
    where
        E: From<redis::RedisError>,
        Fut: Future<Output = Result<Option<Start>, E>>,
    {
        let entry = entry(room_id, request_id);
        self.zrem(&entry).await?;
        if let Some(start) = current().await?.filter(|s| s.request_id == request_id) {
            self.zadd(Some("NX"), start.look_at, &entry).await?;
        }
        Ok(())
    }

    /// See [`super::StartSchedule::take_due_starts`]: the rooms whose starts are due by `now`,
    /// each leased until `lease_until`. An entry whose room (read with `current`) does not record
    /// its start leaves the schedule, as [`RedisSchedule::remove`] takes it off; one whose room
    /// cannot be read now stays leased, and is looked at again when the lease ends.
    pub async fn take_due<E, F, Fut>(
        &self,
        now: u64,
        limit: usize,
        lease_until: u64,
        current: F,
    ) -> Result<Vec<String>, E>
    where
        E: From<redis::RedisError> + Display,
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<Option<Start>, E>>,
    {
        let due: Vec<String> = self
            .take_due
            .key(&self.key)
            .arg(now)
            .arg(limit.max(1))
            .arg(lease_until)
            .invoke_async(&mut self.redis.clone())
            .await?;
        let looked = due
            .iter()
            .map(|entry| self.look(entry, lease_until, &current));
        let taken = futures_util::future::join_all(looked).await;
        Ok(taken.into_iter().flatten().collect())
    }

    /// One entry taken: its room if the room records its start; if not, the entry is dropped.
    async fn look<E, F, Fut>(&self, entry: &str, lease_until: u64, current: &F) -> Option<String>
    where
        E: From<redis::RedisError> + Display,
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<Option<Start>, E>>,
    {
        let outcome: Result<Option<String>, E> = async {
            let Some((room_id, request_id)) = parse(entry) else {
                tracing::warn!(entry, key = %self.key, "not an entry of a start schedule; dropped");
                self.zrem(entry).await?;
                return Ok(None);
            };
            if is(current(room_id.clone()).await?.as_ref(), &request_id) {
                return Ok(Some(room_id));
            }
            // Done, undone or lost to another write; or recorded by a write still on its way,
            // which adds the entry again once it has landed.
            self.zrem(entry).await?;
            if is(current(room_id.clone()).await?.as_ref(), &request_id) {
                // It landed meanwhile: handed out after all, as the take would have.
                self.zadd(None, lease_until, entry).await?;
                return Ok(Some(room_id));
            }
            Ok(None)
        }
        .await;
        outcome.unwrap_or_else(|error| {
            tracing::warn!(%error, entry, "cannot look at a due start; after its lease");
            None
        })
    }

    /// See [`super::StartSchedule::retry_start_at`]: moves room `room_id`'s start to `at`, if the
    /// room records one (`current`, its start as it stands); nothing if it is done or undone. A
    /// start the room records is on the schedule (see the module's comment), so this moves it; were
    /// it missing, this puts it back.
    pub async fn retry_at<E, Fut>(&self, room_id: &str, at: u64, current: Fut) -> Result<(), E>
    where
        E: From<redis::RedisError>,
        Fut: Future<Output = Result<Option<Start>, E>>,
    {
        if let Some(start) = current.await? {
            self.zadd(None, at, &entry(room_id, &start.request_id))
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_due_id_is_handed_out_once_per_lease_and_a_gone_one_leaves() {
        let mut set = DueSet::default();
        set.keep("a", Some(10));
        set.keep("a", Some(99));
        set.keep("b", Some(20));
        set.keep("gone", Some(5));
        assert_eq!(set.take_due(15, 10, 100, |id| id != "gone"), vec!["a"]);
        assert!(set.take_due(15, 10, 100, |_| true).is_empty(), "leased");
        set.move_to("b", 1);
        assert_eq!(set.take_due(99, 10, 200, |_| true), vec!["b"]);
        assert_eq!(set.take_due(100, 10, 300, |_| true), vec!["a"]);
        set.keep("a", None);
        assert_eq!(set.take_due(1_000, 10, 2_000, |_| true), vec!["b"]);
        assert_eq!(
            set.take_due(5_000, 10, 6_000, |_| true),
            vec!["b"],
            "only b is left"
        );
    }

    #[test]
    fn an_entry_names_its_room_and_start_whatever_they_hold() {
        for (room, request) in [("r", "room-start:r:1"), ("a\",\"b", "[x]"), ("", "")] {
            assert_eq!(
                parse(&entry(room, request)),
                Some((room.to_owned(), request.to_owned()))
            );
        }
        assert_eq!(parse("plain-room-id"), None);
    }
}
