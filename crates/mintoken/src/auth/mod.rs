//! Authentication: passwords, access tokens (JWT), refresh tokens, mintoken API keys and
//! the in-memory key cache the proxy authenticates from.

pub mod api_key;
pub mod jwt;
pub mod key_cache;
pub mod login_limiter;
pub mod password;
pub mod random;

/// SHA-256 as lowercase hex: how raw API keys and refresh tokens are stored. Both carry
/// ≥ 190 bits of randomness, so a fast hash is enough (no dictionary to attack).
pub fn sha256_hex(value: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, value.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
