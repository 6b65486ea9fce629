//! Where private rooms live: a small trait with an in-memory and a Redis implementation.
//!
//! Any instance of the service may change any room, so every change is a compare-and-set on the
//! room's version: the service reads, decides in Rust and writes back only if nobody changed the
//! room meanwhile. That one rule keeps two instances from seating more players than the room has
//! seats, seating a user twice, or starting two sessions. Alongside each room the store keeps its
//! invite code (unique: a code in use is refused), its place in the expiry schedule and, while it
//! starts, its place in the start schedule the completer works from, in step with each write: in
//! memory under the same lock, in Redis as a code pointer and indexes beside the room that never
//! miss what the room needs (see [`RedisStore`]). It also counts each user's wrong codes.

mod memory;
mod redis;

pub use memory::MemoryStore;
pub use redis::RedisStore;

use serde::{Deserialize, Serialize};
use std::time::Duration;
use warren_contracts::private_rooms::PrivateRoom;
use warren_runtime::starts::PendingStart;
/// The record of a decided start and the schedule of pending starts, shared with public rooms:
/// see [`warren_runtime::starts`].
pub use warren_runtime::starts::{Start, StartSchedule};

/// A start recorded without a [`Start`] (by a version before starts were recorded) older than
/// this (ms) was left by an instance that died mid-start: the room counts as open again. A start
/// with a [`Start`] is never abandoned; the completer carries it through.
pub const START_ABANDONED_MS: u64 = 15_000;
/// A seat held this long (ms) for a user being claimed was left by an instance that died
/// mid-join: the seat is free again.
pub const JOIN_ABANDONED_MS: u64 = 15_000;

/// A seat held for a user while `accounts` is asked to claim them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Joining {
    pub user_id: String,
    /// When the seat was taken (Unix ms).
    pub since: u64,
}

/// A room and what only the service needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRecord {
    pub room: PrivateRoom,
    /// When the join that filled the room began starting its session (Unix ms); 0 unless
    /// starting. Only that join's request starts it.
    #[serde(default)]
    pub starting_at: u64,
    /// Invitations sent so far; bounded, so an owner cannot flood users through the room.
    #[serde(default)]
    pub invites: u32,
    /// Seats taken by users whose claim is under way: they count against the room's size, and the
    /// room holds them (for `holds`), but they are not players until claimed, so a start never
    /// takes along a user who may turn out to be elsewhere.
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

    /// The code as the store keys it: its symbols alone (see [`crate::code::normalise`]).
    pub fn code_key(&self) -> String {
        crate::code::normalise(&self.room.code).unwrap_or_else(|| self.room.code.clone())
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

    /// Whether a start is under way now: a recorded one until it is done or refused, an
    /// unrecorded one (see [`START_ABANDONED_MS`]) until its instance counts as dead.
    pub fn starting(&self, now: u64) -> bool {
        self.start.is_some()
            || (self.starting_at != 0 && now.saturating_sub(self.starting_at) <= START_ABANDONED_MS)
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

    /// When the sweeper should look at the room (Unix ms): when it expires, or, while it is
    /// starting, once the start would count as abandoned, since a live start ends the room itself.
    pub fn due_at(&self) -> u64 {
        if self.starting_at == 0 {
            self.room.expires_at
        } else {
            self.room
                .expires_at
                .max(self.starting_at + START_ABANDONED_MS + 1)
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached now; the caller gets `unavailable`.
    #[error("private room store unavailable: {0}")]
    Unavailable(String),
    /// A record that cannot be read back.
    #[error("corrupt private room record: {0}")]
    Corrupt(String),
    #[error("a private room with this id exists")]
    AlreadyExists,
    /// Another room has this code; draw another.
    #[error("the invite code is in use")]
    CodeTaken,
}

#[async_trait::async_trait]
pub trait PrivateRoomStore: StartSchedule<Error = StoreError> + Send + Sync {
    /// Stores a new room with its code and expiry; [`StoreError::CodeTaken`] if another room has
    /// the code, [`StoreError::AlreadyExists`] if one has the id.
    async fn create(&self, record: &RoomRecord) -> Result<(), StoreError>;
    async fn get(&self, room_id: &str) -> Result<Option<RoomRecord>, StoreError>;
    /// The id of the room with this code (normalised: symbols alone, upper case): a room that
    /// exists and has it.
    async fn find_code(&self, code: &str) -> Result<Option<String>, StoreError>;
    /// Stores `record` (and reschedules its expiry at [`RoomRecord::due_at`]) if the stored
    /// version is still `expected`; `false` when another writer changed the room first (read it
    /// again and retry), or it is gone. A record with a [`Start`] is put on the start schedule at
    /// its `look_at` unless it is on it already; one without is taken off it.
    async fn replace(&self, record: &RoomRecord, expected: u64) -> Result<bool, StoreError>;
    /// Deletes the room, its code, its expiry entry and its place on the start schedule, if the
    /// stored version is still `expected`; `false` otherwise. (In Redis the room goes first, then
    /// the rest: a code or entry left behind leads nowhere.)
    async fn delete(&self, record: &RoomRecord, expected: u64) -> Result<bool, StoreError>;
    /// Takes up to `limit` rooms due by `now` (ms) from the expiry schedule; each is given to one
    /// caller only, so several instances can sweep at once. A store may keep back a room taken
    /// that it can see is not due (gone, due later, or starting): the sweeper would leave it.
    async fn take_due(&self, now: u64, limit: usize) -> Result<Vec<String>, StoreError>;
    /// Counts one wrong code for `user_id` and returns the count in the current window, which
    /// begins at the first wrong code and lasts `window`.
    async fn count_wrong_code(&self, user_id: &str, window: Duration) -> Result<u32, StoreError>;
    /// The wrong codes counted for `user_id` in the current window.
    async fn wrong_codes(&self, user_id: &str) -> Result<u32, StoreError>;
}
