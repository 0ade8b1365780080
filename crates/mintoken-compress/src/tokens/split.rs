//! The o200k_base pre-tokenizer in full, for the pieces [`super::pieces`] leaves to it:
//! those whose extent depends on a non-ASCII character.
//!
//! tiktoken's expression (`pat_str` of o200k_base) is, in priority order:
//!
//! ```text
//! [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//! [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//! \p{N}{1,3}
//!  ?[^\s\p{L}\p{N}]+[\r\n/]*
//! \s*[\r\n]+
//! \s+(?!\S)
//! \s+
//! ```
//!
//! `regex-automata` has no look-ahead, so `\s+(?!\S)` is rewritten as `\s+$` (a run that
//! ends the text) or `\s+\s` with the final character given back: a whitespace run that is
//! followed by more whitespace, minus its last character — what the look-ahead accepts.
//! The three parts are separate patterns of one multi-pattern regex, so the pattern that
//! matched says whether a character must be given back; leftmost-first matching keeps the
//! priority order above.

use std::sync::LazyLock;

use regex_automata::meta::Regex;
use regex_automata::{Anchored, Input};

/// Patterns of the splitter; only the one at [`LOOKAHEAD`] gives its last character back.
const PATTERNS: [&str; 3] = [
    concat!(
        r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
        r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
        r"|\p{N}{1,3}",
        r"| ?[^\s\p{L}\p{N}]+[\r\n/]*",
        r"|\s*[\r\n]+",
        r"|\s+$",
    ),
    r"\s+\s",
    r"\s+",
];
const LOOKAHEAD: usize = 1;

static SPLITTER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new_many(&PATTERNS).expect("the o200k_base pre-tokenizer expression compiles"));

/// Compiles the expression now instead of at the first non-ASCII piece.
pub(super) fn warm_up() {
    LazyLock::force(&SPLITTER);
}

/// Length in bytes of the piece that starts `rest` (a non-empty suffix of the text, so
/// that `$` means the end of the text).
pub(super) fn first_piece_len(rest: &str) -> usize {
    let input = Input::new(rest).anchored(Anchored::Yes);
    match SPLITTER.find(input) {
        Some(found) if found.pattern().as_usize() == LOOKAHEAD => {
            let given_back = rest[..found.end()].chars().next_back().map_or(0, char::len_utf8);
            found.end() - given_back
        }
        Some(found) => found.end(),
        // Unreachable: every character begins a match (letters, marks and numbers the first
        // three alternatives, whitespace the last patterns, anything else the fourth). The
        // rest as one piece keeps the count finite and the loop moving if it ever happened.
        None => rest.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<&str> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let len = first_piece_len(rest);
            pieces.push(&rest[..len]);
            rest = &rest[len..];
        }
        pieces
    }

    #[test]
    fn splits_like_o200k_base() {
        assert_eq!(
            split("Ünïcode café's 1234 ✓✓\n\n  x  "),
            ["Ünïcode", " café's", " ", "123", "4", " ✓✓\n\n", " ", " x", "  "]
        );
        assert_eq!(split("中文\u{3000}\u{3000}文"), ["中文", "\u{3000}", "\u{3000}文"]);
    }
}
