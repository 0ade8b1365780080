//! OpenAI Responses (`POST /v1/responses`). The skill goes into `instructions`; usage
//! is in the body's `usage` and in the final `response.completed` (or
//! `response.incomplete` / `response.failed`) stream event.

use super::dialect::{
    Credential, Dialect, EventAction, MessageView, ParsedRequest, PromptText, RouteInfo, StreamObserver, StreamTally,
    Tokens,
};
use super::json;
use super::openai_chat::openai_error_body;
use axum::http::StatusCode;
use serde_json::Value;
use serde_json::value::RawValue;

pub struct OpenAiResponses;

mod wire {
    use serde::Deserialize;

    #[derive(Deserialize, Clone, Copy)]
    pub struct Usage {
        #[serde(default)]
        pub input_tokens: i64,
        #[serde(default)]
        pub output_tokens: i64,
    }

    #[derive(Deserialize)]
    pub struct WithUsage {
        pub usage: Option<Usage>,
    }

    /// A stream event, as far as usage capture needs it.
    #[derive(Deserialize)]
    pub struct Event {
        #[serde(rename = "type", default)]
        pub kind: String,
        pub delta: Option<String>,
        pub response: Option<WithUsage>,
    }
}

impl From<wire::Usage> for Tokens {
    fn from(u: wire::Usage) -> Self {
        Tokens { input: u.input_tokens, output: u.output_tokens }
    }
}

impl Dialect for OpenAiResponses {
    fn provider(&self) -> &'static str {
        "openai"
    }

    fn endpoint(&self) -> &'static str {
        "responses"
    }

    fn parse(&self, body: &[u8], _route: &RouteInfo) -> Result<ParsedRequest, String> {
        let object = json::parse_object(body)?;
        let model = json::required_string(&object, "model", "e.g. \"gpt-4o-mini\"")?;
        let stream = json::optional_bool(&object, "stream")?.unwrap_or(false);
        Ok(ParsedRequest { body: object, model, stream, path: "/v1/responses".to_owned() })
    }

    /// `input` is a string, or items of which the last user message counts.
    fn prompt_text(&self, request: &ParsedRequest) -> PromptText {
        let input = json::raw_member(&request.body, "input").map(RawValue::get);
        let latest_user = match input.map(|raw| raw.trim_start().as_bytes().first()) {
            Some(Some(b'[')) => MessageView::list(input)
                .iter()
                .rev()
                .find(|i| i.role_is(&["user"]))
                .and_then(|i| MessageView::text_of(i.content))
                .unwrap_or_default(),
            _ => json::member::<String>(&request.body, "input").ok().flatten().unwrap_or_default(),
        };
        let system =
            json::member::<Option<String>>(&request.body, "instructions").ok().flatten().flatten().unwrap_or_default();
        PromptText { latest_user, system }
    }

    fn context_shape(&self) -> mintoken_compress::context::Shape {
        mintoken_compress::context::Shape::OpenAiResponses
    }

    /// `instructions` becomes `skill + "\n\n" + instructions`, or the skill alone.
    fn inject_skill(&self, request: &mut ParsedRequest, skill: &str) -> Result<(), String> {
        let joined = match json::raw_member(&request.body, "instructions").filter(|raw| raw.get() != "null") {
            None => json::to_raw(skill),
            // Spliced, not decoded: the client's text keeps its bytes.
            Some(raw) => json::prepend_skill(skill, raw).ok_or("`instructions` must be a string")?,
        };
        request.body.insert("instructions".to_owned(), joined);
        Ok(())
    }

    fn prepare_stream(&self, _request: &mut ParsedRequest) -> Result<Box<dyn StreamObserver>, String> {
        Ok(Box::new(ResponsesObserver { tally: StreamTally::default() }))
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

    /// The `output_text` (and `refusal`) parts of the `message` output items, in order.
    fn answer_text(&self, body: &[u8]) -> Option<String> {
        let response: Value = serde_json::from_slice(body).ok()?;
        let items = response.get("output")?.as_array()?;
        let parts = items
            .iter()
            .filter(|item| item.get("type").and_then(Value::as_str) == Some("message"))
            .filter_map(|item| item.get("content").and_then(Value::as_array))
            .flatten();
        let texts = parts.filter_map(|p| p.get("text").or_else(|| p.get("refusal"))).filter_map(Value::as_str);
        Some(texts.collect())
    }

    fn error_body(&self, status: StatusCode, message: &str) -> Value {
        openai_error_body(status, message)
    }
}

struct ResponsesObserver {
    tally: StreamTally,
}

impl StreamObserver for ResponsesObserver {
    fn on_event(&mut self, event: &[u8]) -> EventAction {
        let Some(data) = super::sse::single_data(event) else { return EventAction::Pass };
        let Ok(event) = serde_json::from_slice::<wire::Event>(data) else { return EventAction::Pass };
        match event.kind.as_str() {
            "response.output_text.delta" | "response.refusal.delta" | "response.function_call_arguments.delta" => {
                if let Some(delta) = &event.delta {
                    self.tally.text.push_str(delta);
                }
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                if let Some(usage) = event.response.and_then(|r| r.usage) {
                    self.tally.usage = Some(usage.into());
                }
            }
            _ => {}
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

    fn injected(body: &str) -> String {
        let mut r = OpenAiResponses.parse(body.as_bytes(), &RouteInfo::default()).unwrap();
        OpenAiResponses.inject_skill(&mut r, "SKILL").unwrap();
        String::from_utf8(json::to_bytes(&r.body)).unwrap()
    }

    #[test]
    fn the_skill_goes_into_instructions() {
        assert_eq!(injected(r#"{"model":"m","input":"hi"}"#), r#"{"model":"m","input":"hi","instructions":"SKILL"}"#);
        assert_eq!(
            injected(r#"{"model":"m","instructions":"Be brief.","input":"hi"}"#),
            r#"{"model":"m","instructions":"SKILL\n\nBe brief.","input":"hi"}"#
        );
        assert_eq!(injected(r#"{"model":"m","instructions":null}"#), r#"{"model":"m","instructions":"SKILL"}"#);
    }

    #[test]
    fn usage_comes_from_the_completed_event() {
        let mut obs = OpenAiResponses
            .prepare_stream(&mut OpenAiResponses.parse(br#"{"model":"m"}"#, &RouteInfo::default()).unwrap())
            .unwrap();
        obs.on_event(
            b"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n",
        );
        assert_eq!(obs.tally().usage, None);
        obs.on_event(b"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}}\n\n");
        assert_eq!(obs.tally().usage, Some(Tokens { input: 3, output: 4 }));
        assert_eq!(obs.tally().text.kept(), "Hi");
    }
}
