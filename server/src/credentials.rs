//! Passwords (argon2id) and bearer tokens (256 random bits, stored only as
//! their SHA-256).

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};
use crate::store::TokenHash;

/// argon2id with its default cost; under the fuzzer (cargo-fuzz sets
/// `cfg(fuzzing)`) the cheapest, so inputs that register are not 99% hashing.
fn argon2() -> Argon2<'static> {
    #[cfg(fuzzing)]
    if let Ok(params) = argon2::Params::new(8, 1, 1, None) {
        return Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    }
    Argon2::default()
}

pub fn hash_password(password: &str) -> ApiResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| {
            tracing::error!(error = %err, "argon2 hashing failed");
            ApiError::internal()
        })
}

/// Whether `password` matches the stored hash; `None` (no such account)
/// still costs one verification, so timing does not tell which handles exist.
pub fn verify_password(hash: Option<&str>, password: &str) -> bool {
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0gVY5W4BgNd8iFf1C6L0uQp0vGJ1T4sN0k3sbnB4Ucs";
    let Ok(parsed) = PasswordHash::new(hash.unwrap_or(DUMMY)) else {
        return false;
    };
    let matches = argon2()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    matches && hash.is_some()
}

/// A new bearer token: what the client keeps, and what the store keeps.
pub fn new_token() -> ApiResult<(String, TokenHash)> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|err| {
        tracing::error!(error = %err, "no randomness for a token");
        ApiError::internal()
    })?;
    let token = hex(&bytes);
    let hash = token_hash(&token);
    Ok((token, hash))
}

pub fn token_hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// A code people can read out: 12 characters of an unambiguous alphabet.
pub fn new_invite_code() -> ApiResult<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 12];
    getrandom::getrandom(&mut bytes).map_err(|_| ApiError::internal())?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(Some(&hash), "correct horse"));
        assert!(!verify_password(Some(&hash), "wrong horse"));
        assert!(!verify_password(None, "correct horse"));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = new_token().unwrap();
        let (b, _) = new_token().unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a), ha);
        assert_eq!(new_invite_code().unwrap().len(), 12);
    }
}
