//! Every message that crosses a process boundary in Warren.
//!
//! Services and the gateway share these types and nothing else. The wire format is plain JSON so
//! that a client in any language can speak to a service queue directly (see `docs/bus.md`).
//!
//! - [`error`]: the stable error codes and the `{code, message}` error body.
//! - [`rpc`]: the reply envelope, the AMQP header names, and the [`rpc::Method`] trait that ties a
//!   method name to its parameter and result types and says whether clients may call it;
//!   [`methods`] lists every method declared here.
//! - [`event`]: the event envelope published on `<service>.events`.
//! - [`auth`], [`accounts`], [`sessions`], [`rooms`], [`private_rooms`], [`matchmaker`]: each
//!   service's methods, with their parameter and result types.
//! - [`schema`]: the client-facing methods, events and HTTP bodies as one JSON
//!   Schema document, which the TypeScript client's types are generated from.
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
pub mod schema;
pub mod sessions;

pub use error::{ErrorCode, WireError};
pub use event::Event;
pub use rpc::{Empty, Method, MethodInfo, Reply};

/// Every method declared here, service by service: the one list the gateway derives what clients
/// may call from.
pub fn methods() -> impl Iterator<Item = &'static MethodInfo> {
    [
        accounts::METHODS,
        activity::METHODS,
        auth::METHODS,
        matchmaker::METHODS,
        private_rooms::METHODS,
        rooms::METHODS,
        sessions::METHODS,
    ]
    .into_iter()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn each_method_is_listed_once_under_its_service() {
        let mut names = HashSet::new();
        for method in methods() {
            assert!(names.insert(method.name), "{} twice", method.name);
            let prefix = method.name.split('.').next().unwrap_or_default();
            assert_eq!(prefix, method.service, "{}", method.name);
        }
    }

    /// A method declared outside `declare_methods!` would be missing from [`methods`], and so
    /// from the gateway, whatever it says of clients.
    #[test]
    fn every_method_declared_here_is_listed() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut declared = 0;
        for entry in std::fs::read_dir(src).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            declared += text
                .lines()
                // Not the pattern of `declare_methods!` itself.
                .filter(|line| {
                    line.trim_start().starts_with("impl Method for ") && !line.contains('$')
                })
                .count();
        }
        assert_eq!(methods().count(), declared);
    }
}
