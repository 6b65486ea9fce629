//! The gateway's edge over TLS and HTTP/2: https and wss with `--tls-cert` and `--tls-key`,
//! HTTP/2 chosen by ALPN (curl `--http2`) and, without TLS, by prior knowledge (h2c); WebSockets
//! by HTTP/1.1 upgrade and as streams of one HTTP/2 connection (RFC 8441), events included; a
//! certificate renewed while sockets stay open; files that do not load refused, at start and
//! on reload.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::processes::Process;
use common::tls::{self, CertDir, H2};
use common::{Mode, Player, TestSystem, Ws, start_configured};
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use warren_gateway::tls::TlsFiles;

/// An authority `first` and a certificate it signed, served from `live.pem` and `live.key`
/// (copies, so that a test can replace them).
fn certificates() -> (CertDir, TlsFiles) {
    let dir = CertDir::new();
    dir.authority("first");
    let (cert, key) = dir.server("first", "gateway");
    let live = TlsFiles {
        cert: dir.path("live.pem"),
        key: dir.path("live.key"),
    };
    std::fs::copy(cert, &live.cert).unwrap();
    std::fs::copy(key, &live.key).unwrap();
    (dir, live)
}

/// The system serving TLS from `files`; its HTTP client trusts `ca` and speaks to
/// `https://localhost`.
async fn tls_system(mode: Mode, files: &TlsFiles, ca: &Path) -> (TestSystem, SocketAddr) {
    let mut system =
        start_configured(mode, |options| options.gateway.tls = Some(files.clone())).await;
    let address = system.system.as_ref().unwrap().address;
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    system.http = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    system.base = format!("https://localhost:{}", address.port());
    system.ws_base = format!("wss://localhost:{}", address.port());
    (system, address)
}

/// curl's `%{http_version} %{http_code}` for `url` with `args`.
fn curl(args: &[&str], url: &str) -> String {
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-o", "/dev/null"])
        .args(["-w", "%{http_version} %{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("curl must be installed");
    assert!(
        output.status.success(),
        "curl {args:?} {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A WebSocket over TLS by HTTP/1.1 upgrade, the client offering no ALPN, as WebSocket libraries
/// do.
async fn wss(address: SocketAddr, ca: &Path, player: &Player) -> Ws {
    let stream = tls::connect(&tls::client(ca, &[]), address).await.unwrap();
    assert_eq!(tls::alpn(&stream), "", "no protocol was offered");
    let url = format!(
        "wss://localhost:{}/ws?token={}",
        address.port(),
        player.access_token
    );
    Ws::handshake(url.into_client_request().unwrap(), Box::new(stream))
        .await
        .unwrap()
}

/// One HTTP/2 connection over TLS, chosen by ALPN.
async fn h2_over_tls(address: SocketAddr, ca: &Path) -> H2 {
    let stream = tls::connect(&tls::client(ca, &[b"h2", b"http/1.1"]), address)
        .await
        .unwrap();
    assert_eq!(tls::alpn(&stream), "h2");
    H2::handshake(
        Box::new(stream),
        "https",
        &format!("localhost:{}", address.port()),
    )
    .await
}

/// A private room of Ada's, made from her socket `ada`: its id.
async fn room(ada: &mut Ws) -> String {
    let room = ada
        .call(
            "private_rooms.create",
            json!({"mode": "relay", "max_players": 4}),
        )
        .await;
    room["room_id"].as_str().unwrap().to_owned()
}

/// Ada invites Bob to `room` from `ada`; Bob's socket `bob` gets the invitation.
async fn an_invitation_arrives(ada: &mut Ws, room: &str, bob: &mut Ws, bob_id: &str) {
    ada.call(
        "private_rooms.invite",
        json!({"room_id": room, "user_id": bob_id}),
    )
    .await;
    let invited = bob.event("private_room.invited").await;
    assert_eq!(invited["data"]["room_id"], room, "{invited}");
}

async fn curl_gets_http2_by_alpn_and_http1_when_it_asks(mode: Mode) {
    let (dir, files) = certificates();
    let ca = dir.path("first.pem");
    let (system, address) = tls_system(mode, &files, &ca).await;
    let url = format!("https://localhost:{}/healthz", address.port());
    let ca_arg = ca.to_str().unwrap();
    let resolve = format!("localhost:{}:127.0.0.1", address.port());
    let trusted = ["--cacert", ca_arg, "--resolve", &resolve];
    assert_eq!(curl(&[&trusted[..], &["--http2"]].concat(), &url), "2 200");
    assert_eq!(
        curl(&[&trusted[..], &["--http1.1"]].concat(), &url),
        "1.1 200"
    );
    let openapi = format!("https://localhost:{}/v1/openapi.json", address.port());
    assert_eq!(
        curl(&[&trusted[..], &["--http2"]].concat(), &openapi),
        "2 200"
    );
    // Plain HTTP on the TLS port is not served.
    let plain = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .arg(format!("http://127.0.0.1:{}/healthz", address.port()))
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&plain.stdout), "200");
    system.stop().await;
}

async fn without_tls_http2_is_spoken_with_prior_knowledge(mode: Mode) {
    let system = common::start(mode).await;
    let url = format!("{}/healthz", system.base);
    assert_eq!(curl(&["--http2-prior-knowledge"], &url), "2 200");
    assert_eq!(curl(&[], &url), "1.1 200");
    // A WebSocket as a stream of an h2c connection, beside an ordinary request.
    let (ada, bob) = (system.player("ada").await, system.player("bob").await);
    let address = system.system.as_ref().unwrap().address;
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut h2 = H2::handshake(Box::new(tcp), "http", &address.to_string()).await;
    let (status, body) = h2.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    let mut ada_ws = h2
        .websocket(&format!("/ws?token={}", ada.access_token))
        .await
        .unwrap();
    let mut bob_ws = h2
        .websocket(&format!("/ws?token={}", bob.access_token))
        .await
        .unwrap();
    let room = room(&mut ada_ws).await;
    an_invitation_arrives(&mut ada_ws, &room, &mut bob_ws, &bob.user_id).await;
    // Without a token the stream is refused as the upgrade would be.
    let refused = h2.websocket("/ws").await.map(|_| ());
    assert_eq!(refused, Err(hyper::http::StatusCode::UNAUTHORIZED));
    system.stop().await;
}

async fn websockets_over_tls_and_over_one_http2_connection(mode: Mode) {
    let (dir, files) = certificates();
    let ca = dir.path("first.pem");
    let (system, address) = tls_system(mode, &files, &ca).await;
    let (ada, bob) = (system.player("ada").await, system.player("bob").await);
    // wss by HTTP/1.1 upgrade: Ada's socket, and Bob's to receive.
    let mut ada_wss = wss(address, &ca, &ada).await;
    let mut bob_wss = wss(address, &ca, &bob).await;
    let room = room(&mut ada_wss).await;
    an_invitation_arrives(&mut ada_wss, &room, &mut bob_wss, &bob.user_id).await;
    // Both again as streams of one HTTP/2 connection, beside a request.
    let mut h2 = h2_over_tls(address, &ca).await;
    let mut ada_h2 = h2
        .websocket(&format!("/ws?token={}", ada.access_token))
        .await
        .unwrap();
    let mut bob_h2 = h2
        .websocket(&format!("/ws?token={}", bob.access_token))
        .await
        .unwrap();
    let (status, body) = h2.get("/v1/openapi.json").await;
    assert_eq!(status, 200, "{body}");
    let me = ada_h2.call("accounts.me", json!({})).await;
    assert_eq!(me["user_id"], ada.user_id.as_str(), "{me}");
    an_invitation_arrives(&mut ada_h2, &room, &mut bob_h2, &bob.user_id).await;
    // Shutting down, the gateway closes sockets on HTTP/2 as on HTTP/1.1: with 1001.
    system.shutdown.cancel();
    assert_eq!(bob_h2.closed(Duration::from_secs(15)).await, 1001);
    assert_eq!(bob_wss.closed(Duration::from_secs(15)).await, 1001);
    tokio::time::timeout(Duration::from_secs(30), system.stop())
        .await
        .expect("shutdown with HTTP/2 sockets open finishes");
}

both_modes!(
    curl_gets_http2_by_alpn_and_http1_when_it_asks,
    without_tls_http2_is_spoken_with_prior_knowledge,
    websockets_over_tls_and_over_one_http2_connection,
);

/// The certificate served to a new connection trusting `ca`, or `None` when it cannot connect.
async fn served(address: SocketAddr, ca: &Path) -> Option<Vec<u8>> {
    let stream = tls::connect(&tls::client(ca, &[]), address).await.ok()?;
    Some(tls::served_certificate(&stream))
}

/// Replaces `to` by `from` in one rename, as certificate tools and Kubernetes do.
fn replace(from: &Path, to: &Path) {
    let staged = to.with_extension("staged");
    std::fs::copy(from, &staged).unwrap();
    std::fs::rename(&staged, to).unwrap();
}

/// A counter's value in the gateway's `/metrics`.
async fn counter(system: &TestSystem, series: &str) -> f64 {
    let text = common::scrape(&system.http, &system.admin_base).await;
    common::sample(&text, series).unwrap_or_else(|| panic!("{series} not in /metrics"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_served_while_open_sockets_stay() {
    let (dir, files) = certificates();
    let (first_ca, second_ca) = (dir.path("first.pem"), dir.authority("second"));
    let (renewed, renewed_key) = dir.server("second", "renewed");
    let (system, address) = tls_system(Mode::Embedded, &files, &first_ca).await;
    let (ada, bob) = (system.player("ada").await, system.player("bob").await);
    let mut ada_wss = wss(address, &first_ca, &ada).await;
    let room = room(&mut ada_wss).await;
    let mut h2 = h2_over_tls(address, &first_ca).await;
    let mut bob_h2 = h2
        .websocket(&format!("/ws?token={}", bob.access_token))
        .await
        .unwrap();
    assert_eq!(
        served(address, &first_ca).await,
        Some(tls::certificate_der(&files.cert))
    );

    replace(&renewed_key, &files.key);
    replace(&renewed, &files.cert);
    let wanted = tls::certificate_der(&renewed);
    let deadline = Instant::now() + Duration::from_secs(15);
    while served(address, &second_ca).await.as_ref() != Some(&wanted) {
        assert!(
            Instant::now() < deadline,
            "the renewed certificate is not served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        served(address, &first_ca).await,
        None,
        "the old one is gone"
    );
    // The sockets opened before, on HTTP/1.1 and on HTTP/2, serve on.
    an_invitation_arrives(&mut ada_wss, &room, &mut bob_h2, &bob.user_id).await;
    let (status, _) = h2.get("/healthz").await;
    assert_eq!(status, 200);

    // A key that is not the certificate's is refused; the renewed pair is still served.
    let refused = r#"warren_tls_reloads_total{outcome="refused"}"#;
    let before = counter(&system, refused).await;
    let (_, other_key) = dir.server("second", "other");
    replace(&other_key, &files.key);
    let deadline = Instant::now() + Duration::from_secs(15);
    while counter(&system, refused).await <= before {
        assert!(Instant::now() < deadline, "the bad key was not looked at");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(served(address, &second_ca).await, Some(wanted));
    ada_wss.call("accounts.me", json!({})).await;
    system.stop().await;
}

/// Reads until the gateway closes the connection; how long that took.
async fn time_to_close(tcp: &mut tokio::net::TcpStream, limit: Duration) -> Duration {
    use tokio::io::AsyncReadExt;
    let started = Instant::now();
    tokio::time::timeout(limit, async {
        let mut buffer = [0u8; 1024];
        while matches!(tcp.read(&mut buffer).await, Ok(n) if n > 0) {}
    })
    .await
    .expect("the connection is still open");
    started.elapsed()
}

/// Connections that stall where no request is yet under way, a TLS handshake half sent and an
/// HTTP/2 connection that sends its preface and nothing more, are closed after the idle timeout;
/// a client that talks is served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_handshakes_and_silent_http2_connections_are_closed() {
    use tokio::io::AsyncWriteExt;
    let idle = Duration::from_secs(1);
    let (dir, files) = certificates();
    let ca = dir.path("first.pem");
    let tls_system = start_configured(Mode::Embedded, |options| {
        options.gateway.tls = Some(files.clone());
        options.gateway.listener.idle_timeout = idle;
    })
    .await;
    let address = tls_system.system.as_ref().unwrap().address;
    let mut stalled = tokio::net::TcpStream::connect(address).await.unwrap();
    // The record header of a ClientHello, and none of the hello.
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
        .await
        .unwrap();
    assert!(served(address, &ca).await.is_some(), "others are served");
    let took = time_to_close(&mut stalled, idle * 5).await;
    assert!(
        took >= idle / 2,
        "closed after {took:?}, before the timeout"
    );

    let plain = start_configured(Mode::Embedded, |options| {
        options.gateway.listener.idle_timeout = idle;
    })
    .await;
    let address = plain.system.as_ref().unwrap().address;
    let mut silent = tokio::net::TcpStream::connect(address).await.unwrap();
    silent
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let url = format!("{}/healthz", plain.base);
    assert_eq!(curl(&["--http2-prior-knowledge"], &url), "2 200");
    let took = time_to_close(&mut silent, idle * 5).await;
    assert!(
        took >= idle / 2,
        "closed after {took:?}, before the timeout"
    );
    tls_system.stop().await;
    plain.stop().await;
}

/// `warren` (a process of its own, so the gauge is its alone) reports when the certificate it
/// serves expires, and the renewed one's once the files change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_certificates_expiry_is_a_gauge() {
    let (dir, files) = certificates();
    let (renewed, renewed_key) = dir.server_valid_for("first", "renewed", 30);
    let log = dir.path("warren.log");
    let env = [
        ("WARREN_TLS_CERT", files.cert.display().to_string()),
        ("WARREN_TLS_KEY", files.key.display().to_string()),
    ];
    let (warren, admin) =
        Process::start_warren(&common::processes::binary("warren"), &env, &log).await;
    let http = reqwest::Client::new();
    let expiry = async || {
        let text = common::scrape(&http, &admin).await;
        common::sample(&text, "warren_tls_certificate_expiry_timestamp_seconds")
            .expect("the expiry gauge with TLS on")
    };
    let days_left = |at: f64| (at - common::now_ms() as f64 / 1000.0) / 86_400.0;
    let left = days_left(expiry().await);
    assert!(
        (0.9..1.1).contains(&left),
        "a day's certificate expires in {left} days"
    );

    replace(&renewed_key, &files.key);
    replace(&renewed, &files.cert);
    let deadline = Instant::now() + Duration::from_secs(15);
    while days_left(expiry().await) < 29.0 {
        assert!(
            Instant::now() < deadline,
            "the renewed certificate's expiry is not shown"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(days_left(expiry().await) < 31.0);
    assert!(warren.terminate().success());
}

#[test]
fn warren_does_not_start_with_a_key_that_is_not_the_certificates() {
    let (dir, files) = certificates();
    let (_, other_key) = dir.server("first", "other");
    let output = Command::new(common::processes::binary("warren"))
        .args(["--listen", "127.0.0.1:0", "--admin-listen", ":0"])
        .env("WARREN_TLS_CERT", &files.cert)
        .env("WARREN_TLS_KEY", &other_key)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "a setting that cannot work");
    let said = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("does not fit the certificate"), "{said}");
    assert!(said.contains("other.key"), "{said}");

    let output = Command::new(common::processes::binary("warren"))
        .args(["--listen", "127.0.0.1:0", "--admin-listen", ":0"])
        .env("WARREN_TLS_CERT", &files.cert)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("--tls-key"), "{said}");
}
