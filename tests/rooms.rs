//! Public rooms over the WebSocket as game clients use them, embedded and over RabbitMQ and
//! Redis: create, list (also over HTTP), join, ready and the session that follows; leaving and
//! the owner's seat handed over; a full room; one room at a time; bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Mode, Player, TestSystem, Ws, start};
use serde_json::{Value, json};

fn code(response: &Value) -> &str {
    response["error"]["data"]["code"].as_str().unwrap_or("")
}

/// A player connected, registered with the gateway's hub once a request has been answered.
async fn connected(system: &TestSystem, player: &Player) -> Ws {
    let mut ws = system.connect(&player.access_token).await;
    ws.call("accounts.me", json!({})).await;
    ws
}

async fn a_full_ready_room_starts_a_session(mode: Mode) {
    let system = start(mode).await;
    let (ada, bob) = (system.player("ada").await, system.player("bob").await);
    let (mut ada_ws, mut bob_ws) = (
        connected(&system, &ada).await,
        connected(&system, &bob).await,
    );
    let room = ada_ws
        .call(
            "rooms.create",
            json!({"mode": "tic-tac-toe", "max_players": 2, "name": "  Friday night  "}),
        )
        .await;
    let room_id = room["room_id"].as_str().unwrap().to_owned();
    assert_eq!(room["owner"], json!(ada.user_id));
    assert_eq!(room["name"], "Friday night");
    assert_eq!(
        room["players"],
        json!([{"user_id": ada.user_id, "ready": false}])
    );
    assert_eq!(room["free_seats"], 1);
    assert_eq!(room["status"], "open");

    // Listed for its mode, over the socket and over HTTP; not for another mode.
    let listed = bob_ws
        .call("rooms.list", json!({"mode": "tic-tac-toe"}))
        .await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["room_id"] == json!(room_id))
    );
    let relay = bob_ws.call("rooms.list", json!({"mode": "relay"})).await;
    assert!(
        !relay
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["room_id"] == json!(room_id))
    );
    let (status, listed) = system
        .get("/v1/rooms?mode=tic-tac-toe", Some(&bob.access_token))
        .await;
    assert_eq!(status, 200, "{listed}");
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["room_id"] == json!(room_id))
    );
    assert_eq!(system.get("/v1/rooms", None).await.0, 401);

    let joined = bob_ws.call("rooms.join", json!({"room_id": room_id})).await;
    assert_eq!(joined["free_seats"], 0);
    for ws in [&mut ada_ws, &mut bob_ws] {
        let updated = ws.event("room.updated").await;
        assert_eq!(updated["data"]["players"].as_array().unwrap().len(), 2);
    }
    // Full: no longer listed.
    let listed = bob_ws
        .call("rooms.list", json!({"mode": "tic-tac-toe"}))
        .await;
    assert!(
        !listed
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["room_id"] == json!(room_id))
    );

    let ready = ada_ws
        .call("rooms.ready", json!({"room_id": room_id, "ready": true}))
        .await;
    assert_eq!(ready["players"][0]["ready"], true);
    assert_eq!(ready["status"], "open");
    bob_ws
        .call("rooms.ready", json!({"room_id": room_id, "ready": true}))
        .await;
    let mut sessions = Vec::new();
    for ws in [&mut ada_ws, &mut bob_ws] {
        let started = ws.event("session.started").await;
        assert_eq!(started["data"]["game"], "tic-tac-toe");
        let closed = ws.event("room.closed").await;
        assert_eq!(closed["data"]["room_id"], json!(room_id));
        assert_eq!(closed["data"]["reason"], "started");
        assert_eq!(closed["data"]["session_id"], started["data"]["session_id"]);
        sessions.push(started["data"]["session_id"].clone());
    }
    assert_eq!(sessions[0], sessions[1]);
    let session = ada_ws
        .call("sessions.join", json!({"session_id": sessions[0]}))
        .await;
    assert_eq!(session["status"], "running");

    // The room is gone; its players are in a game and may not take another room.
    let gone = bob_ws
        .call_raw("rooms.join", json!({"room_id": room_id}))
        .await;
    assert_eq!(code(&gone), "not_found", "{gone}");
    let busy = ada_ws
        .call_raw("rooms.create", json!({"mode": "relay", "max_players": 3}))
        .await;
    assert_eq!(code(&busy), "in_session", "{busy}");
    // Once they leave the game, they are free again.
    ada_ws
        .call("sessions.leave", json!({"session_id": sessions[0]}))
        .await;
    bob_ws
        .event_where("session.finished", |d| d["session_id"] == sessions[0])
        .await;
    let again = ada_ws
        .call_raw("rooms.create", json!({"mode": "relay", "max_players": 3}))
        .await;
    assert!(again.get("error").is_none(), "{again}");
    system.stop().await;
}

async fn leaving_hands_the_room_to_the_next_player(mode: Mode) {
    let system = start(mode).await;
    let (ada, bob, cy) = (
        system.player("ada").await,
        system.player("bob").await,
        system.player("cy").await,
    );
    let mut ada_ws = connected(&system, &ada).await;
    let mut bob_ws = connected(&system, &bob).await;
    let mut cy_ws = connected(&system, &cy).await;
    let room = ada_ws
        .call("rooms.create", json!({"mode": "relay", "max_players": 3}))
        .await;
    let room_id = room["room_id"].as_str().unwrap().to_owned();
    bob_ws.call("rooms.join", json!({"room_id": room_id})).await;
    cy_ws.call("rooms.join", json!({"room_id": room_id})).await;
    // Bob is ready; Ada leaves before the room is full of ready players.
    bob_ws
        .call("rooms.ready", json!({"room_id": room_id, "ready": true}))
        .await;
    let not_in = ada_ws
        .call_raw("rooms.ready", json!({"room_id": "nope", "ready": true}))
        .await;
    assert_eq!(code(&not_in), "not_found", "{not_in}");
    ada_ws
        .call("rooms.leave", json!({"room_id": room_id}))
        .await;
    let handed = bob_ws
        .event_where("room.updated", |d| d["owner"] != json!(ada.user_id))
        .await;
    assert_eq!(handed["data"]["owner"], json!(bob.user_id));
    assert_eq!(
        handed["data"]["players"],
        json!([{"user_id": bob.user_id, "ready": true}, {"user_id": cy.user_id, "ready": false}])
    );
    cy_ws
        .event_where("room.updated", |d| d["owner"] == json!(bob.user_id))
        .await;
    // Ada is out: she cannot act on the room, and may take another.
    let out = ada_ws
        .call_raw("rooms.leave", json!({"room_id": room_id}))
        .await;
    assert_eq!(code(&out), "forbidden", "{out}");
    let elsewhere = ada_ws
        .call("rooms.create", json!({"mode": "relay", "max_players": 2}))
        .await;
    ada_ws
        .call("rooms.leave", json!({"room_id": elsewhere["room_id"]}))
        .await;
    // The last one out closes it.
    bob_ws
        .call("rooms.leave", json!({"room_id": room_id}))
        .await;
    cy_ws.call("rooms.leave", json!({"room_id": room_id})).await;
    let gone = ada_ws
        .call_raw("rooms.join", json!({"room_id": room_id}))
        .await;
    assert_eq!(code(&gone), "not_found", "{gone}");
    system.stop().await;
}

async fn a_full_room_and_a_second_room_are_refused(mode: Mode) {
    let system = start(mode).await;
    let (ada, bob, cy) = (
        system.player("ada").await,
        system.player("bob").await,
        system.player("cy").await,
    );
    let mut ada_ws = connected(&system, &ada).await;
    let mut bob_ws = connected(&system, &bob).await;
    let mut cy_ws = connected(&system, &cy).await;
    let first = ada_ws
        .call(
            "rooms.create",
            json!({"mode": "tic-tac-toe", "max_players": 2}),
        )
        .await;
    let first_id = first["room_id"].clone();
    bob_ws
        .call("rooms.join", json!({"room_id": first_id}))
        .await;
    // Joining again is a no-op.
    let again = bob_ws
        .call("rooms.join", json!({"room_id": first_id}))
        .await;
    assert_eq!(again["players"].as_array().unwrap().len(), 2);
    let full = cy_ws
        .call_raw("rooms.join", json!({"room_id": first_id}))
        .await;
    assert_eq!(code(&full), "room_full", "{full}");

    let second = cy_ws
        .call("rooms.create", json!({"mode": "relay", "max_players": 4}))
        .await;
    let second_id = second["room_id"].clone();
    let twice = bob_ws
        .call_raw("rooms.join", json!({"room_id": second_id}))
        .await;
    assert_eq!(code(&twice), "already_in_room", "{twice}");
    let create = ada_ws
        .call_raw("rooms.create", json!({"mode": "relay", "max_players": 2}))
        .await;
    assert_eq!(code(&create), "already_in_room", "{create}");
    // Nothing changed: the second room still has one player.
    let listed = cy_ws.call("rooms.list", json!({"mode": "relay"})).await;
    let second_now = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["room_id"] == second_id)
        .unwrap()
        .clone();
    assert_eq!(second_now["players"].as_array().unwrap().len(), 1);
    // After leaving the first, Bob may join the second.
    bob_ws
        .call("rooms.leave", json!({"room_id": first_id}))
        .await;
    bob_ws
        .call("rooms.join", json!({"room_id": second_id}))
        .await;
    system.stop().await;
}

async fn bad_room_requests_are_refused(mode: Mode) {
    let system = start(mode).await;
    let ada = system.player("ada").await;
    let mut ws = connected(&system, &ada).await;
    for (params, wanted) in [
        (json!({"mode": "chess", "max_players": 2}), "no game mode"),
        (
            json!({"mode": "tic-tac-toe", "max_players": 3}),
            "takes 2 players",
        ),
        (json!({"mode": "relay", "max_players": 0}), "not 0"),
        (json!({"mode": "relay", "max_players": 17}), "not 17"),
        (
            json!({"mode": "relay", "max_players": 2, "name": "x".repeat(65)}),
            "room name",
        ),
        (
            json!({"mode": "relay", "max_players": 2, "name": "   "}),
            "room name",
        ),
        (
            json!({"mode": "relay", "max_players": 2, "name": "a\u{7}b"}),
            "room name",
        ),
        (json!({"mode": "m".repeat(65), "max_players": 2}), "mode"),
    ] {
        let refused = ws.call_raw("rooms.create", params.clone()).await;
        assert_eq!(code(&refused), "invalid_params", "{params}: {refused}");
        let message = refused["error"]["message"].as_str().unwrap();
        assert!(message.contains(wanted), "{params}: {message}");
    }
    for params in [
        json!({"mode": "relay"}),
        json!({"mode": 7, "max_players": 2}),
        json!([]),
    ] {
        let refused = ws.call_raw("rooms.create", params.clone()).await;
        assert_eq!(refused["error"]["code"], -32602, "{params}: {refused}");
    }
    for limit in [0, 101] {
        let refused = ws.call_raw("rooms.list", json!({"limit": limit})).await;
        assert_eq!(code(&refused), "invalid_params", "{refused}");
    }
    let (status, body) = system
        .get("/v1/rooms?limit=abc", Some(&ada.access_token))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_params");
    let missing = ws
        .call_raw("rooms.join", json!({"room_id": "no-such-room"}))
        .await;
    assert_eq!(code(&missing), "not_found", "{missing}");
    // Service-only: a client cannot ask whose seat is whose.
    let internal = ws
        .call_raw("rooms.holds", json!({"id": "x", "user_id": "y"}))
        .await;
    assert_eq!(internal["error"]["code"], -32601, "{internal}");
    // Nothing was created by any of it: Ada is free to create a room.
    ws.call("rooms.create", json!({"mode": "relay", "max_players": 2}))
        .await;
    system.stop().await;
}

async fn two_players_racing_for_the_last_seat(mode: Mode) {
    let system = start(mode).await;
    let ada = system.player("ada").await;
    let mut ada_ws = connected(&system, &ada).await;
    let room = ada_ws
        .call(
            "rooms.create",
            json!({"mode": "tic-tac-toe", "max_players": 2}),
        )
        .await;
    let room_id = room["room_id"].clone();
    for _ in 0..5 {
        let (bob, cy) = (system.player("bob").await, system.player("cy").await);
        let mut bob_ws = connected(&system, &bob).await;
        let mut cy_ws = connected(&system, &cy).await;
        let bob_id = bob_ws
            .request("rooms.join", json!({"room_id": room_id}))
            .await;
        let cy_id = cy_ws
            .request("rooms.join", json!({"room_id": room_id}))
            .await;
        let (bob_reply, cy_reply) = tokio::join!(bob_ws.response(&bob_id), cy_ws.response(&cy_id));
        let codes = [code(&bob_reply).to_owned(), code(&cy_reply).to_owned()];
        let winners = codes.iter().filter(|c| c.is_empty()).count();
        assert_eq!(winners, 1, "{bob_reply} / {cy_reply}");
        assert!(codes.contains(&"room_full".to_owned()), "{codes:?}");
        // The winner leaves, so the next pair races for the seat again.
        let winner = if codes[0].is_empty() {
            &mut bob_ws
        } else {
            &mut cy_ws
        };
        winner
            .call("rooms.leave", json!({"room_id": room_id}))
            .await;
    }
    system.stop().await;
}

both_modes!(
    a_full_ready_room_starts_a_session,
    leaving_hands_the_room_to_the_next_player,
    a_full_room_and_a_second_room_are_refused,
    bad_room_requests_are_refused,
    two_players_racing_for_the_last_seat,
);
