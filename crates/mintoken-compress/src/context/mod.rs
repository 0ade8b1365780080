//! Tier-1 context compression (SPEC §4): shrinks the *old tool results* of a long agent
//! conversation, deterministically, so a request costs fewer input tokens.
//!
//! This module owns the level table, the request-token figure, the choice of which results
//! are deduplicated or truncated, and the savings guard. The provider JSON shapes are
//! walked in `shape`, the line-level cutting and the marker texts live in `truncate`.
//!
//! Nothing but tool results older than the recency window is ever rewritten, and a result
//! is rewritten only when that makes it smaller. Every output is a fixed point: results
//! that carry a mintoken marker are never touched again, so `T(T(x)) == T(x)` byte for
//! byte and the same history compresses to the same bytes on every turn.

mod shape;
mod truncate;

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::ContextLevel;
use crate::tokens;

pub use truncate::{ERROR_PATTERNS, MARKER_PREFIX, dedup_marker, is_error_line, omitted_marker};

/// The request dialect whose conversation member is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `POST /v1/chat/completions`: `messages`, tool results are `role: "tool"` messages.
    OpenAiChat,
    /// `POST /v1/responses`: `input`, tool results are `function_call_output` items.
    OpenAiResponses,
    /// `POST /v1/messages`: `messages`, tool results are `tool_result` blocks.
    Anthropic,
    /// `generateContent`: `contents`, tool results are `functionResponse` parts.
    Gemini,
}

impl Shape {
    /// The member of the request body that holds the conversation.
    pub fn conversation_key(self) -> &'static str {
        match self {
            Shape::OpenAiChat | Shape::Anthropic => "messages",
            Shape::OpenAiResponses => "input",
            Shape::Gemini => "contents",
        }
    }
}

/// Why a request was left exactly as it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// The request is not above the level's engage threshold.
    BelowThreshold,
    /// Compression engaged but no rewrite would have made anything smaller.
    NoSavings,
    /// The conversation member is missing or not of the dialect's shape.
    UnsupportedShape,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::BelowThreshold => "below_threshold",
            SkipReason::NoSavings => "no_savings",
            SkipReason::UnsupportedShape => "unsupported_shape",
        }
    }
}

/// What one call of [`compress`] did. When `skipped` is set, nothing changed and
/// `tokens_after == tokens_before` (both are 0 for an unsupported shape, which is not
/// counted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextReport {
    pub tokens_before: usize,
    pub tokens_after: usize,
    pub skipped: Option<SkipReason>,
    pub results_deduplicated: usize,
    pub results_truncated: usize,
}

/// The numbers of one level (the SPEC §4 table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tier1Params {
    /// Compression engages only when the request has more tokens than this.
    pub engage_above: usize,
    /// A tool result with more tokens than this is truncated.
    pub truncate_above: usize,
    /// The last this many elements of the conversation array are never touched.
    pub keep_recent: usize,
    /// Lines kept from the start of a truncated result.
    pub head_lines: usize,
    /// Lines kept from the end of a truncated result.
    pub tail_lines: usize,
}

impl Tier1Params {
    pub const fn for_level(level: ContextLevel) -> Self {
        match level {
            ContextLevel::Conservative => Tier1Params {
                engage_above: 8_000,
                truncate_above: 4_000,
                keep_recent: 8,
                head_lines: 80,
                tail_lines: 80,
            },
            ContextLevel::Standard => Tier1Params {
                engage_above: 4_000,
                truncate_above: 2_000,
                keep_recent: 6,
                head_lines: 50,
                tail_lines: 50,
            },
            ContextLevel::Aggressive => Tier1Params {
                engage_above: 2_000,
                truncate_above: 1_000,
                keep_recent: 4,
                head_lines: 25,
                tail_lines: 25,
            },
        }
    }
}

/// The request-token figure compression is judged by: the sum of the o200k_base counts of
/// every text piece of the conversation and system prompt, each piece counted on its own
/// (see `docs/compression.md` for the exact list). `None` for an unsupported shape.
pub fn request_tokens(body: &Map<String, Value>, shape: Shape) -> Option<usize> {
    shape::scan(body, shape).map(|s| s.total_tokens())
}

/// Compresses the conversation of a request body in place. `body` is the whole parsed
/// request object; only the conversation member (`messages`, `input`, `contents`) may change.
pub fn compress(body: &mut Map<String, Value>, shape: Shape, level: ContextLevel) -> ContextReport {
    let params = Tier1Params::for_level(level);
    // Plan on a shared borrow, then apply owned edits: the scan's borrows end first.
    let (tokens_before, edits) = {
        let Some(scan) = shape::scan(body, shape) else {
            return skipped(0, SkipReason::UnsupportedShape);
        };
        let before = scan.total_tokens();
        if before <= params.engage_above {
            return skipped(before, SkipReason::BelowThreshold);
        }
        (before, plan(&scan, &params))
    };
    if edits.is_empty() {
        return skipped(tokens_before, SkipReason::NoSavings);
    }

    let mut report = ContextReport {
        tokens_before,
        tokens_after: tokens_before,
        skipped: None,
        results_deduplicated: 0,
        results_truncated: 0,
    };
    let Some(conversation) = body.get_mut(shape.conversation_key()) else {
        unreachable!("scan found the conversation member")
    };
    for edit in edits {
        let Some(payload) = shape::payload_mut(conversation, shape, edit.at) else {
            unreachable!("edits point at payloads the scan found")
        };
        match edit.change {
            Change::Replace(value) => {
                *payload = value;
                report.results_deduplicated += 1;
            }
            Change::Pieces(new) => {
                for (slot, text) in shape::pieces_mut(payload, shape).into_iter().zip(new) {
                    if let Some(text) = text {
                        *slot = text;
                    }
                }
                report.results_truncated += 1;
            }
        }
        report.tokens_after = report.tokens_after - edit.tokens_old + edit.tokens_new;
    }
    report
}

fn skipped(tokens: usize, reason: SkipReason) -> ContextReport {
    ContextReport {
        tokens_before: tokens,
        tokens_after: tokens,
        skipped: Some(reason),
        results_deduplicated: 0,
        results_truncated: 0,
    }
}

/// One rewrite of one tool result, fully owned so it can be applied after the scan.
struct Edit {
    at: shape::At,
    change: Change,
    tokens_old: usize,
    tokens_new: usize,
}

enum Change {
    /// The whole payload becomes this value (a deduplication marker).
    Replace(Value),
    /// The payload's text pieces, in scan order; `None` keeps a piece as it is.
    Pieces(Vec<Option<String>>),
}

fn plan(scan: &shape::Scan<'_>, params: &Tier1Params) -> Vec<Edit> {
    let results = &scan.results;
    let window_start = scan.len.saturating_sub(params.keep_recent);
    let newest = newest_identical_copies(results);

    let mut edits = Vec::new();
    for (k, result) in results.iter().enumerate() {
        if result.at.msg >= window_start || result.has_marker {
            continue;
        }
        if let Some(copy) = newest[k]
            && let Some(edit) = dedup_edit(result, results[copy].at.msg)
        {
            edits.push(edit);
            continue;
        }
        if result.tokens() > params.truncate_above
            && let Some(edit) = truncate_edit(result, params)
        {
            edits.push(edit);
        }
    }
    edits
}

/// For each result, the index of the newest *later* result with exactly the same payload.
///
/// Walking newest first, the first result seen of each distinct payload is its newest copy;
/// every older equal payload points at it. Hashes only group candidates: equality is always
/// checked on the payload itself, so a hash collision can never merge different content
/// (e.g. the same file read twice with different contents).
fn newest_identical_copies(results: &[shape::Found<'_>]) -> Vec<Option<usize>> {
    let mut newest = vec![None; results.len()];
    let mut seen: HashMap<u64, Vec<usize>> = HashMap::new();
    for k in (0..results.len()).rev() {
        let result = &results[k];
        // Results with images or markers are never merged; empty ones would only grow.
        if result.opaque || result.has_marker || result.pieces.iter().all(|p| p.is_empty()) {
            continue;
        }
        let bucket = seen.entry(result.hash).or_default();
        match bucket.iter().find(|&&other| results[other].payload == result.payload) {
            Some(&other) => newest[k] = Some(other),
            None => bucket.push(k),
        }
    }
    newest
}

fn dedup_edit(result: &shape::Found<'_>, kept_msg: usize) -> Option<Edit> {
    let marker = dedup_marker(kept_msg);
    let tokens_new = tokens::count(&marker);
    let replacement = shape::marker_payload(result.shape, marker);
    // Serialized size of a payload is at least its strings' escaped lengths plus quotes.
    let old_bytes_at_least: usize = result.pieces.iter().map(|p| json_len(p) + 2).sum();
    let new_bytes = serialized_len(&replacement);
    (tokens_new < result.tokens() && new_bytes < old_bytes_at_least).then(|| Edit {
        at: result.at,
        change: Change::Replace(replacement),
        tokens_old: result.tokens(),
        tokens_new,
    })
}

fn truncate_edit(result: &shape::Found<'_>, params: &Tier1Params) -> Option<Edit> {
    let mut new = Vec::with_capacity(result.pieces.len());
    let mut tokens_new = 0;
    let mut bytes_old = 0;
    let mut bytes_new = 0;
    for (piece, &piece_tokens) in result.pieces.iter().zip(&result.piece_tokens) {
        match truncate::cut(piece, params.head_lines, params.tail_lines) {
            Some(cut) => {
                tokens_new += tokens::count_cached(&cut);
                bytes_old += json_len(piece);
                bytes_new += json_len(&cut);
                new.push(Some(cut));
            }
            None => {
                tokens_new += piece_tokens;
                new.push(None);
            }
        }
    }
    (tokens_new < result.tokens() && bytes_new < bytes_old).then(|| Edit {
        at: result.at,
        change: Change::Pieces(new),
        tokens_old: result.tokens(),
        tokens_new,
    })
}

/// Length of `s` once written as a JSON string body (without the quotes), as serde_json
/// escapes it: `"`, `\\` and the short control escapes take 2 bytes, other controls 6.
/// This runs over every byte of every rewritten result, so it counts in 32-byte chunks
/// with a byte-wide sum (at most 5 extra bytes per input byte: 160 fits in a `u8`), which
/// the compiler vectorises.
fn json_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut extra = 0;
    for chunk in bytes.chunks(32) {
        let mut chunk_extra = 0u8;
        for &b in chunk {
            let escaped = u8::from(b < 0x20 || b == b'"' || b == b'\\');
            let unicode_escaped = u8::from(b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x08 | 0x0c));
            chunk_extra += escaped + 4 * unicode_escaped;
        }
        extra += usize::from(chunk_extra);
    }
    bytes.len() + extra
}

fn serialized_len(value: &Value) -> usize {
    // Markers are a few dozen bytes: serializing them is cheaper than reasoning about it.
    serde_json::to_string(value).map_or(usize::MAX, |s| s.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_len_matches_serde_json() {
        let long_controls = "\u{1}\u{2}\"\\".repeat(40);
        let long_mixed = "line \"quoted\"\t\u{1b}[0m ünï\n".repeat(50);
        for s in [
            "plain",
            "quote \" and \\ back",
            "tab\tnew\nline\r",
            "ctl \u{1} \u{1f} \u{7f}",
            "ünïcødé ✓",
            long_controls.as_str(),
            long_mixed.as_str(),
        ] {
            let serialized = serde_json::to_string(s).unwrap();
            assert_eq!(json_len(s) + 2, serialized.len(), "{s:?}");
        }
    }

    #[test]
    fn skip_reasons_have_stable_names() {
        assert_eq!(SkipReason::BelowThreshold.as_str(), "below_threshold");
        assert_eq!(SkipReason::NoSavings.as_str(), "no_savings");
        assert_eq!(SkipReason::UnsupportedShape.as_str(), "unsupported_shape");
    }

    #[test]
    fn unsupported_shape_leaves_the_body_alone() {
        let mut body = json!({"model": "x", "messages": "not an array"}).as_object().unwrap().clone();
        let before = body.clone();
        let report = compress(&mut body, Shape::OpenAiChat, ContextLevel::Standard);
        assert_eq!(report.skipped, Some(SkipReason::UnsupportedShape));
        assert_eq!(body, before);
    }
}
