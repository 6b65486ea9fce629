//! `/v1/rooms`: the open public rooms, for lobby pages and tools, for a logged-in caller.

use super::extract::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use warren_bus::CallOptions;
use warren_contracts::rooms::{List, ListRooms, Room};

/// Open public rooms with a free seat, newest first.
#[utoipa::path(get, path = "/v1/rooms", tag = "rooms", security(("bearer" = [])),
    params(ListRooms),
    responses(
        (status = 200, description = "the rooms", body = Vec<Room>),
        (status = 401, description = "no valid access token", body = crate::http::openapi::ErrorBody),
        (status = 422, description = "a bad mode or limit", body = crate::http::openapi::ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListRooms>, QueryRejection>,
) -> Result<Json<Vec<Room>>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::invalid(rejection.body_text()))?;
    let options = CallOptions::default()
        .timeout(state.config().call_timeout)
        .request_id(uuid::Uuid::new_v4().to_string())
        .user_id(caller.0);
    Ok(Json(state.bus().call::<List>(&query, options).await?))
}
