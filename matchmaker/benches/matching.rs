//! How long one matching pass takes over 100,000 waiting tickets, and how many it matches.
//!
//! Run it (release build, criterion's statistics on stderr/stdout):
//!
//! ```text
//! cargo bench -p warren-matchmaker --bench matching
//! ```
//!
//! The queue is what the service would hold: ratings roughly normal around 1500 (sd 300), two game
//! modes in four regions, `tic-tac-toe` in pairs and `relay` in pairs or fours, split into pools by
//! (mode, region, players per match) as the service splits them, with the default rating window
//! (50, +10/s, at most 400). A pass is `find_matches` on every pool, as the matching loop runs it.
//!
//! - `pass/100k tickets, waited 0-120s`: a queue in steady state; most windows are wide.
//! - `pass/100k tickets, waited 0-5s`: a fresh queue; narrow windows, so more tickets walk far and
//!   find nobody, the slow case per ticket.
//!
//! Each benchmark also prints, once, how many tickets a pass matched and the tickets matched per
//! second that gives at the measured mean pass time.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use warren_matchmaker::pool::{Waiting, Window, find_matches};

const TICKETS: usize = 100_000;
const NOW: u64 = 1_700_000_000_000;
const MODES: [&str; 2] = ["tic-tac-toe", "relay"];
const REGIONS: [&str; 4] = ["eu-west", "us-east", "us-west", "ap-south"];

/// One pool of the queue: its players per match and its tickets.
struct Pool {
    players_per_match: usize,
    tickets: Vec<Waiting>,
}

/// A seeded generator (xorshift64*), so every run benchmarks the same queue.
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

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Roughly normal: the sum of twelve uniforms has mean 6 and standard deviation 1.
    fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        let sum: f64 = (0..12).map(|_| self.unit()).sum();
        mean + sd * (sum - 6.0)
    }
}

/// `TICKETS` tickets that have waited up to `max_wait_ms`, split into pools.
fn queue(seed: u64, max_wait_ms: u64) -> Vec<Pool> {
    let mut rng = Rng(seed);
    // (mode, region, players per match) → pool; relay is the mode that also plays in fours.
    let mut keys: Vec<(usize, usize, usize)> = Vec::new();
    let mut pools: Vec<Pool> = Vec::new();
    for n in 0..TICKETS {
        let mode = rng.below(MODES.len() as u64) as usize;
        let region = rng.below(REGIONS.len() as u64) as usize;
        let players_per_match = if MODES[mode] == "relay" && rng.below(2) == 0 {
            4
        } else {
            2
        };
        let key = (mode, region, players_per_match);
        let at = match keys.iter().position(|k| *k == key) {
            Some(at) => at,
            None => {
                keys.push(key);
                pools.push(Pool {
                    players_per_match,
                    tickets: Vec::new(),
                });
                pools.len() - 1
            }
        };
        // Ratings are whole numbers, as accounts keep them after rounding, which makes ties.
        let rating = rng.normal(1500.0, 300.0).round();
        pools[at].tickets.push(Waiting {
            ticket_id: format!("{:016x}{:016x}", rng.next(), n),
            rating,
            created_at: NOW - rng.below(max_wait_ms + 1),
        });
    }
    pools
}

/// One matching pass over every pool; how many tickets it matched.
fn pass(pools: &[Pool], window: &Window) -> usize {
    pools
        .iter()
        .map(|pool| {
            let groups = find_matches(&pool.tickets, pool.players_per_match, window, NOW);
            groups.iter().map(Vec::len).sum::<usize>()
        })
        .sum()
}

fn bench_pass(c: &mut Criterion, name: &str, pools: &[Pool]) {
    let window = Window::default();
    let matched = pass(pools, &window);
    let mut measured = Duration::ZERO;
    let mut passes: u32 = 0;
    let mut group = c.benchmark_group("pass");
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            for _ in 0..iters {
                black_box(pass(black_box(pools), black_box(&window)));
            }
            let elapsed = started.elapsed();
            // Every timed pass, warm-up included, so the mean is close to criterion's own.
            measured += elapsed;
            passes = passes.saturating_add(u32::try_from(iters).unwrap_or(u32::MAX));
            elapsed
        });
    });
    group.finish();
    if passes > 0 {
        let mean = measured / passes;
        eprintln!(
            "{name}: {} pools, {TICKETS} tickets; a pass matched {matched} tickets; \
             mean pass {:.2} ms over {passes} passes; {:.0} tickets matched per second",
            pools.len(),
            mean.as_secs_f64() * 1e3,
            matched as f64 / mean.as_secs_f64(),
        );
    }
}

fn steady_queue(c: &mut Criterion) {
    bench_pass(c, "100k tickets, waited 0-120s", &queue(1, 120_000));
}

fn fresh_queue(c: &mut Criterion) {
    bench_pass(c, "100k tickets, waited 0-5s", &queue(2, 5_000));
}

criterion_group!(benches, steady_queue, fresh_queue);
criterion_main!(benches);
