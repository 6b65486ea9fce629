//! The matching pass against the rules: hand-made pools for each rule, and random pools against
//! a plain quadratic statement of the rule.

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
fn assert_valid(tickets: &[Waiting], groups: &[Vec<usize>], ppm: usize, window: &Window, now: u64) {
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
