//! Latency percentiles and the number formats the reports share.

use std::collections::HashMap;
use std::time::Duration;

/// Percentiles of a set of latencies (nearest rank).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    pub count: usize,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Percentiles {
    /// `None` for no samples.
    pub fn of(mut samples: Vec<Duration>) -> Option<Self> {
        samples.sort_unstable();
        let max = *samples.last()?;
        let count = samples.len();
        let rank = |p: usize| samples[(count * p).div_ceil(100).clamp(1, count) - 1];
        Some(Self {
            count,
            p50: rank(50),
            p90: rank(90),
            p99: rank(99),
            max,
        })
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {}  p90 {}  p99 {}  max {}",
            millis(self.p50),
            millis(self.p90),
            millis(self.p99),
            millis(self.max)
        )
    }
}

/// `12.3 ms`.
pub fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// `123.4 MiB`.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// `12,345` (rounded; negative numbers keep their sign).
pub fn thousands(value: f64) -> String {
    let rounded = value.round();
    let digits = format!("{}", rounded.abs() as u64);
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if rounded < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// Counts of each distinct reason, most frequent first.
pub fn tally(reasons: impl IntoIterator<Item = String>) -> Vec<(String, usize)> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for reason in reasons {
        *counts.entry(reason).or_default() += 1;
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<_> = (1..=200).rev().map(Duration::from_millis).collect();
        let p = Percentiles::of(samples).unwrap_or_else(|| unreachable!());
        assert_eq!(p.count, 200);
        assert_eq!(p.p50, Duration::from_millis(100));
        assert_eq!(p.p90, Duration::from_millis(180));
        assert_eq!(p.p99, Duration::from_millis(198));
        assert_eq!(p.max, Duration::from_millis(200));
        let one = Percentiles::of(vec![Duration::from_millis(7)]);
        assert_eq!(
            one.map(|p| (p.p50, p.p99)),
            Some((Duration::from_millis(7), Duration::from_millis(7)))
        );
        assert_eq!(Percentiles::of(Vec::new()), None);
    }

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(12_345.6), "12,346");
        assert_eq!(thousands(-1_234_567.0), "-1,234,567");
        assert_eq!(mib(3 * 1024 * 1024 / 2), "1.5 MiB");
        assert_eq!(millis(Duration::from_micros(12_345)), "12.3 ms");
    }

    #[test]
    fn reasons_are_tallied_most_frequent_first() {
        let reasons = ["b", "a", "b", "c", "b", "a"].map(String::from);
        assert_eq!(
            tally(reasons),
            vec![("b".into(), 3), ("a".into(), 2), ("c".into(), 1)]
        );
    }
}
