//! Access tokens at the edge: where a request carries one, and whether it is valid.
//!
//! Every gateway verifies tokens itself with the shared secret: no call to auth per request.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use warren_contracts::auth::Claims;

/// Seconds of clock difference between instances tolerated on `exp`.
const LEEWAY_SECONDS: u64 = 5;

#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier")
    }
}

impl Verifier {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            key: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// The user id of a valid token; why not otherwise (said to the client in general terms).
    pub fn verify(&self, token: &str) -> Result<String, &'static str> {
        match jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation) {
            Ok(data) if !data.claims.sub.is_empty() => Ok(data.claims.sub),
            Ok(_) => Err("the access token names no user"),
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

    fn token(secret: &[u8], sub: &str, exp_offset: i64) -> String {
        let now = warren_contracts::event::now_millis() / 1000;
        let claims = Claims {
            sub: sub.into(),
            iat: now,
            exp: now.saturating_add_signed(exp_offset),
        };
        jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    #[test]
    fn a_valid_token_names_its_user() {
        let verifier = Verifier::new(b"secret");
        assert_eq!(
            verifier.verify(&token(b"secret", "u1", 60)),
            Ok("u1".into())
        );
    }

    #[test]
    fn forged_expired_and_garbage_tokens_are_refused() {
        let verifier = Verifier::new(b"secret");
        assert!(verifier.verify(&token(b"other", "u1", 60)).is_err());
        assert_eq!(
            verifier.verify(&token(b"secret", "u1", -3600)),
            Err("the access token has expired")
        );
        assert!(verifier.verify("not.a.token").is_err());
        assert!(verifier.verify(&token(b"secret", "", 60)).is_err());
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
