//! What every handler shares: the bus, the store, the mode cache, and the three things they all
//! do: change a room with a compare-and-set, tell its players, and keep the user's claim in
//! `accounts` in step with their seat.

use crate::store::{ABANDONED_MS, RoomRecord, RoomStore, StoreError};
use std::sync::Arc;
use std::time::Duration;
use warren_bus::{Bus, RequestContext};
use warren_contracts::activity::ActivityKind;
use warren_contracts::event::now_millis;
use warren_contracts::rooms::{MAX_PLAYERS, MIN_PLAYERS};
use warren_contracts::rooms::{RoomStatus, SERVICE};
use warren_contracts::sessions::{Modes, check_mode};
use warren_contracts::{Empty, ErrorCode, Event, WireError};
use warren_runtime::Claims;
use warren_runtime::versioned::{self, Versioned};

/// How long a change keeps trying while other writers keep changing the room first.
const BUSY_LIMIT: Duration = Duration::from_secs(3);

// What a change does to the room it read; shared with the start's steps.
pub(crate) use warren_runtime::starts::Change;

pub(crate) struct Service {
    pub(crate) bus: Bus,
    pub(crate) store: Arc<dyn RoomStore>,
    pub(crate) claims: Claims,
}

impl Service {
    pub(crate) fn new(bus: Bus, store: Arc<dyn RoomStore>) -> Self {
        let claims = Claims::new(bus.clone(), ActivityKind::Room);
        Self { bus, store, claims }
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

    /// The room as it stands, with seats held for joins whose instance died freed again. A start
    /// is never undone here: one recorded (see [`crate::store::Start`]) is carried through by the
    /// completer, whatever became of the request that decided it. Only a start left by a version
    /// that did not record it counts as abandoned after a while, and the room is open again.
    pub(crate) async fn load(&self, room_id: &str) -> Result<RoomRecord, WireError> {
        let mut record = self
            .store
            .get(room_id)
            .await
            .map_err(store_failure)?
            .ok_or_else(|| WireError::new(ErrorCode::NotFound, "no such room"))?;
        let now = now_millis();
        record
            .joining
            .retain(|j| now.saturating_sub(j.since) <= ABANDONED_MS);
        if record.room.status == RoomStatus::Starting
            && record.start.is_none()
            && now.saturating_sub(record.starting_at) > ABANDONED_MS
        {
            tracing::warn!(room_id, "a start was abandoned; the room is open again");
            record.room.status = RoomStatus::Open;
            record.starting_at = 0;
            for player in &mut record.room.players {
                player.ready = false;
            }
        }
        Ok(record)
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

    /// Tells `players`; a failed publish is logged, the change stands.
    pub(crate) async fn announce(&self, kind: &str, players: Vec<String>, data: serde_json::Value) {
        if players.is_empty() {
            return;
        }
        let event = Event::new(kind, players, data);
        if let Err(error) = self.bus.publish(SERVICE, &event).await {
            tracing::error!(%error, kind, "could not publish a room event");
        }
    }

    /// Claims `user` for the room in `accounts`, so that they are in no other room, queue or
    /// session while seated here. A claim by another public room that no longer seats them is
    /// stale and replaced.
    pub(crate) async fn claim(
        &self,
        ctx: &RequestContext,
        user: &str,
        room_id: &str,
    ) -> Result<(), WireError> {
        let holds = |stale: String| async move { self.seats(&stale, user).await };
        self.claims
            .claim(&ctx.service_call_options(), user, room_id, holds)
            .await
    }

    /// Frees `users` from this room in `accounts`.
    pub(crate) async fn release(&self, ctx: &RequestContext, users: Vec<String>, room_id: &str) {
        self.claims
            .release(&ctx.service_call_options(), users, room_id)
            .await;
    }

    /// Whether `room_id` holds `user`: the room exists, is not over, and seats them or holds a
    /// seat for them.
    pub(crate) async fn seats(&self, room_id: &str, user: &str) -> Result<bool, WireError> {
        match self.load(room_id).await {
            Ok(record) => Ok(record.holds(user)),
            Err(error) if error.code == ErrorCode::NotFound => Ok(false),
            Err(error) => Err(error),
        }
    }
}

pub(crate) fn store_failure(error: StoreError) -> WireError {
    tracing::error!(%error, "room store failed");
    match error {
        StoreError::Unavailable(_) => {
            WireError::new(ErrorCode::Unavailable, "rooms are unavailable; try again")
        }
        StoreError::AlreadyExists | StoreError::Corrupt(_) => {
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
            .delete(&record.room, expected)
            .await
            .map_err(store_failure)
    }
}
