//! Connecting to the backends at start-up. A service may start before the broker or Redis does
//! (a compose file starts them together), so the first connection is retried for a while before
//! the binary gives up; afterwards the bus and the Redis connection manager reconnect by
//! themselves.

use std::time::Duration;
use warren_bus::Bus;

/// How long start-up waits for a backend before giving up.
const START_UP_PATIENCE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot reach RabbitMQ: {0}")]
    Broker(String),
    #[error("cannot reach Redis: {0}")]
    Redis(String),
}

/// The bus: over RabbitMQ when a URL is given, in process otherwise.
pub async fn connect_bus(amqp_url: Option<&str>, name: &str) -> Result<Bus, ConnectError> {
    let Some(url) = amqp_url else {
        return Ok(Bus::in_process());
    };
    retry("RabbitMQ", || Bus::connect(url, name))
        .await
        .map_err(|e| ConnectError::Broker(e.to_string()))
}

/// A Redis connection that reconnects by itself.
pub async fn connect_redis(url: &str) -> Result<redis::aio::ConnectionManager, ConnectError> {
    let client = redis::Client::open(url).map_err(|e| ConnectError::Redis(e.to_string()))?;
    retry("Redis", || {
        redis::aio::ConnectionManager::new(client.clone())
    })
    .await
    .map_err(|e| ConnectError::Redis(e.to_string()))
}

async fn retry<T, E, F, Fut>(what: &str, mut attempt: F) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let give_up = tokio::time::Instant::now() + START_UP_PATIENCE;
    let mut delay = Duration::from_millis(200);
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) if tokio::time::Instant::now() + delay < give_up => {
                tracing::warn!(%error, retry_in = ?delay, "{what} is not reachable yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(error) => return Err(error),
        }
    }
}

/// A TCP listener with a backlog for bursts of connecting clients: tokio's `bind` fixes it at
/// 128, which drops connection attempts (a second's SYN retry each) when thousands of players
/// reconnect at once.
pub fn listen(address: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(1024)
}
