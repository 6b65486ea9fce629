//! `private_rooms.create`, `.invite`, `.leave`, `.close` and `.holds`: check the caller and the
//! parameters, change the room with a compare-and-set, keep claims in step, tell the players.
//! Joining by code, and the start a join may lead to, are in [`crate::join`].

use crate::code;
use crate::service::{Change, Service, store_failure};
use crate::store::{RoomRecord, StoreError};
use serde_json::json;
use std::sync::Arc;
use warren_bus::{CallError, RequestContext};
use warren_contracts::accounts::{Get as GetAccount, UserId};
use warren_contracts::activity::{Holds, HoldsQuery};
use warren_contracts::error::bounded;
use warren_contracts::event::now_millis;
use warren_contracts::private_rooms::{INVITED, Invite, Invited, NewPrivateRoom, PrivateRoom};
use warren_contracts::rooms::{CloseReason, RoomId, RoomPlayer};
use warren_contracts::{Empty, ErrorCode, WireError};
use warren_runtime::claims;

/// Invitations one room may send in its life.
pub const MAX_INVITES: u32 = 50;
/// Codes drawn before giving up on finding a free one (a collision is already rare).
const CODE_DRAWS: usize = 5;

pub(crate) async fn create(
    service: Arc<Service>,
    ctx: RequestContext,
    params: NewPrivateRoom,
) -> Result<PrivateRoom, WireError> {
    let user = ctx.caller()?.to_owned();
    bounded("mode", &params.mode)?;
    service
        .check_mode(&ctx, &params.mode, params.max_players)
        .await?;
    let room_id = uuid::Uuid::new_v4().to_string();
    let now = now_millis();
    let mut record = RoomRecord {
        room: PrivateRoom {
            room_id,
            mode: params.mode,
            max_players: params.max_players,
            owner: user.clone(),
            players: vec![RoomPlayer {
                user_id: user.clone(),
                ready: true,
            }],
            free_seats: 0,
            code: String::new(),
            version: 0,
            created_at: now,
            expires_at: service.expires_from(now),
        },
        starting_at: 0,
        invites: 0,
        joining: Vec::new(),
        start: None,
    };
    record.room.free_seats = record.free_seats();
    let mut created = Err(StoreError::CodeTaken);
    for _ in 0..CODE_DRAWS {
        record.room.code = code::generate();
        created = service.store.create(&record).await;
        if !matches!(created, Err(StoreError::CodeTaken)) {
            break;
        }
        tracing::warn!("an invite code drawn is in use; drawing another");
    }
    created.map_err(store_failure)?;
    // Stored first, claimed second, like a join (see `crate::join`); nobody knows the code yet,
    // so nobody else can be in the room to see it come and go.
    if let Err(error) = service
        .claim(&ctx.service_call_options(), &user, record.id())
        .await
    {
        if let Err(undo) = service.update(record.id(), |_| Ok(Change::Delete)).await {
            tracing::error!(error = %undo, room_id = %record.id(), "could not remove a room whose owner has no claim");
        }
        return Err(error);
    }
    tracing::info!(room_id = %record.id(), mode = %record.room.mode, "private room created");
    Ok(record.room)
}

pub(crate) async fn invite(
    service: Arc<Service>,
    ctx: RequestContext,
    params: Invite,
) -> Result<Empty, WireError> {
    let owner = ctx.caller()?.to_owned();
    bounded("room_id", &params.room_id)?;
    bounded("user_id", &params.user_id)?;
    if params.user_id == owner {
        return Err(WireError::new(
            ErrorCode::InvalidParams,
            "you cannot invite yourself",
        ));
    }
    // The owner check comes first, so that others learn nothing about who has an account.
    let record = service.load(&params.room_id).await?;
    owned_by(&record, &owner, "invite to it")?;
    let who = UserId {
        user_id: params.user_id.clone(),
    };
    match service
        .bus
        .call::<GetAccount>(&who, ctx.service_call_options())
        .await
    {
        Ok(_) => {}
        Err(CallError::Service(error)) if error.code == ErrorCode::NotFound => {
            return Err(WireError::new(ErrorCode::NotFound, "no such user"));
        }
        Err(error) => return Err(error.to_wire()),
    }
    let (record, _) = service
        .update(&params.room_id, |record| {
            owned_by(record, &owner, "invite to it")?;
            if record.starting(now_millis()) {
                return Err(starting());
            }
            if record.invites >= MAX_INVITES {
                return Err(WireError::new(
                    ErrorCode::RateLimited,
                    format!("a room sends at most {MAX_INVITES} invitations"),
                ));
            }
            record.invites += 1;
            Ok(Change::Save)
        })
        .await?;
    let invited = Invited {
        room_id: record.room.room_id.clone(),
        code: record.room.code.clone(),
        from: owner,
        mode: record.room.mode.clone(),
        max_players: record.room.max_players,
    };
    service
        .announce(INVITED, vec![params.user_id], json!(invited))
        .await;
    Ok(Empty {})
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
            if !record.room.has_player(&user) {
                return Err(WireError::new(
                    ErrorCode::Forbidden,
                    "you are not in this room",
                ));
            }
            if record.starting(now_millis()) {
                return Err(starting());
            }
            let room = &mut record.room;
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
    service
        .release(&ctx.service_call_options(), vec![user], &params.room_id)
        .await;
    match change {
        Change::Delete => tracing::info!(room_id = %params.room_id, "private room closed: empty"),
        _ => service.updated(&record.room).await,
    }
    Ok(Empty {})
}

pub(crate) async fn close(
    service: Arc<Service>,
    ctx: RequestContext,
    params: RoomId,
) -> Result<Empty, WireError> {
    let user = ctx.caller()?.to_owned();
    bounded("room_id", &params.room_id)?;
    let (record, _) = service
        .update(&params.room_id, |record| {
            owned_by(record, &user, "close it")?;
            if record.starting(now_millis()) {
                return Err(starting());
            }
            Ok(Change::Delete)
        })
        .await?;
    tracing::info!(room_id = %params.room_id, "private room closed by its owner");
    service
        .closed(&record, CloseReason::Closed, &ctx.service_call_options())
        .await;
    Ok(Empty {})
}

/// `private_rooms.holds`: whether the room still seats the user; `accounts` asks before it lets
/// a claim of this service stand in the way of another.
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

fn owned_by(record: &RoomRecord, user: &str, to: &str) -> Result<(), WireError> {
    if record.room.owner == user {
        Ok(())
    } else {
        Err(WireError::new(
            ErrorCode::Forbidden,
            format!("only the room's owner may {to}"),
        ))
    }
}

/// A room whose session is being created cannot change any more: it is about to close.
pub(crate) fn starting() -> WireError {
    WireError::new(
        ErrorCode::InSession,
        "the room's game is starting; join the session instead",
    )
}
