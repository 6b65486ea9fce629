//! What the event journal costs: numbering one event as it is published (what `Bus::publish`
//! adds for an event with recipients: in Redis, one script per recipient, sent at once), and
//! reading a user's kept events for `events.resume`; in Redis and in memory.
//!
//! ```text
//! cargo bench -p warren-runtime --bench journal        # Redis at WARREN_TEST_REDIS_URL or 127.0.0.1:6379
//! ```
//!
//! `WARREN_TEST_REDIS_URL` may name a Redis Cluster's seeds (comma-separated).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::sync::Arc;
use warren_bus::journal::{JournalStore, MemoryJournal, ResumeConfig};
use warren_contracts::Event;
use warren_contracts::event::now_millis;
use warren_runtime::Redis;
use warren_runtime::journal::RedisJournal;

fn redis_url() -> String {
    std::env::var("WARREN_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A `session.state` for two players, the most frequent event.
fn event() -> Event {
    Event::new(
        "session.state",
        vec!["player-a".into(), "player-b".into()],
        json!({"session_id": "s", "state": {"from": "player-a", "command": {"say": "hello"}}, "version": 7}),
    )
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let prefix = format!("bench-journal-{}:", uuid::Uuid::new_v4().simple());
    let redis = runtime.block_on(async {
        warren_runtime::redis_client::open(&redis_url())
            .await
            .expect("Redis must be running")
    });
    let stores: [(&str, Arc<dyn JournalStore>); 2] = [
        (
            "redis",
            Arc::new(RedisJournal::new(
                redis.clone(),
                prefix.clone(),
                ResumeConfig::default(),
            )),
        ),
        (
            "memory",
            Arc::new(MemoryJournal::new(ResumeConfig::default())),
        ),
    ];
    let mut group = c.benchmark_group("journal");
    for (name, store) in &stores {
        group.bench_function(format!("append one event for two users ({name})"), |b| {
            b.iter(|| {
                runtime
                    .block_on(store.append(&[event()], now_millis()))
                    .unwrap()
            });
        });
        // The user now has at least 1000 kept events; a client that missed the last 100.
        let head = runtime
            .block_on(store.append(&[event()], now_millis()))
            .unwrap()[0]["player-a"];
        group.bench_function(format!("resume 100 missed events ({name})"), |b| {
            b.iter(|| {
                runtime
                    .block_on(store.after("player-a", head - 100, now_millis()))
                    .unwrap()
            });
        });
    }
    group.finish();
    runtime.block_on(delete_under(&redis, &prefix));
}

/// Deletes the keys under `prefix`: on a cluster, found on each master (a `KEYS` sees one node)
/// and deleted one a command (keys of different slots).
async fn delete_under(redis: &Redis, prefix: &str) {
    let pattern = format!("{prefix}*");
    let mut keys: Vec<String> = Vec::new();
    match redis {
        Redis::Single(single) => {
            keys = redis::cmd("KEYS")
                .arg(&pattern)
                .query_async(&mut single.clone())
                .await
                .unwrap();
        }
        Redis::Cluster(_) => {
            let nodes: String = redis::cmd("CLUSTER")
                .arg("NODES")
                .query_async(&mut redis.clone())
                .await
                .unwrap();
            for line in nodes.lines() {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let (Some(address), Some(flags)) = (fields.get(1), fields.get(2)) else {
                    continue;
                };
                if !flags.split(',').any(|f| f == "master") || flags.contains("fail") {
                    continue;
                }
                let address = address.split('@').next().unwrap_or_default();
                let client = redis::Client::open(format!("redis://{address}")).unwrap();
                let mut node = client.get_multiplexed_async_connection().await.unwrap();
                let found: Vec<String> = redis::cmd("KEYS")
                    .arg(&pattern)
                    .query_async(&mut node)
                    .await
                    .unwrap();
                keys.extend(found);
            }
        }
    }
    let per_command = if redis.is_cluster() { 1 } else { 1000 };
    for chunk in keys.chunks(per_command) {
        let _: () = redis::cmd("DEL")
            .arg(chunk)
            .query_async(&mut redis.clone())
            .await
            .unwrap();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
