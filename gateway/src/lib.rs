//! Warren's gateway: the one door game clients and tools come through.
//!
//! HTTP `/v1` (register, login, refresh, logout, accounts; described at `/v1/openapi.json`) and
//! the WebSocket `/ws` (JSON-RPC 2.0: requests routed to the service a method names, events pushed
//! to their recipients). It holds no game state: it verifies tokens, enforces limits, and talks to
//! the services over the bus.
//!
//! ```text
//! lib.rs       app() builds the Router from state; serve() runs it on a listener until shutdown
//! http/web.rs  the web lobby at `/`, its files built in from gateway/web/
//! listener.rs  the client listener: HTTP/1.1 and HTTP/2, header and idle timeouts, a connection cap
//! tls.rs       TLS on the client listener: the certificate files, read again when they change
//! admin.rs     /metrics, /healthz, /readyz on the admin listener, apart from clients
//! config.rs    GatewayConfig
//! state.rs     AppState: bus, config, token verifier, hub, readiness probes, shutdown
//! error.rs     ApiError: a stable code with a fitting HTTP status
//! token.rs     access tokens: where they come from, whether they are valid
//! hub/         connected sockets by user; event delivery; slow-client eviction; ended logins
//! revocations.rs  the logins that have ended, in memory; kept in step with auth
//! series.rs    the metrics it records, declared before the first scrape
//! cursor.rs    one socket's place in its user's event sequence: no duplicate, no gap
//! http/        /v1 handlers, extractors (the client's address among them), health, OpenAPI
//! ws/          the WebSocket endpoint, JSON-RPC codec, client-facing method table, admission
//! ```

pub mod admin;
pub mod config;
pub mod cursor;
pub mod error;
pub mod http;
pub mod hub;
pub mod listener;
pub mod revocations;
pub mod series;
pub mod state;
pub mod tls;
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
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};
use warren_bus::BusError;

/// Why the gateway could not run.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("cannot subscribe to events: {0}")]
    Events(#[from] BusError),
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// The gateway's routes and layers, for a real listener or for tests.
pub fn app(state: AppState) -> Router {
    let cors = cors(&state.config().cors_origins);
    let body_limit = state.config().max_body_bytes;
    let web = state.config().web;
    // GET: the HTTP/1.1 upgrade; CONNECT: a stream of an HTTP/2 connection (RFC 8441).
    let routes = http::routes().route("/ws", get(ws::upgrade).connect(ws::upgrade));
    let routes = if web {
        routes.merge(http::web::routes())
    } else {
        routes
    };
    routes
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(cors)
        .with_state(state)
}

/// `*` among the origins allows any, without credentials: tower-http refuses `*` in a list (it
/// panics), and no credentials are needed since tokens travel in the Authorization header.
fn cors(origins: &[String]) -> CorsLayer {
    let allow = if origins.iter().any(|origin| origin.trim() == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|origin| HeaderValue::from_str(origin.trim()).ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
}

/// Beyond the call timeout, how long shutdown waits for sockets to send their last replies and
/// close.
const SOCKET_CLOSE: std::time::Duration = std::time::Duration::from_secs(2);

/// Subscribes to events, then serves HTTP and WebSockets on `listener` until the state's
/// shutdown token is cancelled. Then it stops accepting; HTTP requests in flight finish; each
/// socket stops reading, sends the replies to the requests it holds, and closes with 1001.
/// No admin listener: see [`serve_with_admin`].
pub async fn serve(listener: TcpListener, state: AppState) -> Result<(), GatewayError> {
    serve_with_admin(listener, None, state).await
}

/// [`serve`], and `/metrics`, `/healthz` and `/readyz` on `admin` until the sockets have drained.
pub async fn serve_with_admin(
    listener: TcpListener,
    admin: Option<TcpListener>,
    state: AppState,
) -> Result<(), GatewayError> {
    // Before the admin listener answers: the first scrape shows every series.
    series::declare();
    let shutdown = state.shutdown().clone();
    // Before anything else starts: without a certificate that loads, nothing is served.
    let tls = match &state.config().tls {
        Some(files) => {
            let certificates = Arc::new(tls::Certificates::load(files)?);
            let acceptor = certificates.acceptor()?;
            tokio::spawn(certificates.keep_current(shutdown.clone()));
            Some(acceptor)
        }
        None => None,
    };
    // Subscribed before the first client connects, so no event for it is missed.
    let subscription = hub::Hub::subscribe(state.bus()).await?;
    let events = tokio::spawn(Arc::clone(state.hub()).run(subscription, shutdown.clone()));
    // Subscribed first, so an end announced while the list is read is not missed either. Read
    // once before the first client (a service that is not running answers at once), then kept.
    let timeout = state.config().call_timeout;
    if let Err(error) = state.revocations().sync(state.bus(), timeout).await {
        tracing::info!(%error, "ended logins not read yet; not ready until auth answers");
    }
    let revocations = tokio::spawn({
        let (hub, bus, shutdown) = (
            Arc::clone(state.hub()),
            state.bus().clone(),
            shutdown.clone(),
        );
        async move {
            let closing = Arc::clone(&hub);
            hub.revocations()
                .keep_synced(&bus, timeout, shutdown, move |ended| {
                    closing.close_logins(None, &ended);
                })
                .await;
        }
    });
    let address = listener.local_addr()?;
    let admin_stop = CancellationToken::new();
    let admin = match admin {
        Some(admin) => {
            let admin_address = admin.local_addr()?;
            tracing::info!(%address, admin = %admin_address, tls = tls.is_some(), "gateway listening");
            let serving = admin::serve(admin, state.clone(), admin_stop.clone());
            Some(tokio::spawn(serving))
        }
        None => {
            tracing::info!(%address, tls = tls.is_some(), "gateway listening");
            None
        }
    };
    let purging = tokio::spawn({
        let (state, shutdown) = (state.clone(), shutdown.clone());
        async move { state.connect_limiter().purge_until(shutdown).await }
    });
    let sockets = state.sockets().clone();
    // The sockets' own wait: their requests in flight (each bounded by the call timeout), then
    // the closing handshake.
    let drain = state.config().call_timeout + SOCKET_CLOSE;
    let limits = state.config().listener;
    listener::serve(listener, app(state), limits, tls, shutdown).await;
    // The listener waits for HTTP requests, not for upgraded connections: those are ours to
    // wait for.
    sockets.close();
    if tokio::time::timeout(drain, sockets.wait()).await.is_err() {
        tracing::warn!(
            open = sockets.len(),
            "sockets still open at the end of shutdown"
        );
    }
    admin_stop.cancel();
    if let Some(admin) = admin {
        match admin.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "the admin listener failed"),
            Err(error) => tracing::error!(%error, "the admin listener task failed"),
        }
    }
    let _ = purging.await;
    let _ = revocations.await;
    if let Err(error) = events.await {
        tracing::error!(%error, "event delivery task failed");
    }
    Ok(())
}
