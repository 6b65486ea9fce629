//! Where sessions live: a small trait with an in-memory and a Redis implementation.
//!
//! Any instance of the service can serve any session, so every change is a compare-and-set on the
//! session's version: two instances never both apply a command to the same version, and the order
//! of versions is the order of play.

mod memory;
mod presence;
mod redis;

pub use memory::MemoryStore;
pub use presence::{Away, PresenceStore};
pub use redis::RedisStore;

use serde::{Deserialize, Serialize};
use warren_contracts::sessions::Session;

/// A session and what only the service needs to know about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub session: Session,
    /// Players who left for good; they may not join or command again.
    #[serde(default)]
    pub left: Vec<String>,
    /// The events of the last change, written with it and cleared once published: the next
    /// change waits for them, so players hear of changes in version order.
    #[serde(default)]
    pub outbox: Vec<warren_contracts::Event>,
    /// When the last change was written, Unix ms; an outbox older than a few seconds was left by
    /// an instance that died, and the next writer publishes it instead.
    #[serde(default)]
    pub changed_at: u64,
    /// The request ids of the latest commands applied, newest last: a command delivered again
    /// after the instance applying it died is recognised and not applied twice.
    #[serde(default)]
    pub applied: Vec<String>,
}

/// Commands' request ids kept per session: enough for every command in flight at once.
pub const APPLIED_KEPT: usize = 64;

impl SessionRecord {
    pub fn version(&self) -> u64 {
        self.session.version
    }

    /// Notes that the command with `request_id` is applied in this change.
    pub fn note_applied(&mut self, request_id: &str) {
        self.applied.push(request_id.to_owned());
        let excess = self.applied.len().saturating_sub(APPLIED_KEPT);
        self.applied.drain(..excess);
    }

    /// Players still in the session, in seat order.
    pub fn remaining(&self) -> Vec<String> {
        self.session
            .players
            .iter()
            .filter(|p| !self.left.contains(p))
            .cloned()
            .collect()
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached now; the caller gets `unavailable`.
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    /// A record that cannot be read back.
    #[error("corrupt session record: {0}")]
    Corrupt(String),
    #[error("a session with this id exists")]
    AlreadyExists,
}

#[async_trait::async_trait]
pub trait SessionStore: PresenceStore + Send + Sync {
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError>;
    async fn get(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Stores `record` if the stored version is still `expected`; `false` when another writer
    /// changed the session first (read it again and retry).
    async fn replace(&self, record: &SessionRecord, expected: u64) -> Result<bool, StoreError>;
    /// Asks for a look at the session's outbox at `due` (ms), in case the instance that wrote it
    /// dies before publishing it and no later change comes to publish it instead.
    async fn watch_outbox(&self, session_id: &str, due: u64) -> Result<(), StoreError>;
    /// The sessions whose outbox look is due by `now`; each is given to one caller only.
    async fn take_due_outboxes(&self, now: u64) -> Result<Vec<String>, StoreError>;
    /// How many sessions are running (not finished, not expired), across every instance.
    async fn count_running(&self) -> Result<u64, StoreError>;
}
