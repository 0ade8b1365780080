//! Everything provider-specific sits behind [`Dialect`]; the pipeline in `proxy::mod`
//! is written once against it. Adding a provider means one new file implementing this
//! trait (plus its wire types and tests) and one line in the router.

use super::json::RawObject;
use super::json_scan;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// Token usage as a provider reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tokens {
    pub input: i64,
    pub output: i64,
}

/// What the route itself says about a request, beyond its body.
#[derive(Clone, Debug, Default)]
pub struct RouteInfo {
    /// Model named in the path (Google's native `models/{model}:action` routes).
    pub model: Option<String>,
    /// The path asks for a stream (Google's `:streamGenerateContent`).
    pub stream: bool,
    /// API version of the path (`v1`, `v1beta`), where the provider has several.
    pub version: Option<&'static str>,
}

/// A request body the dialect has checked, with what the pipeline needs from it.
#[derive(Debug)]
pub struct ParsedRequest {
    pub body: RawObject,
    pub model: String,
    pub stream: bool,
    /// Upstream path (`/v1/chat/completions`, `/v1beta/models/…:generateContent`).
    pub path: String,
}

/// The texts smart detection reads, taken before mintoken changes anything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PromptText {
    /// The latest user-authored message.
    pub latest_user: String,
    /// The system prompt(s), joined.
    pub system: String,
}

/// One element of a `messages` (or `contents`, `input`) array, or one part of a content
/// array, as far as the prompt text needs it: the role or part type, and the content
/// (`content`, Gemini's `parts`) or text left raw, borrowed from the body. The array is
/// walked, not parsed (`json_scan`: the body was parsed once already), and only roles and
/// types are decoded: reading a long conversation as a tree of `Value`s was the largest
/// cost of an agent-sized request, and even a parse that skips what it does not keep
/// read the conversation a second time at serde's pace (docs/BENCHMARKS.md). An element
/// that is not an object, or a role or type that is not a string, reads as absent, as
/// `Value::get` and `as_str` saw them.
#[derive(Default)]
pub struct MessageView<'a> {
    pub role: Option<Cow<'a, str>>,
    pub content: Option<&'a str>,
    pub parts: Option<&'a str>,
    /// A part's `type`.
    pub kind: Option<Cow<'a, str>>,
    /// A part's `text`.
    pub text: Option<&'a str>,
}

impl<'a> MessageView<'a> {
    /// The array the raw JSON `raw` holds, element by element; anything else reads as no
    /// messages.
    pub fn list(raw: Option<&'a str>) -> Vec<MessageView<'a>> {
        let mut views: Vec<MessageView<'a>> = Vec::new();
        let walked = raw.and_then(|raw| {
            json_scan::array_members(raw, |i, key, value| {
                if views.len() <= i {
                    views.resize_with(i + 1, MessageView::default);
                }
                let view = &mut views[i];
                match key_text(key).as_deref() {
                    Some("role") => view.role = string(value),
                    Some("type") => view.kind = string(value),
                    Some("content") => view.content = Some(value),
                    Some("parts") => view.parts = Some(value),
                    Some("text") => view.text = Some(value),
                    _ => {}
                }
            })
        });
        match walked {
            Some(count) => {
                views.resize_with(count, MessageView::default);
                views
            }
            None => Vec::new(),
        }
    }

    /// [`MessageView::list`] of the body's member `field`.
    pub fn member(body: &'a RawObject, field: &str) -> Vec<MessageView<'a>> {
        MessageView::list(super::json::raw_member(body, field).map(RawValue::get))
    }

    pub fn role_is(&self, roles: &[&str]) -> bool {
        self.role.as_deref().is_some_and(|role| roles.contains(&role))
    }

    /// [`content_text`] of a raw content (`None` when absent), read through views.
    pub fn text_of(raw: Option<&str>) -> Option<String> {
        let raw = raw?;
        Some(match raw.as_bytes().first() {
            Some(b'"') => serde_json::from_str(raw).unwrap_or_default(),
            Some(b'[') => {
                let parts = MessageView::list(Some(raw));
                let texts =
                    parts.iter().filter(|p| is_text_part(p.kind.as_deref())).filter_map(|p| p.text.and_then(string));
                texts.collect::<Vec<_>>().join("\n")
            }
            _ => String::new(),
        })
    }
}

/// A raw member key's text: as written unless it holds escapes (keys hardly ever do).
fn key_text(raw: &str) -> Option<Cow<'_, str>> {
    match raw.strip_prefix('"').and_then(|key| key.strip_suffix('"')) {
        Some(plain) if !plain.contains('\\') => Some(Cow::Borrowed(plain)),
        _ => string(raw),
    }
}

/// The string a raw value holds, if it is one.
fn string(raw: &str) -> Option<Cow<'_, str>> {
    serde_json::from_str::<Str>(raw).ok().map(|s| s.0)
}

/// A JSON string borrowed from the input unless it holds escapes (serde's own `Cow<str>`
/// always copies).
struct Str<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Str<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(StrVisitor)
    }
}

struct StrVisitor;

impl<'de> serde::de::Visitor<'de> for StrVisitor {
    type Value = Str<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Str(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Str(Cow::Owned(s.to_owned())))
    }
}

/// The text of a message content in any provider's shape: a string, or an array of
/// parts/blocks whose `text` members are joined by newlines (images, tool calls and
/// tool results carry no user-authored text and are skipped).
pub fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            let texts = parts.iter().filter(|p| is_text_part(p.get("type").and_then(Value::as_str)));
            texts.filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
        }
        _ => String::new(),
    }
}

/// Whether a part of this `type` holds text someone wrote (an untyped part does).
fn is_text_part(kind: Option<&str>) -> bool {
    kind.is_none_or(|t| t == "text" || t == "input_text")
}

/// How the provider key is written upstream.
pub enum Credential {
    /// A header, with a value prefix (e.g. `authorization: Bearer <key>`).
    Header { name: &'static str, prefix: &'static str },
    /// A query parameter (Google's `?key=`).
    Query { name: &'static str },
}

/// What to do with one server-sent event of an upstream stream.
pub enum EventAction {
    /// Relay the bytes unchanged.
    Pass,
    /// Withhold the event (e.g. a usage chunk the client did not ask for).
    Drop,
    /// Relay these bytes instead.
    Replace(Vec<u8>),
}

/// What a stream has shown so far: usage the provider reported, and the generated
/// text (counted when a stream ends without usage, e.g. cut by the client).
#[derive(Debug, Default)]
pub struct StreamTally {
    pub usage: Option<Tokens>,
    pub text: GeneratedText,
}

/// The text a stream generated, kept only to be counted if the stream ends without the
/// provider's figures. Kept text past [`GeneratedText::KEEP`] is counted and dropped, so
/// a stream's memory stays bounded however long it runs; counting in slices differs from
/// counting the whole text only at the slice edges.
#[derive(Debug, Default)]
pub struct GeneratedText {
    counted: i64,
    kept: String,
}

impl GeneratedText {
    /// Far beyond a normal answer (about 250,000 tokens), so the count almost always
    /// runs once, at the end, and only when it is needed.
    const KEEP: usize = 1 << 20;

    pub fn push_str(&mut self, piece: &str) {
        self.kept.push_str(piece);
        if self.kept.len() >= Self::KEEP {
            self.counted = self.counted.saturating_add(mintoken_compress::tokens::count(&self.kept) as i64);
            self.kept.clear();
        }
    }

    /// The text not yet counted.
    pub fn kept(&self) -> &str {
        &self.kept
    }

    /// Tokens of all the text pushed.
    pub fn tokens(&self) -> i64 {
        self.counted.saturating_add(mintoken_compress::tokens::count(&self.kept) as i64)
    }
}

/// Reads a response stream on the side: picks out usage, and may adjust events that
/// exist only because mintoken changed the request.
pub trait StreamObserver: Send {
    /// `event` is one complete SSE event including its terminating blank line.
    fn on_event(&mut self, event: &[u8]) -> EventAction;
    fn tally(&self) -> &StreamTally;
}

pub trait Dialect: Send + Sync + 'static {
    /// Provider name recorded on usage rows: `openai`, `anthropic`, `google`.
    fn provider(&self) -> &'static str;
    /// Endpoint name recorded on usage rows, e.g. `chat.completions`.
    fn endpoint(&self) -> &'static str;

    /// The mintoken key as the client sent it. Default: `Authorization: Bearer`.
    fn client_key<'a>(&self, headers: &'a HeaderMap, _query: &'a [(String, String)]) -> Option<&'a str> {
        crate::api::bearer(headers)
    }

    /// Checks and parses the body; `Err` is a message for a 400.
    fn parse(&self, body: &[u8], route: &RouteInfo) -> Result<ParsedRequest, String>;

    /// The most output tokens the request allows (`max_tokens` and its relatives), which
    /// bounds its quota reservation. Default: the top-level fields OpenAI and Anthropic use.
    fn output_cap(&self, request: &ParsedRequest) -> Option<i64> {
        ["max_completion_tokens", "max_tokens", "max_output_tokens"]
            .into_iter()
            .find_map(|name| super::json::member::<i64>(&request.body, name).ok().flatten())
            .filter(|cap| *cap > 0)
    }

    /// The latest user message and the system prompt, for smart detection and rules.
    fn prompt_text(&self, request: &ParsedRequest) -> PromptText;

    /// The conversation shape context compression works on.
    fn context_shape(&self) -> mintoken_compress::context::Shape;

    /// Puts the skill in front of the request's system prompt (creating one if absent).
    fn inject_skill(&self, request: &mut ParsedRequest, skill: &str) -> Result<(), String>;

    /// Adjusts a streaming request so usage can be read from the stream, and returns the
    /// observer that will read it.
    fn prepare_stream(&self, request: &mut ParsedRequest) -> Result<Box<dyn StreamObserver>, String>;

    /// Which configured base URL this dialect talks to.
    fn base_url<'a>(&self, config: &'a crate::config::Config) -> &'a str;

    fn credential(&self) -> Credential;

    /// Headers the provider requires that the client may leave out (with their
    /// defaults), e.g. `anthropic-version`.
    fn default_headers(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    /// Usage from a complete response body (also a non-SSE stream, read in full).
    fn usage_from_body(&self, body: &[u8]) -> Option<Tokens>;

    /// The generated text of a complete (non-streamed) response body, to show an answer
    /// (the playground). Default: unknown.
    fn answer_text(&self, _body: &[u8]) -> Option<String> {
        None
    }

    /// An error body in this provider's envelope, with a top-level `detail` carrying the
    /// same message, so the provider's SDK raises its usual exception.
    fn error_body(&self, status: StatusCode, message: &str) -> Value;
}

#[cfg(test)]
mod tests {
    use super::{GeneratedText, MessageView, content_text};
    use serde_json::Value;

    /// The views read `raw` as a tree of `Value`s does.
    fn assert_views_read_what_values_read(raw: &str) {
        let values: Vec<Value> = serde_json::from_str(raw).unwrap();
        let views = MessageView::list(Some(raw));
        assert_eq!(views.len(), values.len(), "{raw}");
        for (view, value) in views.iter().zip(&values) {
            assert_eq!(view.role.as_deref(), value.get("role").and_then(Value::as_str), "{value}");
            assert_eq!(MessageView::text_of(view.content), value.get("content").map(content_text), "{value}");
            assert_eq!(MessageView::text_of(view.parts), value.get("parts").map(content_text), "{value}");
        }
    }

    /// Roles that are not strings, elements that are not objects, repeated keys (the last
    /// wins), null and part-array contents, escapes in keys and values.
    #[test]
    fn message_views_read_what_values_read() {
        let raw = r#"[
            {"role":"system","content":"Be \"brief\"."},
            "a string", 42, -7, 1.5, true, null, [1, [2]], {},
            {"role":7,"content":"x"},
            {"role":"user","content":null},
            {"role":"assistant","content":"first","role":"user","content":"second"},
            {"r\u006fle":"user","content":[{"type":"text","text":"a"},{"type":"image_url"},{"text":"b"}]},
            {"role":"user","parts":[{"text":"gemini"}],"extra":{"deep":[{"role":"system"}]}},
            {"role":"user","content":[
                {"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"not typed by the user"}]},
                {"type":"text","text":"shown"}, {"type":5,"text":"typed oddly"}, {"text":7}, "bare", 3, null,
                {"type":"input_text","text":"esc\"aped\n"}, {"type":"image","text":"no"}, {"t\u0065xt":"key escaped"}
            ]},
            {"role":"user","content":{"type":"text","text":"an object is no content"}}
        ]"#;
        assert_views_read_what_values_read(raw);
        assert!(MessageView::list(Some(r#"{"role":"user"}"#)).is_empty());
        assert!(MessageView::list(Some("\"[]\"")).is_empty());
        assert!(MessageView::list(None).is_empty());
    }

    /// Generated conversations, compact and pretty-printed, whose strings are full of what
    /// the walk must not take for structure: quotes, backslashes, brackets, commas, colons.
    #[test]
    fn generated_conversations_read_as_values_do() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        const PIECES: [&str; 14] = ["a", "\"", "\\", "{", "}", "[", "]", ",", ":", "\n", "é", "\u{1}", " ", "\\\""];
        const KEYS: [&str; 7] = ["role", "content", "type", "text", "parts", "tool_calls", "x"];
        fn value(next: &mut dyn FnMut(usize) -> usize, depth: usize) -> Value {
            match if depth > 3 { next(4) } else { next(7) } {
                0 => Value::String((0..next(12)).map(|_| PIECES[next(PIECES.len())]).collect()),
                1 => Value::from(next(1000) as f64 / 8.0),
                2 => Value::Null,
                3 => Value::String(["user", "system", "text", "input_text"][next(4)].to_owned()),
                4 | 5 => {
                    let members = (0..next(5)).map(|_| (KEYS[next(KEYS.len())].to_owned(), value(next, depth + 1)));
                    Value::Object(members.collect())
                }
                _ => Value::Array((0..next(4)).map(|_| value(next, depth + 1)).collect()),
            }
        }
        for round in 0..2_000 {
            let messages: Vec<Value> = (0..next(6)).map(|_| value(&mut next, 0)).collect();
            let raw = if round % 2 == 0 {
                serde_json::to_string(&messages).unwrap()
            } else {
                serde_json::to_string_pretty(&messages).unwrap()
            };
            assert_views_read_what_values_read(&raw);
        }
    }

    #[test]
    fn generated_text_stays_bounded_and_counts_everything() {
        let piece = "The quick brown fox jumps over the lazy dog. ";
        let mut text = GeneratedText::default();
        let mut whole = String::new();
        for _ in 0..(3 * GeneratedText::KEEP / piece.len()) {
            text.push_str(piece);
            whole.push_str(piece);
            assert!(text.kept().len() < GeneratedText::KEEP + piece.len());
        }
        let expected = mintoken_compress::tokens::count(&whole) as i64;
        // Each slice edge may split what the tokenizer would merge (here the space that
        // ends one slice and the word that starts the next): at most a token per edge.
        let edges = (whole.len() / GeneratedText::KEEP) as i64;
        assert!((text.tokens() - expected).abs() <= edges, "{} vs {expected}", text.tokens());
    }
}
