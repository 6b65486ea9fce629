//! `/metrics` after a scenario: the numbers move as they should. The recorder is the process's,
//! shared by every system a test starts, so each check of a counter compares before and after;
//! the gauges read from the stores (rooms open, sessions running, queue lengths) are exact, this
//! being the only system in the process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Mode, TestSystem, start};
use serde_json::json;
use std::collections::BTreeMap;

/// The sum of the samples of `name` whose labels include `wanted`.
fn value(text: &str, name: &str, wanted: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, sample) = line.rsplit_once(' ')?;
            let (metric, labels) = match series.split_once('{') {
                Some((metric, labels)) => (metric, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let labels: BTreeMap<&str, &str> = labels
                .split(',')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k, v.trim_matches('"')))
                .collect();
            wanted
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v))
                .then(|| sample.parse::<f64>().ok())?
        })
        .sum()
}

async fn scrape(system: &TestSystem) -> String {
    common::scrape(&system.http, &system.admin_base).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_moves_the_numbers() {
    let system = start(Mode::Embedded).await;
    let (ada, bob) = (system.player("ada").await, system.player("bob").await);
    let before = scrape(&system).await;
    let mut ws = system.connect(&ada.access_token).await;
    let mut bob_ws = system.connect(&bob.access_token).await;
    ws.call("accounts.me", json!({})).await;
    ws.call("accounts.me", json!({})).await;
    let refused = ws.call_raw("accounts.get", json!({"user_id": ""})).await;
    assert!(refused.get("error").is_some());
    assert_eq!(value(&before, "warren_rooms_open", &[]), 0.0, "{before}");
    assert_eq!(value(&before, "warren_sessions_running", &[]), 0.0);
    let room = ws
        .call("rooms.create", json!({"mode": "relay", "max_players": 2}))
        .await;
    let open = scrape(&system).await;
    assert_eq!(value(&open, "warren_rooms_open", &[]), 1.0, "{open}");
    bob_ws
        .call("rooms.join", json!({"room_id": room["room_id"]}))
        .await;
    ws.event("room.updated").await;
    for player in [&mut ws, &mut bob_ws] {
        player
            .call(
                "rooms.ready",
                json!({"room_id": room["room_id"], "ready": true}),
            )
            .await;
    }
    for player in [&mut ws, &mut bob_ws] {
        player.event("session.started").await;
    }
    let during = scrape(&system).await;
    assert_eq!(
        value(&during, "warren_rooms_open", &[]),
        0.0,
        "full, then started"
    );
    assert_eq!(
        value(&during, "warren_sessions_running", &[]),
        1.0,
        "{during}"
    );
    let moved = |name: &str, labels: &[(&str, &str)]| {
        value(&during, name, labels) - value(&before, name, labels)
    };
    let me = [("method", "accounts.me"), ("outcome", "ok")];
    assert!(
        moved("warren_gateway_requests_total", &me) >= 2.0,
        "{during}"
    );
    assert!(
        moved(
            "warren_rpc_requests_total",
            &[
                ("service", "accounts"),
                ("method", "accounts.me"),
                ("outcome", "ok")
            ]
        ) >= 2.0
    );
    assert!(
        moved(
            "warren_rpc_calls_total",
            &[
                ("service", "accounts"),
                ("method", "accounts.me"),
                ("outcome", "ok")
            ]
        ) >= 2.0
    );
    assert!(
        moved(
            "warren_gateway_requests_total",
            &[("method", "accounts.get"), ("outcome", "invalid_params")]
        ) >= 1.0
    );
    assert!(
        moved(
            "warren_gateway_request_seconds_count",
            &[("method", "accounts.me")]
        ) >= 2.0
    );
    assert!(moved("warren_ws_messages_in_total", &[]) >= 4.0);
    assert!(moved("warren_ws_messages_out_total", &[]) >= 5.0);
    assert!(
        moved(
            "warren_events_published_total",
            &[("service", "rooms"), ("outcome", "ok")]
        ) >= 1.0
    );
    assert!(moved("warren_events_delivered_total", &[]) >= 1.0);
    assert!(
        value(&during, "warren_ws_connections", &[]) >= 1.0,
        "{during}"
    );
    // A search waits in its pool, and the pool reads 0 once it is empty again.
    let cy = system.player("cy").await;
    let mut cy_ws = system.connect(&cy.access_token).await;
    let pool = [("mode", "tic-tac-toe"), ("region", "metrics-test")];
    cy_ws
        .call(
            "matchmaker.start",
            json!({"mode": "tic-tac-toe", "region": "metrics-test"}),
        )
        .await;
    let waiting = scrape(&system).await;
    assert_eq!(
        value(&waiting, "warren_matchmaker_queue_length", &pool),
        1.0,
        "{waiting}"
    );
    cy_ws.call("matchmaker.cancel", json!({})).await;
    let cancelled = scrape(&system).await;
    assert!(
        cancelled
            .lines()
            .any(|l| l.starts_with("warren_matchmaker_queue_length{")
                && l.contains(r#"region="metrics-test""#)
                && l.ends_with(" 0")),
        "{cancelled}"
    );
    drop((ws, bob_ws, cy_ws));
    system.stop().await;
}
