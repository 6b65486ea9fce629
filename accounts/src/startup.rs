//! How the service starts, the same way in `warren-accounts` and the all-in-one `warren`: its
//! store from where the deployment keeps state, and what it runs.

use crate::{AccountStore, MemoryStore, REDIS_PREFIX, RedisStore};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, BusError, ServeOptions};
use warren_runtime::{Started, Storage};

/// What the accounts service is told by its settings (nothing yet: a setting added to
/// `AccountsSettings` lands here).
#[derive(Debug, Clone)]
pub struct AccountsConfig {}

/// The design's defaults, as the settings table declares them.
impl Default for AccountsConfig {
    fn default() -> Self {
        Self::from(&warren_runtime::defaults::<warren_runtime::AccountsSettings>())
    }
}

impl From<&warren_runtime::AccountsSettings> for AccountsConfig {
    fn from(_: &warren_runtime::AccountsSettings) -> Self {
        Self {}
    }
}

/// The service's store: in Redis under [`REDIS_PREFIX`] when there is Redis, otherwise in memory.
pub fn store(storage: &Storage) -> Arc<dyn AccountStore> {
    storage.store::<dyn AccountStore>(
        REDIS_PREFIX,
        |redis, prefix| Arc::new(RedisStore::new(redis, prefix)),
        || Arc::new(MemoryStore::new()),
    )
}

/// Applies the sessions' results to `store` (until `background` is cancelled, finishing the one
/// it holds), then answers `accounts.*` on `bus`.
pub async fn start(
    bus: &Bus,
    store: Arc<dyn AccountStore>,
    _config: AccountsConfig,
    background: CancellationToken,
) -> Result<Started, BusError> {
    let results = crate::serve_results(bus, Arc::clone(&store), background).await?;
    let server = crate::serve(bus, store, ServeOptions::default()).await?;
    Ok(Started {
        server,
        background: vec![results],
    })
}
