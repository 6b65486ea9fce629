//! Connections cut by the broker (`rabbitmqctl close_all_connections`) in a vhost of the test's
//! own: calls fail fast while the link is down, and everything works again without a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Vhost, eventually, unique};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use warren_bus::contracts::Event;
use warren_bus::{Bus, CallError, CallOptions, Router, ServeOptions, SubscribeOptions};

const RECOVERY: Duration = Duration::from_secs(20);

fn echo(service: &str) -> Router {
    Router::new(service).method_json("echo", |_, params: Value| async move { Ok(params) })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_recovers_after_the_broker_cuts_every_connection() {
    let vhost = Vhost::create();
    let url = vhost.url();
    let (service, events, queue) = (unique("svc"), unique("ev"), unique("durable"));
    let server_bus = Bus::connect(&url, "server").await.unwrap();
    let client = Bus::connect(&url, "client").await.unwrap();
    let listener = Bus::connect(&url, "listener").await.unwrap();
    let _server = server_bus
        .serve(echo(&service), ServeOptions::default())
        .await
        .unwrap();
    let mut anonymous = listener
        .subscribe(SubscribeOptions::anonymous([&events]))
        .await
        .unwrap();
    let mut durable = listener
        .subscribe(SubscribeOptions::durable(&queue, [&events]))
        .await
        .unwrap();
    let old_queue = anonymous.queue_name();
    let hi = json!("hi");
    let call = || client.call_json(&service, "echo", &hi, CallOptions::default());
    assert_eq!(call().await.unwrap(), json!("hi"));

    vhost.close_all_connections();

    // While the links are down a call fails at once; it never waits out its deadline.
    let started = Instant::now();
    match call().await {
        Ok(_) | Err(CallError::Unavailable(_)) => {}
        Err(other) => panic!("a call during the cut ended with {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    eventually("calls work again", RECOVERY, || async {
        call().await.is_ok()
    })
    .await;
    assert!(client.reconnects() >= 1 && server_bus.reconnects() >= 1);
    assert!(client.is_connected());

    // The anonymous queue died with the old connection; the subscriber declared a new one.
    eventually("the subscriber has a new queue", RECOVERY, || async {
        anonymous.queue_name() != old_queue
    })
    .await;
    let publisher = Bus::connect(&url, "publisher").await.unwrap();
    let event = Event::new("after.cut", vec![], json!({}));
    publisher.publish(&events, &event).await.unwrap();
    let got = tokio::time::timeout(RECOVERY, anonymous.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.event.id, event.id);
    let got = tokio::time::timeout(RECOVERY, durable.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.event.id, event.id);
    got.ack().await.unwrap();

    drop((anonymous, durable));
    for bus in [publisher, client, listener, server_bus] {
        bus.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_flight_when_the_connection_drops_fail_fast() {
    let vhost = Vhost::create();
    let url = vhost.url();
    let service = unique("slow");
    let server_bus = Bus::connect(&url, "server").await.unwrap();
    let client = Bus::connect(&url, "client").await.unwrap();
    let (entered_tx, mut entered) = tokio::sync::mpsc::unbounded_channel();
    let router = Router::new(&service).method_json("hang", move |_, _| {
        let entered_tx = entered_tx.clone();
        async move {
            let _ = entered_tx.send(());
            std::future::pending::<()>().await;
            Ok(json!(null))
        }
    });
    let options = ServeOptions {
        shutdown_grace: Duration::from_millis(500),
        ..Default::default()
    };
    let _server = server_bus.serve(router, options).await.unwrap();
    let call = {
        let client = client.clone();
        let service = service.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let options = CallOptions::default().timeout(Duration::from_secs(30));
            let result = client
                .call_json(&service, "hang", &json!(null), options)
                .await;
            (result, started.elapsed())
        })
    };
    entered.recv().await.unwrap();
    vhost.close_all_connections();
    let (result, took) = call.await.unwrap();
    assert!(
        matches!(result, Err(CallError::Unavailable(_))),
        "{result:?}"
    );
    assert!(
        took < Duration::from_secs(5),
        "the call waited {took:?} for a reply that cannot come"
    );
    client.shutdown().await;
    // The server's handler never finishes: shutdown gives up on it after the grace period.
    tokio::time::timeout(Duration::from_secs(10), server_bus.shutdown())
        .await
        .expect("shutdown waited forever for a stuck handler");
}
