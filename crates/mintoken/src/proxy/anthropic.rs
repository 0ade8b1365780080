//! Anthropic Messages (`POST /v1/messages`; `count_tokens` is passed through). The
//! Anthropic SDK sends its key as `x-api-key` (or `Authorization: Bearer` with
//! `auth_token`), so the mintoken key is accepted in both. Usage arrives in
//! `message_start` (input, cache) and `message_delta` (cumulative output).

use super::dialect::{
    Credential, Dialect, EventAction, MessageView, ParsedRequest, PromptText, RouteInfo, StreamObserver, StreamTally,
    Tokens,
};
use super::json;
use axum::http::{HeaderMap, StatusCode};
use serde_json::value::RawValue;
use serde_json::{Value, json};

pub struct AnthropicMessages;

/// The API version sent upstream when the client sends none.
pub const DEFAULT_VERSION: &str = "2023-06-01";

mod wire {
    use serde::Deserialize;

    /// Input counts every prompt token the provider processed: uncached, written to
    /// the cache, and read from it.
    #[derive(Deserialize, Clone, Copy, Default)]
    pub struct Usage {
        pub input_tokens: Option<i64>,
        pub output_tokens: Option<i64>,
        pub cache_creation_input_tokens: Option<i64>,
        pub cache_read_input_tokens: Option<i64>,
    }

    impl Usage {
        pub fn input(&self) -> Option<i64> {
            let parts = [self.input_tokens, self.cache_creation_input_tokens, self.cache_read_input_tokens];
            // Saturating: the figures come from the upstream, and absurd ones must not
            // overflow (a panic in checked builds).
            parts
                .iter()
                .any(Option::is_some)
                .then(|| parts.iter().flatten().fold(0i64, |sum, n| sum.saturating_add(*n)))
        }
    }

    #[derive(Deserialize)]
    pub struct WithUsage {
        pub usage: Option<Usage>,
    }

    #[derive(Deserialize)]
    pub struct Event {
        #[serde(rename = "type", default)]
        pub kind: String,
        pub message: Option<WithUsage>,
        pub usage: Option<Usage>,
        pub delta: Option<Delta>,
    }

    #[derive(Deserialize)]
    pub struct Delta {
        pub text: Option<String>,
        pub partial_json: Option<String>,
        pub thinking: Option<String>,
    }
}

impl Dialect for AnthropicMessages {
    fn provider(&self) -> &'static str {
        "anthropic"
    }

    fn endpoint(&self) -> &'static str {
        "messages"
    }

    fn client_key<'a>(&self, headers: &'a HeaderMap, _query: &'a [(String, String)]) -> Option<&'a str> {
        crate::api::bearer(headers).or_else(|| header_value(headers, "x-api-key"))
    }

    fn parse(&self, body: &[u8], _route: &RouteInfo) -> Result<ParsedRequest, String> {
        let object = json::parse_object(body)?;
        let model = json::required_string(&object, "model", "e.g. \"claude-sonnet-4-5\"")?;
        json::require_array(&object, "messages", "an array of messages")?;
        let stream = json::optional_bool(&object, "stream")?.unwrap_or(false);
        Ok(ParsedRequest { body: object, model, stream, path: "/v1/messages".to_owned() })
    }

    /// The latest user turn that has text (a turn carrying only tool results is skipped).
    fn prompt_text(&self, request: &ParsedRequest) -> PromptText {
        let messages = MessageView::member(&request.body, "messages");
        let latest_user = messages
            .iter()
            .rev()
            .filter(|m| m.role_is(&["user"]))
            .filter_map(|m| MessageView::text_of(m.content))
            .find(|t| !t.is_empty());
        let system = MessageView::text_of(json::raw_member(&request.body, "system").map(RawValue::get));
        PromptText { latest_user: latest_user.unwrap_or_default(), system: system.unwrap_or_default() }
    }

    fn context_shape(&self) -> mintoken_compress::context::Shape {
        mintoken_compress::context::Shape::Anthropic
    }

    /// `system` string: prepended. Block array: a leading text block, the others (and
    /// their `cache_control`) untouched. Absent: set to the skill.
    fn inject_skill(&self, request: &mut ParsedRequest, skill: &str) -> Result<(), String> {
        // A string (the usual case, and agents' long prompts) is spliced, not decoded.
        if let Some(joined) = json::raw_member(&request.body, "system").and_then(|raw| json::prepend_skill(skill, raw))
        {
            request.body.insert("system".to_owned(), joined);
            return Ok(());
        }
        let system = json::member::<Value>(&request.body, "system")?;
        let new_system = match system {
            None | Some(Value::Null) => Value::String(skill.to_owned()),
            Some(Value::Array(mut blocks)) => {
                blocks.insert(0, json!({ "type": "text", "text": skill }));
                Value::Array(blocks)
            }
            Some(_) => return Err("`system` must be a string or an array of text blocks".to_owned()),
        };
        request.body.insert("system".to_owned(), json::to_raw(&new_system));
        Ok(())
    }

    fn prepare_stream(&self, _request: &mut ParsedRequest) -> Result<Box<dyn StreamObserver>, String> {
        Ok(Box::new(MessagesObserver { tally: StreamTally::default() }))
    }

    fn base_url<'a>(&self, config: &'a crate::config::Config) -> &'a str {
        &config.anthropic_base_url
    }

    fn credential(&self) -> Credential {
        Credential::Header { name: "x-api-key", prefix: "" }
    }

    fn default_headers(&self) -> &'static [(&'static str, &'static str)] {
        &[("anthropic-version", DEFAULT_VERSION)]
    }

    fn usage_from_body(&self, body: &[u8]) -> Option<Tokens> {
        let usage = serde_json::from_slice::<wire::WithUsage>(body).ok()?.usage?;
        Some(Tokens { input: usage.input().unwrap_or(0), output: usage.output_tokens.unwrap_or(0) })
    }

    /// The `text` content blocks, in order (thinking and tool-use blocks are not the answer).
    fn answer_text(&self, body: &[u8]) -> Option<String> {
        let response: Value = serde_json::from_slice(body).ok()?;
        let blocks = response.get("content")?.as_array()?;
        let texts = blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str));
        Some(texts.collect())
    }

    fn error_body(&self, status: StatusCode, message: &str) -> Value {
        let kind = match status.as_u16() {
            400 | 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            503 | 529 => "overloaded_error",
            504 => "timeout_error",
            _ => "api_error",
        };
        json!({ "type": "error", "error": { "type": kind, "message": message }, "detail": message })
    }
}

pub fn header_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

struct MessagesObserver {
    tally: StreamTally,
}

impl StreamObserver for MessagesObserver {
    fn on_event(&mut self, event: &[u8]) -> EventAction {
        let Some(data) = super::sse::single_data(event) else { return EventAction::Pass };
        let Ok(event) = serde_json::from_slice::<wire::Event>(data) else { return EventAction::Pass };
        let usage = match event.kind.as_str() {
            "message_start" => event.message.and_then(|m| m.usage),
            "message_delta" => event.usage,
            "content_block_delta" => {
                if let Some(delta) = event.delta {
                    for piece in [delta.text, delta.partial_json, delta.thinking].into_iter().flatten() {
                        self.tally.text.push_str(&piece);
                    }
                }
                None
            }
            _ => None,
        };
        // message_delta counts are cumulative; a later figure replaces an earlier one.
        if let Some(usage) = usage {
            let before = self.tally.usage.unwrap_or_default();
            self.tally.usage = Some(Tokens {
                input: usage.input().unwrap_or(before.input),
                output: usage.output_tokens.unwrap_or(before.output),
            });
        }
        EventAction::Pass
    }

    fn tally(&self) -> &StreamTally {
        &self.tally
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn injected(body: &str) -> Value {
        let mut r = AnthropicMessages.parse(body.as_bytes(), &RouteInfo::default()).unwrap();
        AnthropicMessages.inject_skill(&mut r, "SKILL").unwrap();
        serde_json::from_slice(&json::to_bytes(&r.body)).unwrap()
    }

    #[test]
    fn system_string_array_or_absent() {
        assert_eq!(injected(r#"{"model":"c","messages":[]}"#)["system"], "SKILL");
        assert_eq!(injected(r#"{"model":"c","messages":[],"system":"Be kind."}"#)["system"], "SKILL\n\nBe kind.");
        let blocks = injected(
            r#"{"model":"c","messages":[],"system":[{"type":"text","text":"Big doc","cache_control":{"type":"ephemeral"}}]}"#,
        );
        assert_eq!(
            blocks["system"],
            json!([{"type":"text","text":"SKILL"},{"type":"text","text":"Big doc","cache_control":{"type":"ephemeral"}}])
        );
    }

    #[test]
    fn stream_usage_from_message_start_and_delta() {
        let mut obs = AnthropicMessages
            .prepare_stream(
                &mut AnthropicMessages.parse(br#"{"model":"c","messages":[]}"#, &RouteInfo::default()).unwrap(),
            )
            .unwrap();
        obs.on_event(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\n");
        assert_eq!(obs.tally().usage, Some(Tokens { input: 15, output: 1 }));
        obs.on_event(b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi there\"}}\n\n");
        obs.on_event(b"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":7}}\n\n");
        assert_eq!(obs.tally().usage, Some(Tokens { input: 15, output: 7 }));
        assert_eq!(obs.tally().text.kept(), "Hi there");
    }

    /// Reproduces fuzz/corpus/dialects/finding-anthropic-usage-overflow (integer overflow, a
    /// panic in checked builds, on absurd upstream usage figures).
    #[test]
    fn absurd_usage_figures_saturate_instead_of_overflowing() {
        let body = br#"{"usage":{"input_tokens":9223372036854775807,"cache_read_input_tokens":1,"output_tokens":2}}"#;
        assert_eq!(AnthropicMessages.usage_from_body(body), Some(Tokens { input: i64::MAX, output: 2 }));
    }

    #[test]
    fn body_usage_includes_cache_tokens() {
        let body = br#"{"usage":{"input_tokens":3,"cache_creation_input_tokens":100,"cache_read_input_tokens":0,"output_tokens":9}}"#;
        assert_eq!(AnthropicMessages.usage_from_body(body), Some(Tokens { input: 103, output: 9 }));
    }
}
