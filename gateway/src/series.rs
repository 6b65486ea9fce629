//! The gateway's metrics, named once here and declared when it starts serving, before its admin
//! listener answers a scrape: every series exists from the first `/metrics` on, at 0 (histograms
//! empty), so a dashboard panel has data before the first client and `rate()` and `increase()`
//! count the first event too.

use crate::ws::methods;
use warren_bus::series::{declare_calls, declare_published, histogram, outcomes};
use warren_contracts::presence;

/// WebSocket connections open on this gateway.
pub const WS_CONNECTIONS: &str = "warren_ws_connections";
/// WebSockets opened, by the HTTP version they came over: `1.1` (an upgrade) or `2` (a stream).
pub const WS_OPENED: &str = "warren_ws_opened_total";
/// WebSocket messages read from clients.
pub const WS_MESSAGES_IN: &str = "warren_ws_messages_in_total";
/// WebSocket messages sent to clients (replies and events).
pub const WS_MESSAGES_OUT: &str = "warren_ws_messages_out_total";
/// Event frames sent to sockets.
pub const EVENTS_DELIVERED: &str = "warren_events_delivered_total";
/// Upgrades refused with 429 (`--connect-rate-per-address`).
pub const WS_UPGRADES_REFUSED: &str = "warren_ws_upgrades_refused_total";
/// Connections closed on accept: the gateway held its cap already.
pub const HTTP_CONNECTIONS_REFUSED: &str = "warren_http_connections_refused_total";
/// TLS handshakes that failed or did not finish in time.
pub const TLS_HANDSHAKES_FAILED: &str = "warren_tls_handshakes_failed_total";
/// Changes of the TLS files seen, by outcome: `loaded`, or `refused` (the previous pair kept).
pub const TLS_RELOADS: &str = "warren_tls_reloads_total";
/// When the certificate being served expires (its `notAfter`), in seconds since the Unix epoch;
/// only with TLS on.
pub const TLS_CERTIFICATE_EXPIRY: &str = "warren_tls_certificate_expiry_timestamp_seconds";
/// Client requests forwarded to a service, by method and outcome.
pub const REQUESTS: &str = "warren_gateway_requests_total";
/// Their latency at the gateway, by method.
pub const REQUEST_SECONDS: &str = "warren_gateway_request_seconds";

/// Declares every series the gateway records. Declaring again (several gateways in one test
/// process) changes no value.
pub(crate) fn declare() {
    // Adding 0 registers the gauge without setting it: sockets already open keep their count.
    metrics::gauge!(WS_CONNECTIONS).increment(0.0);
    for counter in [
        WS_MESSAGES_IN,
        WS_MESSAGES_OUT,
        EVENTS_DELIVERED,
        WS_UPGRADES_REFUSED,
        HTTP_CONNECTIONS_REFUSED,
        TLS_HANDSHAKES_FAILED,
    ] {
        metrics::counter!(counter).increment(0);
    }
    for http in ["1.1", "2"] {
        metrics::counter!(WS_OPENED, "http" => http).increment(0);
    }
    for outcome in ["loaded", "refused"] {
        metrics::counter!(TLS_RELOADS, "outcome" => outcome).increment(0);
    }
    // Per client method, from the table that decides what is forwarded: a method a client names
    // that is not in it is refused before anything is counted, so these are all the labels.
    for (method, service) in methods::client_methods() {
        histogram(REQUEST_SECONDS, &[("method", method.to_owned())]);
        for outcome in outcomes() {
            metrics::counter!(REQUESTS, "method" => method, "outcome" => outcome).increment(0);
        }
        declare_calls(service, method);
    }
    declare_published(presence::SERVICE);
}
