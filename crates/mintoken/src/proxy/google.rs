//! Google Gemini `generateContent` / `streamGenerateContent`: the native paths
//! (`/{v1,v1beta}/models/{model}:action`, as the google-genai SDK calls them) and
//! `POST /v1/generateContent` with `model` in the body (removed before forwarding).
//! The provider key goes upstream as `?key=`; the mintoken key may come as
//! `Authorization: Bearer`, `x-goog-api-key` or `?key=`. Usage is `usageMetadata`.

use super::dialect::{
    Credential, Dialect, EventAction, MessageView, ParsedRequest, PromptText, RouteInfo, StreamObserver, StreamTally,
    Tokens, content_text,
};
use super::json;
use axum::http::{HeaderMap, StatusCode};
use serde_json::value::RawValue;
use serde_json::{Value, json};

pub struct Gemini;

/// API version used upstream for the body-model route.
const BODY_ROUTE_VERSION: &str = "v1beta";

mod wire {
    use serde::Deserialize;

    #[derive(Deserialize, Clone, Copy, Default)]
    #[serde(rename_all = "camelCase")]
    pub struct UsageMetadata {
        pub prompt_token_count: Option<i64>,
        pub tool_use_prompt_token_count: Option<i64>,
        pub candidates_token_count: Option<i64>,
        pub thoughts_token_count: Option<i64>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Response {
        pub usage_metadata: Option<UsageMetadata>,
        #[serde(default)]
        pub candidates: Vec<Candidate>,
    }

    #[derive(Deserialize)]
    pub struct Candidate {
        pub content: Option<Content>,
    }

    #[derive(Deserialize)]
    pub struct Content {
        #[serde(default)]
        pub parts: Vec<Part>,
    }

    #[derive(Deserialize)]
    pub struct Part {
        pub text: Option<String>,
    }
}

impl From<wire::UsageMetadata> for Tokens {
    /// Input: the prompt (cached part included) plus tool-use prompts. Output: the
    /// candidates plus thinking, both billed as output. Saturating: the figures come from
    /// the upstream, and absurd ones must not overflow (a panic in checked builds).
    fn from(u: wire::UsageMetadata) -> Self {
        Tokens {
            input: u.prompt_token_count.unwrap_or(0).saturating_add(u.tool_use_prompt_token_count.unwrap_or(0)),
            output: u.candidates_token_count.unwrap_or(0).saturating_add(u.thoughts_token_count.unwrap_or(0)),
        }
    }
}

/// What a native path's last segment asks for.
pub enum Action {
    Generate,
    StreamGenerate,
    CountTokens,
}

/// Splits `gemini-2.0-flash:generateContent` (axum cannot route on the colon).
pub fn split_model_action(segment: &str) -> Option<(&str, Action)> {
    let (model, action) = segment.rsplit_once(':')?;
    let action = match action {
        "generateContent" => Action::Generate,
        "streamGenerateContent" => Action::StreamGenerate,
        "countTokens" => Action::CountTokens,
        _ => return None,
    };
    valid_model(model).then_some((model, action))
}

/// Model ids go into the upstream path: only characters model ids use, so a request
/// cannot reach any other upstream path.
fn valid_model(model: &str) -> bool {
    !model.is_empty()
        && model.len() <= 200
        && model.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

impl Dialect for Gemini {
    fn provider(&self) -> &'static str {
        "google"
    }

    fn endpoint(&self) -> &'static str {
        "generateContent"
    }

    fn client_key<'a>(&self, headers: &'a HeaderMap, query: &'a [(String, String)]) -> Option<&'a str> {
        crate::api::bearer(headers)
            .or_else(|| super::anthropic::header_value(headers, "x-goog-api-key"))
            .or_else(|| super::query::get(query, "key").filter(|k| !k.is_empty()))
    }

    fn parse(&self, body: &[u8], route: &RouteInfo) -> Result<ParsedRequest, String> {
        let mut object = json::parse_object(body)?;
        json::require_array(&object, "contents", "an array of Content objects")?;
        let (model, version) = match &route.model {
            Some(model) => (model.clone(), route.version.unwrap_or(BODY_ROUTE_VERSION)),
            None => {
                let model = json::required_string(&object, "model", "e.g. \"gemini-2.0-flash\"")?;
                object.shift_remove("model");
                let model = model.strip_prefix("models/").unwrap_or(&model).to_owned();
                if !valid_model(&model) {
                    return Err(format!("`model` {model:?} is not a valid Gemini model id"));
                }
                (model, BODY_ROUTE_VERSION)
            }
        };
        let action = if route.stream { "streamGenerateContent" } else { "generateContent" };
        let path = format!("/{version}/models/{model}:{action}");
        Ok(ParsedRequest { body: object, model, stream: route.stream, path })
    }

    fn output_cap(&self, request: &ParsedRequest) -> Option<i64> {
        let config = json::member::<Value>(&request.body, "generationConfig").ok().flatten()?;
        config.get("maxOutputTokens").and_then(Value::as_i64).filter(|cap| *cap > 0)
    }

    /// Contents without a role are the user's (the API's default).
    fn prompt_text(&self, request: &ParsedRequest) -> PromptText {
        let parts_text = |content: &Value| content.get("parts").map(content_text).unwrap_or_default();
        let contents = MessageView::member(&request.body, "contents");
        let latest_user = contents
            .iter()
            .rev()
            .filter(|c| c.role.as_deref().is_none_or(|r| r == "user"))
            .map(|c| MessageView::text_of(c.parts).unwrap_or_default())
            .find(|t| !t.is_empty());
        let field =
            if request.body.contains_key("system_instruction") { "system_instruction" } else { "systemInstruction" };
        let system = match json::member::<Value>(&request.body, field).ok().flatten() {
            Some(Value::String(s)) => s,
            Some(content) => parts_text(&content),
            None => String::new(),
        };
        PromptText { latest_user: latest_user.unwrap_or_default(), system }
    }

    fn context_shape(&self) -> mintoken_compress::context::Shape {
        mintoken_compress::context::Shape::Gemini
    }

    /// Prepends to the first text part of `systemInstruction` (or `system_instruction`),
    /// inserts a text part when it has none, or creates it. As in the other dialects the
    /// skill is spliced into the client's JSON: the rest of the instruction keeps its bytes.
    fn inject_skill(&self, request: &mut ParsedRequest, skill: &str) -> Result<(), String> {
        let field =
            if request.body.contains_key("system_instruction") { "system_instruction" } else { "systemInstruction" };
        let instruction = match json::raw_member(&request.body, field).filter(|raw| raw.get() != "null") {
            None => content_of(vec![skill_part(skill)]),
            Some(raw) => match json::prepend_skill(skill, raw) {
                // A bare string, the shorthand for one text part.
                Some(text) => content_of(vec![text_part(&text)]),
                None => content_with_skill(raw, skill, field)?,
            },
        };
        request.body.insert(field.to_owned(), instruction);
        Ok(())
    }

    fn prepare_stream(&self, _request: &mut ParsedRequest) -> Result<Box<dyn StreamObserver>, String> {
        Ok(Box::new(GeminiObserver { tally: StreamTally::default() }))
    }

    fn base_url<'a>(&self, config: &'a crate::config::Config) -> &'a str {
        &config.google_base_url
    }

    fn credential(&self) -> Credential {
        Credential::Query { name: "key" }
    }

    /// A response object, or the JSON array a stream without `alt=sse` sends (the last
    /// element carrying usage wins).
    fn usage_from_body(&self, body: &[u8]) -> Option<Tokens> {
        if let Ok(one) = serde_json::from_slice::<wire::Response>(body) {
            return one.usage_metadata.map(Tokens::from);
        }
        let many = serde_json::from_slice::<Vec<wire::Response>>(body).ok()?;
        many.iter().rev().find_map(|r| r.usage_metadata).map(Tokens::from)
    }

    /// The first candidate's text parts, in order; thought summaries (`"thought": true`)
    /// are not the answer.
    fn answer_text(&self, body: &[u8]) -> Option<String> {
        let response: Value = serde_json::from_slice(body).ok()?;
        let parts = response.get("candidates")?.get(0)?.get("content")?.get("parts")?.as_array()?;
        let texts = parts
            .iter()
            .filter(|p| p.get("thought").and_then(Value::as_bool) != Some(true))
            .filter_map(|p| p.get("text").and_then(Value::as_str));
        Some(texts.collect())
    }

    fn error_body(&self, status: StatusCode, message: &str) -> Value {
        let grpc_status = match status.as_u16() {
            400 | 413 | 422 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            429 => "RESOURCE_EXHAUSTED",
            502 | 503 => "UNAVAILABLE",
            504 => "DEADLINE_EXCEEDED",
            _ => "INTERNAL",
        };
        json!({ "error": { "code": status.as_u16(), "message": message, "status": grpc_status }, "detail": message })
    }
}

struct GeminiObserver {
    tally: StreamTally,
}

impl StreamObserver for GeminiObserver {
    /// Every event is a whole response; `usageMetadata` is cumulative, so the latest
    /// one is the request's usage.
    fn on_event(&mut self, event: &[u8]) -> EventAction {
        let Some(data) = super::sse::single_data(event) else { return EventAction::Pass };
        let Ok(response) = serde_json::from_slice::<wire::Response>(data) else { return EventAction::Pass };
        for candidate in &response.candidates {
            for part in candidate.content.iter().flat_map(|c| &c.parts) {
                if let Some(text) = &part.text {
                    self.tally.text.push_str(text);
                }
            }
        }
        if let Some(usage) = response.usage_metadata {
            self.tally.usage = Some(usage.into());
        }
        EventAction::Pass
    }

    fn tally(&self) -> &StreamTally {
        &self.tally
    }
}

/// A Content object with the skill prepended to its first text part, or given a text
/// part of its own, first, when it has none.
fn content_with_skill(raw: &RawValue, skill: &str, field: &str) -> Result<Box<RawValue>, String> {
    let mut content: json::RawObject =
        serde_json::from_str(raw.get()).map_err(|_| format!("`{field}` must be a Content object"))?;
    let mut parts: Vec<Box<RawValue>> = match content.get("parts") {
        None => Vec::new(),
        Some(parts) => serde_json::from_str(parts.get()).map_err(|_| format!("`{field}.parts` must be an array"))?,
    };
    let first_text = parts.iter_mut().find_map(|part| {
        let joined = part_with_skill(part, skill)?;
        Some((part, joined))
    });
    match first_text {
        Some((part, joined)) => *part = joined,
        None => parts.insert(0, skill_part(skill)),
    }
    content.insert("parts".to_owned(), json::to_raw(&parts));
    Ok(json::to_raw(&content))
}

/// The part with the skill prepended to its text, if it is an object with a string `text`.
fn part_with_skill(part: &RawValue, skill: &str) -> Option<Box<RawValue>> {
    let mut object: json::RawObject = serde_json::from_str(part.get()).ok()?;
    let text = json::prepend_skill(skill, object.get("text")?)?;
    object.insert("text".to_owned(), text);
    Some(json::to_raw(&object))
}

/// A part holding the skill alone, for content that has no text part to prepend it to.
fn skill_part(skill: &str) -> Box<RawValue> {
    text_part(&json::to_raw(skill))
}

fn text_part(text: &RawValue) -> Box<RawValue> {
    json::to_raw(&json::RawObject::from([("text".to_owned(), text.to_owned())]))
}

fn content_of(parts: Vec<Box<RawValue>>) -> Box<RawValue> {
    json::to_raw(&json::RawObject::from([("parts".to_owned(), json::to_raw(&parts))]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(body: &str, route: &RouteInfo) -> ParsedRequest {
        Gemini.parse(body.as_bytes(), route).unwrap()
    }

    fn injected(body: &str) -> Value {
        let mut r = parsed(body, &RouteInfo { model: Some("g".into()), ..Default::default() });
        Gemini.inject_skill(&mut r, "SKILL").unwrap();
        serde_json::from_slice(&json::to_bytes(&r.body)).unwrap()
    }

    #[test]
    fn body_route_takes_the_model_out_of_the_body() {
        let r = parsed(r#"{"model":"models/gemini-2.0-flash","contents":[]}"#, &RouteInfo::default());
        assert_eq!(r.path, "/v1beta/models/gemini-2.0-flash:generateContent");
        assert!(!r.body.contains_key("model"));
        let bad = Gemini.parse(br#"{"model":"../../x","contents":[]}"#, &RouteInfo::default()).unwrap_err();
        assert!(bad.contains("not a valid Gemini model id"));
    }

    #[test]
    fn native_paths_keep_their_version_and_action() {
        let route = RouteInfo { model: Some("gemini-2.5-pro".into()), stream: true, version: Some("v1") };
        assert_eq!(parsed(r#"{"contents":[]}"#, &route).path, "/v1/models/gemini-2.5-pro:streamGenerateContent");
        assert!(split_model_action("gemini-2.0-flash:generateContent").is_some());
        assert!(split_model_action("gemini:deleteEverything").is_none());
        assert!(split_model_action("a/b:generateContent").is_none());
    }

    #[test]
    fn system_instruction_is_prepended_inserted_or_created() {
        assert_eq!(injected(r#"{"contents":[]}"#)["systemInstruction"], json!({"parts":[{"text":"SKILL"}]}));
        assert_eq!(
            injected(r#"{"contents":[],"systemInstruction":{"role":"system","parts":[{"text":"Be kind."}]}}"#)["systemInstruction"],
            json!({"role":"system","parts":[{"text":"SKILL\n\nBe kind."}]})
        );
        assert_eq!(
            injected(
                r#"{"contents":[],"system_instruction":{"parts":[{"inlineData":{"mimeType":"text/plain","data":"eA=="}}]}}"#
            )["system_instruction"]["parts"][0],
            json!({"text":"SKILL"})
        );
    }

    /// The skill goes into the client's JSON: every other byte of the instruction (escapes,
    /// numbers, unknown members) stays as sent.
    #[test]
    fn system_instruction_keeps_the_clients_bytes() {
        let mut r = parsed(
            r#"{"contents":[],"systemInstruction":{"x":1.0e3,"parts":["odd",{"text":null},{"inlineData":{}},{"text":"caf\u00e9 \/","y":[]}]}}"#,
            &RouteInfo { model: Some("g".into()), ..Default::default() },
        );
        Gemini.inject_skill(&mut r, "SKILL").unwrap();
        assert_eq!(
            r.body["systemInstruction"].get(),
            r#"{"x":1.0e3,"parts":["odd",{"text":null},{"inlineData":{}},{"text":"SKILL\n\ncaf\u00e9 \/","y":[]}]}"#
        );
        assert_eq!(
            injected(r#"{"contents":[],"systemInstruction":"Be kind."}"#)["systemInstruction"],
            json!({"parts":[{"text":"SKILL\n\nBe kind."}]})
        );
        assert_eq!(
            injected(r#"{"contents":[],"systemInstruction":null}"#)["systemInstruction"],
            json!({"parts":[{"text":"SKILL"}]})
        );
        assert_eq!(
            injected(r#"{"contents":[],"systemInstruction":{"role":"system"}}"#)["systemInstruction"],
            json!({"role":"system","parts":[{"text":"SKILL"}]})
        );
        for (bad, error) in [
            (r#"{"contents":[],"systemInstruction":7}"#, "`systemInstruction` must be a Content object"),
            (r#"{"contents":[],"system_instruction":{"parts":{}}}"#, "`system_instruction.parts` must be an array"),
            (r#"{"contents":[],"systemInstruction":{"parts":null}}"#, "`systemInstruction.parts` must be an array"),
        ] {
            let mut r = parsed(bad, &RouteInfo { model: Some("g".into()), ..Default::default() });
            assert_eq!(Gemini.inject_skill(&mut r, "SKILL").unwrap_err(), error, "{bad}");
        }
    }

    /// Reproduces fuzz/corpus/dialects/finding-gemini-usage-overflow (integer overflow, a panic
    /// in checked builds, on absurd upstream usage figures).
    #[test]
    fn absurd_usage_figures_saturate_instead_of_overflowing() {
        let body = br#"{"usageMetadata":{"promptTokenCount":9223372036854775807,"toolUsePromptTokenCount":1,"candidatesTokenCount":9223372036854775807,"thoughtsTokenCount":9}}"#;
        assert_eq!(Gemini.usage_from_body(body), Some(Tokens { input: i64::MAX, output: i64::MAX }));
    }

    #[test]
    fn usage_from_objects_arrays_and_events() {
        let one = br#"{"candidates":[],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":6,"thoughtsTokenCount":2}}"#;
        assert_eq!(Gemini.usage_from_body(one), Some(Tokens { input: 4, output: 8 }));
        let many = br#"[{"usageMetadata":{"promptTokenCount":4}},{"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":9}}]"#;
        assert_eq!(Gemini.usage_from_body(many), Some(Tokens { input: 4, output: 9 }));
        let mut obs = Gemini
            .prepare_stream(&mut parsed(
                r#"{"contents":[]}"#,
                &RouteInfo { model: Some("g".into()), ..Default::default() },
            ))
            .unwrap();
        obs.on_event(b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]}}],\"usageMetadata\":{\"promptTokenCount\":4}}\r\n\r\n");
        assert_eq!(obs.tally().usage, Some(Tokens { input: 4, output: 0 }));
        assert_eq!(obs.tally().text.kept(), "Hi");
    }
}
