//! Warren's `accounts` service: each user's profile (display name, rating, games played and won),
//! read and renamed by its owner, readable by anyone by id, created by `auth` at registration and
//! deleted by its owner together with their credentials.
//!
//! The service answers the methods of [`warren_contracts::accounts`] on the bus, and applies
//! finished games (`session.finished`) to ratings, telling each player `rating.changed`. It also
//! keeps each user's current activity ([`warren_contracts::activity`]: a room, a matchmaking
//! ticket, a game session), so that a user is never in two of them at once: the other services
//! claim, hand over and release users through it, and the end of a game or a player's leaving it
//! frees them. Its storage is the [`AccountStore`] trait, with an in-memory implementation for the
//! embedded mode and tests and a Redis one for the distributed mode; the service logic is the same
//! over both.
//!
//! ```text
//! lib.rs           serve() and router(): the methods wired to their handlers; serve_results()
//! startup.rs       AccountsConfig, store() and start(): the service as its binary and `warren`
//!                  start it
//! handlers.rs      one async fn per account method; maps store errors to wire errors (and logs
//!                  them)
//! activity.rs      accounts.claim, hand_over, release; asks an activity's owner whether it still
//!                  holds a user before a claim of another kind replaces it
//! validate.rs      bounds on what callers send: user ids, display names, usernames, activities
//! results.rs       the durable consumer of the sessions' events: ratings, then rating.changed
//! departures.rs    the same consumer's other half: a finished game or a player leaving it
//!                  releases the session's claim
//! elo.rs           Elo rating changes (K = 32), two players or more
//! store/mod.rs     the AccountStore trait, RatingChange and StoreError
//! store/memory.rs  MemoryStore: maps behind a mutex
//! store/redis/     RedisStore: one Redis hash per account and per activity (mod.rs); atomic
//!                  scripts (scripts.rs) for create, update, applying a result once per session,
//!                  and each activity change
//! ```

mod activity;
mod departures;
pub mod elo;
mod handlers;
pub mod results;
mod startup;
pub mod store;
mod validate;

pub use startup::{AccountsConfig, start, store};
pub use store::{AccountStore, MemoryStore, RatingChange, RedisStore, StoreError};

/// Where this service's keys live in Redis (after the deployment's namespace).
pub const REDIS_PREFIX: &str = "warren:accounts:";

use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, BusError, Router, ServeOptions, ServerHandle};
use warren_contracts::accounts::{Create, Delete, Get, Me, RecordResult, SERVICE, Update};
use warren_contracts::activity::{ClaimMethod, HandOverMethod, ReleaseMethod};

/// Starts answering the `accounts.*` methods on `bus`, storing accounts in `store`. Several
/// instances (in several processes, over one Redis) share the work.
pub async fn serve(
    bus: &Bus,
    store: Arc<dyn AccountStore>,
    options: ServeOptions,
) -> Result<ServerHandle, BusError> {
    bus.serve(router(bus.clone(), store), options).await
}

/// The service's methods and their handlers; `bus` is used for the calls the service makes
/// (`auth.revoke_user` when an account is deleted, `<owner>.holds` when a claim is in the way).
pub fn router(bus: Bus, store: Arc<dyn AccountStore>) -> Router {
    let service = Arc::new(handlers::Service::new(bus, store));
    Router::new(SERVICE)
        .method_with::<Create, _, _, _>(&service, handlers::create)
        .method_with::<Me, _, _, _>(&service, handlers::me)
        .method_with::<Get, _, _, _>(&service, handlers::get)
        .method_with::<Update, _, _, _>(&service, handlers::update)
        .method_with::<Delete, _, _, _>(&service, handlers::delete)
        .method_with::<ClaimMethod, _, _, _>(&service, activity::claim)
        .method_with::<HandOverMethod, _, _, _>(&service, activity::hand_over)
        .method_with::<ReleaseMethod, _, _, _>(&service, activity::release)
        .method_with::<RecordResult, _, _, _>(&service, results::record)
}

/// Starts applying the sessions' events to `store` (finished games to ratings; finished games and
/// players leaving to activities): subscribes to the durable results
/// queue first (so that no result published after this returns is missed), then runs the consumer
/// in a task that ends when `shutdown` is cancelled or the bus shuts down.
pub async fn serve_results(
    bus: &Bus,
    store: Arc<dyn AccountStore>,
    shutdown: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, BusError> {
    let events = results::subscribe(bus).await?;
    Ok(tokio::spawn(results::run(
        bus.clone(),
        store,
        events,
        shutdown,
    )))
}
