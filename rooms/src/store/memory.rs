//! Rooms in this process's memory, for the embedded mode and tests.

use super::{RoomRecord, RoomStore, StoreError};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use warren_contracts::rooms::Room;

#[derive(Debug, Default)]
pub struct MemoryStore {
    rooms: Mutex<HashMap<String, RoomRecord>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn rooms(&self) -> MutexGuard<'_, HashMap<String, RoomRecord>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl RoomStore for MemoryStore {
    async fn create(&self, record: &RoomRecord) -> Result<(), StoreError> {
        let mut rooms = self.rooms();
        if rooms.contains_key(record.id()) {
            return Err(StoreError::AlreadyExists);
        }
        rooms.insert(record.id().to_owned(), record.clone());
        Ok(())
    }

    async fn get(&self, room_id: &str) -> Result<Option<RoomRecord>, StoreError> {
        Ok(self.rooms().get(room_id).cloned())
    }

    async fn replace(&self, record: &RoomRecord, expected: u64) -> Result<bool, StoreError> {
        let mut rooms = self.rooms();
        match rooms.get_mut(record.id()) {
            Some(stored) if stored.version() == expected => {
                *stored = record.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete(&self, room: &Room, expected: u64) -> Result<bool, StoreError> {
        let mut rooms = self.rooms();
        if rooms
            .get(&room.room_id)
            .is_some_and(|stored| stored.version() == expected)
        {
            rooms.remove(&room.room_id);
            return Ok(true);
        }
        Ok(false)
    }

    async fn list(&self, mode: Option<&str>, limit: usize) -> Result<Vec<Room>, StoreError> {
        let mut listed: Vec<Room> = self
            .rooms()
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
        let listed = self.rooms().values().filter(|r| r.listed()).count();
        Ok(u64::try_from(listed).unwrap_or(u64::MAX))
    }
}
