//! `events.resume` over the WebSocket, embedded and over RabbitMQ and Redis: a client that comes
//! back gets every event it missed, in order, then live events, with no gap and no duplicate;
//! also when events keep coming during the reconnect, and when it comes back through another
//! gateway. What is no longer kept is a clear `resume_gap`, and bad parameters change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Mode, Player, TestSystem, Vhost, Ws, start, start_configured};
use serde_json::{Value, json};

fn code(response: &Value) -> &str {
    response["error"]["data"]["code"].as_str().unwrap_or("")
}

fn seq(event: &Value) -> u64 {
    event["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("no seq in {event}"))
}

async fn connected(system: &TestSystem, player: &Player) -> Ws {
    let mut ws = system.connect(&player.access_token).await;
    ws.call("accounts.me", json!({})).await;
    ws
}

/// A private room of `owner`'s, from which `owner` sends invitations: one event each for the
/// invitee, numbered in the invitee's sequence.
async fn inviting_room(owner: &mut Ws) -> String {
    let room = owner
        .call(
            "private_rooms.create",
            json!({"mode": "relay", "max_players": 4}),
        )
        .await;
    room["room_id"].as_str().unwrap().to_owned()
}

async fn invite(owner: &mut Ws, room_id: &str, user_id: &str) {
    owner
        .call(
            "private_rooms.invite",
            json!({"room_id": room_id, "user_id": user_id}),
        )
        .await;
}

/// Invites `user` once and returns the number of the event they got.
async fn invited_seq(owner: &mut Ws, room_id: &str, user: &mut Ws, user_id: &str) -> u64 {
    invite(owner, room_id, user_id).await;
    seq(&user.event("private_room.invited").await)
}

/// Ada has a room to invite from; Bob saw one invitation (numbered `seen`) and disconnected.
struct Away {
    ada_ws: Ws,
    bob: Player,
    room: String,
    seen: u64,
}

async fn bob_goes_away(system: &TestSystem) -> Away {
    let (ada, bob) = (system.player("ada").await, system.player("bob").await);
    let mut ada_ws = connected(system, &ada).await;
    let mut bob_ws = connected(system, &bob).await;
    let room = inviting_room(&mut ada_ws).await;
    let seen = invited_seq(&mut ada_ws, &room, &mut bob_ws, &bob.user_id).await;
    drop(bob_ws);
    Away {
        ada_ws,
        bob,
        room,
        seen,
    }
}

async fn resume(ws: &mut Ws, after: u64) -> Value {
    ws.call_raw("events.resume", json!({"after_seq": after}))
        .await
}

fn resumed_seqs(response: &Value) -> Vec<u64> {
    assert!(response.get("error").is_none(), "resume failed: {response}");
    response["result"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(seq)
        .collect()
}

async fn missed_events_come_back_in_order_then_live_ones(mode: Mode) {
    let system = start(mode).await;
    let Away {
        mut ada_ws,
        bob,
        room,
        seen,
    } = bob_goes_away(&system).await;
    for _ in 0..3 {
        invite(&mut ada_ws, &room, &bob.user_id).await;
    }
    let mut bob_ws = system.connect(&bob.access_token).await;
    let response = resume(&mut bob_ws, seen).await;
    assert_eq!(
        resumed_seqs(&response),
        vec![seen + 1, seen + 2, seen + 3],
        "{response}"
    );
    assert_eq!(response["result"]["last_seq"], seen + 3);
    for event in response["result"]["events"].as_array().unwrap() {
        assert_eq!(event["type"], "private_room.invited");
        assert_eq!(event["data"]["room_id"], room.as_str());
    }
    assert!(bob_ws.events.is_empty(), "nothing came twice live");
    let live = invited_seq(&mut ada_ws, &room, &mut bob_ws, &bob.user_id).await;
    assert_eq!(live, seen + 4, "live events go on from there");
    // Asking again for what it has: nothing, and asking twice changes nothing.
    assert_eq!(
        resumed_seqs(&resume(&mut bob_ws, live).await),
        Vec::<u64>::new()
    );
    assert_eq!(
        resumed_seqs(&resume(&mut bob_ws, live).await),
        Vec::<u64>::new()
    );
    system.stop().await;
}

async fn what_is_no_longer_kept_is_a_resume_gap(mode: Mode) {
    let system = start_configured(mode, |options| options.resume.max_events = 3).await;
    let Away {
        mut ada_ws,
        bob,
        room,
        seen,
    } = bob_goes_away(&system).await;
    for _ in 0..5 {
        invite(&mut ada_ws, &room, &bob.user_id).await;
    }
    let mut bob_ws = system.connect(&bob.access_token).await;
    let response = resume(&mut bob_ws, seen).await;
    assert_eq!(code(&response), "resume_gap", "{response}");
    assert_eq!(response["error"]["code"], -32000);
    let never_given = resume(&mut bob_ws, seen + 100).await;
    assert_eq!(code(&never_given), "resume_gap", "{never_given}");
    // The newest three are kept.
    assert_eq!(
        resumed_seqs(&resume(&mut bob_ws, seen + 2).await),
        vec![seen + 3, seen + 4, seen + 5]
    );
    system.stop().await;
}

async fn bad_parameters_are_refused_and_the_socket_serves_on(mode: Mode) {
    let system = start(mode).await;
    let ada = system.player("ada").await;
    let mut ws = connected(&system, &ada).await;
    for params in [
        json!({}),
        json!({"after_seq": -1}),
        json!({"after_seq": "7"}),
        json!({"after_seq": 1.5}),
        json!({"after_seq": 1, "extra": true}),
        json!([1]),
    ] {
        let response = ws.call_raw("events.resume", params.clone()).await;
        assert_eq!(response["error"]["code"], -32602, "{params}: {response}");
        assert_eq!(code(&response), "invalid_params", "{params}: {response}");
    }
    assert_eq!(resumed_seqs(&resume(&mut ws, 0).await), Vec::<u64>::new());
    system.stop().await;
}

/// Events keep coming while the client reconnects and resumes: each arrives exactly once, in
/// order, either in the answer or live after it.
async fn events_during_the_reconnect_are_neither_lost_nor_doubled(mode: Mode) {
    const INVITES: usize = 40;
    let system = start(mode).await;
    let Away {
        mut ada_ws,
        bob,
        room,
        seen,
    } = bob_goes_away(&system).await;
    let inviter = {
        let (room, bob_id) = (room.clone(), bob.user_id.clone());
        tokio::spawn(async move {
            for _ in 0..INVITES {
                invite(&mut ada_ws, &room, &bob_id).await;
            }
            ada_ws
        })
    };
    let mut bob_ws = system.connect(&bob.access_token).await;
    let response = resume(&mut bob_ws, seen).await;
    let before_answer: Vec<u64> = bob_ws.events.iter().map(seq).collect();
    bob_ws.events.clear();
    let answered = resumed_seqs(&response);
    let last = seen + INVITES as u64;
    let mut highest = before_answer
        .iter()
        .chain(&answered)
        .max()
        .copied()
        .unwrap_or(seen);
    let mut after_answer = Vec::new();
    while highest < last {
        let live = seq(&bob_ws.event("private_room.invited").await);
        after_answer.push(live);
        highest = highest.max(live);
    }
    inviter.await.unwrap();
    // Live events that came before the request are not repeated in the answer; the answer and
    // what follows it are in order.
    let mut all: Vec<u64> = before_answer.clone();
    all.extend(&answered);
    all.extend(&after_answer);
    let mut sorted = all.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), all.len(), "a duplicate: {all:?}");
    assert_eq!(
        sorted,
        ((seen + 1)..=last).collect::<Vec<_>>(),
        "a gap: {all:?}"
    );
    let answered_then_live: Vec<u64> = answered.iter().chain(&after_answer).copied().collect();
    assert!(
        answered_then_live.windows(2).all(|w| w[0] < w[1]),
        "out of order: {answered_then_live:?}"
    );
    system.stop().await;
}

both_modes!(
    missed_events_come_back_in_order_then_live_ones,
    what_is_no_longer_kept_is_a_resume_gap,
    bad_parameters_are_refused_and_the_socket_serves_on,
    events_during_the_reconnect_are_neither_lost_nor_doubled,
);

/// Two gateways of one deployment: events are numbered once, whichever gateway delivers them,
/// and a client resumes through the other gateway where it left the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_through_another_gateway() {
    let vhost = Vhost::create();
    let mode = vhost.mode();
    let first = start_configured(mode.clone(), |_| {}).await;
    let second = start_configured(mode, |_| {}).await;
    let (ada, bob) = (first.player("ada").await, first.player("bob").await);
    let mut ada_ws = connected(&first, &ada).await;
    let mut bob_on_first = connected(&first, &bob).await;
    let mut bob_on_second = connected(&second, &bob).await;
    let room = inviting_room(&mut ada_ws).await;
    let seen = invited_seq(&mut ada_ws, &room, &mut bob_on_first, &bob.user_id).await;
    let same = seq(&bob_on_second.event("private_room.invited").await);
    assert_eq!(seen, same, "both gateways number the event the same");
    drop(bob_on_first);
    drop(bob_on_second);
    for _ in 0..2 {
        invite(&mut ada_ws, &room, &bob.user_id).await;
    }
    let mut bob_ws = second.connect(&bob.access_token).await;
    assert_eq!(
        resumed_seqs(&resume(&mut bob_ws, seen).await),
        vec![seen + 1, seen + 2]
    );
    let live = invited_seq(&mut ada_ws, &room, &mut bob_ws, &bob.user_id).await;
    assert_eq!(live, seen + 3);
    first.stop().await;
    second.stop().await;
}

/// The broker cuts every connection while Bob is connected, and Ada invites him as soon as calls
/// work again: Bob gets the invitation live, numbered next, without asking. (Had it been
/// published before the gateway's new queue existed, the gateway reads it from the journal when
/// the queue is back.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_around_a_connection_cut_reach_connected_clients() {
    let vhost = Vhost::create();
    let system = start(vhost.mode()).await;
    let Away {
        mut ada_ws,
        bob,
        room,
        seen,
    } = bob_goes_away(&system).await;
    let mut bob_ws = connected(&system, &bob).await;
    common::rabbitmqctl(&[
        "close_all_connections",
        "--vhost",
        &vhost.0,
        "connections cut by a test",
    ]);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let response = ada_ws
            .call_raw(
                "private_rooms.invite",
                json!({"room_id": room, "user_id": bob.user_id}),
            )
            .await;
        if response.get("error").is_none() {
            break;
        }
        assert_eq!(code(&response), "unavailable", "{response}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "calls never worked again"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let invited = bob_ws.event("private_room.invited").await;
    assert_eq!(seq(&invited), seen + 1, "{invited}");
    system.stop().await;
}
