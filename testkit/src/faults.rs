//! Faults on demand: armed faults that go off once, for a store wrapper that fails chosen
//! writes (each service's test folder wraps its own store trait with it), and an event journal
//! that fails to number chosen events once (as when Redis, which holds it, restarts).

use std::collections::{BTreeMap, HashSet};
use std::hash::Hash;
use std::sync::Mutex;
use warren_bus::journal::{JournalError, JournalStore, MemoryJournal, ResumeConfig, Resumed};
use warren_contracts::Event;

/// Faults of kind `F` armed to go off once each, and the ones that went off.
pub struct Faults<F> {
    armed: Mutex<HashSet<F>>,
    fired: Mutex<Vec<F>>,
}

impl<F> Default for Faults<F> {
    fn default() -> Self {
        Self {
            armed: Mutex::default(),
            fired: Mutex::default(),
        }
    }
}

impl<F: Copy + Eq + Hash> Faults<F> {
    /// `fault` goes off the next time it is met.
    pub fn arm(&self, fault: F) {
        warren_bus::lock(&self.armed).insert(fault);
    }

    /// The faults that went off, in order.
    pub fn fired(&self) -> Vec<F> {
        warren_bus::lock(&self.fired).clone()
    }

    /// Whether `fault` goes off now: it was armed (and is disarmed by going off).
    pub fn fires(&self, fault: F) -> bool {
        let fires = warren_bus::lock(&self.armed).remove(&fault);
        if fires {
            warren_bus::lock(&self.fired).push(fault);
        }
        fires
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
            let mut fails = warren_bus::lock(&self.fails);
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
