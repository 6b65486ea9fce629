//! The gateway's admin listener (`--admin-listen`, 127.0.0.1:9464 by default): `/metrics`,
//! `/healthz` and `/readyz`, apart from the client port. Clients have no business reading the
//! gateway's numbers, and a scrape is costly enough (the samplers ask the stores) that anyone
//! able to request it in a loop could load the gateway.

use crate::http::health;
use crate::state::AppState;
use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The admin routes, for a listener or for tests.
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(warren_runtime::metrics::render))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state)
}

/// Serves the admin routes on `listener` until `stop`: the gateway stops it last, once its
/// sockets have drained, so that shutdown itself can be watched.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    stop: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, routes(state))
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
}
