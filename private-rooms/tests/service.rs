//! The service over an in-process bus, next to stand-in `sessions` and `accounts`, each story over
//! the memory store and over Redis: what players call, what they are told, and what the service
//! asks of its neighbours.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, Harness, code_of};
use std::sync::atomic::Ordering;
use std::time::Duration;
use warren_contracts::activity::{Activity, ActivityKind, HoldsQuery};
use warren_contracts::event::now_millis;
use warren_contracts::private_rooms::{
    Close, Code, Create, HoldsMethod, INVITED, Invite, Join, Leave, NewPrivateRoom, PrivateRoom,
    SendInvite,
};
use warren_contracts::rooms::{CLOSED, RoomId, UPDATED};
use warren_contracts::{ErrorCode, Event};
use warren_private_rooms::store::Joining;
use warren_private_rooms::{MAX_INVITES, PrivateRoomsConfig};

fn new_room(mode: &str, max_players: u32) -> NewPrivateRoom {
    NewPrivateRoom {
        mode: mode.into(),
        max_players,
    }
}

fn code(code: &str) -> Code {
    Code { code: code.into() }
}

fn room_id(room: &PrivateRoom) -> RoomId {
    RoomId {
        room_id: room.room_id.clone(),
    }
}

fn room_in(event: &Event) -> PrivateRoom {
    serde_json::from_value(event.data.clone()).unwrap()
}

fn private_room(room: &PrivateRoom) -> Activity {
    Activity::new(ActivityKind::PrivateRoom, &room.room_id)
}

async fn holds(h: &Harness, room: &PrivateRoom, user: &str) -> bool {
    let query = HoldsQuery {
        id: room.room_id.clone(),
        user_id: user.to_owned(),
    };
    h.call_as_service::<HoldsMethod>(&query).await.unwrap().held
}

async fn create_invite_join_and_start(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let (ada, bob) = (h.player(), h.player());
    let room = h.call::<Create>(&ada, &new_room("relay", 2)).await.unwrap();
    assert_eq!(room.owner, ada);
    assert_eq!(room.player_ids(), vec![ada.clone()]);
    assert_eq!(room.free_seats, 1);
    assert!(room.expires_at >= room.created_at + 599_000, "{room:?}");
    assert!(warren_private_rooms::code::normalise(&room.code).is_some());
    assert_eq!(h.fakes.claim_of(&ada), Some(private_room(&room)));
    assert!(holds(&h, &room, &ada).await);

    let invite = Invite {
        room_id: room.room_id.clone(),
        user_id: bob.clone(),
    };
    h.call::<SendInvite>(&ada, &invite).await.unwrap();
    let invited = h.event_for(&bob, INVITED).await;
    assert_eq!(invited.recipients, vec![bob.clone()]);
    assert_eq!(invited.data["code"], room.code.as_str());
    assert_eq!(invited.data["from"], ada.as_str());
    assert_eq!(invited.data["room_id"], room.room_id.as_str());
    assert_eq!(invited.data["mode"], "relay");
    assert_eq!(invited.data["max_players"], 2);

    // Lower case, dashes moved: the same code.
    let spelled = room.code.to_lowercase().replace('-', "").replace("", "-");
    let joined = h.call::<Join>(&bob, &code(&spelled)).await.unwrap();
    assert_eq!(joined.room_id, room.room_id);
    assert_eq!(joined.player_ids(), vec![ada.clone(), bob.clone()]);
    let updated = h.event_for(&ada, UPDATED).await;
    assert_eq!(updated.recipients, vec![ada.clone(), bob.clone()]);
    assert!(room_in(&updated).version > room.version);
    let closed = h.event_for(&bob, CLOSED).await;
    assert_eq!(closed.recipients, vec![ada.clone(), bob.clone()]);
    assert_eq!(closed.data["reason"], "started");

    let sessions = h.fakes.sessions();
    assert_eq!(sessions.len(), 1, "one session per room");
    assert_eq!(sessions[0].players, vec![ada.clone(), bob.clone()]);
    assert_eq!(sessions[0].game, "relay");
    assert_eq!(closed.data["session_id"], sessions[0].session_id.as_str());
    let session = Activity::new(ActivityKind::Session, &sessions[0].session_id);
    assert_eq!(h.fakes.claim_of(&ada), Some(session.clone()));
    assert_eq!(h.fakes.claim_of(&bob), Some(session));
    // The room is gone and its code with it.
    let late = h.call::<Join>(&bob, &code(&room.code)).await;
    assert_eq!(code_of(&late), Some(ErrorCode::NotFound));
    assert!(!holds(&h, &room, &ada).await);
    h.stop().await;
}

async fn joining_twice_returns_the_room(backend: Backend) {
    let h = Harness::start(backend).await;
    let (ada, bob) = (h.player(), h.player());
    let room = h.call::<Create>(&ada, &new_room("relay", 3)).await.unwrap();
    let first = h.call::<Join>(&bob, &code(&room.code)).await.unwrap();
    let again = h.call::<Join>(&bob, &code(&room.code)).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(again.players.len(), 2);
    let own = h.call::<Join>(&ada, &code(&room.code)).await.unwrap();
    assert_eq!(own, first);
    h.stop().await;
}

async fn wrong_codes_are_not_found_then_rate_limited(backend: Backend) {
    let config = PrivateRoomsConfig {
        code_attempts: 3,
        attempts_window: Duration::from_millis(700),
        ..PrivateRoomsConfig::default()
    };
    let h = Harness::with(backend, config, 1, true).await;
    let (ada, eve, bob) = (h.player(), h.player(), h.player());
    let room = h.call::<Create>(&ada, &new_room("relay", 3)).await.unwrap();
    // Bad input is refused without counting.
    for bad in [String::new(), "   ".into(), "x".repeat(100)] {
        let refused = h.call::<Join>(&eve, &code(&bad)).await;
        assert_eq!(code_of(&refused), Some(ErrorCode::InvalidParams), "{bad:?}");
    }
    for wrong in ["AAAAA-AAAAA", "hello", "BBBBB BBBBB"] {
        let refused = h.call::<Join>(&eve, &code(wrong)).await;
        assert_eq!(code_of(&refused), Some(ErrorCode::NotFound), "{wrong}");
    }
    let limited = h.call::<Join>(&eve, &code("CCCCC-CCCCC")).await;
    assert_eq!(code_of(&limited), Some(ErrorCode::RateLimited));
    // The right code too, until the window is over: guessing must not pay.
    let right = h.call::<Join>(&eve, &code(&room.code)).await;
    assert_eq!(code_of(&right), Some(ErrorCode::RateLimited));
    assert!(h.fakes.claim_of(&eve).is_none());
    // Eve's attempts do not count against Bob.
    h.call::<Join>(&bob, &code(&room.code)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let joined = h.call::<Join>(&eve, &code(&room.code)).await.unwrap();
    assert!(joined.has_player(&eve));
    h.stop().await;
}

async fn a_full_room_is_full_while_it_starts(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let (ada, bob, cy) = (h.player(), h.player(), h.player());
    let room = h
        .call::<Create>(&ada, &new_room("tic-tac-toe", 2))
        .await
        .unwrap();
    h.fakes.create_gate.send_replace(false);
    let bus = h.bus.clone();
    let (bob_join, room_code) = (bob.clone(), room.code.clone());
    let joining = tokio::spawn(async move {
        let options = warren_bus::CallOptions::default().user_id(bob_join);
        bus.call::<Join>(&code(&room_code), options).await
    });
    // Bob's join filled the room; its session is on the way.
    let updated = h.event_for(&ada, UPDATED).await;
    assert_eq!(room_in(&updated).free_seats, 0);
    let full = h.call::<Join>(&cy, &code(&room.code)).await;
    assert_eq!(code_of(&full), Some(ErrorCode::RoomFull));
    assert!(h.fakes.claim_of(&cy).is_none(), "a full room took a claim");
    for attempt in [
        h.call::<Leave>(&ada, &room_id(&room)).await,
        h.call::<Close>(&ada, &room_id(&room)).await,
    ] {
        assert_eq!(code_of(&attempt), Some(ErrorCode::InSession));
    }
    h.fakes.create_gate.send_replace(true);
    let joined = joining.await.unwrap().unwrap();
    assert_eq!(joined.players.len(), 2);
    let closed = h.event_for(&ada, CLOSED).await;
    assert_eq!(closed.data["reason"], "started");
    assert_eq!(h.fakes.sessions().len(), 1);
    h.stop().await;
}

async fn leaving_hands_the_room_over_and_the_last_closes_it(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let (ada, bob, cy) = (h.player(), h.player(), h.player());
    let room = h.call::<Create>(&ada, &new_room("relay", 4)).await.unwrap();
    h.call::<Join>(&bob, &code(&room.code)).await.unwrap();
    h.call::<Join>(&cy, &code(&room.code)).await.unwrap();
    h.call::<Leave>(&ada, &room_id(&room)).await.unwrap();
    let handed = h
        .event_where(UPDATED, |e| !room_in(e).has_player(&ada))
        .await;
    assert_eq!(handed.recipients, vec![bob.clone(), cy.clone()]);
    let handed = room_in(&handed);
    assert_eq!(handed.owner, bob, "the longest seated is the owner now");
    assert!(
        h.fakes.claim_of(&ada).is_none(),
        "the claim was not released"
    );
    let again = h.call::<Leave>(&ada, &room_id(&room)).await;
    assert_eq!(code_of(&again), Some(ErrorCode::Forbidden));
    // The new owner may do what owners do.
    let dan = h.player();
    let invite = Invite {
        room_id: room.room_id.clone(),
        user_id: dan,
    };
    h.call::<SendInvite>(&bob, &invite).await.unwrap();
    h.call::<Leave>(&bob, &room_id(&room)).await.unwrap();
    h.call::<Leave>(&cy, &room_id(&room)).await.unwrap();
    assert!(h.fakes.claim_of(&cy).is_none());
    let gone = h.call::<Join>(&ada, &code(&room.code)).await;
    assert_eq!(code_of(&gone), Some(ErrorCode::NotFound));
    let leave = h.call::<Leave>(&cy, &room_id(&room)).await;
    assert_eq!(code_of(&leave), Some(ErrorCode::NotFound));
    h.stop().await;
}

async fn only_the_owner_invites_and_closes(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let (ada, bob, cy) = (h.player(), h.player(), h.player());
    let room = h.call::<Create>(&ada, &new_room("relay", 3)).await.unwrap();
    h.call::<Join>(&bob, &code(&room.code)).await.unwrap();
    let invite = |from_room: &PrivateRoom, user: &str| Invite {
        room_id: from_room.room_id.clone(),
        user_id: user.to_owned(),
    };
    let by_player = h.call::<SendInvite>(&bob, &invite(&room, &cy)).await;
    assert_eq!(code_of(&by_player), Some(ErrorCode::Forbidden));
    for closer in [&bob, &cy] {
        let close = h.call::<Close>(closer, &room_id(&room)).await;
        assert_eq!(code_of(&close), Some(ErrorCode::Forbidden));
    }
    let nobody = h
        .call::<SendInvite>(&ada, &invite(&room, &common::user()))
        .await;
    assert_eq!(code_of(&nobody), Some(ErrorCode::NotFound));
    let herself = h.call::<SendInvite>(&ada, &invite(&room, &ada)).await;
    assert_eq!(code_of(&herself), Some(ErrorCode::InvalidParams));
    let mut elsewhere = room.clone();
    elsewhere.room_id = common::user();
    let no_room = h.call::<SendInvite>(&ada, &invite(&elsewhere, &cy)).await;
    assert_eq!(code_of(&no_room), Some(ErrorCode::NotFound));

    h.call::<Close>(&ada, &room_id(&room)).await.unwrap();
    let closed = h.event_for(&bob, CLOSED).await;
    assert_eq!(closed.recipients, vec![ada.clone(), bob.clone()]);
    assert_eq!(closed.data["reason"], "closed");
    assert_eq!(closed.data["room_id"], room.room_id.as_str());
    assert!(h.fakes.claim_of(&ada).is_none() && h.fakes.claim_of(&bob).is_none());
    let dead = h.call::<Join>(&cy, &code(&room.code)).await;
    assert_eq!(code_of(&dead), Some(ErrorCode::NotFound));
    h.stop().await;
}

async fn invitations_are_bounded(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let (ada, bob) = (h.player(), h.player());
    let room = h.call::<Create>(&ada, &new_room("relay", 2)).await.unwrap();
    let invite = Invite {
        room_id: room.room_id.clone(),
        user_id: bob.clone(),
    };
    for _ in 0..MAX_INVITES {
        h.call::<SendInvite>(&ada, &invite).await.unwrap();
    }
    let one_more = h.call::<SendInvite>(&ada, &invite).await;
    assert_eq!(code_of(&one_more), Some(ErrorCode::RateLimited));
    let events = h.drain(Duration::from_millis(200)).await;
    let invitations = events.iter().filter(|e| e.kind == INVITED).count();
    assert_eq!(invitations, MAX_INVITES as usize);
    h.stop().await;
}

async fn an_unused_room_expires(backend: Backend) {
    let config = PrivateRoomsConfig {
        ttl: Duration::from_millis(800),
        ..PrivateRoomsConfig::default()
    };
    let mut h = Harness::with(backend, config, 2, true).await;
    let (ada, bob) = (h.player(), h.player());
    let room = h.call::<Create>(&ada, &new_room("relay", 3)).await.unwrap();
    // A join puts the end off: the room lives past the creation's ttl.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let joined = h.call::<Join>(&bob, &code(&room.code)).await.unwrap();
    assert!(joined.expires_at > room.expires_at);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        holds(&h, &room, &ada).await,
        "expired counting from the creation"
    );
    let closed = h.event_for(&ada, CLOSED).await;
    assert_eq!(closed.data["reason"], "expired");
    assert_eq!(closed.recipients, vec![ada.clone(), bob.clone()]);
    assert!(now_millis() >= joined.expires_at);
    assert!(h.fakes.claim_of(&ada).is_none() && h.fakes.claim_of(&bob).is_none());
    let dead = h.call::<Join>(&bob, &code(&room.code)).await;
    assert_eq!(code_of(&dead), Some(ErrorCode::NotFound));
    // Two sweepers, one close.
    let events = h.drain(Duration::from_millis(500)).await;
    assert!(events.iter().all(|e| e.kind != CLOSED), "{events:?}");
    h.stop().await;
}

/// Sessions refuses the start for good (a failure it may recover from leaves the start pending,
/// see tests/start.rs).
async fn a_failed_start_undoes_the_join(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let (ada, bob) = (h.player(), h.player());
    let room = h.call::<Create>(&ada, &new_room("relay", 2)).await.unwrap();
    h.fakes.refuse_create.store(true, Ordering::SeqCst);
    let failed = h.call::<Join>(&bob, &code(&room.code)).await;
    assert_eq!(code_of(&failed), Some(ErrorCode::InvalidParams));
    assert!(!holds(&h, &room, &bob).await, "the joiner kept the seat");
    assert!(
        h.fakes.claim_of(&bob).is_none(),
        "the joiner kept the claim"
    );
    assert_eq!(h.fakes.claim_of(&ada), Some(private_room(&room)));
    let reopened = h
        .event_where(UPDATED, |e| room_in(e).players.len() == 1)
        .await;
    assert_eq!(reopened.recipients, vec![ada.clone()]);
    assert_eq!(room_in(&reopened).free_seats, 1);
    // Open again, as before: the next try starts it.
    h.fakes.refuse_create.store(false, Ordering::SeqCst);
    h.call::<Join>(&bob, &code(&room.code)).await.unwrap();
    let closed = h.event_for(&bob, CLOSED).await;
    assert_eq!(closed.data["reason"], "started");
    assert_eq!(h.fakes.sessions().len(), 1);
    h.stop().await;
}

async fn one_place_at_a_time(backend: Backend) {
    let h = Harness::start(backend).await;
    let (ada, bob, cy) = (h.player(), h.player(), h.player());
    let first = h.call::<Create>(&ada, &new_room("relay", 3)).await.unwrap();
    let second = h.call::<Create>(&bob, &new_room("relay", 3)).await.unwrap();
    // Seated in one room: no second one, and no new one.
    let join = h.call::<Join>(&ada, &code(&second.code)).await;
    assert_eq!(code_of(&join), Some(ErrorCode::AlreadyInRoom));
    assert!(!holds(&h, &second, &ada).await, "the refused seat was kept");
    let create = h.call::<Create>(&ada, &new_room("relay", 3)).await;
    assert_eq!(code_of(&create), Some(ErrorCode::AlreadyInRoom));
    // Playing a game: no room.
    let session = Activity::new(ActivityKind::Session, "s1");
    h.fakes
        .claims
        .lock()
        .unwrap()
        .insert(cy.clone(), session.clone());
    let busy = h.call::<Join>(&cy, &code(&first.code)).await;
    assert_eq!(code_of(&busy), Some(ErrorCode::InSession));
    let busy = h.call::<Create>(&cy, &new_room("relay", 3)).await;
    assert_eq!(code_of(&busy), Some(ErrorCode::InSession));
    assert_eq!(h.fakes.claim_of(&cy), Some(session));
    // A claim by a private room that no longer seats the user is stale, and replaced.
    let stale = Activity::new(ActivityKind::PrivateRoom, common::user());
    h.fakes.claims.lock().unwrap().insert(cy.clone(), stale);
    h.call::<Join>(&cy, &code(&first.code)).await.unwrap();
    assert_eq!(h.fakes.claim_of(&cy), Some(private_room(&first)));
    h.stop().await;
}

async fn callers_and_parameters_are_checked(backend: Backend) {
    let h = Harness::start(backend).await;
    let ada = h.player();
    let anonymous = h.call_as_service::<Create>(&new_room("relay", 2)).await;
    assert_eq!(code_of(&anonymous), Some(ErrorCode::Unauthorized));
    for (mode, size) in [
        ("chess", 2),
        ("tic-tac-toe", 3),
        ("relay", 17),
        ("relay", 1),
        ("", 2),
    ] {
        let refused = h.call::<Create>(&ada, &new_room(mode, size)).await;
        assert_eq!(
            code_of(&refused),
            Some(ErrorCode::InvalidParams),
            "{mode} {size}"
        );
    }
    assert!(h.fakes.claim_of(&ada).is_none());
    let room = h
        .call::<Create>(&ada, &new_room("relay", 16))
        .await
        .unwrap();
    let query = HoldsQuery {
        id: room.room_id.clone(),
        user_id: ada.clone(),
    };
    let by_client = h.call::<HoldsMethod>(&ada, &query).await;
    assert_eq!(code_of(&by_client), Some(ErrorCode::Forbidden));
    h.stop().await;
}

async fn without_sessions_rooms_are_unavailable(backend: Backend) {
    let h = Harness::with(backend, PrivateRoomsConfig::default(), 1, false).await;
    let ada = h.player();
    let refused = h.call::<Create>(&ada, &new_room("relay", 2)).await;
    assert_eq!(code_of(&refused), Some(ErrorCode::Unavailable));
    assert!(h.fakes.claim_of(&ada).is_none());
    h.stop().await;
}

async fn work_a_dead_instance_left_half_done_is_undone(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let (ada, bob) = (h.player(), h.player());
    let long_ago = now_millis() - 16_000;
    // Seats held for joins whose instance died before claiming: the room looks full.
    let room = h.call::<Create>(&ada, &new_room("relay", 3)).await.unwrap();
    let mut record = h.store.get(&room.room_id).await.unwrap().unwrap();
    for ghost in ["ghost-1", "ghost-2"] {
        record.joining.push(Joining {
            user_id: ghost.into(),
            since: long_ago,
        });
    }
    record.room.version = 1;
    assert!(h.store.replace(&record, 0).await.unwrap());
    assert!(!holds(&h, &room, "ghost-1").await);
    let joined = h.call::<Join>(&bob, &code(&room.code)).await.unwrap();
    assert_eq!(joined.player_ids(), vec![ada.clone(), bob.clone()]);
    assert_eq!(joined.free_seats, 1);

    // A start whose instance died: the players may leave and the owner may close.
    let mut record = h.store.get(&room.room_id).await.unwrap().unwrap();
    let version = record.version();
    record.starting_at = long_ago;
    record.room.version += 1;
    assert!(h.store.replace(&record, version).await.unwrap());
    h.call::<Close>(&ada, &room_id(&room)).await.unwrap();
    let closed = h.event_for(&bob, CLOSED).await;
    assert_eq!(closed.data["reason"], "closed");
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
    create_invite_join_and_start,
    joining_twice_returns_the_room,
    wrong_codes_are_not_found_then_rate_limited,
    a_full_room_is_full_while_it_starts,
    leaving_hands_the_room_over_and_the_last_closes_it,
    only_the_owner_invites_and_closes,
    invitations_are_bounded,
    an_unused_room_expires,
    a_failed_start_undoes_the_join,
    one_place_at_a_time,
    callers_and_parameters_are_checked,
    without_sessions_rooms_are_unavailable,
    work_a_dead_instance_left_half_done_is_undone,
);
