//! One player's connection as a game client has it: HTTP register and login, one WebSocket with
//! JSON-RPC calls answered by id, and every event recorded by its `seq`, live or resumed.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// How long a call waits for its answer; the gateway's own deadline is 10 s.
/// How long opening, writing to or closing a socket may take before the player gives up on it
/// (and reconnects): a socket that stopped moving must not hold a player past the soak's end.
const SOCKET_WAIT: Duration = Duration::from_secs(5);
const CALL_WAIT: Duration = Duration::from_secs(15);
pub const PASSWORD: &str = "a soak test password";

/// Why a call failed: the error's stable code, or `disconnected` / `no_reply`.
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

type Sink = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Message,
>;

struct Socket {
    sink: Sink,
    frames: mpsc::UnboundedReceiver<Value>,
    reader: tokio::task::JoinHandle<()>,
}

pub struct Client {
    pub username: String,
    pub user_id: String,
    token: String,
    socket: Option<Socket>,
    next_id: u64,
    /// Every `seq` this player was given, live or by resume.
    pub seen: BTreeSet<u64>,
    /// Events not yet looked at, in arrival order.
    pub events: VecDeque<Value>,
    /// Session ids this player heard `session.finished` for.
    pub finished: BTreeSet<String>,
    /// Session ids this player was told of by `match.found`.
    pub found: BTreeSet<String>,
    pub resumes: u64,
    pub recovered: u64,
    pub gaps: u64,
    pub duplicates: u64,
}

fn failure(code: &str, message: impl Into<String>) -> Failure {
    Failure {
        code: code.into(),
        message: message.into(),
    }
}

/// POSTs `body` until the gateway answers other than 503 (a backend away), for up to a minute.
async fn post(http: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let response = http.post(url).json(body).send().await;
        if let Ok(response) = response {
            let status = response.status().as_u16();
            if status != 503 || tokio::time::Instant::now() > give_up {
                return Ok((status, response.json().await.unwrap_or(Value::Null)));
            }
        }
        if tokio::time::Instant::now() > give_up {
            anyhow::bail!("{url} did not answer");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Logs in; the status and the access token.
pub async fn login(
    http: &reqwest::Client,
    base: &str,
    username: &str,
) -> anyhow::Result<(u16, String)> {
    let body = json!({"username": username, "password": PASSWORD});
    let (status, tokens) = post(http, &format!("{base}/v1/auth/login"), &body).await?;
    Ok((
        status,
        tokens["access_token"].as_str().unwrap_or("").to_owned(),
    ))
}

impl Client {
    pub async fn register(
        http: &reqwest::Client,
        base: &str,
        username: String,
    ) -> anyhow::Result<Self> {
        let body = json!({"username": username, "password": PASSWORD});
        let (status, created) = post(http, &format!("{base}/v1/auth/register"), &body).await?;
        anyhow::ensure!(status == 201, "register {username}: {status} {created}");
        let (status, token) = login(http, base, &username).await?;
        anyhow::ensure!(status == 200, "login {username}: {status}");
        Ok(Self {
            user_id: created["user_id"].as_str().unwrap_or("").to_owned(),
            username,
            token,
            socket: None,
            next_id: 0,
            seen: BTreeSet::new(),
            events: VecDeque::new(),
            finished: BTreeSet::new(),
            found: BTreeSet::new(),
            resumes: 0,
            recovered: 0,
            gaps: 0,
            duplicates: 0,
        })
    }

    /// Closes the current socket, if any, opens one on `base`, and resumes after the highest
    /// `seq` seen, or after 0 when none was: an event published while this player had no socket
    /// (or read by a socket that closed before the player looked at it) may be their first.
    pub async fn reconnect(&mut self, base: &str) -> Result<(), Failure> {
        self.close().await;
        let url = format!("{}/ws?token={}", base.replacen("http", "ws", 1), self.token);
        let (stream, _) = tokio::time::timeout(SOCKET_WAIT, tokio_tungstenite::connect_async(url))
            .await
            .map_err(|_| failure("disconnected", "the socket did not open in time"))?
            .map_err(|e| failure("disconnected", e.to_string()))?;
        let (sink, mut stream) = stream.split();
        let (tx, frames) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                if let Message::Text(text) = message
                    && let Ok(frame) = serde_json::from_str::<Value>(&text)
                    && tx.send(frame).is_err()
                {
                    return;
                }
            }
        });
        self.socket = Some(Socket {
            sink,
            frames,
            reader,
        });
        let after = self.seen.last().copied().unwrap_or(0);
        self.resumes += 1;
        match self
            .call("events.resume", json!({"after_seq": after}))
            .await
        {
            Ok(answer) => {
                for event in answer["events"].as_array().cloned().unwrap_or_default() {
                    self.recovered += 1;
                    self.record(event);
                }
                Ok(())
            }
            Err(error) if error.code == "resume_gap" => {
                self.gaps += 1;
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    pub async fn close(&mut self) {
        if let Some(mut socket) = self.socket.take() {
            // A gateway that stopped reading must not hold the player: the close is best effort.
            let _ = tokio::time::timeout(SOCKET_WAIT, socket.sink.close()).await;
            socket.reader.abort();
        }
        // What was read and not yet looked at stays in `events`.
    }

    fn record(&mut self, event: Value) {
        if let Some(seq) = event["seq"].as_u64()
            && !self.seen.insert(seq)
        {
            self.duplicates += 1;
            return;
        }
        if let Some(session) = event["data"]["session_id"].as_str() {
            if event["type"] == "session.finished" {
                self.finished.insert(session.to_owned());
            } else if event["type"] == "match.found" {
                self.found.insert(session.to_owned());
            }
        }
        self.events.push_back(event);
    }

    /// Reads one frame: an event is recorded, a reply returned.
    async fn read(&mut self, limit: Duration) -> Result<Option<Value>, Failure> {
        let socket = self
            .socket
            .as_mut()
            .ok_or_else(|| failure("disconnected", "no socket"))?;
        match tokio::time::timeout(limit, socket.frames.recv()).await {
            Err(_) => Ok(None),
            Ok(None) => {
                self.socket = None;
                Err(failure("disconnected", "the socket closed"))
            }
            Ok(Some(frame)) if frame["method"] == "event" => {
                self.record(frame["params"].clone());
                Ok(None)
            }
            Ok(Some(frame)) => Ok(Some(frame)),
        }
    }

    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, Failure> {
        self.next_id += 1;
        let id = self.next_id;
        let text = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let socket = self
            .socket
            .as_mut()
            .ok_or_else(|| failure("disconnected", "no socket"))?;
        let sent = tokio::time::timeout(
            SOCKET_WAIT,
            socket.sink.send(Message::Text(text.to_string().into())),
        )
        .await;
        if !matches!(sent, Ok(Ok(()))) {
            self.socket = None;
            return Err(failure("disconnected", "send failed"));
        }
        let give_up = tokio::time::Instant::now() + CALL_WAIT;
        loop {
            let left = give_up.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(failure("no_reply", method));
            }
            if let Some(reply) = self.read(left).await?
                && reply["id"] == json!(id)
            {
                if let Some(error) = reply.get("error") {
                    let code = error["data"]["code"].as_str().unwrap_or("protocol");
                    return Err(failure(code, error["message"].as_str().unwrap_or("")));
                }
                return Ok(reply["result"].clone());
            }
        }
    }

    /// The first unread event of `kind` matching `wanted`, waiting up to `limit`.
    pub async fn event(
        &mut self,
        kind: &str,
        wanted: impl Fn(&Value) -> bool,
        limit: Duration,
    ) -> Result<Option<Value>, Failure> {
        let give_up = tokio::time::Instant::now() + limit;
        loop {
            if let Some(index) = self
                .events
                .iter()
                .position(|e| e["type"] == kind && wanted(&e["data"]))
            {
                return Ok(self.events.remove(index));
            }
            let left = give_up.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.read(left).await?;
        }
    }
}
