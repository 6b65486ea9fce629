//! Shared test helpers: the real Redis the tests use (never skipped), a key prefix of each test's
//! own, and removing that test's keys afterwards, whether it passed or not; a RabbitMQ vhost of a
//! test's own ([`broker`]).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod broker;

use std::future::Future;
use std::ops::Deref;
use warren_accounts::RedisStore;

/// The Redis the tests use; the local one unless `WARREN_TEST_REDIS_URL` says otherwise.
pub fn redis_url() -> String {
    warren_testkit::redis::url()
}

/// One test's corner of Redis ([`warren_testkit::TestRedis`]), with the accounts store over it.
#[derive(Clone)]
pub struct TestRedis(warren_testkit::TestRedis);

impl Deref for TestRedis {
    type Target = warren_testkit::TestRedis;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl TestRedis {
    /// A store whose keys all start with this test's prefix.
    pub fn store(&self) -> RedisStore {
        RedisStore::new(self.conn.clone(), self.prefix.clone())
    }
}

/// Runs `test` against the real Redis with a fresh prefix, then deletes the keys it made, also
/// when it panics (the panic goes on afterwards). Fails loudly if Redis does not answer.
pub async fn with_redis<F, Fut>(test: F)
where
    F: FnOnce(TestRedis) -> Fut,
    Fut: Future<Output = ()>,
{
    warren_testkit::redis::with_redis("accounts", |redis| test(TestRedis(redis))).await;
}
