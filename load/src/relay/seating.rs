//! Putting players into relay sessions, the two ways the benchmark compares: a public room per
//! session, or the matchmaker. Apart from the run because seating is its own timed phase, and
//! both ways must hand the command phase the same thing, players that know their session.

use super::player::{Errors, Failure, Player};
use super::{Flow, RelayArgs, in_tasks};
use futures_util::future::try_join_all;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Seats the players, `--join-batch` at a time; returns them all (those seated with their
/// session) and the time from the first request to the last player seated.
pub(super) async fn seat(
    players: Vec<Player>,
    args: &RelayArgs,
    errors: &mut Errors,
) -> anyhow::Result<(Vec<Player>, Duration)> {
    let timeout = args.step_timeout;
    let per_session = args.per_session as usize;
    // A batch is whole sessions, so that the matchmaker can group every player of it.
    let batch = (args.join_batch as usize).div_ceil(per_session) * per_session;
    let started = Instant::now();
    let mut last_seated = started;
    let mut all = Vec::with_capacity(players.len());
    let mut players = players.into_iter();
    loop {
        let batch: Vec<Player> = players.by_ref().take(batch).collect();
        if batch.is_empty() {
            break;
        }
        let outcomes = match args.flow {
            Flow::Rooms => {
                let mut groups = Vec::new();
                let mut batch = batch.into_iter();
                loop {
                    let group: Vec<Player> = batch.by_ref().take(per_session).collect();
                    if group.is_empty() {
                        break;
                    }
                    groups.push(group);
                }
                let at_once = groups.len();
                in_tasks(groups, at_once, |mut group| async move {
                    let seated = if group.len() == per_session {
                        seat_in_room(&mut group, timeout).await
                    } else {
                        Err(Failure::Other {
                            kind: "not_seated",
                            detail: format!("{} players left over", group.len()),
                        })
                    };
                    (group, seated, Instant::now())
                })
                .await?
            }
            Flow::Matchmaker => {
                let region: Arc<str> = args.region.as_str().into();
                let per_session = args.per_session;
                let at_once = batch.len();
                in_tasks(batch, at_once, |mut player| {
                    let region = Arc::clone(&region);
                    async move {
                        let seated =
                            seat_by_matchmaker(&mut player, &region, per_session, timeout).await;
                        (vec![player], seated, Instant::now())
                    }
                })
                .await?
            }
        };
        for (group, seated, at) in outcomes {
            match seated {
                Ok(()) => last_seated = last_seated.max(at),
                Err(failure) => errors.record(&failure),
            }
            all.extend(group);
        }
    }
    Ok((all, last_seated.duration_since(started)))
}

/// Seats a group in one session through a public room it makes for itself.
async fn seat_in_room(group: &mut [Player], timeout: Duration) -> Result<(), Failure> {
    let size = group.len();
    let Some((owner, others)) = group.split_first_mut() else {
        return Ok(());
    };
    let params = json!({ "mode": "relay", "max_players": size });
    let room = owner.call("rooms.create", params, timeout).await?;
    let room_id = room["room_id"]
        .as_str()
        .ok_or_else(|| Failure::Other {
            kind: "bad_answer",
            detail: format!("rooms.create answered without a room_id: {room}"),
        })?
        .to_owned();
    try_join_all(others.iter_mut().map(|player| {
        let params = json!({ "room_id": room_id });
        player.call("rooms.join", params, timeout)
    }))
    .await?;
    // Everyone readies at once; the last ready starts the session, and session.started may come
    // before a player's own ready is answered (it is kept for the wait that follows).
    let sessions = try_join_all(group.iter_mut().map(|player| {
        let params = json!({ "room_id": room_id, "ready": true });
        async move {
            player.call("rooms.ready", params, timeout).await?;
            let started = player.event("session.started", timeout).await?;
            session_of(&started, "session.started")
        }
    }))
    .await?;
    if sessions.windows(2).any(|pair| pair[0] != pair[1]) {
        return Err(Failure::Other {
            kind: "bad_answer",
            detail: format!("one room, several sessions started: {sessions:?}"),
        });
    }
    for (player, session_id) in group.iter_mut().zip(sessions) {
        player.session_id = Some(session_id);
    }
    Ok(())
}

/// Seats one player through the matchmaker.
async fn seat_by_matchmaker(
    player: &mut Player,
    region: &str,
    per_session: u32,
    timeout: Duration,
) -> Result<(), Failure> {
    let params = json!({ "mode": "relay", "region": region, "players_per_match": per_session });
    player.call("matchmaker.start", params, timeout).await?;
    let found = player.event("match.found", timeout).await?;
    player.session_id = Some(session_of(&found, "match.found")?);
    Ok(())
}

fn session_of(event: &Value, kind: &str) -> Result<String, Failure> {
    event["data"]["session_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Failure::Other {
            kind: "bad_answer",
            detail: format!("{kind} without a session_id: {event}"),
        })
}
