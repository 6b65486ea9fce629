//! The auth service under a login flood and credential stuffing, each scenario on the memory store
//! and on Redis: throttles keyed by client address, the per-address request rate, and the bounded
//! hashing slots.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::accounts::FakeAccounts;
use std::sync::Arc;
use std::time::{Duration, Instant};
use warren_auth::{AuthConfig, AuthStore, Hashing, MAX_FAILED_LOGINS};
use warren_bus::{Bus, CallOptions, ServeOptions};
use warren_contracts::auth::{Credentials, Login, Refresh, RefreshToken, Register, Tokens};
use warren_contracts::{ErrorCode, Method, WireError};

const SECRET: &[u8] = b"test-secret-for-the-auth-service";
const PASSWORD: &str = "correct horse battery";
const OWNER: &str = "198.51.100.1";
const ATTACKER: &str = "203.0.113.66";

/// The auth service on its own in-process bus, with the slots it hashes in.
struct Auth {
    bus: Bus,
    hashing: Arc<Hashing>,
}

impl Auth {
    async fn start(store: Arc<dyn AuthStore>, config: AuthConfig) -> Self {
        let bus = Bus::in_process();
        FakeAccounts::default().serve(&bus).await;
        let hashing = Arc::new(Hashing::new(
            config.hash_concurrency,
            config.hash_queue_timeout,
        ));
        let router = warren_auth::router_with(bus.clone(), store, config, Arc::clone(&hashing));
        bus.serve(router, ServeOptions::default()).await.unwrap();
        Self { bus, hashing }
    }

    async fn call<M: Method>(
        &self,
        params: &M::Params,
        from: &str,
    ) -> Result<M::Result, WireError> {
        let options = CallOptions::default()
            .timeout(Duration::from_secs(30))
            .client_addr(from);
        self.bus
            .call::<M>(params, options)
            .await
            .map_err(|e| e.to_wire())
    }

    async fn register(&self, name: &str, from: &str) -> Result<String, WireError> {
        let registered = self.call::<Register>(&creds(name, PASSWORD), from).await?;
        Ok(registered.user_id)
    }

    async fn login(&self, name: &str, password: &str, from: &str) -> Result<Tokens, WireError> {
        self.call::<Login>(&creds(name, password), from).await
    }
}

/// A configuration whose hashing queue does not get in the way of throttle tests.
fn patient() -> AuthConfig {
    AuthConfig {
        hash_queue_timeout: Duration::from_secs(30),
        ..AuthConfig::new(SECRET)
    }
}

fn creds(username: &str, password: &str) -> Credentials {
    Credentials {
        username: username.to_owned(),
        password: password.to_owned(),
    }
}

/// The error, which must be `rate_limited` with a retry-after hint.
#[track_caller]
fn rate_limited<T: std::fmt::Debug>(result: Result<T, WireError>) -> WireError {
    match result {
        Err(error) if error.code == ErrorCode::RateLimited => {
            let hint = error.retry_after_ms.expect("a retry-after hint");
            assert!(hint > 0, "{error:?}");
            error
        }
        other => panic!("expected rate_limited, got {other:?}"),
    }
}

/// Strangers guessing a public username lock out their own address, never the owner's.
async fn failures_from_another_address_do_not_lock_out_the_owner(store: Arc<dyn AuthStore>) {
    let auth = Auth::start(store, patient()).await;
    auth.register("Owner", OWNER).await.unwrap();
    for attempt in 0..MAX_FAILED_LOGINS {
        let wrong = auth
            .login("owner", &format!("wrong guess {attempt}"), ATTACKER)
            .await;
        assert_eq!(wrong.unwrap_err().code, ErrorCode::Unauthorized);
    }
    let error = rate_limited(auth.login("owner", "one more guess", ATTACKER).await);
    assert!(error.retry_after_ms.unwrap() <= 15 * 60 * 1000, "{error:?}");
    rate_limited(auth.login("owner", PASSWORD, ATTACKER).await);
    auth.login("OWNER", PASSWORD, OWNER)
        .await
        .expect("the owner's address has no failures");
}

/// Thirty wrong guesses at once from one address: only the limit's worth are ever hashed.
async fn concurrent_guesses_are_counted_before_they_are_checked(store: Arc<dyn AuthStore>) {
    let auth = Arc::new(Auth::start(store, patient()).await);
    auth.register("victim", OWNER).await.unwrap();
    let hashed_before = auth.hashing.computed();
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..30 {
        let auth = Arc::clone(&auth);
        guesses.spawn(async move {
            auth.login("victim", &format!("wrong guess {i}"), ATTACKER)
                .await
        });
    }
    let answers = guesses.join_all().await;
    let code = |code| {
        answers
            .iter()
            .filter(|a| a.as_ref().err().is_some_and(|e| e.code == code))
            .count()
    };
    let limit = MAX_FAILED_LOGINS as usize;
    assert_eq!(code(ErrorCode::Unauthorized), limit, "{answers:?}");
    assert_eq!(code(ErrorCode::RateLimited), 30 - limit, "{answers:?}");
    assert_eq!(
        auth.hashing.computed() - hashed_before,
        u64::from(MAX_FAILED_LOGINS)
    );
    auth.login("victim", PASSWORD, OWNER).await.unwrap();
}

/// Thirty right-password logins at once from one address (players behind one NAT), more than the
/// address's failure limit of 20: those waiting for a hashing slot are not counted as failures
/// yet, so every one succeeds.
async fn logins_waiting_for_a_slot_do_not_count_against_the_address(store: Arc<dyn AuthStore>) {
    let config = AuthConfig {
        hash_concurrency: 1,
        ..patient()
    };
    let auth = Arc::new(Auth::start(store, config).await);
    let players: Vec<String> = (0..10).map(|i| format!("neighbour{i}")).collect();
    for (i, player) in players.iter().enumerate() {
        auth.register(player, &format!("10.3.0.{i}")).await.unwrap();
    }
    let mut logins = tokio::task::JoinSet::new();
    for i in 0..30 {
        let (auth, player) = (Arc::clone(&auth), players[i % players.len()].clone());
        logins.spawn(async move { auth.login(&player, PASSWORD, OWNER).await });
    }
    let answers = logins.join_all().await;
    let refused = answers.iter().filter(|a| a.is_err()).count();
    assert_eq!(refused, 0, "{answers:?}");
    assert_eq!(
        auth.hashing.computed(),
        40,
        "ten registrations and thirty logins"
    );
}

/// Sixty throttled requests a minute per address, whichever of register, login and refresh.
async fn the_61st_request_from_an_address_is_refused(store: Arc<dyn AuthStore>) {
    let config = patient();
    let limit = config.auth_rate_per_address;
    assert_eq!(limit, 60, "the design's default");
    let auth = Auth::start(store, config).await;
    auth.register("busy_bee", ATTACKER).await.unwrap();
    // Names outside the rules cost no hashing but count all the same.
    for _ in 1..limit - 1 {
        let answer = auth.login("x", PASSWORD, ATTACKER).await;
        assert_eq!(answer.unwrap_err().code, ErrorCode::Unauthorized);
    }
    let sixtieth = auth.login("busy_bee", PASSWORD, ATTACKER).await.unwrap();
    let error = rate_limited(auth.login("busy_bee", PASSWORD, ATTACKER).await);
    assert!(error.retry_after_ms.unwrap() <= 60_000, "{error:?}");
    rate_limited(auth.register("another_bee", ATTACKER).await);
    let token = RefreshToken {
        refresh_token: sixtieth.refresh_token,
    };
    rate_limited(auth.call::<Refresh>(&token, ATTACKER).await);
    auth.login("busy_bee", PASSWORD, OWNER)
        .await
        .expect("another address has its own count");
    auth.register("another_bee", OWNER).await.unwrap();
    auth.call::<Refresh>(&token, OWNER).await.unwrap();
}

/// One hashing slot and a short queue: a burst of logins is refused promptly with a hint rather
/// than queued towards a timeout, and a refresh meanwhile is not held up.
async fn a_login_burst_is_refused_promptly_and_refresh_stays_quick(store: Arc<dyn AuthStore>) {
    let config = AuthConfig {
        hash_concurrency: 1,
        hash_queue_timeout: Duration::from_millis(50),
        ..AuthConfig::new(SECRET)
    };
    let auth = Arc::new(Auth::start(store, config).await);
    auth.register("popular", OWNER).await.unwrap();
    let session = auth.login("popular", PASSWORD, OWNER).await.unwrap();
    let hashed_before = auth.hashing.computed();
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..12 {
        let auth = Arc::clone(&auth);
        burst.spawn(async move {
            let started = Instant::now();
            let answer = auth
                .login("popular", PASSWORD, &format!("10.1.0.{i}"))
                .await;
            (answer, started.elapsed())
        });
    }
    // Once a hash of the burst runs, the slot is taken.
    while auth.hashing.computed() == hashed_before {
        tokio::task::yield_now().await;
    }
    let started = Instant::now();
    let token = RefreshToken {
        refresh_token: session.refresh_token,
    };
    auth.call::<Refresh>(&token, OWNER).await.unwrap();
    let refresh_took = started.elapsed();
    let answers = burst.join_all().await;
    let mut refused = 0;
    for (answer, took) in answers {
        if answer.is_err() {
            rate_limited(answer);
            refused += 1;
            assert!(took < Duration::from_secs(1), "refused after {took:?}");
        }
    }
    assert!(refused >= 1, "one slot cannot serve twelve logins in 50 ms");
    assert!(
        refresh_took < Duration::from_millis(500),
        "refresh took {refresh_took:?}"
    );
    assert_eq!(auth.hashing.memory_areas(), 1);
}

/// However many logins at once, hashing memory stays at one area per slot.
async fn hashing_memory_does_not_grow_with_concurrent_logins(store: Arc<dyn AuthStore>) {
    let config = AuthConfig {
        hash_concurrency: 2,
        ..patient()
    };
    let auth = Arc::new(Auth::start(store, config).await);
    auth.register("crowd", OWNER).await.unwrap();
    let mut logins = tokio::task::JoinSet::new();
    for i in 0..16 {
        let auth = Arc::clone(&auth);
        logins.spawn(async move { auth.login("crowd", PASSWORD, &format!("10.2.0.{i}")).await });
    }
    for answer in logins.join_all().await {
        answer.unwrap();
    }
    assert_eq!(auth.hashing.computed(), 17);
    assert!(
        auth.hashing.memory_areas() <= 2,
        "{} memory areas for 2 slots",
        auth.hashing.memory_areas()
    );
}

both_stores!(
    failures_from_another_address_do_not_lock_out_the_owner,
    concurrent_guesses_are_counted_before_they_are_checked,
    the_61st_request_from_an_address_is_refused,
    a_login_burst_is_refused_promptly_and_refresh_stays_quick,
    hashing_memory_does_not_grow_with_concurrent_logins,
    logins_waiting_for_a_slot_do_not_count_against_the_address,
);
