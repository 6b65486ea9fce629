//! The matchmaker's metrics, named once here and declared when its background work starts, so
//! that each is on the first scrape of `/metrics` and a dashboard panel over it has data before
//! the first search.
//!
//! Their labels are a pool's mode and region (and match size), and a region is whatever a client
//! names: no pool is known at start, and none is made up. What is declared is one series of each
//! without labels, which no pool ever uses: a queue length of 0, no waits, no matches. It makes
//! each name exist and adds nothing to any sum; the pools' own series appear with their first
//! ticket or match.

use warren_bus::series::histogram;

/// Tickets waiting in each pool, read from the store at each scrape (see `queues.rs`).
pub const QUEUE_LENGTH: &str = "warren_matchmaker_queue_length";
/// How long matched tickets waited, by mode and region.
pub const WAIT_SECONDS: &str = "warren_matchmaker_wait_seconds";
/// Matches made, by mode and region.
pub const MATCHES: &str = "warren_matchmaker_matches_total";

/// Declares the unlabelled series above. Declaring again changes no value.
pub(crate) fn declare() {
    metrics::gauge!(QUEUE_LENGTH).increment(0.0);
    histogram(WAIT_SECONDS, &[]);
    metrics::counter!(MATCHES).increment(0);
}
