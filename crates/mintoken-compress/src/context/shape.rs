//! The provider JSON shapes, as far as Tier-1 context compression needs them: which text
//! of a request is counted, where the tool results are, which of their parts are text
//! (compressible) and which are not (images, files: never touched), and how a result is
//! reached again for rewriting.
//!
//! Reading and writing use the same predicates in the same order, so the n-th text piece
//! found by [`scan`] is the n-th slot returned by [`pieces_mut`].

use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Map, Value};

use super::{MARKER_PREFIX, Shape};
use crate::tokens;

/// Where a tool result's payload is: the index in the conversation array and, for shapes
/// that keep results in blocks or parts of a message, the index of that block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct At {
    pub msg: usize,
    pub block: Option<usize>,
}

/// One tool result as found by the scan.
pub(super) struct Found<'a> {
    pub shape: Shape,
    pub at: At,
    /// The value that is replaced by a deduplication marker: the `content` of an OpenAI
    /// tool message or Anthropic `tool_result`, the `output` of a Responses item, the
    /// `response` of a Gemini `functionResponse`.
    pub payload: &'a Value,
    /// The payload's text, in the order [`pieces_mut`] returns its slots.
    pub pieces: Vec<&'a str>,
    pub piece_tokens: Vec<usize>,
    /// The payload has parts that are not text (images, files, unknown types).
    pub opaque: bool,
    /// Some piece already carries a mintoken marker: the result is left alone for good.
    pub has_marker: bool,
    /// Hash of the pieces, to group candidate duplicates (equality is checked separately).
    pub hash: u64,
    tokens: usize,
}

impl Found<'_> {
    pub fn tokens(&self) -> usize {
        self.tokens
    }
}

/// Everything compression needs to know about a request, gathered in one pass.
pub(super) struct Scan<'a> {
    /// Length of the conversation array (0 for a Responses `input` given as a string).
    pub len: usize,
    /// Tokens of all counted text that is not a tool result.
    pub other_tokens: usize,
    pub results: Vec<Found<'a>>,
}

impl Scan<'_> {
    pub fn total_tokens(&self) -> usize {
        self.other_tokens + self.results.iter().map(|r| r.tokens).sum::<usize>()
    }
}

/// Reads the request. `None` when the conversation member is missing or is not an array of
/// objects (for Responses, a string `input` is accepted and has no tool results).
pub(super) fn scan(body: &Map<String, Value>, shape: Shape) -> Option<Scan<'_>> {
    let mut scan = Scan { len: 0, other_tokens: 0, results: Vec::new() };
    match shape {
        Shape::OpenAiChat => scan_openai_chat(body, &mut scan)?,
        Shape::Anthropic => scan_anthropic(body, &mut scan)?,
        Shape::OpenAiResponses => scan_responses(body, &mut scan)?,
        Shape::Gemini => scan_gemini(body, &mut scan)?,
    }
    Some(scan)
}

fn objects<'a>(body: &'a Map<String, Value>, key: &str) -> Option<Vec<&'a Map<String, Value>>> {
    body.get(key)?.as_array()?.iter().map(Value::as_object).collect()
}

impl<'a> Scan<'a> {
    /// Counting dominates the cost of compression; the process-wide cache makes text seen
    /// before (earlier in this request or in an earlier turn of the session) nearly free.
    fn count(&mut self, text: &str) {
        self.other_tokens += tokens::count_cached(text);
    }

    /// Tool-call arguments given as structured JSON are counted in their compact form.
    fn count_json(&mut self, value: &Value) {
        match value {
            Value::Null => {}
            Value::String(s) => self.count(s),
            other => self.count(&other.to_string()),
        }
    }

    /// String content or an array of text parts; non-text parts are not counted.
    fn count_content(&mut self, content: Option<&Value>) {
        match content {
            Some(Value::String(s)) => self.count(s),
            Some(Value::Array(parts)) => {
                for part in parts {
                    if let Some(text) = text_of_part(part) {
                        self.count(text);
                    }
                }
            }
            _ => {}
        }
    }

    fn result(&mut self, shape: Shape, at: At, payload: &'a Value) {
        let mut pieces = Vec::new();
        let opaque = collect_pieces(payload, shape, &mut pieces);
        let mut result_hasher = DefaultHasher::new();
        let mut piece_tokens = Vec::with_capacity(pieces.len());
        for piece in &pieces {
            let hash = tokens::text_hash(piece);
            hash.hash(&mut result_hasher);
            piece_tokens.push(tokens::count_hashed(piece, hash));
        }
        let has_marker = pieces.iter().any(|p| p.contains(MARKER_PREFIX));
        let tokens = piece_tokens.iter().sum();
        let hash = result_hasher.finish();
        self.results.push(Found { shape, at, payload, pieces, piece_tokens, opaque, has_marker, hash, tokens });
    }
}

fn scan_openai_chat<'a>(body: &'a Map<String, Value>, scan: &mut Scan<'a>) -> Option<()> {
    let messages = objects(body, "messages")?;
    scan.len = messages.len();
    for (i, message) in messages.into_iter().enumerate() {
        if message.get("role").and_then(Value::as_str) == Some("tool") {
            if let Some(content) = message.get("content") {
                scan.result(Shape::OpenAiChat, At { msg: i, block: None }, content);
            }
            continue;
        }
        scan.count_content(message.get("content"));
        if let Some(refusal) = message.get("refusal").and_then(Value::as_str) {
            scan.count(refusal);
        }
        for call in message.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
            if let Some(arguments) = call.pointer("/function/arguments") {
                scan.count_json(arguments);
            }
        }
        if let Some(arguments) = message.get("function_call").and_then(|f| f.get("arguments")) {
            scan.count_json(arguments);
        }
    }
    Some(())
}

fn scan_anthropic<'a>(body: &'a Map<String, Value>, scan: &mut Scan<'a>) -> Option<()> {
    let messages = objects(body, "messages")?;
    scan.count_content(body.get("system"));
    scan.len = messages.len();
    for (i, message) in messages.into_iter().enumerate() {
        let blocks = match message.get("content") {
            Some(Value::Array(blocks)) => blocks,
            other => {
                scan.count_content(other);
                continue;
            }
        };
        for (j, block) in blocks.iter().enumerate() {
            let kind = block.get("type").and_then(Value::as_str);
            match kind {
                Some("tool_result") => {
                    if let Some(content) = block.get("content") {
                        scan.result(Shape::Anthropic, At { msg: i, block: Some(j) }, content);
                    }
                }
                Some("tool_use" | "server_tool_use") => {
                    if let Some(input) = block.get("input") {
                        scan.count_json(input);
                    }
                }
                Some("thinking") => {
                    if let Some(thinking) = block.get("thinking").and_then(Value::as_str) {
                        scan.count(thinking);
                    }
                }
                _ => {
                    if let Some(text) = text_of_part(block) {
                        scan.count(text);
                    }
                }
            }
        }
    }
    Some(())
}

/// Responses items whose `output` is a tool result.
const RESPONSES_OUTPUTS: [&str; 2] = ["function_call_output", "custom_tool_call_output"];

fn scan_responses<'a>(body: &'a Map<String, Value>, scan: &mut Scan<'a>) -> Option<()> {
    if let Some(instructions) = body.get("instructions").and_then(Value::as_str) {
        scan.count(instructions);
    }
    if let Some(Value::String(input)) = body.get("input") {
        scan.count(input);
        return Some(());
    }
    let items = objects(body, "input")?;
    scan.len = items.len();
    for (i, item) in items.into_iter().enumerate() {
        match item.get("type").and_then(Value::as_str) {
            Some(kind) if RESPONSES_OUTPUTS.contains(&kind) => {
                if let Some(output) = item.get("output") {
                    scan.result(Shape::OpenAiResponses, At { msg: i, block: None }, output);
                }
            }
            Some("function_call") => {
                if let Some(arguments) = item.get("arguments") {
                    scan.count_json(arguments);
                }
            }
            Some("custom_tool_call") => {
                if let Some(input) = item.get("input") {
                    scan.count_json(input);
                }
            }
            Some("reasoning") => {
                for part in item.get("summary").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(text) = part.get("text").and_then(Value::as_str) {
                        scan.count(text);
                    }
                }
            }
            // A message item may omit `type` (easy input message).
            Some("message") | None => scan.count_content(item.get("content")),
            Some(_) => {}
        }
    }
    Some(())
}

/// Gemini accepts both spellings of its field names in JSON.
fn either<'a>(object: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
    object.get(camel).or_else(|| object.get(snake))
}

fn scan_gemini<'a>(body: &'a Map<String, Value>, scan: &mut Scan<'a>) -> Option<()> {
    let contents = objects(body, "contents")?;
    if let Some(system) = either(body, "systemInstruction", "system_instruction") {
        for part in system.get("parts").and_then(Value::as_array).into_iter().flatten() {
            if let Some(text) = part.get("text").and_then(Value::as_str) {
                scan.count(text);
            }
        }
    }
    scan.len = contents.len();
    for (i, content) in contents.into_iter().enumerate() {
        for (j, part) in content.get("parts").and_then(Value::as_array).into_iter().flatten().enumerate() {
            let Some(part) = part.as_object() else { continue };
            if let Some(text) = part.get("text").and_then(Value::as_str) {
                scan.count(text);
            }
            if let Some(args) = either(part, "functionCall", "function_call").and_then(|c| c.get("args")) {
                scan.count_json(args);
            }
            if let Some(response) =
                either(part, "functionResponse", "function_response").and_then(|r| r.get("response"))
            {
                scan.result(Shape::Gemini, At { msg: i, block: Some(j) }, response);
            }
        }
    }
    Some(())
}

/// The text of a content part or block that is plain text, whatever the dialect calls it.
fn text_of_part(part: &Value) -> Option<&str> {
    match part.get("type")?.as_str()? {
        "text" | "input_text" | "output_text" => part.get("text")?.as_str(),
        _ => None,
    }
}

fn text_of_part_mut(part: &mut Value) -> Option<&mut String> {
    let object = part.as_object_mut()?;
    match object.get("type")?.as_str()? {
        "text" | "input_text" | "output_text" => match object.get_mut("text")? {
            Value::String(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// Pushes the payload's text pieces; returns whether it has parts that are not text.
fn collect_pieces<'a>(payload: &'a Value, shape: Shape, pieces: &mut Vec<&'a str>) -> bool {
    if shape == Shape::Gemini {
        // A Gemini response is free-form JSON: its text is every string in it.
        string_leaves(payload, pieces);
        return false;
    }
    match payload {
        Value::String(s) => {
            pieces.push(s);
            false
        }
        Value::Array(parts) => {
            let mut opaque = false;
            for part in parts {
                match text_of_part(part) {
                    Some(text) => pieces.push(text),
                    None => opaque = true,
                }
            }
            opaque
        }
        Value::Null => false,
        _ => true,
    }
}

fn string_leaves<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| string_leaves(v, out)),
        Value::Object(members) => members.values().for_each(|v| string_leaves(v, out)),
        _ => {}
    }
}

fn string_leaves_mut<'a>(value: &'a mut Value, out: &mut Vec<&'a mut String>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter_mut().for_each(|v| string_leaves_mut(v, out)),
        Value::Object(members) => members.values_mut().for_each(|v| string_leaves_mut(v, out)),
        _ => {}
    }
}

/// The writable text slots of a payload, in the order of `Found::pieces`.
pub(super) fn pieces_mut(payload: &mut Value, shape: Shape) -> Vec<&mut String> {
    let mut out = Vec::new();
    if shape == Shape::Gemini {
        string_leaves_mut(payload, &mut out);
        return out;
    }
    match payload {
        Value::String(s) => out.push(s),
        Value::Array(parts) => out.extend(parts.iter_mut().filter_map(text_of_part_mut)),
        _ => {}
    }
    out
}

/// Reaches the payload at `at` inside the conversation member again, for rewriting.
pub(super) fn payload_mut(conversation: &mut Value, shape: Shape, at: At) -> Option<&mut Value> {
    let element = conversation.as_array_mut()?.get_mut(at.msg)?.as_object_mut()?;
    match shape {
        Shape::OpenAiChat => element.get_mut("content"),
        Shape::OpenAiResponses => element.get_mut("output"),
        Shape::Anthropic => element.get_mut("content")?.as_array_mut()?.get_mut(at.block?)?.get_mut("content"),
        Shape::Gemini => {
            let part = element.get_mut("parts")?.as_array_mut()?.get_mut(at.block?)?.as_object_mut()?;
            let key = if part.contains_key("functionResponse") { "functionResponse" } else { "function_response" };
            part.get_mut(key)?.get_mut("response")
        }
    }
}

/// The payload that stands for a deduplicated result: the marker as string content, or for
/// Gemini (whose `response` must be an object) under `output`, the key Gemini documents for
/// a function's output.
pub(super) fn marker_payload(shape: Shape, marker: String) -> Value {
    match shape {
        Shape::Gemini => {
            let mut response = Map::new();
            response.insert("output".to_owned(), Value::String(marker));
            Value::Object(response)
        }
        _ => Value::String(marker),
    }
}
