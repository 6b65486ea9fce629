//! The gateway's edge under abuse, over real sockets: half-sent headers, too many sockets for one
//! user, too many upgrades from one address, forged `X-Forwarded-For`, `/metrics` apart from
//! clients, and a CORS wildcard.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::StreamExt;
use jsonwebtoken::{EncodingKey, Header};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, Router, ServeOptions};
use warren_contracts::auth::{self, Claims};
use warren_gateway::{AppState, GatewayConfig};

const SECRET: &[u8] = b"edge-test-secret-edge-test-secret";
const WAIT: Duration = Duration::from_secs(10);

type Client = WebSocketStream<TcpStream>;

struct Gateway {
    address: SocketAddr,
    admin: SocketAddr,
    state: AppState,
    shutdown: CancellationToken,
    served: tokio::task::JoinHandle<()>,
}

impl Gateway {
    async fn start(configure: impl FnOnce(&mut GatewayConfig)) -> Self {
        let mut config = GatewayConfig::new(SECRET.to_vec());
        configure(&mut config);
        let bus = Bus::in_process();
        // What the gateway asks auth for before it is ready: no login has ended.
        let auth = Router::new(auth::SERVICE).method::<auth::Revocations, _, _>(|_, _| async {
            Ok(auth::RevokedSessions::default())
        });
        bus.serve(auth, ServeOptions::default()).await.unwrap();
        let shutdown = CancellationToken::new();
        let state = AppState::new(bus, config, shutdown.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (address, admin_address) =
            (listener.local_addr().unwrap(), admin.local_addr().unwrap());
        let served = tokio::spawn({
            let state = state.clone();
            async move {
                warren_gateway::serve_with_admin(listener, Some(admin), state)
                    .await
                    .unwrap()
            }
        });
        Self {
            address,
            admin: admin_address,
            state,
            shutdown,
            served,
        }
    }

    /// A TCP connection to the client port from `from` (any 127.0.0.x works on loopback).
    async fn tcp_from(&self, from: &str) -> TcpStream {
        let socket = TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::new(from.parse().unwrap(), 0))
            .unwrap();
        socket.connect(self.address).await.unwrap()
    }

    /// Opens a WebSocket for `user` from `from`, with extra request headers; the upgrade's
    /// refusal (its status and headers) when there is one.
    async fn upgrade(
        &self,
        user: &str,
        from: &str,
        headers: &[(&'static str, &str)],
    ) -> Result<Client, tungstenite::http::Response<Option<Vec<u8>>>> {
        let url = format!("ws://{}/ws?token={}", self.address, token(user));
        let mut request = url.into_client_request().unwrap();
        for (name, value) in headers {
            request.headers_mut().append(*name, value.parse().unwrap());
        }
        let tcp = self.tcp_from(from).await;
        match tokio_tungstenite::client_async(request, tcp).await {
            Ok((client, _)) => Ok(client),
            Err(tungstenite::Error::Http(response)) => Err(*response),
            Err(error) => panic!("upgrade failed: {error}"),
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.served.await.unwrap();
    }
}

fn token(user: &str) -> String {
    let now = warren_contracts::event::now_millis() / 1000;
    let claims = Claims::new(user, "a-login", now, now + 600);
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

/// Sends a raw HTTP/1.1 request and reads the whole answer (the connection closes after it).
async fn raw_http(to: SocketAddr, request: &str) -> String {
    let mut tcp = TcpStream::connect(to).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut answer))
        .await
        .expect("no answer in time")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

async fn get(to: SocketAddr, path: &str) -> String {
    raw_http(
        to,
        &format!("GET {path} HTTP/1.1\r\nHost: warren\r\nConnection: close\r\n\r\n"),
    )
    .await
}

/// The close code the client gets next, skipping other frames.
async fn close_code(client: &mut Client) -> u16 {
    let read = async {
        loop {
            match client.next().await {
                Some(Ok(Message::Close(frame))) => {
                    return frame.map_or(1005, |f| u16::from(f.code));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return 1006,
            }
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .expect("no close in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_sends_half_its_headers_is_closed_within_the_header_timeout() {
    let timeout = Duration::from_secs(1);
    let gateway = Gateway::start(|config| config.listener.header_read_timeout = timeout).await;
    let mut tcp = TcpStream::connect(gateway.address).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: warren\r\nX-Slow: ")
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    // Whatever the gateway sends (a 408, or nothing), the connection must end: read to EOF.
    let mut sink = Vec::new();
    let ended = tokio::time::timeout(timeout * 5, async {
        loop {
            let mut buffer = [0u8; 256];
            match tcp.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => sink.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the connection is still open after {:?}",
        timeout * 5
    );
    assert!(
        started.elapsed() >= timeout / 2,
        "closed before the timeout"
    );
    // A client that sends its headers whole is served as before.
    let answer = get(gateway.address, "/healthz").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sixth_socket_of_one_user_closes_their_oldest_with_4008() {
    let gateway = Gateway::start(|_| {}).await;
    let mut sockets = Vec::new();
    for _ in 0..5 {
        sockets.push(gateway.upgrade("ada", "127.0.0.1", &[]).await.unwrap());
    }
    while gateway.state.hub().connections() < 5 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _sixth = gateway.upgrade("ada", "127.0.0.1", &[]).await.unwrap();
    // Someone else's sockets do not count against ada's.
    let _bob = gateway.upgrade("bob", "127.0.0.1", &[]).await.unwrap();
    assert_eq!(close_code(&mut sockets[0]).await, 4008);
    let deadline = tokio::time::Instant::now() + WAIT;
    while gateway.state.hub().connections() != 6 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not 5 for ada, 1 for bob"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        gateway.state.hub().oldest_beyond("ada", 4).len() == 1,
        "ada's other five are open"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_over_the_rate_from_one_address_get_429_and_another_address_connects() {
    let gateway = Gateway::start(|config| config.connect_rate_per_address = 3).await;
    for _ in 0..3 {
        let client = gateway.upgrade("ada", "127.0.0.1", &[]).await.unwrap();
        drop(client);
    }
    let refused = gateway.upgrade("ada", "127.0.0.1", &[]).await.unwrap_err();
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry), "Retry-After: {retry}");
    assert!(gateway.upgrade("bob", "127.0.0.2", &[]).await.is_ok());
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_forwarded_for_is_ignored_from_an_untrusted_peer() {
    let gateway = Gateway::start(|config| config.connect_rate_per_address = 1).await;
    let first = [("x-forwarded-for", "198.51.100.1")];
    let second = [("x-forwarded-for", "198.51.100.2")];
    assert!(gateway.upgrade("ada", "127.0.0.1", &first).await.is_ok());
    let refused = gateway.upgrade("ada", "127.0.0.1", &second).await;
    assert_eq!(refused.unwrap_err().status(), 429, "one peer, one address");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_forwarded_for_is_believed_from_a_trusted_peer() {
    let gateway = Gateway::start(|config| {
        config.connect_rate_per_address = 1;
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    // A client forged the first entry; the proxy appended the address it saw.
    let one = [("x-forwarded-for", "10.9.9.9, 198.51.100.1")];
    let other = [("x-forwarded-for", "10.9.9.9, 198.51.100.2")];
    assert!(gateway.upgrade("ada", "127.0.0.1", &one).await.is_ok());
    assert!(gateway.upgrade("bob", "127.0.0.1", &other).await.is_ok());
    let again = gateway.upgrade("ada", "127.0.0.1", &one).await;
    assert_eq!(again.unwrap_err().status(), 429, "198.51.100.1 again");
    // 127.0.0.2 is no proxy of ours: its header is ignored and it is itself the client.
    assert!(gateway.upgrade("cy", "127.0.0.2", &one).await.is_ok());
    let ip: IpAddr = "198.51.100.1".parse().unwrap();
    assert!(gateway.state.connect_limiter().check(ip).is_err());
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_answer_on_the_admin_listener_and_not_on_the_client_port() {
    warren_runtime::metrics::handle();
    let gateway = Gateway::start(|_| {}).await;
    let metrics = get(gateway.admin, "/metrics").await;
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    let client = get(gateway.address, "/metrics").await;
    assert!(client.starts_with("HTTP/1.1 404"), "{client}");
    for path in ["/healthz", "/readyz"] {
        for at in [gateway.admin, gateway.address] {
            let answer = get(at, path).await;
            assert!(
                answer.starts_with("HTTP/1.1 200"),
                "{path} at {at}: {answer}"
            );
        }
    }
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cors_wildcard_allows_any_origin_without_credentials() {
    let gateway = Gateway::start(|config| config.cors_origins = vec!["*".into()]).await;
    let preflight = raw_http(
        gateway.address,
        "OPTIONS /v1/auth/login HTTP/1.1\r\nHost: warren\r\nOrigin: https://game.example\r\n\
         Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n\
         Connection: close\r\n\r\n",
    )
    .await
    .to_ascii_lowercase();
    assert!(preflight.starts_with("http/1.1 200"), "{preflight}");
    assert!(
        preflight.contains("access-control-allow-origin: *"),
        "{preflight}"
    );
    assert!(
        !preflight.contains("access-control-allow-credentials"),
        "{preflight}"
    );
    gateway.stop().await;
}

/// Reads until the peer closes; fails if it has not within `limit`.
async fn read_to_close(tcp: &mut TcpStream, limit: Duration) {
    let ended = tokio::time::timeout(limit, async {
        let mut buffer = [0u8; 256];
        while let Ok(n) = tcp.read(&mut buffer).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the connection is still open after {limit:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_body_stalls_is_closed_after_the_idle_timeout() {
    let idle = Duration::from_secs(1);
    let gateway = Gateway::start(|config| config.listener.idle_timeout = idle).await;
    let mut tcp = TcpStream::connect(gateway.address).await.unwrap();
    // Complete headers, then a body that never comes: the header timeout does not apply.
    tcp.write_all(
        b"POST /v1/auth/login HTTP/1.1\r\nHost: warren\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    let started = tokio::time::Instant::now();
    read_to_close(&mut tcp, idle * 5).await;
    assert!(
        started.elapsed() >= idle / 2,
        "closed before the idle timeout"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_closed_on_accept_until_one_goes() {
    let gateway = Gateway::start(|config| config.listener.max_connections = 2).await;
    let first = TcpStream::connect(gateway.address).await.unwrap();
    let _second = TcpStream::connect(gateway.address).await.unwrap();
    let mut third = TcpStream::connect(gateway.address).await.unwrap();
    read_to_close(&mut third, WAIT).await;
    drop(first);
    // The first one's place is free once the gateway has seen it go.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        // Refused connections may reset rather than close: errors are a refusal too.
        let mut answer = Vec::new();
        if let Ok(mut tcp) = TcpStream::connect(gateway.address).await {
            let request = b"GET /healthz HTTP/1.1\r\nHost: warren\r\nConnection: close\r\n\r\n";
            if tcp.write_all(request).await.is_ok() {
                let _ = tokio::time::timeout(WAIT, tcp.read_to_end(&mut answer)).await;
            }
        }
        if answer.starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
        assert!(tokio::time::Instant::now() < deadline, "no place came free");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gateway.stop().await;
}
