//! One function per `auth.*` method, and the one place where an internal failure is logged and
//! turned into the error a caller sees.
//!
//! Register, login and refresh first count against their client address's rate; register and
//! login hash in a bounded slot, login passing the failed-login throttle once it holds one.
//! Refresh and logout never hash, so a flood of logins cannot hold them up.
//!
//! ```text
//! mod.rs       Service: what the handlers share; starting and ending logins; Failure
//! sign_in.rs   register, login
//! logins.rs    refresh, logout, revoke_user, revocations
//! ```

mod logins;
mod sign_in;

pub(crate) use self::logins::{logout, refresh, revocations, revoke_user};
pub(crate) use self::sign_in::{login, register};

use crate::config::{AuthConfig, RATE_WINDOW, UNKNOWN_CLIENT};
use crate::hashing::{HashError, Hashing};
use crate::store::{Admission, AuthStore, StoreError};
use crate::tokens::{AccessTokens, RefreshToken, TokenError};
use std::sync::Arc;
use std::time::Duration;
use warren_bus::{Bus, RequestContext};
use warren_contracts::auth::{REVOKED_EVENT, Revoked, SERVICE, Tokens};
use warren_contracts::event::now_millis;
use warren_contracts::{ErrorCode, Event, WireError};

pub(super) const WRONG_CREDENTIALS: &str = "wrong username or password";
pub(super) const TOO_MANY_FAILURES: &str = "too many failed logins; try again later";
const TOO_MANY_REQUESTS: &str = "too many requests from this address; try again later";
const BUSY: &str = "too many logins at once; try again shortly";

pub(super) const BAD_REFRESH_TOKEN: &str = "invalid or expired refresh token";

/// Beyond the access token lifetime, how long an ended login is remembered for gateways: covers
/// their tolerance of clock differences on `exp`.
const REVOCATION_MARGIN: Duration = Duration::from_secs(60);

/// What every handler shares.
pub(crate) struct Service {
    bus: Bus,
    store: Arc<dyn AuthStore>,
    access: AccessTokens,
    refresh_ttl: Duration,
    /// The bounded hashing slots; only register and login use them.
    hashing: Arc<Hashing>,
    rate_per_address: u32,
    /// How long an ended login is remembered for gateways, in ms: until its last access token
    /// has expired, with a margin for clocks.
    revocation_memory: u64,
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
            revocation_memory: u64::try_from(
                (config.access_token_ttl + REVOCATION_MARGIN).as_millis(),
            )
            .unwrap_or(u64::MAX),
        }
    }

    /// Counts a request against its client address's rate; `rate_limited` over it.
    pub(super) async fn count_request(&self, client: &str) -> Result<(), Failure> {
        let admission = self
            .store
            .count_request(client, self.rate_per_address, RATE_WINDOW)
            .await?;
        refused_unless_allowed(admission, TOO_MANY_REQUESTS)
    }

    /// Starts a login of `user_id`: its first token pair; `unauthorized` if the user was deleted
    /// meanwhile.
    async fn start_login(&self, user_id: &str) -> Result<Tokens, Failure> {
        let family = uuid::Uuid::new_v4().to_string();
        let refresh = RefreshToken::generate()?;
        let started = self
            .store
            .start_family(&family, user_id, &refresh.digest, self.refresh_ttl)
            .await?;
        if !started {
            return Err(refuse(ErrorCode::Unauthorized, WRONG_CREDENTIALS));
        }
        self.tokens(user_id, &family, refresh)
    }

    /// The pair handed out: an access token of the login `family` and its refresh token.
    fn tokens(
        &self,
        user_id: &str,
        family: &str,
        refresh: RefreshToken,
    ) -> Result<Tokens, Failure> {
        Ok(Tokens {
            access_token: self.access.issue(user_id, family)?,
            refresh_token: refresh.token,
            expires_in: self.access.expires_in(),
        })
    }

    /// Tells every gateway that `families` of `user_id` ended (their store records are gone
    /// already): they refuse those logins' access tokens and close the sockets opened with them.
    /// Remembered first, so that a gateway which misses the event reads it when it next asks.
    async fn announce_ended(&self, user_id: &str, families: Vec<String>) -> Result<(), Failure> {
        if families.is_empty() {
            return Ok(());
        }
        let until = now_millis().saturating_add(self.revocation_memory);
        self.store.record_revoked(&families, until).await?;
        let revoked = Revoked {
            user_id: user_id.to_owned(),
            sessions: families,
            until,
        };
        let data = serde_json::to_value(&revoked)?;
        let event = Event::new(REVOKED_EVENT, Vec::new(), data);
        if let Err(error) = self.bus.publish(SERVICE, &event).await {
            // Gateways also read the list now and then, so they learn it a little later.
            tracing::warn!(%error, "could not announce ended logins; gateways read them later");
        }
        tracing::info!(
            logins = revoked.sessions.len(),
            "logins ended and announced"
        );
        Ok(())
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
    #[error("cannot serialise an event: {0}")]
    Json(#[from] serde_json::Error),
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
            Failure::Store(StoreError::Corrupt(_))
            | Failure::Hashing(_)
            | Failure::Token(_)
            | Failure::Json(_) => ErrorCode::Internal,
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

pub(super) fn refuse(code: ErrorCode, message: impl Into<String>) -> Failure {
    Failure::Refused(WireError::new(code, message))
}

pub(super) fn refused_unless_allowed(admission: Admission, message: &str) -> Result<(), Failure> {
    match admission {
        Admission::Allowed => Ok(()),
        Admission::Refused { retry_after } => Err(Failure::Refused(
            WireError::new(ErrorCode::RateLimited, message).retry_after(retry_after),
        )),
    }
}

/// The address a request is throttled under: the client's, or one shared key for calls that
/// carry none (service-to-service).
pub(super) fn client_of(ctx: &RequestContext) -> &str {
    ctx.client_addr.as_deref().unwrap_or(UNKNOWN_CLIENT)
}

/// The time the request has left; the hashing slots keep back from it what the answer needs
/// (`hashing::ANSWER_ALLOWANCE`).
pub(super) fn slot_wait(ctx: &RequestContext) -> Duration {
    ctx.remaining()
}
