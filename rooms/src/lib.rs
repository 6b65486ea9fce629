//! Warren's `rooms` service: public rooms anyone can find. A player creates a room for a game
//! mode and a size; others find it in the list and join; when it is full and everyone is ready,
//! the room asks `sessions` for a game session, its players are told `session.started`, and the
//! room is gone.
//!
//! A user is in at most one room, public or private, and not in a room while in a game or a
//! matchmaking queue. The `accounts` service keeps that rule for every service at once (see
//! [`warren_contracts::activity`]): a room claims a user there before seating them, and answers
//! `rooms.holds` when a claim of its own is in the way of another.
//!
//! ```text
//! lib.rs        serve() and router(): the methods wired to their handlers
//! startup.rs    RoomsConfig, store() and start(): the service as its binary and `warren` start it
//! seating.rs    create and join: a seat held, the user claimed, the seat taken
//! handlers.rs   list, leave, ready, holds
//! start.rs      the start a ready leads to: one recorded decision, and what the shared start
//!               plumbing (warren_runtime::starts: the attempt, the completer that carries
//!               through starts their request left pending) needs of rooms
//! service.rs    the compare-and-set loop, events, and the user's claim in accounts
//! store/        RoomStore (with the start schedule, warren_runtime::starts::StartSchedule): in
//!               memory, or Redis with a version check on every write
//! series.rs     report_metrics(): the open-rooms gauge, read from the store when scraped, and
//!               the created-rooms counters, declared per game mode
//! ```

mod handlers;
mod seating;
mod series;
mod service;
mod start;
mod startup;
pub mod store;

pub use series::report_metrics;
pub use startup::{RoomsConfig, start, store};
pub use store::{MemoryStore, RedisStore, RoomStore, StoreError};

use service::Service;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, BusError, Router, ServeOptions, ServerHandle};
use warren_contracts::rooms::{Create, HoldsMethod, Join, Leave, List, Ready, SERVICE};

/// Where this service's keys live in Redis (after the deployment's namespace).
pub const REDIS_PREFIX: &str = "warren:rooms:";

/// Starts answering the `rooms.*` methods on `bus`. Several instances over one store share the
/// rooms: any instance serves any room.
pub async fn serve(
    bus: &Bus,
    store: Arc<dyn RoomStore>,
    options: ServeOptions,
) -> Result<ServerHandle, BusError> {
    bus.serve(router(bus.clone(), store), options).await
}

/// Starts the completer that carries through room starts left pending (a call that failed, an
/// instance that died mid-start); it runs until `shutdown`, finishing the attempt under way. Every
/// instance runs one: the store hands each due start to one of them.
pub fn serve_starts(
    bus: &Bus,
    store: Arc<dyn RoomStore>,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    warren_runtime::starts::run(Arc::new(Service::new(bus.clone(), store)), shutdown)
}

/// Carries on the pending starts that are due, once, now; how many it finished. What the
/// completer does on each tick, for tools and tests that want to control the moment.
pub async fn complete_starts(bus: &Bus, store: Arc<dyn RoomStore>) -> usize {
    warren_runtime::starts::complete_due(&Service::new(bus.clone(), store)).await
}

/// The service's methods and their handlers; `bus` carries the calls and events it makes.
pub fn router(bus: Bus, store: Arc<dyn RoomStore>) -> Router {
    let service = Arc::new(Service::new(bus, store));
    Router::new(SERVICE)
        .method_with::<Create, _, _, _>(&service, seating::create)
        .method_with::<List, _, _, _>(&service, handlers::list)
        .method_with::<Join, _, _, _>(&service, seating::join)
        .method_with::<Leave, _, _, _>(&service, handlers::leave)
        .method_with::<Ready, _, _, _>(&service, handlers::ready)
        .method_with::<HoldsMethod, _, _, _>(&service, handlers::holds)
}
