//! The service's settings: the JWT signing secret and the token lifetimes, plus the fixed limits of
//! the login throttle.

use std::fmt;
use std::time::Duration;

/// Failed logins for one username within [`FAILED_LOGIN_WINDOW`] after which login for that name
/// answers `rate_limited` until the window ends.
pub const MAX_FAILED_LOGINS: u32 = 5;

/// How long failed logins count against a username, from the first failure.
pub const FAILED_LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The design's default access token lifetime (`--access-token-ttl`).
pub const DEFAULT_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// The design's default refresh token lifetime (`--refresh-token-ttl`).
pub const DEFAULT_REFRESH_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// What the auth service needs to know.
#[derive(Clone)]
pub struct AuthConfig {
    /// Signs access tokens (HS256). Every gateway verifies with the same secret.
    pub jwt_secret: Vec<u8>,
    /// Lifetime of an access token; login and refresh report it in seconds as `expires_in`.
    pub access_token_ttl: Duration,
    /// Lifetime of a refresh token.
    pub refresh_token_ttl: Duration,
}

impl AuthConfig {
    /// A configuration with the design's default lifetimes (15 minutes, 30 days).
    pub fn new(jwt_secret: impl Into<Vec<u8>>) -> Self {
        Self {
            jwt_secret: jwt_secret.into(),
            access_token_ttl: DEFAULT_ACCESS_TOKEN_TTL,
            refresh_token_ttl: DEFAULT_REFRESH_TOKEN_TTL,
        }
    }
}

/// Shows the lifetimes, never the secret.
impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("jwt_secret", &"[redacted]")
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_secret() {
        let config = AuthConfig::new(b"very-secret-value".to_vec());
        let shown = format!("{config:?}");
        assert!(!shown.contains("very-secret-value"), "{shown}");
        assert!(shown.contains("access_token_ttl"), "{shown}");
    }
}
