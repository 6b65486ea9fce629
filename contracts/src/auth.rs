//! The `auth` service's methods and the access token's claims.
//!
//! Client-facing over HTTP: register, login, refresh, logout. Service-to-service only:
//! `auth.revoke_user` (accounts calls it when an account is deleted) and `auth.revocations`
//! (gateways read it when they start).
//!
//! A *login* is what one sign-in starts: a family of refresh tokens, each replacing the one before,
//! and the access tokens issued from them, which carry its id as `sid`. Ending a login (logout, a
//! spent refresh token used again, logging out everywhere, deleting the account) is announced as
//! [`REVOKED_EVENT`]; every gateway then refuses the access tokens of that login and closes the
//! sockets opened with them, without asking anyone per call.

use crate::rpc::{Empty, declare_methods};
use serde::{Deserialize, Serialize};

pub const SERVICE: &str = "auth";

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    pub user_id: String,
}

/// A token pair as login and refresh return it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// A JWT (HS256) whose subject is the user id.
    pub access_token: String,
    /// Opaque; rotated on every use.
    pub refresh_token: String,
    /// Seconds until the access token expires (OAuth 2.0 style).
    pub expires_in: u64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshToken {
    pub refresh_token: String,
}

/// `POST /v1/auth/logout`: ends the login of `refresh_token`, or with `all` every login of the
/// user (named by the refresh token or by the caller's access token).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(schemars::JsonSchema, Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Every login of the user, on every device, not just this one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
}

/// The event auth publishes (on `auth.events`, for services only) when logins end.
pub const REVOKED_EVENT: &str = "auth.revoked";

/// The data of [`REVOKED_EVENT`].
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    pub user_id: String,
    /// The `sid`s of the logins that ended.
    pub sessions: Vec<String>,
    /// Unix epoch milliseconds after which every access token of these logins has expired
    /// anyway, so a gateway may forget them.
    pub until: u64,
}

/// One ended login whose access tokens may still be unexpired.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedSession {
    pub sid: String,
    /// As [`Revoked::until`].
    pub until: u64,
}

/// The answer of `auth.revocations`.
#[derive(schemars::JsonSchema, Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedSessions {
    pub sessions: Vec<RevokedSession>,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeUser {
    pub user_id: String,
}

/// Who issues access tokens (`iss`), checked by every gateway.
pub const TOKEN_ISSUER: &str = "warren-auth";

/// Who access tokens are for (`aud`), checked by every gateway: a token signed with the same
/// secret for something else is refused.
pub const TOKEN_AUDIENCE: &str = "warren";

/// The claims of an access token. Every gateway instance verifies tokens with the shared secret.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Always [`TOKEN_ISSUER`].
    pub iss: String,
    /// Always [`TOKEN_AUDIENCE`].
    pub aud: String,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Expires at, Unix seconds.
    pub exp: u64,
    /// The login the token was issued from (see the module's comment).
    pub sid: String,
}

impl Claims {
    /// The claims of a token for `sub` from the login `sid`, issued at `iat` and expiring at
    /// `exp` (Unix seconds).
    pub fn new(sub: impl Into<String>, sid: impl Into<String>, iat: u64, exp: u64) -> Self {
        Self {
            sub: sub.into(),
            iss: TOKEN_ISSUER.to_owned(),
            aud: TOKEN_AUDIENCE.to_owned(),
            iat,
            exp,
            sid: sid.into(),
        }
    }
}

declare_methods! {
/// `auth.register`: creates the credentials and the account; `already_exists` for a taken name.
pub struct Register;
impl Method for Register {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "auth.register";
    type Params = Credentials;
    type Result = Registered;
}

/// `auth.login`: a token pair; `unauthorized` for a wrong name or password, `rate_limited` after
/// repeated failures for one username.
pub struct Login;
impl Method for Login {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "auth.login";
    const REMEMBER_REPLY: bool = false;
    type Params = Credentials;
    type Result = Tokens;
}

/// `auth.refresh`: a new pair for a refresh token, which stops working; `unauthorized` for an
/// unknown, used, revoked or expired one. A used one presented again ends its whole login: the
/// token that replaced it stops working too.
pub struct Refresh;
impl Method for Refresh {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "auth.refresh";
    const REMEMBER_REPLY: bool = false;
    type Params = RefreshToken;
    type Result = Tokens;
}

/// `auth.logout`: ends a login, or with `all` every login of the user. Succeeds for an unknown
/// refresh token too (nothing to end). A user-scoped call may end only the caller's logins.
pub struct Logout;
impl Method for Logout {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "auth.logout";
    type Params = LogoutParams;
    type Result = Empty;
}

/// `auth.revocations` (service-to-service): the logins ended recently enough that access tokens
/// of theirs may still be unexpired; gateways read it when they start and now and then after.
pub struct Revocations;
impl Method for Revocations {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "auth.revocations";
    const REMEMBER_REPLY: bool = false;
    type Params = Empty;
    type Result = RevokedSessions;
}

/// `auth.revoke_user` (service-to-service): deletes a user's credentials and ends every login of
/// theirs, so the name can no longer log in and no token of theirs works. Idempotent.
pub struct RevokeUserMethod;
impl Method for RevokeUserMethod {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "auth.revoke_user";
    type Params = RevokeUser;
    type Result = Empty;
}
}
