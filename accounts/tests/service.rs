//! The service over an in-process bus, as the gateway and auth call it, with a fake `auth` on the
//! same bus that records the `auth.revoke_user` calls it gets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::json;
use std::sync::{Arc, Mutex};
use warren_accounts::{AccountStore, MemoryStore, RatingChange, StoreError};
use warren_bus::{Bus, CallError, CallOptions, RequestContext, Router, ServeOptions, ServerHandle};
use warren_contracts::accounts::{
    Account, AccountUpdate, Create, Delete, Get, INITIAL_RATING, Me, NewAccount, SERVICE, Update,
    UserId,
};
use warren_contracts::activity::{
    Activity, ActivityKind, Claim, ClaimMethod, HandOver, HandOverMethod, Release, ReleaseMethod,
};
use warren_contracts::auth::{RevokeUser, RevokeUserMethod};
use warren_contracts::{Empty, ErrorCode, WireError};

/// One `auth.revoke_user` call as the fake auth saw it.
#[derive(Debug, Clone, PartialEq)]
struct Revoked {
    user_id: String,
    caller: Option<String>,
    request_id: Option<String>,
}

/// How the fake auth behaves.
enum Auth {
    /// Not running at all.
    Absent,
    /// Revokes (records the call) and succeeds.
    Revokes,
    /// Records the call and answers with this error.
    Fails(WireError),
}

struct Harness {
    bus: Bus,
    revoked: Arc<Mutex<Vec<Revoked>>>,
    servers: Vec<ServerHandle>,
}

impl Harness {
    async fn start(auth: Auth) -> Self {
        Self::with_store(Arc::new(MemoryStore::new()), auth).await
    }

    async fn with_store(store: Arc<dyn AccountStore>, auth: Auth) -> Self {
        let bus = Bus::in_process();
        let revoked = Arc::new(Mutex::new(Vec::new()));
        let mut servers = vec![
            warren_accounts::serve(&bus, store, ServeOptions::default())
                .await
                .unwrap(),
        ];
        let failure = match auth {
            Auth::Absent => None,
            Auth::Revokes => Some(None),
            Auth::Fails(error) => Some(Some(error)),
        };
        if let Some(failure) = failure {
            let log = Arc::clone(&revoked);
            let router = Router::new("auth").method::<RevokeUserMethod, _, _>(
                move |ctx: RequestContext, params: RevokeUser| {
                    log.lock().unwrap().push(Revoked {
                        user_id: params.user_id,
                        caller: ctx.user_id,
                        request_id: ctx.request_id,
                    });
                    let failure = failure.clone();
                    async move { failure.map_or(Ok(Empty {}), Err) }
                },
            );
            servers.push(bus.serve(router, ServeOptions::default()).await.unwrap());
        }
        Self {
            bus,
            revoked,
            servers,
        }
    }

    fn revoked(&self) -> Vec<Revoked> {
        self.revoked.lock().unwrap().clone()
    }

    async fn create(&self, user_id: &str, username: &str) -> Result<Account, CallError> {
        let params = NewAccount {
            user_id: user_id.to_owned(),
            username: username.to_owned(),
        };
        self.bus.call::<Create>(&params, service_call()).await
    }

    async fn get(&self, user_id: &str) -> Result<Account, CallError> {
        let params = UserId {
            user_id: user_id.to_owned(),
        };
        self.bus.call::<Get>(&params, service_call()).await
    }

    async fn me(&self, options: CallOptions) -> Result<Account, CallError> {
        self.bus.call::<Me>(&Empty {}, options).await
    }

    async fn update(&self, options: CallOptions, display_name: &str) -> Result<Account, CallError> {
        let params = AccountUpdate {
            display_name: display_name.to_owned(),
        };
        self.bus.call::<Update>(&params, options).await
    }

    async fn delete(&self, options: CallOptions) -> Result<Empty, CallError> {
        self.bus.call::<Delete>(&Empty {}, options).await
    }

    async fn stop(self) {
        for server in self.servers {
            server.stop().await;
        }
        self.bus.shutdown().await;
    }
}

/// A call as another service makes it: no user.
fn service_call() -> CallOptions {
    CallOptions::default()
}

/// A call as the gateway makes it for a signed-in user.
fn as_user(user_id: &str) -> CallOptions {
    CallOptions::default()
        .user_id(user_id)
        .request_id(format!("req-{user_id}"))
}

/// The service's error, failing the test for a success or a transport failure.
#[track_caller]
fn error<T: std::fmt::Debug>(result: Result<T, CallError>) -> WireError {
    match result {
        Err(CallError::Service(error)) => error,
        other => panic!("expected an error from the service, got {other:?}"),
    }
}

#[track_caller]
fn assert_code<T: std::fmt::Debug>(result: Result<T, CallError>, code: ErrorCode) -> WireError {
    let error = error(result);
    assert_eq!(error.code, code, "{error:?}");
    error
}

fn new_account(user_id: &str, username: &str) -> Account {
    Account {
        user_id: user_id.to_owned(),
        username: username.to_owned(),
        display_name: username.to_owned(),
        rating: INITIAL_RATING,
        games_played: 0,
        games_won: 0,
    }
}

#[tokio::test]
async fn create_returns_the_new_account_which_get_and_me_read() {
    let h = Harness::start(Auth::Revokes).await;
    let ann = h.create("u-ann", "ann").await.unwrap();
    assert_eq!(ann, new_account("u-ann", "ann"));
    assert_eq!(ann.rating, 1000.0);
    assert_eq!(h.get("u-ann").await.unwrap(), ann);
    assert_eq!(h.me(as_user("u-ann")).await.unwrap(), ann);
    h.stop().await;
}

#[tokio::test]
async fn creating_twice_is_already_exists_and_keeps_the_first() {
    let h = Harness::start(Auth::Revokes).await;
    h.create("u-1", "first").await.unwrap();
    assert_code(h.create("u-1", "second").await, ErrorCode::AlreadyExists);
    assert_eq!(h.get("u-1").await.unwrap(), new_account("u-1", "first"));
    h.stop().await;
}

#[tokio::test]
async fn create_is_for_services_not_signed_in_users() {
    let h = Harness::start(Auth::Revokes).await;
    let params = NewAccount {
        user_id: "u-victim".to_owned(),
        username: "victim".to_owned(),
    };
    let result = h.bus.call::<Create>(&params, as_user("u-mallory")).await;
    assert_code(result, ErrorCode::Forbidden);
    assert_code(h.get("u-victim").await, ErrorCode::NotFound);
    h.stop().await;
}

#[tokio::test]
async fn create_refuses_ids_and_usernames_out_of_bounds() {
    let h = Harness::start(Auth::Revokes).await;
    let long_id = "a".repeat(65);
    let long_name = "n".repeat(65);
    let refused = [
        ("", "ann"),
        (long_id.as_str(), "ann"),
        ("u-1", ""),
        ("u-1", long_name.as_str()),
        ("u-1", "a\u{0}b"),
    ];
    for (user_id, username) in refused {
        let error = assert_code(h.create(user_id, username).await, ErrorCode::InvalidParams);
        assert!(
            error.message.contains("user_id") || error.message.contains("username"),
            "{error:?}"
        );
    }
    assert_code(h.get("u-1").await, ErrorCode::NotFound);
    h.stop().await;
}

#[tokio::test]
async fn the_callers_methods_need_a_caller() {
    let h = Harness::start(Auth::Revokes).await;
    h.create("u-1", "one").await.unwrap();
    assert_code(h.me(service_call()).await, ErrorCode::Unauthorized);
    assert_code(
        h.update(service_call(), "New Name").await,
        ErrorCode::Unauthorized,
    );
    assert_code(h.delete(service_call()).await, ErrorCode::Unauthorized);
    // An empty user id is no caller either.
    let nobody = CallOptions::default().user_id("");
    assert_code(h.me(nobody.clone()).await, ErrorCode::Unauthorized);
    assert_code(h.delete(nobody).await, ErrorCode::Unauthorized);
    assert!(h.revoked().is_empty());
    assert_eq!(h.get("u-1").await.unwrap(), new_account("u-1", "one"));
    h.stop().await;
}

#[tokio::test]
async fn get_bounds_ids_and_answers_not_found_for_unknown_ones() {
    let h = Harness::start(Auth::Revokes).await;
    assert_code(h.get("").await, ErrorCode::InvalidParams);
    let error = assert_code(h.get(&"a".repeat(65)).await, ErrorCode::InvalidParams);
    assert!(error.message.contains("user_id"), "{error:?}");
    assert_code(h.get(&"é".repeat(64)).await, ErrorCode::NotFound);
    assert_code(
        h.get("6f1c2f64-0000-4000-8000-000000000000").await,
        ErrorCode::NotFound,
    );
    h.stop().await;
}

#[tokio::test]
async fn a_caller_without_an_account_gets_not_found() {
    let h = Harness::start(Auth::Revokes).await;
    assert_code(h.me(as_user("u-ghost")).await, ErrorCode::NotFound);
    assert_code(
        h.update(as_user("u-ghost"), "Ghost").await,
        ErrorCode::NotFound,
    );
    assert_code(h.delete(as_user("u-ghost")).await, ErrorCode::NotFound);
    assert!(h.revoked().is_empty(), "nothing to revoke for no account");
    assert_code(h.get("u-ghost").await, ErrorCode::NotFound);
    h.stop().await;
}

#[tokio::test]
async fn update_renames_the_caller_with_the_name_trimmed() {
    let h = Harness::start(Auth::Revokes).await;
    h.create("u-ann", "ann").await.unwrap();
    h.create("u-bob", "bob").await.unwrap();
    let renamed = h
        .update(as_user("u-ann"), "  Ann the Bold \t")
        .await
        .unwrap();
    let expected = Account {
        display_name: "Ann the Bold".to_owned(),
        ..new_account("u-ann", "ann")
    };
    assert_eq!(renamed, expected);
    assert_eq!(h.me(as_user("u-ann")).await.unwrap(), expected);
    assert_eq!(h.get("u-ann").await.unwrap(), expected);
    assert_eq!(h.get("u-bob").await.unwrap(), new_account("u-bob", "bob"));
    h.stop().await;
}

#[tokio::test]
async fn update_counts_characters_not_bytes() {
    let h = Harness::start(Auth::Revokes).await;
    h.create("u-1", "one").await.unwrap();
    let longest = "名前ü🎲".repeat(8);
    assert_eq!(longest.chars().count(), 32);
    assert!(longest.len() > 64);
    let renamed = h.update(as_user("u-1"), &longest).await.unwrap();
    assert_eq!(renamed.display_name, longest);
    let too_long = format!("{longest}é");
    assert_code(
        h.update(as_user("u-1"), &too_long).await,
        ErrorCode::InvalidParams,
    );
    assert_eq!(h.get("u-1").await.unwrap().display_name, longest);
    h.stop().await;
}

#[tokio::test]
async fn update_refuses_display_names_out_of_bounds() {
    let h = Harness::start(Auth::Revokes).await;
    h.create("u-1", "one").await.unwrap();
    let refused = [
        ("", "empty"),
        ("   \t ", "empty"),
        (&*"x".repeat(33), "at most 32"),
        ("a\u{0}b", "control"),
        ("line\nbreak", "control"),
        ("tab\tinside", "control"),
        ("del\u{7f}", "control"),
    ];
    for (name, why) in refused {
        let error = assert_code(
            h.update(as_user("u-1"), name).await,
            ErrorCode::InvalidParams,
        );
        assert!(
            error.message.contains("display_name") && error.message.contains(why),
            "{name:?}: {error:?}"
        );
    }
    assert_eq!(h.get("u-1").await.unwrap(), new_account("u-1", "one"));
    h.stop().await;
}

#[tokio::test]
async fn delete_revokes_the_credentials_then_deletes_the_account() {
    let h = Harness::start(Auth::Revokes).await;
    h.create("u-ann", "ann").await.unwrap();
    h.create("u-bob", "bob").await.unwrap();
    assert_eq!(h.delete(as_user("u-ann")).await.unwrap(), Empty {});
    // As a service, naming the user in the parameters: only the gateway's broker user may make a
    // call on a player's behalf.
    assert_eq!(
        h.revoked(),
        vec![Revoked {
            user_id: "u-ann".to_owned(),
            caller: None,
            request_id: Some("req-u-ann".to_owned()),
        }]
    );
    assert_code(h.get("u-ann").await, ErrorCode::NotFound);
    assert_code(h.me(as_user("u-ann")).await, ErrorCode::NotFound);
    assert_code(h.delete(as_user("u-ann")).await, ErrorCode::NotFound);
    assert_eq!(h.revoked().len(), 1, "a second delete revokes nothing");
    assert_eq!(h.get("u-bob").await.unwrap(), new_account("u-bob", "bob"));
    // The id is free again: auth may register it anew.
    h.create("u-ann", "ann2").await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn delete_without_auth_is_unavailable_and_keeps_the_account() {
    let h = Harness::start(Auth::Absent).await;
    h.create("u-ann", "ann").await.unwrap();
    assert_code(h.delete(as_user("u-ann")).await, ErrorCode::Unavailable);
    assert_eq!(h.get("u-ann").await.unwrap(), new_account("u-ann", "ann"));
    h.stop().await;
}

#[tokio::test]
async fn delete_passes_auths_error_on_and_keeps_the_account() {
    let refusal = WireError::new(ErrorCode::RateLimited, "slow down");
    let h = Harness::start(Auth::Fails(refusal.clone())).await;
    h.create("u-ann", "ann").await.unwrap();
    assert_eq!(error(h.delete(as_user("u-ann")).await), refusal);
    assert_eq!(h.revoked().len(), 1);
    assert_eq!(h.get("u-ann").await.unwrap(), new_account("u-ann", "ann"));
    h.stop().await;
}

#[tokio::test]
async fn parameters_of_the_wrong_shape_are_invalid_params() {
    let h = Harness::start(Auth::Revokes).await;
    h.create("u-1", "one").await.unwrap();
    let calls = [
        ("accounts.get", json!({"user_id": 5}), service_call()),
        ("accounts.get", json!({}), service_call()),
        ("accounts.get", json!([]), service_call()),
        ("accounts.create", json!({"user_id": "u-2"}), service_call()),
        (
            "accounts.create",
            json!({"user_id": "u-2", "username": null}),
            service_call(),
        ),
        (
            "accounts.update",
            json!({"display_name": 5}),
            as_user("u-1"),
        ),
        ("accounts.update", json!("Name"), as_user("u-1")),
    ];
    for (method, params, options) in calls {
        let result = h.bus.call_json(SERVICE, method, &params, options).await;
        let error = assert_code(result, ErrorCode::InvalidParams);
        assert!(
            error.message.contains(method),
            "{method} {params}: {error:?}"
        );
    }
    assert_code(h.get("u-2").await, ErrorCode::NotFound);
    assert_eq!(h.get("u-1").await.unwrap(), new_account("u-1", "one"));
    h.stop().await;
}

/// A store that fails every operation the same way.
struct FailingStore(StoreError);

#[async_trait::async_trait]
impl AccountStore for FailingStore {
    async fn create(&self, _: &Account) -> Result<(), StoreError> {
        Err(self.0.clone())
    }
    async fn get(&self, _: &str) -> Result<Option<Account>, StoreError> {
        Err(self.0.clone())
    }
    async fn set_display_name(&self, _: &str, _: &str) -> Result<Account, StoreError> {
        Err(self.0.clone())
    }
    async fn delete(&self, _: &str) -> Result<(), StoreError> {
        Err(self.0.clone())
    }
    async fn apply_result(
        &self,
        _: &str,
        _: &[RatingChange],
    ) -> Result<Option<Vec<Account>>, StoreError> {
        Err(self.0.clone())
    }
    async fn activity(&self, _: &str) -> Result<Option<Activity>, StoreError> {
        Err(self.0.clone())
    }
    async fn claim(
        &self,
        _: &str,
        _: &Activity,
        _: &[Activity],
    ) -> Result<Option<Activity>, StoreError> {
        Err(self.0.clone())
    }
    async fn hand_over(
        &self,
        _: &[String],
        _: &Activity,
        _: &Activity,
    ) -> Result<Vec<String>, StoreError> {
        Err(self.0.clone())
    }
    async fn release(&self, _: &[String], _: &Activity) -> Result<usize, StoreError> {
        Err(self.0.clone())
    }
}

async fn every_method_fails_with(store_error: StoreError, code: ErrorCode) {
    const SECRET: &str = "redis://admin:hunter2@10.0.0.7";
    let store_error = match store_error {
        StoreError::Unavailable(_) => StoreError::Unavailable(format!("{SECRET}: refused")),
        StoreError::Internal(_) => StoreError::Internal(format!("{SECRET}: WRONGTYPE")),
        other => other,
    };
    let h = Harness::with_store(Arc::new(FailingStore(store_error)), Auth::Revokes).await;
    let room = Activity::new(ActivityKind::Room, "r-1");
    let claim = Claim {
        user_id: "u-1".to_owned(),
        activity: room.clone(),
        replaces: None,
    };
    let hand_over = HandOver {
        user_ids: vec!["u-1".to_owned()],
        from: room.clone(),
        to: Activity::new(ActivityKind::Session, "s-1"),
    };
    let release = Release {
        user_ids: vec!["u-1".to_owned()],
        activity: room,
    };
    let errors = [
        error(h.create("u-1", "one").await),
        error(h.get("u-1").await),
        error(h.me(as_user("u-1")).await),
        error(h.update(as_user("u-1"), "One").await),
        error(h.delete(as_user("u-1")).await),
        error(h.bus.call::<ClaimMethod>(&claim, service_call()).await),
        error(
            h.bus
                .call::<HandOverMethod>(&hand_over, service_call())
                .await,
        ),
        error(h.bus.call::<ReleaseMethod>(&release, service_call()).await),
    ];
    for error in errors {
        assert_eq!(error.code, code, "{error:?}");
        assert!(!error.message.contains("hunter2"), "{error:?} leaks detail");
        assert!(
            !error.message.contains("WRONGTYPE"),
            "{error:?} leaks detail"
        );
    }
    assert!(
        h.revoked().is_empty(),
        "no revoke when the account cannot be read"
    );
    h.stop().await;
}

#[tokio::test]
async fn an_unavailable_store_is_unavailable_without_detail() {
    every_method_fails_with(
        StoreError::Unavailable(String::new()),
        ErrorCode::Unavailable,
    )
    .await;
}

#[tokio::test]
async fn a_store_failure_is_internal_without_detail() {
    every_method_fails_with(StoreError::Internal(String::new()), ErrorCode::Internal).await;
}

/// A store whose deletes fail: the account survives a delete that auth already acted on, and a
/// retry revokes again (auth.revoke_user is idempotent) and finishes the job.
struct FlakyDeletes {
    inner: MemoryStore,
    fail_next_delete: Mutex<bool>,
}

#[async_trait::async_trait]
impl AccountStore for FlakyDeletes {
    async fn create(&self, account: &Account) -> Result<(), StoreError> {
        self.inner.create(account).await
    }
    async fn get(&self, user_id: &str) -> Result<Option<Account>, StoreError> {
        self.inner.get(user_id).await
    }
    async fn set_display_name(&self, user_id: &str, name: &str) -> Result<Account, StoreError> {
        self.inner.set_display_name(user_id, name).await
    }
    async fn delete(&self, user_id: &str) -> Result<(), StoreError> {
        if std::mem::take(&mut *self.fail_next_delete.lock().unwrap()) {
            return Err(StoreError::Unavailable("down".to_owned()));
        }
        self.inner.delete(user_id).await
    }
    async fn apply_result(
        &self,
        session_id: &str,
        changes: &[RatingChange],
    ) -> Result<Option<Vec<Account>>, StoreError> {
        self.inner.apply_result(session_id, changes).await
    }
    async fn activity(&self, user_id: &str) -> Result<Option<Activity>, StoreError> {
        self.inner.activity(user_id).await
    }
    async fn claim(
        &self,
        user_id: &str,
        activity: &Activity,
        replaceable: &[Activity],
    ) -> Result<Option<Activity>, StoreError> {
        self.inner.claim(user_id, activity, replaceable).await
    }
    async fn hand_over(
        &self,
        user_ids: &[String],
        from: &Activity,
        to: &Activity,
    ) -> Result<Vec<String>, StoreError> {
        self.inner.hand_over(user_ids, from, to).await
    }
    async fn release(&self, user_ids: &[String], activity: &Activity) -> Result<usize, StoreError> {
        self.inner.release(user_ids, activity).await
    }
}

#[tokio::test]
async fn a_delete_that_fails_after_the_revoke_can_be_retried() {
    let store = Arc::new(FlakyDeletes {
        inner: MemoryStore::new(),
        fail_next_delete: Mutex::new(true),
    });
    let h = Harness::with_store(store, Auth::Revokes).await;
    h.create("u-1", "one").await.unwrap();
    assert_code(h.delete(as_user("u-1")).await, ErrorCode::Unavailable);
    assert!(h.get("u-1").await.is_ok());
    h.delete(as_user("u-1")).await.unwrap();
    assert_code(h.get("u-1").await, ErrorCode::NotFound);
    let revoked: Vec<_> = h.revoked().into_iter().map(|r| r.user_id).collect();
    assert_eq!(revoked, ["u-1", "u-1"]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_over_redis() {
    common::with_redis(|redis| async move {
        let h = Harness::with_store(Arc::new(redis.store()), Auth::Revokes).await;
        let ann = h.create("u-ann", "ann").await.unwrap();
        assert_eq!(ann, new_account("u-ann", "ann"));
        assert_code(h.create("u-ann", "again").await, ErrorCode::AlreadyExists);
        assert_eq!(h.me(as_user("u-ann")).await.unwrap(), ann);
        let renamed = h.update(as_user("u-ann"), " Ann ").await.unwrap();
        assert_eq!(renamed.display_name, "Ann");
        assert_eq!(h.get("u-ann").await.unwrap(), renamed);
        h.delete(as_user("u-ann")).await.unwrap();
        assert_code(h.get("u-ann").await, ErrorCode::NotFound);
        assert!(redis.keys().await.is_empty());
        h.stop().await;
    })
    .await;
}
