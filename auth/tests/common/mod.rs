//! Shared test helpers: the Redis the tests use (they fail loudly without it), a key prefix of each
//! test's own that is emptied when the test ends, and running a scenario against either store.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod accounts;

use std::future::Future;
use std::sync::Arc;
use warren_auth::{AuthStore, MemoryStore, RedisStore};
use warren_runtime::Redis;
use warren_testkit::TestRedis;

/// The Redis the tests use; this machine's unless `WARREN_TEST_REDIS_URL` says otherwise.
pub fn redis_url() -> String {
    warren_testkit::redis::url()
}

/// A connection to the test Redis; panics, naming the address, when there is none.
pub async fn redis_connection() -> Redis {
    warren_testkit::redis::connect().await
}

/// A key prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("test-auth-{}:", uuid::Uuid::new_v4().simple())
}

fn corner(conn: &Redis, prefix: &str) -> TestRedis {
    TestRedis {
        conn: conn.clone(),
        prefix: prefix.to_owned(),
    }
}

/// Every key under `prefix`.
pub async fn keys_under(conn: &mut Redis, prefix: &str) -> Vec<String> {
    corner(conn, prefix).keys().await
}

/// Deletes every key under `prefix`.
pub async fn delete_keys(conn: &mut Redis, prefix: &str) {
    corner(conn, prefix).clean().await;
}

/// Runs `scenario` on a fresh in-memory store.
pub async fn with_memory<F, Fut>(scenario: F)
where
    F: FnOnce(Arc<dyn AuthStore>) -> Fut,
    Fut: Future<Output = ()>,
{
    scenario(Arc::new(MemoryStore::new())).await;
}

/// Runs `scenario` on a Redis store under a prefix of its own, then deletes the prefix's keys
/// whether the scenario passed or panicked.
pub async fn with_redis<F, Fut>(scenario: F)
where
    F: FnOnce(Arc<dyn AuthStore>, Redis, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut conn = redis_connection().await;
    let prefix = unique_prefix();
    let store = Arc::new(RedisStore::new(conn.clone(), prefix.clone()));
    let outcome = tokio::spawn(scenario(store, conn.clone(), prefix.clone())).await;
    delete_keys(&mut conn, &prefix).await;
    assert!(
        keys_under(&mut conn, &prefix).await.is_empty(),
        "keys left under {prefix}"
    );
    if let Err(error) = outcome {
        if error.is_panic() {
            std::panic::resume_unwind(error.into_panic());
        }
        panic!("scenario did not finish: {error}");
    }
}

/// Runs each scenario `async fn name(store: Arc<dyn AuthStore>)` once on a `MemoryStore` and once
/// on a `RedisStore`.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::common::with_memory(super::$name).await;
                }
            )*
        }
        mod redis_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::common::with_redis(|store, _, _| super::$name(store)).await;
                }
            )*
        }
    };
}
