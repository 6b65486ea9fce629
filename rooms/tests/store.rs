//! The room store in memory and in Redis: the same scenarios over both. A write against a stale
//! version is refused (so two instances never seat the same seat twice), and the list shows
//! exactly the open rooms with a free seat, newest first, by mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use warren_contracts::rooms::{Room, RoomPlayer, RoomStatus};
use warren_rooms::store::{RoomRecord, Start};
use warren_rooms::{MemoryStore, RedisStore, RoomStore, StoreError};

fn record(id: &str, mode: &str, created_at: u64) -> RoomRecord {
    RoomRecord {
        room: Room {
            room_id: id.into(),
            mode: mode.into(),
            max_players: 2,
            name: None,
            owner: "a".into(),
            players: vec![RoomPlayer {
                user_id: "a".into(),
                ready: false,
            }],
            free_seats: 1,
            status: RoomStatus::Open,
            version: 0,
            created_at,
        },
        starting_at: 0,
        joining: Vec::new(),
        start: None,
    }
}

fn id() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn compare_and_set(store: Arc<dyn RoomStore>) {
    let id = id();
    assert!(store.get(&id).await.unwrap().is_none());
    store.create(&record(&id, "relay", 1)).await.unwrap();
    assert!(matches!(
        store.create(&record(&id, "relay", 1)).await,
        Err(StoreError::AlreadyExists)
    ));
    // Many writers racing for the last seat of version 0: exactly one wins.
    let writers = (0..16).map(|i| {
        let store = Arc::clone(&store);
        let mut attempt = record(&id, "relay", 1);
        attempt.room.players.push(RoomPlayer {
            user_id: format!("w{i}"),
            ready: false,
        });
        attempt.room.free_seats = 0;
        attempt.room.version = 1;
        tokio::spawn(async move { store.replace(&attempt, 0).await.unwrap() })
    });
    let mut wins = 0;
    for writer in writers {
        wins += usize::from(writer.await.unwrap());
    }
    assert_eq!(wins, 1);
    let stored = store.get(&id).await.unwrap().unwrap();
    assert_eq!(stored.room.players.len(), 2);
    assert!(
        !store.delete(&stored.room, 0).await.unwrap(),
        "a stale delete went through"
    );
    assert!(store.delete(&stored.room, 1).await.unwrap());
    assert!(store.get(&id).await.unwrap().is_none());
    assert!(
        !store.replace(&stored, 1).await.unwrap(),
        "a replace brought a deleted room back"
    );
}

async fn list(store: Arc<dyn RoomStore>) {
    // Modes of this run only, so that other tests' rooms do not show.
    let (mode, other) = (format!("m-{}", id()), format!("o-{}", id()));
    let (old, new, elsewhere, full) = (id(), id(), id(), id());
    store.create(&record(&old, &mode, 100)).await.unwrap();
    store.create(&record(&new, &mode, 200)).await.unwrap();
    store
        .create(&record(&elsewhere, &other, 150))
        .await
        .unwrap();
    let mut filled = record(&full, &mode, 300);
    filled.room.players.push(RoomPlayer {
        user_id: "b".into(),
        ready: false,
    });
    filled.room.free_seats = 0;
    store.create(&filled).await.unwrap();
    let ids = |rooms: Vec<Room>| {
        rooms
            .into_iter()
            .map(|r| r.room_id)
            .collect::<Vec<String>>()
    };
    assert_eq!(
        ids(store.list(Some(&mode), 10).await.unwrap()),
        [new.clone(), old.clone()]
    );
    assert_eq!(
        ids(store.list(Some(&mode), 1).await.unwrap()),
        vec![new.clone()]
    );
    assert_eq!(
        ids(store.list(Some(&other), 10).await.unwrap()),
        vec![elsewhere.clone()]
    );
    let all = ids(store.list(None, 100).await.unwrap());
    for room in [&old, &new, &elsewhere] {
        assert!(all.contains(room), "{room} missing from the whole list");
    }
    assert!(!all.contains(&full), "a full room is listed");
    // Starting leaves the list; opening again puts it back.
    let mut starting = store.get(&new).await.unwrap().unwrap();
    starting.room.status = RoomStatus::Starting;
    starting.room.version = 1;
    assert!(store.replace(&starting, 0).await.unwrap());
    assert_eq!(
        ids(store.list(Some(&mode), 10).await.unwrap()),
        vec![old.clone()]
    );
    starting.room.status = RoomStatus::Open;
    starting.room.version = 2;
    assert!(store.replace(&starting, 1).await.unwrap());
    assert_eq!(
        ids(store.list(Some(&mode), 10).await.unwrap()),
        [new.clone(), old.clone()]
    );
    // A deleted room leaves the list.
    assert!(store.delete(&starting.room, 2).await.unwrap());
    assert_eq!(
        ids(store.list(Some(&mode), 10).await.unwrap()),
        vec![old.clone()]
    );
    for room in [&old, &elsewhere, &full] {
        let record = store.get(room).await.unwrap().unwrap();
        assert!(store.delete(&record.room, 0).await.unwrap());
    }
    assert!(store.list(Some(&mode), 10).await.unwrap().is_empty());
}

/// The start schedule: a start is on it from the write that records it, handed to one taker at a
/// time for a lease, moved after a failed attempt, and off it once the room is opened or gone.
async fn start_schedule(store: Arc<dyn RoomStore>) {
    let (id, other) = (id(), id());
    store.create(&record(&id, "relay", 1)).await.unwrap();
    store.create(&record(&other, "relay", 1)).await.unwrap();
    let take = |now: u64| {
        let store = Arc::clone(&store);
        async move { store.take_due_starts(now, 10, now + 1_000).await.unwrap() }
    };
    assert!(
        take(u64::MAX / 2).await.is_empty(),
        "an open room is scheduled"
    );
    let mut starting = store.get(&id).await.unwrap().unwrap();
    starting.room.status = RoomStatus::Starting;
    starting.room.version = 1;
    starting.start = Some(Start {
        request_id: format!("room-start:{id}:1"),
        by: "a".into(),
        session_id: None,
        look_at: 100,
    });
    assert!(store.replace(&starting, 0).await.unwrap());
    assert!(take(99).await.is_empty());
    assert_eq!(take(100).await, vec![id.clone()]);
    // Leased to the first taker until 1100.
    assert!(take(1_099).await.is_empty());
    // A later write of the start (its session recorded) leaves the lease as it is.
    starting.start.as_mut().unwrap().session_id = Some("s".into());
    starting.room.version = 2;
    assert!(store.replace(&starting, 1).await.unwrap());
    assert!(take(1_099).await.is_empty());
    assert_eq!(take(1_100).await, vec![id.clone()]);
    // A failed attempt puts it back earlier; one not on the schedule is not put on it.
    store.retry_start_at(&id, 1_200).await.unwrap();
    store.retry_start_at(&other, 1_200).await.unwrap();
    assert_eq!(take(1_200).await, vec![id.clone()]);
    // Opened again: off the schedule.
    let mut reopened = starting.clone();
    reopened.room.status = RoomStatus::Open;
    reopened.start = None;
    reopened.room.version = 3;
    assert!(store.replace(&reopened, 2).await.unwrap());
    assert!(take(u64::MAX / 2).await.is_empty());
    // Deleted while starting: off the schedule.
    starting.room.version = 4;
    assert!(store.replace(&starting, 3).await.unwrap());
    assert!(store.delete(&starting.room, 4).await.unwrap());
    assert!(take(u64::MAX / 2).await.is_empty());
    let other = store.get(&other).await.unwrap().unwrap();
    assert!(store.delete(&other.room, 0).await.unwrap());
}

#[tokio::test]
async fn memory_store_keeps_the_start_schedule() {
    start_schedule(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_keeps_the_start_schedule() {
    with_redis(start_schedule).await;
}

#[tokio::test]
async fn memory_store_compare_and_set() {
    compare_and_set(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn memory_store_lists_open_rooms_newest_first() {
    list(Arc::new(MemoryStore::new())).await;
}

/// A Redis store under a prefix of its own; its keys are deleted when the scenario ends.
async fn with_redis<F, Fut>(scenario: F)
where
    F: FnOnce(Arc<dyn RoomStore>) -> Fut,
    Fut: Future<Output = ()>,
{
    let redis = warren_testkit::TestRedis::new("rooms").await;
    scenario(Arc::new(RedisStore::new(
        redis.conn.clone(),
        redis.prefix.clone(),
    )))
    .await;
    redis.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_compare_and_set() {
    with_redis(compare_and_set).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_lists_open_rooms_newest_first() {
    with_redis(list).await;
}

/// The store's keys, as its module documents them: the tests below leave behind what a write that
/// died half-way (or a room that expired) would, which no call of the store can.
struct Keys {
    redis: warren_runtime::Redis,
    prefix: String,
}

impl Keys {
    fn room(&self, id: &str) -> String {
        format!("{}room:{{room:{id}}}", self.prefix)
    }

    fn open(&self, mode: &str) -> String {
        format!("{}open:{mode}", self.prefix)
    }

    fn starts(&self) -> String {
        format!("{}starts", self.prefix)
    }

    /// A start's entry on the schedule.
    fn start(id: &str, request_id: &str) -> String {
        serde_json::json!([id, request_id]).to_string()
    }

    async fn run<T: redis::FromRedisValue>(&self, command: &mut redis::Cmd) -> T {
        command.query_async(&mut self.redis.clone()).await.unwrap()
    }

    async fn score(&self, key: &str, member: &str) -> Option<f64> {
        self.run(redis::cmd("ZSCORE").arg(key).arg(member)).await
    }
}

/// A Redis store and its keys, under a prefix of their own deleted when the scenario ends (also
/// when it fails).
async fn with_redis_keys<F, Fut>(scenario: F)
where
    F: FnOnce(Arc<dyn RoomStore>, Keys) -> Fut,
    Fut: Future<Output = ()>,
{
    warren_testkit::redis::with_redis("rooms", |redis| {
        let store = Arc::new(RedisStore::new(redis.conn.clone(), redis.prefix.clone()));
        let keys = Keys {
            redis: redis.conn,
            prefix: redis.prefix,
        };
        scenario(store, keys)
    })
    .await;
}

/// The lists are a superset of the listed rooms: an entry whose room expired, or is not listed
/// (left by a write that died before taking it off), is skipped and dropped by the first list
/// that meets it; a listed room's entry stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_list_skips_and_drops_entries_of_rooms_not_listed() {
    with_redis_keys(|store, keys| async move {
        let mode = format!("m-{}", id());
        let (listed, expired, full) = (id(), id(), id());
        store.create(&record(&listed, &mode, 100)).await.unwrap();
        store.create(&record(&expired, &mode, 200)).await.unwrap();
        let mut filled = record(&full, &mode, 300);
        filled.room.players.push(RoomPlayer {
            user_id: "b".into(),
            ready: false,
        });
        store.create(&filled).await.unwrap();
        assert_eq!(keys.score(&keys.open(&mode), &full).await, None);
        keys.run::<i64>(redis::cmd("DEL").arg(keys.room(&expired)))
            .await;
        keys.run::<i64>(redis::cmd("ZADD").arg(keys.open(&mode)).arg(300).arg(&full))
            .await;
        let rooms = store.list(Some(&mode), 10).await.unwrap();
        let ids: Vec<&str> = rooms.iter().map(|room| room.room_id.as_str()).collect();
        assert_eq!(ids, [listed.as_str()]);
        assert_eq!(keys.score(&keys.open(&mode), &expired).await, None);
        assert_eq!(keys.score(&keys.open(&mode), &full).await, None);
        assert_eq!(keys.score(&keys.open(&mode), &listed).await, Some(100.0));
    })
    .await;
}

/// The schedule is a superset of the starts the rooms record: an entry whose room is gone, or
/// records no start or another one, is dropped when it is due instead of handed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_schedule_drops_starts_rooms_do_not_record() {
    with_redis_keys(|store, keys| async move {
        let (open, gone) = (id(), id());
        store.create(&record(&open, "relay", 1)).await.unwrap();
        let left = [
            Keys::start(&open, &format!("room-start:{open}:9")),
            Keys::start(&gone, &format!("room-start:{gone}:1")),
        ];
        for entry in &left {
            keys.run::<i64>(redis::cmd("ZADD").arg(keys.starts()).arg(5).arg(entry))
                .await;
        }
        assert!(
            store
                .take_due_starts(10, 10, 1_010)
                .await
                .unwrap()
                .is_empty()
        );
        let count: i64 = keys.run(redis::cmd("ZCARD").arg(keys.starts())).await;
        assert_eq!(count, 0, "entries left behind stay on the schedule");
        // A retry for a room with no start puts nothing on it.
        store.retry_start_at(&open, 20).await.unwrap();
        assert!(
            store
                .take_due_starts(30, 10, 1_030)
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

/// A taker that meets a start's entry before the room records the start drops it (it cannot tell
/// a start on its way from one that is over); the write that records the start puts it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_schedules_a_start_whose_entry_was_dropped_before_its_write() {
    with_redis_keys(|store, keys| async move {
        let id = id();
        store.create(&record(&id, "relay", 1)).await.unwrap();
        let request_id = format!("room-start:{id}:1");
        // The first add of a write that has not reached the room yet, met by a taker.
        let entry = Keys::start(&id, &request_id);
        keys.run::<i64>(redis::cmd("ZADD").arg(keys.starts()).arg(100).arg(&entry))
            .await;
        assert!(
            store
                .take_due_starts(100, 10, 1_100)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(keys.score(&keys.starts(), &entry).await, None);
        // The write lands.
        let mut starting = store.get(&id).await.unwrap().unwrap();
        starting.room.status = RoomStatus::Starting;
        starting.room.version = 1;
        starting.start = Some(Start {
            request_id,
            by: "a".into(),
            session_id: None,
            look_at: 100,
        });
        assert!(store.replace(&starting, 0).await.unwrap());
        assert_eq!(store.take_due_starts(100, 10, 1_100).await.unwrap(), [id]);
    })
    .await;
}

/// A write that loses its compare-and-set takes off the entries it added that the room does not
/// want: no list entry for a room that stays full, no start the room does not record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_write_refused_leaves_no_entries_behind() {
    with_redis_keys(|store, keys| async move {
        let (mode, id) = (format!("m-{}", id()), id());
        let mut full = record(&id, &mode, 1);
        full.room.players.push(RoomPlayer {
            user_id: "b".into(),
            ready: false,
        });
        store.create(&full).await.unwrap();
        // Stale: written against version 5, the room is at 0; it would be listed and starting.
        let mut stale = record(&id, &mode, 1);
        stale.room.version = 6;
        stale.start = Some(Start {
            request_id: format!("room-start:{id}:6"),
            by: "a".into(),
            session_id: None,
            look_at: 1,
        });
        assert!(!store.replace(&stale, 5).await.unwrap());
        assert_eq!(keys.score(&keys.open(&mode), &id).await, None);
        let count: i64 = keys.run(redis::cmd("ZCARD").arg(keys.starts())).await;
        assert_eq!(count, 0);
        assert!(store.list(Some(&mode), 10).await.unwrap().is_empty());
    })
    .await;
}
