//! Presence: the gateways say when a user's first socket on them opens and when their last one
//! closes, on the `gateway.events` exchange. A user is online while any gateway says so; the
//! sessions service gives a player who goes offline a grace period to come back.

use serde::{Deserialize, Serialize};

/// The exchange presence events go on: `gateway.events`.
pub const SERVICE: &str = "gateway";
pub const ONLINE: &str = "presence.online";
pub const OFFLINE: &str = "presence.offline";

/// The data of a presence event.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    pub user_id: String,
    /// Which gateway instance: a user may have sockets on several.
    pub gateway_id: String,
}
