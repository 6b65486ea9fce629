//! `rooms.create` and `rooms.join`: a seat in three steps, so that a user is never in two rooms.
//!
//! 1. Hold a seat (a compare-and-set): the user is in the room's `joining` list. The seat counts
//!    against the room's size and the room holds the user, but they are not a player yet.
//! 2. Claim the user in `accounts`. If another room, a queue or a game holds them, give the seat
//!    back and answer why.
//! 3. Take the seat (a compare-and-set): the user becomes a player, and the players hear of it.
//!
//! Holding first matters: a user who joins two rooms at once gets one claim, and when the second
//! room's claim meets the first, the first room answers that it holds the user (step 1 is done),
//! so the claim is not taken for stale. A new room is created the same way, its owner's seat held
//! until they are claimed; it is listed only once they are.

use crate::handlers::{room_full, updated};
use crate::service::{Change, Service, store_failure};
use crate::store::{Joining, RoomRecord};
use std::sync::Arc;
use warren_bus::RequestContext;
use warren_contracts::error::bounded;
use warren_contracts::event::now_millis;
use warren_contracts::rooms::{MAX_NAME_CHARS, NewRoom, Room, RoomId, RoomPlayer, RoomStatus};
use warren_contracts::{ErrorCode, WireError};

pub(crate) async fn create(
    service: Arc<Service>,
    ctx: RequestContext,
    params: NewRoom,
) -> Result<Room, WireError> {
    let user = ctx.caller()?.to_owned();
    let name = room_name(params.name.as_deref())?;
    bounded("mode", &params.mode)?;
    service
        .check_mode(&ctx, &params.mode, params.max_players)
        .await?;
    let mut record = RoomRecord {
        room: Room {
            room_id: uuid::Uuid::new_v4().to_string(),
            mode: params.mode,
            max_players: params.max_players,
            name,
            owner: user.clone(),
            players: Vec::new(),
            free_seats: 0,
            status: RoomStatus::Open,
            version: 0,
            created_at: now_millis(),
        },
        starting_at: 0,
        joining: vec![Joining {
            user_id: user.clone(),
            since: now_millis(),
        }],
        start: None,
    };
    record.room.free_seats = record.free_seats();
    service.store.create(&record).await.map_err(store_failure)?;
    let room_id = record.id().to_owned();
    if let Err(error) = service.claim(&ctx, &user, &room_id).await {
        // Nobody else can be in it: it was never listed.
        let _ = service.update(&room_id, |_| Ok(Change::Delete)).await;
        return Err(error);
    }
    let record = take_seat(&service, &ctx, &room_id, &user).await?;
    tracing::info!(room_id, mode = %record.room.mode, "room created");
    metrics::counter!(crate::series::CREATED, "mode" => record.room.mode.clone()).increment(1);
    Ok(record.room)
}

pub(crate) async fn join(
    service: Arc<Service>,
    ctx: RequestContext,
    params: RoomId,
) -> Result<Room, WireError> {
    let user = ctx.caller()?.to_owned();
    bounded("room_id", &params.room_id)?;
    let room_id = params.room_id;
    // Look first, so that a full room costs no write.
    let record = service.load(&room_id).await?;
    if record.holds(&user) {
        return Ok(record.room);
    }
    if !record.listed() {
        return Err(room_full());
    }
    let (record, change) = service
        .update(&room_id, |record| {
            if record.holds(&user) {
                return Ok(Change::Unchanged);
            }
            if !record.listed() {
                return Err(room_full());
            }
            record.joining.push(Joining {
                user_id: user.clone(),
                since: now_millis(),
            });
            Ok(Change::Save)
        })
        .await?;
    if change == Change::Unchanged {
        // Seated already, or being seated by another request of theirs.
        return Ok(record.room);
    }
    if let Err(error) = service.claim(&ctx, &user, &room_id).await {
        give_back(&service, &room_id, &user).await;
        return Err(error);
    }
    let record = take_seat(&service, &ctx, &room_id, &user).await?;
    updated(&service, &record.room).await;
    Ok(record.room)
}

/// Makes the claimed `user` a player in the seat held for them. If the seat is gone meanwhile (the
/// room ended, or the hold was taken for abandoned), the claim goes too.
async fn take_seat(
    service: &Service,
    ctx: &RequestContext,
    room_id: &str,
    user: &str,
) -> Result<RoomRecord, WireError> {
    let seated = service
        .update(room_id, |record| {
            if !record.is_joining(user) {
                return Err(room_full());
            }
            record.joining.retain(|j| j.user_id != user);
            record.room.players.push(RoomPlayer {
                user_id: user.to_owned(),
                ready: false,
            });
            Ok(Change::Save)
        })
        .await;
    match seated {
        Ok((record, _)) => Ok(record),
        Err(error) => {
            service.release(ctx, vec![user.to_owned()], room_id).await;
            Err(error)
        }
    }
}

/// Gives back a seat held for a user whose claim was refused.
async fn give_back(service: &Service, room_id: &str, user: &str) {
    let given = service
        .update(room_id, |record| {
            if !record.is_joining(user) {
                return Ok(Change::Unchanged);
            }
            record.joining.retain(|j| j.user_id != user);
            Ok(Change::Save)
        })
        .await;
    if let Err(error) = given {
        // The hold lapses by itself once abandoned.
        tracing::warn!(%error, room_id, "could not give a held seat back");
    }
}

/// A room name: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control characters.
fn room_name(name: Option<&str>) -> Result<Option<String>, WireError> {
    let Some(name) = name else { return Ok(None) };
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(WireError::new(
            ErrorCode::InvalidParams,
            format!("a room name is 1 to {MAX_NAME_CHARS} characters, without control characters"),
        ));
    }
    Ok(Some(name.to_owned()))
}
