//! Warren's `sessions` service: a game session holds its players and the game's state; players
//! send commands, the game accepts or refuses them, and every player sees each change.
//!
//! The [`game`] module is the game-agnostic part: the [`game::Game`] trait, the two built-in games
//! (`tic-tac-toe` and `relay`) and the [`game::Games`] registry. It is plain synchronous logic over
//! JSON values, with no bus, storage or async code, so the service can keep any game's state in
//! Redis and a new game needs nothing but the trait.
//!
//! ```text
//! lib.rs        start(): the instance, its two queues, its heartbeat and its grace period
//! handlers.rs   create, join, command, leave, modes, holds
//! owner/        one owner per live session: this instance's session tasks, claiming, forwarding
//! presence.rs   the grace period: presence events in, deadlines swept, seats given up
//! series.rs     the metrics it records, declared at start
//! store/        SessionStore: in memory, or Redis with every change fenced by its owner
//! game/         the Game trait, tic-tac-toe, relay, the registry
//! ```

pub mod game;
mod handlers;
mod owner;
pub mod presence;
mod series;
mod service;
pub mod store;

pub use game::Games;
pub use owner::{HEARTBEAT_EVERY, HEARTBEAT_TTL};
pub use store::{MemoryStore, PresenceStore, RedisStore, SessionStore, StoreError};

use owner::forwarded::{ForwardCommand, ForwardLeave};
use owner::{Instance, Route, instance_service};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, BusError, Router, ServeOptions, ServerHandle};
use warren_contracts::sessions::{Create, HoldsMethod, Join, Leave, Modes, SERVICE, SendCommand};

/// Where this service's keys live in Redis (after the deployment's namespace).
pub const REDIS_PREFIX: &str = "warren:sessions:";

/// A running instance of the service.
#[derive(Debug)]
pub struct Started {
    /// The service's shared queue: stop it first at shutdown.
    pub server: ServerHandle,
    /// The instance's heartbeat, its own queue and the grace period. At `shutdown` it hands the
    /// sessions it holds over (each finishes what it accepted and is given up in the store),
    /// then stops its own queue; await it before closing the bus.
    pub background: JoinHandle<()>,
}

/// Starts an instance of the service on `bus`: it answers `sessions.*` on the shared queue, owns
/// the sessions it creates or claims, and takes changes forwarded by other instances on its own
/// queue. Several instances over one store share the sessions, each session owned by one.
pub async fn start(
    bus: &Bus,
    store: Arc<dyn SessionStore>,
    games: Games,
    grace: Duration,
    options: ServeOptions,
    shutdown: CancellationToken,
) -> Result<Started, BusError> {
    series::declare(&games);
    let instance = Arc::new(Instance::new(bus.clone(), store, games));
    // Alive before it owns anything: a session it creates is not anyone's to claim.
    instance.heartbeat().await;
    let own = bus
        .serve(
            router(Arc::clone(&instance), Route::Forwarded)
                .serving_as(instance_service(instance.id())),
            options.clone(),
        )
        .await?;
    let presence =
        presence::start(bus, Arc::clone(&instance), grace, shutdown.child_token()).await?;
    // The shared queue also takes the changes whose session no instance has bound yet.
    let shared = ServeOptions {
        routed: true,
        ..options
    };
    let server = bus
        .serve(router(Arc::clone(&instance), Route::Any), shared)
        .await?;
    tracing::info!(instance = instance.id(), "sessions instance started");
    let background = tokio::spawn(async move {
        let grace_period = async {
            if let Err(error) = presence.await {
                tracing::error!(%error, "the grace period's task failed");
            }
        };
        tokio::join!(grace_period, instance.keep_alive(shutdown));
        own.stop().await;
    });
    Ok(Started { server, background })
}

/// Keeps `warren_sessions_running` true at each scrape of `/metrics`, read from `store`, until
/// `stop` is cancelled.
pub fn report_running(
    store: Arc<dyn SessionStore>,
    stop: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    warren_runtime::metrics::gauge_on_scrape(series::RUNNING, stop, move || {
        let store = Arc::clone(&store);
        async move { store.count_running().await }
    })
}

/// The service's methods and their handlers; changes that arrive by `route` go on from there.
fn router(instance: Arc<Instance>, route: Route) -> Router {
    let router = Router::new(SERVICE)
        .method_with::<SendCommand, _, _, _>(&instance, move |i, ctx, p| {
            handlers::command(i, ctx, p, route)
        })
        .method_with::<Leave, _, _, _>(&instance, move |i, ctx, p| {
            handlers::leave(i, ctx, p, route)
        })
        // Also on the shared queue: an owner's queue hands what waits in it there when it dies.
        .method_with::<ForwardCommand, _, _, _>(&instance, move |i, ctx, p| {
            handlers::forwarded_command(i, ctx, p, route)
        })
        .method_with::<ForwardLeave, _, _, _>(&instance, move |i, ctx, p| {
            handlers::forwarded_leave(i, ctx, p, route)
        });
    if route == Route::Forwarded {
        return router;
    }
    router
        .method_with::<Modes, _, _, _>(&instance, handlers::modes)
        .method_with::<HoldsMethod, _, _, _>(&instance, handlers::holds)
        .method_with::<Create, _, _, _>(&instance, handlers::create)
        .method_with::<Join, _, _, _>(&instance, handlers::join)
}
