//! Password hashing with argon2id (the crate's default parameters), off the async threads.
//!
//! Hashing costs tens of milliseconds of CPU by design, so every hash and verify runs in
//! `tokio::task::spawn_blocking` and never stalls the request handlers sharing a worker thread.

use argon2::password_hash::Error as Argon2Error;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};

/// A hash of a password nobody knows, with the default parameters: a login for an unknown name
/// verifies against it, so it takes as long as one for a name that exists. The password it was
/// made from was a timestamp, thrown away.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$kigjqaCx0HJKulVEkcpc/w$+o3q3TeK7KuAwMVa580C+lsAfaqrwnkC90oohWKdClQ";

/// Why hashing or verifying could not be done (a wrong password is not an error).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("argon2: {0}")]
    Argon2(#[from] Argon2Error),
    #[error("the hashing task did not finish: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The PHC string (`$argon2id$v=19$...`) of `password` with a fresh random salt.
pub async fn hash(password: &str) -> Result<String, PasswordError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let hash = Argon2::default().hash_password(password.as_bytes())?;
        Ok(hash.to_string())
    })
    .await?
}

/// Whether `password` matches the stored PHC string `hash`.
pub async fn verify(password: &str, hash: &str) -> Result<bool, PasswordError> {
    let password = password.to_owned();
    let hash = hash.to_owned();
    tokio::task::spawn_blocking(move || {
        match Argon2::default().verify_password(password.as_bytes(), hash.as_str()) {
            Ok(()) => Ok(true),
            Err(Argon2Error::PasswordInvalid) => Ok(false),
            Err(error) => Err(error.into()),
        }
    })
    .await?
}

/// Spends the time a real verification takes, for a name that has no credentials.
pub async fn verify_dummy(password: &str) -> Result<(), PasswordError> {
    verify(password, DUMMY_HASH).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::{Params, PasswordHash};

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hash = hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        assert!(verify("correct horse", &hash).await.unwrap());
        assert!(!verify("correct horsf", &hash).await.unwrap());
    }

    #[tokio::test]
    async fn the_same_password_gets_different_salts() {
        assert_ne!(
            hash("samesame").await.unwrap(),
            hash("samesame").await.unwrap()
        );
    }

    #[tokio::test]
    async fn a_malformed_hash_is_an_error_not_a_mismatch() {
        assert!(verify("whatever", "not a phc string").await.is_err());
    }

    #[tokio::test]
    async fn the_dummy_hash_costs_what_a_real_one_does() {
        let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        let params = Params::try_from(&parsed).unwrap();
        let default = Params::default();
        assert_eq!(params.m_cost(), default.m_cost());
        assert_eq!(params.t_cost(), default.t_cost());
        assert_eq!(params.p_cost(), default.p_cost());
        assert_eq!(
            parsed.hash.map(|h| h.len()),
            Some(Params::DEFAULT_OUTPUT_LEN)
        );
        verify_dummy("any password").await.unwrap();
    }
}
