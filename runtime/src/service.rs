//! The life of a service binary: connect, serve, wait for the signal, stop gracefully.

use crate::connect::{ConnectError, connect_bus, connect_redis};
use crate::settings::Backends;
use std::future::Future;
use warren_bus::{Bus, BusError, ServerHandle};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("cannot serve: {0}")]
    Serve(#[from] BusError),
}

/// Runs one service until Ctrl-C or SIGTERM. `start` gets the bus and, when `--redis-url` was
/// given, a Redis connection (otherwise the service keeps its state in memory). On the signal the
/// service stops taking requests, finishes and acknowledges those it holds, and the bus closes.
pub async fn run_service<F, Fut>(
    name: &'static str,
    backends: &Backends,
    start: F,
) -> Result<(), ServiceError>
where
    F: FnOnce(Bus, Option<redis::aio::ConnectionManager>) -> Fut,
    Fut: Future<Output = Result<ServerHandle, BusError>>,
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
    let server = start(bus.clone(), redis).await?;
    tracing::info!(
        service = name,
        version = env!("CARGO_PKG_VERSION"),
        broker = backends.amqp_url.is_some(),
        redis = backends.redis_url.is_some(),
        "serving"
    );
    shutdown.cancelled().await;
    server.stop().await;
    bus.shutdown().await;
    tracing::info!(service = name, "stopped");
    Ok(())
}
