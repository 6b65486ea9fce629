//! The matching rules, as pure logic over one pool of waiting tickets.
//!
//! A pool is every ticket that could end up in the same session: same game mode, region and
//! players per match. [`find_matches`] makes one matching pass over it; the service runs a pass
//! whenever the pool changes or on a timer, and turns each group into a session. Nothing here waits,
//! allocates per ticket beyond a few arrays, or touches storage, so a pass over a large pool is
//! cheap and the rules are testable on their own.
//!
//! The rules:
//! - two tickets are compatible when their ratings differ by at most the wider of their two
//!   windows, a ticket's window widening with the time it has waited ([`Window::at`]);
//! - a group is valid when every pair in it is compatible;
//! - the longest-waiting ticket is served first: each still unmatched ticket, oldest to newest,
//!   takes the closest compatible partners it can find (greedily, nearest rating first), so a
//!   newcomer never takes an older ticket's closest partner away from it.
//!
//! How it stays fast: tickets are sorted by rating once and the unmatched ones are kept in a
//! doubly linked list over that order, so removing a matched ticket is O(1) and a ticket's
//! candidates are found by walking outward from it, nearest first. A walk stops at the widest
//! window in the pool, beyond which nobody can be compatible.

use std::cmp::Ordering;

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

/// One waiting ticket of a pool (all tickets of one pool share mode, region and players per match).
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub ticket_id: String,
    pub rating: f64,
    /// When the ticket started waiting, Unix epoch milliseconds.
    pub created_at: u64,
}

/// Whether two tickets may play together: their ratings differ by at most the wider of their
/// windows.
pub fn compatible(rating_a: f64, window_a: f64, rating_b: f64, window_b: f64) -> bool {
    (rating_a - rating_b).abs() <= window_a.max(window_b)
}

/// Groups of `players_per_match` tickets that match, as indices into `tickets`, each group listed
/// oldest first; no index appears twice.
///
/// Groups come in the order they were made, that is by the age of the ticket that made them, the
/// oldest first. Tickets with a non-finite rating never match; fewer than two players per match, or
/// more than there are tickets, give no groups. The result depends only on the arguments.
pub fn find_matches(
    tickets: &[Waiting],
    players_per_match: usize,
    window: &Window,
    now: u64,
) -> Vec<Vec<usize>> {
    let mut groups = Vec::new();
    if players_per_match < 2 {
        return groups;
    }
    let mut pool = Pool::new(tickets, window, now);
    let mut walk = Walk::default();
    let mut group = Vec::with_capacity(players_per_match);
    for k in 0..pool.by_age.len() {
        if pool.remaining < players_per_match {
            // Nobody left can make a group; the rest of the pass would find nothing.
            break;
        }
        let oldest = pool.by_age[k];
        if pool.matched[oldest] {
            continue;
        }
        if pool.partners_for(oldest, players_per_match - 1, &mut walk, &mut group) {
            group.push(oldest);
            for &member in &group {
                pool.remove(member);
            }
            group.sort_unstable_by_key(|&member| pool.age[member]);
            groups.push(group.iter().map(|&member| pool.ticket[member]).collect());
        }
    }
    groups
}

/// Sentinel for "no neighbour" in the linked list.
const NIL: usize = usize::MAX;

/// The matchable tickets of a pass, in rating order; every `Vec` is indexed by that position.
struct Pool {
    /// Index into the caller's slice.
    ticket: Vec<usize>,
    rating: Vec<f64>,
    window: Vec<f64>,
    /// Rank by waiting time, 0 for the oldest: the fairness order and every tie-break.
    age: Vec<usize>,
    /// Positions, oldest first.
    by_age: Vec<usize>,
    /// The linked list of unmatched tickets: neighbours in rating order, or `NIL`.
    prev: Vec<usize>,
    next: Vec<usize>,
    matched: Vec<bool>,
    remaining: usize,
    /// The widest window of any ticket: no ticket further than this from another is compatible
    /// with it, whichever of the two windows is wider.
    reach: f64,
}

impl Pool {
    fn new(tickets: &[Waiting], window: &Window, now: u64) -> Self {
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

    fn remove(&mut self, p: usize) {
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
    fn partners_for(
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

/// The outward walk from one ticket over the unmatched ones, yielding candidates by increasing
/// distance in rating, the older first at equal distance, and ending at the pool's reach.
///
/// Walking right meets equal ratings oldest first (the rating order breaks ties by age); walking
/// left meets them newest first, so the left side collects each run of equal ratings before
/// yielding from it. Its buffer is kept between walks to avoid allocating per ticket.
#[derive(Default)]
struct Walk {
    from: usize,
    /// Next position to look at on the left, or `NIL`.
    left: usize,
    /// A run of equal ratings met on the left, newest first, so `pop` gives the oldest.
    left_run: Vec<usize>,
    /// Next position to look at on the right, or `NIL`.
    right: usize,
}

impl Walk {
    fn start(&mut self, pool: &Pool, from: usize) {
        self.from = from;
        self.left = pool.prev[from];
        self.left_run.clear();
        self.right = pool.next[from];
    }

    fn next_candidate(&mut self, pool: &Pool) -> Option<usize> {
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

    fn fill_left_run(&mut self, pool: &Pool, origin: f64) {
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

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn window() -> Window {
        Window::default()
    }

    /// A ticket with `rating` that has waited `waited_ms` at `NOW`; ids sort like `id`.
    fn ticket(id: usize, rating: f64, waited_ms: u64) -> Waiting {
        Waiting {
            ticket_id: format!("t{id:06}"),
            rating,
            created_at: NOW - waited_ms,
        }
    }

    fn window_of(t: &Waiting, window: &Window, now: u64) -> f64 {
        window.at(now.saturating_sub(t.created_at))
    }

    fn pair_ok(tickets: &[Waiting], a: usize, b: usize, window: &Window, now: u64) -> bool {
        let (ta, tb) = (&tickets[a], &tickets[b]);
        compatible(
            ta.rating,
            window_of(ta, window, now),
            tb.rating,
            window_of(tb, window, now),
        )
    }

    fn age_key(t: &Waiting) -> (u64, &str) {
        (t.created_at, &t.ticket_id)
    }

    /// Every group has the right size, is pairwise compatible, is listed oldest first, and no
    /// index appears twice.
    fn assert_valid(
        tickets: &[Waiting],
        groups: &[Vec<usize>],
        ppm: usize,
        window: &Window,
        now: u64,
    ) {
        let mut seen = vec![false; tickets.len()];
        for group in groups {
            assert_eq!(group.len(), ppm, "group {group:?}");
            for (k, &a) in group.iter().enumerate() {
                assert!(!seen[a], "index {a} in two groups");
                seen[a] = true;
                assert!(tickets[a].rating.is_finite());
                for &b in &group[k + 1..] {
                    assert!(
                        pair_ok(tickets, a, b, window, now),
                        "{a} and {b} incompatible"
                    );
                }
            }
            assert!(
                group
                    .windows(2)
                    .all(|w| age_key(&tickets[w[0]]) <= age_key(&tickets[w[1]])),
                "group {group:?} not oldest first"
            );
        }
    }

    /// The rule written as plainly as possible, quadratic: the reference the fast version must
    /// agree with exactly.
    fn naive(tickets: &[Waiting], ppm: usize, window: &Window, now: u64) -> Vec<Vec<usize>> {
        if ppm < 2 {
            return Vec::new();
        }
        let mut order: Vec<usize> = (0..tickets.len())
            .filter(|&i| tickets[i].rating.is_finite())
            .collect();
        order.sort_by(|&a, &b| {
            age_key(&tickets[a])
                .cmp(&age_key(&tickets[b]))
                .then(a.cmp(&b))
        });
        let mut rank = vec![usize::MAX; tickets.len()];
        for (r, &i) in order.iter().enumerate() {
            rank[i] = r;
        }
        let mut matched = vec![false; tickets.len()];
        let mut groups = Vec::new();
        for &t in &order {
            if matched[t] {
                continue;
            }
            let mut candidates: Vec<usize> = order
                .iter()
                .copied()
                .filter(|&c| c != t && !matched[c])
                .collect();
            let distance = |c: usize| (tickets[c].rating - tickets[t].rating).abs();
            candidates.sort_by(|&a, &b| {
                distance(a)
                    .total_cmp(&distance(b))
                    .then(rank[a].cmp(&rank[b]))
            });
            let mut chosen: Vec<usize> = Vec::new();
            for c in candidates {
                if chosen.len() == ppm - 1 {
                    break;
                }
                if pair_ok(tickets, t, c, window, now)
                    && chosen.iter().all(|&o| pair_ok(tickets, o, c, window, now))
                {
                    chosen.push(c);
                }
            }
            if chosen.len() == ppm - 1 {
                chosen.push(t);
                chosen.sort_by_key(|&i| rank[i]);
                for &i in &chosen {
                    matched[i] = true;
                }
                groups.push(chosen);
            }
        }
        groups
    }

    /// A small seeded generator (xorshift64*), so the random tests are reproducible.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn random_pool(rng: &mut Rng, n: usize, rating_spread: u64, max_wait_ms: u64) -> Vec<Waiting> {
        (0..n)
            .map(|id| {
                // Whole ratings and waits in whole seconds give plenty of exact ties.
                let rating = 1500.0 + rng.below(rating_spread) as f64 - (rating_spread / 2) as f64;
                let waited = rng.below(max_wait_ms / 1000 + 1) * 1000;
                ticket(id, rating, waited)
            })
            .collect()
    }

    #[test]
    fn window_grows_with_waiting_and_stops_at_max() {
        let w = window();
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

    #[test]
    fn two_close_ratings_match() {
        let tickets = [ticket(1, 1500.0, 0), ticket(2, 1530.0, 0)];
        assert_eq!(find_matches(&tickets, 2, &window(), NOW), vec![vec![0, 1]]);
    }

    #[test]
    fn far_ratings_wait_until_the_windows_widen() {
        let tickets = [ticket(1, 1500.0, 0), ticket(2, 1700.0, 0)];
        assert!(find_matches(&tickets, 2, &window(), NOW).is_empty());
        // 200 apart needs a window of 200: 15 s of waiting.
        assert!(find_matches(&tickets, 2, &window(), NOW + 14_900).is_empty());
        assert_eq!(
            find_matches(&tickets, 2, &window(), NOW + 15_000),
            vec![vec![0, 1]]
        );
    }

    #[test]
    fn the_wider_of_two_windows_decides() {
        // The newcomer's window is 50, the veteran's 250: 200 apart is within the wider one.
        let tickets = [ticket(1, 1700.0, 0), ticket(2, 1500.0, 20_000)];
        assert_eq!(find_matches(&tickets, 2, &window(), NOW), vec![vec![1, 0]]);
        // Neither window reaches 260.
        let tickets = [ticket(1, 1760.0, 0), ticket(2, 1500.0, 20_000)];
        assert!(find_matches(&tickets, 2, &window(), NOW).is_empty());
    }

    #[test]
    fn groups_of_three_and_four_are_pairwise_compatible() {
        // All fresh (window 50). The oldest, 1500, could reach 1540 and 1460, but those two are 80
        // apart, so the group must skip one of them.
        let tickets = [
            ticket(1, 1500.0, 3_000),
            ticket(2, 1540.0, 0),
            ticket(3, 1460.0, 0),
            ticket(4, 1520.0, 0),
            ticket(5, 1510.0, 0),
        ];
        let w = Window {
            start: 50.0,
            growth_per_sec: 0.0,
            max: 50.0,
        };
        let threes = find_matches(&tickets, 3, &w, NOW);
        assert_valid(&tickets, &threes, 3, &w, NOW);
        assert_eq!(threes, vec![vec![0, 3, 4]]);
        let fours = find_matches(&tickets, 4, &w, NOW);
        assert_valid(&tickets, &fours, 4, &w, NOW);
        // 1510 and 1520 first, then 1540 (1460 is 60 from 1520).
        assert_eq!(fours, vec![vec![0, 1, 3, 4]]);
    }

    #[test]
    fn the_oldest_ticket_gets_its_closest_partner() {
        // The newer 1545 is closer to 1540 than the oldest 1500 is, but the oldest goes first.
        let tickets = [
            ticket(1, 1545.0, 0),
            ticket(2, 1540.0, 1_000),
            ticket(3, 1500.0, 2_000),
        ];
        assert_eq!(find_matches(&tickets, 2, &window(), NOW), vec![vec![2, 1]]);
    }

    #[test]
    fn at_equal_distance_the_older_candidate_wins() {
        let tickets = [
            ticket(1, 1500.0, 10_000),
            ticket(2, 1480.0, 0),
            ticket(3, 1520.0, 1_000),
            ticket(4, 1480.0, 2_000),
        ];
        assert_eq!(
            find_matches(&tickets, 2, &window(), NOW),
            vec![vec![0, 3], vec![2, 1]]
        );
    }

    #[test]
    fn non_finite_ratings_never_match() {
        let tickets = [
            ticket(1, f64::NAN, 60_000),
            ticket(2, f64::INFINITY, 60_000),
            ticket(3, f64::NEG_INFINITY, 60_000),
            ticket(4, 1500.0, 0),
            ticket(5, 1510.0, 0),
        ];
        assert_eq!(find_matches(&tickets, 2, &window(), NOW), vec![vec![3, 4]]);
        assert!(find_matches(&tickets, 3, &window(), NOW).is_empty());
    }

    #[test]
    fn degenerate_group_sizes_give_nothing() {
        let tickets = [ticket(1, 1500.0, 0), ticket(2, 1500.0, 0)];
        assert!(find_matches(&tickets, 0, &window(), NOW).is_empty());
        assert!(find_matches(&tickets, 1, &window(), NOW).is_empty());
        assert!(find_matches(&tickets, 3, &window(), NOW).is_empty());
        assert!(find_matches(&[], 2, &window(), NOW).is_empty());
    }

    #[test]
    fn created_after_now_counts_as_not_waited() {
        let tickets = [ticket(1, 1500.0, 0), ticket(2, 1560.0, 0)];
        assert!(find_matches(&tickets, 2, &window(), NOW - 60_000).is_empty());
    }

    #[test]
    fn same_input_same_output_whatever_the_order_of_equal_tickets() {
        let mut rng = Rng(7);
        let tickets = random_pool(&mut rng, 500, 200, 30_000);
        let first = find_matches(&tickets, 2, &window(), NOW);
        assert_eq!(first, find_matches(&tickets, 2, &window(), NOW));
        // The same tickets in reverse order make the same groups.
        let reversed: Vec<Waiting> = tickets.iter().rev().cloned().collect();
        let n = tickets.len();
        let mut mapped: Vec<Vec<usize>> = find_matches(&reversed, 2, &window(), NOW)
            .into_iter()
            .map(|g| g.into_iter().map(|i| n - 1 - i).collect())
            .collect();
        mapped.sort();
        let mut sorted = first;
        sorted.sort();
        assert_eq!(mapped, sorted);
    }

    #[test]
    fn random_pools_give_valid_disjoint_groups() {
        let mut rng = Rng(0x5EED);
        let w = window();
        for ppm in [2, 3, 4, 5] {
            for max_wait_ms in [5_000, 120_000] {
                let tickets = random_pool(&mut rng, 5_000, 1_800, max_wait_ms);
                let groups = find_matches(&tickets, ppm, &w, NOW);
                assert_valid(&tickets, &groups, ppm, &w, NOW);
                assert!(!groups.is_empty());
            }
        }
    }

    #[test]
    fn agrees_with_the_plain_rule_on_small_pools() {
        let mut rng = Rng(42);
        for round in 0..2_000 {
            let n = 1 + rng.below(24) as usize;
            let ppm = 2 + rng.below(4) as usize;
            // Narrow spreads make ties and crowded windows; wide ones make lonely tickets.
            let spread = [20, 150, 600][round % 3];
            let mut tickets = random_pool(&mut rng, n, spread, 40_000);
            if round % 5 == 0 {
                tickets[0].rating = f64::NAN;
            }
            if round % 7 == 0 {
                // Equal waits tie-break on ids, and ids need not follow slice order.
                tickets.reverse();
            }
            let w = window();
            let fast = find_matches(&tickets, ppm, &w, NOW);
            assert_eq!(
                fast,
                naive(&tickets, ppm, &w, NOW),
                "round {round}: {tickets:?}"
            );
            assert_valid(&tickets, &fast, ppm, &w, NOW);
        }
    }

    #[test]
    fn pairs_leave_no_compatible_pair_unmatched() {
        // For pairs the greedy pass is maximal: an unmatched ticket found no partner at its turn,
        // and the pool only shrank after that.
        let mut rng = Rng(99);
        let w = window();
        for _ in 0..300 {
            let tickets = random_pool(&mut rng, 40, 1_200, 30_000);
            let groups = find_matches(&tickets, 2, &w, NOW);
            let mut matched = vec![false; tickets.len()];
            for &i in groups.iter().flatten() {
                matched[i] = true;
            }
            for a in 0..tickets.len() {
                for b in a + 1..tickets.len() {
                    assert!(
                        matched[a] || matched[b] || !pair_ok(&tickets, a, b, &w, NOW),
                        "{a} and {b} left unmatched but compatible"
                    );
                }
            }
        }
    }
}
