//! Warren's gateway: the one door game clients and tools come through.
//!
//! HTTP `/v1` (register, login, refresh, logout, accounts; described at `/v1/openapi.json`) and
//! the WebSocket `/ws` (JSON-RPC 2.0: requests routed to the service a method names, events pushed
//! to their recipients). It holds no game state: it verifies tokens, enforces limits, and talks to
//! the services over the bus.
//!
//! ```text
//! lib.rs       app() builds the Router from state; serve() runs it on a listener until shutdown
//! config.rs    GatewayConfig
//! state.rs     AppState: bus, config, token verifier, hub, readiness probes, shutdown
//! error.rs     ApiError: a stable code with a fitting HTTP status
//! token.rs     access tokens: where they come from, whether they are valid
//! hub.rs       connected sockets by user; event delivery; slow-client eviction
//! cursor.rs    one socket's place in its user's event sequence: no duplicate, no gap
//! http/        /v1 handlers, extractors, health, OpenAPI
//! ws/          the WebSocket endpoint, JSON-RPC codec, client-facing method table
//! ```

pub mod config;
pub mod cursor;
pub mod error;
pub mod http;
pub mod hub;
pub mod state;
pub mod token;
pub mod ws;

pub use config::GatewayConfig;
pub use state::{AppState, ReadinessProbe, redis_probe};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, header};
use axum::routing::get;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};
use warren_bus::BusError;

/// Why the gateway could not run.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("cannot subscribe to events: {0}")]
    Events(#[from] BusError),
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// The gateway's routes and layers, for a real listener or for tests.
pub fn app(state: AppState) -> Router {
    let cors = cors(&state.config().cors_origins);
    let body_limit = state.config().max_body_bytes;
    http::routes()
        .route("/ws", get(ws::upgrade))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(cors)
        .with_state(state)
}

fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
}

/// Beyond the call timeout, how long shutdown waits for sockets to send their last replies and
/// close.
const SOCKET_CLOSE: std::time::Duration = std::time::Duration::from_secs(2);

/// Subscribes to events, then serves HTTP and WebSockets on `listener` until the state's
/// shutdown token is cancelled. Then it stops accepting; HTTP requests in flight finish; each
/// socket stops reading, sends the replies to the requests it holds, and closes with 1001.
pub async fn serve(listener: TcpListener, state: AppState) -> Result<(), GatewayError> {
    let shutdown = state.shutdown().clone();
    // Subscribed before the first client connects, so no event for it is missed.
    let subscription = hub::Hub::subscribe(state.bus()).await?;
    let events = tokio::spawn(Arc::clone(state.hub()).run(subscription, shutdown.clone()));
    let address = listener.local_addr()?;
    tracing::info!(%address, "gateway listening");
    let sockets = state.sockets().clone();
    // The sockets' own wait: their requests in flight (each bounded by the call timeout), then
    // the closing handshake.
    let drain = state.config().call_timeout + SOCKET_CLOSE;
    // Without TCP_NODELAY, of a reply and an event written back to back the second waits for
    // the client's delayed ACK: a 40 ms floor under every command's round trip.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not turn Nagle's algorithm off");
        }
    });
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    // axum waits for HTTP requests, not for upgraded connections: those are ours to wait for.
    sockets.close();
    if tokio::time::timeout(drain, sockets.wait()).await.is_err() {
        tracing::warn!(
            open = sockets.len(),
            "sockets still open at the end of shutdown"
        );
    }
    if let Err(error) = events.await {
        tracing::error!(%error, "event delivery task failed");
    }
    Ok(())
}
