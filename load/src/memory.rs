//! A process's resident memory (VmRSS in /proc/<pid>/status): waiting for it to settle, sampling
//! it over a run, its peak (VmHWM), and the arithmetic of memory per connection.
//!
//! VmRSS counts the process's own pages only: the kernel's socket buffers and connection state
//! are not in it.

use anyhow::Context;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How often [`settle`] samples.
const SAMPLE_EVERY: Duration = Duration::from_millis(500);
/// Consecutive samples that must agree for the memory to count as settled (2 s).
const SETTLED_SAMPLES: usize = 5;

/// The value of a `Key:   123 kB` line of /proc/<pid>/status, in bytes.
pub fn status_field(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        let mut words = rest.split_whitespace();
        let number: u64 = words.next()?.parse().ok()?;
        match words.next() {
            Some("kB") => Some(number * 1024),
            None => Some(number),
            Some(_) => None,
        }
    })
}

/// The resident memory of process `pid` (`None` for this process), in bytes.
pub fn rss(pid: Option<u32>) -> anyhow::Result<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {path}: is the process running?"))?;
    status_field(&status, "VmRSS").with_context(|| format!("no VmRSS in {path}"))
}

/// Whether the samples, oldest first, show the memory settled: the last [`SETTLED_SAMPLES`] lie
/// within 0.1 % of the newest, or 256 KiB, whichever is more.
pub fn is_settled(samples: &[u64]) -> bool {
    let Some(recent) = samples
        .len()
        .checked_sub(SETTLED_SAMPLES)
        .map(|i| &samples[i..])
    else {
        return false;
    };
    let (Some(&min), Some(&max), Some(&last)) =
        (recent.iter().min(), recent.iter().max(), recent.last())
    else {
        return false;
    };
    max - min <= (last / 1000).max(256 * 1024)
}

/// The memory once it has settled, and how long that took.
#[derive(Debug, Clone, Copy)]
pub struct Settled {
    pub rss: u64,
    pub waited: Duration,
    /// False when `limit` passed first (or when a fixed hold was asked for).
    pub settled: bool,
}

/// Samples `pid`'s memory until it settles or `limit` passes.
pub async fn settle(pid: u32, limit: Duration) -> anyhow::Result<Settled> {
    let start = Instant::now();
    let mut samples = vec![rss(Some(pid))?];
    loop {
        let settled = is_settled(&samples);
        if settled || start.elapsed() >= limit {
            let rss = *samples.last().unwrap_or(&0);
            return Ok(Settled {
                rss,
                waited: start.elapsed(),
                settled,
            });
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
        samples.push(rss(Some(pid))?);
    }
}

/// A process's resident memory, sampled over a run.
#[derive(Debug, Default)]
pub struct Samples {
    /// When each sample was read, and the bytes resident then.
    pub samples: Vec<(Instant, u64)>,
    /// Why sampling stopped early (the process went away), if it did.
    pub ended: Option<String>,
}

impl Samples {
    /// The largest sample read between `from` and `to`.
    pub fn peak(&self, from: Instant, to: Instant) -> Option<u64> {
        self.samples
            .iter()
            .filter(|(at, _)| (from..=to).contains(at))
            .map(|&(_, rss)| rss)
            .max()
    }
}

/// Reads `pid`'s resident memory every `every` until `stop` (or until it cannot be read).
pub async fn sample(pid: u32, every: Duration, stop: CancellationToken) -> Samples {
    let mut samples = Samples::default();
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        match rss(Some(pid)) {
            Ok(bytes) => samples.samples.push((Instant::now(), bytes)),
            Err(error) => {
                samples.ended = Some(format!("{error:#}"));
                break;
            }
        }
    }
    // One last reading, so that the end of the run is covered.
    if samples.ended.is_none()
        && let Ok(bytes) = rss(Some(pid))
    {
        samples.samples.push((Instant::now(), bytes));
    }
    samples
}

/// The peak resident memory of process `pid` since it started (VmHWM), in bytes.
pub fn peak_rss(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {path}: is the process running?"))?;
    status_field(&status, "VmHWM").with_context(|| format!("no VmHWM in {path}"))
}

/// (after − before) / connections, in bytes; negative when the memory shrank. `None` for none.
pub fn per_connection(before: u64, after: u64, connections: usize) -> Option<f64> {
    if connections == 0 {
        return None;
    }
    // Exact in f64 for any memory size this will see (below 2^53 bytes).
    Some((after as f64 - before as f64) / connections as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\twarren\nUmask:\t0022\nState:\tS (sleeping)\nPid:\t4242\n\
        VmPeak:\t  612340 kB\nVmSize:\t  546804 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   15360 kB\n\
        RssAnon:\t    9216 kB\nRssFile:\t    6144 kB\nThreads:\t3\n";

    #[test]
    fn status_fields_are_read_in_bytes() {
        assert_eq!(status_field(STATUS, "VmRSS"), Some(15_360 * 1024));
        assert_eq!(status_field(STATUS, "VmHWM"), Some(20_480 * 1024));
        assert_eq!(status_field(STATUS, "RssAnon"), Some(9_216 * 1024));
        assert_eq!(status_field(STATUS, "Threads"), Some(3));
        // A prefix of another key is not that key, and missing keys are missing.
        assert_eq!(status_field(STATUS, "Rss"), None);
        assert_eq!(status_field(STATUS, "VmSwap"), None);
        assert_eq!(status_field("VmRSS:\tlots kB\n", "VmRSS"), None);
    }

    #[test]
    fn this_process_has_resident_memory() -> anyhow::Result<()> {
        assert!(rss(None)? > 0);
        assert!(rss(Some(std::process::id()))? > 0);
        Ok(())
    }

    #[test]
    fn the_peak_is_taken_within_the_window() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let samples = Samples {
            samples: vec![(at(0), 10), (at(100), 50), (at(200), 30), (at(300), 90)],
            ended: None,
        };
        assert_eq!(samples.peak(at(0), at(300)), Some(90));
        assert_eq!(samples.peak(at(50), at(250)), Some(50));
        assert_eq!(samples.peak(at(150), at(200)), Some(30));
        assert_eq!(samples.peak(at(301), at(400)), None);
    }

    #[tokio::test]
    async fn this_process_is_sampled_until_stopped() -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let sampler = tokio::spawn(sample(
            std::process::id(),
            Duration::from_millis(5),
            stop.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(30)).await;
        stop.cancel();
        let samples = sampler.await?;
        assert!(samples.samples.len() >= 2, "{samples:?}");
        assert!(samples.ended.is_none());
        assert!(peak_rss(std::process::id())? > 0);
        Ok(())
    }

    #[test]
    fn bytes_per_connection() {
        let mib = 1024 * 1024;
        assert_eq!(per_connection(10 * mib, 110 * mib, 10_000), Some(10_485.76));
        assert_eq!(per_connection(100, 100, 7), Some(0.0));
        assert_eq!(per_connection(200, 100, 10), Some(-10.0));
        assert_eq!(per_connection(100, 200, 0), None);
    }

    #[test]
    fn memory_settles_when_the_last_samples_agree() {
        let mib = 1024 * 1024;
        assert!(!is_settled(&[mib; 4]), "too few samples");
        assert!(is_settled(&[mib; 5]));
        assert!(is_settled(&[
            1,
            50 * mib,
            100 * mib,
            100 * mib,
            100 * mib,
            100 * mib,
            100 * mib + 50_000
        ]));
        assert!(!is_settled(&[
            100 * mib,
            100 * mib,
            100 * mib,
            100 * mib,
            101 * mib
        ]));
    }
}
