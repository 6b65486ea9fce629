//! What every handler and the sweeper share: the bus, the store, the mode cache, the settings, and
//! the things they all do: change a room with a compare-and-set, tell its players, and keep the
//! users' claims in `accounts` in step with their seats.

use crate::PrivateRoomsConfig;
use crate::store::{JOIN_ABANDONED_MS, PrivateRoomStore, RoomRecord, StoreError};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use warren_bus::{Bus, CallOptions, RequestContext};
use warren_contracts::activity::ActivityKind;
use warren_contracts::event::now_millis;
use warren_contracts::private_rooms::{PrivateRoom, SERVICE};
use warren_contracts::rooms::{CLOSED, CloseReason, RoomClosed, UPDATED};
use warren_contracts::rooms::{MAX_PLAYERS, MIN_PLAYERS};
use warren_contracts::sessions::{Modes, check_mode};
use warren_contracts::{Empty, ErrorCode, Event, WireError};
use warren_runtime::Claims;
use warren_runtime::versioned::{self, Versioned};

/// How long a change keeps trying while other writers keep changing the room first.
const BUSY_LIMIT: Duration = Duration::from_secs(3);

// What a change does to the room it read (a `Delete` takes the code too); shared with the start's
// steps.
pub(crate) use warren_runtime::starts::Change;

pub(crate) struct Service {
    pub(crate) bus: Bus,
    pub(crate) store: Arc<dyn PrivateRoomStore>,
    pub(crate) config: PrivateRoomsConfig,
    pub(crate) claims: Claims,
}

impl Service {
    pub(crate) fn new(
        bus: Bus,
        store: Arc<dyn PrivateRoomStore>,
        config: PrivateRoomsConfig,
    ) -> Self {
        let claims = Claims::new(bus.clone(), ActivityKind::PrivateRoom);
        Self {
            bus,
            store,
            config,
            claims,
        }
    }

    /// Checks with `sessions` that it runs `mode` for `players` players, and that a room may
    /// have that many seats. Asked at every create: rooms are made far less often than joined,
    /// and the answer is then never stale.
    pub(crate) async fn check_mode(
        &self,
        ctx: &RequestContext,
        mode: &str,
        players: u32,
    ) -> Result<(), WireError> {
        let modes = self
            .bus
            .call::<Modes>(&Empty {}, ctx.service_call_options())
            .await
            .map_err(|error| {
                tracing::warn!(%error, "cannot learn the game modes from sessions");
                error.to_wire()
            })?;
        check_mode(&modes, mode, players, MIN_PLAYERS, MAX_PLAYERS)
    }

    /// The room as it stands, `None` if there is none, with seats held for joins that never
    /// finished freed again. A recorded start (see [`crate::store::Start`]) is never undone
    /// here: the completer carries it through. Only a start left by a version that did not record
    /// it counts as abandoned after a while (the room is open again, and full until someone
    /// leaves).
    pub(crate) async fn find(&self, room_id: &str) -> Result<Option<RoomRecord>, WireError> {
        let Some(mut record) = self.store.get(room_id).await.map_err(store_failure)? else {
            return Ok(None);
        };
        let now = now_millis();
        if record.start.is_none() && record.starting_at != 0 && !record.starting(now) {
            tracing::warn!(room_id, "a start was abandoned; the room is open again");
            record.starting_at = 0;
        }
        let before = record.joining.len();
        record
            .joining
            .retain(|j| now.saturating_sub(j.since) <= JOIN_ABANDONED_MS);
        if record.joining.len() < before {
            tracing::warn!(room_id, "seats held for abandoned joins are free again");
            record.room.free_seats = record.free_seats();
        }
        Ok(Some(record))
    }

    pub(crate) async fn load(&self, room_id: &str) -> Result<RoomRecord, WireError> {
        self.find(room_id).await?.ok_or_else(no_room)
    }

    /// Reads the room, lets `change` decide, and writes the outcome back if nobody changed the
    /// room meanwhile; otherwise reads again and retries, for a bounded time.
    pub(crate) async fn update<F>(
        &self,
        room_id: &str,
        change: F,
    ) -> Result<(RoomRecord, Change), WireError>
    where
        F: FnMut(&mut RoomRecord) -> Result<Change, WireError>,
    {
        versioned::update(self, room_id, BUSY_LIMIT, change).await
    }

    /// Tells `recipients`; a failed publish is logged, the change stands.
    pub(crate) async fn announce(
        &self,
        kind: &str,
        recipients: Vec<String>,
        data: serde_json::Value,
    ) {
        if recipients.is_empty() {
            return;
        }
        let event = Event::new(kind, recipients, data);
        if let Err(error) = self.bus.publish(SERVICE, &event).await {
            tracing::error!(%error, kind, "could not publish a private room event");
        }
    }

    /// Tells every player the room as it is now.
    pub(crate) async fn updated(&self, room: &PrivateRoom) {
        self.announce(UPDATED, room.player_ids(), json!(room)).await;
    }

    /// After the room was deleted for `reason`: its players are free and hear it is over.
    pub(crate) async fn closed(
        &self,
        record: &RoomRecord,
        reason: CloseReason,
        call: &CallOptions,
    ) {
        let players = record.room.player_ids();
        self.release(call, players.clone(), record.id()).await;
        let closed = RoomClosed {
            room_id: record.id().to_owned(),
            reason,
            session_id: None,
        };
        self.announce(CLOSED, players, json!(closed)).await;
    }

    /// Claims `user` for the room in `accounts`, so that they are in no other room, queue or
    /// session while seated here. A claim by another private room that does not seat them is
    /// stale (this service is its owner, so accounts leaves that check to us) and is replaced.
    ///
    /// Callers hold a seat for the user before they claim (see [`RoomRecord::joining`]): then a
    /// claim of ours stands only for a room that already holds the user, and two joins at once
    /// (two codes, or a join and a create) cannot both take the user, since whichever claims
    /// second finds the first's seat and gives up. Claiming first would leave a moment where the
    /// first room has the claim but not the seat, and the second would replace the claim as
    /// stale.
    pub(crate) async fn claim(
        &self,
        call: &CallOptions,
        user: &str,
        room_id: &str,
    ) -> Result<(), WireError> {
        let holds = |stale: String| async move { self.seats(&stale, user).await };
        self.claims.claim(call, user, room_id, holds).await
    }

    /// Frees `users` from this room in `accounts`.
    pub(crate) async fn release(&self, call: &CallOptions, users: Vec<String>, room_id: &str) {
        if !users.is_empty() {
            self.claims.release(call, users, room_id).await;
        }
    }

    /// Whether `room_id` holds `user`: the room exists (not started, not closed) and seats them,
    /// or holds a seat for them while they are claimed.
    pub(crate) async fn seats(&self, room_id: &str, user: &str) -> Result<bool, WireError> {
        Ok(self
            .find(room_id)
            .await?
            .is_some_and(|record| record.holds(user)))
    }

    /// When a room joined now expires.
    pub(crate) fn expires_from(&self, now: u64) -> u64 {
        let ttl = u64::try_from(self.config.ttl.as_millis()).unwrap_or(u64::MAX);
        now.saturating_add(ttl)
    }
}

pub(crate) fn no_room() -> WireError {
    WireError::new(ErrorCode::NotFound, "no such private room")
}

pub(crate) fn store_failure(error: StoreError) -> WireError {
    tracing::error!(%error, "private room store failed");
    match error {
        StoreError::Unavailable(_) => WireError::new(
            ErrorCode::Unavailable,
            "private rooms are unavailable; try again",
        ),
        StoreError::AlreadyExists | StoreError::CodeTaken | StoreError::Corrupt(_) => {
            WireError::new(ErrorCode::Internal, "internal error")
        }
    }
}

impl Versioned for Service {
    type Record = RoomRecord;
    const TOO_BUSY: &'static str = "the room is too busy; try again";

    async fn read(&self, id: &str) -> Result<RoomRecord, WireError> {
        self.load(id).await
    }

    fn version(record: &RoomRecord) -> u64 {
        record.version()
    }

    async fn write(&self, record: &mut RoomRecord, expected: u64) -> Result<bool, WireError> {
        record.room.version = expected + 1;
        record.room.free_seats = record.free_seats();
        self.store
            .replace(record, expected)
            .await
            .map_err(store_failure)
    }

    async fn remove(&self, record: &RoomRecord, expected: u64) -> Result<bool, WireError> {
        self.store
            .delete(record, expected)
            .await
            .map_err(store_failure)
    }
}
