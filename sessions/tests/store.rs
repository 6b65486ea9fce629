//! The session store's compare-and-set, in memory and in Redis: a write against a stale version is
//! refused, so two instances never both apply a command to the same version.
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

#[tokio::test]
async fn memory_store_compare_and_set() {
    compare_and_set(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_compare_and_set() {
    let url =
        std::env::var("WARREN_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let client = redis::Client::open(url.as_str()).unwrap();
    let redis = redis::aio::ConnectionManager::new(client)
        .await
        .unwrap_or_else(|e| panic!("Redis must be running at {url}: {e}"));
    let prefix = format!("test-sessions-{}:", uuid::Uuid::new_v4().simple());
    compare_and_set(Arc::new(RedisStore::new(redis.clone(), prefix.clone()))).await;
    let mut conn = redis;
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
