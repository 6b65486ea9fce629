//! Where a service keeps its state: in Redis under the deployment's namespace, or in this
//! process's memory. Each service turns it into its store with its own `store()`, so the
//! service binary and the all-in-one `warren` build the same store the same way.

use warren_bus::journal::ResumeConfig;

/// The Redis connection a service's store uses, if any, and where its keys go.
#[derive(Clone)]
pub struct Storage {
    /// `None`: state in memory, gone with the process.
    pub redis: Option<crate::Redis>,
    /// Put before every key, so that several deployments can share one Redis.
    pub namespace: String,
    /// How much of each user's events the journal keeps (for a store that numbers events in its
    /// own writes, as sessions' does).
    pub resume: ResumeConfig,
}

impl Storage {
    /// State in memory.
    pub fn memory() -> Self {
        Self {
            redis: None,
            namespace: String::new(),
            resume: ResumeConfig::default(),
        }
    }

    /// The key prefix of a service whose own prefix is `service_prefix` (e.g. `warren:rooms:`).
    pub fn prefix(&self, service_prefix: &str) -> String {
        format!("{}{service_prefix}", self.namespace)
    }

    /// A service's store: `in_redis(connection, key prefix)` when there is Redis, with the
    /// prefix `service_prefix` under the namespace; otherwise `in_memory()`.
    pub fn store<S: ?Sized>(
        &self,
        service_prefix: &str,
        in_redis: impl FnOnce(crate::Redis, String) -> std::sync::Arc<S>,
        in_memory: impl FnOnce() -> std::sync::Arc<S>,
    ) -> std::sync::Arc<S> {
        match &self.redis {
            Some(redis) => in_redis(redis.clone(), self.prefix(service_prefix)),
            None => in_memory(),
        }
    }

    /// The deployment's event journal in this Redis, when there is one.
    pub fn journal(&self) -> Option<crate::journal::RedisJournal> {
        self.redis
            .as_ref()
            .map(|redis| crate::connect::redis_journal(redis, &self.namespace, self.resume))
    }
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("redis", &self.redis.is_some())
            .field("namespace", &self.namespace)
            .finish()
    }
}
