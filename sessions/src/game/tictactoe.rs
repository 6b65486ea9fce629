//! `tic-tac-toe`: two players take turns marking a 3×3 board; three in a row, column or diagonal
//! wins, a full board without one is a draw.
//!
//! State: `{"board": [9 × "" | "X" | "O"], "turn": user_id, "winner": null | user_id,
//! "players": [x_id, o_id], "draw": bool}`. Cells are numbered row by row, 0 top left to 8 bottom
//! right. The seed picks who starts (an even seed the first player given, an odd one the second);
//! that player is "X" and comes first in `players`. Once the game is over `turn` stays as it was.
//!
//! Command: `{"cell": 0..8}`; other fields are ignored. A command is judged in this order: by a
//! non-player (`forbidden`), after the end (`game_over`), out of turn (`not_your_turn`), of the
//! wrong shape (`invalid_params`), off the board or on a taken cell (`illegal_move`).

use super::{Game, GameError, Outcome, check_players, seated};
use serde::Deserialize;
use serde_json::{Value, json};
use std::ops::RangeInclusive;

/// The tic-tac-toe game.
#[derive(Debug, Clone, Copy, Default)]
pub struct TicTacToe;

const MODE: &str = "tic-tac-toe";

/// Every line that wins: rows, columns, diagonals.
const LINES: [[usize; 3]; 8] = [
    [0, 1, 2],
    [3, 4, 5],
    [6, 7, 8],
    [0, 3, 6],
    [1, 4, 7],
    [2, 5, 8],
    [0, 4, 8],
    [2, 4, 6],
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum Mark {
    #[serde(rename = "")]
    Empty,
    X,
    O,
}

impl Mark {
    fn as_str(self) -> &'static str {
        match self {
            Mark::Empty => "",
            Mark::X => "X",
            Mark::O => "O",
        }
    }
}

/// The state, as stored.
#[derive(Debug, Clone, Deserialize)]
struct State {
    board: [Mark; 9],
    turn: String,
    winner: Option<String>,
    players: [String; 2],
    draw: bool,
}

impl State {
    fn read(value: &Value) -> Result<State, GameError> {
        if !value.is_object() {
            return Err(GameError::BadState(
                "a tic-tac-toe state is an object".into(),
            ));
        }
        let state = State::deserialize(value)
            .map_err(|e| GameError::BadState(format!("not a tic-tac-toe state: {e}")))?;
        if !state.players.contains(&state.turn) {
            return Err(GameError::BadState("turn is not a player".into()));
        }
        if state
            .winner
            .as_ref()
            .is_some_and(|w| !state.players.contains(w))
        {
            return Err(GameError::BadState("winner is not a player".into()));
        }
        Ok(state)
    }

    fn to_value(&self) -> Value {
        let board: Vec<&str> = self.board.iter().map(|m| m.as_str()).collect();
        json!({
            "board": board,
            "turn": self.turn,
            "winner": self.winner,
            "players": self.players,
            "draw": self.draw,
        })
    }

    fn over(&self) -> bool {
        self.winner.is_some() || self.draw
    }

    /// X is the first player, O the second.
    fn mark_of(&self, player: &str) -> Mark {
        if self.players[0] == player {
            Mark::X
        } else {
            Mark::O
        }
    }

    /// The other player of the two.
    fn other(&self, player: &str) -> &str {
        if self.players[0] == player {
            &self.players[1]
        } else {
            &self.players[0]
        }
    }
}

/// The cell a command names, or why the command is not of the expected shape.
fn cell(command: &Value) -> Result<usize, GameError> {
    const SHAPE: &str = r#"a tic-tac-toe command is {"cell": 0..8}"#;
    let Some(fields) = command.as_object() else {
        return Err(GameError::InvalidCommand(format!(
            "{SHAPE}, not {}",
            kind(command)
        )));
    };
    let Some(cell) = fields.get("cell") else {
        return Err(GameError::InvalidCommand(format!(
            "{SHAPE}: cell is missing"
        )));
    };
    let Value::Number(number) = cell else {
        return Err(GameError::InvalidCommand(format!(
            "{SHAPE}: cell must be an integer, not {}",
            kind(cell)
        )));
    };
    let in_range = match (number.as_u64(), number.as_i64()) {
        (Some(n), _) => usize::try_from(n).ok().filter(|&n| n < 9),
        (None, Some(_)) => None,
        (None, None) => {
            return Err(GameError::InvalidCommand(format!(
                "{SHAPE}: cell must be an integer, not {number}"
            )));
        }
    };
    in_range.ok_or_else(|| {
        GameError::IllegalMove(format!(
            "cell {number} is off the board; cells are numbered 0 to 8"
        ))
    })
}

/// What kind of JSON value this is, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Game for TicTacToe {
    fn mode(&self) -> &'static str {
        MODE
    }

    fn players(&self) -> RangeInclusive<usize> {
        2..=2
    }

    fn start(&self, players: &[String], seed: u64) -> Result<Value, GameError> {
        check_players(MODE, self.players(), players)?;
        let first = usize::from(seed % 2 == 1);
        let x = players[first].clone();
        let o = players[1 - first].clone();
        let state = State {
            board: [Mark::Empty; 9],
            turn: x.clone(),
            winner: None,
            players: [x, o],
            draw: false,
        };
        Ok(state.to_value())
    }

    fn apply(&self, state: &Value, player: &str, command: &Value) -> Result<Value, GameError> {
        let mut state = State::read(state)?;
        if !seated(&state.players, player) {
            return Err(GameError::NotAPlayer);
        }
        if state.over() {
            return Err(GameError::GameOver);
        }
        if state.turn != player {
            return Err(GameError::NotYourTurn);
        }
        let cell = cell(command)?;
        let taken = state.board[cell];
        if taken != Mark::Empty {
            return Err(GameError::IllegalMove(format!(
                "cell {cell} is already taken by {}",
                taken.as_str()
            )));
        }
        let mark = state.mark_of(player);
        state.board[cell] = mark;
        if LINES
            .iter()
            .any(|line| line.iter().all(|&c| state.board[c] == mark))
        {
            state.winner = Some(player.to_owned());
        } else if state.board.iter().all(|&m| m != Mark::Empty) {
            state.draw = true;
        } else {
            state.turn = state.other(player).to_owned();
        }
        Ok(state.to_value())
    }

    fn outcome(&self, state: &Value) -> Option<Outcome> {
        let state = State::read(state).ok()?;
        if let Some(winner) = state.winner {
            Some(Outcome {
                winner: Some(winner),
            })
        } else if state.draw {
            Some(Outcome { winner: None })
        } else {
            None
        }
    }

    fn player_left(&self, state: &Value, player: &str, _remaining: &[String]) -> Value {
        let Ok(mut read) = State::read(state) else {
            return state.clone();
        };
        if read.over() || !seated(&read.players, player) {
            return state.clone();
        }
        read.winner = Some(read.other(player).to_owned());
        read.to_value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_state_that_is_not_tic_tac_toe_is_bad_state() {
        let players = ["a".to_owned(), "b".to_owned()];
        let good = TicTacToe.start(&players, 0).unwrap();
        let cell0 = json!({"cell": 0});
        for broken in [
            json!(null),
            json!({"board": ["", ""], "turn": "a", "winner": null, "players": ["a", "b"], "draw": false}),
            json!({"board": ["?", "", "", "", "", "", "", "", ""], "turn": "a", "winner": null, "players": ["a", "b"], "draw": false}),
            json!({"board": ["", "", "", "", "", "", "", "", ""], "turn": "z", "winner": null, "players": ["a", "b"], "draw": false}),
            json!({"board": ["", "", "", "", "", "", "", "", ""], "turn": "a", "winner": "z", "players": ["a", "b"], "draw": false}),
        ] {
            let error = TicTacToe.apply(&broken, "a", &cell0).unwrap_err();
            assert!(
                matches!(error, GameError::BadState(_)),
                "{broken}: {error:?}"
            );
            assert_eq!(error.code(), warren_contracts::ErrorCode::Internal);
            assert_eq!(TicTacToe.outcome(&broken), None);
            assert_eq!(TicTacToe.player_left(&broken, "a", &[]), broken);
        }
        assert!(TicTacToe.apply(&good, "a", &cell0).is_ok());
    }

    #[test]
    fn the_state_round_trips() {
        let players = ["a".to_owned(), "b".to_owned()];
        let state = TicTacToe.start(&players, 0).unwrap();
        assert_eq!(State::read(&state).unwrap().to_value(), state);
    }
}
