//! The mock's deterministic token accounting and how replies are cut into
//! streamed pieces. The rule is documented in the crate docs; keep the two in
//! sync.

use serde_json::Value;

/// Characters of conversation text in a content value: a plain string, or an
/// array of parts whose `text` strings count and whose `content` is walked
/// the same way (Anthropic `tool_result` blocks, Responses message items).
pub(crate) fn content_chars(value: &Value) -> usize {
    match value {
        Value::String(s) => s.chars().count(),
        Value::Array(parts) => parts.iter().map(part_chars).sum(),
        _ => 0,
    }
}

fn part_chars(part: &Value) -> usize {
    match part {
        Value::String(s) => s.chars().count(),
        Value::Object(map) => {
            let text = map.get("text").and_then(Value::as_str).map_or(0, |t| t.chars().count());
            text + map.get("content").map_or(0, content_chars)
        }
        _ => 0,
    }
}

/// Prompt tokens for this many characters of text: one token per started
/// group of four characters, the usual rule of thumb for English.
pub(crate) fn prompt_tokens(chars: usize) -> u64 {
    chars.div_ceil(4) as u64
}

/// Completion tokens of a text: its whitespace-separated words.
pub(crate) fn completion_tokens(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Cuts a reply into streamed pieces, one per word, each keeping the
/// whitespace that follows it (leading whitespace stays with the first), so
/// the pieces concatenate back to exactly the reply.
pub(crate) fn word_pieces(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut in_word = false;
    let mut seen_word = false;
    for (i, c) in text.char_indices() {
        let is_space = c.is_whitespace();
        if !is_space && !in_word {
            if seen_word {
                pieces.push(&text[start..i]);
                start = i;
            }
            seen_word = true;
        }
        in_word = !is_space;
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pieces_concatenate_to_the_text() {
        for text in ["", "one", "  lead and  double  ", "a\nb\tc", "  ", "héllo wörld"] {
            let pieces = word_pieces(text);
            assert_eq!(pieces.concat(), text);
            assert!(pieces.len() <= completion_tokens(text).max(1) as usize);
        }
        assert_eq!(word_pieces("Hello big world"), ["Hello ", "big ", "world"]);
    }

    #[test]
    fn counts_text_in_strings_and_parts() {
        assert_eq!(content_chars(&json!("abcd")), 4);
        let parts = json!([{"type": "text", "text": "ab"}, {"type": "image_url"},
            {"type": "tool_result", "content": [{"type": "text", "text": "xyz"}]}]);
        assert_eq!(content_chars(&parts), 5);
        assert_eq!(prompt_tokens(0), 0);
        assert_eq!(prompt_tokens(5), 2);
        assert_eq!(completion_tokens(" a  b\nc "), 3);
    }
}
