//! `/healthz`: the process is up. `/readyz`: the bus and every other backend answer.

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let mut checks = serde_json::Map::new();
    checks.insert("bus".into(), json!(state.bus().is_connected()));
    for (name, probe) in state.probes() {
        checks.insert((*name).into(), json!(probe().await));
    }
    warren_runtime::admin::readiness(checks)
}
