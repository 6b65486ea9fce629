//! What every request handler and socket shares.

use crate::config::GatewayConfig;
use crate::hub::Hub;
use crate::revocations::Revocations;
use crate::token::{Verified, Verifier};
use crate::ws::admission::ConnectLimiter;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use warren_bus::Bus;

/// Answers whether a backend the gateway depends on is reachable (for `/readyz`).
pub type ReadinessProbe = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    bus: Bus,
    config: GatewayConfig,
    verifier: Verifier,
    hub: Arc<Hub>,
    probes: Vec<(&'static str, ReadinessProbe)>,
    /// Cancelled when the gateway shuts down: sockets close with 1001.
    shutdown: CancellationToken,
    /// Every WebSocket's task, so that shutdown can wait for them to answer what they hold.
    sockets: TaskTracker,
    /// This instance, in presence events.
    gateway_id: String,
    /// WebSocket upgrades per client address, counted here only.
    connect_limiter: ConnectLimiter,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("hub", &self.0.hub)
            .finish()
    }
}

impl AppState {
    pub fn new(bus: Bus, config: GatewayConfig, shutdown: CancellationToken) -> Self {
        Self::with_probes(bus, config, shutdown, Vec::new())
    }

    /// With readiness probes besides the bus, e.g. `("redis", …)`.
    pub fn with_probes(
        bus: Bus,
        config: GatewayConfig,
        shutdown: CancellationToken,
        probes: Vec<(&'static str, ReadinessProbe)>,
    ) -> Self {
        let verifier = Verifier::new(&config.jwt_secret, config.access_token_ttl);
        // events.resume reads the journal the bus numbers events in.
        let hub = Arc::new(Hub::new(Arc::clone(bus.journal())));
        let revocations = Arc::clone(hub.revocations());
        let mut probes = probes;
        probes.push(("revocations", revocations_probe(Arc::clone(&revocations))));
        let connect_limiter = ConnectLimiter::new(config.connect_rate_per_address);
        Self(Arc::new(Inner {
            bus,
            config,
            verifier,
            hub,
            probes,
            shutdown,
            sockets: TaskTracker::new(),
            gateway_id: uuid::Uuid::new_v4().to_string(),
            connect_limiter,
        }))
    }

    pub fn bus(&self) -> &Bus {
        &self.0.bus
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.0.config
    }

    pub fn verifier(&self) -> &Verifier {
        &self.0.verifier
    }

    pub fn revocations(&self) -> &Arc<Revocations> {
        self.0.hub.revocations()
    }

    /// The caller of a valid access token whose login has not ended; why not otherwise. No call
    /// to anyone: the signature is checked here and the ended logins are in memory.
    pub fn authenticate(&self, token: &str) -> Result<Verified, &'static str> {
        let verified = self.0.verifier.verify(token)?;
        if self.revocations().is_ended(&verified.sid) {
            return Err("the access token's login has ended; log in again");
        }
        Ok(verified)
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.0.hub
    }

    pub fn probes(&self) -> &[(&'static str, ReadinessProbe)] {
        &self.0.probes
    }

    pub fn shutdown(&self) -> &CancellationToken {
        &self.0.shutdown
    }

    pub fn sockets(&self) -> &TaskTracker {
        &self.0.sockets
    }

    pub fn gateway_id(&self) -> &str {
        &self.0.gateway_id
    }

    pub fn connect_limiter(&self) -> &ConnectLimiter {
        &self.0.connect_limiter
    }
}

/// Ready once the ended logins have been read: before that, a token whose login ended while
/// this gateway was away would pass.
fn revocations_probe(revocations: Arc<Revocations>) -> ReadinessProbe {
    Arc::new(move || {
        let synced = revocations.synced();
        Box::pin(async move { synced })
    })
}

/// A readiness probe that asks Redis for PING.
pub fn redis_probe(redis: warren_runtime::Redis) -> ReadinessProbe {
    Arc::new(move || {
        let mut redis = redis.clone();
        Box::pin(async move {
            redis::cmd("PING")
                .query_async::<String>(&mut redis)
                .await
                .is_ok()
        })
    })
}
