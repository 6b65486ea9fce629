//! The attempt and the completer: a start's steps in order, each safe to repeat, taken as far as
//! they go by the request that decided the start ([`first_attempt`]) and, for a start left
//! pending, by the completer every instance runs ([`run`]). See [`super`] for the steps and why.

use super::{PendingStart, RoomStarts, Start, StartSchedule, delete, record_session};
use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warren_bus::{BusError, CallOptions};
use warren_contracts::event::now_millis;
use warren_contracts::rooms::{CLOSED, CloseReason, RoomClosed};
use warren_contracts::sessions::{Create as CreateSession, NewSession};
use warren_contracts::{ErrorCode, Event, WireError};

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

/// Why an attempt stopped short of done.
enum Stop {
    /// Sessions refused the start; it is undone (or will be, on the next attempt).
    Refused(WireError),
    /// A step failed for now; the start stands and is tried again.
    Pending,
}

/// The first attempt, by the request that decided the start (`pending`, read from the record its
/// write left); its answer is the client's: `Ok` once the game started, sessions' refusal, or
/// `unavailable` while the completer finishes the start.
pub async fn first_attempt<S: RoomStarts>(
    owner: &S,
    call: &CallOptions,
    room_id: &str,
    pending: Option<PendingStart>,
) -> Result<(), WireError> {
    match attempt(owner, call, room_id, pending.as_ref()).await {
        Ok(_) => Ok(()),
        Err(Stop::Refused(error)) => Err(error),
        Err(Stop::Pending) => {
            retry_soon(owner, room_id).await;
            Err(WireError::new(
                ErrorCode::Unavailable,
                "the game is starting; its players will be told when it has",
            ))
        }
    }
}

/// Runs the completer until `shutdown`: every tick it carries on the starts that are due. An
/// attempt under way when `shutdown` comes is finished first.
pub fn run<S: RoomStarts + 'static>(owner: Arc<S>, shutdown: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            complete_due(owner.as_ref()).await;
        }
    })
}

/// Carries on every start due now; how many it finished.
pub async fn complete_due<S: RoomStarts>(owner: &S) -> usize {
    let now = now_millis();
    let due = match owner
        .schedule()
        .take_due_starts(now, BATCH, now.saturating_add(LEASE_MS))
        .await
    {
        Ok(due) => due,
        Err(error) => {
            tracing::warn!(%error, "cannot read the schedule of {} starts", S::NOUN);
            return 0;
        }
    };
    let done = futures_util::future::join_all(due.iter().map(|id| complete(owner, id))).await;
    done.into_iter().filter(|done| *done).count()
}

/// One due start, carried on as far as it goes; whether it is done.
async fn complete<S: RoomStarts>(owner: &S, room_id: &str) -> bool {
    let pending = match owner.pending_start(room_id).await {
        Ok(Some(pending)) => pending,
        // Done and gone; or undone since it was taken, and the write that undid it took it off
        // the schedule.
        Ok(None) => return false,
        Err(error) => {
            tracing::warn!(%error, room_id, "cannot read a starting {}; later", S::NOUN);
            retry_soon(owner, room_id).await;
            return false;
        }
    };
    let call = CallOptions::default().timeout(CALL_TIMEOUT);
    match attempt(owner, &call, room_id, Some(&pending)).await {
        Ok(session_id) => {
            tracing::info!(room_id, %session_id, "a pending {} start is done", S::NOUN);
            true
        }
        Err(Stop::Refused(_)) => false,
        Err(Stop::Pending) => {
            retry_soon(owner, room_id).await;
            false
        }
    }
}

/// Takes the start as far as it goes; the session id once the room is gone.
async fn attempt<S: RoomStarts>(
    owner: &S,
    call: &CallOptions,
    room_id: &str,
    pending: Option<&PendingStart>,
) -> Result<String, Stop> {
    let Some(pending) = pending else {
        tracing::error!(
            room_id,
            "asked to carry on a start the {} does not have",
            S::NOUN
        );
        return Err(Stop::Pending);
    };
    let start = &pending.start;
    let players = pending.players.clone();
    let session_id = match &start.session_id {
        Some(session_id) => session_id.clone(),
        None => create(owner, call, pending).await?,
    };
    if let Err(error) = owner
        .claims()
        .try_hand_over(call, players.clone(), room_id, &session_id)
        .await
    {
        return Err(stop_pending::<S>(room_id, "hand the claims over", &error));
    }
    let closed = RoomClosed {
        room_id: room_id.to_owned(),
        reason: CloseReason::Started,
        session_id: Some(session_id.clone()),
    };
    let key = format!("{CLOSED}:{}", start.request_id);
    if let Err(error) = announce_once(owner, &key, players, &closed).await {
        return Err(stop_pending::<S>(room_id, "tell the players", &error));
    }
    // Deleted last: a room that is gone has told its players.
    match owner
        .change_start(room_id, &|current| Ok(delete(current, start)))
        .await
    {
        Ok(()) => {}
        // Another attempt got there first.
        Err(error) if error.code == ErrorCode::NotFound => {}
        Err(error) => return Err(stop_pending::<S>(room_id, "remove the room", &error)),
    }
    tracing::info!(room_id, %session_id, "{} started", S::NOUN);
    Ok(session_id)
}

/// Asks sessions for the start's session and records its id in the room.
async fn create<S: RoomStarts>(
    owner: &S,
    call: &CallOptions,
    pending: &PendingStart,
) -> Result<String, Stop> {
    let room_id = pending.room_id.as_str();
    let start = &pending.start;
    let new = NewSession {
        mode: pending.mode.clone(),
        players: pending.players.clone(),
    };
    let options = CallOptions {
        request_id: Some(start.request_id.clone()),
        timeout: call.timeout,
        ..CallOptions::default()
    };
    let session = match owner
        .claims()
        .bus()
        .call::<CreateSession>(&new, options)
        .await
    {
        Ok(session) => session,
        Err(error) if error.is_refusal() => {
            tracing::warn!(%error, room_id, "sessions refused the {}'s start", S::NOUN);
            owner.undo(call, room_id, start).await;
            return Err(Stop::Refused(error.to_wire()));
        }
        Err(error) => return Err(stop_pending::<S>(room_id, "create the session", &error)),
    };
    let session_id = session.session_id;
    let record = |current: Option<&mut Start>| record_session(current, start, &session_id);
    match owner.change_start(room_id, &record).await {
        Ok(()) => Ok(session_id),
        // Finished and removed by another attempt; what follows is done, and harmless again.
        Err(error) if error.code == ErrorCode::NotFound => Ok(session_id),
        Err(error) => Err(stop_pending::<S>(room_id, "record the session", &error)),
    }
}

/// Tells `players` the room closed for its start, as an event named by `key`: its id follows from
/// the key, so a retry (by any instance) is the same event, numbered once by the journal.
async fn announce_once<S: RoomStarts>(
    owner: &S,
    key: &str,
    players: Vec<String>,
    closed: &RoomClosed,
) -> Result<(), BusError> {
    if players.is_empty() {
        return Ok(());
    }
    let event = Event::once(key, CLOSED, players, serde_json::json!(closed));
    owner.claims().bus().publish(S::SERVICE, &event).await
}

/// Puts a start whose attempt failed back on the schedule for a second from now. If even that
/// fails, its lease (or first look) runs out and it is taken up then.
async fn retry_soon<S: RoomStarts>(owner: &S, room_id: &str) {
    let at = now_millis().saturating_add(RETRY_MS);
    if let Err(error) = owner.schedule().retry_start_at(room_id, at).await {
        tracing::warn!(%error, room_id, "could not reschedule a pending {} start", S::NOUN);
    }
}

fn stop_pending<S: RoomStarts>(room_id: &str, step: &str, error: &dyn Display) -> Stop {
    tracing::warn!(%error, room_id, step, "a {} start is pending; it is retried", S::NOUN);
    Stop::Pending
}
