//! Logs and traces. Logs are human-readable by default, JSON with `--log-format json`, and
//! `RUST_LOG` filters them. With `--otlp-endpoint`, spans also go to an OpenTelemetry collector
//! over OTLP/HTTP, and the bus carries their context from process to process (see
//! `warren_bus::trace`), so one client request is one trace however many services it reaches.

use crate::settings::{Backends, LogFormat};
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{ExporterBuildError, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// lapin's per-message warnings about returned requests are expected (the bus turns them into
/// `unavailable`), so lapin is held to errors by default.
const DEFAULT_FILTER: &str = "info,lapin=error";

/// What goes to the collector: our spans at info and above (and the bus's `rpc.call`, see
/// [`is_rpc_call`]). The exporter's own HTTP client is left out, or every export would trace
/// itself.
const TRACE_FILTER: &str = "info,lapin=error,reqwest=off,hyper=off,hyper_util=off,h2=off,\
                            opentelemetry=off,opentelemetry_sdk=off,opentelemetry_otlp=off";

/// The bus's span for one outgoing call. It is a debug span so that, with logs at info and no
/// trace export, no call pays for it (measured: about 8% of gateway throughput); exported, it is
/// the link between the caller's span and the handler's in another process.
fn is_rpc_call(metadata: &tracing::Metadata<'_>) -> bool {
    metadata.is_span() && metadata.name() == "rpc.call" && metadata.target() == "warren_bus"
}

/// Path of the traces signal under an OTLP/HTTP collector's base URL.
const TRACES_PATH: &str = "/v1/traces";

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot export traces to {endpoint}: {source}")]
    Exporter {
        endpoint: String,
        source: ExporterBuildError,
    },
}

/// Keeps trace export running; dropping it (at the end of `main`) sends the spans still
/// buffered, so that a process shut down gracefully loses none.
#[must_use = "traces stop being exported when this is dropped"]
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are being exported.
    pub fn exporting(&self) -> bool {
        self.tracer.is_some()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(tracer) = self.tracer.take()
            && let Err(error) = tracer.shutdown()
        {
            tracing::warn!(%error, "could not send the last spans to the collector");
        }
    }
}

/// Installs the global subscriber: logs always, trace export when `--otlp-endpoint` is set.
/// `service` names the process in the collector (`service.name`), unless `OTEL_SERVICE_NAME`
/// says otherwise.
pub fn init(backends: &Backends, service: &'static str) -> Result<Telemetry, TelemetryError> {
    let log_filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let logs: Box<dyn Layer<Registry> + Send + Sync> = match backends.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_filter(log_filter)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_filter(log_filter)
            .boxed(),
    };
    let tracer = match &backends.otlp_endpoint {
        Some(endpoint) => Some(tracer_provider(endpoint, service)?),
        None => None,
    };
    let traces = tracer.as_ref().map(|provider| {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(service))
            .with_filter(EnvFilter::new(TRACE_FILTER).or(filter_fn(is_rpc_call)))
    });
    // Fails only when a subscriber is already installed (tests that start several binaries'
    // worth of code in one process); the first one stays.
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init();
    Ok(Telemetry { tracer })
}

/// The process's exit status from what its `main` returned. A failure is logged as one error
/// event (with its causes, as anyhow's `{:#}` shows them) rather than printed by the runtime, so
/// that with JSON logs the last line is JSON too.
pub fn exit_code<E: std::fmt::Display>(result: Result<(), E>) -> std::process::ExitCode {
    let Err(error) = result else {
        return std::process::ExitCode::SUCCESS;
    };
    let error = format!("{error:#}");
    if tracing::dispatcher::has_been_set() {
        tracing::error!(%error, "stopped");
    } else {
        eprintln!("Error: {error}");
    }
    std::process::ExitCode::FAILURE
}

fn tracer_provider(
    endpoint: &str,
    service: &'static str,
) -> Result<SdkTracerProvider, TelemetryError> {
    let url = traces_url(endpoint);
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(&url)
        .build()
        .map_err(|source| TelemetryError::Exporter {
            endpoint: url.clone(),
            source,
        })?;
    let mut resource = Resource::builder()
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service);
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}

/// The collector's base URL (`http://collector:4318`) with the traces path added, as
/// `OTEL_EXPORTER_OTLP_ENDPOINT` would be; a URL that already names the path is kept.
fn traces_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with(TRACES_PATH) {
        base.to_owned()
    } else {
        format!("{base}{TRACES_PATH}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_added_once() {
        assert_eq!(
            traces_url("http://collector:4318"),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://collector:4318/"),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://collector:4318/v1/traces"),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url("https://otel.example.com/ingest"),
            "https://otel.example.com/ingest/v1/traces"
        );
    }
}
