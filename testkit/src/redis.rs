//! The test Redis. Tests share one server, so each works under a key prefix of its own and deletes
//! its keys when done; a test that needs Redis fails, naming the address, when there is none.

use futures_util::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;
use warren_runtime::Redis;

/// How long a test waits for Redis to answer before it says Redis is not there.
const CONNECT_WITHIN: Duration = Duration::from_secs(5);

/// The Redis the tests use: this machine's unless `WARREN_TEST_REDIS_URL` says otherwise.
pub fn url() -> String {
    std::env::var("WARREN_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A connection to the test Redis: one server, or a Redis Cluster when `WARREN_TEST_REDIS_URL`
/// names its seeds (or one node of it).
pub async fn connect() -> Redis {
    let url = url();
    tokio::time::timeout(CONNECT_WITHIN, warren_runtime::redis_client::open(&url))
        .await
        .unwrap_or_else(|_| panic!("Redis must be running at {url}: no answer"))
        .unwrap_or_else(|e| panic!("Redis must be running at {url}: {e}"))
}

/// One test's corner of the test Redis: a connection and a key prefix no other test uses.
#[derive(Clone)]
pub struct TestRedis {
    pub conn: Redis,
    pub prefix: String,
}

impl TestRedis {
    /// A fresh prefix `test-<what>-<uuid>:`, `what` naming the crate for whoever reads the keys.
    pub async fn new(what: &str) -> Self {
        Self {
            conn: connect().await,
            prefix: format!("test-{what}-{}:", uuid::Uuid::new_v4().simple()),
        }
    }

    /// Every key under the prefix, sorted.
    pub async fn keys(&self) -> Vec<String> {
        keys_under(&self.conn, &self.prefix).await
    }

    /// Deletes every key under the prefix.
    pub async fn clean(&self) {
        delete_keys(&self.conn, &self.keys().await).await;
    }
}

/// Deletes every key under `prefix` in the test Redis: the clean-up of a test that ran a whole
/// deployment under a namespace of its own.
pub async fn delete_under(prefix: &str) {
    let conn = connect().await;
    let keys = keys_under(&conn, prefix).await;
    delete_keys(&conn, &keys).await;
}

/// [`delete_under`] where there is no runtime to await on (a deployment's `Drop`). A Redis that
/// cannot be reached is reported rather than a panic: a drop may run while a test is failing.
pub fn delete_under_blocking(prefix: &str) {
    let owned = prefix.to_owned();
    let outcome = std::thread::spawn(move || -> Result<(), String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let conn =
                tokio::time::timeout(CONNECT_WITHIN, warren_runtime::redis_client::open(&url()))
                    .await
                    .map_err(|_| "no answer".to_owned())?
                    .map_err(|e| e.to_string())?;
            let keys = keys_under(&conn, &owned).await;
            delete_keys(&conn, &keys).await;
            Ok(())
        })
    })
    .join();
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(error)) => eprintln!("Redis unreachable ({error}): keys under {prefix} left behind"),
        Err(_) => eprintln!("Redis clean-up panicked: keys under {prefix} may be left behind"),
    }
}

/// Every key under `prefix`, sorted: on a cluster, from each of its masters.
pub async fn keys_under(conn: &Redis, prefix: &str) -> Vec<String> {
    let pattern = format!("{prefix}*");
    let mut keys = Vec::new();
    match conn {
        Redis::Single(single) => keys.extend(scan(&mut single.clone(), &pattern).await),
        Redis::Cluster(_) => {
            for master in masters(conn).await {
                let client = redis::Client::open(master.as_str()).expect("a master's URL");
                let mut node = client
                    .get_multiplexed_async_connection()
                    .await
                    .unwrap_or_else(|e| panic!("Redis master {master}: {e}"));
                keys.extend(scan(&mut node, &pattern).await);
            }
        }
    }
    // SCAN may name a key twice.
    keys.sort();
    keys.dedup();
    keys
}

async fn scan(conn: &mut impl redis::aio::ConnectionLike, pattern: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .expect("SCAN");
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}

/// The URLs of a cluster's masters, from `CLUSTER NODES` (`<id> <ip:port@bus> <flags> ...`).
async fn masters(conn: &Redis) -> Vec<String> {
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut conn.clone())
        .await
        .expect("CLUSTER NODES");
    nodes
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let address = fields.nth(1)?;
            let flags = fields.next()?;
            let healthy = flags.split(',').any(|f| f == "master") && !flags.contains("fail");
            let address = address.split('@').next()?;
            healthy.then(|| format!("redis://{address}"))
        })
        .collect()
}

/// Deletes `keys`, a few hundred a command, so that a test that made many does not send one huge
/// DEL; on a cluster, one key a command (keys of different slots cannot share one).
pub async fn delete_keys(conn: &Redis, keys: &[String]) {
    let mut conn = conn.clone();
    let per_command = if conn.is_cluster() { 1 } else { 500 };
    for chunk in keys.chunks(per_command) {
        let _: u64 = redis::cmd("DEL")
            .arg(chunk)
            .query_async(&mut conn)
            .await
            .expect("DEL");
    }
}

/// Runs `test` with a fresh [`TestRedis`] (`what` names the crate), then deletes the keys it made,
/// also when it panics (the panic goes on afterwards), and checks that none came back: a test that
/// leaves a task writing would otherwise leave keys behind unnoticed.
pub async fn with_redis<F, Fut>(what: &str, test: F)
where
    F: FnOnce(TestRedis) -> Fut,
    Fut: Future<Output = ()>,
{
    let redis = TestRedis::new(what).await;
    let outcome = AssertUnwindSafe(test(redis.clone())).catch_unwind().await;
    redis.clean().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    assert!(redis.keys().await.is_empty(), "keys left after clean-up");
}
