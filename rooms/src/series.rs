//! The rooms service's metrics, named once here and kept at each scrape of `/metrics` by one
//! sampler, so that every series is on the first scrape: the open rooms read from the store, and
//! the rooms created by game mode, declared at 0 as soon as `sessions` has named its modes. A
//! dashboard panel then has data before the first room, and `rate()` and `increase()` count that
//! first room too.

use crate::store::RoomStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, CallOptions};
use warren_contracts::Empty;
use warren_contracts::sessions::Modes;

/// Public rooms created by this instance, by game mode.
pub const CREATED: &str = "warren_rooms_created_total";
/// Public rooms listed (open, with a free seat), all modes, read from the store.
pub const OPEN: &str = "warren_rooms_open";

/// How long a scrape waits for `sessions` to name its modes; well within the scrape's own wait
/// for a sampler, so the open rooms are still read when it does not answer.
const MODES_TIMEOUT: Duration = Duration::from_millis(300);

/// Keeps the rooms metrics true at each scrape, until `stop` is cancelled: `warren_rooms_open`
/// as `store` counts it (a failed read leaves it as it was), and, until `sessions` has answered
/// once, its game modes asked for and a created-rooms counter declared for each. A room's mode is
/// one of them (`rooms.create` asks `sessions` the same), so these are all the labels; modes are
/// not known before `sessions` answers, so none is made up.
pub fn report_metrics(
    bus: &Bus,
    store: Arc<dyn RoomStore>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let bus = bus.clone();
    let declared = Arc::new(AtomicBool::new(false));
    warren_runtime::metrics::sample_on_scrape_until(stop, move || {
        let (bus, store, declared) = (bus.clone(), Arc::clone(&store), Arc::clone(&declared));
        async move {
            match store.count_listed().await {
                Ok(open) => metrics::gauge!(OPEN).set(open as f64),
                Err(error) => tracing::debug!(%error, gauge = OPEN, "cannot read a gauge"),
            }
            if !declared.load(Ordering::Relaxed) && declare_created(&bus).await {
                declared.store(true, Ordering::Relaxed);
            }
        }
    })
}

/// Declares the created-rooms counter of each mode `sessions` runs; whether it answered.
async fn declare_created(bus: &Bus) -> bool {
    let options = CallOptions::default().timeout(MODES_TIMEOUT);
    match bus.call::<Modes>(&Empty {}, options).await {
        Ok(modes) => {
            for mode in modes {
                metrics::counter!(CREATED, "mode" => mode.mode).increment(0);
            }
            true
        }
        Err(error) => {
            tracing::debug!(%error, "game modes not known yet; rooms created counted from the first");
            false
        }
    }
}
