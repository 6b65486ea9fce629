//! Shared test helpers: the real Redis the tests use (never skipped), a key prefix of each test's
//! own, and removing that test's keys afterwards, whether it passed or not; a RabbitMQ vhost of a
//! test's own ([`broker`]).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod broker;

use futures_util::FutureExt;
use redis::aio::ConnectionManager;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use warren_accounts::RedisStore;

/// The Redis the tests use; the local one unless `WARREN_TEST_REDIS_URL` says otherwise.
pub fn redis_url() -> String {
    std::env::var("WARREN_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// One test's corner of Redis: a connection and a key prefix no other test uses.
#[derive(Clone)]
pub struct TestRedis {
    pub conn: ConnectionManager,
    pub prefix: String,
}

impl TestRedis {
    /// A store whose keys all start with this test's prefix.
    pub fn store(&self) -> RedisStore {
        RedisStore::new(self.conn.clone(), self.prefix.clone())
    }

    /// Every key under this test's prefix, sorted.
    pub async fn keys(&self) -> Vec<String> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}*", self.prefix);
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .expect("SCAN");
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys
    }

    /// Deletes every key under this test's prefix.
    pub async fn clean_up(&self) {
        let keys = self.keys().await;
        if keys.is_empty() {
            return;
        }
        let mut conn = self.conn.clone();
        let _: u64 = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .expect("DEL");
        assert!(self.keys().await.is_empty(), "keys left after clean-up");
    }
}

/// Runs `test` against the real Redis with a fresh prefix, then deletes the keys it made, also
/// when it panics (the panic goes on afterwards). Fails loudly if Redis does not answer.
pub async fn with_redis<F, Fut>(test: F)
where
    F: FnOnce(TestRedis) -> Fut,
    Fut: Future<Output = ()>,
{
    let url = redis_url();
    let client = redis::Client::open(url.as_str())
        .unwrap_or_else(|e| panic!("bad WARREN_TEST_REDIS_URL {url}: {e}"));
    let conn = ConnectionManager::new(client).await.unwrap_or_else(|e| {
        panic!("Redis must be running at {url} (or set WARREN_TEST_REDIS_URL): {e}")
    });
    let redis = TestRedis {
        conn,
        prefix: format!("test-accounts-{}:", uuid::Uuid::new_v4().simple()),
    };
    let outcome = AssertUnwindSafe(test(redis.clone())).catch_unwind().await;
    redis.clean_up().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
