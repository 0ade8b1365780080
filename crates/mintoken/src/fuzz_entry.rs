//! The bodies of the fuzz targets in `fuzz/` (see `docs/reliability.md`, "Fuzzing"), kept
//! here so the targets stay one line each and `tests/fuzz_corpora.rs` replays the kept
//! corpora through exactly the same code on every `cargo test`, without cargo-fuzz.
//!
//! Each entry takes arbitrary bytes, drives one piece of request-reachable code with
//! them, and panics when an invariant fails. Nothing here is part of the product.

use crate::proxy::anthropic::AnthropicMessages;
use crate::proxy::dialect::{Dialect, EventAction, RouteInfo};
use crate::proxy::google::Gemini;
use crate::proxy::openai_chat::OpenAiChat;
use crate::proxy::openai_responses::OpenAiResponses;
use crate::proxy::sse::{self, EventSplitter};
use crate::rules::{Rule, RuleSet, RuleType};
use axum::http::StatusCode;
use mintoken_compress::context::{self, Shape};
use mintoken_compress::{ContextLevel, Intensity, classifier, input, skill, tokens};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

/// Separates the parts of a multi-part fuzz input. Never valid in UTF-8, so JSON and SSE
/// text never contain it by accident.
pub const SEPARATOR: u8 = 0xFF;

/// A fuzz target's body.
pub type Entry = fn(&[u8]);

/// The fuzz targets, by name: the directory names under `fuzz/corpus/`.
pub const TARGETS: [(&str, Entry); 4] =
    [("sse", sse_reader), ("dialects", dialect_bodies), ("compress", compressors), ("classify", classify)];

/// A cursor over the input that yields zeros once it runs out (so every input is valid).
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        let (&first, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        first
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every complete event and the unterminated rest of `stream`, pushed in chunks whose
/// sizes cycle through `sizes` (a size 0 pushes an empty chunk, then a 1-byte one).
fn split_events(stream: &[u8], sizes: &[u8]) -> (Vec<Vec<u8>>, Option<Vec<u8>>) {
    let mut splitter = EventSplitter::default();
    let mut events = Vec::new();
    let mut rest = stream;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let size = match sizes.next() {
            Some(0) => {
                splitter.push(&[]);
                1
            }
            Some(&s) => usize::from(s),
            None => rest.len(),
        };
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        splitter.push(chunk);
        while let Some(event) = splitter.next_event() {
            events.push(event.to_vec());
        }
        rest = tail;
    }
    while let Some(event) = splitter.next_event() {
        events.push(event.to_vec());
    }
    (events, splitter.take_rest().map(|b| b.to_vec()))
}

/// SSE reader. Input: a count `n`, `n` chunk sizes, then the stream bytes.
///
/// Invariants: the events and the rest do not depend on how the stream was chunked; they
/// add up to the stream byte for byte; an event pushed alone comes back whole, as one
/// event; `single_data` of an event is a part of it.
pub fn sse_reader(data: &[u8]) {
    let mut input = Input(data);
    let n = usize::from(input.byte() % 16);
    let sizes = input.take(n);
    let stream = input.0;

    let (whole, whole_rest) = split_events(stream, &[]);
    let (chunked, chunked_rest) = split_events(stream, sizes);
    assert_eq!(whole, chunked, "events depend on chunking (sizes {sizes:?})");
    assert_eq!(whole_rest, chunked_rest, "the rest depends on chunking (sizes {sizes:?})");

    let mut joined: Vec<u8> = whole.concat();
    joined.extend(whole_rest.iter().flatten());
    assert_eq!(joined, stream, "events and rest do not add up to the stream");

    for event in &whole {
        let (again, rest) = split_events(event, &[]);
        assert_eq!((again.as_slice(), rest), (std::slice::from_ref(event), None), "an event is not one event");
        if let Some(payload) = sse::single_data(event) {
            let range = event.as_ptr_range();
            assert!(range.contains(&payload.as_ptr()) || payload.is_empty(), "data is not inside its event");
        }
    }
}

/// The four dialects, chosen by the input's first byte.
const DIALECTS: [&dyn Dialect; 4] = [&OpenAiChat, &OpenAiResponses, &AnthropicMessages, &Gemini];

/// Each dialect's body handling, in the order the proxy runs it. Input: a flags byte (which
/// dialect, route, intensity), then the request body, an upstream response body and an
/// upstream SSE stream, separated by [`SEPARATOR`].
///
/// Invariants: nothing panics; a body the dialect accepted and then changed (skill
/// injected, stream prepared) is still valid JSON that the dialect accepts again with the
/// same model, stream flag and path, and carries the skill text; an event the stream
/// observer rewrites is one complete SSE event whose data is a JSON object.
pub fn dialect_bodies(data: &[u8]) {
    let mut input = Input(data);
    let flags = input.byte();
    let dialect = DIALECTS[usize::from(flags % 4)];
    let route = RouteInfo {
        model: (flags & 0x04 != 0).then(|| "gemini-2.0-flash".to_owned()),
        stream: flags & 0x08 != 0,
        version: (flags & 0x10 != 0).then_some("v1"),
    };
    let intensity = Intensity::ALL[usize::from((flags >> 5) % 4)];
    let mut parts = input.0.splitn(3, |&b| b == SEPARATOR);
    let (request, response, stream) =
        (parts.next().unwrap_or_default(), parts.next().unwrap_or_default(), parts.next().unwrap_or_default());

    if let Ok(mut parsed) = dialect.parse(request, &route) {
        let _ = dialect.output_cap(&parsed);
        let prompt = dialect.prompt_text(&parsed);
        let _ = classifier::classify(&prompt.latest_user, &prompt.system);
        let skill = skill::text(intensity);
        let mut injected = false;
        if let Some(skill) = skill {
            injected = dialect.inject_skill(&mut parsed, skill).is_ok();
        }
        let prepared = dialect.prepare_stream(&mut parsed).is_ok();
        let body = serde_json::to_vec(&parsed.body).expect("a parsed body serializes");
        // Grammar only: a valid body may hold numbers no `Value` can (e.g. `1e400`).
        let _: Box<RawValue> = serde_json::from_slice(&body).expect("the forwarded body is valid JSON");
        if injected && let Some(skill) = skill {
            // A JSON string that starts with the skill starts with the skill's encoding.
            let encoded = serde_json::to_string(skill).expect("a string serializes");
            let prefix = &encoded.as_bytes()[..encoded.len() - 1];
            assert!(body.windows(prefix.len()).any(|w| w == prefix), "the skill is missing from the forwarded body");
        }
        if injected || prepared {
            // Gemini's body route moved the model from the body into the path.
            let body_route = route.model.is_none();
            let route = RouteInfo { model: Some(parsed.model.clone()), ..route };
            let again = dialect.parse(&body, &route).expect("mintoken rejects the body it forwards");
            assert_eq!((again.model, again.stream), (parsed.model, parsed.stream));
            assert!(body_route || again.path == parsed.path, "the upstream path changed");
        }
    }

    let _ = dialect.usage_from_body(response);
    let _ = dialect.answer_text(response);
    let message = String::from_utf8_lossy(response);
    for status in [StatusCode::BAD_REQUEST, StatusCode::TOO_MANY_REQUESTS, StatusCode::BAD_GATEWAY] {
        let _ = serde_json::to_vec(&dialect.error_body(status, &message)).expect("error bodies serialize");
    }

    // A stream observer as the relay builds one: from a request that asked for a stream.
    let streaming = match dialect.provider() {
        "google" => br#"{"contents":[]}"#.as_slice(),
        _ => br#"{"model":"m","messages":[],"input":"hi","stream":true}"#.as_slice(),
    };
    let route = RouteInfo { model: Some("g".to_owned()), stream: true, version: None };
    let mut streaming = dialect.parse(streaming, &route).expect("the fixed streaming request parses");
    if flags & 0x80 != 0 {
        // The client asked for usage itself: OpenAI chat then relays usage chunks as they are.
        let usage = serde_json::value::to_raw_value(&json!({"include_usage": true})).expect("serializes");
        streaming.body.insert("stream_options".to_owned(), usage);
    }
    let mut observer = dialect.prepare_stream(&mut streaming).expect("a stream can be prepared");
    let (events, rest) = split_events(stream, &[]);
    for event in events.iter().chain(rest.iter()) {
        if let EventAction::Replace(bytes) = observer.on_event(event) {
            let (again, rest) = split_events(&bytes, &[]);
            assert!(again.len() == 1 && rest.is_none(), "a rewritten event is not one SSE event");
            let data = sse::single_data(&bytes).expect("a rewritten event has one data line");
            let _: Map<String, Value> = serde_json::from_slice(data).expect("rewritten data is a JSON object");
        }
    }
    let _ = observer.tally();
}

const SHAPES: [Shape; 4] = [Shape::OpenAiChat, Shape::OpenAiResponses, Shape::Anthropic, Shape::Gemini];
const LEVELS: [ContextLevel; 3] = [ContextLevel::Conservative, ContextLevel::Standard, ContextLevel::Aggressive];

/// Input and context compression, as the proxy runs them (input first). Input: a flags
/// byte (shape, level, how the rest is read), then either a JSON request body, or bytes
/// that build a long agent conversation of the shape (so compression engages).
///
/// Invariants (docs/compression.md): the reports never claim more tokens after than before;
/// a skipped or unchanged body is left as it was; nothing outside the conversation changes;
/// the serialized body never grows; the report's `tokens_after` is the recount of the
/// output; compressing the output again changes nothing.
pub fn compressors(data: &[u8]) {
    let mut input = Input(data);
    let flags = input.byte();
    let shape = SHAPES[usize::from(flags % 4)];
    let level = LEVELS[usize::from((flags >> 2) % 3)];
    let mut body = if flags & 0x80 != 0 {
        match serde_json::from_slice::<Map<String, Value>>(input.0) {
            Ok(body) => body,
            Err(_) => return,
        }
    } else {
        conversation(&mut input, shape)
    };
    let key = shape.conversation_key();

    let before = body.clone();
    let report = input::compress_conversation(&mut body, shape);
    assert!(report.tokens_after <= report.tokens_before, "input compression added tokens: {report:?}");
    assert_eq!(report.changed, body != before, "input report says changed = {}", report.changed);
    assert_outside_unchanged(&before, &body, key);
    assert!(json_len(&body) <= json_len(&before), "input compression grew the body");
    let mut again = body.clone();
    assert!(!input::compress_conversation(&mut again, shape).changed, "input compression is not a fixed point");

    let before = body.clone();
    let report = context::compress(&mut body, shape, level);
    assert!(report.tokens_after <= report.tokens_before, "context compression added tokens: {report:?}");
    assert_eq!(report.skipped.is_none(), body != before, "context report does not match the change: {report:?}");
    assert_outside_unchanged(&before, &body, key);
    assert!(json_len(&body) <= json_len(&before), "context compression grew the body");
    if report.skipped.is_none() {
        assert_eq!(context::request_tokens(&body, shape), Some(report.tokens_after), "report is not the recount");
    }
    let mut again = body.clone();
    let second = context::compress(&mut again, shape, level);
    assert_eq!(again, body, "context compression is not idempotent: {second:?}");
}

fn json_len(body: &Map<String, Value>) -> usize {
    serde_json::to_vec(body).map_or(0, |b| b.len())
}

fn assert_outside_unchanged(before: &Map<String, Value>, after: &Map<String, Value>, key: &str) {
    let mut before = before.clone();
    let mut after = after.clone();
    before.remove(key);
    after.remove(key);
    assert_eq!(before, after, "a member outside `{key}` changed");
}

/// Lines tool results are made of: build logs, errors, markers, JSON, non-ASCII, blanks.
const LINES: [&str; 12] = [
    "   Compiling crate_{} v0.1.{}",
    "error[E0308]: mismatched types at src/main.rs:{}",
    "",
    "test case_{} ... ok",
    "[mintoken: {} lines omitted]",
    "warning: unused variable `v{}`",
    "{\"id\": {}, \"name\": \"row\", \"ok\": true}",
    "ünïcødé ✓ 日本語 {}",
    "    at Object.<anonymous> (/app/index.js:{}:13)   ",
    "```",
    "thread 'main' panicked at src/lib.rs:{}:5",
    "\t\t  ",
];

/// A tool result: lines from [`LINES`] (numbered) or taken raw from the input, repeated.
fn result_text(input: &mut Input) -> String {
    let lines = usize::from(input.byte() % 32);
    let mut out = String::new();
    for i in 0..lines {
        let pick = input.byte();
        let repeat = 1 + usize::from(input.byte() % 64);
        let line = match usize::from(pick) {
            k if k < LINES.len() * 16 => LINES[k % LINES.len()].replace("{}", &i.to_string()),
            k => text(input.take(k % 40)),
        };
        for _ in 0..repeat {
            out.push_str(&line);
            out.push('\n');
        }
    }
    if input.byte().is_multiple_of(2) {
        out.pop();
    }
    out
}

/// A conversation of the given shape: user turns, tool calls with their results (some
/// copies of earlier results), assistant text; the rest of the input decides which.
fn conversation(input: &mut Input, shape: Shape) -> Map<String, Value> {
    let mut items: Vec<Value> = Vec::new();
    let mut results: Vec<String> = Vec::new();
    let steps = usize::from(input.byte() % 24);
    for step in 0..steps {
        let kind = input.byte();
        let id = format!("call_{step}");
        let user = |text: String| match shape {
            Shape::Gemini => json!({"role": "user", "parts": [{"text": text}]}),
            _ => json!({"role": "user", "content": text}),
        };
        match kind % 4 {
            0 => {
                let n = usize::from(input.byte());
                let repeat = 1 + usize::from(input.byte() % 32);
                items.push(user(text(input.take(n)).repeat(repeat)));
            }
            1 | 2 => {
                let result = match (kind % 4, results.len()) {
                    (2, n) if n > 0 => {
                        let earlier = results[usize::from(input.byte()) % n].clone();
                        if input.byte().is_multiple_of(4) { format!("{earlier}changed\n") } else { earlier }
                    }
                    _ => result_text(input),
                };
                results.push(result.clone());
                let as_parts = kind & 0x10 != 0;
                match shape {
                    Shape::OpenAiChat => {
                        let function = json!({"name": "run", "arguments": "{\"cmd\":\"make\"}"});
                        let call = json!({"id": id, "type": "function", "function": function});
                        items.push(json!({"role": "assistant", "content": null, "tool_calls": [call]}));
                        let content = if as_parts { json!([{"type": "text", "text": result}]) } else { json!(result) };
                        items.push(json!({"role": "tool", "tool_call_id": id, "content": content}));
                    }
                    Shape::OpenAiResponses => {
                        items.push(json!({"type": "function_call", "call_id": id, "name": "run", "arguments": "{}"}));
                        items.push(json!({"type": "function_call_output", "call_id": id, "output": result}));
                    }
                    Shape::Anthropic => {
                        let call = json!({"type": "tool_use", "id": id, "name": "run", "input": {"cmd": "make"}});
                        items.push(json!({"role": "assistant", "content": [call]}));
                        let content = if as_parts { json!([{"type": "text", "text": result}]) } else { json!(result) };
                        let block = json!({"type": "tool_result", "tool_use_id": id, "content": content});
                        items.push(json!({"role": "user", "content": [block, {"type": "text", "text": "go on"}]}));
                    }
                    Shape::Gemini => {
                        items.push(json!({"role": "model", "parts": [{"functionCall": {"name": "run", "args": {}}}]}));
                        let response = if as_parts {
                            json!({"output": result, "lines": [result]})
                        } else {
                            json!({"output": result})
                        };
                        let part = json!({"functionResponse": {"name": "run", "response": response}});
                        items.push(json!({"role": "user", "parts": [part]}));
                    }
                }
            }
            _ => {
                let n = usize::from(input.byte() % 64);
                let said = text(input.take(n));
                items.push(match shape {
                    Shape::Gemini => json!({"role": "model", "parts": [{"text": said}]}),
                    Shape::OpenAiResponses => {
                        let part = json!({"type": "output_text", "text": said});
                        json!({"type": "message", "role": "assistant", "content": [part]})
                    }
                    _ => json!({"role": "assistant", "content": said}),
                });
            }
        }
    }
    let mut body = Map::new();
    body.insert("model".to_owned(), json!("m"));
    body.insert(shape.conversation_key().to_owned(), Value::Array(items));
    let system = "You are a coding agent.";
    match shape {
        Shape::Anthropic => body.insert("system".to_owned(), json!(system)),
        Shape::OpenAiResponses => body.insert("instructions".to_owned(), json!(system)),
        Shape::Gemini => body.insert("systemInstruction".to_owned(), json!({"parts": [{"text": system}]})),
        Shape::OpenAiChat => None,
    };
    body
}

/// The classifier, custom rules and token counting on arbitrary text. Input: the latest
/// user message, the system prompt and a rule pattern, separated by [`SEPARATOR`].
///
/// Invariants: classification is deterministic; a pattern `validate_pattern` accepts
/// compiles into a rule set that matches without panicking, and a `never_compress` rule
/// can only force `none`; a count is at most one token per byte, zero only for empty
/// text, and the cached count is the count; input compression of one text never adds
/// tokens or bytes and is a fixed point.
pub fn classify(data: &[u8]) {
    let mut parts = data.splitn(3, |&b| b == SEPARATOR).map(text);
    let user = parts.next().unwrap_or_default();
    let system = parts.next().unwrap_or_default();
    let pattern = parts.next();

    let class = classifier::classify(&user, &system);
    assert_eq!(class, classifier::classify(&user, &system), "the classifier is not deterministic");
    let _ = class.intensity();

    if let Some(pattern) = pattern
        && crate::rules::validate_pattern(&pattern).is_ok()
    {
        let rule = |rule_type, priority| Rule {
            id: format!("r{priority}"),
            rule_type,
            pattern: pattern.clone(),
            priority,
            created_at: 0,
        };
        let set = RuleSet::new(&[rule(RuleType::NeverCompress, 1), rule(RuleType::KeepExact, 2)]);
        let decided = set.decide(&[&user, &system]);
        assert!(decided.is_none() || decided == Some(Intensity::None), "never_compress forced {decided:?}");
    }

    for text in [&user, &system] {
        let count = tokens::count(text);
        assert!(count <= text.len(), "{count} tokens in {} bytes", text.len());
        assert_eq!(count == 0, text.is_empty(), "zero tokens for non-empty text, or the reverse");
        assert_eq!(tokens::count_cached(text), count, "the cached count differs");
        let (out, report) = input::compress_text(text);
        assert!(report.tokens_after <= report.tokens_before && out.len() <= text.len(), "input compression grew");
        assert!(!input::compress_text(&out).1.changed, "input compression of one text is not a fixed point");
    }
}
