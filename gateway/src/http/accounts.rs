//! `/v1/accounts/...`: the caller's account, and anyone's public view, for a logged-in caller.

use super::extract::{Body, Caller};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use warren_bus::CallOptions;
use warren_contracts::Empty;
use warren_contracts::accounts::{Account, AccountUpdate, Delete, Get, Me, Update, UserId};

fn options(state: &AppState, caller: &Caller) -> CallOptions {
    CallOptions::default()
        .timeout(state.config().call_timeout)
        .request_id(uuid::Uuid::new_v4().to_string())
        .user_id(caller.0.clone())
}

/// The caller's account.
#[utoipa::path(get, path = "/v1/accounts/me", tag = "accounts", security(("bearer" = [])),
    responses(
        (status = 200, description = "the account", body = Account),
        (status = 401, description = "no valid access token", body = crate::http::openapi::ErrorBody),
    ))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<Account>, ApiError> {
    let options = options(&state, &caller);
    Ok(Json(state.bus().call::<Me>(&Empty {}, options).await?))
}

/// Renames the caller.
#[utoipa::path(patch, path = "/v1/accounts/me", tag = "accounts", security(("bearer" = [])),
    request_body = AccountUpdate,
    responses(
        (status = 200, description = "the updated account", body = Account),
        (status = 422, description = "display name out of bounds", body = crate::http::openapi::ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Body(update): Body<AccountUpdate>,
) -> Result<Json<Account>, ApiError> {
    let options = options(&state, &caller);
    Ok(Json(state.bus().call::<Update>(&update, options).await?))
}

/// Deletes the caller's account; their credentials stop working.
#[utoipa::path(delete, path = "/v1/accounts/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 204, description = "deleted")))]
pub async fn delete(State(state): State<AppState>, caller: Caller) -> Result<StatusCode, ApiError> {
    let options = options(&state, &caller);
    state.bus().call::<Delete>(&Empty {}, options).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Anyone's public view.
#[utoipa::path(get, path = "/v1/accounts/{user_id}", tag = "accounts", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "the user's id")),
    responses(
        (status = 200, description = "the public view", body = Account),
        (status = 404, description = "no such account", body = crate::http::openapi::ErrorBody),
    ))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<Json<Account>, ApiError> {
    let options = options(&state, &caller);
    Ok(Json(
        state
            .bus()
            .call::<Get>(&UserId { user_id }, options)
            .await?,
    ))
}
