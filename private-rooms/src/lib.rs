//! Warren's `private_rooms` service: rooms reached only by invitation or an invite code. The owner
//! creates a room for a game mode and a size and gets its code; they invite users by id (who get
//! `private_room.invited`) or share the code; when the room is full it asks `sessions` for a game
//! session and is gone. A room nobody joins for its time to live expires.
//!
//! A user is in at most one room, public or private, and not in a room while in a game or a
//! matchmaking queue. The `accounts` service keeps that rule for every service at once (see
//! [`warren_contracts::activity`]): a room claims a user there before seating them, and answers
//! `private_rooms.holds` when a claim of its own is in the way of another.
//!
//! ```text
//! lib.rs        serve(), serve_expiry(), serve_starts() and router(): the methods wired to
//!               their handlers, and the background work
//! startup.rs    store() and start(): the service as its binary and `warren` start it
//! handlers.rs   create, invite, leave, close, holds
//! join.rs       join by code, wrong codes counted; the join that fills a room starts it
//! start.rs      the start a filling join leads to: one recorded decision, and what the shared
//!               start plumbing (warren_runtime::starts: the attempt, the completer that carries
//!               through starts their join left pending) needs of private rooms
//! expiry.rs     the sweeper that closes rooms whose time to live is over
//! service.rs    the compare-and-set loop, events, and the users' claims in accounts
//! code.rs       invite codes: drawn, shown, and read back in any spelling
//! store/        PrivateRoomStore (with the start schedule, warren_runtime::starts::StartSchedule):
//!               in memory, or Redis with a version check on every write
//! ```

pub mod code;
mod expiry;
mod handlers;
mod join;
mod service;
mod start;
mod startup;
pub mod store;

pub use handlers::MAX_INVITES;
pub use startup::{start, store};
pub use store::{MemoryStore, PrivateRoomStore, RedisStore, RoomRecord, Start, StoreError};

use service::Service;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, BusError, Router, ServeOptions, ServerHandle};
use warren_contracts::private_rooms::{
    Close, Create, HoldsMethod, Join, Leave, SERVICE, SendInvite,
};

/// Where this service's keys live in Redis (after the deployment's namespace).
pub const REDIS_PREFIX: &str = "warren:private_rooms:";

/// How the service behaves; the defaults are the design's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateRoomsConfig {
    /// How long a room that has not started lives after its last join (`--private-room-ttl`).
    pub ttl: Duration,
    /// Wrong invite codes a user may try per window before every join is refused until the
    /// window is over (`--code-attempts`).
    pub code_attempts: u32,
    /// The window wrong codes are counted in; it starts with the first wrong code.
    pub attempts_window: Duration,
    /// How often each instance looks for expired rooms, at most; a short `ttl` makes it look
    /// more often (see [`PrivateRoomsConfig::sweep_interval`]).
    pub sweep_every: Duration,
}

/// The design's defaults, as the settings table declares them.
impl Default for PrivateRoomsConfig {
    fn default() -> Self {
        Self::from(&warren_runtime::defaults::<
            warren_runtime::PrivateRoomsSettings,
        >())
    }
}

impl PrivateRoomsConfig {
    /// The sweeper's period: `sweep_every`, or a quarter of the ttl if that is shorter, so that a
    /// room closes close to its time; never below 10 ms.
    pub fn sweep_interval(&self) -> Duration {
        self.sweep_every
            .min(self.ttl / 4)
            .max(Duration::from_millis(10))
    }
}

impl From<&warren_runtime::PrivateRoomsSettings> for PrivateRoomsConfig {
    fn from(settings: &warren_runtime::PrivateRoomsSettings) -> Self {
        Self {
            ttl: settings.private_room_ttl,
            code_attempts: settings.code_attempts,
            attempts_window: Duration::from_secs(60),
            sweep_every: Duration::from_secs(1),
        }
    }
}

/// Starts answering the `private_rooms.*` methods on `bus`. Several instances over one store
/// share the rooms: any instance serves any room.
pub async fn serve(
    bus: &Bus,
    store: Arc<dyn PrivateRoomStore>,
    config: PrivateRoomsConfig,
    options: ServeOptions,
) -> Result<ServerHandle, BusError> {
    bus.serve(router(bus.clone(), store, config), options).await
}

/// Starts the sweeper that closes expired rooms; it runs until `shutdown`. Every instance runs
/// one: the store gives each due room to one of them.
pub fn serve_expiry(
    bus: &Bus,
    store: Arc<dyn PrivateRoomStore>,
    config: PrivateRoomsConfig,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let service = Arc::new(Service::new(bus.clone(), store, config));
    expiry::start(service, shutdown)
}

/// Starts the completer that carries through private room starts left pending (a call that
/// failed, an instance that died mid-start); it runs until `shutdown`, finishing the attempt under
/// way. Every instance runs one: the store hands each due start to one of them.
pub fn serve_starts(
    bus: &Bus,
    store: Arc<dyn PrivateRoomStore>,
    config: PrivateRoomsConfig,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    warren_runtime::starts::run(Arc::new(Service::new(bus.clone(), store, config)), shutdown)
}

/// Carries on the pending starts that are due, once, now; how many it finished. What the
/// completer does on each tick, for tools and tests that want to control the moment.
pub async fn complete_starts(
    bus: &Bus,
    store: Arc<dyn PrivateRoomStore>,
    config: PrivateRoomsConfig,
) -> usize {
    warren_runtime::starts::complete_due(&Service::new(bus.clone(), store, config)).await
}

/// Closes the rooms whose time to live is over, once, now; returns how many. What the sweeper
/// does on each tick, for tools and tests that want to control the moment.
pub async fn sweep(
    bus: &Bus,
    store: Arc<dyn PrivateRoomStore>,
    config: PrivateRoomsConfig,
) -> usize {
    expiry::sweep(&Service::new(bus.clone(), store, config)).await
}

/// The service's methods and their handlers; `bus` carries the calls and events it makes.
pub fn router(bus: Bus, store: Arc<dyn PrivateRoomStore>, config: PrivateRoomsConfig) -> Router {
    let service = Arc::new(Service::new(bus, store, config));
    Router::new(SERVICE)
        .method_with::<Create, _, _, _>(&service, handlers::create)
        .method_with::<SendInvite, _, _, _>(&service, handlers::invite)
        .method_with::<Join, _, _, _>(&service, join::join)
        .method_with::<Leave, _, _, _>(&service, handlers::leave)
        .method_with::<Close, _, _, _>(&service, handlers::close)
        .method_with::<HoldsMethod, _, _, _>(&service, handlers::holds)
}
