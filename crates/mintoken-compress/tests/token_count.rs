//! The fast token counter gives exactly the reference o200k_base figure, on text built to
//! hit every branch of the hand-written pre-tokenizer (contractions, case changes, digit
//! runs, whitespace before newlines and at the end, non-ASCII letters, digits, marks and
//! spaces next to ASCII) and on the real text in this repository.

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
