//! The tickets of one matching pass in rating order, with the unmatched ones in a doubly linked
//! list over that order: removing a matched ticket is O(1), and its neighbours in the list are
//! the nearest unmatched ratings on either side, where a walk for partners starts.

use super::walk::Walk;
use super::{Waiting, Window, compatible};

/// Sentinel for "no neighbour" in the linked list.
pub(super) const NIL: usize = usize::MAX;

/// The matchable tickets of a pass, in rating order; every `Vec` is indexed by that position.
pub(super) struct Ranked {
    /// Index into the caller's slice.
    pub(super) ticket: Vec<usize>,
    pub(super) rating: Vec<f64>,
    pub(super) window: Vec<f64>,
    /// Rank by waiting time, 0 for the oldest: the fairness order and every tie-break.
    pub(super) age: Vec<usize>,
    /// Positions, oldest first.
    pub(super) by_age: Vec<usize>,
    /// The linked list of unmatched tickets: neighbours in rating order, or `NIL`.
    pub(super) prev: Vec<usize>,
    pub(super) next: Vec<usize>,
    pub(super) matched: Vec<bool>,
    pub(super) remaining: usize,
    /// The widest window of any ticket: no ticket further than this from another is compatible
    /// with it, whichever of the two windows is wider.
    pub(super) reach: f64,
}

impl Ranked {
    pub(super) fn new(tickets: &[Waiting], window: &Window, now: u64) -> Self {
        // Oldest first; ties by ticket id, then by index, so that even duplicate ids order the
        // same way every time.
        let mut oldest_first: Vec<usize> = (0..tickets.len())
            .filter(|&i| tickets[i].rating.is_finite())
            .collect();
        oldest_first.sort_unstable_by(|&a, &b| {
            let (ta, tb) = (&tickets[a], &tickets[b]);
            ta.created_at
                .cmp(&tb.created_at)
                .then_with(|| ta.ticket_id.cmp(&tb.ticket_id))
                .then(a.cmp(&b))
        });

        // Adding 0.0 turns -0.0 into 0.0, so that equal ratings sort as equals below.
        let rating_of = |i: usize| tickets[i].rating + 0.0;
        // Within equal ratings the older ticket comes first, which the walk relies on.
        let mut by_rating: Vec<usize> = (0..oldest_first.len()).collect();
        by_rating.sort_unstable_by(|&a, &b| {
            rating_of(oldest_first[a])
                .total_cmp(&rating_of(oldest_first[b]))
                .then(a.cmp(&b))
        });

        let n = by_rating.len();
        let ticket: Vec<usize> = by_rating.iter().map(|&rank| oldest_first[rank]).collect();
        let rating: Vec<f64> = ticket.iter().map(|&i| rating_of(i)).collect();
        let window: Vec<f64> = ticket
            .iter()
            .map(|&i| window.at(now.saturating_sub(tickets[i].created_at)))
            .collect();
        let mut by_age = vec![0; n];
        for (position, &rank) in by_rating.iter().enumerate() {
            by_age[rank] = position;
        }
        let reach = window.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Self {
            ticket,
            rating,
            window,
            age: by_rating,
            by_age,
            prev: (0..n).map(|p| p.checked_sub(1).unwrap_or(NIL)).collect(),
            next: (0..n)
                .map(|p| if p + 1 < n { p + 1 } else { NIL })
                .collect(),
            matched: vec![false; n],
            remaining: n,
            reach,
        }
    }

    pub(super) fn remove(&mut self, p: usize) {
        let (prev, next) = (self.prev[p], self.next[p]);
        if prev != NIL {
            self.next[prev] = next;
        }
        if next != NIL {
            self.prev[next] = prev;
        }
        self.matched[p] = true;
        self.remaining -= 1;
    }

    fn compatible(&self, a: usize, b: usize) -> bool {
        compatible(
            self.rating[a],
            self.window[a],
            self.rating[b],
            self.window[b],
        )
    }

    /// Chooses `need` unmatched partners for `t` into `chosen`: candidates nearest in rating first
    /// (the older first at equal distance), each taken when compatible with `t` and with everyone
    /// already chosen. Returns whether `need` were found; `chosen` holds them if so.
    pub(super) fn partners_for(
        &self,
        t: usize,
        need: usize,
        walk: &mut Walk,
        chosen: &mut Vec<usize>,
    ) -> bool {
        chosen.clear();
        walk.start(self, t);
        while let Some(candidate) = walk.next_candidate(self) {
            if self.compatible(t, candidate)
                && chosen
                    .iter()
                    .all(|&other| self.compatible(other, candidate))
            {
                chosen.push(candidate);
                if chosen.len() == need {
                    return true;
                }
            }
        }
        false
    }
}
