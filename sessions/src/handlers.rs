//! One function per `sessions.*` method, and the one place where a store failure is logged and
//! turned into the error a caller sees.
//!
//! Every change reads the session, lets the game decide, and writes it back with a
//! compare-and-set on the version; a writer that lost the race reads again and retries. Events
//! go out only after the write succeeded, so nobody hears of a move that was not stored.

use crate::game::{Game, GameError, Games};
use crate::store::{SessionRecord, SessionStore, StoreError};
use serde_json::json;
use std::sync::Arc;
use warren_bus::{Bus, RequestContext};
use warren_contracts::accounts::RecordResult;
use warren_contracts::activity::{Holds, HoldsQuery};
use warren_contracts::event::now_millis;
use warren_contracts::sessions::{
    Command, FINISHED, Finished, GameMode, NewSession, PLAYER_LEFT, PlayerLeft, SERVICE, STARTED,
    STATE, Session, SessionId, Status,
};
use warren_contracts::{Empty, ErrorCode, Event, WireError};

/// How long a change keeps trying while other writers keep changing the session first.
const BUSY_LIMIT: std::time::Duration = std::time::Duration::from_secs(3);
/// How long a writer waits before looking again at an outbox still being published.
const OUTBOX_WAIT: std::time::Duration = std::time::Duration::from_millis(5);
/// How long a finished game waits for accounts to apply it before leaving it to the queue.
const RECORD_RESULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// An outbox older than this was left by an instance that died.
const ABANDONED_OUTBOX_MS: u64 = 2_000;

pub(crate) struct Service {
    bus: Bus,
    store: Arc<dyn SessionStore>,
    games: Games,
}

impl Service {
    pub(crate) fn new(bus: Bus, store: Arc<dyn SessionStore>, games: Games) -> Self {
        Self { bus, store, games }
    }

    fn game(&self, mode: &str) -> Result<Arc<dyn Game>, WireError> {
        self.games.get(mode).ok_or_else(|| {
            WireError::new(ErrorCode::InvalidParams, format!("no game mode {mode:?}"))
        })
    }

    pub(crate) fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }

    pub(crate) async fn load(&self, session_id: &str) -> Result<SessionRecord, WireError> {
        self.store
            .get(session_id)
            .await
            .map_err(store_failure)?
            .ok_or_else(|| WireError::new(ErrorCode::NotFound, "no such session"))
    }

    /// Tells the session's players; a failed publish is logged, the change stands.
    async fn announce(&self, kind: &str, players: &[String], data: serde_json::Value) {
        let event = Event::new(kind, players.to_vec(), data);
        if let Err(error) = self.bus.publish(SERVICE, &event).await {
            tracing::error!(%error, kind, "could not publish a session event");
        }
    }

    /// Reads, changes with `change`, and writes back (with the change's events in the record's
    /// outbox) until the write wins; then publishes the events and clears the outbox.
    ///
    /// A writer that finds the previous change's events still in the outbox waits for them to go
    /// out first, so every player hears of changes in version order, whichever instance made
    /// them; an outbox left by an instance that died is published by the next writer.
    async fn update<F>(&self, session_id: &str, mut change: F) -> Result<SessionRecord, WireError>
    where
        F: FnMut(&dyn Game, &mut SessionRecord) -> Result<Vec<Event>, WireError>,
    {
        let give_up = tokio::time::Instant::now() + BUSY_LIMIT;
        while tokio::time::Instant::now() < give_up {
            let mut record = self.load(session_id).await?;
            if !record.outbox.is_empty() {
                if now_millis().saturating_sub(record.changed_at) > ABANDONED_OUTBOX_MS {
                    self.flush(record).await?;
                } else {
                    tokio::time::sleep(OUTBOX_WAIT).await;
                }
                continue;
            }
            let expected = record.version();
            let game = self.game(&record.session.game)?;
            let before = record.session.status;
            let mut events = change(game.as_ref(), &mut record)?;
            record.session.version = expected + 1;
            if let Some(outcome) = game.outcome(&record.session.state) {
                record.session.status = Status::Finished;
                record.session.winner = outcome.winner;
            }
            events.extend(change_events(before, &record));
            record.outbox = events;
            record.changed_at = now_millis();
            if self
                .store
                .replace(&record, expected)
                .await
                .map_err(store_failure)?
            {
                if before == Status::Running && record.session.status == Status::Finished {
                    let game = record.session.game.clone();
                    metrics::counter!("warren_sessions_finished_total", "game" => game)
                        .increment(1);
                }
                let look = record.changed_at + ABANDONED_OUTBOX_MS;
                if let Err(error) = self.store.watch_outbox(session_id, look).await {
                    tracing::warn!(%error, "could not schedule the outbox check");
                }
                return self.flush(record).await;
            }
        }
        Err(WireError::new(
            ErrorCode::Unavailable,
            "the session is too busy; try again",
        ))
    }

    /// Has accounts apply a finished game now, so that players hear their new ratings before the
    /// call that ended the game is answered. Best effort: `accounts.results` applies it from
    /// `session.finished` anyway.
    async fn record_result(&self, event: &Event) {
        let Ok(finished) = serde_json::from_value::<Finished>(event.data.clone()) else {
            return;
        };
        let options = warren_bus::CallOptions::default().timeout(RECORD_RESULT_TIMEOUT);
        if let Err(error) = self.bus.call::<RecordResult>(&finished, options).await {
            tracing::debug!(%error, "result left to accounts.results");
        }
    }

    /// Publishes the outbox of a session whose writer left it behind (it died between writing
    /// and publishing); nothing if it is empty or still fresh.
    pub(crate) async fn flush_abandoned(&self, session_id: &str) -> Result<(), WireError> {
        let record = self.load(session_id).await?;
        let abandoned = now_millis().saturating_sub(record.changed_at) >= ABANDONED_OUTBOX_MS;
        if !record.outbox.is_empty() && abandoned {
            tracing::warn!(session_id, "publishing events an instance left behind");
            self.flush(record).await?;
        }
        Ok(())
    }

    /// Publishes the outbox in order, then clears it (unless another writer already did).
    async fn flush(&self, mut record: SessionRecord) -> Result<SessionRecord, WireError> {
        for event in &record.outbox {
            if event.kind == FINISHED {
                // Before the event, so that accounts' queue finds the result applied rather
                // than racing this call and announcing after the answer.
                self.record_result(event).await;
            }
            if let Err(error) = self.bus.publish(SERVICE, event).await {
                // Left in the outbox: the next writer publishes it again.
                tracing::error!(%error, kind = %event.kind, "could not publish a session event");
                return Ok(record);
            }
        }
        record.outbox.clear();
        let version = record.version();
        self.store
            .replace(&record, version)
            .await
            .map_err(store_failure)?;
        Ok(record)
    }
}

/// What every player hears of a change: the new state, and the end if it just came.
fn change_events(before: Status, record: &SessionRecord) -> Vec<Event> {
    let session = &record.session;
    let players = session.players.clone();
    let mut events = vec![Event::new(
        STATE,
        players.clone(),
        json!({
            "session_id": session.session_id,
            "state": session.state,
            "version": session.version,
        }),
    )];
    if before == Status::Running && session.status == Status::Finished {
        let finished = Finished {
            session_id: session.session_id.clone(),
            game: session.game.clone(),
            winner: session.winner.clone(),
            players: session.players.clone(),
        };
        events.push(Event::new(
            FINISHED,
            players,
            serde_json::to_value(&finished).unwrap_or_default(),
        ));
    }
    events
}

fn caller(ctx: &RequestContext) -> Result<&str, WireError> {
    ctx.user_id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| WireError::new(ErrorCode::Unauthorized, "no caller"))
}

fn store_failure(error: StoreError) -> WireError {
    tracing::error!(%error, "session store failed");
    match error {
        StoreError::Unavailable(_) => WireError::new(
            ErrorCode::Unavailable,
            "sessions are unavailable; try again",
        ),
        StoreError::AlreadyExists | StoreError::Corrupt(_) => {
            WireError::new(ErrorCode::Internal, "internal error")
        }
    }
}

fn refused(error: GameError) -> WireError {
    WireError::new(error.code(), error.to_string())
}

/// A player who may act in the session: seated and not gone.
fn seated(record: &SessionRecord, user: &str) -> Result<(), WireError> {
    if !record.session.players.iter().any(|p| p == user) {
        return Err(WireError::new(
            ErrorCode::Forbidden,
            "you are not a player of this session",
        ));
    }
    if record.left.iter().any(|p| p == user) {
        return Err(WireError::new(
            ErrorCode::Forbidden,
            "you have left this session",
        ));
    }
    Ok(())
}

pub(crate) async fn create(
    service: Arc<Service>,
    ctx: RequestContext,
    params: NewSession,
) -> Result<Session, WireError> {
    service_only(&ctx)?;
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
        .store
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
        outbox: Vec::new(),
        changed_at: now_millis(),
        applied: Vec::new(),
    };
    match service.store.create(&record).await {
        Ok(()) => {}
        // Another delivery of this request won the race to create it.
        Err(StoreError::AlreadyExists) => {
            return Ok(service.load(&session.session_id).await?.session);
        }
        Err(error) => return Err(store_failure(error)),
    }
    for player in &session.players {
        if let Err(error) = service
            .store
            .add_user_session(player, &session.session_id)
            .await
        {
            // Only the grace period needs it: the session itself is fine.
            tracing::warn!(%error, "could not index the session by player");
        }
    }
    let started = json!({
        "session_id": session.session_id,
        "game": session.game,
        "players": session.players,
    });
    service.announce(STARTED, &session.players, started).await;
    tracing::info!(session_id = %session.session_id, game = %session.game, "session started");
    metrics::counter!("warren_sessions_started_total", "game" => session.game.clone()).increment(1);
    Ok(session)
}

/// Refuses a method meant for services when the gateway forwarded it for a signed-in user.
fn service_only(ctx: &RequestContext) -> Result<(), WireError> {
    match ctx.user_id {
        Some(_) => Err(WireError::new(
            ErrorCode::Forbidden,
            format!("{} is not available to clients", ctx.method),
        )),
        None => Ok(()),
    }
}

/// `sessions.modes`: the games this service runs and their player counts, so that rooms and the
/// matchmaker refuse a mode or a size before anyone waits for a session that cannot start.
pub(crate) async fn modes(
    service: Arc<Service>,
    _ctx: RequestContext,
    _params: Empty,
) -> Result<Vec<GameMode>, WireError> {
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Ok(service
        .games
        .modes()
        .filter_map(|mode| service.games.get(mode))
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
    service: Arc<Service>,
    ctx: RequestContext,
    params: HoldsQuery,
) -> Result<Holds, WireError> {
    service_only(&ctx)?;
    let held = match service.store.get(&params.id).await.map_err(store_failure)? {
        Some(record) => {
            record.session.status == Status::Running && record.remaining().contains(&params.user_id)
        }
        None => false,
    };
    Ok(Holds { held })
}

pub(crate) async fn join(
    service: Arc<Service>,
    ctx: RequestContext,
    params: SessionId,
) -> Result<Session, WireError> {
    let user = caller(&ctx)?;
    let record = service.load(&params.session_id).await?;
    seated(&record, user)?;
    Ok(record.session)
}

pub(crate) async fn command(
    service: Arc<Service>,
    ctx: RequestContext,
    params: Command,
) -> Result<Empty, WireError> {
    let user = caller(&ctx)?.to_owned();
    let request_id = ctx.request_id.as_deref();
    if ctx.redelivered
        && let Some(request_id) = request_id
        && service
            .load(&params.session_id)
            .await?
            .applied
            .iter()
            .any(|id| id == request_id)
    {
        // The instance that applied it died before answering; the broker delivered it again.
        tracing::info!("command applied before; not applied again");
        return Ok(Empty {});
    }
    service
        .update(&params.session_id, |game, record| {
            seated(record, &user)?;
            if record.session.status == Status::Finished {
                return Err(refused(GameError::GameOver));
            }
            record.session.state = game
                .apply(&record.session.state, &user, &params.command)
                .map_err(refused)?;
            if let Some(request_id) = request_id {
                record.note_applied(request_id);
            }
            Ok(Vec::new())
        })
        .await?;
    metrics::counter!("warren_session_commands_total").increment(1);
    Ok(Empty {})
}

pub(crate) async fn leave(
    service: Arc<Service>,
    ctx: RequestContext,
    params: SessionId,
) -> Result<Empty, WireError> {
    let user = caller(&ctx)?.to_owned();
    leave_as(&service, &params.session_id, &user).await?;
    Ok(Empty {})
}

/// `user` leaves `session_id` for good: by asking, or when their grace period ran out.
pub(crate) async fn leave_as(
    service: &Service,
    session_id: &str,
    user: &str,
) -> Result<(), WireError> {
    service
        .update(session_id, |game, record| {
            seated(record, user)?;
            record.left.push(user.to_owned());
            if record.session.status == Status::Running {
                let remaining = record.remaining();
                record.session.state = game.player_left(&record.session.state, user, &remaining);
            }
            let left = PlayerLeft {
                session_id: record.session.session_id.clone(),
                user_id: user.to_owned(),
            };
            Ok(vec![Event::new(
                PLAYER_LEFT,
                record.session.players.clone(),
                json!(left),
            )])
        })
        .await?;
    Ok(())
}
