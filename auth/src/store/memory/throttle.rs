//! The throttles' counts in memory: fixed windows, like Redis counters with an expiry.

use super::deadline;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A count in a fixed window, like a Redis counter with an expiry.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub(super) count: u32,
    pub(super) ends: Instant,
}

impl Window {
    /// The count now: 0 once the window is over.
    pub(super) fn count(&self, now: Instant) -> u32 {
        if self.ends > now { self.count } else { 0 }
    }

    pub(super) fn retry_after(&self, now: Instant) -> Duration {
        self.ends
            .saturating_duration_since(now)
            .max(Duration::from_millis(1))
    }

    /// Counts one more, opening a window of `length` if none is open.
    pub(super) fn add(&mut self, now: Instant, length: Duration) {
        if self.ends <= now {
            *self = Window {
                count: 0,
                ends: deadline(now, length),
            };
        }
        self.count = self.count.saturating_add(1);
    }

    pub(super) fn take_back(&mut self) {
        self.count = self.count.saturating_sub(1);
    }
}

/// The live window under `key`, or a closed one.
pub(super) fn window<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, Window>,
    key: K,
    now: Instant,
) -> &mut Window {
    map.entry(key).or_insert(Window {
        count: 0,
        ends: now,
    })
}
