//! `matchmaker.start`, `.cancel`, `.status` and `.holds`: check the caller and the parameters,
//! keep the ticket and the user's claim in step, tell the player.
//!
//! A start holds, then claims, then seats: the ticket is stored as pending (so this store holds
//! the user), the user is claimed in `accounts`, and only then does the ticket wait in its pool.
//! If the claim is refused the pending ticket goes, and nobody ever saw it matchable.

use crate::service::{Service, store_failure, ticket_activity};
use crate::store::{Removal, TicketRecord, TicketStatus};
use std::sync::Arc;
use std::time::Duration;
use warren_bus::{CallError, RequestContext};
use warren_contracts::accounts::{Get as GetAccount, UserId};
use warren_contracts::activity::{Activity, ActivityKind, Holds, HoldsQuery};
use warren_contracts::error::bounded;
use warren_contracts::event::now_millis;
use warren_contracts::matchmaker::{CancelReason, MAX_REGION_CHARS, Search, Started, Ticket};
use warren_contracts::sessions::{GameMode, Modes, check_mode};
use warren_contracts::{Empty, ErrorCode, WireError};
use warren_runtime::claims;

/// How long a cancel waits for a match being made to be decided, and how often it looks.
const CANCEL_WAIT: Duration = Duration::from_secs(1);
const CANCEL_POLL: Duration = Duration::from_millis(20);
/// The fewest and most players a match may have, whatever the game allows.
pub(crate) const MIN_PLAYERS: u32 = 2;
pub(crate) const MAX_PLAYERS: u32 = 16;

pub(crate) async fn start(
    service: Arc<Service>,
    ctx: RequestContext,
    params: Search,
) -> Result<Started, WireError> {
    let user = ctx.caller()?.to_owned();
    check_region(&params.region)?;
    bounded("mode", &params.mode)?;
    let call = ctx.service_call_options();
    // Asked at every start, not cached: a start is rare next to a pass, and never stale.
    let modes = service
        .bus
        .call::<Modes>(&Empty {}, call.clone())
        .await
        .map_err(|error| {
            tracing::warn!(%error, "cannot learn the game modes from sessions");
            error.to_wire()
        })?;
    let players = params
        .players_per_match
        .unwrap_or_else(|| default_size(&modes, &params.mode));
    check_mode(&modes, &params.mode, players, MIN_PLAYERS, MAX_PLAYERS)?;
    // Answered early, before accounts is asked anything; the store's add decides for good.
    if let Some(existing) = service
        .store
        .find_user(&user)
        .await
        .map_err(store_failure)?
    {
        return Err(in_the_way(&existing));
    }
    let rating = rating_of(&service, &ctx, &user).await?;
    let now = now_millis();
    let ticket = TicketRecord {
        ticket_id: uuid::Uuid::new_v4().to_string(),
        user_id: user.clone(),
        mode: params.mode,
        region: params.region,
        players_per_match: players,
        rating,
        created_at: now,
        expires_at: now.saturating_add(service.ttl_ms()),
        status: TicketStatus::Pending,
        match_id: None,
        session_id: None,
        leaving: None,
    };
    let id = ticket.ticket_id.clone();
    if let Some(existing) = service.store.add(&ticket).await.map_err(store_failure)? {
        let found = service.store.get(&existing).await.map_err(store_failure)?;
        return Err(found.map_or_else(
            || ticket_activity(&existing).conflict(),
            |found| in_the_way(&found),
        ));
    }
    if let Err(error) = service.claim(&call, &user, &id).await {
        discard(&service, &id).await;
        return Err(error);
    }
    match service.store.activate(&id).await {
        Ok(true) => {}
        Ok(false) => {
            // Cancelled, or gone with the user's last connection, while it was being claimed.
            service.release(&call, &user, &id).await;
            return Err(WireError::new(
                ErrorCode::NotFound,
                "the search ended while it started",
            ));
        }
        Err(error) => {
            discard(&service, &id).await;
            service.release(&call, &user, &id).await;
            return Err(store_failure(error));
        }
    }
    tracing::info!(
        ticket_id = %id, user_id = %user, mode = %ticket.mode, region = %ticket.region,
        players, rating, "searching"
    );
    Ok(Started {
        ticket_id: id,
        expires_at: ticket.expires_at,
    })
}

/// The smallest match the mode allows, but never one player: a match is of two or more.
fn default_size(modes: &[GameMode], mode: &str) -> u32 {
    modes
        .iter()
        .find(|m| m.mode == mode)
        .map_or(MIN_PLAYERS, |m| m.min_players.max(MIN_PLAYERS))
}

/// The caller's rating, from their account.
async fn rating_of(service: &Service, ctx: &RequestContext, user: &str) -> Result<f64, WireError> {
    let who = UserId {
        user_id: user.to_owned(),
    };
    let account = match service
        .bus
        .call::<GetAccount>(&who, ctx.service_call_options())
        .await
    {
        Ok(account) => account,
        Err(CallError::Service(error)) if error.code == ErrorCode::NotFound => {
            return Err(WireError::new(ErrorCode::NotFound, "no account"));
        }
        Err(error) => {
            tracing::warn!(%error, "cannot read the caller's account");
            return Err(error.to_wire());
        }
    };
    if !account.rating.is_finite() {
        tracing::error!(
            user_id = user,
            rating = account.rating,
            "an account's rating is not a number"
        );
        return Err(WireError::new(ErrorCode::Internal, "internal error"));
    }
    Ok(account.rating)
}

/// Removes a ticket that never became matchable. Left behind, it would hold the user until it
/// expires (or they cancel it).
async fn discard(service: &Service, ticket_id: &str) {
    if let Err(error) = service
        .store
        .remove(ticket_id, &[TicketStatus::Pending], None)
        .await
    {
        tracing::error!(%error, ticket_id, "could not remove a ticket whose start failed");
    }
}

pub(crate) async fn cancel(
    service: Arc<Service>,
    ctx: RequestContext,
    _params: Empty,
) -> Result<Empty, WireError> {
    let user = ctx.caller()?;
    let Some(ticket) = service.store.find_user(user).await.map_err(store_failure)? else {
        return Err(not_searching());
    };
    let allowed = [TicketStatus::Pending, TicketStatus::Waiting];
    let leaving = Some(CancelReason::Cancelled);
    match service
        .store
        .remove(&ticket.ticket_id, &allowed, leaving)
        .await
        .map_err(store_failure)?
    {
        Removal::Removed(ticket) => {
            service
                .cancelled(
                    &ctx.service_call_options(),
                    &ticket,
                    CancelReason::Cancelled,
                )
                .await;
            Ok(Empty {})
        }
        Removal::Kept(ticket) => match (&ticket.session_id, &ticket.match_id) {
            // Too late: the match has made its session.
            (Some(session_id), _) => Err(session_conflict(session_id)),
            (None, Some(match_id)) => outcome_of(&service, match_id).await,
            (None, None) => Err(not_searching()),
        },
        Removal::Missing => Err(not_searching()),
    }
}

/// A cancel that found its ticket being matched, and marked it leaving: waits a moment for the
/// match to be decided. If it makes no session the ticket ends (the player is told so by whoever
/// undid the match); if it does, the cancel is too late.
async fn outcome_of(service: &Service, match_id: &str) -> Result<Empty, WireError> {
    let give_up = tokio::time::Instant::now() + CANCEL_WAIT;
    loop {
        match service
            .store
            .get_match(match_id)
            .await
            .map_err(store_failure)?
        {
            Some(record) => {
                if let Some(session_id) = &record.session_id {
                    return Err(session_conflict(session_id));
                }
            }
            None => return Ok(Empty {}),
        }
        if tokio::time::Instant::now() >= give_up {
            return Err(WireError::new(
                ErrorCode::Unavailable,
                "a match is being made for you; try again in a moment",
            ));
        }
        tokio::time::sleep(CANCEL_POLL).await;
    }
}

pub(crate) async fn status(
    service: Arc<Service>,
    ctx: RequestContext,
    _params: Empty,
) -> Result<Option<Ticket>, WireError> {
    let user = ctx.caller()?;
    let ticket = service.store.find_user(user).await.map_err(store_failure)?;
    Ok(ticket.map(|t| t.to_ticket(&service.config.window, now_millis())))
}

/// `matchmaker.holds`: whether the ticket is still the user's; `accounts` asks before it lets a
/// ticket claim stand in the way of another.
pub(crate) async fn holds(
    service: Arc<Service>,
    ctx: RequestContext,
    params: HoldsQuery,
) -> Result<Holds, WireError> {
    claims::answer_holds(&ctx, params, |query| async move {
        service.holds(&query.id, &query.user_id).await
    })
    .await
}

/// The error for a user whose ticket keeps them from another search: their search, or the
/// session it was matched into.
fn in_the_way(ticket: &TicketRecord) -> WireError {
    match &ticket.session_id {
        Some(session_id) => session_conflict(session_id),
        None => ticket_activity(&ticket.ticket_id).conflict(),
    }
}

fn session_conflict(session_id: &str) -> WireError {
    Activity::new(ActivityKind::Session, session_id).conflict()
}

fn not_searching() -> WireError {
    WireError::new(ErrorCode::NotFound, "you are not searching")
}

fn check_region(region: &str) -> Result<(), WireError> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if region.is_empty() || region.len() > MAX_REGION_CHARS || !region.chars().all(allowed) {
        return Err(WireError::new(
            ErrorCode::InvalidParams,
            format!("region must be 1 to {MAX_REGION_CHARS} characters of a-z, 0-9 and -"),
        ));
    }
    Ok(())
}
