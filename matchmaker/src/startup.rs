//! How the service starts, the same way in `warren-matchmaker` and the all-in-one `warren`: its
//! store from where the deployment keeps state, and what it runs.

use crate::{MatchmakerConfig, MemoryStore, REDIS_PREFIX, RedisStore, TicketStore};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, BusError, ServeOptions};
use warren_runtime::{Started, Storage};

/// The service's store: in Redis under [`REDIS_PREFIX`] when there is Redis, otherwise in memory.
pub fn store(storage: &Storage) -> Arc<dyn TicketStore> {
    storage.store::<dyn TicketStore>(
        REDIS_PREFIX,
        |redis, prefix| Arc::new(RedisStore::new(redis, prefix)),
        || Arc::new(MemoryStore::new()),
    )
}

/// Runs the matching loop, the sweeper and the presence consumer (until `background` is
/// cancelled; a match under way is finished first), and answers `matchmaker.*` on `bus`.
pub async fn start(
    bus: &Bus,
    store: Arc<dyn TicketStore>,
    config: MatchmakerConfig,
    background: CancellationToken,
) -> Result<Started, BusError> {
    let loops =
        crate::serve_background(bus, Arc::clone(&store), config.clone(), background).await?;
    let server = crate::serve(bus, store, config, ServeOptions::default()).await?;
    Ok(Started {
        server,
        background: vec![loops],
    })
}
