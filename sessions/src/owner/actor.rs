//! One live session: a task that holds the session in memory and applies its changes one after
//! another. Each change is decided by the game, committed to the store (record, request id and
//! events in one step, then the events numbered), announced, and answered, so players hear of
//! versions in order, nobody hears of a change that was not stored, and the caller's `ok` comes
//! after its events.
//! It is one file because it is one task's loop: split, the order it keeps would be harder to see.

use super::{Action, Instance, Job, Outcome};
use crate::game::{Game, GameError};
use crate::service::{refused, seated, store_failure};
use crate::store::{APPLIED_KEPT, Change, Claim, Committed, Owned, SessionRecord};
use serde_json::{Value, json};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use warren_bus::CallOptions;
use warren_contracts::accounts::RecordResult;
use warren_contracts::sessions::{
    FINISHED, Finished, PLAYER_LEFT, PlayerLeft, RESULTS, SERVICE, STATE, StateChanged, Status,
};
use warren_contracts::{ErrorCode, Event, WireError};

/// A session nobody changed for this long is given up, to be claimed again when needed.
const IDLE: Duration = Duration::from_secs(600);
/// How long a finished game waits for accounts to apply it before leaving it to the queue.
const RECORD_RESULT_TIMEOUT: Duration = Duration::from_secs(2);

/// The session as its owner holds it.
struct Live {
    record: SessionRecord,
    game: Arc<dyn Game>,
    /// Request ids of the latest commands: in order, oldest first, and as a set to look in.
    applied: VecDeque<String>,
    applied_set: HashSet<String>,
}

/// What a change replaced, to put back if it cannot be stored.
struct Undo {
    state: Value,
    version: u64,
    status: Status,
    winner: Option<String>,
    left: usize,
}

/// Runs session `session_id` here until it is lost, idle, or the instance leaves.
pub(super) async fn run(
    instance: Arc<Instance>,
    session_id: String,
    generation: u64,
    dead: Option<String>,
    mut jobs: mpsc::Receiver<Job>,
) {
    let claimed = instance
        .store()
        .claim(&session_id, instance.id(), dead.as_deref())
        .await;
    let mut live = match claimed {
        Ok(Claim::Owned(owned)) => {
            if let Some(previous) = &owned.previous_owner {
                // Changes the broker still routes to the instance it was taken from: no more.
                instance.unbind_from(&session_id, previous).await;
            }
            match Live::new(&instance, *owned).await {
                Ok(live) => live,
                Err(error) => {
                    return refuse_all(&instance, &session_id, generation, jobs, error).await;
                }
            }
        }
        Ok(Claim::OwnedBy(owner)) => {
            instance.forget(&session_id, generation);
            jobs.close();
            while let Some(job) = jobs.recv().await {
                let _ = job
                    .reply
                    .send(Outcome::Elsewhere(Some(owner.clone()), job.action));
            }
            return;
        }
        Ok(Claim::Missing) => {
            let error = WireError::new(ErrorCode::NotFound, "no such session");
            return refuse_all(&instance, &session_id, generation, jobs, error).await;
        }
        Err(error) => {
            let error = store_failure(error);
            return refuse_all(&instance, &session_id, generation, jobs, error).await;
        }
    };
    tracing::debug!(%session_id, "session held here");
    let mut bound = instance.bind(&session_id).await;
    loop {
        let job = tokio::select! {
            biased;
            job = jobs.recv() => job,
            () = instance.leaving.cancelled() => None,
            () = tokio::time::sleep(IDLE) => None,
        };
        let Some(job) = job else { break };
        if instance.bus().reconnects() != bound {
            bound = instance.bind(&session_id).await;
        }
        if !live.apply(&instance, job).await {
            // Lost, or unsure of the store: what is queued goes to whoever claims it next.
            instance.forget(&session_id, generation);
            instance.unbind(&session_id).await;
            jobs.close();
            while let Some(job) = jobs.recv().await {
                let _ = job.reply.send(Outcome::Elsewhere(None, job.action));
            }
            return;
        }
    }
    // Leaving or idle: finish what was accepted, then give the session up.
    instance.forget(&session_id, generation);
    jobs.close();
    while let Some(job) = jobs.recv().await {
        if !live.apply(&instance, job).await {
            break;
        }
    }
    instance.unbind(&session_id).await;
    if let Err(error) = instance
        .store()
        .release(std::slice::from_ref(&session_id), instance.id())
        .await
    {
        // Its owner's heartbeat runs out instead.
        tracing::warn!(%error, %session_id, "could not give a session up");
    }
}

/// Answers every change with `error` and ends the task.
async fn refuse_all(
    instance: &Instance,
    session_id: &str,
    generation: u64,
    mut jobs: mpsc::Receiver<Job>,
    error: WireError,
) {
    instance.forget(session_id, generation);
    jobs.close();
    while let Some(job) = jobs.recv().await {
        let _ = job.reply.send(Outcome::Done(Err(error.clone())));
    }
}

impl Live {
    async fn new(instance: &Instance, owned: Owned) -> Result<Self, WireError> {
        let game = instance.games().get(&owned.record.session.game).ok_or_else(|| {
            tracing::error!(game = %owned.record.session.game, "a session of a game not offered here");
            WireError::new(ErrorCode::Internal, "internal error")
        })?;
        let live = Self {
            record: owned.record,
            game,
            applied_set: owned.applied.iter().cloned().collect(),
            applied: owned.applied.into(),
        };
        if !owned.last_events.is_empty() {
            // The previous owner may have died between storing its last change and announcing
            // it; the journal gives these events the numbers they got, gateways drop what they
            // delivered already, and accounts applies a result once.
            announce(instance, &owned.last_events).await;
        }
        Ok(live)
    }

    /// Applies one change and answers it; `false` when this copy of the session must go: another
    /// instance owns it (the change was not applied, and was sent back), or the store failed and
    /// may or may not have written the change.
    async fn apply(&mut self, instance: &Instance, job: Job) -> bool {
        let Job {
            user,
            action,
            request_id,
            reply,
        } = job;
        if let Some(request_id) = &request_id
            && self.applied_set.contains(request_id)
        {
            tracing::info!("command applied before; not applied again");
            let _ = reply.send(Outcome::Done(Ok(())));
            return true;
        }
        let decided = match &action {
            Action::Command(command) => self.command(&user, command),
            Action::Leave => self.leave(&user),
        };
        let (undo, extra) = match decided {
            Ok(decided) => decided,
            Err(error) => {
                let _ = reply.send(Outcome::Done(Err(error)));
                return true;
            }
        };
        let before = undo.status;
        self.record.session.version += 1;
        if let Some(outcome) = self.game.outcome(&self.record.session.state) {
            self.record.session.status = Status::Finished;
            self.record.session.winner = outcome.winner;
        }
        let mut events = extra;
        events.extend(change_events(before, &self.record));
        let request_id = request_id.filter(|_| matches!(action, Action::Command(_)));
        let change = Change {
            record: &self.record,
            request_id: request_id.as_deref(),
            events: &events,
        };
        match instance.store().commit(change, instance.id()).await {
            Ok(Committed::Done(numbers)) => {
                let numbers = match numbers {
                    Some(numbers) => Some(numbers),
                    // Numbered here rather than by the bus as it publishes, which would copy
                    // each event to number it.
                    None => instance
                        .bus()
                        .journal()
                        .append(&events, warren_contracts::event::now_millis())
                        .await
                        .inspect_err(
                            |error| tracing::warn!(%error, "events left to the bus to number"),
                        )
                        .ok(),
                };
                for (event, seqs) in events.iter_mut().zip(numbers.into_iter().flatten()) {
                    event.seqs = seqs;
                }
                if let Some(request_id) = request_id {
                    self.applied_set.insert(request_id.clone());
                    self.applied.push_back(request_id);
                    if self.applied.len() > APPLIED_KEPT
                        && let Some(oldest) = self.applied.pop_front()
                    {
                        self.applied_set.remove(&oldest);
                    }
                }
                self.counted(before, &action);
                // Announced before it is answered: a client that hears `ok` has been sent the
                // change's events already, as it would be sent them by an in-process room.
                announce(instance, &events).await;
                let _ = reply.send(Outcome::Done(Ok(())));
                true
            }
            Ok(Committed::Lost) => {
                self.undo(undo);
                tracing::warn!(session_id = %self.record.session.session_id, "session owned elsewhere now");
                let _ = reply.send(Outcome::Elsewhere(None, action));
                false
            }
            Err(error) => {
                // Whether it was written is unknown (the store may have applied it and lost the
                // answer): this copy may be behind the store's. The change is answered
                // `unavailable`; the next one claims the session again and reads what the store
                // has, and publishes the events of its last change again.
                let _ = reply.send(Outcome::Done(Err(store_failure(error))));
                false
            }
        }
    }

    fn command(&mut self, user: &str, command: &Value) -> Result<(Undo, Vec<Event>), WireError> {
        seated(&self.record, user)?;
        if self.record.session.status == Status::Finished {
            return Err(refused(GameError::GameOver));
        }
        let next = self
            .game
            .apply(&self.record.session.state, user, command)
            .map_err(refused)?;
        Ok((self.replace_state(next), Vec::new()))
    }

    fn leave(&mut self, user: &str) -> Result<(Undo, Vec<Event>), WireError> {
        seated(&self.record, user)?;
        let next = if self.record.session.status == Status::Running {
            let mut remaining = self.record.remaining();
            remaining.retain(|p| p != user);
            Some(
                self.game
                    .player_left(&self.record.session.state, user, &remaining),
            )
        } else {
            None
        };
        let undo = match next {
            Some(next) => self.replace_state(next),
            None => self.replace_state(self.record.session.state.clone()),
        };
        self.record.left.push(user.to_owned());
        let left = PlayerLeft {
            session_id: self.record.session.session_id.clone(),
            user_id: user.to_owned(),
        };
        let event = Event::new(
            PLAYER_LEFT,
            self.record.session.players.clone(),
            json!(left),
        );
        Ok((undo, vec![event]))
    }

    fn replace_state(&mut self, next: Value) -> Undo {
        let session = &mut self.record.session;
        Undo {
            state: std::mem::replace(&mut session.state, next),
            version: session.version,
            status: session.status,
            winner: session.winner.clone(),
            left: self.record.left.len(),
        }
    }

    fn undo(&mut self, undo: Undo) {
        let session = &mut self.record.session;
        session.state = undo.state;
        session.version = undo.version;
        session.status = undo.status;
        session.winner = undo.winner;
        self.record.left.truncate(undo.left);
    }

    fn counted(&self, before: Status, action: &Action) {
        if matches!(action, Action::Command(_)) {
            metrics::counter!(crate::series::COMMANDS).increment(1);
        }
        if before == Status::Running && self.record.session.status == Status::Finished {
            let game = self.record.session.game.clone();
            metrics::counter!(crate::series::FINISHED, "game" => game).increment(1);
        }
    }
}

/// Publishes a stored change's events in order, on `sessions.events` for the players and the
/// results on `sessions.results.events` for services. A publish that fails (the broker is away)
/// is tried again for a while: the events are in the journal, so players would get them by
/// resuming, but accounts learns of a finished game only from its queue.
async fn announce(instance: &Instance, events: &[Event]) {
    for event in events {
        if event.kind == FINISHED {
            // Before the event, so that accounts' queue finds the result applied rather than
            // racing this call and announcing after the answer.
            record_result(instance, event).await;
        }
        publish(instance, SERVICE, event).await;
        if matches!(event.kind.as_str(), FINISHED | PLAYER_LEFT) {
            publish(instance, RESULTS, event).await;
        }
    }
}

/// How long a publish is tried before it is given up on (logged); a new owner of the session
/// publishes the last change's events again.
const PUBLISH_PATIENCE: Duration = Duration::from_secs(20);

async fn publish(instance: &Instance, exchange: &str, event: &Event) {
    let give_up = tokio::time::Instant::now() + PUBLISH_PATIENCE;
    let mut delay = Duration::from_millis(100);
    loop {
        match instance.bus().publish(exchange, event).await {
            Ok(()) => return,
            Err(error) if tokio::time::Instant::now() + delay > give_up => {
                tracing::error!(%error, kind = %event.kind, exchange, "could not publish a session event");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, kind = %event.kind, exchange, retry_in = ?delay, "a session event waits for the broker");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Has accounts apply a finished game now, so that players hear their new ratings soon after
/// the game ends. Best effort: `accounts.results` applies it from `session.finished` anyway.
async fn record_result(instance: &Instance, event: &Event) {
    let Ok(finished) = serde_json::from_value::<Finished>(event.data.clone()) else {
        return;
    };
    let options = CallOptions::default().timeout(RECORD_RESULT_TIMEOUT);
    if let Err(error) = instance
        .bus()
        .call::<RecordResult>(&finished, options)
        .await
    {
        tracing::debug!(%error, "result left to accounts.results");
    }
}

/// What every player hears of a change: the new state, and the end if it just came.
fn change_events(before: Status, record: &SessionRecord) -> Vec<Event> {
    let session = &record.session;
    let players = session.players.clone();
    let changed = StateChanged {
        session_id: session.session_id.clone(),
        state: session.state.clone(),
        version: session.version,
    };
    let mut events = vec![Event::new(STATE, players.clone(), json!(changed))];
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
