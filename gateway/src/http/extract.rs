//! Extractors that answer bad input in Warren's error format: a JSON body, and the caller.

use crate::error::ApiError;
use crate::state::AppState;
use crate::token;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// A JSON body; malformed JSON is 400, the wrong shape 422, both as `invalid_params`.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::invalid(e.body_text())),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::malformed(
                "send the body as JSON with Content-Type: application/json",
            )),
            Err(e) => Err(ApiError::malformed(e.body_text())),
        }
    }
}

/// The authenticated caller, from `Authorization: Bearer`, with a token whose login has not
/// ended.
#[derive(Debug, Clone)]
pub struct Caller(pub String);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = token::bearer(&parts.headers)
            .ok_or_else(|| ApiError::unauthorized("an access token is required"))?;
        state
            .authenticate(token)
            .map(|verified| Caller(verified.user_id))
            .map_err(ApiError::unauthorized)
    }
}
