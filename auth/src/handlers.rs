//! One function per `auth.*` method, and the one place where an internal failure is logged and
//! turned into the error a caller sees.
//!
//! Register, login and refresh first count against their client address's rate; login then passes
//! the failed-login throttle before any hashing; register and login hash in a bounded slot.
//! Refresh and logout never hash, so a flood of logins cannot hold them up.

use crate::config::{AuthConfig, LOGIN_LIMITS, RATE_WINDOW, UNKNOWN_CLIENT};
use crate::hashing::{HashError, Hashing};
use crate::store::{Admission, AuthStore, Settle, StoreError, UserRecord};
use crate::tokens::{self, AccessTokens, RefreshToken, TokenError};
use crate::validate;
use std::sync::Arc;
use std::time::Duration;
use warren_bus::{Bus, RequestContext};
use warren_contracts::accounts::{self, NewAccount};
use warren_contracts::auth::{
    Credentials, RefreshToken as RefreshParams, Registered, RevokeUser, Tokens,
};
use warren_contracts::{Empty, ErrorCode, WireError};

const WRONG_CREDENTIALS: &str = "wrong username or password";
const TOO_MANY_FAILURES: &str = "too many failed logins; try again later";
const TOO_MANY_REQUESTS: &str = "too many requests from this address; try again later";
const BUSY: &str = "too many logins at once; try again shortly";

/// What is kept back from the time a request has left, for its answer to reach the caller: a
/// hashing slot found later than this is no use to anyone.
const ANSWER_ALLOWANCE: Duration = Duration::from_millis(100);
const BAD_REFRESH_TOKEN: &str = "invalid or expired refresh token";

/// What every handler shares.
pub(crate) struct Service {
    bus: Bus,
    store: Arc<dyn AuthStore>,
    access: AccessTokens,
    refresh_ttl: Duration,
    /// The bounded hashing slots; only register and login use them.
    hashing: Arc<Hashing>,
    rate_per_address: u32,
}

impl Service {
    pub(crate) fn new(
        bus: Bus,
        store: Arc<dyn AuthStore>,
        config: &AuthConfig,
        hashing: Arc<Hashing>,
    ) -> Self {
        Self {
            bus,
            store,
            access: AccessTokens::new(&config.jwt_secret, config.access_token_ttl),
            refresh_ttl: config.refresh_token_ttl,
            hashing,
            rate_per_address: config.auth_rate_per_address,
        }
    }

    /// Counts a request against its client address's rate; `rate_limited` over it.
    async fn count_request(&self, client: &str) -> Result<(), Failure> {
        let admission = self
            .store
            .count_request(client, self.rate_per_address, RATE_WINDOW)
            .await?;
        refused_unless_allowed(admission, TOO_MANY_REQUESTS)
    }

    /// A new token pair for `user_id`; `unauthorized` if the user was deleted meanwhile.
    async fn issue(&self, user_id: &str) -> Result<Tokens, Failure> {
        let refresh = RefreshToken::generate()?;
        let access_token = self.access.issue(user_id)?;
        let stored = self
            .store
            .add_refresh_token(&refresh.digest, user_id, self.refresh_ttl)
            .await?;
        if !stored {
            return Err(refuse(ErrorCode::Unauthorized, WRONG_CREDENTIALS));
        }
        Ok(Tokens {
            access_token,
            refresh_token: refresh.token,
            expires_in: self.access.expires_in(),
        })
    }
}

/// How a request failed: an answer meant for the caller, or an internal failure whose detail
/// belongs in the log only.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    #[error(transparent)]
    Refused(#[from] WireError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hashing(#[from] HashError),
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl From<Failure> for WireError {
    /// Logs an internal failure (within the request's span) and hides its detail.
    fn from(failure: Failure) -> Self {
        let code = match &failure {
            Failure::Refused(error) => return error.clone(),
            Failure::Hashing(HashError::Busy { retry_after }) => {
                tracing::debug!("no hashing slot in time");
                return WireError::new(ErrorCode::RateLimited, BUSY).retry_after(*retry_after);
            }
            Failure::Store(StoreError::Unavailable(_)) => ErrorCode::Unavailable,
            Failure::Store(StoreError::Corrupt(_)) | Failure::Hashing(_) | Failure::Token(_) => {
                ErrorCode::Internal
            }
        };
        tracing::error!(error = %failure, "auth request failed");
        match code {
            ErrorCode::Unavailable => {
                WireError::new(code, "auth storage is unavailable; try again later")
            }
            _ => WireError::new(code, "internal error"),
        }
    }
}

fn refuse(code: ErrorCode, message: impl Into<String>) -> Failure {
    Failure::Refused(WireError::new(code, message))
}

fn refused_unless_allowed(admission: Admission, message: &str) -> Result<(), Failure> {
    match admission {
        Admission::Allowed => Ok(()),
        Admission::Refused { retry_after } => Err(Failure::Refused(
            WireError::new(ErrorCode::RateLimited, message).retry_after(retry_after),
        )),
    }
}

/// The address a request is throttled under: the client's, or one shared key for calls that
/// carry none (service-to-service).
fn client_of(ctx: &RequestContext) -> &str {
    ctx.client_addr.as_deref().unwrap_or(UNKNOWN_CLIENT)
}

/// How long a request may wait for a hashing slot and still be answered in time.
fn slot_wait(ctx: &RequestContext) -> Duration {
    ctx.remaining().saturating_sub(ANSWER_ALLOWANCE)
}

/// `auth.register`: credentials, then the account; no credentials stay behind if the account
/// cannot be created.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub(crate) async fn register(
    service: Arc<Service>,
    ctx: RequestContext,
    params: Credentials,
) -> Result<Registered, Failure> {
    service.count_request(client_of(&ctx)).await?;
    validate::username(&params.username)
        .and_then(|()| validate::password(&params.password))
        .map_err(|invalid| refuse(ErrorCode::InvalidParams, invalid.to_string()))?;
    let taken = || refuse(ErrorCode::AlreadyExists, "username is taken");
    // Spare the hashing when the answer is known already; create_user checks again atomically.
    if service.store.find_user(&params.username).await?.is_some() {
        return Err(taken());
    }
    let user = UserRecord {
        user_id: uuid::Uuid::new_v4().to_string(),
        username: params.username,
        password_hash: service
            .hashing
            .hash(&params.password, slot_wait(&ctx))
            .await?,
    };
    tracing::Span::current().record("user_id", user.user_id.as_str());
    if !service.store.create_user(&user).await? {
        return Err(taken());
    }
    let account = NewAccount {
        user_id: user.user_id.clone(),
        username: user.username.clone(),
    };
    if let Err(error) = service
        .bus
        .call::<accounts::Create>(&account, ctx.call_options())
        .await
    {
        tracing::warn!(%error, "accounts.create failed; removing the new credentials");
        if let Err(rollback) = service.store.delete_user(&user.user_id).await {
            tracing::error!(error = %rollback, "could not remove the credentials of a failed registration");
        }
        return Err(Failure::Refused(error.to_wire()));
    }
    Ok(Registered {
        user_id: user.user_id,
    })
}

/// `auth.login`: a token pair for the right password; throttled per (username, address) and per
/// address, the attempt counted before its password is checked.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub(crate) async fn login(
    service: Arc<Service>,
    ctx: RequestContext,
    params: Credentials,
) -> Result<Tokens, Failure> {
    let client = client_of(&ctx);
    service.count_request(client).await?;
    // No user can have credentials outside the rules, so such a pair is simply wrong.
    if validate::username(&params.username).is_err()
        || validate::password(&params.password).is_err()
    {
        return Err(refuse(ErrorCode::Unauthorized, WRONG_CREDENTIALS));
    }
    let store = &service.store;
    let admission = store
        .admit_login(&params.username, client, &LOGIN_LIMITS)
        .await?;
    refused_unless_allowed(admission, TOO_MANY_FAILURES)?;
    // Counted as a failure already: only a right password or an attempt never checked settles.
    let settle = match check_password(&service, &ctx, &params).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => return Err(refuse(ErrorCode::Unauthorized, WRONG_CREDENTIALS)),
        Err(failure) => Err(failure),
    };
    let outcome = match settle {
        Ok(_) => Settle::Succeeded,
        Err(_) => Settle::NotChecked,
    };
    if let Err(error) = store.settle_login(&params.username, client, outcome).await {
        tracing::warn!(%error, ?outcome, "could not settle a login attempt");
    }
    let user = settle?;
    tracing::Span::current().record("user_id", user.user_id.as_str());
    service.issue(&user.user_id).await
}

/// The user whose password `params` has, or `None` for a wrong password or an unknown name.
async fn check_password(
    service: &Service,
    ctx: &RequestContext,
    params: &Credentials,
) -> Result<Option<UserRecord>, Failure> {
    let hashing = &service.hashing;
    let Some(user) = service.store.find_user(&params.username).await? else {
        // As long as a real check, so the answer's timing does not tell which names exist.
        hashing
            .verify_dummy(&params.password, slot_wait(ctx))
            .await?;
        return Ok(None);
    };
    let right = hashing
        .verify(&params.password, &user.password_hash, slot_wait(ctx))
        .await?;
    Ok(right.then_some(user))
}

/// `auth.refresh`: the token is used up and a new pair issued.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub(crate) async fn refresh(
    service: Arc<Service>,
    ctx: RequestContext,
    params: RefreshParams,
) -> Result<Tokens, Failure> {
    service.count_request(client_of(&ctx)).await?;
    let bad_token = || refuse(ErrorCode::Unauthorized, BAD_REFRESH_TOKEN);
    if !tokens::is_well_formed(&params.refresh_token) {
        return Err(bad_token());
    }
    let digest = tokens::digest(&params.refresh_token);
    let Some(user_id) = service.store.take_refresh_token(&digest).await? else {
        return Err(bad_token());
    };
    tracing::Span::current().record("user_id", user_id.as_str());
    service.issue(&user_id).await
}

/// `auth.logout`: revokes the token if it is live; nothing to do otherwise.
#[tracing::instrument(skip_all)]
pub(crate) async fn logout(
    service: Arc<Service>,
    _ctx: RequestContext,
    params: RefreshParams,
) -> Result<Empty, Failure> {
    if tokens::is_well_formed(&params.refresh_token) {
        let digest = tokens::digest(&params.refresh_token);
        service.store.take_refresh_token(&digest).await?;
    }
    Ok(Empty {})
}

/// `auth.revoke_user`: for services (accounts, when an account is deleted). A call made on a
/// user's behalf may revoke that user only.
#[tracing::instrument(skip_all, fields(user_id = %params.user_id))]
pub(crate) async fn revoke_user(
    service: Arc<Service>,
    ctx: RequestContext,
    params: RevokeUser,
) -> Result<Empty, Failure> {
    if uuid::Uuid::parse_str(&params.user_id).is_err() {
        return Err(refuse(ErrorCode::InvalidParams, "user_id must be a UUID"));
    }
    if ctx
        .user_id
        .as_ref()
        .is_some_and(|caller| *caller != params.user_id)
    {
        return Err(refuse(
            ErrorCode::Forbidden,
            "a user may revoke only their own credentials",
        ));
    }
    let existed = service.store.delete_user(&params.user_id).await?;
    tracing::info!(existed, "revoked the user's credentials and refresh tokens");
    Ok(Empty {})
}
