//! The matching loop. Each pass goes over the pools that have waiting tickets; for each pool it
//! takes the pool's lease (so instances do not all work one pool), loads its waiting tickets,
//! lets [`crate::pool::find_matches`] group them, and makes each group a match:
//!
//! 1. take: the store moves the whole group from waiting to matching and records the match, or
//!    does nothing if any ticket is gone (cancelled, expired, matched by another instance). This
//!    is what keeps a ticket out of two matches, leases or no leases.
//! 2. the match is advanced as far as it goes (see [`crate::making`]): session, hand-over,
//!    `match.found`, tickets removed.
//!
//! A match that stops short (sessions did not answer, Redis is restarting) is left to the
//! sweepers, due at once; one whose instance died is due at the matching deadline.

use crate::making::{self, Advanced, Stalled};
use crate::pool::{self, Waiting};
use crate::service::{Service, millis};
use crate::store::{MatchRecord, TicketStatus};
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use warren_contracts::event::now_millis;

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
/// How soon a sweeper takes up a match that stopped short here.
const RETRY_SOON: Duration = Duration::from_millis(200);

/// Runs a pass every `match_every` until `shutdown`. A pass under way is finished first, so that
/// no match is left half made by a clean stop.
pub(crate) async fn run(service: Arc<Service>, shutdown: CancellationToken) {
    let period = service.config.match_every.max(Duration::from_millis(1));
    // The first pass comes a period after the start, like every other: an instance that has just
    // started has nothing of its own to match sooner.
    let mut tick = tokio::time::interval_at(Instant::now() + period, period);
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
    /// Set once a match got no session: the next group would most likely fare no better, so the
    /// rest wait for the next pass rather than be taken into matches that stall.
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
    let Some(record) = new_match(service, pool, group).await else {
        return 0;
    };
    match service.store.take(&record).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            tracing::debug!(
                group = ?record.tickets,
                "a ticket of the group is no longer waiting; skipped"
            );
            return 0;
        }
        Err(error) => {
            tracing::warn!(%error, "cannot take a group's tickets");
            return 0;
        }
    }
    let (match_id, size) = (record.match_id.clone(), record.tickets.len());
    match making::advance(service, record).await {
        Ok(Advanced::Done) => size,
        Ok(Advanced::Undone) => {
            budget.no_sessions.store(true, Ordering::Relaxed);
            0
        }
        Ok(Advanced::Gone) => 0,
        Err(stalled) => {
            if matches!(stalled, Stalled::Session(_)) {
                budget.no_sessions.store(true, Ordering::Relaxed);
            }
            tracing::warn!(%stalled, match_id, "a match stopped short; a sweeper takes it on");
            let soon = now_millis().saturating_add(millis(RETRY_SOON));
            if let Err(error) = service.store.defer(&match_id, soon).await {
                // Then it is due at its matching deadline.
                tracing::debug!(%error, "could not bring the match forward");
            }
            0
        }
    }
}

/// The match a group would make, read from its tickets (what they say of their players never
/// changes; the take checks they are still waiting). `None` if one is no longer waiting.
async fn new_match(service: &Service, pool: &str, group: Vec<String>) -> Option<MatchRecord> {
    let read = futures_util::future::join_all(group.iter().map(|id| service.store.get(id))).await;
    let mut tickets = Vec::with_capacity(group.len());
    for ticket in read {
        match ticket {
            Ok(Some(ticket)) if ticket.status == TicketStatus::Waiting => tickets.push(ticket),
            Ok(_) => return None,
            Err(error) => {
                tracing::warn!(%error, "cannot read a group's tickets");
                return None;
            }
        }
    }
    let first = tickets.first()?;
    Some(MatchRecord {
        match_id: uuid::Uuid::new_v4().to_string(),
        pool: pool.to_owned(),
        mode: first.mode.clone(),
        region: first.region.clone(),
        players: tickets.iter().map(|t| t.user_id.clone()).collect(),
        searching_since: tickets.iter().map(|t| t.created_at).collect(),
        tickets: group,
        session_id: None,
        handed_over: false,
        announced: false,
        due: now_millis().saturating_add(service.matching_deadline_ms()),
        done: false,
    })
}

/// A pool's match size: the last part of its name (see [`crate::store::pool_key`]).
fn players_per_match(pool: &str) -> Option<usize> {
    let (_, size) = pool.rsplit_once('|')?;
    size.parse().ok().filter(|size| *size > 0)
}
