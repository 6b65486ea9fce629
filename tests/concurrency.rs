//! Two instances of every service over one RabbitMQ vhost and one Redis namespace, and many
//! players joining public and private rooms at once through both gateways: no room ever seats
//! more players than it has seats, no user is in two rooms, and no room starts two sessions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Player, TestSystem, Vhost, Ws, start};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

const SEATS: usize = 3;
const PUBLIC_ROOMS: usize = 2;
const PRIVATE_ROOMS: usize = 2;
const JOINERS: usize = 24;

fn ok(response: &Value) -> bool {
    response.get("error").is_none()
}

async fn connected(system: &TestSystem, player: &Player) -> Ws {
    let mut ws = system.connect(&player.access_token).await;
    ws.call("accounts.me", json!({})).await;
    ws
}

/// Every session the sessions service stored under `namespace`, as (session id, players).
async fn stored_sessions(namespace: &str) -> Vec<(String, HashSet<String>)> {
    let client = redis::Client::open(common::redis_url()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{namespace}warren:sessions:session:*"))
        .query_async(&mut redis)
        .await
        .unwrap();
    let mut sessions = Vec::new();
    for key in keys {
        let record: String = redis::cmd("HGET")
            .arg(&key)
            .arg("record")
            .query_async(&mut redis)
            .await
            .unwrap();
        let record: Value = serde_json::from_str(&record).unwrap();
        let players = record["session"]["players"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect();
        sessions.push((
            record["session"]["session_id"].as_str().unwrap().to_owned(),
            players,
        ));
    }
    sessions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_joins_through_two_instances_keep_every_room_whole() {
    let vhost = Vhost::create();
    let mode = vhost.mode();
    let common::Mode::Distributed { namespace, .. } = &mode else {
        unreachable!()
    };
    let namespace = namespace.clone();
    let systems = [start(mode.clone()).await, start(mode.clone()).await];

    // Owners, each with a room: public ones on the first system, private ones on the second.
    let mut owners = Vec::new();
    let mut public = Vec::new();
    for _ in 0..PUBLIC_ROOMS {
        let owner = systems[0].player("owner").await;
        let mut ws = connected(&systems[0], &owner).await;
        let room = ws
            .call(
                "rooms.create",
                json!({"mode": "relay", "max_players": SEATS}),
            )
            .await;
        public.push(room["room_id"].as_str().unwrap().to_owned());
        owners.push((owner, ws));
    }
    let mut private = Vec::new();
    for _ in 0..PRIVATE_ROOMS {
        let owner = systems[1].player("owner").await;
        let mut ws = connected(&systems[1], &owner).await;
        let room = ws
            .call(
                "private_rooms.create",
                json!({"mode": "relay", "max_players": SEATS}),
            )
            .await;
        private.push((
            room["room_id"].as_str().unwrap().to_owned(),
            room["code"].as_str().unwrap().to_owned(),
        ));
        owners.push((owner, ws));
    }

    // Joiners, alternating between the gateways; each asks for every room at once (a private
    // one by its code in lower case), so that many race for each seat.
    let mut joiners = Vec::new();
    for i in 0..JOINERS {
        let system = &systems[i % 2];
        let player = system.player("joiner").await;
        let ws = connected(system, &player).await;
        joiners.push((player, ws));
    }
    let attempts = joiners
        .into_iter()
        .enumerate()
        .map(|(i, (player, mut ws))| {
            let publics = [public[i % 2].clone(), public[(i + 1) % 2].clone()];
            let codes = [
                private[i % 2].1.to_lowercase(),
                private[(i + 1) % 2].1.clone(),
            ];
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for room_id in &publics {
                    ids.push(ws.request("rooms.join", json!({"room_id": room_id})).await);
                }
                for code in &codes {
                    ids.push(
                        ws.request("private_rooms.join", json!({"code": code}))
                            .await,
                    );
                }
                let mut seated = Vec::new();
                for id in ids {
                    let response = ws.response(&id).await;
                    if ok(&response) {
                        seated.push(response["result"]["room_id"].as_str().unwrap().to_owned());
                    } else {
                        let code = response["error"]["data"]["code"]
                            .as_str()
                            .unwrap()
                            .to_owned();
                        assert!(
                            ["room_full", "already_in_room", "not_found", "in_session"]
                                .contains(&code.as_str()),
                            "unexpected refusal: {response}"
                        );
                    }
                }
                (player, ws, seated)
            })
        });
    let mut seats: HashMap<String, Vec<String>> = HashMap::new();
    let mut joiners = Vec::new();
    for attempt in attempts {
        let (player, ws, seated) = attempt.await.unwrap();
        assert!(seated.len() <= 1, "{} took {seated:?}", player.user_id);
        for room in &seated {
            seats
                .entry(room.clone())
                .or_default()
                .push(player.user_id.clone());
        }
        joiners.push((player, ws));
    }
    for (room, players) in &seats {
        assert!(
            players.len() < SEATS,
            "room {room} seated {players:?} besides its owner"
        );
    }

    // Public rooms as they are now, from their owners.
    let mut full_public = Vec::new();
    for (i, room_id) in public.iter().enumerate() {
        let room = owners[i]
            .1
            .call("rooms.join", json!({"room_id": room_id}))
            .await;
        let players: Vec<String> = room["players"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["user_id"].as_str().unwrap().to_owned())
            .collect();
        assert!(players.len() <= SEATS, "{room}");
        assert_eq!(
            players.len(),
            1 + seats.get(room_id).map_or(0, Vec::len),
            "{room}"
        );
        if players.len() == SEATS {
            full_public.push((room_id.clone(), players));
        }
    }
    // Every seated player of a full public room says ready, twice, at once: each starts once.
    let mut sockets: HashMap<String, &mut Ws> = HashMap::new();
    for (player, ws) in owners.iter_mut().chain(joiners.iter_mut()) {
        sockets.insert(player.user_id.clone(), ws);
    }
    let mut requests = Vec::new();
    for (room_id, players) in &full_public {
        for user in players {
            let ws = sockets.get_mut(user).unwrap();
            for _ in 0..2 {
                let id = ws
                    .request("rooms.ready", json!({"room_id": room_id, "ready": true}))
                    .await;
                requests.push((user.clone(), id));
            }
        }
    }
    for (user, id) in requests {
        let response = sockets.get_mut(&user).unwrap().response(&id).await;
        // A second ready may find the room starting or gone.
        if !ok(&response) {
            let code = response["error"]["data"]["code"].as_str().unwrap();
            assert!(["in_session", "not_found"].contains(&code), "{response}");
        }
    }

    // Every full room, public or private, is one session with its players; nobody is in two.
    let sessions = stored_sessions(&namespace).await;
    let full_private = private
        .iter()
        .filter(|(room, _)| seats.get(room).map_or(0, Vec::len) == SEATS - 1)
        .count();
    assert_eq!(
        sessions.len(),
        full_public.len() + full_private,
        "{sessions:?}"
    );
    eprintln!(
        "{} joiners seated in {} rooms; {} full public and {full_private} full private rooms \
         became {} sessions",
        seats.values().map(Vec::len).sum::<usize>(),
        seats.len(),
        full_public.len(),
        sessions.len()
    );
    let mut playing = HashSet::new();
    for (session, players) in &sessions {
        assert_eq!(players.len(), SEATS, "{session}: {players:?}");
        for player in players {
            assert!(
                playing.insert(player.clone()),
                "{player} is in two sessions"
            );
        }
    }
    for (_, players) in &full_public {
        let players: HashSet<String> = players.iter().cloned().collect();
        assert!(
            sessions.iter().any(|(_, s)| *s == players),
            "no session for {players:?}"
        );
    }
    drop(sockets);
    for system in systems {
        system.stop().await;
    }
}

/// Many users released at one instant onto one room's free seats, through the buses of both
/// systems (as gateways would call, with the user id attached): exactly the free seats are taken,
/// and a user racing into both a public and a private room ends up in one.
async fn a_burst_of_joins(systems: &[TestSystem]) {
    use std::sync::Arc;
    use tokio::sync::Barrier;
    use warren_bus::CallOptions;
    use warren_contracts::private_rooms::{self, Code, NewPrivateRoom, PrivateRoom};
    use warren_contracts::rooms::{self, NewRoom, Room, RoomId};

    const RACERS: usize = 40;
    let as_user = |user: &str| CallOptions::default().user_id(user);
    let owner = uuid::Uuid::new_v4().to_string();
    let new = NewRoom {
        mode: "relay".into(),
        max_players: 4,
        name: None,
    };
    let room: Room = systems[0]
        .bus()
        .call::<rooms::Create>(&new, as_user(&owner))
        .await
        .unwrap();
    let private_owner = uuid::Uuid::new_v4().to_string();
    let new = NewPrivateRoom {
        mode: "relay".into(),
        max_players: 4,
    };
    let private: PrivateRoom = systems[systems.len() - 1]
        .bus()
        .call::<private_rooms::Create>(&new, as_user(&private_owner))
        .await
        .unwrap();
    let barrier = Arc::new(Barrier::new(2 * RACERS));
    let mut racers = Vec::new();
    for i in 0..RACERS {
        let user = uuid::Uuid::new_v4().to_string();
        for public in [true, false] {
            let bus = systems[(i + usize::from(public)) % systems.len()]
                .bus()
                .clone();
            let (barrier, user) = (Arc::clone(&barrier), user.clone());
            let (room_id, code) = (room.room_id.clone(), private.code.clone());
            racers.push(tokio::spawn(async move {
                barrier.wait().await;
                let options = CallOptions::default().user_id(&user);
                let joined = if public {
                    let params = RoomId { room_id };
                    bus.call::<rooms::Join>(&params, options).await.map(|_| ())
                } else {
                    let params = Code { code };
                    bus.call::<private_rooms::Join>(&params, options)
                        .await
                        .map(|_| ())
                };
                (user, public, joined.map_err(|e| e.to_wire().code))
            }));
        }
    }
    let (mut public_seats, mut private_seats) = (0, 0);
    let mut seated_users = HashSet::new();
    for racer in racers {
        let (user, public, joined) = racer.await.unwrap();
        match joined {
            Ok(()) => {
                assert!(seated_users.insert(user.clone()), "{user} got two rooms");
                if public {
                    public_seats += 1;
                } else {
                    private_seats += 1;
                }
            }
            Err(code) => {
                let expected = [
                    warren_contracts::ErrorCode::RoomFull,
                    warren_contracts::ErrorCode::AlreadyInRoom,
                    warren_contracts::ErrorCode::NotFound,
                    warren_contracts::ErrorCode::InSession,
                ];
                assert!(expected.contains(&code), "{user}: {code:?}");
            }
        }
    }
    // A seat held for a racer whose claim then fails (they got the other room) is refused to
    // others meanwhile, so a room may end with a seat free; never with one too many.
    assert!(
        (1..=3).contains(&public_seats) && (1..=3).contains(&private_seats),
        "{public_seats} public and {private_seats} private seats taken"
    );
    let now: Room = systems[0]
        .bus()
        .call::<rooms::Join>(
            &RoomId {
                room_id: room.room_id,
            },
            as_user(&owner),
        )
        .await
        .unwrap();
    assert_eq!(now.players.len(), 1 + public_seats, "{now:?}");
    assert_eq!(now.free_seats as usize, 3 - public_seats);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_joins_embedded() {
    let system = start(common::Mode::Embedded).await;
    a_burst_of_joins(std::slice::from_ref(&system)).await;
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_joins_through_two_instances() {
    let vhost = Vhost::create();
    let mode = vhost.mode();
    let systems = [start(mode.clone()).await, start(mode).await];
    a_burst_of_joins(&systems).await;
    for system in systems {
        system.stop().await;
    }
}

/// Two matchmakers (each with its own matching loop) over RabbitMQ and one Redis, and a thousand
/// players starting their searches through both at once: every player ends in exactly one
/// session, none is lost or matched twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_searches_through_two_matchmakers() {
    use futures_util::StreamExt;
    use warren_bus::CallOptions;
    use warren_contracts::accounts::{Create as CreateAccount, NewAccount};
    use warren_contracts::matchmaker::{Search, Start};

    const PLAYERS: usize = 1000;
    let vhost = Vhost::create();
    let mode = vhost.mode();
    let common::Mode::Distributed { namespace, .. } = &mode else {
        unreachable!()
    };
    let namespace = namespace.clone();
    let systems = [
        common::start_configured(mode.clone(), |_| {}).await,
        common::start_configured(mode, |_| {}).await,
    ];
    let users: Vec<String> = (0..PLAYERS)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    // Accounts made directly, as auth makes them at registration: the rating comes from them.
    let bus = systems[0].bus().clone();
    futures_util::stream::iter(users.iter().cloned())
        .for_each_concurrent(32, |user_id| {
            let bus = bus.clone();
            async move {
                let new = NewAccount {
                    username: format!("u{}", &user_id[..8]),
                    user_id,
                };
                bus.call::<CreateAccount>(&new, CallOptions::default())
                    .await
                    .unwrap();
            }
        })
        .await;
    let region = common::unique("r").replace('_', "-").to_lowercase();
    let buses = [systems[0].bus().clone(), systems[1].bus().clone()];
    futures_util::stream::iter(users.iter().enumerate())
        .for_each_concurrent(64, |(i, user)| {
            let (bus, region) = (buses[i % 2].clone(), region.clone());
            async move {
                let search = Search {
                    mode: "tic-tac-toe".into(),
                    region,
                    players_per_match: None,
                };
                bus.call::<Start>(&search, CallOptions::default().user_id(user))
                    .await
                    .unwrap();
            }
        })
        .await;
    // Everyone starts at 1000, so every pair is compatible: all are matched, in pairs.
    let give_up = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let sessions = loop {
        let sessions = stored_sessions(&namespace).await;
        if sessions.len() == PLAYERS / 2 {
            break sessions;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "{} sessions of {} after a minute",
            sessions.len(),
            PLAYERS / 2
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let mut playing = HashSet::new();
    for (session, players) in &sessions {
        assert_eq!(players.len(), 2, "{session}");
        for player in players {
            assert!(
                playing.insert(player.clone()),
                "{player} is in two sessions"
            );
        }
    }
    assert_eq!(playing.len(), PLAYERS);
    // No ticket is left behind.
    for user in users.iter().take(50) {
        let status = buses[0]
            .call_json(
                "matchmaker",
                "matchmaker.status",
                &json!({}),
                CallOptions::default().user_id(user),
            )
            .await
            .unwrap();
        assert_eq!(status, Value::Null, "{user} still has a ticket");
    }
    for system in systems {
        system.stop().await;
    }
}
