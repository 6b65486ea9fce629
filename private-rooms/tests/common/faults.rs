//! Faults on demand: a private room store that fails chosen writes once, armed through the testkit's
//! `Faults` (the journal that fails on demand is the testkit's `FlakyJournal`).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::sync::Arc;
use std::time::Duration;
use warren_private_rooms::store::StartSchedule;
use warren_private_rooms::{PrivateRoomStore, RoomRecord, StoreError};
use warren_testkit::Faults;

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
    faults: Faults<Fault>,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn PrivateRoomStore>) -> Self {
        Self {
            inner,
            faults: Faults::default(),
        }
    }

    pub fn arm(&self, fault: Fault) {
        self.faults.arm(fault);
    }

    pub fn fired(&self) -> Vec<Fault> {
        self.faults.fired()
    }

    fn fire(&self, fault: Fault) -> Result<(), StoreError> {
        if self.faults.fires(fault) {
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
