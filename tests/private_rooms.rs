//! Private rooms over the WebSocket, embedded and over RabbitMQ and Redis: a code that reads
//! aloud, an invitation, joining by code in any spelling, the session a full room starts, wrong
//! codes (and too many of them), closing, expiry, and what only the owner may do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Mode, Player, TestSystem, Ws, start, start_configured};
use serde_json::{Value, json};
use std::time::Duration;

fn code(response: &Value) -> &str {
    response["error"]["data"]["code"].as_str().unwrap_or("")
}

async fn connected(system: &TestSystem, player: &Player) -> Ws {
    let mut ws = system.connect(&player.access_token).await;
    ws.call("accounts.me", json!({})).await;
    ws
}

/// Codes are 10 symbols of an alphabet without look-alikes, shown as XXXXX-XXXXX.
fn assert_readable(code: &str) {
    let (left, right) = code.split_once('-').unwrap_or_else(|| panic!("{code}"));
    for part in [left, right] {
        assert_eq!(part.len(), 5, "{code}");
        assert!(
            part.chars()
                .all(|c| "ABCDEFGHJKMNPQRSTVWXYZ23456789".contains(c)),
            "{code}"
        );
    }
}

async fn an_invited_player_joins_by_code_and_the_game_starts(mode: Mode) {
    let system = start(mode).await;
    let (ada, bob) = (system.player("ada").await, system.player("bob").await);
    let (mut ada_ws, mut bob_ws) = (
        connected(&system, &ada).await,
        connected(&system, &bob).await,
    );
    let room = ada_ws
        .call(
            "private_rooms.create",
            json!({"mode": "relay", "max_players": 2}),
        )
        .await;
    let room_code = room["code"].as_str().unwrap().to_owned();
    assert_readable(&room_code);
    assert_eq!(room["owner"], json!(ada.user_id));
    assert!(room["expires_at"].as_u64().unwrap() > room["created_at"].as_u64().unwrap());
    // Private rooms are not listed.
    let listed = bob_ws.call("rooms.list", json!({})).await;
    assert!(
        !listed
            .to_string()
            .contains(room["room_id"].as_str().unwrap())
    );

    ada_ws
        .call(
            "private_rooms.invite",
            json!({"room_id": room["room_id"], "user_id": bob.user_id}),
        )
        .await;
    let invited = bob_ws.event("private_room.invited").await;
    assert_eq!(invited["data"]["code"], json!(room_code));
    assert_eq!(invited["data"]["from"], json!(ada.user_id));
    assert_eq!(invited["data"]["room_id"], room["room_id"]);

    // Any case, separators ignored.
    let spelled = room_code.to_lowercase().replace('-', " ");
    let joined = bob_ws
        .call("private_rooms.join", json!({"code": spelled}))
        .await;
    assert_eq!(joined["room_id"], room["room_id"]);
    let mut sessions = Vec::new();
    for ws in [&mut ada_ws, &mut bob_ws] {
        let started = ws.event("session.started").await;
        assert_eq!(started["data"]["game"], "relay");
        let closed = ws.event("room.closed").await;
        assert_eq!(closed["data"]["reason"], "started");
        sessions.push(started["data"]["session_id"].clone());
    }
    assert_eq!(sessions[0], sessions[1]);
    // The code no longer works, and both are in the game.
    let late = ada_ws
        .call_raw("private_rooms.join", json!({"code": room_code}))
        .await;
    assert_eq!(code(&late), "not_found", "{late}");
    let busy = bob_ws
        .call_raw(
            "private_rooms.create",
            json!({"mode": "relay", "max_players": 2}),
        )
        .await;
    assert_eq!(code(&busy), "in_session", "{busy}");
    system.stop().await;
}

async fn only_the_owner_invites_and_closes(mode: Mode) {
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
        .call(
            "private_rooms.create",
            json!({"mode": "relay", "max_players": 3}),
        )
        .await;
    let room_id = room["room_id"].clone();
    bob_ws
        .call("private_rooms.join", json!({"code": room["code"]}))
        .await;
    for ws in [&mut ada_ws, &mut bob_ws] {
        let updated = ws.event("room.updated").await;
        assert_eq!(updated["data"]["players"].as_array().unwrap().len(), 2);
    }
    let invite = bob_ws
        .call_raw(
            "private_rooms.invite",
            json!({"room_id": room_id, "user_id": cy.user_id}),
        )
        .await;
    assert_eq!(code(&invite), "forbidden", "{invite}");
    let close = bob_ws
        .call_raw("private_rooms.close", json!({"room_id": room_id}))
        .await;
    assert_eq!(code(&close), "forbidden", "{close}");
    let stranger = cy_ws
        .call_raw("private_rooms.close", json!({"room_id": room_id}))
        .await;
    assert_eq!(code(&stranger), "forbidden", "{stranger}");
    let nobody = ada_ws
        .call_raw(
            "private_rooms.invite",
            json!({"room_id": room_id, "user_id": uuid::Uuid::new_v4()}),
        )
        .await;
    assert_eq!(code(&nobody), "not_found", "{nobody}");
    // In a private room, no public one.
    let public = bob_ws
        .call_raw("rooms.create", json!({"mode": "relay", "max_players": 2}))
        .await;
    assert_eq!(code(&public), "already_in_room", "{public}");

    ada_ws
        .call("private_rooms.close", json!({"room_id": room_id}))
        .await;
    for ws in [&mut ada_ws, &mut bob_ws] {
        let closed = ws.event("room.closed").await;
        assert_eq!(closed["data"]["room_id"], room_id);
        assert_eq!(closed["data"]["reason"], "closed");
    }
    let dead = cy_ws
        .call_raw("private_rooms.join", json!({"code": room["code"]}))
        .await;
    assert_eq!(code(&dead), "not_found", "{dead}");
    // Everyone is free again.
    bob_ws
        .call("rooms.create", json!({"mode": "relay", "max_players": 2}))
        .await;
    system.stop().await;
}

async fn leaving_hands_the_private_room_over(mode: Mode) {
    let system = start(mode).await;
    let (ada, bob) = (system.player("ada").await, system.player("bob").await);
    let (mut ada_ws, mut bob_ws) = (
        connected(&system, &ada).await,
        connected(&system, &bob).await,
    );
    let room = ada_ws
        .call(
            "private_rooms.create",
            json!({"mode": "relay", "max_players": 3}),
        )
        .await;
    let room_id = room["room_id"].clone();
    bob_ws
        .call("private_rooms.join", json!({"code": room["code"]}))
        .await;
    ada_ws
        .call("private_rooms.leave", json!({"room_id": room_id}))
        .await;
    let handed = bob_ws
        .event_where("room.updated", |d| {
            d["players"].as_array().unwrap().len() == 1
        })
        .await;
    assert_eq!(handed["data"]["owner"], json!(bob.user_id));
    let again = ada_ws
        .call_raw("private_rooms.leave", json!({"room_id": room_id}))
        .await;
    assert_eq!(code(&again), "forbidden", "{again}");
    bob_ws
        .call("private_rooms.leave", json!({"room_id": room_id}))
        .await;
    let gone = ada_ws
        .call_raw("private_rooms.join", json!({"code": room["code"]}))
        .await;
    assert_eq!(code(&gone), "not_found", "{gone}");
    system.stop().await;
}

async fn wrong_codes_are_not_found_then_rate_limited(mode: Mode) {
    let system = start(mode).await;
    let (ada, eve) = (system.player("ada").await, system.player("eve").await);
    let (mut ada_ws, mut eve_ws) = (
        connected(&system, &ada).await,
        connected(&system, &eve).await,
    );
    let room = ada_ws
        .call(
            "private_rooms.create",
            json!({"mode": "relay", "max_players": 2}),
        )
        .await;
    // The default allows 10 wrong codes a minute.
    for n in 0..10 {
        let wrong = eve_ws
            .call_raw(
                "private_rooms.join",
                json!({"code": format!("AAAAA-AAAA{}", n % 8 + 2)}),
            )
            .await;
        assert_eq!(code(&wrong), "not_found", "attempt {n}: {wrong}");
    }
    let limited = eve_ws
        .call_raw("private_rooms.join", json!({"code": "BBBBB-BBBBB"}))
        .await;
    assert_eq!(code(&limited), "rate_limited", "{limited}");
    // Even the right code, until the minute is over: guessing must not pay.
    let right = eve_ws
        .call_raw("private_rooms.join", json!({"code": room["code"]}))
        .await;
    assert_eq!(code(&right), "rate_limited", "{right}");
    for params in [
        json!({"code": ""}),
        json!({"code": "x".repeat(100)}),
        json!({"code": 42}),
    ] {
        let bad = ada_ws.call_raw("private_rooms.join", params.clone()).await;
        assert!(bad.get("error").is_some(), "{params}: {bad}");
    }
    // Ada's own attempts did not count against Eve, nor Eve's against Ada.
    let other = system.player("bob").await;
    let mut bob_ws = connected(&system, &other).await;
    bob_ws
        .call("private_rooms.join", json!({"code": room["code"]}))
        .await;
    system.stop().await;
}

async fn an_unused_private_room_expires(mode: Mode) {
    let system = start_configured(mode, |options| {
        options.private_rooms.ttl = Duration::from_millis(800);
    })
    .await;
    let (ada, bob) = (system.player("ada").await, system.player("bob").await);
    let (mut ada_ws, mut bob_ws) = (
        connected(&system, &ada).await,
        connected(&system, &bob).await,
    );
    let room = ada_ws
        .call(
            "private_rooms.create",
            json!({"mode": "relay", "max_players": 3}),
        )
        .await;
    bob_ws
        .call("private_rooms.join", json!({"code": room["code"]}))
        .await;
    for ws in [&mut ada_ws, &mut bob_ws] {
        let closed = ws.event("room.closed").await;
        assert_eq!(closed["data"]["room_id"], room["room_id"]);
        assert_eq!(closed["data"]["reason"], "expired");
    }
    let dead = bob_ws
        .call_raw("private_rooms.join", json!({"code": room["code"]}))
        .await;
    assert_eq!(code(&dead), "not_found", "{dead}");
    // Both are free again.
    ada_ws
        .call("rooms.create", json!({"mode": "relay", "max_players": 2}))
        .await;
    bob_ws
        .call(
            "private_rooms.create",
            json!({"mode": "relay", "max_players": 2}),
        )
        .await;
    system.stop().await;
}

both_modes!(
    an_invited_player_joins_by_code_and_the_game_starts,
    only_the_owner_invites_and_closes,
    leaving_hands_the_private_room_over,
    wrong_codes_are_not_found_then_rate_limited,
    an_unused_private_room_expires,
);
