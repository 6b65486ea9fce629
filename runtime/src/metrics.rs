//! Prometheus metrics for every process: one recorder, installed once, whose text `/metrics`
//! serves (the gateway on its listener, services on their health listener). What is measured is
//! recorded where it happens, through the `metrics` macros (bus, gateway, services).

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

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

/// The metrics in Prometheus's text format.
pub fn render() -> String {
    match handle() {
        Some(handle) => handle.render(),
        None => "# no metrics recorder in this process\n".into(),
    }
}
