//! What must hold after the soak, checked once the faults have stopped: every registered user
//! can log in; every finished game is counted once in both players' ratings; nobody is stuck in
//! a room, queue or session; every session made was announced to each of its players; every event
//! a player was sent reached it, live or by resume.

use crate::client;
use crate::player::{Player, session_in};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// How long the system gets to settle each check (results applied, claims released).
const SETTLE: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct Check {
    pub name: &'static str,
    pub held: bool,
    pub detail: String,
}

fn check(name: &'static str, failures: Vec<String>, what_held: String) -> Check {
    Check {
        name,
        held: failures.is_empty(),
        detail: if failures.is_empty() {
            what_held
        } else {
            failures.join("; ")
        },
    }
}

/// Retries `call` while the failure is transient, until `SETTLE` runs out.
async fn settled(
    player: &mut Player,
    method: &str,
    params: serde_json::Value,
) -> Result<serde_json::Value, client::Failure> {
    let give_up = Instant::now() + SETTLE;
    loop {
        let result = player.client.call(method, params.clone()).await;
        match &result {
            Err(f)
                if matches!(
                    f.code.as_str(),
                    "unavailable" | "timeout" | "no_reply" | "disconnected"
                ) && Instant::now() < give_up =>
            {
                if f.code == "disconnected" {
                    player.come_back().await;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            _ => return result,
        }
    }
}

/// Leaves `session` if it is still running: a leave is a forfeit, so the game ends and counts.
async fn end(player: &mut Player, session: &str) {
    let state = settled(player, "sessions.join", json!({"session_id": session})).await;
    if matches!(&state, Ok(s) if s["status"] == "running") {
        let _ = settled(player, "sessions.leave", json!({"session_id": session})).await;
    }
}

pub async fn verify(players: &mut [Player], gateways: &[String]) -> Vec<Check> {
    // Every game a player was matched into ends (a leave is a forfeit), so each is counted.
    for player in players.iter_mut() {
        player.come_back().await;
        // A search the player stopped waiting on (its socket dropped as the time ran out): a
        // client back from a drop re-reads its state and cancels what it no longer wants. If a
        // match was found meanwhile, the game is ended below.
        let _ = settled(player, "matchmaker.cancel", json!({})).await;
        player.note_matches();
        for session in player.matched.clone() {
            end(player, &session).await;
        }
    }
    let mut checks = Vec::new();

    let mut stuck = Vec::new();
    for player in players.iter_mut() {
        let search = json!({"mode": "tic-tac-toe", "region": "soak-check"});
        let give_up = Instant::now() + SETTLE;
        loop {
            match settled(player, "matchmaker.start", search.clone()).await {
                Ok(_) => {
                    if let Err(f) = settled(player, "matchmaker.cancel", json!({})).await {
                        stuck.push(format!(
                            "{} cannot cancel: {}",
                            player.client.username, f.code
                        ));
                    }
                    break;
                }
                // A claim still being released after a game that just ended, or a match made
                // as the players stopped, whose `match.found` may be on its way.
                Err(f) if f.code == "in_session" && Instant::now() < give_up => {
                    player.note_matches();
                    if let Some(session) = session_in(&f.message)
                        && player.matched.contains(&session)
                    {
                        end(player, &session).await;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(f) => {
                    // What the matchmaker holds of them says where they are stuck.
                    let ticket = settled(player, "matchmaker.status", json!({})).await;
                    let ticket = match ticket {
                        Ok(t) if t.is_null() => "no ticket".to_owned(),
                        Ok(t) => format!(
                            "ticket {} {}{}",
                            t["ticket_id"].as_str().unwrap_or("?"),
                            t["state"].as_str().unwrap_or("?"),
                            t["session_id"]
                                .as_str()
                                .map(|s| format!(" in session {s}"))
                                .unwrap_or_default()
                        ),
                        Err(e) => format!("status: {}", e.code),
                    };
                    stuck.push(format!(
                        "{}: {} ({}); {ticket}",
                        player.client.username, f.code, f.message
                    ));
                    break;
                }
            }
        }
    }
    let count = players.len();
    checks.push(check(
        "nobody is stuck in a room, queue or session",
        stuck,
        format!("all {count} players could start and cancel a search"),
    ));

    let mut miscounted = Vec::new();
    let mut games = 0;
    for player in players.iter_mut() {
        let give_up = Instant::now() + SETTLE;
        loop {
            let played = settled(player, "accounts.me", json!({}))
                .await
                .map(|a| a["games_played"].as_u64());
            // The call may have brought a late `match.found`.
            player.note_matches();
            let expected = player.matched.len() as u64;
            match played {
                Ok(Some(n)) if n == expected => {
                    games += expected;
                    break;
                }
                Ok(n) if Instant::now() > give_up => {
                    // Games the player heard finish but was never told it was in.
                    let untold: Vec<&String> =
                        player.client.finished.difference(&player.matched).collect();
                    miscounted.push(format!(
                        "{}: {n:?} games counted, {expected} played; finished without a \
                         match.found: {untold:?}",
                        player.client.username
                    ));
                    break;
                }
                Err(f) if Instant::now() > give_up => {
                    miscounted.push(format!("{}: {}", player.client.username, f.code));
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    checks.push(check(
        "every finished game is counted once in both players' ratings",
        miscounted,
        format!("{games} player-games counted exactly once"),
    ));

    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .unwrap_or_default();
    let mut refused = Vec::new();
    for (i, player) in players.iter().enumerate() {
        match client::login(
            &http,
            &gateways[i % gateways.len()],
            &player.client.username,
        )
        .await
        {
            Ok((200, _)) => {}
            Ok((status, _)) => refused.push(format!("{}: {status}", player.client.username)),
            Err(error) => refused.push(format!("{}: {error}", player.client.username)),
        }
    }
    checks.push(check(
        "every registered user can log in",
        refused,
        format!("{count} logins"),
    ));

    let mut missed = Vec::new();
    let (mut events, mut recovered) = (0, 0);
    for player in players.iter_mut() {
        // One last resume picks up what came since (ratings, the last finishes).
        player.come_back().await;
        let client = &player.client;
        let last = client.seen.last().copied().unwrap_or(0);
        let holes: Vec<u64> = (1..=last).filter(|s| !client.seen.contains(s)).collect();
        if !holes.is_empty() || client.gaps > 0 || client.duplicates > 0 {
            missed.push(format!(
                "{}: missing {holes:?}, {} resume gaps, {} duplicates",
                client.username, client.gaps, client.duplicates
            ));
        }
        events += client.seen.len();
        recovered += client.recovered;
    }
    checks.push(check(
        "every event was delivered or resumable",
        missed,
        format!("{events} events, {recovered} of them by resume; no gap, no duplicate"),
    ));
    checks
}

/// Every session the store holds was announced (`match.found`) to each of its players, live or by
/// resume: a match is never made without its players told.
pub async fn announced(players: &mut [Player], sessions: &BTreeMap<String, Vec<String>>) -> Check {
    let mut untold = Vec::new();
    for player in players.iter_mut() {
        let user = player.client.user_id.clone();
        let theirs: Vec<&String> = sessions
            .iter()
            .filter(|(_, seated)| seated.contains(&user))
            .map(|(session, _)| session)
            .collect();
        let give_up = Instant::now() + SETTLE;
        loop {
            let missing: Vec<&String> = theirs
                .iter()
                .copied()
                .filter(|s| !player.client.found.contains(*s))
                .collect();
            if missing.is_empty() {
                break;
            }
            if Instant::now() > give_up {
                untold.push(format!(
                    "{}: in {missing:?} but never told",
                    player.client.username
                ));
                break;
            }
            // A reconnect resumes: whatever the journal holds for them comes now.
            player.come_back().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    check(
        "every session made was announced to each of its players",
        untold,
        format!(
            "{} sessions, each announced to all its players",
            sessions.len()
        ),
    )
}
