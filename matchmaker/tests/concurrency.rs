//! Thousands of players at once, through two instances of the service, each with its own matching
//! loop, over one store, in memory and in Redis: however the starts and passes interleave, every
//! ticket ends in exactly one session or is still waiting, none is lost, and each match keeps the
//! rules (one pool, ratings within the window).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, Harness, search, ticket};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use warren_bus::CallOptions;
use warren_contracts::activity::{Activity, ActivityKind};
use warren_contracts::event::now_millis;
use warren_contracts::matchmaker::Start;
use warren_matchmaker::MatchmakerConfig;
use warren_matchmaker::pool::{self, Window};
use warren_matchmaker::store::pool_key;

const INSTANCES: usize = 2;
const PLAYERS: usize = 2_000;
/// (mode, region, players per match)
const POOLS: [(&str, &str, u32); 4] = [
    ("tic-tac-toe", "eu", 2),
    ("tic-tac-toe", "us", 2),
    ("relay", "eu", 3),
    ("relay", "eu", 4),
];
/// A window that does not widen, so that a state where nothing more can match is reached.
const WINDOW: Window = Window {
    start: 50.0,
    growth_per_sec: 0.0,
    max: 50.0,
};

struct Player {
    user: String,
    rating: f64,
    pool: usize,
}

async fn thousands_of_players_through_two_instances(backend: Backend) {
    let config = MatchmakerConfig {
        window: WINDOW,
        match_every: Duration::from_millis(20),
        ..MatchmakerConfig::default()
    };
    let h = Harness::with(backend, config, INSTANCES, true).await;
    let players: Vec<Player> = (0..PLAYERS)
        .map(|i| {
            let rating = rand::random_range(1000.0..2000.0);
            Player {
                user: h.player(rating),
                rating,
                pool: i % POOLS.len(),
            }
        })
        .collect();
    let starts: Vec<_> = players
        .iter()
        .map(|p| {
            let (mode, region, size) = POOLS[p.pool];
            let (bus, options) = (h.bus.clone(), CallOptions::default().user_id(&p.user));
            tokio::spawn(async move {
                bus.call::<Start>(&search(mode, region, Some(size)), options)
                    .await
                    .map_err(|e| e.to_wire())
            })
        })
        .collect();
    let mut tickets: HashMap<String, String> = HashMap::new();
    for (player, started) in players.iter().zip(starts) {
        let started = started.await.unwrap().unwrap();
        tickets.insert(player.user.clone(), started.ticket_id);
    }

    // Until everyone is in a session or waiting, and nothing waiting can match any more.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let (seated, waiting) = loop {
        let seated = seated(&h);
        let mut waiting = HashSet::new();
        let mut matchable = false;
        for (mode, region, size) in POOLS {
            let pool = pool_key(mode, region, size);
            let left = h.store.waiting(&pool).await.unwrap();
            let size = usize::try_from(size).unwrap();
            matchable |= !pool::find_matches(&left, size, &WINDOW, now_millis()).is_empty();
            waiting.extend(left.into_iter().map(|w| w.ticket_id));
        }
        // A match is done when its players' claims are handed to the session and their tickets
        // are gone, steps after the session is created: one still under way is not settled.
        if !matchable
            && seated.len() + waiting.len() == PLAYERS
            && handed_over(&h)
            && tickets_gone(&h, &seated, &tickets).await
        {
            break (seated, waiting);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not settled: {} seated, {} waiting, matchable: {matchable}",
            seated.len(),
            waiting.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(seated.len() > PLAYERS / 2, "few matches: {}", seated.len());

    let by_user: HashMap<&str, &Player> = players.iter().map(|p| (p.user.as_str(), p)).collect();
    for session in h.fakes.sessions() {
        let members: Vec<&Player> = session
            .players
            .iter()
            .map(|u| by_user[u.as_str()])
            .collect();
        let (mode, _, size) = POOLS[members[0].pool];
        assert_eq!(session.game, mode);
        assert_eq!(session.players.len(), usize::try_from(size).unwrap());
        for a in &members {
            assert_eq!(a.pool, members[0].pool, "a match across pools");
            for b in &members {
                assert!(
                    (a.rating - b.rating).abs() <= WINDOW.max,
                    "a match outside the window"
                );
            }
            let in_session = Activity::new(ActivityKind::Session, &session.session_id);
            assert_eq!(h.fakes.claim_of(&a.user), Some(in_session));
        }
    }
    for player in &players {
        let ticket_id = &tickets[&player.user];
        if seated.contains(&player.user) {
            assert!(
                !waiting.contains(ticket_id),
                "{} matched and waiting",
                player.user
            );
            assert!(h.store.get(ticket_id).await.unwrap().is_none());
        } else {
            assert!(
                waiting.contains(ticket_id),
                "{}'s ticket was lost",
                player.user
            );
            assert_eq!(h.fakes.claim_of(&player.user), Some(ticket(ticket_id)));
        }
    }
    h.stop().await;
}

/// Whether every player of every session has their claim handed over to it.
fn handed_over(h: &Harness) -> bool {
    h.fakes.sessions().iter().all(|session| {
        let in_session = Activity::new(ActivityKind::Session, &session.session_id);
        session
            .players
            .iter()
            .all(|user| h.fakes.claim_of(user).as_ref() == Some(&in_session))
    })
}

/// Whether the tickets of everyone seated are gone from the store, the last step of a match.
async fn tickets_gone(
    h: &Harness,
    seated: &HashSet<String>,
    tickets: &HashMap<String, String>,
) -> bool {
    for user in seated {
        if h.store.get(&tickets[user]).await.unwrap().is_some() {
            return false;
        }
    }
    true
}

/// Everyone in a session, checking that nobody is in two.
fn seated(h: &Harness) -> HashSet<String> {
    let mut seated = HashSet::new();
    for session in h.fakes.sessions() {
        for player in session.players {
            assert!(seated.insert(player.clone()), "{player} is in two sessions");
        }
    }
    seated
}

mod memory {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn thousands_of_players_through_two_instances() {
        super::thousands_of_players_through_two_instances(super::Backend::Memory).await;
    }
}

mod redis {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn thousands_of_players_through_two_instances() {
        super::thousands_of_players_through_two_instances(super::Backend::Redis).await;
    }
}
