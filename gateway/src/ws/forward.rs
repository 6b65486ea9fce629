//! Answering a request the socket admitted: in a task of its own, so that a slow service holds
//! up only its own calls, the gateway hands it to its service over the bus (or answers
//! `events.resume` itself) and queues the reply on the socket's outbox. The request's in-flight
//! permit is held until the reply is queued.

use super::admission::{Admitted, Answerer};
use super::{jsonrpc, resume};
use crate::hub::Conn;
use crate::series;
use crate::state::AppState;
use std::sync::Arc;
use tracing::Instrument;
use warren_bus::CallOptions;

/// Starts answering `call` for `user_id`'s socket `conn`; the reply goes to `conn` when it comes.
pub(super) fn forward(state: &AppState, conn: &Conn, user_id: &str, call: Admitted) {
    match call.answerer {
        Answerer::Gateway => answer_here(state, conn, user_id, call),
        Answerer::Service(service) => call_service(state, conn, user_id, service, call),
    }
}

/// No service answers it: the gateway itself does (`events.resume`).
fn answer_here(state: &AppState, conn: &Conn, user_id: &str, call: Admitted) {
    let Admitted {
        request, permit, ..
    } = call;
    let journal = Arc::clone(state.hub().journal());
    let (conn, user_id) = (conn.clone(), user_id.to_owned());
    tokio::spawn(
        async move {
            resume::answer(
                journal.as_ref(),
                &user_id,
                &conn,
                request.id,
                request.params,
            )
            .await;
            drop(permit);
        }
        .in_current_span(),
    );
}

/// Calls `service` with the caller's identity (never the client's say) and a deadline, writes the
/// reply, and counts the call by method and outcome.
fn call_service(
    state: &AppState,
    conn: &Conn,
    user_id: &str,
    service: &'static str,
    call: Admitted,
) {
    let Admitted {
        request, permit, ..
    } = call;
    let bus = state.bus().clone();
    let mut options = CallOptions::default()
        .timeout(state.config().call_timeout)
        .request_id(uuid::Uuid::new_v4().to_string())
        .user_id(user_id);
    // Straight to the instance that owns the session, when one has said so.
    if let Some(key) = warren_contracts::rpc::route_key(&request.method, &request.params) {
        options = options.route(key);
    }
    let conn = conn.clone();
    // A root of its own rather than a child of the connection's span: in a trace viewer,
    // each client request is one trace, not one more step of an hours-long connection.
    let span = tracing::info_span!(
        parent: None,
        "request",
        method = %request.method,
        request_id = options.request_id.as_deref().unwrap_or(""),
        user_id = %user_id,
        conn = conn.id(),
    );
    tokio::spawn(
        async move {
            let started = std::time::Instant::now();
            let (response, outcome) = match bus
                .call_json(service, &request.method, &request.params, options)
                .await
            {
                Ok(result) => (jsonrpc::result_response(&request.id, &result), "ok"),
                Err(error) => {
                    if !matches!(error, warren_bus::CallError::Service(_)) {
                        tracing::warn!(%error, "call failed");
                    }
                    let wire = error.to_wire();
                    let outcome = wire.code.as_str();
                    (jsonrpc::application_error(&request.id, &wire), outcome)
                }
            };
            conn.send(response.into());
            drop(permit);
            tracing::debug!(
                outcome,
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                "answered"
            );
            let method = request.method;
            metrics::histogram!(series::REQUEST_SECONDS, "method" => method.clone())
                .record(started.elapsed().as_secs_f64());
            metrics::counter!(series::REQUESTS, "method" => method, "outcome" => outcome)
                .increment(1);
        }
        .instrument(span),
    );
}
