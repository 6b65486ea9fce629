//! The web lobby's files as the gateway serves them: the page at `/`, its files under `/web/`
//! with their types, a strict Content-Security-Policy, revalidation by ETag, nothing outside the
//! embedded folder, and `--web off`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, Router, ServeOptions};
use warren_contracts::auth;
use warren_gateway::{AppState, GatewayConfig};

const SECRET: &[u8] = b"web-test-secret-web-test-secret-web";

/// A gateway on a free port, `web` on or off; it stops when the returned token is cancelled.
async fn gateway(web: bool) -> (SocketAddr, CancellationToken) {
    let mut config = GatewayConfig::new(SECRET.to_vec());
    config.web = web;
    let bus = Bus::in_process();
    // What the gateway asks auth for before it is ready: no login has ended.
    let auth = Router::new(auth::SERVICE)
        .method::<auth::Revocations, _, _>(|_, _| async { Ok(auth::RevokedSessions::default()) });
    bus.serve(auth, ServeOptions::default()).await.unwrap();
    let shutdown = CancellationToken::new();
    let state = AppState::new(bus, config, shutdown.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { warren_gateway::serve(listener, state).await.unwrap() });
    (address, shutdown)
}

async fn get(address: SocketAddr, path: &str) -> reqwest::Response {
    reqwest::get(format!("http://{address}{path}"))
        .await
        .unwrap()
}

/// The script the page loads, as index.html names it.
fn first_script(page: &str) -> String {
    let start = page
        .find("src=\"/web/")
        .expect("the page loads a script from /web/")
        + 5;
    let end = start + page[start..].find('"').unwrap();
    page[start..end].to_owned()
}

#[tokio::test]
async fn the_page_and_its_files_are_served_from_the_binary() {
    let (address, shutdown) = gateway(true).await;
    let http = reqwest::Client::new();
    let page = http.get(format!("http://{address}/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    let policy = page.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    let etag = page.headers()[ETAG].clone();
    let html = page.text().await.unwrap();

    let script = first_script(&html);
    let js = get(address, &script).await;
    assert_eq!(js.status(), StatusCode::OK, "{script}");
    assert_eq!(js.headers()[CONTENT_TYPE], "text/javascript; charset=utf-8");
    assert!(js.text().await.unwrap().contains("import"), "{script}");

    // A browser that has the page revalidates it and gets no body back.
    let again = reqwest::Client::new()
        .get(format!("http://{address}/"))
        .header(IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    shutdown.cancel();
}

#[tokio::test]
async fn nothing_outside_the_embedded_files_is_served() {
    let (address, shutdown) = gateway(true).await;
    for path in [
        "/web/no-such-file.js",
        "/web/../Cargo.toml",
        "/web/%2e%2e/Cargo.toml",
        "/web/..%2fsrc%2flib.rs",
        "/web/",
        "/index.htm",
    ] {
        let response = get(address, path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    shutdown.cancel();
}

#[tokio::test]
async fn with_the_page_off_the_root_is_not_found() {
    let (address, shutdown) = gateway(false).await;
    for path in ["/", "/web/lobby.css", "/web/index.html"] {
        let response = get(address, path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // The API is unaffected.
    let health = get(address, "/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    shutdown.cancel();
}
