//! Events an instance stored with a change but died before publishing are published by the sweep.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, SubscribeOptions};
use warren_contracts::Event;
use warren_contracts::event::now_millis;
use warren_contracts::sessions::{STATE, Session, Status};
use warren_sessions::store::SessionRecord;
use warren_sessions::{Games, MemoryStore, SessionStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_outbox_is_published_by_the_sweep() {
    let bus = Bus::in_process();
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    let mut heard = bus
        .subscribe(SubscribeOptions::anonymous(["sessions"]))
        .await
        .unwrap();
    let left_behind = Event::new(STATE, vec!["a".into()], json!({"version": 1}));
    let record = SessionRecord {
        session: Session {
            session_id: "s1".into(),
            game: "relay".into(),
            players: vec!["a".into()],
            state: json!({}),
            version: 1,
            status: Status::Running,
            winner: None,
        },
        left: Vec::new(),
        outbox: vec![left_behind.clone()],
        applied: Vec::new(),
        // Written a while ago by an instance that is gone.
        changed_at: now_millis() - 10_000,
    };
    store.create(&record).await.unwrap();
    store.watch_outbox("s1", 0).await.unwrap();
    let shutdown = CancellationToken::new();
    let sweeper = warren_sessions::serve_presence(
        &bus,
        Arc::clone(&store),
        Games::builtin(),
        Duration::from_secs(30),
        shutdown.clone(),
    )
    .await
    .unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(10), heard.next())
        .await
        .expect("the abandoned event was not published")
        .unwrap();
    assert_eq!(delivery.event.id, left_behind.id);
    // Cleared right after publishing.
    let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
    let stored = loop {
        let stored = store.get("s1").await.unwrap().unwrap();
        if stored.outbox.is_empty() {
            break stored;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "the outbox was not cleared"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(stored.version(), 1, "publishing changed the session");
    shutdown.cancel();
    sweeper.await.unwrap();
    bus.shutdown().await;
}
