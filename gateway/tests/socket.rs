//! The gateway alone, on an in-process bus: what one socket does at its edges (event frames,
//! size limits, malformed input, a client that stops reading for good).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use warren_bus::Bus;
use warren_contracts::Event;
use warren_contracts::auth::Claims;
use warren_gateway::{AppState, GatewayConfig};

const SECRET: &[u8] = b"socket-test-secret-socket-test-secret";
const WAIT: Duration = Duration::from_secs(10);

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Gateway {
    address: std::net::SocketAddr,
    state: AppState,
    bus: Bus,
    shutdown: CancellationToken,
    served: tokio::task::JoinHandle<()>,
}

impl Gateway {
    async fn start(config: GatewayConfig) -> Self {
        let bus = Bus::in_process();
        let shutdown = CancellationToken::new();
        let state = AppState::new(bus.clone(), config, shutdown.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let served = tokio::spawn({
            let state = state.clone();
            async move { warren_gateway::serve(listener, state).await.unwrap() }
        });
        Self {
            address,
            state,
            bus,
            shutdown,
            served,
        }
    }

    async fn connect(&self, user: &str) -> Client {
        let now = warren_contracts::event::now_millis() / 1000;
        let claims = Claims::new(user, "a-login", now, now + 600);
        let token = jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        let url = format!("ws://{}/ws?token={token}", self.address);
        let (client, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        client
    }

    async fn publish(&self, user: &str, kind: &str, data: Value) {
        let event = Event::new(kind, vec![user.to_owned()], data);
        self.bus.publish("sessions", &event).await.unwrap();
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.served.await.unwrap();
    }
}

/// The next text frame, or the close code.
async fn next(client: &mut Client) -> Result<String, u16> {
    let read = async {
        loop {
            match client.next().await {
                Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
                Some(Ok(Message::Close(frame))) => {
                    return Err(frame.map_or(1005, |f| u16::from(f.code)));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Err(1006),
            }
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .expect("nothing in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_frame_is_json_rpc_with_the_number_first_and_the_same_on_every_socket() {
    let gateway = Gateway::start(GatewayConfig::new(SECRET.to_vec())).await;
    let mut first = gateway.connect("ada").await;
    let mut second = gateway.connect("ada").await;
    while gateway.state.hub().connections() < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let data = json!({"state": {"board": ["x", null], "note": "a \"quoted\" é"}, "turn": 2});
    gateway.publish("ada", "session.state", data.clone()).await;
    let (a, b) = (
        next(&mut first).await.unwrap(),
        next(&mut second).await.unwrap(),
    );
    assert_eq!(a, b, "one frame for both sockets");
    assert!(
        a.starts_with(r#"{"jsonrpc":"2.0","method":"event","params":{"seq":1,"type":"#),
        "{a}"
    );
    let frame: Value = serde_json::from_str(&a).unwrap();
    assert_eq!(
        frame,
        json!({"jsonrpc": "2.0", "method": "event",
               "params": {"seq": 1, "type": "session.state", "data": data}})
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_limit_is_refused_and_one_far_over_it_closes_the_socket() {
    let mut config = GatewayConfig::new(SECRET.to_vec());
    config.max_frame_bytes = 1000;
    let gateway = Gateway::start(config).await;
    let mut client = gateway.connect("ada").await;
    // Larger than what a socket keeps for reading: it still arrives whole.
    let over = json!({"jsonrpc": "2.0", "id": 1, "method": "accounts.me",
                      "params": {"pad": "x".repeat(1500)}});
    client
        .send(Message::Text(over.to_string().into()))
        .await
        .unwrap();
    let refused: Value = serde_json::from_str(&next(&mut client).await.unwrap()).unwrap();
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    let far_over = "x".repeat(2500);
    client.send(Message::Text(far_over.into())).await.unwrap();
    assert_eq!(next(&mut client).await, Err(1009));
    gateway.stop().await;
}

/// A client that reads nothing while `events` frames of 50 kB are sent to it must be let go
/// with `send_queue` frames allowed to queue.
async fn an_unread_client_is_let_go(send_queue: usize, events: usize) {
    let mut config = GatewayConfig::new(SECRET.to_vec());
    config.send_queue = send_queue;
    config.ping_interval = Duration::from_millis(200);
    let gateway = Gateway::start(config).await;
    let client = gateway.connect("ada").await;
    while gateway.state.hub().connections() < 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let payload = "x".repeat(50_000);
    for _ in 0..events {
        gateway
            .publish("ada", "session.state", json!({"p": payload}))
            .await;
    }
    // Kicked as too slow, it cannot even take the Close: after two ping intervals of that the
    // gateway stops trying, rather than hold the socket until the client goes.
    until_no_socket_is_held(&gateway).await;
    drop(client);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_again_is_let_go() {
    // Far more than the socket buffers hold.
    an_unread_client_is_let_go(4, 300).await;
}

/// Waits until the gateway holds no socket, failing after [`WAIT`].
async fn until_no_socket_is_held(gateway: &Gateway) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while gateway.state.hub().connections() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the socket is still held"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_that_is_not_utf8_closes_with_1007() {
    let gateway = Gateway::start(GatewayConfig::new(SECRET.to_vec())).await;
    let mut client = gateway.connect("ada").await;
    let not_utf8 = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    client.send(Message::Frame(not_utf8)).await.unwrap();
    assert_eq!(next(&mut client).await, Err(1007));
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_count_against_the_rate_limit() {
    let mut config = GatewayConfig::new(SECRET.to_vec());
    config.rate_limit = 5; // bursts of 10
    config.max_frame_bytes = 1000;
    let gateway = Gateway::start(config).await;
    let mut client = gateway.connect("ada").await;
    let junk = [
        Message::Binary(vec![1, 2, 3].into()),
        Message::Text("{not json".into()),
        Message::Text("x".repeat(1500).into()),
    ];
    for n in 0..30 {
        client.send(junk[n % junk.len()].clone()).await.unwrap();
    }
    let mut limited = 0;
    for _ in 0..30 {
        let response: Value = serde_json::from_str(&next(&mut client).await.unwrap()).unwrap();
        if response["error"]["data"]["code"] == "rate_limited" {
            limited += 1;
        }
    }
    assert!((15..=20).contains(&limited), "{limited} of 30 were limited");
    // The bucket is empty for a well-formed request too, and its answer keeps its id.
    let request = json!({"jsonrpc": "2.0", "id": "after", "method": "accounts.me"});
    client
        .send(Message::Text(request.to_string().into()))
        .await
        .unwrap();
    let response: Value = serde_json::from_str(&next(&mut client).await.unwrap()).unwrap();
    assert_eq!(response["id"], "after", "{response}");
    assert_eq!(
        response["error"]["data"]["code"], "rate_limited",
        "{response}"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_reply_never_echoes_much_of_what_was_sent() {
    let gateway = Gateway::start(GatewayConfig::new(SECRET.to_vec())).await;
    let mut client = gateway.connect("ada").await;
    let long_method = json!({"jsonrpc": "2.0", "id": 1, "method": "m".repeat(60_000)});
    client
        .send(Message::Text(long_method.to_string().into()))
        .await
        .unwrap();
    let reply = next(&mut client).await.unwrap();
    assert!(reply.len() < 400, "{} bytes came back", reply.len());
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["error"]["code"], -32601, "{reply}");
    let long_id = json!({"jsonrpc": "2.0", "id": "i".repeat(10_000), "method": "accounts.me"});
    client
        .send(Message::Text(long_id.to_string().into()))
        .await
        .unwrap();
    let reply = next(&mut client).await.unwrap();
    assert!(reply.len() < 400, "{} bytes came back", reply.len());
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["error"]["code"], -32600, "{reply}");
    assert_eq!(reply["id"], Value::Null, "{reply}");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_send_queue_is_bounded_in_bytes_as_well_as_frames() {
    let mut config = GatewayConfig::new(SECRET.to_vec());
    // Far more frames allowed than are sent, and no silence check in the test's time: only the
    // byte budget can close this socket.
    config.send_queue = 100_000;
    config.ping_interval = Duration::from_secs(600);
    let gateway = Gateway::start(config).await;
    let mut client = gateway.connect("ada").await;
    while gateway.state.hub().connections() < 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // 20 MB while the client reads nothing: many times what the kernel's socket buffers and
    // the budget hold.
    let payload = "x".repeat(50_000);
    for _ in 0..400 {
        gateway
            .publish("ada", "session.state", json!({"p": payload}))
            .await;
    }
    let mut events = 0;
    let code = loop {
        match next(&mut client).await {
            Ok(_) => events += 1,
            Err(code) => break code,
        }
    };
    assert_eq!(code, 4001, "after {events} events");
    assert!(events < 400, "every event arrived before the close");
    gateway.stop().await;
}
