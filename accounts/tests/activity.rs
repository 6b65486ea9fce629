//! Where users are, over an in-process bus: other services claim, hand over and release users as
//! rooms and sessions do, and stand-in owners (`sessions`, `rooms`) answer `<owner>.holds` as told
//! and record what they were asked. The store scenarios run over MemoryStore and RedisStore; the
//! ones about time run over MemoryStore with the clock paused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warren_accounts::AccountStore;
use warren_bus::{Bus, CallError, CallOptions, RequestContext, Router, ServeOptions, ServerHandle};
use warren_contracts::activity::{
    Activity, ActivityKind, Claim, ClaimMethod, Claimed, HandOver, HandOverMethod, Release,
    ReleaseMethod,
};
use warren_contracts::{Empty, ErrorCode, WireError};

type Store = Arc<dyn AccountStore>;

/// How a stand-in owner answers `<owner>.holds`.
#[derive(Debug, Clone)]
enum Answer {
    Held(bool),
    Fails(WireError),
    /// Answers something that is not `{held}`.
    Garbled,
    /// Never answers in time.
    Stalls,
}

/// One `holds` question as the stand-in owner got it.
#[derive(Debug, Clone, PartialEq)]
struct Asked {
    method: String,
    params: Value,
    caller: Option<String>,
    request_id: Option<String>,
}

/// The accounts service, its store, and the stand-in owners on one in-process bus.
struct Harness {
    bus: Bus,
    store: Store,
    asked: Arc<Mutex<Vec<Asked>>>,
    servers: Vec<ServerHandle>,
}

impl Harness {
    async fn start(store: Store) -> Self {
        let bus = Bus::in_process();
        let server = warren_accounts::serve(&bus, Arc::clone(&store), ServeOptions::default())
            .await
            .unwrap();
        Self {
            bus,
            store,
            asked: Arc::new(Mutex::new(Vec::new())),
            servers: vec![server],
        }
    }

    /// Starts a stand-in for the owner of `kind` that answers every `holds` with `answer`.
    async fn owner(&mut self, kind: ActivityKind, answer: Answer) {
        let asked = Arc::clone(&self.asked);
        let router = Router::new(kind.owner()).method_json(
            kind.holds_method(),
            move |ctx: RequestContext, params: Value| {
                asked.lock().unwrap().push(Asked {
                    method: ctx.method,
                    params,
                    caller: ctx.user_id,
                    request_id: ctx.request_id,
                });
                let answer = answer.clone();
                async move {
                    match answer {
                        Answer::Held(held) => Ok(json!({ "held": held })),
                        Answer::Fails(error) => Err(error),
                        Answer::Garbled => Ok(json!({ "maybe": true })),
                        Answer::Stalls => {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                            Ok(json!({ "held": false }))
                        }
                    }
                }
            },
        );
        let server = self.bus.serve(router, ServeOptions::default()).await;
        self.servers.push(server.unwrap());
    }

    fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap().clone()
    }

    async fn claim_with(
        &self,
        user_id: &str,
        activity: &Activity,
        replaces: Option<&Activity>,
        options: CallOptions,
    ) -> Result<Claimed, CallError> {
        let claim = Claim {
            user_id: user_id.to_owned(),
            activity: activity.clone(),
            replaces: replaces.cloned(),
        };
        self.bus.call::<ClaimMethod>(&claim, options).await
    }

    async fn claim(&self, user_id: &str, activity: &Activity) -> Claimed {
        let options = CallOptions::default().request_id("req-claim");
        self.claim_with(user_id, activity, None, options)
            .await
            .unwrap()
    }

    async fn hand_over(
        &self,
        user_ids: &[&str],
        from: &Activity,
        to: &Activity,
        options: CallOptions,
    ) -> Result<Empty, CallError> {
        let params = HandOver {
            user_ids: ids(user_ids),
            from: from.clone(),
            to: to.clone(),
        };
        self.bus.call::<HandOverMethod>(&params, options).await
    }

    async fn release(
        &self,
        user_ids: &[&str],
        activity: &Activity,
        options: CallOptions,
    ) -> Result<Empty, CallError> {
        let params = Release {
            user_ids: ids(user_ids),
            activity: activity.clone(),
        };
        self.bus.call::<ReleaseMethod>(&params, options).await
    }

    async fn activity(&self, user_id: &str) -> Option<Activity> {
        self.store.activity(user_id).await.unwrap()
    }

    async fn stop(self) {
        for server in self.servers {
            server.stop().await;
        }
        self.bus.shutdown().await;
    }
}

fn ids(user_ids: &[&str]) -> Vec<String> {
    user_ids.iter().map(|id| (*id).to_owned()).collect()
}

fn room(id: &str) -> Activity {
    Activity::new(ActivityKind::Room, id)
}

fn session(id: &str) -> Activity {
    Activity::new(ActivityKind::Session, id)
}

fn ticket(id: &str) -> Activity {
    Activity::new(ActivityKind::Ticket, id)
}

fn claimed() -> Claimed {
    Claimed {
        claimed: true,
        current: None,
    }
}

fn blocked(current: Activity) -> Claimed {
    Claimed {
        claimed: false,
        current: Some(current),
    }
}

#[track_caller]
fn assert_code<T: std::fmt::Debug>(result: Result<T, CallError>, code: ErrorCode) -> WireError {
    match result {
        Err(CallError::Service(error)) => {
            assert_eq!(error.code, code, "{error:?}");
            error
        }
        other => panic!("expected {code:?} from the service, got {other:?}"),
    }
}

/// The `sessions.holds` question about `user_id` in session `id`.
fn asked_sessions(id: &str, user_id: &str) -> Asked {
    Asked {
        method: "sessions.holds".to_owned(),
        params: json!({"id": id, "user_id": user_id}),
        caller: None,
        request_id: Some("req-claim".to_owned()),
    }
}

async fn a_free_user_is_claimed_and_claimed_again(store: Store) {
    let h = Harness::start(store).await;
    assert_eq!(h.claim("u-ann", &room("r-1")).await, claimed());
    assert_eq!(
        h.claim("u-ann", &room("r-1")).await,
        claimed(),
        "same again"
    );
    assert_eq!(h.activity("u-ann").await, Some(room("r-1")));
    // No account needed.
    assert_eq!(h.store.get("u-ann").await.unwrap(), None);
    h.stop().await;
}

async fn the_same_kind_in_the_way_is_returned_without_asking(store: Store) {
    let mut h = Harness::start(store).await;
    h.owner(ActivityKind::Room, Answer::Held(false)).await;
    h.claim("u-ann", &room("r-1")).await;
    assert_eq!(h.claim("u-ann", &room("r-2")).await, blocked(room("r-1")));
    assert!(
        h.asked().is_empty(),
        "the caller is the owner: {:?}",
        h.asked()
    );
    // The caller found r-1 stale in its own records and says so.
    let (r1, r2, r9) = (room("r-1"), room("r-2"), room("r-9"));
    let replace = |replaces| h.claim_with("u-ann", &r2, replaces, CallOptions::default());
    assert_eq!(replace(Some(&r9)).await.unwrap(), blocked(room("r-1")));
    assert_eq!(replace(Some(&r1)).await.unwrap(), claimed());
    assert_eq!(h.activity("u-ann").await, Some(room("r-2")));
    assert!(h.asked().is_empty());
    h.stop().await;
}

async fn an_owner_that_holds_the_user_keeps_them(store: Store) {
    let mut h = Harness::start(store).await;
    h.owner(ActivityKind::Session, Answer::Held(true)).await;
    h.claim("u-ann", &session("s-1")).await;
    assert_eq!(
        h.claim("u-ann", &room("r-1")).await,
        blocked(session("s-1"))
    );
    assert_eq!(h.asked(), [asked_sessions("s-1", "u-ann")]);
    assert_eq!(h.activity("u-ann").await, Some(session("s-1")));
    h.stop().await;
}

async fn an_owner_that_lets_go_loses_the_claim(store: Store) {
    let mut h = Harness::start(store).await;
    h.owner(ActivityKind::Session, Answer::Held(false)).await;
    h.claim("u-ann", &session("s-1")).await;
    assert_eq!(h.claim("u-ann", &room("r-1")).await, claimed());
    assert_eq!(h.asked(), [asked_sessions("s-1", "u-ann")]);
    assert_eq!(h.activity("u-ann").await, Some(room("r-1")));
    h.stop().await;
}

async fn an_owner_that_knows_no_such_activity_lets_go(store: Store) {
    let mut h = Harness::start(store).await;
    let gone = WireError::new(ErrorCode::NotFound, "no such session");
    h.owner(ActivityKind::Session, Answer::Fails(gone)).await;
    h.claim("u-ann", &session("s-gone")).await;
    assert_eq!(h.claim("u-ann", &ticket("t-1")).await, claimed());
    assert_eq!(h.activity("u-ann").await, Some(ticket("t-1")));
    h.stop().await;
}

async fn an_owner_that_cannot_say_keeps_the_claim(store: Store) {
    let failures = [
        None,
        Some(Answer::Fails(WireError::new(ErrorCode::Internal, "boom"))),
        Some(Answer::Fails(WireError::new(
            ErrorCode::Unavailable,
            "busy",
        ))),
        Some(Answer::Garbled),
    ];
    for failure in failures {
        let mut h = Harness::start(Arc::clone(&store)).await;
        if let Some(answer) = failure.clone() {
            h.owner(ActivityKind::Session, answer).await;
        }
        h.claim("u-ann", &session("s-1")).await;
        let outcome = h.claim("u-ann", &room("r-1")).await;
        assert_eq!(outcome, blocked(session("s-1")), "{failure:?}");
        assert_eq!(h.activity("u-ann").await, Some(session("s-1")));
        h.store
            .release(&ids(&["u-ann"]), &session("s-1"))
            .await
            .unwrap();
        h.stop().await;
    }
}

async fn service_methods_are_forbidden_to_clients(store: Store) {
    let h = Harness::start(store).await;
    let as_user = || CallOptions::default().user_id("u-mallory");
    let claim = h.claim_with("u-ann", &room("r-1"), None, as_user()).await;
    let error = assert_code(claim, ErrorCode::Forbidden);
    assert!(error.message.contains("accounts.claim"), "{error:?}");
    h.claim("u-bob", &room("r-1")).await;
    let (r1, s1) = (room("r-1"), session("s-1"));
    let hand_over = h.hand_over(&["u-bob"], &r1, &s1, as_user()).await;
    assert_code(hand_over, ErrorCode::Forbidden);
    assert_code(
        h.release(&["u-bob"], &r1, as_user()).await,
        ErrorCode::Forbidden,
    );
    assert_eq!(h.activity("u-ann").await, None);
    assert_eq!(h.activity("u-bob").await, Some(room("r-1")));
    h.stop().await;
}

async fn ids_and_lists_out_of_bounds_are_invalid_params(store: Store) {
    let h = Harness::start(store).await;
    let long = "x".repeat(65);
    let service = CallOptions::default;
    let refused = [
        h.claim_with("", &room("r-1"), None, service()).await,
        h.claim_with(&long, &room("r-1"), None, service()).await,
        h.claim_with("u-1", &room(""), None, service()).await,
        h.claim_with("u-1", &room(&long), None, service()).await,
        h.claim_with("u-1", &room("r-1"), Some(&room("")), service())
            .await,
    ];
    for result in refused {
        assert_code(result, ErrorCode::InvalidParams);
    }
    let sixty_five: Vec<String> = (0..65).map(|i| format!("u-{i}")).collect();
    let too_many: Vec<&str> = sixty_five.iter().map(String::as_str).collect();
    let error = assert_code(
        h.hand_over(&too_many, &room("r-1"), &session("s-1"), service())
            .await,
        ErrorCode::InvalidParams,
    );
    assert!(error.message.contains("at most 64"), "{error:?}");
    let refused = [
        h.hand_over(&too_many[..1], &room(""), &session("s-1"), service())
            .await,
        h.hand_over(&too_many[..1], &room("r-1"), &session(&long), service())
            .await,
        h.hand_over(&["u-1", ""], &room("r-1"), &session("s-1"), service())
            .await,
        h.release(&too_many, &room("r-1"), service()).await,
        h.release(&[&long], &room("r-1"), service()).await,
        h.release(&["u-1"], &room(""), service()).await,
    ];
    for result in refused {
        assert_code(result, ErrorCode::InvalidParams);
    }
    let shapes = [
        ("accounts.claim", json!({"user_id": "u-1"})),
        (
            "accounts.claim",
            json!({"user_id": "u-1", "activity": {"kind": "castle", "id": "c"}}),
        ),
        ("accounts.release", json!({"user_ids": "u-1"})),
        ("accounts.hand_over", json!({"user_ids": []})),
    ];
    for (method, params) in shapes {
        let result = h
            .bus
            .call_json("accounts", method, &params, service())
            .await;
        assert_code(result, ErrorCode::InvalidParams);
    }
    assert_eq!(h.activity("u-1").await, None);
    h.stop().await;
}

async fn hand_over_moves_those_still_in_from_or_in_nothing(store: Store) {
    let h = Harness::start(store).await;
    for user in ["u-ann", "u-bob", "u-cat"] {
        h.claim(user, &room("r-1")).await;
    }
    // Cat left the room for a queue just before the room started.
    h.release(&["u-cat"], &room("r-1"), CallOptions::default())
        .await
        .unwrap();
    h.claim("u-cat", &ticket("t-1")).await;
    let players = ["u-ann", "u-bob", "u-cat", "u-dan"];
    let (r1, s1) = (room("r-1"), session("s-1"));
    let moved = h
        .hand_over(&players, &r1, &s1, CallOptions::default())
        .await;
    assert_eq!(moved.unwrap(), Empty {});
    assert_eq!(h.activity("u-ann").await, Some(session("s-1")));
    assert_eq!(h.activity("u-bob").await, Some(session("s-1")));
    assert_eq!(h.activity("u-cat").await, Some(ticket("t-1")));
    assert_eq!(
        h.activity("u-dan").await,
        Some(session("s-1")),
        "was in nothing"
    );
    h.stop().await;
}

async fn release_frees_only_those_still_in_the_activity(store: Store) {
    let h = Harness::start(store).await;
    h.claim("u-ann", &room("r-1")).await;
    h.claim("u-bob", &room("r-2")).await;
    let r1 = room("r-1");
    let release = || h.release(&["u-ann", "u-bob", "u-cat"], &r1, CallOptions::default());
    assert_eq!(release().await.unwrap(), Empty {});
    assert_eq!(h.activity("u-ann").await, None);
    assert_eq!(h.activity("u-bob").await, Some(room("r-2")));
    assert_eq!(release().await.unwrap(), Empty {}, "idempotent");
    assert_eq!(h.claim("u-ann", &session("s-1")).await, claimed());
    h.stop().await;
}

/// Runs each scenario `async fn name(store: Store)` over both stores.
macro_rules! every_store {
    ($($name:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(std::sync::Arc::new(warren_accounts::MemoryStore::new())).await;
                }
            )*
        }
        mod redis_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::common::with_redis(|redis| async move {
                        super::$name(std::sync::Arc::new(redis.store())).await;
                    })
                    .await;
                }
            )*
        }
    };
}

every_store!(
    a_free_user_is_claimed_and_claimed_again,
    the_same_kind_in_the_way_is_returned_without_asking,
    an_owner_that_holds_the_user_keeps_them,
    an_owner_that_lets_go_loses_the_claim,
    an_owner_that_knows_no_such_activity_lets_go,
    an_owner_that_cannot_say_keeps_the_claim,
    service_methods_are_forbidden_to_clients,
    ids_and_lists_out_of_bounds_are_invalid_params,
    hand_over_moves_those_still_in_from_or_in_nothing,
    release_frees_only_those_still_in_the_activity,
);

fn memory() -> Store {
    Arc::new(warren_accounts::MemoryStore::new())
}

#[tokio::test(start_paused = true)]
async fn a_stalling_owner_is_given_two_seconds_then_keeps_the_claim() {
    let mut h = Harness::start(memory()).await;
    h.owner(ActivityKind::Session, Answer::Stalls).await;
    h.claim("u-ann", &session("s-1")).await;
    let started = tokio::time::Instant::now();
    assert_eq!(
        h.claim("u-ann", &room("r-1")).await,
        blocked(session("s-1"))
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_millis(2100),
        "waited {waited:?}"
    );
    assert_eq!(h.asked().len(), 1);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_caller_in_a_hurry_is_answered_before_its_deadline() {
    let mut h = Harness::start(memory()).await;
    h.owner(ActivityKind::Session, Answer::Stalls).await;
    h.claim("u-ann", &session("s-1")).await;
    let hurry = CallOptions::default().timeout(Duration::from_secs(1));
    let started = tokio::time::Instant::now();
    let outcome = h.claim_with("u-ann", &room("r-1"), None, hurry).await;
    assert_eq!(outcome.unwrap(), blocked(session("s-1")));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    h.stop().await;
}

#[tokio::test]
async fn the_winner_of_a_stale_claim_keeps_what_it_won() {
    // Two rooms race to replace the same stale session claim: the owner lets go for both, and
    // the second compare-and-set finds the first one's room, not the stale session.
    let mut h = Harness::start(memory()).await;
    h.owner(ActivityKind::Session, Answer::Held(false)).await;
    h.claim("u-ann", &session("s-old")).await;
    let (r1, r2) = (room("r-1"), room("r-2"));
    let (first, second) = tokio::join!(h.claim("u-ann", &r1), h.claim("u-ann", &r2));
    let outcomes = [first, second];
    let winners: Vec<_> = outcomes.iter().filter(|c| c.claimed).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let now = h.activity("u-ann").await.unwrap();
    assert_eq!(now.kind, ActivityKind::Room);
    let loser = outcomes.iter().find(|c| !c.claimed).unwrap();
    assert_eq!(loser.current.as_ref(), Some(&now));
    h.stop().await;
}
