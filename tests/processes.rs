//! The gateway and the services as separate processes over RabbitMQ and Redis, as they are
//! deployed: a service stopped gives `unavailable` for its calls while the rest keep working, and
//! works again once it is back.
//!
//! The binaries are those `cargo test --workspace` builds next to this test (target/debug).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{PASSWORD, Vhost, Ws, unique};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (cargo build --workspace --bins)",
        path.display()
    );
    path
}

/// A child process, killed if the test ends without stopping it.
struct Process {
    name: &'static str,
    child: Child,
}

impl Process {
    fn start(name: &'static str, env: &[(&str, String)]) -> Self {
        let mut command = Command::new(binary(name));
        command.stdout(Stdio::null()).stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        Self {
            name,
            child: command.spawn().unwrap(),
        }
    }

    /// SIGTERM, then the exit status: a graceful stop exits 0.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("stopped {}", self.name);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What every process of one test deployment shares: a vhost, a Redis namespace, a port.
struct Deployment {
    vhost: Vhost,
    namespace: String,
    port: u16,
    env: Vec<(&'static str, String)>,
    http: reqwest::Client,
}

impl Deployment {
    fn new() -> Self {
        let vhost = Vhost::create();
        let namespace = format!("{}:", unique("test-procs"));
        let port = free_port();
        let env = vec![
            ("WARREN_AMQP_URL", vhost.url()),
            ("WARREN_REDIS_URL", common::redis_url()),
            ("WARREN_REDIS_NAMESPACE", namespace.clone()),
            (
                "WARREN_JWT_SECRET",
                String::from_utf8(common::SECRET.to_vec()).unwrap(),
            ),
            ("WARREN_LISTEN", format!("127.0.0.1:{port}")),
            ("RUST_LOG", "warn".into()),
        ];
        Self {
            vhost,
            namespace,
            port,
            env,
            http: reqwest::Client::new(),
        }
    }

    fn start(&self, name: &'static str) -> Process {
        Process::start(name, &self.env)
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Registers a user once the processes are up (gateway → auth → accounts); the user id.
    async fn register(&self, credentials: &serde_json::Value) -> String {
        let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            assert!(
                tokio::time::Instant::now() < give_up,
                "the processes never came up"
            );
            let sent = self
                .http
                .post(format!("{}/v1/auth/register", self.base()))
                .json(credentials)
                .send()
                .await;
            if let Ok(response) = sent
                && response.status() == 201
            {
                let body: serde_json::Value = response.json().await.unwrap();
                return body["user_id"].as_str().unwrap().to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn login(&self, credentials: &serde_json::Value) -> String {
        let response = self
            .http
            .post(format!("{}/v1/auth/login", self.base()))
            .json(credentials)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let tokens: serde_json::Value = response.json().await.unwrap();
        tokens["access_token"].as_str().unwrap().to_owned()
    }

    async fn connect(&self, token: &str) -> Ws {
        Ws::connect(&format!("ws://127.0.0.1:{}/ws?token={token}", self.port))
            .await
            .unwrap()
    }
}

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
    common::delete_keys(&deployment.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_goes_on_when_a_sessions_instance_is_killed() {
    let deployment = Deployment::new();
    let _auth = deployment.start("warren-auth");
    let _accounts = deployment.start("warren-accounts");
    let mut doomed = deployment.start("warren-sessions");
    let _other = deployment.start("warren-sessions");
    let _gateway = deployment.start("warren-gateway");
    let mut players = Vec::new();
    for name in ["ada", "bob"] {
        let credentials = json!({"username": unique(name), "password": PASSWORD});
        let user_id = deployment.register(&credentials).await;
        let token = deployment.login(&credentials).await;
        players.push((user_id, deployment.connect(&token).await));
    }
    // Rooms and the matchmaker start sessions; here the test does, over the same broker.
    let bus = warren_bus::Bus::connect(&deployment.vhost.url(), "test")
        .await
        .unwrap();
    let params = warren_contracts::sessions::NewSession {
        mode: "tic-tac-toe".into(),
        players: players.iter().map(|(id, _)| id.clone()).collect(),
    };
    let session = bus
        .call::<warren_contracts::sessions::Create>(&params, warren_bus::CallOptions::default())
        .await
        .unwrap();
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
    common::delete_keys(&deployment.namespace).await;
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
    common::delete_keys(&deployment.namespace).await;
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
    common::delete_keys(&deployment.namespace).await;
}
