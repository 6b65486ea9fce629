//! `warren-load relay` against the real system: the whole of Warren, embedded, started in this test
//! on a port of its own, and the built load generator run against it as an operator would. Every
//! player must be seated, through public rooms and through the matchmaker, and every command's
//! state must come back to its sender; refusals must be counted by their code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const SECRET: &[u8] = b"relay-test-secret-relay-test-secret";

struct Server {
    base: String,
    shutdown: CancellationToken,
    system: warren::System,
}

impl Server {
    /// Embedded (nothing to reach but this process), with the per-socket rate limit at
    /// `rate_limit` requests a second: the benchmark runs Warren with `--rate-limit 1000`.
    async fn start(rate_limit: u32) -> Self {
        let mut gateway = warren_gateway::GatewayConfig::new(SECRET.to_vec());
        gateway.rate_limit = rate_limit;
        let options = warren::Options {
            gateway,
            auth: warren_auth::AuthConfig {
                jwt_secret: SECRET.to_vec(),
                access_token_ttl: Duration::from_secs(900),
                refresh_token_ttl: Duration::from_secs(3600),
                // Every simulated client reaches auth through the gateway from one address, and many
                // register at once: the load is not about the auth throttles.
                auth_rate_per_address: u32::MAX,
                hash_queue_timeout: Duration::from_secs(30),
                ..warren_auth::AuthConfig::new(SECRET)
            },
            ..warren::Options::with_secret(SECRET)
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shutdown = CancellationToken::new();
        let system = warren::start(options, listener, shutdown.clone())
            .await
            .expect("the embedded system starts");
        Self {
            base: format!("http://{}", system.address),
            shutdown,
            system,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.system.wait().await.unwrap();
    }
}

/// Runs `warren-load relay` against `base` with `args`.
async fn relay(base: &str, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_warren-load"));
    command.args(["relay", "--url", base]).args(args);
    // Waiting on the process blocks; the server it calls runs on this test's runtime.
    tokio::task::spawn_blocking(move || command.output().expect("warren-load runs"))
        .await
        .unwrap()
}

/// The first number on the report line that starts with `label`.
fn figure(report: &str, label: &str) -> u64 {
    let line = report
        .lines()
        .find(|line| line.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{report}"));
    line.trim_start()[label.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("no number on {line:?}"))
}

/// The run succeeded, every player was seated and joined, and all `expected` commands completed
/// with no error.
fn assert_clean(output: &Output, players: u64, expected: u64) -> String {
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{report}\n{stderr}");
    assert_eq!(figure(&report, "players"), players, "{report}");
    assert_eq!(figure(&report, "seated"), players, "{report}");
    assert_eq!(figure(&report, "sessions.join"), players, "{report}");
    assert_eq!(figure(&report, "commands ok"), expected, "{report}");
    assert!(report.contains(&format!("of {expected}")), "{report}");
    assert_eq!(figure(&report, "errors"), 0, "{report}");
    assert_eq!(figure(&report, "sockets lost"), 0, "{report}");
    assert!(report.contains("p50") && report.contains("p99"), "{report}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_comes_back_through_public_rooms() {
    let server = Server::start(1000).await;
    let pid = std::process::id().to_string();
    let output = relay(
        &server.base,
        &["--flow", "rooms", "--players", "6", "--commands", "15"],
    )
    .await;
    let report = assert_clean(&output, 6, 90);
    assert_eq!(figure(&report, "sessions"), 3, "{report}");
    server.stop().await;

    // Sessions of three, with players rounded up to whole sessions; this test's own process is
    // the server, so its CPU time is read.
    let server = Server::start(1000).await;
    let output = relay(
        &server.base,
        &[
            "--players",
            "7",
            "--per-session",
            "3",
            "--commands",
            "5",
            "--server-pid",
            &pid,
        ],
    )
    .await;
    let report = assert_clean(&output, 9, 45);
    assert_eq!(figure(&report, "sessions"), 3, "{report}");
    assert!(report.contains("per command"), "{report}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_comes_back_through_the_matchmaker() {
    let server = Server::start(1000).await;
    let output = relay(
        &server.base,
        &["--flow", "matchmaker", "--players", "6", "--commands", "15"],
    )
    .await;
    let report = assert_clean(&output, 6, 90);
    assert_eq!(figure(&report, "sessions"), 3, "{report}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_commands_are_counted_by_code_and_fail_the_run() {
    // 5 requests a second, bursts of 10: the setup's few calls pass, most commands are refused.
    let server = Server::start(5).await;
    let output = relay(&server.base, &["--players", "2", "--commands", "40"]).await;
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        !output.status.success(),
        "errors must fail the run:\n{report}"
    );
    let ok = figure(&report, "commands ok");
    let refused = figure(&report, "rate_limited");
    assert!(refused > 0, "{report}");
    assert_eq!(ok + refused, 80, "{report}");
    assert_eq!(figure(&report, "errors"), refused, "{report}");
    assert_eq!(figure(&report, "sockets lost"), 0, "{report}");
    server.stop().await;
}
