//! Cutting one oversized tool result down to its head and tail lines plus the lines from
//! the middle that look like errors, and the marker texts that stand for removed content.
//!
//! Every marker starts with [`MARKER_PREFIX`]; a result containing that prefix is never
//! rewritten again, which is what makes compression idempotent.

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

/// Every marker mintoken writes starts with this.
pub const MARKER_PREFIX: &str = "[mintoken: ";

/// Substrings (ASCII case-insensitive) that make a line from the middle of a truncated
/// result survive. Kept small on purpose: each addition keeps more lines of every log.
/// `error` also covers `TypeError`, `error[E0308]`, `ERRORS`; `fail` covers `FAILED`,
/// `failure`; `panic` covers `panicked at`; `warning:` needs the colon so prose
/// mentioning warnings is not kept.
pub const ERROR_PATTERNS: [&str; 9] =
    ["error", "exception", "fail", "fatal", "panic", "traceback", "warning:", "denied", "segmentation fault"];

static ERROR_LINES: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder().ascii_case_insensitive(true).build(ERROR_PATTERNS).expect("fixed, valid patterns")
});

/// Whether a line is kept from the middle of a truncated result.
pub fn is_error_line(line: &str) -> bool {
    ERROR_LINES.is_match(line)
}

/// The text that replaces an older copy of an identical tool result. `message` is the
/// 0-based index, in the conversation array, of the message holding the kept copy.
pub fn dedup_marker(message: usize) -> String {
    format!("{MARKER_PREFIX}identical to the tool result in message {message}]")
}

/// The line that stands for a run of removed lines.
pub fn omitted_marker(lines: usize) -> String {
    let noun = if lines == 1 { "line" } else { "lines" };
    format!("{MARKER_PREFIX}{lines} {noun} omitted]")
}

/// Keeps the first `head` and last `tail` lines of `text` and the error-looking lines in
/// between; each run of removed lines becomes one marker line. Lines are cut on `\n` and
/// keep their terminators, so kept lines are byte-exact. `None` when nothing would be
/// removed.
///
/// The error patterns are searched once over the whole middle (no pattern spans a line
/// break, so every line holding one has a match starting in it), not line by line.
pub(super) fn cut(text: &str, head: usize, tail: usize) -> Option<String> {
    let lines = line_count(text);
    if lines <= head + tail {
        return None;
    }
    let middle_start = line_start(text, head);
    let middle_end = line_start(text, lines - tail);
    let middle = &text[middle_start..middle_end];
    let mut out = String::with_capacity(text.len() / 4);
    out.push_str(&text[..middle_start]);
    // Bytes of `middle` before this are written out or stood for by a marker.
    let mut done = 0;
    let mut any_omitted = false;
    for found in ERROR_LINES.find_iter(middle) {
        if found.start() < done {
            continue; // another match in a line already kept
        }
        let start = middle[..found.start()].rfind('\n').map_or(0, |i| i + 1);
        let end = middle[found.end()..].find('\n').map_or(middle.len(), |i| found.end() + i + 1);
        let omitted = line_count(&middle[done..start]);
        if omitted > 0 {
            push_marker_line(&mut out, omitted);
            any_omitted = true;
        }
        out.push_str(&middle[start..end]);
        done = end;
    }
    let omitted = line_count(&middle[done..]);
    if omitted > 0 {
        // Without `tail == 0` this run is followed by the tail lines.
        push_marker_line(&mut out, omitted);
        any_omitted = true;
    }
    out.push_str(&text[middle_end..]);
    any_omitted.then_some(out)
}

/// Byte offset where the 0-based line `n` starts (the text's length when `n` is past the
/// last line).
fn line_start(text: &str, n: usize) -> usize {
    match n.checked_sub(1) {
        None => 0,
        Some(before) => text.match_indices('\n').nth(before).map_or(text.len(), |(i, _)| i + 1),
    }
}

fn push_marker_line(out: &mut String, lines: usize) {
    out.push_str(&omitted_marker(lines));
    out.push('\n');
}

/// The number of items `split_inclusive('\n')` yields.
fn line_count(text: &str) -> usize {
    let newlines = text.bytes().filter(|&b| b == b'\n').count();
    newlines + usize::from(!text.is_empty() && !text.ends_with('\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(n: usize) -> String {
        (0..n).map(|i| format!("line {i}\n")).collect()
    }

    #[test]
    fn keeps_head_tail_and_error_lines_with_run_markers() {
        let mut text = numbered(10);
        text = text.replace("line 4\n", "ERROR: disk full at line 4\n");
        let out = cut(&text, 2, 2).unwrap();
        assert_eq!(
            out,
            "line 0\nline 1\n[mintoken: 2 lines omitted]\nERROR: disk full at line 4\n\
             [mintoken: 3 lines omitted]\nline 8\nline 9\n"
        );
    }

    #[test]
    fn a_missing_final_newline_is_kept_as_it_was() {
        let text = "a\nb\nc\nd\ne";
        assert_eq!(cut(text, 1, 1).unwrap(), "a\n[mintoken: 3 lines omitted]\ne");
        assert_eq!(cut("a\nb", 1, 1), None);
    }

    #[test]
    fn nothing_removed_is_none() {
        assert_eq!(cut(&numbered(4), 2, 2), None);
        assert_eq!(cut("x\nerror\nfail\ny\n", 1, 1), None);
    }

    #[test]
    fn error_patterns_are_case_insensitive() {
        for line in ["thread 'main' PANICKED at src/x.rs", "Traceback (most recent call last):", "FAILED tests/a.py"] {
            assert!(is_error_line(line), "{line}");
        }
        assert!(!is_error_line("   Compiling serde v1.0.200"));
        assert!(!is_error_line("no warnings here"));
    }

    /// The line-by-line definition `cut` must keep matching.
    fn cut_reference(text: &str, head: usize, tail: usize) -> Option<String> {
        let lines = line_count(text);
        if lines <= head + tail {
            return None;
        }
        let tail_start = lines - tail;
        let mut out = String::new();
        let mut omitted = 0;
        let mut any_omitted = false;
        for (index, line) in text.split_inclusive('\n').enumerate() {
            if index < head || index >= tail_start || is_error_line(line) {
                if omitted > 0 {
                    push_marker_line(&mut out, omitted);
                    omitted = 0;
                }
                out.push_str(line);
            } else {
                omitted += 1;
                any_omitted = true;
            }
        }
        if omitted > 0 {
            push_marker_line(&mut out, omitted);
        }
        any_omitted.then_some(out)
    }

    proptest::proptest! {
        #[test]
        fn cut_matches_the_line_by_line_definition(
            lines in proptest::collection::vec(
                proptest::sample::select(vec![
                    "", "ok", "x error y", "ERROR", "Fail fail", "warning", "warning: w", "é ✓",
                    "panic error", "  Compiling x", "traceback", "seg", "mentation fault",
                ]),
                0..40,
            ),
            final_newline in proptest::bool::ANY,
            head in 0usize..6,
            tail in 0usize..6,
        ) {
            let mut text = lines.join("\n");
            if final_newline && !text.is_empty() {
                text.push('\n');
            }
            proptest::prop_assert_eq!(cut(&text, head, tail), cut_reference(&text, head, tail));
        }
    }

    #[test]
    fn singular_marker() {
        assert_eq!(omitted_marker(1), "[mintoken: 1 line omitted]");
        assert_eq!(dedup_marker(42), "[mintoken: identical to the tool result in message 42]");
    }
}
