//! `relay`: no rules, just delivery. Any player's command (any JSON value, at most
//! [`MAX_COMMAND_BYTES`] serialised) becomes the state, stamped with its sender, and every player
//! sees it; games that run their logic in the clients build on it.
//!
//! State: `{"from": null | user_id, "command": null | <the last command>, "players": [...],
//! "over": bool}`. `players` are those still in: a player who leaves for good is taken out, and
//! the relay is over (with no winner) once nobody remains. It never ends otherwise.

use super::{Game, GameError, Outcome, check_players, seated};
use serde::Deserialize;
use serde_json::{Value, json};
use std::io;
use std::ops::RangeInclusive;

/// The relay game.
#[derive(Debug, Clone, Copy, Default)]
pub struct Relay;

const MODE: &str = "relay";

/// The most players a relay session may have.
pub const MAX_PLAYERS: usize = 64;

/// The largest relay command, in bytes of compact JSON.
pub const MAX_COMMAND_BYTES: usize = 4096;

/// The state, as stored.
#[derive(Debug, Deserialize)]
struct State {
    from: Option<String>,
    command: Value,
    players: Vec<String>,
    over: bool,
}

impl State {
    fn read(value: &Value) -> Result<State, GameError> {
        if !value.is_object() {
            return Err(GameError::BadState("a relay state is an object".into()));
        }
        State::deserialize(value)
            .map_err(|e| GameError::BadState(format!("not a relay state: {e}")))
    }

    fn to_value(&self) -> Value {
        json!({
            "from": self.from,
            "command": self.command,
            "players": self.players,
            "over": self.over,
        })
    }
}

/// Whether `value` serialises to at most `limit` bytes; stops writing once past it.
fn fits(value: &Value, limit: usize) -> bool {
    struct Budget(usize);
    impl io::Write for Budget {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 = self
                .0
                .checked_sub(buf.len())
                .ok_or_else(|| io::Error::other("over the limit"))?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(Budget(limit), value).is_ok()
}

impl Game for Relay {
    fn mode(&self) -> &'static str {
        MODE
    }

    fn players(&self) -> RangeInclusive<usize> {
        1..=MAX_PLAYERS
    }

    fn start(&self, players: &[String], _seed: u64) -> Result<Value, GameError> {
        check_players(MODE, self.players(), players)?;
        Ok(json!({"from": null, "command": null, "players": players, "over": false}))
    }

    fn apply(&self, state: &Value, player: &str, command: &Value) -> Result<Value, GameError> {
        let read = State::read(state)?;
        if !seated(&read.players, player) {
            return Err(GameError::NotAPlayer);
        }
        if read.over {
            return Err(GameError::GameOver);
        }
        if !fits(command, MAX_COMMAND_BYTES) {
            return Err(GameError::InvalidCommand(format!(
                "a relay command is at most {MAX_COMMAND_BYTES} bytes of JSON"
            )));
        }
        let next = State {
            from: Some(player.to_owned()),
            command: command.clone(),
            ..read
        };
        Ok(next.to_value())
    }

    fn outcome(&self, state: &Value) -> Option<Outcome> {
        let read = State::read(state).ok()?;
        read.over.then_some(Outcome { winner: None })
    }

    fn player_left(&self, state: &Value, player: &str, remaining: &[String]) -> Value {
        let Ok(mut read) = State::read(state) else {
            return state.clone();
        };
        if read.over || !seated(&read.players, player) {
            return state.clone();
        }
        read.players.retain(|p| p != player && seated(remaining, p));
        read.over = read.players.is_empty();
        read.to_value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_counts_compact_json_bytes() {
        assert!(fits(&json!("ab"), 4));
        assert!(!fits(&json!("abc"), 4));
        assert!(fits(&json!({"a": [1, 2]}), 11));
        assert!(!fits(&json!({"a": [1, 2]}), 10));
        assert!(fits(&json!(null), 4));
        assert!(!fits(&json!(null), 3));
    }

    #[test]
    fn a_stored_state_that_is_not_a_relay_is_bad_state() {
        for broken in [
            json!(null),
            json!({"players": "a", "over": false}),
            json!({"players": ["a"]}),
            json!([null, null, ["a"], false]),
        ] {
            let error = Relay.apply(&broken, "a", &json!(1)).unwrap_err();
            assert!(
                matches!(error, GameError::BadState(_)),
                "{broken}: {error:?}"
            );
            assert_eq!(Relay.outcome(&broken), None);
            assert_eq!(Relay.player_left(&broken, "a", &[]), broken);
        }
    }
}
