//! What one simulated player does until the soak's time is up: search a match and play the game
//! to its end, and now and then drop the connection and come back (through either gateway),
//! resuming where it was. Errors expected under faults (`unavailable`, `timeout`, a dropped
//! socket) are counted and retried after a pause; a player that loses track re-reads its state.

use crate::client::{Client, Failure};
use crate::stats::Stats;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// The failures that mean the backends could not serve the call (not a refusal of it).
const STALLING: [&str; 4] = ["unavailable", "timeout", "disconnected", "internal"];

const RETRY: Duration = Duration::from_millis(200);
const MATCH_WAIT: Duration = Duration::from_secs(20);
const GAME_LIMIT: Duration = Duration::from_secs(90);

pub struct Player {
    pub client: Client,
    /// Sessions this player was matched into.
    pub matched: BTreeSet<String>,
    gateways: Arc<Vec<String>>,
    stats: Arc<Stats>,
    /// While this player's calls (or reconnects) fail: when the first failing one began and when
    /// the last one ended.
    failing: Option<(Instant, Instant)>,
    /// When to stop trying to reconnect.
    give_up: Option<Instant>,
}

fn random_below(n: usize) -> usize {
    rand::random_range(0..n.max(1))
}

/// A session id in an error message such as "you are in session <id>; …".
pub fn session_in(message: &str) -> Option<String> {
    message
        .split(|c: char| c.is_whitespace() || c == ';' || c == ',')
        .find(|word| uuid::Uuid::parse_str(word).is_ok())
        .map(str::to_owned)
}

impl Player {
    /// Takes note of every `match.found` not looked at yet: one that came after the player
    /// stopped waiting for it (the wait timed out, the socket dropped, the time was up) names a
    /// game the player is in all the same.
    pub fn note_matches(&mut self) {
        for event in &self.client.events {
            if event["type"] == "match.found"
                && let Some(session) = event["data"]["session_id"].as_str()
            {
                self.matched.insert(session.to_owned());
            }
        }
    }

    pub fn new(client: Client, gateways: Arc<Vec<String>>, stats: Arc<Stats>) -> Self {
        Self {
            client,
            matched: BTreeSet::new(),
            gateways,
            stats,
            failing: None,
            give_up: None,
        }
    }

    /// A call, counted; `Err` carries the failure's code.
    async fn call(&mut self, method: &str, params: Value) -> Result<Value, Failure> {
        let started = Instant::now();
        let result = self.client.call(method, params).await;
        self.stats
            .call(result.as_ref().err().map(|f| f.code.as_str()));
        match &result {
            // A refusal is an answer: only a backend's trouble stalls play.
            Err(f) if STALLING.contains(&f.code.as_str()) => self.failed(started),
            Err(_) => {}
            Ok(_) => self.served(started),
        }
        if matches!(&result, Err(f) if f.code == "disconnected") {
            self.come_back().await;
        }
        result
    }

    /// A call or reconnect that began at `started` failed for want of the backends.
    fn failed(&mut self, started: Instant) {
        let (since, _) = self.failing.unwrap_or((started, started));
        self.failing = Some((since, Instant::now()));
    }

    /// A call or reconnect that began at `started` worked: the stall, if any, was from the first
    /// failure to the end of the last (not to now: the player may have waited on events between),
    /// or this one call's own wait when it took long.
    fn served(&mut self, started: Instant) {
        if let Some((since, last)) = self.failing.take() {
            self.stats.stalled(since, last - since);
        }
        self.stats.stalled(started, started.elapsed());
    }

    /// Reconnects, to either gateway, until it works, or until a minute after the soak's end (the
    /// checks then find the player as it is: a player that cannot come back is a finding, not a
    /// soak that never ends).
    pub async fn come_back(&mut self) {
        loop {
            if self.give_up.is_some_and(|at| Instant::now() > at) {
                tracing::error!("a player could not reconnect for a minute after the end");
                return;
            }
            let base = self.gateways[random_below(self.gateways.len())].clone();
            let started = Instant::now();
            match self.client.reconnect(&base).await {
                Ok(()) => {
                    self.served(started);
                    self.stats.reconnected();
                    return;
                }
                Err(failure) => {
                    self.failed(started);
                    self.stats.call(Some(&failure.code));
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }

    pub async fn run(&mut self, until: Instant, mut bursts: watch::Receiver<u64>) {
        self.give_up = Some(until + Duration::from_secs(60));
        self.come_back().await;
        while Instant::now() < until {
            if bursts.has_changed().unwrap_or(false) || random_below(5) == 0 {
                bursts.borrow_and_update();
                self.come_back().await;
                continue;
            }
            self.one_match(until).await;
        }
    }

    /// Searches, then plays the game it is matched into.
    async fn one_match(&mut self, until: Instant) {
        let search = json!({"mode": "tic-tac-toe", "region": "soak"});
        match self.call("matchmaker.start", search).await {
            Ok(_) => {}
            Err(f) if f.code == "already_searching" => {}
            Err(f) if f.code == "in_session" => {
                if let Some(session) = session_in(&f.message) {
                    self.matched.insert(session.clone());
                    self.play(&session, until).await;
                }
                return;
            }
            Err(_) => {
                tokio::time::sleep(RETRY).await;
                return;
            }
        }
        let found = match self.client.event("match.found", |_| true, MATCH_WAIT).await {
            Ok(Some(found)) => found,
            Ok(None) => {
                let _ = self.call("matchmaker.cancel", json!({})).await;
                return;
            }
            Err(_) => {
                self.come_back().await;
                return;
            }
        };
        let Some(session) = found["data"]["session_id"].as_str().map(str::to_owned) else {
            return;
        };
        self.matched.insert(session.clone());
        self.play(&session, until).await;
    }

    /// Plays tic-tac-toe in `session` until it is over: reads the state, moves on its turn
    /// (the first free cell), waits for the other's move.
    pub async fn play(&mut self, session: &str, until: Instant) {
        let give_up = Instant::now() + GAME_LIMIT;
        loop {
            if Instant::now() > give_up || Instant::now() > until + GAME_LIMIT {
                let _ = self
                    .call("sessions.leave", json!({"session_id": session}))
                    .await;
                return;
            }
            let state = match self
                .call("sessions.join", json!({"session_id": session}))
                .await
            {
                Ok(state) => state,
                Err(f) if matches!(f.code.as_str(), "forbidden" | "not_found") => return,
                Err(_) => {
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            if state["status"] == "finished" {
                self.stats.game_over(session);
                return;
            }
            if state["state"]["turn"] == json!(self.client.user_id) {
                let board = state["state"]["board"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let Some(cell) = board.iter().position(|c| c == "") else {
                    continue;
                };
                let command = json!({"session_id": session, "command": {"cell": cell}});
                if self.call("sessions.command", command).await.is_err() {
                    tokio::time::sleep(RETRY).await;
                }
                continue;
            }
            let version = state["version"].clone();
            let moved = |d: &Value| d["session_id"] == json!(session) && d["version"] != version;
            if self
                .client
                .event("session.state", moved, Duration::from_secs(2))
                .await
                .is_err()
            {
                self.come_back().await;
            }
        }
    }
}
