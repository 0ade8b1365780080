//! Password hashing with Argon2id (default parameters: 19 MiB, 2 passes). Hashing is
//! deliberately slow, so callers run it on the blocking pool, never on the runtime.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use std::sync::atomic::{AtomicU64, Ordering};

pub const MIN_LEN: usize = 8;
/// Argon2 is fed the whole password; a cap keeps one request from costing much more.
pub const MAX_LEN: usize = 1024;

/// The hash an unknown account's password is checked against: a well-formed Argon2id
/// hash with the default parameters (those of [`hash`]; a unit test holds them equal)
/// whose salt and output are random bytes, so no known password matches it. Checking a
/// password against it runs the full Argon2 computation, like a real account's check. A
/// constant, so the first unknown email does not also pay for hashing a dummy password.
pub const DUMMY_PHC: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$eTUyNWZ0N2FqbGhxMmNmbA$ZXZ+EdXJzzHyzmXYjcXQEVG+5NwwvbUcPkoJ8vkTeAI";

/// Argon2 verifications since start: lets a test check that every log-in path does the
/// same work (see `tests/login_timing.rs`).
static VERIFICATIONS: AtomicU64 = AtomicU64::new(0);

/// PHC string (`$argon2id$v=19$…`) for `password`.
pub fn hash(password: &str) -> Result<String, String> {
    Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| e.to_string())
}

/// Whether `password` matches `phc`. A malformed stored hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    VERIFICATIONS.fetch_add(1, Ordering::Relaxed);
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Checks `password` against [`DUMMY_PHC`] through [`verify`], the very call a real
/// account's check makes: used when the account does not exist (or has no password), so
/// response time does not reveal which emails are registered.
pub fn dummy_verify(password: &str) {
    let _ = verify(password, DUMMY_PHC);
}

/// How many Argon2 verifications this process has run.
pub fn verifications() -> u64 {
    VERIFICATIONS.load(Ordering::Relaxed)
}

/// The Argon2 parameters (`m=…,t=…,p=…`) and algorithm of a PHC string, to compare the
/// cost of two hashes.
pub fn cost_of(phc: &str) -> Option<String> {
    let parsed = PasswordHash::new(phc).ok()?;
    Some(format!("{} v={} {}", parsed.algorithm, parsed.version.unwrap_or_default(), parsed.params))
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashes_with_argon2id_and_verifies() {
        let h = super::hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("correct horse", &h));
        assert!(!super::verify("wrong horse", &h));
        assert!(!super::verify("x", "not a hash"));
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_costs() {
        let real = super::hash("correct horse").unwrap();
        assert_eq!(super::cost_of(super::DUMMY_PHC), super::cost_of(&real));
        assert!(super::cost_of(&real).unwrap().contains("m=19456,t=2,p=1"), "{real}");
        assert!(!super::verify("mintoken-dummy-password", super::DUMMY_PHC));
    }
}
