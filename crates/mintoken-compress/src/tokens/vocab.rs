//! The o200k_base vocabulary: the lookup bytes → rank.
//!
//! The vocabulary ships inside the binary as a compact file (`data/o200k_base.bin`, see
//! `data/README.md`): each token's bytes with a one-byte length prefix, in rank order, and a
//! token's rank is its id. At first use (a few milliseconds) it is indexed without copying
//! the bytes: an open-addressing hash table whose slots point into the embedded data
//! (~2.3 MB) and a table of the two-byte tokens (256 KB). Those and the embedded file's
//! pages (~1.6 MB) are all the memory the vocabulary takes; the reference tokenizer
//! (bpe-openai) built ~65 MB of automata and tables for the same vocabulary.

use std::sync::LazyLock;

/// The embedded vocabulary file (written by `examples/write_vocab.rs`).
static FILE: &[u8] = include_bytes!("../../data/o200k_base.bin");

const MAGIC: &[u8; 8] = b"o200kbpe";
/// Magic, token count (u32), checksum of the body (u64).
const HEADER_LEN: usize = 20;

/// Slots per 10 tokens: a load of 0.7 keeps linear probes short (about 2 for a token,
/// 6 for a miss; the slots are 8 bytes, so that is one or two cache lines).
const SLOTS_PER_10_TOKENS: usize = 14;

/// A slot of the hash table is a `u64`: 0 when empty, else the token's start in the file
/// (low 32 bits, never 0: the header comes first), its rank (18 bits), its length (8 bits)
/// and 6 bits of its hash. Length and hash bits reject nearly every wrong slot before the
/// token's bytes are read, and a hit reads them straight from the slot's offset: one cache
/// miss for the slot, one for the bytes.
const RANK_SHIFT: u32 = 32;
const RANK_BITS: u32 = 18;
const CHECK_SHIFT: u32 = RANK_SHIFT + RANK_BITS;

/// "Not a token" in [`Vocab::pairs`].
const NO_RANK: u32 = u32::MAX;

pub(super) struct Vocab {
    slots: Box<[u64]>,
    /// Ranks of the two-byte tokens, indexed by the two bytes ([`NO_RANK`] for a pair that
    /// is not a token): merging starts from single bytes, so most lookups are pairs, and
    /// this 256 KB table answers them from the CPU cache instead of the hash table.
    pairs: Box<[u32]>,
    /// Longest token: longer byte strings are not looked up at all.
    max_len: usize,
}

static VOCAB: LazyLock<Vocab> = LazyLock::new(|| Vocab::parse(FILE));

/// The vocabulary, indexed on first use (a few milliseconds).
pub(super) fn get() -> &'static Vocab {
    &VOCAB
}

/// The tokens of a vocabulary file in rank order, each with its offset in the file. The
/// file is compiled in, so a malformed one is a build mistake: this panics (the
/// `vocabulary_file_*` tests catch it first).
fn tokens(file: &'static [u8]) -> impl Iterator<Item = (usize, &'static [u8])> {
    assert!(file.len() >= HEADER_LEN && &file[..8] == MAGIC, "data/o200k_base.bin: bad header");
    let mut at = HEADER_LEN;
    std::iter::from_fn(move || {
        let len = usize::from(*file.get(at)?);
        let start = at + 1;
        at = start + len;
        Some((start, file.get(start..at).expect("data/o200k_base.bin: truncated")))
    })
}

/// The token count in the file's header.
fn declared_count(file: &[u8]) -> usize {
    u32::from_le_bytes([file[8], file[9], file[10], file[11]]) as usize
}

impl Vocab {
    fn parse(file: &'static [u8]) -> Vocab {
        let count = declared_count(file);
        assert!(count < 1 << RANK_BITS && file.len() <= u32::MAX as usize, "data/o200k_base.bin: too large");
        let mut vocab = Vocab {
            slots: vec![0; count * SLOTS_PER_10_TOKENS / 10 + 1].into_boxed_slice(),
            pairs: vec![NO_RANK; 1 << 16].into_boxed_slice(),
            max_len: 0,
        };
        let mut ranks = 0;
        for (rank, (start, bytes)) in tokens(file).enumerate() {
            let hash = hash(bytes);
            let mut slot = vocab.home(hash);
            while vocab.slots[slot] != 0 {
                slot = vocab.next_slot(slot);
            }
            vocab.slots[slot] = start as u64 | (rank as u64) << RANK_SHIFT | check(hash, bytes.len()) << CHECK_SHIFT;
            vocab.max_len = vocab.max_len.max(bytes.len());
            if let &[first, second] = bytes {
                vocab.pairs[usize::from(first) << 8 | usize::from(second)] = rank as u32;
            }
            ranks += 1;
        }
        assert_eq!(ranks, count, "data/o200k_base.bin: wrong token count");
        vocab
    }

    /// The rank (= id) of the token whose bytes are `bytes`, if there is one.
    #[inline]
    pub(super) fn rank(&self, bytes: &[u8]) -> Option<u32> {
        if let &[first, second] = bytes {
            let rank = self.pairs[usize::from(first) << 8 | usize::from(second)];
            return (rank != NO_RANK).then_some(rank);
        }
        if bytes.len() > self.max_len || bytes.is_empty() {
            return None;
        }
        let hash = hash(bytes);
        let check = check(hash, bytes.len());
        let mut slot = self.home(hash);
        loop {
            let entry = self.slots[slot];
            if entry == 0 {
                return None;
            }
            if entry >> CHECK_SHIFT == check {
                let start = entry as u32 as usize;
                if FILE.get(start..start + bytes.len()) == Some(bytes) {
                    return Some((entry >> RANK_SHIFT) as u32 & ((1 << RANK_BITS) - 1));
                }
            }
            slot = self.next_slot(slot);
        }
    }

    /// The first slot to probe: the hash's high half scaled to the table size.
    fn home(&self, hash: u64) -> usize {
        (((hash >> 32) * self.slots.len() as u64) >> 32) as usize
    }

    fn next_slot(&self, slot: usize) -> usize {
        if slot + 1 == self.slots.len() { 0 } else { slot + 1 }
    }
}

/// The top bits of a slot: the token's length (1 to 255) and 6 low bits of its hash.
fn check(hash: u64, len: usize) -> u64 {
    (hash & 0x3f) << 8 | len as u64
}

/// A fast non-cryptographic hash of a short byte string, eight bytes at a time. The keys
/// are the public, fixed vocabulary, so collision resistance is not needed; what matters is
/// that the high half (table position) and the low bits (tag) are both well mixed.
fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut hash = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        hash = (hash.rotate_left(5) ^ word).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut tail = [0u8; 8];
        tail[..rest.len()].copy_from_slice(rest);
        hash = (hash.rotate_left(5) ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    }
    // Final avalanche: the multiply only mixes upwards, the tag needs the low bits mixed.
    hash ^= hash >> 32;
    hash = hash.wrapping_mul(K);
    hash ^ hash >> 29
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FNV-1a 64, as `examples/write_vocab.rs` computes the header's checksum.
    fn fnv1a(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    }

    #[test]
    fn vocabulary_file_is_intact() {
        let checksum = u64::from_le_bytes(FILE[12..20].try_into().unwrap());
        assert_eq!(fnv1a(&FILE[HEADER_LEN..]), checksum, "data/o200k_base.bin is corrupted");
    }

    #[test]
    fn vocabulary_file_has_all_o200k_base_tokens_and_ranks_round_trip() {
        let vocab = get();
        // o200k_base has ranks 0..=199_997 and no gaps (its special tokens are not text).
        assert_eq!(declared_count(FILE), 199_998);
        let tokens: Vec<&[u8]> = tokens(FILE).map(|(_, bytes)| bytes).collect();
        assert_eq!(tokens.len(), 199_998);
        // Every byte alone is a token (BPE starts from single bytes).
        for byte in 0..=255u8 {
            assert!(vocab.rank(&[byte]).is_some(), "byte {byte}");
        }
        // Same bytes under the same ids as the reference (ids are tiktoken's ranks), and
        // each token's bytes look up their own rank.
        let reference = &bpe_openai::o200k_base().bpe;
        assert_eq!(reference.num_tokens(), tokens.len());
        for (id, bytes) in (0..).zip(tokens) {
            assert_eq!(bytes, reference.token_bytes(id), "token {id}");
            assert_eq!(vocab.rank(bytes), Some(id), "token {id}");
        }
        assert_eq!(vocab.rank(b"hello"), Some(24912));
        assert_eq!(vocab.rank(b""), None);
        assert_eq!(vocab.rank(b"not one token at all"), None);
    }
}
