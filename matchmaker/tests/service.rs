//! The service over an in-process bus, next to stand-in `sessions` and `accounts`, each story over
//! the memory store and over Redis: what players call, what they are told, what the service asks
//! of its neighbours, and what it does with tickets that an instance, the clock or a closed
//! connection leaves behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, Harness, code_of, eventually, search, ticket};
use std::time::Duration;
use warren_contracts::activity::{Activity, ActivityKind, HoldsQuery};
use warren_contracts::event::now_millis;
use warren_contracts::matchmaker::{
    CANCELLED, Cancel, EXPIRED, HoldsMethod, MATCH_FOUND, MatchFound, SearchState, Start, Status,
};
use warren_contracts::{Empty, ErrorCode};
use warren_matchmaker::{MatchRecord, MatchmakerConfig, Step, TicketStatus};

async fn holds(h: &Harness, ticket_id: &str, user: &str) -> bool {
    let query = HoldsQuery {
        id: ticket_id.to_owned(),
        user_id: user.to_owned(),
    };
    h.call_as_service::<HoldsMethod>(&query).await.unwrap().held
}

async fn status(h: &Harness, user: &str) -> Option<warren_contracts::matchmaker::Ticket> {
    h.call::<Status>(user, &Empty {}).await.unwrap()
}

fn sorted(users: &[String]) -> Vec<String> {
    let mut users = users.to_vec();
    users.sort();
    users
}

/// Settings whose background loops stay out of the way of a story about something else.
fn quiet() -> MatchmakerConfig {
    MatchmakerConfig {
        match_every: Duration::from_secs(3600),
        ..MatchmakerConfig::default()
    }
}

async fn start_status_and_cancel(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let ada = h.player(1234.0);
    assert!(status(&h, &ada).await.is_none());
    let before = now_millis();
    let started = h
        .search(&ada, "tic-tac-toe", "eu-west", None)
        .await
        .unwrap();
    assert!(started.expires_at >= before + 120_000, "{started:?}");
    assert!(started.expires_at <= now_millis() + 120_000, "{started:?}");
    assert_eq!(h.fakes.claim_of(&ada), Some(ticket(&started.ticket_id)));
    assert!(holds(&h, &started.ticket_id, &ada).await);

    let shown = status(&h, &ada).await.unwrap();
    assert_eq!(shown.ticket_id, started.ticket_id);
    assert_eq!(shown.user_id, ada);
    assert_eq!(shown.mode, "tic-tac-toe");
    assert_eq!(shown.region, "eu-west");
    assert_eq!(shown.players_per_match, 2, "the mode's size");
    assert_eq!(shown.rating, 1234.0);
    assert_eq!(shown.expires_at, started.expires_at);
    assert!((50.0..60.0).contains(&shown.window), "{}", shown.window);

    h.call::<Cancel>(&ada, &Empty {}).await.unwrap();
    let cancelled = h.event_for(&ada, CANCELLED).await;
    assert_eq!(cancelled.recipients, vec![ada.clone()]);
    assert_eq!(cancelled.data["ticket_id"], started.ticket_id.as_str());
    assert_eq!(cancelled.data["reason"], "cancelled");
    assert_eq!(h.fakes.claim_of(&ada), None, "the claim was kept");
    assert!(status(&h, &ada).await.is_none());
    assert!(!holds(&h, &started.ticket_id, &ada).await);
    let again = h.call::<Cancel>(&ada, &Empty {}).await;
    assert_eq!(code_of(&again), Some(ErrorCode::NotFound));

    // A mode of any size defaults to two players.
    h.search(&ada, "relay", "eu-west", None).await.unwrap();
    assert_eq!(status(&h, &ada).await.unwrap().players_per_match, 2);
    h.stop().await;
}

async fn one_search_at_a_time(backend: Backend) {
    let h = Harness::start(backend).await;
    let (ada, bob) = (h.player(1000.0), h.player(1000.0));
    let first = h.search(&ada, "relay", "eu", Some(3)).await.unwrap();
    for (mode, region) in [("relay", "eu"), ("tic-tac-toe", "us")] {
        let twice = h.search(&ada, mode, region, None).await;
        assert_eq!(code_of(&twice), Some(ErrorCode::AlreadySearching));
    }
    assert_eq!(status(&h, &ada).await.unwrap().ticket_id, first.ticket_id);
    assert_eq!(h.fakes.claim_of(&ada), Some(ticket(&first.ticket_id)));
    // Twenty starts at once: one ticket.
    let racers: Vec<_> = (0..20)
        .map(|_| {
            let (bus, bob) = (h.bus.clone(), bob.clone());
            tokio::spawn(async move {
                let options = warren_bus::CallOptions::default().user_id(bob);
                bus.call::<Start>(&search("relay", "eu", Some(3)), options)
                    .await
                    .map_err(|e| e.to_wire())
            })
        })
        .collect();
    let mut won = Vec::new();
    for racer in racers {
        match racer.await.unwrap() {
            Ok(started) => won.push(started.ticket_id),
            Err(error) => assert_eq!(error.code, ErrorCode::AlreadySearching, "{error}"),
        }
    }
    assert_eq!(won.len(), 1, "{won:?}");
    assert_eq!(h.fakes.claim_of(&bob), Some(ticket(&won[0])));
    h.stop().await;
}

async fn callers_and_parameters_are_checked(backend: Backend) {
    let h = Harness::start(backend).await;
    let ada = h.player(1000.0);
    let long = "a".repeat(33);
    for region in ["", "EU", "eu west", "eu_west", "é", long.as_str()] {
        let refused = h.search(&ada, "relay", region, None).await;
        assert_eq!(
            code_of(&refused),
            Some(ErrorCode::InvalidParams),
            "{region:?}"
        );
    }
    h.search(&ada, "relay", &"a-1".repeat(10), Some(16))
        .await
        .unwrap();
    h.call::<Cancel>(&ada, &Empty {}).await.unwrap();
    for (mode, size) in [
        ("chess", None),
        ("", None),
        ("tic-tac-toe", Some(3)),
        ("tic-tac-toe", Some(1)),
        ("relay", Some(1)),
        ("relay", Some(17)),
    ] {
        let refused = h.search(&ada, mode, "eu", size).await;
        assert_eq!(
            code_of(&refused),
            Some(ErrorCode::InvalidParams),
            "{mode} {size:?}"
        );
    }
    assert!(status(&h, &ada).await.is_none());

    let anonymous = h
        .call_as_service::<Start>(&search("relay", "eu", None))
        .await;
    assert_eq!(code_of(&anonymous), Some(ErrorCode::Unauthorized));
    for refused in [
        h.call_as_service::<Cancel>(&Empty {}).await.map(|_| ()),
        h.call_as_service::<Status>(&Empty {}).await.map(|_| ()),
    ] {
        assert_eq!(code_of(&refused), Some(ErrorCode::Unauthorized));
    }

    let nobody = common::user();
    let unknown = h.search(&nobody, "relay", "eu", None).await;
    assert_eq!(code_of(&unknown), Some(ErrorCode::NotFound));
    assert!(status(&h, &nobody).await.is_none());
    assert_eq!(h.fakes.claim_of(&nobody), None);

    // holds is for services.
    let started = h.search(&ada, "relay", "eu", None).await.unwrap();
    let query = HoldsQuery {
        id: started.ticket_id.clone(),
        user_id: ada.clone(),
    };
    let asked = h.call::<HoldsMethod>(&ada, &query).await;
    assert_eq!(code_of(&asked), Some(ErrorCode::Forbidden));
    assert!(!holds(&h, &started.ticket_id, &nobody).await);
    assert!(!holds(&h, "no-such-ticket", &ada).await);
    h.stop().await;
}

async fn one_place_at_a_time(backend: Backend) {
    let h = Harness::start(backend).await;
    let (ada, bob, cy) = (h.player(1000.0), h.player(1000.0), h.player(1000.0));
    let room = Activity::new(ActivityKind::Room, "room-1");
    h.fakes.set_claim(&ada, room.clone());
    let refused = h.search(&ada, "relay", "eu", None).await;
    assert_eq!(code_of(&refused), Some(ErrorCode::AlreadyInRoom));
    assert!(
        status(&h, &ada).await.is_none(),
        "a refused start left a ticket"
    );
    assert_eq!(h.fakes.claim_of(&ada), Some(room));

    let session = Activity::new(ActivityKind::Session, "session-1");
    h.fakes.set_claim(&bob, session.clone());
    let refused = h.search(&bob, "relay", "eu", None).await;
    assert_eq!(code_of(&refused), Some(ErrorCode::InSession));
    assert!(status(&h, &bob).await.is_none());
    assert_eq!(h.fakes.claim_of(&bob), Some(session));

    // A ticket claim this store does not hold is stale, and replaced.
    h.fakes.set_claim(&cy, ticket("long-gone"));
    let started = h.search(&cy, "relay", "eu", None).await.unwrap();
    assert_eq!(h.fakes.claim_of(&cy), Some(ticket(&started.ticket_id)));
    h.stop().await;
}

async fn close_ratings_are_matched(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let (ada, bob) = (h.player(1000.0), h.player(1030.0));
    let a = h.search(&ada, "tic-tac-toe", "eu", None).await.unwrap();
    let b = h.search(&bob, "tic-tac-toe", "eu", None).await.unwrap();
    let shown = [
        status(&h, &ada).await.unwrap(),
        status(&h, &bob).await.unwrap(),
    ];
    assert_eq!(h.pass().await, 2);

    let sessions = h.fakes.sessions();
    assert_eq!(sessions.len(), 1, "one session per match");
    // Oldest first (tickets of one millisecond in ticket id order).
    let mut by_age = shown.clone();
    by_age.sort_by(|x, y| (x.created_at, &x.ticket_id).cmp(&(y.created_at, &y.ticket_id)));
    let oldest_first: Vec<String> = by_age.into_iter().map(|t| t.user_id).collect();
    assert_eq!(sessions[0].players, oldest_first);
    assert_eq!(sessions[0].game, "tic-tac-toe");
    let players = sessions[0].players.clone();
    let session_id = sessions[0].session_id.clone();
    let found = h.event_for(&ada, MATCH_FOUND).await;
    assert_eq!(found.recipients, players);
    let found: MatchFound = serde_json::from_value(found.data).unwrap();
    assert_eq!(
        found,
        MatchFound {
            session_id: session_id.clone(),
            players: players.clone(),
            mode: "tic-tac-toe".into(),
            region: "eu".into(),
        }
    );
    let in_session = Activity::new(ActivityKind::Session, &session_id);
    for (user, started) in [(&ada, &a), (&bob, &b)] {
        assert_eq!(h.fakes.claim_of(user), Some(in_session.clone()));
        assert!(status(&h, user).await.is_none());
        assert!(!holds(&h, &started.ticket_id, user).await);
    }
    assert_eq!(h.pass().await, 0);
    assert_eq!(h.fakes.sessions().len(), 1);
    let late = h.call::<Cancel>(&ada, &Empty {}).await;
    assert_eq!(code_of(&late), Some(ErrorCode::NotFound));
    h.stop().await;
}

async fn far_ratings_match_once_the_window_widens(backend: Backend) {
    let h = Harness::start(backend).await;
    let (ada, bob) = (h.player(1000.0), h.player(1300.0));
    h.search(&ada, "tic-tac-toe", "eu", None).await.unwrap();
    h.search(&bob, "tic-tac-toe", "eu", None).await.unwrap();
    assert_eq!(h.pass().await, 0);
    // 50 + 10/s: 150 after ten seconds, 350 after thirty.
    assert_eq!(h.pass_in(10_000).await, 0);
    assert!(h.fakes.sessions().is_empty());
    assert_eq!(h.pass_in(30_000).await, 2);
    assert_eq!(sorted(&h.fakes.sessions()[0].players), sorted(&[ada, bob]));
    h.stop().await;
}

async fn the_window_widens_on_the_clock_too(backend: Backend) {
    let config = MatchmakerConfig {
        window: warren_matchmaker::pool::Window {
            start: 0.0,
            growth_per_sec: 1000.0,
            max: 1000.0,
        },
        ..MatchmakerConfig::default()
    };
    let h = Harness::with(backend, config, 1, false).await;
    let (ada, bob) = (h.player(1000.0), h.player(1500.0));
    let began = now_millis();
    h.search(&ada, "tic-tac-toe", "eu", None).await.unwrap();
    h.search(&bob, "tic-tac-toe", "eu", None).await.unwrap();
    let early = h.pass().await;
    if now_millis() - began < 450 {
        assert_eq!(early, 0, "matched before the window was wide enough");
    }
    // 500 apart: matched once half a second has passed.
    if early == 0 {
        eventually(Duration::from_secs(3), "matched", || async {
            h.pass().await == 2
        })
        .await;
    }
    assert!(now_millis() - began >= 500);
    assert_eq!(h.fakes.sessions().len(), 1);
    h.stop().await;
}

async fn pools_are_kept_apart(backend: Backend) {
    let h = Harness::start(backend).await;
    let searches = [
        ("relay", "eu", Some(2)),
        ("relay", "us", Some(2)),
        ("tic-tac-toe", "eu", None),
        ("relay", "eu", Some(3)),
    ];
    let mut users = Vec::new();
    for (mode, region, size) in searches {
        let user = h.player(1000.0);
        h.search(&user, mode, region, size).await.unwrap();
        users.push(user);
    }
    assert_eq!(h.pass_in(60_000).await, 0, "matched across pools");
    for user in &users {
        assert!(status(&h, user).await.is_some());
    }
    // A partner for the three-player relay in eu: two more.
    let more = [h.player(1000.0), h.player(1000.0)];
    for user in &more {
        h.search(user, "relay", "eu", Some(3)).await.unwrap();
    }
    assert_eq!(h.pass().await, 3);
    let sessions = h.fakes.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(
        sorted(&sessions[0].players),
        sorted(&[users[3].clone(), more[0].clone(), more[1].clone()])
    );
    assert_eq!(sessions[0].game, "relay");
    for user in &users[..3] {
        assert!(status(&h, user).await.is_some());
    }
    h.stop().await;
}

async fn a_refused_session_puts_the_tickets_back(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let (ada, bob) = (h.player(1000.0), h.player(1000.0));
    let a = h.search(&ada, "tic-tac-toe", "eu", None).await.unwrap();
    let b = h.search(&bob, "tic-tac-toe", "eu", None).await.unwrap();
    let before = [
        status(&h, &ada).await.unwrap(),
        status(&h, &bob).await.unwrap(),
    ];
    h.fakes.refuse_create(true);
    assert_eq!(h.pass().await, 0);
    assert_eq!(h.pass().await, 0);
    for (user, ticket_before) in [(&ada, &before[0]), (&bob, &before[1])] {
        let mut now = status(&h, user).await.unwrap();
        // The window widens with waiting; all else is as before.
        assert!(now.window >= ticket_before.window);
        now.window = ticket_before.window;
        assert_eq!(
            now, *ticket_before,
            "searching as before, waiting time kept"
        );
        let stored = h.store.get(&now.ticket_id).await.unwrap().unwrap();
        assert_eq!(stored.status, TicketStatus::Waiting);
    }
    assert_eq!(h.fakes.claim_of(&ada), Some(ticket(&a.ticket_id)));
    assert_eq!(h.fakes.claim_of(&bob), Some(ticket(&b.ticket_id)));
    let told = h.drain(Duration::from_millis(100)).await;
    assert!(told.is_empty(), "{told:?}");

    h.fakes.refuse_create(false);
    assert_eq!(h.pass().await, 2);
    h.event_for(&bob, MATCH_FOUND).await;
    assert_eq!(h.fakes.sessions().len(), 1);
    h.stop().await;
}

/// `sessions.create` that does not answer may have made the session all the same: the match is
/// never undone then, but asked again, under the same request, until sessions answers.
async fn a_match_waits_out_a_sessions_outage(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let (ada, bob) = (h.player(1000.0), h.player(1000.0));
    h.search(&ada, "tic-tac-toe", "eu", None).await.unwrap();
    h.search(&bob, "tic-tac-toe", "eu", None).await.unwrap();
    h.fakes.fail_create(true);
    assert_eq!(h.pass().await, 0);
    let shown = status(&h, &ada).await.unwrap();
    assert_eq!(shown.state, SearchState::Matching);
    assert_eq!(shown.session_id, None);
    // Still being decided: a cancel can only say so, and a second search is refused.
    let cancel = h.call::<Cancel>(&ada, &Empty {}).await;
    assert_eq!(code_of(&cancel), Some(ErrorCode::Unavailable), "{cancel:?}");
    let again = h.search(&ada, "tic-tac-toe", "eu", None).await;
    assert_eq!(code_of(&again), Some(ErrorCode::AlreadySearching));
    assert_eq!(h.sweep().await, 0, "made without sessions");
    assert!(h.drain(Duration::from_millis(100)).await.is_empty());

    h.fakes.fail_create(false);
    eventually(
        Duration::from_secs(3),
        "the sweeper makes the match",
        || async { h.sweep().await == 1 },
    )
    .await;
    let sessions = h.fakes.sessions();
    assert_eq!(sessions.len(), 1);
    let found = h.event_for(&ada, MATCH_FOUND).await;
    assert_eq!(found.data["session_id"], sessions[0].session_id.as_str());
    assert_eq!(
        sorted(&found.recipients),
        sorted(&[ada.clone(), bob.clone()])
    );
    // Ada had asked to cancel: too late, she is in the game like Bob.
    let in_session = Activity::new(ActivityKind::Session, &sessions[0].session_id);
    assert_eq!(h.fakes.claim_of(&ada), Some(in_session.clone()));
    assert_eq!(h.fakes.claim_of(&bob), Some(in_session));
    assert!(status(&h, &ada).await.is_none());
    let told = h.drain(Duration::from_millis(100)).await;
    assert!(
        told.iter().all(|e| e.kind != MATCH_FOUND),
        "told twice: {told:?}"
    );
    h.stop().await;
}

async fn a_ticket_expires(backend: Backend) {
    let config = MatchmakerConfig {
        ticket_ttl: Duration::from_millis(300),
        ..quiet()
    };
    let mut h = Harness::with(backend, config, 1, true).await;
    let ada = h.player(1000.0);
    let started = h.search(&ada, "relay", "eu", None).await.unwrap();
    let expired = h.event_for(&ada, EXPIRED).await;
    assert!(now_millis() >= started.expires_at);
    assert_eq!(expired.recipients, vec![ada.clone()]);
    assert_eq!(expired.data["ticket_id"], started.ticket_id.as_str());
    assert!(status(&h, &ada).await.is_none());
    assert_eq!(h.fakes.claim_of(&ada), None);
    // Free to search again.
    h.search(&ada, "relay", "eu", None).await.unwrap();
    h.stop().await;
}

async fn a_disconnect_ends_the_search(backend: Backend) {
    let mut h = Harness::with(backend, quiet(), 1, true).await;
    let ada = h.player(1000.0);
    h.presence(&ada, "gw-1", true).await;
    let started = h.search(&ada, "relay", "eu", None).await.unwrap();
    h.presence(&ada, "gw-1", false).await;
    let cancelled = h.event_for(&ada, CANCELLED).await;
    assert_eq!(cancelled.data["ticket_id"], started.ticket_id.as_str());
    assert_eq!(cancelled.data["reason"], "disconnected");
    assert!(status(&h, &ada).await.is_none());
    assert_eq!(h.fakes.claim_of(&ada), None);
    h.stop().await;
}

async fn a_connection_elsewhere_keeps_the_ticket(backend: Backend) {
    let mut h = Harness::with(backend, quiet(), 1, true).await;
    let (ada, marker) = (h.player(1000.0), h.player(1000.0));
    h.presence(&ada, "gw-1", true).await;
    h.presence(&ada, "gw-2", true).await;
    let started = h.search(&ada, "relay", "eu", None).await.unwrap();
    h.presence(&ada, "gw-1", false).await;
    // Presence is handled in order: once the marker's disconnect is through, so is Ada's.
    h.search(&marker, "relay", "us", None).await.unwrap();
    h.presence(&marker, "gw-1", false).await;
    h.event_for(&marker, CANCELLED).await;
    assert_eq!(status(&h, &ada).await.unwrap().ticket_id, started.ticket_id);
    h.presence(&ada, "gw-2", false).await;
    let cancelled = h.event_for(&ada, CANCELLED).await;
    assert_eq!(cancelled.data["reason"], "disconnected");
    h.stop().await;
}

/// Takes Ada's and Bob's tickets into a match, as a pass would, without making it.
async fn taken(h: &Harness, a: &str, b: &str, due: u64) -> MatchRecord {
    let (a, b) = (
        h.store.get(a).await.unwrap().unwrap(),
        h.store.get(b).await.unwrap().unwrap(),
    );
    let record = MatchRecord {
        match_id: uuid::Uuid::new_v4().to_string(),
        pool: a.pool(),
        mode: a.mode.clone(),
        region: a.region.clone(),
        tickets: vec![a.ticket_id.clone(), b.ticket_id.clone()],
        players: vec![a.user_id.clone(), b.user_id.clone()],
        searching_since: vec![a.created_at, b.created_at],
        session_id: None,
        handed_over: false,
        announced: false,
        due,
        done: false,
    };
    h.store.take(&record).await.unwrap().unwrap();
    record
}

async fn a_match_under_way_is_not_cancelled(backend: Backend) {
    let h = Harness::start(backend).await;
    let (ada, bob) = (h.player(1000.0), h.player(1000.0));
    let a = h.search(&ada, "tic-tac-toe", "eu", None).await.unwrap();
    let b = h.search(&bob, "tic-tac-toe", "eu", None).await.unwrap();
    let made = taken(&h, &a.ticket_id, &b.ticket_id, now_millis() + 30_000).await;
    assert!(
        holds(&h, &a.ticket_id, &ada).await,
        "a ticket being matched holds its user"
    );
    h.store
        .record_session(&made.match_id, "session-9")
        .await
        .unwrap();
    let shown = status(&h, &ada).await.unwrap();
    assert_eq!(shown.state, SearchState::Matched);
    assert_eq!(shown.session_id.as_deref(), Some("session-9"));
    let refused = h.call::<Cancel>(&ada, &Empty {}).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::InSession);
    assert!(refused.message.contains("session-9"), "{refused:?}");
    let again = h.search(&ada, "tic-tac-toe", "eu", None).await.unwrap_err();
    assert_eq!(again.code, ErrorCode::InSession);
    assert!(again.message.contains("session-9"), "{again:?}");
    assert!(holds(&h, &a.ticket_id, &ada).await);
    h.stop().await;
}

/// A cancel that comes while the match is being made ends the search if no session comes of it.
async fn a_cancel_ends_a_search_whose_match_is_refused(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let (ada, bob) = (h.player(1000.0), h.player(1000.0));
    let a = h.search(&ada, "tic-tac-toe", "eu", None).await.unwrap();
    let b = h.search(&bob, "tic-tac-toe", "eu", None).await.unwrap();
    taken(&h, &a.ticket_id, &b.ticket_id, now_millis()).await;
    let cancel = {
        let (bus, ada) = (h.bus.clone(), ada.clone());
        tokio::spawn(async move {
            let options = warren_bus::CallOptions::default().user_id(ada);
            bus.call::<Cancel>(&Empty {}, options).await
        })
    };
    // The cancel has marked the ticket before the match is decided.
    eventually(Duration::from_secs(3), "the ticket is marked", || async {
        let ticket = h.store.get(&a.ticket_id).await.unwrap().unwrap();
        ticket.leaving.is_some()
    })
    .await;
    h.fakes.refuse_create(true);
    assert_eq!(h.sweep().await, 1);
    cancel.await.unwrap().unwrap();
    let cancelled = h.event_for(&ada, CANCELLED).await;
    assert_eq!(cancelled.data["ticket_id"], a.ticket_id.as_str());
    assert_eq!(cancelled.data["reason"], "cancelled");
    assert!(status(&h, &ada).await.is_none());
    assert_eq!(h.fakes.claim_of(&ada), None);
    // Bob searches on, his waiting time kept.
    let bob_now = status(&h, &bob).await.unwrap();
    assert_eq!(bob_now.state, SearchState::Searching);
    assert_eq!(
        bob_now.created_at,
        b.expires_at - h.config.ticket_ttl.as_millis() as u64
    );
    assert_eq!(h.fakes.claim_of(&bob), Some(ticket(&b.ticket_id)));
    h.stop().await;
}

/// A player whose last connection closes while their match is being made is not searched for
/// again if the match fails: their ticket ends then, and they are told why.
async fn a_disconnect_mid_match_ends_the_search_if_the_match_fails(backend: Backend) {
    let mut h = Harness::with(backend, quiet(), 1, true).await;
    let (ada, bob) = (h.player(1000.0), h.player(1000.0));
    h.presence(&ada, "gw-1", true).await;
    let a = h.search(&ada, "tic-tac-toe", "eu", None).await.unwrap();
    let b = h.search(&bob, "tic-tac-toe", "eu", None).await.unwrap();
    taken(&h, &a.ticket_id, &b.ticket_id, now_millis() + 60_000).await;
    h.presence(&ada, "gw-1", false).await;
    eventually(Duration::from_secs(3), "the ticket is marked", || async {
        let ticket = h.store.get(&a.ticket_id).await.unwrap().unwrap();
        ticket.leaving.is_some()
    })
    .await;
    assert_eq!(
        status(&h, &ada).await.unwrap().state,
        SearchState::Matching,
        "kept for its match meanwhile"
    );
    let made = h.store.get(&a.ticket_id).await.unwrap().unwrap().match_id;
    h.store.defer(&made.unwrap(), now_millis()).await.unwrap();
    h.fakes.refuse_create(true);
    let cancelled = h.event_for(&ada, CANCELLED).await;
    assert_eq!(cancelled.data["ticket_id"], a.ticket_id.as_str());
    assert_eq!(cancelled.data["reason"], "disconnected");
    assert!(status(&h, &ada).await.is_none());
    assert_eq!(h.fakes.claim_of(&ada), None);
    assert_eq!(
        status(&h, &bob).await.unwrap().state,
        SearchState::Searching,
        "Bob searches on"
    );
    h.stop().await;
}

/// A match its instance left at any step is carried on from that step by a sweeper: one session,
/// the claims on it, `match.found` once, the tickets gone.
async fn a_match_an_instance_left_is_carried_on(backend: Backend) {
    let config = MatchmakerConfig {
        matching_deadline: Duration::from_millis(100),
        ..MatchmakerConfig::default()
    };
    let mut h = Harness::with(backend, config, 1, false).await;
    for step in ["taken", "session made", "handed over"] {
        let (ada, bob) = (h.player(1000.0), h.player(1000.0));
        let a = h.search(&ada, "tic-tac-toe", "eu", None).await.unwrap();
        let b = h.search(&bob, "tic-tac-toe", "eu", None).await.unwrap();
        let due = now_millis() + 100;
        let made = taken(&h, &a.ticket_id, &b.ticket_id, due).await;
        let mut session = None;
        if step != "taken" {
            // It had made its session (under the match's request) and recorded it.
            let made_session = h
                .call_as_service::<warren_contracts::sessions::Create>(
                    &warren_contracts::sessions::NewSession {
                        mode: made.mode.clone(),
                        players: made.players.clone(),
                    },
                )
                .await
                .unwrap();
            h.fakes
                .requests
                .lock()
                .unwrap()
                .insert(made.session_request(), made_session.clone());
            h.store
                .record_session(&made.match_id, &made_session.session_id)
                .await
                .unwrap();
            session = Some(made_session.session_id);
        }
        if step == "handed over" {
            for (user, t) in [(&ada, &a), (&bob, &b)] {
                let to = Activity::new(ActivityKind::Session, session.clone().unwrap());
                assert_eq!(h.fakes.claim_of(user), Some(ticket(&t.ticket_id)));
                h.fakes.set_claim(user, to);
            }
            h.store
                .note(&made.match_id, Step::HandedOver)
                .await
                .unwrap();
        }
        let sessions_before = h.fakes.sessions().len();
        assert_eq!(h.sweep().await, 0, "{step}: carried on before its deadline");
        eventually(Duration::from_secs(3), "carried on", || async {
            h.sweep().await == 1
        })
        .await;
        let sessions = h.fakes.sessions();
        let expected = if step == "taken" { 1 } else { 0 };
        assert_eq!(sessions.len(), sessions_before + expected, "{step}");
        let session = session.unwrap_or_else(|| sessions.last().unwrap().session_id.clone());
        let found = h.event_for(&ada, MATCH_FOUND).await;
        assert_eq!(found.data["session_id"], session.as_str(), "{step}");
        let in_session = Activity::new(ActivityKind::Session, &session);
        for user in [&ada, &bob] {
            assert_eq!(h.fakes.claim_of(user), Some(in_session.clone()), "{step}");
            assert!(status(&h, user).await.is_none(), "{step}");
        }
        assert!(h.store.get(&a.ticket_id).await.unwrap().is_none());
        let told = h.drain(Duration::from_millis(100)).await;
        assert!(
            told.iter().all(|e| e.kind != MATCH_FOUND),
            "{step}: {told:?}"
        );
    }
    h.stop().await;
}

async fn the_background_loop_matches(backend: Backend) {
    let config = MatchmakerConfig {
        match_every: Duration::from_millis(20),
        ..MatchmakerConfig::default()
    };
    let mut h = Harness::with(backend, config, 1, true).await;
    let (ada, bob) = (h.player(1500.0), h.player(1520.0));
    h.search(&ada, "relay", "ap-south-1", None).await.unwrap();
    h.search(&bob, "relay", "ap-south-1", None).await.unwrap();
    let found = h.event_for(&bob, MATCH_FOUND).await;
    assert_eq!(found.data["region"], "ap-south-1");
    assert_eq!(h.fakes.sessions().len(), 1);
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
    start_status_and_cancel,
    one_search_at_a_time,
    callers_and_parameters_are_checked,
    one_place_at_a_time,
    close_ratings_are_matched,
    far_ratings_match_once_the_window_widens,
    the_window_widens_on_the_clock_too,
    pools_are_kept_apart,
    a_refused_session_puts_the_tickets_back,
    a_match_waits_out_a_sessions_outage,
    a_ticket_expires,
    a_disconnect_ends_the_search,
    a_connection_elsewhere_keeps_the_ticket,
    a_match_under_way_is_not_cancelled,
    a_cancel_ends_a_search_whose_match_is_refused,
    a_disconnect_mid_match_ends_the_search_if_the_match_fails,
    a_match_an_instance_left_is_carried_on,
    the_background_loop_matches,
);
