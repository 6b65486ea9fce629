//! The machine's bare argon2id rate: hashes computed in this process, one thread per core, with
//! the parameters Warren's auth service uses for every password it stores and checks (the argon2
//! crate's defaults, m=19456 KiB, t=2, p=1: `auth/src/password.rs`), each thread reusing one
//! memory area as the service's hashing slots do. No login can be checked faster than this on the
//! same cores, so it is what a login flood's checks per second are compared with.
//!
//! It must run while the server is idle: on shared cores, each would slow the other.

use anyhow::anyhow;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::time::{Duration, Instant};

/// What the baseline measured.
#[derive(Debug, Clone, Copy)]
pub struct Baseline {
    pub threads: usize,
    pub hashes: u64,
    /// From the start until the last thread finished its last hash.
    pub elapsed: Duration,
    /// Hashes per second, all threads together (each thread's count over its own time).
    pub rate: f64,
}

impl Baseline {
    /// How long one hash takes on one thread, in wall time (longer than its CPU time when other
    /// work shares the cores).
    pub fn per_hash(&self) -> Duration {
        if self.rate > 0.0 {
            Duration::from_secs_f64(self.threads as f64 / self.rate)
        } else {
            Duration::ZERO
        }
    }
}

/// The parameters, as a PHC string names them: `m=19456 KiB, t=2, p=1`.
pub fn parameters() -> String {
    let params = Params::default();
    format!(
        "m={} KiB, t={}, p={}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost()
    )
}

/// Hashes on one thread per core (`available_parallelism`) for `duration`; every thread
/// completes at least one hash.
pub async fn measure(duration: Duration) -> anyhow::Result<Baseline> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    tokio::task::spawn_blocking(move || on_threads(threads, duration)).await?
}

fn on_threads(threads: usize, duration: Duration) -> anyhow::Result<Baseline> {
    let start = Instant::now();
    let deadline = start + duration;
    let counted: Vec<anyhow::Result<(u64, Duration)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|thread| scope.spawn(move || hash_until(thread, deadline)))
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .map_err(|_| anyhow!("a baseline thread panicked"))?
            })
            .collect()
    });
    let elapsed = start.elapsed();
    let (mut hashes, mut rate) = (0, 0.0);
    for result in counted {
        let (n, took) = result?;
        hashes += n;
        rate += n as f64 / took.as_secs_f64().max(1e-9);
    }
    Ok(Baseline {
        threads,
        hashes,
        elapsed,
        rate,
    })
}

/// Hashes until `deadline`; returns the count and the time they took.
fn hash_until(thread: usize, deadline: Instant) -> anyhow::Result<(u64, Duration)> {
    let params = Params::default();
    let mut memory = vec![Block::default(); params.block_count()];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = [thread as u8; 16];
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let start = Instant::now();
    let mut hashes = 0;
    loop {
        let password = format!("baseline password {thread} {hashes}");
        argon2
            .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, &mut memory)
            .map_err(|error| anyhow!("argon2: {error}"))?;
        hashes += 1;
        if Instant::now() >= deadline {
            return Ok((hashes, start.elapsed()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parameters_are_the_services() {
        // Those of every hash auth/src/password.rs writes ($argon2id$v=19$m=19456,t=2,p=1$…).
        assert_eq!(parameters(), "m=19456 KiB, t=2, p=1");
    }

    #[test]
    fn every_thread_hashes_at_least_once() -> anyhow::Result<()> {
        let baseline = on_threads(2, Duration::ZERO)?;
        assert_eq!(baseline.threads, 2);
        assert!(baseline.hashes >= 2, "{baseline:?}");
        assert!(baseline.rate > 0.0);
        assert!(baseline.per_hash() > Duration::ZERO);
        Ok(())
    }
}
