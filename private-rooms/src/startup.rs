//! How the service starts, the same way in `warren-private-rooms` and the all-in-one `warren`:
//! its store from where the deployment keeps state, and what it runs.

use crate::{MemoryStore, PrivateRoomStore, PrivateRoomsConfig, REDIS_PREFIX, RedisStore};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, BusError, ServeOptions};
use warren_runtime::{Started, Storage};

/// The service's store: in Redis under [`REDIS_PREFIX`] when there is Redis, otherwise in memory.
pub fn store(storage: &Storage) -> Arc<dyn PrivateRoomStore> {
    storage.store::<dyn PrivateRoomStore>(
        REDIS_PREFIX,
        |redis, prefix| Arc::new(RedisStore::new(redis, prefix)),
        || Arc::new(MemoryStore::new()),
    )
}

/// Runs the sweeper of expired rooms and the completer of pending starts (both until
/// `background` is cancelled), and answers `private_rooms.*` on `bus`.
pub async fn start(
    bus: &Bus,
    store: Arc<dyn PrivateRoomStore>,
    config: PrivateRoomsConfig,
    background: CancellationToken,
) -> Result<Started, BusError> {
    let expiry = crate::serve_expiry(bus, Arc::clone(&store), config.clone(), background.clone());
    let starts = crate::serve_starts(bus, Arc::clone(&store), config.clone(), background);
    let server = crate::serve(bus, store, config, ServeOptions::default()).await?;
    Ok(Started {
        server,
        background: vec![expiry, starts],
    })
}
