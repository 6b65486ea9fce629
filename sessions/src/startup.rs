//! How the service starts, the same way in `warren-sessions` and the all-in-one `warren`: its
//! store from where the deployment keeps state, and what an instance runs.

use crate::owner::{Instance, Route, instance_service};
use crate::{Games, MemoryStore, REDIS_PREFIX, RedisStore, SessionStore};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, BusError, ServeOptions};
use warren_runtime::{Started, Storage};

/// How the service behaves: the games it hosts and the grace period.
#[derive(Debug, Clone)]
pub struct SessionsConfig {
    /// How long a player whose last connection closed keeps their seat (`--grace-period`).
    pub grace_period: Duration,
    /// The games sessions can be created for; the built-in ones from settings.
    pub games: Games,
}

/// The design's defaults, as the settings table declares them, and the built-in games.
impl Default for SessionsConfig {
    fn default() -> Self {
        Self::from(&warren_runtime::defaults::<warren_runtime::SessionsSettings>())
    }
}

impl From<&warren_runtime::SessionsSettings> for SessionsConfig {
    fn from(settings: &warren_runtime::SessionsSettings) -> Self {
        Self {
            grace_period: settings.grace_period,
            games: Games::builtin(),
        }
    }
}

/// The service's store: in Redis under [`REDIS_PREFIX`], numbering each commit's events in the
/// deployment's journal once the commit is written and before it answers, when there is Redis;
/// otherwise in memory.
pub fn store(storage: &Storage) -> Arc<dyn SessionStore> {
    let journal = storage.journal();
    storage.store::<dyn SessionStore>(
        REDIS_PREFIX,
        |redis, prefix| {
            let store = RedisStore::new(redis, prefix);
            Arc::new(match journal {
                Some(journal) => store.numbering_in(journal),
                None => store,
            })
        },
        || Arc::new(MemoryStore::new()),
    )
}

/// Starts an instance of the service on `bus`: it answers `sessions.*` on the shared queue, owns
/// the sessions it creates or claims, and takes changes forwarded by other instances on its own
/// queue. Several instances over one store share the sessions, each session owned by one.
///
/// The server is the shared queue: stop it first. The background is the instance's heartbeat,
/// its own queue, the grace period and the running-sessions gauge: when `background` is
/// cancelled it hands the sessions it holds over (each finishes what it accepted and is given up
/// in the store), then stops its own queue; await it before closing the bus.
pub async fn start(
    bus: &Bus,
    store: Arc<dyn SessionStore>,
    config: SessionsConfig,
    background: CancellationToken,
) -> Result<Started, BusError> {
    crate::series::declare(&config.games);
    let gauge = crate::report_running(Arc::clone(&store), background.clone());
    let instance = Arc::new(Instance::new(bus.clone(), store, config.games));
    // Alive before it owns anything: a session it creates is not anyone's to claim.
    instance.heartbeat().await;
    let options = ServeOptions::default();
    let own = bus
        .serve(
            crate::router(Arc::clone(&instance), Route::Forwarded)
                .serving_as(instance_service(instance.id())),
            options.clone(),
        )
        .await?;
    let presence = crate::presence::start(
        bus,
        Arc::clone(&instance),
        config.grace_period,
        background.child_token(),
    )
    .await?;
    // The shared queue also takes the changes whose session no instance has bound yet.
    let shared = ServeOptions {
        routed: true,
        ..options
    };
    let server = bus
        .serve(crate::router(Arc::clone(&instance), Route::Any), shared)
        .await?;
    tracing::info!(instance = instance.id(), "sessions instance started");
    let handover = tokio::spawn(async move {
        let grace_period = async {
            if let Err(error) = presence.await {
                tracing::error!(%error, "the grace period's task failed");
            }
        };
        tokio::join!(grace_period, instance.keep_alive(background));
        own.stop().await;
    });
    Ok(Started {
        server,
        background: vec![handover, gauge],
    })
}
