//! The session store's contract, run against both implementations: one owner at a time, claims
//! that respect a live owner and take over a dead one, commits fenced by the owner, request ids
//! kept, running sessions counted; and, in Redis, events numbered in the commit's own step.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use std::sync::Arc;
use warren_bus::journal::{JournalStore, ResumeConfig, Resumed};
use warren_contracts::Event;
use warren_contracts::sessions::{Session, Status};
use warren_runtime::journal::RedisJournal;
use warren_sessions::store::{Change, Claim, Committed, SessionRecord};
use warren_sessions::{MemoryStore, RedisStore, SessionStore};
use warren_testkit::TestRedis;

fn record(id: &str) -> SessionRecord {
    SessionRecord {
        session: Session {
            session_id: id.into(),
            game: "relay".into(),
            players: vec!["a".into(), "b".into()],
            state: json!({"n": 0}),
            version: 0,
            status: Status::Running,
            winner: None,
        },
        left: Vec::new(),
    }
}

fn change<'a>(record: &'a SessionRecord, request_id: Option<&'a str>) -> Change<'a> {
    Change {
        record,
        request_id,
        events: &[],
    }
}

async fn owned(store: &dyn SessionStore, id: &str, me: &str) -> SessionRecord {
    match store.claim(id, me, None).await.unwrap() {
        Claim::Owned(owned) => owned.record,
        other => panic!("{me} could not claim {id}: {other:?}"),
    }
}

/// One owner at a time: the creator owns; a live owner keeps it; a dead or released one does not.
async fn ownership(store: Arc<dyn SessionStore>) {
    let id = uuid::Uuid::new_v4().to_string();
    store.heartbeat("one", 60_000).await.unwrap();
    store.heartbeat("two", 60_000).await.unwrap();
    store.create(&record(&id), "one").await.unwrap();
    assert!(matches!(
        store.create(&record(&id), "two").await,
        Err(warren_sessions::StoreError::AlreadyExists)
    ));
    assert_eq!(
        store.claim(&id, "two", None).await.unwrap(),
        Claim::OwnedBy("one".into())
    );
    assert_eq!(owned(store.as_ref(), &id, "one").await, record(&id));
    // The broker's word that "one" is gone is enough to take it over.
    let taken = store.claim(&id, "two", Some("one")).await.unwrap();
    assert!(matches!(taken, Claim::Owned(_)), "{taken:?}");
    owned(store.as_ref(), &id, "two").await;
    assert_eq!(
        store.claim(&id, "one", None).await.unwrap(),
        Claim::OwnedBy("two".into())
    );
    // Released, it is anyone's.
    store
        .release(std::slice::from_ref(&id), "one")
        .await
        .unwrap();
    assert_eq!(
        store.claim(&id, "one", None).await.unwrap(),
        Claim::OwnedBy("two".into()),
        "only the owner can release"
    );
    store
        .release(std::slice::from_ref(&id), "two")
        .await
        .unwrap();
    owned(store.as_ref(), &id, "one").await;
    // An owner whose heartbeat ran out is taken over.
    store.heartbeat("one", 1).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    owned(store.as_ref(), &id, "two").await;
    assert_eq!(
        store
            .claim(&uuid::Uuid::new_v4().to_string(), "one", None)
            .await
            .unwrap(),
        Claim::Missing
    );
}

/// Only the owner's commits are written, with the command's request id.
async fn fenced_commits(store: Arc<dyn SessionStore>) {
    let id = uuid::Uuid::new_v4().to_string();
    store.heartbeat("one", 60_000).await.unwrap();
    store.heartbeat("two", 60_000).await.unwrap();
    store.create(&record(&id), "one").await.unwrap();
    let mut next = record(&id);
    next.session.version = 1;
    next.session.state = json!({"n": 1});
    assert!(matches!(
        store
            .commit(change(&next, Some("r1")), "one")
            .await
            .unwrap(),
        Committed::Done(_)
    ));
    assert_eq!(store.get(&id).await.unwrap(), Some(next.clone()));
    // "two" takes it over, thinking "one" dead; "one"'s next commit changes nothing.
    let Claim::Owned(taken) = store.claim(&id, "two", Some("one")).await.unwrap() else {
        panic!("not taken over");
    };
    assert_eq!(taken.record, next);
    assert_eq!(taken.applied, vec!["r1".to_owned()]);
    assert_eq!(taken.previous_owner.as_deref(), Some("one"));
    let mut stale = next.clone();
    stale.session.version = 2;
    stale.session.state = json!({"n": "stale"});
    assert_eq!(
        store
            .commit(change(&stale, Some("r2")), "one")
            .await
            .unwrap(),
        Committed::Lost
    );
    assert_eq!(store.get(&id).await.unwrap(), Some(next));
    assert_eq!(
        store
            .commit(change(&record("nowhere"), None), "one")
            .await
            .unwrap(),
        Committed::Lost
    );
    // Request ids are kept, newest last, up to a bound.
    for n in 0..100 {
        let request = format!("q{n}");
        store
            .commit(change(&stale, Some(&request)), "two")
            .await
            .unwrap();
    }
    let Claim::Owned(again) = store.claim(&id, "two", None).await.unwrap() else {
        panic!("not owned");
    };
    assert_eq!(again.applied.len(), warren_sessions::store::APPLIED_KEPT);
    assert_eq!(again.applied.last().map(String::as_str), Some("q99"));
}

async fn counts_running(store: Arc<dyn SessionStore>) {
    let (a, b) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let before = store.count_running().await.unwrap();
    store.create(&record(&a), "one").await.unwrap();
    store.create(&record(&b), "one").await.unwrap();
    assert_eq!(store.count_running().await.unwrap(), before + 2);
    let mut over = record(&a);
    over.session.version = 1;
    over.session.status = Status::Finished;
    store.commit(change(&over, None), "one").await.unwrap();
    assert_eq!(store.count_running().await.unwrap(), before + 1);
}

#[tokio::test]
async fn memory_store_has_one_owner_at_a_time() {
    ownership(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn memory_store_fences_commits() {
    fenced_commits(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn memory_store_counts_running_sessions() {
    counts_running(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_has_one_owner_at_a_time() {
    let test = TestRedis::new("sessions").await;
    let (redis, prefix) = (test.conn.clone(), test.prefix.clone());
    ownership(Arc::new(RedisStore::new(redis.clone(), prefix.clone()))).await;
    test.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_fences_commits() {
    let test = TestRedis::new("sessions").await;
    let (redis, prefix) = (test.conn.clone(), test.prefix.clone());
    fenced_commits(Arc::new(RedisStore::new(redis.clone(), prefix.clone()))).await;
    test.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_counts_running_sessions() {
    let test = TestRedis::new("sessions").await;
    let (redis, prefix) = (test.conn.clone(), test.prefix.clone());
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
    test.clean().await;
}

/// A commit numbers its events in the journal in the same step, as the journal itself would; a
/// fenced commit numbers nothing; and a new owner gets the last change's events to publish again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_numbers_events_in_the_commit() {
    let test = TestRedis::new("sessions").await;
    let (redis, prefix) = (test.conn.clone(), test.prefix.clone());
    let journal_prefix = format!("{prefix}journal:");
    let journal = || RedisJournal::new(redis.clone(), &journal_prefix, ResumeConfig::default());
    let store =
        RedisStore::new(redis.clone(), format!("{prefix}sessions:")).numbering_in(journal());
    let id = uuid::Uuid::new_v4().to_string();
    store.heartbeat("one", 60_000).await.unwrap();
    store.create(&record(&id), "one").await.unwrap();
    let mut next = record(&id);
    next.session.version = 1;
    let events = vec![
        Event::new(
            "session.state",
            vec!["a".into(), "b".into()],
            json!({"v": 1}),
        ),
        Event::new("session.player_left", vec!["b".into()], json!({"v": 2})),
    ];
    let committed = store
        .commit(
            Change {
                record: &next,
                request_id: Some("r1"),
                events: &events,
            },
            "one",
        )
        .await
        .unwrap();
    let Committed::Done(Some(numbers)) = committed else {
        panic!("not numbered: {committed:?}");
    };
    assert_eq!(numbers[0].get("a"), Some(&1));
    assert_eq!(numbers[0].get("b"), Some(&1));
    assert_eq!(numbers[1].get("b"), Some(&2));
    let now = warren_contracts::event::now_millis();
    let Resumed::Events(kept) = journal().after("b", 0, now).await.unwrap() else {
        panic!("a gap");
    };
    let kinds: Vec<&str> = kept.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["session.state", "session.player_left"]);
    assert_eq!(kept[1].data, json!({"v": 2}));
    // The same events published again by id keep their numbers.
    assert_eq!(journal().append(&events, now).await.unwrap(), numbers);
    // Taken over: the new owner gets the events to publish again; the old one numbers nothing.
    let Claim::Owned(taken) = store.claim(&id, "two", Some("one")).await.unwrap() else {
        panic!("not taken over");
    };
    assert_eq!(taken.last_events, events);
    let late = [Event::new("session.state", vec!["a".into()], json!({}))];
    let fenced = Change {
        record: &next,
        request_id: None,
        events: &late,
    };
    assert_eq!(store.commit(fenced, "one").await.unwrap(), Committed::Lost);
    assert_eq!(journal().head("a").await.unwrap(), 1);
    test.clean().await;
}
