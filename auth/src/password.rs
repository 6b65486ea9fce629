//! argon2id hashing and verifying in a memory area the caller provides, so that the memory of
//! every computation can be reused (see `hashing.rs`, which bounds how many run at once).
//!
//! New hashes use the argon2 crate's default parameters (m=19456 KiB, t=2, p=1) and are written as
//! standard PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`); a stored hash is verified
//! with the parameters it names.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// A hash of a password nobody knows, with the default parameters: a login for an unknown name
/// verifies against it, so it takes as long as one for a name that exists. The password it was
/// made from was a timestamp, thrown away.
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$kigjqaCx0HJKulVEkcpc/w$+o3q3TeK7KuAwMVa580C+lsAfaqrwnkC90oohWKdClQ";

/// Memory blocks (1 KiB each) that a hash with the default parameters fills: what one hashing
/// slot holds for good.
pub fn default_blocks() -> usize {
    Params::default().block_count()
}

/// Why hashing or verifying could not be done (a wrong password is not an error).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("argon2: {0}")]
    Argon2(#[from] argon2::Error),
    #[error("password hash: {0}")]
    Hash(#[from] argon2::password_hash::Error),
    #[error("PHC string: {0}")]
    Phc(#[from] argon2::password_hash::phc::Error),
    #[error("the stored hash has no salt or no output")]
    Incomplete,
    #[error("the OS random number generator failed: {0}")]
    Rng(String),
}

/// Fills `out` with the argon2 hash of `password`, growing `memory` if `params` need more blocks
/// than it has (a hash stored with heavier parameters than today's).
fn compute(
    argon2: &Argon2<'_>,
    params: &Params,
    password: &str,
    salt: &[u8],
    out: &mut [u8],
    memory: &mut Vec<Block>,
) -> Result<(), PasswordError> {
    let needed = params.block_count();
    if memory.len() < needed {
        memory.resize(needed, Block::default());
    }
    argon2.hash_password_into_with_memory(password.as_bytes(), salt, out, memory.as_mut_slice())?;
    Ok(())
}

/// The PHC string of `password` with a fresh random salt, computed in `memory`.
pub fn hash_in(password: &str, memory: &mut Vec<Block>) -> Result<String, PasswordError> {
    let params = Params::default();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let salt_bytes = argon2::password_hash::try_generate_salt()
        .map_err(|e| PasswordError::Rng(e.to_string()))?;
    let salt = Salt::new(&salt_bytes)?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    compute(&argon2, &params, password, &salt_bytes, &mut out, memory)?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(salt),
        hash: Some(Output::new(&out)?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `phc`, computed in `memory` with the parameters and
/// salt `phc` names. The comparison takes the same time wherever the outputs differ.
pub fn verify_in(
    password: &str,
    phc: &str,
    memory: &mut Vec<Block>,
) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(phc)?;
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str())?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()?
        .unwrap_or_default();
    let params = Params::try_from(&parsed)?;
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Err(PasswordError::Incomplete);
    };
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    compute(&argon2, &params, password, salt.as_ref(), &mut out, memory)?;
    // Output's equality is constant-time.
    Ok(Output::new(&out)? == *expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let mut memory = Vec::new();
        let hash = hash_in("correct horse", &mut memory).unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_in("correct horse", &hash, &mut memory).unwrap());
        assert!(!verify_in("correct horsf", &hash, &mut memory).unwrap());
        assert_eq!(memory.len(), default_blocks(), "one area, reused");
    }

    #[test]
    fn hashes_are_standard_phc_strings() {
        use argon2::PasswordVerifier;
        let hash = hash_in("samesame", &mut Vec::new()).unwrap();
        Argon2::default()
            .verify_password(b"samesame", hash.as_str())
            .expect("the argon2 crate's own verifier accepts it");
        assert_ne!(
            hash,
            hash_in("samesame", &mut Vec::new()).unwrap(),
            "salted"
        );
    }

    #[test]
    fn hashes_made_by_the_argon2_crate_verify() {
        use argon2::PasswordHasher;
        let other = Params::new(8192, 1, 1, None).unwrap();
        let hash = Argon2::new(Algorithm::Argon2id, Version::V0x13, other)
            .hash_password(b"legacy password")
            .unwrap()
            .to_string();
        let mut memory = Vec::new();
        assert!(verify_in("legacy password", &hash, &mut memory).unwrap());
        assert!(!verify_in("legacy passwore", &hash, &mut memory).unwrap());
    }

    #[test]
    fn a_malformed_hash_is_an_error_not_a_mismatch() {
        assert!(verify_in("whatever", "not a phc string", &mut Vec::new()).is_err());
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
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
        let mut memory = Vec::new();
        assert!(!verify_in("any password", DUMMY_HASH, &mut memory).unwrap());
    }
}
