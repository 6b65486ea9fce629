//! Stable error codes and the error body that carries them.
//!
//! A code names one kind of failure for good: clients branch on it, so a code is added when needed
//! but never renamed or given another meaning. The same codes travel between services and reach
//! game clients (`error.data.code` over WebSocket, `error.code` over HTTP).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Every error code Warren uses, serialised in snake_case.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidParams,
    Unauthorized,
    Forbidden,
    NotFound,
    AlreadyExists,
    RateLimited,
    RoomFull,
    AlreadyInRoom,
    InSession,
    AlreadySearching,
    NotYourTurn,
    IllegalMove,
    GameOver,
    ResumeGap,
    /// The service has no method of that name (a caller and a service of different versions).
    UnknownMethod,
    /// Nobody serves the target right now, or the broker or a store is unreachable.
    Unavailable,
    /// The call's deadline passed before a reply arrived.
    Timeout,
    Internal,
}

impl ErrorCode {
    /// Every code, for documentation and exhaustive tests.
    pub const ALL: [ErrorCode; 18] = [
        ErrorCode::InvalidParams,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::AlreadyExists,
        ErrorCode::RateLimited,
        ErrorCode::RoomFull,
        ErrorCode::AlreadyInRoom,
        ErrorCode::InSession,
        ErrorCode::AlreadySearching,
        ErrorCode::NotYourTurn,
        ErrorCode::IllegalMove,
        ErrorCode::GameOver,
        ErrorCode::ResumeGap,
        ErrorCode::UnknownMethod,
        ErrorCode::Unavailable,
        ErrorCode::Timeout,
        ErrorCode::Internal,
    ];

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidParams => "invalid_params",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::AlreadyInRoom => "already_in_room",
            ErrorCode::InSession => "in_session",
            ErrorCode::AlreadySearching => "already_searching",
            ErrorCode::NotYourTurn => "not_your_turn",
            ErrorCode::IllegalMove => "illegal_move",
            ErrorCode::GameOver => "game_over",
            ErrorCode::ResumeGap => "resume_gap",
            ErrorCode::UnknownMethod => "unknown_method",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as it travels: a stable code and a short message meant for the caller.
///
/// The message says what was wrong with the request; it never carries internal detail (that goes
/// to the service's log).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error,
)]
#[error("{code}: {message}")]
pub struct WireError {
    pub code: ErrorCode,
    pub message: String,
    /// For `rate_limited` (and `unavailable`): milliseconds after which the same request may
    /// succeed, when the service knows. The gateway turns it into a `Retry-After` header (rounded
    /// up to whole seconds) and passes it to WebSocket clients in `error.data`. Absent from the
    /// JSON when unknown, so older readers see the body they always did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl WireError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// The same error with a hint of when to try again (at least 1 ms, so that a hint is never
    /// "now").
    pub fn retry_after(mut self, after: std::time::Duration) -> Self {
        let millis = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
        self.retry_after_ms = Some(millis.max(1));
        self
    }
}

/// The longest id (of a room, a ticket, a user) a service accepts in a request's parameters: ids
/// are used in store keys, and one no service issues need not reach the store.
pub const MAX_ID_BYTES: usize = 64;

/// `invalid_params` unless `value`, the parameter `what`, is 1 to [`MAX_ID_BYTES`] bytes.
pub fn bounded(what: &str, value: &str) -> Result<(), WireError> {
    if value.is_empty() || value.len() > MAX_ID_BYTES {
        return Err(WireError::new(
            ErrorCode::InvalidParams,
            format!("{what} must be 1 to {MAX_ID_BYTES} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_their_wire_names() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back, code);
        }
    }

    #[test]
    fn retry_after_travels_only_when_known() {
        let plain = WireError::new(ErrorCode::RateLimited, "slow down");
        let json = serde_json::to_string(&plain).unwrap();
        assert!(!json.contains("retry_after_ms"), "{json}");
        let hinted = plain.retry_after(std::time::Duration::from_millis(1500));
        let json = serde_json::to_string(&hinted).unwrap();
        assert!(json.contains(r#""retry_after_ms":1500"#), "{json}");
        let back: WireError = serde_json::from_str(&json).unwrap();
        assert_eq!(back, hinted);
        let old: WireError =
            serde_json::from_str(r#"{"code":"rate_limited","message":"m"}"#).unwrap();
        assert_eq!(old.retry_after_ms, None);
    }

    #[test]
    fn an_unknown_code_is_refused() {
        assert!(serde_json::from_str::<ErrorCode>("\"no_such_code\"").is_err());
    }
}
