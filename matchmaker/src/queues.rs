//! The queue-length gauge, read from the store at each scrape of `/metrics`: every instance
//! reports every pool, whichever instance matched it last, and a pool that emptied reads 0 rather
//! than keeping its last length.

use crate::series::QUEUE_LENGTH as GAUGE;
use crate::store::TicketStore;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Keeps `warren_matchmaker_queue_length{mode, region, players_per_match}` true at each scrape,
/// until `stop` is cancelled.
pub fn report(store: Arc<dyn TicketStore>, stop: CancellationToken) -> JoinHandle<()> {
    // The pools reported last time: one that is gone now is set to 0.
    let reported = Arc::new(Mutex::new(HashSet::<Labels>::new()));
    warren_runtime::metrics::sample_on_scrape_until(stop, move || {
        let (store, reported) = (Arc::clone(&store), Arc::clone(&reported));
        async move {
            let lengths = match store.queue_lengths().await {
                Ok(lengths) => lengths,
                Err(error) => {
                    tracing::debug!(%error, "cannot read the queue lengths");
                    return;
                }
            };
            // Pools whose regions share the label "other" add up.
            let mut now: HashMap<Labels, u64> = HashMap::new();
            for (pool, length) in &lengths {
                if let Some(labels) = labels(pool) {
                    *now.entry(labels).or_default() += length;
                }
            }
            let mut reported = warren_bus::lock(&reported);
            for gone in reported.iter().filter(|labels| !now.contains_key(*labels)) {
                set(gone, 0);
            }
            for (labels, length) in &now {
                set(labels, *length);
            }
            *reported = now.into_keys().collect();
        }
    })
}

/// mode, region label, match size.
type Labels = (String, String, String);

fn set((mode, region, players): &Labels, length: u64) {
    metrics::gauge!(GAUGE, "mode" => mode.clone(), "region" => region.clone(), "players_per_match" => players.clone())
        .set(length as f64);
}

/// A pool's labels: its mode, its region's label and its match size.
fn labels(pool: &str) -> Option<Labels> {
    let (mode, region, players) = parts(pool)?;
    Some((mode, crate::labels::region(&region), players))
}

/// A pool's name (see [`crate::store::pool_key`]) as its mode, region and match size.
fn parts(pool: &str) -> Option<Labels> {
    let mut from_the_end = pool.rsplitn(3, '|');
    let players = from_the_end.next()?;
    let region = from_the_end.next()?;
    let mode = from_the_end.next()?;
    Some((mode.to_owned(), region.to_owned(), players.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::pool_key;

    #[test]
    fn a_pool_name_gives_its_labels() {
        assert_eq!(
            parts(&pool_key("duel", "eu", 2)),
            Some(("duel".into(), "eu".into(), "2".into()))
        );
        assert_eq!(parts("no-separators"), None);
    }
}
