//! Calls routed by key, over RabbitMQ and in process: a key nobody bound reaches any instance of
//! the service; a bound key reaches the instance that bound it alone, until it unbinds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Net, unique};
use serde_json::{Value, json};
use std::time::Duration;
use warren_bus::{Bus, CallOptions, RequestContext, Router, ServeOptions, ServerHandle};

/// Instance `name` of `service`: its shared queue (taking unrouted calls) and its own.
async fn instance(bus: &Bus, service: &str, name: &'static str) -> [ServerHandle; 2] {
    let router = || {
        Router::new(service).method_json("who", move |_: RequestContext, _: Value| async move {
            Ok(json!(name))
        })
    };
    let shared = ServeOptions {
        routed: true,
        ..ServeOptions::default()
    };
    let own = format!("{service}@{name}");
    [
        bus.serve(router(), shared).await.unwrap(),
        bus.serve(router().serving_as(own), ServeOptions::default())
            .await
            .unwrap(),
    ]
}

async fn who(client: &Bus, service: &str, key: &str) -> String {
    let options = CallOptions::default()
        .timeout(Duration::from_secs(10))
        .route(key);
    let answer = client
        .call_json(service, "who", &json!({}), options)
        .await
        .unwrap();
    answer.as_str().unwrap().to_owned()
}

async fn a_bound_key_reaches_its_instance_alone(net: Net) {
    let service = unique("routed");
    let (one, two, client) = (net.bus().await, net.bus().await, net.bus().await);
    let servers = [
        instance(&one, &service, "one").await,
        instance(&two, &service, "two").await,
    ];
    // Nobody bound it: both instances take their share.
    let mut answered = std::collections::BTreeSet::new();
    for _ in 0..40 {
        answered.insert(who(&client, &service, "session-1").await);
    }
    assert_eq!(answered.len(), 2, "one instance took every unrouted call");
    two.bind_route(&service, "session-1", &format!("{service}@two"))
        .await
        .unwrap();
    for _ in 0..20 {
        assert_eq!(who(&client, &service, "session-1").await, "two");
    }
    // Another key is not affected, and an instance cannot unbind another's key.
    one.unbind_route(&service, "session-1", &format!("{service}@one"))
        .await
        .unwrap();
    assert_eq!(who(&client, &service, "session-1").await, "two");
    two.unbind_route(&service, "session-1", &format!("{service}@two"))
        .await
        .unwrap();
    let mut answered = std::collections::BTreeSet::new();
    for _ in 0..40 {
        answered.insert(who(&client, &service, "session-1").await);
    }
    assert_eq!(answered.len(), 2, "still routed after the unbind");
    for [shared, own] in servers {
        shared.stop().await;
        own.stop().await;
    }
    for bus in [client, one, two] {
        bus.shutdown().await;
    }
    if let Net::Amqp(url) = &net {
        // Instances' own queues outlive them for a while, by design.
        let queues = [format!("{service}@one.rpc"), format!("{service}@two.rpc")];
        let exchanges = [format!("{service}.route"), format!("{service}.unrouted")];
        delete(url, &queues, &exchanges).await;
    }
}

async fn delete(url: &str, queues: &[String], exchanges: &[String]) {
    let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    for queue in queues {
        channel
            .queue_delete(queue.as_str().into(), Default::default())
            .await
            .unwrap();
    }
    for exchange in exchanges {
        channel
            .exchange_delete(exchange.as_str().into(), Default::default())
            .await
            .unwrap();
    }
    let _ = connection.close(200, "done".into()).await;
}

/// Over RabbitMQ: a request routed to an instance that stops without answering it (or dies) is
/// not lost with the instance's queue; a second later it goes on to the shared queue, and another
/// instance answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_held_by_a_gone_instance_is_answered_by_another() {
    let net = Net::amqp();
    let service = unique("orphan");
    let (one, two, client) = (net.bus().await, net.bus().await, net.bus().await);
    // "one" takes the request on its own queue and never answers it.
    let taken = std::sync::Arc::new(tokio::sync::Notify::new());
    let told = std::sync::Arc::clone(&taken);
    let stuck = Router::new(&service)
        .method_json("who", move |_: RequestContext, _: Value| {
            let told = std::sync::Arc::clone(&told);
            async move {
                told.notify_one();
                std::future::pending::<()>().await;
                Ok(json!("one"))
            }
        })
        .serving_as(format!("{service}@one"));
    let quick = ServeOptions {
        shutdown_grace: Duration::from_millis(100),
        ..ServeOptions::default()
    };
    let own = one.serve(stuck, quick).await.unwrap();
    let [shared, two_own] = instance(&two, &service, "two").await;
    one.bind_route(&service, "session-1", &format!("{service}@one"))
        .await
        .unwrap();
    let call = {
        let (client, service) = (client.clone(), service.clone());
        tokio::spawn(async move { who(&client, &service, "session-1").await })
    };
    // Gone while it holds the request: given up on, not acknowledged.
    taken.notified().await;
    own.stop().await;
    one.shutdown().await;
    assert_eq!(call.await.unwrap(), "two");
    shared.stop().await;
    two_own.stop().await;
    client.shutdown().await;
    two.shutdown().await;
    if let Net::Amqp(url) = &net {
        let queues = [format!("{service}@one.rpc"), format!("{service}@two.rpc")];
        let exchanges = [format!("{service}.route"), format!("{service}.unrouted")];
        delete(url, &queues, &exchanges).await;
    }
}

both_transports!(a_bound_key_reaches_its_instance_alone);
