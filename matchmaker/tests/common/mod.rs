//! What the tests share: a store in memory or in a real Redis (under a prefix of its own, cleaned
//! up afterwards), and a harness that runs the service on an in-process bus next to stand-ins for
//! `sessions` and `accounts` with simple in-memory logic, and listens to every event it publishes.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, CallOptions, Router, ServeOptions, ServerHandle};
use warren_bus::{SubscribeOptions, Subscription};
use warren_contracts::accounts::{self, UserId};
use warren_contracts::activity::{Activity, ActivityKind};
use warren_contracts::matchmaker::{Search, Start, Started};
use warren_contracts::presence::{self, Presence};
use warren_contracts::sessions::{self, Modes, NewSession, Session};
use warren_contracts::{Empty, ErrorCode, Event, Method, WireError};
use warren_matchmaker::{MatchmakerConfig, MemoryStore, RedisStore, TicketStore};
use warren_testkit::claims::{FakeClaims, serve_claims};
pub use warren_testkit::fakes::modes;
use warren_testkit::fakes::{account, session};
pub use warren_testkit::user;

pub const WAIT: Duration = Duration::from_secs(5);

pub use warren_testkit::Backend;

/// A store, and for Redis the test's corner of it, whose keys go when the test is done.
pub type TestStore = warren_testkit::TestStore<dyn TicketStore>;

/// The store a test of `backend` runs on.
pub async fn test_store(backend: Backend) -> TestStore {
    TestStore::new(
        backend,
        "matchmaker",
        || Arc::new(MemoryStore::new()),
        |redis, prefix| Arc::new(RedisStore::new(redis, prefix)),
    )
    .await
}

/// The test Redis; a test that needs it fails, loudly, when it is not there.
pub async fn redis() -> warren_runtime::Redis {
    warren_testkit::redis::connect().await
}

/// What the stand-ins know and were asked.
#[derive(Debug)]
pub struct Fakes {
    /// Users `accounts.get` knows, with their rating.
    pub accounts: Mutex<HashMap<String, f64>>,
    /// user → the activity that holds them.
    pub claims: Arc<FakeClaims>,
    /// Every session `sessions.create` made.
    pub sessions: Mutex<Vec<Session>>,
    /// request id → the session made for it: like the real one, a request makes one session.
    pub requests: Mutex<HashMap<String, Session>>,
    /// `sessions.create` fails with `unavailable` while set.
    pub fail_create: AtomicBool,
    /// How many `sessions.create` calls are still to be refused (`invalid_params`).
    pub refuse_creates: AtomicUsize,
}

impl Fakes {
    fn new() -> Self {
        Self {
            accounts: Mutex::default(),
            claims: Arc::default(),
            sessions: Mutex::default(),
            requests: Mutex::default(),
            fail_create: AtomicBool::new(false),
            refuse_creates: AtomicUsize::new(0),
        }
    }

    pub fn claim_of(&self, user: &str) -> Option<Activity> {
        self.claims.of(user)
    }

    pub fn set_claim(&self, user: &str, activity: Activity) {
        self.claims
            .lock()
            .unwrap()
            .insert(user.to_owned(), activity);
    }

    pub fn sessions(&self) -> Vec<Session> {
        self.sessions.lock().unwrap().clone()
    }

    pub fn fail_create(&self, fail: bool) {
        self.fail_create.store(fail, Ordering::SeqCst);
    }

    pub fn refuse_create(&self, refuse: bool) {
        self.refuse_creates(if refuse { usize::MAX } else { 0 });
    }

    /// The next `times` creates are refused.
    pub fn refuse_creates(&self, times: usize) {
        self.refuse_creates.store(times, Ordering::SeqCst);
    }

    /// The next `times` hand-overs fail.
    pub fn fail_hand_overs(&self, times: usize) {
        self.claims.fail_hand_overs(times);
    }

    /// Takes one failure from `counter`, if any is left.
    fn fails(counter: &AtomicUsize) -> bool {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

fn accounts_router(fakes: &Arc<Fakes>) -> Router {
    let get = Arc::clone(fakes);
    let router = Router::new(accounts::SERVICE).method::<accounts::Get, _, _>(
        move |_ctx, params: UserId| {
            let rating = get.accounts.lock().unwrap().get(&params.user_id).copied();
            async move {
                let Some(rating) = rating else {
                    return Err(WireError::new(ErrorCode::NotFound, "no such account"));
                };
                Ok(account(params.user_id, rating))
            }
        },
    );
    serve_claims(router, &fakes.claims)
}

fn sessions_router(fakes: &Arc<Fakes>) -> Router {
    let create = Arc::clone(fakes);
    Router::new(sessions::SERVICE)
        .method::<Modes, _, _>(|_ctx, _params: Empty| async { Ok(modes()) })
        .method::<sessions::Create, _, _>(move |ctx, params: NewSession| {
            let fakes = Arc::clone(&create);
            async move {
                ctx.service_only()?;
                if fakes.fail_create.load(Ordering::SeqCst) {
                    return Err(WireError::new(ErrorCode::Unavailable, "sessions are down"));
                }
                if Fakes::fails(&fakes.refuse_creates) {
                    return Err(WireError::new(ErrorCode::InvalidParams, "no such mode"));
                }
                let request = ctx.request_id.clone().unwrap_or_default();
                let mut requests = fakes.requests.lock().unwrap();
                if let Some(made) = requests.get(&request) {
                    return Ok(made.clone());
                }
                let session = session(uuid::Uuid::new_v4().to_string(), params);
                fakes.sessions.lock().unwrap().push(session.clone());
                requests.insert(request, session.clone());
                Ok(session)
            }
        })
}

/// The service (`instances` of it over one store) with its stand-in neighbours on one bus.
pub struct Harness {
    pub bus: Bus,
    pub store: Arc<dyn TicketStore>,
    pub fakes: Arc<Fakes>,
    pub config: MatchmakerConfig,
    /// Every event the service published, from the start.
    pub events: Subscription,
    servers: Vec<ServerHandle>,
    background: CancellationToken,
    loops: Vec<JoinHandle<()>>,
    test_store: TestStore,
}

impl Harness {
    /// One instance, default settings, no background loops: passes and sweeps run when the
    /// test says.
    pub async fn start(backend: Backend) -> Self {
        Self::with(backend, MatchmakerConfig::default(), 1, false).await
    }

    /// `instances` instances over one store; with `background`, each runs its matching loop,
    /// sweeper and presence consumer.
    pub async fn with(
        backend: Backend,
        config: MatchmakerConfig,
        instances: usize,
        background: bool,
    ) -> Self {
        Self::with_parts(
            backend,
            config,
            instances,
            background,
            Bus::in_process(),
            |s| s,
        )
        .await
    }

    /// As [`Harness::with`], on `bus`, with the store the service sees made by `wrap` from the
    /// test store (a test that wants a store to fail wraps it).
    pub async fn with_parts(
        backend: Backend,
        config: MatchmakerConfig,
        instances: usize,
        background: bool,
        bus: Bus,
        wrap: impl FnOnce(Arc<dyn TicketStore>) -> Arc<dyn TicketStore>,
    ) -> Self {
        let test_store = test_store(backend).await;
        let store = wrap(Arc::clone(&test_store.store));
        let fakes = Arc::new(Fakes::new());
        let events = bus
            .subscribe(SubscribeOptions::anonymous([
                warren_contracts::matchmaker::SERVICE,
            ]))
            .await
            .unwrap();
        let options = ServeOptions::default;
        let mut servers = vec![
            bus.serve(accounts_router(&fakes), options()).await.unwrap(),
            bus.serve(sessions_router(&fakes), options()).await.unwrap(),
        ];
        let shutdown = CancellationToken::new();
        let mut loops = Vec::new();
        for _ in 0..instances {
            let store = Arc::clone(&store);
            servers.push(
                warren_matchmaker::serve(&bus, Arc::clone(&store), config.clone(), options())
                    .await
                    .unwrap(),
            );
            if background {
                loops.push(
                    warren_matchmaker::serve_background(
                        &bus,
                        store,
                        config.clone(),
                        shutdown.clone(),
                    )
                    .await
                    .unwrap(),
                );
            }
        }
        Self {
            bus,
            store,
            fakes,
            config,
            events,
            servers,
            background: shutdown,
            loops,
            test_store,
        }
    }

    /// A user with an account of `rating`.
    pub fn player(&self, rating: f64) -> String {
        let id = user();
        self.fakes
            .accounts
            .lock()
            .unwrap()
            .insert(id.clone(), rating);
        id
    }

    /// Calls `M` as `user` would through the gateway.
    pub async fn call<M: Method>(
        &self,
        user: &str,
        params: &M::Params,
    ) -> Result<M::Result, WireError> {
        let options = CallOptions::default()
            .user_id(user)
            .request_id(uuid::Uuid::new_v4().to_string());
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

    /// `user` starts searching.
    pub async fn search(
        &self,
        user: &str,
        mode: &str,
        region: &str,
        players_per_match: Option<u32>,
    ) -> Result<Started, WireError> {
        self.call::<Start>(user, &search(mode, region, players_per_match))
            .await
    }

    /// One matching pass now.
    pub async fn pass(&self) -> usize {
        warren_matchmaker::run_pass(&self.bus, Arc::clone(&self.store), self.config.clone()).await
    }

    /// One matching pass with the windows as they are `later_ms` from now.
    pub async fn pass_in(&self, later_ms: u64) -> usize {
        let at = warren_contracts::event::now_millis() + later_ms;
        warren_matchmaker::run_pass_at(&self.bus, Arc::clone(&self.store), self.config.clone(), at)
            .await
    }

    /// One sweep now.
    pub async fn sweep(&self) -> usize {
        warren_matchmaker::sweep(&self.bus, Arc::clone(&self.store), self.config.clone()).await
    }

    /// What gateway `gateway` says of `user`, as a gateway would publish it.
    pub async fn presence(&self, user: &str, gateway: &str, online: bool) {
        let kind = if online {
            presence::ONLINE
        } else {
            presence::OFFLINE
        };
        let who = Presence {
            user_id: user.to_owned(),
            gateway_id: gateway.to_owned(),
        };
        let event = Event::new(kind, Vec::new(), json!(who));
        self.bus.publish(presence::SERVICE, &event).await.unwrap();
    }

    /// The next event of type `kind` for `user`, skipping any other.
    pub async fn event_for(&mut self, user: &str, kind: &str) -> Event {
        let user = user.to_owned();
        self.event_where(kind, |e| e.recipients.contains(&user))
            .await
    }

    pub async fn event_where(&mut self, kind: &str, wanted: impl Fn(&Event) -> bool) -> Event {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let delivery = tokio::time::timeout_at(deadline, self.events.next())
                .await
                .unwrap_or_else(|_| panic!("no {kind} event in time"))
                .expect("the subscription ended");
            if delivery.event.kind == kind && wanted(&delivery.event) {
                return Event::clone(&delivery.event);
            }
        }
    }

    /// Every event that arrives within `within` of the last.
    pub async fn drain(&mut self, within: Duration) -> Vec<Event> {
        let mut seen = Vec::new();
        while let Ok(Some(delivery)) = tokio::time::timeout(within, self.events.next()).await {
            seen.push(Event::clone(&delivery.event));
        }
        seen
    }

    pub async fn stop(self) {
        self.background.cancel();
        for task in self.loops {
            task.await.unwrap();
        }
        for server in self.servers {
            server.stop().await;
        }
        self.bus.shutdown().await;
        self.test_store.clean().await;
    }
}

pub fn search(mode: &str, region: &str, players_per_match: Option<u32>) -> Search {
    Search {
        mode: mode.into(),
        region: region.into(),
        players_per_match,
    }
}

pub fn ticket(ticket_id: &str) -> Activity {
    Activity::new(ActivityKind::Ticket, ticket_id)
}

pub fn code_of(error: &Result<impl std::fmt::Debug, WireError>) -> Option<ErrorCode> {
    error.as_ref().err().map(|e| e.code)
}

/// Polls `check` until it holds, failing the test after `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not in time: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
