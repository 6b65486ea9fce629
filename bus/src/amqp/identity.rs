//! Who publishes, as RabbitMQ vouches for it, and whose word a server takes for a player.
//!
//! Every message the bus publishes (requests, replies, events) carries the AMQP `user_id`
//! property: the broker user of its connection, read from the URL. RabbitMQ refuses a publish
//! whose `user_id` is not the connection's own user (`PRECONDITION_FAILED`), unless that user has
//! the `impersonator` tag, which no Warren user gets. So on a delivery the property names the
//! broker user that published it, and cannot be forged.
//!
//! A request made on a player's behalf (one with `x-user-id`) is served only when the gateway's
//! broker user published it: from any other it is answered `forbidden` and its handler never
//! runs. Calls between services carry no player and are served from any user the broker lets
//! publish to the queue.

use crate::error::BusError;
use crate::rpc::RequestContext;
use lapin::BasicProperties;
use lapin::types::ShortString;
use lapin::uri::AMQPUri;
use warren_contracts::{ErrorCode, WireError};

/// What a server answers a request on a player's behalf that the gateway did not publish.
pub(crate) const NOT_FROM_THE_GATEWAY: &str =
    "calls on a player's behalf are accepted only from the gateway's broker user";

/// This connection's broker user, and the gateway's.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// The user the connection logs in as: every message published on it says so.
    user: ShortString,
    /// The broker user whose requests may carry a player's id.
    gateway: String,
}

impl Identity {
    /// The user of `url`; the gateway's is `gateway_user`, or this same user when not given.
    pub(crate) fn new(url: &str, gateway_user: Option<&str>) -> Result<Self, BusError> {
        let uri: AMQPUri = url
            .parse()
            .map_err(|e| BusError::Unavailable(format!("the broker URL is not valid: {e}")))?;
        let user = uri.authority.userinfo.username;
        let gateway = gateway_user.map_or_else(|| user.clone(), str::to_owned);
        Ok(Self {
            user: user.into(),
            gateway,
        })
    }

    /// The properties every message published on this connection starts from: its `user_id`.
    pub(crate) fn properties(&self) -> BasicProperties {
        BasicProperties::default().with_user_id(self.user.clone())
    }

    /// Whether a request with `properties` may be served with `ctx`: one on a player's behalf
    /// only when the gateway's user published it, one between services always.
    pub(crate) fn admit(
        &self,
        ctx: &RequestContext,
        properties: &BasicProperties,
    ) -> Result<(), WireError> {
        if ctx.user_id.is_none() {
            return Ok(());
        }
        let publisher = properties.user_id().as_ref().map(ShortString::as_str);
        if publisher == Some(self.gateway.as_str()) {
            return Ok(());
        }
        tracing::warn!(
            publisher = publisher.unwrap_or("unknown"),
            gateway = %self.gateway,
            "refused a call on a player's behalf that the gateway's broker user did not publish"
        );
        Err(WireError::new(ErrorCode::Forbidden, NOT_FROM_THE_GATEWAY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(user_id: Option<&str>) -> RequestContext {
        RequestContext {
            method: "rooms.create".into(),
            request_id: None,
            user_id: user_id.map(str::to_owned),
            client_addr: None,
            deadline_ms: u64::MAX,
            redelivered: false,
            trace: Default::default(),
        }
    }

    fn published_by(user: Option<&str>) -> BasicProperties {
        match user {
            Some(user) => BasicProperties::default().with_user_id(user.into()),
            None => BasicProperties::default(),
        }
    }

    fn user(identity: &Identity) -> Option<String> {
        let properties = identity.properties();
        properties.user_id().as_ref().map(|u| u.as_str().to_owned())
    }

    #[test]
    fn the_user_comes_from_the_url_and_is_trusted_unless_told_otherwise() {
        let own = Identity::new("amqp://warren-rooms:pw@rabbitmq:5672/warren", None).unwrap();
        assert_eq!(user(&own).as_deref(), Some("warren-rooms"));
        assert!(
            own.admit(&context(Some("ada")), &published_by(Some("warren-rooms")))
                .is_ok()
        );
        let escaped = Identity::new("amqp://warren%2Dgateway:p%40ss@h/v", None).unwrap();
        assert_eq!(user(&escaped).as_deref(), Some("warren-gateway"));
        let anonymous = Identity::new("amqp://127.0.0.1:5672", None).unwrap();
        assert_eq!(
            user(&anonymous).as_deref(),
            Some("guest"),
            "lapin's default"
        );
        assert!(Identity::new("not a url", None).is_err());
    }

    #[test]
    fn only_the_gateway_speaks_for_a_player() {
        let rooms = Identity::new("amqp://warren-rooms:pw@h/v", Some("warren-gateway")).unwrap();
        let player = context(Some("ada"));
        assert!(
            rooms
                .admit(&player, &published_by(Some("warren-gateway")))
                .is_ok()
        );
        for publisher in [Some("warren-rooms"), Some("warren-auth"), None] {
            let refused = rooms.admit(&player, &published_by(publisher)).unwrap_err();
            assert_eq!(refused.code, ErrorCode::Forbidden, "{publisher:?}");
            assert_eq!(refused.message, NOT_FROM_THE_GATEWAY);
        }
        // Between services: whoever published it.
        for publisher in [Some("warren-auth"), None] {
            assert!(
                rooms
                    .admit(&context(None), &published_by(publisher))
                    .is_ok()
            );
        }
    }
}
