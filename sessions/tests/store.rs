//! The session store's contract, run against both implementations: one owner at a time, claims
//! that respect a live owner and take over a dead one, commits fenced by the owner, request ids
//! kept, running sessions counted; and, in Redis, events numbered once the commit is written,
//! each once per recipient also when a new owner publishes them again, and stale entries of the
//! running index dropped when counted.
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
use warren_testkit::redis::with_redis;

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
    with_redis("sessions", |test| async move {
        ownership(Arc::new(RedisStore::new(test.conn, test.prefix))).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_fences_commits() {
    with_redis("sessions", |test| async move {
        fenced_commits(Arc::new(RedisStore::new(test.conn, test.prefix))).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_counts_running_sessions() {
    with_redis("sessions", |test| async move {
        let (redis, prefix) = (test.conn.clone(), test.prefix.clone());
        let store = Arc::new(RedisStore::new(redis.clone(), prefix.clone()));
        counts_running(store.clone()).await;
        // A session last changed more than a day ago has expired with its key: not counted.
        zadd(&test, 1, "expired").await;
        assert_eq!(store.count_running().await.unwrap(), 1);
    })
    .await;
}

/// Puts `session_id` in the running index with `score`, as a write that crashed half-way would
/// leave it.
async fn zadd(test: &TestRedis, score: u64, session_id: &str) {
    let _: () = redis::cmd("ZADD")
        .arg(format!("{}running", test.prefix))
        .arg(score)
        .arg(session_id)
        .query_async(&mut test.conn.clone())
        .await
        .unwrap();
}

/// The running index holds every running session, and may hold more after a crash between a
/// session's write and the index's: a count drops entries whose session finished or does not
/// exist, but not a new one whose session may be being created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_counts_past_stale_index_entries() {
    with_redis("sessions", |test| async move {
        let store = RedisStore::new(test.conn.clone(), test.prefix.clone());
        let (running, finished) = (
            uuid::Uuid::new_v4().to_string(),
            uuid::Uuid::new_v4().to_string(),
        );
        store.create(&record(&running), "one").await.unwrap();
        store.create(&record(&finished), "one").await.unwrap();
        let mut over = record(&finished);
        over.session.version = 1;
        over.session.status = Status::Finished;
        store.commit(change(&over, None), "one").await.unwrap();
        assert_eq!(store.count_running().await.unwrap(), 1);
        let minutes_ago = warren_contracts::event::now_millis() - 5 * 60_000;
        // Finished, but its removal from the index never happened; and a create that failed.
        zadd(&test, minutes_ago, &finished).await;
        zadd(&test, minutes_ago, "never-created").await;
        // An old running session is kept, whatever its score.
        zadd(&test, minutes_ago, &running).await;
        // Just added: its session may be on its way.
        zadd(
            &test,
            warren_contracts::event::now_millis(),
            "being-created",
        )
        .await;
        assert_eq!(store.count_running().await.unwrap(), 2);
        let mut conn = test.conn.clone();
        let left: Vec<String> = redis::cmd("ZRANGE")
            .arg(format!("{}running", test.prefix))
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(left.len(), 2);
        assert!(left.contains(&running) && left.contains(&"being-created".to_owned()));
    })
    .await;
}

/// A commit moves its session's score in the running index forward only when it is an hour old,
/// so commands do not all write to that one key; a lost commit writes nothing there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_refreshes_the_running_index_hourly() {
    with_redis("sessions", |test| async move {
        let store = RedisStore::new(test.conn.clone(), test.prefix.clone());
        let id = uuid::Uuid::new_v4().to_string();
        store.create(&record(&id), "one").await.unwrap();
        let score = || {
            let mut conn = test.conn.clone();
            let key = format!("{}running", test.prefix);
            let id = id.clone();
            async move {
                redis::cmd("ZSCORE")
                    .arg(key)
                    .arg(id)
                    .query_async::<Option<u64>>(&mut conn)
                    .await
                    .unwrap()
            }
        };
        let created = score().await.expect("indexed when created");
        let mut next = record(&id);
        next.session.version = 1;
        store.commit(change(&next, None), "one").await.unwrap();
        assert_eq!(score().await, Some(created), "refreshed within the hour");
        // Indexed three hours ago (as the session's `indexed` says): the next commit refreshes.
        let hours_ago = warren_contracts::event::now_millis() - 3 * 3_600_000;
        zadd(&test, hours_ago, &id).await;
        let _: () = redis::cmd("HSET")
            .arg(format!("{}session:{{session:{id}}}", test.prefix))
            .arg("indexed")
            .arg(hours_ago)
            .query_async(&mut test.conn.clone())
            .await
            .unwrap();
        assert_eq!(
            store.commit(change(&next, None), "two").await.unwrap(),
            Committed::Lost
        );
        assert_eq!(
            score().await,
            Some(hours_ago),
            "a lost commit indexes nothing"
        );
        store.commit(change(&next, None), "one").await.unwrap();
        assert!(score().await.is_some_and(|s| s >= created), "refreshed");
        assert_eq!(store.count_running().await.unwrap(), 1);
    })
    .await;
}

/// Sessions given up in one call are each given up, wherever their keys are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_releases_several_sessions() {
    with_redis("sessions", |test| async move {
        let store = RedisStore::new(test.conn.clone(), test.prefix.clone());
        store.heartbeat("one", 60_000).await.unwrap();
        let ids: Vec<String> = (0..5).map(|_| uuid::Uuid::new_v4().to_string()).collect();
        for id in &ids {
            store.create(&record(id), "one").await.unwrap();
        }
        store.release(&ids, "two").await.unwrap();
        for id in &ids {
            assert_eq!(
                store.claim(id, "two", None).await.unwrap(),
                Claim::OwnedBy("one".into())
            );
        }
        store.release(&ids, "one").await.unwrap();
        for id in &ids {
            owned(&store, id, "two").await;
        }
    })
    .await;
}

fn two_events() -> Vec<Event> {
    vec![
        Event::new(
            "session.state",
            vec!["a".into(), "b".into()],
            json!({"v": 1}),
        ),
        Event::new("session.player_left", vec!["b".into()], json!({"v": 2})),
    ]
}

/// A commit numbers its events in the journal once it is written, as the journal itself would; a
/// fenced commit numbers nothing; and a new owner gets the last change's events to publish again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_numbers_events_in_the_commit() {
    with_redis("sessions", |test| async move {
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
        let events = two_events();
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
        assert_eq!(numbers[1].len(), 1);
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
    })
    .await;
}

/// An owner that dies after writing a change and before (or while) numbering its events: the
/// next owner publishes the outbox again, one event at a time as the bus does, and each recipient
/// gets each event once, those numbered before keeping their numbers; a retried command is found
/// among the applied ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_outbox_published_again_is_numbered_once() {
    with_redis("sessions", |test| async move {
        let (redis, prefix) = (test.conn.clone(), test.prefix.clone());
        let journal = RedisJournal::new(
            redis.clone(),
            format!("{prefix}journal:"),
            ResumeConfig::default(),
        );
        // The dying owner's store: its numbering never happens.
        let store = RedisStore::new(redis.clone(), format!("{prefix}sessions:"));
        let id = uuid::Uuid::new_v4().to_string();
        store.create(&record(&id), "one").await.unwrap();
        let mut next = record(&id);
        next.session.version = 1;
        let events = two_events();
        let change = Change {
            record: &next,
            request_id: Some("r1"),
            events: &events,
        };
        assert_eq!(
            store.commit(change, "one").await.unwrap(),
            Committed::Done(None)
        );
        // It had numbered the first event for "a" only when it died.
        let now = warren_contracts::event::now_millis();
        let mut half = events[0].clone();
        half.recipients = vec!["a".into()];
        let before = journal.append(&[half], now).await.unwrap();
        assert_eq!(before[0].get("a"), Some(&1));
        let Claim::Owned(taken) = store.claim(&id, "two", Some("one")).await.unwrap() else {
            panic!("not taken over");
        };
        assert_eq!(taken.applied, ["r1"]);
        assert_eq!(taken.last_events, events);
        for _ in 0..2 {
            let mut numbers = Vec::new();
            for event in &taken.last_events {
                numbers.extend(
                    journal
                        .append(std::slice::from_ref(event), now)
                        .await
                        .unwrap(),
                );
            }
            assert_eq!(numbers[0].get("a"), Some(&1));
            assert_eq!(numbers[0].get("b"), Some(&1));
            assert_eq!(numbers[1].get("b"), Some(&2));
        }
        assert_eq!(journal.head("a").await.unwrap(), 1);
        assert_eq!(journal.head("b").await.unwrap(), 2);
        let Resumed::Events(kept) = journal.after("b", 0, now).await.unwrap() else {
            panic!("a gap");
        };
        assert_eq!(kept.len(), 2);
    })
    .await;
}

/// The journal's batch: each recipient's events numbered in batch order, the answer by event and
/// recipient; a batch appended again after some recipients got it (a timeout, a crash) numbers
/// each event once for each; and every key of a user's journal carries the user's hash tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_journal_numbers_a_retried_batch_once_per_recipient() {
    with_redis("journal", |test| async move {
        let journal = RedisJournal::new(
            test.conn.clone(),
            format!("{}journal:", test.prefix),
            ResumeConfig::default(),
        );
        let now = warren_contracts::event::now_millis();
        let to = |users: &[&str], n: u64| {
            Event::new(
                "x",
                users.iter().map(|u| (*u).to_owned()).collect(),
                json!(n),
            )
        };
        let first = journal.append(&[to(&["c"], 0)], now).await.unwrap();
        assert_eq!(first[0].get("c"), Some(&1));
        let batch = vec![
            to(&["a", "b"], 1),
            to(&["b", "c", "b"], 2),
            to(&[], 3),
            to(&["a"], 4),
        ];
        // "b" got the first two events before the batch failed.
        let mut partial = batch[..2].to_vec();
        for event in &mut partial {
            event.recipients = vec!["b".into()];
        }
        let partial = journal.append(&partial, now).await.unwrap();
        assert_eq!(partial[0].get("b"), Some(&1));
        assert_eq!(partial[1].get("b"), Some(&2));
        let numbers = journal.append(&batch, now).await.unwrap();
        let expected = |pairs: &[(&str, u64)]| {
            pairs
                .iter()
                .map(|(u, n)| ((*u).to_owned(), *n))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        assert_eq!(
            numbers,
            vec![
                expected(&[("a", 1), ("b", 1)]),
                expected(&[("b", 2), ("c", 2)]),
                expected(&[]),
                expected(&[("a", 2)]),
            ]
        );
        assert_eq!(journal.append(&batch, now).await.unwrap(), numbers);
        for (user, head, data) in [
            ("a", 2, vec![1, 4]),
            ("b", 2, vec![1, 2]),
            ("c", 2, vec![0, 2]),
        ] {
            assert_eq!(journal.head(user).await.unwrap(), head);
            let Resumed::Events(kept) = journal.after(user, 0, now).await.unwrap() else {
                panic!("a gap for {user}");
            };
            let seen: Vec<serde_json::Value> = kept.into_iter().map(|e| e.data).collect();
            let data: Vec<serde_json::Value> = data.into_iter().map(|n| json!(n)).collect();
            assert_eq!(seen, data, "{user}");
        }
        for key in test.keys().await {
            let user = ["a", "b", "c"]
                .into_iter()
                .find(|u| key.contains(&format!("{{user:{u}}}")));
            assert!(user.is_some(), "{key} has no user's tag");
        }
    })
    .await;
}
