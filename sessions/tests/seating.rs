//! What the services that seat players ask of sessions, over the in-process bus: which modes and
//! sizes exist (`sessions.modes`) and whether a session still holds a player (`sessions.holds`),
//! both refused to a caller who is a client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use std::sync::Arc;
use warren_bus::{Bus, CallOptions};
use warren_contracts::activity::{Holds, HoldsQuery};
use warren_contracts::sessions::{
    Command, Create, HoldsMethod, Leave, Modes, NewSession, SendCommand, SessionId,
};
use warren_contracts::{Empty, ErrorCode};
use warren_sessions::MemoryStore;

async fn system() -> (Bus, warren_runtime::Started) {
    let bus = Bus::in_process();
    let started = warren_sessions::start(
        &bus,
        Arc::new(MemoryStore::new()),
        warren_sessions::SessionsConfig::default(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    (bus, started)
}

fn as_user(user: &str) -> CallOptions {
    CallOptions::default().user_id(user)
}

async fn holds(bus: &Bus, session_id: &str, user: &str) -> bool {
    let query = HoldsQuery {
        id: session_id.into(),
        user_id: user.into(),
    };
    let Holds { held } = bus
        .call::<HoldsMethod>(&query, CallOptions::default())
        .await
        .unwrap();
    held
}

#[tokio::test]
async fn modes_name_every_game_and_its_sizes() {
    let (bus, _server) = system().await;
    let modes = bus
        .call::<Modes>(&Empty {}, CallOptions::default())
        .await
        .unwrap();
    let ttt = modes.iter().find(|m| m.mode == "tic-tac-toe").unwrap();
    assert_eq!((ttt.min_players, ttt.max_players), (2, 2));
    let relay = modes.iter().find(|m| m.mode == "relay").unwrap();
    assert!(
        relay.min_players >= 1 && relay.max_players >= 16,
        "{relay:?}"
    );
}

#[tokio::test]
async fn a_session_holds_its_players_until_they_leave_or_it_ends() {
    let (bus, _server) = system().await;
    let new = NewSession {
        mode: "tic-tac-toe".into(),
        players: vec!["ada".into(), "bob".into()],
    };
    let session = bus
        .call::<Create>(&new, CallOptions::default())
        .await
        .unwrap();
    let sid = session.session_id.clone();
    assert!(holds(&bus, &sid, "ada").await);
    assert!(holds(&bus, &sid, "bob").await);
    assert!(!holds(&bus, &sid, "cy").await, "a stranger is held");
    assert!(!holds(&bus, "no-such-session", "ada").await);

    // Ada leaves: she is free; the forfeit ends the game, so Bob is free too.
    let leave = SessionId {
        session_id: sid.clone(),
    };
    bus.call::<Leave>(&leave, as_user("ada")).await.unwrap();
    assert!(!holds(&bus, &sid, "ada").await);
    assert!(
        !holds(&bus, &sid, "bob").await,
        "a finished game holds its winner"
    );
    let late = Command {
        session_id: sid.clone(),
        command: json!({"cell": 0}),
    };
    assert!(
        bus.call::<SendCommand>(&late, as_user("bob"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn clients_may_not_ask() {
    let (bus, _server) = system().await;
    let query = HoldsQuery {
        id: "s".into(),
        user_id: "ada".into(),
    };
    let refused = bus
        .call::<HoldsMethod>(&query, as_user("ada"))
        .await
        .unwrap_err()
        .to_wire();
    assert_eq!(refused.code, ErrorCode::Forbidden);
    let new = NewSession {
        mode: "relay".into(),
        players: vec!["ada".into()],
    };
    let refused = bus
        .call::<Create>(&new, as_user("ada"))
        .await
        .unwrap_err()
        .to_wire();
    assert_eq!(refused.code, ErrorCode::Forbidden);
}
