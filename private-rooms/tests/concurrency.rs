//! Many players at once, through two instances of the service over one store, in memory and in
//! Redis: a room never seats more players than it has seats, starts at most one session, and no
//! user ends up in two places, however the requests interleave.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, Harness};
use std::collections::{HashMap, HashSet};
use warren_bus::{Bus, CallOptions};
use warren_contracts::activity::{Activity, ActivityKind};
use warren_contracts::private_rooms::{Code, Create, Join, NewPrivateRoom, PrivateRoom};
use warren_contracts::{ErrorCode, WireError};
use warren_private_rooms::PrivateRoomsConfig;

const INSTANCES: usize = 2;

async fn harness(backend: Backend) -> Harness {
    Harness::with(backend, PrivateRoomsConfig::default(), INSTANCES, true).await
}

async fn create(h: &Harness, owner: &str, seats: u32) -> PrivateRoom {
    let params = NewPrivateRoom {
        mode: "relay".into(),
        max_players: seats,
    };
    h.call::<Create>(owner, &params).await.unwrap()
}

fn join(
    bus: &Bus,
    user: &str,
    code: &str,
) -> tokio::task::JoinHandle<Result<PrivateRoom, WireError>> {
    let (bus, options) = (bus.clone(), CallOptions::default().user_id(user));
    let code = Code { code: code.into() };
    tokio::spawn(async move {
        bus.call::<Join>(&code, options)
            .await
            .map_err(|e| e.to_wire())
    })
}

async fn forty_race_for_a_four_seat_room(backend: Backend) {
    let h = harness(backend).await;
    let owner = h.player();
    let room = create(&h, &owner, 4).await;
    let players: Vec<String> = (0..40).map(|_| h.player()).collect();
    let joins: Vec<_> = players
        .iter()
        .map(|p| join(&h.bus, p, &room.code.to_lowercase()))
        .collect();
    let mut seated = Vec::new();
    for (player, joined) in players.iter().zip(joins) {
        match joined.await.unwrap() {
            Ok(_) => seated.push(player.clone()),
            Err(error) => {
                // Full while it started, or gone once it had.
                assert!(
                    matches!(error.code, ErrorCode::RoomFull | ErrorCode::NotFound),
                    "{error}"
                );
                assert!(h.fakes.claim_of(player).is_none(), "a loser kept a claim");
            }
        }
    }
    assert_eq!(seated.len(), 3, "{seated:?}");
    let sessions = h.fakes.sessions();
    assert_eq!(sessions.len(), 1, "one room, one session");
    let mut expected: HashSet<String> = seated.iter().cloned().collect();
    expected.insert(owner.clone());
    let got: HashSet<String> = sessions[0].players.iter().cloned().collect();
    assert_eq!(got, expected);
    assert_eq!(sessions[0].players.len(), 4);
    let session = Activity::new(ActivityKind::Session, &sessions[0].session_id);
    for player in &expected {
        assert_eq!(h.fakes.claim_of(player), Some(session.clone()));
    }
    assert!(h.store.get(&room.room_id).await.unwrap().is_none());
    h.stop().await;
}

async fn players_racing_for_several_rooms_end_up_in_one_place(backend: Backend) {
    let h = harness(backend).await;
    let owners: Vec<String> = (0..6).map(|_| h.player()).collect();
    let mut rooms = Vec::new();
    for owner in &owners {
        rooms.push(create(&h, owner, 4).await);
    }
    let players: Vec<String> = (0..40).map(|_| h.player()).collect();
    // Each player tries two rooms at once.
    let mut joins = Vec::new();
    for (i, player) in players.iter().enumerate() {
        joins.push(join(&h.bus, player, &rooms[i % rooms.len()].code));
        joins.push(join(&h.bus, player, &rooms[(i + 1) % rooms.len()].code));
    }
    for joined in joins {
        if let Err(error) = joined.await.unwrap() {
            assert!(
                matches!(
                    error.code,
                    ErrorCode::RoomFull
                        | ErrorCode::NotFound
                        | ErrorCode::AlreadyInRoom
                        | ErrorCode::InSession
                ),
                "{error}"
            );
        }
    }

    // Where everyone is: in a session, or seated in a room still open.
    let mut place: HashMap<String, Activity> = HashMap::new();
    let sessions = h.fakes.sessions();
    assert!(sessions.len() <= rooms.len());
    for session in &sessions {
        assert_eq!(session.players.len(), 4);
        for player in &session.players {
            let here = Activity::new(ActivityKind::Session, &session.session_id);
            assert!(
                place.insert(player.clone(), here).is_none(),
                "{player} is in two places"
            );
        }
    }
    for room in &rooms {
        let Some(record) = h.store.get(&room.room_id).await.unwrap() else {
            continue;
        };
        assert!(record.room.players.len() <= 4);
        assert_eq!(record.starting_at, 0, "a start was left hanging");
        for player in record.room.player_ids() {
            let here = Activity::new(ActivityKind::PrivateRoom, &room.room_id);
            assert!(
                place.insert(player.clone(), here).is_none(),
                "{player} is in two places"
            );
        }
    }
    let started = rooms.len() - {
        let mut open = 0;
        for room in &rooms {
            open += usize::from(h.store.get(&room.room_id).await.unwrap().is_some());
        }
        open
    };
    assert_eq!(
        started,
        sessions.len(),
        "a room started twice, or not at all"
    );
    // And accounts agrees.
    for user in owners.iter().chain(&players) {
        assert_eq!(h.fakes.claim_of(user), place.get(user).cloned(), "{user}");
    }
    h.stop().await;
}

macro_rules! over_both_stores {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    super::$scenario(super::Backend::Memory).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    super::$scenario(super::Backend::Redis).await;
                }
            )*
        }
    };
}

over_both_stores!(
    forty_race_for_a_four_seat_room,
    players_racing_for_several_rooms_end_up_in_one_place,
);
