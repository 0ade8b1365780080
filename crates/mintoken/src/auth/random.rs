//! Secure random strings from the operating system's CSPRNG (via ring).

use ring::rand::{SecureRandom, SystemRandom};

pub(crate) const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` characters drawn uniformly from [0-9A-Za-z] (5.95 bits each), by rejection
/// sampling so no character is more likely than another.
pub fn alphanumeric(len: usize) -> String {
    let rng = SystemRandom::new();
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        if rng.fill(&mut buf).is_err() {
            // The OS CSPRNG failing is not recoverable and must never yield a weak key.
            panic!("operating system random number generator failed");
        }
        for &b in &buf {
            // 248 = 4 * 62: bytes at or above it would bias the distribution.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    out
}

/// A uniform 64-bit draw for what needs no secrecy (request ids, holdout draws): a
/// randomly keyed per-thread hasher applied to a counter, so no system call per draw.
/// Never use it for keys, tokens or anything an attacker must not predict.
pub fn fast_u64() -> u64 {
    use std::hash::BuildHasher;
    thread_local! {
        static DRAWS: (std::hash::RandomState, std::cell::Cell<u64>) = Default::default();
    }
    DRAWS.with(|(keys, counter)| {
        counter.set(counter.get().wrapping_add(1));
        keys.hash_one(counter.get())
    })
}

/// `n` random bytes.
pub fn bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    if SystemRandom::new().fill(&mut v).is_err() {
        panic!("operating system random number generator failed");
    }
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn draws_from_the_alphabet() {
        let s = super::alphanumeric(200);
        assert_eq!(s.len(), 200);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(super::alphanumeric(32), super::alphanumeric(32));
    }
}
