//! Seeing what a deployment does, across its processes: health and metrics on every service, a
//! request id on every log line about a request, and with `WARREN_OTLP_ENDPOINT` one trace per
//! client request in an OpenTelemetry collector, its spans linked from the gateway through each
//! service it reached.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Bytes;
use common::processes::{Deployment, Process};
use common::unique;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// A service process answers `/healthz`, `/readyz` and `/metrics` on its own `WARREN_LISTEN`, and
/// its metrics count the requests it served and the rooms open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_process_answers_health_and_metrics() {
    let deployment = Deployment::new();
    let _auth = deployment.start("warren-auth");
    let _accounts = deployment.start("warren-accounts");
    let _sessions = deployment.start("warren-sessions");
    let _gateway = deployment.start("warren-gateway");
    let log = std::env::temp_dir().join(format!(
        "{}-rooms.log",
        deployment.namespace.trim_end_matches(':')
    ));
    let (_rooms, base) = Process::start_service("warren-rooms", &deployment.env, &log).await;
    let http = reqwest::Client::new();
    let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ready = http.get(format!("{base}/readyz")).send().await;
        if let Ok(ready) = ready
            && ready.status() == 200
        {
            let checks: serde_json::Value = ready.json().await.unwrap();
            assert_eq!(checks["checks"], json!({"bus": true, "redis": true}));
            break;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "warren-rooms never ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
    let scrape = || async {
        let response = http.get(format!("{base}/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    };
    let before = scrape().await;
    assert!(
        before.lines().any(|l| l == "warren_rooms_open 0"),
        "{before}"
    );
    deployment.a_player_creates_a_room().await;
    let metrics = scrape().await;
    assert!(
        metrics.lines().any(|l| l == "warren_rooms_open 1"),
        "the room is open, read from Redis at the scrape:\n{metrics}"
    );
    let created = metrics
        .lines()
        .find(|l| {
            l.starts_with("warren_rpc_requests_total{")
                && l.contains(r#"method="rooms.create""#)
                && l.contains(r#"outcome="ok""#)
        })
        .unwrap_or_else(|| panic!("no rooms.create in\n{metrics}"));
    assert!(created.ends_with(" 1"), "{created}");
    assert!(
        metrics.contains("warren_rpc_request_seconds_bucket{"),
        "{metrics}"
    );
    let _ = std::fs::remove_file(&log);
}

/// One client request is followed across processes in the logs: the request id the gateway made
/// is on the gateway's line for it and on the lines of every service it reached (rooms, and the
/// accounts and sessions that rooms called for it), in JSON logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_follows_one_request_across_processes() {
    let deployment = Deployment::new();
    let dir = std::env::temp_dir().join(unique("warren-logs"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut env = deployment.env.clone();
    env.push(("WARREN_LOG_FORMAT", "json".into()));
    env.push((
        "RUST_LOG",
        "warn,warren_bus=debug,warren_gateway=debug,warren_rooms=info".into(),
    ));
    let mut processes = Vec::new();
    for name in [
        "warren-auth",
        "warren-accounts",
        "warren-sessions",
        "warren-rooms",
        "warren-gateway",
    ] {
        let mut env = env.clone();
        if name != "warren-gateway" {
            env.push(("WARREN_LISTEN", "127.0.0.1:0".into()));
        }
        processes.push(Process::start_logged(name, &env, &dir.join(name)));
    }
    deployment.a_player_creates_a_room().await;
    let log = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
    let request_id = loop {
        let created = log("warren-rooms")
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find(|line| line["message"] == "room created");
        if let Some(line) = created {
            let spans = line["spans"].as_array().cloned().unwrap_or_default();
            let id = spans
                .iter()
                .find_map(|s| s["request_id"].as_str().map(str::to_owned));
            break id.unwrap_or_else(|| panic!("no request id on {line}"));
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "no room created line:\n{}",
            log("warren-rooms")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!request_id.is_empty());
    let needle = format!("\"request_id\":\"{request_id}\"");
    for name in ["warren-gateway", "warren-accounts", "warren-sessions"] {
        let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
        while !log(name).contains(&needle) {
            assert!(
                tokio::time::Instant::now() < give_up,
                "{name} never logged request {request_id}:\n{}",
                log(name)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    drop(processes);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One span as the collector received it.
#[derive(Debug, Clone)]
struct Span {
    service: String,
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
    attributes: Vec<(String, String)>,
}

impl Span {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// An OTLP/HTTP collector that keeps every span it is sent.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
    arrived: Arc<Notify>,
}

impl Collector {
    /// Serves `POST /v1/traces` on a free port; its base URL.
    async fn start(&self) -> String {
        let collector = self.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: Bytes| async move {
                let request = ExportTraceServiceRequest::decode(body).unwrap();
                collector.keep(request);
                ""
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}")
    }

    fn keep(&self, request: ExportTraceServiceRequest) {
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in request.resource_spans {
            let resource = resource_spans.resource.unwrap_or_default();
            let service = attributes(&resource.attributes)
                .into_iter()
                .find(|(k, _)| k == "service.name")
                .map(|(_, v)| v)
                .unwrap_or_default();
            for span in resource_spans
                .scope_spans
                .into_iter()
                .flat_map(|scope| scope.spans)
            {
                spans.push(Span {
                    service: service.clone(),
                    attributes: attributes(&span.attributes),
                    name: span.name,
                    trace_id: span.trace_id,
                    span_id: span.span_id,
                    parent_span_id: span.parent_span_id,
                });
            }
        }
        self.arrived.notify_waiters();
    }

    /// Waits until `found` picks something out of the spans received so far.
    async fn wait_for<T>(&self, what: &str, found: impl Fn(&[Span]) -> Option<T>) -> T {
        let give_up = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let arrived = self.arrived.notified();
            if let Some(value) = found(&self.spans.lock().unwrap()) {
                return value;
            }
            let left = give_up.saturating_duration_since(tokio::time::Instant::now());
            if tokio::time::timeout(left, arrived).await.is_err() {
                panic!("{what}: never arrived in {:#?}", self.spans.lock().unwrap());
            }
        }
    }
}

fn attributes(list: &[KeyValue]) -> Vec<(String, String)> {
    list.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v: &AnyValue| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                Some(any_value::Value::IntValue(i)) => i.to_string(),
                Some(other) => format!("{other:?}"),
                None => String::new(),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

/// With `WARREN_OTLP_ENDPOINT` set, a room created over the WebSocket is one trace in the
/// collector: the gateway's request span is its root, and the rooms service's handling of it,
/// and the accounts service's handling of the call rooms made for it, are children of the calls
/// that reached them, in other processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_is_one_trace_across_processes() {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let deployment = Deployment::new();
    let mut env = deployment.env.clone();
    env.push(("WARREN_OTLP_ENDPOINT", endpoint));
    // Export every 100 ms rather than every 5 s, so the test waits less.
    env.push(("OTEL_BSP_SCHEDULE_DELAY", "100".into()));
    let mut processes = Vec::new();
    for name in [
        "warren-auth",
        "warren-accounts",
        "warren-sessions",
        "warren-rooms",
        "warren-gateway",
    ] {
        let mut env = env.clone();
        if name != "warren-gateway" {
            env.push(("WARREN_LISTEN", "127.0.0.1:0".into()));
        }
        processes.push(Process::start(name, &env));
    }
    deployment.a_player_creates_a_room().await;
    a_room_is_one_trace(
        &collector,
        ["warren-gateway", "warren-rooms", "warren-accounts"],
    )
    .await;
    drop(processes);
}

/// The same trace when everything runs in one process over the in-process bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_is_one_trace_embedded() {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let deployment = Deployment::new();
    let env = [
        ("WARREN_LISTEN", format!("127.0.0.1:{}", deployment.port)),
        ("WARREN_ADMIN_LISTEN", "127.0.0.1:0".into()),
        ("WARREN_OTLP_ENDPOINT", endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
        ("RUST_LOG", "warn".into()),
    ];
    let warren = Process::start("warren", &env);
    deployment.a_player_creates_a_room().await;
    a_room_is_one_trace(&collector, ["warren"; 3]).await;
    drop(warren);
}

/// Checks the trace of a `rooms.create` made over the WebSocket: the `service.name`s of the
/// gateway, rooms and accounts are `services`.
async fn a_room_is_one_trace(collector: &Collector, services: [&str; 3]) {
    let [gateway, rooms, accounts] = services;
    let request = collector
        .wait_for("the gateway's rooms.create request span", |spans| {
            spans
                .iter()
                .find(|s| {
                    s.service == gateway
                        && s.name == "request"
                        && s.attribute("method") == Some("rooms.create")
                })
                .cloned()
        })
        .await;
    assert!(request.parent_span_id.is_empty(), "a request is a root");
    let request_id = request.attribute("request_id").unwrap().to_owned();
    let trace = request.trace_id.clone();
    let child_of = |spans: &[Span], service: &str, name: &str, parent: &Span| {
        spans
            .iter()
            .find(|s| {
                s.service == service
                    && s.name == name
                    && s.trace_id == trace
                    && s.parent_span_id == parent.span_id
            })
            .cloned()
    };
    let call = collector
        .wait_for("the gateway's call to rooms", |spans| {
            child_of(spans, gateway, "rpc.call", &request)
        })
        .await;
    let handled = collector
        .wait_for("rooms handling the call, in the same trace", |spans| {
            child_of(spans, rooms, "rpc.handle", &call)
        })
        .await;
    assert_eq!(handled.attribute("service"), Some("rooms"));
    assert_eq!(handled.attribute("request_id"), Some(request_id.as_str()));
    let onward = collector
        .wait_for("accounts handling what rooms asked of it", |spans| {
            let calls: Vec<&Span> = spans
                .iter()
                .filter(|s| {
                    s.service == rooms
                        && s.name == "rpc.call"
                        && s.attribute("service") == Some("accounts")
                        && s.parent_span_id == handled.span_id
                })
                .collect();
            calls
                .into_iter()
                .find_map(|call| child_of(spans, accounts, "rpc.handle", call))
        })
        .await;
    assert_eq!(onward.attribute("service"), Some("accounts"));
    assert_eq!(onward.attribute("request_id"), Some(request_id.as_str()));
}
