//! The session store's compare-and-set, in memory and in Redis: a write against a stale version is
//! refused, so two instances never both apply a command to the same version. And its count of
//! running sessions, which the `warren_sessions_running` gauge reports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use std::sync::Arc;
use warren_contracts::sessions::{Session, Status};
use warren_sessions::store::SessionRecord;
use warren_sessions::{MemoryStore, RedisStore, SessionStore, StoreError};

fn record(id: &str) -> SessionRecord {
    SessionRecord {
        session: Session {
            session_id: id.into(),
            game: "relay".into(),
            players: vec!["a".into(), "b".into()],
            state: json!({"from": null}),
            version: 0,
            status: Status::Running,
            winner: None,
        },
        left: Vec::new(),
        outbox: Vec::new(),
        changed_at: 0,
        applied: Vec::new(),
    }
}

async fn compare_and_set(store: Arc<dyn SessionStore>) {
    let id = uuid::Uuid::new_v4().to_string();
    assert!(store.get(&id).await.unwrap().is_none());
    store.create(&record(&id)).await.unwrap();
    assert!(matches!(
        store.create(&record(&id)).await,
        Err(StoreError::AlreadyExists)
    ));
    let mut next = store.get(&id).await.unwrap().unwrap();
    next.session.version = 1;
    next.session.state = json!({"from": "a"});
    assert!(
        store.replace(&next, 0).await.unwrap(),
        "the first writer wins"
    );
    let mut stale = record(&id);
    stale.session.version = 1;
    stale.session.state = json!({"from": "b"});
    assert!(
        !store.replace(&stale, 0).await.unwrap(),
        "a write against version 0 went through"
    );
    assert_eq!(store.get(&id).await.unwrap().unwrap(), next);
    // Many writers racing for the same version: exactly one wins.
    let current = store.get(&id).await.unwrap().unwrap();
    let writers = (0..16).map(|i| {
        let store = Arc::clone(&store);
        let mut attempt = current.clone();
        attempt.session.version = 2;
        attempt.session.state = json!({"from": format!("w{i}")});
        tokio::spawn(async move { store.replace(&attempt, 1).await.unwrap() })
    });
    let mut wins = 0;
    for writer in writers {
        if writer.await.unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    let missing = record("no-such-session");
    assert!(
        !store.replace(&missing, 0).await.unwrap(),
        "a replace created a session"
    );
}

/// Sessions count as running from their creation until a change finishes them.
async fn counts_running(store: Arc<dyn SessionStore>) {
    assert_eq!(store.count_running().await.unwrap(), 0);
    let (a, b) = (record("a"), record("b"));
    store.create(&a).await.unwrap();
    store.create(&b).await.unwrap();
    let mut finished = record("c");
    finished.session.status = Status::Finished;
    store.create(&finished).await.unwrap();
    assert_eq!(store.count_running().await.unwrap(), 2);
    let mut moved = a.clone();
    moved.session.version = 1;
    assert!(store.replace(&moved, 0).await.unwrap());
    assert_eq!(store.count_running().await.unwrap(), 2, "a move is no end");
    let mut over = moved.clone();
    over.session.version = 2;
    over.session.status = Status::Finished;
    let mut stale = over.clone();
    stale.session.session_id = "b".into();
    assert!(!store.replace(&stale, 7).await.unwrap());
    assert_eq!(
        store.count_running().await.unwrap(),
        2,
        "a refused write changed the count"
    );
    assert!(store.replace(&over, 1).await.unwrap());
    assert_eq!(store.count_running().await.unwrap(), 1);
}

#[tokio::test]
async fn memory_store_compare_and_set() {
    compare_and_set(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn memory_store_counts_running_sessions() {
    counts_running(Arc::new(MemoryStore::new())).await;
}

async fn redis() -> redis::aio::ConnectionManager {
    let url =
        std::env::var("WARREN_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let client = redis::Client::open(url.as_str()).unwrap();
    redis::aio::ConnectionManager::new(client)
        .await
        .unwrap_or_else(|e| panic!("Redis must be running at {url}: {e}"))
}

async fn delete_keys(mut conn: redis::aio::ConnectionManager, prefix: &str) {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_counts_running_sessions() {
    let redis = redis().await;
    let prefix = format!("test-sessions-{}:", uuid::Uuid::new_v4().simple());
    let store = Arc::new(RedisStore::new(redis.clone(), prefix.clone()));
    counts_running(store.clone()).await;
    // A session last changed more than a day ago has expired with its key: not counted.
    let mut conn = redis.clone();
    let _: () = redis::cmd("ZADD")
        .arg(format!("{prefix}running"))
        .arg(1)
        .arg("expired")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(store.count_running().await.unwrap(), 1);
    delete_keys(redis, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_compare_and_set() {
    let redis = redis().await;
    let prefix = format!("test-sessions-{}:", uuid::Uuid::new_v4().simple());
    compare_and_set(Arc::new(RedisStore::new(redis.clone(), prefix.clone()))).await;
    delete_keys(redis, &prefix).await;
}
