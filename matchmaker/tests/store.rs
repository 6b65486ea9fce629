//! The ticket store in memory and in Redis: the same scenarios over both. One ticket per user; a
//! group is taken whole or not at all, and never by two takers; a put-back keeps a ticket's age;
//! each due ticket goes to one sweeper; presence is the newest statement per gateway; leases are
//! exclusive and lapse.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, TestStore, eventually};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use warren_contracts::event::now_millis;
use warren_matchmaker::{Removal, TicketRecord, TicketStatus, TicketStore};

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
        deadline: 0,
        takes: 0,
    }
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
    assert_eq!(
        store
            .remove(&first.ticket_id, &[TicketStatus::Pending])
            .await
            .unwrap(),
        Removal::Kept(TicketStatus::Waiting)
    );
    let Removal::Removed(removed) = store
        .remove(&first.ticket_id, &[TicketStatus::Waiting])
        .await
        .unwrap()
    else {
        panic!("not removed");
    };
    assert_eq!(removed.ticket_id, first.ticket_id);
    assert_eq!(
        store
            .remove(&first.ticket_id, &[TicketStatus::Waiting])
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

async fn a_group_is_taken_whole_or_not_at_all(store: Store) {
    let (a, b, c) = (
        waiting(&store, 1000.0).await,
        waiting(&store, 1010.0).await,
        waiting(&store, 1020.0).await,
    );
    let pool = a.pool();
    store
        .remove(&c.ticket_id, &[TicketStatus::Waiting])
        .await
        .unwrap();
    let deadline = now_millis() + 30_000;
    assert!(
        store
            .take(&pool, &ids(&[&a, &c]), deadline)
            .await
            .unwrap()
            .is_none(),
        "a group with a ticket gone was taken"
    );
    assert_eq!(
        store.get(&a.ticket_id).await.unwrap().unwrap().status,
        TicketStatus::Waiting
    );
    // Not from another pool either.
    assert!(
        store
            .take("relay|eu-west|2", &ids(&[&a, &b]), deadline)
            .await
            .unwrap()
            .is_none()
    );
    let taken = store
        .take(&pool, &ids(&[&b, &a]), deadline)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        taken.iter().map(|t| &t.user_id).collect::<Vec<_>>(),
        vec![&b.user_id, &a.user_id],
        "in the order asked"
    );
    for t in &taken {
        assert_eq!(t.status, TicketStatus::Matching);
        assert_eq!(t.deadline, deadline);
        assert_eq!(t.takes, 1);
    }
    assert!(store.waiting(&pool).await.unwrap().is_empty());
    assert!(!store.pools().await.unwrap().contains(&pool));
    assert!(
        store
            .take(&pool, &ids(&[&a, &b]), deadline)
            .await
            .unwrap()
            .is_none(),
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
            tokio::spawn(async move { store.take(&pool, &group, later()).await.unwrap() })
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

async fn a_put_back_keeps_the_ticket_as_it_was(store: Store) {
    let (a, b) = (waiting(&store, 1000.0).await, waiting(&store, 1001.0).await);
    let pool = a.pool();
    let taken = store
        .take(&pool, &ids(&[&a, &b]), later())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.put_back(&taken).await.unwrap(), 2);
    assert_eq!(store.put_back(&taken).await.unwrap(), 0, "put back twice");
    let mut entries = store.waiting(&pool).await.unwrap();
    entries.sort_by(|x, y| x.rating.total_cmp(&y.rating));
    assert_eq!(entries, vec![a.waiting(), b.waiting()], "age kept");
    let back = store.get(&a.ticket_id).await.unwrap().unwrap();
    assert_eq!(back.status, TicketStatus::Waiting);
    assert_eq!(back.created_at, a.created_at);
    assert_eq!(back.takes, 1);

    // A late put-back of an earlier take cannot pull the ticket out of the match it is in now.
    let stale = taken;
    let now_taken = store
        .take(&pool, &ids(&[&a, &b]), later())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now_taken[0].takes, 2);
    assert_eq!(store.put_back(&stale).await.unwrap(), 0);
    assert_eq!(
        store.get(&a.ticket_id).await.unwrap().unwrap().status,
        TicketStatus::Matching
    );
}

async fn finishing_removes_the_tickets(store: Store) {
    let (a, b) = (waiting(&store, 1000.0).await, waiting(&store, 1001.0).await);
    let group = ids(&[&a, &b]);
    store
        .take(&a.pool(), &group, later())
        .await
        .unwrap()
        .unwrap();
    store.finish(&group).await.unwrap();
    for t in [&a, &b] {
        assert!(store.get(&t.ticket_id).await.unwrap().is_none());
        assert!(store.find_user(&t.user_id).await.unwrap().is_none());
    }
    // Nothing left to expire or recover.
    let far = now_millis() + 10_000_000;
    assert!(store.take_expired(far, 100).await.unwrap().is_empty());
    assert!(store.take_stuck(far, 100, far).await.unwrap().is_empty());
    // Finishing what is gone is fine.
    store.finish(&group).await.unwrap();
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
    store
        .take(&x.pool(), &ids(&[&x, &y]), later())
        .await
        .unwrap()
        .unwrap();

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

async fn a_stuck_ticket_goes_to_one_sweeper_at_a_time(store: Store) {
    let (a, b) = (waiting(&store, 1000.0).await, waiting(&store, 1001.0).await);
    let deadline = now_millis() - 1;
    store
        .take(&a.pool(), &ids(&[&a, &b]), deadline)
        .await
        .unwrap()
        .unwrap();
    let retry_at = now_millis() + 150;
    let sweepers: Vec<_> = (0..4)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.take_stuck(now_millis(), 10, retry_at).await.unwrap() })
        })
        .collect();
    let mut seen = Vec::new();
    for sweeper in sweepers {
        seen.extend(sweeper.await.unwrap());
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|t| t.deadline == retry_at && t.takes == 1));
    assert!(
        store
            .take_stuck(now_millis(), 10, later())
            .await
            .unwrap()
            .is_empty()
    );
    // Not settled in time: handed out again.
    eventually(Duration::from_secs(2), "stuck again", || {
        let store = Arc::clone(&store);
        async move {
            store
                .take_stuck(now_millis(), 10, later())
                .await
                .unwrap()
                .len()
                == 2
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
                    let store = super::TestStore::new(super::Backend::Memory).await;
                    super::$scenario(std::sync::Arc::clone(&store.store)).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    let store = super::TestStore::new(super::Backend::Redis).await;
                    super::$scenario(std::sync::Arc::clone(&store.store)).await;
                    store.clean().await;
                }
            )*
        }
    };
}

over_both_stores!(
    one_ticket_per_user,
    a_group_is_taken_whole_or_not_at_all,
    overlapping_takes_never_share_a_ticket,
    a_put_back_keeps_the_ticket_as_it_was,
    finishing_removes_the_tickets,
    each_due_ticket_goes_to_one_sweeper,
    a_stuck_ticket_goes_to_one_sweeper_at_a_time,
    presence_is_the_newest_statement_of_each_gateway,
    a_lease_is_exclusive_and_lapses,
);
