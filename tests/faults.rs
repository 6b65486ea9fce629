//! Faults injected under the whole system, seen as a game client sees them over the WebSocket:
//! the broker cutting every connection during a game, Redis restarting (with its append-only
//! file, as deployed), and Redis dropping its connections. Each test has its own RabbitMQ vhost
//! and, where Redis is the fault, its own `redis-server`, so they run beside the rest.
//! (Stopping the broker itself is in `broker_restart.rs`, which runs alone.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Player, TestSystem, Vhost, Ws, start, start_configured, unique};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn code(response: &Value) -> &str {
    response["error"]["data"]["code"].as_str().unwrap_or("")
}

async fn connected(system: &TestSystem, player: &Player) -> Ws {
    let mut ws = system.connect(&player.access_token).await;
    ws.call("accounts.me", json!({})).await;
    ws
}

/// A `redis-server` of the test's own, with an append-only file fsynced on every write, as the
/// compose file runs it. Stopped with SHUTDOWN (which syncs the file) and started again on the
/// same port and directory.
struct Redis {
    port: u16,
    dir: std::path::PathBuf,
    child: Option<Child>,
}

impl Redis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(unique("warren-redis"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut redis = Self {
            port,
            dir,
            child: None,
        };
        redis.run();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli")
    }

    fn run(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.cli(&["ping"]).stdout != b"PONG\n" {
            assert!(Instant::now() < deadline, "redis-server did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        self.cli(&["shutdown"]);
        if let Some(mut child) = self.child.take() {
            child.wait().unwrap();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Calls `method` until it succeeds; every failure meanwhile must be a fast `unavailable`.
async fn until_it_works(ws: &mut Ws, method: &str, params: Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let asked = Instant::now();
        let response = ws.call_raw(method, params.clone()).await;
        if response.get("error").is_none() {
            return response["result"].clone();
        }
        assert_eq!(code(&response), "unavailable", "{method}: {response}");
        assert!(
            asked.elapsed() < Duration::from_secs(3),
            "{method} took {:?} to fail",
            asked.elapsed()
        );
        assert!(Instant::now() < deadline, "{method} never worked again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Ada and Bob in a tic-tac-toe game started from a public room; returns the session id and
/// which of them moves first.
async fn a_game(ada_ws: &mut Ws, bob_ws: &mut Ws, ada: &Player) -> (String, bool) {
    let room = ada_ws
        .call(
            "rooms.create",
            json!({"mode": "tic-tac-toe", "max_players": 2}),
        )
        .await;
    let room_id = room["room_id"].clone();
    bob_ws.call("rooms.join", json!({"room_id": room_id})).await;
    for ws in [&mut *ada_ws, &mut *bob_ws] {
        ws.call("rooms.ready", json!({"room_id": room_id, "ready": true}))
            .await;
    }
    let started = ada_ws.event("session.started").await;
    bob_ws.event("session.started").await;
    let sid = started["data"]["session_id"].as_str().unwrap().to_owned();
    let session = ada_ws
        .call("sessions.join", json!({"session_id": sid}))
        .await;
    bob_ws
        .call("sessions.join", json!({"session_id": sid}))
        .await;
    let ada_first = session["state"]["turn"] == json!(ada.user_id);
    (sid, ada_first)
}

fn cell(sid: &str, cell: u64) -> Value {
    json!({"session_id": sid, "command": {"cell": cell}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_goes_on_through_a_connection_cut() {
    let vhost = Vhost::create();
    let system = start(vhost.mode()).await;
    let (ada, bob) = (system.player("ada").await, system.player("bob").await);
    let mut ada_ws = connected(&system, &ada).await;
    let mut bob_ws = connected(&system, &bob).await;
    let (sid, ada_first) = a_game(&mut ada_ws, &mut bob_ws, &ada).await;
    let (first, second) = if ada_first {
        (&mut ada_ws, &mut bob_ws)
    } else {
        (&mut bob_ws, &mut ada_ws)
    };
    first.call("sessions.command", cell(&sid, 0)).await;
    common::rabbitmqctl(&[
        "close_all_connections",
        "--vhost",
        &vhost.0,
        "connections cut by a test",
    ]);
    // The sockets stay open; calls fail fast until the services are back, then the game goes on
    // without restarting anything.
    until_it_works(second, "sessions.command", cell(&sid, 3)).await;
    for (i, c) in [1, 4, 2].into_iter().enumerate() {
        let ws = if i % 2 == 0 {
            &mut *first
        } else {
            &mut *second
        };
        until_it_works(ws, "sessions.command", cell(&sid, c)).await;
    }
    for ws in [&mut *first, &mut *second] {
        let finished = ws
            .event_where("session.finished", |d| d["session_id"] == json!(sid))
            .await;
        assert_ne!(finished["data"]["winner"], Value::Null);
    }
    // A room made after the cut is joined, and its events arrive. Rooms came back on its own
    // schedule, which the game did not wait for: a call before that is refused at once.
    let room = until_it_works(
        second,
        "rooms.create",
        json!({"mode": "relay", "max_players": 2}),
    )
    .await;
    first
        .call("rooms.join", json!({"room_id": room["room_id"]}))
        .await;
    second
        .event_where("room.updated", |d| {
            d["players"].as_array().map(Vec::len) == Some(2)
        })
        .await;
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_loses_nothing_acknowledged() {
    let vhost = Vhost::create();
    let mut redis = Redis::start();
    let url = redis.url();
    let system = start_configured(vhost.mode(), |options| options.redis_url = Some(url)).await;
    let (ada, bob) = (system.player("ada").await, system.player("bob").await);
    let mut ada_ws = connected(&system, &ada).await;
    let mut bob_ws = connected(&system, &bob).await;
    let (sid, ada_first) = a_game(&mut ada_ws, &mut bob_ws, &ada).await;
    let (first, second) = if ada_first {
        (&mut ada_ws, &mut bob_ws)
    } else {
        (&mut bob_ws, &mut ada_ws)
    };
    for (i, c) in [0, 3, 1, 4, 2].into_iter().enumerate() {
        let ws = if i % 2 == 0 {
            &mut *first
        } else {
            &mut *second
        };
        ws.call("sessions.command", cell(&sid, c)).await;
    }
    for ws in [&mut ada_ws, &mut bob_ws] {
        ws.event_where("rating.changed", |d| d["session_id"] == json!(sid))
            .await;
    }
    let before = [
        ada_ws.call("accounts.me", json!({})).await,
        bob_ws.call("accounts.me", json!({})).await,
    ];
    let room = ada_ws
        .call("rooms.create", json!({"mode": "relay", "max_players": 3}))
        .await;

    redis.stop();
    let asked = Instant::now();
    let away = ada_ws.call_raw("accounts.me", json!({})).await;
    assert_eq!(code(&away), "unavailable", "{away}");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );
    let (status, ready) = system.get("/readyz", None).await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["checks"]["redis"], false, "{ready}");

    redis.run();
    until_it_works(&mut ada_ws, "accounts.me", json!({})).await;
    let after = [
        ada_ws.call("accounts.me", json!({})).await,
        bob_ws.call("accounts.me", json!({})).await,
    ];
    assert_eq!(before, after, "ratings and games as acknowledged");
    for player in [&ada, &bob] {
        let (status, tokens) = system
            .post(
                "/v1/auth/login",
                json!({"username": player.username, "password": common::PASSWORD}),
            )
            .await;
        assert_eq!(status, 200, "{tokens}");
    }
    let joined = bob_ws
        .call("rooms.join", json!({"room_id": room["room_id"]}))
        .await;
    assert_eq!(joined["players"].as_array().unwrap().len(), 2, "{joined}");
    let (status, _) = system.get("/readyz", None).await;
    assert_eq!(status, 200);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_redis_connections_come_back_by_themselves() {
    let vhost = Vhost::create();
    let redis = Redis::start();
    let url = redis.url();
    let system = start_configured(vhost.mode(), |options| options.redis_url = Some(url)).await;
    let ada = system.player("ada").await;
    let mut ada_ws = connected(&system, &ada).await;
    let killed = redis.cli(&["client", "kill", "type", "normal"]);
    assert!(killed.status.success(), "{killed:?}");
    until_it_works(&mut ada_ws, "accounts.me", json!({})).await;
    let room = until_it_works(
        &mut ada_ws,
        "rooms.create",
        json!({"mode": "relay", "max_players": 2}),
    )
    .await;
    let listed = ada_ws.call("rooms.list", json!({"mode": "relay"})).await;
    assert!(
        listed
            .to_string()
            .contains(room["room_id"].as_str().unwrap())
    );
    system.stop().await;
}

/// Starts the broker again even if the test fails half-way, so later tests find it running.
struct StartAppOnDrop;

impl Drop for StartAppOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl").arg("start_app").output();
    }
}

/// The broker stops (`rabbitmqctl stop_app`) in the middle of a game and starts again. It stops
/// the broker under every other test, so the test command runs it alone:
/// `cargo test --test faults -- --ignored --test-threads=1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stops the shared broker: scripts/test runs it alone"]
async fn a_game_goes_on_through_a_broker_restart() {
    let vhost = Vhost::create();
    let system = start(vhost.mode()).await;
    let (ada, bob) = (system.player("ada").await, system.player("bob").await);
    let mut ada_ws = connected(&system, &ada).await;
    let mut bob_ws = connected(&system, &bob).await;
    let (sid, ada_first) = a_game(&mut ada_ws, &mut bob_ws, &ada).await;
    let (first, second) = if ada_first {
        (&mut ada_ws, &mut bob_ws)
    } else {
        (&mut bob_ws, &mut ada_ws)
    };
    first.call("sessions.command", cell(&sid, 0)).await;
    let restart = StartAppOnDrop;
    common::rabbitmqctl(&["stop_app"]);
    // While the broker is down, calls fail at once; the sockets stay open.
    let asked = Instant::now();
    let away = second.call_raw("sessions.command", cell(&sid, 3)).await;
    assert_eq!(code(&away), "unavailable", "{away}");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );
    common::rabbitmqctl(&["start_app"]);
    drop(restart);
    until_it_works(second, "sessions.command", cell(&sid, 3)).await;
    for (i, c) in [1, 4, 2].into_iter().enumerate() {
        let ws = if i % 2 == 0 {
            &mut *first
        } else {
            &mut *second
        };
        until_it_works(ws, "sessions.command", cell(&sid, c)).await;
    }
    for ws in [&mut *first, &mut *second] {
        let finished = ws
            .event_where("session.finished", |d| d["session_id"] == json!(sid))
            .await;
        assert_ne!(finished["data"]["winner"], Value::Null);
    }
    system.stop().await;
}
