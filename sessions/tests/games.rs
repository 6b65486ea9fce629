//! The built-in games and the registry, through the public API only: every game is reached as
//! `Arc<dyn Game>` from `Games::builtin()`, the way the service reaches it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::ops::RangeInclusive;
use std::sync::Arc;
use warren_contracts::ErrorCode;
use warren_sessions::game::{Game, GameError, Games, MAX_COMMAND_BYTES, Outcome};

fn ids(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

fn game(mode: &str) -> Arc<dyn Game> {
    Games::builtin().get(mode).expect("a built-in mode")
}

fn cell(n: i64) -> Value {
    json!({"cell": n})
}

// ---------------------------------------------------------------------------------------------
// tic-tac-toe

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

fn is_line(cells: &[usize]) -> bool {
    LINES
        .iter()
        .any(|line| line.iter().all(|c| cells.contains(c)))
}

/// A new game between "alice" and "bob" in which "alice" is X and starts.
fn ttt() -> (Arc<dyn Game>, Value) {
    let game = game("tic-tac-toe");
    let state = game.start(&ids(&["alice", "bob"]), 0).unwrap();
    assert_eq!(state["turn"], "alice", "seed 0 lets the first player start");
    (game, state)
}

/// Plays `cells` alternately from X, checking after each move whose turn it is.
fn play(game: &dyn Game, mut state: Value, cells: &[usize]) -> Value {
    let players = [
        state["players"][0].as_str().unwrap().to_owned(),
        state["players"][1].as_str().unwrap().to_owned(),
    ];
    for (i, &c) in cells.iter().enumerate() {
        assert_eq!(game.outcome(&state), None, "over before move {i}: {state}");
        let mover = &players[i % 2];
        assert_eq!(state["turn"], mover.as_str());
        state = game
            .apply(&state, mover, &cell(c as i64))
            .unwrap_or_else(|e| panic!("move {i} (cell {c}) refused: {e:?}"));
        assert_eq!(state["board"][c], if i % 2 == 0 { "X" } else { "O" });
    }
    state
}

fn board(x: &[usize], o: &[usize]) -> Value {
    let mut board = vec![""; 9];
    for &c in x {
        board[c] = "X";
    }
    for &c in o {
        board[c] = "O";
    }
    json!(board)
}

fn interleave(x: &[usize], o: &[usize]) -> Vec<usize> {
    let mut moves = Vec::new();
    for i in 0..x.len().max(o.len()) {
        moves.extend(x.get(i));
        moves.extend(o.get(i));
    }
    moves
}

#[test]
fn tic_tac_toe_starts_with_an_empty_board_and_x_to_move() {
    let (game, state) = ttt();
    assert_eq!(game.mode(), "tic-tac-toe");
    assert_eq!(game.players(), 2..=2);
    assert_eq!(
        state,
        json!({
            "board": ["", "", "", "", "", "", "", "", ""],
            "turn": "alice",
            "winner": null,
            "players": ["alice", "bob"],
            "draw": false,
        })
    );
    assert_eq!(game.outcome(&state), None);
}

#[test]
fn x_wins_on_every_line() {
    for line in LINES {
        let (game, state) = ttt();
        // O's two cells: the first free ones, which cannot make a line of three.
        let o: Vec<usize> = (0..9).filter(|c| !line.contains(c)).take(2).collect();
        let moves = interleave(&line, &o);
        let state = play(game.as_ref(), state, &moves);
        assert_eq!(
            state,
            json!({
                "board": board(&line, &o),
                "turn": "alice",
                "winner": "alice",
                "players": ["alice", "bob"],
                "draw": false,
            }),
            "line {line:?}"
        );
        assert_eq!(
            game.outcome(&state),
            Some(Outcome {
                winner: Some("alice".into())
            })
        );
    }
}

#[test]
fn o_wins_on_every_line() {
    for line in LINES {
        let (game, state) = ttt();
        // X's three cells: the first free triple that is not itself a line.
        let free: Vec<usize> = (0..9).filter(|c| !line.contains(c)).collect();
        let mut x = None;
        'search: for a in 0..free.len() {
            for b in a + 1..free.len() {
                for c in b + 1..free.len() {
                    let triple = [free[a], free[b], free[c]];
                    if !is_line(&triple) {
                        x = Some(triple);
                        break 'search;
                    }
                }
            }
        }
        let x = x.unwrap();
        let moves = interleave(&x, &line);
        let state = play(game.as_ref(), state, &moves);
        assert_eq!(
            state,
            json!({
                "board": board(&x, &line),
                "turn": "bob",
                "winner": "bob",
                "players": ["alice", "bob"],
                "draw": false,
            }),
            "line {line:?}"
        );
        assert_eq!(
            game.outcome(&state),
            Some(Outcome {
                winner: Some("bob".into())
            })
        );
    }
}

#[test]
fn three_marks_off_a_line_do_not_win() {
    // Every triple of X cells that is not a line, with O's cells elsewhere and not a line either.
    let (game, start) = ttt();
    for a in 0..9 {
        for b in a + 1..9 {
            for c in b + 1..9 {
                let x = [a, b, c];
                if is_line(&x) {
                    continue;
                }
                let o: Vec<usize> = (0..9).filter(|c| !x.contains(c)).take(2).collect();
                let state = play(game.as_ref(), start.clone(), &interleave(&x, &o));
                assert_eq!(state["winner"], Value::Null, "X on {x:?}, O on {o:?}");
                assert_eq!(state["turn"], "bob");
                assert_eq!(game.outcome(&state), None);
            }
        }
    }
}

#[test]
fn a_full_board_without_a_line_is_a_draw() {
    let (game, state) = ttt();
    // X O X
    // X O O
    // O X X
    let state = play(game.as_ref(), state, &[0, 1, 2, 4, 3, 5, 7, 6, 8]);
    assert_eq!(
        state,
        json!({
            "board": ["X", "O", "X", "X", "O", "O", "O", "X", "X"],
            "turn": "alice",
            "winner": null,
            "players": ["alice", "bob"],
            "draw": true,
        })
    );
    assert_eq!(game.outcome(&state), Some(Outcome { winner: None }));
    for player in ["alice", "bob"] {
        assert_eq!(
            game.apply(&state, player, &cell(0)),
            Err(GameError::GameOver)
        );
    }
}

#[test]
fn a_win_on_the_last_cell_is_a_win_not_a_draw() {
    let (game, state) = ttt();
    // X O X
    // O X X
    // O O X   X's ninth move (8) fills the board and completes 2-5-8 and 0-4-8.
    let state = play(game.as_ref(), state, &[0, 1, 2, 3, 4, 6, 5, 7, 8]);
    assert_eq!(state["winner"], "alice");
    assert_eq!(state["draw"], false);
    assert_eq!(
        game.outcome(&state),
        Some(Outcome {
            winner: Some("alice".into())
        })
    );
}

/// Checks that `command` by `player` is refused with `expected` and that the game goes on.
fn refused(game: &dyn Game, state: &Value, player: &str, command: &Value, expected: ErrorCode) {
    let before = state.clone();
    let error = game
        .apply(state, player, command)
        .expect_err(&format!("{player} {command} should be refused"));
    assert_eq!(error.code(), expected, "{player} {command}: {error:?}");
    assert!(!error.to_string().is_empty());
    assert_eq!(*state, before);
}

#[test]
fn a_move_out_of_turn_is_refused() {
    let (game, state) = ttt();
    refused(
        game.as_ref(),
        &state,
        "bob",
        &cell(4),
        ErrorCode::NotYourTurn,
    );
    assert_eq!(
        game.apply(&state, "bob", &cell(4)),
        Err(GameError::NotYourTurn)
    );
    let state = play(game.as_ref(), state, &[4]);
    refused(
        game.as_ref(),
        &state,
        "alice",
        &cell(0),
        ErrorCode::NotYourTurn,
    );
    // The turn is still bob's.
    let state = game.apply(&state, "bob", &cell(0)).unwrap();
    assert_eq!(state["turn"], "alice");
}

#[test]
fn a_taken_cell_is_refused() {
    let (game, state) = ttt();
    let state = play(game.as_ref(), state, &[4]);
    let error = game.apply(&state, "bob", &cell(4)).unwrap_err();
    assert!(matches!(&error, GameError::IllegalMove(why) if why.contains("taken")));
    refused(
        game.as_ref(),
        &state,
        "bob",
        &cell(4),
        ErrorCode::IllegalMove,
    );
    let state = game.apply(&state, "bob", &cell(0)).unwrap();
    // X on its own cell, too.
    refused(
        game.as_ref(),
        &state,
        "alice",
        &cell(4),
        ErrorCode::IllegalMove,
    );
    refused(
        game.as_ref(),
        &state,
        "alice",
        &cell(0),
        ErrorCode::IllegalMove,
    );
    assert_eq!(state["board"], board(&[4], &[0]));
}

#[test]
fn a_cell_off_the_board_is_an_illegal_move() {
    let (game, state) = ttt();
    for command in [
        cell(-1),
        cell(9),
        cell(100),
        json!({"cell": u64::MAX}),
        json!({"cell": i64::MIN}),
    ] {
        refused(
            game.as_ref(),
            &state,
            "alice",
            &command,
            ErrorCode::IllegalMove,
        );
        let error = game.apply(&state, "alice", &command).unwrap_err();
        assert!(
            matches!(&error, GameError::IllegalMove(why) if why.contains("board")),
            "{command}: {error:?}"
        );
    }
    // The edges of the board are on it.
    assert!(game.apply(&state, "alice", &cell(0)).is_ok());
    assert!(game.apply(&state, "alice", &cell(8)).is_ok());
}

#[test]
fn a_command_of_the_wrong_shape_is_invalid() {
    let (game, state) = ttt();
    for command in [
        json!({"cell": "4"}),
        json!({}),
        json!({"cel": 4}),
        json!({"cell": null}),
        json!({"cell": 4.5}),
        json!({"cell": 4.0}),
        json!({"cell": true}),
        json!({"cell": [4]}),
        json!(4),
        json!("4"),
        json!([4]),
        json!(null),
    ] {
        refused(
            game.as_ref(),
            &state,
            "alice",
            &command,
            ErrorCode::InvalidParams,
        );
        assert!(
            matches!(
                game.apply(&state, "alice", &command),
                Err(GameError::InvalidCommand(_))
            ),
            "{command}"
        );
    }
}

#[test]
fn extra_fields_in_a_command_are_ignored() {
    let (game, state) = ttt();
    let next = game
        .apply(&state, "alice", &json!({"cell": 4, "note": "centre"}))
        .unwrap();
    assert_eq!(next["board"], board(&[4], &[]));
    assert_eq!(next["turn"], "bob");
}

#[test]
fn a_non_player_is_refused() {
    let (game, state) = ttt();
    refused(game.as_ref(), &state, "eve", &cell(4), ErrorCode::Forbidden);
    refused(game.as_ref(), &state, "", &cell(4), ErrorCode::Forbidden);
    assert_eq!(
        game.apply(&state, "eve", &cell(4)),
        Err(GameError::NotAPlayer)
    );
    // Also after the end, and with a command of the wrong shape.
    let over = play(game.as_ref(), state, &[0, 3, 1, 4, 2]);
    assert_eq!(
        game.apply(&over, "eve", &cell(8)),
        Err(GameError::NotAPlayer)
    );
    assert_eq!(
        game.apply(&over, "eve", &json!("junk")),
        Err(GameError::NotAPlayer)
    );
}

#[test]
fn no_move_is_accepted_after_a_win() {
    let (game, state) = ttt();
    let over = play(game.as_ref(), state, &[0, 3, 1, 4, 2]);
    assert_eq!(over["winner"], "alice");
    for (player, command) in [
        ("bob", cell(5)),
        ("alice", cell(5)),
        ("bob", cell(0)),
        ("bob", cell(9)),
        ("bob", json!("junk")),
    ] {
        refused(game.as_ref(), &over, player, &command, ErrorCode::GameOver);
    }
}

#[test]
fn the_seed_picks_who_starts_and_the_starter_is_x() {
    let game = game("tic-tac-toe");
    let players = ids(&["alice", "bob"]);
    let mut starters = std::collections::BTreeSet::new();
    for seed in 0..16 {
        let state = game.start(&players, seed).unwrap();
        let starter = state["turn"].as_str().unwrap().to_owned();
        let other = if starter == "alice" { "bob" } else { "alice" };
        assert_eq!(state["players"], json!([starter, other]), "seed {seed}");
        // The same seed, the same start.
        assert_eq!(game.start(&players, seed).unwrap(), state);
        // The starter moves first and plays X; the other is refused.
        assert_eq!(
            game.apply(&state, other, &cell(4)),
            Err(GameError::NotYourTurn)
        );
        let next = game.apply(&state, &starter, &cell(4)).unwrap();
        assert_eq!(next["board"][4], "X");
        assert_eq!(next["turn"], other);
        let next = game.apply(&next, other, &cell(0)).unwrap();
        assert_eq!(next["board"][0], "O");
        starters.insert(starter);
    }
    assert_eq!(starters.len(), 2, "both players start for some seed");
    assert_eq!(game.start(&players, 0).unwrap()["turn"], "alice");
    assert_eq!(game.start(&players, 1).unwrap()["turn"], "bob");
    assert_eq!(game.start(&players, u64::MAX).unwrap()["turn"], "bob");
}

#[test]
fn a_player_who_leaves_forfeits_to_the_other() {
    for (leaver, winner) in [("alice", "bob"), ("bob", "alice")] {
        let (game, state) = ttt();
        for state in [state.clone(), play(game.as_ref(), state, &[4, 0, 8])] {
            let after = game.player_left(&state, leaver, &ids(&[winner]));
            assert_eq!(after["winner"], winner, "{leaver} left {state}");
            assert_eq!(after["board"], state["board"]);
            assert_eq!(after["draw"], false);
            assert_eq!(
                game.outcome(&after),
                Some(Outcome {
                    winner: Some(winner.into())
                })
            );
            assert_eq!(
                game.apply(&after, winner, &cell(1)),
                Err(GameError::GameOver)
            );
        }
    }
}

#[test]
fn leaving_after_the_end_or_as_a_stranger_changes_nothing() {
    let (game, state) = ttt();
    // A stranger leaving: the game goes on.
    assert_eq!(
        game.player_left(&state, "eve", &ids(&["alice", "bob"])),
        state
    );
    // After a win, neither player leaving changes the result.
    let won = play(game.as_ref(), state.clone(), &[0, 3, 1, 4, 2]);
    assert_eq!(game.player_left(&won, "alice", &ids(&["bob"])), won);
    assert_eq!(game.player_left(&won, "bob", &ids(&["alice"])), won);
    // After a draw, nobody wins by leaving.
    let drawn = play(game.as_ref(), state, &[0, 1, 2, 4, 3, 5, 7, 6, 8]);
    assert_eq!(game.player_left(&drawn, "bob", &ids(&["alice"])), drawn);
    assert_eq!(game.outcome(&drawn), Some(Outcome { winner: None }));
}

#[test]
fn tic_tac_toe_needs_exactly_two_distinct_players() {
    let game = game("tic-tac-toe");
    for players in [vec![], ids(&["alice"]), ids(&["alice", "bob", "carol"])] {
        let error = game.start(&players, 0).unwrap_err();
        assert_eq!(
            error,
            GameError::WrongPlayerCount {
                mode: "tic-tac-toe",
                min: 2,
                max: 2,
                got: players.len()
            }
        );
        assert_eq!(error.code(), ErrorCode::InvalidParams);
        assert_eq!(
            error.to_string(),
            format!("tic-tac-toe takes 2 players, not {}", players.len())
        );
    }
    for players in [ids(&["alice", "alice"]), ids(&["alice", ""])] {
        let error = game.start(&players, 0).unwrap_err();
        assert!(
            matches!(error, GameError::InvalidPlayers(_)),
            "{players:?}: {error:?}"
        );
        assert_eq!(error.code(), ErrorCode::InvalidParams);
    }
}

// ---------------------------------------------------------------------------------------------
// relay

fn relay3() -> (Arc<dyn Game>, Value) {
    let game = game("relay");
    let state = game.start(&ids(&["ann", "ben", "cat"]), 7).unwrap();
    (game, state)
}

#[test]
fn relay_starts_empty() {
    let (game, state) = relay3();
    assert_eq!(game.mode(), "relay");
    assert_eq!(game.players(), 1..=64);
    assert_eq!(
        state,
        json!({"from": null, "command": null, "players": ["ann", "ben", "cat"], "over": false})
    );
    assert_eq!(game.outcome(&state), None);
}

#[test]
fn every_relay_command_replaces_the_state_stamped_with_its_sender() {
    let (game, mut state) = relay3();
    let commands = [
        ("ann", json!({"move": "e4"})),
        ("ann", json!([1, 2, 3])),
        ("cat", json!("hello")),
        ("ben", json!(42)),
        ("cat", json!(null)),
        ("ben", json!({"nested": {"deep": [true, false]}})),
    ];
    for (player, command) in commands {
        state = game.apply(&state, player, &command).unwrap();
        assert_eq!(
            state,
            json!({"from": player, "command": command, "players": ["ann", "ben", "cat"], "over": false})
        );
        assert_eq!(game.outcome(&state), None);
    }
}

#[test]
fn a_relay_command_may_be_4096_bytes_but_not_4097() {
    let (game, state) = relay3();
    assert_eq!(MAX_COMMAND_BYTES, 4096);
    // A JSON string serialises with its two quotes.
    let fits = json!("a".repeat(4094));
    let over = json!("a".repeat(4095));
    assert_eq!(serde_json::to_string(&fits).unwrap().len(), 4096);
    assert_eq!(serde_json::to_string(&over).unwrap().len(), 4097);
    let next = game.apply(&state, "ben", &fits).unwrap();
    assert_eq!(next["command"], fits);
    refused(
        game.as_ref(),
        &state,
        "ben",
        &over,
        ErrorCode::InvalidParams,
    );
    assert!(matches!(
        game.apply(&state, "ben", &over),
        Err(GameError::InvalidCommand(_))
    ));
    // Counted as compact JSON, escapes included: each "\n" is two bytes.
    let escaped = json!({"t": "\n".repeat(2045)}); // {"t":"…"} = 8 + 2 × 2045 = 4098
    assert_eq!(serde_json::to_string(&escaped).unwrap().len(), 4098);
    refused(
        game.as_ref(),
        &state,
        "ben",
        &escaped,
        ErrorCode::InvalidParams,
    );
    let escaped = json!({"t": "\n".repeat(2044)}); // 4096
    assert!(game.apply(&state, "ben", &escaped).is_ok());
}

#[test]
fn a_relay_refuses_non_players() {
    let (game, state) = relay3();
    refused(
        game.as_ref(),
        &state,
        "dan",
        &json!("hi"),
        ErrorCode::Forbidden,
    );
    assert_eq!(
        game.apply(&state, "dan", &json!("hi")),
        Err(GameError::NotAPlayer)
    );
}

#[test]
fn a_relay_ends_when_nobody_remains() {
    let (game, state) = relay3();
    let state = game.apply(&state, "ben", &json!("last words")).unwrap();

    let state = game.player_left(&state, "ben", &ids(&["ann", "cat"]));
    assert_eq!(
        state,
        json!({"from": "ben", "command": "last words", "players": ["ann", "cat"], "over": false})
    );
    assert_eq!(game.outcome(&state), None);
    // Who left can no longer send; the others can.
    assert_eq!(
        game.apply(&state, "ben", &json!(1)),
        Err(GameError::NotAPlayer)
    );
    let state = game.apply(&state, "cat", &json!(2)).unwrap();
    assert_eq!(state["from"], "cat");

    // A stranger leaving changes nothing.
    assert_eq!(
        game.player_left(&state, "dan", &ids(&["ann", "cat"])),
        state
    );

    let state = game.player_left(&state, "ann", &ids(&["cat"]));
    assert_eq!(state["players"], json!(["cat"]));
    assert_eq!(state["over"], false);
    assert_eq!(game.outcome(&state), None);

    let state = game.player_left(&state, "cat", &[]);
    assert_eq!(
        state,
        json!({"from": "cat", "command": 2, "players": [], "over": true})
    );
    assert_eq!(game.outcome(&state), Some(Outcome { winner: None }));
    assert_eq!(game.player_left(&state, "cat", &[]), state);
}

#[test]
fn a_relay_seats_one_to_64_distinct_players() {
    let game = game("relay");
    let many: Vec<String> = (0..65).map(|i| format!("p{i}")).collect();
    assert!(game.start(&many[..1], 0).is_ok());
    assert!(game.start(&many[..64], 0).is_ok());
    for players in [&many[..0], &many[..65]] {
        let error = game.start(players, 0).unwrap_err();
        assert_eq!(
            error,
            GameError::WrongPlayerCount {
                mode: "relay",
                min: 1,
                max: 64,
                got: players.len()
            }
        );
        assert_eq!(error.code(), ErrorCode::InvalidParams);
        assert_eq!(
            error.to_string(),
            format!("relay takes 1 to 64 players, not {}", players.len())
        );
    }
    let error = game.start(&ids(&["a", "b", "a"]), 0).unwrap_err();
    assert!(matches!(error, GameError::InvalidPlayers(_)), "{error:?}");
}

// ---------------------------------------------------------------------------------------------
// errors and the registry

#[test]
fn each_game_error_has_its_code() {
    let cases = [
        (GameError::NotYourTurn, ErrorCode::NotYourTurn),
        (GameError::IllegalMove("x".into()), ErrorCode::IllegalMove),
        (GameError::GameOver, ErrorCode::GameOver),
        (
            GameError::InvalidCommand("x".into()),
            ErrorCode::InvalidParams,
        ),
        (
            GameError::WrongPlayerCount {
                mode: "m",
                min: 1,
                max: 2,
                got: 3,
            },
            ErrorCode::InvalidParams,
        ),
        (
            GameError::InvalidPlayers("x".into()),
            ErrorCode::InvalidParams,
        ),
        (GameError::NotAPlayer, ErrorCode::Forbidden),
        (GameError::BadState("detail".into()), ErrorCode::Internal),
    ];
    for (error, code) in cases {
        assert_eq!(error.code(), code, "{error:?}");
    }
    // The damaged-state detail stays out of the message a player sees.
    assert!(
        !GameError::BadState("secret detail".into())
            .to_string()
            .contains("secret")
    );
}

#[test]
fn the_builtin_registry_has_both_games() {
    let games = Games::builtin();
    assert_eq!(games.modes().collect::<Vec<_>>(), ["relay", "tic-tac-toe"]);
    for mode in ["relay", "tic-tac-toe"] {
        assert_eq!(games.get(mode).unwrap().mode(), mode);
    }
    for unknown in ["chess", "", "Tic-Tac-Toe", "tictactoe", "relay "] {
        assert!(games.get(unknown).is_none(), "{unknown:?}");
    }
    assert_eq!(Games::new().modes().count(), 0);
    assert!(Games::new().get("relay").is_none());
}

/// Counts to three: each command adds one; whoever reaches three wins.
struct ToThree;

impl Game for ToThree {
    fn mode(&self) -> &'static str {
        "to-three"
    }
    fn players(&self) -> RangeInclusive<usize> {
        1..=4
    }
    fn start(&self, players: &[String], _seed: u64) -> Result<Value, GameError> {
        warren_sessions::game::check_players(self.mode(), self.players(), players)?;
        Ok(json!({"count": 0, "winner": null}))
    }
    fn apply(&self, state: &Value, player: &str, _command: &Value) -> Result<Value, GameError> {
        let count = state["count"].as_u64().unwrap_or(0) + 1;
        let winner = (count == 3).then_some(player);
        Ok(json!({"count": count, "winner": winner}))
    }
    fn outcome(&self, state: &Value) -> Option<Outcome> {
        state["winner"].as_str().map(|w| Outcome {
            winner: Some(w.to_owned()),
        })
    }
    fn player_left(&self, state: &Value, _player: &str, _remaining: &[String]) -> Value {
        state.clone()
    }
}

#[test]
fn a_registered_game_is_found_by_its_mode() {
    let mut games = Games::builtin();
    assert!(games.get("to-three").is_none());
    assert!(games.register(Arc::new(ToThree)).is_none());
    assert_eq!(
        games.modes().collect::<Vec<_>>(),
        ["relay", "tic-tac-toe", "to-three"]
    );
    let game = games.get("to-three").unwrap();
    let mut state = game.start(&ids(&["a"]), 0).unwrap();
    for _ in 0..3 {
        state = game.apply(&state, "a", &json!(null)).unwrap();
    }
    assert_eq!(
        game.outcome(&state),
        Some(Outcome {
            winner: Some("a".into())
        })
    );
    // The built-ins are still there, and a clone of the registry sees the new game too.
    assert!(games.get("relay").is_some());
    assert!(games.clone().get("to-three").is_some());
    assert_eq!(
        format!("{games:?}"),
        r#"{"relay", "tic-tac-toe", "to-three"}"#
    );
}

#[test]
fn registering_a_mode_again_replaces_the_game() {
    struct FakeRelay;
    impl Game for FakeRelay {
        fn mode(&self) -> &'static str {
            "relay"
        }
        fn players(&self) -> RangeInclusive<usize> {
            5..=5
        }
        fn start(&self, _: &[String], _: u64) -> Result<Value, GameError> {
            Ok(json!("fake"))
        }
        fn apply(&self, state: &Value, _: &str, _: &Value) -> Result<Value, GameError> {
            Ok(state.clone())
        }
        fn outcome(&self, _: &Value) -> Option<Outcome> {
            None
        }
        fn player_left(&self, state: &Value, _: &str, _: &[String]) -> Value {
            state.clone()
        }
    }
    let mut games = Games::builtin();
    let previous = games.register(Arc::new(FakeRelay)).unwrap();
    assert_eq!(previous.players(), 1..=64);
    assert_eq!(games.get("relay").unwrap().players(), 5..=5);
    assert_eq!(games.modes().count(), 2);
}
