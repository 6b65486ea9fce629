//! Where rooms live: a small trait with an in-memory and a Redis implementation.
//!
//! Any instance of the service may change any room, so every change is a compare-and-set on the
//! room's version: the service reads, decides in Rust and writes back only if nobody changed the
//! room meanwhile. That one rule is what keeps two instances from seating more players than a
//! room has seats, or starting its game twice. The store also keeps the list of rooms that are
//! open and have a free seat, newest first, and the schedule of pending starts (see [`Start`])
//! that the completer works from, in step with each write: in memory under the same lock, in Redis
//! as indexes beside the rooms that never miss a room that should be on them (see [`RedisStore`]).

mod memory;
mod redis;

pub use memory::MemoryStore;
pub use redis::RedisStore;

use serde::{Deserialize, Serialize};
use warren_contracts::rooms::{Room, RoomStatus};
use warren_runtime::starts::PendingStart;
/// The record of a decided start and the schedule of pending starts, shared with private rooms:
/// see [`warren_runtime::starts`].
pub use warren_runtime::starts::{Start, StartSchedule};

/// A held seat older than this (ms) was left by an instance that died mid-way; so was a start
/// recorded without a [`Start`] (by a version before starts were recorded).
pub const ABANDONED_MS: u64 = 15_000;

/// A seat held for a user while `accounts` is asked to claim them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Joining {
    pub user_id: String,
    /// When the seat was held (Unix ms).
    pub since: u64,
}

/// A room and what only the service needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRecord {
    pub room: Room,
    /// When the room started asking for its session (Unix ms); 0 unless starting. A start older
    /// than [`ABANDONED_MS`] was left by an instance that died, and the room counts as open again.
    #[serde(default)]
    pub starting_at: u64,
    /// Seats held for users whose claim is under way. They count against the room's size and the
    /// room holds them (for `rooms.holds`), so that a user joining two rooms at once cannot be
    /// claimed by the second while the first has not seated them yet; they are not players until
    /// claimed, so they are never ready and never taken into a session.
    #[serde(default)]
    pub joining: Vec<Joining>,
    /// The start under way, if any (see [`Start`]).
    #[serde(default)]
    pub start: Option<Start>,
}

impl RoomRecord {
    pub fn id(&self) -> &str {
        &self.room.room_id
    }

    pub fn version(&self) -> u64 {
        self.room.version
    }

    /// Whether the room holds `user`: seated, or being claimed for a seat.
    pub fn holds(&self, user: &str) -> bool {
        self.room.has_player(user) || self.is_joining(user)
    }

    pub fn is_joining(&self, user: &str) -> bool {
        self.joining.iter().any(|j| j.user_id == user)
    }

    /// Seats neither taken by a player nor held for one being claimed.
    pub fn free_seats(&self) -> u32 {
        let taken = self.room.players.len().saturating_add(self.joining.len());
        self.room
            .max_players
            .saturating_sub(u32::try_from(taken).unwrap_or(u32::MAX))
    }

    /// When the completer should first look at the room: its start's `look_at`, if it has one.
    pub fn start_due(&self) -> Option<u64> {
        self.start.as_ref().map(|start| start.look_at)
    }

    /// Its start as the start's steps take it (see [`warren_runtime::starts`]), if it has one.
    pub fn pending_start(&self) -> Option<PendingStart> {
        let room = &self.room;
        PendingStart::of(
            self.id(),
            &room.mode,
            room.player_ids(),
            self.start.as_ref(),
        )
    }

    /// Whether `rooms.list` shows it: open, with a player (its owner is claimed) and a free seat.
    pub fn listed(&self) -> bool {
        self.room.status == RoomStatus::Open
            && !self.room.players.is_empty()
            && self.free_seats() > 0
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached now; the caller gets `unavailable`.
    #[error("room store unavailable: {0}")]
    Unavailable(String),
    /// A record that cannot be read back.
    #[error("corrupt room record: {0}")]
    Corrupt(String),
    #[error("a room with this id exists")]
    AlreadyExists,
}

#[async_trait::async_trait]
pub trait RoomStore: StartSchedule<Error = StoreError> + Send + Sync {
    async fn create(&self, record: &RoomRecord) -> Result<(), StoreError>;
    async fn get(&self, room_id: &str) -> Result<Option<RoomRecord>, StoreError>;
    /// Stores `record` if the stored version is still `expected`; `false` when another writer
    /// changed the room first (read it again and retry), or it is gone.
    ///
    /// A record with a [`Start`] is put on the start schedule at its `look_at` unless it is on it
    /// already; one without is taken off it. The list and the schedule are never without what the
    /// room needs on them; in Redis they may hold for a moment what it no longer needs, which their
    /// readers skip.
    async fn replace(&self, record: &RoomRecord, expected: u64) -> Result<bool, StoreError>;
    /// Deletes the room (and its place on the start schedule) if its stored version is still
    /// `expected`; `false` otherwise.
    async fn delete(&self, room: &Room, expected: u64) -> Result<bool, StoreError>;
    /// Listed rooms (see [`RoomRecord::listed`]), newest first, of `mode` if given, at most
    /// `limit`.
    async fn list(&self, mode: Option<&str>, limit: usize) -> Result<Vec<Room>, StoreError>;
    /// How many rooms are listed, of every mode.
    async fn count_listed(&self) -> Result<u64, StoreError>;
}
