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
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = ring::digest::digest(&ring::digest::SHA256, value.as_bytes());
    // By hand: this runs on every proxied request, and `format!` per byte cost ten
    // times the hash itself.
    let mut hex = String::with_capacity(64);
    for &b in digest.as_ref() {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    hex
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_hex_is_the_lowercase_hex_digest() {
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(super::sha256_hex("abc"), abc);
    }
}
