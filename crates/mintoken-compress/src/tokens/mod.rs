//! Token counting with OpenAI's o200k_base BPE, used for every provider so figures are
//! comparable. The vocabulary is embedded in the binary (nothing is downloaded) and indexed
//! at first use in a few milliseconds; servers still call [`warm_up`] once at start.
//!
//! Counting gives exactly the figure of tiktoken (and of `bpe_openai::o200k_base().count`,
//! which the tests compare against) at a few megabytes of memory:
//!
//! - text is split into pieces as o200k_base's expression does: ASCII by a hand-written
//!   scanner ([`pieces`]), the rare piece whose extent depends on a non-ASCII character by
//!   the expression itself ([`split`]);
//! - repeated pieces are answered from a per-thread memo ([`memo`]);
//! - a piece that is one token is found in the vocabulary's hash table ([`vocab`]), any
//!   other is byte-pair merged by rank exactly as tiktoken does ([`merge`]).
//!
//! The proxy also sees the same agent session again on every turn (the history only grows),
//! so counts of longer texts are remembered in a process-wide, bounded cache
//! ([`count_cached`]) keyed by a keyed 64-bit hash of the text's bytes plus its length. A
//! cached count is the count [`count`] returns: the cache never changes a figure, it only
//! skips recomputing it.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::{LazyLock, Mutex, PoisonError};

mod memo;
mod merge;
mod pieces;
mod split;
mod vocab;

/// Indexes the vocabulary and compiles the non-ASCII splitter now instead of on the first
/// request.
pub fn warm_up() {
    vocab::get();
    split::warm_up();
    let _ = count("warm up");
}

/// Number of o200k_base tokens in `text`.
///
/// The same figure as `bpe_openai::o200k_base().count(text)` (o200k_base does no Unicode
/// normalization), computed piece by piece without materialising the tokens.
pub fn count(text: &str) -> usize {
    let bytes = text.as_bytes();
    let vocab = vocab::get();
    memo::with(|memo| {
        let mut tokens = 0;
        let mut start = 0;
        while start < bytes.len() {
            let end = match pieces::piece_end(bytes, start) {
                Some(end) => end,
                // A piece whose extent depends on a non-ASCII character: the full
                // expression decides it. `start` is a piece boundary, so a character boundary.
                None => start + split::first_piece_len(&text[start..]),
            };
            tokens += memo.tokens(&bytes[start..end], |piece| merge::piece_tokens(vocab, piece));
            start = end;
        }
        tokens
    })
}

/// Texts shorter than this are counted directly: hashing and a cache probe would cost
/// about as much as counting them.
pub const CACHE_FROM_BYTES: usize = 256;

/// Number of o200k_base tokens in `text`, the same figure as [`count`], remembered for
/// texts of [`CACHE_FROM_BYTES`] or more.
pub fn count_cached(text: &str) -> usize {
    if text.len() < CACHE_FROM_BYTES {
        return count(text);
    }
    count_hashed(text, text_hash(text))
}

/// Empties the token-count cache (benchmarks use it to measure a cold start).
pub fn clear_cache() {
    for shard in &CACHE.shards {
        shard.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

/// The cache key of `text`: SipHash-1-3 with a per-process random key, so nobody can craft
/// colliding texts (the key is unknown outside the process). Also used by the context scan
/// to group duplicate tool results, so a piece is hashed once.
pub(crate) fn text_hash(text: &str) -> u64 {
    CACHE.keys.hash_one(text.as_bytes())
}

/// [`count_cached`] for a text whose [`text_hash`] is already known. Texts shorter than
/// [`CACHE_FROM_BYTES`] are counted directly.
pub(crate) fn count_hashed(text: &str, hash: u64) -> usize {
    if text.len() < CACHE_FROM_BYTES {
        return count(text);
    }
    if let Some(tokens) = CACHE.get(hash, text.len()) {
        return tokens;
    }
    let tokens = count(text);
    CACHE.insert(hash, text.len(), tokens);
    tokens
}

/// Shards of the cache; a text's shard is picked by bits of its hash, so concurrent
/// requests rarely wait for the same lock (each lock is held for one map probe).
const SHARDS: usize = 16;
/// Entries per shard. When a shard is full it is emptied (the simplest eviction that keeps
/// memory bounded: ~32 bytes per entry, about 1.5 MB for the whole cache at most). Warm
/// entries come back on the next turn.
const SHARD_CAPACITY: usize = 2_048;

struct Cache {
    keys: RandomState,
    shards: [Mutex<Shard>; SHARDS],
}

/// Hash → (byte length, tokens). The length is checked on lookup as an extra guard.
type Shard = HashMap<u64, (usize, usize), BuildHasherDefault<PassThrough>>;

static CACHE: LazyLock<Cache> =
    LazyLock::new(|| Cache { keys: RandomState::new(), shards: std::array::from_fn(|_| Mutex::new(Shard::default())) });

impl Cache {
    fn shard(&self, hash: u64) -> std::sync::MutexGuard<'_, Shard> {
        // Middle bits: the map itself uses the low bits (bucket) and the top 7 (tag).
        let index = (hash >> 32) as usize % SHARDS;
        self.shards[index].lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, hash: u64, len: usize) -> Option<usize> {
        match self.shard(hash).get(&hash) {
            Some(&(cached_len, tokens)) if cached_len == len => Some(tokens),
            _ => None,
        }
    }

    fn insert(&self, hash: u64, len: usize, tokens: usize) {
        let mut shard = self.shard(hash);
        if shard.len() >= SHARD_CAPACITY && !shard.contains_key(&hash) {
            shard.clear();
        }
        shard.insert(hash, (len, tokens));
    }
}

/// The keys are already uniformly distributed hashes: use them as they are.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed with this; fold anything else in anyway.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_like_o200k_base() {
        assert_eq!(count(""), 0);
        assert_eq!(count("hello world"), 2);
    }

    fn texts() -> Vec<String> {
        let mut texts: Vec<String> = vec![String::new(), "hello world".into(), "ünïcødé ✓ 🦀".repeat(40)];
        for n in [1, 10, 25, 26, 100, 1_000] {
            texts.push((0..n).map(|i| format!("line {i}: error[E0308] at src/lib.rs:{i}\n")).collect());
        }
        // Same length, different bytes: must not share a count.
        texts.push("a".repeat(300));
        texts.push(" ".repeat(300));
        texts.push(format!("{}\u{00e9}", "x".repeat(298)));
        texts.push(format!("{}e\u{0301}", "x".repeat(297)));
        texts
    }

    #[test]
    fn cached_counts_equal_direct_counts_cold_and_warm() {
        let texts = texts();
        let direct: Vec<usize> = texts.iter().map(|t| count(t)).collect();
        for _ in 0..3 {
            let cached: Vec<usize> = texts.iter().map(|t| count_cached(t)).collect();
            assert_eq!(cached, direct);
        }
    }

    #[test]
    fn a_full_shard_is_emptied_and_counts_stay_right() {
        // More distinct texts than the whole cache holds, then the first ones again.
        let texts: Vec<String> =
            (0..SHARDS * SHARD_CAPACITY + 500).map(|i| format!("{i:>8} {}", "word ".repeat(50))).collect();
        for text in texts.iter().step_by(97).chain(texts.iter()).chain(texts.iter().take(100)) {
            assert_eq!(count_cached(text), count(text), "{}", &text[..8]);
        }
        for shard in &CACHE.shards {
            assert!(shard.lock().unwrap().len() <= SHARD_CAPACITY);
        }
    }

    #[test]
    fn concurrent_use_gives_the_same_counts() {
        let texts = texts();
        let direct: Vec<usize> = texts.iter().map(|t| count(t)).collect();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..20 {
                        let cached: Vec<usize> = texts.iter().map(|t| count_cached(t)).collect();
                        assert_eq!(cached, direct);
                    }
                });
            }
        });
    }
}
