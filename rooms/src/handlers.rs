//! `rooms.list`, `rooms.leave`, `rooms.ready` (and the start it may lead to) and `rooms.holds`:
//! check the caller and the parameters, change the room with a compare-and-set, keep the caller's
//! claim in step, and tell the room's players. Creating and joining are in [`crate::seating`].

use crate::service::{Change, Service, service_call};
use crate::store::RoomRecord;
use serde_json::json;
use std::sync::Arc;
use warren_bus::RequestContext;
use warren_contracts::activity::{Holds, HoldsQuery};
use warren_contracts::event::now_millis;
use warren_contracts::rooms::{
    CLOSED, CloseReason, ListRooms, MAX_LIST, Room, RoomClosed, RoomId, RoomStatus, SetReady,
    UPDATED,
};
use warren_contracts::sessions::{Create as CreateSession, NewSession};
use warren_contracts::{Empty, ErrorCode, WireError};

/// Longest id or mode name accepted, in bytes.
const MAX_ID_BYTES: usize = 64;

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
    let user = caller(&ctx)?.to_owned();
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
    let user = caller(&ctx)?.to_owned();
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
                room.status = RoomStatus::Starting;
                record.starting_at = now_millis();
            }
            Ok(Change::Save)
        })
        .await?;
    if change == Change::Unchanged {
        return Ok(record.room);
    }
    updated(&service, &record.room).await;
    if record.room.status == RoomStatus::Starting {
        start(&service, &ctx, record, &user).await
    } else {
        Ok(record.room)
    }
}

/// The room is full and ready, and this request made it so: only this request starts it. The
/// session is asked for; then the claims move to it, the players hear the room is over, and the
/// room goes. If no session comes, the last player is not ready after all and the room is open
/// again, so nothing is half done.
async fn start(
    service: &Service,
    ctx: &RequestContext,
    record: RoomRecord,
    starter: &str,
) -> Result<Room, WireError> {
    let room = &record.room;
    let new = NewSession {
        mode: room.mode.clone(),
        players: room.player_ids(),
    };
    let session = match service
        .bus
        .call::<CreateSession>(&new, service_call(ctx))
        .await
    {
        Ok(session) => session,
        Err(error) => {
            tracing::warn!(%error, room_id = %room.room_id, "could not start the room's session");
            reopen(service, &room.room_id, starter).await;
            return Err(error.to_wire());
        }
    };
    service
        .hand_over(ctx, room.player_ids(), &room.room_id, &session.session_id)
        .await;
    let closed = RoomClosed {
        room_id: room.room_id.clone(),
        reason: CloseReason::Started,
        session_id: Some(session.session_id.clone()),
    };
    let expected = record.version();
    if let Err(error) = service.store.delete(room, expected).await {
        // Left as it is, the start counts as abandoned later and the room opens again, empty of
        // ready players; its players are in the session meanwhile.
        tracing::error!(%error, room_id = %room.room_id, "could not remove a started room");
    }
    service
        .announce(CLOSED, room.player_ids(), json!(closed))
        .await;
    tracing::info!(room_id = %room.room_id, session_id = %session.session_id, "room started");
    Ok(record.room)
}

/// Undoes a start that got no session: open again, the starter not ready.
async fn reopen(service: &Service, room_id: &str, starter: &str) {
    let reopened = service
        .update(room_id, |record| {
            record.room.status = RoomStatus::Open;
            record.starting_at = 0;
            for player in &mut record.room.players {
                if player.user_id == starter {
                    player.ready = false;
                }
            }
            Ok(Change::Save)
        })
        .await;
    match reopened {
        Ok((record, _)) => updated(service, &record.room).await,
        Err(error) => {
            tracing::error!(%error, room_id, "could not reopen a room after a failed start")
        }
    }
}

pub(crate) async fn holds(
    service: Arc<Service>,
    ctx: RequestContext,
    params: HoldsQuery,
) -> Result<Holds, WireError> {
    if ctx.user_id.is_some() {
        return Err(WireError::new(
            ErrorCode::Forbidden,
            "rooms.holds is not available to clients",
        ));
    }
    bounded("id", &params.id)?;
    let held = service.seats(&params.id, &params.user_id).await?;
    Ok(Holds { held })
}

pub(crate) async fn updated(service: &Service, room: &Room) {
    service
        .announce(UPDATED, room.player_ids(), json!(room))
        .await;
}

pub(crate) fn caller(ctx: &RequestContext) -> Result<&str, WireError> {
    ctx.user_id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| WireError::new(ErrorCode::Unauthorized, "no caller"))
}

pub(crate) fn bounded(what: &str, value: &str) -> Result<(), WireError> {
    if value.is_empty() || value.len() > MAX_ID_BYTES {
        return Err(WireError::new(
            ErrorCode::InvalidParams,
            format!("{what} must be 1 to {MAX_ID_BYTES} bytes"),
        ));
    }
    Ok(())
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
