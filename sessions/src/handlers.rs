//! One function per `sessions.*` method: check the caller and the parameters, then read the store
//! or hand the change to the session's owner. What they share with the owner (reading a session,
//! telling its players, turning store and game errors into wire errors) is in [`crate::service`].
//!
//! Reads (`join`, `holds`) come from the store, where every accepted change is before it is
//! answered. Changes (`command`, `leave`) go to the session's owner (see [`crate::owner`]).

use crate::owner::forwarded::{ForwardedCommand, ForwardedLeave};
use crate::owner::{Action, Instance, Route};
use crate::service::{refused, seated, store_failure};
use crate::store::{SessionRecord, StoreError};
use serde_json::json;
use std::sync::Arc;
use warren_bus::RequestContext;
use warren_contracts::activity::{Holds, HoldsQuery};
use warren_contracts::sessions::{
    Command, GameMode, NewSession, STARTED, Session, SessionId, SessionStarted, Status,
};
use warren_contracts::{Empty, WireError};

pub(crate) async fn create(
    service: Arc<Instance>,
    ctx: RequestContext,
    params: NewSession,
) -> Result<Session, WireError> {
    ctx.service_only()?;
    let game = service.game(&params.mode)?;
    // The game refuses a wrong count, empty ids and a player seated twice.
    let players = params.players;
    // One request, one session: the id comes from the request's id, so that a caller's retry
    // (after a timeout) or the broker's redelivery finds the session it created the first time.
    let session_id = match &ctx.request_id {
        Some(request_id) => {
            let name = format!("{}:{request_id}:{}", ctx.method, players.join(","));
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes())
        }
        None => uuid::Uuid::new_v4(),
    }
    .to_string();
    if let Some(existing) = service
        .store()
        .get(&session_id)
        .await
        .map_err(store_failure)?
    {
        tracing::info!(%session_id, "session created before for this request");
        return Ok(existing.session);
    }
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;
    let state = game.start(&players, seed).map_err(refused)?;
    let session = Session {
        session_id,
        game: params.mode,
        players,
        state,
        version: 0,
        status: Status::Running,
        winner: None,
    };
    let record = SessionRecord {
        session: session.clone(),
        left: Vec::new(),
    };
    // Indexed by player before it exists (a grace period skips a session that does not), so a
    // crash between the two never leaves a session its players' grace periods cannot find.
    for player in &session.players {
        if let Err(error) = service
            .store()
            .add_user_session(player, &session.session_id)
            .await
        {
            // Only the grace period needs it: the session itself is fine.
            tracing::warn!(%error, "could not index the session by player");
        }
    }
    match service.store().create(&record, service.id()).await {
        Ok(()) => {}
        // Another delivery of this request won the race to create it.
        Err(StoreError::AlreadyExists) => {
            return Ok(service.load(&session.session_id).await?.session);
        }
        Err(error) => return Err(store_failure(error)),
    }
    let started = SessionStarted {
        session_id: session.session_id.clone(),
        game: session.game.clone(),
        players: session.players.clone(),
    };
    service
        .announce(STARTED, &session.players, json!(started))
        .await;
    tracing::info!(session_id = %session.session_id, game = %session.game, "session started");
    metrics::counter!(crate::series::STARTED, "game" => session.game.clone()).increment(1);
    Ok(session)
}

/// `sessions.modes`: the games this service runs and their player counts, so that rooms and the
/// matchmaker refuse a mode or a size before anyone waits for a session that cannot start.
pub(crate) async fn modes(
    service: Arc<Instance>,
    _ctx: RequestContext,
    _params: Empty,
) -> Result<Vec<GameMode>, WireError> {
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Ok(service
        .games()
        .modes()
        .filter_map(|mode| service.games().get(mode))
        .map(|game| GameMode {
            mode: game.mode().to_owned(),
            min_players: count(*game.players().start()),
            max_players: count(*game.players().end()),
        })
        .collect())
}

/// `sessions.holds`: whether the user still plays in the session (seated, not gone, not over);
/// `accounts` asks it before it lets a claim stand in the user's way.
pub(crate) async fn holds(
    service: Arc<Instance>,
    ctx: RequestContext,
    params: HoldsQuery,
) -> Result<Holds, WireError> {
    ctx.service_only()?;
    let held = match service
        .store()
        .get(&params.id)
        .await
        .map_err(store_failure)?
    {
        Some(record) => {
            record.session.status == Status::Running && record.remaining().contains(&params.user_id)
        }
        None => false,
    };
    Ok(Holds { held })
}

pub(crate) async fn join(
    service: Arc<Instance>,
    ctx: RequestContext,
    params: SessionId,
) -> Result<Session, WireError> {
    let user = ctx.caller()?;
    let record = service.load(&params.session_id).await?;
    seated(&record, user)?;
    Ok(record.session)
}

pub(crate) async fn command(
    service: Arc<Instance>,
    ctx: RequestContext,
    params: Command,
    route: Route,
) -> Result<Empty, WireError> {
    let user = ctx.caller()?;
    let action = Action::Command(params.command);
    service
        .submit(
            &params.session_id,
            user,
            action,
            ctx.request_id.as_deref(),
            route,
            ctx.remaining(),
        )
        .await?;
    Ok(Empty {})
}

pub(crate) async fn leave(
    service: Arc<Instance>,
    ctx: RequestContext,
    params: SessionId,
    route: Route,
) -> Result<Empty, WireError> {
    let user = ctx.caller()?;
    let (session_id, timeout) = (&params.session_id, ctx.remaining());
    service
        .submit(session_id, user, Action::Leave, None, route, timeout)
        .await?;
    Ok(Empty {})
}

/// `sessions.forwarded_command`: a command another instance received and forwarded here, the
/// session's owner, naming the player. For sessions instances only.
pub(crate) async fn forwarded_command(
    service: Arc<Instance>,
    ctx: RequestContext,
    params: ForwardedCommand,
    route: Route,
) -> Result<Empty, WireError> {
    ctx.service_only()?;
    let action = Action::Command(params.command);
    let (user, timeout) = (&params.user_id, ctx.remaining());
    let request_id = ctx.request_id.as_deref();
    service
        .submit(&params.session_id, user, action, request_id, route, timeout)
        .await?;
    Ok(Empty {})
}

/// `sessions.forwarded_leave`: a player leaving, forwarded here as `forwarded_command` is.
pub(crate) async fn forwarded_leave(
    service: Arc<Instance>,
    ctx: RequestContext,
    params: ForwardedLeave,
    route: Route,
) -> Result<Empty, WireError> {
    ctx.service_only()?;
    let (user, timeout) = (&params.user_id, ctx.remaining());
    service
        .submit(
            &params.session_id,
            user,
            Action::Leave,
            None,
            route,
            timeout,
        )
        .await?;
    Ok(Empty {})
}

/// `user` leaves `session_id` for good: their grace period ran out.
pub(crate) async fn leave_as(
    service: &Arc<Instance>,
    session_id: &str,
    user: &str,
) -> Result<(), WireError> {
    let timeout = warren_bus::rpc::DEFAULT_TIMEOUT;
    service
        .submit(session_id, user, Action::Leave, None, Route::Any, timeout)
        .await
}
