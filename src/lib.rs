//! Warren in one process: every service and the gateway, wired together.
//!
//! `cargo run` starts it embedded (in-process bus, state in memory: nothing to install); given a
//! RabbitMQ and a Redis address it runs the same code over them, and can share the work with the
//! per-service binaries (`warren-gateway`, `warren-auth`, `warren-accounts`, `warren-sessions`,
//! `warren-rooms`, `warren-private-rooms`). Tests start it on
//! port 0 with [`start`].

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warren_auth::AuthConfig;
use warren_bus::{Bus, ServerHandle, journal};
use warren_gateway::{AppState, GatewayConfig, GatewayError, ReadinessProbe};
use warren_runtime::{Started, Storage};

/// What the whole system needs. [`Options::default`] is embedded with every setting at the
/// design's default; tests and benchmarks change what they are about with `..Default::default()`.
#[derive(Debug, Clone)]
pub struct Options {
    pub amqp_url: Option<String>,
    /// The broker user whose calls may act for a player (`--amqp-gateway-user`); `None`: this
    /// process's own, from `amqp_url`.
    pub gateway_user: Option<String>,
    /// The type of durable subscriptions' queues (`--amqp-queue-type`); `None`: quorum for a
    /// cluster's nodes, classic for one broker.
    pub queue_type: Option<warren_bus::QueueType>,
    pub redis_url: Option<String>,
    /// Prefix prepended to every service's Redis keys (tests use their own).
    pub redis_namespace: String,
    /// How much of each user's events is kept for `events.resume`.
    pub resume: journal::ResumeConfig,
    /// The gateway's settings; its `access_token_ttl` is taken from `auth`.
    pub gateway: GatewayConfig,
    pub auth: AuthConfig,
    pub accounts: warren_accounts::AccountsConfig,
    pub sessions: warren_sessions::SessionsConfig,
    pub rooms: warren_rooms::RoomsConfig,
    pub private_rooms: warren_private_rooms::PrivateRoomsConfig,
    pub matchmaker: warren_matchmaker::MatchmakerConfig,
    /// Services this process does not run, by name (e.g. `"matchmaker"`): another process runs
    /// them, or a test stands in for them. Empty: all of them.
    pub without: Vec<String>,
}

impl Options {
    /// Embedded, every setting at its default, tokens signed with `jwt_secret` (auth signs with
    /// it, the gateway verifies with it).
    pub fn with_secret(jwt_secret: &[u8]) -> Self {
        Self {
            amqp_url: None,
            gateway_user: None,
            queue_type: None,
            redis_url: None,
            redis_namespace: String::new(),
            resume: journal::ResumeConfig::default(),
            gateway: GatewayConfig::new(jwt_secret.to_vec()),
            auth: AuthConfig::new(jwt_secret),
            accounts: Default::default(),
            sessions: Default::default(),
            rooms: Default::default(),
            private_rooms: Default::default(),
            matchmaker: Default::default(),
            without: Vec::new(),
        }
    }

    fn runs(&self, service: &str) -> bool {
        !self.without.iter().any(|s| s == service)
    }
}

/// Embedded, with a signing secret made for this process.
impl Default for Options {
    fn default() -> Self {
        Self::with_secret(&warren_runtime::settings::random_secret())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Connect(#[from] warren_runtime::ConnectError),
    #[error("cannot start a service: {0}")]
    Serve(#[from] warren_bus::BusError),
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
    #[error("cannot listen on {address} (--admin-listen, WARREN_ADMIN_LISTEN): {source}")]
    AdminListen {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] warren_gateway::tls::TlsError),
}

/// A running system.
pub struct System {
    /// Where the gateway listens.
    pub address: SocketAddr,
    /// Where the gateway serves `/metrics`, `/healthz` and `/readyz` apart from clients, when
    /// `options.gateway.admin_listen` asked for it.
    pub admin_address: Option<SocketAddr>,
    bus: Bus,
    servers: Vec<ServerHandle>,
    /// Stops the services' background work: event consumers (game results into ratings, presence
    /// into grace periods and dropped tickets), sweepers, the matching loop.
    consumers: CancellationToken,
    background: Vec<JoinHandle<()>>,
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
    // Installed before anything is measured: what is recorded before it is lost.
    warren_runtime::metrics::handle();
    // Checked before any service starts, so that a bad file stops nothing half-started.
    if let Some(files) = &options.gateway.tls {
        warren_gateway::tls::Certificates::load(files)?;
    }
    let bus = warren_runtime::connect_bus(
        options.amqp_url.as_deref(),
        options.gateway_user.as_deref(),
        options.queue_type,
        "warren",
    )
    .await?;
    let mut probes: Vec<(&'static str, ReadinessProbe)> = Vec::new();
    let mut storage = Storage {
        redis: None,
        namespace: options.redis_namespace.clone(),
        resume: options.resume,
    };
    let bus = match &options.redis_url {
        Some(url) => {
            let redis = warren_runtime::connect_redis(url).await?;
            probes.push(("redis", warren_gateway::redis_probe(redis.clone())));
            let bus = warren_runtime::connect::with_redis(
                bus,
                &redis,
                &options.redis_namespace,
                options.resume,
            );
            storage.redis = Some(redis);
            bus
        }
        None => {
            let journal = journal::MemoryJournal::new(options.resume);
            bus.with_journal(Arc::new(journal))
        }
    };
    let consumers = CancellationToken::new();
    let (servers, background) = start_services(&bus, &storage, &options, &consumers).await?;
    let address = listener.local_addr()?;
    let admin = match options.gateway.admin_listen {
        Some(address) => Some(
            warren_runtime::listen(address)
                .map_err(|source| StartError::AdminListen { address, source })?,
        ),
        None => None,
    };
    let admin_address = admin.as_ref().map(TcpListener::local_addr).transpose()?;
    // One process, one token lifetime: the gateway refuses tokens that live longer than those
    // its auth issues.
    let gateway_config = GatewayConfig {
        access_token_ttl: options.auth.access_token_ttl,
        ..options.gateway.clone()
    };
    let state = AppState::with_probes(bus.clone(), gateway_config, shutdown, probes);
    let gateway = tokio::spawn(warren_gateway::serve_with_admin(listener, admin, state));
    Ok(System {
        address,
        admin_address,
        bus,
        servers,
        consumers,
        background,
        gateway,
    })
}

/// Starts every service `options` does not leave out, each as its own binary starts it, with
/// its background work (consumers, sweepers, the matching loop) ending when `consumers` is
/// cancelled.
async fn start_services(
    bus: &Bus,
    storage: &Storage,
    options: &Options,
    consumers: &CancellationToken,
) -> Result<(Vec<ServerHandle>, Vec<JoinHandle<()>>), StartError> {
    let mut started: Vec<Started> = Vec::new();
    let background = || consumers.clone();
    if options.runs("auth") {
        let store = warren_auth::store(storage);
        started.push(warren_auth::start(bus, store, options.auth.clone(), background()).await?);
    }
    if options.runs("accounts") {
        let (store, config) = (warren_accounts::store(storage), options.accounts.clone());
        started.push(warren_accounts::start(bus, store, config, background()).await?);
    }
    if options.runs("sessions") {
        let (store, config) = (warren_sessions::store(storage), options.sessions.clone());
        started.push(warren_sessions::start(bus, store, config, background()).await?);
    }
    if options.runs("rooms") {
        let (store, config) = (warren_rooms::store(storage), options.rooms.clone());
        started.push(warren_rooms::start(bus, store, config, background()).await?);
    }
    if options.runs("private_rooms") {
        let store = warren_private_rooms::store(storage);
        let config = options.private_rooms.clone();
        started.push(warren_private_rooms::start(bus, store, config, background()).await?);
    }
    if options.runs("matchmaker") {
        let (store, config) = (
            warren_matchmaker::store(storage),
            options.matchmaker.clone(),
        );
        started.push(warren_matchmaker::start(bus, store, config, background()).await?);
    }
    let (mut servers, mut tasks) = (Vec::new(), Vec::new());
    for service in started {
        servers.push(service.server);
        tasks.extend(service.background);
    }
    Ok((servers, tasks))
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
        self.consumers.cancel();
        for task in self.background {
            let _ = task.await;
        }
        self.bus.shutdown().await;
        result
    }
}
