//! A change forwarded by the instance that received it to the session's owner, on the owner's
//! own queue. The forwarding instance calls as a service and names the player in the parameters:
//! over RabbitMQ only the gateway's broker user may make a call on a player's behalf, and a
//! sessions instance is not the gateway. These methods are for sessions instances alone (the
//! gateway does not pass them on from clients, and they refuse calls made for a player).

use super::Action;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use warren_contracts::sessions::SERVICE;
use warren_contracts::{Empty, Method};

/// A player's command, forwarded to the session's owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ForwardedCommand {
    pub session_id: String,
    pub user_id: String,
    pub command: Value,
}

/// A player leaving, forwarded to the session's owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ForwardedLeave {
    pub session_id: String,
    pub user_id: String,
}

/// `sessions.forwarded_command`: `sessions.command` for `user_id`.
pub(crate) struct ForwardCommand;
impl Method for ForwardCommand {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "sessions.forwarded_command";
    /// As `sessions.command`: the owner recognises a command delivered again by its request id.
    const REMEMBER_REPLY: bool = false;
    type Params = ForwardedCommand;
    type Result = Empty;
}

/// `sessions.forwarded_leave`: `sessions.leave` for `user_id`.
pub(crate) struct ForwardLeave;
impl Method for ForwardLeave {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "sessions.forwarded_leave";
    type Params = ForwardedLeave;
    type Result = Empty;
}

/// The method and parameters that forward `user`'s `action` on `session_id`.
pub(super) fn request(session_id: &str, user: &str, action: &Action) -> (&'static str, Value) {
    match action {
        Action::Command(command) => (
            ForwardCommand::NAME,
            json!({"session_id": session_id, "user_id": user, "command": command}),
        ),
        Action::Leave => (
            ForwardLeave::NAME,
            json!({"session_id": session_id, "user_id": user}),
        ),
    }
}
