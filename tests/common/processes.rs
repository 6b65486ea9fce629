//! The gateway and the services as separate processes over RabbitMQ and Redis, as they are
//! deployed: the binaries `cargo build --workspace --bins` puts next to the test (target/debug),
//! started with one test's vhost, Redis namespace and port.

use super::{PASSWORD, Vhost, Ws, unique};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The service binaries, each deployed on its own; `warren` runs them all in one process.
pub const SERVICES: [&str; 7] = [
    "warren-gateway",
    "warren-auth",
    "warren-accounts",
    "warren-sessions",
    "warren-rooms",
    "warren-private-rooms",
    "warren-matchmaker",
];

pub fn binary(name: &str) -> PathBuf {
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
pub struct Process {
    pub name: &'static str,
    pub child: Child,
}

impl Process {
    pub fn start(name: &'static str, env: &[(&str, String)]) -> Self {
        Self::spawn(name, &binary(name), env, Stdio::null())
    }

    /// Like [`Process::start`], with the process's log (its standard output) written to `log`.
    pub fn start_logged(name: &'static str, env: &[(&str, String)], log: &Path) -> Self {
        let file = std::fs::File::create(log).unwrap();
        Self::spawn(name, &binary(name), env, Stdio::from(file))
    }

    fn spawn(name: &'static str, path: &Path, env: &[(&str, String)], stdout: Stdio) -> Self {
        let mut command = Command::new(path);
        command.stdout(stdout).stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        Self {
            name,
            child: command.spawn().unwrap(),
        }
    }

    /// A service on a health port of its own choosing (`WARREN_LISTEN` port 0), and that port's
    /// address, read from the start-up line it logs. A port picked by the test and passed in
    /// could be taken by another process starting meanwhile.
    pub async fn start_service(
        name: &'static str,
        env: &[(&'static str, String)],
        log: &Path,
    ) -> (Self, String) {
        let env = json_log_with(env, &[("WARREN_LISTEN", "127.0.0.1:0")]);
        Self::start_until_logged(name, &binary(name), &env, log, "serving", "health").await
    }

    /// The all-in-one binary at `path` (embedded unless `env` names a broker and Redis), on client
    /// and admin ports of its own choosing, and its admin listener's address (`/metrics`), read
    /// from the line the gateway logs once it listens.
    pub async fn start_warren(
        path: &Path,
        env: &[(&'static str, String)],
        log: &Path,
    ) -> (Self, String) {
        let ports = [
            ("WARREN_LISTEN", "127.0.0.1:0"),
            ("WARREN_ADMIN_LISTEN", "127.0.0.1:0"),
        ];
        let env = json_log_with(env, &ports);
        Self::start_until_logged("warren", path, &env, log, "gateway listening", "admin").await
    }

    /// Starts `path` with its log in `log`, waits for the JSON log line `message`, and returns
    /// the address that line gives in `field` as a base URL.
    async fn start_until_logged(
        name: &'static str,
        path: &Path,
        env: &[(&'static str, String)],
        log: &Path,
        message: &str,
        field: &str,
    ) -> (Self, String) {
        let file = std::fs::File::create(log).unwrap();
        let process = Self::spawn(name, path, env, Stdio::from(file));
        let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let address = text
                .lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .find(|line| line["message"] == message)
                .and_then(|line| line[field].as_str().map(str::to_owned));
            if let Some(address) = address {
                // Logged as `127.0.0.1:PORT`, or `Some(127.0.0.1:PORT)` when it was optional.
                let address = address.trim_start_matches("Some(").trim_end_matches(')');
                return (process, format!("http://{address}"));
            }
            assert!(
                tokio::time::Instant::now() < give_up,
                "{name} never logged {message:?}:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then the exit status: a graceful stop exits 0.
    pub fn terminate(mut self) -> std::process::ExitStatus {
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

/// `env` with JSON logs at `info` (the lines the start-up helpers read) and `extra`, each replacing
/// whatever `env` said of it.
fn json_log_with(
    env: &[(&'static str, String)],
    extra: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let mut env = env.to_vec();
    let replaced = [("WARREN_LOG_FORMAT", "json"), ("RUST_LOG", "info")];
    for (key, value) in replaced.iter().chain(extra) {
        env.retain(|(k, _)| k != key);
        env.push((key, (*value).to_owned()));
    }
    env
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What every process of one test deployment shares: a vhost, a Redis namespace, a port.
pub struct Deployment {
    pub vhost: Vhost,
    pub namespace: String,
    pub port: u16,
    pub env: Vec<(&'static str, String)>,
    pub http: reqwest::Client,
}

impl Default for Deployment {
    fn default() -> Self {
        Self::new()
    }
}

/// Declared before its processes, a deployment is dropped after them: nothing writes under its
/// namespace any more when its keys go.
impl Drop for Deployment {
    fn drop(&mut self) {
        warren_testkit::redis::delete_under_blocking(&self.namespace);
    }
}

impl Deployment {
    pub fn new() -> Self {
        let vhost = Vhost::create();
        let namespace = format!("{}:", unique("test-procs"));
        let port = free_port();
        let env = vec![
            ("WARREN_AMQP_URL", vhost.url()),
            ("WARREN_REDIS_URL", super::redis_url()),
            ("WARREN_REDIS_NAMESPACE", namespace.clone()),
            (
                "WARREN_JWT_SECRET",
                String::from_utf8(super::SECRET.to_vec()).unwrap(),
            ),
            ("WARREN_LISTEN", format!("127.0.0.1:{port}")),
            // Several gateways run side by side (and beside other tests): none takes 9464.
            ("WARREN_ADMIN_LISTEN", "127.0.0.1:0".into()),
            // Every request of these tests comes from 127.0.0.1, and a test polls register while
            // the processes come up: the per-address limits are not what they test.
            ("WARREN_AUTH_RATE_PER_ADDRESS", "1000000".into()),
            ("WARREN_CONNECT_RATE_PER_ADDRESS", "1000000".into()),
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

    pub fn start(&self, name: &'static str) -> Process {
        let mut env = self.env.clone();
        if name != "warren-gateway" {
            // The gateway has the deployment's port; a service's health endpoint takes any.
            env.push(("WARREN_LISTEN", "127.0.0.1:0".into()));
        }
        Process::start(name, &env)
    }

    /// A service, returned once it logs that it is serving (its log goes to a file that lives as
    /// long as the test's temporary folder).
    pub async fn start_serving(&self, name: &'static str) -> Process {
        let log = std::env::temp_dir().join(format!("{}.log", unique(name)));
        let (process, _) = Process::start_service(name, &self.env, &log).await;
        let _ = std::fs::remove_file(&log);
        process
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Registers a user once the processes are up (gateway → auth → accounts); the user id.
    pub async fn register(&self, credentials: &serde_json::Value) -> String {
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

    pub async fn login(&self, credentials: &serde_json::Value) -> String {
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

    /// A new player who creates a relay room over the WebSocket.
    pub async fn a_player_creates_a_room(&self) {
        let credentials = json!({"username": unique("ada"), "password": PASSWORD});
        self.register(&credentials).await;
        let token = self.login(&credentials).await;
        let mut ws = self.connect(&token).await;
        ws.call("rooms.create", json!({"mode": "relay", "max_players": 2}))
            .await;
    }

    pub async fn connect(&self, token: &str) -> Ws {
        Ws::connect(&format!("ws://127.0.0.1:{}/ws?token={token}", self.port))
            .await
            .unwrap()
    }
}
