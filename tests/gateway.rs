//! The gateway's edges: bad input answered without harm, limits, events to their recipients,
//! slow and silent clients, health, OpenAPI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Mode, TestSystem, gateway_config, start, start_configured, start_with};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use warren_bus::{Router, ServeOptions};
use warren_contracts::Event;

fn code(response: &Value) -> i64 {
    response["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("not an error: {response}"))
}

/// The system without its matchmaker: the tests below stand in for it, or miss it.
async fn without_matchmaker(mode: Mode, gateway: warren_gateway::GatewayConfig) -> TestSystem {
    start_configured(mode, |options| {
        options.gateway = gateway;
        options.without = vec!["matchmaker".into()];
    })
    .await
}

async fn bad_input_gets_an_error_and_the_socket_stays_open(mode: Mode) {
    let system = without_matchmaker(mode, gateway_config()).await;
    let ada = system.player("ada").await;
    let mut ws = system.connect(&ada.access_token).await;
    let null = Value::Null;

    ws.send_text("{not json".into()).await;
    assert_eq!(code(&ws.response(&null).await), -32700);
    ws.send_text(r#"[{"jsonrpc":"2.0","id":1,"method":"accounts.me"}]"#.into())
        .await;
    assert_eq!(code(&ws.response(&null).await), -32600);
    ws.send_text(r#"{"jsonrpc":"2.0","method":"accounts.me"}"#.into())
        .await;
    assert_eq!(code(&ws.response(&null).await), -32600);
    ws.send_text(r#"{"jsonrpc":"2.0","id":"x","method":"accounts.me","params":[1]}"#.into())
        .await;
    assert_eq!(code(&ws.response(&json!("x")).await), -32602);

    let unknown = ws.call_raw("no.such_method", json!({})).await;
    assert_eq!(code(&unknown), -32601);
    // Service-to-service methods are not reachable from a socket.
    for internal in ["accounts.create", "auth.revoke_user", "auth.login"] {
        let response = ws
            .call_raw(internal, json!({"user_id": ada.user_id, "username": "x"}))
            .await;
        assert_eq!(code(&response), -32601, "{internal}: {response}");
    }
    let wrong_type = ws.call_raw("accounts.get", json!({"user_id": 5})).await;
    assert_eq!(code(&wrong_type), -32602);
    assert_eq!(wrong_type["error"]["data"]["code"], "invalid_params");

    // A message over the limit is refused; the socket still serves.
    let big = json!({"jsonrpc": "2.0", "id": 99, "method": "accounts.get",
        "params": {"user_id": "x".repeat(70_000)}});
    ws.send_text(big.to_string()).await;
    let too_big = ws.response(&null).await;
    assert_eq!(code(&too_big), -32600);
    assert!(
        too_big["error"]["message"]
            .as_str()
            .unwrap()
            .contains("65536"),
        "{too_big}"
    );
    ws.send(Message::Binary(vec![1, 2, 3].into())).await;
    assert_eq!(code(&ws.response(&null).await), -32600);

    // A service that is not running: unavailable, at once.
    let down = ws.call_raw("matchmaker.status", json!({})).await;
    assert_eq!(down["error"]["data"]["code"], "unavailable", "{down}");

    assert_eq!(
        ws.call("accounts.me", json!({})).await["user_id"],
        ada.user_id
    );
    system.stop().await;
}

async fn events_reach_their_recipients_only(mode: Mode) {
    let system = start(mode).await;
    let (ada, bob) = (system.player("ada").await, system.player("bob").await);
    let mut ada_ws = system.connect(&ada.access_token).await;
    let mut ada_again = system.connect(&ada.access_token).await;
    let mut bob_ws = system.connect(&bob.access_token).await;
    // Everyone is registered with the hub once a request has been answered.
    for ws in [&mut ada_ws, &mut ada_again, &mut bob_ws] {
        ws.call("accounts.me", json!({})).await;
    }
    let bus = system.bus().clone();
    for n in 1..=3 {
        let event = Event::new("match.found", vec![ada.user_id.clone()], json!({"n": n}));
        bus.publish("matchmaker", &event).await.unwrap();
    }
    for ws in [&mut ada_ws, &mut ada_again] {
        for n in 1..=3 {
            let event = ws.event("match.found").await;
            assert_eq!(event["data"]["n"], n);
            assert_eq!(event["seq"], n);
        }
    }
    let to_bob = Event::new(
        "rating.changed",
        vec![bob.user_id.clone()],
        json!({"delta": 16}),
    );
    bus.publish("accounts", &to_bob).await.unwrap();
    assert_eq!(bob_ws.event("rating.changed").await["data"]["delta"], 16);
    assert!(
        bob_ws.events.iter().all(|e| e["type"] != "match.found"),
        "bob got ada's events"
    );
    system.stop().await;
}

async fn a_slow_service_times_out_without_blocking_the_socket(mode: Mode) {
    let mut config = gateway_config();
    config.call_timeout = Duration::from_millis(500);
    config.max_in_flight = 2;
    let system = without_matchmaker(mode, config).await;
    let ada = system.player("ada").await;
    // A stand-in matchmaker that never answers matchmaker.status.
    let slow = Router::new("matchmaker").method_json("matchmaker.status", |_, _| async {
        std::future::pending::<()>().await;
        Ok(json!(null))
    });
    let quick = ServeOptions {
        shutdown_grace: Duration::from_millis(100),
        ..Default::default()
    };
    let server = system.bus().serve(slow, quick).await.unwrap();
    let mut ws = system.connect(&ada.access_token).await;
    let first = ws.request("matchmaker.status", json!({})).await;
    let second = ws.request("matchmaker.status", json!({})).await;
    // Two in flight: a third is refused at once, and other methods... also wait for a slot.
    let third = ws.call_raw("matchmaker.status", json!({})).await;
    assert_eq!(third["error"]["data"]["code"], "rate_limited", "{third}");
    for id in [first, second] {
        let response = ws.response(&id).await;
        assert_eq!(response["error"]["data"]["code"], "timeout", "{response}");
    }
    assert_eq!(
        ws.call("accounts.me", json!({})).await["user_id"],
        ada.user_id
    );
    drop(server);
    system.stop().await;
}

async fn shutdown_answers_the_requests_in_flight_before_it_closes(mode: Mode) {
    let system = without_matchmaker(mode, gateway_config()).await;
    let ada = system.player("ada").await;
    // A stand-in matchmaker that says when it holds a request and answers when it is told to.
    let (held_tx, mut held) = tokio::sync::mpsc::unbounded_channel::<()>();
    let release = Arc::new(tokio::sync::Notify::new());
    let answer = Arc::clone(&release);
    let stand_in = Router::new("matchmaker").method_json("matchmaker.status", move |_, _| {
        let (held_tx, answer) = (held_tx.clone(), Arc::clone(&answer));
        async move {
            let _ = held_tx.send(());
            answer.notified().await;
            Ok(json!({"searching": false}))
        }
    });
    // Its own lifetime: it must outlive the system's shutdown to answer during it.
    let server = system
        .bus()
        .serve(stand_in, ServeOptions::default())
        .await
        .unwrap();
    let mut ws = system.connect(&ada.access_token).await;
    let id = ws.request("matchmaker.status", json!({})).await;
    held.recv().await.unwrap();

    system.shutdown.cancel();
    let health = format!("{}/healthz", system.base);
    let stopping = tokio::spawn(async move { system.stop().await });
    // The gateway has stopped accepting: it is shutting down, the request still held.
    let http = reqwest::Client::new();
    while http.get(&health).send().await.is_ok() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    release.notify_one();
    let response = ws.response(&id).await;
    assert_eq!(response["result"]["searching"], false, "{response}");
    assert_eq!(ws.closed(Duration::from_secs(5)).await, 1001);
    stopping.await.unwrap();
    drop(server);
}

both_modes!(
    bad_input_gets_an_error_and_the_socket_stays_open,
    events_reach_their_recipients_only,
    a_slow_service_times_out_without_blocking_the_socket,
    shutdown_answers_the_requests_in_flight_before_it_closes,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_rate_limit_are_refused() {
    let mut config = gateway_config();
    config.rate_limit = 5; // bursts of 10
    let system = start_with(Mode::Embedded, config).await;
    let ada = system.player("ada").await;
    let mut ws = system.connect(&ada.access_token).await;
    let mut ids = Vec::new();
    for _ in 0..30 {
        ids.push(ws.request("accounts.me", json!({})).await);
    }
    let mut limited = 0;
    for id in &ids {
        let response = ws.response(id).await;
        if response["error"]["data"]["code"] == "rate_limited" {
            limited += 1;
        }
    }
    assert!((15..=20).contains(&limited), "{limited} of 30 were limited");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_is_disconnected() {
    let mut config = gateway_config();
    config.send_queue = 4;
    let system = start_with(Mode::Embedded, config).await;
    let ada = system.player("ada").await;
    let mut ws = system.connect(&ada.access_token).await;
    ws.call("accounts.me", json!({})).await;
    // Far more than the socket buffers hold, while the client reads nothing.
    let payload = "x".repeat(60_000);
    for _ in 0..400 {
        let event = Event::new(
            "session.state",
            vec![ada.user_id.clone()],
            json!({"p": payload}),
        );
        system.bus().publish("sessions", &event).await.unwrap();
    }
    assert_eq!(ws.closed(Duration::from_secs(20)).await, 4001);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_closed_and_a_live_one_is_not() {
    let mut config = gateway_config();
    config.ping_interval = Duration::from_millis(200);
    let system = start_with(Mode::Embedded, config).await;
    let ada = system.player("ada").await;
    let mut silent = system.connect(&ada.access_token).await;
    let mut live = system.connect(&ada.access_token).await;
    // The live client reads (and so answers pings) throughout; the silent one reads nothing.
    let keep_reading = async {
        let until = tokio::time::Instant::now() + Duration::from_millis(1200);
        while tokio::time::Instant::now() < until {
            let _ = tokio::time::timeout(Duration::from_millis(50), live.read_one()).await;
        }
        live
    };
    let mut live = keep_reading.await;
    assert_eq!(silent.closed(Duration::from_secs(5)).await, 4000);
    assert_eq!(
        live.call("accounts.me", json!({})).await["user_id"],
        ada.user_id
    );
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_the_openapi_document() {
    let system = start(Mode::Embedded).await;
    let response = system
        .http
        .get(format!("{}/healthz", system.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, ready) = system.get("/readyz", None).await;
    assert_eq!((status, &ready["ready"]), (200, &json!(true)));
    let (status, doc) = system.get("/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/auth/register",
        "/v1/auth/login",
        "/v1/auth/refresh",
        "/v1/auth/logout",
        "/v1/accounts/me",
        "/v1/accounts/{user_id}",
        "/v1/rooms",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
    }
    let params = &doc["paths"]["/v1/rooms"]["get"]["parameters"];
    for name in ["mode", "limit"] {
        assert!(
            params.as_array().unwrap().iter().any(|p| p["name"] == name),
            "/v1/rooms does not document ?{name}: {params}"
        );
    }
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_sockets_with_going_away() {
    let system = start(Mode::Embedded).await;
    let ada = system.player("ada").await;
    let mut ws = system.connect(&ada.access_token).await;
    ws.call("accounts.me", json!({})).await;
    system.shutdown.cancel();
    assert_eq!(ws.closed(Duration::from_secs(5)).await, 1001);
    system.stop().await;
}
