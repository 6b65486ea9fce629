//! Stable error codes and the error body that carries them.
//!
//! A code names one kind of failure for good: clients branch on it, so a code is added when needed
//! but never renamed or given another meaning. The same codes travel between services and reach
//! game clients (`error.data.code` over WebSocket, `error.code` over HTTP).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Every error code Warren uses, serialised in snake_case.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct WireError {
    pub code: ErrorCode,
    pub message: String,
}

impl WireError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
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
    fn an_unknown_code_is_refused() {
        assert!(serde_json::from_str::<ErrorCode>("\"no_such_code\"").is_err());
    }
}
