//! The games sessions run, behind one game-agnostic trait.
//!
//! A game's state is a [`serde_json::Value`]: the service stores it (in memory or in Redis) and
//! sends it to players as `session.state` without knowing its shape. A [`Game`] is pure logic: it
//! builds the first state, applies a player's command to a state (or refuses it with a
//! [`GameError`], whose [`code`](GameError::code) is what the player sees), says when the game is
//! over and who won, and what a player leaving for good does. It keeps nothing between calls, so
//! any instance of the service can serve any session.
//!
//! Built in: [`TicTacToe`] (`tic-tac-toe`) and [`Relay`] (`relay`). [`Games`] maps mode names to
//! games; [`Games::builtin`] holds both.
//!
//! # Adding a game
//!
//! Implement [`Game`] and register it; nothing else in the service changes. Whoever sends a
//! command first wins:
//!
//! ```
//! use serde_json::{Value, json};
//! use std::{ops::RangeInclusive, sync::Arc};
//! use warren_sessions::game::{Game, GameError, Games, Outcome, check_players};
//!
//! struct FirstWins;
//! impl Game for FirstWins {
//!     fn mode(&self) -> &'static str { "first-wins" }
//!     fn players(&self) -> RangeInclusive<usize> { 2..=8 }
//!     fn start(&self, players: &[String], _seed: u64) -> Result<Value, GameError> {
//!         check_players(self.mode(), self.players(), players)?;
//!         Ok(json!({"players": players, "winner": null}))
//!     }
//!     fn apply(&self, state: &Value, player: &str, _command: &Value) -> Result<Value, GameError> {
//!         if !state["players"].as_array().is_some_and(|p| p.iter().any(|p| p == player)) { return Err(GameError::NotAPlayer) }
//!         if !state["winner"].is_null() { return Err(GameError::GameOver) }
//!         Ok(json!({"players": state["players"], "winner": player}))
//!     }
//!     fn outcome(&self, state: &Value) -> Option<Outcome> {
//!         state["winner"].as_str().map(|w| Outcome { winner: Some(w.to_owned()) })
//!     }
//!     fn player_left(&self, state: &Value, _player: &str, _remaining: &[String]) -> Value { state.clone() }
//! }
//!
//! let mut games = Games::builtin();
//! games.register(Arc::new(FirstWins));
//! assert!(games.get("first-wins").is_some());
//! ```

mod relay;
mod tictactoe;

pub use relay::{MAX_COMMAND_BYTES, Relay};
pub use tictactoe::TicTacToe;

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::sync::Arc;
use warren_contracts::ErrorCode;

/// One game's rules. Implementations hold no per-session data: everything a session needs is in
/// its state, which the service stores between calls.
pub trait Game: Send + Sync + 'static {
    /// The mode name clients use, e.g. `"tic-tac-toe"`.
    fn mode(&self) -> &'static str;

    /// How many players a session of this game may have.
    fn players(&self) -> RangeInclusive<usize>;

    /// The initial state for these players (user ids, in seat order); `seed` picks anything
    /// random (who starts), so the same players and seed give the same state.
    fn start(&self, players: &[String], seed: u64) -> Result<Value, GameError>;

    /// One player's command applied to the state: the new state, or why it is refused (the
    /// state is then unchanged).
    fn apply(&self, state: &Value, player: &str, command: &Value) -> Result<Value, GameError>;

    /// `Some` once the game is over: the winner, if any (`winner: None` is no winner, e.g. a
    /// draw). `None` while the game goes on.
    fn outcome(&self, state: &Value) -> Option<Outcome>;

    /// A player has left for good; `remaining` are those still in. The new state (tic-tac-toe:
    /// the other player wins by forfeit; relay: over once nobody remains). A state the game
    /// cannot read, or a player it does not know, leaves the state as it was.
    fn player_left(&self, state: &Value, player: &str, remaining: &[String]) -> Value;
}

/// How a game ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The winner's user id; `None` when nobody won (a draw, or a relay everyone left).
    pub winner: Option<String>,
}

/// Why a game refuses a command or a start. The message (`Display`) is meant for the player.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GameError {
    #[error("it is not your turn")]
    NotYourTurn,
    /// The command is well formed but the rules refuse it; the reason says why.
    #[error("{0}")]
    IllegalMove(String),
    #[error("the game is over")]
    GameOver,
    /// The command does not have the shape the game expects; the reason says what it expects.
    #[error("{0}")]
    InvalidCommand(String),
    #[error("{}", player_count(mode, *min, *max, *got))]
    WrongPlayerCount {
        mode: &'static str,
        min: usize,
        max: usize,
        got: usize,
    },
    /// The players given to `start` are not usable: an empty user id, or one seated twice.
    #[error("{0}")]
    InvalidPlayers(String),
    #[error("you are not a player in this game")]
    NotAPlayer,
    /// The stored state is not one this game wrote. The detail is for the log, not the player.
    #[error("the game's state is damaged")]
    BadState(String),
}

impl GameError {
    /// The stable code a caller sees.
    pub fn code(&self) -> ErrorCode {
        match self {
            GameError::NotYourTurn => ErrorCode::NotYourTurn,
            GameError::IllegalMove(_) => ErrorCode::IllegalMove,
            GameError::GameOver => ErrorCode::GameOver,
            GameError::InvalidCommand(_)
            | GameError::WrongPlayerCount { .. }
            | GameError::InvalidPlayers(_) => ErrorCode::InvalidParams,
            GameError::NotAPlayer => ErrorCode::Forbidden,
            GameError::BadState(_) => ErrorCode::Internal,
        }
    }
}

fn player_count(mode: &str, min: usize, max: usize, got: usize) -> String {
    let wanted = if min == max {
        min.to_string()
    } else {
        format!("{min} to {max}")
    };
    format!("{mode} takes {wanted} players, not {got}")
}

/// The checks every game's `start` wants: as many players as `allowed`, none with an empty id,
/// none seated twice.
pub fn check_players(
    mode: &'static str,
    allowed: RangeInclusive<usize>,
    players: &[String],
) -> Result<(), GameError> {
    if !allowed.contains(&players.len()) {
        return Err(GameError::WrongPlayerCount {
            mode,
            min: *allowed.start(),
            max: *allowed.end(),
            got: players.len(),
        });
    }
    if players.iter().any(String::is_empty) {
        return Err(GameError::InvalidPlayers(
            "a player's user id is empty".into(),
        ));
    }
    for (i, player) in players.iter().enumerate() {
        if players[..i].contains(player) {
            return Err(GameError::InvalidPlayers(format!(
                "player {player} is seated twice"
            )));
        }
    }
    Ok(())
}

/// The games a service offers, by mode name.
#[derive(Clone, Default)]
pub struct Games {
    by_mode: BTreeMap<&'static str, Arc<dyn Game>>,
}

impl Games {
    /// No games at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// The built-in games: `tic-tac-toe` and `relay`.
    pub fn builtin() -> Self {
        let mut games = Self::new();
        games.register(Arc::new(TicTacToe));
        games.register(Arc::new(Relay));
        games
    }

    /// Offers `game` under its mode name; a game already registered under that name is replaced
    /// and returned.
    pub fn register(&mut self, game: Arc<dyn Game>) -> Option<Arc<dyn Game>> {
        self.by_mode.insert(game.mode(), game)
    }

    /// The game with this mode name.
    pub fn get(&self, mode: &str) -> Option<Arc<dyn Game>> {
        self.by_mode.get(mode).cloned()
    }

    /// Every mode name, in alphabetical order.
    pub fn modes(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.by_mode.keys().copied()
    }
}

impl fmt::Debug for Games {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.modes()).finish()
    }
}

/// Whether `player` is one of the user ids in `players`.
fn seated(players: &[String], player: &str) -> bool {
    players.iter().any(|p| p == player)
}
