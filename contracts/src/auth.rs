//! The `auth` service's methods and the access token's claims.
//!
//! Client-facing over HTTP: register, login, refresh, logout. Service-to-service only:
//! `auth.revoke_user` (accounts calls it when an account is deleted).

use crate::rpc::{Empty, Method};
use serde::{Deserialize, Serialize};

pub const SERVICE: &str = "auth";

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    pub user_id: String,
}

/// A token pair as login and refresh return it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// A JWT (HS256) whose subject is the user id.
    pub access_token: String,
    /// Opaque; rotated on every use.
    pub refresh_token: String,
    /// Seconds until the access token expires (OAuth 2.0 style).
    pub expires_in: u64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshToken {
    pub refresh_token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeUser {
    pub user_id: String,
}

/// Who issues access tokens (`iss`), checked by every gateway.
pub const TOKEN_ISSUER: &str = "warren-auth";

/// Who access tokens are for (`aud`), checked by every gateway: a token signed with the same
/// secret for something else is refused.
pub const TOKEN_AUDIENCE: &str = "warren";

/// The claims of an access token. Every gateway instance verifies tokens with the shared secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

impl Claims {
    /// The claims of a token for `sub`, issued at `iat` and expiring at `exp` (Unix seconds).
    pub fn new(sub: impl Into<String>, iat: u64, exp: u64) -> Self {
        Self {
            sub: sub.into(),
            iss: TOKEN_ISSUER.to_owned(),
            aud: TOKEN_AUDIENCE.to_owned(),
            iat,
            exp,
        }
    }
}

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
/// unknown, used, revoked or expired one.
pub struct Refresh;
impl Method for Refresh {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "auth.refresh";
    const REMEMBER_REPLY: bool = false;
    type Params = RefreshToken;
    type Result = Tokens;
}

/// `auth.logout`: revokes a refresh token. Succeeds for an unknown one too (nothing to revoke).
pub struct Logout;
impl Method for Logout {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "auth.logout";
    type Params = RefreshToken;
    type Result = Empty;
}

/// `auth.revoke_user` (service-to-service): deletes a user's credentials and refresh tokens, so
/// the name can no longer log in. Idempotent.
pub struct RevokeUserMethod;
impl Method for RevokeUserMethod {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "auth.revoke_user";
    type Params = RevokeUser;
    type Result = Empty;
}
