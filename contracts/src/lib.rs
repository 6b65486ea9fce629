//! Every message that crosses a process boundary in Warren.
//!
//! Services and the gateway share these types and nothing else. The wire format is plain JSON so
//! that a client in any language can speak to a service queue directly (see `docs/bus.md`).
//!
//! - [`error`]: the stable error codes and the `{code, message}` error body.
//! - [`rpc`]: the reply envelope, the AMQP header names, and the [`rpc::Method`] trait that ties a
//!   method name to its parameter and result types.
//! - [`event`]: the event envelope published on `<service>.events`.
//! - [`auth`], [`accounts`], [`sessions`], [`rooms`], [`private_rooms`], [`matchmaker`]: each
//!   service's methods, with their parameter and result types.
//! - [`activity`]: where a user is (a room, a queue, a session), kept by `accounts` so that nobody
//!   is in two places at once.

pub mod accounts;
pub mod activity;
pub mod auth;
pub mod error;
pub mod event;
pub mod matchmaker;
pub mod presence;
pub mod private_rooms;
pub mod rooms;
pub mod rpc;
pub mod sessions;

pub use error::{ErrorCode, WireError};
pub use event::Event;
pub use rpc::{Empty, Method, Reply};
