//! A bus given the nodes of a cluster: it connects to one that answers, and when that one is lost
//! it moves to another, setting its topology up there as after any reconnect.
//!
//! One broker stands in for the cluster: each "node" is a vhost of the test's own, and a node is
//! lost when its vhost is deleted (which closes its connections and refuses new ones). A port
//! with nothing listening is a node that is down from the start.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Vhost, eventually, rabbitmqctl, unique};
use serde_json::{Value, json};
use std::time::Duration;
use warren_bus::{Bus, CallOptions, Router, ServeOptions};

const RECOVERY: Duration = Duration::from_secs(30);

fn echo(service: &str) -> Router {
    Router::new(service).method_json("echo", |_, params: Value| async move { Ok(params) })
}

/// An AMQP URL on a loopback port nothing listens on.
async fn dead_node() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("amqp://guest:guest@127.0.0.1:{port}/%2f")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_is_down_is_passed_over() {
    let vhost = Vhost::create();
    let service = unique("svc");
    let nodes = format!("{},{}", dead_node().await, vhost.url());
    // Whichever node each bus starts with, it ends up on the one that answers.
    let server = Bus::connect(&nodes, "server").await.unwrap();
    let _serving = server
        .serve(echo(&service), ServeOptions::default())
        .await
        .unwrap();
    for n in 0..4 {
        let client = Bus::connect(&nodes, "client").await.unwrap();
        let answer = client
            .call_json(&service, "echo", &json!(n), CallOptions::default())
            .await
            .unwrap();
        assert_eq!(answer, json!(n));
        client.shutdown().await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_its_node_is_lost_a_bus_moves_to_another() {
    let first = Vhost::create();
    // The second node is not up yet: both buses connect to the first.
    let second = unique("vhost");
    let nodes = format!("{},amqp://guest:guest@127.0.0.1:5672/{second}", first.url());
    let service = unique("svc");
    let server = Bus::connect(&nodes, "server").await.unwrap();
    let _serving = server
        .serve(echo(&service), ServeOptions::default())
        .await
        .unwrap();
    let client = Bus::connect(&nodes, "client").await.unwrap();
    let hi = json!("hi");
    let call = || client.call_json(&service, "echo", &hi, CallOptions::default());
    assert_eq!(call().await.unwrap(), json!("hi"));

    // The second node comes up; the first is lost for good.
    rabbitmqctl(&["add_vhost", &second]);
    let second = Vhost { name: second };
    rabbitmqctl(&[
        "set_permissions",
        "-p",
        &second.name,
        "guest",
        ".*",
        ".*",
        ".*",
    ]);
    drop(first);

    // Both reconnect to the second, the server declares its queue there, and calls work again.
    eventually("calls work on the other node", RECOVERY, || async {
        call().await.is_ok()
    })
    .await;
    assert!(client.reconnects() >= 1 && server.reconnects() >= 1);
    client.shutdown().await;
    server.shutdown().await;
}
