//! The broker itself stops and starts again (`rabbitmqctl stop_app` / `start_app`).
//!
//! This stops the shared broker under every other test, so it is ignored in the normal run and
//! the test command (`scripts/test`) runs it on its own afterwards:
//! `cargo test -p warren-bus --test broker_restart -- --ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{amqp_url, eventually, rabbitmqctl, unique};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use warren_bus::contracts::Event;
use warren_bus::{Bus, CallError, CallOptions, Router, ServeOptions, SubscribeOptions};

const RECOVERY: Duration = Duration::from_secs(60);

/// Starts the broker again even if the test fails half-way, so later tests find it running.
struct RestartOnDrop;

impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .arg("start_app")
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stops the shared broker: scripts/test runs it alone"]
async fn calls_and_subscriptions_survive_a_broker_restart() {
    let url = amqp_url();
    let (service, events, queue) = (unique("svc"), unique("ev"), unique("durable"));
    let server_bus = Bus::connect(&url, "server").await.unwrap();
    let client = Bus::connect(&url, "client").await.unwrap();
    let listener = Bus::connect(&url, "listener").await.unwrap();
    let router = Router::new(&service).method_json("echo", |_, p: Value| async move { Ok(p) });
    let _server = server_bus
        .serve(router, ServeOptions::default())
        .await
        .unwrap();
    let mut anonymous = listener
        .subscribe(SubscribeOptions::anonymous([&events]))
        .await
        .unwrap();
    let mut durable = listener
        .subscribe(SubscribeOptions::durable(&queue, [&events]).prefetch(1))
        .await
        .unwrap();
    let hi = json!("hi");
    let call = || client.call_json(&service, "echo", &hi, CallOptions::default());
    assert_eq!(call().await.unwrap(), hi);

    // Published before the restart and not yet consumed: the durable queue must keep it.
    let kept = Event::new("before.restart", vec![], json!({}));
    client.publish(&events, &kept).await.unwrap();

    let _restart = RestartOnDrop;
    rabbitmqctl(&["stop_app"]);
    let started = Instant::now();
    let result = call().await;
    assert!(
        matches!(result, Err(CallError::Unavailable(_))),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        client.publish(&events, &kept).await.is_err(),
        "a publish with no broker succeeded"
    );
    rabbitmqctl(&["start_app"]);

    eventually("calls work again", RECOVERY, || async {
        call().await.is_ok()
    })
    .await;

    // The durable queue kept the event published before the restart.
    let delivery = tokio::time::timeout(RECOVERY, durable.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(delivery.event.id, kept.id);
    delivery.ack().await.unwrap();

    // The anonymous subscriber is on a new queue: wait until a fresh event reaches it.
    let publisher = Bus::connect(&url, "publisher").await.unwrap();
    let give_up = Instant::now() + RECOVERY;
    'probing: loop {
        assert!(
            Instant::now() < give_up,
            "the anonymous subscriber never heard again"
        );
        let probe = Event::new("after.restart", vec![], json!({}));
        publisher.publish(&events, &probe).await.unwrap();
        // Until the subscriber has re-bound, a probe reaches nobody; then one arrives.
        while let Ok(Some(d)) =
            tokio::time::timeout(Duration::from_millis(500), anonymous.next()).await
        {
            if d.event.id == probe.id {
                break 'probing;
            }
        }
    }

    drop((anonymous, durable));
    common::remove_from(&url, &[&events], &[&queue]).await;
    for bus in [publisher, client, listener, server_bus] {
        bus.shutdown().await;
    }
}
