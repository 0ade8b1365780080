//! OpenAI Chat Completions (`POST /v1/chat/completions`), also spoken by vLLM, Ollama
//! and other OpenAI-compatible servers.

use super::dialect::{
    Credential, Dialect, EventAction, MessageView, ParsedRequest, PromptText, RouteInfo, StreamObserver, StreamTally,
    Tokens, content_text,
};
use super::json::{self, RawObject};
use axum::http::StatusCode;
use serde_json::value::RawValue;
use serde_json::{Value, json};

pub struct OpenAiChat;

/// Wire types: only the fields mintoken reads. Everything else stays raw.
mod wire {
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct Role<'a> {
        #[serde(borrow)]
        pub role: Option<std::borrow::Cow<'a, str>>,
    }

    #[derive(Deserialize, Clone, Copy)]
    pub struct Usage {
        #[serde(default)]
        pub prompt_tokens: i64,
        #[serde(default)]
        pub completion_tokens: i64,
    }

    #[derive(Deserialize)]
    pub struct WithUsage {
        pub usage: Option<Usage>,
    }

    /// A stream chunk, as far as usage capture needs it.
    #[derive(Deserialize)]
    pub struct Chunk {
        pub usage: Option<Usage>,
        #[serde(default)]
        pub choices: Vec<ChunkChoice>,
    }

    #[derive(Deserialize)]
    pub struct ChunkChoice {
        pub delta: Option<Delta>,
    }

    #[derive(Deserialize)]
    pub struct Delta {
        pub content: Option<String>,
        pub refusal: Option<String>,
        #[serde(default)]
        pub tool_calls: Vec<ToolCallDelta>,
    }

    #[derive(Deserialize)]
    pub struct ToolCallDelta {
        pub function: Option<FunctionDelta>,
    }

    #[derive(Deserialize)]
    pub struct FunctionDelta {
        pub name: Option<String>,
        pub arguments: Option<String>,
    }
}

impl From<wire::Usage> for Tokens {
    fn from(u: wire::Usage) -> Self {
        Tokens { input: u.prompt_tokens, output: u.completion_tokens }
    }
}

/// A system message's content with the skill in front: a string (the usual case) is
/// spliced, not decoded; parts get a leading text part; none gets the skill alone.
fn content_with_skill(skill: &str, content: Option<&RawValue>) -> Result<Box<RawValue>, &'static str> {
    if let Some(spliced) = content.and_then(|raw| json::prepend_skill(skill, raw)) {
        return Ok(spliced);
    }
    let content = content.map(|raw| serde_json::from_str::<Value>(raw.get())).transpose();
    match content.map_err(|_| "is not valid JSON")? {
        Some(Value::Array(mut parts)) => {
            parts.insert(0, json!({ "type": "text", "text": skill }));
            Ok(json::to_raw(&parts))
        }
        None | Some(Value::Null) => Ok(json::to_raw(skill)),
        Some(_) => Err("must be a string or an array of parts"),
    }
}

/// A `system` or `developer` message: the one the skill joins.
fn is_system(message: &RawValue) -> bool {
    serde_json::from_str::<wire::Role>(message.get())
        .ok()
        .and_then(|r| r.role)
        .is_some_and(|role| role == "system" || role == "developer")
}

/// `messages[index]` with the skill in front of its content.
fn message_with_skill(message: &RawValue, index: usize, skill: &str) -> Result<Box<RawValue>, String> {
    let mut message: RawObject =
        serde_json::from_str(message.get()).map_err(|_| format!("`messages[{index}]` must be an object"))?;
    let new_content = content_with_skill(skill, json::raw_member(&message, "content"))
        .map_err(|what| format!("`messages[{index}].content` {what}"))?;
    message.insert("content".to_owned(), new_content);
    Ok(json::to_raw(&message))
}

impl Dialect for OpenAiChat {
    fn provider(&self) -> &'static str {
        "openai"
    }

    fn endpoint(&self) -> &'static str {
        "chat.completions"
    }

    fn parse(&self, body: &[u8], _route: &RouteInfo) -> Result<ParsedRequest, String> {
        let object = json::parse_object(body)?;
        let model = json::required_string(&object, "model", "e.g. \"gpt-4o-mini\"")?;
        json::require_array(&object, "messages", "an array of chat messages")?;
        let stream = json::optional_bool(&object, "stream")?.unwrap_or(false);
        Ok(ParsedRequest { body: object, model, stream, path: "/v1/chat/completions".to_owned() })
    }

    fn prompt_text(&self, request: &ParsedRequest) -> PromptText {
        let messages = MessageView::member(&request.body, "messages");
        let latest_user =
            messages.iter().rev().find(|m| m.role_is(&["user"])).and_then(|m| MessageView::text_of(m.content));
        let system: Vec<String> = messages
            .iter()
            .filter(|m| m.role_is(&["system", "developer"]))
            .filter_map(|m| MessageView::text_of(m.content))
            .collect();
        PromptText { latest_user: latest_user.unwrap_or_default(), system: system.join("\n") }
    }

    fn context_shape(&self) -> mintoken_compress::context::Shape {
        mintoken_compress::context::Shape::OpenAiChat
    }

    /// Prepends to the first `system`/`developer` message, or inserts a system message
    /// at index 0. Other messages keep their exact bytes.
    fn inject_skill(&self, request: &mut ParsedRequest, skill: &str) -> Result<(), String> {
        let Some(raw_messages) = request.body.get("messages") else { return Ok(()) };
        let not_messages = "`messages` must be an array of chat messages";
        // The usual shape (SDKs, agents): the system message first. Only it is read; the
        // rest of the array, however long, is copied as it stands.
        if let Some(first) = json::first_element(raw_messages)
            && is_system(first.element)
        {
            let messages = first.replaced_by(&message_with_skill(first.element, 0, skill)?);
            request.body.insert("messages".to_owned(), messages);
            return Ok(());
        }
        // Borrowed: the other messages are copied once, into the new array, not first
        // each into a box of its own.
        let mut messages: Vec<&RawValue> = serde_json::from_str(raw_messages.get()).map_err(|_| not_messages)?;
        let changed: Box<RawValue>;
        match messages.iter().position(|m| is_system(m)) {
            Some(i) => {
                changed = message_with_skill(messages[i], i, skill)?;
                messages[i] = &changed;
            }
            None => {
                changed = json::to_raw(&json!({ "role": "system", "content": skill }));
                messages.insert(0, &changed);
            }
        }
        let messages = json::to_raw(&messages);
        request.body.insert("messages".to_owned(), messages);
        Ok(())
    }

    /// Asks upstream for `stream_options.include_usage` when the client did not, and
    /// returns an observer that then hides the extra usage from the client.
    fn prepare_stream(&self, request: &mut ParsedRequest) -> Result<Box<dyn StreamObserver>, String> {
        let mut options: serde_json::Map<String, Value> = match request.body.get("stream_options") {
            None => serde_json::Map::new(),
            Some(raw) => match serde_json::from_str::<Value>(raw.get()) {
                Ok(Value::Object(map)) => map,
                Ok(Value::Null) => serde_json::Map::new(),
                _ => return Err("`stream_options` must be an object".to_owned()),
            },
        };
        let client_asked = options.get("include_usage").and_then(Value::as_bool) == Some(true);
        if !client_asked {
            options.insert("include_usage".to_owned(), Value::Bool(true));
            request.body.insert("stream_options".to_owned(), json::to_raw(&options));
        }
        Ok(Box::new(ChatStreamObserver { hide_usage: !client_asked, tally: StreamTally::default() }))
    }

    fn base_url<'a>(&self, config: &'a crate::config::Config) -> &'a str {
        &config.openai_base_url
    }

    fn credential(&self) -> Credential {
        Credential::Header { name: "authorization", prefix: "Bearer " }
    }

    fn usage_from_body(&self, body: &[u8]) -> Option<Tokens> {
        serde_json::from_slice::<wire::WithUsage>(body).ok()?.usage.map(Tokens::from)
    }

    /// The first choice's message: its content (a string, or text parts as some
    /// compatible servers send), else its refusal.
    fn answer_text(&self, body: &[u8]) -> Option<String> {
        let response: Value = serde_json::from_slice(body).ok()?;
        let message = response.get("choices")?.get(0)?.get("message")?;
        let content = message.get("content").map(content_text).filter(|t| !t.is_empty());
        content.or_else(|| message.get("refusal").and_then(Value::as_str).map(str::to_owned))
    }

    fn error_body(&self, status: StatusCode, message: &str) -> Value {
        openai_error_body(status, message)
    }
}

/// OpenAI's error envelope (shared with the Responses API).
pub fn openai_error_body(status: StatusCode, message: &str) -> Value {
    let (kind, code) = match status.as_u16() {
        401 => ("invalid_request_error", Value::from("invalid_api_key")),
        429 if message.contains("quota") => ("insufficient_quota", Value::from("insufficient_quota")),
        429 => ("rate_limit_exceeded", Value::from("rate_limit_exceeded")),
        400..=499 => ("invalid_request_error", Value::Null),
        504 => ("timeout", Value::from("upstream_timeout")),
        _ => ("api_error", Value::Null),
    };
    json!({
        "error": { "message": message, "type": kind, "param": null, "code": code },
        "detail": message,
    })
}

struct ChatStreamObserver {
    /// mintoken added `include_usage`: withhold the usage-only chunk and the
    /// `"usage": null` member OpenAI then adds to every other chunk.
    hide_usage: bool,
    tally: StreamTally,
}

impl StreamObserver for ChatStreamObserver {
    fn on_event(&mut self, event: &[u8]) -> EventAction {
        let Some(data) = super::sse::single_data(event) else { return EventAction::Pass };
        if !data.starts_with(b"{") {
            return EventAction::Pass; // `[DONE]` and anything unexpected
        }
        let Ok(chunk) = serde_json::from_slice::<wire::Chunk>(data) else { return EventAction::Pass };
        for delta in chunk.choices.iter().filter_map(|c| c.delta.as_ref()) {
            for piece in [&delta.content, &delta.refusal].into_iter().flatten() {
                self.tally.text.push_str(piece);
            }
            for call in delta.tool_calls.iter().filter_map(|t| t.function.as_ref()) {
                for piece in [&call.name, &call.arguments].into_iter().flatten() {
                    self.tally.text.push_str(piece);
                }
            }
        }
        if let Some(usage) = chunk.usage {
            self.tally.usage = Some(usage.into());
        }
        if !self.hide_usage {
            return EventAction::Pass;
        }
        if chunk.usage.is_some() && chunk.choices.is_empty() {
            return EventAction::Drop;
        }
        match serde_json::from_slice::<RawObject>(data) {
            Ok(mut object) if object.get("usage").is_some_and(|u| u.get() == "null") => {
                object.shift_remove("usage");
                let mut out = b"data: ".to_vec();
                out.extend_from_slice(&json::to_bytes(&object));
                out.extend_from_slice(b"\n\n");
                EventAction::Replace(out)
            }
            _ => EventAction::Pass,
        }
    }

    fn tally(&self) -> &StreamTally {
        &self.tally
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(body: &str) -> ParsedRequest {
        OpenAiChat.parse(body.as_bytes(), &RouteInfo::default()).unwrap()
    }

    fn parse_err(body: &[u8]) -> String {
        OpenAiChat.parse(body, &RouteInfo::default()).unwrap_err()
    }

    fn body_of(r: &ParsedRequest) -> String {
        String::from_utf8(json::to_bytes(&r.body)).unwrap()
    }

    #[test]
    fn prepends_to_the_first_system_message_and_keeps_the_rest() {
        let mut r = parsed(
            r#"{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"system","content":"Be kind."}],"temperature":0.70}"#,
        );
        OpenAiChat.inject_skill(&mut r, "SKILL").unwrap();
        assert_eq!(
            body_of(&r),
            r#"{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"system","content":"SKILL\n\nBe kind."}],"temperature":0.70}"#
        );
    }

    /// A leading system message (the common shape) is changed alone; what follows it, odd
    /// spacing and escapes included, is copied byte for byte.
    #[test]
    fn a_leading_system_message_is_changed_alone() {
        let tail = r#" ,{"role":"user","content":"caf\u00e9","n":1.0e3} , {"role":"system","content":"later"} ]"#;
        let mut r = parsed(&format!(r#"{{"model":"m","messages":[ {{"role":"system","content":"Be kind."}}{tail}}}"#));
        OpenAiChat.inject_skill(&mut r, "SKILL").unwrap();
        assert_eq!(
            body_of(&r),
            format!(r#"{{"model":"m","messages":[{{"role":"system","content":"SKILL\n\nBe kind."}}{tail}}}"#)
        );
        let mut r = parsed(r#"{"model":"m","messages":[{"role":"developer","content":7},{"role":"user"}]}"#);
        let error = OpenAiChat.inject_skill(&mut r, "SKILL").unwrap_err();
        assert_eq!(error, "`messages[0].content` must be a string or an array of parts");
    }

    #[test]
    fn inserts_a_system_message_when_there_is_none() {
        let mut r = parsed(r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#);
        OpenAiChat.inject_skill(&mut r, "SKILL").unwrap();
        assert_eq!(
            body_of(&r),
            r#"{"model":"m","messages":[{"role":"system","content":"SKILL"},{"role":"user","content":"hi"}]}"#
        );
    }

    #[test]
    fn adds_a_leading_text_part_to_a_developer_message_with_parts() {
        let mut r =
            parsed(r#"{"model":"m","messages":[{"role":"developer","content":[{"type":"text","text":"Rules"}]}]}"#);
        OpenAiChat.inject_skill(&mut r, "SKILL").unwrap();
        assert!(body_of(&r).contains(r#"[{"type":"text","text":"SKILL"},{"type":"text","text":"Rules"}]"#));
    }

    #[test]
    fn rejects_bodies_missing_what_openai_requires() {
        assert!(parse_err(br#"{"messages":[]}"#).contains("`model` is required"));
        assert!(parse_err(br#"{"model":"m"}"#).contains("`messages` is required"));
        assert!(parse_err(br#"{"model":1,"messages":[]}"#).contains("must be a string"));
        assert!(parse_err(br#"{"model":"m","messages":{}}"#).contains("must be an array"));
        assert!(!parse_err(br#"{"model":"m","messages":[],"stream":"yes"}"#).is_empty());
    }

    #[test]
    fn requests_usage_and_hides_it_when_the_client_did_not_ask() {
        let mut r = parsed(r#"{"model":"m","messages":[],"stream":true}"#);
        let mut obs = OpenAiChat.prepare_stream(&mut r).unwrap();
        assert!(body_of(&r).ends_with(r#""stream_options":{"include_usage":true}}"#));
        let chunk =
            b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n";
        match obs.on_event(chunk) {
            EventAction::Replace(b) => {
                assert_eq!(b, b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n")
            }
            _ => panic!("usage:null must be removed"),
        }
        let usage = b"data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7}}\n\n";
        assert!(matches!(obs.on_event(usage), EventAction::Drop));
        assert!(matches!(obs.on_event(b"data: [DONE]\n\n"), EventAction::Pass));
        assert_eq!(obs.tally().usage, Some(Tokens { input: 5, output: 7 }));
        assert_eq!(obs.tally().text.kept(), "Hi");
    }

    #[test]
    fn relays_usage_untouched_when_the_client_asked_for_it() {
        let mut r = parsed(r#"{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true}}"#);
        let mut obs = OpenAiChat.prepare_stream(&mut r).unwrap();
        assert!(body_of(&r).ends_with(r#""stream_options":{"include_usage":true}}"#));
        let usage = b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7}}\n\n";
        assert!(matches!(obs.on_event(usage), EventAction::Pass));
        assert_eq!(obs.tally().usage, Some(Tokens { input: 5, output: 7 }));
    }
}
