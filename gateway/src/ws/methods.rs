//! The methods a client may call over the WebSocket, and the service that answers each.
//!
//! Only these are forwarded: service-to-service methods (`accounts.create`, `accounts.claim`,
//! `auth.revoke_user`, `sessions.create`, `rooms.holds`, …) are not reachable from a socket
//! whatever the client sends. Which is which is declared with each method in `warren-contracts`
//! (`Method::CLIENT`), so a new client method is routed, and has its metrics, once declared there.

/// Every method a client may call, with the service that serves it.
pub fn client_methods() -> impl Iterator<Item = (&'static str, &'static str)> {
    warren_contracts::methods()
        .filter(|method| method.client)
        .map(|method| (method.name, method.service))
}

/// The service that serves `method`, if a client may call it.
pub fn service_for(method: &str) -> Option<&'static str> {
    client_methods()
        .find(|(name, _)| *name == method)
        .map(|(_, service)| service)
}

#[cfg(test)]
mod tests {
    use super::*;
    use warren_contracts::Method;
    use warren_contracts::{accounts, activity, auth, matchmaker, private_rooms, rooms, sessions};

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

    #[test]
    fn every_method_contracts_marks_for_clients_is_routed_to_its_service() {
        let marked: Vec<_> = warren_contracts::methods()
            .filter(|method| method.client)
            .collect();
        assert!(!marked.is_empty());
        for method in marked {
            assert_eq!(
                service_for(method.name),
                Some(method.service),
                "{}",
                method.name
            );
        }
    }

    #[test]
    fn methods_between_services_are_refused_from_clients() {
        let between_services = [
            activity::ClaimMethod::NAME,
            activity::HandOverMethod::NAME,
            activity::ReleaseMethod::NAME,
            accounts::Create::NAME,
            accounts::RecordResult::NAME,
            auth::RevokeUserMethod::NAME,
            matchmaker::HoldsMethod::NAME,
            private_rooms::HoldsMethod::NAME,
            rooms::HoldsMethod::NAME,
            sessions::HoldsMethod::NAME,
            sessions::Create::NAME,
            sessions::Modes::NAME,
        ];
        for name in between_services {
            assert_eq!(service_for(name), None, "{name}");
        }
        for method in warren_contracts::methods().filter(|method| !method.client) {
            assert_eq!(service_for(method.name), None, "{}", method.name);
        }
    }
}
