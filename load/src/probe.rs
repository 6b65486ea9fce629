//! A user who signed in before the flood, calling `accounts.me` over their WebSocket at a steady
//! pace while it runs: what the flood does to everyone already in. Paced (one call every
//! `every`, or as soon as the last is answered if that took longer) so that it stays under the
//! gateway's per-socket rate limit (100 a second by default) and measures latency, not its own
//! queue.

use crate::client::{self, RpcSocket};
use crate::stats::{self, Percentiles};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A call with no answer this long has failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the socket's closing handshake may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// One call: when it was sent, and its round trip or why it failed.
#[derive(Debug, Clone)]
pub struct Sample {
    pub sent: Instant,
    pub outcome: Result<Duration, String>,
}

/// The probe, running.
pub struct Probe {
    stop: CancellationToken,
    task: JoinHandle<Vec<Sample>>,
}

impl Probe {
    /// Starts calling on `socket`.
    pub fn start(socket: RpcSocket, every: Duration) -> Self {
        let stop = CancellationToken::new();
        let task = tokio::spawn(call_until(socket, every, stop.clone()));
        Self { stop, task }
    }

    /// Stops calling (after the call in progress), closes the socket, returns every call made.
    pub async fn stop(self) -> anyhow::Result<Vec<Sample>> {
        self.stop.cancel();
        Ok(self.task.await?)
    }
}

async fn call_until(
    mut socket: RpcSocket,
    every: Duration,
    stop: CancellationToken,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let sent = Instant::now();
        let outcome =
            match tokio::time::timeout(CALL_TIMEOUT, socket.reply("accounts.me", None)).await {
                Ok(Ok(Ok(_))) => Ok(sent.elapsed()),
                Ok(Ok(Err(error))) => Err(client::error_code(&error)),
                Ok(Err(error)) => {
                    samples.push(Sample {
                        sent,
                        outcome: Err(format!("socket lost: {error:#}")),
                    });
                    return samples;
                }
                Err(_) => Err(format!("no answer within {CALL_TIMEOUT:?}")),
            };
        samples.push(Sample { sent, outcome });
    }
    if let Err(error) = socket.close(CLOSE_TIMEOUT).await {
        tracing::debug!(error = %format!("{error:#}"), "the probe's socket closed uncleanly");
    }
    samples
}

/// The probe's figures over a stretch of the run.
#[derive(Debug)]
pub struct Figures {
    pub calls: usize,
    pub latency: Option<Percentiles>,
    /// Failed calls by reason, most frequent first.
    pub errors: Vec<(String, usize)>,
}

impl Figures {
    /// The calls sent between `from` and `to`.
    pub fn between(samples: &[Sample], from: Instant, to: Instant) -> Self {
        let within: Vec<&Sample> = samples
            .iter()
            .filter(|s| (from..=to).contains(&s.sent))
            .collect();
        let latencies = within.iter().filter_map(|s| s.outcome.clone().ok());
        let errors = within.iter().filter_map(|s| s.outcome.clone().err());
        Self {
            calls: within.len(),
            latency: Percentiles::of(latencies.collect()),
            errors: stats::tally(errors),
        }
    }

    pub fn failed(&self) -> usize {
        self.errors.iter().map(|(_, n)| n).sum()
    }
}

impl std::fmt::Display for Figures {
    /// `p50 0.4 ms  p90 …  max … (48 calls, 0 failed)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(latency) = &self.latency {
            write!(f, "{latency} ")?;
        }
        write!(f, "({} calls, {} failed)", self.calls, self.failed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_cover_the_calls_sent_in_their_stretch() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let sample = |ms, outcome| Sample {
            sent: at(ms),
            outcome,
        };
        let samples = vec![
            sample(0, Ok(Duration::from_millis(1))),
            sample(20, Ok(Duration::from_millis(3))),
            sample(40, Err("rate_limited".into())),
            sample(60, Ok(Duration::from_millis(2))),
        ];
        let figures = Figures::between(&samples, at(10), at(60));
        assert_eq!(figures.calls, 3);
        assert_eq!(figures.failed(), 1);
        assert_eq!(
            figures.latency.map(|p| p.max),
            Some(Duration::from_millis(3))
        );
        assert_eq!(
            figures.to_string(),
            "p50 2.0 ms  p90 3.0 ms  p99 3.0 ms  max 3.0 ms (3 calls, 1 failed)"
        );
        assert_eq!(Figures::between(&samples, at(61), at(99)).calls, 0);
    }
}
