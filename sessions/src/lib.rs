//! Warren's `sessions` service: a game session holds its players and the game's state; players
//! send commands, the game accepts or refuses them, and every player sees each change.
//!
//! The [`game`] module is the game-agnostic part: the [`game::Game`] trait, the two built-in games
//! (`tic-tac-toe` and `relay`) and the [`game::Games`] registry. It is plain synchronous logic over
//! JSON values, with no bus, storage or async code, so the service can keep any game's state in
//! Redis and a new game needs nothing but the trait.
//!
//! ```text
//! lib.rs        the router, shared by the instance's two queues
//! startup.rs    SessionsConfig, store(), start(): the instance, its two queues, its heartbeat
//!               and its grace period, as its binary and `warren` start it
//! service.rs    what the handlers share: reads, announcements, store and game errors as wire errors
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
mod startup;
pub mod store;

pub use game::Games;
pub use owner::{HEARTBEAT_EVERY, HEARTBEAT_TTL};
pub use startup::{SessionsConfig, start, store};
pub use store::{MemoryStore, PresenceStore, RedisStore, SessionStore, StoreError};

use owner::forwarded::{ForwardCommand, ForwardLeave};
use owner::{Instance, Route};
use std::sync::Arc;
use warren_bus::Router;
use warren_contracts::sessions::{Create, HoldsMethod, Join, Leave, Modes, SERVICE, SendCommand};

/// Where this service's keys live in Redis (after the deployment's namespace).
pub const REDIS_PREFIX: &str = "warren:sessions:";

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
