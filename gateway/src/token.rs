//! Access tokens at the edge: where a request carries one, and whether it is valid.
//!
//! Every gateway verifies tokens itself with the shared secret: no call to auth per request.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::time::Duration;
use warren_contracts::auth::{Claims, TOKEN_AUDIENCE, TOKEN_ISSUER};

/// Seconds of clock difference between instances tolerated on `exp`.
const LEEWAY_SECONDS: u64 = 5;

/// Who a valid token speaks for, and from which login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub user_id: String,
    /// The login the token was issued from (`sid`).
    pub sid: String,
}

#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
    /// The longest a token may live (`--access-token-ttl`): one that claims more was not issued
    /// by auth, whatever its signature says.
    lifetime: u64,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier")
    }
}

impl Verifier {
    /// Verifies tokens signed with `secret` that live at most `lifetime`.
    pub fn new(secret: &[u8], lifetime: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.set_issuer(&[TOKEN_ISSUER]);
        validation.set_audience(&[TOKEN_AUDIENCE]);
        Self {
            key: DecodingKey::from_secret(secret),
            validation,
            lifetime: lifetime.as_secs(),
        }
    }

    /// The user and login of a valid token; why not otherwise (said to the client in general
    /// terms). Whether the login has ended is not this check's: see `AppState::authenticate`.
    pub fn verify(&self, token: &str) -> Result<Verified, &'static str> {
        let now = warren_contracts::event::now_millis() / 1000;
        match jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation) {
            Ok(data)
                if data.claims.iat > now.saturating_add(LEEWAY_SECONDS)
                    || data.claims.exp.saturating_sub(data.claims.iat) > self.lifetime =>
            {
                Err("the access token is not valid")
            }
            Ok(data) if !data.claims.sub.is_empty() && !data.claims.sid.is_empty() => {
                Ok(Verified {
                    user_id: data.claims.sub,
                    sid: data.claims.sid,
                })
            }
            Ok(_) => Err("the access token names no user or login"),
            Err(error) => match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    Err("the access token has expired")
                }
                _ => Err("the access token is not valid"),
            },
        }
    }
}

/// The bearer token of `Authorization: Bearer …`, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const LIFETIME: Duration = Duration::from_secs(900);

    fn token(secret: &[u8], sub: &str, exp_offset: i64) -> String {
        let now = warren_contracts::event::now_millis() / 1000;
        sign(
            secret,
            &Claims::new(sub, "login-1", now, now.saturating_add_signed(exp_offset)),
        )
    }

    fn sign(secret: &[u8], claims: &Claims) -> String {
        jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    #[test]
    fn a_valid_token_names_its_user() {
        let verifier = Verifier::new(b"secret", LIFETIME);
        assert_eq!(
            verifier.verify(&token(b"secret", "u1", 60)),
            Ok(Verified {
                user_id: "u1".into(),
                sid: "login-1".into()
            })
        );
    }

    #[test]
    fn forged_expired_and_garbage_tokens_are_refused() {
        let verifier = Verifier::new(b"secret", LIFETIME);
        assert!(verifier.verify(&token(b"other", "u1", 60)).is_err());
        assert_eq!(
            verifier.verify(&token(b"secret", "u1", -3600)),
            Err("the access token has expired")
        );
        assert!(verifier.verify("not.a.token").is_err());
        assert!(verifier.verify(&token(b"secret", "", 60)).is_err());
    }

    #[test]
    fn a_token_from_elsewhere_or_living_too_long_is_refused() {
        let verifier = Verifier::new(b"secret", LIFETIME);
        let now = warren_contracts::event::now_millis() / 1000;
        let mut foreign = Claims::new("u1", "login-1", now, now + 60);
        foreign.iss = "someone-else".into();
        assert!(verifier.verify(&sign(b"secret", &foreign)).is_err());
        let mut elsewhere = Claims::new("u1", "login-1", now, now + 60);
        elsewhere.aud = "another-service".into();
        assert!(verifier.verify(&sign(b"secret", &elsewhere)).is_err());
        // The hole this closes: exp = 2^62, iat now.
        let forever = Claims::new("u1", "login-1", now, 1 << 62);
        assert!(verifier.verify(&sign(b"secret", &forever)).is_err());
        let from_the_future = Claims::new("u1", "login-1", now + 3600, now + 3600 + 60);
        assert!(verifier.verify(&sign(b"secret", &from_the_future)).is_err());
        let longest = Claims::new("u1", "login-1", now, now + LIFETIME.as_secs());
        assert!(verifier.verify(&sign(b"secret", &longest)).is_ok());
        let mut without_login = Claims::new("u1", "", now, now + 60);
        without_login.sid.clear();
        assert!(verifier.verify(&sign(b"secret", &without_login)).is_err());
        // Claims without iss, aud or sid (tokens made before they were set) are refused too.
        let bare = json!({"sub": "u1", "iat": now, "exp": now + 60});
        let bare = jsonwebtoken::encode(
            &Header::default(),
            &bare,
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap();
        assert!(verifier.verify(&bare).is_err());
    }

    #[test]
    fn bearer_tokens_are_read_from_the_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }
}
