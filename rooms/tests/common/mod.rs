//! What the service tests share: the rooms service on an in-process bus over a store in memory or
//! in a real Redis (under a prefix of its own, cleaned up afterwards), wrapped so that chosen
//! writes fail once; stand-ins for `sessions` and `accounts` with simple in-memory logic; and
//! every event the service publishes.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod faults;

use faults::FaultyStore;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use warren_bus::journal::{JournalStore, MemoryJournal, ResumeConfig, Resumed};
use warren_bus::{Bus, CallOptions, RequestContext, Router, ServeOptions, ServerHandle};
use warren_bus::{SubscribeOptions, Subscription};
use warren_contracts::activity::{
    Activity, Claim, ClaimMethod, Claimed, HandOver, HandOverMethod, Release, ReleaseMethod,
};
use warren_contracts::event::now_millis;
use warren_contracts::sessions::{self, GameMode, Modes, NewSession, Session, Status};
use warren_contracts::{Empty, ErrorCode, Event, Method, WireError};
use warren_rooms::{MemoryStore, RedisStore, RoomStore};

pub const WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Redis,
}

/// The test Redis; a test that needs it fails, loudly, when it is not there.
pub async fn redis() -> redis::aio::ConnectionManager {
    let url =
        std::env::var("WARREN_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let client = redis::Client::open(url.as_str()).unwrap();
    tokio::time::timeout(WAIT, redis::aio::ConnectionManager::new(client))
        .await
        .unwrap_or_else(|_| panic!("Redis must be running at {url}: no answer"))
        .unwrap_or_else(|e| panic!("Redis must be running at {url}: {e}"))
}

pub fn user() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// What the stand-ins know and were asked.
#[derive(Debug, Default)]
pub struct Fakes {
    /// user → the activity that holds them.
    pub claims: Mutex<HashMap<String, Activity>>,
    /// Every session `sessions.create` made, once each.
    pub sessions: Mutex<Vec<Session>>,
    /// `sessions.create` answers `unavailable`, having done nothing, while set.
    pub fail_create: AtomicBool,
    /// `sessions.create` refuses for good (`invalid_params`) while set.
    pub refuse_create: AtomicBool,
    /// This many more `sessions.create` make the session and then answer after the caller gave
    /// up: a timeout whose request was applied.
    pub late_creates: AtomicUsize,
    /// How many `sessions.create` were asked.
    pub creates: AtomicUsize,
}

impl Fakes {
    pub fn claim_of(&self, user: &str) -> Option<Activity> {
        self.claims.lock().unwrap().get(user).cloned()
    }

    pub fn sessions(&self) -> Vec<Session> {
        self.sessions.lock().unwrap().clone()
    }
}

fn accounts_router(fakes: &Arc<Fakes>) -> Router {
    let (claim, hand_over, release) = (Arc::clone(fakes), Arc::clone(fakes), Arc::clone(fakes));
    Router::new(warren_contracts::accounts::SERVICE)
        .method::<ClaimMethod, _, _>(move |_ctx, params: Claim| {
            let mut claims = claim.claims.lock().unwrap();
            let answer = match claims.get(&params.user_id) {
                Some(current)
                    if *current != params.activity && Some(current) != params.replaces.as_ref() =>
                {
                    Claimed {
                        claimed: false,
                        current: Some(current.clone()),
                    }
                }
                _ => {
                    claims.insert(params.user_id, params.activity);
                    Claimed {
                        claimed: true,
                        current: None,
                    }
                }
            };
            async move { Ok(answer) }
        })
        .method::<HandOverMethod, _, _>(move |_ctx, params: HandOver| {
            // Like accounts: a user in `from`, in nothing or in `to` already ends up in `to`.
            let mut claims = hand_over.claims.lock().unwrap();
            for user in params.user_ids {
                if claims
                    .get(&user)
                    .is_none_or(|c| *c == params.from || *c == params.to)
                {
                    claims.insert(user, params.to.clone());
                }
            }
            async move { Ok(Empty {}) }
        })
        .method::<ReleaseMethod, _, _>(move |_ctx, params: Release| {
            let mut claims = release.claims.lock().unwrap();
            for user in params.user_ids {
                if claims.get(&user) == Some(&params.activity) {
                    claims.remove(&user);
                }
            }
            async move { Ok(Empty {}) }
        })
}

fn sessions_router(fakes: &Arc<Fakes>) -> Router {
    let create = Arc::clone(fakes);
    let modes = vec![
        GameMode {
            mode: "tic-tac-toe".into(),
            min_players: 2,
            max_players: 2,
        },
        GameMode {
            mode: "relay".into(),
            min_players: 1,
            max_players: 64,
        },
    ];
    Router::new(sessions::SERVICE)
        .method::<Modes, _, _>(move |_ctx, _params: Empty| {
            let modes = modes.clone();
            async move { Ok(modes) }
        })
        .method::<sessions::Create, _, _>(move |ctx: RequestContext, params: NewSession| {
            let fakes = Arc::clone(&create);
            async move {
                fakes.creates.fetch_add(1, Ordering::SeqCst);
                if fakes.refuse_create.load(Ordering::SeqCst) {
                    return Err(WireError::new(ErrorCode::InvalidParams, "no such game"));
                }
                if fakes.fail_create.load(Ordering::SeqCst) {
                    return Err(WireError::new(ErrorCode::Unavailable, "sessions are down"));
                }
                // Like sessions: the id follows from the request id, so a retry finds its session.
                let request_id = ctx.request_id.clone().unwrap_or_else(user);
                let name = format!("{request_id}:{}", params.players.join(","));
                let session_id =
                    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string();
                let session = {
                    let mut sessions = fakes.sessions.lock().unwrap();
                    match sessions.iter().find(|s| s.session_id == session_id) {
                        Some(existing) => existing.clone(),
                        None => {
                            let session = Session {
                                session_id,
                                game: params.mode,
                                players: params.players,
                                state: Value::Null,
                                version: 0,
                                status: Status::Running,
                                winner: None,
                            };
                            sessions.push(session.clone());
                            session
                        }
                    }
                };
                let late = fakes
                    .late_creates
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if late {
                    tokio::time::sleep(ctx.remaining() + Duration::from_millis(200)).await;
                }
                Ok(session)
            }
        })
}

/// The service with its stand-in neighbours on one bus.
pub struct Harness {
    pub bus: Bus,
    /// The store the service uses: `faults` over the real one.
    pub store: Arc<dyn RoomStore>,
    pub faults: Arc<FaultyStore>,
    pub fakes: Arc<Fakes>,
    /// Every event the service published, from the start.
    pub events: Subscription,
    servers: Vec<ServerHandle>,
    completers: CancellationToken,
    redis: Option<(redis::aio::ConnectionManager, String)>,
}

impl Harness {
    /// The service and its completer, events numbered by `journal` (in memory if `None`).
    pub async fn start(backend: Backend, journal: Option<Arc<dyn JournalStore>>) -> Self {
        let (inner, redis): (Arc<dyn RoomStore>, _) = match backend {
            Backend::Memory => (Arc::new(MemoryStore::new()), None),
            Backend::Redis => {
                let redis = redis().await;
                let prefix = format!("test-rooms-{}:", uuid::Uuid::new_v4().simple());
                let store = RedisStore::new(redis.clone(), prefix.clone());
                (Arc::new(store), Some((redis, prefix)))
            }
        };
        let faults = Arc::new(FaultyStore::new(inner));
        let store: Arc<dyn RoomStore> = faults.clone();
        let journal =
            journal.unwrap_or_else(|| Arc::new(MemoryJournal::new(ResumeConfig::default())));
        let bus = Bus::in_process().with_journal(journal);
        let fakes = Arc::new(Fakes::default());
        let events = bus
            .subscribe(SubscribeOptions::anonymous([
                warren_contracts::rooms::SERVICE,
            ]))
            .await
            .unwrap();
        let options = ServeOptions::default;
        let servers = vec![
            bus.serve(accounts_router(&fakes), options()).await.unwrap(),
            bus.serve(sessions_router(&fakes), options()).await.unwrap(),
            warren_rooms::serve(&bus, Arc::clone(&store), options())
                .await
                .unwrap(),
        ];
        let completers = CancellationToken::new();
        warren_rooms::serve_starts(&bus, Arc::clone(&store), completers.clone());
        Self {
            bus,
            store,
            faults,
            fakes,
            events,
            servers,
            completers,
            redis,
        }
    }

    /// Calls `M` as `user` would through the gateway, with the gateway's deadline.
    pub async fn call<M: Method>(
        &self,
        user: &str,
        params: &M::Params,
    ) -> Result<M::Result, WireError> {
        self.call_within::<M>(user, params, Duration::from_secs(5))
            .await
    }

    /// Calls `M` as `user`, giving up after `timeout`.
    pub async fn call_within<M: Method>(
        &self,
        user: &str,
        params: &M::Params,
        timeout: Duration,
    ) -> Result<M::Result, WireError> {
        let options = CallOptions::default()
            .user_id(user)
            .request_id(uuid::Uuid::new_v4().to_string())
            .timeout(timeout);
        self.bus
            .call::<M>(params, options)
            .await
            .map_err(|e| e.to_wire())
    }

    /// Calls `M` as another service would.
    pub async fn call_as_service<M: Method>(
        &self,
        params: &M::Params,
    ) -> Result<M::Result, WireError> {
        self.bus
            .call::<M>(params, CallOptions::default())
            .await
            .map_err(|e| e.to_wire())
    }

    /// Every event that arrives within `within` of the last one.
    pub async fn drain(&mut self, within: Duration) -> Vec<Event> {
        let mut seen = Vec::new();
        while let Ok(Some(delivery)) = tokio::time::timeout(within, self.events.next()).await {
            seen.push(Event::clone(&delivery.event));
        }
        seen
    }

    /// Waits until the room is gone from the store.
    pub async fn gone(&self, room_id: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.store.get(room_id).await.unwrap().is_some() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the room {room_id} is still there"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The events of kind `kind` that `user` was told, as the journal numbered them: what their
    /// client sees (a gateway drops a number it delivered already).
    pub async fn told(&self, user: &str, kind: &str) -> Vec<Value> {
        match self
            .bus
            .journal()
            .after(user, 0, now_millis())
            .await
            .unwrap()
        {
            Resumed::Events(events) => events
                .into_iter()
                .filter(|e| e.kind == kind)
                .map(|e| e.data)
                .collect(),
            Resumed::Gap => panic!("a gap in {user}'s events"),
        }
    }

    pub async fn stop(self) {
        self.completers.cancel();
        for server in self.servers {
            server.stop().await;
        }
        self.bus.shutdown().await;
        if let Some((mut redis, prefix)) = self.redis {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{prefix}*"))
                .query_async(&mut redis)
                .await
                .unwrap();
            if !keys.is_empty() {
                let _: () = redis::cmd("DEL")
                    .arg(keys)
                    .query_async(&mut redis)
                    .await
                    .unwrap();
            }
        }
    }
}

pub fn code_of<T: std::fmt::Debug>(result: &Result<T, WireError>) -> Option<ErrorCode> {
    result.as_ref().err().map(|e| e.code)
}
