//! The store's behaviours, each run against MemoryStore and against RedisStore on a real Redis;
//! then what only Redis has: its key layout, and its failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestRedis, with_redis};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use warren_accounts::{AccountStore, MemoryStore, RedisStore, StoreError};
use warren_contracts::accounts::Account;

type Store = Arc<dyn AccountStore>;

fn account(user_id: &str, username: &str) -> Account {
    Account {
        user_id: user_id.to_owned(),
        username: username.to_owned(),
        display_name: username.to_owned(),
        rating: 1000.0,
        games_played: 0,
        games_won: 0,
    }
}

async fn a_created_account_reads_back(store: Store) {
    let ann = account("u-ann", "ann");
    store.create(&ann).await.unwrap();
    assert_eq!(store.get("u-ann").await.unwrap(), Some(ann));
    assert_eq!(store.get("u-nobody").await.unwrap(), None);
}

async fn every_field_round_trips(store: Store) {
    let odd = Account {
        user_id: "id with spaces:and*glob?chars".to_owned(),
        username: "Ünïcødé 名前".to_owned(),
        display_name: "🎲 dice \"quoted\" 'name'".to_owned(),
        rating: 1_016.123_456_789_012_3,
        games_played: u64::MAX,
        games_won: 12_345,
    };
    store.create(&odd).await.unwrap();
    assert_eq!(store.get(&odd.user_id).await.unwrap(), Some(odd.clone()));
    let negative = Account {
        rating: -0.1,
        ..account("u-low", "low")
    };
    store.create(&negative).await.unwrap();
    assert_eq!(store.get("u-low").await.unwrap(), Some(negative));
}

async fn creating_twice_keeps_the_first(store: Store) {
    store.create(&account("u-1", "first")).await.unwrap();
    let again = store.create(&account("u-1", "second")).await;
    assert_eq!(again, Err(StoreError::AlreadyExists));
    assert_eq!(
        store.get("u-1").await.unwrap(),
        Some(account("u-1", "first"))
    );
}

async fn concurrent_creates_have_one_winner(store: Store) {
    let attempts = (0..16).map(|i| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let result = store.create(&account("u-race", &format!("name-{i}"))).await;
            (i, result)
        })
    });
    let mut winners = Vec::new();
    for attempt in futures_util::future::join_all(attempts).await {
        match attempt.unwrap() {
            (i, Ok(())) => winners.push(i),
            (_, Err(StoreError::AlreadyExists)) => {}
            (i, Err(other)) => panic!("create {i} failed: {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let stored = store.get("u-race").await.unwrap().unwrap();
    assert_eq!(stored.username, format!("name-{}", winners[0]));
    assert_eq!(stored.display_name, stored.username);
}

async fn renaming_changes_only_the_display_name(store: Store) {
    let ann = Account {
        rating: 1234.5,
        games_played: 10,
        games_won: 4,
        ..account("u-ann", "ann")
    };
    store.create(&ann).await.unwrap();
    let renamed = store
        .set_display_name("u-ann", "Ann the Bold")
        .await
        .unwrap();
    let expected = Account {
        display_name: "Ann the Bold".to_owned(),
        ..ann
    };
    assert_eq!(renamed, expected);
    assert_eq!(store.get("u-ann").await.unwrap(), Some(expected));
}

async fn renaming_nobody_creates_nothing(store: Store) {
    let result = store.set_display_name("u-ghost", "Ghost").await;
    assert_eq!(result, Err(StoreError::NotFound));
    assert_eq!(store.get("u-ghost").await.unwrap(), None);
    // A later create is not blocked by anything the rename left behind.
    store.create(&account("u-ghost", "ghost")).await.unwrap();
    assert_eq!(
        store.get("u-ghost").await.unwrap(),
        Some(account("u-ghost", "ghost"))
    );
}

async fn deleting_removes_that_account_only(store: Store) {
    store.create(&account("u-1", "one")).await.unwrap();
    store.create(&account("u-2", "two")).await.unwrap();
    store.delete("u-1").await.unwrap();
    assert_eq!(store.get("u-1").await.unwrap(), None);
    assert_eq!(store.get("u-2").await.unwrap(), Some(account("u-2", "two")));
    assert_eq!(store.delete("u-1").await, Err(StoreError::NotFound));
    assert_eq!(
        store.set_display_name("u-1", "back").await,
        Err(StoreError::NotFound)
    );
    assert_eq!(store.delete("u-nobody").await, Err(StoreError::NotFound));
}

async fn a_deleted_id_can_be_created_again(store: Store) {
    store.create(&account("u-1", "old")).await.unwrap();
    store.set_display_name("u-1", "Old Name").await.unwrap();
    store.delete("u-1").await.unwrap();
    store.create(&account("u-1", "new")).await.unwrap();
    assert_eq!(store.get("u-1").await.unwrap(), Some(account("u-1", "new")));
}

/// Runs each behaviour `async fn name(store: Store)` against both stores.
macro_rules! every_store {
    ($($name:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(std::sync::Arc::new(warren_accounts::MemoryStore::new())).await;
                }
            )*
        }
        mod redis_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::common::with_redis(|redis| async move {
                        super::$name(std::sync::Arc::new(redis.store())).await;
                    })
                    .await;
                }
            )*
        }
    };
}

every_store!(
    a_created_account_reads_back,
    every_field_round_trips,
    creating_twice_keeps_the_first,
    concurrent_creates_have_one_winner,
    renaming_changes_only_the_display_name,
    renaming_nobody_creates_nothing,
    deleting_removes_that_account_only,
    a_deleted_id_can_be_created_again,
);

#[test]
fn memory_store_is_usable_as_a_trait_object() {
    let _store: Store = Arc::new(MemoryStore::new());
}

async fn raw(redis: &TestRedis, args: &[&str]) -> redis::Value {
    let mut conn = redis.conn.clone();
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(&mut conn).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_keeps_one_hash_per_account_under_the_prefix() {
    with_redis(|redis| async move {
        let store = redis.store();
        store.create(&account("u-ann", "ann")).await.unwrap();
        store.set_display_name("u-ann", "Ann").await.unwrap();
        let key = format!("{}account:u-ann", redis.prefix);
        assert_eq!(store.account_key("u-ann"), key);
        assert_eq!(redis.keys().await, vec![key.clone()]);
        assert_eq!(
            raw(&redis, &["TYPE", &key]).await,
            redis::Value::SimpleString("hash".to_owned())
        );
        let mut conn = redis.conn.clone();
        let fields: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let expected: HashMap<String, String> = [
            ("user_id", "u-ann"),
            ("username", "ann"),
            ("display_name", "Ann"),
            ("rating", "1000"),
            ("games_played", "0"),
            ("games_won", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(fields, expected);
        store.delete("u-ann").await.unwrap();
        assert!(redis.keys().await.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_reads_ratings_changed_in_place() {
    // What applying a game result will do: HINCRBYFLOAT on the hash.
    with_redis(|redis| async move {
        let store = redis.store();
        store.create(&account("u-ann", "ann")).await.unwrap();
        let key = store.account_key("u-ann");
        raw(&redis, &["HINCRBYFLOAT", &key, "rating", "16.25"]).await;
        raw(&redis, &["HINCRBY", &key, "games_played", "1"]).await;
        let ann = store.get("u-ann").await.unwrap().unwrap();
        assert_eq!((ann.rating, ann.games_played), (1016.25, 1));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_damaged_records_are_internal_errors() {
    with_redis(|redis| async move {
        let store = redis.store();
        store.create(&account("u-bad", "bad")).await.unwrap();
        let key = store.account_key("u-bad");
        raw(&redis, &["HSET", &key, "rating", "lots"]).await;
        assert!(
            matches!(store.get("u-bad").await, Err(StoreError::Internal(m)) if m.contains("rating")),
        );
        raw(&redis, &["HDEL", &key, "games_won"]).await;
        assert!(
            matches!(store.set_display_name("u-bad", "x").await, Err(StoreError::Internal(_))),
        );
        // A key of another type where an account should be: Redis refuses (WRONGTYPE), which is
        // a bug or tampering, not an outage.
        let wrong = store.account_key("u-string");
        raw(&redis, &["SET", &wrong, "not a hash"]).await;
        assert!(matches!(store.get("u-string").await, Err(StoreError::Internal(_))));
        assert!(matches!(
            store.set_display_name("u-string", "x").await,
            Err(StoreError::Internal(_))
        ));
        assert_eq!(
            store.create(&account("u-string", "s")).await,
            Err(StoreError::AlreadyExists)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_is_unavailable() {
    // A port nobody listens on: bind one, note it, let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let config = ConnectionManagerConfig::new()
        .set_number_of_retries(1)
        .set_connection_timeout(Some(Duration::from_millis(500)));
    let conn = ConnectionManager::new_lazy_with_config(client, config).unwrap();
    let store = RedisStore::new(conn, "test-accounts-unreachable:");
    let unavailable = |result: Result<(), StoreError>| {
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
    };
    unavailable(store.create(&account("u-1", "one")).await);
    unavailable(store.get("u-1").await.map(drop));
    unavailable(store.set_display_name("u-1", "One").await.map(drop));
    unavailable(store.delete("u-1").await);
}
