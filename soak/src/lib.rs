//! Warren's soak test: many simulated players register, search matches, play whole games and
//! reconnect (through either of two gateways, resuming their events) for a set time, while the
//! broker and Redis fail under them; then it checks the invariants and reports what it did and
//! what held.
//!
//! It brings its own backends (a RabbitMQ vhost and a `redis-server` with an append-only file) and
//! runs two complete systems in this process over them.
//!
//! ```text
//! backends.rs    the soak's vhost and redis-server, and the faults they can suffer
//! system.rs      two Warren systems over them
//! client.rs      one player's HTTP and WebSocket client; events recorded by seq
//! created.rs     the sessions the soak's Redis holds, to check each was announced
//! player.rs      what a player does: matchmaking, games, reconnects
//! faults.rs      one fault every so often, in turn
//! invariants.rs  the checks at the end
//! stats.rs       counts kept as the players go
//! ```

mod backends;
mod client;
mod created;
mod faults;
mod invariants;
mod player;
mod stats;
mod system;

pub use invariants::Check;

use anyhow::Context;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct SoakConfig {
    pub players: usize,
    pub duration: Duration,
    pub fault_every: Duration,
    /// On the local clusters (`scripts/cluster up`): RabbitMQ's fault is a node lost, Redis's a
    /// master failed over.
    pub cluster: bool,
}

/// One fault as the players lived it.
#[derive(Debug, Clone)]
pub struct FaultSeen {
    pub kind: &'static str,
    pub at: Duration,
    pub took: Duration,
    /// The longest stall (a player's calls waiting or failing until one worked) that overlapped
    /// the fault; zero when none reached [`stats::STALL`].
    pub stall: Duration,
}

/// What the soak did and what held.
#[derive(Debug)]
pub struct Report {
    pub config: SoakConfig,
    pub calls: u64,
    pub ok: u64,
    pub failed: BTreeMap<String, u64>,
    pub games_finished: usize,
    pub reconnects: u64,
    pub resumes: u64,
    pub recovered: u64,
    pub faults: BTreeMap<&'static str, u64>,
    /// Each fault: what, when (from the start of play), how long it took, and the longest any
    /// player's calls then waited or failed before one worked.
    pub fault_log: Vec<FaultSeen>,
    pub checks: Vec<Check>,
    pub took: Duration,
}

impl Report {
    pub fn held(&self) -> bool {
        self.checks.iter().all(|c| c.held)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.config;
        writeln!(
            f,
            "soak: {} players for {:?}, a fault every {:?} (took {:.1?} with the checks)",
            c.players, c.duration, c.fault_every, self.took
        )?;
        writeln!(f, "calls: {} ({} ok)", self.calls, self.ok)?;
        for (code, n) in &self.failed {
            writeln!(f, "  failed {code}: {n}")?;
        }
        writeln!(f, "games finished: {}", self.games_finished)?;
        writeln!(
            f,
            "reconnects: {}, resumes: {}, events recovered by resume: {}",
            self.reconnects, self.resumes, self.recovered
        )?;
        for (kind, n) in &self.faults {
            writeln!(f, "fault {kind}: {n}")?;
        }
        for seen in &self.fault_log {
            writeln!(
                f,
                "  at {:.1?}: {} (took {:.1?}); longest stall of a player: {:.1?}",
                seen.at, seen.kind, seen.took, seen.stall
            )?;
        }
        for check in &self.checks {
            let verdict = if check.held { "held    " } else { "VIOLATED" };
            writeln!(f, "{verdict} {}: {}", check.name, check.detail)?;
        }
        Ok(())
    }
}

/// Runs the soak: backends, two systems, the players and the faults, then the checks.
pub async fn run(config: SoakConfig) -> anyhow::Result<Report> {
    let started = Instant::now();
    let backends = Arc::new(Mutex::new(
        backends::Backends::start(config.cluster)
            .context("starting the soak's vhost and redis-server")?,
    ));
    let (amqp_url, redis_url) = {
        let backends = warren_bus::lock(&backends);
        (backends.amqp_url(), backends.redis_url())
    };
    let systems = system::Systems::start(&amqp_url, &redis_url)
        .await
        .context("starting two systems")?;
    let gateways = Arc::new(systems.gateways.clone());
    let stats = Arc::new(stats::Stats::default());
    // No request may hold a player past the soak's end.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .context("an HTTP client")?;
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let mut players = Vec::with_capacity(config.players);
    for i in 0..config.players {
        let base = &gateways[i % gateways.len()];
        let client = client::Client::register(&http, base, format!("soak_{tag}_{i}"))
            .await
            .context("registering the players")?;
        players.push(player::Player::new(
            client,
            Arc::clone(&gateways),
            Arc::clone(&stats),
        ));
    }
    let until = Instant::now() + config.duration;
    let (bursts, burst) = tokio::sync::watch::channel(0);
    let faults = tokio::spawn(faults::inject(
        Arc::clone(&backends),
        config.fault_every,
        until,
        bursts,
    ));
    let running: Vec<_> = players
        .into_iter()
        .map(|mut player| {
            let burst = burst.clone();
            tokio::spawn(async move {
                player.run(until, burst).await;
                player
            })
        })
        .collect();
    let mut players = Vec::with_capacity(running.len());
    for player in running {
        players.push(player.await.context("a player's task failed")?);
    }
    let injected = faults.await.context("the fault injector failed")?;
    let mut checks = invariants::verify(&mut players, &gateways).await;
    let systems_namespace = systems.namespace.clone();
    let sessions = created::sessions(&redis_url, &systems.namespace)
        .await
        .context("reading the sessions made")?;
    checks.push(invariants::announced(&mut players, &sessions).await);
    let counts = stats.snapshot();
    let play_began = until - config.duration;
    let fault_log = injected
        .iter()
        .map(|fault| FaultSeen {
            kind: fault.kind,
            at: fault.at.saturating_duration_since(play_began),
            took: fault.took,
            stall: longest_stall(&counts.stalls, fault.at, fault.at + fault.took),
        })
        .collect();
    let mut faults = BTreeMap::new();
    for fault in &injected {
        *faults.entry(fault.kind).or_default() += 1;
    }
    let report = Report {
        config,
        calls: counts.calls,
        ok: counts.ok,
        failed: counts.failed,
        games_finished: counts.games.len(),
        reconnects: counts.reconnects,
        resumes: players.iter().map(|p| p.client.resumes).sum(),
        recovered: players.iter().map(|p| p.client.recovered).sum(),
        faults,
        fault_log,
        checks,
        took: started.elapsed(),
    };
    for player in &mut players {
        player.client.close().await;
    }
    systems.stop().await;
    // The cluster's Redis is shared (scripts/cluster down removes it all in the end): the soak's
    // keys go now.
    if warren_bus::lock(&backends).on_cluster() {
        created::forget(&redis_url, &systems_namespace)
            .await
            .context("deleting the soak's keys")?;
    }
    drop(backends);
    Ok(report)
}

/// The longest of `stalls` (start, length) that overlaps `from..to`.
fn longest_stall(stalls: &[(Instant, Duration)], from: Instant, to: Instant) -> Duration {
    stalls
        .iter()
        .filter(|(since, waited)| *since <= to && *since + *waited >= from)
        .map(|(_, waited)| *waited)
        .max()
        .unwrap_or_default()
}
