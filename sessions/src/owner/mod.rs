//! One owner per live session: this instance's sessions, each a task that applies its commands
//! one after another, and the way a change reaches the owner from anywhere.
//!
//! A change (a command, a player leaving) for a session this instance holds goes to the
//! session's inbox. For one it does not hold, a new session task claims it in the store: free,
//! or owned by an instance whose heartbeat ran out, it is ours; owned by a live instance, the
//! change is forwarded to that instance's own queue (`sessions@<instance>.rpc`), as a service
//! call that names the player (see [`forwarded`]). When the broker says that queue is gone (the
//! owner died: its queue went with its connection), the session is claimed at once instead of
//! after the heartbeat runs out. A forwarded change is never forwarded again: an instance that
//! does not own it answers `unavailable`, and the caller tries again.
//!
//! Ownership is fenced: every commit checks the owner in the same step, so an instance that was
//! thought dead and lost a session cannot write it; it finds out, drops the session and sends the
//! change to the new owner.

mod actor;
pub(crate) mod forwarded;

use crate::game::Games;
use crate::store::SessionStore;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use warren_bus::lock;
use warren_bus::{Bus, CallError, CallOptions};
use warren_contracts::sessions::SERVICE;
use warren_contracts::{ErrorCode, WireError};

/// How often an instance says it is alive.
pub const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);
/// How long after its last heartbeat an instance is taken for dead and its sessions claimed.
pub const HEARTBEAT_TTL: Duration = Duration::from_secs(2);
/// Changes waiting for one session; a caller beyond them waits for room.
const INBOX: usize = 64;
/// How many times a change looks for its session's owner before answering `unavailable`.
const ATTEMPTS: usize = 4;

/// What a player does to a session.
#[derive(Debug)]
pub(crate) enum Action {
    Command(Value),
    Leave,
}

/// One change on its way to the session's task.
#[derive(Debug)]
pub(crate) struct Job {
    pub user: String,
    pub action: Action,
    pub request_id: Option<String>,
    pub reply: oneshot::Sender<Outcome>,
}

/// How a session task answered a change.
#[derive(Debug)]
pub(crate) enum Outcome {
    Done(Result<(), WireError>),
    /// This instance does not own the session; the owner, when known, and the change back.
    Elsewhere(Option<String>, Action),
}

/// Where a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// From the service's shared queue or this process: it may be forwarded to the owner.
    Any,
    /// Forwarded here by another instance: it is not forwarded again.
    Forwarded,
}

struct Held {
    generation: u64,
    inbox: mpsc::Sender<Job>,
}

/// This instance of the service: its id, and the sessions it holds.
pub(crate) struct Instance {
    id: String,
    bus: Bus,
    store: Arc<dyn SessionStore>,
    games: Games,
    held: Mutex<HashMap<String, Held>>,
    generations: std::sync::atomic::AtomicU64,
    /// Cancelled when the instance hands its sessions over and stops.
    leaving: CancellationToken,
    tasks: TaskTracker,
}

/// The name whose queue reaches instance `id` alone.
pub(crate) fn instance_service(id: &str) -> String {
    format!("{SERVICE}@{id}")
}

impl Instance {
    pub(crate) fn new(bus: Bus, store: Arc<dyn SessionStore>, games: Games) -> Self {
        Self {
            id: uuid::Uuid::new_v4().simple().to_string(),
            bus,
            store,
            games,
            held: Mutex::default(),
            generations: std::sync::atomic::AtomicU64::new(0),
            leaving: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn bus(&self) -> &Bus {
        &self.bus
    }

    pub(crate) fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }

    pub(crate) fn games(&self) -> &Games {
        &self.games
    }

    /// Has changes to `session_id` routed straight to this instance; returns the bus's reconnect
    /// count then, since a reconnect loses the binding.
    pub(crate) async fn bind(&self, session_id: &str) -> u64 {
        let reconnects = self.bus.reconnects();
        let queue = instance_service(&self.id);
        if let Err(error) = self.bus.bind_route(SERVICE, session_id, &queue).await {
            // Changes come through the shared queue instead, a hop longer.
            tracing::debug!(%error, session_id, "could not route a session here");
        }
        reconnects
    }

    /// Stops routing changes to `session_id` here.
    pub(crate) async fn unbind(&self, session_id: &str) {
        self.unbind_from(session_id, &self.id).await;
    }

    /// Stops routing changes to `session_id` to instance `owner`.
    pub(crate) async fn unbind_from(&self, session_id: &str, owner: &str) {
        let queue = instance_service(owner);
        if let Err(error) = self.bus.unbind_route(SERVICE, session_id, &queue).await {
            tracing::debug!(%error, session_id, owner, "could not stop routing a session");
        }
    }

    /// Sessions held here now.
    pub(crate) fn held(&self) -> usize {
        lock(&self.held).len()
    }

    /// Applies `action` of `user` to the session, at its owner, wherever that is.
    pub(crate) async fn submit(
        self: &Arc<Self>,
        session_id: &str,
        user: &str,
        mut action: Action,
        request_id: Option<&str>,
        route: Route,
        timeout: Duration,
    ) -> Result<(), WireError> {
        let mut dead = None;
        for _ in 0..ATTEMPTS {
            let Some(inbox) = self.inbox(session_id, dead.take()) else {
                break;
            };
            let (reply, answer) = oneshot::channel();
            let job = Job {
                user: user.to_owned(),
                action,
                request_id: request_id.map(str::to_owned),
                reply,
            };
            if let Err(returned) = inbox.send(job).await {
                // The task ended between the lookup and the send; a new one takes it.
                action = returned.0.action;
                continue;
            }
            let Ok(outcome) = answer.await else {
                return Err(moving());
            };
            let owner = match outcome {
                Outcome::Done(result) => return result,
                Outcome::Elsewhere(owner, back) => {
                    action = back;
                    owner
                }
            };
            let Some(owner) = owner.filter(|_| route == Route::Any) else {
                continue;
            };
            match self
                .forward(&owner, session_id, user, &action, request_id, timeout)
                .await
            {
                Forwarded::Answered(result) => return result,
                Forwarded::Gone => dead = Some(owner),
            }
        }
        Err(moving())
    }

    /// The inbox of the session's task here, started (claiming the session) if there is none;
    /// `None` once the instance is leaving.
    fn inbox(
        self: &Arc<Self>,
        session_id: &str,
        dead: Option<String>,
    ) -> Option<mpsc::Sender<Job>> {
        let mut held = lock(&self.held);
        if let Some(session) = held.get(session_id) {
            return Some(session.inbox.clone());
        }
        if self.leaving.is_cancelled() {
            return None;
        }
        let (inbox, jobs) = mpsc::channel(INBOX);
        let generation = self
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        held.insert(
            session_id.to_owned(),
            Held {
                generation,
                inbox: inbox.clone(),
            },
        );
        let task = actor::run(
            Arc::clone(self),
            session_id.to_owned(),
            generation,
            dead,
            jobs,
        );
        self.tasks.spawn(task);
        Some(inbox)
    }

    /// Forgets the session's task `generation`, unless a newer one replaced it.
    fn forget(&self, session_id: &str, generation: u64) {
        let mut held = lock(&self.held);
        if held
            .get(session_id)
            .is_some_and(|h| h.generation == generation)
        {
            held.remove(session_id);
        }
    }

    async fn forward(
        &self,
        owner: &str,
        session_id: &str,
        user: &str,
        action: &Action,
        request_id: Option<&str>,
        timeout: Duration,
    ) -> Forwarded {
        // As a service, the player in the parameters: see `forwarded`.
        let (method, params) = forwarded::request(session_id, user, action);
        let mut options = CallOptions::default().timeout(timeout);
        if let Some(request_id) = request_id {
            options = options.request_id(request_id);
        }
        let service = instance_service(owner);
        match self.bus.call_json(&service, method, &params, options).await {
            Ok(_) => Forwarded::Answered(Ok(())),
            Err(CallError::Unavailable(why)) => {
                tracing::info!(owner, session_id, %why, "the owner's queue is gone; claiming");
                Forwarded::Gone
            }
            Err(error) => Forwarded::Answered(Err(error.to_wire())),
        }
    }

    /// Says this instance is alive for [`HEARTBEAT_TTL`].
    pub(crate) async fn heartbeat(&self) {
        let ttl = u64::try_from(HEARTBEAT_TTL.as_millis()).unwrap_or(u64::MAX);
        if let Err(error) = self.store.heartbeat(&self.id, ttl).await {
            tracing::warn!(%error, "cannot say this instance is alive");
        }
    }

    /// Says this instance is alive until `shutdown`, then hands its sessions over.
    pub(crate) async fn keep_alive(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            self.heartbeat().await;
        }
        self.hand_over().await;
    }

    /// Stops taking sessions; each session task finishes the changes it holds, gives its
    /// session up in the store, and ends.
    pub(crate) async fn hand_over(&self) {
        let count = self.held();
        self.leaving.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        tracing::info!(sessions = count, "sessions handed over");
    }
}

enum Forwarded {
    Answered(Result<(), WireError>),
    /// The owner's queue does not exist: it is gone.
    Gone,
}

fn moving() -> WireError {
    WireError::new(
        ErrorCode::Unavailable,
        "the session is moving between instances; try again",
    )
}
