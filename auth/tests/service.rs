//! The auth service over `Bus::in_process()`, with a fake `accounts` service on the same bus.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::accounts::{ACCOUNTS_FAILURE, FakeAccounts};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::{Instant, sleep_until};
use warren_auth::{
    Admission, AuthConfig, AuthStore, Deleted, Ended, LoginLimits, MemoryStore, Rotation, Settle,
    StoreError, UserRecord,
};
use warren_bus::{Bus, CallOptions, ServeOptions, ServerHandle};
use warren_contracts::accounts::NewAccount;
use warren_contracts::auth::{
    Claims, Credentials, Login, Logout, LogoutParams, Refresh, RefreshToken, Register, Revocations,
    RevokeUser, RevokeUserMethod, Tokens,
};
use warren_contracts::{Empty, ErrorCode, Method, WireError};

const SECRET: &[u8] = b"test-secret-for-the-auth-service";
const ACCESS_TTL: Duration = Duration::from_secs(600);
const PASSWORD: &str = "correct horse battery";

fn config() -> AuthConfig {
    AuthConfig {
        access_token_ttl: ACCESS_TTL,
        refresh_token_ttl: Duration::from_secs(3600),
        ..AuthConfig::new(SECRET)
    }
}

struct Harness {
    bus: Bus,
    store: Arc<MemoryStore>,
    accounts: FakeAccounts,
    accounts_server: Option<ServerHandle>,
}

impl Harness {
    async fn start() -> Self {
        Self::with_config(config()).await
    }

    async fn with_config(config: AuthConfig) -> Self {
        let mut harness = Self::without_accounts(config).await;
        harness.accounts_server = Some(harness.accounts.serve(&harness.bus).await);
        harness
    }

    async fn without_accounts(config: AuthConfig) -> Self {
        let bus = Bus::in_process();
        let store = Arc::new(MemoryStore::new());
        warren_auth::serve(&bus, store.clone(), config, ServeOptions::default())
            .await
            .unwrap();
        Self {
            bus,
            store,
            accounts: FakeAccounts::default(),
            accounts_server: None,
        }
    }

    async fn call<M: Method>(&self, params: &M::Params) -> Result<M::Result, WireError> {
        self.call_as::<M>(params, CallOptions::default()).await
    }

    async fn call_as<M: Method>(
        &self,
        params: &M::Params,
        options: CallOptions,
    ) -> Result<M::Result, WireError> {
        self.bus
            .call::<M>(params, options)
            .await
            .map_err(|e| e.to_wire())
    }

    async fn register(&self, username: &str, password: &str) -> Result<String, WireError> {
        self.call::<Register>(&creds(username, password))
            .await
            .map(|r| r.user_id)
    }

    async fn login(&self, username: &str, password: &str) -> Result<Tokens, WireError> {
        self.call::<Login>(&creds(username, password)).await
    }

    async fn refresh(&self, token: &str) -> Result<Tokens, WireError> {
        self.call::<Refresh>(&refresh_token(token)).await
    }

    async fn logout(&self, token: &str) -> Result<Empty, WireError> {
        let params = LogoutParams {
            refresh_token: Some(token.to_owned()),
            all: false,
        };
        self.call::<Logout>(&params).await
    }
}

fn creds(username: &str, password: &str) -> Credentials {
    Credentials {
        username: username.to_owned(),
        password: password.to_owned(),
    }
}

fn refresh_token(token: &str) -> RefreshToken {
    RefreshToken {
        refresh_token: token.to_owned(),
    }
}

fn decode(access_token: &str) -> Claims {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[warren_contracts::auth::TOKEN_ISSUER]);
    validation.set_audience(&[warren_contracts::auth::TOKEN_AUDIENCE]);
    jsonwebtoken::decode::<Claims>(access_token, &DecodingKey::from_secret(SECRET), &validation)
        .unwrap()
        .claims
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[track_caller]
fn assert_code<T: std::fmt::Debug>(result: Result<T, WireError>, code: ErrorCode) -> WireError {
    match result {
        Err(error) if error.code == code => error,
        other => panic!("expected {code}, got {other:?}"),
    }
}

#[tokio::test]
async fn register_then_login_gives_a_verifiable_token() {
    let h = Harness::start().await;
    let user_id = h.register("Alice_1", PASSWORD).await.unwrap();
    assert!(uuid::Uuid::parse_str(&user_id).is_ok(), "{user_id}");
    assert_eq!(
        h.accounts.created(),
        vec![NewAccount {
            user_id: user_id.clone(),
            username: "Alice_1".to_owned()
        }],
        "the account is created with the name as typed"
    );
    let stored = h.store.find_user("alice_1").await.unwrap().unwrap();
    assert!(stored.password_hash.starts_with("$argon2id$"), "argon2id");
    assert!(!stored.password_hash.contains(PASSWORD));

    let before = now_secs();
    let tokens = h.login("aLiCe_1", PASSWORD).await.unwrap();
    let after = now_secs();
    assert_eq!(tokens.expires_in, ACCESS_TTL.as_secs());
    let claims = decode(&tokens.access_token);
    assert_eq!(claims.sub, user_id);
    assert!((before..=after).contains(&claims.iat), "{claims:?}");
    assert_eq!(claims.exp, claims.iat + ACCESS_TTL.as_secs());
    assert_eq!(tokens.refresh_token.len(), 64);
    assert!(
        tokens
            .refresh_token
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    let wrong_key = jsonwebtoken::decode::<Claims>(
        &tokens.access_token,
        &DecodingKey::from_secret(b"another secret"),
        &Validation::new(Algorithm::HS256),
    );
    assert!(wrong_key.is_err(), "signed with the configured secret");
}

#[tokio::test]
async fn bad_usernames_and_passwords_are_invalid_params() {
    let h = Harness::start().await;
    let long_name = "x".repeat(33);
    for name in [
        "",
        "ab",
        long_name.as_str(),
        "has space",
        "dot.ted",
        "émile",
        "a/b",
    ] {
        let error = assert_code(h.register(name, PASSWORD).await, ErrorCode::InvalidParams);
        assert!(error.message.contains("username"), "{name:?}: {error:?}");
    }
    let long_password = "p".repeat(257);
    for password in ["", "short", "1234567", long_password.as_str()] {
        let error = assert_code(
            h.register("valid_name", password).await,
            ErrorCode::InvalidParams,
        );
        assert!(
            error.message.contains("password"),
            "{password:?}: {error:?}"
        );
    }
    assert!(h.accounts.created().is_empty());
    assert_eq!(h.store.find_user("valid_name").await.unwrap(), None);
    // The bounds themselves are fine.
    h.register("abc", "12345678").await.unwrap();
    h.register(&"y".repeat(32), &"p".repeat(256)).await.unwrap();
}

#[tokio::test]
async fn a_name_is_taken_in_any_case() {
    let h = Harness::start().await;
    h.register("Carol", PASSWORD).await.unwrap();
    for name in ["Carol", "carol", "CAROL"] {
        let error = assert_code(
            h.register(name, "another password").await,
            ErrorCode::AlreadyExists,
        );
        assert!(!error.message.is_empty());
    }
    assert_eq!(h.accounts.created().len(), 1);
    let stored = h.store.find_user("carol").await.unwrap().unwrap();
    assert_eq!(stored.username, "Carol", "the first registration is kept");
    h.login("carol", PASSWORD).await.unwrap();
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_name_get_the_same_answer() {
    let h = Harness::start().await;
    h.register("dave", PASSWORD).await.unwrap();
    let wrong_password = assert_code(
        h.login("dave", "not the password").await,
        ErrorCode::Unauthorized,
    );
    let unknown_name = assert_code(h.login("nobody", PASSWORD).await, ErrorCode::Unauthorized);
    assert_eq!(wrong_password, unknown_name);
    let impossible_name = assert_code(h.login("x", PASSWORD).await, ErrorCode::Unauthorized);
    assert_eq!(impossible_name, unknown_name);
}

#[tokio::test]
async fn repeated_failures_throttle_the_name() {
    let h = Harness::start().await;
    h.register("Erin", PASSWORD).await.unwrap();
    h.register("frank", PASSWORD).await.unwrap();
    for attempt in 1..=warren_auth::MAX_FAILED_LOGINS {
        let result = h.login("erin", &format!("wrong password {attempt}")).await;
        assert_code(result, ErrorCode::Unauthorized);
    }
    let error = assert_code(h.login("erin", PASSWORD).await, ErrorCode::RateLimited);
    assert_eq!(error.message, "too many failed logins; try again later");
    assert_code(h.login("ERIN", PASSWORD).await, ErrorCode::RateLimited);
    assert_code(h.login("erin", "wrong again").await, ErrorCode::RateLimited);
    h.login("frank", PASSWORD)
        .await
        .expect("other names are not throttled");

    // Unknown names are throttled alike, so the throttle tells nothing about which names exist.
    for _ in 0..warren_auth::MAX_FAILED_LOGINS {
        assert_code(h.login("ghost", PASSWORD).await, ErrorCode::Unauthorized);
    }
    assert_code(h.login("ghost", PASSWORD).await, ErrorCode::RateLimited);
}

#[tokio::test]
async fn a_successful_login_resets_the_count() {
    let h = Harness::start().await;
    h.register("grace", PASSWORD).await.unwrap();
    for _ in 0..warren_auth::MAX_FAILED_LOGINS - 1 {
        assert_code(
            h.login("grace", "wrong password").await,
            ErrorCode::Unauthorized,
        );
    }
    h.login("grace", PASSWORD).await.unwrap();
    for _ in 0..warren_auth::MAX_FAILED_LOGINS - 1 {
        assert_code(
            h.login("grace", "wrong password").await,
            ErrorCode::Unauthorized,
        );
    }
    h.login("grace", PASSWORD)
        .await
        .expect("four failures since the reset");
}

#[tokio::test]
async fn refresh_rotates_the_token() {
    let h = Harness::start().await;
    let user_id = h.register("heidi", PASSWORD).await.unwrap();
    let first = h.login("heidi", PASSWORD).await.unwrap();
    let second = h.refresh(&first.refresh_token).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(decode(&second.access_token).sub, user_id);
    assert_eq!(second.expires_in, ACCESS_TTL.as_secs());

    assert_eq!(
        decode(&second.access_token).sid,
        decode(&first.access_token).sid,
        "the same login"
    );
    let third = h.refresh(&second.refresh_token).await.unwrap();
    assert_eq!(decode(&third.access_token).sub, user_id);
    let other_login = h.login("heidi", PASSWORD).await.unwrap();
    assert_ne!(
        decode(&other_login.access_token).sid,
        decode(&first.access_token).sid,
        "each sign-in is a login of its own"
    );
    let reuse = assert_code(
        h.refresh(&first.refresh_token).await,
        ErrorCode::Unauthorized,
    );
    assert!(!reuse.message.contains(&first.refresh_token));

    for garbage in ["", "not a token", &"0".repeat(64), &first.access_token] {
        assert_code(h.refresh(garbage).await, ErrorCode::Unauthorized);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_with_one_token_have_one_winner() {
    let h = Arc::new(Harness::start().await);
    h.register("ivan", PASSWORD).await.unwrap();
    let tokens = h.login("ivan", PASSWORD).await.unwrap();
    let mut refreshes = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let h = Arc::clone(&h);
        let token = tokens.refresh_token.clone();
        refreshes.spawn(async move { h.refresh(&token).await });
    }
    let results = refreshes.join_all().await;
    let winners = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(winners, 1, "{results:?}");
    for result in results.into_iter().filter(Result::is_err) {
        assert_code(result, ErrorCode::Unauthorized);
    }
}

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    let h = Harness::start().await;
    h.register("judy", PASSWORD).await.unwrap();
    let tokens = h.login("judy", PASSWORD).await.unwrap();
    let other_session = h.login("judy", PASSWORD).await.unwrap();
    assert_eq!(h.logout(&tokens.refresh_token).await.unwrap(), Empty {});
    assert_code(
        h.refresh(&tokens.refresh_token).await,
        ErrorCode::Unauthorized,
    );
    assert_eq!(
        h.logout(&tokens.refresh_token).await.unwrap(),
        Empty {},
        "again"
    );
    assert_eq!(h.logout("unknown").await.unwrap(), Empty {});
    h.refresh(&other_session.refresh_token)
        .await
        .expect("other sessions stay");
}

#[tokio::test]
async fn revoke_user_ends_the_credentials_and_frees_the_name() {
    let h = Harness::start().await;
    let user_id = h.register("Ken", PASSWORD).await.unwrap();
    let tokens = h.login("ken", PASSWORD).await.unwrap();
    let bystander = h.register("lena", PASSWORD).await.unwrap();
    let bystander_tokens = h.login("lena", PASSWORD).await.unwrap();

    let revoke = RevokeUser {
        user_id: user_id.clone(),
    };
    let by_another_user = h
        .call_as::<RevokeUserMethod>(&revoke, CallOptions::default().user_id(&bystander))
        .await;
    assert_code(by_another_user, ErrorCode::Forbidden);
    h.login("ken", PASSWORD)
        .await
        .expect("a forbidden revoke changes nothing");

    assert_eq!(h.call::<RevokeUserMethod>(&revoke).await.unwrap(), Empty {});
    assert_code(h.login("ken", PASSWORD).await, ErrorCode::Unauthorized);
    assert_code(
        h.refresh(&tokens.refresh_token).await,
        ErrorCode::Unauthorized,
    );
    assert_eq!(
        h.call::<RevokeUserMethod>(&revoke).await.unwrap(),
        Empty {},
        "idempotent"
    );

    let new_id = h.register("KEN", "a different password").await.unwrap();
    assert_ne!(new_id, user_id);
    h.login("ken", "a different password").await.unwrap();
    h.refresh(&bystander_tokens.refresh_token)
        .await
        .expect("other users keep their sessions");

    // A call made on a user's behalf (accounts.delete passing its context on) may revoke that user.
    let own = RevokeUser {
        user_id: new_id.clone(),
    };
    h.call_as::<RevokeUserMethod>(&own, CallOptions::default().user_id(&new_id))
        .await
        .unwrap();
    assert_code(
        h.login("ken", "a different password").await,
        ErrorCode::Unauthorized,
    );

    let not_an_id = RevokeUser {
        user_id: "not-a-uuid".to_owned(),
    };
    assert_code(
        h.call::<RevokeUserMethod>(&not_an_id).await,
        ErrorCode::InvalidParams,
    );
}

#[tokio::test]
async fn an_expired_refresh_token_is_refused() {
    let ttl = Duration::from_millis(500);
    let h = Harness::with_config(AuthConfig {
        refresh_token_ttl: ttl,
        ..config()
    })
    .await;
    h.register("mallory", PASSWORD).await.unwrap();
    let used_at_once = h.login("mallory", PASSWORD).await.unwrap();
    let left_to_expire = h.login("mallory", PASSWORD).await.unwrap();
    let issued = Instant::now();
    h.refresh(&used_at_once.refresh_token)
        .await
        .expect("valid before its time is up");
    // `left_to_expire` expires at most `ttl` after its login returned.
    sleep_until(issued + ttl + Duration::from_millis(20)).await;
    assert_code(
        h.refresh(&left_to_expire.refresh_token).await,
        ErrorCode::Unauthorized,
    );
}

#[tokio::test]
async fn a_failing_accounts_service_leaves_no_credentials() {
    let h = Harness::start().await;
    h.accounts.failing.store(true, Ordering::SeqCst);
    let error = assert_code(h.register("Nina", PASSWORD).await, ErrorCode::Unavailable);
    assert_eq!(
        error.message, ACCOUNTS_FAILURE,
        "the accounts error is passed on"
    );
    assert_eq!(h.store.find_user("nina").await.unwrap(), None);
    assert_code(h.login("nina", PASSWORD).await, ErrorCode::Unauthorized);

    h.accounts.failing.store(false, Ordering::SeqCst);
    let user_id = h.register("nina", PASSWORD).await.unwrap();
    assert_eq!(h.accounts.created().len(), 1);
    assert_eq!(h.accounts.created()[0].user_id, user_id);
    h.login("NINA", PASSWORD).await.unwrap();
}

#[tokio::test]
async fn a_missing_accounts_service_leaves_no_credentials() {
    let mut h = Harness::without_accounts(config()).await;
    assert_code(h.register("oscar", PASSWORD).await, ErrorCode::Unavailable);
    assert_eq!(h.store.find_user("oscar").await.unwrap(), None);

    h.accounts_server = Some(h.accounts.serve(&h.bus).await);
    h.register("oscar", PASSWORD).await.unwrap();
    h.login("oscar", PASSWORD).await.unwrap();
}

/// A store whose backend is down, with internal detail in its errors.
struct DownStore;

const INTERNAL_DETAIL: &str = "connection refused by 10.0.0.7:6379";

fn down<T>() -> Result<T, StoreError> {
    Err(StoreError::Unavailable(INTERNAL_DETAIL.to_owned()))
}

#[async_trait::async_trait]
impl AuthStore for DownStore {
    async fn create_user(&self, _: &UserRecord) -> Result<bool, StoreError> {
        down()
    }
    async fn find_user(&self, _: &str) -> Result<Option<UserRecord>, StoreError> {
        down()
    }
    async fn delete_user(&self, _: &str) -> Result<Deleted, StoreError> {
        down()
    }
    async fn start_family(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: Duration,
    ) -> Result<bool, StoreError> {
        down()
    }
    async fn rotate_refresh_token(
        &self,
        _: &str,
        _: &str,
        _: Duration,
    ) -> Result<Rotation, StoreError> {
        down()
    }
    async fn end_family_of(&self, _: &str) -> Result<Option<Ended>, StoreError> {
        down()
    }
    async fn end_families(&self, _: &str) -> Result<Vec<String>, StoreError> {
        down()
    }
    async fn record_revoked(&self, _: &[String], _: u64) -> Result<(), StoreError> {
        down()
    }
    async fn revoked(&self, _: u64) -> Result<Vec<(String, u64)>, StoreError> {
        down()
    }
    async fn admit_login(
        &self,
        _: &str,
        _: &str,
        _: &LoginLimits,
    ) -> Result<Admission, StoreError> {
        down()
    }
    async fn settle_login(&self, _: &str, _: &str, _: Settle) -> Result<(), StoreError> {
        down()
    }
    async fn count_request(&self, _: &str, _: u32, _: Duration) -> Result<Admission, StoreError> {
        down()
    }
}

#[tokio::test]
async fn a_store_failure_is_unavailable_without_detail() {
    let bus = Bus::in_process();
    warren_auth::serve(&bus, Arc::new(DownStore), config(), ServeOptions::default())
        .await
        .unwrap();
    let options = CallOptions::default;
    let token = refresh_token(&"a".repeat(64));
    let revoke = RevokeUser {
        user_id: uuid::Uuid::new_v4().to_string(),
    };
    let errors = [
        bus.call::<Register>(&creds("pat", PASSWORD), options())
            .await
            .err(),
        bus.call::<Login>(&creds("pat", PASSWORD), options())
            .await
            .err(),
        bus.call::<Refresh>(&token, options())
            .await
            .map(|_| ())
            .err(),
        bus.call::<Logout>(
            &LogoutParams {
                refresh_token: Some(token.refresh_token.clone()),
                all: true,
            },
            options(),
        )
        .await
        .map(|_| ())
        .err(),
        bus.call::<Revocations>(&Empty {}, options())
            .await
            .map(|_| ())
            .err(),
        bus.call::<RevokeUserMethod>(&revoke, options())
            .await
            .map(|_| ())
            .err(),
    ];
    for error in errors {
        let error = error.expect("a store failure is an error").to_wire();
        assert_eq!(error.code, ErrorCode::Unavailable, "{error:?}");
        assert!(!error.message.contains("10.0.0.7"), "{error:?}");
    }
}

/// The same flow end to end on the Redis store: register, login, rotate, revoke.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_runs_on_the_redis_store() {
    common::with_redis(|store, _, _| async move {
        let bus = Bus::in_process();
        let accounts = FakeAccounts::default();
        accounts.serve(&bus).await;
        warren_auth::serve(&bus, store.clone(), config(), ServeOptions::default())
            .await
            .unwrap();
        let call = CallOptions::default;
        let user_id = bus
            .call::<Register>(&creds("Quinn", PASSWORD), call())
            .await
            .unwrap()
            .user_id;
        let error = bus
            .call::<Register>(&creds("QUINN", PASSWORD), call())
            .await;
        assert_code(error.map_err(|e| e.to_wire()), ErrorCode::AlreadyExists);
        let tokens = bus
            .call::<Login>(&creds("quinn", PASSWORD), call())
            .await
            .unwrap();
        assert_eq!(decode(&tokens.access_token).sub, user_id);
        let rotated = bus
            .call::<Refresh>(&refresh_token(&tokens.refresh_token), call())
            .await
            .unwrap();
        let reuse = bus
            .call::<Refresh>(&refresh_token(&tokens.refresh_token), call())
            .await;
        assert_code(reuse.map_err(|e| e.to_wire()), ErrorCode::Unauthorized);
        bus.call::<RevokeUserMethod>(&RevokeUser { user_id }, call())
            .await
            .unwrap();
        let after = bus
            .call::<Refresh>(&refresh_token(&rotated.refresh_token), call())
            .await;
        assert_code(after.map_err(|e| e.to_wire()), ErrorCode::Unauthorized);
        let login = bus.call::<Login>(&creds("quinn", PASSWORD), call()).await;
        assert_code(login.map_err(|e| e.to_wire()), ErrorCode::Unauthorized);
        assert!(store.find_user("quinn").await.unwrap().is_none());
        bus.shutdown().await;
    })
    .await;
}
