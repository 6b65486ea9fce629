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
use warren_bus::{Bus, ServeOptions, ServerHandle, journal};
use warren_gateway::{AppState, GatewayConfig, GatewayError, ReadinessProbe};
use warren_sessions::Games;

/// What the whole system needs.
#[derive(Debug, Clone)]
pub struct Options {
    pub amqp_url: Option<String>,
    pub redis_url: Option<String>,
    /// Prefix prepended to every service's Redis keys (tests use their own).
    pub redis_namespace: String,
    /// The gateway's settings; its `access_token_ttl` is taken from `auth`.
    pub gateway: GatewayConfig,
    pub auth: AuthConfig,
    /// How long a player who went away keeps their seat in a game.
    pub grace_period: std::time::Duration,
    /// Private rooms' time to live and the limit on wrong invite codes.
    pub private_rooms: warren_private_rooms::PrivateRoomsConfig,
    /// Tickets' time to live and the rating window.
    pub matchmaker: warren_matchmaker::MatchmakerConfig,
    /// How much of each user's events is kept for `events.resume`.
    pub resume: warren_bus::journal::ResumeConfig,
    /// Services this process does not run, by name (e.g. `"matchmaker"`): another process runs
    /// them, or a test stands in for them. Empty: all of them.
    pub without: Vec<String>,
}

impl Options {
    fn runs(&self, service: &str) -> bool {
        !self.without.iter().any(|s| s == service)
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
}

/// Every service's storage: in memory, or in Redis under each service's own prefix.
struct Stores {
    auth: Arc<dyn warren_auth::AuthStore>,
    accounts: Arc<dyn warren_accounts::AccountStore>,
    sessions: Arc<dyn warren_sessions::SessionStore>,
    rooms: Arc<dyn warren_rooms::RoomStore>,
    private_rooms: Arc<dyn warren_private_rooms::PrivateRoomStore>,
    matchmaker: Arc<dyn warren_matchmaker::TicketStore>,
}

impl Stores {
    fn memory() -> Self {
        Self {
            auth: Arc::new(warren_auth::MemoryStore::new()),
            accounts: Arc::new(warren_accounts::MemoryStore::new()),
            sessions: Arc::new(warren_sessions::MemoryStore::new()),
            rooms: Arc::new(warren_rooms::MemoryStore::new()),
            private_rooms: Arc::new(warren_private_rooms::MemoryStore::new()),
            matchmaker: Arc::new(warren_matchmaker::MemoryStore::new()),
        }
    }

    fn redis(
        redis: &redis::aio::ConnectionManager,
        namespace: &str,
        resume: journal::ResumeConfig,
    ) -> Self {
        let prefix = |service: &str| format!("{namespace}{service}");
        Self {
            auth: Arc::new(warren_auth::RedisStore::new(
                redis.clone(),
                prefix(warren_auth::REDIS_PREFIX),
            )),
            accounts: Arc::new(warren_accounts::RedisStore::new(
                redis.clone(),
                prefix(warren_accounts::REDIS_PREFIX),
            )),
            sessions: Arc::new(
                warren_sessions::RedisStore::new(
                    redis.clone(),
                    prefix(warren_sessions::REDIS_PREFIX),
                )
                .numbering_in(warren_runtime::connect::redis_journal(
                    redis, namespace, resume,
                )),
            ),
            rooms: Arc::new(warren_rooms::RedisStore::new(
                redis.clone(),
                prefix(warren_rooms::REDIS_PREFIX),
            )),
            private_rooms: Arc::new(warren_private_rooms::RedisStore::new(
                redis.clone(),
                prefix(warren_private_rooms::REDIS_PREFIX),
            )),
            matchmaker: Arc::new(warren_matchmaker::RedisStore::new(
                redis.clone(),
                prefix(warren_matchmaker::REDIS_PREFIX),
            )),
        }
    }
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
/// [`System::wait`] returns once everything has finished. Over RabbitMQ its services serve calls
/// on a player's behalf only from its own broker user: see [`start_with_gateway_user`].
pub async fn start(
    options: Options,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<System, StartError> {
    start_with_gateway_user(options, None, listener, shutdown).await
}

/// [`start`], with the services serving calls on a player's behalf only from broker user
/// `gateway_user` (`--amqp-gateway-user`; `None`: this process's own), for a process that shares
/// the work with gateways that log in as another user.
pub async fn start_with_gateway_user(
    options: Options,
    gateway_user: Option<String>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<System, StartError> {
    // Installed before anything is measured: what is recorded before it is lost.
    warren_runtime::metrics::handle();
    let bus = warren_runtime::connect_bus(
        options.amqp_url.as_deref(),
        gateway_user.as_deref(),
        "warren",
    )
    .await?;
    let mut probes: Vec<(&'static str, ReadinessProbe)> = Vec::new();
    let (bus, stores) = match &options.redis_url {
        Some(url) => {
            let redis = warren_runtime::connect_redis(url).await?;
            probes.push(("redis", warren_gateway::redis_probe(redis.clone())));
            let stores = Stores::redis(&redis, &options.redis_namespace, options.resume);
            let bus = warren_runtime::connect::with_redis(
                bus,
                &redis,
                &options.redis_namespace,
                options.resume,
            );
            (bus, stores)
        }
        None => {
            let journal = journal::MemoryJournal::new(options.resume);
            (bus.with_journal(Arc::new(journal)), Stores::memory())
        }
    };
    let consumers = CancellationToken::new();
    let (servers, background) = start_services(&bus, stores, &options, &consumers).await?;
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

/// Starts every service `options` does not leave out, each with its background work (consumers,
/// sweepers, the matching loop), which ends when `consumers` is cancelled.
async fn start_services(
    bus: &Bus,
    stores: Stores,
    options: &Options,
    consumers: &CancellationToken,
) -> Result<(Vec<ServerHandle>, Vec<JoinHandle<()>>), StartError> {
    let (mut servers, mut background) = (Vec::new(), Vec::new());
    let serve = ServeOptions::default;
    if options.runs("auth") {
        let auth = options.auth.clone();
        servers
            .push(warren_auth::serve(bus, stores.auth, auth, warren_auth::serve_options()).await?);
    }
    if options.runs("accounts") {
        let store = stores.accounts;
        background.push(
            warren_accounts::serve_results(bus, Arc::clone(&store), consumers.clone()).await?,
        );
        servers.push(warren_accounts::serve(bus, store, serve()).await?);
    }
    if options.runs("sessions") {
        let (store, grace) = (stores.sessions, options.grace_period);
        background.push(warren_sessions::report_running(
            Arc::clone(&store),
            consumers.clone(),
        ));
        let sessions = warren_sessions::start(
            bus,
            store,
            Games::builtin(),
            grace,
            serve(),
            consumers.clone(),
        )
        .await?;
        servers.push(sessions.server);
        background.push(sessions.background);
    }
    if options.runs("rooms") {
        let store = stores.rooms;
        background.push(warren_rooms::report_metrics(
            bus,
            Arc::clone(&store),
            consumers.clone(),
        ));
        background.push(warren_rooms::serve_starts(
            bus,
            Arc::clone(&store),
            consumers.clone(),
        ));
        servers.push(warren_rooms::serve(bus, store, serve()).await?);
    }
    if options.runs("private_rooms") {
        let (store, config) = (stores.private_rooms, options.private_rooms.clone());
        background.push(warren_private_rooms::serve_expiry(
            bus,
            Arc::clone(&store),
            config.clone(),
            consumers.clone(),
        ));
        background.push(warren_private_rooms::serve_starts(
            bus,
            Arc::clone(&store),
            config.clone(),
            consumers.clone(),
        ));
        servers.push(warren_private_rooms::serve(bus, store, config, serve()).await?);
    }
    if options.runs("matchmaker") {
        let (store, config) = (stores.matchmaker, options.matchmaker.clone());
        background.push(
            warren_matchmaker::serve_background(
                bus,
                Arc::clone(&store),
                config.clone(),
                consumers.clone(),
            )
            .await?,
        );
        servers.push(warren_matchmaker::serve(bus, store, config, serve()).await?);
    }
    Ok((servers, background))
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
