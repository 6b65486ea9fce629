//! Faults on demand: a private room store that fails chosen writes once, and an event journal that fails
//! to number chosen events once (as when Redis, which holds it, restarts).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warren_bus::journal::{JournalError, JournalStore, MemoryJournal, ResumeConfig, Resumed};
use warren_contracts::Event;
use warren_private_rooms::store::StartSchedule;
use warren_private_rooms::{PrivateRoomStore, RoomRecord, StoreError};

/// A store write that fails, once, when asked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The delete of a room that is starting: its game has begun, the room should go.
    DeleteStarted,
    /// The compare-and-set that records a start's session in the room.
    RecordSession,
}

/// A private room store that fails each armed [`Fault`] once, then behaves.
pub struct FaultyStore {
    inner: Arc<dyn PrivateRoomStore>,
    armed: Mutex<HashSet<Fault>>,
    /// The faults that went off.
    pub fired: Mutex<Vec<Fault>>,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn PrivateRoomStore>) -> Self {
        Self {
            inner,
            armed: Mutex::default(),
            fired: Mutex::default(),
        }
    }

    pub fn arm(&self, fault: Fault) {
        self.armed.lock().unwrap().insert(fault);
    }

    pub fn fired(&self) -> Vec<Fault> {
        self.fired.lock().unwrap().clone()
    }

    fn fire(&self, fault: Fault) -> Result<(), StoreError> {
        if self.armed.lock().unwrap().remove(&fault) {
            self.fired.lock().unwrap().push(fault);
            return Err(StoreError::Unavailable(format!("{fault:?} fails once")));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl PrivateRoomStore for FaultyStore {
    async fn create(&self, record: &RoomRecord) -> Result<(), StoreError> {
        self.inner.create(record).await
    }

    async fn get(&self, room_id: &str) -> Result<Option<RoomRecord>, StoreError> {
        self.inner.get(room_id).await
    }

    async fn find_code(&self, code: &str) -> Result<Option<String>, StoreError> {
        self.inner.find_code(code).await
    }

    async fn replace(&self, record: &RoomRecord, expected: u64) -> Result<bool, StoreError> {
        if record
            .start
            .as_ref()
            .is_some_and(|start| start.session_id.is_some())
        {
            self.fire(Fault::RecordSession)?;
        }
        self.inner.replace(record, expected).await
    }

    async fn delete(&self, record: &RoomRecord, expected: u64) -> Result<bool, StoreError> {
        if record.starting_at != 0 {
            self.fire(Fault::DeleteStarted)?;
        }
        self.inner.delete(record, expected).await
    }

    async fn take_due(&self, now: u64, limit: usize) -> Result<Vec<String>, StoreError> {
        self.inner.take_due(now, limit).await
    }

    async fn count_wrong_code(&self, user_id: &str, window: Duration) -> Result<u32, StoreError> {
        self.inner.count_wrong_code(user_id, window).await
    }

    async fn wrong_codes(&self, user_id: &str) -> Result<u32, StoreError> {
        self.inner.wrong_codes(user_id).await
    }
}

#[async_trait::async_trait]
impl StartSchedule for FaultyStore {
    type Error = StoreError;

    async fn take_due_starts(
        &self,
        now: u64,
        limit: usize,
        lease_until: u64,
    ) -> Result<Vec<String>, StoreError> {
        self.inner.take_due_starts(now, limit, lease_until).await
    }

    async fn retry_start_at(&self, room_id: &str, at: u64) -> Result<(), StoreError> {
        self.inner.retry_start_at(room_id, at).await
    }
}

/// The in-memory journal, except that it cannot be reached the first `fails` times it is asked to
/// number an event of kind `kind`: the publish of that event fails.
pub struct FlakyJournal {
    inner: MemoryJournal,
    kind: String,
    fails: Mutex<usize>,
}

impl FlakyJournal {
    pub fn new(kind: &str, fails: usize) -> Self {
        Self {
            inner: MemoryJournal::new(ResumeConfig::default()),
            kind: kind.to_owned(),
            fails: Mutex::new(fails),
        }
    }
}

#[async_trait::async_trait]
impl JournalStore for FlakyJournal {
    async fn append(
        &self,
        events: &[Event],
        now: u64,
    ) -> Result<Vec<BTreeMap<String, u64>>, JournalError> {
        if events.iter().any(|e| e.kind == self.kind) {
            let mut fails = self.fails.lock().unwrap();
            if *fails > 0 {
                *fails -= 1;
                return Err(JournalError::Unavailable(
                    "the journal is restarting".into(),
                ));
            }
        }
        self.inner.append(events, now).await
    }

    async fn after(&self, user: &str, after: u64, now: u64) -> Result<Resumed, JournalError> {
        self.inner.after(user, after, now).await
    }

    async fn head(&self, user: &str) -> Result<u64, JournalError> {
        self.inner.head(user).await
    }
}
