//! The rating window: how far from a ticket's rating a partner may be, widening with the time the
//! ticket has waited, and the compatibility of two tickets that follows from their windows.

/// The rating window: how far apart two ratings may be, widening with waiting time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// The window of a ticket that has just started waiting.
    pub start: f64,
    /// How much the window widens per second waited.
    pub growth_per_sec: f64,
    /// The widest the window gets.
    pub max: f64,
}

impl Window {
    /// `min(start + growth × seconds waited, max)`; never below `start`, except that when `max` is
    /// below `start`, `max` wins.
    pub fn at(&self, waited_ms: u64) -> f64 {
        // Lossy for waits beyond 2^53 ms, which is hundreds of thousands of years.
        let waited_secs = waited_ms as f64 / 1000.0;
        let grown = self.start + self.growth_per_sec * waited_secs;
        grown.max(self.start).min(self.max)
    }
}

impl Default for Window {
    /// The documented defaults of `--rating-window`, `--rating-window-growth` and
    /// `--rating-window-max`.
    fn default() -> Self {
        Self {
            start: 50.0,
            growth_per_sec: 10.0,
            max: 400.0,
        }
    }
}

/// Whether two tickets may play together: their ratings differ by at most the wider of their
/// windows.
pub fn compatible(rating_a: f64, window_a: f64, rating_b: f64, window_b: f64) -> bool {
    (rating_a - rating_b).abs() <= window_a.max(window_b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_grows_with_waiting_and_stops_at_max() {
        let w = Window::default();
        assert_eq!(w.at(0), 50.0);
        assert_eq!(w.at(500), 55.0);
        assert_eq!(w.at(10_000), 150.0);
        assert_eq!(w.at(35_000), 400.0);
        assert_eq!(w.at(10_000_000), 400.0);
        assert_eq!(w.at(u64::MAX), 400.0);
    }

    #[test]
    fn window_never_below_start_but_a_smaller_max_wins() {
        let shrinking = Window {
            start: 50.0,
            growth_per_sec: -10.0,
            max: 400.0,
        };
        assert_eq!(shrinking.at(10_000), 50.0);
        let capped = Window {
            start: 50.0,
            growth_per_sec: 10.0,
            max: 20.0,
        };
        assert_eq!(capped.at(0), 20.0);
        assert_eq!(capped.at(60_000), 20.0);
    }
}
