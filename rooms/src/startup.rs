//! How the service starts, the same way in `warren-rooms` and the all-in-one `warren`: its store
//! from where the deployment keeps state, and what it runs.

use crate::{MemoryStore, REDIS_PREFIX, RedisStore, RoomStore};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, BusError, ServeOptions};
use warren_runtime::{Started, Storage};

/// What the rooms service is told by its settings (nothing yet: a setting added to
/// `RoomsSettings` lands here).
#[derive(Debug, Clone)]
pub struct RoomsConfig {}

/// The design's defaults, as the settings table declares them.
impl Default for RoomsConfig {
    fn default() -> Self {
        Self::from(&warren_runtime::defaults::<warren_runtime::RoomsSettings>())
    }
}

impl From<&warren_runtime::RoomsSettings> for RoomsConfig {
    fn from(_: &warren_runtime::RoomsSettings) -> Self {
        Self {}
    }
}

/// The service's store: in Redis under [`REDIS_PREFIX`] when there is Redis, otherwise in memory.
pub fn store(storage: &Storage) -> Arc<dyn RoomStore> {
    storage.store::<dyn RoomStore>(
        REDIS_PREFIX,
        |redis, prefix| Arc::new(RedisStore::new(redis, prefix)),
        || Arc::new(MemoryStore::new()),
    )
}

/// Reports its metrics and completes pending starts (both until `background` is cancelled, the
/// completer finishing what it holds), and answers `rooms.*` on `bus`.
pub async fn start(
    bus: &Bus,
    store: Arc<dyn RoomStore>,
    _config: RoomsConfig,
    background: CancellationToken,
) -> Result<Started, BusError> {
    let metrics = crate::report_metrics(bus, Arc::clone(&store), background.clone());
    let starts = crate::serve_starts(bus, Arc::clone(&store), background);
    let server = crate::serve(bus, store, ServeOptions::default()).await?;
    Ok(Started {
        server,
        background: vec![metrics, starts],
    })
}
