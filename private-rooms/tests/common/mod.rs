//! What the tests share: a store in memory or in a real Redis (under a prefix of its own, cleaned
//! up afterwards), and a harness that runs the service on an in-process bus next to stand-ins for
//! `sessions` and `accounts` with simple in-memory logic (see [`fakes`]), and listens to every
//! event it publishes. The store is wrapped so that chosen writes fail once, and the bus's journal
//! may be one that fails (see [`faults`]).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod faults;
pub use warren_testkit::{fakes, user};

pub use fakes::Fakes;

use fakes::{accounts_router, sessions_router};
use faults::FaultyStore;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use warren_bus::journal::{JournalStore, MemoryJournal, ResumeConfig, Resumed};
use warren_bus::{Bus, CallOptions, ServeOptions, ServerHandle};
use warren_bus::{SubscribeOptions, Subscription};
use warren_contracts::event::now_millis;
use warren_contracts::{ErrorCode, Event, Method, WireError};
use warren_private_rooms::{MemoryStore, PrivateRoomStore, PrivateRoomsConfig, RedisStore};

pub const WAIT: Duration = Duration::from_secs(5);

pub use warren_testkit::Backend;

/// A store, and for Redis the test's corner of it, whose keys go when the test is done.
pub type TestStore = warren_testkit::TestStore<dyn PrivateRoomStore>;

/// The store a test of `backend` runs on.
pub async fn test_store(backend: Backend) -> TestStore {
    TestStore::new(
        backend,
        "private-rooms",
        || Arc::new(MemoryStore::new()),
        |redis, prefix| Arc::new(RedisStore::new(redis, prefix)),
    )
    .await
}

/// The service (`instances` of it over one store) with its stand-in neighbours on one bus.
pub struct Harness {
    pub bus: Bus,
    /// The store the service uses: `faults` over the real one.
    pub store: Arc<dyn PrivateRoomStore>,
    pub faults: Arc<FaultyStore>,
    pub fakes: Arc<Fakes>,
    pub config: PrivateRoomsConfig,
    /// Every event the service published, from the start.
    pub events: Subscription,
    servers: Vec<ServerHandle>,
    sweepers: CancellationToken,
    test_store: TestStore,
}

impl Harness {
    pub async fn start(backend: Backend) -> Self {
        Self::with(backend, PrivateRoomsConfig::default(), 1, true).await
    }

    pub async fn with(
        backend: Backend,
        config: PrivateRoomsConfig,
        instances: usize,
        with_sessions: bool,
    ) -> Self {
        Self::with_journal(backend, config, instances, with_sessions, None).await
    }

    /// [`Harness::with`], events numbered by `journal` (in memory if `None`).
    pub async fn with_journal(
        backend: Backend,
        config: PrivateRoomsConfig,
        instances: usize,
        with_sessions: bool,
        journal: Option<Arc<dyn JournalStore>>,
    ) -> Self {
        let test_store = test_store(backend).await;
        let faults = Arc::new(FaultyStore::new(Arc::clone(&test_store.store)));
        let store: Arc<dyn PrivateRoomStore> = faults.clone();
        let journal =
            journal.unwrap_or_else(|| Arc::new(MemoryJournal::new(ResumeConfig::default())));
        let bus = Bus::in_process().with_journal(journal);
        let fakes = Arc::new(Fakes::new());
        let events = bus
            .subscribe(SubscribeOptions::anonymous([
                warren_contracts::private_rooms::SERVICE,
            ]))
            .await
            .unwrap();
        let options = ServeOptions::default;
        let mut servers = vec![bus.serve(accounts_router(&fakes), options()).await.unwrap()];
        if with_sessions {
            servers.push(bus.serve(sessions_router(&fakes), options()).await.unwrap());
        }
        let sweepers = CancellationToken::new();
        for _ in 0..instances {
            let store = Arc::clone(&store);
            servers.push(
                warren_private_rooms::serve(&bus, Arc::clone(&store), config.clone(), options())
                    .await
                    .unwrap(),
            );
            warren_private_rooms::serve_expiry(
                &bus,
                Arc::clone(&store),
                config.clone(),
                sweepers.clone(),
            );
            warren_private_rooms::serve_starts(&bus, store, config.clone(), sweepers.clone());
        }
        Self {
            bus,
            store,
            faults,
            fakes,
            config,
            events,
            servers,
            sweepers,
            test_store,
        }
    }

    /// A user with an account.
    pub fn player(&self) -> String {
        let id = user();
        self.fakes.accounts.lock().unwrap().insert(id.clone());
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

    /// Every event that arrives within `within`.
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
        self.sweepers.cancel();
        for server in self.servers {
            server.stop().await;
        }
        self.bus.shutdown().await;
        self.test_store.clean().await;
    }
}

pub fn code_of(error: &Result<impl std::fmt::Debug, WireError>) -> Option<ErrorCode> {
    error.as_ref().err().map(|e| e.code)
}
