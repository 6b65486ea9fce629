//! Redis over TLS: `warren` given a `rediss://` URL keeps its state in a `redis-server` that
//! speaks only TLS, trusting the certificate authority named by `SSL_CERT_FILE` (the system's
//! roots otherwise), and refuses a server whose certificate it cannot trust.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::processes::{Process, free_port};
use common::tls::CertDir;
use serde_json::json;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `redis-server` listening with TLS only, on a port of its own; killed when dropped.
struct TlsRedis {
    port: u16,
    dir: CertDir,
    child: Child,
}

impl TlsRedis {
    fn start() -> Self {
        let dir = CertDir::new();
        dir.authority("ca");
        dir.server("ca", "redis");
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args([
                "--tls-cert-file",
                "redis.pem",
                "--tls-key-file",
                "redis.key",
            ])
            .args(["--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no"])
            .args(["--save", "", "--appendonly", "no"])
            .current_dir(&dir.0)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed");
        let redis = Self { port, dir, child };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while redis.cli(&["ping"]) != "PONG" {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server with TLS did not answer on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    }

    fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["--tls", "--cacert"])
            .arg(self.dir.path("ca.pem"))
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli must be installed");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn warren_keeps_its_state_in_redis_over_tls() {
    let redis = TlsRedis::start();
    let log = redis.dir.path("warren.log");
    let env = [
        (
            "WARREN_REDIS_URL",
            format!("rediss://127.0.0.1:{}", redis.port),
        ),
        ("WARREN_REDIS_NAMESPACE", "tls:".to_owned()),
        (
            "SSL_CERT_FILE",
            redis.dir.path("ca.pem").display().to_string(),
        ),
    ];
    let (warren, admin) =
        Process::start_warren(Path::new(env!("CARGO_BIN_EXE_warren")), &env, &log).await;
    let text = std::fs::read_to_string(&log).unwrap();
    let gateway = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["message"] == "gateway listening")
        .and_then(|line| line["address"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no gateway address in:\n{text}"));

    let http = reqwest::Client::new();
    let registered = http
        .post(format!("http://{gateway}/v1/auth/register"))
        .json(&json!({"username": "tls_player", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert!(registered.status().is_success(), "{registered:?}");
    let ready = http.get(format!("{admin}/readyz")).send().await.unwrap();
    assert!(ready.status().is_success(), "{ready:?}");

    // The account is in the TLS Redis, under the namespace.
    let keys = redis.cli(&["--scan", "--pattern", "tls:*"]);
    assert!(
        keys.lines().any(|key| key.contains("auth:")),
        "no auth keys in the TLS Redis: {keys:?}"
    );
    assert!(warren.terminate().success());
}

#[tokio::test]
async fn an_untrusted_redis_certificate_is_refused() {
    let redis = TlsRedis::start();
    let (ok, message) =
        warren_runtime::redis_client::open(&format!("rediss://127.0.0.1:{}", redis.port))
            .await
            .map_or_else(|e| (false, e.to_string()), |_| (true, String::new()));
    // This process trusts the system's roots only (the test CA is not among them).
    assert!(!ok, "a certificate from an unknown authority was accepted");
    assert!(
        message.to_lowercase().contains("certificate") || message.contains("Unknown"),
        "{message}"
    );
}
