//! One function per `auth.*` method, and the one place where an internal failure is logged and
//! turned into the error a caller sees.

use crate::config::{AuthConfig, FAILED_LOGIN_WINDOW, MAX_FAILED_LOGINS};
use crate::password::{self, PasswordError};
use crate::store::{AuthStore, StoreError, UserRecord};
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
const BAD_REFRESH_TOKEN: &str = "invalid or expired refresh token";

/// What every handler shares.
pub(crate) struct Service {
    bus: Bus,
    store: Arc<dyn AuthStore>,
    access: AccessTokens,
    refresh_ttl: Duration,
}

impl Service {
    pub(crate) fn new(bus: Bus, store: Arc<dyn AuthStore>, config: &AuthConfig) -> Self {
        Self {
            bus,
            store,
            access: AccessTokens::new(&config.jwt_secret, config.access_token_ttl),
            refresh_ttl: config.refresh_token_ttl,
        }
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
    Password(#[from] PasswordError),
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl From<Failure> for WireError {
    /// Logs an internal failure (within the request's span) and hides its detail.
    fn from(failure: Failure) -> Self {
        let code = match &failure {
            Failure::Refused(error) => return error.clone(),
            Failure::Store(StoreError::Unavailable(_)) => ErrorCode::Unavailable,
            Failure::Store(StoreError::Corrupt(_)) | Failure::Password(_) | Failure::Token(_) => {
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

/// `auth.register`: credentials, then the account; no credentials stay behind if the account
/// cannot be created.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub(crate) async fn register(
    service: Arc<Service>,
    ctx: RequestContext,
    params: Credentials,
) -> Result<Registered, Failure> {
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
        password_hash: password::hash(&params.password).await?,
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

/// `auth.login`: a token pair for the right password; throttled per username.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub(crate) async fn login(
    service: Arc<Service>,
    _ctx: RequestContext,
    params: Credentials,
) -> Result<Tokens, Failure> {
    // No user can have credentials outside the rules, so such a pair is simply wrong.
    if validate::username(&params.username).is_err()
        || validate::password(&params.password).is_err()
    {
        return Err(refuse(ErrorCode::Unauthorized, WRONG_CREDENTIALS));
    }
    let store = &service.store;
    if store.failed_logins(&params.username).await? >= MAX_FAILED_LOGINS {
        return Err(refuse(ErrorCode::RateLimited, TOO_MANY_FAILURES));
    }
    let user = match store.find_user(&params.username).await? {
        Some(user) if password::verify(&params.password, &user.password_hash).await? => user,
        Some(_) => {
            store
                .record_failed_login(&params.username, FAILED_LOGIN_WINDOW)
                .await?;
            return Err(refuse(ErrorCode::Unauthorized, WRONG_CREDENTIALS));
        }
        None => {
            // As long as a real check, so the answer's timing does not tell which names exist.
            password::verify_dummy(&params.password).await?;
            store
                .record_failed_login(&params.username, FAILED_LOGIN_WINDOW)
                .await?;
            return Err(refuse(ErrorCode::Unauthorized, WRONG_CREDENTIALS));
        }
    };
    tracing::Span::current().record("user_id", user.user_id.as_str());
    store.clear_failed_logins(&params.username).await?;
    service.issue(&user.user_id).await
}

/// `auth.refresh`: the token is used up and a new pair issued.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub(crate) async fn refresh(
    service: Arc<Service>,
    _ctx: RequestContext,
    params: RefreshParams,
) -> Result<Tokens, Failure> {
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
