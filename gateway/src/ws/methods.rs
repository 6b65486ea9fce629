//! The methods a client may call over the WebSocket, and the service that answers each.
//!
//! Only these are forwarded: service-to-service methods (`accounts.create`, `accounts.claim`,
//! `auth.revoke_user`, `sessions.create`, `rooms.holds`, …) are not reachable from a socket
//! whatever the client sends.

/// Client-facing method → the service whose queue serves it.
const CLIENT_METHODS: &[(&str, &str)] = &[
    ("accounts.me", "accounts"),
    ("accounts.get", "accounts"),
    ("rooms.create", "rooms"),
    ("rooms.list", "rooms"),
    ("rooms.join", "rooms"),
    ("rooms.leave", "rooms"),
    ("rooms.ready", "rooms"),
    ("private_rooms.create", "private_rooms"),
    ("private_rooms.invite", "private_rooms"),
    ("private_rooms.join", "private_rooms"),
    ("private_rooms.leave", "private_rooms"),
    ("private_rooms.close", "private_rooms"),
    ("matchmaker.start", "matchmaker"),
    ("matchmaker.cancel", "matchmaker"),
    ("matchmaker.status", "matchmaker"),
    ("sessions.join", "sessions"),
    ("sessions.command", "sessions"),
    ("sessions.leave", "sessions"),
];

/// Every method a client may call, with the service that serves it.
pub fn client_methods() -> impl Iterator<Item = (&'static str, &'static str)> {
    CLIENT_METHODS.iter().copied()
}

/// The service that serves `method`, if a client may call it.
pub fn service_for(method: &str) -> Option<&'static str> {
    CLIENT_METHODS
        .iter()
        .find(|(name, _)| *name == method)
        .map(|(_, service)| *service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_methods_route_and_internal_ones_do_not() {
        assert_eq!(service_for("accounts.me"), Some("accounts"));
        assert_eq!(service_for("private_rooms.join"), Some("private_rooms"));
        for internal in [
            "accounts.create",
            "auth.revoke_user",
            "auth.login",
            "sessions.create",
            "sessions.modes",
            "sessions.holds",
            "rooms.holds",
            "private_rooms.holds",
            "accounts.claim",
            "accounts.hand_over",
            "accounts.release",
            "accounts.record_result",
            "events.resume",
            "",
        ] {
            assert_eq!(service_for(internal), None, "{internal}");
        }
    }
}
