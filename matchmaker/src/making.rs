//! A match from the take of its tickets to its players told, as one recorded decision carried
//! through to the end:
//!
//! 1. `sessions.create`, always under the match's own request id, so that a retry (after a
//!    timeout, or by another instance) finds the session the first try made;
//! 2. the session is recorded on the match and on its tickets, in one store step: from then on
//!    the match only goes forward;
//! 3. the players' claims in `accounts` move from their tickets to the session;
//! 4. `match.found`, with an id that follows from the match, so a retry is the same event;
//! 5. the tickets go (the match is kept a while, done, for a cancel waiting on it).
//!
//! [`advance`] does whatever is left of these, so the instance that took the match and any
//! sweeper that finds it due run the same code, and every step is safe to do twice. Only a
//! session refused outright (not a timeout: the session may exist) undoes the match: its tickets
//! wait again, and those whose players left meanwhile end, their players told.

use crate::service::Service;
use crate::store::{Abandoned, MatchRecord, Step, StoreError};
use serde_json::json;
use warren_bus::{BusError, CallError, CallOptions};
use warren_contracts::event::now_millis;
use warren_contracts::matchmaker::{MATCH_FOUND, MatchFound, SERVICE};
use warren_contracts::sessions::{Create as CreateSession, NewSession};
use warren_contracts::{Event, WireError};

/// Why a match stopped short; it is advanced again later, from where it stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Stalled {
    #[error("no answer from sessions: {0}")]
    Session(CallError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("claims not handed over: {0}")]
    HandOver(CallError),
    #[error("match.found not published: {0}")]
    Announce(BusError),
    #[error("a session was recorded while the match was being undone")]
    Raced,
}

/// What became of a match advanced as far as it goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Advanced {
    /// Made and announced (now or before).
    Done,
    /// Refused a session: its tickets wait again (or ended, for players who left).
    Undone,
    /// No longer in the store.
    Gone,
}

/// Takes `record` through whatever steps are left.
#[tracing::instrument(name = "matchmaker.match", skip_all, fields(match_id = %record.match_id))]
pub(crate) async fn advance(service: &Service, record: MatchRecord) -> Result<Advanced, Stalled> {
    if record.done {
        return Ok(Advanced::Done);
    }
    let call = CallOptions::default().request_id(record.session_request());
    let mut record = record;
    let session_id = match record.session_id.clone() {
        Some(session_id) => session_id,
        None => match create_session(service, &record, &call).await? {
            Ok(session_id) => {
                let Some((now, first)) = service
                    .store
                    .record_session(&record.match_id, &session_id)
                    .await?
                else {
                    tracing::error!(%session_id, "a match that made a session is gone");
                    return Ok(Advanced::Gone);
                };
                if first {
                    matched(&now);
                }
                record = now;
                session_id
            }
            Err(refusal) => return undo(service, &record, &refusal).await,
        },
    };
    if !record.handed_over {
        hand_over(service, &record, &call, &session_id).await?;
        noted(service, &record, Step::HandedOver).await;
    }
    if !record.announced {
        let found = MatchFound {
            session_id: session_id.clone(),
            players: record.players.clone(),
            mode: record.mode.clone(),
            region: record.region.clone(),
        };
        let key = format!("{MATCH_FOUND}:{}", record.match_id);
        let event = Event::once(&key, MATCH_FOUND, record.players.clone(), json!(found));
        service
            .bus
            .publish(SERVICE, &event)
            .await
            .map_err(Stalled::Announce)?;
        noted(service, &record, Step::Announced).await;
    }
    service.store.complete(&record.match_id).await?;
    Ok(Advanced::Done)
}

/// The session for the match: `Ok(Ok(id))` made (now or before), `Ok(Err(_))` refused for good,
/// `Err(_)` unknown (it may exist; ask again later).
async fn create_session(
    service: &Service,
    record: &MatchRecord,
    call: &CallOptions,
) -> Result<Result<String, WireError>, Stalled> {
    let new = NewSession {
        mode: record.mode.clone(),
        players: record.players.clone(),
    };
    match service.bus.call::<CreateSession>(&new, call.clone()).await {
        Ok(session) => Ok(Ok(session.session_id)),
        Err(error) if error.is_refusal() => Ok(Err(error.to_wire())),
        Err(error) => Err(Stalled::Session(error)),
    }
}

async fn undo(
    service: &Service,
    record: &MatchRecord,
    refusal: &WireError,
) -> Result<Advanced, Stalled> {
    match service.store.abandon(&record.match_id).await? {
        Abandoned::Undone { back, ended } => {
            tracing::warn!(
                %refusal, players = ?record.players, back = back.len(), ended = ended.len(),
                "sessions refused a match; its tickets wait again"
            );
            let call = CallOptions::default();
            for ticket in &ended {
                if let Some(reason) = ticket.leaving {
                    service.cancelled(&call, ticket, reason).await;
                }
            }
            Ok(Advanced::Undone)
        }
        Abandoned::HasSession => Err(Stalled::Raced),
        Abandoned::Missing => Ok(Advanced::Gone),
    }
}

/// Moves every player's claim from their ticket to the session, or fails as a whole.
async fn hand_over(
    service: &Service,
    record: &MatchRecord,
    call: &CallOptions,
    session_id: &str,
) -> Result<(), Stalled> {
    let moves = record
        .players
        .iter()
        .zip(&record.tickets)
        .map(|(user, ticket)| service.hand_over(call, user, ticket, session_id));
    futures_util::future::join_all(moves)
        .await
        .into_iter()
        .collect::<Result<Vec<()>, CallError>>()
        .map(|_| ())
        .map_err(Stalled::HandOver)
}

/// Notes a step as done. If the note is lost the step is done again, which is harmless.
async fn noted(service: &Service, record: &MatchRecord, step: Step) {
    if let Err(error) = service.store.note(&record.match_id, step).await {
        tracing::debug!(%error, ?step, "could not note a step of a match");
    }
}

/// Counts and logs a match, once: when its session was recorded.
fn matched(record: &MatchRecord) {
    let (mode, region) = (record.mode.clone(), crate::labels::region(&record.region));
    tracing::info!(
        session_id = ?record.session_id, pool = %record.pool, players = ?record.players, "matched"
    );
    let now = now_millis();
    for since in &record.searching_since {
        let waited = now.saturating_sub(*since) as f64 / 1000.0;
        metrics::histogram!(
            crate::series::WAIT_SECONDS,
            "mode" => mode.clone(),
            "region" => region.clone()
        )
        .record(waited);
    }
    metrics::counter!(crate::series::MATCHES, "mode" => mode, "region" => region).increment(1);
}
