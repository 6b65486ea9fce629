//! Starting a private room's game: how a room decides its start, and what the shared start
//! plumbing ([`warren_runtime::starts`]) needs of private rooms to carry it through.
//!
//! The compare-and-set whose join fills the room also records a [`Start`] ([`decide`]): its
//! `sessions.create` carries `private-room-start:<room id>:<version>` on every retry and instance,
//! and the store puts the start on its schedule before that write. The steps that follow (the
//! session, the claims handed over, `room.closed`, the room deleted with its code; until then a
//! join with the code finds the room full), the first attempt and the completer are
//! [`warren_runtime::starts`]'; private rooms supply the room's reads and writes ([`RoomStarts`]
//! for [`Service`]). A start sessions refuses takes the joiner who filled the room out again and
//! releases their claim, as if the join had not been.

use crate::service::{Change, Service};
use crate::store::{PrivateRoomStore, RoomRecord, Start};
use warren_bus::CallOptions;
use warren_contracts::WireError;
use warren_contracts::private_rooms::{PrivateRoom, SERVICE};
use warren_runtime::Claims;
use warren_runtime::starts::{self, PendingStart, RoomStarts, StartChange};

/// Records a [`Start`] decided by `by`'s join, made with `call`: called inside the
/// compare-and-set that seats them as the last player. The request id names the version this write
/// gives the room, so no two starts share one. The completer leaves the start to the join for as
/// long as its calls may take (see [`starts::first_look`]).
pub(crate) fn decide(record: &mut RoomRecord, by: &str, call: &CallOptions, now: u64) {
    let within = u64::try_from(call.timeout.as_millis()).unwrap_or(u64::MAX);
    record.starting_at = now;
    record.start = Some(Start {
        request_id: format!(
            "private-room-start:{}:{}",
            record.id(),
            record.version() + 1
        ),
        by: by.to_owned(),
        session_id: None,
        look_at: starts::first_look(now, within),
    });
}

/// The first attempt, by the join that decided the start; its answer is the joiner's: the room as
/// it started, sessions' refusal, or `unavailable` while the completer finishes the start.
pub(crate) async fn first_attempt(
    service: &Service,
    call: &CallOptions,
    record: RoomRecord,
) -> Result<PrivateRoom, WireError> {
    starts::first_attempt(service, call, record.id(), record.pending_start()).await?;
    Ok(record.room)
}

#[async_trait::async_trait]
impl RoomStarts for Service {
    type Schedule = dyn PrivateRoomStore;
    const SERVICE: &'static str = SERVICE;
    const NOUN: &'static str = "private room";

    fn claims(&self) -> &Claims {
        &self.claims
    }

    fn schedule(&self) -> &Self::Schedule {
        self.store.as_ref()
    }

    async fn pending_start(&self, room_id: &str) -> Result<Option<PendingStart>, WireError> {
        Ok(self
            .find(room_id)
            .await?
            .as_ref()
            .and_then(RoomRecord::pending_start))
    }

    async fn change_start(&self, room_id: &str, change: &StartChange<'_>) -> Result<(), WireError> {
        let (_, _) = self
            .update(room_id, |record| change(record.start.as_mut()))
            .await?;
        Ok(())
    }

    /// Takes the joiner who filled the room out again and releases their claim, the room open as
    /// before their join (deleted if they were its last player). If the write fails, the start
    /// stays scheduled and the next attempt is refused and undoes it.
    async fn undo(&self, call: &CallOptions, room_id: &str, refused: &Start) {
        let joiner = refused.by.as_str();
        let undone = self
            .update(room_id, |record| {
                if !starts::undoable(record.start.as_ref(), refused) {
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
                self.release(call, vec![joiner.to_owned()], room_id).await;
                if change == Change::Save {
                    self.updated(&record.room).await;
                }
            }
            Err(error) => {
                tracing::error!(%error, room_id, "could not undo a join after a refused start; later")
            }
        }
    }
}
