//! Sessions in this process's memory, for the embedded mode and tests.

use super::{SessionRecord, SessionStore, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct MemoryStore {
    sessions: Mutex<HashMap<String, SessionRecord>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionRecord>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl SessionStore for MemoryStore {
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let mut sessions = self.sessions();
        let id = &record.session.session_id;
        if sessions.contains_key(id) {
            return Err(StoreError::AlreadyExists);
        }
        sessions.insert(id.clone(), record.clone());
        Ok(())
    }

    async fn get(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.sessions().get(session_id).cloned())
    }

    async fn replace(&self, record: &SessionRecord, expected: u64) -> Result<bool, StoreError> {
        let mut sessions = self.sessions();
        match sessions.get_mut(&record.session.session_id) {
            Some(current) if current.version() == expected => {
                *current = record.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
