//! Game sessions played over the WebSocket as game clients play them, embedded and over
//! RabbitMQ and Redis: a whole tic-tac-toe game to a win and to a draw with ratings changed as Elo
//! says, refused moves, a relay among three players, leaving (a forfeit), and the service-only
//! `sessions.create` out of a client's reach.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Mode, Player, TestSystem, Ws, start};
use serde_json::{Value, json};
use warren_bus::CallOptions;
use warren_contracts::sessions::{Create, NewSession, Session};

async fn create(system: &TestSystem, mode: &str, players: &[&Player]) -> Session {
    let params = NewSession {
        mode: mode.into(),
        players: players.iter().map(|p| p.user_id.clone()).collect(),
    };
    system
        .bus()
        .call::<Create>(&params, CallOptions::default())
        .await
        .unwrap()
}

async fn play(ws: &mut Ws, sid: &str, cell: u64) -> Value {
    ws.call_raw(
        "sessions.command",
        json!({"session_id": sid, "command": {"cell": cell}}),
    )
    .await
}

/// Both players seated and connected, in turn order: (first, second).
async fn tic_tac_toe<'a>(
    system: &TestSystem,
    a: &'a Player,
    b: &'a Player,
) -> (String, Ws, Ws, &'a Player, &'a Player) {
    let mut ws_a = system.connect(&a.access_token).await;
    let mut ws_b = system.connect(&b.access_token).await;
    ws_a.call("accounts.me", json!({})).await;
    ws_b.call("accounts.me", json!({})).await;
    let session = create(system, "tic-tac-toe", &[a, b]).await;
    let sid = session.session_id.clone();
    for ws in [&mut ws_a, &mut ws_b] {
        let started = ws.event("session.started").await;
        assert_eq!(started["data"]["session_id"], json!(sid));
        assert_eq!(started["data"]["game"], "tic-tac-toe");
    }
    let joined = ws_a.call("sessions.join", json!({"session_id": sid})).await;
    assert_eq!(joined["status"], "running");
    assert_eq!(
        joined["state"]["board"],
        json!(["", "", "", "", "", "", "", "", ""])
    );
    if joined["state"]["turn"] == json!(a.user_id) {
        (sid, ws_a, ws_b, a, b)
    } else {
        (sid, ws_b, ws_a, b, a)
    }
}

async fn a_game_to_a_win_changes_ratings_as_elo_says(mode: Mode) {
    let system = start(mode).await;
    let (a, b) = (system.player("ada").await, system.player("bob").await);
    let (sid, mut first, mut second, winner, loser) = tic_tac_toe(&system, &a, &b).await;
    // The first player takes the top row while the second plays the middle row.
    for (i, cell) in [0, 3, 1, 4, 2].into_iter().enumerate() {
        let ws = if i % 2 == 0 { &mut first } else { &mut second };
        let response = play(ws, &sid, cell).await;
        assert!(response.get("error").is_none(), "move {cell}: {response}");
    }
    for ws in [&mut first, &mut second] {
        let mut versions = Vec::new();
        for _ in 0..5 {
            versions.push(
                ws.event("session.state").await["data"]["version"]
                    .as_u64()
                    .unwrap(),
            );
        }
        versions.sort_unstable();
        assert_eq!(versions, vec![1, 2, 3, 4, 5]);
        let finished = ws.event("session.finished").await;
        assert_eq!(finished["data"]["winner"], json!(winner.user_id));
    }
    let won = first.event("rating.changed").await;
    let lost = second.event("rating.changed").await;
    assert_eq!(
        (
            won["data"]["rating"].as_f64().unwrap().round(),
            won["data"]["delta"].as_f64().unwrap().round()
        ),
        (1016.0, 16.0)
    );
    assert_eq!(
        (
            lost["data"]["rating"].as_f64().unwrap().round(),
            lost["data"]["delta"].as_f64().unwrap().round()
        ),
        (984.0, -16.0)
    );
    let me = first.call("accounts.me", json!({})).await;
    assert_eq!(
        (me["games_played"].as_u64(), me["games_won"].as_u64()),
        (Some(1), Some(1))
    );
    let me = second.call("accounts.me", json!({})).await;
    assert_eq!(
        (me["games_played"].as_u64(), me["games_won"].as_u64()),
        (Some(1), Some(0))
    );
    // After the end, nothing more is accepted.
    let late = play(&mut second, &sid, 8).await;
    assert_eq!(late["error"]["data"]["code"], "game_over", "{late}");
    let _ = (winner, loser);
    system.stop().await;
}

async fn a_draw_sends_rating_changed_to_both(mode: Mode) {
    let system = start(mode).await;
    let (a, b) = (system.player("ada").await, system.player("bob").await);
    let (sid, mut first, mut second, _, _) = tic_tac_toe(&system, &a, &b).await;
    // X: 0 1 5 6 8, O: 2 3 4 7 → no line.
    for (i, cell) in [0, 2, 1, 3, 5, 4, 6, 7, 8].into_iter().enumerate() {
        let ws = if i % 2 == 0 { &mut first } else { &mut second };
        let response = play(ws, &sid, cell).await;
        assert!(response.get("error").is_none(), "move {cell}: {response}");
    }
    for ws in [&mut first, &mut second] {
        let finished = ws.event("session.finished").await;
        assert!(finished["data"]["winner"].is_null(), "{finished}");
        let changed = ws.event("rating.changed").await;
        assert_eq!(changed["data"]["delta"].as_f64().unwrap().round(), 0.0);
    }
    system.stop().await;
}

async fn refused_moves_change_nothing(mode: Mode) {
    let system = start(mode).await;
    let (a, b, c) = (
        system.player("ada").await,
        system.player("bob").await,
        system.player("cy").await,
    );
    let (sid, mut first, mut second, _, _) = tic_tac_toe(&system, &a, &b).await;
    let out_of_turn = play(&mut second, &sid, 4).await;
    assert_eq!(
        out_of_turn["error"]["data"]["code"], "not_your_turn",
        "{out_of_turn}"
    );
    assert!(play(&mut first, &sid, 4).await.get("error").is_none());
    let taken = play(&mut second, &sid, 4).await;
    assert_eq!(taken["error"]["data"]["code"], "illegal_move", "{taken}");
    for bad in [
        json!({"cell": 9}),
        json!({"cell": -1}),
        json!({"cell": "4"}),
        json!({}),
        json!(7),
    ] {
        let response = second
            .call_raw(
                "sessions.command",
                json!({"session_id": sid, "command": bad}),
            )
            .await;
        let code = response["error"]["data"]["code"].clone();
        assert!(
            code == "illegal_move" || code == "invalid_params",
            "{bad}: {response}"
        );
    }
    let mut outsider = system.connect(&c.access_token).await;
    let response = play(&mut outsider, &sid, 0).await;
    assert_eq!(response["error"]["data"]["code"], "forbidden", "{response}");
    let response = outsider
        .call_raw("sessions.join", json!({"session_id": sid}))
        .await;
    assert_eq!(response["error"]["data"]["code"], "forbidden", "{response}");
    let state = first
        .call("sessions.join", json!({"session_id": sid}))
        .await;
    assert_eq!(
        state["version"], 1,
        "a refused move changed the session: {state}"
    );
    // sessions.create is not reachable from a socket.
    let response = first
        .call_raw(
            "sessions.create",
            json!({"mode": "relay", "players": [a.user_id]}),
        )
        .await;
    assert_eq!(response["error"]["code"], -32601, "{response}");
    system.stop().await;
}

async fn relay_players_see_every_command_in_order(mode: Mode) {
    let system = start(mode).await;
    let players = [
        system.player("ada").await,
        system.player("bob").await,
        system.player("cy").await,
    ];
    let mut sockets = Vec::new();
    for p in &players {
        let mut ws = system.connect(&p.access_token).await;
        ws.call("accounts.me", json!({})).await;
        sockets.push(ws);
    }
    let session = create(&system, "relay", &players.iter().collect::<Vec<_>>()).await;
    let sid = session.session_id;
    // All three send at once, every round: the commands race, yet everyone sees one order.
    for round in 0..3 {
        let mut ids = Vec::new();
        for (i, ws) in sockets.iter_mut().enumerate() {
            let command = json!({"say": format!("{round}-{i}")});
            let params = json!({"session_id": sid, "command": command});
            ids.push(ws.request("sessions.command", params).await);
        }
        for (ws, id) in sockets.iter_mut().zip(&ids) {
            let response = ws.response(id).await;
            assert!(response.get("error").is_none(), "{response}");
        }
    }
    let mut seen = Vec::new();
    for ws in &mut sockets {
        let mut states = Vec::new();
        for _ in 0..9 {
            let data = ws.event("session.state").await["data"].clone();
            states.push((
                data["version"].as_u64().unwrap(),
                data["state"]["command"]["say"].as_str().unwrap().to_owned(),
                data["state"]["from"].clone(),
            ));
        }
        let versions: Vec<u64> = states.iter().map(|s| s.0).collect();
        assert_eq!(
            versions,
            (1..=9).collect::<Vec<_>>(),
            "events arrived out of order"
        );
        seen.push(states);
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "players saw different histories"
    );
    // Every command got through once, stamped with its sender.
    let mut said: Vec<String> = seen[0].iter().map(|s| s.1.clone()).collect();
    said.sort();
    let mut expected: Vec<String> = (0..3)
        .flat_map(|r| (0..3).map(move |i| format!("{r}-{i}")))
        .collect();
    expected.sort();
    assert_eq!(said, expected);
    for (_, say, from) in &seen[0] {
        let seat: usize = say[2..].parse().unwrap();
        assert_eq!(
            from,
            &json!(players[seat].user_id),
            "{say} has the wrong sender"
        );
    }
    system.stop().await;
}

async fn leaving_forfeits(mode: Mode) {
    let system = start(mode).await;
    let (a, b) = (system.player("ada").await, system.player("bob").await);
    let (sid, mut first, mut second, winner_expected, quitter) = {
        let (sid, first, second, f, s) = tic_tac_toe(&system, &a, &b).await;
        (sid, first, second, s, f)
    };
    first
        .call("sessions.leave", json!({"session_id": sid}))
        .await;
    let left = second.event("session.player_left").await;
    assert_eq!(left["data"]["user_id"], json!(quitter.user_id));
    let finished = second.event("session.finished").await;
    assert_eq!(finished["data"]["winner"], json!(winner_expected.user_id));
    assert_eq!(
        second.event("rating.changed").await["data"]["delta"]
            .as_f64()
            .unwrap()
            .round(),
        16.0
    );
    let again = first
        .call_raw("sessions.join", json!({"session_id": sid}))
        .await;
    assert_eq!(again["error"]["data"]["code"], "forbidden", "{again}");
    system.stop().await;
}

async fn a_player_back_within_the_grace_period_plays_on(mode: Mode) {
    let system = start(mode).await;
    let (a, b) = (system.player("ada").await, system.player("bob").await);
    let (sid, mut first, second, _, second_player) = tic_tac_toe(&system, &a, &b).await;
    assert!(play(&mut first, &sid, 0).await.get("error").is_none());
    drop(second); // the connection drops
    let mut back = system.connect(&second_player.access_token).await;
    let session = back.call("sessions.join", json!({"session_id": sid})).await;
    assert_eq!(session["version"], 1);
    assert!(
        play(&mut back, &sid, 4).await.get("error").is_none(),
        "the returning player lost the seat"
    );
    // Well past the grace period, the game is still on and nobody has left.
    tokio::time::sleep(common::GRACE * 3).await;
    let session = first
        .call("sessions.join", json!({"session_id": sid}))
        .await;
    assert_eq!(session["status"], "running", "{session}");
    assert!(
        first
            .events
            .iter()
            .all(|e| e["type"] != "session.player_left"),
        "{:?}",
        first.events
    );
    system.stop().await;
}

async fn a_player_not_back_in_time_forfeits(mode: Mode) {
    let system = start(mode).await;
    let (a, b) = (system.player("ada").await, system.player("bob").await);
    let (sid, mut first, second, first_player, second_player) = tic_tac_toe(&system, &a, &b).await;
    drop(second);
    let left = first.event("session.player_left").await;
    assert_eq!(left["data"]["user_id"], json!(second_player.user_id));
    let finished = first.event("session.finished").await;
    assert_eq!(finished["data"]["winner"], json!(first_player.user_id));
    assert_eq!(
        first.event("rating.changed").await["data"]["delta"]
            .as_f64()
            .unwrap()
            .round(),
        16.0
    );
    let _ = sid;
    system.stop().await;
}

both_modes!(
    a_player_back_within_the_grace_period_plays_on,
    a_player_not_back_in_time_forfeits,
    a_game_to_a_win_changes_ratings_as_elo_says,
    a_draw_sends_rating_changed_to_both,
    refused_moves_change_nothing,
    relay_players_see_every_command_in_order,
    leaving_forfeits,
);
