//! The mintoken API key format: `mt_live_` followed by 40 characters of [0-9A-Za-z]
//! (238 bits of randomness). Only `sha256_hex(key)` is stored; `key_prefix` (the first
//! 12 characters) lets a user recognise a key without revealing it.

use super::random::alphanumeric;
use crate::secret::Secret;

pub const PREFIX: &str = "mt_live_";
const RANDOM_CHARS: usize = 40;
const DISPLAY_PREFIX_LEN: usize = 12;

/// A freshly generated key; the raw value is shown to its owner exactly once.
pub struct GeneratedKey {
    pub raw: Secret<String>,
    pub hash: String,
    pub prefix: String,
}

pub fn generate() -> GeneratedKey {
    let raw = format!("{PREFIX}{}", alphanumeric(RANDOM_CHARS));
    GeneratedKey { hash: super::sha256_hex(&raw), prefix: raw[..DISPLAY_PREFIX_LEN].to_owned(), raw: Secret::new(raw) }
}

/// Whether a presented value has the shape of a mintoken key. Anything else is refused
/// as `Invalid API key` without a lookup.
pub fn well_formed(candidate: &str) -> bool {
    candidate
        .strip_prefix(PREFIX)
        .is_some_and(|rest| rest.len() == RANDOM_CHARS && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let k = generate();
        let raw = k.raw.expose();
        assert!(raw.starts_with("mt_live_") && raw.len() == 48);
        assert!(well_formed(raw));
        assert_eq!(k.prefix, &raw[..12]);
        assert_eq!(k.hash, crate::auth::sha256_hex(raw));
        assert_ne!(k.hash, *raw);
    }

    #[test]
    fn malformed_keys_are_recognised() {
        assert!(!well_formed("sk-proj-abc"));
        assert!(!well_formed("mt_live_short"));
        assert!(!well_formed(&format!("mt_live_{}!", "a".repeat(39))));
    }
}
