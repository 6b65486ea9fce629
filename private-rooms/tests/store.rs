//! The private room store in memory and in Redis: the same scenarios over both. A write against a
//! stale version is refused, a code in use is refused, each due room is taken by one sweeper only,
//! and wrong codes are counted per user per window.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, test_store};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use warren_contracts::event::now_millis;
use warren_contracts::private_rooms::PrivateRoom;
use warren_contracts::rooms::RoomPlayer;
use warren_private_rooms::store::START_ABANDONED_MS;
use warren_private_rooms::{PrivateRoomStore, RoomRecord, Start, StoreError, code};

type Store = Arc<dyn PrivateRoomStore>;

fn record(expires_at: u64) -> RoomRecord {
    RoomRecord {
        room: PrivateRoom {
            room_id: uuid::Uuid::new_v4().to_string(),
            mode: "relay".into(),
            max_players: 2,
            owner: "a".into(),
            players: vec![RoomPlayer {
                user_id: "a".into(),
                ready: true,
            }],
            free_seats: 1,
            code: code::generate(),
            version: 0,
            created_at: now_millis(),
            expires_at,
        },
        starting_at: 0,
        invites: 0,
        joining: Vec::new(),
        start: None,
    }
}

fn later() -> u64 {
    now_millis() + 600_000
}

async fn compare_and_set(store: Store) {
    let first = record(later());
    assert!(store.get(first.id()).await.unwrap().is_none());
    store.create(&first).await.unwrap();
    let mut same_id = first.clone();
    same_id.room.code = code::generate();
    assert!(matches!(
        store.create(&same_id).await,
        Err(StoreError::AlreadyExists)
    ));
    // Many writers racing for the last seat of version 0: exactly one wins.
    let writers = (0..16).map(|i| {
        let store = Arc::clone(&store);
        let mut attempt = first.clone();
        attempt.room.players.push(RoomPlayer {
            user_id: format!("w{i}"),
            ready: true,
        });
        attempt.room.version = 1;
        tokio::spawn(async move { store.replace(&attempt, 0).await.unwrap() })
    });
    let mut wins = 0;
    for writer in writers {
        wins += usize::from(writer.await.unwrap());
    }
    assert_eq!(wins, 1);
    let stored = store.get(first.id()).await.unwrap().unwrap();
    assert_eq!(stored.room.players.len(), 2);
    assert_eq!(stored.version(), 1);
    assert!(
        !store.delete(&stored, 0).await.unwrap(),
        "a stale delete went through"
    );
    assert!(store.delete(&stored, 1).await.unwrap());
    assert!(store.get(first.id()).await.unwrap().is_none());
    assert!(
        store.find_code(&stored.code_key()).await.unwrap().is_none(),
        "the code outlived its room"
    );
    assert!(
        !store.replace(&stored, 1).await.unwrap(),
        "a replace brought a deleted room back"
    );
    assert!(!store.delete(&stored, 1).await.unwrap());
}

async fn codes_are_unique(store: Store) {
    let first = record(later());
    store.create(&first).await.unwrap();
    let symbols = code::normalise(&first.room.code).unwrap();
    assert_eq!(
        store.find_code(&symbols).await.unwrap().as_deref(),
        Some(first.id())
    );
    assert!(store.find_code("AAAAAAAAAA").await.unwrap().is_none());
    let mut second = record(later());
    second.room.code = first.room.code.clone();
    assert!(matches!(
        store.create(&second).await,
        Err(StoreError::CodeTaken)
    ));
    assert!(
        store.get(second.id()).await.unwrap().is_none(),
        "a refused room was stored"
    );
    // A change to the room keeps its code.
    let mut changed = first.clone();
    changed.room.version = 1;
    assert!(store.replace(&changed, 0).await.unwrap());
    assert_eq!(
        store.find_code(&symbols).await.unwrap().as_deref(),
        Some(first.id())
    );
    // Once the room is gone, its code is free again.
    assert!(store.delete(&changed, 1).await.unwrap());
    store.create(&second).await.unwrap();
    assert_eq!(
        store.find_code(&symbols).await.unwrap().as_deref(),
        Some(second.id())
    );
}

async fn expiry_takes_each_due_room_once(store: Store) {
    let now = now_millis();
    let (early, due, later, gone) = (
        record(now - 10),
        record(now - 5),
        record(now + 60_000),
        record(now - 1),
    );
    for r in [&early, &due, &later, &gone] {
        store.create(r).await.unwrap();
    }
    assert!(store.delete(&gone, 0).await.unwrap());
    // Eight sweepers at once: each due room goes to one of them, the rest to none.
    let sweepers = (0..8).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.take_due(now, 100).await.unwrap() })
    });
    let mut taken = Vec::new();
    for sweeper in sweepers {
        taken.extend(sweeper.await.unwrap());
    }
    taken.sort();
    let mut expected = vec![early.id().to_owned(), due.id().to_owned()];
    expected.sort();
    assert_eq!(taken, expected);
    assert!(store.take_due(now, 100).await.unwrap().is_empty());

    // A join after the take puts the room back in the schedule, at its new expiry.
    let mut joined = due.clone();
    joined.room.version = 1;
    joined.room.expires_at = now + 30_000;
    assert!(store.replace(&joined, 0).await.unwrap());
    assert!(store.take_due(now, 100).await.unwrap().is_empty());
    assert_eq!(
        store.take_due(now + 30_000, 100).await.unwrap(),
        vec![due.id().to_owned()]
    );

    // A starting room is looked at once its start would count as abandoned, not before.
    let mut starting = later.clone();
    starting.room.version = 1;
    starting.room.expires_at = now;
    starting.starting_at = now;
    assert!(store.replace(&starting, 0).await.unwrap());
    assert!(
        store
            .take_due(now + START_ABANDONED_MS, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .take_due(now + START_ABANDONED_MS + 1, 100)
            .await
            .unwrap(),
        vec![later.id().to_owned()]
    );

    // The limit is respected; the rest waits for the next take.
    let many: Vec<RoomRecord> = (0..5).map(|i| record(now - 100 + i)).collect();
    for r in &many {
        store.create(r).await.unwrap();
    }
    let first = store.take_due(now, 3).await.unwrap();
    let rest = store.take_due(now, 3).await.unwrap();
    assert_eq!((first.len(), rest.len()), (3, 2));
    let all: HashSet<String> = first.into_iter().chain(rest).collect();
    assert_eq!(all, many.iter().map(|r| r.id().to_owned()).collect());
}

/// The start schedule: a start is on it from the write that records it, handed to one taker at a
/// time for a lease, moved after a failed attempt, and off it once undone or the room is gone.
async fn starts_are_scheduled(store: Store) {
    let room = record(later());
    let id = room.id().to_owned();
    store.create(&room).await.unwrap();
    let take = |now: u64| {
        let store = Arc::clone(&store);
        async move { store.take_due_starts(now, 10, now + 1_000).await.unwrap() }
    };
    assert!(
        take(u64::MAX / 2).await.is_empty(),
        "an open room is scheduled"
    );
    let mut starting = room.clone();
    starting.room.version = 1;
    starting.starting_at = now_millis();
    starting.start = Some(Start {
        request_id: format!("private-room-start:{id}:1"),
        by: "b".into(),
        session_id: None,
        look_at: 100,
    });
    assert!(store.replace(&starting, 0).await.unwrap());
    assert!(take(99).await.is_empty());
    assert_eq!(take(100).await, vec![id.clone()]);
    assert!(take(1_099).await.is_empty(), "taken twice within its lease");
    starting.start.as_mut().unwrap().session_id = Some("s".into());
    starting.room.version = 2;
    assert!(store.replace(&starting, 1).await.unwrap());
    assert!(
        take(1_099).await.is_empty(),
        "a write of the start moved its lease"
    );
    store.retry_start_at(&id, 1_050).await.unwrap();
    assert_eq!(take(1_050).await, vec![id.clone()]);
    let mut undone = starting.clone();
    undone.start = None;
    undone.starting_at = 0;
    undone.room.version = 3;
    assert!(store.replace(&undone, 2).await.unwrap());
    assert!(take(u64::MAX / 2).await.is_empty());
    store.retry_start_at(&id, 10).await.unwrap();
    assert!(take(u64::MAX / 2).await.is_empty(), "a retry put it back");
    starting.room.version = 4;
    assert!(store.replace(&starting, 3).await.unwrap());
    assert!(store.delete(&starting, 4).await.unwrap());
    assert!(take(u64::MAX / 2).await.is_empty());
}

async fn wrong_codes_are_counted_per_user_per_window(store: Store) {
    let (eve, bob) = (common::user(), common::user());
    let window = Duration::from_millis(400);
    assert_eq!(store.wrong_codes(&eve).await.unwrap(), 0);
    for n in 1..=3 {
        assert_eq!(store.count_wrong_code(&eve, window).await.unwrap(), n);
    }
    assert_eq!(store.wrong_codes(&eve).await.unwrap(), 3);
    assert_eq!(store.wrong_codes(&bob).await.unwrap(), 0);
    assert_eq!(store.count_wrong_code(&bob, window).await.unwrap(), 1);
    // Counts within a window do not push its end back.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(store.count_wrong_code(&eve, window).await.unwrap(), 4);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        store.wrong_codes(&eve).await.unwrap(),
        0,
        "the window is over"
    );
    assert_eq!(store.count_wrong_code(&eve, window).await.unwrap(), 1);
}

/// Rooms created at once with one code: exactly one gets it, the others are told it is taken.
async fn one_code_goes_to_one_room(store: Store) {
    let code = code::generate();
    let creates = (0..8).map(|_| {
        let store = Arc::clone(&store);
        let mut room = record(later());
        room.room.code = code.clone();
        tokio::spawn(async move { (room.id().to_owned(), store.create(&room).await) })
    });
    let mut winners = Vec::new();
    for create in creates {
        match create.await.unwrap() {
            (id, Ok(())) => winners.push(id),
            (_, Err(StoreError::CodeTaken)) => {}
            (_, Err(error)) => panic!("{error}"),
        }
    }
    assert_eq!(winners.len(), 1);
    let symbols = code::normalise(&code).unwrap();
    assert_eq!(
        store.find_code(&symbols).await.unwrap().as_deref(),
        Some(winners[0].as_str())
    );
}

/// A join that puts a room's expiry off before the sweeper took it: the sweeper looks at the room
/// no later than it was due, and it is swept at its new expiry, not before.
async fn expiry_put_off_is_kept(store: Store) {
    let now = now_millis();
    let room = record(now + 1_000);
    store.create(&room).await.unwrap();
    let mut joined = room.clone();
    joined.room.version = 1;
    joined.room.expires_at = now + 50_000;
    assert!(store.replace(&joined, 0).await.unwrap());
    assert!(store.take_due(now + 1_000, 100).await.unwrap().is_empty());
    assert!(store.take_due(now + 49_999, 100).await.unwrap().is_empty());
    assert_eq!(
        store.take_due(now + 50_000, 100).await.unwrap(),
        vec![room.id().to_owned()]
    );
}

macro_rules! over_both_stores {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let store = super::test_store(super::Backend::Memory).await;
                    super::$scenario(std::sync::Arc::clone(&store.store)).await;
                    store.clean().await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let store = super::test_store(super::Backend::Redis).await;
                    super::$scenario(std::sync::Arc::clone(&store.store)).await;
                    store.clean().await;
                }
            )*
        }
    };
}

over_both_stores!(
    compare_and_set,
    codes_are_unique,
    expiry_takes_each_due_room_once,
    starts_are_scheduled,
    wrong_codes_are_counted_per_user_per_window,
    one_code_goes_to_one_room,
    expiry_put_off_is_kept,
);

/// The Redis store's keys, as its module documents them: the tests below leave behind what a write
/// that died half-way would, which no call of the store can.
mod redis_keys {
    use super::*;
    use warren_private_rooms::RedisStore;
    use warren_testkit::TestRedis;

    struct Keys {
        redis: TestRedis,
    }

    impl Keys {
        /// Runs `scenario` on a Redis store and its keys, under a prefix of their own deleted when
        /// it ends (also when it fails).
        async fn with<F, Fut>(scenario: F)
        where
            F: FnOnce(Store, Keys) -> Fut,
            Fut: Future<Output = ()>,
        {
            warren_testkit::redis::with_redis("private-rooms", |redis| {
                let store = Arc::new(RedisStore::new(redis.conn.clone(), redis.prefix.clone()));
                scenario(store, Self { redis })
            })
            .await;
        }

        fn key(&self, name: &str) -> String {
            format!("{}{name}", self.redis.prefix)
        }

        async fn run<T: ::redis::FromRedisValue>(&self, command: &mut ::redis::Cmd) -> T {
            command
                .query_async(&mut self.redis.conn.clone())
                .await
                .unwrap()
        }

        async fn count(&self, key: &str) -> i64 {
            self.run(::redis::cmd("ZCARD").arg(self.key(key))).await
        }
    }

    /// A code is a pointer to its room: one left behind by a room that never was, or pointing at
    /// a room whose record has another code, leads nowhere.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_code_leads_only_to_a_room_that_has_it() {
        Keys::with(|store, keys| async move {
            let room = record(later());
            store.create(&room).await.unwrap();
            let (nowhere, elsewhere) = ("AAAAAAAAAA", "BBBBBBBBBB");
            for (code, target) in [(nowhere, "no-such-room"), (elsewhere, room.id())] {
                let key = keys.key(&format!("code:{{code:{code}}}"));
                keys.run::<()>(
                    ::redis::cmd("SET")
                        .arg(key)
                        .arg(target)
                        .arg("PX")
                        .arg(60_000),
                )
                .await;
                assert_eq!(store.find_code(code).await.unwrap(), None, "{code}");
            }
            assert_eq!(
                store.find_code(&room.code_key()).await.unwrap().as_deref(),
                Some(room.id())
            );
        })
        .await;
    }

    /// Entries a sweeper meets for a room that is gone leave the expiry schedule; those of a
    /// start the room does not record leave the start schedule.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn entries_of_rooms_gone_or_not_starting_are_dropped() {
        Keys::with(|store, keys| async move {
            let room = record(later());
            store.create(&room).await.unwrap();
            let id = room.id();
            keys.run::<i64>(
                ::redis::cmd("ZADD")
                    .arg(keys.key("expiry"))
                    .arg(1)
                    .arg("gone"),
            )
            .await;
            assert!(store.take_due(now_millis(), 100).await.unwrap().is_empty());
            assert_eq!(keys.count("expiry").await, 1, "only the room's own entry");
            for (room_id, request_id) in [(id, "private-room-start:x:9"), ("gone", "y")] {
                let entry = serde_json::json!([room_id, request_id]).to_string();
                keys.run::<i64>(
                    ::redis::cmd("ZADD")
                        .arg(keys.key("starts"))
                        .arg(1)
                        .arg(entry),
                )
                .await;
            }
            assert!(
                store
                    .take_due_starts(10, 10, 1_010)
                    .await
                    .unwrap()
                    .is_empty()
            );
            assert_eq!(keys.count("starts").await, 0);
        })
        .await;
    }

    /// A start that loses its compare-and-set leaves no entry on the schedule; one that wins is
    /// taken off by the write that undoes it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_start_not_recorded_leaves_no_entry() {
        Keys::with(|store, keys| async move {
            let room = record(later());
            store.create(&room).await.unwrap();
            let mut starting = room.clone();
            starting.room.version = 8;
            starting.start = Some(Start {
                request_id: format!("private-room-start:{}:8", room.id()),
                by: "b".into(),
                session_id: None,
                look_at: 1,
            });
            assert!(!store.replace(&starting, 7).await.unwrap());
            assert_eq!(keys.count("starts").await, 0);
            starting.room.version = 1;
            assert!(store.replace(&starting, 0).await.unwrap());
            assert_eq!(keys.count("starts").await, 1);
            let mut undone = starting.clone();
            undone.start = None;
            undone.room.version = 2;
            assert!(store.replace(&undone, 1).await.unwrap());
            assert_eq!(keys.count("starts").await, 0);
        })
        .await;
    }
}
