//! The fast token counter gives exactly the reference o200k_base figure, on text built to
//! hit every branch of the hand-written pre-tokenizer (contractions, case changes, digit
//! runs, whitespace before newlines and at the end, non-ASCII letters, digits, marks and
//! spaces next to ASCII), on long pieces (which take another merge path) and on the real text
//! in this repository.

use mintoken_compress::tokens;
use proptest::prelude::*;

fn reference(text: &str) -> usize {
    bpe_openai::o200k_base().count(text)
}

/// Fragments that meet at every kind of boundary when concatenated.
const FRAGMENTS: &[&str] = &[
    "a",
    "Z",
    "ab",
    "HTML",
    "Parser",
    "x9",
    "0",
    "12",
    "1234567",
    " ",
    "  ",
    "   ",
    "\t",
    "\n",
    "\r\n",
    "\n\n",
    " \n ",
    "\u{0b}",
    "\u{0c}",
    "'",
    "'s",
    "'S",
    "'re",
    "'Ll",
    "'ve",
    "'m",
    "'D",
    "'t",
    "'x",
    ".",
    "...",
    "/",
    "//",
    "(",
    ")",
    "{",
    "}",
    "\"",
    "-",
    "_",
    "#",
    "@",
    ";",
    "é",
    "É",
    "ſ",
    "ß",
    "中文",
    "ʰ",
    "\u{0301}",
    "²",
    "٣",
    "Ⅻ",
    "\u{a0}",
    "\u{2028}",
    "\u{3000}",
    "\u{85}",
    "✓",
    "—",
    "🦀",
    "\u{0}",
    "\u{7f}",
    "\u{1b}[31m",
];

fn assembled() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..40).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn equals_the_reference_on_assembled_text(text in assembled()) {
        prop_assert_eq!(tokens::count(&text), reference(&text), "{:?}", text);
    }

    #[test]
    fn equals_the_reference_on_arbitrary_text(text in any::<String>()) {
        prop_assert_eq!(tokens::count(&text), reference(&text), "{:?}", text);
    }

    #[test]
    fn equals_the_reference_on_ascii(text in "[ -~\t\n\r\u{0b}\u{0c}]{0,200}") {
        prop_assert_eq!(tokens::count(&text), reference(&text), "{:?}", text);
    }
}

#[test]
fn equals_the_reference_on_the_repository_text() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut checked = 0;
    for dir in [
        "crates/mintoken-compress/src",
        "crates/mintoken-compress/data/classifier",
        "docs",
        "crates/mintoken/src/proxy",
    ] {
        for entry in std::fs::read_dir(format!("{root}/{dir}")).expect("repository directory") {
            let path = entry.expect("directory entry").path();
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            assert_eq!(tokens::count(&text), reference(&text), "{}", path.display());
            for line in text.lines() {
                assert_eq!(tokens::count(line), reference(line), "{line:?}");
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} files checked");
}

/// Pieces longer than the quadratic merge's limit go through the heap merge: long runs of
/// one character, of two alternating ones, base64-like blobs (letters only, so one piece
/// per case run), long words, CJK text without spaces and long whitespace runs.
#[test]
fn equals_the_reference_on_long_pieces() {
    let mut texts: Vec<String> = Vec::new();
    for n in [63, 64, 65, 100, 1_000, 10_000, 100_000] {
        texts.push("a".repeat(n));
        texts.push(" ".repeat(n));
        texts.push(format!("x{}", " ".repeat(n)));
        texts.push("\n".repeat(n));
        texts.push("=".repeat(n));
        texts.push("ab".repeat(n / 2));
        texts.push("-=".repeat(n / 2));
        texts.push("中".repeat(n / 3));
        texts.push("中文".repeat(n / 6));
        texts.push("é".repeat(n / 2));
        texts.push("\u{3000}".repeat(n / 3));
    }
    // A base64-like blob of letters, digits, '+' and '/' from a fixed pseudo-random stream,
    // and a run of lowercase letters of the same origin (one piece of 100 KB).
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    texts.push((0..100_000).map(|_| char::from(BASE64[(next() % 64) as usize])).collect());
    texts.push((0..100_000).map(|_| char::from(b'a' + (next() % 26) as u8)).collect());
    texts.push((0..20_000).map(|_| ['甲', '乙', 'ü', 'ß'][(next() % 4) as usize]).collect());
    for text in &texts {
        let head: String = text.chars().take(12).collect();
        assert_eq!(tokens::count(text), reference(text), "{} bytes starting {head:?}", text.len());
    }
}

/// Texts where two candidate merges have the same rank, so only the leftmost-first rule
/// gives the reference count (found by the property tests when that rule was broken).
#[test]
fn equals_the_reference_where_merge_ranks_tie() {
    for text in ["\\\\\\\n", "\r\n\n\n\r\n", "aaaaa", "=====", "\n\n\n\n\n"] {
        assert_eq!(tokens::count(text), reference(text), "{text:?}");
    }
}
