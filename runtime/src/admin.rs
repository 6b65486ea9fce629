//! A service process's own small HTTP side, for orchestrators and operators: `/healthz` (the
//! process runs), `/readyz` (its broker connection and Redis answer; 503 otherwise) and `/metrics`
//! (Prometheus text), on `--listen` (`WARREN_LISTEN`). The gateway serves the same paths on its
//! own listener.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use warren_bus::Bus;

#[derive(Clone)]
struct Backends {
    bus: Bus,
    redis: Option<crate::Redis>,
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(backends): State<Backends>) -> (StatusCode, Json<Value>) {
    let mut checks = serde_json::Map::new();
    checks.insert("bus".into(), json!(backends.bus.is_connected()));
    if let Some(mut redis) = backends.redis {
        let pong = redis::cmd("PING").query_async::<String>(&mut redis).await;
        checks.insert("redis".into(), json!(pong.is_ok()));
    }
    readiness(checks)
}

/// The `/readyz` answer for named checks: 200 when every one is true, 503 otherwise, with each
/// check's result in the body.
pub fn readiness(checks: serde_json::Map<String, Value>) -> (StatusCode, Json<Value>) {
    let ready = checks.values().all(|v| v == &json!(true));
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(json!({ "ready": ready, "checks": checks })))
}

/// The routes, for a listener or for tests.
pub fn routes(bus: Bus, redis: Option<crate::Redis>) -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(crate::metrics::render))
        .with_state(Backends { bus, redis })
}

/// Serves the routes on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    bus: Bus,
    redis: Option<crate::Redis>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, routes(bus, redis))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
