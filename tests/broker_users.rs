//! Each process on a broker user of its own, as docs/operations.md deploys it:
//! `deploy/rabbitmq/setup-users.sh` makes the users of a fresh vhost, and the gateway and every
//! service run as processes, each logged in as its own user, while two players go through a
//! flow that touches every service and every queue and exchange. What a user lacks shows as a
//! process that does not start, a step that fails, or a refusal in a log. And a sessions
//! instance forwards a player's change to the session's owner as a service, since only the
//! gateway's broker user may speak for a player.
//!
//! The binaries are those `cargo build --workspace --bins` puts next to this test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::broker::BrokerUser;
use common::processes::{Process, free_port};
use common::{PASSWORD, Vhost, Ws, rabbitmqctl, unique};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, CallOptions, ConnectOptions};
use warren_contracts::sessions::{Command as SessionCommand, Create, NewSession, SendCommand};

/// The processes and the broker user each logs in as, without the script's prefix.
const PROCESSES: [(&str, &str); 7] = [
    ("warren-auth", "auth"),
    ("warren-accounts", "accounts"),
    ("warren-sessions", "sessions"),
    ("warren-rooms", "rooms"),
    ("warren-private-rooms", "private-rooms"),
    ("warren-matchmaker", "matchmaker"),
    ("warren-gateway", "gateway"),
];

/// A vhost and users made by the setup script; deleted when dropped, with the Redis keys and
/// the processes' logs.
struct Scripted {
    vhost: String,
    prefix: String,
    password: String,
    namespace: String,
    logs: Vec<PathBuf>,
}

impl Scripted {
    fn names() -> Self {
        let run = unique("setup").replace('_', "-");
        Self {
            vhost: run.clone(),
            prefix: format!("{run}-"),
            password: uuid::Uuid::new_v4().simple().to_string(),
            namespace: format!("{}:", unique("test-brokers")),
            logs: Vec::new(),
        }
    }

    fn user(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Each user's password: the run's, after the user's name.
    fn password(&self, name: &str) -> String {
        format!("{}{}", self.password, name.replace('-', ""))
    }

    fn run_script(&self) {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut script = Command::new("bash");
        script
            .arg(root.join("deploy/rabbitmq/setup-users.sh"))
            .env("WARREN_BROKER_VHOST", &self.vhost)
            .env("WARREN_BROKER_USER_PREFIX", &self.prefix);
        for (_, name) in PROCESSES {
            let variable = format!(
                "WARREN_AMQP_PASSWORD_{}",
                name.replace('-', "_").to_uppercase()
            );
            script.env(variable, self.password(name));
        }
        let output = script.output().expect("bash runs the setup script");
        assert!(
            output.status.success(),
            "setup-users.sh failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn url(&self, name: &str) -> String {
        format!(
            "amqp://{}:{}@127.0.0.1:5672/{}",
            self.user(name),
            self.password(name),
            self.vhost
        )
    }

    /// What every process shares; `WARREN_AMQP_URL` is each one's own.
    fn env(&self, port: u16) -> Vec<(&'static str, String)> {
        vec![
            ("WARREN_REDIS_URL", common::redis_url()),
            ("WARREN_REDIS_NAMESPACE", self.namespace.clone()),
            ("WARREN_AMQP_GATEWAY_USER", self.user("gateway")),
            (
                "WARREN_JWT_SECRET",
                String::from_utf8(common::SECRET.to_vec()).unwrap(),
            ),
            ("WARREN_LISTEN", format!("127.0.0.1:{port}")),
            ("WARREN_ADMIN_LISTEN", "127.0.0.1:0".into()),
            // Every request of the test comes from 127.0.0.1: the per-address limits are not
            // what it tests.
            ("WARREN_AUTH_RATE_PER_ADDRESS", "1000000".into()),
            ("WARREN_CONNECT_RATE_PER_ADDRESS", "1000000".into()),
            ("WARREN_LOG_FORMAT", "json".into()),
            ("RUST_LOG", "info".into()),
        ]
    }

    /// Starts process `binary` as broker user `name`; a service is returned once it serves.
    async fn start(&mut self, binary: &'static str, name: &str, port: u16) -> Process {
        let mut env = self.env(port);
        env.push(("WARREN_AMQP_URL", self.url(name)));
        let log = std::env::temp_dir().join(format!("{}.log", unique(name)));
        self.logs.push(log.clone());
        if binary == "warren-gateway" {
            return Process::start_logged(binary, &env, &log);
        }
        Process::start_service(binary, &env, &log).await.0
    }

    /// The lines of the processes' logs where the broker refused something.
    fn refusals(&self) -> Vec<String> {
        let mut refused = Vec::new();
        for log in &self.logs {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            refused.extend(
                text.lines()
                    .filter(|l| l.contains("ACCESS_REFUSED") || l.contains("PRECONDITION_FAILED"))
                    .map(str::to_owned),
            );
        }
        refused
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        // At once: each rabbitmqctl takes most of a second to start.
        let mut deleting: Vec<_> = PROCESSES
            .iter()
            .map(|(_, name)| vec!["delete_user".to_owned(), self.user(name)])
            .chain(std::iter::once(vec![
                "delete_vhost".to_owned(),
                self.vhost.clone(),
            ]))
            .filter_map(|args| {
                Command::new("rabbitmqctl")
                    .arg("-q")
                    .args(args)
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .ok()
            })
            .collect();
        for child in &mut deleting {
            let _ = child.wait();
        }
        warren_testkit::redis::delete_under_blocking(&self.namespace);
        for log in &self.logs {
            let _ = std::fs::remove_file(log);
        }
    }
}

async fn register(http: &reqwest::Client, base: &str, credentials: &Value) -> String {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            tokio::time::Instant::now() < give_up,
            "the gateway never came up"
        );
        let sent = http
            .post(format!("{base}/v1/auth/register"))
            .json(credentials)
            .send()
            .await;
        if let Ok(response) = sent {
            if response.status() == 201 {
                let body: Value = response.json().await.unwrap();
                return body["user_id"].as_str().unwrap().to_owned();
            }
            // Anything but "not up yet" is an answer: a refusal the test must see.
            let status = response.status().as_u16();
            assert!(
                status == 503 || status == 504,
                "register: {status} {}",
                response.text().await.unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A new player, registered, logged in and connected: their id, access token and socket.
async fn player(http: &reqwest::Client, port: u16, name: &str) -> (String, String, Ws) {
    let base = format!("http://127.0.0.1:{port}");
    let credentials = json!({"username": unique(name), "password": PASSWORD});
    let user_id = register(http, &base, &credentials).await;
    let response = http
        .post(format!("{base}/v1/auth/login"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    let ws = Ws::connect(&format!("ws://127.0.0.1:{port}/ws?token={token}"))
        .await
        .unwrap();
    (user_id, token, ws)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_setup_script_gives_each_process_what_it_needs() {
    let mut broker = Scripted::names();
    // As on a second run: the vhost is there, and one user with another password.
    rabbitmqctl(&["add_vhost", &broker.vhost]);
    rabbitmqctl(&["add_user", &broker.user("rooms"), "an old password"]);
    broker.run_script();

    let port = free_port();
    let mut processes = Vec::new();
    for (binary, name) in PROCESSES {
        processes.push(broker.start(binary, name, port).await);
    }
    let http = reqwest::Client::new();
    let (ada, ada_token, mut ada_ws) = player(&http, port, "ada").await;
    let (bob, _, mut bob_ws) = player(&http, port, "bob").await;
    assert_eq!(ada_ws.call("accounts.me", json!({})).await["user_id"], ada);

    // A room and a private room, each left again.
    let room = ada_ws
        .call("rooms.create", json!({"mode": "relay", "max_players": 2}))
        .await;
    ada_ws
        .call("rooms.leave", json!({"room_id": room["room_id"]}))
        .await;
    let private = ada_ws
        .call(
            "private_rooms.create",
            json!({"mode": "relay", "max_players": 2}),
        )
        .await;
    ada_ws
        .call(
            "private_rooms.close",
            json!({"room_id": private["room_id"]}),
        )
        .await;

    // A match, a game, its result and the ratings it changes.
    let region = unique("r").replace('_', "-").to_lowercase();
    let search = json!({"mode": "tic-tac-toe", "region": region});
    ada_ws.call("matchmaker.start", search.clone()).await;
    bob_ws.call("matchmaker.start", search).await;
    let found = ada_ws.event("match.found").await;
    let session_id = found["data"]["session_id"].as_str().unwrap().to_owned();
    bob_ws.event("session.started").await;
    // The first move claims the session for its owner, which routes its changes to itself...
    let session = ada_ws
        .call("sessions.join", json!({"session_id": session_id}))
        .await;
    let first = if session["state"]["turn"] == json!(ada) {
        &mut ada_ws
    } else {
        &mut bob_ws
    };
    let cell = json!({"session_id": session_id, "command": {"cell": 4}});
    first.call("sessions.command", cell).await;
    let bindings = Command::new("rabbitmqctl")
        .args(["-q", "list_bindings", "-p", &broker.vhost])
        .args(["source_name", "destination_name", "routing_key"])
        .output()
        .unwrap();
    let bindings = String::from_utf8_lossy(&bindings.stdout);
    assert!(
        bindings
            .lines()
            .any(|line| line.starts_with("sessions.route\tsessions@")
                && line.ends_with(&format!("\t{session_id}"))),
        "no route for the session:\n{bindings}"
    );
    // ...so the gateway sends bob's leaving straight there.
    bob_ws
        .call("sessions.leave", json!({"session_id": session_id}))
        .await;
    let changed = ada_ws.event("rating.changed").await;
    assert!(
        changed["data"]["rating"].as_f64().unwrap() > 1000.0,
        "{changed}"
    );
    assert_ne!(bob, ada);

    // Logging out everywhere: auth announces the ended logins on auth.events, and the gateway
    // closes ada's socket.
    let response = http
        .post(format!("http://127.0.0.1:{port}/v1/auth/logout"))
        .bearer_auth(&ada_token)
        .json(&json!({"all": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(ada_ws.closed(common::WAIT).await, 4003, "the login ended");

    drop((ada_ws, bob_ws));
    for process in processes.into_iter().rev() {
        let name = process.name;
        assert!(process.terminate().success(), "{name} did not stop cleanly");
    }
    let refusals = broker.refusals();
    assert!(
        refusals.is_empty(),
        "the broker refused:\n{}",
        refusals.join("\n")
    );
}

/// Two sessions instances on one broker user, trusting another as the gateway's: a player's
/// command that reaches the instance that does not own the session is forwarded to the owner,
/// as a service, and applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_players_change_is_forwarded_to_the_owner_as_a_service() {
    let vhost = Vhost::create();
    let gateway = BrokerUser::create(&vhost, "gateway");
    let sessions = BrokerUser::create(&vhost, "sessions");
    let options =
        ConnectOptions::new(sessions.url(), "sessions").gateway_user(Some(gateway.name.clone()));
    let store: Arc<dyn warren_sessions::SessionStore> =
        Arc::new(warren_sessions::MemoryStore::new());
    let shutdown = CancellationToken::new();
    let start = |bus: Bus| {
        let (store, shutdown) = (Arc::clone(&store), shutdown.child_token());
        async move {
            let config = warren_sessions::SessionsConfig::default();
            warren_sessions::start(&bus, store, config, shutdown)
                .await
                .unwrap()
        }
    };

    // The owner creates the session, then stops taking the service's shared queue.
    let owner_bus = Bus::connect_with(&options).await.unwrap();
    let owner = start(owner_bus.clone()).await;
    let client = Bus::connect(&gateway.url(), "gateway").await.unwrap();
    let players = vec!["ada".to_owned(), "bob".to_owned()];
    let new = NewSession {
        mode: "relay".into(),
        players,
    };
    let session = client
        .call::<Create>(&new, CallOptions::default())
        .await
        .unwrap();
    let other_bus = Bus::connect_with(&options).await.unwrap();
    let other = start(other_bus.clone()).await;
    owner.server.stop().await;

    // From the gateway for ada, not routed: the other instance takes it and forwards it.
    let command = SessionCommand {
        session_id: session.session_id.clone(),
        command: json!({"hello": "bob"}),
    };
    let as_ada = CallOptions::default()
        .timeout(Duration::from_secs(10))
        .user_id("ada");
    client
        .call::<SendCommand>(&command, as_ada)
        .await
        .expect("the forwarded command is applied");

    // The parent of both instances' tokens: the owner's handover ends too.
    other.stop(&shutdown).await;
    for task in owner.background {
        task.await.unwrap();
    }
    for bus in [client, owner_bus, other_bus] {
        bus.shutdown().await;
    }
}
