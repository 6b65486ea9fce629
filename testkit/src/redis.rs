//! The test Redis. Tests share one server, so each works under a key prefix of its own and deletes
//! its keys when done; a test that needs Redis fails, naming the address, when there is none.

use redis::aio::ConnectionManager;
use std::time::Duration;

/// How long a test waits for Redis to answer before it says Redis is not there.
const CONNECT_WITHIN: Duration = Duration::from_secs(5);

/// The Redis the tests use: this machine's unless `WARREN_TEST_REDIS_URL` says otherwise.
pub fn url() -> String {
    std::env::var("WARREN_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A connection to the test Redis.
pub async fn connect() -> ConnectionManager {
    let url = url();
    let client = redis::Client::open(url.as_str())
        .unwrap_or_else(|e| panic!("bad WARREN_TEST_REDIS_URL {url}: {e}"));
    tokio::time::timeout(CONNECT_WITHIN, ConnectionManager::new(client))
        .await
        .unwrap_or_else(|_| panic!("Redis must be running at {url}: no answer"))
        .unwrap_or_else(|e| panic!("Redis must be running at {url}: {e}"))
}

/// One test's corner of the test Redis: a connection and a key prefix no other test uses.
#[derive(Clone)]
pub struct TestRedis {
    pub conn: ConnectionManager,
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

    /// Deletes every key under the prefix.
    pub async fn clean(&self) {
        let mut conn = self.conn.clone();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query_async(&mut conn)
            .await
            .unwrap();
        // A few hundred keys a command, so that a test that made many does not send one huge DEL.
        for chunk in keys.chunks(500) {
            let _: () = redis::cmd("DEL")
                .arg(chunk)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    }
}
