//! RPC latency and throughput of the bus against a bare lapin direct reply-to echo, in one run
//! against the local broker.
//!
//! ```text
//! cargo bench -p warren-bus --bench rpc
//! WARREN_TEST_AMQP_URL=amqp://... BENCH_SEQUENTIAL=5000 BENCH_CONCURRENT=64 BENCH_TOTAL=50000 cargo bench ...
//! ```
//!
//! (a) sequential: one call at a time, p50/p99/p99.9 of the round trip;
//! (b) throughput: `BENCH_CONCURRENT` callers in flight until `BENCH_TOTAL` calls are answered.
//! The bare echo is what the bus must not fall far behind: the same broker, the same pattern
//! (default exchange, direct reply-to, correlation ids, manual ack after the reply), none of the
//! bus's guarantees (no confirms, no mandatory, no deadlines).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use warren_bus::{Bus, CallOptions, Router, ServeOptions};

const ROUNDS: usize = 5;

/// The two sides' call closures have different types; this lets one loop run both.
enum Caller<A, B> {
    Bare(A),
    Bus(B),
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Bare {
    channel: Channel,
    queue: String,
    pending: Arc<Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>>,
    next: AtomicU64,
}

impl Bare {
    async fn start(url: &str, queue: &str) -> (Bare, Connection, Connection) {
        let server = Connection::connect(url, ConnectionProperties::default())
            .await
            .unwrap();
        let channel = server.create_channel().await.unwrap();
        channel
            .basic_qos(64, BasicQosOptions::default())
            .await
            .unwrap();
        channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let mut requests = channel
            .basic_consume(
                queue.into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = requests.next().await {
                let channel = channel.clone();
                tokio::spawn(async move {
                    let props = &delivery.properties;
                    let reply_to = props.reply_to().clone().unwrap();
                    let reply = BasicProperties::default()
                        .with_correlation_id(props.correlation_id().clone().unwrap());
                    channel
                        .basic_publish(
                            "".into(),
                            reply_to,
                            BasicPublishOptions::default(),
                            &delivery.data,
                            reply,
                        )
                        .await
                        .unwrap();
                    delivery
                        .acker
                        .ack(BasicAckOptions::default())
                        .await
                        .unwrap();
                });
            }
        });

        let client = Connection::connect(url, ConnectionProperties::default())
            .await
            .unwrap();
        let channel = client.create_channel().await.unwrap();
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
        let pending: Arc<Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>> = Arc::default();
        let waiting = Arc::clone(&pending);
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = replies.next().await {
                let id = delivery.properties.correlation_id().clone().unwrap();
                if let Some(tx) = waiting.lock().unwrap().remove(id.as_str()) {
                    let _ = tx.send(delivery.data);
                }
            }
        });
        let bare = Bare {
            channel,
            queue: queue.to_owned(),
            pending,
            next: AtomicU64::new(0),
        };
        (bare, server, client)
    }

    async fn call(&self, body: &[u8]) -> Vec<u8> {
        let id = self.next.fetch_add(1, Ordering::Relaxed).to_string();
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id.clone(), tx);
        let props = BasicProperties::default()
            .with_correlation_id(id.into())
            .with_reply_to("amq.rabbitmq.reply-to".into());
        self.channel
            .basic_publish(
                "".into(),
                self.queue.as_str().into(),
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await
            .unwrap();
        rx.await.unwrap()
    }
}

/// Round-trip times of one call after another.
async fn sequential<F, Fut>(calls: usize, call: F) -> Vec<Duration>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        call().await;
        samples.push(started.elapsed());
    }
    samples
}

/// Time taken by `concurrency` callers to get `total` calls answered.
async fn throughput<F, Fut>(total: usize, concurrency: usize, call: F) -> Duration
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let left = Arc::new(AtomicU64::new(total as u64));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let left = Arc::clone(&left);
            let call = call.clone();
            tokio::spawn(async move {
                while left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
                {
                    call().await;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    started.elapsed()
}

/// Everything measured for one side, pooled over the rounds.
#[derive(Default)]
struct Side {
    samples: Vec<Duration>,
    calls: usize,
    busy: Duration,
}

impl Side {
    fn percentile(&mut self, q: f64) -> Duration {
        self.samples.sort_unstable();
        let index = ((self.samples.len() as f64 * q) as usize).min(self.samples.len() - 1);
        self.samples[index]
    }

    fn per_second(&self) -> f64 {
        self.calls as f64 / self.busy.as_secs_f64()
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects nothing here.
    let url = std::env::var("WARREN_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let calls = env("BENCH_SEQUENTIAL", 5000);
    let concurrency = env("BENCH_CONCURRENT", 64);
    let total = env("BENCH_TOTAL", 50_000);
    let tag = uuid::Uuid::new_v4().simple().to_string();

    let service = format!("bench-{}", &tag[..8]);
    let server = Bus::connect(&url, "bench-server")
        .await
        .expect("RabbitMQ must be running");
    let client = Bus::connect(&url, "bench-client").await.unwrap();
    let router = Router::new(&service).method_json("echo", |_, p: Value| async move { Ok(p) });
    let _handle = server.serve(router, ServeOptions::default()).await.unwrap();
    let payload = json!({"seq": 1, "text": "a small message, as a game's RPCs are"});
    let bare_queue = format!("bench-bare-{}", &tag[..8]);
    let (bare, bare_server, bare_client) = Bare::start(&url, &bare_queue).await;
    let bare = Arc::new(bare);
    let bare_body = serde_json::to_vec(&payload).unwrap();

    let bus_call = {
        let (client, service, payload) = (client.clone(), service.clone(), payload.clone());
        move || {
            let (client, service, payload) = (client.clone(), service.clone(), payload.clone());
            async move {
                client
                    .call_json(&service, "echo", &payload, CallOptions::default())
                    .await
                    .unwrap();
            }
        }
    };
    let bare_call = {
        let (bare, body) = (Arc::clone(&bare), bare_body.clone());
        move || {
            let (bare, body) = (Arc::clone(&bare), body.clone());
            async move {
                bare.call(&body).await;
            }
        }
    };

    println!(
        "warren-bus RPC benchmark: {calls} sequential calls, then {total} calls with {concurrency} \
         in flight, for each side, in {ROUNDS} alternating rounds"
    );
    // Warm both paths up, then alternate so that both see the same broker and machine state.
    sequential(calls / 10, bare_call.clone()).await;
    sequential(calls / 10, bus_call.clone()).await;
    let (mut bare_side, mut bus_side) = (Side::default(), Side::default());
    for _ in 0..ROUNDS {
        for (side, call) in [
            (&mut bare_side, Caller::Bare(bare_call.clone())),
            (&mut bus_side, Caller::Bus(bus_call.clone())),
        ] {
            let (samples, busy) = match call {
                Caller::Bare(call) => (
                    sequential(calls / ROUNDS, call.clone()).await,
                    throughput(total / ROUNDS, concurrency, call).await,
                ),
                Caller::Bus(call) => (
                    sequential(calls / ROUNDS, call.clone()).await,
                    throughput(total / ROUNDS, concurrency, call).await,
                ),
            };
            side.samples.extend(samples);
            side.calls += total / ROUNDS;
            side.busy += busy;
        }
    }

    println!();
    println!(
        "{:<22} {:>12} {:>12} {:>12} {:>14}",
        "", "p50", "p99", "p99.9", "calls/s"
    );
    for (name, side) in [
        ("bare lapin echo", &mut bare_side),
        ("warren-bus", &mut bus_side),
    ] {
        println!(
            "{name:<22} {:>12} {:>12} {:>12} {:>14.0}",
            ms(side.percentile(0.50)),
            ms(side.percentile(0.99)),
            ms(side.percentile(0.999)),
            side.per_second()
        );
    }
    let latency_ratio =
        bus_side.percentile(0.50).as_secs_f64() / bare_side.percentile(0.50).as_secs_f64();
    let throughput_ratio = bus_side.per_second() / bare_side.per_second();
    println!();
    println!("latency p50 ratio (bus / bare): {latency_ratio:.3}  (target <= 1.15)");
    println!("throughput ratio (bus / bare):  {throughput_ratio:.3}  (target >= 0.85)");

    let channel = bare_client.create_channel().await.unwrap();
    let _ = channel
        .queue_delete(bare_queue.as_str().into(), QueueDeleteOptions::default())
        .await;
    let _ = bare_client.close(200, "done".into()).await;
    let _ = bare_server.close(200, "done".into()).await;
    client.shutdown().await;
    server.shutdown().await;
}
