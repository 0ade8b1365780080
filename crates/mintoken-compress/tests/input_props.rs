//! Property tests of input compression on prompts built from prose, duplicated paragraphs,
//! whitespace noise and code fences (closed and unclosed): fences byte-exact, only
//! deletions, deterministic, idempotent, never larger, honest report.

use std::borrow::Cow;

use mintoken_compress::input::{self, MIN_TOKENS};
use mintoken_compress::tokens;
use proptest::prelude::*;

/// Paragraphs long enough to be deduplicated, and short ones that never are.
const PARAGRAPHS: [&str; 6] = [
    "The checkout service returns stale totals after a retry because the cache key ignores the tenant.",
    "Please keep the public API unchanged and add a regression test next to the existing ones.",
    "Line one of a two-line paragraph that is long enough to matter,\nand its second line.",
    "## Notes",
    "---",
    "ok",
];
const FENCES: [&str; 3] = [
    "```rust\nfn total(items: &[Item]) -> u64 {   \n\n\n\n    items.iter().map(|i| i.cents).sum()\n}\n```\n",
    "~~~~text\n  indented   \n\n\n~~~\n still inside\n~~~~\n",
    "````\n```\nnested backticks   \n````\n",
];
const UNCLOSED: &str = "```sh\necho   \n\n\nafter   \n\n\n";
const NOISE: [&str; 4] = ["", "   ", "\t", "  \r"];

#[derive(Debug, Clone)]
enum Piece {
    Paragraph(usize, usize),
    Blank(usize),
    Fence(usize),
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        4 => (0..PARAGRAPHS.len(), 0..NOISE.len()).prop_map(|(p, n)| Piece::Paragraph(p, n)),
        3 => (1usize..5).prop_map(Piece::Blank),
        1 => (0..FENCES.len()).prop_map(Piece::Fence),
    ]
}

fn build(pieces: &[Piece], repeat: usize, unclosed: bool, final_newline: bool) -> String {
    let mut text = String::new();
    for round in 0..repeat {
        for p in pieces {
            match *p {
                Piece::Paragraph(i, n) => {
                    text.push_str(&PARAGRAPHS[i].replace('\n', &format!("{}\n", NOISE[n])));
                    text.push_str(NOISE[n]);
                    text.push('\n');
                }
                Piece::Blank(k) => (0..k).for_each(|j| {
                    text.push_str(NOISE[(j + round) % NOISE.len()]);
                    text.push('\n');
                }),
                Piece::Fence(i) => text.push_str(FENCES[i]),
            }
        }
    }
    if unclosed {
        // Runs to the end of the text: everything after it is code, untouched.
        text.push_str(UNCLOSED);
    }
    if !final_newline {
        text.pop();
    }
    text
}

/// Non-blank lines, trimmed: compression may only delete them, never add or reorder.
fn content_lines(text: &str) -> Vec<&str> {
    text.lines().map(str::trim_end).filter(|l| !l.is_empty()).collect()
}

fn is_subsequence(small: &[&str], big: &[&str]) -> bool {
    let mut it = big.iter();
    small.iter().all(|s| it.any(|b| b == s))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn input_compression_properties(
        pieces in prop::collection::vec(piece(), 1..24),
        repeat in 1usize..40,
        unclosed in prop::bool::weighted(0.2),
        final_newline in any::<bool>(),
    ) {
        let text = build(&pieces, repeat, unclosed, final_newline);
        let (out, report) = input::compress_text(&text);

        // Honest report, never larger.
        prop_assert_eq!(report.tokens_before, tokens::count(&text));
        prop_assert_eq!(report.tokens_after, tokens::count(&out));
        prop_assert!(report.tokens_after <= report.tokens_before);
        prop_assert!(out.len() <= text.len());
        prop_assert_eq!(report.changed, out != text);
        if report.tokens_before <= MIN_TOKENS {
            prop_assert!(matches!(out, Cow::Borrowed(_)));
        }

        // Deterministic and idempotent.
        prop_assert_eq!(&input::compress_text(&text).0, &out);
        let (again, second) = input::compress_text(&out);
        prop_assert_eq!(&again, &out);
        prop_assert!(!second.changed);

        // Code fences byte-exact: every closed fence survives as often as it was written
        // (fences are never deduplicated).
        for fence in FENCES {
            prop_assert_eq!(out.matches(fence).count(), text.matches(fence).count());
        }
        if unclosed {
            let at = text.rfind("```sh\n").unwrap_or_default();
            prop_assert!(out.ends_with(&text[at..]));
        }

        // Only deletions.
        prop_assert!(is_subsequence(&content_lines(&out), &content_lines(&text)));
    }
}

#[test]
fn runs_of_blank_lines_and_duplicates_are_gone_above_the_threshold() {
    let text =
        build(&[Piece::Paragraph(0, 1), Piece::Blank(3), Piece::Paragraph(1, 2), Piece::Blank(2)], 80, false, true);
    let (out, report) = input::compress_text(&text);
    assert!(report.changed && report.tokens_before > MIN_TOKENS);
    assert_eq!(out, format!("{}\n\n{}\n\n", PARAGRAPHS[0], PARAGRAPHS[1]));
}
