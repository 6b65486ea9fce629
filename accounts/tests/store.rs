//! The store's behaviours, accounts and activities, each run against MemoryStore and against
//! RedisStore on a real Redis; then what only Redis has: its key layout, several instances sharing
//! it, and its failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestRedis, with_redis};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use warren_accounts::{AccountStore, MemoryStore, RatingChange, RedisStore, StoreError};
use warren_contracts::accounts::Account;
use warren_contracts::activity::{Activity, ActivityKind};
use warren_runtime::Redis;

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

fn change(user_id: &str, delta: f64, won: bool) -> RatingChange {
    RatingChange {
        user_id: user_id.to_owned(),
        delta,
        won,
    }
}

/// Ann beats Bob, 1000 against 1000.
fn ann_beats_bob() -> Vec<RatingChange> {
    vec![change("u-ann", 16.0, true), change("u-bob", -16.0, false)]
}

fn after(account: Account, rating: f64, games_played: u64, games_won: u64) -> Account {
    Account {
        rating,
        games_played,
        games_won,
        ..account
    }
}

async fn a_result_is_applied_once(store: Store) {
    store.create(&account("u-ann", "ann")).await.unwrap();
    store.create(&account("u-bob", "bob")).await.unwrap();
    let ann = after(account("u-ann", "ann"), 1016.0, 1, 1);
    let bob = after(account("u-bob", "bob"), 984.0, 1, 0);
    let applied = store.apply_result("s-1", &ann_beats_bob()).await.unwrap();
    assert_eq!(applied, Some(vec![ann.clone(), bob.clone()]));
    // Again, even with other numbers: the session was applied, nothing changes.
    let again = [change("u-ann", 99.0, true), change("u-bob", 99.0, true)];
    assert_eq!(store.apply_result("s-1", &again).await.unwrap(), None);
    assert_eq!(store.get("u-ann").await.unwrap(), Some(ann));
    assert_eq!(store.get("u-bob").await.unwrap(), Some(bob));
    // Another session applies on top.
    let rematch = [change("u-bob", 16.5, true), change("u-ann", -16.5, false)];
    let applied = store.apply_result("s-2", &rematch).await.unwrap().unwrap();
    let ratings: Vec<_> = applied
        .iter()
        .map(|a| (a.user_id.as_str(), a.rating, a.games_played, a.games_won))
        .collect();
    assert_eq!(
        ratings,
        [("u-bob", 1000.5, 2, 1), ("u-ann", 999.5, 2, 1)],
        "in the order of the changes"
    );
}

/// The accounts each of the answers returned, every answer's in the order of the changes.
fn returned(answers: Vec<Option<Vec<Account>>>) -> Vec<Account> {
    answers.into_iter().flatten().flatten().collect()
}

async fn concurrent_applications_apply_once(store: Store) {
    store.create(&account("u-ann", "ann")).await.unwrap();
    store.create(&account("u-bob", "bob")).await.unwrap();
    let attempts = (0..16).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.apply_result("s-race", &ann_beats_bob()).await })
    });
    let answers: Vec<_> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|attempt| attempt.unwrap().expect("apply_result failed"))
        .collect();
    // Each player's part was applied by exactly one of the calls (one call for both, or one each),
    // and only that call returned their account.
    let mut updated: Vec<_> = returned(answers)
        .into_iter()
        .map(|a| (a.user_id, a.rating, a.games_played, a.games_won))
        .collect();
    updated.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        updated,
        [
            ("u-ann".to_owned(), 1016.0, 1, 1),
            ("u-bob".to_owned(), 984.0, 1, 0)
        ]
    );
    let ann = store.get("u-ann").await.unwrap().unwrap();
    assert_eq!(
        (ann.rating, ann.games_played, ann.games_won),
        (1016.0, 1, 1)
    );
    let bob = store.get("u-bob").await.unwrap().unwrap();
    assert_eq!((bob.rating, bob.games_played, bob.games_won), (984.0, 1, 0));
}

async fn a_result_skips_deleted_accounts(store: Store) {
    store.create(&account("u-ann", "ann")).await.unwrap();
    store.create(&account("u-bob", "bob")).await.unwrap();
    store.delete("u-bob").await.unwrap();
    let applied = store.apply_result("s-1", &ann_beats_bob()).await.unwrap();
    let ann = after(account("u-ann", "ann"), 1016.0, 1, 1);
    assert_eq!(applied, Some(vec![ann]));
    assert_eq!(store.get("u-bob").await.unwrap(), None, "not created again");
    // Nobody left at all: still recorded as applied.
    let ghosts = [change("u-x", 1.0, true), change("u-y", -1.0, false)];
    assert_eq!(
        store.apply_result("s-2", &ghosts).await.unwrap(),
        Some(vec![])
    );
    assert_eq!(store.apply_result("s-2", &ghosts).await.unwrap(), None);
    assert_eq!(store.get("u-x").await.unwrap(), None);
}

async fn wins_draws_and_fractions_are_counted(store: Store) {
    store.create(&account("u-ann", "ann")).await.unwrap();
    store.create(&account("u-bob", "bob")).await.unwrap();
    store.create(&account("u-cat", "cat")).await.unwrap();
    let draw = [change("u-ann", 0.0, false), change("u-bob", 0.0, false)];
    store.apply_result("s-draw", &draw).await.unwrap().unwrap();
    let relay = [
        change("u-ann", -10.25, false),
        change("u-bob", 20.125, true),
        change("u-cat", -10.25, false),
    ];
    store
        .apply_result("s-relay", &relay)
        .await
        .unwrap()
        .unwrap();
    let win = [change("u-bob", 0.125, true), change("u-cat", -0.125, false)];
    store.apply_result("s-win", &win).await.unwrap().unwrap();
    let stats = |a: Account| (a.rating, a.games_played, a.games_won);
    let get = |id: &'static str| {
        let store = Arc::clone(&store);
        async move { stats(store.get(id).await.unwrap().unwrap()) }
    };
    assert_eq!(get("u-ann").await, (989.75, 2, 0));
    assert_eq!(get("u-bob").await, (1020.25, 3, 2));
    assert_eq!(get("u-cat").await, (989.625, 2, 0));
}

async fn a_non_finite_delta_changes_nothing(store: Store) {
    store.create(&account("u-ann", "ann")).await.unwrap();
    let bad = [
        change("u-ann", 16.0, true),
        change("u-bob", f64::NAN, false),
    ];
    assert!(matches!(
        store.apply_result("s-1", &bad).await,
        Err(StoreError::Internal(_))
    ));
    let infinite = [change("u-ann", f64::INFINITY, true)];
    assert!(matches!(
        store.apply_result("s-1", &infinite).await,
        Err(StoreError::Internal(_))
    ));
    assert_eq!(
        store.get("u-ann").await.unwrap(),
        Some(account("u-ann", "ann"))
    );
    // The session was not recorded: a good result for it still applies.
    let good = [change("u-ann", 16.0, true)];
    assert!(store.apply_result("s-1", &good).await.unwrap().is_some());
}

async fn a_partly_applied_result_is_completed_once(store: Store) {
    store.create(&account("u-ann", "ann")).await.unwrap();
    store.create(&account("u-bob", "bob")).await.unwrap();
    store.create(&account("u-cat", "cat")).await.unwrap();
    // What an attempt that stopped after Ann's part leaves behind.
    let first = store
        .apply_result("s-1", &[change("u-ann", 16.0, true)])
        .await
        .unwrap();
    let ann = after(account("u-ann", "ann"), 1016.0, 1, 1);
    assert_eq!(first, Some(vec![ann.clone()]));
    // The retry applies the rest, and returns only what it applied.
    let bob = after(account("u-bob", "bob"), 984.0, 1, 0);
    let retry = store.apply_result("s-1", &ann_beats_bob()).await.unwrap();
    assert_eq!(retry, Some(vec![bob.clone()]));
    assert_eq!(
        store.apply_result("s-1", &ann_beats_bob()).await.unwrap(),
        None
    );
    assert_eq!(store.get("u-ann").await.unwrap(), Some(ann));
    assert_eq!(store.get("u-bob").await.unwrap(), Some(bob));
    // A player named twice counts once.
    let twice = [change("u-cat", 8.0, true), change("u-cat", 8.0, true)];
    let cat = after(account("u-cat", "cat"), 1008.0, 1, 1);
    assert_eq!(
        store.apply_result("s-2", &twice).await.unwrap(),
        Some(vec![cat.clone()])
    );
    assert_eq!(store.get("u-cat").await.unwrap(), Some(cat));
    // Nothing to apply is nothing applied.
    assert_eq!(store.apply_result("s-3", &[]).await.unwrap(), None);
}

fn room(id: &str) -> Activity {
    Activity::new(ActivityKind::Room, id)
}

fn session(id: &str) -> Activity {
    Activity::new(ActivityKind::Session, id)
}

fn users(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

async fn a_free_user_is_claimed(store: Store) {
    assert_eq!(store.activity("u-ann").await.unwrap(), None);
    assert_eq!(store.claim("u-ann", &room("r-1"), &[]).await.unwrap(), None);
    assert_eq!(store.activity("u-ann").await.unwrap(), Some(room("r-1")));
    // Claiming where they are already succeeds and changes nothing.
    assert_eq!(store.claim("u-ann", &room("r-1"), &[]).await.unwrap(), None);
    assert_eq!(store.activity("u-ann").await.unwrap(), Some(room("r-1")));
    assert_eq!(store.activity("u-bob").await.unwrap(), None, "per user");
}

async fn a_claim_in_the_way_is_returned_and_kept(store: Store) {
    store.claim("u-ann", &room("r-1"), &[]).await.unwrap();
    let same_kind = store.claim("u-ann", &room("r-2"), &[]).await.unwrap();
    assert_eq!(same_kind, Some(room("r-1")));
    let other_kind = store.claim("u-ann", &session("s-1"), &[]).await.unwrap();
    assert_eq!(other_kind, Some(room("r-1")));
    // The same id of another kind is another activity.
    let same_id = store.claim("u-ann", &session("r-1"), &[]).await.unwrap();
    assert_eq!(same_id, Some(room("r-1")));
    // Replacing something the user is not in does not help.
    let wrong = store.claim("u-ann", &room("r-2"), &[room("r-9")]).await;
    assert_eq!(wrong.unwrap(), Some(room("r-1")));
    assert_eq!(store.activity("u-ann").await.unwrap(), Some(room("r-1")));
}

async fn a_replaceable_claim_is_replaced(store: Store) {
    store.claim("u-ann", &room("r-1"), &[]).await.unwrap();
    let replaceable = [room("r-9"), room("r-1")];
    let replaced = store.claim("u-ann", &session("s-1"), &replaceable).await;
    assert_eq!(replaced.unwrap(), None);
    assert_eq!(store.activity("u-ann").await.unwrap(), Some(session("s-1")));
    // The replaced claim is gone: naming it again replaces nothing.
    let stale = store.claim("u-ann", &room("r-2"), &[room("r-1")]).await;
    assert_eq!(stale.unwrap(), Some(session("s-1")));
    // A free user is claimed whatever the caller thought could be replaced.
    assert_eq!(
        store
            .claim("u-bob", &room("r-2"), &[room("r-1")])
            .await
            .unwrap(),
        None
    );
}

/// Claims `user` for each of `activities` at once, each allowed to replace `replaceable`; returns
/// the activities that won.
async fn race(
    store: &Store,
    user: &str,
    activities: Vec<Activity>,
    replaceable: &[Activity],
) -> Vec<Activity> {
    let attempts = activities.into_iter().map(|activity| {
        let store = Arc::clone(store);
        let user = user.to_owned();
        let replaceable = replaceable.to_vec();
        tokio::spawn(async move {
            let blocker = store.claim(&user, &activity, &replaceable).await.unwrap();
            (activity, blocker)
        })
    });
    let outcomes: Vec<_> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let winners: Vec<Activity> = outcomes
        .iter()
        .filter(|(_, blocker)| blocker.is_none())
        .map(|(activity, _)| activity.clone())
        .collect();
    if let [winner] = winners.as_slice() {
        for (activity, blocker) in &outcomes {
            if activity != winner {
                assert_eq!(
                    blocker.as_ref(),
                    Some(winner),
                    "{activity:?} lost to the winner"
                );
            }
        }
    }
    winners
}

async fn concurrent_claims_of_one_user_have_one_winner(store: Store) {
    let rooms: Vec<Activity> = (0..50).map(|i| room(&format!("r-{i}"))).collect();
    let winners = race(&store, "u-ann", rooms, &[]).await;
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(
        store.activity("u-ann").await.unwrap().as_ref(),
        winners.first()
    );
}

async fn concurrent_replacements_have_one_winner(store: Store) {
    store.claim("u-ann", &room("r-stale"), &[]).await.unwrap();
    let sessions: Vec<Activity> = (0..50).map(|i| session(&format!("s-{i}"))).collect();
    let winners = race(&store, "u-ann", sessions, &[room("r-stale")]).await;
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(
        store.activity("u-ann").await.unwrap().as_ref(),
        winners.first()
    );
}

async fn hand_over_moves_users_in_from_or_in_nothing(store: Store) {
    store.claim("u-ann", &room("r-1"), &[]).await.unwrap();
    store.claim("u-cat", &room("r-2"), &[]).await.unwrap();
    let players = users(&["u-ann", "u-bob", "u-cat"]);
    let kept = store
        .hand_over(&players, &room("r-1"), &session("s-1"))
        .await;
    assert_eq!(kept.unwrap(), ["u-cat"]);
    assert_eq!(store.activity("u-ann").await.unwrap(), Some(session("s-1")));
    assert_eq!(store.activity("u-bob").await.unwrap(), Some(session("s-1")));
    assert_eq!(store.activity("u-cat").await.unwrap(), Some(room("r-2")));
    // Again, as a retry would: those in `to` already count as handed over.
    let again = store
        .hand_over(&players, &room("r-1"), &session("s-1"))
        .await;
    assert_eq!(again.unwrap(), ["u-cat"]);
    assert_eq!(store.activity("u-ann").await.unwrap(), Some(session("s-1")));
    assert!(
        store
            .hand_over(&[], &room("r-1"), &session("s-1"))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn release_frees_only_users_in_that_activity(store: Store) {
    store.claim("u-ann", &session("s-1"), &[]).await.unwrap();
    store.claim("u-bob", &session("s-1"), &[]).await.unwrap();
    store.claim("u-cat", &room("s-1"), &[]).await.unwrap();
    let named = users(&["u-ann", "u-cat", "u-dan"]);
    assert_eq!(store.release(&named, &session("s-1")).await.unwrap(), 1);
    assert_eq!(store.activity("u-ann").await.unwrap(), None);
    assert_eq!(
        store.activity("u-bob").await.unwrap(),
        Some(session("s-1")),
        "not named"
    );
    assert_eq!(
        store.activity("u-cat").await.unwrap(),
        Some(room("s-1")),
        "another kind"
    );
    assert_eq!(store.activity("u-dan").await.unwrap(), None);
    assert_eq!(
        store.release(&named, &session("s-1")).await.unwrap(),
        0,
        "idempotent"
    );
    assert_eq!(store.release(&[], &session("s-1")).await.unwrap(), 0);
    // Free again: any claim succeeds.
    assert_eq!(store.claim("u-ann", &room("r-1"), &[]).await.unwrap(), None);
}

async fn activities_need_no_account_and_outlive_one(store: Store) {
    let odd_user = "id with spaces:and*glob?chars";
    let odd = Activity::new(ActivityKind::PrivateRoom, "r:1 \"quoted\" 名前");
    assert_eq!(store.claim(odd_user, &odd, &[]).await.unwrap(), None);
    assert_eq!(store.activity(odd_user).await.unwrap(), Some(odd.clone()));
    assert_eq!(store.get(odd_user).await.unwrap(), None, "no account made");
    let ticket = Activity::new(ActivityKind::Ticket, "t-1");
    store.create(&account("u-ann", "ann")).await.unwrap();
    store.claim("u-ann", &ticket, &[]).await.unwrap();
    store.delete("u-ann").await.unwrap();
    assert_eq!(store.activity("u-ann").await.unwrap(), Some(ticket.clone()));
    store.release(&users(&["u-ann"]), &ticket).await.unwrap();
    assert_eq!(store.activity("u-ann").await.unwrap(), None);
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
    a_result_is_applied_once,
    concurrent_applications_apply_once,
    a_partly_applied_result_is_completed_once,
    a_result_skips_deleted_accounts,
    wins_draws_and_fractions_are_counted,
    a_non_finite_delta_changes_nothing,
    a_free_user_is_claimed,
    a_claim_in_the_way_is_returned_and_kept,
    a_replaceable_claim_is_replaced,
    concurrent_claims_of_one_user_have_one_winner,
    concurrent_replacements_have_one_winner,
    hand_over_moves_users_in_from_or_in_nothing,
    release_frees_only_users_in_that_activity,
    activities_need_no_account_and_outlive_one,
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
        let key = format!("{}account:{{user:u-ann}}", redis.prefix);
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
async fn redis_records_an_applied_session_per_player_for_thirty_days() {
    with_redis(|redis| async move {
        let store = redis.store();
        store.create(&account("u-ann", "ann")).await.unwrap();
        store
            .apply_result("s-1", &[change("u-ann", 16.0, true)])
            .await
            .unwrap()
            .unwrap();
        let key = format!("{}applied:{{user:u-ann}}:s-1", redis.prefix);
        assert_eq!(store.applied_key("u-ann", "s-1"), key);
        assert_eq!(
            redis.keys().await,
            vec![store.account_key("u-ann"), key.clone()]
        );
        assert_eq!(
            raw(&redis, &["GET", &key]).await,
            redis::Value::BulkString(b"1".to_vec())
        );
        let redis::Value::Int(ttl) = raw(&redis, &["TTL", &key]).await else {
            panic!("TTL is not a number");
        };
        assert!((2_591_000..=2_592_000).contains(&ttl), "ttl {ttl}");
        // The rating was changed in place, as a decimal.
        let rating = raw(&redis, &["HGET", &store.account_key("u-ann"), "rating"]).await;
        assert_eq!(rating, redis::Value::BulkString(b"1016".to_vec()));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_damaged_records_fail_a_result_without_writing() {
    with_redis(|redis| async move {
        let store = redis.store();
        store.create(&account("u-ann", "ann")).await.unwrap();
        store.create(&account("u-bad", "bad")).await.unwrap();
        let bad = store.account_key("u-bad");
        let result = [change("u-ann", 16.0, true), change("u-bad", -16.0, false)];
        for (field, value) in [
            ("rating", "lots"),
            ("games_played", "1.5"),
            ("games_won", ""),
        ] {
            store.delete("u-bad").await.unwrap();
            store.create(&account("u-bad", "bad")).await.unwrap();
            raw(&redis, &["HSET", &bad, field, value]).await;
            let outcome = store.apply_result("s-1", &result).await;
            assert!(
                matches!(&outcome, Err(StoreError::Internal(m)) if m.contains("u-bad")),
                "{field}: {outcome:?}"
            );
        }
        store.delete("u-bad").await.unwrap();
        raw(&redis, &["SET", &bad, "not a hash"]).await;
        assert!(matches!(
            store.apply_result("s-1", &result).await,
            Err(StoreError::Internal(_))
        ));
        // Nothing was written: Ann is as created and the session is recorded for nobody.
        assert_eq!(
            store.get("u-ann").await.unwrap(),
            Some(account("u-ann", "ann"))
        );
        for user in ["u-ann", "u-bad"] {
            assert_eq!(
                raw(&redis, &["EXISTS", &store.applied_key(user, "s-1")]).await,
                redis::Value::Int(0)
            );
        }
        // A part applied before is not checked again: its retry is still "applied before".
        raw(&redis, &["DEL", &bad]).await;
        store.create(&account("u-bad", "bad")).await.unwrap();
        assert!(store.apply_result("s-1", &result).await.unwrap().is_some());
        raw(&redis, &["HSET", &bad, "rating", "lots"]).await;
        assert_eq!(store.apply_result("s-1", &result).await.unwrap(), None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_keeps_one_hash_per_activity_without_expiry() {
    with_redis(|redis| async move {
        let store = redis.store();
        let private = Activity::new(ActivityKind::PrivateRoom, "r-1");
        store.claim("u-ann", &private, &[]).await.unwrap();
        let key = format!("{}activity:{{user:u-ann}}", redis.prefix);
        assert_eq!(store.activity_key("u-ann"), key);
        assert_eq!(redis.keys().await, vec![key.clone()]);
        let mut conn = redis.conn.clone();
        let fields: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let expected: HashMap<String, String> = [("kind", "private_room"), ("id", "r-1")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(fields, expected);
        assert_eq!(raw(&redis, &["TTL", &key]).await, redis::Value::Int(-1));
        let ticket = Activity::new(ActivityKind::Ticket, "t-1");
        store.claim("u-ann", &ticket, &[private]).await.unwrap();
        assert_eq!(
            raw(&redis, &["HGET", &key, "kind"]).await,
            redis::Value::BulkString(b"ticket".to_vec())
        );
        store.release(&["u-ann".to_owned()], &ticket).await.unwrap();
        assert!(redis.keys().await.is_empty(), "a free user has no key");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_instances_sharing_one_redis_claim_a_user_once() {
    with_redis(|redis| async move {
        // Five instances, each with a connection of its own, as five processes would have.
        let mut stores = Vec::new();
        for _ in 0..5 {
            let conn = warren_testkit::redis::connect().await;
            stores.push(RedisStore::new(conn, redis.prefix.clone()));
        }
        let attempts = (0..50).map(|i| {
            let store = stores[i % stores.len()].clone();
            tokio::spawn(async move {
                let activity = Activity::new(ActivityKind::Room, format!("r-{i}"));
                let blocker = store.claim("u-ann", &activity, &[]).await.unwrap();
                (activity, blocker)
            })
        });
        let outcomes: Vec<_> = futures_util::future::join_all(attempts).await;
        let winners: Vec<Activity> = outcomes
            .into_iter()
            .map(Result::unwrap)
            .filter(|(_, blocker)| blocker.is_none())
            .map(|(activity, _)| activity)
            .collect();
        assert_eq!(winners.len(), 1, "winners: {winners:?}");
        assert_eq!(
            stores[0].activity("u-ann").await.unwrap().as_ref(),
            winners.first()
        );
    })
    .await;
}

/// The part of `key` that Redis Cluster hashes: the first `{...}` with something in it, else the
/// whole key.
fn hash_tag(key: &str) -> &str {
    if let Some(open) = key.find('{')
        && let Some(length) = key[open + 1..].find('}')
        && length > 0
    {
        return &key[open + 1..open + 1 + length];
    }
    key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_keeps_each_users_keys_in_one_slot() {
    with_redis(|redis| async move {
        let store = redis.store();
        // Braces in an id move the end of the tag, but the same way for all of that user's keys.
        let odd = "u-{x}}{y";
        for user in ["u-ann", odd] {
            store.create(&account(user, user)).await.unwrap();
            store.claim(user, &session("s-1"), &[]).await.unwrap();
        }
        let changes = [change("u-ann", 16.0, true), change(odd, -16.0, false)];
        store.apply_result("s-1", &changes).await.unwrap().unwrap();
        let ann_keys = [
            store.account_key("u-ann"),
            store.activity_key("u-ann"),
            store.applied_key("u-ann", "s-1"),
        ];
        let odd_keys = [
            store.account_key(odd),
            store.activity_key(odd),
            store.applied_key(odd, "s-{1}"),
        ];
        assert!(ann_keys.iter().all(|key| hash_tag(key) == "user:u-ann"));
        assert!(odd_keys.iter().all(|key| hash_tag(key) == "user:u-{x"));
        if redis.conn.is_cluster() {
            for keys in [&ann_keys, &odd_keys] {
                let mut slots = Vec::new();
                for key in keys {
                    slots.push(raw(&redis, &["CLUSTER", "KEYSLOT", key]).await);
                }
                slots.dedup();
                assert_eq!(slots.len(), 1, "{keys:?} in slots {slots:?}");
            }
        }
        let both = users(&["u-ann", odd]);
        let kept = store.hand_over(&both, &session("s-1"), &room("r-1")).await;
        assert!(kept.unwrap().is_empty());
        assert_eq!(store.release(&both, &room("r-1")).await.unwrap(), 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_instances_sharing_one_redis_apply_each_part_once() {
    with_redis(|redis| async move {
        let mut stores = Vec::new();
        for _ in 0..5 {
            let conn = warren_testkit::redis::connect().await;
            stores.push(RedisStore::new(conn, redis.prefix.clone()));
        }
        let players: Vec<String> = (0..8).map(|i| format!("u-{i}")).collect();
        for player in &players {
            stores[0].create(&account(player, player)).await.unwrap();
        }
        let changes: Vec<RatingChange> = players
            .iter()
            .enumerate()
            .map(|(i, player)| change(player, if i == 0 { 7.0 } else { -1.0 }, i == 0))
            .collect();
        // One instance got as far as half the players before it stopped.
        stores[0]
            .apply_result("s-1", &changes[..4])
            .await
            .unwrap()
            .unwrap();
        // The result comes again, to every instance at once, several times.
        let attempts = (0..20).map(|i| {
            let store = stores[i % stores.len()].clone();
            let changes = changes.clone();
            tokio::spawn(async move { store.apply_result("s-1", &changes).await.unwrap() })
        });
        let answers: Vec<_> = futures_util::future::join_all(attempts)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let mut updated: Vec<String> = returned(answers).into_iter().map(|a| a.user_id).collect();
        updated.sort();
        assert_eq!(updated, players[4..], "each of the rest returned once");
        for (i, player) in players.iter().enumerate() {
            let stats = stores[1].get(player).await.unwrap().unwrap();
            let expected = if i == 0 {
                (1007.0, 1, 1)
            } else {
                (999.0, 1, 0)
            };
            assert_eq!(
                (stats.rating, stats.games_played, stats.games_won),
                expected,
                "{player}"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_damaged_activities_are_internal_errors() {
    with_redis(|redis| async move {
        let store = redis.store();
        let room = Activity::new(ActivityKind::Room, "r-1");
        let internal = |result: Result<(), StoreError>| {
            assert!(matches!(result, Err(StoreError::Internal(_))), "{result:?}");
        };
        // A kind this code does not know.
        let castle = store.activity_key("u-castle");
        raw(&redis, &["HSET", &castle, "kind", "castle", "id", "c-1"]).await;
        internal(store.activity("u-castle").await.map(drop));
        internal(store.claim("u-castle", &room, &[]).await.map(drop));
        // A key of another type.
        let string = store.activity_key("u-string");
        raw(&redis, &["SET", &string, "room:r-1"]).await;
        internal(store.activity("u-string").await.map(drop));
        internal(store.claim("u-string", &room, &[]).await.map(drop));
        let named = ["u-string".to_owned()];
        internal(store.release(&named, &room).await.map(drop));
        let to = Activity::new(ActivityKind::Session, "s-1");
        internal(store.hand_over(&named, &room, &to).await.map(drop));
        assert_eq!(
            raw(&redis, &["GET", &string]).await,
            redis::Value::BulkString(b"room:r-1".to_vec()),
            "left as it was"
        );
        // Half a record holds nobody, and the next claim writes a whole one.
        let half = store.activity_key("u-half");
        raw(&redis, &["HSET", &half, "kind", "room"]).await;
        assert_eq!(store.activity("u-half").await.unwrap(), None);
        assert_eq!(store.claim("u-half", &room, &[]).await.unwrap(), None);
        assert_eq!(store.activity("u-half").await.unwrap(), Some(room));
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
    let store = RedisStore::new(Redis::Single(conn), "test-accounts-unreachable:");
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
    unavailable(
        store
            .apply_result("s-1", &[change("u-1", 1.0, true)])
            .await
            .map(drop),
    );
    let room = Activity::new(ActivityKind::Room, "r-1");
    let named = ["u-1".to_owned()];
    unavailable(store.activity("u-1").await.map(drop));
    unavailable(store.claim("u-1", &room, &[]).await.map(drop));
    let to = Activity::new(ActivityKind::Session, "s-1");
    unavailable(store.hand_over(&named, &room, &to).await.map(drop));
    unavailable(store.release(&named, &room).await.map(drop));
}
