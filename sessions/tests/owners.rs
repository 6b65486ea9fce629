//! One owner per live session, with two instances of the service on one in-process bus and one
//! store: the in-process bus hands requests to the instances in turn, so half of every session's
//! changes reach the instance that does not own it and are forwarded to the one that does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, CallOptions, SubscribeOptions, Subscription};
use warren_contracts::sessions::{
    Command, Create, Join, NewSession, SERVICE, SendCommand, Session, SessionId,
};
use warren_runtime::Started;
use warren_sessions::{MemoryStore, SessionStore, SessionsConfig};

struct Instance {
    started: Started,
    shutdown: CancellationToken,
}

async fn instance(bus: &Bus, store: &Arc<dyn SessionStore>) -> Instance {
    let shutdown = CancellationToken::new();
    let started = warren_sessions::start(
        bus,
        Arc::clone(store),
        SessionsConfig::default(),
        shutdown.clone(),
    )
    .await
    .unwrap();
    Instance { started, shutdown }
}

impl Instance {
    /// A graceful stop: the shared queue first, then the sessions handed over.
    async fn stop(self) {
        self.started.stop(&self.shutdown).await;
    }
}

async fn relay(bus: &Bus, players: &[&str]) -> Session {
    let new = NewSession {
        mode: "relay".into(),
        players: players.iter().map(|p| (*p).to_owned()).collect(),
    };
    bus.call::<Create>(&new, CallOptions::default())
        .await
        .unwrap()
}

async fn events(bus: &Bus) -> Subscription {
    bus.subscribe(SubscribeOptions::anonymous([SERVICE]))
        .await
        .unwrap()
}

fn command(session: &Session, value: Value) -> Command {
    Command {
        session_id: session.session_id.clone(),
        command: value,
    }
}

async fn send(bus: &Bus, session: &Session, user: &str, value: Value) {
    bus.call::<SendCommand>(
        &command(session, value),
        CallOptions::default().user_id(user),
    )
    .await
    .unwrap_or_else(|e| panic!("{user}'s command refused: {e}"));
}

async fn version(bus: &Bus, session: &Session, user: &str) -> Session {
    let id = SessionId {
        session_id: session.session_id.clone(),
    };
    bus.call::<Join>(&id, CallOptions::default().user_id(user))
        .await
        .unwrap()
}

/// The `session.state` versions and relay commands published for `session`, in the order heard,
/// until `last` is heard.
async fn heard(events: &mut Subscription, session: &Session, last: u64) -> Vec<(u64, Value)> {
    let (mut heard, mut seen) = (Vec::new(), std::collections::HashSet::new());
    loop {
        let delivery = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("the states stopped coming")
            .unwrap();
        let event = &delivery.event;
        if event.kind != "session.state" || event.data["session_id"] != json!(session.session_id) {
            continue;
        }
        // A new owner publishes the last change again (gateways drop what they delivered).
        if !seen.insert(event.id) {
            continue;
        }
        let version = event.data["version"].as_u64().unwrap();
        heard.push((version, event.data["state"]["command"].clone()));
        if version == last {
            return heard;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_players_commanding_at_once_are_applied_once_each_in_one_order() {
    let bus = Bus::in_process();
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    let (_one, _two) = (instance(&bus, &store).await, instance(&bus, &store).await);
    let mut events = events(&bus).await;
    let session = relay(&bus, &["ada", "bob"]).await;
    const ROUNDS: u64 = 100;
    for round in 0..ROUNDS {
        // The two players' commands leave at the same instant, through either instance.
        tokio::join!(
            send(&bus, &session, "ada", json!({"ada": round})),
            send(&bus, &session, "bob", json!({"bob": round})),
        );
    }
    let last = 2 * ROUNDS;
    assert_eq!(version(&bus, &session, "ada").await.version, last);
    let heard = heard(&mut events, &session, last).await;
    let versions: Vec<u64> = heard.iter().map(|(v, _)| *v).collect();
    assert_eq!(
        versions,
        (1..=last).collect::<Vec<_>>(),
        "every version heard once, in order"
    );
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for (_, command) in &heard {
        *counts.entry(command.to_string()).or_default() += 1;
    }
    assert_eq!(counts.len() as u64, last, "a command applied twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_sent_again_with_its_request_id_is_applied_once() {
    let bus = Bus::in_process();
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    let (_one, _two) = (instance(&bus, &store).await, instance(&bus, &store).await);
    let session = relay(&bus, &["ada", "bob"]).await;
    let options = CallOptions::default().user_id("ada").request_id("retry-me");
    // Four tries reach both instances, owner and not.
    for _ in 0..4 {
        bus.call::<SendCommand>(&command(&session, json!("once")), options.clone())
            .await
            .unwrap();
    }
    assert_eq!(version(&bus, &session, "bob").await.version, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_owner_hands_its_sessions_over_and_the_game_goes_on() {
    let bus = Bus::in_process();
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    // Only the first instance runs when the sessions are made: it owns them.
    let one = instance(&bus, &store).await;
    let sessions = [
        relay(&bus, &["ada", "bob"]).await,
        relay(&bus, &["cy", "dee"]).await,
    ];
    let two = instance(&bus, &store).await;
    for session in &sessions {
        send(&bus, session, &session.players[0], json!("before")).await;
    }
    one.stop().await;
    // Handed over, not abandoned: the other instance claims them at once, with no heartbeat to
    // wait out, and every change made before is there.
    for session in &sessions {
        let command = command(session, json!("after"));
        let answered = tokio::time::timeout(
            Duration::from_millis(500),
            bus.call::<SendCommand>(
                &command,
                CallOptions::default().user_id(&session.players[1]),
            ),
        )
        .await
        .expect("the session waited for a heartbeat to run out");
        answered.unwrap();
        let now = version(&bus, session, &session.players[0]).await;
        assert_eq!(now.version, 2);
        assert_eq!(now.state["command"], json!("after"));
    }
    two.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_reaches_an_owner_that_lost_its_session_is_applied_once() {
    let bus = Bus::in_process();
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    let one = instance(&bus, &store).await;
    let session = relay(&bus, &["ada", "bob"]).await;
    send(&bus, &session, "ada", json!(1)).await;
    let two = instance(&bus, &store).await;
    // An instance that serves no queue takes the session over, as if the owner had been thought
    // dead. The owner, still running, finds out at its next commit, which writes nothing; the
    // change goes to the new owner, whose queue the bus says does not exist, so an instance
    // claims the session back and applies it, once.
    usurp(&store, &session).await;
    send(&bus, &session, "bob", json!(2)).await;
    let now = version(&bus, &session, "ada").await;
    assert_eq!((now.version, now.state["command"].clone()), (2, json!(2)));
    send(&bus, &session, "ada", json!(3)).await;
    assert_eq!(version(&bus, &session, "bob").await.version, 3);
    one.stop().await;
    two.stop().await;
}

/// Makes "usurper", alive, the owner of `session`, whoever owned it.
async fn usurp(store: &Arc<dyn SessionStore>, session: &Session) {
    use warren_sessions::store::Claim;
    store.heartbeat("usurper", 60_000).await.unwrap();
    let mut dead = None;
    loop {
        match store
            .claim(&session.session_id, "usurper", dead.as_deref())
            .await
            .unwrap()
        {
            Claim::Owned(_) => return,
            Claim::OwnedBy(owner) => dead = Some(owner),
            Claim::Missing => panic!("no session"),
        }
    }
}

/// A store that writes the next commit and then fails to say so, as Redis can when the
/// connection drops after the script ran.
struct LosesAnAnswer {
    inner: MemoryStore,
    armed: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl warren_sessions::PresenceStore for LosesAnAnswer {
    async fn set_presence(
        &self,
        user_id: &str,
        gateway_id: &str,
        online: bool,
        at: u64,
    ) -> Result<bool, warren_sessions::StoreError> {
        self.inner
            .set_presence(user_id, gateway_id, online, at)
            .await
    }
    async fn is_online(&self, user_id: &str) -> Result<bool, warren_sessions::StoreError> {
        self.inner.is_online(user_id).await
    }
    async fn add_user_session(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> Result<(), warren_sessions::StoreError> {
        self.inner.add_user_session(user_id, session_id).await
    }
    async fn user_sessions(
        &self,
        user_id: &str,
    ) -> Result<Vec<String>, warren_sessions::StoreError> {
        self.inner.user_sessions(user_id).await
    }
    async fn schedule_away(
        &self,
        away: &warren_sessions::store::Away,
        deadline: u64,
    ) -> Result<(), warren_sessions::StoreError> {
        self.inner.schedule_away(away, deadline).await
    }
    async fn cancel_away(
        &self,
        away: &warren_sessions::store::Away,
    ) -> Result<(), warren_sessions::StoreError> {
        self.inner.cancel_away(away).await
    }
    async fn take_due(
        &self,
        now: u64,
    ) -> Result<Vec<warren_sessions::store::Away>, warren_sessions::StoreError> {
        self.inner.take_due(now).await
    }
}

#[async_trait::async_trait]
impl SessionStore for LosesAnAnswer {
    async fn create(
        &self,
        record: &warren_sessions::store::SessionRecord,
        owner: &str,
    ) -> Result<(), warren_sessions::StoreError> {
        self.inner.create(record, owner).await
    }
    async fn get(
        &self,
        session_id: &str,
    ) -> Result<Option<warren_sessions::store::SessionRecord>, warren_sessions::StoreError> {
        self.inner.get(session_id).await
    }
    async fn claim(
        &self,
        session_id: &str,
        me: &str,
        dead: Option<&str>,
    ) -> Result<warren_sessions::store::Claim, warren_sessions::StoreError> {
        self.inner.claim(session_id, me, dead).await
    }
    async fn commit(
        &self,
        change: warren_sessions::store::Change<'_>,
        me: &str,
    ) -> Result<warren_sessions::store::Committed, warren_sessions::StoreError> {
        let committed = self.inner.commit(change, me).await?;
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return Err(warren_sessions::StoreError::Unavailable(
                "the answer was lost".into(),
            ));
        }
        Ok(committed)
    }
    async fn release(&self, ids: &[String], me: &str) -> Result<(), warren_sessions::StoreError> {
        self.inner.release(ids, me).await
    }
    async fn heartbeat(&self, me: &str, ttl_ms: u64) -> Result<(), warren_sessions::StoreError> {
        self.inner.heartbeat(me, ttl_ms).await
    }
    async fn count_running(&self) -> Result<u64, warren_sessions::StoreError> {
        self.inner.count_running().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_answer_was_lost_is_read_back_not_undone() {
    let bus = Bus::in_process();
    let lossy = Arc::new(LosesAnAnswer {
        inner: MemoryStore::new(),
        armed: std::sync::atomic::AtomicBool::new(false),
    });
    let store: Arc<dyn SessionStore> = lossy.clone();
    let one = instance(&bus, &store).await;
    let session = relay(&bus, &["ada", "bob"]).await;
    send(&bus, &session, "ada", json!(1)).await;
    lossy.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let refused = bus
        .call::<SendCommand>(
            &command(&session, json!(2)),
            CallOptions::default().user_id("bob"),
        )
        .await
        .unwrap_err()
        .to_wire();
    assert_eq!(refused.code, warren_contracts::ErrorCode::Unavailable);
    // It was written: the next command builds on it, with the next version, not the same one.
    send(&bus, &session, "ada", json!(3)).await;
    let now = version(&bus, &session, "bob").await;
    assert_eq!((now.version, now.state["command"].clone()), (3, json!(3)));
    one.stop().await;
}
