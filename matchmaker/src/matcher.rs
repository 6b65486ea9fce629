//! The matching loop. Each pass goes over the pools that have waiting tickets; for each pool it
//! takes the pool's lease (so instances do not all work one pool), loads its waiting tickets,
//! lets [`crate::pool::find_matches`] group them, and makes each group a match:
//!
//! 1. take: the store moves the whole group from waiting to matching, or nothing if any ticket is
//!    gone (cancelled, expired, matched by another instance). This is what keeps a ticket out of
//!    two matches, leases or no leases.
//! 2. `sessions.create` with the players in group order. If it fails the tickets are put back as
//!    they were, their waiting time kept, and nobody hears of it; a later pass tries again.
//! 3. each player's claim in `accounts` moves from their ticket to the session;
//! 4. finish: the tickets go, and the players hear `match.found`.
//!
//! An instance that dies between 1 and 4 leaves its tickets matching; the sweeper settles them
//! once their deadline passes (see [`crate::sweeper`]).

use crate::pool::{self, Waiting};
use crate::service::Service;
use crate::store::TicketRecord;
use futures_util::StreamExt;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use warren_bus::{CallError, CallOptions};
use warren_contracts::event::now_millis;
use warren_contracts::matchmaker::{MATCH_FOUND, MatchFound};
use warren_contracts::sessions::{Create as CreateSession, NewSession};

/// How long an instance keeps a pool to itself; a lease whose instance died lapses by itself.
const LEASE: Duration = Duration::from_secs(5);
/// How long a pass starts new matches in a pool: well within the lease, so that another instance
/// rarely finds the pool free while this one still works it. Groups left over are found again by
/// the next pass.
const POOL_BUDGET: Duration = Duration::from_secs(3);
/// Pools worked at once by one pass.
const POOLS_AT_ONCE: usize = 8;
/// Matches of one pool being made at once.
const MATCHES_AT_ONCE: usize = 16;

/// Runs a pass every `match_every` until `shutdown`. A pass under way is finished first, so that
/// no match is left half made by a clean stop.
pub(crate) async fn run(service: Arc<Service>, shutdown: CancellationToken) {
    let period = service.config.match_every.max(Duration::from_millis(1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        pass(&service, now_millis()).await;
    }
}

/// One pass over every pool, with the rating windows as they are at `now`; how many tickets it
/// matched.
pub(crate) async fn pass(service: &Service, now: u64) -> usize {
    let pools = match service.store.pools().await {
        Ok(pools) => pools,
        Err(error) => {
            tracing::warn!(%error, "cannot list the pools");
            return 0;
        }
    };
    futures_util::stream::iter(pools)
        .map(|pool| {
            let span = tracing::debug_span!("matchmaker.pass", pool = %pool);
            work_pool(service, pool, now).instrument(span)
        })
        .buffer_unordered(POOLS_AT_ONCE)
        .fold(0, |total, matched| async move { total + matched })
        .await
}

async fn work_pool(service: &Service, pool: String, now: u64) -> usize {
    let holder = service.instance.as_str();
    match service.store.lease(&pool, holder, LEASE).await {
        Ok(true) => {}
        // Another instance is on it.
        Ok(false) => return 0,
        Err(error) => {
            tracing::warn!(%error, "cannot lease the pool");
            return 0;
        }
    }
    let matched = match_pool(service, &pool, now).await;
    if let Err(error) = service.store.release_lease(&pool, holder).await {
        // It lapses by itself.
        tracing::debug!(%error, "could not give the pool's lease back");
    }
    matched
}

async fn match_pool(service: &Service, pool: &str, now: u64) -> usize {
    let Some(size) = players_per_match(pool) else {
        tracing::error!("a pool whose name does not say its match size");
        return 0;
    };
    // In no particular order: the rules order them by age themselves.
    let tickets: Vec<Waiting> = match service.store.waiting(pool).await {
        Ok(tickets) => tickets,
        Err(error) => {
            tracing::warn!(%error, "cannot load the pool's tickets");
            return 0;
        }
    };
    let groups = pool::find_matches(&tickets, size, &service.config.window, now);
    let groups: Vec<Vec<String>> = groups
        .into_iter()
        .map(|group| {
            group
                .into_iter()
                .filter_map(|i| tickets.get(i).map(|t| t.ticket_id.clone()))
                .collect()
        })
        .filter(|group: &Vec<String>| group.len() == size)
        .collect();
    let budget = Budget {
        until: Instant::now() + POOL_BUDGET,
        no_sessions: AtomicBool::new(false),
    };
    futures_util::stream::iter(groups)
        .map(|group| make_match(service, pool, group, &budget))
        .buffer_unordered(MATCHES_AT_ONCE)
        .fold(0, |total, matched| async move { total + matched })
        .await
}

/// When a pass stops starting matches in a pool.
struct Budget {
    until: Instant,
    /// Set once `sessions.create` failed: it will most likely fail for the next group too, so the
    /// rest wait for the next pass rather than be taken and put back one by one.
    no_sessions: AtomicBool,
}

impl Budget {
    fn spent(&self) -> bool {
        self.no_sessions.load(Ordering::Relaxed) || Instant::now() >= self.until
    }
}

/// Makes one group a match; how many tickets were matched (the group's size, or 0).
async fn make_match(service: &Service, pool: &str, group: Vec<String>, budget: &Budget) -> usize {
    if budget.spent() {
        return 0;
    }
    let deadline = now_millis().saturating_add(service.matching_deadline_ms());
    let tickets = match service.store.take(pool, &group, deadline).await {
        Ok(Some(tickets)) => tickets,
        Ok(None) => {
            tracing::debug!(
                ?group,
                "a ticket of the group is no longer waiting; skipped"
            );
            return 0;
        }
        Err(error) => {
            tracing::warn!(%error, "cannot take a group's tickets");
            return 0;
        }
    };
    let Some(first) = tickets.first() else {
        return 0;
    };
    let (mode, region) = (first.mode.clone(), first.region.clone());
    let players: Vec<String> = tickets.iter().map(|t| t.user_id.clone()).collect();
    // The group's first ticket names the request, so the session's id follows from it: a retry
    // after a timeout finds the session the first attempt made instead of making another.
    let call = CallOptions::default().request_id(format!("match:{}", first.ticket_id));
    let new = NewSession {
        mode: mode.clone(),
        players: players.clone(),
    };
    let mut created = service.bus.call::<CreateSession>(&new, call.clone()).await;
    if matches!(created, Err(CallError::Timeout(_))) {
        created = service.bus.call::<CreateSession>(&new, call.clone()).await;
    }
    let session = match created {
        Ok(session) => session,
        Err(error) => {
            if !budget.no_sessions.swap(true, Ordering::Relaxed) {
                tracing::warn!(%error, pool, ?players, "no session for a match; its tickets wait on");
            }
            put_back(service, &tickets).await;
            return 0;
        }
    };
    let session_id = session.session_id;
    futures_util::future::join_all(
        tickets
            .iter()
            .map(|t| service.hand_over(&call, &t.user_id, &t.ticket_id, &session_id)),
    )
    .await;
    if let Err(error) = service.store.finish(&group).await {
        // The tickets stay matching; once their deadline passes the sweeper finds their users in
        // the session and removes them.
        tracing::error!(%error, session_id, "could not remove matched tickets");
    }
    let found = MatchFound {
        session_id: session_id.clone(),
        players: players.clone(),
        mode,
        region,
    };
    service
        .announce(MATCH_FOUND, players.clone(), json!(found))
        .await;
    let ratings: Vec<f64> = tickets.iter().map(|t| t.rating).collect();
    tracing::info!(session_id, pool, ?players, ?ratings, "matched");
    let now = warren_contracts::event::now_millis();
    for ticket in &tickets {
        let waited = now.saturating_sub(ticket.created_at) as f64 / 1000.0;
        metrics::histogram!(
            "warren_matchmaker_wait_seconds",
            "mode" => found.mode.clone(),
            "region" => found.region.clone()
        )
        .record(waited);
    }
    metrics::counter!("warren_matchmaker_matches_total", "mode" => found.mode.clone(), "region" => found.region.clone())
        .increment(1);
    players.len()
}

async fn put_back(service: &Service, tickets: &[TicketRecord]) {
    if let Err(error) = service.store.put_back(tickets).await {
        // They stay matching until the sweeper puts them back.
        tracing::error!(%error, "could not put a failed match's tickets back");
    }
}

/// A pool's match size: the last part of its name (see [`crate::store::pool_key`]).
fn players_per_match(pool: &str) -> Option<usize> {
    let (_, size) = pool.rsplit_once('|')?;
    size.parse().ok().filter(|size| *size > 0)
}
