//! `warren-load requests` against a real gateway: what it reports is what happened. The built
//! binary is run as an operator would, against the embedded system on a port of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::processes::binary;
use common::{Mode, TestSystem, start_configured};
use std::process::{Command, Output};

async fn requests(base: &str, clients: &str) -> Output {
    let mut command = Command::new(binary("warren-load"));
    command
        .args(["requests", "--url", base, "--clients", clients])
        .args(["--duration", "1s", "--method", "accounts.me"]);
    // Waiting on the process blocks; the gateway it calls runs on this test's runtime.
    tokio::task::spawn_blocking(move || command.output().expect("warren-load runs"))
        .await
        .unwrap()
}

async fn with_rate_limit(per_second: u32) -> TestSystem {
    start_configured(Mode::Embedded, |options| {
        options.gateway.rate_limit = per_second;
    })
    .await
}

/// The number on the report line that starts with `label`.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_counted_and_timed() {
    let system = with_rate_limit(1_000_000).await;
    let output = requests(&system.base, "3").await;
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(figure(&report, "calls ok") > 0, "{report}");
    assert_eq!(figure(&report, "errors"), 0, "{report}");
    assert_eq!(figure(&report, "sockets lost"), 0, "{report}");
    assert!(report.contains("p50"), "{report}");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_replies_are_counted_by_code_and_the_clients_call_on() {
    // 5 calls a second, bursts of 10: most calls in a second are refused.
    let system = with_rate_limit(5).await;
    let output = requests(&system.base, "2").await;
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        !output.status.success(),
        "errors must fail the run:\n{report}"
    );
    let ok = figure(&report, "calls ok");
    let refused = figure(&report, "rate_limited");
    // Each client gets its burst and then some; both called on after their first refusal.
    assert!((20..=40).contains(&ok), "{report}");
    assert!(refused > 2, "{report}");
    assert_eq!(figure(&report, "errors"), refused, "{report}");
    assert_eq!(figure(&report, "sockets lost"), 0, "{report}");
    system.stop().await;
}
