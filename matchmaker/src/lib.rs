//! Warren's `matchmaker` service: a player searches with a game mode, a region and, where the mode
//! allows several, the players per match; tickets with close enough ratings are matched into a
//! game session.
//!
//! A user is in one place at a time: one ticket, and no ticket while in a room or a session. The
//! `accounts` service keeps that rule for every service at once (see
//! [`warren_contracts::activity`]): a ticket is stored first, as `pending` (so it already holds the
//! user when `accounts` asks `matchmaker.holds`), then its user is claimed for it, and only then
//! does it wait in its pool. A match hands the players' claims over to the session it made.
//!
//! Every instance runs a matching loop; a short per-pool lease in the store keeps the instances
//! off each other's pools, and the store's atomic take of a whole group keeps a ticket out of two
//! matches even when leases overlap.
//!
//! ```text
//! lib.rs        config, serve(), serve_background(), router(), run_pass(), sweep()
//! startup.rs    store() and start(): the service as its binary and `warren` start it
//! handlers.rs   start, cancel, status, holds
//! matcher.rs    the matching loop: lease a pool, find groups, take them into matches
//! making.rs     a match from its take to its players told, step by recorded step
//! sweeper.rs    expiry of tickets whose time ran out; matches carried on where they stopped
//! presence.rs   a player whose last connection closes loses their ticket
//! queues.rs     the queue-length gauge, read from the store when /metrics is scraped
//! series.rs     the metrics it records, declared at start
//! service.rs    what they share: claims in accounts, events, store failures
//! pool.rs       the matching rules, pure
//! store/        TicketStore: in memory, or Redis with a Lua script for every multi-key change
//! ```

mod handlers;
mod labels;
mod making;
mod matcher;
pub mod pool;
mod presence;
mod queues;
mod series;
mod service;
mod startup;
pub mod store;
mod sweeper;

pub use presence::PRESENCE_QUEUE;
pub use startup::{start, store};
pub use store::{
    Abandoned, MatchRecord, MemoryStore, RedisStore, Removal, Step, StoreError, TicketRecord,
    TicketStatus, TicketStore,
};

use pool::Window;
use service::Service;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, BusError, Router, ServeOptions, ServerHandle};
use warren_contracts::event::now_millis;
use warren_contracts::matchmaker::{Cancel, HoldsMethod, SERVICE, Start, Status};

/// Where this service's keys live in Redis (after the deployment's namespace).
pub const REDIS_PREFIX: &str = "warren:matchmaker:";

/// How the service behaves; the defaults are the design's.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchmakerConfig {
    /// How long a ticket waits for a match before it runs out (`--ticket-ttl`).
    pub ticket_ttl: Duration,
    /// The rating window: where it starts, how it widens with waiting, how wide it gets
    /// (`--rating-window`, `--rating-window-growth`, `--rating-window-max`).
    pub window: Window,
    /// How often each instance runs a matching pass.
    pub match_every: Duration,
    /// How long a match may take from the take of its tickets to its players told before the
    /// sweepers assume its instance died and carry it on themselves. (A match that fails a step
    /// is handed to them at once.) Every step is safe to do twice, so a sweeper that comes early
    /// costs a little work, not a wrong result.
    pub matching_deadline: Duration,
}

/// The design's defaults, as the settings table declares them.
impl Default for MatchmakerConfig {
    fn default() -> Self {
        Self::from(&warren_runtime::defaults::<
            warren_runtime::MatchmakerSettings,
        >())
    }
}

impl MatchmakerConfig {
    /// The sweeper's period: a second, or a quarter of the ticket's time to live or of the
    /// matching deadline if shorter, so that tickets end close to their time; never below 10 ms.
    pub fn sweep_interval(&self) -> Duration {
        Duration::from_secs(1)
            .min(self.ticket_ttl / 4)
            .min(self.matching_deadline / 4)
            .max(Duration::from_millis(10))
    }
}

impl From<&warren_runtime::MatchmakerSettings> for MatchmakerConfig {
    fn from(settings: &warren_runtime::MatchmakerSettings) -> Self {
        Self {
            ticket_ttl: settings.ticket_ttl,
            window: Window {
                start: settings.rating_window,
                growth_per_sec: settings.rating_window_growth,
                max: settings.rating_window_max,
            },
            match_every: MATCH_EVERY,
            matching_deadline: MATCHING_DEADLINE,
        }
    }
}

/// How often each instance runs a matching pass.
const MATCH_EVERY: Duration = Duration::from_millis(200);

/// How long a match may take from its take to its players told before the sweeper carries it on.
const MATCHING_DEADLINE: Duration = Duration::from_secs(6);

/// Starts answering the `matchmaker.*` methods on `bus`. Several instances over one store share
/// the tickets: any instance serves any player.
pub async fn serve(
    bus: &Bus,
    store: Arc<dyn TicketStore>,
    config: MatchmakerConfig,
    options: ServeOptions,
) -> Result<ServerHandle, BusError> {
    bus.serve(router(bus.clone(), store, config), options).await
}

/// Starts what runs besides the methods, until `shutdown`: the matching loop, the sweeper (expiry
/// and recovery), the presence consumer and the queue-length gauge. Every instance runs these;
/// the store shares the work out. Returns once subscribed to presence, so no presence event
/// published afterwards is missed.
pub async fn serve_background(
    bus: &Bus,
    store: Arc<dyn TicketStore>,
    config: MatchmakerConfig,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, BusError> {
    series::declare();
    let events = presence::subscribe(bus).await?;
    let gauge = queues::report(Arc::clone(&store), shutdown.clone());
    let service = Arc::new(Service::new(bus.clone(), store, config));
    Ok(tokio::spawn(async move {
        tokio::join!(
            matcher::run(Arc::clone(&service), shutdown.clone()),
            sweeper::run(Arc::clone(&service), shutdown.clone()),
            presence::consume(service, events, shutdown),
            async {
                let _ = gauge.await;
            },
        );
    }))
}

/// One matching pass over every pool, now; how many tickets it matched. What the matching loop
/// does on each tick, for tools and tests that want to control the moment.
pub async fn run_pass(bus: &Bus, store: Arc<dyn TicketStore>, config: MatchmakerConfig) -> usize {
    run_pass_at(bus, store, config, now_millis()).await
}

/// One matching pass with the rating windows as they are at `now` (Unix ms) rather than on the
/// clock: how a test sees a window widen without waiting for it.
pub async fn run_pass_at(
    bus: &Bus,
    store: Arc<dyn TicketStore>,
    config: MatchmakerConfig,
    now: u64,
) -> usize {
    matcher::pass(&Service::new(bus.clone(), store, config), now).await
}

/// Ends the tickets whose time ran out and carries on the matches that are due (stopped short, or
/// left by an instance that died), once, now; how many tickets and matches it settled. What the
/// sweeper does on each tick.
pub async fn sweep(bus: &Bus, store: Arc<dyn TicketStore>, config: MatchmakerConfig) -> usize {
    sweeper::sweep(&Service::new(bus.clone(), store, config)).await
}

/// The service's methods and their handlers; `bus` carries the calls and events it makes.
pub fn router(bus: Bus, store: Arc<dyn TicketStore>, config: MatchmakerConfig) -> Router {
    let service = Arc::new(Service::new(bus, store, config));
    Router::new(SERVICE)
        .method_with::<Start, _, _, _>(&service, handlers::start)
        .method_with::<Cancel, _, _, _>(&service, handlers::cancel)
        .method_with::<Status, _, _, _>(&service, handlers::status)
        .method_with::<HoldsMethod, _, _, _>(&service, handlers::holds)
}
