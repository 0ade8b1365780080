//! A small per-thread memo of piece → token count.
//!
//! Text repeats its pieces (the same words, indentation, punctuation and identifiers over
//! and over in code and logs), but the vocabulary table is megabytes and every probe of it
//! is a cache miss. This direct-mapped table of recently seen short pieces stays in the
//! CPU cache and answers most pieces; a miss asks the vocabulary and stores the answer,
//! replacing whatever shared the slot. It only ever stores exact counts, so it never
//! changes a figure.

use std::cell::RefCell;

/// Longest piece kept (longer pieces are rare and counted directly).
const MAX_PIECE: usize = 24;
/// Slots per thread: 4096 × 32 bytes = 128 KB, inside a core's L2 cache.
const SLOTS: usize = 4_096;

/// A piece of at most [`MAX_PIECE`] bytes, read as three words that together cover every
/// byte (see [`Key::of`]): equal keys are equal pieces.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    len: usize,
    words: [u64; 3],
}

impl Key {
    /// Reads the piece straight from the text with overlapping loads, without copying it.
    fn of(piece: &[u8]) -> Key {
        let len = piece.len();
        let word = |at: usize| piece.get(at..at + 8).and_then(|w| w.try_into().ok()).map_or(0, u64::from_le_bytes);
        let half = |at: usize| piece.get(at..at + 4).and_then(|w| w.try_into().ok()).map_or(0, u32::from_le_bytes);
        let words = match len {
            16.. => [word(0), word(8), word(len - 8)],
            8.. => [word(0), word(len - 8), 0],
            4.. => [u64::from(half(0)) | u64::from(half(len - 4)) << 32, 0, 0],
            1.. => [u64::from(piece[0]) | u64::from(piece[len / 2]) << 8 | u64::from(piece[len - 1]) << 16, 0, 0],
            0 => [0; 3],
        };
        Key { len, words }
    }

    fn slot(&self) -> usize {
        const MIX: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut hash = (self.words[0] ^ self.len as u64).wrapping_mul(MIX);
        hash = (hash.rotate_left(23) ^ self.words[1]).wrapping_mul(MIX);
        hash = (hash.rotate_left(23) ^ self.words[2]).wrapping_mul(MIX);
        (hash >> 52) as usize % SLOTS
    }
}

#[derive(Clone, Copy)]
struct Slot {
    /// `len` 0 marks an empty slot (pieces are never empty).
    key: Key,
    tokens: usize,
}

const EMPTY: Slot = Slot { key: Key { len: 0, words: [0; 3] }, tokens: 0 };

pub(super) struct Memo(Box<[Slot]>);

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(Memo(vec![EMPTY; SLOTS].into_boxed_slice()));
}

/// Runs `f` with this thread's memo.
pub(super) fn with<R>(f: impl FnOnce(&mut Memo) -> R) -> R {
    MEMO.with_borrow_mut(f)
}

impl Memo {
    /// Tokens in `piece`, from the memo or from `count` (whose answer is then remembered).
    pub(super) fn tokens(&mut self, piece: &[u8], count: impl FnOnce(&[u8]) -> usize) -> usize {
        if piece.is_empty() || piece.len() > MAX_PIECE {
            return count(piece);
        }
        let key = Key::of(piece);
        let slot = &mut self.0[key.slot()];
        if slot.key == key {
            return slot.tokens;
        }
        let tokens = count(piece);
        *slot = Slot { key, tokens };
        tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_different_pieces_differ() {
        // Every length up to the maximum, each byte position changed in turn.
        for len in 1..=MAX_PIECE {
            let base = vec![b'a'; len];
            let base_key = Key::of(&base);
            for at in 0..len {
                let mut other = base.clone();
                other[at] = b'b';
                assert!(Key::of(&other) != base_key, "len {len}, byte {at}");
            }
            assert!(Key::of(&base[..len - 1]) != base_key);
        }
    }
}
