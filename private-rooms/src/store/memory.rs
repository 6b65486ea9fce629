//! Private rooms in this process's memory, for the embedded mode and tests. One lock covers a
//! room, its code, its expiry entry and its place on the start schedule, which is what makes each
//! write atomic.

use super::{PrivateRoomStore, RoomRecord, StartSchedule, StoreError};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use warren_bus::lock;
use warren_runtime::starts::DueSet;

/// Past this many counters, those whose window is over are dropped on the next count.
const ATTEMPTS_KEPT: usize = 1024;

#[derive(Debug, Default)]
pub struct MemoryStore {
    rooms: Mutex<Rooms>,
    /// user → (when their window ends, wrong codes in it)
    attempts: Mutex<HashMap<String, (Instant, u32)>>,
}

#[derive(Debug, Default)]
struct Rooms {
    rooms: HashMap<String, RoomRecord>,
    /// normalised code → room id
    codes: HashMap<String, String>,
    /// (due, room id)
    due: BTreeSet<(u64, String)>,
    /// The pending starts.
    starts: DueSet,
}

impl Rooms {
    /// Keeps the room's place on the start schedule in step with `record`.
    fn schedule_start(&mut self, record: &RoomRecord) {
        self.starts.keep(record.id(), record.start_due());
    }

    fn unschedule_start(&mut self, room_id: &str) {
        self.starts.remove(room_id);
    }

    /// Drops the room's expiry entry, wherever it stands.
    fn unschedule(&mut self, room_id: &str) {
        if let Some(old) = self.rooms.get(room_id) {
            self.due.remove(&(old.due_at(), room_id.to_owned()));
        }
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait::async_trait]
impl PrivateRoomStore for MemoryStore {
    async fn create(&self, record: &RoomRecord) -> Result<(), StoreError> {
        let mut rooms = lock(&self.rooms);
        let id = record.id().to_owned();
        if rooms.rooms.contains_key(&id) {
            return Err(StoreError::AlreadyExists);
        }
        let code = record.code_key();
        if rooms.codes.contains_key(&code) {
            return Err(StoreError::CodeTaken);
        }
        rooms.codes.insert(code, id.clone());
        rooms.due.insert((record.due_at(), id.clone()));
        rooms.schedule_start(record);
        rooms.rooms.insert(id, record.clone());
        Ok(())
    }

    async fn get(&self, room_id: &str) -> Result<Option<RoomRecord>, StoreError> {
        Ok(lock(&self.rooms).rooms.get(room_id).cloned())
    }

    async fn find_code(&self, code: &str) -> Result<Option<String>, StoreError> {
        Ok(lock(&self.rooms).codes.get(code).cloned())
    }

    async fn replace(&self, record: &RoomRecord, expected: u64) -> Result<bool, StoreError> {
        let mut rooms = lock(&self.rooms);
        let id = record.id().to_owned();
        match rooms.rooms.get(&id) {
            Some(current) if current.version() == expected => {}
            _ => return Ok(false),
        }
        rooms.unschedule(&id);
        rooms.due.insert((record.due_at(), id.clone()));
        rooms.schedule_start(record);
        rooms.rooms.insert(id, record.clone());
        Ok(true)
    }

    async fn delete(&self, record: &RoomRecord, expected: u64) -> Result<bool, StoreError> {
        let mut rooms = lock(&self.rooms);
        let id = record.id();
        let Some(current) = rooms.rooms.get(id) else {
            return Ok(false);
        };
        if current.version() != expected {
            return Ok(false);
        }
        let code = current.code_key();
        rooms.unschedule(id);
        rooms.unschedule_start(id);
        rooms.rooms.remove(id);
        if rooms.codes.get(&code).is_some_and(|owner| owner == id) {
            rooms.codes.remove(&code);
        }
        Ok(true)
    }

    async fn take_due(&self, now: u64, limit: usize) -> Result<Vec<String>, StoreError> {
        let mut rooms = lock(&self.rooms);
        let due: Vec<(u64, String)> = rooms
            .due
            .iter()
            .take_while(|(due, _)| *due <= now)
            .take(limit)
            .cloned()
            .collect();
        for entry in &due {
            rooms.due.remove(entry);
        }
        Ok(due.into_iter().map(|(_, id)| id).collect())
    }

    async fn count_wrong_code(&self, user_id: &str, window: Duration) -> Result<u32, StoreError> {
        let now = Instant::now();
        let mut attempts = lock(&self.attempts);
        if attempts.len() > ATTEMPTS_KEPT {
            attempts.retain(|_, (ends, _)| *ends > now);
        }
        let entry = attempts
            .entry(user_id.to_owned())
            .or_insert((now + window, 0));
        if entry.0 <= now {
            *entry = (now + window, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        Ok(entry.1)
    }

    async fn wrong_codes(&self, user_id: &str) -> Result<u32, StoreError> {
        let now = Instant::now();
        Ok(lock(&self.attempts)
            .get(user_id)
            .filter(|(ends, _)| *ends > now)
            .map_or(0, |(_, count)| *count))
    }
}

#[async_trait::async_trait]
impl StartSchedule for MemoryStore {
    type Error = StoreError;

    async fn take_due_starts(
        &self,
        now: u64,
        limit: usize,
        lease_until: u64,
    ) -> Result<Vec<String>, StoreError> {
        let state = &mut *lock(&self.rooms);
        let rooms = &state.rooms;
        Ok(state
            .starts
            .take_due(now, limit, lease_until, |id| rooms.contains_key(id)))
    }

    async fn retry_start_at(&self, room_id: &str, at: u64) -> Result<(), StoreError> {
        lock(&self.rooms).starts.move_to(room_id, at);
        Ok(())
    }
}
