//! The gateway and the services as separate processes over RabbitMQ and Redis, as they are
//! deployed: a service stopped gives `unavailable` for its calls while the rest keep working, and
//! works again once it is back.
//!
//! The binaries are those `cargo build --workspace --bins` puts next to this test (target/debug);
//! tests/observability.rs follows requests through them in logs, metrics and traces.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::processes::{Deployment, Process};
use common::{PASSWORD, Ws, unique};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_service_is_unavailable_and_comes_back() {
    let deployment = Deployment::new();
    let _auth = deployment.start("warren-auth");
    let accounts = deployment.start("warren-accounts");
    let _gateway = deployment.start("warren-gateway");
    let credentials = json!({"username": unique("ada"), "password": PASSWORD});
    let user_id = deployment.register(&credentials).await;
    let token = deployment.login(&credentials).await;
    let mut ws = deployment.connect(&token).await;
    assert_eq!(ws.call("accounts.me", json!({})).await["user_id"], user_id);

    // accounts stops gracefully; its calls are unavailable, auth still works.
    assert!(
        accounts.terminate().success(),
        "warren-accounts did not exit cleanly on SIGTERM"
    );
    let started = tokio::time::Instant::now();
    let response = ws.call_raw("accounts.me", json!({})).await;
    assert_eq!(
        response["error"]["data"]["code"], "unavailable",
        "{response}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    deployment.login(&credentials).await;

    // Back again: its calls work, on the same socket.
    let _accounts = deployment.start("warren-accounts");
    let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let response = ws.call_raw("accounts.me", json!({})).await;
        if response["result"]["user_id"] == json!(user_id) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "accounts never came back: {response}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Auth, accounts, a gateway and two sessions instances (one of them to be killed), two
/// players connected, and a session of `mode` for them, started by the test as rooms would.
struct Game {
    /// The processes that stay up.
    processes: Vec<Process>,
    doomed: Process,
    bus: warren_bus::Bus,
    players: Vec<(String, Ws)>,
    session: warren_contracts::sessions::Session,
}

async fn two_sessions_instances_and_a_game(deployment: &Deployment, mode: &str) -> Game {
    let mut processes = vec![
        deployment.start("warren-auth"),
        deployment.start("warren-accounts"),
    ];
    // The doomed instance starts alone and creates the session, so it is the session's owner:
    // the other instance serves half the commands by forwarding them until the owner is gone.
    let doomed = deployment.start("warren-sessions");
    processes.push(deployment.start("warren-gateway"));
    let mut players = Vec::new();
    for name in ["ada", "bob"] {
        let credentials = json!({"username": unique(name), "password": PASSWORD});
        let user_id = deployment.register(&credentials).await;
        let token = deployment.login(&credentials).await;
        players.push((user_id, deployment.connect(&token).await));
    }
    let bus = warren_bus::Bus::connect(&deployment.vhost.url(), "test")
        .await
        .unwrap();
    let params = warren_contracts::sessions::NewSession {
        mode: mode.into(),
        players: players.iter().map(|(id, _)| id.clone()).collect(),
    };
    let session = bus
        .call::<warren_contracts::sessions::Create>(&params, warren_bus::CallOptions::default())
        .await
        .unwrap();
    processes.push(deployment.start_serving("warren-sessions").await);
    Game {
        processes,
        doomed,
        bus,
        players,
        session,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_goes_on_when_a_sessions_instance_is_killed() {
    let deployment = Deployment::new();
    let Game {
        processes: _processes,
        mut doomed,
        bus,
        mut players,
        session,
    } = two_sessions_instances_and_a_game(&deployment, "tic-tac-toe").await;
    let sid = session.session_id;
    let first = usize::from(session.state["turn"] != json!(players[0].0));
    let moves = [0, 3, 1, 4, 2];
    for (i, cell) in moves.into_iter().enumerate() {
        if i == 2 {
            // Killed without warning mid-game; the other instance takes over.
            doomed.child.kill().unwrap();
            doomed.child.wait().unwrap();
        }
        let (_, ws) = &mut players[(first + i) % 2];
        let response = ws
            .call_raw(
                "sessions.command",
                json!({"session_id": sid, "command": {"cell": cell}}),
            )
            .await;
        assert!(
            response.get("error").is_none(),
            "move {cell} after the kill: {response}"
        );
    }
    let (_, ws) = &mut players[first];
    let finished = ws.event("session.finished").await;
    assert_eq!(finished["data"]["winner"], json!(players[first].0));
    let session = players[first]
        .1
        .call("sessions.join", json!({"session_id": sid}))
        .await;
    assert_eq!(
        (session["version"].as_u64(), session["status"].as_str()),
        (Some(5), Some("finished"))
    );
    bus.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_start_games_across_processes() {
    let deployment = Deployment::new();
    let _auth = deployment.start("warren-auth");
    let _accounts = deployment.start("warren-accounts");
    let _sessions = deployment.start("warren-sessions");
    let rooms = deployment.start("warren-rooms");
    let _other_rooms = deployment.start("warren-rooms");
    let _private_rooms = deployment.start("warren-private-rooms");
    let _gateway = deployment.start("warren-gateway");
    let mut players = Vec::new();
    for name in ["ada", "bob"] {
        let credentials = json!({"username": unique(name), "password": PASSWORD});
        let user_id = deployment.register(&credentials).await;
        let token = deployment.login(&credentials).await;
        players.push((user_id, deployment.connect(&token).await));
    }
    let (ada, rest) = players.split_first_mut().unwrap();
    let bob = &mut rest[0];
    // The services come up in any order: wait for rooms (and, through it, sessions) to answer.
    let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
    let room = loop {
        let response = ada
            .1
            .call_raw(
                "rooms.create",
                json!({"mode": "tic-tac-toe", "max_players": 2}),
            )
            .await;
        if response.get("error").is_none() {
            break response["result"].clone();
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "rooms never answered: {response}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // One rooms instance stops gracefully; the other serves the rest of the room's life.
    assert!(
        rooms.terminate().success(),
        "warren-rooms did not exit cleanly"
    );
    bob.1
        .call("rooms.join", json!({"room_id": room["room_id"]}))
        .await;
    for (_, ws) in [&mut *ada, &mut *bob] {
        ws.call(
            "rooms.ready",
            json!({"room_id": room["room_id"], "ready": true}),
        )
        .await;
    }
    let started = ada.1.event("session.started").await;
    assert_eq!(
        bob.1.event("session.started").await["data"],
        started["data"]
    );
    // In the game now: a private room is refused until the game is over.
    let refused = bob
        .1
        .call_raw(
            "private_rooms.create",
            json!({"mode": "relay", "max_players": 2}),
        )
        .await;
    assert_eq!(refused["error"]["data"]["code"], "in_session", "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matchmaking_goes_on_when_a_matchmaker_stops() {
    let deployment = Deployment::new();
    let _auth = deployment.start("warren-auth");
    let _accounts = deployment.start("warren-accounts");
    let _sessions = deployment.start("warren-sessions");
    let first = deployment.start("warren-matchmaker");
    let _second = deployment.start("warren-matchmaker");
    let _gateway = deployment.start("warren-gateway");
    let mut players = Vec::new();
    for name in ["ada", "bob", "cy", "dan"] {
        let credentials = json!({"username": unique(name), "password": PASSWORD});
        deployment.register(&credentials).await;
        let token = deployment.login(&credentials).await;
        players.push(deployment.connect(&token).await);
    }
    let region = unique("r").replace('_', "-").to_lowercase();
    let search = json!({"mode": "tic-tac-toe", "region": region});
    // The services come up in any order: wait for the matchmaker (and sessions) to answer.
    let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let response = players[0]
            .call_raw("matchmaker.start", search.clone())
            .await;
        if response.get("error").is_none() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "the matchmaker never answered: {response}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    players[1].call("matchmaker.start", search.clone()).await;
    let found = players[0].event("match.found").await;
    assert_eq!(players[1].event("match.found").await["data"], found["data"]);

    // One matchmaker stops gracefully (its loops too); the other matches the next pair.
    assert!(
        first.terminate().success(),
        "warren-matchmaker did not exit cleanly on SIGTERM"
    );
    players[2].call("matchmaker.start", search.clone()).await;
    players[3].call("matchmaker.start", search).await;
    let found = players[2].event("match.found").await;
    assert_eq!(players[3].event("match.found").await["data"], found["data"]);
}

/// How the test stops one of the two sessions instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// SIGKILL: no warning.
    Kill,
    /// SIGTERM: a graceful stop.
    Terminate,
}

/// A sessions instance is killed (SIGKILL) while it holds relay commands in flight: every
/// command gets an answer or a clear error in time, and none is applied twice. Commands the dead
/// instance held go to the other one; one it had applied but not answered is recognised by its
/// request id and answered without being applied again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_commands_are_applied_once_when_an_instance_is_killed() {
    relay_commands_through_a_stop(Stop::Kill).await;
}

/// Stopped with SIGTERM instead, the instance finishes and answers what it holds and exits 0:
/// every command is answered ok and applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_commands_all_succeed_when_an_instance_is_stopped() {
    relay_commands_through_a_stop(Stop::Terminate).await;
}

async fn relay_commands_through_a_stop(stop: Stop) {
    const COMMANDS: u64 = 300;
    const IN_FLIGHT: u64 = 30;
    let deployment = Deployment::new();
    let Game {
        processes: _processes,
        mut doomed,
        bus,
        mut players,
        session,
    } = two_sessions_instances_and_a_game(&deployment, "relay").await;
    let sid = session.session_id;
    let (mut ada, mut bob) = (players.remove(0).1, players.remove(0).1);
    for ws in [&mut ada, &mut bob] {
        ws.call("sessions.join", json!({"session_id": sid})).await;
    }
    let command = |nonce: u64| json!({"session_id": sid, "command": {"nonce": nonce}});
    // Both players send, each with many commands in flight, so that the killed instance holds
    // some it has applied and not yet answered.
    let mut pending: [std::collections::VecDeque<(u64, serde_json::Value)>; 2] = Default::default();
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    let mut stopping = None;
    for nonce in 0..COMMANDS {
        let sender = (nonce % 2) as usize;
        let ws = if sender == 0 { &mut ada } else { &mut bob };
        if pending[sender].len() as u64 == IN_FLIGHT {
            let (nonce, id) = pending[sender].pop_front().unwrap();
            sort_answer(&ws.response(&id).await, nonce, &mut ok, &mut failed);
        }
        if nonce == COMMANDS / 3 {
            match stop {
                Stop::Kill => {
                    doomed.child.kill().unwrap();
                    doomed.child.wait().unwrap();
                }
                Stop::Terminate => {
                    let doomed =
                        std::mem::replace(&mut doomed, deployment.start("warren-sessions"));
                    stopping = Some(tokio::task::spawn_blocking(move || doomed.terminate()));
                }
            }
        }
        pending[sender].push_back((nonce, ws.request("sessions.command", command(nonce)).await));
    }
    for (sender, queue) in pending.into_iter().enumerate() {
        let ws = if sender == 0 { &mut ada } else { &mut bob };
        for (nonce, id) in queue {
            sort_answer(&ws.response(&id).await, nonce, &mut ok, &mut failed);
        }
    }
    // What was applied, in order: the session's version counts the commands, and Bob hears of
    // each as the relay state {from, command}.
    let session = bob.call("sessions.join", json!({"session_id": sid})).await;
    let applied = session["version"].as_u64().unwrap();
    let mut heard = Vec::new();
    for version in 1..=applied {
        let state = bob
            .event_where("session.state", |d| d["version"] == json!(version))
            .await;
        heard.push(state["data"]["state"]["command"]["nonce"].as_u64().unwrap());
    }
    let mut distinct = heard.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        heard.len(),
        "a command applied twice: {heard:?}"
    );
    for nonce in &ok {
        assert!(
            heard.contains(nonce),
            "command {nonce} was answered ok but not applied"
        );
    }
    assert!(ok.len() as u64 <= applied && applied <= COMMANDS);
    eprintln!(
        "{COMMANDS} commands, {} ok, {} failed ({failed:?}), {applied} applied",
        ok.len(),
        failed.len()
    );
    if let Some(stopping) = stopping {
        assert!(stopping.await.unwrap().success(), "a graceful stop exits 0");
        assert!(
            failed.is_empty(),
            "a graceful stop drops nothing: {failed:?}"
        );
        assert_eq!(applied, COMMANDS);
    }
    bus.shutdown().await;
}

/// Files an answer to a command as ok, or as a failure that must be one a client can act on.
fn sort_answer(response: &serde_json::Value, nonce: u64, ok: &mut Vec<u64>, failed: &mut Vec<u64>) {
    if response.get("error").is_none() {
        ok.push(nonce);
        return;
    }
    let code = response["error"]["data"]["code"].as_str().unwrap_or("");
    assert!(
        matches!(code, "unavailable" | "timeout"),
        "command {nonce}: {response}"
    );
    failed.push(nonce);
}
