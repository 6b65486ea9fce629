//! Faults on demand: a room store that fails chosen writes once, armed through the testkit's
//! `Faults` (the journal that fails on demand is the testkit's `FlakyJournal`).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::sync::Arc;
use warren_contracts::rooms::{Room, RoomStatus};
use warren_rooms::store::{RoomRecord, StartSchedule};
use warren_rooms::{RoomStore, StoreError};
use warren_testkit::Faults;

/// A store write that fails, once, when asked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The delete of a room that is starting: its game has begun, the room should go.
    DeleteStarted,
    /// The compare-and-set that records a start's session in the room.
    RecordSession,
}

/// A room store that fails each armed [`Fault`] once, then behaves.
pub struct FaultyStore {
    inner: Arc<dyn RoomStore>,
    faults: Faults<Fault>,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn RoomStore>) -> Self {
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
impl RoomStore for FaultyStore {
    async fn create(&self, record: &RoomRecord) -> Result<(), StoreError> {
        self.inner.create(record).await
    }

    async fn get(&self, room_id: &str) -> Result<Option<RoomRecord>, StoreError> {
        self.inner.get(room_id).await
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

    async fn delete(&self, room: &Room, expected: u64) -> Result<bool, StoreError> {
        if room.status == RoomStatus::Starting {
            self.fire(Fault::DeleteStarted)?;
        }
        self.inner.delete(room, expected).await
    }

    async fn list(&self, mode: Option<&str>, limit: usize) -> Result<Vec<Room>, StoreError> {
        self.inner.list(mode, limit).await
    }

    async fn count_listed(&self) -> Result<u64, StoreError> {
        self.inner.count_listed().await
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
