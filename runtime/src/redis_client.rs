//! The one Redis connection type every store holds: a single server through a connection manager,
//! or a Redis Cluster through the cluster client, which follows MOVED and ASK redirections and
//! picks up a promoted replica by itself. Stores do not care which: every key a script or command
//! touches shares a hash slot by design, so what runs on one server runs on a cluster unchanged.
//!
//! `--redis-url` takes one URL or several seeds separated by commas. Several seeds mean a cluster;
//! one URL is asked whether it is a cluster node (`INFO cluster`), so one seed of a cluster works
//! too.

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use std::time::Duration;

/// A Redis connection that reconnects by itself. Cheap to clone: clones share the connection.
#[derive(Clone)]
pub enum Redis {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Redis::Single(_) => "Redis::Single",
            Redis::Cluster(_) => "Redis::Cluster",
        })
    }
}

impl Redis {
    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Redis::Cluster(_))
    }
}

impl ConnectionLike for Redis {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Redis::Single(conn) => conn.req_packed_command(cmd),
            Redis::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Redis::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Redis::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Redis::Single(conn) => conn.get_db(),
            Redis::Cluster(conn) => conn.get_db(),
        }
    }
}

/// The URLs in a `--redis-url` value: one, or a cluster's seeds separated by commas.
pub fn split_urls(text: &str) -> Vec<&str> {
    text.split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .collect()
}

/// While Redis is away, a command waits for the client's reconnect attempts; the defaults make
/// every call wait about 8 s before it can answer `unavailable`. Two quick attempts answer within
/// half a second, and the next command tries again. A command with no answer (Redis stopped without
/// closing the connection) gives up after a few seconds rather than hang: no command Warren sends
/// blocks on purpose.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

fn single_config() -> redis::aio::ConnectionManagerConfig {
    redis::aio::ConnectionManagerConfig::new()
        .set_number_of_retries(2)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(200))
        .set_connection_timeout(Some(CONNECTION_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
}

/// A cluster's master lost: its replica takes over once the cluster's node timeout has passed
/// (seconds), and until then its slots answer nothing or CLUSTERDOWN. The client retries a command
/// for a little over a second and then says `unavailable`; the next command finds the new master.
fn cluster_client(urls: &[&str]) -> redis::RedisResult<redis::cluster::ClusterClient> {
    redis::cluster::ClusterClientBuilder::new(urls.iter().copied())
        .retries(3)
        .min_retry_wait(50)
        .max_retry_wait(500)
        .connection_timeout(CONNECTION_TIMEOUT)
        .response_timeout(RESPONSE_TIMEOUT)
        .build()
}

/// Connects once to `text` (one URL or a cluster's seeds); see the module's comment.
pub async fn open(text: &str) -> redis::RedisResult<Redis> {
    let urls = split_urls(text);
    if urls.len() > 1 {
        return open_cluster(&urls).await;
    }
    let url = urls.first().copied().unwrap_or(text);
    let client = redis::Client::open(url)?;
    let mut single = ConnectionManager::new_with_config(client, single_config()).await?;
    let info: String = redis::cmd("INFO")
        .arg("cluster")
        .query_async(&mut single)
        .await?;
    if info.contains("cluster_enabled:1") {
        open_cluster(&[url]).await
    } else {
        Ok(Redis::Single(single))
    }
}

async fn open_cluster(urls: &[&str]) -> redis::RedisResult<Redis> {
    let connection = cluster_client(urls)?.get_async_connection().await?;
    Ok(Redis::Cluster(connection))
}

/// The hash tag of one entity, `{<kind>:<id>}`: every key with it lives in the same Redis Cluster
/// slot, so one script may touch all of them. Stores put it in each key that belongs to the
/// entity (`<prefix>room:{room:<id>}`, `<prefix>code:{room:<id>}:…`); see docs/architecture.md.
pub fn tag(kind: &str, id: &str) -> String {
    format!("{{{kind}:{id}}}")
}

/// A Lua script that a Redis Cluster checks for keys outside its slot: with `#!lua`, Redis 7
/// refuses a script that reaches a key of another slot even when that slot is on the same node, so
/// a script that could fail after a resharding fails in the tests on a cluster at once. Every key
/// it touches must be in `KEYS`.
pub fn script(code: &str) -> redis::Script {
    redis::Script::new(&format!("#!lua\n{}", code.trim_start()))
}
