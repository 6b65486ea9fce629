//! Warren's `sessions` service: a game session holds its players and the game's state; players
//! send commands, the game accepts or refuses them, and every player sees each change.
//!
//! The [`game`] module is the game-agnostic part: the [`game::Game`] trait, the two built-in games
//! (`tic-tac-toe` and `relay`) and the [`game::Games`] registry. It is plain synchronous logic over
//! JSON values, with no bus, storage or async code, so the service can keep any game's state in
//! Redis and a new game needs nothing but the trait.
//!
//! ```text
//! lib.rs        serve() and router(): the methods wired to their handlers
//! handlers.rs   create, join, command, leave: read, let the game decide, compare-and-set, announce;
//!               modes and holds for the services that seat players
//! presence.rs   the grace period: presence events in, deadlines swept, seats given up
//! store/        SessionStore: in memory, or Redis with a version check on every write
//! game/         the Game trait, tic-tac-toe, relay, the registry
//! ```

pub mod game;
mod handlers;
pub mod presence;
pub mod store;

pub use game::Games;
pub use store::{MemoryStore, PresenceStore, RedisStore, SessionStore, StoreError};

use handlers::Service;
use std::sync::Arc;
use warren_bus::{Bus, BusError, Router, ServeOptions, ServerHandle};
use warren_contracts::sessions::{Create, HoldsMethod, Join, Leave, Modes, SERVICE, SendCommand};

/// Where this service's keys live in Redis (after the deployment's namespace).
pub const REDIS_PREFIX: &str = "warren:sessions:";

/// Starts answering the `sessions.*` methods on `bus`. Several instances over one store share
/// the sessions: any instance serves any session.
pub async fn serve(
    bus: &Bus,
    store: Arc<dyn SessionStore>,
    games: Games,
    options: ServeOptions,
) -> Result<ServerHandle, BusError> {
    bus.serve(router(bus.clone(), store, games), options).await
}

/// Starts the grace period's presence consumer and deadline sweeper; they run until `shutdown`.
pub async fn serve_presence(
    bus: &Bus,
    store: Arc<dyn SessionStore>,
    games: Games,
    grace: std::time::Duration,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, BusError> {
    let service = Arc::new(Service::new(bus.clone(), store, games));
    presence::start(bus, service, grace, shutdown).await
}

/// Keeps `warren_sessions_running` true at each scrape of `/metrics`, read from `store`, until
/// `stop` is cancelled.
pub fn report_running(
    store: Arc<dyn SessionStore>,
    stop: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    warren_runtime::metrics::gauge_on_scrape("warren_sessions_running", stop, move || {
        let store = Arc::clone(&store);
        async move { store.count_running().await }
    })
}

/// The service's methods and their handlers; `bus` carries the events it publishes.
pub fn router(bus: Bus, store: Arc<dyn SessionStore>, games: Games) -> Router {
    let service = Arc::new(Service::new(bus, store, games));
    let (create, join, command, leave, modes, holds) = (
        Arc::clone(&service),
        Arc::clone(&service),
        Arc::clone(&service),
        Arc::clone(&service),
        Arc::clone(&service),
        service,
    );
    Router::new(SERVICE)
        .method::<Modes, _, _>(move |ctx, p| handlers::modes(Arc::clone(&modes), ctx, p))
        .method::<HoldsMethod, _, _>(move |ctx, p| handlers::holds(Arc::clone(&holds), ctx, p))
        .method::<Create, _, _>(move |ctx, p| handlers::create(Arc::clone(&create), ctx, p))
        .method::<Join, _, _>(move |ctx, p| handlers::join(Arc::clone(&join), ctx, p))
        .method::<SendCommand, _, _>(move |ctx, p| handlers::command(Arc::clone(&command), ctx, p))
        .method::<Leave, _, _>(move |ctx, p| handlers::leave(Arc::clone(&leave), ctx, p))
}
