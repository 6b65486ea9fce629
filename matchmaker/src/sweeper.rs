//! The sweeper: every instance runs one; the store hands each ticket it finds to one of them.
//!
//! Expiry: a pending or waiting ticket whose time to live is over is removed, its claim released,
//! and its player told (`matchmaker.expired`). A ticket being matched is left to its match.
//!
//! Recovery: a match that is due stopped short (a step failed) or was left by an instance that
//! died. The match records how far it got, so the sweeper carries it on from there (see
//! [`crate::making`]); if a step fails again, the match is due again a moment later. Nothing is
//! guessed: a match whose session exists goes forward, one whose session was refused is undone.

use crate::making::{self, Advanced};
use crate::service::{Service, millis};
use crate::store::{MatchRecord, TicketRecord};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use warren_bus::CallOptions;
use warren_contracts::event::now_millis;
use warren_contracts::matchmaker::{EXPIRED, Ended};

/// Tickets taken from a schedule at a time.
const BATCH: usize = 100;
/// Batches one sweep takes at most; more wait for the next tick.
const BATCHES: usize = 20;
/// How long a sweeper has a due match to itself before another may take it up; also how soon a
/// match that failed a step again is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// Runs the sweeper until `shutdown`.
pub(crate) async fn run(service: Arc<Service>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(service.config.sweep_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        sweep(&service).await;
    }
}

/// Expires what is due and carries on the matches that are due, now; how many tickets and matches
/// it dealt with.
pub(crate) async fn sweep(service: &Service) -> usize {
    let now = now_millis();
    expire(service, now).await + recover(service, now).await
}

async fn expire(service: &Service, now: u64) -> usize {
    let mut expired = 0;
    for _ in 0..BATCHES {
        let due = match service.store.take_expired(now, BATCH).await {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "cannot read the ticket expiry schedule");
                break;
            }
        };
        expired += due.len();
        futures_util::future::join_all(due.iter().map(|ticket| expired_one(service, ticket))).await;
        if due.len() < BATCH {
            break;
        }
    }
    expired
}

async fn expired_one(service: &Service, ticket: &TicketRecord) {
    let call = CallOptions::default();
    service
        .release(&call, &ticket.user_id, &ticket.ticket_id)
        .await;
    let ended = Ended {
        ticket_id: ticket.ticket_id.clone(),
        reason: None,
    };
    service
        .announce(EXPIRED, vec![ticket.user_id.clone()], json!(ended))
        .await;
    tracing::info!(ticket_id = %ticket.ticket_id, user_id = %ticket.user_id, "ticket expired");
}

async fn recover(service: &Service, now: u64) -> usize {
    let retry_at = now.saturating_add(millis(RETRY));
    let due = match service.store.take_due(now, BATCH, retry_at).await {
        Ok(due) => due,
        Err(error) => {
            tracing::warn!(%error, "cannot read the matches due");
            return 0;
        }
    };
    let advanced =
        futures_util::future::join_all(due.into_iter().map(|m| carry_on(service, m))).await;
    advanced.into_iter().filter(|done| *done).count()
}

/// Advances one due match; whether it is settled (done, undone or gone).
async fn carry_on(service: &Service, record: MatchRecord) -> bool {
    let match_id = record.match_id.clone();
    match making::advance(service, record).await {
        Ok(Advanced::Done) => {
            tracing::info!(match_id, "a match that had stopped short is made");
            true
        }
        Ok(Advanced::Undone | Advanced::Gone) => true,
        Err(stalled) => {
            tracing::warn!(%stalled, match_id, retry_in = ?RETRY, "a match is still short");
            false
        }
    }
}
