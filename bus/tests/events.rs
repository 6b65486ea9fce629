//! Event behaviour, each scenario over RabbitMQ and in process where it applies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Net, unique};
use serde_json::json;
use std::time::Duration;
use warren_bus::contracts::Event;
use warren_bus::{Delivery, SubscribeOptions, Subscription};

const WAIT: Duration = Duration::from_secs(10);

fn event(n: u32) -> Event {
    Event::new(
        "test.happened",
        vec![format!("user-{n}")],
        json!({ "n": n }),
    )
}

async fn next(sub: &mut Subscription) -> Delivery {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("no event arrived in time")
        .expect("the subscription ended")
}

async fn numbers(sub: &mut Subscription, count: usize) -> Vec<u64> {
    let mut seen = Vec::new();
    for _ in 0..count {
        let delivery = next(sub).await;
        seen.push(delivery.event.data["n"].as_u64().unwrap());
        delivery.ack().await.unwrap();
    }
    seen
}

async fn two_subscribers_each_get_every_event(net: Net) {
    let service = unique("fanout");
    let publisher = net.bus().await;
    let (bus_a, bus_b) = (net.bus().await, net.bus().await);
    let mut a = bus_a
        .subscribe(SubscribeOptions::anonymous([&service]))
        .await
        .unwrap();
    let mut b = bus_b
        .subscribe(SubscribeOptions::anonymous([&service]))
        .await
        .unwrap();
    for n in 0..50 {
        publisher.publish(&service, &event(n)).await.unwrap();
    }
    let expected: Vec<u64> = (0..50).collect();
    assert_eq!(numbers(&mut a, 50).await, expected);
    assert_eq!(numbers(&mut b, 50).await, expected);
    let first = {
        publisher.publish(&service, &event(99)).await.unwrap();
        next(&mut a).await
    };
    assert_eq!(first.event.kind, "test.happened");
    assert_eq!(first.event.recipients, vec!["user-99".to_owned()]);
    drop((a, b));
    common::remove(&net, &[&service], &[]).await;
    for bus in [publisher, bus_a, bus_b] {
        bus.shutdown().await;
    }
}

async fn one_subscription_reads_several_services(net: Net) {
    let (rooms, sessions) = (unique("rooms"), unique("sessions"));
    let bus = net.bus().await;
    let mut sub = bus
        .subscribe(SubscribeOptions::anonymous([&rooms, &sessions]))
        .await
        .unwrap();
    bus.publish(&rooms, &event(1)).await.unwrap();
    bus.publish(&sessions, &event(2)).await.unwrap();
    let mut seen = numbers(&mut sub, 2).await;
    seen.sort_unstable();
    assert_eq!(seen, vec![1, 2]);
    drop(sub);
    common::remove(&net, &[&rooms, &sessions], &[]).await;
    bus.shutdown().await;
}

async fn publishing_with_no_subscriber_is_fine(net: Net) {
    let bus = net.bus().await;
    let service = unique("lonely");
    bus.publish(&service, &event(1)).await.unwrap();
    common::remove(&net, &[&service], &[]).await;
    bus.shutdown().await;
}

async fn a_durable_queue_keeps_events_while_its_consumer_is_away(net: Net) {
    let service = unique("durable");
    let queue = unique("ratings");
    let publisher = net.bus().await;
    let consumer_bus = net.bus().await;
    let sub = consumer_bus
        .subscribe(SubscribeOptions::durable(&queue, [&service]))
        .await
        .unwrap();
    drop(sub); // the consumer goes away; the queue stays
    for n in 0..10 {
        publisher.publish(&service, &event(n)).await.unwrap();
    }
    let mut sub = consumer_bus
        .subscribe(SubscribeOptions::durable(&queue, [&service]))
        .await
        .unwrap();
    assert_eq!(numbers(&mut sub, 10).await, (0..10).collect::<Vec<_>>());
    drop(sub);
    common::remove(&net, &[&service], &[&queue]).await;
    publisher.shutdown().await;
    consumer_bus.shutdown().await;
}

async fn an_unacknowledged_event_is_delivered_again(net: Net) {
    let service = unique("redeliver");
    let queue = unique("ratings");
    let bus = net.bus().await;
    let mut sub = bus
        .subscribe(SubscribeOptions::durable(&queue, [&service]).prefetch(1))
        .await
        .unwrap();
    bus.publish(&service, &event(7)).await.unwrap();
    let first = next(&mut sub).await;
    assert!(!first.redelivered);
    drop(first); // handling failed: no ack
    let again = next(&mut sub).await;
    assert_eq!(again.event.data["n"], 7);
    assert!(again.redelivered, "a redelivery must say so");
    again.ack().await.unwrap();
    bus.publish(&service, &event(8)).await.unwrap();
    assert_eq!(
        numbers(&mut sub, 1).await,
        vec![8],
        "the acked event came back"
    );
    drop(sub);
    common::remove(&net, &[&service], &[&queue]).await;
    bus.shutdown().await;
}

async fn durable_consumers_compete(net: Net) {
    let service = unique("compete");
    let queue = unique("workers");
    let publisher = net.bus().await;
    let (bus_a, bus_b) = (net.bus().await, net.bus().await);
    let options = SubscribeOptions::durable(&queue, [&service]).prefetch(1);
    let mut a = bus_a.subscribe(options.clone()).await.unwrap();
    let mut b = bus_b.subscribe(options).await.unwrap();
    let total = 40;
    for n in 0..total {
        publisher.publish(&service, &event(n)).await.unwrap();
    }
    // Each consumer takes one at a time and acks it; between them they see every event once.
    let (mut seen_a, mut seen_b) = (Vec::new(), Vec::new());
    while seen_a.len() + seen_b.len() < total as usize {
        tokio::select! {
            d = next(&mut a) => { seen_a.push(d.event.data["n"].as_u64().unwrap()); d.ack().await.unwrap(); }
            d = next(&mut b) => { seen_b.push(d.event.data["n"].as_u64().unwrap()); d.ack().await.unwrap(); }
        }
    }
    assert!(
        !seen_a.is_empty() && !seen_b.is_empty(),
        "{seen_a:?} / {seen_b:?}"
    );
    let mut all: Vec<u64> = seen_a.into_iter().chain(seen_b).collect();
    all.sort_unstable();
    assert_eq!(all, (0..u64::from(total)).collect::<Vec<_>>());
    drop((a, b));
    common::remove(&net, &[&service], &[&queue]).await;
    for bus in [publisher, bus_a, bus_b] {
        bus.shutdown().await;
    }
}

/// An anonymous queue's deliveries are acknowledged in batches: bursts smaller than a batch,
/// read one at a time, and a run of many times the prefetch must all still arrive.
async fn a_small_prefetch_never_stalls_an_anonymous_queue(net: Net) {
    let service = unique("stall");
    let bus = net.bus().await;
    let mut sub = bus
        .subscribe(SubscribeOptions::anonymous([&service]).prefetch(4))
        .await
        .unwrap();
    let mut n = 0;
    for burst in 0..12 {
        let size = burst % 3 + 1;
        for _ in 0..size {
            bus.publish(&service, &event(n)).await.unwrap();
            n += 1;
        }
        let seen = numbers(&mut sub, size as usize).await;
        let expected: Vec<u64> = (u64::from(n - size)..u64::from(n)).collect();
        assert_eq!(seen, expected);
    }
    for k in 0..40 {
        bus.publish(&service, &event(n + k)).await.unwrap();
    }
    let expected: Vec<u64> = (u64::from(n)..u64::from(n + 40)).collect();
    assert_eq!(numbers(&mut sub, 40).await, expected);
    drop(sub);
    common::remove(&net, &[&service], &[]).await;
    bus.shutdown().await;
}

async fn shutdown_ends_subscriptions(net: Net) {
    let bus = net.bus().await;
    let service = unique("bye");
    let mut sub = bus
        .subscribe(SubscribeOptions::anonymous([&service]))
        .await
        .unwrap();
    bus.shutdown().await;
    let end = tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("next() hung after shutdown");
    assert!(end.is_none(), "an event after shutdown: {end:?}");
    common::remove(&net, &[&service], &[]).await;
}

both_transports!(
    two_subscribers_each_get_every_event,
    one_subscription_reads_several_services,
    publishing_with_no_subscriber_is_fine,
    a_durable_queue_keeps_events_while_its_consumer_is_away,
    an_unacknowledged_event_is_delivered_again,
    durable_consumers_compete,
    a_small_prefetch_never_stalls_an_anonymous_queue,
    shutdown_ends_subscriptions,
);

/// Over RabbitMQ only: the broker owns the anonymous queue, and it must not outlive its subscriber.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_anonymous_queue_goes_when_its_subscriber_drops() {
    let url = common::amqp_url();
    let bus = Net::amqp().bus().await;
    let service = unique("gone");
    let sub = bus
        .subscribe(SubscribeOptions::anonymous([&service]))
        .await
        .unwrap();
    let queue = sub.queue_name();
    assert!(queue.starts_with("amq.gen-"), "server-named: {queue}");
    assert!(common::queue_exists(&url, &queue).await);
    drop(sub);
    common::eventually("the anonymous queue is deleted", WAIT, || async {
        !common::queue_exists(&url, &queue).await
    })
    .await;
    common::remove_from(&url, &[&service], &[]).await;
    bus.shutdown().await;
}
