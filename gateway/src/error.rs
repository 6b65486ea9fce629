//! Errors at the HTTP edge: a stable code and a short message, with the status that fits.
//!
//! The client gets `{"error": {"code", "message"}}`; what caused it (a bus failure, a service
//! fault) is logged here, once, and never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use warren_bus::CallError;
use warren_contracts::{ErrorCode, WireError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: WireError,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            error: WireError::new(code, message),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    /// A body that is not JSON at all.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidParams, message)
    }

    /// JSON of the wrong shape, or values a service refused.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidParams,
            message,
        )
    }
}

/// The HTTP status for an error code.
pub fn status_for(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidParams => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound | ErrorCode::UnknownMethod => StatusCode::NOT_FOUND,
        ErrorCode::AlreadyExists
        | ErrorCode::RoomFull
        | ErrorCode::AlreadyInRoom
        | ErrorCode::InSession
        | ErrorCode::AlreadySearching
        | ErrorCode::NotYourTurn
        | ErrorCode::IllegalMove
        | ErrorCode::GameOver
        | ErrorCode::ResumeGap => StatusCode::CONFLICT,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<CallError> for ApiError {
    fn from(error: CallError) -> Self {
        if !matches!(error, CallError::Service(_)) {
            tracing::warn!(%error, "service call failed");
        }
        let wire = error.to_wire();
        Self {
            status: status_for(wire.code),
            error: wire,
        }
    }
}

impl IntoResponse for ApiError {
    /// The body, and `Retry-After` in whole seconds (at least one) when the error says when to
    /// try again.
    fn into_response(self) -> Response {
        let retry_after = self.error.retry_after_ms.map(|ms| ms.div_ceil(1000).max(1));
        let body = serde_json::json!({ "error": self.error });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
