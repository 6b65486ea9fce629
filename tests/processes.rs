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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_service_is_unavailable_and_comes_back() {
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
    let _auth = Process::start("warren-auth", &env);
    let accounts = Process::start("warren-accounts", &env);
    let _gateway = Process::start("warren-gateway", &env);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();

    // Up when registration works end to end (gateway → auth → accounts).
    let username = unique("ada");
    let credentials = json!({"username": username, "password": PASSWORD});
    let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
    let user_id = loop {
        assert!(
            tokio::time::Instant::now() < give_up,
            "the processes never came up"
        );
        let sent = http
            .post(format!("{base}/v1/auth/register"))
            .json(&credentials)
            .send()
            .await;
        if let Ok(response) = sent
            && response.status() == 201
        {
            let body: serde_json::Value = response.json().await.unwrap();
            break body["user_id"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let login = || async {
        let response = http
            .post(format!("{base}/v1/auth/login"))
            .json(&credentials)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let tokens: serde_json::Value = response.json().await.unwrap();
        tokens["access_token"].as_str().unwrap().to_owned()
    };
    let token = login().await;
    let mut ws = Ws::connect(&format!("ws://127.0.0.1:{port}/ws?token={token}"))
        .await
        .unwrap();
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
    login().await;

    // Back again: its calls work, on the same socket.
    let _accounts = Process::start("warren-accounts", &env);
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
    common::delete_keys(&namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_goes_on_when_a_sessions_instance_is_killed() {
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
    let _auth = Process::start("warren-auth", &env);
    let _accounts = Process::start("warren-accounts", &env);
    let mut doomed = Process::start("warren-sessions", &env);
    let _other = Process::start("warren-sessions", &env);
    let _gateway = Process::start("warren-gateway", &env);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut players = Vec::new();
    for name in ["ada", "bob"] {
        let credentials = json!({"username": unique(name), "password": PASSWORD});
        let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
        let user_id = loop {
            assert!(
                tokio::time::Instant::now() < give_up,
                "the processes never came up"
            );
            let sent = http
                .post(format!("{base}/v1/auth/register"))
                .json(&credentials)
                .send()
                .await;
            if let Ok(response) = sent
                && response.status() == 201
            {
                let body: serde_json::Value = response.json().await.unwrap();
                break body["user_id"].as_str().unwrap().to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let response = http
            .post(format!("{base}/v1/auth/login"))
            .json(&credentials)
            .send()
            .await
            .unwrap();
        let tokens: serde_json::Value = response.json().await.unwrap();
        let token = tokens["access_token"].as_str().unwrap().to_owned();
        let ws = Ws::connect(&format!("ws://127.0.0.1:{port}/ws?token={token}"))
            .await
            .unwrap();
        players.push((user_id, ws));
    }
    // Rooms and the matchmaker start sessions; here the test does, over the same broker.
    let bus = warren_bus::Bus::connect(&vhost.url(), "test")
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
    common::delete_keys(&namespace).await;
}
