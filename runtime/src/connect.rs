//! Connecting to the backends at start-up. A service may start before the broker or Redis does
//! (a compose file starts them together), so the first connection is retried for a while before
//! the binary gives up; afterwards the bus and the Redis connection manager reconnect by
//! themselves.

use std::sync::Arc;
use std::time::Duration;
use warren_bus::{Bus, ConnectOptions};

/// The prefix of remembered replies' Redis keys (after the deployment's namespace).
pub const REPLIES_PREFIX: &str = "replies:";

/// How long start-up waits for a backend before giving up.
const START_UP_PATIENCE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot reach RabbitMQ: {0}")]
    Broker(String),
    #[error("cannot reach Redis: {0}")]
    Redis(String),
}

/// The bus: over RabbitMQ when a URL is given, in process otherwise. Over RabbitMQ it serves
/// calls on a player's behalf only from `gateway_user` (`None`: its own broker user), and
/// declares durable subscriptions' queues of `queue_type` (`None`: by the number of nodes).
pub async fn connect_bus(
    amqp_url: Option<&str>,
    gateway_user: Option<&str>,
    queue_type: Option<warren_bus::QueueType>,
    name: &str,
) -> Result<Bus, ConnectError> {
    let Some(url) = amqp_url else {
        return Ok(Bus::in_process());
    };
    let options = ConnectOptions::new(url, name)
        .gateway_user(gateway_user.map(str::to_owned))
        .durable_queues(queue_type);
    retry("RabbitMQ", || Bus::connect_with(&options))
        .await
        .map_err(|e| ConnectError::Broker(e.to_string()))
}

/// The bus and, when `--redis-url` is given, Redis, with the bus's journal kept in that Redis
/// under the deployment's namespace (in memory without one).
pub async fn connect(
    backends: &crate::Backends,
    name: &str,
) -> Result<(Bus, Option<crate::Redis>), ConnectError> {
    let bus = connect_bus(
        backends.amqp_url.as_deref(),
        backends.amqp_gateway_user.as_deref(),
        backends.amqp_queue_type,
        name,
    )
    .await?;
    let resume = backends.resume();
    let Some(url) = &backends.redis_url else {
        let journal = Arc::new(warren_bus::journal::MemoryJournal::new(resume));
        return Ok((bus.with_journal(journal), None));
    };
    let redis = connect_redis(url).await?;
    let bus = with_redis(bus, &redis, &backends.redis_namespace, resume);
    Ok((bus, Some(redis)))
}

/// `bus` with its journal and remembered replies in `redis`, under `namespace`.
pub fn with_redis(
    bus: Bus,
    redis: &crate::Redis,
    namespace: &str,
    resume: warren_bus::journal::ResumeConfig,
) -> Bus {
    let journal = redis_journal(redis, namespace, resume);
    let replies =
        crate::replies::RedisReplies::new(redis.clone(), format!("{namespace}{REPLIES_PREFIX}"));
    bus.with_journal(Arc::new(journal))
        .with_replies(Arc::new(replies))
}

/// The deployment's journal in `redis`, under `namespace`: the bus's, and the one a store that
/// numbers events in its own writes (sessions) must use.
pub fn redis_journal(
    redis: &crate::Redis,
    namespace: &str,
    resume: warren_bus::journal::ResumeConfig,
) -> crate::journal::RedisJournal {
    crate::journal::RedisJournal::new(
        redis.clone(),
        format!("{namespace}{}", warren_bus::journal::REDIS_PREFIX),
        resume,
    )
}

/// A Redis connection that reconnects by itself: one server, or a Redis Cluster from its seeds
/// (`url` separated by commas).
pub async fn connect_redis(url: &str) -> Result<crate::Redis, ConnectError> {
    crate::redis_client::split_urls(url)
        .into_iter()
        .try_for_each(|one| redis::Client::open(one).map(drop))
        .map_err(|e| ConnectError::Redis(e.to_string()))?;
    retry("Redis", || crate::redis_client::open(url))
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
