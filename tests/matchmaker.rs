//! The matchmaker over the WebSocket as game clients use it, embedded and over RabbitMQ and
//! Redis: close ratings matched into a game; far ratings matched only once the window has
//! widened; other regions and modes never; cancel, expiry, one search at a time, and a ticket
//! dropped when its player's last connection closes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Mode, Player, TestSystem, Ws, start, start_configured};
use serde_json::{Value, json};
use std::time::Duration;
use warren_bus::CallOptions;
use warren_matchmaker::MatchmakerConfig;
use warren_matchmaker::pool::Window;

fn code(response: &Value) -> &str {
    response["error"]["data"]["code"].as_str().unwrap_or("")
}

async fn connected(system: &TestSystem, player: &Player) -> Ws {
    let mut ws = system.connect(&player.access_token).await;
    ws.call("accounts.me", json!({})).await;
    ws
}

/// A region no other test uses, so that only this test's players share a pool.
fn region() -> String {
    common::unique("r").replace('_', "-").to_lowercase()
}

fn search(region: &str) -> Value {
    json!({"mode": "tic-tac-toe", "region": region})
}

/// Calls the matchmaker as the gateway would for `user`, without a socket of theirs.
async fn status_of(system: &TestSystem, user: &str) -> Value {
    system
        .bus()
        .call_json(
            "matchmaker",
            "matchmaker.status",
            &json!({}),
            CallOptions::default().user_id(user),
        )
        .await
        .unwrap()
}

async fn close_ratings_are_matched_into_a_game(mode: Mode) {
    let system = start(mode).await;
    let (ada, bob) = (system.player("ada").await, system.player("bob").await);
    let (mut ada_ws, mut bob_ws) = (
        connected(&system, &ada).await,
        connected(&system, &bob).await,
    );
    let region = region();
    let ticket = ada_ws.call("matchmaker.start", search(&region)).await;
    assert!(ticket["expires_at"].as_u64().unwrap() > common::now_ms());
    let status = ada_ws.call("matchmaker.status", json!({})).await;
    assert_eq!(status["ticket_id"], ticket["ticket_id"]);
    assert_eq!(status["rating"], 1000.0);
    assert_eq!(status["players_per_match"], 2);
    bob_ws.call("matchmaker.start", search(&region)).await;
    let found = ada_ws.event("match.found").await;
    assert_eq!(bob_ws.event("match.found").await["data"], found["data"]);
    let mut players: Vec<&str> = found["data"]["players"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    players.sort_unstable();
    let mut expected = [ada.user_id.as_str(), bob.user_id.as_str()];
    expected.sort_unstable();
    assert_eq!(players, expected);
    // The search is over and the game is on. The ticket goes a step after match.found is sent;
    // until then it reads `matched`, with the session.
    let sid = found["data"]["session_id"].clone();
    let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = ada_ws.call("matchmaker.status", json!({})).await;
        if status.is_null() {
            break;
        }
        assert_eq!(status["state"], "matched", "{status}");
        assert_eq!(status["session_id"], sid, "{status}");
        assert!(
            tokio::time::Instant::now() < give_up,
            "the ticket stayed: {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let session = bob_ws
        .call("sessions.join", json!({"session_id": sid}))
        .await;
    assert_eq!(session["status"], "running");
    let busy = ada_ws.call_raw("matchmaker.start", search(&region)).await;
    assert_eq!(code(&busy), "in_session", "{busy}");
    system.stop().await;
}

/// A tic-tac-toe game between `a` and `b` that `b` leaves at once, so `a` wins by forfeit:
/// ratings 1016 and 984.
async fn rate(system: &TestSystem, a: &Player, b: &Player) {
    let (mut a_ws, mut b_ws) = (connected(system, a).await, connected(system, b).await);
    let params = warren_contracts::sessions::NewSession {
        mode: "tic-tac-toe".into(),
        players: vec![a.user_id.clone(), b.user_id.clone()],
    };
    let session = system
        .bus()
        .call::<warren_contracts::sessions::Create>(&params, CallOptions::default())
        .await
        .unwrap();
    b_ws.call("sessions.leave", json!({"session_id": session.session_id}))
        .await;
    let changed = a_ws.event("rating.changed").await;
    assert_eq!(changed["data"]["rating"], 1016.0);
}

async fn far_ratings_wait_for_the_window_to_widen(mode: Mode) {
    // Windows start at 10 and grow 40 a second: 32 apart match after about half a second.
    let system = start_configured(mode, |options| {
        options.matchmaker = MatchmakerConfig {
            window: Window {
                start: 10.0,
                growth_per_sec: 40.0,
                max: 400.0,
            },
            ..options.matchmaker.clone()
        };
    })
    .await;
    let (ada, bob) = (system.player("ada").await, system.player("bob").await);
    rate(&system, &ada, &bob).await;
    let (mut ada_ws, mut bob_ws) = (
        connected(&system, &ada).await,
        connected(&system, &bob).await,
    );
    let region = region();
    ada_ws.call("matchmaker.start", search(&region)).await;
    bob_ws.call("matchmaker.start", search(&region)).await;
    // While both windows are narrower than the 32 points between them, neither is matched.
    let early = bob_ws.call("matchmaker.status", json!({})).await;
    if early["window"].as_f64().unwrap() < 32.0 {
        let ada_status = ada_ws.call("matchmaker.status", json!({})).await;
        assert!(ada_status.is_object(), "matched before the window widened");
    }
    let found = ada_ws.event("match.found").await;
    assert_eq!(bob_ws.event("match.found").await["data"], found["data"]);
    system.stop().await;
}

async fn other_regions_and_modes_are_never_matched(mode: Mode) {
    let system = start(mode).await;
    let players = [
        system.player("ada").await,
        system.player("bob").await,
        system.player("cy").await,
        system.player("dan").await,
    ];
    let mut sockets = Vec::new();
    for player in &players {
        sockets.push(connected(&system, player).await);
    }
    let (here, there) = (region(), region());
    sockets[1]
        .call(
            "matchmaker.start",
            json!({"mode": "tic-tac-toe", "region": there}),
        )
        .await;
    sockets[2]
        .call("matchmaker.start", json!({"mode": "relay", "region": here}))
        .await;
    sockets[0].call("matchmaker.start", search(&here)).await;
    sockets[3].call("matchmaker.start", search(&here)).await;
    // Ada and Dan share mode and region: they are matched; the others are still searching.
    let found = sockets[0].event("match.found").await;
    assert!(
        found["data"]["players"]
            .to_string()
            .contains(&players[3].user_id)
    );
    for i in [1, 2] {
        let status = sockets[i].call("matchmaker.status", json!({})).await;
        assert!(
            status.is_object(),
            "{} was matched: {status}",
            players[i].username
        );
    }
    system.stop().await;
}

async fn cancel_and_one_search_at_a_time(mode: Mode) {
    let system = start(mode).await;
    let ada = system.player("ada").await;
    let mut ws = connected(&system, &ada).await;
    let region = region();
    let ticket = ws.call("matchmaker.start", search(&region)).await;
    let again = ws.call_raw("matchmaker.start", search(&region)).await;
    assert_eq!(code(&again), "already_searching", "{again}");
    let room = ws
        .call_raw("rooms.create", json!({"mode": "relay", "max_players": 2}))
        .await;
    assert_eq!(code(&room), "already_searching", "{room}");
    ws.call("matchmaker.cancel", json!({})).await;
    let cancelled = ws.event("matchmaker.cancelled").await;
    assert_eq!(cancelled["data"]["ticket_id"], ticket["ticket_id"]);
    assert_eq!(cancelled["data"]["reason"], "cancelled");
    assert_eq!(ws.call("matchmaker.status", json!({})).await, Value::Null);
    let none = ws.call_raw("matchmaker.cancel", json!({})).await;
    assert_eq!(code(&none), "not_found", "{none}");
    // In a room, no search.
    let room = ws
        .call("rooms.create", json!({"mode": "relay", "max_players": 2}))
        .await;
    let refused = ws.call_raw("matchmaker.start", search(&region)).await;
    assert_eq!(code(&refused), "already_in_room", "{refused}");
    ws.call("rooms.leave", json!({"room_id": room["room_id"]}))
        .await;
    ws.call("matchmaker.start", search(&region)).await;
    system.stop().await;
}

async fn bad_searches_are_refused(mode: Mode) {
    let system = start(mode).await;
    let ada = system.player("ada").await;
    let mut ws = connected(&system, &ada).await;
    for (params, wanted) in [
        (json!({"mode": "chess", "region": "eu"}), "invalid_params"),
        (
            json!({"mode": "tic-tac-toe", "region": "EU"}),
            "invalid_params",
        ),
        (
            json!({"mode": "tic-tac-toe", "region": ""}),
            "invalid_params",
        ),
        (
            json!({"mode": "tic-tac-toe", "region": "x".repeat(33)}),
            "invalid_params",
        ),
        (
            json!({"mode": "tic-tac-toe", "region": "eu", "players_per_match": 3}),
            "invalid_params",
        ),
        (
            json!({"mode": "relay", "region": "eu", "players_per_match": 1}),
            "invalid_params",
        ),
    ] {
        let refused = ws.call_raw("matchmaker.start", params.clone()).await;
        assert_eq!(code(&refused), wanted, "{params}: {refused}");
    }
    let shape = ws.call_raw("matchmaker.start", json!({"mode": 1})).await;
    assert_eq!(shape["error"]["code"], -32602, "{shape}");
    let internal = ws
        .call_raw("matchmaker.holds", json!({"id": "x", "user_id": "y"}))
        .await;
    assert_eq!(internal["error"]["code"], -32601, "{internal}");
    // Nothing was started by any of it.
    assert_eq!(ws.call("matchmaker.status", json!({})).await, Value::Null);
    system.stop().await;
}

async fn a_ticket_expires(mode: Mode) {
    let system = start_configured(mode, |options| {
        options.matchmaker.ticket_ttl = Duration::from_millis(600);
    })
    .await;
    let ada = system.player("ada").await;
    let mut ws = connected(&system, &ada).await;
    let ticket = ws.call("matchmaker.start", search(&region())).await;
    let expired = ws.event("matchmaker.expired").await;
    assert_eq!(expired["data"]["ticket_id"], ticket["ticket_id"]);
    assert_eq!(ws.call("matchmaker.status", json!({})).await, Value::Null);
    // Free to search again.
    ws.call("matchmaker.start", search(&region())).await;
    system.stop().await;
}

async fn a_player_who_disconnects_loses_the_ticket(mode: Mode) {
    let system = start(mode).await;
    let ada = system.player("ada").await;
    let mut ws = connected(&system, &ada).await;
    ws.call("matchmaker.start", search(&region())).await;
    drop(ws);
    let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
    while status_of(&system, &ada.user_id).await != Value::Null {
        assert!(
            tokio::time::Instant::now() < give_up,
            "the ticket outlived its player's connection"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Free to search again once back.
    let mut ws = connected(&system, &ada).await;
    ws.call("matchmaker.start", search(&region())).await;
    system.stop().await;
}

both_modes!(
    close_ratings_are_matched_into_a_game,
    far_ratings_wait_for_the_window_to_widen,
    other_regions_and_modes_are_never_matched,
    cancel_and_one_search_at_a_time,
    bad_searches_are_refused,
    a_ticket_expires,
    a_player_who_disconnects_loses_the_ticket,
);
