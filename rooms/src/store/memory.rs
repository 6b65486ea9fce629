//! Rooms in this process's memory, for the embedded mode and tests. One lock covers the rooms and
//! the start schedule, which is what makes each write atomic.

use super::{RoomRecord, RoomStore, StartSchedule, StoreError};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use warren_contracts::rooms::Room;
use warren_runtime::starts::DueSet;

#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    rooms: HashMap<String, RoomRecord>,
    /// The pending starts.
    starts: DueSet,
}

impl State {
    /// Keeps the room's place on the start schedule in step with `record`.
    fn schedule(&mut self, record: &RoomRecord) {
        self.starts.keep(record.id(), record.start_due());
    }

    fn unschedule(&mut self, room_id: &str) {
        self.starts.remove(room_id);
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        warren_bus::lock(&self.state)
    }
}

#[async_trait::async_trait]
impl RoomStore for MemoryStore {
    async fn create(&self, record: &RoomRecord) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.rooms.contains_key(record.id()) {
            return Err(StoreError::AlreadyExists);
        }
        state.schedule(record);
        state.rooms.insert(record.id().to_owned(), record.clone());
        Ok(())
    }

    async fn get(&self, room_id: &str) -> Result<Option<RoomRecord>, StoreError> {
        Ok(self.state().rooms.get(room_id).cloned())
    }

    async fn replace(&self, record: &RoomRecord, expected: u64) -> Result<bool, StoreError> {
        let mut state = self.state();
        match state.rooms.get_mut(record.id()) {
            Some(stored) if stored.version() == expected => {
                *stored = record.clone();
            }
            _ => return Ok(false),
        }
        state.schedule(record);
        Ok(true)
    }

    async fn delete(&self, room: &Room, expected: u64) -> Result<bool, StoreError> {
        let mut state = self.state();
        if state
            .rooms
            .get(&room.room_id)
            .is_some_and(|stored| stored.version() == expected)
        {
            state.rooms.remove(&room.room_id);
            state.unschedule(&room.room_id);
            return Ok(true);
        }
        Ok(false)
    }

    async fn list(&self, mode: Option<&str>, limit: usize) -> Result<Vec<Room>, StoreError> {
        let mut listed: Vec<Room> = self
            .state()
            .rooms
            .values()
            .filter(|record| record.listed())
            .filter(|record| mode.is_none_or(|mode| record.room.mode == mode))
            .map(|record| record.room.clone())
            .collect();
        listed.sort_by(|a, b| (b.created_at, &b.room_id).cmp(&(a.created_at, &a.room_id)));
        listed.truncate(limit);
        Ok(listed)
    }

    async fn count_listed(&self) -> Result<u64, StoreError> {
        let listed = self.state().rooms.values().filter(|r| r.listed()).count();
        Ok(u64::try_from(listed).unwrap_or(u64::MAX))
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
        let state = &mut *self.state();
        let rooms = &state.rooms;
        Ok(state
            .starts
            .take_due(now, limit, lease_until, |id| rooms.contains_key(id)))
    }

    async fn retry_start_at(&self, room_id: &str, at: u64) -> Result<(), StoreError> {
        self.state().starts.move_to(room_id, at);
        Ok(())
    }
}
