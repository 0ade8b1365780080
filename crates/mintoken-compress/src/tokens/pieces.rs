//! The o200k_base pre-tokenizer for ASCII text, written out by hand.
//!
//! o200k_base first splits text into pieces with a regular expression (tiktoken's
//! `pat_str`), then byte-pair encodes each piece on its own. The general regex engine is
//! about half of the cost of counting; on ASCII the expression reduces to a handful of
//! byte classes, which a direct scan handles several times faster. Where a decision would
//! depend on a non-ASCII character (a letter, digit, mark or space outside ASCII may
//! extend a run), [`piece_end`] returns `None` and the caller takes that one piece from
//! the full expression instead ([`super::split`]). Splitting is anchored at each piece
//! start and looks only forward, so the two can be mixed piece by piece and the result is
//! the reference split exactly (property tests compare the counts with bpe-openai's).
//!
//! The expression, in priority order (leftmost-first), with its ASCII reading:
//!
//! 1. `[^\r\n\p{L}\p{N}]?[\p{Lu}…]*[\p{Ll}…]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?` and
//! 2. `[^\r\n\p{L}\p{N}]?[\p{Lu}…]+[\p{Ll}…]*(…)?`: an optional non-newline,
//!    non-alphanumeric byte, upper-case letters then lower-case letters, an optional
//!    contraction;
//! 3. `\p{N}{1,3}`: one to three digits;
//! 4. ` ?[^\s\p{L}\p{N}]+[\r\n/]*`: an optional space, punctuation, trailing newlines and
//!    slashes;
//! 5. `\s*[\r\n]+`: a whitespace run up to its last newline;
//! 6. `\s+(?!\S)` (`\s+$` at the end of the text): a whitespace run but its last byte;
//! 7. `\s+`: a single whitespace byte.

/// Byte classes of ASCII as the expression sees them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Upper,
    Lower,
    Digit,
    /// `\r` or `\n`.
    Newline,
    /// Whitespace that is not a newline: space, tab, vertical tab, form feed.
    Blank,
    /// Everything else below 0x80: punctuation, symbols, control bytes.
    Other,
    /// A byte of a multi-byte character: its class is unknown here.
    NonAscii,
}

/// [`classify`] for every byte, looked up rather than computed in the scan's inner loops.
static CLASSES: [Class; 256] = {
    let mut table = [Class::Other; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = classify(byte as u8);
        byte += 1;
    }
    table
};

fn class(byte: u8) -> Class {
    CLASSES[usize::from(byte)]
}

const fn classify(byte: u8) -> Class {
    match byte {
        b'A'..=b'Z' => Class::Upper,
        b'a'..=b'z' => Class::Lower,
        b'0'..=b'9' => Class::Digit,
        b'\r' | b'\n' => Class::Newline,
        b' ' | b'\t' | 0x0b | 0x0c => Class::Blank,
        0x80.. => Class::NonAscii,
        _ => Class::Other,
    }
}

fn class_at(bytes: &[u8], at: usize) -> Option<Class> {
    bytes.get(at).map(|&b| class(b))
}

fn is_letter(class: Option<Class>) -> bool {
    matches!(class, Some(Class::Upper | Class::Lower))
}

/// End of the piece that starts at `start` (which must be below `bytes.len()`), or `None`
/// when that depends on a non-ASCII character.
pub(super) fn piece_end(bytes: &[u8], start: usize) -> Option<usize> {
    let next = class_at(bytes, start + 1);
    match class(bytes[start]) {
        Class::NonAscii => None,
        Class::Upper | Class::Lower => letters(bytes, start),
        Class::Digit => digits(bytes, start),
        // Patterns 1 and 2 with their optional leading byte.
        Class::Blank | Class::Other if is_letter(next) => letters(bytes, start + 1),
        // The next character may be a letter, or punctuation after a space.
        Class::Blank | Class::Other if next == Some(Class::NonAscii) => None,
        Class::Other => punctuation(bytes, start),
        Class::Blank if bytes[start] == b' ' && next == Some(Class::Other) => punctuation(bytes, start + 1),
        Class::Blank | Class::Newline => whitespace(bytes, start),
    }
}

/// Patterns 1 and 2 from the first letter: `[A-Z]*[a-z]*` (at least one letter), then an
/// optional contraction.
fn letters(bytes: &[u8], from: usize) -> Option<usize> {
    let mut end = run(bytes, from, |c| c == Class::Upper);
    end = run(bytes, end, |c| c == Class::Lower);
    match class_at(bytes, end) {
        Some(Class::NonAscii) => None,
        _ if bytes.get(end) == Some(&b'\'') => contraction(bytes, end),
        _ => Some(end),
    }
}

/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)?` after the apostrophe at `at`. Case-insensitive matching
/// folds some non-ASCII letters to ASCII ones (U+017F folds to `s`), so a non-ASCII
/// character there is left to the full expression.
fn contraction(bytes: &[u8], at: usize) -> Option<usize> {
    let lower = |i: usize| bytes.get(at + i).map(u8::to_ascii_lowercase);
    let after = &bytes[(at + 1).min(bytes.len())..(at + 3).min(bytes.len())];
    if !after.is_ascii() {
        return None;
    }
    Some(match (lower(1), lower(2)) {
        (Some(b's' | b't' | b'm' | b'd'), _) => at + 2,
        (Some(b'r' | b'v'), Some(b'e')) | (Some(b'l'), Some(b'l')) => at + 3,
        _ => at,
    })
}

/// Pattern 3: up to three digits.
fn digits(bytes: &[u8], start: usize) -> Option<usize> {
    let mut end = start;
    while end < start + 3 {
        match class_at(bytes, end) {
            Some(Class::Digit) => end += 1,
            Some(Class::NonAscii) => return None,
            _ => break,
        }
    }
    Some(end)
}

/// Pattern 4 from the first punctuation byte.
fn punctuation(bytes: &[u8], from: usize) -> Option<usize> {
    let end = run(bytes, from, |c| c == Class::Other);
    if class_at(bytes, end) == Some(Class::NonAscii) {
        return None;
    }
    Some(end + bytes[end..].iter().take_while(|&&b| matches!(b, b'\r' | b'\n' | b'/')).count())
}

/// Patterns 5 to 7 on the whitespace run that starts at `start`.
fn whitespace(bytes: &[u8], start: usize) -> Option<usize> {
    let end = run(bytes, start, |c| matches!(c, Class::Blank | Class::Newline));
    let last_newline = bytes[start..end].iter().rposition(|&b| matches!(b, b'\r' | b'\n'));
    match class_at(bytes, end) {
        // Unicode has more whitespace: the run may go on.
        Some(Class::NonAscii) => None,
        _ if last_newline.is_some() => last_newline.map(|at| start + at + 1),
        None => Some(end),
        Some(_) if end - start >= 2 => Some(end - 1),
        Some(_) => Some(end),
    }
}

/// End of the run of bytes from `from` whose class satisfies `keep`.
fn run(bytes: &[u8], from: usize, keep: impl Fn(Class) -> bool) -> usize {
    from + bytes[from..].iter().take_while(|&&b| keep(class(b))).count()
}
