//! The wire format as another language sees it, and the typed API over both transports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Vhost, unique};
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;
use warren_bus::contracts::{ErrorCode, Method, WireError};
use warren_bus::{Bus, CallError, CallOptions, Router, ServeOptions};

/// A client that knows nothing of Warren's crates: plain AMQP and JSON, as a pika script would do.
/// A call on a player's behalf says which broker user publishes it (`user_id`, which the broker
/// checks), and is served because the service trusts that user: here its own, the default. The
/// reply says who published it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_amqp_client_can_call_a_service() {
    let url = common::amqp_url();
    let service = unique("plain");
    let bus = Bus::connect(&url, "server").await.unwrap();
    let router = Router::new(&service).method_json("add", |ctx, p: Value| async move {
        let sum = p["a"].as_i64().unwrap_or(0) + p["b"].as_i64().unwrap_or(0);
        Ok(json!({ "sum": sum, "user_id": ctx.user_id }))
    });
    let _server = bus.serve(router, ServeOptions::default()).await.unwrap();

    let connection = Connection::connect(&url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let mut replies = channel
        .basic_consume(
            "amq.rabbitmq.reply-to".into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut headers = FieldTable::default();
    headers.insert("x-user-id".into(), AMQPValue::LongString("u-42".into()));
    let user: lapin::uri::AMQPUri = url.parse().unwrap();
    let user = user.authority.userinfo.username;
    let properties = BasicProperties::default()
        .with_user_id(user.as_str().into())
        .with_type("add".into())
        .with_correlation_id("corr-1".into())
        .with_reply_to("amq.rabbitmq.reply-to".into())
        .with_headers(headers);
    channel
        .basic_publish(
            "".into(),
            format!("{service}.rpc").as_str().into(),
            BasicPublishOptions::default(),
            br#"{"a": 2, "b": 3}"#,
            properties,
        )
        .await
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(10), replies.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        reply.properties.correlation_id().as_ref().unwrap().as_str(),
        "corr-1"
    );
    assert_eq!(
        reply.properties.user_id().as_ref().unwrap().as_str(),
        user,
        "the server's broker user"
    );
    let body: Value = serde_json::from_slice(&reply.data).unwrap();
    assert_eq!(body, json!({"ok": {"sum": 5, "user_id": "u-42"}}));
    let _ = connection.close(200, "done".into()).await;
    bus.shutdown().await;
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct GetScore {
    player: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Score {
    player: String,
    score: u32,
}

struct ScoreGet;

impl Method for ScoreGet {
    const SERVICE: &'static str = "scores";
    const NAME: &'static str = "scores.get";
    type Params = GetScore;
    type Result = Score;
}

fn scores() -> Router {
    Router::new("scores").method::<ScoreGet, _, _>(|_, params: GetScore| async move {
        if params.player.is_empty() {
            return Err(WireError::new(ErrorCode::NotFound, "no such player"));
        }
        Ok(Score {
            player: params.player,
            score: 7,
        })
    })
}

async fn typed_calls(bus: &Bus) {
    let _server = bus.serve(scores(), ServeOptions::default()).await.unwrap();
    let score = bus
        .call::<ScoreGet>(
            &GetScore {
                player: "ada".into(),
            },
            CallOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        score,
        Score {
            player: "ada".into(),
            score: 7
        }
    );
    let error = bus
        .call::<ScoreGet>(
            &GetScore {
                player: String::new(),
            },
            CallOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, CallError::Service(ref e) if e.code == ErrorCode::NotFound),
        "{error:?}"
    );
    // A caller with the wrong shape gets invalid_params, not a crash.
    let error = bus
        .call_json(
            "scores",
            "scores.get",
            &json!({"player": 5}),
            CallOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::InvalidParams, "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_methods_in_process() {
    let bus = Bus::in_process();
    typed_calls(&bus).await;
    bus.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_methods_over_rabbitmq() {
    // The method's service name is fixed, so the test takes a vhost of its own.
    let vhost = Vhost::create();
    let bus = Bus::connect(&vhost.url(), "typed").await.unwrap();
    typed_calls(&bus).await;
    bus.shutdown().await;
}

#[test]
#[should_panic(expected = "belongs to service scores")]
fn a_method_of_another_service_is_refused_at_start_up() {
    let _ = Router::new("rooms").method::<ScoreGet, _, _>(|_, p: GetScore| async move {
        Ok(Score {
            player: p.player,
            score: 0,
        })
    });
}
