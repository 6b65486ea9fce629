//! A match is made whole or not at all. Each step of making one fails once (the store's take,
//! its record of the session, its put-back and its finish; the hand-over in accounts; the
//! journal that numbers `match.found`), with the service's own loops running as in production,
//! over the memory store and over Redis: the players still end up in one session, with their
//! claims on it, told `match.found` exactly once, and no ticket or match is left behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, Harness, eventually};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warren_bus::Bus;
use warren_contracts::activity::{Activity, ActivityKind};
use warren_contracts::event::now_millis;
use warren_contracts::matchmaker::{CancelReason, MATCH_FOUND, Status};
use warren_contracts::{Empty, Event};
use warren_matchmaker::pool::Waiting;
use warren_matchmaker::{
    Abandoned, MatchRecord, MatchmakerConfig, Removal, Step, StoreError, TicketRecord,
    TicketStatus, TicketStore,
};
use warren_testkit::FlakyJournal;

/// The store operations that fail, each once, the next time they are called.
#[derive(Default)]
struct Failures(Mutex<HashSet<&'static str>>);

impl Failures {
    fn arm(&self, operations: &[&'static str]) {
        self.0.lock().unwrap().extend(operations);
    }

    fn trip(&self, operation: &'static str) -> Result<(), StoreError> {
        if self.0.lock().unwrap().remove(operation) {
            return Err(StoreError::Unavailable(format!("{operation} failed once")));
        }
        Ok(())
    }

    fn armed(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().iter().copied().collect()
    }
}

/// A ticket store whose armed operations fail once, as Redis does while it restarts.
struct Flaky {
    inner: Arc<dyn TicketStore>,
    failures: Arc<Failures>,
}

#[async_trait::async_trait]
impl TicketStore for Flaky {
    async fn add(&self, ticket: &TicketRecord) -> Result<Option<String>, StoreError> {
        self.inner.add(ticket).await
    }
    async fn get(&self, ticket_id: &str) -> Result<Option<TicketRecord>, StoreError> {
        self.inner.get(ticket_id).await
    }
    async fn find_user(&self, user_id: &str) -> Result<Option<TicketRecord>, StoreError> {
        self.inner.find_user(user_id).await
    }
    async fn activate(&self, ticket_id: &str) -> Result<bool, StoreError> {
        self.inner.activate(ticket_id).await
    }
    async fn remove(
        &self,
        ticket_id: &str,
        allowed: &[TicketStatus],
        leaving: Option<CancelReason>,
    ) -> Result<Removal, StoreError> {
        self.inner.remove(ticket_id, allowed, leaving).await
    }
    async fn pools(&self) -> Result<Vec<String>, StoreError> {
        self.inner.pools().await
    }
    async fn waiting(&self, pool: &str) -> Result<Vec<Waiting>, StoreError> {
        self.inner.waiting(pool).await
    }
    async fn queue_lengths(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.inner.queue_lengths().await
    }
    async fn lease(&self, pool: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.inner.lease(pool, holder, ttl).await
    }
    async fn release_lease(&self, pool: &str, holder: &str) -> Result<(), StoreError> {
        self.inner.release_lease(pool, holder).await
    }
    async fn take(&self, new: &MatchRecord) -> Result<Option<Vec<TicketRecord>>, StoreError> {
        self.failures.trip("take")?;
        self.inner.take(new).await
    }
    async fn get_match(&self, match_id: &str) -> Result<Option<MatchRecord>, StoreError> {
        self.inner.get_match(match_id).await
    }
    async fn record_session(
        &self,
        match_id: &str,
        session_id: &str,
    ) -> Result<Option<(MatchRecord, bool)>, StoreError> {
        self.failures.trip("record_session")?;
        self.inner.record_session(match_id, session_id).await
    }
    async fn note(&self, match_id: &str, step: Step) -> Result<(), StoreError> {
        self.failures.trip("note")?;
        self.inner.note(match_id, step).await
    }
    async fn complete(&self, match_id: &str) -> Result<(), StoreError> {
        self.failures.trip("complete")?;
        self.inner.complete(match_id).await
    }
    async fn abandon(&self, match_id: &str) -> Result<Abandoned, StoreError> {
        self.failures.trip("abandon")?;
        self.inner.abandon(match_id).await
    }
    async fn defer(&self, match_id: &str, due: u64) -> Result<(), StoreError> {
        self.failures.trip("defer")?;
        self.inner.defer(match_id, due).await
    }
    async fn take_due(
        &self,
        now: u64,
        limit: usize,
        retry_at: u64,
    ) -> Result<Vec<MatchRecord>, StoreError> {
        self.inner.take_due(now, limit, retry_at).await
    }
    async fn take_expired(&self, now: u64, limit: usize) -> Result<Vec<TicketRecord>, StoreError> {
        self.inner.take_expired(now, limit).await
    }
    async fn set_presence(
        &self,
        user_id: &str,
        gateway_id: &str,
        online: bool,
        at: u64,
    ) -> Result<bool, StoreError> {
        self.inner
            .set_presence(user_id, gateway_id, online, at)
            .await
    }
}

/// The service with its loops running fast, over a flaky store and journal.
async fn harness(backend: Backend, failures: &Arc<Failures>, journal_refusals: usize) -> Harness {
    let config = MatchmakerConfig {
        match_every: Duration::from_millis(20),
        matching_deadline: Duration::from_millis(500),
        ..MatchmakerConfig::default()
    };
    // Refuses its next `match.found`s, as a journal in a restarting Redis does.
    let journal = Arc::new(FlakyJournal::new(MATCH_FOUND, journal_refusals));
    let bus = Bus::in_process().with_journal(journal);
    let failures = Arc::clone(failures);
    Harness::with_parts(backend, config, 1, true, bus, move |inner| {
        Arc::new(Flaky { inner, failures })
    })
    .await
}

/// Two players search; the match must end whole: one session, both claims on it, `match.found`
/// to each exactly once, nothing left in the store.
async fn matched_and_told_once(h: &mut Harness) {
    let (ada, bob) = (h.player(1000.0), h.player(1000.0));
    let a = h.search(&ada, "tic-tac-toe", "eu", None).await.unwrap();
    let b = h.search(&bob, "tic-tac-toe", "eu", None).await.unwrap();
    let found = h.event_for(&ada, MATCH_FOUND).await;
    let session = found.data["session_id"].as_str().unwrap().to_owned();
    eventually(Duration::from_secs(10), "the tickets are gone", || async {
        h.store.get(&a.ticket_id).await.unwrap().is_none()
            && h.store.get(&b.ticket_id).await.unwrap().is_none()
    })
    .await;
    let sessions = h.fakes.sessions();
    assert_eq!(sessions.len(), 1, "one session for one match: {sessions:?}");
    assert_eq!(sessions[0].session_id, session);
    let in_session = Activity::new(ActivityKind::Session, &session);
    for user in [&ada, &bob] {
        assert_eq!(h.fakes.claim_of(user), Some(in_session.clone()));
        let status = h.call::<Status>(user, &Empty {}).await.unwrap();
        assert!(status.is_none(), "{status:?}");
    }
    // Told once each: the one event reached both, and no other follows.
    assert!(found.recipients.contains(&bob));
    let told = h.drain(Duration::from_millis(300)).await;
    let again: Vec<&Event> = told.iter().filter(|e| e.kind == MATCH_FOUND).collect();
    assert!(again.is_empty(), "match.found again: {again:?}");
    let far = now_millis() + 10_000_000;
    assert!(h.store.take_due(far, 100, far).await.unwrap().is_empty());
}

async fn every_step_after_the_session_fails_once(backend: Backend) {
    let failures = Arc::new(Failures::default());
    let mut h = harness(backend, &failures, 1).await;
    failures.arm(&["take", "record_session", "note", "complete", "defer"]);
    h.fakes.fail_hand_overs(1);
    matched_and_told_once(&mut h).await;
    assert!(
        failures.armed().is_empty(),
        "not tried: {:?}",
        failures.armed()
    );
    h.stop().await;
}

async fn a_refused_match_whose_put_back_fails_is_made_later(backend: Backend) {
    let failures = Arc::new(Failures::default());
    let mut h = harness(backend, &failures, 0).await;
    // Refused twice: the first put-back fails, the second goes through; then sessions agrees.
    h.fakes.refuse_creates(2);
    failures.arm(&["abandon"]);
    matched_and_told_once(&mut h).await;
    assert!(failures.armed().is_empty());
    h.stop().await;
}

async fn sessions_that_time_out_make_one_session(backend: Backend) {
    let failures = Arc::new(Failures::default());
    let mut h = harness(backend, &failures, 0).await;
    h.fakes.fail_create(true);
    let (ada, bob) = (h.player(1000.0), h.player(1000.0));
    h.search(&ada, "relay", "eu", Some(2)).await.unwrap();
    h.search(&bob, "relay", "eu", Some(2)).await.unwrap();
    eventually(Duration::from_secs(3), "taken into a match", || async {
        let ticket = h.store.find_user(&ada).await.unwrap().unwrap();
        ticket.status == TicketStatus::Matching
    })
    .await;
    h.fakes.fail_create(false);
    let found = h.event_for(&bob, MATCH_FOUND).await;
    assert_eq!(h.fakes.sessions().len(), 1);
    assert_eq!(
        found.data["session_id"],
        h.fakes.sessions()[0].session_id.as_str()
    );
    h.stop().await;
}

macro_rules! over_both_stores {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Backend::Memory).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Backend::Redis).await;
                }
            )*
        }
    };
}

over_both_stores!(
    every_step_after_the_session_fails_once,
    a_refused_match_whose_put_back_fails_is_made_later,
    sessions_that_time_out_make_one_session,
);
