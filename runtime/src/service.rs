//! The life of a service binary: connect, serve, wait for the signal, stop gracefully.

use crate::connect::{ConnectError, connect_bus, connect_redis};
use crate::settings::Backends;
use std::future::Future;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, BusError, ServerHandle};

/// How long background work (consumers, sweepers, loops) gets to finish what it holds at
/// shutdown before the process goes without it.
const BACKGROUND_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("cannot serve: {0}")]
    Serve(#[from] BusError),
}

/// What a service started: its RPC server, and background tasks that end when the token the
/// service was given is cancelled.
#[derive(Debug)]
pub struct Started {
    pub server: ServerHandle,
    pub background: Vec<JoinHandle<()>>,
}

impl From<ServerHandle> for Started {
    fn from(server: ServerHandle) -> Self {
        Self {
            server,
            background: Vec::new(),
        }
    }
}

/// Runs one service until Ctrl-C or SIGTERM. `start` gets the bus, a Redis connection when
/// `--redis-url` was given (otherwise the service keeps its state in memory), and the token its
/// background work ends with. On the signal the service stops taking requests and finishes and
/// acknowledges those it holds; then its background work is told to stop and awaited; then the
/// bus closes.
pub async fn run_service<F, Fut, S>(
    name: &'static str,
    backends: &Backends,
    start: F,
) -> Result<(), ServiceError>
where
    F: FnOnce(Bus, Option<redis::aio::ConnectionManager>, CancellationToken) -> Fut,
    Fut: Future<Output = Result<S, BusError>>,
    S: Into<Started>,
{
    let bus = connect_bus(backends.amqp_url.as_deref(), name).await?;
    let redis = match &backends.redis_url {
        Some(url) => Some(connect_redis(url).await?),
        None => {
            tracing::warn!("no --redis-url: state is kept in this process's memory only");
            None
        }
    };
    let shutdown = crate::shutdown::on_signal();
    let background = CancellationToken::new();
    let started: Started = start(bus.clone(), redis, background.clone()).await?.into();
    tracing::info!(
        service = name,
        version = env!("CARGO_PKG_VERSION"),
        broker = backends.amqp_url.is_some(),
        redis = backends.redis_url.is_some(),
        "serving"
    );
    shutdown.cancelled().await;
    started.server.stop().await;
    background.cancel();
    for task in started.background {
        if tokio::time::timeout(BACKGROUND_GRACE, task).await.is_err() {
            tracing::warn!(service = name, "background work did not stop in time");
        }
    }
    bus.shutdown().await;
    tracing::info!(service = name, "stopped");
    Ok(())
}
