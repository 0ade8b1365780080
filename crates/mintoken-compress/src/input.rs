//! Input compression (`auto_compress_input`, SPEC §4): shrinks one long, user-authored
//! prompt without changing what it says. It owns the size threshold and the three
//! whitespace/duplication rules; it never touches the inside of a code fence.
//!
//! Outside fenced code (``` or ~~~): trailing whitespace is removed from every line
//! (a CRLF line ending becomes LF), runs of blank lines become one blank line, and a
//! paragraph (lines between blank lines or fences) that repeats an earlier one exactly
//! is dropped, the first copy kept. The output is a fixed point of the same rules, so
//! compressing twice gives the same bytes as compressing once.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::tokens;

/// Texts of at most this many tokens are returned untouched: below it the few tokens saved
/// are not worth any rewrite of what a person typed.
pub const MIN_TOKENS: usize = 1_000;

/// Paragraphs shorter than this (in bytes, after trimming) are never dropped as duplicates,
/// so repeated headings, separators (`---`) and one-word lines keep the document's structure.
pub const MIN_DUPLICATE_BYTES: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputReport {
    pub tokens_before: usize,
    pub tokens_after: usize,
    pub changed: bool,
}

/// Shrinks one user-authored prompt text without changing its meaning: outside code
/// fences, trailing whitespace removed, runs of blank lines collapsed to one, exact
/// duplicate paragraphs dropped (keep the first). Code fences (``` and ~~~) byte-exact.
/// Only when the text is above [`MIN_TOKENS`]; never returns more tokens or bytes.
pub fn compress_text(text: &str) -> (Cow<'_, str>, InputReport) {
    let tokens_before = tokens::count(text);
    let unchanged =
        |tokens| (Cow::Borrowed(text), InputReport { tokens_before: tokens, tokens_after: tokens, changed: false });
    if tokens_before <= MIN_TOKENS {
        return unchanged(tokens_before);
    }
    let out = normalize(text);
    if out == text {
        return unchanged(tokens_before);
    }
    let tokens_after = tokens::count(&out);
    // Removing whitespace could in theory re-segment into more BPE tokens; then keep the
    // original (which is then also what a second pass returns).
    if tokens_after > tokens_before {
        return unchanged(tokens_before);
    }
    (Cow::Owned(out), InputReport { tokens_before, tokens_after, changed: true })
}

/// Applies [`compress_text`] to every user-authored text of a request body in the given
/// API shape: user message strings and text parts/blocks (OpenAI chat, Anthropic), the
/// `input` string or user items (Responses), user `parts[].text` (Gemini). Tool results,
/// system prompts and assistant turns are never touched. The report sums all texts.
pub fn compress_conversation(
    body: &mut serde_json::Map<String, serde_json::Value>,
    shape: crate::context::Shape,
) -> InputReport {
    use crate::context::Shape;
    use serde_json::Value;

    let mut total = InputReport { tokens_before: 0, tokens_after: 0, changed: false };
    let mut shrink = |slot: &mut Value| {
        if let Value::String(text) = slot {
            let (out, report) = compress_text(text);
            total.tokens_before += report.tokens_before;
            total.tokens_after += report.tokens_after;
            if report.changed {
                total.changed = true;
                *slot = Value::String(out.into_owned());
            }
        }
    };
    // The text parts of a content value: the string itself, or `text` of text parts.
    fn texts_of(content: &mut Value, text_types: &[&str], each: &mut dyn FnMut(&mut Value)) {
        match content {
            Value::String(_) => each(content),
            Value::Array(parts) => {
                for part in parts {
                    let kind = part.get("type").and_then(Value::as_str).unwrap_or("text");
                    if text_types.contains(&kind)
                        && let Some(text) = part.get_mut("text")
                    {
                        each(text);
                    }
                }
            }
            _ => {}
        }
    }
    let is_user = |m: &Value| m.get("role").and_then(Value::as_str) == Some("user");
    match shape {
        Shape::OpenAiChat | Shape::Anthropic => {
            let text_types: &[&str] = if shape == Shape::Anthropic { &["text"] } else { &["text", "input_text"] };
            for message in body.get_mut("messages").and_then(Value::as_array_mut).into_iter().flatten() {
                if is_user(message)
                    && let Some(content) = message.get_mut("content")
                {
                    texts_of(content, text_types, &mut shrink);
                }
            }
        }
        Shape::OpenAiResponses => match body.get_mut("input") {
            Some(input @ Value::String(_)) => shrink(input),
            Some(Value::Array(items)) => {
                for item in items.iter_mut().filter(|i| is_user(i)) {
                    if let Some(content) = item.get_mut("content") {
                        texts_of(content, &["input_text", "text"], &mut shrink);
                    }
                }
            }
            _ => {}
        },
        Shape::Gemini => {
            for content in body.get_mut("contents").and_then(Value::as_array_mut).into_iter().flatten() {
                let user = content.get("role").and_then(Value::as_str).is_none_or(|r| r == "user");
                if user && let Some(Value::Array(parts)) = content.get_mut("parts") {
                    for text in parts.iter_mut().filter_map(|p| p.get_mut("text")) {
                        shrink(text);
                    }
                }
            }
        }
    }
    total
}

enum Block<'a> {
    Blank,
    /// Trimmed lines joined by `\n`.
    Paragraph(String),
    /// A fenced code block, opening and closing lines included, exactly as written.
    Fence(&'a str),
}

fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut seen: HashSet<String> = HashSet::new();
    let mut blank_pending = false;
    // Whether the last byte written is a newline this function added (not a fence's own).
    let mut newline_is_ours = false;
    for block in blocks(text) {
        match block {
            Block::Blank => blank_pending = true,
            Block::Paragraph(paragraph) => {
                if paragraph.len() >= MIN_DUPLICATE_BYTES && seen.contains(&paragraph) {
                    // The blank lines around it merge into one run.
                    continue;
                }
                take_blank(&mut out, &mut blank_pending);
                out.push_str(&paragraph);
                out.push('\n');
                newline_is_ours = true;
                if paragraph.len() >= MIN_DUPLICATE_BYTES {
                    seen.insert(paragraph);
                }
            }
            Block::Fence(raw) => {
                take_blank(&mut out, &mut blank_pending);
                out.push_str(raw);
                newline_is_ours = false;
            }
        }
    }
    if blank_pending {
        take_blank(&mut out, &mut blank_pending);
        newline_is_ours = true;
    }
    // Paragraph lines are written with `\n`; a text that did not end in one still does not.
    // A fence's own final newline stays: fences are byte-exact.
    if !text.ends_with('\n') && newline_is_ours && out.ends_with('\n') {
        out.pop();
    }
    out
}

fn take_blank(out: &mut String, pending: &mut bool) {
    if std::mem::take(pending) {
        out.push('\n');
    }
}

fn blocks(text: &str) -> Vec<Block<'_>> {
    let mut blocks = Vec::new();
    let mut paragraph: Option<String> = None;
    let mut lines = text.split_inclusive('\n');
    let mut offset = 0;
    while let Some(line) = lines.next() {
        let start = offset;
        offset += line.len();
        if let Some((fence_char, fence_len)) = fence_open(line) {
            blocks.extend(paragraph.take().map(Block::Paragraph));
            // An unclosed fence runs to the end of the text, untouched.
            for inner in lines.by_ref() {
                offset += inner.len();
                if fence_close(inner, fence_char, fence_len) {
                    break;
                }
            }
            blocks.push(Block::Fence(&text[start..offset]));
            continue;
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            blocks.extend(paragraph.take().map(Block::Paragraph));
            blocks.push(Block::Blank);
        } else {
            match paragraph.as_mut() {
                Some(p) => {
                    p.push('\n');
                    p.push_str(trimmed);
                }
                None => paragraph = Some(trimmed.to_owned()),
            }
        }
    }
    blocks.extend(paragraph.map(Block::Paragraph));
    blocks
}

/// A line opening a fence: three or more backticks or tildes after any indentation (wider
/// than CommonMark's three spaces on purpose: treating more text as code only protects
/// more). A backtick fence's info string cannot contain a backtick (that is inline code).
fn fence_open(line: &str) -> Option<(u8, usize)> {
    let s = line.trim();
    let first = *s.as_bytes().first()?;
    if first != b'`' && first != b'~' {
        return None;
    }
    let run = s.bytes().take_while(|&b| b == first).count();
    if run < 3 || (first == b'`' && s[run..].contains('`')) {
        return None;
    }
    Some((first, run))
}

/// A closing fence: the same character, at least as many, and nothing else on the line.
fn fence_close(line: &str, fence_char: u8, fence_len: usize) -> bool {
    let s = line.trim();
    s.len() >= fence_len && s.bytes().all(|b| b == fence_char)
}

#[cfg(test)]
mod conversation_tests {
    use super::*;
    use crate::context::Shape;
    use serde_json::{Value, json};

    fn long_prompt() -> String {
        let para = "This paragraph explains the deployment process in detail, with all of its steps spelled out.";
        (0..120).map(|i| format!("{para} Step {}.   \n\n\n\n", i % 40)).collect()
    }

    #[test]
    fn only_user_text_is_compressed_in_every_shape() {
        let prompt = long_prompt();
        let cases = [
            (
                Shape::OpenAiChat,
                json!({"messages": [{"role": "system", "content": prompt}, {"role": "user", "content": prompt}, {"role": "tool", "content": prompt}]}),
            ),
            (
                Shape::Anthropic,
                json!({"messages": [{"role": "user", "content": [{"type": "text", "text": prompt}, {"type": "tool_result", "content": prompt}]}]}),
            ),
            (
                Shape::OpenAiResponses,
                json!({"input": [{"role": "user", "content": [{"type": "input_text", "text": prompt}]}, {"type": "function_call_output", "output": prompt}]}),
            ),
            (
                Shape::Gemini,
                json!({"contents": [{"role": "user", "parts": [{"text": prompt}]}, {"role": "model", "parts": [{"text": prompt}]}]}),
            ),
        ];
        for (shape, body) in cases {
            let Value::Object(mut map) = body.clone() else { unreachable!() };
            let report = compress_conversation(&mut map, shape);
            assert!(report.changed && report.tokens_after < report.tokens_before, "{shape:?}");
            let out = Value::Object(map).to_string();
            // Exactly one copy (the user's) shrank; the others are byte-identical.
            let whole = serde_json::to_string(&prompt).unwrap();
            assert!(out.len() < body.to_string().len(), "{shape:?}");
            assert_eq!(out.matches(&whole).count(), body.to_string().matches(&whole).count() - 1, "{shape:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_blank_runs_and_duplicates_outside_fences() {
        let para = "This paragraph is long enough to count as a duplicate when it repeats.";
        let text = format!("Intro  \r\n\n\n\n{para}\n\n```rust\nfn a() {{   \n\n\n}}\n```\n\n{para}\t\n\nEnd");
        let out = normalize(&text);
        assert_eq!(out, format!("Intro\n\n{para}\n\n```rust\nfn a() {{   \n\n\n}}\n```\n\nEnd"));
        assert_eq!(normalize(&out), out);
    }

    #[test]
    fn short_paragraphs_repeat() {
        let text = "## Example\n\nfoo\n\n## Example\n\nbar\n";
        assert_eq!(normalize(text), text);
    }

    #[test]
    fn unclosed_fence_runs_to_the_end() {
        let text = "a  \n~~~~\nb   \n\n\n~~~\nc  ";
        assert_eq!(normalize(text), "a\n~~~~\nb   \n\n\n~~~\nc  ");
    }

    #[test]
    fn inline_triple_backticks_are_not_a_fence() {
        assert!(fence_open("```code``` here").is_none());
        assert_eq!(fence_open("  ```python\n"), Some((b'`', 3)));
        assert!(fence_close("````  \n", b'`', 3));
        assert!(!fence_close("``` x\n", b'`', 3));
    }

    #[test]
    fn short_texts_are_borrowed_unchanged() {
        let (out, report) = compress_text("hi   \n\n\n\nthere");
        assert!(matches!(out, Cow::Borrowed(_)));
        assert!(!report.changed);
        assert_eq!(report.tokens_after, report.tokens_before);
    }

    #[test]
    fn long_texts_shrink() {
        let para = "The deployment failed again after the migration step; please look at the logs below.";
        let text = (0..60).map(|i| format!("{para}   \n\n\n\nItem {i} is unique.\n\n")).collect::<String>();
        let (out, report) = compress_text(&text);
        assert!(report.changed);
        assert!(report.tokens_after < report.tokens_before);
        assert_eq!(out.matches(para).count(), 1);
        assert_eq!(compress_text(&out).0, out);
    }
}
