//! The set of byte strings that are a single o200k_base token.
//!
//! Most pre-tokenized pieces of real text (a word with its leading space, a number, a run
//! of punctuation) are one token. A hash probe answers that in a few nanoseconds, where
//! the byte-pair encoder needs tens; only the other pieces go through the encoder.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

use bpe_openai::Tokenizer;

/// Every token's bytes, borrowed from the static tokenizer (built once: ~200k entries).
static SINGLE_TOKENS: LazyLock<HashSet<&'static [u8], BuildHasherDefault<WordHasher>>> = LazyLock::new(|| {
    let bpe = &tokenizer().bpe;
    (0..bpe.num_tokens()).map(|id| bpe.token_bytes(id as u32)).collect()
});

pub(super) fn tokenizer() -> &'static Tokenizer {
    bpe_openai::o200k_base()
}

pub(super) fn warm_up() {
    LazyLock::force(&SINGLE_TOKENS);
}

/// Tokens in one pre-tokenized piece.
pub(super) fn piece_tokens(piece: &[u8]) -> usize {
    if SINGLE_TOKENS.contains(piece) { 1 } else { tokenizer().bpe.count(piece) }
}

/// A fast non-cryptographic hash of short byte strings, eight bytes at a time. The set is
/// fixed and its keys are public, so collision resistance is not needed here.
#[derive(Default)]
struct WordHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl WordHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(tail));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}
