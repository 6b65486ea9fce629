//! What the players did, counted as they go.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// A player waiting this long or more for a call to work is a stall worth reporting.
pub const STALL: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
pub struct Counts {
    pub calls: u64,
    pub ok: u64,
    pub failed: BTreeMap<String, u64>,
    pub reconnects: u64,
    pub games: BTreeSet<String>,
    /// When a player's call began to wait (or fail) and how long until one worked, for waits of
    /// [`STALL`] or more.
    pub stalls: Vec<(Instant, Duration)>,
}

#[derive(Debug, Default)]
pub struct Stats(Mutex<Counts>);

impl Stats {
    fn with<T>(&self, f: impl FnOnce(&mut Counts) -> T) -> T {
        f(&mut warren_bus::lock(&self.0))
    }

    pub fn call(&self, failure: Option<&str>) {
        self.with(|c| {
            c.calls += 1;
            match failure {
                None => c.ok += 1,
                Some(code) => *c.failed.entry(code.to_owned()).or_default() += 1,
            }
        });
    }

    /// A player waited `waited` from `since` for a call to work.
    pub fn stalled(&self, since: Instant, waited: Duration) {
        if waited >= STALL {
            self.with(|c| c.stalls.push((since, waited)));
        }
    }

    pub fn reconnected(&self) {
        self.with(|c| c.reconnects += 1);
    }

    pub fn game_over(&self, session: &str) {
        self.with(|c| c.games.insert(session.to_owned()));
    }

    pub fn snapshot(&self) -> Counts {
        self.with(|c| Counts {
            calls: c.calls,
            ok: c.ok,
            failed: c.failed.clone(),
            reconnects: c.reconnects,
            games: c.games.clone(),
            stalls: c.stalls.clone(),
        })
    }
}
