//! The series the bus records, named once here and declared (at 0, histograms empty) where a
//! process starts: when a bus is made, when it serves a router, and by callers and publishers
//! for what they know they will call and publish. A series that appears only at its first use
//! leaves a dashboard panel with "No data" until then, and `rate()` and `increase()` miss that
//! first event, since they need a sample before it.

use crate::Router;
use warren_contracts::ErrorCode;

/// Broker connections re-established.
pub const RECONNECTS: &str = "warren_bus_reconnects_total";
/// Calls this process made, by target and outcome.
pub const CALLS: &str = "warren_rpc_calls_total";
/// Their round trip.
pub const CALL_SECONDS: &str = "warren_rpc_call_seconds";
/// Requests this process's servers answered, by method and outcome.
pub const REQUESTS: &str = "warren_rpc_requests_total";
/// Their handling time.
pub const REQUEST_SECONDS: &str = "warren_rpc_request_seconds";
/// Events published, by exchange and outcome.
pub const PUBLISHED: &str = "warren_events_published_total";

/// How a publish ends.
pub const PUBLISH_OUTCOMES: [&str; 2] = ["ok", "failed"];

/// Every way a call or a request can end: `ok`, or the code of its error. Every error crossing
/// the bus carries one of [`ErrorCode::ALL`], so this is the whole label set.
pub fn outcomes() -> impl Iterator<Item = &'static str> {
    std::iter::once("ok").chain(ErrorCode::ALL.iter().map(|code| code.as_str()))
}

/// Registers the histogram `name` with `labels`: from then on it is rendered, with empty
/// buckets until its first observation.
pub fn histogram(name: &'static str, labels: &[(&'static str, String)]) {
    drop(metrics::histogram!(name, labels));
}

/// What every bus has: its reconnects, which stay 0 on the in-process bus (it never reconnects).
pub(crate) fn declare_bus() {
    metrics::counter!(RECONNECTS).increment(0);
}

/// What serving `router` records: each of its methods' requests by outcome and their handling
/// time, and the events of its service, which it announces on its own exchange
/// (`<service>.events`, the bus's convention).
pub(crate) fn declare_served(router: &Router) {
    let service = router.service();
    for method in router.methods() {
        let labels = [
            ("service", service.to_owned()),
            ("method", method.to_owned()),
        ];
        histogram(REQUEST_SECONDS, &labels);
        for outcome in outcomes() {
            let [service, method] = labels.clone();
            metrics::counter!(
                REQUESTS,
                &[service, method, ("outcome", outcome.to_owned())]
            )
            .increment(0);
        }
    }
    declare_published(service);
}

/// What calling `method` of `service` records: the calls by outcome and their round trip. For
/// callers that know at start what they will call (the gateway, its client methods).
pub fn declare_calls(service: &str, method: &str) {
    let labels = [
        ("service", service.to_owned()),
        ("method", method.to_owned()),
    ];
    histogram(CALL_SECONDS, &labels);
    for outcome in outcomes() {
        let [service, method] = labels.clone();
        metrics::counter!(CALLS, &[service, method, ("outcome", outcome.to_owned())]).increment(0);
    }
}

/// What publishing on `service`'s exchange records, by outcome.
pub fn declare_published(service: &str) {
    for outcome in PUBLISH_OUTCOMES {
        metrics::counter!(PUBLISHED, "service" => service.to_owned(), "outcome" => outcome)
            .increment(0);
    }
}
