//! The ticket store in memory and in Redis: the same scenarios over both. One ticket per user; a
//! group is taken whole or not at all, and never by two takers; an undone match puts its tickets
//! back as they were, ends those whose players left, and is refused once it has a session; a done
//! match removes its tickets; each due ticket and each due match goes to one sweeper; presence is
//! the newest statement per gateway; leases are exclusive and lapse.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, eventually, test_store};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use warren_contracts::event::now_millis;
use warren_contracts::matchmaker::CancelReason;
use warren_matchmaker::{
    Abandoned, MatchRecord, Removal, Step, StoreError, TicketRecord, TicketStatus, TicketStore,
};

type Store = Arc<dyn TicketStore>;

fn ticket(user: &str, rating: f64, expires_at: u64) -> TicketRecord {
    TicketRecord {
        ticket_id: uuid::Uuid::new_v4().to_string(),
        user_id: user.to_owned(),
        mode: "tic-tac-toe".into(),
        region: "eu-west".into(),
        players_per_match: 2,
        rating,
        created_at: now_millis(),
        expires_at,
        status: TicketStatus::Pending,
        match_id: None,
        session_id: None,
        leaving: None,
    }
}

/// A match of `tickets` (in that order), due at `due`.
fn new_match(pool: &str, tickets: &[&TicketRecord], due: u64) -> MatchRecord {
    MatchRecord {
        match_id: uuid::Uuid::new_v4().to_string(),
        pool: pool.to_owned(),
        mode: "tic-tac-toe".into(),
        region: "eu-west".into(),
        tickets: ids(tickets),
        players: tickets.iter().map(|t| t.user_id.clone()).collect(),
        searching_since: tickets.iter().map(|t| t.created_at).collect(),
        session_id: None,
        handed_over: false,
        announced: false,
        due,
        done: false,
    }
}

/// Takes `tickets` into a new match; the match if they were all waiting in `pool`.
async fn take(
    store: &Store,
    pool: &str,
    tickets: &[&TicketRecord],
    due: u64,
) -> Option<MatchRecord> {
    let record = new_match(pool, tickets, due);
    let taken = store.take(&record).await.unwrap()?;
    assert_eq!(
        taken.iter().map(|t| &t.ticket_id).collect::<Vec<_>>(),
        record.tickets.iter().collect::<Vec<_>>(),
        "in the order asked"
    );
    Some(record)
}

fn later() -> u64 {
    now_millis() + 600_000
}

/// A waiting ticket for a new user.
async fn waiting(store: &Store, rating: f64) -> TicketRecord {
    let record = ticket(&common::user(), rating, later());
    assert_eq!(store.add(&record).await.unwrap(), None);
    assert!(store.activate(&record.ticket_id).await.unwrap());
    store.get(&record.ticket_id).await.unwrap().unwrap()
}

fn ids(tickets: &[&TicketRecord]) -> Vec<String> {
    tickets.iter().map(|t| t.ticket_id.clone()).collect()
}

async fn one_ticket_per_user(store: Store) {
    let user = common::user();
    let first = ticket(&user, 1234.5678, later());
    let pool = first.pool();
    assert_eq!(store.add(&first).await.unwrap(), None);
    let second = ticket(&user, 1000.0, later());
    assert_eq!(
        store.add(&second).await.unwrap(),
        Some(first.ticket_id.clone())
    );
    assert!(store.get(&second.ticket_id).await.unwrap().is_none());
    let found = store.find_user(&user).await.unwrap().unwrap();
    assert_eq!(found, first, "read back as written, pending");
    // Pending: held, not matchable.
    assert!(!store.pools().await.unwrap().contains(&pool));
    assert!(store.activate(&first.ticket_id).await.unwrap());
    assert!(!store.activate(&first.ticket_id).await.unwrap());
    assert_eq!(
        store.get(&first.ticket_id).await.unwrap().unwrap().status,
        TicketStatus::Waiting
    );
    assert!(store.pools().await.unwrap().contains(&pool));
    let entries = store.waiting(&pool).await.unwrap();
    assert_eq!(entries, vec![first.waiting()], "rating and age exactly");

    // Removal only from the states allowed.
    let kept = store
        .remove(&first.ticket_id, &[TicketStatus::Pending], None)
        .await
        .unwrap();
    assert!(
        matches!(&kept, Removal::Kept(t) if t.status == TicketStatus::Waiting && t.leaving.is_none()),
        "{kept:?}"
    );
    let Removal::Removed(removed) = store
        .remove(&first.ticket_id, &[TicketStatus::Waiting], None)
        .await
        .unwrap()
    else {
        panic!("not removed");
    };
    assert_eq!(removed.ticket_id, first.ticket_id);
    assert_eq!(
        store
            .remove(&first.ticket_id, &[TicketStatus::Waiting], None)
            .await
            .unwrap(),
        Removal::Missing
    );
    assert!(store.find_user(&user).await.unwrap().is_none());
    assert!(!store.pools().await.unwrap().contains(&pool));
    assert!(store.waiting(&pool).await.unwrap().is_empty());
    // Free to search again.
    assert_eq!(store.add(&second).await.unwrap(), None);
}

/// Starts at the same moment for one user: one ticket is stored, and every other start is told
/// of a ticket of the user's (the one that got there, or one that was getting there).
async fn starts_at_once_store_one_ticket(store: Store) {
    let user = common::user();
    let racers: Vec<TicketRecord> = (0..20)
        .map(|i| ticket(&user, 1000.0 + f64::from(i), later()))
        .collect();
    let ids: HashSet<String> = racers.iter().map(|t| t.ticket_id.clone()).collect();
    let adds: Vec<_> = racers
        .iter()
        .cloned()
        .map(|record| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let answer = store.add(&record).await.unwrap();
                (record.ticket_id, answer)
            })
        })
        .collect();
    let mut stored = Vec::new();
    for add in adds {
        match add.await.unwrap() {
            (id, None) => stored.push(id),
            (id, Some(other)) => {
                assert_ne!(other, id, "told of itself");
                assert!(
                    ids.contains(&other),
                    "told of {other}, not one of the starts"
                );
            }
        }
    }
    assert_eq!(stored.len(), 1, "{stored:?}");
    let found = store.find_user(&user).await.unwrap().unwrap();
    assert_eq!(found.ticket_id, stored[0]);
    for id in &ids {
        assert_eq!(
            store.get(id).await.unwrap().is_some(),
            *id == stored[0],
            "{id}"
        );
    }
}

/// A ticket whose time ran out while it was being matched is its match's: if the match is undone,
/// it runs out at the next sweep, at its own moment.
async fn a_ticket_due_while_matched_expires_once_put_back(store: Store) {
    let past = now_millis() - 1;
    let (a, b) = (
        ticket(&common::user(), 1000.0, past),
        ticket(&common::user(), 1001.0, past),
    );
    for t in [&a, &b] {
        assert_eq!(store.add(t).await.unwrap(), None);
        assert!(store.activate(&t.ticket_id).await.unwrap());
    }
    let made = take(&store, &a.pool(), &[&a, &b], later()).await.unwrap();
    assert!(
        store
            .take_expired(now_millis(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        store.abandon(&made.match_id).await.unwrap(),
        Abandoned::Undone { .. }
    ));
    let mut expired: Vec<String> = store
        .take_expired(now_millis(), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.ticket_id)
        .collect();
    expired.sort();
    let mut both = ids(&[&a, &b]);
    both.sort();
    assert_eq!(expired, both);
    assert!(store.find_user(&a.user_id).await.unwrap().is_none());
    assert!(store.waiting(&a.pool()).await.unwrap().is_empty());
}

async fn a_group_is_taken_whole_or_not_at_all(store: Store) {
    let (a, b, c) = (
        waiting(&store, 1000.0).await,
        waiting(&store, 1010.0).await,
        waiting(&store, 1020.0).await,
    );
    let pool = a.pool();
    store
        .remove(&c.ticket_id, &[TicketStatus::Waiting], None)
        .await
        .unwrap();
    let due = now_millis() + 30_000;
    let gone = new_match(&pool, &[&a, &c], due);
    assert!(
        store.take(&gone).await.unwrap().is_none(),
        "a group with a ticket gone was taken"
    );
    assert!(store.get_match(&gone.match_id).await.unwrap().is_none());
    assert_eq!(
        store.get(&a.ticket_id).await.unwrap().unwrap().status,
        TicketStatus::Waiting
    );
    // Not from another pool either.
    assert!(
        take(&store, "relay|eu-west|2", &[&a, &b], due)
            .await
            .is_none()
    );
    let made = take(&store, &pool, &[&b, &a], due).await.unwrap();
    for t in [&a, &b] {
        let t = store.get(&t.ticket_id).await.unwrap().unwrap();
        assert_eq!(t.status, TicketStatus::Matching);
        assert_eq!(t.match_id.as_deref(), Some(made.match_id.as_str()));
    }
    let stored = store.get_match(&made.match_id).await.unwrap().unwrap();
    assert_eq!(stored, made, "the match read back as written");
    assert!(store.waiting(&pool).await.unwrap().is_empty());
    assert!(!store.pools().await.unwrap().contains(&pool));
    assert!(
        take(&store, &pool, &[&a, &b], due).await.is_none(),
        "taken twice"
    );
}

async fn overlapping_takes_never_share_a_ticket(store: Store) {
    let mut tickets = Vec::new();
    for i in 0..24 {
        tickets.push(waiting(&store, 1000.0 + f64::from(i)).await);
    }
    let pool = tickets[0].pool();
    // Every pair of neighbours, and every triple, at once: each ticket is in several groups.
    let mut groups = Vec::new();
    for i in 0..tickets.len() - 1 {
        groups.push(vec![
            tickets[i].ticket_id.clone(),
            tickets[i + 1].ticket_id.clone(),
        ]);
    }
    for i in 0..tickets.len() - 2 {
        groups.push(
            (i..i + 3)
                .map(|j| tickets[j].ticket_id.clone())
                .collect::<Vec<_>>(),
        );
    }
    let takers: Vec<_> = groups
        .into_iter()
        .map(|group| {
            let (store, pool) = (Arc::clone(&store), pool.clone());
            tokio::spawn(async move {
                let mut record = new_match(&pool, &[], later());
                record.tickets = group;
                store.take(&record).await.unwrap()
            })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut wins = 0;
    for taker in takers {
        if let Some(taken) = taker.await.unwrap() {
            wins += 1;
            for t in taken {
                assert!(
                    seen.insert(t.ticket_id.clone()),
                    "{} taken twice",
                    t.ticket_id
                );
            }
        }
    }
    assert!(wins >= 1);
    let left: HashSet<String> = store
        .waiting(&pool)
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.ticket_id)
        .collect();
    assert_eq!(seen.len() + left.len(), tickets.len(), "a ticket was lost");
    assert!(seen.is_disjoint(&left));
}

async fn an_undone_match_puts_its_tickets_back_as_they_were(store: Store) {
    let (a, b) = (waiting(&store, 1000.0).await, waiting(&store, 1001.0).await);
    let pool = a.pool();
    let made = take(&store, &pool, &[&a, &b], later()).await.unwrap();
    let Abandoned::Undone { back, ended } = store.abandon(&made.match_id).await.unwrap() else {
        panic!("not undone");
    };
    assert_eq!((back.len(), ended.len()), (2, 0));
    assert_eq!(
        store.abandon(&made.match_id).await.unwrap(),
        Abandoned::Missing,
        "undone twice"
    );
    assert!(store.get_match(&made.match_id).await.unwrap().is_none());
    let mut entries = store.waiting(&pool).await.unwrap();
    entries.sort_by(|x, y| x.rating.total_cmp(&y.rating));
    assert_eq!(entries, vec![a.waiting(), b.waiting()], "age kept");
    let again = store.get(&a.ticket_id).await.unwrap().unwrap();
    assert_eq!(again, a, "as it was before the take");
    let far = now_millis() + 10_000_000;
    assert!(store.take_due(far, 10, far).await.unwrap().is_empty());
}

async fn a_player_who_left_ends_with_an_undone_match(store: Store) {
    let (a, b) = (waiting(&store, 1000.0).await, waiting(&store, 1001.0).await);
    let made = take(&store, &a.pool(), &[&a, &b], later()).await.unwrap();
    let allowed = [TicketStatus::Pending, TicketStatus::Waiting];
    let kept = store
        .remove(&a.ticket_id, &allowed, Some(CancelReason::Disconnected))
        .await
        .unwrap();
    let Removal::Kept(marked) = kept else {
        panic!("a matching ticket was removed: {kept:?}");
    };
    assert_eq!(marked.status, TicketStatus::Matching);
    assert_eq!(marked.leaving, Some(CancelReason::Disconnected));
    let Abandoned::Undone { back, ended } = store.abandon(&made.match_id).await.unwrap() else {
        panic!("not undone");
    };
    assert_eq!(
        back.iter().map(|t| &t.ticket_id).collect::<Vec<_>>(),
        vec![&b.ticket_id]
    );
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].ticket_id, a.ticket_id);
    assert_eq!(ended[0].leaving, Some(CancelReason::Disconnected));
    assert!(store.get(&a.ticket_id).await.unwrap().is_none());
    assert!(store.find_user(&a.user_id).await.unwrap().is_none());
    assert_eq!(
        store.waiting(&a.pool()).await.unwrap(),
        vec![b.waiting()],
        "the one who left never waits again"
    );
}

async fn a_match_with_a_session_only_goes_forward(store: Store) {
    let (a, b) = (waiting(&store, 1000.0).await, waiting(&store, 1001.0).await);
    let made = take(&store, &a.pool(), &[&a, &b], later()).await.unwrap();
    let (recorded, first) = store
        .record_session(&made.match_id, "session-1")
        .await
        .unwrap()
        .unwrap();
    assert!(first);
    assert_eq!(recorded.session_id.as_deref(), Some("session-1"));
    let (_, again) = store
        .record_session(&made.match_id, "session-1")
        .await
        .unwrap()
        .unwrap();
    assert!(!again, "recorded twice");
    for t in [&a, &b] {
        let t = store.get(&t.ticket_id).await.unwrap().unwrap();
        assert_eq!(t.status, TicketStatus::Matched);
        assert_eq!(t.session_id.as_deref(), Some("session-1"));
    }
    // Never undone, and a player who leaves now stays in it.
    assert_eq!(
        store.abandon(&made.match_id).await.unwrap(),
        Abandoned::HasSession
    );
    let allowed = [TicketStatus::Pending, TicketStatus::Waiting];
    let kept = store
        .remove(&a.ticket_id, &allowed, Some(CancelReason::Cancelled))
        .await
        .unwrap();
    assert!(
        matches!(&kept, Removal::Kept(t) if t.status == TicketStatus::Matched && t.leaving.is_none()),
        "{kept:?}"
    );
    assert!(store.waiting(&a.pool()).await.unwrap().is_empty());
    assert!(
        store
            .record_session("no-such-match", "session-1")
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_done_match_removes_its_tickets(store: Store) {
    let (a, b) = (waiting(&store, 1000.0).await, waiting(&store, 1001.0).await);
    let made = take(&store, &a.pool(), &[&a, &b], later()).await.unwrap();
    store
        .record_session(&made.match_id, "session-2")
        .await
        .unwrap();
    store.note(&made.match_id, Step::HandedOver).await.unwrap();
    let noted = store.get_match(&made.match_id).await.unwrap().unwrap();
    assert!(noted.handed_over && !noted.announced);
    store.note(&made.match_id, Step::Announced).await.unwrap();
    store.complete(&made.match_id).await.unwrap();
    for t in [&a, &b] {
        assert!(store.get(&t.ticket_id).await.unwrap().is_none());
        assert!(store.find_user(&t.user_id).await.unwrap().is_none());
    }
    // Kept a while, done, for a cancel that waits on it.
    let done = store.get_match(&made.match_id).await.unwrap().unwrap();
    assert!(done.done && done.announced);
    assert_eq!(done.session_id.as_deref(), Some("session-2"));
    // Nothing left to expire or carry on.
    let far = now_millis() + 10_000_000;
    assert!(store.take_expired(far, 100).await.unwrap().is_empty());
    assert!(store.take_due(far, 100, far).await.unwrap().is_empty());
    // Completing, deferring or undoing what is done changes nothing.
    store.complete(&made.match_id).await.unwrap();
    store.defer(&made.match_id, 0).await.unwrap();
    assert_eq!(
        store.abandon(&made.match_id).await.unwrap(),
        Abandoned::HasSession
    );
    assert!(store.take_due(far, 100, far).await.unwrap().is_empty());
}

async fn each_due_ticket_goes_to_one_sweeper(store: Store) {
    let past = now_millis() - 1;
    let mut due = HashSet::new();
    for i in 0..30 {
        let record = ticket(&common::user(), 1000.0, past);
        store.add(&record).await.unwrap();
        // Some pending (their start never finished), most waiting.
        if i % 3 != 0 {
            store.activate(&record.ticket_id).await.unwrap();
        }
        due.insert(record.ticket_id);
    }
    let future = waiting(&store, 1000.0).await;
    // Matching tickets are their match's business, expired or not.
    let (x, y) = (
        ticket(&common::user(), 1.0, past),
        ticket(&common::user(), 2.0, past),
    );
    for t in [&x, &y] {
        store.add(t).await.unwrap();
        store.activate(&t.ticket_id).await.unwrap();
    }
    take(&store, &x.pool(), &[&x, &y], later()).await.unwrap();

    let sweepers: Vec<_> = (0..6)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = store.take_expired(now_millis(), 4).await.unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch);
                }
            })
        })
        .collect();
    let mut taken = HashSet::new();
    for sweeper in sweepers {
        for record in sweeper.await.unwrap() {
            assert!(record.status != TicketStatus::Matching);
            assert!(taken.insert(record.ticket_id.clone()), "expired twice");
            assert!(store.find_user(&record.user_id).await.unwrap().is_none());
        }
    }
    assert_eq!(taken, due);
    assert!(store.get(&future.ticket_id).await.unwrap().is_some());
    assert!(store.get(&x.ticket_id).await.unwrap().is_some());
    assert!(
        store.waiting(&x.pool()).await.unwrap().len() == 1,
        "only the future one waits"
    );
}

async fn a_due_match_goes_to_one_sweeper_at_a_time(store: Store) {
    let (a, b) = (waiting(&store, 1000.0).await, waiting(&store, 1001.0).await);
    let made = take(&store, &a.pool(), &[&a, &b], later()).await.unwrap();
    assert!(
        store
            .take_due(now_millis(), 10, later())
            .await
            .unwrap()
            .is_empty(),
        "due before its time"
    );
    // Brought forward, as an instance does when a step fails.
    store.defer(&made.match_id, now_millis() - 1).await.unwrap();
    let retry_at = now_millis() + 150;
    let sweepers: Vec<_> = (0..4)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.take_due(now_millis(), 10, retry_at).await.unwrap() })
        })
        .collect();
    let mut seen = Vec::new();
    for sweeper in sweepers {
        seen.extend(sweeper.await.unwrap());
    }
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].match_id, made.match_id);
    assert_eq!(seen[0].due, retry_at);
    assert_eq!(seen[0].players, made.players);
    assert!(
        store
            .take_due(now_millis(), 10, later())
            .await
            .unwrap()
            .is_empty()
    );
    // Not settled in time: handed out again.
    eventually(Duration::from_secs(2), "due again", || {
        let store = Arc::clone(&store);
        async move {
            store
                .take_due(now_millis(), 10, later())
                .await
                .unwrap()
                .len()
                == 1
        }
    })
    .await;
}

async fn presence_is_the_newest_statement_of_each_gateway(store: Store) {
    let user = common::user();
    let t = now_millis();
    assert!(store.set_presence(&user, "gw-1", true, t).await.unwrap());
    assert!(
        store
            .set_presence(&user, "gw-2", true, t + 1)
            .await
            .unwrap()
    );
    assert!(
        store
            .set_presence(&user, "gw-1", false, t + 2)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_presence(&user, "gw-2", false, t + 3)
            .await
            .unwrap()
    );
    // An online that overtook its offline on the way is old news.
    assert!(
        !store
            .set_presence(&user, "gw-2", true, t + 2)
            .await
            .unwrap()
    );
    assert!(
        store
            .set_presence(&user, "gw-2", true, t + 4)
            .await
            .unwrap()
    );
    // Others are apart.
    assert!(
        !store
            .set_presence(&common::user(), "gw-1", false, t)
            .await
            .unwrap()
    );
}

async fn a_lease_is_exclusive_and_lapses(store: Store) {
    let pool = format!("relay|{}|2", uuid::Uuid::new_v4().simple());
    let long = Duration::from_secs(5);
    assert!(store.lease(&pool, "a", long).await.unwrap());
    assert!(!store.lease(&pool, "b", long).await.unwrap());
    assert!(
        !store.lease(&pool, "a", long).await.unwrap(),
        "not reentrant"
    );
    // Only its holder gives it back.
    store.release_lease(&pool, "b").await.unwrap();
    assert!(!store.lease(&pool, "b", long).await.unwrap());
    store.release_lease(&pool, "a").await.unwrap();
    assert!(
        store
            .lease(&pool, "b", Duration::from_millis(50))
            .await
            .unwrap()
    );
    // Other pools are apart.
    assert!(store.lease("other|x|2", "a", long).await.unwrap());
    eventually(Duration::from_secs(2), "the lease lapses", || {
        let (store, pool) = (Arc::clone(&store), pool.clone());
        async move { store.lease(&pool, "a", long).await.unwrap() }
    })
    .await;
    store.release_lease("other|x|2", "a").await.unwrap();
}

macro_rules! over_both_stores {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    let store = super::test_store(super::Backend::Memory).await;
                    super::$scenario(std::sync::Arc::clone(&store.store)).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
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
    one_ticket_per_user,
    starts_at_once_store_one_ticket,
    a_ticket_due_while_matched_expires_once_put_back,
    a_group_is_taken_whole_or_not_at_all,
    overlapping_takes_never_share_a_ticket,
    an_undone_match_puts_its_tickets_back_as_they_were,
    a_player_who_left_ends_with_an_undone_match,
    a_match_with_a_session_only_goes_forward,
    a_done_match_removes_its_tickets,
    each_due_ticket_goes_to_one_sweeper,
    a_due_match_goes_to_one_sweeper_at_a_time,
    presence_is_the_newest_statement_of_each_gateway,
    a_lease_is_exclusive_and_lapses,
);

/// Only in Redis: what comes of keeping a pool's tickets and matches apart from the pointers and
/// indexes that lead to them (see the Redis store's module). Each scenario reaches the keys by the
/// names documented there.
mod redis_layout {
    use super::*;
    use warren_matchmaker::RedisStore;
    use warren_runtime::redis_client::tag;
    use warren_testkit::redis::{TestRedis, with_redis};

    /// The test's store and its keys.
    struct Raw {
        redis: TestRedis,
        store: Store,
    }

    impl Raw {
        fn new(redis: TestRedis) -> Self {
            let store: Store = Arc::new(RedisStore::new(redis.conn.clone(), redis.prefix.clone()));
            Self { redis, store }
        }

        fn key(&self, name: &str) -> String {
            format!("{}{name}", self.redis.prefix)
        }

        fn reference(pool: &str, id: &str) -> String {
            serde_json::json!([pool, id]).to_string()
        }

        async fn cmd<T: ::redis::FromRedisValue>(&self, cmd: &::redis::Cmd) -> T {
            cmd.query_async(&mut self.redis.conn.clone()).await.unwrap()
        }

        async fn pttl(&self, key: &str) -> i64 {
            self.cmd(::redis::cmd("PTTL").arg(key)).await
        }
    }

    const POOL: &str = "tic-tac-toe|eu-west|2";

    #[tokio::test]
    async fn pointers_to_nothing_are_ignored() {
        with_redis("matchmaker", |redis| async move {
            let raw = Raw::new(redis);
            let store = &raw.store;
            // A start that stored its user's pointer and died before its ticket.
            let user = common::user();
            let pointer = raw.key(&format!("user:{}", tag("user", &user)));
            let ghost = Raw::reference(POOL, "ghost");
            let _: () = raw.cmd(::redis::cmd("SET").arg(&pointer).arg(&ghost)).await;
            assert!(store.find_user(&user).await.unwrap().is_none());
            let record = ticket(&user, 1000.0, later());
            assert_eq!(store.add(&record).await.unwrap(), None, "held by nothing");
            assert_eq!(
                store.find_user(&user).await.unwrap().unwrap().ticket_id,
                record.ticket_id
            );
            // A ticket's pointer, and a match's, to nothing.
            let lost = raw.key(&format!("where:{}", tag("ticket", "lost")));
            let _: () = raw.cmd(::redis::cmd("SET").arg(&lost).arg(POOL)).await;
            assert!(store.get("lost").await.unwrap().is_none());
            assert!(!store.activate("lost").await.unwrap());
            assert_eq!(
                store
                    .remove("lost", &[TicketStatus::Pending], None)
                    .await
                    .unwrap(),
                Removal::Missing
            );
            let lost_match = raw.key(&format!("where:{}", tag("match", "lost")));
            let place = serde_json::json!({"pool": POOL, "tickets": [record.ticket_id]});
            let _: () = raw
                .cmd(::redis::cmd("SET").arg(&lost_match).arg(place.to_string()))
                .await;
            assert!(store.get_match("lost").await.unwrap().is_none());
            assert!(store.record_session("lost", "s").await.unwrap().is_none());
            store.note("lost", Step::Announced).await.unwrap();
            store.defer("lost", 0).await.unwrap();
            store.complete("lost").await.unwrap();
            assert_eq!(store.abandon("lost").await.unwrap(), Abandoned::Missing);
            let far = now_millis() + 10_000_000;
            assert!(store.take_due(far, 10, far).await.unwrap().is_empty());
            let still = store.get(&record.ticket_id).await.unwrap().unwrap();
            assert_eq!(still.status, TicketStatus::Pending, "untouched");
        })
        .await;
    }

    #[tokio::test]
    async fn stale_index_entries_are_skipped_dropped_and_stay_dropped() {
        with_redis("matchmaker", |redis| async move {
            let raw = Raw::new(redis);
            let store = &raw.store;
            let past = now_millis() - 1;
            let (expiry, due, pools) = (raw.key("expiry"), raw.key("due"), raw.key("pool-index"));
            // Entries whose ticket and match never came (their writers died), unreadable ones,
            // a pool emptied long ago, and one with a ticket whose entry looks just as old.
            let live = waiting(store, 1000.0).await;
            let idle_since = now_millis() - 3_600_000;
            for (key, member) in [
                (&expiry, Raw::reference(POOL, "ghost")),
                (&expiry, "garbage".to_owned()),
                (&due, Raw::reference(POOL, "ghost-match")),
                (&due, "garbage".to_owned()),
            ] {
                let _: () = raw
                    .cmd(::redis::cmd("ZADD").arg(key).arg(past).arg(member))
                    .await;
            }
            for pool in ["relay|nowhere|2", POOL] {
                let _: () = raw
                    .cmd(::redis::cmd("ZADD").arg(&pools).arg(idle_since).arg(pool))
                    .await;
            }
            assert!(
                store
                    .take_expired(now_millis(), 10)
                    .await
                    .unwrap()
                    .is_empty()
            );
            assert!(
                store
                    .take_due(now_millis(), 10, later())
                    .await
                    .unwrap()
                    .is_empty()
            );
            assert_eq!(store.pools().await.unwrap(), vec![POOL.to_owned()]);
            let left: Vec<String> = raw
                .cmd(::redis::cmd("ZRANGE").arg(&expiry).arg(0).arg(-1))
                .await;
            assert_eq!(left, vec![Raw::reference(POOL, &live.ticket_id)]);
            let left: u64 = raw.cmd(::redis::cmd("ZCARD").arg(&due)).await;
            assert_eq!(left, 0);
            let left: Vec<String> = raw
                .cmd(::redis::cmd("ZRANGE").arg(&pools).arg(0).arg(-1))
                .await;
            assert_eq!(left, vec![POOL.to_owned()], "the pool with a ticket stays");
            // A start whose entry was dropped before its ticket was stored cannot store it now.
            let mut late = ticket(&common::user(), 1000.0, later());
            late.ticket_id = "ghost".into();
            assert!(matches!(
                store.add(&late).await,
                Err(StoreError::Unavailable(_))
            ));
            assert!(store.get("ghost").await.unwrap().is_none());
            assert!(store.find_user(&late.user_id).await.unwrap().is_none());
            // Nor a take the match of which a sweeper found missing.
            let other = waiting(store, 1001.0).await;
            let mut gone = new_match(POOL, &[&live, &other], later());
            gone.match_id = "ghost-match".into();
            assert!(store.take(&gone).await.unwrap().is_none());
            assert_eq!(
                store.waiting(POOL).await.unwrap().len(),
                2,
                "both still wait"
            );
        })
        .await;
    }

    /// Each ticket's pointers live at least as long as its keys.
    async fn tickets_outlived(raw: &Raw, tickets: &[&TicketRecord]) {
        for t in tickets {
            let ticket = raw
                .pttl(&raw.key(&format!("ticket:{}:{}", tag("pool", POOL), t.ticket_id)))
                .await;
            assert!(ticket > 0, "{ticket}");
            let place = raw
                .pttl(&raw.key(&format!("where:{}", tag("ticket", &t.ticket_id))))
                .await;
            let user = raw
                .pttl(&raw.key(&format!("user:{}", tag("user", &t.user_id))))
                .await;
            assert!(place >= ticket && user >= ticket, "{place} {user} {ticket}");
        }
    }

    /// The match's pointer lives at least as long as its keys.
    async fn match_outlived(raw: &Raw, match_id: &str) {
        let record = raw
            .pttl(&raw.key(&format!("match:{}:{match_id}", tag("pool", POOL))))
            .await;
        let place = raw
            .pttl(&raw.key(&format!("where:{}", tag("match", match_id))))
            .await;
        assert!(record > 0 && place >= record, "{place} {record}");
    }

    #[tokio::test]
    async fn pointers_outlive_what_they_point_at() {
        with_redis("matchmaker", |redis| async move {
            let raw = Raw::new(redis);
            let store = &raw.store;
            let (a, b) = (waiting(store, 1000.0).await, waiting(store, 1001.0).await);
            tickets_outlived(&raw, &[&a, &b]).await;
            let made = take(store, POOL, &[&a, &b], later()).await.unwrap();
            tickets_outlived(&raw, &[&a, &b]).await;
            match_outlived(&raw, &made.match_id).await;
            store.defer(&made.match_id, now_millis() - 1).await.unwrap();
            assert_eq!(
                store
                    .take_due(now_millis(), 10, later())
                    .await
                    .unwrap()
                    .len(),
                1
            );
            tickets_outlived(&raw, &[&a, &b]).await;
            match_outlived(&raw, &made.match_id).await;
        })
        .await;
    }
}
