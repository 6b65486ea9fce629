//! The life of a service binary: connect, serve, wait for the signal, stop gracefully.

use crate::connect::{ConnectError, connect};
use crate::settings::{Backends, ServiceSettings};
use crate::storage::Storage;
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
    #[error("cannot listen on {0}: {1}")]
    Listen(std::net::SocketAddr, std::io::Error),
}

/// What a service started: its RPC server, and background tasks that end when the token the
/// service was given is cancelled.
#[derive(Debug)]
pub struct Started {
    pub server: ServerHandle,
    pub background: Vec<JoinHandle<()>>,
}

impl Started {
    /// A graceful stop: the server first (it answers and acknowledges what it holds), then the
    /// background told to stop with `background`, the token it was started with, and awaited.
    pub async fn stop(self, background: &CancellationToken) {
        self.server.stop().await;
        background.cancel();
        for task in self.background {
            if let Err(error) = task.await {
                tracing::error!(%error, "a service's background task failed");
            }
        }
    }
}

impl From<ServerHandle> for Started {
    fn from(server: ServerHandle) -> Self {
        Self {
            server,
            background: Vec::new(),
        }
    }
}

/// Runs one service until Ctrl-C or SIGTERM. `start` gets the bus, where to keep its state
/// (Redis when `--redis-url` was given, otherwise memory), and the token its background work
/// ends with. `/healthz` and `/readyz` are served on `--listen`. On the signal
/// the service stops taking requests and finishes and acknowledges those it holds; then its
/// background work is told to stop and awaited; then the bus closes.
pub async fn run_service<F, Fut, S>(
    name: &'static str,
    backends: &Backends,
    settings: &ServiceSettings,
    start: F,
) -> Result<(), ServiceError>
where
    F: FnOnce(Bus, Storage, CancellationToken) -> Fut,
    Fut: Future<Output = Result<S, BusError>>,
    S: Into<Started>,
{
    crate::metrics::handle();
    let (bus, redis) = connect(backends, name).await?;
    if redis.is_none() {
        tracing::warn!("no --redis-url: state is kept in this process's memory only");
    }
    let listener = crate::connect::listen(settings.listen)
        .map_err(|error| ServiceError::Listen(settings.listen, error))?;
    let admin_address = listener.local_addr().ok();
    let shutdown = crate::shutdown::on_signal();
    let admin = tokio::spawn(crate::admin::serve(
        listener,
        bus.clone(),
        redis.clone(),
        shutdown.clone(),
    ));
    let background = CancellationToken::new();
    let storage = Storage {
        redis,
        namespace: backends.redis_namespace.clone(),
        resume: backends.resume(),
    };
    let started: Started = start(bus.clone(), storage, background.clone())
        .await?
        .into();
    let (broker, redis_at) = backends.describe();
    tracing::info!(
        service = name,
        version = env!("CARGO_PKG_VERSION"),
        broker,
        redis = redis_at,
        traces = backends.traces(),
        health = ?admin_address,
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
    if let Ok(Err(error)) = admin.await {
        tracing::warn!(%error, "the health endpoint failed");
    }
    tracing::info!(service = name, "stopped");
    Ok(())
}
