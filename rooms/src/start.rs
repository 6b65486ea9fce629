//! Starting a public room's game: how a room decides its start, and what the shared start
//! plumbing ([`warren_runtime::starts`]) needs of rooms to carry it through.
//!
//! The compare-and-set whose ready makes a full room all ready also makes it `Starting` and
//! records a [`Start`] ([`decide`]): its `sessions.create` carries `room-start:<room id>:<version>`
//! on every retry and instance, and the store puts the start on its schedule before that
//! write. The steps that follow (the session, the claims handed over, `room.closed`, the room
//! deleted), the first attempt and the completer are [`warren_runtime::starts`]'; rooms supply
//! the room's reads and writes ([`RoomStarts`] for [`Service`]). A start sessions refuses opens
//! the room again with the starter not ready, as if their ready had not been.

use crate::handlers::updated;
use crate::service::{Change, Service};
use crate::store::{RoomRecord, RoomStore, Start};
use warren_bus::{CallOptions, RequestContext};
use warren_contracts::event::now_millis;
use warren_contracts::rooms::{Room, RoomStatus, SERVICE};
use warren_contracts::{ErrorCode, WireError};
use warren_runtime::Claims;
use warren_runtime::starts::{self, PendingStart, RoomStarts, StartChange};

/// Makes the room `Starting` with a [`Start`] decided by `by`: called inside the compare-and-set.
/// The request id names the version this write gives the room, so no two starts share one. The
/// completer leaves the start to the request until its deadline (see [`starts::first_look`]).
pub(crate) fn decide(record: &mut RoomRecord, by: &str, ctx: &RequestContext) {
    let now = now_millis();
    record.room.status = RoomStatus::Starting;
    record.starting_at = now;
    record.start = Some(Start {
        request_id: format!("room-start:{}:{}", record.id(), record.version() + 1),
        by: by.to_owned(),
        session_id: None,
        look_at: starts::first_look(now, ctx.deadline_ms.saturating_sub(now)),
    });
}

/// The first attempt, by the request that decided the start; its answer is the client's: the
/// room as it started, sessions' refusal, or `unavailable` while the completer finishes the start.
pub(crate) async fn first_attempt(
    service: &Service,
    ctx: &RequestContext,
    record: RoomRecord,
) -> Result<Room, WireError> {
    starts::first_attempt(
        service,
        &ctx.service_call_options(),
        record.id(),
        record.pending_start(),
    )
    .await?;
    Ok(record.room)
}

#[async_trait::async_trait]
impl RoomStarts for Service {
    type Schedule = dyn RoomStore;
    const SERVICE: &'static str = SERVICE;
    const NOUN: &'static str = "room";

    fn claims(&self) -> &Claims {
        &self.claims
    }

    fn schedule(&self) -> &Self::Schedule {
        self.store.as_ref()
    }

    async fn pending_start(&self, room_id: &str) -> Result<Option<PendingStart>, WireError> {
        match self.load(room_id).await {
            Ok(record) => Ok(record.pending_start()),
            Err(error) if error.code == ErrorCode::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn change_start(&self, room_id: &str, change: &StartChange<'_>) -> Result<(), WireError> {
        let (_, _) = self
            .update(room_id, |record| change(record.start.as_mut()))
            .await?;
        Ok(())
    }

    /// Opens the room again, the starter not ready. If the write fails, the start stays scheduled
    /// and the next attempt is refused and reopens it.
    async fn undo(&self, _call: &CallOptions, room_id: &str, refused: &Start) {
        let reopened = self
            .update(room_id, |record| {
                if !starts::undoable(record.start.as_ref(), refused) {
                    return Ok(Change::Unchanged);
                }
                record.room.status = RoomStatus::Open;
                record.starting_at = 0;
                record.start = None;
                for player in &mut record.room.players {
                    if player.user_id == refused.by {
                        player.ready = false;
                    }
                }
                Ok(Change::Save)
            })
            .await;
        match reopened {
            Ok((record, Change::Save)) => updated(self, &record.room).await,
            Ok(_) => {}
            Err(error) => {
                tracing::error!(%error, room_id, "could not reopen a room after a refused start; later")
            }
        }
    }
}
