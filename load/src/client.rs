//! A simulated game client's two halves: HTTP `/v1/auth` (register, log in) and one WebSocket
//! speaking JSON-RPC 2.0 to `/ws`.
//!
//! The socket is a single value owned by a single task: no split halves, no channels, no extra
//! task, a 4 KiB read buffer, so that tens of thousands of them stay cheap. tungstenite queues the
//! Pong for every Ping it reads and writes it on the next read, so a socket answers the gateway's
//! pings as long as its task keeps reading (see [`RpcSocket::hold`]).

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

/// A registered, logged-in user.
#[derive(Debug, Clone)]
pub struct Account {
    pub user_id: String,
    pub username: String,
    pub access_token: String,
}

/// Registers a new user with a random name and password, then logs in as them.
pub async fn register_and_login(http: &reqwest::Client, base: &Url) -> anyhow::Result<Account> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let username = format!("load-{}", &id[..12]);
    let password = id;
    let user_id = register(http, base, &username, &password).await?;
    let access_token = login(http, base, &username, &password).await?;
    Ok(Account {
        user_id,
        username,
        access_token,
    })
}

/// Registers `username`; returns the new user's id.
pub async fn register(
    http: &reqwest::Client,
    base: &Url,
    username: &str,
    password: &str,
) -> anyhow::Result<String> {
    let register = base.join("/v1/auth/register")?;
    let response = http
        .post(register.clone())
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .with_context(|| format!("cannot reach {register}"))?;
    let body = expect(response, StatusCode::CREATED, "register").await?;
    string_field(&body, "user_id", "register")
}

/// Logs in as `username`; returns the access token.
pub async fn login(
    http: &reqwest::Client,
    base: &Url,
    username: &str,
    password: &str,
) -> anyhow::Result<String> {
    let login = base.join("/v1/auth/login")?;
    let response = http
        .post(login.clone())
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .with_context(|| format!("cannot reach {login}"))?;
    let body = expect(response, StatusCode::OK, "login").await?;
    string_field(&body, "access_token", "login")
}

async fn expect(
    response: reqwest::Response,
    status: StatusCode,
    what: &str,
) -> anyhow::Result<Value> {
    let got = response.status();
    let text = response.text().await.unwrap_or_default();
    if got != status {
        bail!("{what} answered {got} (expected {status}): {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("{what} answered with bad JSON: {text}"))
}

fn string_field(body: &Value, field: &str, what: &str) -> anyhow::Result<String> {
    body[field]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{what} answered without {field}: {body}"))
}

/// `ws://host/ws?token=…` for the gateway at `base` (`http://host`).
pub fn socket_url(base: &Url, access_token: &str) -> anyhow::Result<String> {
    let mut url = base.join("/ws")?;
    let scheme = match base.scheme() {
        "http" => "ws",
        "https" => bail!("https is not supported: this build has no TLS, use http://"),
        other => bail!("unsupported scheme {other:?}: use http://"),
    };
    url.set_scheme(scheme)
        .map_err(|()| anyhow::anyhow!("cannot make a WebSocket URL of {base}"))?;
    url.query_pairs_mut().append_pair("token", access_token);
    Ok(url.into())
}

/// The stable code of a JSON-RPC error object (`data.code`), or its numeric code for the
/// protocol's own errors (-32601 and the like), which have none.
pub fn error_code(error: &Value) -> String {
    match error["data"]["code"].as_str() {
        Some(code) => code.to_owned(),
        None => error["code"].to_string(),
    }
}

/// A message from the gateway, as [`RpcSocket::receive`] reads it.
#[derive(Debug)]
pub enum Incoming {
    /// The reply to the request with this id: its `result`, or its JSON-RPC `error` object.
    Reply {
        id: u64,
        outcome: Result<Value, Value>,
    },
    /// An event's `params`: `{seq, type, data}`.
    Event(Value),
}

/// One WebSocket to the gateway, making JSON-RPC calls one at a time.
#[derive(Debug)]
pub struct RpcSocket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl RpcSocket {
    /// Connects and upgrades (the gateway checks the token before upgrading).
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        // tungstenite's default read buffer is 128 KiB, allocated up front: far too much per
        // idle socket. Replies here are small; a larger message grows the buffer as needed.
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let (ws, _response) =
            tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
        Ok(Self { ws, next_id: 1 })
    }

    /// Calls `method` and waits for its reply; an `error` reply is an error. Events and pings
    /// that arrive in between are skipped.
    pub async fn call(&mut self, method: &str, params: Option<Value>) -> anyhow::Result<Value> {
        match self.reply(method, params).await? {
            Ok(result) => Ok(result),
            Err(error) => bail!("{method} failed: {error}"),
        }
    }

    /// Calls `method` and waits for its reply: its `result`, or its JSON-RPC `error` object (the
    /// socket still serves). The outer error says the socket failed.
    pub async fn reply(
        &mut self,
        method: &str,
        params: Option<Value>,
    ) -> anyhow::Result<Result<Value, Value>> {
        let id = self.send(method, params).await?;
        loop {
            if let Incoming::Reply { id: got, outcome } = self.receive().await?
                && got == id
            {
                return Ok(outcome);
            }
        }
    }

    /// Sends a request without waiting for its reply; returns its id, which the reply will carry.
    /// For a client that waits on events as well as replies (see [`RpcSocket::receive`]).
    pub async fn send(&mut self, method: &str, params: Option<Value>) -> anyhow::Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let mut request = json!({ "jsonrpc": "2.0", "id": id, "method": method });
        if let Some(params) = params {
            request["params"] = params;
        }
        self.ws.send(Message::text(request.to_string())).await?;
        Ok(id)
    }

    /// Reads until the next reply or event. Pings are answered on the way; frames that are
    /// neither (a reply to no request of ours) are skipped. Cancel-safe: dropped while waiting,
    /// it loses nothing.
    pub async fn receive(&mut self) -> anyhow::Result<Incoming> {
        loop {
            let text = match self.ws.next().await {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(frame))) => bail!("{}", closed_by_gateway(frame.as_ref())),
                Some(Ok(_)) => continue,
                Some(Err(error)) => return Err(error.into()),
                None => bail!("the connection ended"),
            };
            let mut message: Value = serde_json::from_str(text.as_str())
                .with_context(|| format!("a frame that is not JSON: {text}"))?;
            if message["method"] == "event" {
                return Ok(Incoming::Event(message["params"].take()));
            }
            let Some(id) = message["id"].as_u64() else {
                continue;
            };
            let outcome = match message.get_mut("error") {
                Some(error) => Err(error.take()),
                None => Ok(message["result"].take()),
            };
            return Ok(Incoming::Reply { id, outcome });
        }
    }

    /// Reads (and so answers pings) until `stop`. An error says how the socket ended early.
    pub async fn hold(&mut self, stop: &CancellationToken) -> anyhow::Result<()> {
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return Ok(()),
                message = self.ws.next() => match message {
                    Some(Ok(Message::Close(frame))) => bail!("{}", closed_by_gateway(frame.as_ref())),
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return Err(error.into()),
                    None => bail!("the connection ended"),
                },
            }
        }
    }

    /// Sends Close (1000) and waits, up to `timeout`, for the gateway's Close and the end of the
    /// connection.
    pub async fn close(mut self, timeout: Duration) -> anyhow::Result<()> {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        self.ws.close(Some(frame)).await?;
        tokio::time::timeout(timeout, async {
            while let Some(message) = self.ws.next().await {
                message?;
            }
            anyhow::Ok(())
        })
        .await
        .with_context(|| format!("no Close from the gateway within {timeout:?}"))?
    }
}

fn closed_by_gateway(frame: Option<&CloseFrame>) -> String {
    match frame {
        Some(frame) => format!(
            "closed by the gateway: {} {}",
            u16::from(frame.code),
            frame.reason
        ),
        None => "closed by the gateway without a code".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_url_carries_the_token() -> anyhow::Result<()> {
        let base = Url::parse("http://127.0.0.1:8080")?;
        assert_eq!(
            socket_url(&base, "a.b-c_d")?,
            "ws://127.0.0.1:8080/ws?token=a.b-c_d"
        );
        assert!(socket_url(&Url::parse("https://example.com")?, "t").is_err());
        Ok(())
    }

    #[test]
    fn an_error_is_known_by_its_stable_code_or_else_its_number() {
        let refused =
            json!({"code": -32000, "message": "slow down", "data": {"code": "rate_limited"}});
        assert_eq!(error_code(&refused), "rate_limited");
        let missing = json!({"code": -32601, "message": "no such method"});
        assert_eq!(error_code(&missing), "-32601");
    }
}
