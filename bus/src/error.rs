//! The bus's error types: what a caller can branch on.
//!
//! [`CallError`] is what an RPC call ends with; each variant maps to one stable [`ErrorCode`] so
//! the gateway can hand it to a client as is. [`BusError`] covers everything else the bus does
//! (publishing, subscribing, serving).

use std::time::Duration;
use warren_contracts::{ErrorCode, WireError};

/// Why an RPC call did not produce a result.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The service handled the request and answered with this error.
    #[error(transparent)]
    Service(WireError),
    /// No reply came within the call's deadline.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The request could not be delivered: no instance serves the queue, or the broker is away.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A reply came but could not be read; a caller and a service disagree on the contract.
    #[error("unreadable reply: {0}")]
    BadReply(String),
    /// The request could not be encoded.
    #[error("could not encode the request: {0}")]
    Encode(String),
}

impl CallError {
    /// Whether the service answered that it did not do what was asked and will not: an error of
    /// its own, not one of being unable to answer now (`unavailable`, `timeout`, `internal`), nor
    /// a missing answer. After anything else the request may have been applied, so a caller that
    /// must not act twice asks again, under the same request id, rather than undo.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            CallError::Service(error)
                if !matches!(error.code, ErrorCode::Unavailable | ErrorCode::Timeout | ErrorCode::Internal)
        )
    }

    /// The stable code a client sees for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            CallError::Service(error) => error.code,
            CallError::Timeout(_) => ErrorCode::Timeout,
            CallError::Unavailable(_) => ErrorCode::Unavailable,
            CallError::BadReply(_) | CallError::Encode(_) => ErrorCode::Internal,
        }
    }

    /// The error as it should travel on: the service's own error unchanged, anything else with a
    /// message that names no internals.
    pub fn to_wire(&self) -> WireError {
        match self {
            CallError::Service(error) => error.clone(),
            CallError::Timeout(_) => {
                WireError::new(ErrorCode::Timeout, "the service did not answer in time")
            }
            CallError::Unavailable(_) => {
                WireError::new(ErrorCode::Unavailable, "the service is unavailable")
            }
            CallError::BadReply(_) | CallError::Encode(_) => {
                WireError::new(ErrorCode::Internal, "internal error")
            }
        }
    }
}

/// Why a bus operation other than a call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BusError {
    /// Not connected to the broker, or the connection broke during the operation.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The broker refused the operation (a declaration that conflicts, missing permissions).
    #[error("broker refused: {0}")]
    Refused(String),
    /// The broker did not confirm a published event.
    #[error("the broker did not confirm the publish")]
    NotConfirmed,
    /// A message could not be encoded.
    #[error("could not encode: {0}")]
    Encode(String),
}

impl BusError {
    pub fn code(&self) -> ErrorCode {
        match self {
            BusError::Unavailable(_) | BusError::NotConfirmed => ErrorCode::Unavailable,
            BusError::Refused(_) | BusError::Encode(_) => ErrorCode::Internal,
        }
    }
}

impl From<lapin::Error> for BusError {
    fn from(error: lapin::Error) -> Self {
        if error.is_amqp_soft_error() {
            BusError::Refused(error.to_string())
        } else {
            BusError::Unavailable(error.to_string())
        }
    }
}
