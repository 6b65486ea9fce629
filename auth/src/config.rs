//! The service's settings: the JWT signing secret, the token lifetimes, the hashing slots and the
//! per-address request rate; plus the fixed limits of the login throttle.

use crate::store::LoginLimits;
use std::fmt;
use std::time::Duration;
use warren_runtime::AuthSettings;

/// Failed logins of one username from one client address within [`FAILED_LOGIN_WINDOW`] after
/// which login for that name from that address answers `rate_limited` until the window ends.
/// Failures from other addresses do not count: a stranger cannot lock an owner out.
pub const MAX_FAILED_LOGINS: u32 = 5;

/// Failed logins from one client address, whatever the usernames, within [`FAILED_LOGIN_WINDOW`]
/// after which every login from that address answers `rate_limited` until the window ends: what
/// stops one address from trying a few passwords on each of many names.
pub const MAX_FAILED_LOGINS_PER_ADDRESS: u32 = 20;

/// How long failed logins count, from the first failure.
pub const FAILED_LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The login throttle's limits.
pub const LOGIN_LIMITS: LoginLimits = LoginLimits {
    per_name_and_address: MAX_FAILED_LOGINS,
    per_address: MAX_FAILED_LOGINS_PER_ADDRESS,
    window: FAILED_LOGIN_WINDOW,
};

/// The window of `--auth-rate-per-address`.
pub const RATE_WINDOW: Duration = Duration::from_secs(60);

/// The address a request without one (a service-to-service call) is counted under.
pub const UNKNOWN_CLIENT: &str = "unknown";

/// The design's default `--hash-concurrency`: the core count (1 when it cannot be known).
pub fn default_hash_concurrency() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// What the auth service needs to know.
#[derive(Clone)]
pub struct AuthConfig {
    /// Signs access tokens (HS256). Every gateway verifies with the same secret.
    pub jwt_secret: Vec<u8>,
    /// Lifetime of an access token; login and refresh report it in seconds as `expires_in`.
    pub access_token_ttl: Duration,
    /// Lifetime of a refresh token.
    pub refresh_token_ttl: Duration,
    /// Password hashes computed at once by this instance; each holds 19 MiB while it runs.
    pub hash_concurrency: usize,
    /// The longest wait for a hashing slot before the answer is `rate_limited`.
    pub hash_queue_timeout: Duration,
    /// Registrations, logins and refreshes per client address per minute, across instances.
    pub auth_rate_per_address: u32,
}

impl AuthConfig {
    /// A configuration with the design's defaults, as the settings table declares them.
    pub fn new(jwt_secret: impl Into<Vec<u8>>) -> Self {
        Self::from_settings(jwt_secret, &warren_runtime::defaults::<AuthSettings>())
    }

    /// The configuration the binaries' settings describe: the one way from flags to config, for
    /// `warren-auth` and the all-in-one `warren` alike.
    pub fn from_settings(jwt_secret: impl Into<Vec<u8>>, settings: &AuthSettings) -> Self {
        Self {
            jwt_secret: jwt_secret.into(),
            access_token_ttl: settings.jwt.access_token_ttl,
            refresh_token_ttl: settings.refresh_token_ttl,
            hash_concurrency: settings
                .hash_concurrency
                .unwrap_or_else(default_hash_concurrency),
            hash_queue_timeout: settings.hash_queue_timeout,
            auth_rate_per_address: settings.auth_rate_per_address,
        }
    }
}

/// Shows the settings, never the secret.
impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("jwt_secret", &"[redacted]")
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .field("hash_concurrency", &self.hash_concurrency)
            .field("hash_queue_timeout", &self.hash_queue_timeout)
            .field("auth_rate_per_address", &self.auth_rate_per_address)
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

    #[test]
    fn the_defaults_are_the_designs() {
        let config = AuthConfig::new(b"s".to_vec());
        assert!(config.hash_concurrency >= 1);
        assert_eq!(config.hash_queue_timeout, Duration::from_secs(2));
        assert_eq!(config.auth_rate_per_address, 60);
    }
}
