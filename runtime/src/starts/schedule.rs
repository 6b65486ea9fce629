//! The schedule of pending starts as both room stores keep it: in memory a [`DueSet`] under the
//! store's own lock, in Redis a sorted set scored by when each start is due ([`RedisSchedule`]),
//! written by the store's own scripts when a start is recorded or the room goes.

use crate::Redis;
use std::collections::{BTreeSet, HashMap};

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

/// KEYS: the schedule. ARGV: now, limit, lease until, room key prefix. The due rooms, each moved
/// to the end of its lease; those whose room is gone (expired) leave the schedule.
const TAKE_DUE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, id in ipairs(due) do
  if redis.call('EXISTS', ARGV[4] .. id) == 1 then
    redis.call('ZADD', KEYS[1], ARGV[3], id)
    table.insert(out, id)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out";

/// A store's schedule of starts in Redis: the sorted set at `key`, of room ids whose rooms live at
/// `room_prefix` + id.
pub struct RedisSchedule {
    redis: Redis,
    key: String,
    room_prefix: String,
    take_due: redis::Script,
}

impl std::fmt::Debug for RedisSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSchedule")
            .field("key", &self.key)
            .finish()
    }
}

impl RedisSchedule {
    pub fn new(redis: Redis, key: String, room_prefix: String) -> Self {
        Self {
            redis,
            key,
            room_prefix,
            take_due: redis::Script::new(TAKE_DUE),
        }
    }

    /// See [`super::StartSchedule::take_due_starts`].
    pub async fn take_due(
        &self,
        now: u64,
        limit: usize,
        lease_until: u64,
    ) -> redis::RedisResult<Vec<String>> {
        self.take_due
            .key(&self.key)
            .arg(now)
            .arg(limit.max(1))
            .arg(lease_until)
            .arg(&self.room_prefix)
            .invoke_async(&mut self.redis.clone())
            .await
    }

    /// See [`super::StartSchedule::retry_start_at`]: only a room still on the schedule moves.
    pub async fn move_to(&self, room_id: &str, at: u64) -> redis::RedisResult<()> {
        redis::cmd("ZADD")
            .arg(&self.key)
            .arg("XX")
            .arg(at)
            .arg(room_id)
            .query_async::<i64>(&mut self.redis.clone())
            .await
            .map(|_| ())
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
}
