//! Prometheus metrics for every process: one recorder, installed once, whose text `/metrics`
//! serves (the gateway on its listener, services on their health listener). What is measured is
//! recorded where it happens, through the `metrics` macros (bus, gateway, services), except gauges
//! of shared state, which are read from the store at each scrape (see [`sample_on_scrape`]).

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

/// Latency buckets in seconds: 0.5 ms to 10 s, the calls' deadline.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Matchmaking waits in seconds: up to the ticket's default time to live.
const WAIT_BUCKETS: [f64; 10] = [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 90.0, 120.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed the first time it is asked for; `None` if another
/// recorder was installed first (then `/metrics` says so).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_wait_seconds".into()), &WAIT_BUCKETS)
                })
                .map(PrometheusBuilder::build_recorder);
            let recorder = match recorder {
                Ok(recorder) => recorder,
                Err(error) => {
                    tracing::error!(%error, "cannot build the metrics recorder");
                    return None;
                }
            };
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => Some(handle),
                Err(error) => {
                    tracing::warn!(%error, "another metrics recorder is installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Sets one or more gauges, reading what it reports from where the state is kept.
pub type Sampler = dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync;

/// The samplers of this process; weak, so that a sampler stops with whatever registered it.
static SAMPLERS: Mutex<Vec<Weak<Sampler>>> = Mutex::new(Vec::new());

/// How long a scrape waits for one sampler; a store that does not answer leaves its gauge as it
/// was rather than holding up `/metrics`.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(1);

/// Keeps a sampler registered; dropping it unregisters the sampler.
#[must_use = "the sampler is unregistered when this is dropped"]
pub struct SamplerGuard(#[allow(dead_code)] Arc<Sampler>);

/// Runs `sample` before each scrape of `/metrics`, for as long as the guard lives. For gauges
/// of shared state (rooms open): a count read from Redis is right whichever instance changed
/// it, and after this one restarts, where increments and decrements per instance are not.
pub fn sample_on_scrape<F, Fut>(sample: F) -> SamplerGuard
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let sampler: Arc<Sampler> = Arc::new(move || Box::pin(sample()));
    lock_samplers().push(Arc::downgrade(&sampler));
    SamplerGuard(sampler)
}

fn lock_samplers() -> std::sync::MutexGuard<'static, Vec<Weak<Sampler>>> {
    warren_bus::lock(&SAMPLERS)
}

/// Sets the gauge `name` to what `count` reads, at each scrape, until `stop` is cancelled. A
/// failed read leaves the gauge as it was.
pub fn gauge_on_scrape<F, Fut, E>(
    name: &'static str,
    stop: tokio_util::sync::CancellationToken,
    count: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<u64, E>> + Send + 'static,
    E: std::fmt::Display,
{
    sample_on_scrape_until(stop, move || {
        let counted = count();
        async move {
            match counted.await {
                Ok(value) => metrics::gauge!(name).set(value as f64),
                Err(error) => tracing::debug!(%error, gauge = name, "cannot read a gauge"),
            }
        }
    })
}

/// [`sample_on_scrape`] until `stop` is cancelled, as a service's background task.
pub fn sample_on_scrape_until<F, Fut>(
    stop: tokio_util::sync::CancellationToken,
    sample: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let sampler = sample_on_scrape(sample);
    tokio::spawn(async move {
        stop.cancelled().await;
        drop(sampler);
    })
}

/// The metrics in Prometheus's text format, after the samplers have run.
pub async fn render() -> String {
    let live: Vec<Arc<Sampler>> = {
        let mut samplers = lock_samplers();
        samplers.retain(|sampler| sampler.strong_count() > 0);
        samplers.iter().filter_map(Weak::upgrade).collect()
    };
    for sampler in live {
        if tokio::time::timeout(SAMPLE_TIMEOUT, sampler())
            .await
            .is_err()
        {
            tracing::debug!("a metrics sampler timed out");
        }
    }
    match handle() {
        Some(handle) => handle.render(),
        None => "# no metrics recorder in this process\n".into(),
    }
}
