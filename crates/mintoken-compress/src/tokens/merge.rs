//! Byte-pair encoding of one pre-tokenized piece, counted rather than materialised.
//!
//! tiktoken's rule, which defines o200k_base: start from the piece's single bytes; while
//! some adjacent pair of parts concatenates to a token, merge the pair whose token has the
//! lowest rank (the leftmost such pair on a tie); the tokens are the parts left. Following
//! the rule literally gives exactly the reference counts. Short pieces (nearly all) are
//! merged with a plain scan over a few stack arrays; long ones (runs of one character,
//! long words, CJK text without spaces) keep their candidate pairs in a heap, so a
//! megabyte-long piece costs O(n log n) rather than O(n²).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::vocab::Vocab;

/// Pieces up to this many bytes are merged with the quadratic scan.
const SHORT: usize = 64;

/// The rank of "no token": above every real rank, so it never wins a comparison.
const NONE: u32 = u32::MAX;

/// Tokens in one pre-tokenized piece.
pub(super) fn piece_tokens(vocab: &Vocab, piece: &[u8]) -> usize {
    // Most pieces are a single token; every token is also what merging its own bytes
    // gives (the reference checks that of its vocabulary), so this is only a shortcut.
    if vocab.rank(piece).is_some() {
        1
    } else if piece.len() <= SHORT {
        merge_short(vocab, piece)
    } else {
        merge_long(vocab, piece)
    }
}

/// The rank of `bytes` as one token, or [`NONE`].
fn rank(vocab: &Vocab, bytes: &[u8]) -> u32 {
    vocab.rank(bytes).unwrap_or(NONE)
}

/// The merge rule with a linear scan for the best pair, on pieces of at most [`SHORT`]
/// bytes.
fn merge_short(vocab: &Vocab, piece: &[u8]) -> usize {
    let n = piece.len();
    if n < 2 {
        return n;
    }
    // Part `i` is `piece[bounds[i]..bounds[i + 1]]`; `pairs[i]` is the rank of parts `i`
    // and `i + 1` merged. Both shrink by one entry per merge.
    let mut bounds = [0usize; SHORT + 1];
    let mut pairs = [NONE; SHORT];
    for (i, bound) in bounds[..=n].iter_mut().enumerate() {
        *bound = i;
    }
    for (i, pair) in pairs[..n - 1].iter_mut().enumerate() {
        *pair = rank(vocab, &piece[i..i + 2]);
    }
    let mut parts = n;
    while parts > 1 {
        // Lowest rank; `<` keeps the leftmost of equal ranks.
        let mut best = 0;
        for i in 1..parts - 1 {
            if pairs[i] < pairs[best] {
                best = i;
            }
        }
        if pairs[best] == NONE {
            break;
        }
        // Parts `best` and `best + 1` become one: drop the bound between them and the pair
        // they formed; the pairs on either side of the new part change.
        bounds.copy_within(best + 2..=parts, best + 1);
        pairs.copy_within(best + 1..parts - 1, best);
        parts -= 1;
        if best + 1 < parts {
            pairs[best] = rank(vocab, &piece[bounds[best]..bounds[best + 2]]);
        }
        if best > 0 {
            pairs[best - 1] = rank(vocab, &piece[bounds[best - 1]..bounds[best + 1]]);
        }
    }
    parts
}

/// Bits of a heap entry that hold the start of the pair; the rank sits above them. Ranks
/// are below 2^18 and pieces are far shorter than 2^40 bytes (a terabyte).
const START_BITS: u32 = 40;

/// The same rule for pieces of any length. Candidate pairs wait in a min-heap ordered by
/// (rank, start), which is exactly the rule's choice (lowest rank, then leftmost). Merging
/// changes the pairs next to the new part; rather than update their entries in the heap,
/// the new pairs are pushed and old entries are skipped when they come out ("lazy
/// deletion"): an entry is current only if its start still begins a part and the pair at
/// that start still has the entry's rank. A pair at a given start only ever grows to the
/// right, so its bytes, hence its rank, never come back to an earlier value.
///
/// Working memory is about 20 bytes per byte of the piece plus at most three heap entries
/// (8 bytes each) per byte, freed on return: ~45 MB while a 1 MB piece is merged.
fn merge_long(vocab: &Vocab, piece: &[u8]) -> usize {
    let n = piece.len();
    if n < 2 {
        return n;
    }
    const DEAD: usize = usize::MAX;
    // Indexed by byte position, for the part that starts there: where it ends (DEAD when
    // no part starts there any more), where the part before it starts, and the rank of
    // the pair it forms with the part after it.
    let mut end: Vec<usize> = (1..=n).collect();
    let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
    let mut pair = vec![NONE; n];
    let pair_rank = |end: &[usize], start: usize| -> u32 {
        let mid = end[start];
        if mid < n { rank(vocab, &piece[start..end[mid]]) } else { NONE }
    };
    let entry = |rank: u32, start: usize| Reverse(u64::from(rank) << START_BITS | start as u64);

    let mut heap = Vec::with_capacity(n);
    for (start, pair) in pair[..n - 1].iter_mut().enumerate() {
        *pair = pair_rank(&end, start);
        if *pair != NONE {
            heap.push(entry(*pair, start));
        }
    }
    let mut heap = BinaryHeap::from(heap);
    let mut parts = n;
    while let Some(Reverse(key)) = heap.pop() {
        let rank = (key >> START_BITS) as u32;
        let start = (key & ((1 << START_BITS) - 1)) as usize;
        if end[start] == DEAD || pair[start] != rank {
            continue;
        }
        let mid = end[start];
        let new_end = end[mid];
        end[mid] = DEAD;
        end[start] = new_end;
        if new_end < n {
            prev[new_end] = start;
        }
        parts -= 1;
        // The new part pairs with the part after it, and the part before pairs with it.
        for changed in [start, prev[start]] {
            if changed == DEAD {
                continue;
            }
            pair[changed] = pair_rank(&end, changed);
            if pair[changed] != NONE {
                heap.push(entry(pair[changed], changed));
            }
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::vocab;

    /// Both merge paths agree wherever both apply (the long path is tested against the
    /// reference on long pieces in tests/token_count.rs).
    #[test]
    fn short_and_long_merges_agree() {
        let vocab = vocab::get();
        let samples: [&[u8]; 8] = [
            b"ab",
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            b"abababababababababababababababababababab",
            b"qzxjvkwpqzxjvkwpqzxjvkwp",
            b"==========================================",
            "\u{4e2d}\u{6587}\u{6587}\u{672c}\u{4e2d}\u{6587}".as_bytes(),
            b"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
            &[0xff, 0xfe, 0x00, 0x01, 0x80, 0x80, 0x80],
        ];
        for piece in samples {
            for len in 1..=piece.len() {
                let piece = &piece[..len];
                assert_eq!(merge_short(vocab, piece), merge_long(vocab, piece), "{piece:?}");
            }
        }
    }
}
