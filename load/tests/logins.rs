//! `warren-load logins` against the real system: the whole of Warren, embedded, started in this
//! test on a port of its own, and the built load generator run against it with small numbers. The
//! report must have every phase and every target, and its counts must add up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};
use tokio_util::sync::CancellationToken;

const SECRET: &[u8] = b"logins-test-secret-logins-test-secret";

struct Server {
    base: String,
    shutdown: CancellationToken,
    system: warren::System,
}

impl Server {
    /// Embedded, with the per-address request rate lifted as the benchmark lifts it
    /// (`--auth-rate-per-address 1000000`), and the failed-login limits as they are.
    async fn start() -> Self {
        let options = warren::Options {
            auth: warren_auth::AuthConfig {
                auth_rate_per_address: 1_000_000,
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

/// Runs `warren-load logins` with `args`.
async fn logins(args: Vec<String>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_warren-load"));
    command.arg("logins").args(args);
    // Waiting on the process blocks; the server it calls runs on this test's runtime.
    tokio::task::spawn_blocking(move || command.output().expect("warren-load runs"))
        .await
        .unwrap()
}

/// The lines of `report` from the one starting with `title` to the next unindented one.
fn section<'a>(report: &'a str, title: &str) -> Vec<&'a str> {
    let mut lines = report.lines().skip_while(|line| !line.starts_with(title));
    let Some(first) = lines.next() else {
        panic!("no {title:?} section in:\n{report}");
    };
    std::iter::once(first)
        .chain(lines.take_while(|line| line.starts_with(' ')))
        .collect()
}

/// The first number after `label` on the line of `lines` that starts with it (indented by two).
fn figure(lines: &[&str], label: &str) -> usize {
    let line = lines
        .iter()
        .find(|line| {
            line.strip_prefix("  ")
                .is_some_and(|l| l.starts_with(label))
        })
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{}", lines.join("\n")));
    line[2 + label.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("no number on {line:?}"))
}

/// The `n × …` lines under the line that starts with `label`, as (count, rest).
fn breakdown(lines: &[&str], label: &str) -> Vec<(usize, String)> {
    lines
        .iter()
        .skip_while(|line| {
            !line
                .strip_prefix("  ")
                .is_some_and(|l| l.starts_with(label))
        })
        .skip(1)
        .take_while(|line| line.starts_with("    "))
        .map(|line| {
            let (n, rest) = line.trim().split_once(" × ").expect("an `n × …` line");
            (n.parse().unwrap(), rest.to_owned())
        })
        .collect()
}

/// Checks that a flood phase's counts add up; returns its (200, 401, 429).
fn counts_add_up(lines: &[&str], logins: usize, right: usize) -> (usize, usize, usize) {
    let report = lines.join("\n");
    assert_eq!(figure(lines, "sent"), logins, "{report}");
    let (ok, wrong, limited) = (
        figure(lines, "200"),
        figure(lines, "401"),
        figure(lines, "429"),
    );
    assert_eq!(figure(lines, "other"), 0, "{report}");
    assert_eq!(figure(lines, "no answer"), 0, "{report}");
    assert_eq!(ok + wrong + limited, logins, "{report}");
    let reasons = breakdown(lines, "429");
    assert_eq!(
        reasons.iter().map(|(n, _)| n).sum::<usize>(),
        limited,
        "{report}"
    );
    for (_, reason) in &reasons {
        assert!(reason.starts_with("rate_limited: "), "{report}");
    }
    assert_eq!(figure(lines, "right password"), right, "{report}");
    assert_eq!(figure(lines, "wrong password"), logins - right, "{report}");
    for label in ["right password", "wrong password"] {
        let sum: usize = breakdown(lines, label).iter().map(|(n, _)| n).sum();
        assert_eq!(sum, figure(lines, label), "{report}");
    }
    // Only a right password logs in; a wrong one is never let in.
    let right_lines = breakdown(lines, "right password");
    let wrong_lines = breakdown(lines, "wrong password");
    assert!(
        right_lines.iter().all(|(_, l)| !l.starts_with("401")),
        "{report}"
    );
    assert!(
        wrong_lines.iter().all(|(_, l)| !l.starts_with("200")),
        "{report}"
    );
    assert_eq!(figure(lines, "checks"), ok + wrong, "{report}");
    for label in [
        "answer time",
        "over 2 s",
        "wall time",
        "server RSS",
        "CPU",
        "probe",
    ] {
        figure_or_text(lines, label, &report);
    }
    (ok, wrong, limited)
}

fn figure_or_text(lines: &[&str], label: &str, report: &str) {
    assert!(
        lines.iter().any(|line| line
            .strip_prefix("  ")
            .is_some_and(|l| l.starts_with(label))),
        "no {label:?} line in:\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_flood_is_reported_with_counts_that_add_up() {
    let server = Server::start().await;
    // 12 logins a phase for two users, a quarter with the right password: from one address,
    // 6 for each user, one more than the failed-login limit for a username and address admits
    // at once. Spread over 3 addresses, no limit is reached.
    let args = [
        "--url",
        &server.base,
        "--logins",
        "12",
        "--users",
        "2",
        "--addresses",
        "3",
        "--right-percent",
        "25",
        "--baseline",
        "200ms",
        "--quiet",
        "200ms",
        "--pid",
        &std::process::id().to_string(),
    ];
    let output = logins(args.iter().map(|a| a.to_string()).collect()).await;
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        report.contains("\ntargets\n"),
        "no report:\n{report}\n{stderr}"
    );

    let header = section(&report, "warren-load logins:");
    assert!(header[0].contains("12 logins from one address, 12 from 3 addresses"));
    assert!(report.contains("argon2id hashes/s") && report.contains("m=19456 KiB, t=2, p=1"));
    assert!(
        report.contains("users         2 and the probe's"),
        "{report}"
    );

    let one = section(&report, "phase 1, one address:");
    // How many of these the failed-login limits refuse is what the phase is there to show.
    counts_add_up(&one, 12, 3);

    let many = section(&report, "phase 2, many addresses:");
    assert!(many[0].contains("127.0.0.2 to 127.0.0.4"), "{report}");
    // 4 logins per address, 2 per username and address: no limit is reached, every password is
    // checked (the hashing queue's 2 s is ample for 12 small hashes).
    assert_eq!(counts_add_up(&many, 12, 3), (3, 9, 0), "{report}");

    let targets = section(&report, "targets");
    for name in ["memory", "answers", "probe", "login rate"] {
        let line = targets
            .iter()
            .find(|line| line.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} target in:\n{report}"));
        let verdict = line.trim_start()[name.len()..].trim_start();
        assert!(
            verdict.starts_with("met ") || verdict.starts_with("NOT met "),
            "{line}"
        );
    }
    assert!(
        targets
            .iter()
            .any(|l| l.contains("24 answered 200, 401 or 429")),
        "{report}"
    );
    // Exit status: non-zero exactly when a target is not met.
    assert_eq!(
        output.status.success(),
        !report.contains("NOT met"),
        "{report}\n{stderr}"
    );
    server.stop().await;
}

#[tokio::test]
async fn addresses_that_overlap_are_refused_before_anything_is_sent() {
    let args = ["--url", "http://127.0.0.1:9", "--address", "127.0.0.3"];
    let output = logins(args.iter().map(|a| a.to_string()).collect()).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("also one of the other phases' addresses"),
        "{stderr}"
    );
}
