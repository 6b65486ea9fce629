//! Starting a room's game, the part public and private rooms share: one decision, recorded, then
//! carried through by whoever gets to it.
//!
//! The compare-and-set that decides a start (the ready or the join that completes the room) also
//! records a [`Start`]: the request id its `sessions.create` carries (the same on every retry and
//! instance) and who decided it; the owner's store puts the start on its schedule before that write
//! (and keeps it there until the write that ends it; a reader drops entries whose room does not
//! record them). From there the start goes forward step by step, each step safe to repeat:
//!
//! 1. `sessions.create` with the start's request id. Sessions derives the session id from it, so a
//!    retry after a timeout gets the session the first try may have made. The session id is then
//!    recorded in the room (a compare-and-set); from then on the start is never undone.
//! 2. `accounts.hand_over` of the players' claims to the session (idempotent in accounts). Until
//!    it is done the room holds its players, so the owner's `holds` keeps answering for them.
//! 3. `room.closed {reason: started}`, an event whose id follows from the start
//!    ([`Event::once`](warren_contracts::Event::once)): the journal numbers a retry once.
//! 4. The room is deleted, and with it its place on the schedule; only after the players are told.
//!
//! Only a definitive refusal by sessions (an error of its own, not `unavailable`, `timeout` or
//! `internal`) undoes the start, in the owner's way ([`RoomStarts::undo`]). Any other failure
//! leaves the start pending. The request that decided the start makes the first attempt
//! ([`first_attempt`]). A failed one, or one whose instance died, is taken up by the completer
//! ([`run`]) that every instance runs: the store hands each due start to one of them for a lease,
//! and an attempt that fails puts it back on the schedule a second later.
//!
//! What differs between the owners (how a room is read, written, deleted and undone, their
//! schedule, their names) is the [`RoomStarts`] trait each implements for its service. The
//! schedule itself is kept the same way by both: [`DueSet`] in memory, [`RedisSchedule`] in Redis.

mod completer;
mod schedule;

pub use completer::{complete_due, first_attempt, run};
pub use schedule::{DueSet, RedisSchedule};

use crate::Claims;
use serde::{Deserialize, Serialize};
use std::fmt::Display;
use warren_bus::CallOptions;
use warren_contracts::{ErrorCode, WireError};

/// The completer leaves a start to the request that decided it until that request's deadline, and
/// this much longer (ms), but never longer than [`MAX_FIRST_LOOK_MS`] (see [`first_look`]).
pub const GRACE_MS: u64 = 1_000;
pub const MAX_FIRST_LOOK_MS: u64 = 15_000;

/// A start decided: written in the compare-and-set that decides it, and kept until the room is
/// deleted (done) or the start undone (refused by `sessions`). Whoever carries the start on, the
/// request that decided it or the completer of any instance, works from this record, so every
/// attempt asks for the same session and announces the same event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Start {
    /// The request id of every `sessions.create` for this start: sessions derives the session id
    /// from it, so a retry after a timeout gets the session the first try may have made.
    pub request_id: String,
    /// Whose request decided the start (a public room's last ready, a private room's filling
    /// join): what the owner undoes if sessions refuses it.
    pub by: String,
    /// The session, once sessions answered; from then on the start is never undone.
    #[serde(default)]
    pub session_id: Option<String>,
    /// When the completer first looks at the start (Unix ms), should the request that decided it
    /// not have finished it by then. The store schedules the room at this time when the start is
    /// written; from then on the schedule is the store's (see [`StartSchedule::take_due_starts`]).
    pub look_at: u64,
}

/// When the completer first looks at a start decided `now` by a request that has `within_ms`
/// left to finish it: after that, and [`GRACE_MS`], but never later than [`MAX_FIRST_LOOK_MS`].
pub fn first_look(now: u64, within_ms: u64) -> u64 {
    now.saturating_add(within_ms.saturating_add(GRACE_MS).min(MAX_FIRST_LOOK_MS))
}

/// What a compare-and-set of a room's owner does to the room it read; rooms and private rooms
/// decide every change to a room with it, and a start's steps decide theirs (see
/// [`RoomStarts::change_start`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Write the changed record back.
    Save,
    /// The room is over: delete it, with whatever its owner keeps beside it.
    Delete,
    /// Nothing to write; the room is returned as read.
    Unchanged,
}

/// A decision on a room's start (`None` if it has none), made inside the owner's compare-and-set.
pub type StartChange<'a> = dyn Fn(Option<&mut Start>) -> Result<Change, WireError> + Sync + 'a;

/// Whether the room's start (`current`) is still `start`: a step of one start must not touch
/// another.
fn still(current: Option<&Start>, start: &Start) -> bool {
    current.is_some_and(|current| current.request_id == start.request_id)
}

/// Whether a start sessions refused may be undone: the room's start is still that one, and no
/// session is recorded (once one is, the start only goes forward).
pub fn undoable(current: Option<&Start>, refused: &Start) -> bool {
    still(current, refused) && current.is_some_and(|current| current.session_id.is_none())
}

/// Records `session_id` in the room's start (`current`). An error if the room's start is no
/// longer `start`.
fn record_session(
    current: Option<&mut Start>,
    start: &Start,
    session_id: &str,
) -> Result<Change, WireError> {
    match current {
        Some(current) if current.request_id == start.request_id => {
            if current.session_id.is_some() {
                // Recorded by another attempt: the same session, since the request id is.
                return Ok(Change::Unchanged);
            }
            current.session_id = Some(session_id.to_owned());
            Ok(Change::Save)
        }
        _ => Err(WireError::new(
            ErrorCode::Internal,
            "the room's start changed while its session was made",
        )),
    }
}

/// Deletes the room while its start is still `start`; another start is left alone.
fn delete(current: Option<&mut Start>, start: &Start) -> Change {
    if still(current.as_deref(), start) {
        Change::Delete
    } else {
        Change::Unchanged
    }
}

/// A start as an attempt needs it: the room, what its session is made of, and the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingStart {
    pub room_id: String,
    pub mode: String,
    pub players: Vec<String>,
    pub start: Start,
}

impl PendingStart {
    /// The start of room `room_id`, made of `players` for `mode`; `None` if it has no start.
    pub fn of(
        room_id: &str,
        mode: &str,
        players: Vec<String>,
        start: Option<&Start>,
    ) -> Option<Self> {
        Some(Self {
            room_id: room_id.to_owned(),
            mode: mode.to_owned(),
            players,
            start: start?.clone(),
        })
    }
}

/// A store's schedule of pending starts: a start is put on it before the write that records it
/// (at its [`Start::look_at`]), and taken off after the start is undone or the room deleted; an
/// entry whose room does not record that start is dropped when taken. The completer works from it.
#[async_trait::async_trait]
pub trait StartSchedule: Send + Sync {
    /// The store's error, logged when the schedule cannot be read or written.
    type Error: Display + Send;

    /// Up to `limit` rooms whose start is due by `now` (ms). Each is handed to one caller, which
    /// has until `lease_until` to carry it on before it is handed out again: the schedule moves it
    /// there as it hands it out, so a caller that dies loses nothing. Rooms gone meanwhile leave
    /// the schedule.
    async fn take_due_starts(
        &self,
        now: u64,
        limit: usize,
        lease_until: u64,
    ) -> Result<Vec<String>, Self::Error>;
    /// Moves a start still on the schedule to `at` (an attempt failed; try again then); nothing
    /// if it is not on it (done, or undone).
    async fn retry_start_at(&self, room_id: &str, at: u64) -> Result<(), Self::Error>;
}

/// What a service that starts rooms provides to have its starts carried through.
#[async_trait::async_trait]
pub trait RoomStarts: Send + Sync {
    /// The store whose schedule holds the owner's pending starts.
    type Schedule: StartSchedule + ?Sized;
    /// The service whose events tell the players (`room.closed` is published as it).
    const SERVICE: &'static str;
    /// What log lines call a room: "room", "private room".
    const NOUN: &'static str;

    /// The service's claims in `accounts`, handed over to the session; their bus also carries
    /// `sessions.create` and the event.
    fn claims(&self) -> &Claims;
    /// The owner's store, for its schedule of starts.
    fn schedule(&self) -> &Self::Schedule;
    /// The room's start as it stands: `None` if the room is gone or has no start (any more).
    async fn pending_start(&self, room_id: &str) -> Result<Option<PendingStart>, WireError>;
    /// The owner's compare-and-set on the room's start: `change` decides from the start as
    /// stored, and the owner writes what it says (a [`Change::Delete`] deletes the room with what
    /// it keeps beside it, such as a private room's code); `not_found` if the room is gone. The
    /// steps that record the session id and delete the room are made with it.
    async fn change_start(&self, room_id: &str, change: &StartChange<'_>) -> Result<(), WireError>;
    /// Undoes a start sessions refused, only while it is [`undoable`]. A failure is the owner's to
    /// log: the start stays scheduled, and the next attempt is refused and undoes it.
    async fn undo(&self, call: &CallOptions, room_id: &str, refused: &Start);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(request_id: &str, session_id: Option<&str>) -> Start {
        Start {
            request_id: request_id.to_owned(),
            by: "ada".to_owned(),
            session_id: session_id.map(str::to_owned),
            look_at: 0,
        }
    }

    #[test]
    fn the_first_look_waits_for_the_request_and_a_grace_but_not_for_ever() {
        assert_eq!(first_look(100, 2_000), 100 + 2_000 + GRACE_MS);
        assert_eq!(first_look(100, u64::MAX), 100 + MAX_FIRST_LOOK_MS);
    }

    #[test]
    fn only_the_same_start_without_a_session_is_undone() {
        let refused = start("a", None);
        assert!(undoable(Some(&start("a", None)), &refused));
        assert!(!undoable(Some(&start("a", Some("s"))), &refused));
        assert!(!undoable(Some(&start("b", None)), &refused));
        assert!(!undoable(None, &refused));
    }

    #[test]
    fn a_session_is_recorded_once_and_only_in_its_start() {
        let decided = start("a", None);
        let mut current = start("a", None);
        let record = |current: Option<&mut Start>| record_session(current, &decided, "s");
        assert_eq!(record(Some(&mut current)), Ok(Change::Save));
        assert_eq!(current.session_id.as_deref(), Some("s"));
        assert_eq!(record(Some(&mut current)), Ok(Change::Unchanged));
        assert!(record(Some(&mut start("b", None))).is_err());
        assert!(record(None).is_err());
    }

    #[test]
    fn only_its_own_start_deletes_the_room() {
        let decided = start("a", Some("s"));
        assert_eq!(
            delete(Some(&mut start("a", Some("s"))), &decided),
            Change::Delete
        );
        assert_eq!(
            delete(Some(&mut start("b", None)), &decided),
            Change::Unchanged
        );
        assert_eq!(delete(None, &decided), Change::Unchanged);
    }
}
