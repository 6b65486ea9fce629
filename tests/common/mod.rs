//! The system under test, started on port 0, and clients that speak to it as a game would:
//! HTTP with reqwest, the WebSocket with tokio-tungstenite.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod broker;
pub mod compose;
pub mod processes;
pub mod tls;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_util::sync::CancellationToken;
use warren_gateway::GatewayConfig;

/// Short, so that a test can wait one out.
pub const GRACE: Duration = Duration::from_millis(800);
pub const SECRET: &[u8] = b"test-secret-test-secret-test-secret";
pub const PASSWORD: &str = "a fine password";

pub fn amqp_url() -> String {
    std::env::var("WARREN_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

pub fn redis_url() -> String {
    warren_testkit::redis::url()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    warren_contracts::event::now_millis()
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// Where the system's backends are.
#[derive(Debug, Clone)]
pub enum Mode {
    Embedded,
    /// RabbitMQ in a vhost of the test's own (the services' queue names are fixed), Redis under a
    /// key namespace of its own.
    Distributed {
        vhost: String,
        namespace: String,
    },
}

pub struct TestSystem {
    pub base: String,
    /// The gateway's admin listener: `/metrics`, `/healthz`, `/readyz`.
    pub admin_base: String,
    pub ws_base: String,
    pub shutdown: CancellationToken,
    pub system: Option<warren::System>,
    pub mode: Mode,
    pub http: reqwest::Client,
}

pub fn gateway_config() -> GatewayConfig {
    GatewayConfig::new(SECRET.to_vec())
}

pub async fn start(mode: Mode) -> TestSystem {
    start_with(mode, gateway_config()).await
}

pub async fn start_with(mode: Mode, gateway: GatewayConfig) -> TestSystem {
    start_configured(mode, |options| options.gateway = gateway).await
}

/// Starts the system with the test defaults, changed by `configure`.
pub async fn start_configured(
    mode: Mode,
    configure: impl FnOnce(&mut warren::Options),
) -> TestSystem {
    let (amqp_url, redis_url, redis_namespace) = match &mode {
        Mode::Embedded => (None, None, String::new()),
        Mode::Distributed { vhost, namespace } => (
            Some(format!("amqp://guest:guest@127.0.0.1:5672/{vhost}")),
            Some(redis_url()),
            namespace.clone(),
        ),
    };
    let mut options = warren::Options {
        amqp_url,
        redis_url,
        redis_namespace,
        gateway: gateway_config(),
        auth: warren_auth::AuthConfig {
            jwt_secret: SECRET.to_vec(),
            access_token_ttl: Duration::from_secs(900),
            refresh_token_ttl: Duration::from_secs(3600),
            // The test clients all reach auth from one address, and dozens register at once on
            // a machine of few cores: neither the per-address rate nor a short hashing queue is
            // what these tests are about.
            auth_rate_per_address: u32::MAX,
            hash_queue_timeout: Duration::from_secs(30),
            ..warren_auth::AuthConfig::new(SECRET)
        },
        sessions: warren_sessions::SessionsConfig {
            grace_period: GRACE,
            ..Default::default()
        },
        ..warren::Options::with_secret(SECRET)
    };
    configure(&mut options);
    // On a port of its own choosing: tests run side by side.
    options
        .gateway
        .admin_listen
        .get_or_insert(([127, 0, 0, 1], 0).into());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = CancellationToken::new();
    let system = warren::start(options, listener, shutdown.clone())
        .await
        .expect("the system must start (RabbitMQ and Redis must be running for distributed tests)");
    let base = format!("http://{}", system.address);
    let ws_base = format!("ws://{}", system.address);
    let admin_base = format!(
        "http://{}",
        system.admin_address.expect("an admin listener")
    );
    TestSystem {
        base,
        admin_base,
        ws_base,
        shutdown,
        system: Some(system),
        mode,
        http: reqwest::Client::new(),
    }
}

impl TestSystem {
    pub fn bus(&self) -> &warren_bus::Bus {
        self.system.as_ref().unwrap().bus()
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(system) = self.system.take() {
            system.wait().await.unwrap();
        }
        if let Mode::Distributed { namespace, .. } = &self.mode {
            warren_testkit::redis::delete_under(namespace).await;
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Registers and logs in a new user.
    pub async fn player(&self, prefix: &str) -> Player {
        let username = unique(prefix);
        let (status, body) = self
            .post(
                "/v1/auth/register",
                json!({"username": username, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 201, "register: {body}");
        let user_id = body["user_id"].as_str().unwrap().to_owned();
        let (status, tokens) = self
            .post(
                "/v1/auth/login",
                json!({"username": username, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 200, "login: {tokens}");
        Player {
            username,
            user_id,
            access_token: tokens["access_token"].as_str().unwrap().to_owned(),
            refresh_token: tokens["refresh_token"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn connect(&self, token: &str) -> Ws {
        Ws::connect(&format!("{}/ws?token={token}", self.ws_base))
            .await
            .unwrap()
    }
}

pub struct Player {
    pub username: String,
    pub user_id: String,
    pub access_token: String,
    pub refresh_token: String,
}

/// What a test's socket runs over: TCP, TLS, or a stream of an HTTP/2 connection.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A WebSocket client: requests matched to replies by id, events kept in arrival order.
pub struct Ws {
    stream: WebSocketStream<Box<dyn Io>>,
    next_id: u64,
    replies: HashMap<String, Value>,
    pub events: Vec<Value>,
}

pub const WAIT: Duration = Duration::from_secs(10);

impl Ws {
    pub async fn connect(url: &str) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        Self::connect_request(url.into_client_request().unwrap()).await
    }

    /// The handshake of `request` (a `ws://` URL) over a new TCP connection.
    pub async fn connect_request(
        request: tokio_tungstenite::tungstenite::handshake::client::Request,
    ) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        let uri = request.uri();
        let address = (
            uri.host().unwrap_or_default().to_owned(),
            uri.port_u16().unwrap_or(80),
        );
        let tcp = TcpStream::connect(address).await?;
        tcp.set_nodelay(true)?;
        Self::handshake(request, Box::new(tcp)).await
    }

    /// The HTTP/1.1 upgrade of `request` over `io` (TCP, or TLS for a `wss://` URL).
    pub async fn handshake(
        request: tokio_tungstenite::tungstenite::handshake::client::Request,
        io: Box<dyn Io>,
    ) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        let (stream, _) = tokio_tungstenite::client_async(request, io).await?;
        Ok(Self::over(stream))
    }

    /// A socket whose handshake is done already (an HTTP/2 stream opened by CONNECT).
    pub async fn over_raw(io: Box<dyn Io>) -> Ws {
        Self::over(WebSocketStream::from_raw_socket(io, Role::Client, None).await)
    }

    fn over(stream: WebSocketStream<Box<dyn Io>>) -> Ws {
        Ws {
            stream,
            next_id: 0,
            replies: HashMap::new(),
            events: Vec::new(),
        }
    }

    pub async fn send_text(&mut self, text: String) {
        self.stream.send(Message::Text(text.into())).await.unwrap();
    }

    pub async fn send(&mut self, message: Message) {
        self.stream.send(message).await.unwrap();
    }

    /// Sends a request and returns its id.
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = json!(self.next_id);
        let text =
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
        self.send_text(text).await;
        id
    }

    /// The whole response to a request.
    pub async fn call_raw(&mut self, method: &str, params: Value) -> Value {
        let id = self.request(method, params).await;
        self.response(&id).await
    }

    /// The result, or a panic naming the error.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let response = self.call_raw(method, params).await;
        assert!(
            response.get("error").is_none(),
            "{method} failed: {response}"
        );
        response["result"].clone()
    }

    /// The response with this id (`null` for the id-less errors of unparseable requests).
    pub async fn response(&mut self, id: &Value) -> Value {
        let key = id.to_string();
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(response) = self.replies.remove(&key) {
                    return response;
                }
                self.read_one().await.expect("the socket closed");
            }
        })
        .await
        .expect("no response in time")
    }

    /// Reads one frame; a close frame is returned as `Err(code)`.
    pub async fn read_one(&mut self) -> Result<(), u16> {
        match self.stream.next().await {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["method"] == "event" {
                    self.events.push(value["params"].clone());
                } else {
                    self.replies.insert(value["id"].to_string(), value);
                }
                Ok(())
            }
            Some(Ok(Message::Close(frame))) => Err(frame.map_or(1005, |f| u16::from(f.code))),
            Some(Ok(_)) => Ok(()),
            Some(Err(error)) => {
                eprintln!("socket error: {error}");
                Err(1006)
            }
            None => Err(1006),
        }
    }

    /// The next event of this type.
    pub async fn event(&mut self, kind: &str) -> Value {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(index) = self.events.iter().position(|e| e["type"] == kind) {
                    return self.events.remove(index);
                }
                self.read_one().await.expect("the socket closed");
            }
        })
        .await
        .expect("no event in time")
    }

    /// The next event of this type whose data matches `wanted`.
    pub async fn event_where(&mut self, kind: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        tokio::time::timeout(WAIT, async {
            loop {
                let found = self
                    .events
                    .iter()
                    .position(|e| e["type"] == kind && wanted(&e["data"]));
                if let Some(index) = found {
                    return self.events.remove(index);
                }
                self.read_one().await.expect("the socket closed");
            }
        })
        .await
        .expect("no such event in time")
    }

    /// Reads until the server closes; returns the close code.
    pub async fn closed(&mut self, limit: Duration) -> u16 {
        tokio::time::timeout(limit, async {
            loop {
                if let Err(code) = self.read_one().await {
                    return code;
                }
            }
        })
        .await
        .expect("the socket was not closed in time")
    }
}

/// A process's `/metrics` text, from its admin listener at `base` (`http://host:port`).
pub async fn scrape(http: &reqwest::Client, base: &str) -> String {
    http.get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// One sample's value in `/metrics` text, named as Prometheus prints it: `name` or
/// `name{label="value"}`.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

pub fn rabbitmqctl(args: &[&str]) {
    let output = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl");
    assert!(
        output.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A RabbitMQ vhost of the test's own, deleted when dropped.
pub struct Vhost(pub String);

impl Vhost {
    pub fn create() -> Self {
        let name = unique("test-vhost");
        rabbitmqctl(&["add_vhost", &name]);
        rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
        Vhost(name)
    }

    pub fn mode(&self) -> Mode {
        Mode::Distributed {
            vhost: self.0.clone(),
            namespace: format!("{}:", unique("test")),
        }
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.0)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.0])
            .output();
    }
}

/// Runs each scenario `async fn name(mode: Mode)` embedded and over RabbitMQ and Redis.
#[macro_export]
macro_rules! both_modes {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Mode::Embedded).await;
                }
            )*
        }
        mod distributed {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let vhost = $crate::common::Vhost::create();
                    super::$name(vhost.mode()).await;
                }
            )*
        }
    };
}
