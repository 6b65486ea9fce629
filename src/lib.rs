//! Warren in one process: every service and the gateway, wired together.
//!
//! `cargo run` starts it embedded (in-process bus, state in memory: nothing to install); given a
//! RabbitMQ and a Redis address it runs the same code over them, and can share the work with the
//! per-service binaries (`warren-gateway`, `warren-auth`, `warren-accounts`). Tests start it on
//! port 0 with [`start`].

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warren_auth::AuthConfig;
use warren_bus::{Bus, ServeOptions, ServerHandle};
use warren_gateway::{AppState, GatewayConfig, GatewayError, ReadinessProbe};

/// What the whole system needs.
#[derive(Debug, Clone)]
pub struct Options {
    pub amqp_url: Option<String>,
    pub redis_url: Option<String>,
    /// Prefix prepended to every service's Redis keys (tests use their own).
    pub redis_namespace: String,
    pub gateway: GatewayConfig,
    pub auth: AuthConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Connect(#[from] warren_runtime::ConnectError),
    #[error("cannot start a service: {0}")]
    Serve(#[from] warren_bus::BusError),
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
}

/// A running system.
pub struct System {
    /// Where the gateway listens.
    pub address: SocketAddr,
    bus: Bus,
    servers: Vec<ServerHandle>,
    gateway: JoinHandle<Result<(), GatewayError>>,
}

impl std::fmt::Debug for System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("System")
            .field("address", &self.address)
            .finish()
    }
}

/// Starts the services, then the gateway on `listener`. Cancelling `shutdown` stops it all;
/// [`System::wait`] returns once everything has finished.
pub async fn start(
    options: Options,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<System, StartError> {
    let bus = warren_runtime::connect_bus(options.amqp_url.as_deref(), "warren").await?;
    let mut probes: Vec<(&'static str, ReadinessProbe)> = Vec::new();
    let (auth_store, accounts_store): (
        Arc<dyn warren_auth::AuthStore>,
        Arc<dyn warren_accounts::AccountStore>,
    ) = match &options.redis_url {
        Some(url) => {
            let redis = warren_runtime::connect_redis(url).await?;
            probes.push(("redis", warren_gateway::redis_probe(redis.clone())));
            let ns = &options.redis_namespace;
            (
                Arc::new(warren_auth::RedisStore::new(
                    redis.clone(),
                    format!("{ns}{}", warren_auth::REDIS_PREFIX),
                )),
                Arc::new(warren_accounts::RedisStore::new(
                    redis,
                    format!("{ns}{}", warren_accounts::REDIS_PREFIX),
                )),
            )
        }
        None => (
            Arc::new(warren_auth::MemoryStore::new()),
            Arc::new(warren_accounts::MemoryStore::new()),
        ),
    };
    let servers = vec![
        warren_auth::serve(
            &bus,
            auth_store,
            options.auth.clone(),
            ServeOptions::default(),
        )
        .await?,
        warren_accounts::serve(&bus, accounts_store, ServeOptions::default()).await?,
    ];
    let address = listener.local_addr()?;
    let state = AppState::with_probes(bus.clone(), options.gateway.clone(), shutdown, probes);
    let gateway = tokio::spawn(warren_gateway::serve(listener, state));
    Ok(System {
        address,
        bus,
        servers,
        gateway,
    })
}

impl System {
    /// The bus the services and the gateway share (tests add services of their own to it).
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// Waits for the gateway to stop (after shutdown), then stops the services, each finishing
    /// what it holds, then closes the bus.
    pub async fn wait(self) -> Result<(), GatewayError> {
        let result = match self.gateway.await {
            Ok(result) => result,
            Err(error) => {
                tracing::error!(%error, "the gateway task failed");
                Ok(())
            }
        };
        for server in self.servers {
            server.stop().await;
        }
        self.bus.shutdown().await;
        result
    }
}
