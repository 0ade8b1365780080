//! `POST /v1/cli/compress-context`: Tier-1 context compression (SPEC §4) of a provider
//! request body sent by the reference CLI, answered with the rewritten body and its
//! metrics.
//!
//! ```text
//! → {"body": {…provider request…}, "shape": "anthropic"|"openai",
//!    "level": "light"|"standard"|"aggressive", "endpoint": "messages"|"chat-completions"|"responses"}
//! ← {"body": {…}, "metrics": {"tokens_before", "tokens_after", "tokens_saved",
//!    "messages_modified", "results_deduplicated", "results_truncated", "skipped_reason"}}
//! ```
//!
//! Admission is the proxy's: the plan's requests per minute and a quota that is not used
//! up (429 otherwise), then the plan's body cap (413). Parsing and compression are CPU
//! work proportional to the body, so they run on the blocking pool. Members of the body
//! other than the conversation keep their exact bytes; the body is never stored or
//! logged. One usage row records the call: `provider = "cli"`, `endpoint =
//! "cli.compress-context"`, the body's model, the context tokens before/after, no input
//! or output tokens (nothing was sent to a provider).

use super::{CliError, authenticate, finish, new_request_id, read_body};
use crate::auth::key_cache::AuthedKey;
use crate::metering::{IntensityReason, UsageRecord, UsageSource};
use crate::proxy::quota::{Quota, check_rate};
use crate::server::SharedState;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use indexmap::IndexMap;
use mintoken_compress::context::{self, ContextReport, Shape};
use mintoken_compress::{ContextLevel, Intensity};
use serde_json::Value;
use serde_json::value::RawValue;
use std::time::Instant;

/// A JSON object whose members stay raw JSON text (written back byte for byte).
type RawObject = IndexMap<String, Box<RawValue>>;

/// Longest model name kept on the usage row; longer names are cut (the model is only a
/// label here, nothing is routed by it).
const MAX_MODEL_CHARS: usize = 200;

pub const ENDPOINT: &str = "cli.compress-context";

pub async fn handle(State(state): State<SharedState>, request: Request) -> Response {
    let started = Instant::now();
    let request_id = new_request_id();
    let result = run(&state, request, &request_id, started).await;
    finish(result, &request_id, started)
}

async fn run(state: &SharedState, request: Request, request_id: &str, started: Instant) -> Result<Response, CliError> {
    let (parts, body) = request.into_parts();
    let key = authenticate(state, &parts.headers).await?;
    let limits = state.config.plans.limits(&key.plan);
    // A compression is a request like a proxied one: it counts towards the plan's
    // requests per minute, and is refused once the month's output quota is used up.
    // It produces no output tokens, so it reserves none.
    check_rate(state, &key, limits)?;
    Quota::check(state, &key, limits.monthly_output_tokens).await?;
    let bytes = read_body(body, limits.max_body_bytes, Some(&key.plan)).await?;

    let done = tokio::task::spawn_blocking(move || compress_envelope(&bytes))
        .await
        .map_err(|e| CliError::internal("context compression task failed", e))??;

    let report = &done.report;
    let duration_ms = started.elapsed().as_millis() as i64;
    state.usage.record(usage_record(request_id, &key, done.model, report, state.usage.now_ms(), duration_ms));

    let mut response = (StatusCode::OK, done.answer).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert("x-mintoken-context-tokens-before", HeaderValue::from(report.tokens_before));
    headers.insert("x-mintoken-context-tokens-after", HeaderValue::from(report.tokens_after));
    if let Some(reason) = report.skipped {
        headers.insert("x-mintoken-context-skipped", HeaderValue::from_static(reason.as_str()));
    }
    Ok(response)
}

/// The call's usage row: no provider saw it, so no input or output tokens; the context
/// tokens before/after are what it did.
fn usage_record(
    request_id: &str,
    key: &AuthedKey,
    model: String,
    report: &ContextReport,
    now_ms: i64,
    duration_ms: i64,
) -> UsageRecord {
    UsageRecord {
        request_id: request_id.to_owned(),
        created_at: now_ms,
        user_id: key.user_id.clone(),
        org_id: key.org_id.clone(),
        key_id: key.key_id.clone(),
        provider: "cli",
        model,
        endpoint: ENDPOINT,
        // No skill is involved: this route only rewrites tool results.
        intensity: Intensity::None,
        intensity_reason: IntensityReason::Default,
        status: 200,
        input_tokens: 0,
        output_tokens: 0,
        skill_tokens: 0,
        holdout: false,
        context_tokens_before: Some(report.tokens_before as i64),
        context_tokens_after: Some(report.tokens_after as i64),
        duration_ms,
        upstream_ms: 0,
        streamed: false,
        usage_source: UsageSource::None,
    }
}

/// What the blocking task hands back.
struct Compressed {
    /// The serialized answer.
    answer: Vec<u8>,
    report: ContextReport,
    /// The body's `model`, for the usage row.
    model: String,
}

#[derive(serde::Serialize)]
struct Answer<'a> {
    body: &'a RawObject,
    metrics: Metrics,
}

/// What the reference client reads (`tokens_before`, `tokens_after`,
/// `messages_modified`, `skipped_reason`), plus the detail behind it.
#[derive(serde::Serialize)]
struct Metrics {
    tokens_before: usize,
    tokens_after: usize,
    tokens_saved: usize,
    /// Conversation elements (messages, Responses items) that were rewritten.
    messages_modified: usize,
    results_deduplicated: usize,
    results_truncated: usize,
    /// `below_threshold`, `no_savings`, `unsupported_shape`, or `null` when it ran.
    skipped_reason: Option<&'static str>,
    /// The level applied (`light` is reported as `conservative`).
    level: &'static str,
}

/// Parses and checks the request, compresses the body's conversation and serializes the
/// answer. Runs on the blocking pool.
fn compress_envelope(bytes: &[u8]) -> Result<Compressed, CliError> {
    let envelope = parse_envelope(bytes)?;
    let shape = shape_of(&envelope)?;
    let level = level_of(&envelope)?;
    let raw_body = envelope.get("body").filter(|raw| raw.get() != "null").ok_or_else(|| {
        CliError::bad_request("`body` is required: the provider request body (a JSON object) to compress")
    })?;
    let mut body: RawObject = match serde_json::from_str(raw_body.get()) {
        Ok(body) => body,
        Err(_) => return Err(CliError::bad_request("`body` must be a JSON object: the provider request body")),
    };
    let conversation = shape.conversation_key();
    if !body.contains_key(conversation) {
        return Err(CliError::bad_request(format!(
            "`body.{conversation}` is required: the conversation of {} request",
            describe(shape)
        )));
    }
    let model = model_of(&body);

    // Only the members the compressor reads are parsed (the conversation and the system
    // prompt); only the conversation is written back, and only when it changed.
    let mut members = serde_json::Map::new();
    for name in [conversation, "system", "instructions"] {
        if let Some(raw) = body.get(name) {
            let value = serde_json::from_str(raw.get())
                .map_err(|e| CliError::bad_request(format!("`body.{name}` could not be read: {e}")))?;
            members.insert(name.to_owned(), value);
        }
    }
    let original = members.get(conversation).cloned();
    let report = context::compress(&mut members, shape, level);
    let mut messages_modified = 0;
    if report.skipped.is_none()
        && let Some(changed) = members.get(conversation)
    {
        messages_modified = count_modified(original.as_ref(), changed);
        let raw = serde_json::value::to_raw_value(changed)
            .map_err(|e| CliError::internal("cannot serialize a compressed conversation", e))?;
        body.insert(conversation.to_owned(), raw);
    }

    let metrics = Metrics {
        tokens_before: report.tokens_before,
        tokens_after: report.tokens_after,
        tokens_saved: report.tokens_before.saturating_sub(report.tokens_after),
        messages_modified,
        results_deduplicated: report.results_deduplicated,
        results_truncated: report.results_truncated,
        skipped_reason: report.skipped.map(|r| r.as_str()),
        level: level.as_str(),
    };
    // Serialized from the raw members, so they leave exactly as they arrived.
    let answer = serde_json::to_vec(&Answer { body: &body, metrics })
        .map_err(|e| CliError::internal("cannot serialize an answer", e))?;
    Ok(Compressed { answer, report, model })
}

fn parse_envelope(bytes: &[u8]) -> Result<IndexMap<String, &RawValue>, CliError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(CliError::bad_request(
            "request body is empty; send {\"body\": {…}, \"shape\": \"anthropic\"|\"openai\", \"level\": …, \"endpoint\": …}",
        ));
    }
    match serde_json::from_slice::<IndexMap<String, &RawValue>>(bytes) {
        Ok(envelope) => Ok(envelope),
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            Err(CliError::bad_request("request body must be a JSON object"))
        }
        Err(e) => Err(CliError::bad_request(format!("malformed JSON in request body: {e}"))),
    }
}

/// An optional string member (`null` counts as absent).
fn optional_string(
    envelope: &IndexMap<String, &RawValue>,
    field: &str,
    hint: &str,
) -> Result<Option<String>, CliError> {
    match envelope.get(field).map(|raw| raw.get()) {
        None | Some("null") => Ok(None),
        Some(raw) => serde_json::from_str::<String>(raw)
            .map(Some)
            .map_err(|_| CliError::bad_request(format!("`{field}` must be a string: {hint}"))),
    }
}

const SHAPES: &str = "\"anthropic\" or \"openai\"";
const ENDPOINTS: &str = "\"messages\" (anthropic), \"chat-completions\" or \"responses\" (openai)";

/// `shape` + `endpoint` → the dialect whose conversation is compressed. The reference
/// CLI sends `shape: "openai"` for both OpenAI APIs and tells them apart by `endpoint`;
/// without an endpoint (or with its library default `"compress"`) the shape's main API
/// is meant.
fn shape_of(envelope: &IndexMap<String, &RawValue>) -> Result<Shape, CliError> {
    let shape = optional_string(envelope, "shape", SHAPES)?
        .ok_or_else(|| CliError::bad_request(format!("`shape` is required: {SHAPES}")))?;
    let endpoint = optional_string(envelope, "endpoint", ENDPOINTS)?;
    let endpoint = endpoint.as_deref().filter(|e| *e != "compress");
    match (shape.as_str(), endpoint) {
        ("anthropic", None | Some("messages")) => Ok(Shape::Anthropic),
        ("openai", None | Some("chat-completions")) => Ok(Shape::OpenAiChat),
        ("openai", Some("responses")) => Ok(Shape::OpenAiResponses),
        ("anthropic" | "openai", Some(endpoint @ ("messages" | "chat-completions" | "responses"))) => {
            Err(CliError::bad_request(format!(
                "`endpoint` {endpoint:?} does not belong to shape {shape:?}: use {ENDPOINTS}"
            )))
        }
        ("anthropic" | "openai", Some(endpoint)) => {
            Err(CliError::bad_request(format!("`endpoint` must be {ENDPOINTS}; got {:?}", truncate(endpoint))))
        }
        (other, _) => Err(CliError::bad_request(format!("`shape` must be {SHAPES}; got {:?}", truncate(other)))),
    }
}

/// `level`, default `standard` (the reference CLI's default); `light` is `conservative`.
fn level_of(envelope: &IndexMap<String, &RawValue>) -> Result<ContextLevel, CliError> {
    const LEVELS: &str = "\"light\", \"standard\" or \"aggressive\" (\"conservative\" is accepted for \"light\")";
    match optional_string(envelope, "level", LEVELS)? {
        None => Ok(ContextLevel::Standard),
        Some(level) => level
            .parse()
            .map_err(|_| CliError::bad_request(format!("`level` must be {LEVELS}; got {:?}", truncate(&level)))),
    }
}

fn describe(shape: Shape) -> &'static str {
    match shape {
        Shape::Anthropic => "an Anthropic Messages",
        Shape::OpenAiChat => "an OpenAI Chat Completions",
        Shape::OpenAiResponses => "an OpenAI Responses",
        Shape::Gemini => "a Gemini",
    }
}

/// The body's `model` when it is a string (cut to a sane length), else `unknown`.
fn model_of(body: &RawObject) -> String {
    let model = body.get("model").and_then(|raw| serde_json::from_str::<String>(raw.get()).ok());
    match model.as_deref().map(str::trim) {
        Some(m) if !m.is_empty() => m.chars().filter(|c| !c.is_control()).take(MAX_MODEL_CHARS).collect(),
        _ => "unknown".to_owned(),
    }
}

/// How many elements of the conversation the compression rewrote.
fn count_modified(original: Option<&Value>, changed: &Value) -> usize {
    match (original.and_then(Value::as_array), changed.as_array()) {
        (Some(before), Some(after)) => {
            before.iter().zip(after).filter(|(b, a)| b != a).count() + before.len().abs_diff(after.len())
        }
        _ => 0,
    }
}

/// A client-supplied value quoted in an error, cut so the answer stays small.
fn truncate(value: &str) -> String {
    value.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope_error(v: Value) -> String {
        match compress_envelope(v.to_string().as_bytes()) {
            Err(e) => e.detail,
            Ok(_) => panic!("accepted {v}"),
        }
    }

    #[test]
    fn shape_and_endpoint_pick_the_dialect() {
        let env = |shape: &str, endpoint: Option<&str>| {
            let v = json!({ "shape": shape, "endpoint": endpoint });
            let bytes = v.to_string();
            let e = parse_envelope(bytes.as_bytes()).unwrap();
            shape_of(&e).map_err(|e| e.detail)
        };
        assert_eq!(env("anthropic", Some("messages")), Ok(Shape::Anthropic));
        assert_eq!(env("anthropic", None), Ok(Shape::Anthropic));
        assert_eq!(env("openai", Some("chat-completions")), Ok(Shape::OpenAiChat));
        assert_eq!(env("openai", Some("responses")), Ok(Shape::OpenAiResponses));
        assert_eq!(env("openai", Some("compress")), Ok(Shape::OpenAiChat));
        assert!(env("anthropic", Some("responses")).unwrap_err().contains("does not belong to shape"));
        assert!(env("gemini", None).unwrap_err().contains("`shape` must be"));
        assert!(env("openai", Some("embeddings")).unwrap_err().contains("`endpoint` must be"));
    }

    #[test]
    fn bad_input_names_the_problem() {
        assert!(envelope_error(json!({"shape": "openai"})).contains("`body` is required"));
        assert!(envelope_error(json!({"shape": "openai", "body": [1]})).contains("`body` must be a JSON object"));
        assert!(envelope_error(json!({"shape": "openai", "body": {}})).contains("`body.messages` is required"));
        assert!(
            envelope_error(json!({"shape": "openai", "endpoint": "responses", "body": {"messages": []}}))
                .contains("`body.input` is required")
        );
        assert!(envelope_error(json!({"body": {}})).contains("`shape` is required"));
        assert!(envelope_error(json!({"shape": 3, "body": {}})).contains("`shape` must be a string"));
        assert!(envelope_error(json!({"shape": "openai", "level": "max", "body": {}})).contains("`level` must be"));
    }

    #[test]
    fn its_rows_do_not_drag_the_output_mean_down() {
        let key = AuthedKey {
            key_id: "k".into(),
            user_id: "u".into(),
            org_id: None,
            plan_user_id: "u".into(),
            settings: Default::default(),
            plan: "free".into(),
        };
        let done = compress_envelope(br#"{"shape":"anthropic","body":{"messages":[]}}"#).unwrap();
        let mut row = usage_record("req_1", &key, done.model, &done.report, 0, 1);
        assert_eq!((row.provider, row.endpoint, row.output_tokens), ("cli", ENDPOINT, 0));
        assert!(!row.is_output_sample(), "a compression says nothing about output per request");
        row.usage_source = UsageSource::Reported;
        row.output_tokens = 120;
        assert!(row.is_output_sample(), "a reported request does");
    }

    #[test]
    fn untouched_members_keep_their_bytes() {
        let request = br#"{"shape":"openai","body":{"model":"m","seed":123456789012345678901234567890,"messages":[{"role":"user","content":"hi"}]}}"#;
        let done = compress_envelope(request).unwrap();
        let answer = String::from_utf8(done.answer).unwrap();
        assert!(
            answer.starts_with(r#"{"body":{"model":"m","seed":123456789012345678901234567890,"messages":"#),
            "{answer}"
        );
        assert_eq!(done.report.skipped.map(|r| r.as_str()), Some("below_threshold"));
        assert_eq!(done.model, "m");
    }
}
