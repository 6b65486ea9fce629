//! Access tokens (HS256 JWTs whose subject is the user id and whose `sid` is the login they were
//! issued from) and refresh tokens (32 random bytes from
//! the OS, as 64 lowercase hex characters; only their SHA-256 digest is ever stored).

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::TryRng;
use rand::rngs::SysRng;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use warren_contracts::auth::Claims;

/// Random bytes in a refresh token.
pub const REFRESH_TOKEN_BYTES: usize = 32;

/// Why a token could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the OS random number generator failed: {0}")]
    Rng(rand::rngs::SysError),
    #[error("could not sign an access token: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
    #[error("the system clock is before 1970")]
    Clock,
}

/// Signs access tokens with the shared secret.
pub struct AccessTokens {
    key: EncodingKey,
    ttl: Duration,
}

impl AccessTokens {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        Self {
            key: EncodingKey::from_secret(secret),
            ttl,
        }
    }

    /// The lifetime in whole seconds, rounded up: what login and refresh report as `expires_in`.
    pub fn expires_in(&self) -> u64 {
        u64::try_from(self.ttl.as_millis().div_ceil(1000)).unwrap_or(u64::MAX)
    }

    /// A token for `user_id` from the login `sid`, valid from now for the configured lifetime.
    pub fn issue(&self, user_id: &str, sid: &str) -> Result<String, TokenError> {
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| TokenError::Clock)?
            .as_secs();
        let claims = Claims::new(user_id, sid, iat, iat.saturating_add(self.expires_in()));
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.key,
        )?)
    }
}

/// A new refresh token: the text the client keeps, and the digest the store keeps.
pub struct RefreshToken {
    pub token: String,
    pub digest: String,
}

impl RefreshToken {
    pub fn generate() -> Result<Self, TokenError> {
        let mut bytes = [0u8; REFRESH_TOKEN_BYTES];
        SysRng.try_fill_bytes(&mut bytes).map_err(TokenError::Rng)?;
        let token = hex(&bytes);
        let digest = digest(&token);
        Ok(Self { token, digest })
    }
}

/// The SHA-256 digest of a refresh token, in lowercase hex: its name in the store.
pub fn digest(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Whether `token` has the shape of a refresh token this service issues. Anything else cannot be
/// one, and is refused without a look in the store.
pub fn is_well_formed(token: &str) -> bool {
    token.len() == REFRESH_TOKEN_BYTES * 2
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(text, "{byte:02x}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn refresh_tokens_are_random_url_safe_and_stored_by_digest() {
        let a = RefreshToken::generate().unwrap();
        let b = RefreshToken::generate().unwrap();
        assert_ne!(a.token, b.token);
        assert!(is_well_formed(&a.token), "{}", a.token);
        assert_eq!(a.digest, digest(&a.token));
        assert_ne!(a.digest, a.token);
        assert_eq!(a.digest.len(), 64);
    }

    #[test]
    fn the_digest_is_sha256_in_hex() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn only_the_issued_shape_is_well_formed() {
        assert!(!is_well_formed(""));
        assert!(!is_well_formed(&"A".repeat(64)), "upper case");
        assert!(!is_well_formed(&"a".repeat(63)));
        assert!(!is_well_formed(&"g".repeat(64)));
    }

    #[test]
    fn access_tokens_carry_the_user_and_lifetime() {
        let tokens = AccessTokens::new(b"secret", Duration::from_secs(900));
        let jwt = tokens.issue("user-1", "login-1").unwrap();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[warren_contracts::auth::TOKEN_ISSUER]);
        validation.set_audience(&[warren_contracts::auth::TOKEN_AUDIENCE]);
        let data =
            jsonwebtoken::decode::<Claims>(&jwt, &DecodingKey::from_secret(b"secret"), &validation)
                .unwrap();
        assert_eq!(data.claims.sub, "user-1");
        assert_eq!(data.claims.sid, "login-1");
        assert_eq!(data.claims.iss, "warren-auth");
        assert_eq!(data.claims.aud, "warren");
        assert_eq!(data.claims.exp - data.claims.iat, 900);
        assert_eq!(tokens.expires_in(), 900);
        let wrong =
            jsonwebtoken::decode::<Claims>(&jwt, &DecodingKey::from_secret(b"other"), &validation);
        assert!(wrong.is_err());
    }

    #[test]
    fn a_sub_second_lifetime_rounds_up() {
        assert_eq!(
            AccessTokens::new(b"s", Duration::from_millis(1500)).expires_in(),
            2
        );
    }
}
