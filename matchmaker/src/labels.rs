//! Metric labels that come from clients, bounded.
//!
//! A region is whatever a client names (1 to 32 characters of `a-z0-9-`): used as a label as is,
//! every made-up region would be a new series kept by the exporter for the life of the process.
//! The first [`MAX_REGIONS`] regions this process sees keep their names; the rest are counted
//! as [`OTHER`].

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// Regions with a label of their own, per process.
pub const MAX_REGIONS: usize = 32;

/// The label of every region past the first [`MAX_REGIONS`].
pub const OTHER: &str = "other";

/// The label for `region`.
pub fn region(region: &str) -> String {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let mut seen = warren_bus::lock(SEEN.get_or_init(Mutex::default));
    if seen.contains(region) {
        return region.to_owned();
    }
    if seen.len() < MAX_REGIONS {
        seen.insert(region.to_owned());
        return region.to_owned();
    }
    OTHER.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_past_the_bound_share_one_label() {
        // The set is per process: other tests may have used some of the slots already.
        let names: Vec<String> = (0..MAX_REGIONS * 2)
            .map(|n| format!("made-up-{n}"))
            .collect();
        let labels: Vec<String> = names.iter().map(|name| region(name)).collect();
        let distinct: HashSet<&String> = labels.iter().collect();
        assert!(
            distinct.len() <= MAX_REGIONS + 1,
            "{} labels",
            distinct.len()
        );
        assert!(labels.iter().any(|label| label == OTHER));
        for (name, label) in names.iter().zip(&labels) {
            assert_eq!(region(name), *label, "a region keeps its label");
        }
    }
}
