//! Starting a room's game when something fails on the way, over the memory store and Redis: a
//! session that answers too late, sessions down for a while, the store failing the write that
//! records the session or the delete of the started room, the journal failing the announcement,
//! the instance that decided the start gone. Every time the players end up in one session, their
//! claims on it, told `room.closed {reason: started}` once, and the room gone; only a refusal by
//! sessions opens the room again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::faults::Fault;
use common::{Backend, Harness, code_of, user};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use warren_contracts::ErrorCode;
use warren_contracts::activity::{Activity, ActivityKind, HoldsQuery};
use warren_contracts::event::now_millis;
use warren_contracts::rooms::{
    CLOSED, Create, HoldsMethod, Join, Leave, NewRoom, Ready, Room, RoomId, RoomStatus, SetReady,
};
use warren_rooms::store::Start;
use warren_testkit::FlakyJournal;

/// Ada's room for two with Bob in it and Ada ready: Bob's ready starts it.
async fn full_room(h: &Harness) -> (Room, String, String) {
    let (ada, bob) = (user(), user());
    let new = NewRoom {
        mode: "tic-tac-toe".into(),
        max_players: 2,
        name: None,
    };
    let room = h.call::<Create>(&ada, &new).await.unwrap();
    h.call::<Join>(&bob, &room_id(&room)).await.unwrap();
    h.call::<Ready>(&ada, &ready(&room)).await.unwrap();
    (room, ada, bob)
}

fn room_id(room: &Room) -> RoomId {
    RoomId {
        room_id: room.room_id.clone(),
    }
}

fn ready(room: &Room) -> SetReady {
    SetReady {
        room_id: room.room_id.clone(),
        ready: true,
    }
}

async fn holds(h: &Harness, room: &Room, user: &str) -> bool {
    let query = HoldsQuery {
        id: room.room_id.clone(),
        user_id: user.to_owned(),
    };
    h.call_as_service::<HoldsMethod>(&query).await.unwrap().held
}

/// The start went through: one session with the players, their claims on it, each told
/// `room.closed {reason: started}` once, the room gone.
async fn started(h: &mut Harness, room: &Room, players: &[&String]) {
    h.gone(&room.room_id).await;
    let sessions = h.fakes.sessions();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let session = &sessions[0];
    assert_eq!(session.players.iter().collect::<Vec<_>>(), players);
    let in_session = Activity::new(ActivityKind::Session, &session.session_id);
    for player in players {
        assert_eq!(h.fakes.claim_of(player), Some(in_session.clone()));
        let closed = h.told(player, CLOSED).await;
        assert_eq!(closed.len(), 1, "{player} was told {closed:?}");
        assert_eq!(closed[0]["room_id"], room.room_id.as_str());
        assert_eq!(closed[0]["reason"], "started");
        assert_eq!(closed[0]["session_id"], session.session_id.as_str());
        assert!(!holds(h, room, player).await);
    }
    // Published again maybe, but always as the same event.
    let events = h.drain(Duration::from_millis(300)).await;
    let ids: HashSet<_> = events
        .iter()
        .filter(|e| e.kind == CLOSED)
        .map(|e| e.id)
        .collect();
    assert!(ids.len() <= 1, "{events:?}");
}

/// The first `sessions.create` makes the session but answers after the caller gave up.
async fn a_session_that_answers_too_late_is_not_lost(backend: Backend) {
    let mut h = Harness::start(backend, None).await;
    let (room, ada, bob) = full_room(&h).await;
    h.fakes.late_creates.store(1, Ordering::SeqCst);
    let late = h
        .call_within::<Ready>(&bob, &ready(&room), Duration::from_millis(800))
        .await;
    assert!(late.is_err(), "{late:?}");
    started(&mut h, &room, &[&ada, &bob]).await;
    assert!(h.fakes.creates.load(Ordering::SeqCst) >= 2);
    h.stop().await;
}

/// Sessions cannot answer for a while: the start waits, the room holds its players, and it goes
/// through once sessions are back.
async fn a_start_waits_for_sessions(backend: Backend) {
    let mut h = Harness::start(backend, None).await;
    let (room, ada, bob) = full_room(&h).await;
    h.fakes.fail_create.store(true, Ordering::SeqCst);
    let pending = h.call::<Ready>(&bob, &ready(&room)).await;
    assert_eq!(code_of(&pending), Some(ErrorCode::Unavailable));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let record = h.store.get(&room.room_id).await.unwrap().unwrap();
    assert_eq!(
        record.room.status,
        RoomStatus::Starting,
        "the start was undone"
    );
    assert!(h.fakes.creates.load(Ordering::SeqCst) >= 2, "not retried");
    let in_room = Activity::new(ActivityKind::Room, &room.room_id);
    for player in [&ada, &bob] {
        assert!(holds(&h, &room, player).await);
        assert_eq!(h.fakes.claim_of(player), Some(in_room.clone()));
    }
    let leave = h.call::<Leave>(&ada, &room_id(&room)).await;
    assert_eq!(code_of(&leave), Some(ErrorCode::InSession));
    h.fakes.fail_create.store(false, Ordering::SeqCst);
    started(&mut h, &room, &[&ada, &bob]).await;
    h.stop().await;
}

async fn the_session_is_recorded_on_a_retry(backend: Backend) {
    let mut h = Harness::start(backend, None).await;
    let (room, ada, bob) = full_room(&h).await;
    h.faults.arm(Fault::RecordSession);
    let pending = h.call::<Ready>(&bob, &ready(&room)).await;
    assert_eq!(code_of(&pending), Some(ErrorCode::Unavailable));
    started(&mut h, &room, &[&ada, &bob]).await;
    assert_eq!(h.faults.fired(), vec![Fault::RecordSession]);
    h.stop().await;
}

async fn the_announcement_is_published_again(backend: Backend) {
    let journal = Arc::new(FlakyJournal::new(CLOSED, 1));
    let mut h = Harness::start(backend, Some(journal)).await;
    let (room, ada, bob) = full_room(&h).await;
    let pending = h.call::<Ready>(&bob, &ready(&room)).await;
    assert_eq!(code_of(&pending), Some(ErrorCode::Unavailable));
    started(&mut h, &room, &[&ada, &bob]).await;
    h.stop().await;
}

async fn a_started_room_is_deleted_on_a_retry(backend: Backend) {
    let mut h = Harness::start(backend, None).await;
    let (room, ada, bob) = full_room(&h).await;
    h.faults.arm(Fault::DeleteStarted);
    let pending = h.call::<Ready>(&bob, &ready(&room)).await;
    assert_eq!(code_of(&pending), Some(ErrorCode::Unavailable));
    started(&mut h, &room, &[&ada, &bob]).await;
    assert_eq!(h.faults.fired(), vec![Fault::DeleteStarted]);
    h.stop().await;
}

/// A start decided by an instance that died at once, long ago: the completer finishes it, it is
/// not opened again.
async fn a_start_whose_instance_died_is_finished(backend: Backend) {
    let mut h = Harness::start(backend, None).await;
    let (room, ada, bob) = full_room(&h).await;
    let mut record = h.store.get(&room.room_id).await.unwrap().unwrap();
    let expected = record.version();
    let long_ago = now_millis() - 60_000;
    record.room.status = RoomStatus::Starting;
    record.room.players[1].ready = true;
    record.room.version += 1;
    record.starting_at = long_ago;
    record.start = Some(Start {
        request_id: format!("room-start:{}:{}", room.room_id, record.room.version),
        by: bob.clone(),
        session_id: None,
        look_at: long_ago,
    });
    assert!(h.store.replace(&record, expected).await.unwrap());
    assert!(
        holds(&h, &room, &bob).await,
        "a pending start let its players go"
    );
    started(&mut h, &room, &[&ada, &bob]).await;
    h.stop().await;
}

/// Sessions refuses: the room is open again, the starter not ready, and nothing is retried.
async fn a_refused_start_opens_the_room_again(backend: Backend) {
    let h = Harness::start(backend, None).await;
    let (room, ada, bob) = full_room(&h).await;
    h.fakes.refuse_create.store(true, Ordering::SeqCst);
    let refused = h.call::<Ready>(&bob, &ready(&room)).await;
    assert_eq!(code_of(&refused), Some(ErrorCode::InvalidParams));
    let record = h.store.get(&room.room_id).await.unwrap().unwrap();
    assert_eq!(record.room.status, RoomStatus::Open);
    assert!(record.start.is_none());
    let readiness: Vec<bool> = record.room.players.iter().map(|p| p.ready).collect();
    assert_eq!(readiness, [true, false]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        h.fakes.creates.load(Ordering::SeqCst),
        1,
        "a refusal was retried"
    );
    let in_room = Activity::new(ActivityKind::Room, &room.room_id);
    assert_eq!(h.fakes.claim_of(&ada), Some(in_room.clone()));
    assert_eq!(h.fakes.claim_of(&bob), Some(in_room));
    h.stop().await;
}

macro_rules! over_both_stores {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Backend::Memory).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Backend::Redis).await;
                }
            )*
        }
    };
}

over_both_stores!(
    a_session_that_answers_too_late_is_not_lost,
    a_start_waits_for_sessions,
    the_session_is_recorded_on_a_retry,
    the_announcement_is_published_again,
    a_started_room_is_deleted_on_a_retry,
    a_start_whose_instance_died_is_finished,
    a_refused_start_opens_the_room_again,
);
