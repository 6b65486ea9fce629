//! `POST /v1/auth/...`: register, login, refresh, logout, forwarded to the auth service.

use super::client::ClientAddr;
use super::extract::Body;
use crate::error::ApiError;
use crate::state::AppState;
use crate::token;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use warren_bus::CallOptions;
use warren_contracts::auth::{
    Credentials, Login, Logout, LogoutParams, Refresh, RefreshToken, Register, Registered, Tokens,
};

/// Auth counts its throttles per client address: it gets the one this gateway believes.
fn options(state: &AppState, client: &ClientAddr) -> CallOptions {
    CallOptions::default()
        .timeout(state.config().call_timeout)
        .request_id(uuid::Uuid::new_v4().to_string())
        .client_addr(client.ip().to_string())
}

/// Creates a user and their account.
#[utoipa::path(post, path = "/v1/auth/register", tag = "auth", request_body = Credentials,
    responses(
        (status = 201, description = "registered", body = Registered),
        (status = 409, description = "the username is taken", body = crate::http::openapi::ErrorBody),
        (status = 422, description = "username or password out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 429, description = "too many requests from this address, or no hashing slot free; see Retry-After", body = crate::http::openapi::ErrorBody),
    ))]
pub async fn register(
    State(state): State<AppState>,
    client: ClientAddr,
    Body(credentials): Body<Credentials>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    let registered = state
        .bus()
        .call::<Register>(&credentials, options(&state, &client))
        .await?;
    Ok((StatusCode::CREATED, Json(registered)))
}

/// Exchanges a username and password for a token pair.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = Credentials,
    responses(
        (status = 200, description = "logged in", body = Tokens),
        (status = 401, description = "wrong username or password", body = crate::http::openapi::ErrorBody),
        (status = 429, description = "too many failed logins for this username from this address, too many from this address, or no hashing slot free; see Retry-After", body = crate::http::openapi::ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    client: ClientAddr,
    Body(credentials): Body<Credentials>,
) -> Result<Json<Tokens>, ApiError> {
    Ok(Json(
        state
            .bus()
            .call::<Login>(&credentials, options(&state, &client))
            .await?,
    ))
}

/// Exchanges a refresh token for a new pair; the old refresh token stops working.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshToken,
    responses(
        (status = 200, description = "a new token pair", body = Tokens),
        (status = 401, description = "unknown, used, revoked or expired refresh token", body = crate::http::openapi::ErrorBody),
        (status = 429, description = "too many requests from this address; see Retry-After", body = crate::http::openapi::ErrorBody),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    client: ClientAddr,
    Body(token): Body<RefreshToken>,
) -> Result<Json<Tokens>, ApiError> {
    Ok(Json(
        state
            .bus()
            .call::<Refresh>(&token, options(&state, &client))
            .await?,
    ))
}

/// Ends a login: the refresh token's, or with `all` every login of its user or of the caller of
/// the access token in `Authorization` (which may stand in for the refresh token then).
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", request_body = LogoutParams,
    responses(
        (status = 204, description = "logged out; sockets opened with the ended logins' tokens are closed (4003)"),
        (status = 401, description = "`all` without a refresh token, and no valid access token", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "the refresh token is not the caller's (its login is ended all the same)", body = crate::http::openapi::ErrorBody),
        (status = 422, description = "neither a refresh token nor `all`", body = crate::http::openapi::ErrorBody),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    Body(params): Body<LogoutParams>,
) -> Result<StatusCode, ApiError> {
    let mut options = options(&state, &client);
    if let Some(token) = token::bearer(&headers) {
        match state.authenticate(token) {
            Ok(caller) => options = options.user_id(caller.user_id),
            // An expired access token does not stop a logout that names its refresh token.
            Err(_) if params.refresh_token.is_some() => {}
            Err(why) => return Err(ApiError::unauthorized(why)),
        }
    } else if params.all && params.refresh_token.is_none() {
        return Err(ApiError::unauthorized(
            "logging out everywhere needs the refresh token or an access token",
        ));
    }
    state.bus().call::<Logout>(&params, options).await?;
    Ok(StatusCode::NO_CONTENT)
}
