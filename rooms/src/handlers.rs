//! `rooms.list`, `rooms.leave`, `rooms.ready` and `rooms.holds`: check the caller and the
//! parameters, change the room with a compare-and-set, keep the caller's claim in step, and tell
//! the room's players. Creating and joining are in [`crate::seating`]; the start a ready may lead
//! to is in [`crate::start`].

use crate::service::{Change, Service};
use crate::start;
use serde_json::json;
use std::sync::Arc;
use warren_bus::RequestContext;
use warren_contracts::activity::{Holds, HoldsQuery};
use warren_contracts::error::bounded;
use warren_contracts::rooms::{ListRooms, MAX_LIST, Room, RoomId, RoomStatus, SetReady, UPDATED};
use warren_contracts::{Empty, ErrorCode, WireError};
use warren_runtime::claims;

pub(crate) async fn list(
    service: Arc<Service>,
    _ctx: RequestContext,
    params: ListRooms,
) -> Result<Vec<Room>, WireError> {
    if let Some(mode) = &params.mode {
        bounded("mode", mode)?;
    }
    let limit = match params.limit {
        None => MAX_LIST,
        Some(n) if (1..=MAX_LIST).contains(&(n as usize)) => n as usize,
        Some(n) => {
            return Err(WireError::new(
                ErrorCode::InvalidParams,
                format!("limit must be 1 to {MAX_LIST}, not {n}"),
            ));
        }
    };
    service
        .store
        .list(params.mode.as_deref(), limit)
        .await
        .map_err(crate::service::store_failure)
}

pub(crate) async fn leave(
    service: Arc<Service>,
    ctx: RequestContext,
    params: RoomId,
) -> Result<Empty, WireError> {
    let user = ctx.caller()?.to_owned();
    bounded("room_id", &params.room_id)?;
    let (record, change) = service
        .update(&params.room_id, |record| {
            let room = &mut record.room;
            if !room.has_player(&user) {
                return Err(not_in_room());
            }
            if room.status == RoomStatus::Starting {
                return Err(starting());
            }
            room.players.retain(|p| p.user_id != user);
            let Some(next) = room.players.first() else {
                return Ok(Change::Delete);
            };
            if room.owner == user {
                room.owner = next.user_id.clone();
            }
            Ok(Change::Save)
        })
        .await?;
    service.release(&ctx, vec![user], &params.room_id).await;
    match change {
        Change::Delete => tracing::info!(room_id = %params.room_id, "room closed: empty"),
        _ => updated(&service, &record.room).await,
    }
    Ok(Empty {})
}

pub(crate) async fn ready(
    service: Arc<Service>,
    ctx: RequestContext,
    params: SetReady,
) -> Result<Room, WireError> {
    let user = ctx.caller()?.to_owned();
    bounded("room_id", &params.room_id)?;
    let (record, change) = service
        .update(&params.room_id, |record| {
            let room = &mut record.room;
            if room.status == RoomStatus::Starting {
                return Err(starting());
            }
            let player = room
                .players
                .iter_mut()
                .find(|p| p.user_id == user)
                .ok_or_else(not_in_room)?;
            if player.ready == params.ready {
                return Ok(Change::Unchanged);
            }
            player.ready = params.ready;
            let full = room.players.len() == room.max_players as usize;
            if full && room.players.iter().all(|p| p.ready) {
                start::decide(record, &user, &ctx);
            }
            Ok(Change::Save)
        })
        .await?;
    if change == Change::Unchanged {
        return Ok(record.room);
    }
    updated(&service, &record.room).await;
    if record.room.status == RoomStatus::Starting {
        // Only the request whose write made the room start gets here.
        start::first_attempt(&service, &ctx, record).await
    } else {
        Ok(record.room)
    }
}

pub(crate) async fn holds(
    service: Arc<Service>,
    ctx: RequestContext,
    params: HoldsQuery,
) -> Result<Holds, WireError> {
    claims::answer_holds(&ctx, params, |query| async move {
        service.seats(&query.id, &query.user_id).await
    })
    .await
}

pub(crate) async fn updated(service: &Service, room: &Room) {
    service
        .announce(UPDATED, room.player_ids(), json!(room))
        .await;
}

pub(crate) fn room_full() -> WireError {
    WireError::new(ErrorCode::RoomFull, "the room has no free seat")
}

fn not_in_room() -> WireError {
    WireError::new(ErrorCode::Forbidden, "you are not in this room")
}

fn starting() -> WireError {
    WireError::new(
        ErrorCode::InSession,
        "the room's game is starting; join the session instead",
    )
}
