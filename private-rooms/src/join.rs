//! `private_rooms.join`: a seat by invite code, with wrong codes counted so that guessing does not
//! pay, and the start of the room's session when the join fills it.
//!
//! A join takes a seat in three steps: it holds a seat for the user (so the room holds them while
//! they are claimed, see [`crate::store::RoomRecord::joining`]), claims them in `accounts`, and
//! then makes them a player, or gives the seat back if the claim is refused. The compare-and-set
//! that makes the last player of a full room also records its start, so exactly one request starts
//! it, and only with players who are claimed. That request makes the first attempt at the start
//! (see [`crate::start`]): the session, the claims handed over to it, the players told, the room
//! and its code removed. If sessions refuses, the join is undone as if it never happened; if
//! something fails on the way, the completer finishes the start.

use crate::code;
use crate::service::{Change, Service, store_failure};
use crate::start;
use crate::store::{Joining, RoomRecord};
use std::sync::Arc;
use warren_bus::{CallOptions, RequestContext};
use warren_contracts::event::now_millis;
use warren_contracts::private_rooms::{Code, PrivateRoom};
use warren_contracts::rooms::RoomPlayer;
use warren_contracts::{ErrorCode, WireError};

pub(crate) async fn join(
    service: Arc<Service>,
    ctx: RequestContext,
    params: Code,
) -> Result<PrivateRoom, WireError> {
    let user = ctx.caller()?.to_owned();
    if params.code.trim().is_empty() || params.code.len() > code::MAX_INPUT_BYTES {
        return Err(WireError::new(
            ErrorCode::InvalidParams,
            format!("code must be 1 to {} characters", code::MAX_INPUT_BYTES),
        ));
    }
    // Once over the limit every attempt is refused, the right code too: otherwise a guesser would
    // still learn which guess was right.
    let wrong = service
        .store
        .wrong_codes(&user)
        .await
        .map_err(store_failure)?;
    if wrong >= service.config.code_attempts {
        return Err(too_many());
    }
    let room_id = match code::normalise(&params.code) {
        Some(symbols) => service
            .store
            .find_code(&symbols)
            .await
            .map_err(store_failure)?,
        None => None,
    };
    let Some(room_id) = room_id else {
        return Err(wrong_code(&service, &user).await);
    };
    // Not counted: the code was right a moment ago, the room has just ended.
    let record = service.find(&room_id).await?.ok_or_else(no_code)?;
    if record.room.has_player(&user) {
        return Ok(record.room);
    }
    // Look first, so that a full room costs no write.
    if record.starting(now_millis()) || record.room.free_seats == 0 {
        return Err(room_full());
    }
    let (record, change) = hold_seat(&service, &room_id, &user).await?;
    if change == Change::Unchanged {
        // Seated already, or seated by a request of theirs still under way.
        return Ok(record.room);
    }
    let call = ctx.service_call_options();
    if let Err(error) = service.claim(&call, &user, &room_id).await {
        give_back(&service, &room_id, &user).await;
        return Err(error);
    }
    let seated = take_seat(&service, &call, &room_id, &user).await;
    let record = match seated {
        Ok(record) => record,
        Err(error) => {
            // The room ended, or took the seat back, while the claim was made.
            service.release(&call, vec![user], &room_id).await;
            return Err(error);
        }
    };
    tracing::info!(room_id = %record.id(), players = record.room.players.len(), "joined");
    service.updated(&record.room).await;
    if record.start.as_ref().is_none_or(|start| start.by != user) {
        return Ok(record.room);
    }
    // This join's write filled the room and decided its start: only this request gets here.
    start::first_attempt(&service, &call, record).await
}

/// Holds a seat for `user` while they are claimed; `Unchanged` if the room holds them already.
async fn hold_seat(
    service: &Service,
    room_id: &str,
    user: &str,
) -> Result<(RoomRecord, Change), WireError> {
    service
        .update(room_id, |record| {
            if record.holds(user) {
                return Ok(Change::Unchanged);
            }
            if record.starting_at != 0 || record.free_seats() == 0 {
                return Err(room_full());
            }
            record.joining.push(Joining {
                user_id: user.to_owned(),
                since: now_millis(),
            });
            Ok(Change::Save)
        })
        .await
        .map_err(gone_is_not_found)
}

/// Makes the claimed `user` a player in the seat held for them, which puts off the room's expiry;
/// the last player of a full room records its start in the same write.
async fn take_seat(
    service: &Service,
    call: &CallOptions,
    room_id: &str,
    user: &str,
) -> Result<RoomRecord, WireError> {
    let (record, _) = service
        .update(room_id, |record| {
            if !record.is_joining(user) {
                return Err(room_full());
            }
            let now = now_millis();
            record.joining.retain(|j| j.user_id != user);
            let room = &mut record.room;
            room.players.push(RoomPlayer {
                user_id: user.to_owned(),
                ready: true,
            });
            room.expires_at = service.expires_from(now);
            if room.players.len() >= room.max_players as usize {
                start::decide(record, user, call, now);
            }
            Ok(Change::Save)
        })
        .await
        .map_err(gone_is_not_found)?;
    Ok(record)
}

/// Frees the seat held for `user`, whose claim was refused. Left held, it would free itself once
/// it counts as abandoned.
async fn give_back(service: &Service, room_id: &str, user: &str) {
    let freed = service
        .update(room_id, |record| {
            if !record.is_joining(user) {
                return Ok(Change::Unchanged);
            }
            record.joining.retain(|j| j.user_id != user);
            Ok(Change::Save)
        })
        .await;
    match freed {
        Ok(_) => {}
        Err(error) if error.code == ErrorCode::NotFound => {}
        Err(error) => tracing::error!(%error, room_id, "could not free a seat held for a join"),
    }
}

fn gone_is_not_found(error: WireError) -> WireError {
    if error.code == ErrorCode::NotFound {
        no_code()
    } else {
        error
    }
}

/// Counts a wrong code against `user`; past the limit the answer is `rate_limited`.
async fn wrong_code(service: &Service, user: &str) -> WireError {
    let window = service.config.attempts_window;
    match service.store.count_wrong_code(user, window).await {
        Ok(count) if count > service.config.code_attempts => {
            tracing::warn!(user_id = user, count, "too many wrong invite codes");
            too_many()
        }
        Ok(_) => no_code(),
        Err(error) => store_failure(error),
    }
}

fn no_code() -> WireError {
    WireError::new(ErrorCode::NotFound, "no room has this code")
}

fn too_many() -> WireError {
    WireError::new(
        ErrorCode::RateLimited,
        "too many wrong codes; wait a minute before trying again",
    )
}

fn room_full() -> WireError {
    WireError::new(ErrorCode::RoomFull, "the room has no free seat")
}
