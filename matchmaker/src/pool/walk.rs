//! The outward walk from one ticket over the unmatched ones of a pass: its candidates, nearest
//! in rating first, ending where no ticket can be compatible.

use super::ranked::{NIL, Ranked};
use std::cmp::Ordering;

/// The outward walk from one ticket over the unmatched ones, yielding candidates by increasing
/// distance in rating, the older first at equal distance, and ending at the pool's reach.
///
/// Walking right meets equal ratings oldest first (the rating order breaks ties by age); walking
/// left meets them newest first, so the left side collects each run of equal ratings before
/// yielding from it. Its buffer is kept between walks to avoid allocating per ticket.
#[derive(Default)]
pub(super) struct Walk {
    from: usize,
    /// Next position to look at on the left, or `NIL`.
    left: usize,
    /// A run of equal ratings met on the left, newest first, so `pop` gives the oldest.
    left_run: Vec<usize>,
    /// Next position to look at on the right, or `NIL`.
    right: usize,
}

impl Walk {
    pub(super) fn start(&mut self, pool: &Ranked, from: usize) {
        self.from = from;
        self.left = pool.prev[from];
        self.left_run.clear();
        self.right = pool.next[from];
    }

    pub(super) fn next_candidate(&mut self, pool: &Ranked) -> Option<usize> {
        let origin = pool.rating[self.from];
        self.fill_left_run(pool, origin);
        let left = self.left_run.last().copied();
        let right =
            Some(self.right).filter(|&r| r != NIL && within(pool.rating[r] - origin, pool.reach));
        let take_left = match (left, right) {
            (None, None) => return None,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                let by_distance = (origin - pool.rating[l]).total_cmp(&(pool.rating[r] - origin));
                by_distance.then(pool.age[l].cmp(&pool.age[r])) == Ordering::Less
            }
        };
        if take_left {
            self.left_run.pop()
        } else {
            let r = self.right;
            self.right = pool.next[r];
            Some(r)
        }
    }

    fn fill_left_run(&mut self, pool: &Ranked, origin: f64) {
        if !self.left_run.is_empty()
            || self.left == NIL
            || !within(origin - pool.rating[self.left], pool.reach)
        {
            return;
        }
        let run_rating = pool.rating[self.left];
        while self.left != NIL && pool.rating[self.left] == run_rating {
            self.left_run.push(self.left);
            self.left = pool.prev[self.left];
        }
    }
}

/// Whether a distance is inside the reach; a NaN reach (a NaN window setting) reaches nobody.
fn within(distance: f64, reach: f64) -> bool {
    distance <= reach
}
