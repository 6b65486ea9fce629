//! What the service tests share: the rooms service on an in-process bus over a store in memory or
//! in a real Redis (under a prefix of its own, cleaned up afterwards), wrapped so that chosen
//! writes fail once; stand-ins for `sessions` and `accounts` (from `warren-testkit`); and every
//! event the service publishes.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod faults;

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
use warren_rooms::{MemoryStore, RedisStore, RoomStore};
use warren_testkit::TestRedis;
use warren_testkit::fakes::{accounts_router, sessions_router};
pub use warren_testkit::{Fakes, user};

pub const WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Redis,
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
    redis: Option<TestRedis>,
}

impl Harness {
    /// The service and its completer, events numbered by `journal` (in memory if `None`).
    pub async fn start(backend: Backend, journal: Option<Arc<dyn JournalStore>>) -> Self {
        let (inner, redis): (Arc<dyn RoomStore>, _) = match backend {
            Backend::Memory => (Arc::new(MemoryStore::new()), None),
            Backend::Redis => {
                let redis = TestRedis::new("rooms").await;
                let store = RedisStore::new(redis.conn.clone(), redis.prefix.clone());
                (Arc::new(store), Some(redis))
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
        if let Some(redis) = self.redis {
            redis.clean().await;
        }
    }
}

pub fn code_of<T: std::fmt::Debug>(result: &Result<T, WireError>) -> Option<ErrorCode> {
    result.as_ref().err().map(|e| e.code)
}
