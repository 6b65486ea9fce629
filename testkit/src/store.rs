//! A service's store as its tests run it: in memory, or in the test Redis under a prefix of the
//! test's own whose keys go when the test is done; the same scenarios run on both.

use crate::redis::TestRedis;
use std::sync::Arc;
use warren_runtime::Redis;

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Redis,
}

/// A store (`S`, usually a store trait object), and for Redis the test's corner of it.
pub struct TestStore<S: ?Sized> {
    pub store: Arc<S>,
    redis: Option<TestRedis>,
}

impl<S: ?Sized> TestStore<S> {
    /// `memory()` for [`Backend::Memory`]; for [`Backend::Redis`], `redis` over a connection and a
    /// fresh prefix `test-<what>-<uuid>:`.
    pub async fn new(
        backend: Backend,
        what: &str,
        memory: impl FnOnce() -> Arc<S>,
        redis: impl FnOnce(Redis, String) -> Arc<S>,
    ) -> Self {
        match backend {
            Backend::Memory => Self {
                store: memory(),
                redis: None,
            },
            Backend::Redis => {
                let corner = TestRedis::new(what).await;
                Self {
                    store: redis(corner.conn.clone(), corner.prefix.clone()),
                    redis: Some(corner),
                }
            }
        }
    }

    /// Deletes the test's Redis keys.
    pub async fn clean(self) {
        if let Some(redis) = self.redis {
            redis.clean().await;
        }
    }
}
