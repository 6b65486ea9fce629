//! The WebSocket endpoint `/ws`: one authenticated socket per client, JSON-RPC 2.0 over text
//! frames, replies in any order, events pushed as they come.
//!
//! Each socket is two tasks: the reader parses requests and spawns one task per call (bounded by
//! `max_in_flight` and a per-connection rate limit), and the writer drains the socket's bounded
//! queue, which replies and events share, and pings. Either ending ends both.
//!
//! Close codes the gateway uses: 1001 (shutting down), 1009 (a message far over the limit),
//! 4000 (no answer to pings for two intervals), 4001 (too slow: send queue full).

pub mod jsonrpc;
pub mod methods;
pub mod resume;

use crate::hub::{CLOSE_SILENT, Kick, Outbound};
use crate::state::AppState;
use crate::token;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use serde_json::Value;
use std::num::NonZeroU32;
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use warren_bus::CallOptions;
use warren_contracts::{ErrorCode, Event, presence};

/// Close code when the gateway shuts down.
const CLOSE_GOING_AWAY: u16 = 1001;
/// How long the gateway waits for a client to answer its Close.
const CLOSE_HANDSHAKE: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, Deserialize)]
pub struct WsQuery {
    token: Option<String>,
}

/// Checks the access token, then upgrades. Without a valid token: 401, no socket.
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(token) = token::bearer(&headers).or(query.token.as_deref()) else {
        return crate::error::ApiError::unauthorized("an access token is required").into_response();
    };
    let user_id = match state.verifier().verify(token) {
        Ok(user_id) => user_id,
        Err(why) => return crate::error::ApiError::unauthorized(why).into_response(),
    };
    let limit = state.config().max_frame_bytes;
    // Messages up to twice the limit are read and refused with an error on that request; past
    // that the socket is closed with 1009, so no client makes the gateway buffer much.
    ws.max_message_size(limit * 2)
        .max_frame_size(limit * 2)
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .on_upgrade(move |socket| {
            let sockets = state.sockets().clone();
            sockets.track_future(serve(state, user_id, socket))
        })
}

async fn serve(state: AppState, user_id: String, socket: WebSocket) {
    let config = state.config().clone();
    let (tx, rx) = mpsc::channel(config.send_queue);
    let kick = Kick::default();
    let start = state.hub().start_of(&user_id).await;
    let (conn, first) = state.hub().register(&user_id, tx, kick.clone(), start);
    metrics::gauge!("warren_ws_connections").increment(1.0);
    let conn_id = conn.id;
    if first {
        announce_presence(&state, presence::ONLINE, &user_id);
    }
    let span = tracing::info_span!("ws", user_id = %user_id, conn = conn_id);
    let (sink, mut stream) = socket.split();
    let shutdown = state.shutdown().clone();
    async {
        tracing::debug!("connected");
        let writer =
            tokio::spawn(write(sink, rx, kick.clone(), config.ping_interval).in_current_span());
        read(&state, &user_id, &mut stream, conn, &shutdown).await;
        if shutdown.is_cancelled() {
            kick.kick(CLOSE_GOING_AWAY, "the gateway is shutting down");
        }
        kick.kick(1000, "");
        let _ = writer.await;
        // The closing handshake: give the client a moment to read our Close and answer it, so
        // it sees the close code rather than a reset connection.
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
        tracing::debug!("disconnected");
    }
    .instrument(span)
    .await;
    metrics::gauge!("warren_ws_connections").decrement(1.0);
    if state.hub().unregister(&user_id, conn_id) {
        announce_presence(&state, presence::OFFLINE, &user_id);
    }
}

/// Tells the services that a user's first socket here opened or their last one closed; the
/// sessions service keeps their seats for a grace period while they are away.
fn announce_presence(state: &AppState, kind: &'static str, user_id: &str) {
    let data = presence::Presence {
        user_id: user_id.to_owned(),
        gateway_id: state.gateway_id().to_owned(),
    };
    let event = Event::new(
        kind,
        Vec::new(),
        serde_json::to_value(data).unwrap_or_default(),
    );
    let bus = state.bus().clone();
    tokio::spawn(async move {
        if let Err(error) = bus.publish(presence::SERVICE, &event).await {
            tracing::warn!(%error, kind, "could not announce presence");
        }
    });
}

async fn write(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Outbound>,
    kick: Kick,
    ping_interval: std::time::Duration,
) {
    let mut ping = tokio::time::interval(ping_interval);
    ping.tick().await;
    loop {
        let message = tokio::select! {
            reason = kick.kicked() => {
                if reason.code == CLOSE_GOING_AWAY {
                    // The last replies, queued before the close.
                    while let Ok(Outbound::Text(text)) = rx.try_recv() {
                        if sink.send(Message::Text(text)).await.is_err() {
                            return;
                        }
                    }
                }
                let frame = CloseFrame { code: reason.code, reason: reason.reason.into() };
                let _ = sink.send(Message::Close(Some(frame))).await;
                return;
            }
            frame = rx.recv() => match frame {
                Some(Outbound::Text(text)) => {
                    metrics::counter!("warren_ws_messages_out_total").increment(1);
                    Message::Text(text)
                }
                None => return,
            },
            _ = ping.tick() => Message::Ping(Vec::new().into()),
        };
        if sink.send(message).await.is_err() {
            kick.kick(1000, "");
            return;
        }
    }
}

/// Reads requests until the client closes, goes silent, or is kicked; or until shutdown, and
/// then waits for the requests in flight to be answered (their replies queued to the writer).
async fn read(
    state: &AppState,
    user_id: &str,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    conn: crate::hub::Conn,
    shutdown: &CancellationToken,
) {
    let config = state.config();
    let in_flight = Arc::new(Semaphore::new(config.max_in_flight));
    tokio::select! {
        () = requests(state, user_id, stream, &conn, &in_flight) => return,
        () = shutdown.cancelled() => {}
    }
    let all = u32::try_from(config.max_in_flight).unwrap_or(u32::MAX);
    tokio::select! {
        _ = conn_kicked(&conn) => {}
        // Each call ends by its timeout at the latest.
        _ = in_flight.acquire_many(all) => {}
    }
}

async fn requests(
    state: &AppState,
    user_id: &str,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    conn: &crate::hub::Conn,
    in_flight: &Arc<Semaphore>,
) {
    let config = state.config();
    let limiter = rate_limiter(config.rate_limit);
    let silence = config.ping_interval * 2;
    loop {
        let message = tokio::select! {
            _ = conn_kicked(conn) => return,
            message = tokio::time::timeout(silence, stream.next()) => message,
        };
        let message = match message {
            Err(_) => {
                conn_kick(conn, CLOSE_SILENT, "no answer to pings");
                return;
            }
            Ok(None | Some(Err(_))) => return,
            Ok(Some(Ok(message))) => message,
        };
        metrics::counter!("warren_ws_messages_in_total").increment(1);
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => {
                reply(
                    conn,
                    jsonrpc::error_response(
                        &Value::Null,
                        jsonrpc::INVALID_REQUEST,
                        "binary frames are not supported: send JSON-RPC as text",
                        None,
                    ),
                );
                continue;
            }
            Message::Close(_) => return,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        if text.len() > config.max_frame_bytes {
            reply(
                conn,
                jsonrpc::error_response(
                    &Value::Null,
                    jsonrpc::INVALID_REQUEST,
                    &format!("message larger than {} bytes", config.max_frame_bytes),
                    None,
                ),
            );
            continue;
        }
        let request = match jsonrpc::parse(text.as_str()) {
            Ok(request) => request,
            Err(response) => {
                reply(conn, response);
                continue;
            }
        };
        if limiter.check().is_err() {
            reply(
                conn,
                app_error(
                    &request.id,
                    ErrorCode::RateLimited,
                    "too many requests: slow down",
                ),
            );
            continue;
        }
        let is_resume = request.method == resume::METHOD;
        let service = methods::service_for(&request.method);
        if service.is_none() && !is_resume {
            let message = format!("unknown method {:?}", request.method);
            reply(
                conn,
                jsonrpc::error_response(&request.id, jsonrpc::METHOD_NOT_FOUND, &message, None),
            );
            continue;
        }
        let Ok(permit) = Arc::clone(in_flight).try_acquire_owned() else {
            let message = format!("more than {} requests in flight", config.max_in_flight);
            reply(
                conn,
                app_error(&request.id, ErrorCode::RateLimited, &message),
            );
            continue;
        };
        let Some(service) = service else {
            // No service answers it: the gateway itself does (events.resume).
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
            continue;
        };
        let bus = state.bus().clone();
        let options = CallOptions::default()
            .timeout(config.call_timeout)
            .request_id(uuid::Uuid::new_v4().to_string())
            .user_id(user_id);
        let conn = conn.clone();
        // A root of its own rather than a child of the connection's span: in a trace viewer,
        // each client request is one trace, not one more step of an hours-long connection.
        let span = tracing::info_span!(
            parent: None,
            "request",
            method = %request.method,
            request_id = options.request_id.as_deref().unwrap_or(""),
            user_id = %user_id,
            conn = conn.id,
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
                conn.send(Outbound::Text(response.into()));
                drop(permit);
                tracing::debug!(
                    outcome,
                    elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "answered"
                );
                let method = request.method;
                metrics::histogram!("warren_gateway_request_seconds", "method" => method.clone())
                    .record(started.elapsed().as_secs_f64());
                metrics::counter!("warren_gateway_requests_total", "method" => method, "outcome" => outcome)
                    .increment(1);
            }
            .instrument(span),
        );
    }
}

fn rate_limiter(per_second: u32) -> DefaultDirectRateLimiter {
    let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(per_second.saturating_mul(2)).unwrap_or(rate);
    RateLimiter::direct(Quota::per_second(rate).allow_burst(burst))
}

fn app_error(id: &Value, code: ErrorCode, message: &str) -> String {
    jsonrpc::error_response(id, jsonrpc::APPLICATION_ERROR, message, Some(code))
}

fn reply(conn: &crate::hub::Conn, response: String) {
    conn.send(Outbound::Text(response.into()));
}

async fn conn_kicked(conn: &crate::hub::Conn) {
    conn.kick().kicked().await;
}

fn conn_kick(conn: &crate::hub::Conn, code: u16, reason: &'static str) {
    conn.kick().kick(code, reason);
}
