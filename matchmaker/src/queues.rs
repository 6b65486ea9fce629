//! The queue-length gauge, read from the store at each scrape of `/metrics`: every instance
//! reports every pool, whichever instance matched it last, and a pool that emptied reads 0 rather
//! than keeping its last length.

use crate::store::TicketStore;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const GAUGE: &str = "warren_matchmaker_queue_length";

/// Keeps `warren_matchmaker_queue_length{mode, region, players_per_match}` true at each scrape,
/// until `stop` is cancelled.
pub fn report(store: Arc<dyn TicketStore>, stop: CancellationToken) -> JoinHandle<()> {
    // The pools reported last time: one that is gone now is set to 0.
    let reported = Arc::new(Mutex::new(HashSet::<String>::new()));
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
            let mut reported = reported.lock().unwrap_or_else(PoisonError::into_inner);
            let now: HashSet<String> = lengths.iter().map(|(pool, _)| pool.clone()).collect();
            for gone in reported.difference(&now) {
                set(gone, 0);
            }
            for (pool, length) in &lengths {
                set(pool, *length);
            }
            *reported = now;
        }
    })
}

fn set(pool: &str, length: u64) {
    let Some((mode, region, players)) = parts(pool) else {
        return;
    };
    metrics::gauge!(GAUGE, "mode" => mode, "region" => region, "players_per_match" => players)
        .set(length as f64);
}

/// A pool's name (see [`crate::store::pool_key`]) as its mode, region and match size.
fn parts(pool: &str) -> Option<(String, String, String)> {
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
