//! The sweeper: every instance runs one; the store hands each ticket it finds to one of them.
//!
//! Expiry: a pending or waiting ticket whose time to live is over is removed, its claim released,
//! and its player told (`matchmaker.expired`). A ticket being matched is left to its match.
//!
//! Recovery: a ticket left matching past its deadline belongs to a match whose instance died. The
//! user's claim in `accounts` says how far that match got: if the ticket can still claim the user,
//! no session took them, and the ticket waits again as it was; if a session holds them, the match
//! went through, and the ticket is removed. Nobody is told either way: a ticket is not lost, and no
//! match that does not exist is announced.

use crate::service::Service;
use crate::store::TicketRecord;
use serde_json::json;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use warren_bus::CallOptions;
use warren_contracts::activity::{ActivityKind, Claimed};
use warren_contracts::event::now_millis;
use warren_contracts::matchmaker::{EXPIRED, Ended};

/// Tickets taken from a schedule at a time.
const BATCH: usize = 100;
/// Batches one sweep takes at most; more wait for the next tick.
const BATCHES: usize = 20;

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

/// Expires what is due and settles what is stuck, now; how many tickets it dealt with.
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
    // Until then this instance has the tickets to itself; if it cannot settle one (accounts
    // unreachable), another sweep tries again then.
    let retry_at = now.saturating_add(service.matching_deadline_ms());
    let stuck = match service.store.take_stuck(now, BATCH, retry_at).await {
        Ok(stuck) => stuck,
        Err(error) => {
            tracing::warn!(%error, "cannot read the matching deadlines");
            return 0;
        }
    };
    let settled =
        futures_util::future::join_all(stuck.iter().map(|ticket| settle(service, ticket))).await;
    settled.into_iter().filter(|done| *done).count()
}

/// Puts back or removes one ticket a dead instance left matching; whether it was settled.
async fn settle(service: &Service, ticket: &TicketRecord) -> bool {
    let id = ticket.ticket_id.as_str();
    let answer = service
        .try_claim(&CallOptions::default(), &ticket.user_id, id)
        .await;
    let outcome = match answer {
        Ok(Claimed { claimed: true, .. }) => service
            .store
            .put_back(std::slice::from_ref(ticket))
            .await
            .map(|back| {
                if back == 1 {
                    tracing::warn!(
                        ticket_id = id,
                        "a match was left unfinished; its ticket waits again"
                    );
                }
            }),
        Ok(Claimed {
            current: Some(current),
            ..
        }) => {
            if current.kind == ActivityKind::Session {
                tracing::info!(ticket_id = id, session_id = %current.id, "a match left unfinished had gone through");
            } else {
                // Nothing but a lost claim lets this happen; the user is elsewhere now.
                tracing::warn!(ticket_id = id, current = ?current, "a ticket left mid-match lost its user; removed");
            }
            service.store.finish(&[id.to_owned()]).await
        }
        Ok(Claimed { current: None, .. }) => {
            tracing::error!("accounts refused a claim without saying what holds the user");
            return false;
        }
        Err(error) => {
            tracing::warn!(%error, ticket_id = id, "cannot tell how far a stuck match got; later");
            return false;
        }
    };
    match outcome {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(%error, ticket_id = id, "could not settle a stuck ticket; later");
            false
        }
    }
}
