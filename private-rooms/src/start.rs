//! Starting a private room's game: one decision, recorded, then carried through by whoever gets
//! to it.
//!
//! The compare-and-set whose join fills the room also records a [`Start`]: the request id its
//! `sessions.create` carries (`private-room-start:<room id>:<version>`, the same on every retry
//! and instance) and whose join it was; the store puts the room on its start schedule in the same
//! write. From there the start goes forward step by step, each step safe to repeat:
//!
//! 1. `sessions.create` with the start's request id. Sessions derives the session id from it, so a
//!    retry after a timeout gets the session the first try may have made. The session id is then
//!    recorded in the room (a compare-and-set); from then on the room is never opened again.
//! 2. `accounts.hand_over` of the players' claims to the session (idempotent in accounts). Until
//!    it is done the room holds its players, so `private_rooms.holds` keeps answering for them.
//! 3. `room.closed {reason: started}`, an event whose id follows from the start
//!    ([`Event::once`](warren_contracts::Event::once)): the journal numbers a retry once.
//! 4. The room is deleted, with its code and its places on the schedules; only after the players
//!    are told (until then a join with the code finds the room full).
//!
//! Only a definitive refusal by sessions (an error of its own, not `unavailable`, `timeout` or
//! `internal`) undoes the start: the joiner who filled the room is out again and their claim
//! released, as if the join had not been. Any other failure leaves the start pending. The request that decided the
//! start makes the first attempt. A failed one, or one whose instance died, is taken up by the
//! completer ([`run`]) that every instance runs: the store hands each due start to one of them for
//! a lease, and an attempt that fails puts it back on the schedule a second later.

use crate::service::{Change, Service};
use crate::store::{RoomRecord, Start};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warren_bus::CallOptions;
use warren_contracts::event::now_millis;
use warren_contracts::private_rooms::PrivateRoom;
use warren_contracts::rooms::{CLOSED, CloseReason, RoomClosed};
use warren_contracts::sessions::{Create as CreateSession, NewSession};
use warren_contracts::{ErrorCode, WireError};

/// After a failed attempt, the start is looked at again this much later (ms).
const RETRY_MS: u64 = 1_000;
/// How long the completer has a start to itself (ms); its attempt ends well before, each call
/// bounded by [`CALL_TIMEOUT`]. If its instance dies, another takes the start up after this.
const LEASE_MS: u64 = 15_000;
/// The longest the completer waits for any one call.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// How often each instance looks for due starts.
const TICK: Duration = Duration::from_millis(250);
/// Starts taken from the schedule at a time; more wait for the next tick.
const BATCH: usize = 100;
/// The completer leaves a start to the join that decided it until that request's deadline, and
/// this much longer (ms), but never longer than [`MAX_FIRST_LOOK_MS`].
const GRACE_MS: u64 = 1_000;
const MAX_FIRST_LOOK_MS: u64 = 15_000;

/// Why an attempt stopped short of done.
enum Stop {
    /// Sessions refused the start; the join is undone (or will be, on the next attempt).
    Refused(WireError),
    /// A step failed for now; the start stands and is tried again.
    Pending,
}

/// Records a [`Start`] decided by `by`'s join, made with `call`: called inside the
/// compare-and-set that seats them as the last player. The request id names the version this write
/// gives the room, so no two starts share one.
pub(crate) fn decide(record: &mut RoomRecord, by: &str, call: &CallOptions, now: u64) {
    let inline = u64::try_from(call.timeout.as_millis())
        .unwrap_or(u64::MAX)
        .saturating_add(GRACE_MS);
    record.starting_at = now;
    record.start = Some(Start {
        request_id: format!(
            "private-room-start:{}:{}",
            record.id(),
            record.version() + 1
        ),
        by: by.to_owned(),
        session_id: None,
        look_at: now.saturating_add(inline.min(MAX_FIRST_LOOK_MS)),
    });
}

/// The first attempt, by the join that decided the start; its answer is the joiner's: the room as
/// it started, sessions' refusal, or `unavailable` while the completer finishes the start.
pub(crate) async fn first_attempt(
    service: &Service,
    call: &CallOptions,
    record: RoomRecord,
) -> Result<PrivateRoom, WireError> {
    match attempt(service, call, &record).await {
        Ok(_) => Ok(record.room),
        Err(Stop::Refused(error)) => Err(error),
        Err(Stop::Pending) => {
            retry_soon(service, record.id()).await;
            Err(WireError::new(
                ErrorCode::Unavailable,
                "the game is starting; its players will be told when it has",
            ))
        }
    }
}

/// Runs the completer until `shutdown`: every tick it carries on the starts that are due. An
/// attempt under way when `shutdown` comes is finished first.
pub(crate) fn run(service: Arc<Service>, shutdown: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            complete_due(&service).await;
        }
    })
}

/// Carries on every start due now; how many it finished.
pub(crate) async fn complete_due(service: &Service) -> usize {
    let now = now_millis();
    let due = match service
        .store
        .take_due_starts(now, BATCH, now.saturating_add(LEASE_MS))
        .await
    {
        Ok(due) => due,
        Err(error) => {
            tracing::warn!(%error, "cannot read the schedule of private room starts");
            return 0;
        }
    };
    let done = futures_util::future::join_all(due.iter().map(|id| complete(service, id))).await;
    done.into_iter().filter(|done| *done).count()
}

/// One due start, carried on as far as it goes; whether it is done.
async fn complete(service: &Service, room_id: &str) -> bool {
    let record = match service.find(room_id).await {
        Ok(Some(record)) => record,
        Ok(None) => return false,
        Err(error) => {
            tracing::warn!(%error, room_id, "cannot read a starting private room; later");
            retry_soon(service, room_id).await;
            return false;
        }
    };
    if record.start.is_none() {
        // Undone since it was taken; the write that undid it took it off the schedule.
        return false;
    }
    let call = CallOptions::default().timeout(CALL_TIMEOUT);
    match attempt(service, &call, &record).await {
        Ok(session_id) => {
            tracing::info!(room_id, %session_id, "a pending private room start is done");
            true
        }
        Err(Stop::Refused(_)) => false,
        Err(Stop::Pending) => {
            retry_soon(service, room_id).await;
            false
        }
    }
}

/// Takes the start in `record` as far as it goes; the session id once the room is gone.
async fn attempt(
    service: &Service,
    call: &CallOptions,
    record: &RoomRecord,
) -> Result<String, Stop> {
    let Some(start) = record.start.as_ref() else {
        tracing::error!(room_id = %record.id(), "asked to carry on a start the private room does not have");
        return Err(Stop::Pending);
    };
    let room = &record.room;
    let room_id = room.room_id.as_str();
    let players = room.player_ids();
    let session_id = match &start.session_id {
        Some(session_id) => session_id.clone(),
        None => create(service, call, record, start).await?,
    };
    if let Err(error) = service
        .hand_over(call, players.clone(), room_id, &session_id)
        .await
    {
        return Err(pending(room_id, "hand the claims over", &error));
    }
    let closed = RoomClosed {
        room_id: room_id.to_owned(),
        reason: CloseReason::Started,
        session_id: Some(session_id.clone()),
    };
    let key = format!("{CLOSED}:{}", start.request_id);
    if let Err(error) = service
        .announce_once(&key, CLOSED, players, json!(closed))
        .await
    {
        return Err(pending(room_id, "tell the players", &error));
    }
    // Deleted last: a room that is gone has told its players.
    let removed = service
        .update(room_id, |record| {
            if record.start.as_ref().map(|s| &s.request_id) == Some(&start.request_id) {
                Ok(Change::Delete)
            } else {
                Ok(Change::Unchanged)
            }
        })
        .await;
    match removed {
        Ok(_) => {}
        // Another attempt got there first.
        Err(error) if error.code == ErrorCode::NotFound => {}
        Err(error) => return Err(pending(room_id, "remove the room", &error)),
    }
    tracing::info!(room_id, %session_id, "private room started");
    Ok(session_id)
}

/// Asks sessions for the start's session and records its id in the room.
async fn create(
    service: &Service,
    call: &CallOptions,
    record: &RoomRecord,
    start: &Start,
) -> Result<String, Stop> {
    let room_id = record.id();
    let new = NewSession {
        mode: record.room.mode.clone(),
        players: record.room.player_ids(),
    };
    let options = CallOptions {
        request_id: Some(start.request_id.clone()),
        user_id: None,
        timeout: call.timeout,
    };
    let session = match service.bus.call::<CreateSession>(&new, options).await {
        Ok(session) => session,
        Err(error) if error.is_refusal() => {
            tracing::warn!(%error, room_id, "sessions refused the private room's start");
            undo(service, call, room_id, start).await;
            return Err(Stop::Refused(error.to_wire()));
        }
        Err(error) => return Err(pending(room_id, "create the session", &error)),
    };
    let session_id = session.session_id;
    let recorded = service
        .update(room_id, |record| match record.start.as_mut() {
            Some(current) if current.request_id == start.request_id => {
                if current.session_id.is_some() {
                    // Recorded by another attempt: the same session, since the request id is.
                    return Ok(Change::Unchanged);
                }
                current.session_id = Some(session_id.clone());
                Ok(Change::Save)
            }
            _ => Err(WireError::new(
                ErrorCode::Internal,
                "the room's start changed while its session was made",
            )),
        })
        .await;
    match recorded {
        Ok(_) => Ok(session_id),
        // Finished and removed by another attempt; what follows is done, and harmless again.
        Err(error) if error.code == ErrorCode::NotFound => Ok(session_id),
        Err(error) => Err(pending(room_id, "record the session", &error)),
    }
}

/// Undoes a start sessions refused: the joiner who filled the room out again and their claim
/// released, the room open as before their join. Only the start that was refused, and only while
/// no session is recorded; if the write fails, the start stays scheduled and the next attempt is
/// refused and undoes it.
async fn undo(service: &Service, call: &CallOptions, room_id: &str, refused: &Start) {
    let joiner = refused.by.as_str();
    let undone = service
        .update(room_id, |record| {
            let same = record.start.as_ref().is_some_and(|start| {
                start.request_id == refused.request_id && start.session_id.is_none()
            });
            if !same {
                return Ok(Change::Unchanged);
            }
            record.starting_at = 0;
            record.start = None;
            let room = &mut record.room;
            room.players.retain(|p| p.user_id != joiner);
            let Some(first) = room.players.first() else {
                return Ok(Change::Delete);
            };
            if room.owner == joiner {
                room.owner = first.user_id.clone();
            }
            Ok(Change::Save)
        })
        .await;
    match undone {
        Ok((_, Change::Unchanged)) => {}
        Ok((record, change)) => {
            service
                .release(call, vec![joiner.to_owned()], room_id)
                .await;
            if change == Change::Save {
                service.updated(&record.room).await;
            }
        }
        Err(error) => {
            tracing::error!(%error, room_id, "could not undo a join after a refused start; later")
        }
    }
}

/// Puts a start whose attempt failed back on the schedule for a second from now. If even that
/// fails, its lease (or first look) runs out and it is taken up then.
async fn retry_soon(service: &Service, room_id: &str) {
    let at = now_millis().saturating_add(RETRY_MS);
    if let Err(error) = service.store.retry_start_at(room_id, at).await {
        tracing::warn!(%error, room_id, "could not reschedule a pending private room start");
    }
}

fn pending(room_id: &str, step: &str, error: &dyn std::fmt::Display) -> Stop {
    tracing::warn!(%error, room_id, step, "a private room start is pending; it is retried");
    Stop::Pending
}
