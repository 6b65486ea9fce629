//! A bus given the nodes of a cluster: it connects to one that answers, and when that one is lost
//! it moves to another, setting its topology up there as after any reconnect; its durable
//! subscriptions' queues are quorum queues, replicated over the nodes.
//!
//! One broker stands in for the cluster: each "node" is a vhost of the test's own, and a node is
//! lost when its vhost is deleted (which closes its connections and refuses new ones). A port
//! with nothing listening is a node that is down from the start.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Vhost, eventually, rabbitmqctl, unique};
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;
use warren_bus::contracts::Event;
use warren_bus::{
    Bus, CallOptions, ConnectOptions, QueueType, Router, ServeOptions, SubscribeOptions,
};

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

/// The type RabbitMQ gives `queue` in `vhost`.
fn queue_type(vhost: &Vhost, queue: &str) -> String {
    let output = Command::new("rabbitmqctl")
        .args(["-q", "list_queues", "-p", &vhost.name, "name", "type"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&output.stdout).into_owned();
    listed
        .lines()
        .find_map(|line| {
            let mut columns = line.split_whitespace();
            (columns.next() == Some(queue)).then(|| columns.next().unwrap_or("").to_owned())
        })
        .unwrap_or_else(|| panic!("no queue {queue} in {listed}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_keeps_must_not_miss_events_in_quorum_queues() {
    let vhost = Vhost::create();
    let (service, replicated, single) = (unique("svc"), unique("results"), unique("results"));
    let nodes = format!("{},{}", dead_node().await, vhost.url());
    let cluster = Bus::connect(&nodes, "consumer").await.unwrap();
    let one_node = Bus::connect_with(
        &ConnectOptions::new(&nodes, "consumer").durable_queues(Some(QueueType::Classic)),
    )
    .await
    .unwrap();
    let first = cluster
        .subscribe(SubscribeOptions::durable(&replicated, [&service]))
        .await
        .unwrap();
    let other = one_node
        .subscribe(SubscribeOptions::durable(&single, [&service]))
        .await
        .unwrap();
    assert_eq!(queue_type(&vhost, &replicated), "quorum");
    assert_eq!(queue_type(&vhost, &single), "classic");

    // A quorum queue keeps what is published while its consumer is away, like a classic one.
    drop(first);
    drop(other);
    let publisher = Bus::connect(&vhost.url(), "publisher").await.unwrap();
    for n in 0..5 {
        let event = Event::new("n", Vec::new(), json!(n));
        publisher.publish(&service, &event).await.unwrap();
    }
    let mut again = cluster
        .subscribe(SubscribeOptions::durable(&replicated, [&service]))
        .await
        .unwrap();
    for n in 0..5 {
        let delivery = tokio::time::timeout(RECOVERY, again.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(delivery.event.data, json!(n));
        delivery.ack().await.unwrap();
    }
    drop(again);
    for bus in [publisher, cluster, one_node] {
        bus.shutdown().await;
    }
}
