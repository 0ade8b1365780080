//! Reads token usage out of an upstream response while its bytes are relayed, without
//! holding them back or changing them: a copy of a JSON body (bounded), or the `data:`
//! lines of a server-sent-event stream, one complete line at a time.
//!
//! Understood: OpenAI chat (`usage.prompt_tokens` / `completion_tokens`, the last chunk of
//! a stream when the client asked for it), Responses (`usage.input_tokens` /
//! `output_tokens`, in `response.completed` when streaming), Anthropic (`usage`, and
//! `message_start.message.usage` then cumulative `message_delta.usage` when streaming;
//! input counts cache reads and writes too).

use serde_json::Value;

/// JSON bodies larger than this are relayed but not parsed for usage.
const MAX_JSON_COPY: usize = 8 * 1024 * 1024;
/// An SSE line longer than this is skipped (no usage event is anywhere near it).
const MAX_LINE: usize = 1024 * 1024;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

pub enum Observer {
    /// A JSON (or other non-stream) body: a bounded copy, parsed at the end.
    Json { copy: Vec<u8>, overflow: bool },
    /// An event stream: the unfinished line carried between chunks.
    Sse { line: Vec<u8>, skipping: bool, usage: Usage },
    /// A body that cannot be read (compressed, or not from a generation route).
    Ignore,
}

impl Observer {
    pub fn new(event_stream: bool, readable: bool) -> Observer {
        match (readable, event_stream) {
            (false, _) => Observer::Ignore,
            (true, true) => Observer::Sse { line: Vec::new(), skipping: false, usage: Usage::default() },
            (true, false) => Observer::Json { copy: Vec::new(), overflow: false },
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        match self {
            Observer::Ignore => {}
            Observer::Json { copy, overflow } => {
                if *overflow || copy.len() + chunk.len() > MAX_JSON_COPY {
                    *overflow = true;
                    copy.clear();
                } else {
                    copy.extend_from_slice(chunk);
                }
            }
            Observer::Sse { line, skipping, usage } => {
                for piece in chunk.split_inclusive(|b| *b == b'\n') {
                    let complete = piece.ends_with(b"\n");
                    if !*skipping {
                        if line.len() + piece.len() > MAX_LINE {
                            *skipping = true;
                            line.clear();
                        } else {
                            line.extend_from_slice(piece);
                        }
                    }
                    if complete {
                        if !*skipping {
                            sse_line(line, usage);
                        }
                        line.clear();
                        *skipping = false;
                    }
                }
            }
        }
    }

    /// The usage seen, once the body has ended.
    pub fn finish(&mut self) -> Usage {
        match self {
            Observer::Ignore => Usage::default(),
            Observer::Json { copy, overflow } => {
                if *overflow {
                    return Usage::default();
                }
                let mut usage = Usage::default();
                if let Ok(value) = serde_json::from_slice::<Value>(copy) {
                    // Responses and chat put `usage` at the top level, as does Anthropic.
                    merge(&mut usage, value.get("usage"));
                    merge(&mut usage, value.pointer("/response/usage"));
                }
                usage
            }
            Observer::Sse { line, usage, skipping } => {
                if !*skipping && !line.is_empty() {
                    sse_line(line, usage);
                }
                *usage
            }
        }
    }
}

fn sse_line(line: &[u8], usage: &mut Usage) {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(data) = line.strip_prefix(b"data:") else { return };
    // Cheap pre-check: most events carry no usage at all.
    if !data.windows(5).any(|w| w == b"usage") {
        return;
    }
    let Ok(value) = serde_json::from_slice::<Value>(data) else { return };
    merge(usage, value.get("usage"));
    merge(usage, value.pointer("/message/usage"));
    merge(usage, value.pointer("/response/usage"));
}

/// Later figures win: Anthropic's `message_delta` output count is cumulative, and its input
/// figure (when present) repeats `message_start`'s.
fn merge(usage: &mut Usage, found: Option<&Value>) {
    let Some(u) = found.filter(|u| u.is_object()) else { return };
    let n = |key: &str| u.get(key).and_then(Value::as_u64);
    let input = n("prompt_tokens").or_else(|| {
        n("input_tokens")
            .map(|i| i + n("cache_creation_input_tokens").unwrap_or(0) + n("cache_read_input_tokens").unwrap_or(0))
    });
    let output = n("completion_tokens").or_else(|| n("output_tokens"));
    if let Some(i) = input.filter(|i| *i > 0 || usage.input_tokens.is_none()) {
        usage.input_tokens = Some(i);
    }
    if output.is_some() {
        usage.output_tokens = output;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_stream_split_across_chunks() {
        let stream = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":120,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":9}}\n\n";
        let mut o = Observer::new(true, true);
        for piece in stream.chunks(7) {
            o.feed(piece);
        }
        assert_eq!(o.finish(), Usage { input_tokens: Some(125), output_tokens: Some(9) });
    }

    #[test]
    fn openai_json_and_responses_stream() {
        let mut o = Observer::new(false, true);
        o.feed(br#"{"id":"x","usage":{"prompt_tokens":40,"completion_tokens":9,"total_tokens":49}}"#);
        assert_eq!(o.finish(), Usage { input_tokens: Some(40), output_tokens: Some(9) });
        let mut o = Observer::new(true, true);
        o.feed(b"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}}\n\n");
        assert_eq!(o.finish(), Usage { input_tokens: Some(3), output_tokens: Some(4) });
    }

    #[test]
    fn unreadable_bodies_give_nothing() {
        let mut o = Observer::new(false, false);
        o.feed(br#"{"usage":{"prompt_tokens":1}}"#);
        assert_eq!(o.finish(), Usage::default());
        let mut o = Observer::new(false, true);
        o.feed(b"\x1f\x8b not json");
        assert_eq!(o.finish(), Usage::default());
    }
}
