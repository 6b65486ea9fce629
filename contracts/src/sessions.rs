//! The `sessions` service's methods and events.
//!
//! Client-facing: `sessions.join`, `sessions.command`, `sessions.leave`. Service-to-service
//! only: `sessions.create` (rooms and the matchmaker start games with it), `sessions.modes`
//! (which games exist, for whoever seats players) and `sessions.holds`.

use crate::activity::{Holds as Held, HoldsQuery};
use crate::error::{ErrorCode, WireError};
use crate::rpc::{Empty, declare_methods};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const SERVICE: &str = "sessions";
/// Where the events services act on are published again for them alone (`session.finished`
/// and `session.player_left`, on `sessions.results.events`): a durable queue that must not miss
/// a result binds here rather than to `sessions.events`, so it does not queue every move.
pub const RESULTS: &str = "sessions.results";
pub const HOLDS: &str = "sessions.holds";

/// Event types published on `sessions.events`.
pub const STARTED: &str = "session.started";
pub const STATE: &str = "session.state";
pub const PLAYER_LEFT: &str = "session.player_left";
pub const FINISHED: &str = "session.finished";

#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Running,
    Finished,
}

/// A session as players see it.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub session_id: String,
    /// The game mode, e.g. `tic-tac-toe`.
    pub game: String,
    /// User ids, in seat order.
    pub players: Vec<String>,
    /// The game's state; its shape is the game's.
    pub state: Value,
    /// Grows by one with every accepted command.
    pub version: u64,
    pub status: Status,
    /// Set once finished: the winner, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner: Option<String>,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSession {
    pub mode: String,
    pub players: Vec<String>,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionId {
    pub session_id: String,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub session_id: String,
    pub command: Value,
}

/// `session.finished`'s data; accounts applies it to ratings, once per session.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finished {
    pub session_id: String,
    pub game: String,
    #[serde(default)]
    pub winner: Option<String>,
    pub players: Vec<String>,
}

/// `session.started`'s data.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStarted {
    pub session_id: String,
    pub game: String,
    /// The user ids in seat order.
    pub players: Vec<String>,
}

/// `session.state`'s data: the state after an accepted command or a leave.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateChanged {
    pub session_id: String,
    /// The game's state (see docs/games.md).
    pub state: Value,
    /// Grows by one with each change: apply them in this order.
    pub version: u64,
}

/// `session.player_left`'s data: who left for good.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerLeft {
    pub session_id: String,
    pub user_id: String,
}

declare_methods! {
/// `sessions.create` (service-to-service): starts a session and tells its players
/// (`session.started`).
pub struct Create;
impl Method for Create {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "sessions.create";
    type Params = NewSession;
    type Result = Session;
}

/// `sessions.join`: the session as it is now (also after a reconnect); players only.
pub struct Join;
impl Method for Join {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "sessions.join";
    const CLIENT: bool = true;
    const REMEMBER_REPLY: bool = false;
    type Params = SessionId;
    type Result = Session;
}

/// `sessions.command`: one command for the game; `{}` once applied, or the game's refusal.
pub struct SendCommand;
impl Method for SendCommand {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "sessions.command";
    const CLIENT: bool = true;
    /// The session's owner recognises a command delivered again by its request id, kept with the
    /// session in the command's own write: remembering the reply too would cost every command a
    /// second write.
    const REMEMBER_REPLY: bool = false;
    type Params = Command;
    type Result = Empty;
}

/// `sessions.leave`: the caller leaves the session for good.
pub struct Leave;
impl Method for Leave {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "sessions.leave";
    const CLIENT: bool = true;
    type Params = SessionId;
    type Result = Empty;
}

/// `sessions.modes` (service-to-service): every game mode, by name.
pub struct Modes;
impl Method for Modes {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "sessions.modes";
    const REMEMBER_REPLY: bool = false;
    type Params = Empty;
    type Result = Vec<GameMode>;
}

/// `sessions.holds` (service-to-service): is the user still playing in this session (seated, not
/// gone, the game not over)?
pub struct HoldsMethod;
impl Method for HoldsMethod {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = HOLDS;
    const REMEMBER_REPLY: bool = false;
    type Params = HoldsQuery;
    type Result = Held;
}
}

/// One game mode the service runs, and how many players its sessions take.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameMode {
    pub mode: String,
    pub min_players: u32,
    pub max_players: u32,
}

/// Checks that `mode` is one of `modes` and that a game of `players` players fits both the game
/// and the caller's own bounds (`least..=most`, e.g. a room's); the message says what would do.
pub fn check_mode(
    modes: &[GameMode],
    mode: &str,
    players: u32,
    least: u32,
    most: u32,
) -> Result<(), WireError> {
    let Some(game) = modes.iter().find(|m| m.mode == mode) else {
        let names: Vec<&str> = modes.iter().map(|m| m.mode.as_str()).collect();
        return Err(WireError::new(
            ErrorCode::InvalidParams,
            format!("no game mode {mode:?}; there are {}", names.join(", ")),
        ));
    };
    let (least, most) = (game.min_players.max(least), game.max_players.min(most));
    if players < least || players > most {
        let wanted = if least == most {
            least.to_string()
        } else {
            format!("{least} to {most}")
        };
        return Err(WireError::new(
            ErrorCode::InvalidParams,
            format!("{mode} takes {wanted} players, not {players}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mode_and_a_size_are_checked_against_the_game_and_the_caller() {
        let modes = [GameMode {
            mode: "relay".into(),
            min_players: 1,
            max_players: 64,
        }];
        assert!(check_mode(&modes, "relay", 2, 2, 16).is_ok());
        let unknown = check_mode(&modes, "chess", 2, 2, 16).unwrap_err();
        assert_eq!(unknown.code, ErrorCode::InvalidParams);
        assert!(unknown.message.contains("relay"), "{}", unknown.message);
        let small = check_mode(&modes, "relay", 1, 2, 16).unwrap_err();
        assert_eq!(small.message, "relay takes 2 to 16 players, not 1");
        assert!(check_mode(&modes, "relay", 17, 2, 16).is_err());
    }
}
