//! RabbitMQ vouches for the publisher: over two broker users of the test's own, in a vhost of its
//! own, a call on a player's behalf is served only when the gateway's broker user published it,
//! and no user can publish as another.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{BrokerUser, Vhost, unique};
use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties, Consumer, ExchangeKind};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use warren_bus::contracts::ErrorCode;
use warren_bus::{Bus, CallOptions, ConnectOptions, RequestContext, Router, ServeOptions};

/// A router whose one method counts its runs and answers who it ran for.
fn counted(service: &str) -> (Router, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    let router = Router::new(service).method_json("whoami", move |ctx: RequestContext, _| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move { Ok(json!({ "user_id": ctx.user_id })) }
    });
    (router, runs)
}

fn for_player() -> CallOptions {
    CallOptions::default()
        .timeout(Duration::from_secs(10))
        .user_id("ada")
}

fn as_service() -> CallOptions {
    CallOptions::default().timeout(Duration::from_secs(10))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_gateways_broker_user_may_call_for_a_player() {
    let vhost = Vhost::create();
    let gateway = BrokerUser::create(&vhost, "gateway");
    let rooms = BrokerUser::create(&vhost, "rooms");

    // A service logged in as `rooms` that trusts `gateway` with players.
    let service = unique("guarded");
    let options =
        ConnectOptions::new(rooms.url(), "server").gateway_user(Some(gateway.name.clone()));
    let server = Bus::connect_with(&options).await.unwrap();
    let (router, runs) = counted(&service);
    let _serving = server.serve(router, ServeOptions::default()).await.unwrap();
    let from_gateway = Bus::connect(&gateway.url(), "gateway").await.unwrap();
    let from_rooms = Bus::connect(&rooms.url(), "rooms").await.unwrap();

    // On a player's behalf from another user, even the service's own: refused, never run.
    let refused = from_rooms
        .call_json(&service, "whoami", &json!({}), for_player())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), ErrorCode::Forbidden, "{refused:?}");
    assert!(
        refused
            .to_string()
            .contains("only from the gateway's broker user"),
        "{refused}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0, "the handler ran");

    // From the gateway's user: served.
    let served = from_gateway
        .call_json(&service, "whoami", &json!({}), for_player())
        .await
        .unwrap();
    assert_eq!(served, json!({"user_id": "ada"}));
    // Between services, from any user: served.
    let served = from_rooms
        .call_json(&service, "whoami", &json!({}), as_service())
        .await
        .unwrap();
    assert_eq!(served, json!({"user_id": null}));
    assert_eq!(runs.load(Ordering::SeqCst), 2);

    // Without the setting a service trusts its own user, as when one user runs everything.
    let default_service = unique("default-trust");
    let own = Bus::connect(&gateway.url(), "own").await.unwrap();
    let (router, default_runs) = counted(&default_service);
    let _own_serving = own.serve(router, ServeOptions::default()).await.unwrap();
    let served = from_gateway
        .call_json(&default_service, "whoami", &json!({}), for_player())
        .await
        .unwrap();
    assert_eq!(served, json!({"user_id": "ada"}));
    let refused = from_rooms
        .call_json(&default_service, "whoami", &json!({}), for_player())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), ErrorCode::Forbidden, "{refused:?}");
    assert_eq!(default_runs.load(Ordering::SeqCst), 1);

    // `rooms` claiming to be the gateway: the broker refuses the publish itself.
    let error = forge(&rooms.url(), &gateway.name, &format!("{service}.rpc")).await;
    assert!(
        error.contains("PRECONDITION_FAILED") && error.contains("user_id"),
        "{error}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2, "a forged request ran");

    for bus in [own, from_gateway, from_rooms, server] {
        bus.shutdown().await;
    }
}

/// Publishes a request for player `ada` to `queue` on a plain connection at `url`, claiming to be
/// broker user `claimed`; the error the broker answers with.
async fn forge(url: &str, claimed: &str, queue: &str) -> String {
    let connection = Connection::connect(url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let mut headers = FieldTable::default();
    headers.insert("x-user-id".into(), AMQPValue::LongString("ada".into()));
    let properties = BasicProperties::default()
        .with_user_id(claimed.into())
        .with_type("whoami".into())
        .with_headers(headers);
    let published = async {
        channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                b"{}",
                properties,
            )
            .await?
            .await
    };
    let outcome = tokio::time::timeout(Duration::from_secs(10), published)
        .await
        .expect("the broker answered the publish");
    let error = match outcome {
        Ok(confirmation) => panic!("the broker took a forged user_id: {confirmation:?}"),
        Err(error) => error.to_string(),
    };
    let _ = connection.close(200, "done".into()).await;
    error
}

/// Events, like requests and replies, say which broker user published them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_carry_their_publishers_broker_user() {
    let vhost = Vhost::create();
    let auth = BrokerUser::create(&vhost, "auth");
    let service = unique("announcer");
    let publisher = Bus::connect(&auth.url(), "publisher").await.unwrap();
    let listener = Connection::connect(&auth.url(), ConnectionProperties::default())
        .await
        .unwrap();
    let mut deliveries = subscribe(&listener, &service).await;
    let event = warren_bus::contracts::Event::new("thing.happened", Vec::new(), json!({}));
    publisher.publish(&service, &event).await.unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(10), deliveries.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let user = delivery.properties.user_id().as_ref().unwrap();
    assert_eq!(user.as_str(), auth.name);
    let body: Value = serde_json::from_slice(&delivery.data).unwrap();
    assert_eq!(body["type"], "thing.happened", "{body}");
    let _ = listener.close(200, "done".into()).await;
    publisher.shutdown().await;
}

/// A plain consumer of `service`'s events, as another language's client would have.
async fn subscribe(connection: &Connection, service: &str) -> Consumer {
    let channel = connection.create_channel().await.unwrap();
    let exchange = format!("{service}.events");
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            exchange.as_str().into(),
            ExchangeKind::Fanout,
            durable,
            FieldTable::default(),
        )
        .await
        .unwrap();
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..Default::default()
    };
    let queue = channel
        .queue_declare("".into(), exclusive, FieldTable::default())
        .await
        .unwrap();
    channel
        .queue_bind(
            queue.name().as_str().into(),
            exchange.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let no_ack = BasicConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    channel
        .basic_consume(
            queue.name().as_str().into(),
            "".into(),
            no_ack,
            FieldTable::default(),
        )
        .await
        .unwrap()
}
