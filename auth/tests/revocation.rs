//! Ending logins at the auth service, over `Bus::in_process()`: every end is announced on
//! `auth.events` for the gateways and listed by `auth.revocations`; logout ends one login or, with
//! `all`, every login of the user; a spent refresh token used again ends its login. Each scenario
//! runs on MemoryStore and on RedisStore.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::accounts::FakeAccounts;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::sync::Arc;
use std::time::Duration;
use warren_auth::{AuthConfig, AuthStore};
use warren_bus::{Bus, CallOptions, ServeOptions, SubscribeOptions, Subscription};
use warren_contracts::auth::{
    Claims, Credentials, Login, Logout, LogoutParams, REVOKED_EVENT, Refresh, RefreshToken,
    Register, Revocations, RevokeUser, RevokeUserMethod, Revoked, Tokens,
};
use warren_contracts::event::now_millis;
use warren_contracts::{Empty, ErrorCode, Method, WireError};

const SECRET: &[u8] = b"test-secret-for-the-auth-service";
const ACCESS_TTL: Duration = Duration::from_secs(600);
const PASSWORD: &str = "correct horse battery";

struct Harness {
    bus: Bus,
    events: Subscription,
}

impl Harness {
    async fn start(store: Arc<dyn AuthStore>) -> Self {
        let bus = Bus::in_process();
        FakeAccounts::default().serve(&bus).await;
        let config = AuthConfig {
            access_token_ttl: ACCESS_TTL,
            ..AuthConfig::new(SECRET)
        };
        warren_auth::serve(&bus, store, config, ServeOptions::default())
            .await
            .unwrap();
        let events = bus
            .subscribe(SubscribeOptions::anonymous(["auth"]))
            .await
            .unwrap();
        Self { bus, events }
    }

    async fn call<M: Method>(
        &self,
        params: &M::Params,
        options: CallOptions,
    ) -> Result<M::Result, WireError> {
        self.bus
            .call::<M>(params, options)
            .await
            .map_err(|e| e.to_wire())
    }

    /// A registered user and one login of theirs.
    async fn user(&self, name: &str) -> (String, Tokens) {
        let credentials = Credentials {
            username: name.to_owned(),
            password: PASSWORD.to_owned(),
        };
        let user_id = self
            .call::<Register>(&credentials, CallOptions::default())
            .await
            .unwrap()
            .user_id;
        (user_id, self.login(name).await)
    }

    async fn login(&self, name: &str) -> Tokens {
        let credentials = Credentials {
            username: name.to_owned(),
            password: PASSWORD.to_owned(),
        };
        self.call::<Login>(&credentials, CallOptions::default())
            .await
            .unwrap()
    }

    async fn refresh(&self, tokens: &Tokens) -> Result<Tokens, WireError> {
        let params = RefreshToken {
            refresh_token: tokens.refresh_token.clone(),
        };
        self.call::<Refresh>(&params, CallOptions::default()).await
    }

    async fn logout(&self, params: LogoutParams, caller: Option<&str>) -> Result<Empty, WireError> {
        let mut options = CallOptions::default();
        if let Some(caller) = caller {
            options = options.user_id(caller);
        }
        self.call::<Logout>(&params, options).await
    }

    /// The next `auth.revoked` announcement.
    async fn announced(&mut self) -> Revoked {
        let delivery = tokio::time::timeout(Duration::from_secs(5), self.events.next())
            .await
            .expect("an announcement within 5 s")
            .expect("the subscription is open");
        assert_eq!(delivery.event.kind, REVOKED_EVENT);
        assert!(delivery.event.recipients.is_empty(), "for services only");
        serde_json::from_value(delivery.event.data.clone()).unwrap()
    }

    /// What `auth.revocations` lists, sorted.
    async fn listed(&self) -> Vec<String> {
        let list = self
            .call::<Revocations>(&Empty {}, CallOptions::default())
            .await
            .unwrap();
        let mut sids: Vec<String> = list.sessions.into_iter().map(|s| s.sid).collect();
        sids.sort();
        sids
    }
}

fn sid(tokens: &Tokens) -> String {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[warren_contracts::auth::TOKEN_ISSUER]);
    validation.set_audience(&[warren_contracts::auth::TOKEN_AUDIENCE]);
    jsonwebtoken::decode::<Claims>(
        &tokens.access_token,
        &DecodingKey::from_secret(SECRET),
        &validation,
    )
    .unwrap()
    .claims
    .sid
}

fn by_token(tokens: &Tokens, all: bool) -> LogoutParams {
    LogoutParams {
        refresh_token: Some(tokens.refresh_token.clone()),
        all,
    }
}

#[track_caller]
fn assert_code<T: std::fmt::Debug>(result: Result<T, WireError>, code: ErrorCode) {
    match result {
        Err(error) if error.code == code => {}
        other => panic!("expected {code}, got {other:?}"),
    }
}

fn sorted(mut sids: Vec<String>) -> Vec<String> {
    sids.sort();
    sids
}

async fn reusing_a_spent_refresh_token_ends_the_login_and_announces_it(store: Arc<dyn AuthStore>) {
    let mut h = Harness::start(store).await;
    let (user_id, first) = h.user("ada").await;
    let second = h.refresh(&first).await.unwrap();
    let elsewhere = h.login("ada").await;

    // A thief replays the token the owner already spent.
    assert_code(h.refresh(&first).await, ErrorCode::Unauthorized);
    let revoked = h.announced().await;
    assert_eq!(revoked.user_id, user_id);
    assert_eq!(revoked.sessions, vec![sid(&first)]);
    let expected_until = now_millis() + ACCESS_TTL.as_millis() as u64;
    assert!(
        revoked.until >= expected_until && revoked.until <= expected_until + 120_000,
        "remembered until the login's access tokens have expired: {}",
        revoked.until
    );
    assert_code(h.refresh(&second).await, ErrorCode::Unauthorized);
    h.refresh(&elsewhere)
        .await
        .expect("the user's other login goes on");
    assert_eq!(h.listed().await, vec![sid(&first)]);
}

async fn logout_ends_one_login_and_all_ends_every_one(store: Arc<dyn AuthStore>) {
    let mut h = Harness::start(store).await;
    let (user_id, phone) = h.user("bea").await;
    let laptop = h.login("bea").await;
    let console = h.login("bea").await;
    let (_, bystander) = h.user("cid").await;

    h.logout(by_token(&phone, false), None).await.unwrap();
    let revoked = h.announced().await;
    assert_eq!(
        (revoked.user_id, revoked.sessions),
        (user_id.clone(), vec![sid(&phone)])
    );
    assert_code(h.refresh(&phone).await, ErrorCode::Unauthorized);
    let laptop = h.refresh(&laptop).await.expect("one logout ends one login");

    h.logout(by_token(&laptop, true), None).await.unwrap();
    let revoked = h.announced().await;
    assert_eq!(revoked.user_id, user_id);
    assert_eq!(
        sorted(revoked.sessions),
        sorted(vec![sid(&laptop), sid(&console)])
    );
    assert_code(h.refresh(&laptop).await, ErrorCode::Unauthorized);
    assert_code(h.refresh(&console).await, ErrorCode::Unauthorized);
    h.refresh(&bystander).await.expect("other users stay");
    assert_eq!(
        h.listed().await,
        sorted(vec![sid(&phone), sid(&laptop), sid(&console)])
    );

    // Nothing left to end: no announcement, no error.
    h.logout(by_token(&laptop, true), None).await.unwrap();
    h.logout(
        LogoutParams {
            refresh_token: Some("not a token".into()),
            all: false,
        },
        None,
    )
    .await
    .unwrap();
    assert_code(
        h.logout(LogoutParams::default(), None).await,
        ErrorCode::InvalidParams,
    );
    assert_code(
        h.logout(
            LogoutParams {
                refresh_token: None,
                all: true,
            },
            None,
        )
        .await,
        ErrorCode::InvalidParams,
    );
}

async fn a_caller_logs_out_everywhere_with_an_access_token_alone(store: Arc<dyn AuthStore>) {
    let mut h = Harness::start(store).await;
    let (user_id, one) = h.user("dee").await;
    let two = h.login("dee").await;
    let (eve_id, eve) = h.user("eve").await;
    let everywhere = LogoutParams {
        refresh_token: None,
        all: true,
    };
    h.logout(everywhere, Some(&user_id)).await.unwrap();
    let revoked = h.announced().await;
    assert_eq!(revoked.user_id, user_id);
    assert_eq!(sorted(revoked.sessions), sorted(vec![sid(&one), sid(&two)]));
    assert_code(h.refresh(&two).await, ErrorCode::Unauthorized);

    // Someone else's refresh token ends that login (whoever holds it may), and nothing else.
    let fresh = h.login("dee").await;
    assert_code(
        h.logout(by_token(&eve, true), Some(&user_id)).await,
        ErrorCode::Forbidden,
    );
    let revoked = h.announced().await;
    assert_eq!(
        (revoked.user_id, revoked.sessions),
        (eve_id, vec![sid(&eve)])
    );
    h.refresh(&fresh)
        .await
        .expect("the caller's own logins were not ended by a token not theirs");
}

async fn deleting_a_user_announces_every_login_of_theirs(store: Arc<dyn AuthStore>) {
    let mut h = Harness::start(store).await;
    let (user_id, one) = h.user("fay").await;
    let two = h.login("fay").await;
    let revoke = RevokeUser {
        user_id: user_id.clone(),
    };
    h.call::<RevokeUserMethod>(&revoke, CallOptions::default())
        .await
        .unwrap();
    let revoked = h.announced().await;
    assert_eq!(revoked.user_id, user_id);
    assert_eq!(sorted(revoked.sessions), sorted(vec![sid(&one), sid(&two)]));
    assert_code(
        h.call::<Revocations>(&Empty {}, CallOptions::default().user_id(&user_id))
            .await,
        ErrorCode::Forbidden,
    );
}

both_stores!(
    reusing_a_spent_refresh_token_ends_the_login_and_announces_it,
    logout_ends_one_login_and_all_ends_every_one,
    a_caller_logs_out_everywhere_with_an_access_token_alone,
    deleting_a_user_announces_every_login_of_theirs,
);
