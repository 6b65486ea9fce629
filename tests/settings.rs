//! What a supervisor and a log shipper read from a Warren binary: a setting that cannot work
//! stops it at once with exit status 2 and one line naming the setting (never retried like an
//! outage), and with `--log-format json` every line it writes is one JSON object.
//!
//! The binaries are those `cargo build --workspace --bins` puts next to this test (target/debug).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::processes::{SERVICES, binary};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Every binary that reads settings: the all-in-one and each service.
fn binaries() -> impl Iterator<Item = &'static str> {
    std::iter::once("warren").chain(SERVICES)
}

/// Far longer than a refusal takes; a binary still running then is retrying what it should
/// have refused (a retried broker URL logs and waits for a minute).
const PATIENCE: Duration = Duration::from_secs(20);

/// `name` run with `args` and `env` to its end, killed and failed if it outlives [`PATIENCE`].
fn run(name: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary(name));
    command
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let child = command.spawn().unwrap();
    let pid = child.id().to_string();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    match finished.recv_timeout(PATIENCE) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("{name} {args:?} {env:?} was still running after {PATIENCE:?}");
        }
    }
}

/// Asserts `output` is a refusal: status 2, and a stderr of one line that names `setting`.
fn assert_refused(output: &Output, setting: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line, not: {stderr}");
    assert!(lines[0].contains(setting), "{stderr}");
    stderr
}

#[test]
fn a_malformed_broker_url_stops_every_binary_at_once() {
    for name in binaries() {
        let output = run(name, &["--amqp-url", "not-a-url"], &[]);
        let line = assert_refused(&output, "--amqp-url (WARREN_AMQP_URL)");
        assert!(line.contains("amqp://"), "says what is expected: {line}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            !stdout.contains("not reachable"),
            "{name} tried to connect: {stdout}"
        );
    }
}

#[test]
fn bad_values_from_the_environment_name_flag_and_variable() {
    let cases: [(&str, &str, &str); 5] = [
        ("WARREN_REDIS_URL", "http://127.0.0.1:6379", "--redis-url"),
        ("WARREN_AMQP_URL", "http://127.0.0.1:5672", "--amqp-url"),
        ("WARREN_PING_INTERVAL", "0s", "--ping-interval"),
        ("WARREN_MAX_FRAME_BYTES", "100", "--max-frame-bytes"),
        ("WARREN_LOG_FORMAT", "xml", "--log-format"),
    ];
    for (variable, value, flag) in cases {
        let output = run("warren", &[], &[(variable, value)]);
        assert_refused(&output, &format!("{flag} ({variable})"));
    }
}

#[test]
fn a_password_in_a_refused_url_is_not_repeated() {
    let output = run(
        "warren-gateway",
        &["--amqp-url", "amqp://warren:hunter2@rabbit:99999999/%2f"],
        &[],
    );
    let line = assert_refused(&output, "--amqp-url");
    assert!(!line.contains("hunter2"), "{line}");
    let output = run(
        "warren",
        &["--redis-url", "redis://:hunter2@127.0.0.1:6379/notadb"],
        &[],
    );
    let line = assert_refused(&output, "--redis-url");
    assert!(!line.contains("hunter2"), "{line}");
}

#[test]
fn a_missing_or_short_secret_stops_before_connecting() {
    // Nothing listens on port 1: a binary that got as far as connecting would retry for a minute.
    let unreachable = "amqp://guest:guest@127.0.0.1:1/%2f";
    for name in ["warren", "warren-gateway", "warren-auth"] {
        let output = run(name, &["--amqp-url", unreachable], &[]);
        assert_refused(&output, "--jwt-secret (WARREN_JWT_SECRET)");
        let output = run(
            name,
            &["--amqp-url", unreachable],
            &[("WARREN_JWT_SECRET", "0123456789abcdef")],
        );
        let line = assert_refused(&output, "at least 32 bytes");
        assert!(!line.contains("0123456789abcdef"), "{line}");
    }
}

#[test]
fn a_login_must_outlive_its_access_tokens() {
    let args = ["--access-token-ttl", "2h", "--refresh-token-ttl", "1h"];
    for name in ["warren", "warren-auth"] {
        let output = run(name, &args, &[]);
        assert_refused(&output, "--refresh-token-ttl (WARREN_REFRESH_TOKEN_TTL)");
    }
}

#[test]
fn with_json_logs_a_refusal_is_one_json_object() {
    let output = run(
        "warren",
        &["--log-format", "json", "--amqp-url", "not-a-url"],
        &[],
    );
    let line = assert_refused(&output, "--amqp-url");
    let event: Value = serde_json::from_str(&line).expect("a JSON object");
    assert_eq!(event["level"], "ERROR", "{event}");
    assert_eq!(event["exit_status"], 2, "{event}");
    assert!(
        event["message"].as_str().unwrap().contains("--amqp-url"),
        "{event}"
    );
}

#[test]
fn help_and_version_still_exit_zero() {
    for flag in ["--help", "--version"] {
        let output = run("warren", &[flag], &[]);
        assert!(output.status.success(), "{flag}: {output:?}");
        assert!(!output.stdout.is_empty());
    }
}

/// Every line `text` holds, each parsed as a JSON object; fails on the first that is not.
fn json_lines(text: &str, stream: &str) -> Vec<Value> {
    text.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{stream} line is not JSON ({e}): {line}"));
            assert!(value.is_object(), "{stream} line is not an object: {line}");
            value
        })
        .collect()
}

#[test]
fn with_json_logs_every_line_is_json_from_start_to_stop() {
    let mut child = Command::new(binary("warren"))
        .args(["--log-format", "json", "--listen", "127.0.0.1:0"])
        .args(["--admin-listen", ":0"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let stdout = child.stdout.take().unwrap();
    let (lines, read) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let up = loop {
        let Ok(line) = read.recv_timeout(PATIENCE) else {
            let _ = child.kill();
            panic!("warren never logged that it was up: {seen:?}");
        };
        let event = json_lines(&line, "stdout").remove(0);
        seen.push(line);
        if event["message"] == "warren is up" {
            break event;
        }
    };
    // The connect hint is fields, not free text.
    let url = up["url"].as_str().unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{up}");
    assert!(
        up["websocket"]
            .as_str()
            .unwrap()
            .starts_with("ws://127.0.0.1:")
    );
    assert!(
        up["admin"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert_eq!(up["bus"], "in process", "{up}");
    assert_eq!(up["state"], "in memory", "{up}");
    assert_eq!(up["register"], format!("POST {url}/v1/auth/register"));
    assert_eq!(
        up["lobby"],
        format!("{url}/"),
        "the web page is on by default"
    );

    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    // The rest of stdout, read by the thread until the pipe closed.
    let rest: Vec<String> = read.iter().collect();
    json_lines(&rest.join("\n"), "stdout");
    json_lines(&String::from_utf8_lossy(&output.stderr), "stderr");
}

#[test]
fn with_json_logs_a_failure_at_run_time_is_json_and_exits_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = run(
        "warren",
        &[
            "--log-format",
            "json",
            "--listen",
            &address,
            "--admin-listen",
            ":0",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let lines = json_lines(&String::from_utf8_lossy(&output.stdout), "stdout");
    json_lines(&String::from_utf8_lossy(&output.stderr), "stderr");
    let last = lines.last().unwrap();
    assert_eq!(last["level"], "ERROR", "{last}");
    assert!(last["error"].as_str().unwrap().contains(&address), "{last}");
}
