//! Where sessions live: a small trait with an in-memory and a Redis implementation.
//!
//! A live session is owned by one instance at a time (see [`crate::owner`]); the store is what
//! makes that true across instances. [`SessionStore::claim`] makes an instance the owner and hands
//! it the record; every change the owner makes is one [`SessionStore::commit`], which writes the
//! record, remembers the command's request id and keeps the change's events, all in one step and
//! only while the instance is still the owner, and then (in Redis) numbers the events in the
//! journal before it answers. An instance that lost the session to another (it was thought dead)
//! finds out at its next commit, which changes nothing.

mod memory;
mod presence;
mod redis;

pub use memory::MemoryStore;
pub use presence::{Away, PresenceStore};
pub use redis::RedisStore;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use warren_contracts::Event;
use warren_contracts::sessions::Session;

/// A session and what only the service needs to know about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub session: Session,
    /// Players who left for good; they may not join or command again.
    #[serde(default)]
    pub left: Vec<String>,
}

impl SessionRecord {
    pub fn version(&self) -> u64 {
        self.session.version
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

/// Commands' request ids kept per session: a command delivered again (its first instance died
/// before answering, or the caller retried) is recognised among this many of the latest.
pub const APPLIED_KEPT: usize = 64;

/// What a new owner gets: the record, the request ids of the latest commands, and the events of
/// the last change, which it publishes again in case the previous owner died before it did.
#[derive(Debug, Clone, PartialEq)]
pub struct Owned {
    pub record: SessionRecord,
    /// Oldest first, at most [`APPLIED_KEPT`].
    pub applied: Vec<String>,
    pub last_events: Vec<Event>,
    /// The instance that owned it before, if another: changes may still be routed to it.
    pub previous_owner: Option<String>,
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This instance owns the session now.
    Owned(Box<Owned>),
    /// Another instance, alive, owns it.
    OwnedBy(String),
    /// There is no such session.
    Missing,
}

/// One change, as the owner commits it.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub record: &'a SessionRecord,
    /// The command's request id, when the change is a command that has one.
    pub request_id: Option<&'a str>,
    /// What the players hear of it, in order.
    pub events: &'a [Event],
}

/// The answer to a commit.
#[derive(Debug, Clone, PartialEq)]
pub enum Committed {
    /// Written. With each event's numbers by recipient when the store numbered them once the
    /// change was written; `None` when it does not number events, or could not this time (the
    /// bus numbers them as it publishes, as the journal would have: each once per recipient).
    Done(Option<Vec<BTreeMap<String, u64>>>),
    /// Nothing written: another instance owns the session now.
    Lost,
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
    /// Stores a new session, owned by `owner`.
    async fn create(&self, record: &SessionRecord, owner: &str) -> Result<(), StoreError>;

    /// The session as last committed; for reads that need no owner.
    async fn get(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// Makes `me` the owner if nobody owns the session, `me` already does, its owner is not
    /// alive, or its owner is `dead` (the broker said so before its heartbeat ran out).
    async fn claim(
        &self,
        session_id: &str,
        me: &str,
        dead: Option<&str>,
    ) -> Result<Claim, StoreError>;

    /// Writes `change` if `me` still owns the session.
    async fn commit(&self, change: Change<'_>, me: &str) -> Result<Committed, StoreError>;

    /// Gives up `me`'s ownership of these sessions, so that the next claim needs no wait.
    async fn release(&self, session_ids: &[String], me: &str) -> Result<(), StoreError>;

    /// Says that instance `me` is alive for `ttl_ms` more milliseconds.
    async fn heartbeat(&self, me: &str, ttl_ms: u64) -> Result<(), StoreError>;

    /// How many sessions are running (not finished, not expired), across every instance.
    async fn count_running(&self) -> Result<u64, StoreError>;
}
