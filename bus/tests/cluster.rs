//! A real RabbitMQ cluster (three nodes, `scripts/cluster up`) losing one node at a time: calls
//! work again within seconds and none waits past its deadline, and a durable subscription (a
//! quorum queue there) loses no event published around the loss.
//!
//! It needs the cluster, so it is ignored in the normal run; the test command starts the cluster,
//! runs it (`cargo test -p warren-bus --test cluster -- --ignored`) and removes the cluster.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{eventually, remove_from, unique};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use warren_bus::contracts::Event;
use warren_bus::{Bus, CallError, CallOptions, Router, ServeOptions, SubscribeOptions};

/// How long calls may fail after a node is lost before the test fails.
const RECOVERY: Duration = Duration::from_secs(20);
/// A call's deadline here; a call must end within it and a little slack whatever happens.
const DEADLINE: Duration = Duration::from_secs(2);

/// Runs `scripts/cluster` with `args`; its stdout.
fn cluster(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/cluster");
    let output = Command::new(script).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "scripts/cluster {args:?} failed (is the cluster up? scripts/cluster up): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The cluster's nodes as `--amqp-url` takes them.
fn nodes() -> String {
    cluster(&["status"]);
    let urls = cluster(&["urls"]);
    urls.lines()
        .find_map(|line| line.strip_prefix("WARREN_AMQP_URL="))
        .expect("scripts/cluster urls names the AMQP nodes")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local cluster: scripts/test starts it and runs this alone"]
async fn losing_any_one_node_costs_only_the_calls_on_it() {
    let nodes = nodes();
    let (service, events, queue) = (unique("svc"), unique("ev"), unique("durable"));
    let server = Bus::connect(&nodes, "server").await.unwrap();
    let client = Bus::connect(&nodes, "client").await.unwrap();
    let listener = Bus::connect(&nodes, "listener").await.unwrap();
    let router = Router::new(&service).method_json("echo", |_, p: Value| async move { Ok(p) });
    let _serving = server.serve(router, ServeOptions::default()).await.unwrap();
    let mut durable = listener
        .subscribe(SubscribeOptions::durable(&queue, [&events]))
        .await
        .unwrap();
    let hi = json!("hi");
    let call = || {
        client.call_json(
            &service,
            "echo",
            &hi,
            CallOptions::default().timeout(DEADLINE),
        )
    };
    assert_eq!(call().await.unwrap(), hi);

    // With every node up, first.
    let first_event = Event::new("n", Vec::new(), json!(0));
    client.publish(&events, &first_event).await.unwrap();
    let mut published = 1u64;
    // Each node in turn, so that every bus loses the node it is connected to at some point.
    for node in ["1", "2", "3"] {
        cluster(&["kill-rabbit", node]);
        // Calls during the loss end at once or within their deadline, never later.
        let started = Instant::now();
        match call().await {
            Ok(_) | Err(CallError::Unavailable(_) | CallError::Timeout(_)) => {}
            Err(other) => panic!("a call while node {node} was down ended with {other:?}"),
        }
        assert!(
            started.elapsed() < DEADLINE + Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        eventually(
            &format!("calls work without node {node}"),
            RECOVERY,
            || async { call().await.is_ok() },
        )
        .await;
        // Events published while the node is down are kept for the durable subscriber.
        let give_up = Instant::now() + RECOVERY;
        loop {
            let event = Event::new("n", Vec::new(), json!(published));
            let error = match client.publish(&events, &event).await {
                Ok(()) => {
                    published += 1;
                    break;
                }
                Err(error) => error,
            };
            assert!(
                Instant::now() < give_up,
                "no publish without node {node}: {error}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        cluster(&["start-rabbit", node]);
    }

    // Every event published arrives (at least once: a redelivery after a loss is allowed).
    let mut seen = BTreeSet::new();
    while seen.len() < usize::try_from(published).unwrap() {
        let delivery = tokio::time::timeout(RECOVERY, durable.next())
            .await
            .expect("every published event arrives")
            .expect("the subscription lives");
        seen.insert(delivery.event.data.as_u64().unwrap());
        delivery.ack().await.unwrap();
    }
    assert_eq!(seen, (0..published).collect());

    drop(durable);
    let first = nodes.split(',').next().unwrap().to_owned();
    for bus in [listener, client, server] {
        bus.shutdown().await;
    }
    remove_from(&first, &[&events], &[&queue]).await;
}
