//! How the service starts, the same way in `warren-auth` and the all-in-one `warren`: its store
//! from where the deployment keeps state, and what it runs.

use crate::{AuthConfig, AuthStore, MemoryStore, REDIS_PREFIX, RedisStore};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, BusError};
use warren_runtime::{Started, Storage};

/// The service's store: in Redis under [`REDIS_PREFIX`] when there is Redis, otherwise in memory.
pub fn store(storage: &Storage) -> Arc<dyn AuthStore> {
    storage.store::<dyn AuthStore>(
        REDIS_PREFIX,
        |redis, prefix| Arc::new(RedisStore::new(redis, prefix)),
        || Arc::new(MemoryStore::new()),
    )
}

/// Answers `auth.*` on `bus` with [`crate::serve_options`]. Auth has no background work;
/// `_background` is taken so that every service starts alike.
pub async fn start(
    bus: &Bus,
    store: Arc<dyn AuthStore>,
    config: AuthConfig,
    _background: CancellationToken,
) -> Result<Started, BusError> {
    let server = crate::serve(bus, store, config, crate::serve_options()).await?;
    Ok(server.into())
}
