//! Trace context across RPC hops. The caller's span context travels with the request as W3C
//! `traceparent` (and `tracestate`) headers, and the handler's span continues it, so that an
//! OpenTelemetry backend shows one client request as one trace across every process it touched.
//!
//! The propagator is whatever the process installed globally: none (the default) injects and
//! extracts nothing, so without OpenTelemetry export this costs a few empty calls per request.

use opentelemetry::propagation::{Extractor, Injector};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Trace headers of one request, as a propagator wrote them. Usually empty or one `traceparent`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceHeaders(Vec<(String, String)>);

impl TraceHeaders {
    /// The context of `span`, ready to travel.
    pub fn of(span: &tracing::Span) -> Self {
        let context = span.context();
        let mut headers = Self::default();
        opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&context, &mut headers);
        });
        headers
    }

    /// Makes `span`, not yet entered, a child of the context these headers carry. Headers that
    /// carry none (or a process without OpenTelemetry) leave the span as it was.
    pub fn continue_in(&self, span: &tracing::Span) {
        if self.0.is_empty() {
            return;
        }
        let parent =
            opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(self));
        // Fails only where no OpenTelemetry layer is installed: nothing to continue then.
        let _ = span.set_parent(parent);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Adds one header as it arrived, keeping only the names a trace propagator writes.
    pub fn insert(&mut self, name: &str, value: String) {
        if is_trace_header(name) {
            self.0.retain(|(k, _)| k != name);
            self.0.push((name.to_owned(), value));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The W3C trace context headers; the only ones [`TraceHeaders`] carries.
pub const NAMES: [&str; 2] = ["traceparent", "tracestate"];

fn is_trace_header(name: &str) -> bool {
    NAMES.contains(&name)
}

impl Injector for TraceHeaders {
    fn set(&mut self, key: &str, value: String) {
        self.insert(key, value);
    }
}

impl Extractor for TraceHeaders {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_trace_headers_are_kept() {
        let mut headers = TraceHeaders::default();
        headers.insert("traceparent", "00-a-b-01".into());
        headers.insert("x-user-id", "mallory".into());
        headers.insert("traceparent", "00-c-d-01".into());
        assert_eq!(
            headers.iter().collect::<Vec<_>>(),
            [("traceparent", "00-c-d-01")]
        );
    }

    #[test]
    fn without_a_propagator_nothing_travels() {
        let span = tracing::info_span!("call");
        assert!(TraceHeaders::of(&span).is_empty());
    }
}
