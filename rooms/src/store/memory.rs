//! Rooms in this process's memory, for the embedded mode and tests. One lock covers the rooms and
//! the start schedule, which is what makes each write atomic.

use super::{RoomRecord, RoomStore, StartSchedule, StoreError};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use warren_contracts::rooms::Room;

#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    rooms: HashMap<String, RoomRecord>,
    /// (when to look, room id): the pending starts.
    starts: BTreeSet<(u64, String)>,
    /// room id → its entry in `starts`, to move or drop it.
    start_at: HashMap<String, u64>,
}

impl State {
    /// Keeps the room's place on the start schedule in step with `record`: added at its
    /// `look_at` if it has a start and no place yet, dropped if it has none.
    fn schedule(&mut self, record: &RoomRecord) {
        match record.start_due() {
            Some(due) if !self.start_at.contains_key(record.id()) => {
                self.start_at.insert(record.id().to_owned(), due);
                self.starts.insert((due, record.id().to_owned()));
            }
            Some(_) => {}
            None => self.unschedule(record.id()),
        }
    }

    fn unschedule(&mut self, room_id: &str) {
        if let Some(due) = self.start_at.remove(room_id) {
            self.starts.remove(&(due, room_id.to_owned()));
        }
    }

    fn move_start(&mut self, room_id: &str, at: u64) {
        if let Some(due) = self.start_at.get_mut(room_id) {
            self.starts.remove(&(*due, room_id.to_owned()));
            *due = at;
            self.starts.insert((at, room_id.to_owned()));
        }
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update under the lock completes before it can panic, so a poisoned lock is sound.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
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
        let mut state = self.state();
        let due: Vec<String> = state
            .starts
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(limit)
            .map(|(_, id)| id.clone())
            .collect();
        let mut taken = Vec::with_capacity(due.len());
        for id in due {
            if state.rooms.contains_key(&id) {
                state.move_start(&id, lease_until);
                taken.push(id);
            } else {
                state.unschedule(&id);
            }
        }
        Ok(taken)
    }

    async fn retry_start_at(&self, room_id: &str, at: u64) -> Result<(), StoreError> {
        self.state().move_start(room_id, at);
        Ok(())
    }
}
