//! Anthropic Messages, `POST /v1/messages` and `POST /v1/messages/count_tokens`:
//! the `x-api-key` check, Anthropic's error envelope, the `message` object
//! with `text` / `tool_use` blocks, and the named-event stream
//! (`message_start` … `message_stop`).

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::deliver::{Ctx, EVENT_STREAM, Outcome, Rejection, deliver, named_event};
use crate::reply::{Reply, TOOL_ARGUMENTS};
use crate::request::{BodyError, flag, json_object};
use crate::server::Received;
use crate::state::Shared;
use crate::tokens::{content_chars, prompt_tokens, word_pieces};

/// Id of the single `tool_use` block the mock emits.
const TOOL_USE_ID: &str = "toolu_mock1";

pub(crate) async fn messages(
    State(state): State<Shared>,
    Extension(received): Extension<Received>,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(state, received.index);
    let outcome = plan_message(&ctx, &headers, &received.body).unwrap_or_else(Outcome::Reject);
    deliver(ctx, outcome).await
}

pub(crate) async fn count_tokens(
    State(state): State<Shared>,
    Extension(received): Extension<Received>,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(state, received.index);
    let outcome = plan_count(&ctx, &headers, &received.body).unwrap_or_else(Outcome::Reject);
    deliver(ctx, outcome).await
}

/// Anthropic's error envelope.
fn error(ctx: &Ctx, status: StatusCode, kind: &str, message: &str) -> Rejection {
    let body = json!({
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": format!("req_mock{}", ctx.state.next_id())
    });
    Rejection { status, body }
}

fn invalid(ctx: &Ctx, message: &str) -> Rejection {
    error(ctx, StatusCode::BAD_REQUEST, "invalid_request_error", message)
}

/// Checks the key and parses what both routes need: the body, the model and
/// the prompt size.
struct Parsed {
    request: Map<String, Value>,
    model: String,
    prompt_tokens: u64,
}

fn parse(ctx: &Ctx, headers: &HeaderMap, body: &[u8]) -> Result<Parsed, Rejection> {
    // An API key in x-api-key, or a token as `Authorization: Bearer` (OAuth tokens, and
    // what recent SDKs send when a client passes its key through unchanged).
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map_or("", str::trim);
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok()).map_or(bearer, str::trim);
    if key.is_empty() {
        return Err(error(ctx, StatusCode::UNAUTHORIZED, "authentication_error", "x-api-key header is required"));
    }
    let request = json_object(body).map_err(|e| match e {
        BodyError::NotJson(detail) => {
            invalid(ctx, &format!("There was an error parsing the body of your request: {detail}"))
        }
        BodyError::NotObject => invalid(ctx, "The request body must be a JSON object."),
    })?;
    let model = match request.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        Some(_) => return Err(invalid(ctx, "model: Input should be a valid string")),
        None => return Err(invalid(ctx, "model: Field required")),
    };
    let messages = match request.get("messages") {
        Some(Value::Array(m)) => m,
        Some(_) => return Err(invalid(ctx, "messages: Input should be a valid list")),
        None => return Err(invalid(ctx, "messages: Field required")),
    };
    let system = request.get("system").map_or(0, content_chars);
    let chars: usize = messages.iter().map(|m| m.get("content").map_or(0, content_chars)).sum();
    Ok(Parsed { prompt_tokens: prompt_tokens(system + chars), model, request })
}

fn plan_count(ctx: &Ctx, headers: &HeaderMap, body: &[u8]) -> Result<Outcome, Rejection> {
    let parsed = parse(ctx, headers, body)?;
    Ok(Outcome::Json(json!({"input_tokens": parsed.prompt_tokens})))
}

/// Everything of the answer that does not depend on how it is framed.
struct Answer {
    id: String,
    model: String,
    reply: Reply,
    prompt_tokens: u64,
}

fn plan_message(ctx: &Ctx, headers: &HeaderMap, body: &[u8]) -> Result<Outcome, Rejection> {
    let parsed = parse(ctx, headers, body)?;
    match parsed.request.get("max_tokens") {
        Some(v) if v.as_u64().is_some_and(|n| n >= 1) => {}
        Some(_) => return Err(invalid(ctx, "max_tokens: Input should be a positive integer")),
        None => return Err(invalid(ctx, "max_tokens: Field required")),
    }
    let users_turn =
        parsed.request.get("messages").and_then(Value::as_array).and_then(|m| m.last()).is_some_and(is_users_turn);
    let tool = users_turn.then(|| first_tool(&parsed.request)).flatten();
    let answer = Answer {
        id: format!("msg_mock{}", ctx.state.next_id()),
        model: parsed.model,
        reply: Reply::choose(tool, &ctx.behavior.reply_for(body)),
        prompt_tokens: parsed.prompt_tokens,
    };
    Ok(if flag(&parsed.request, "stream") {
        Outcome::Stream { events: stream_events(&answer), content_type: EVENT_STREAM }
    } else {
        Outcome::Json(message(&answer))
    })
}

/// A user message that is not only handing back `tool_result` blocks.
fn is_users_turn(message: &Value) -> bool {
    if message.get("role").and_then(Value::as_str) != Some("user") {
        return false;
    }
    match message.get("content") {
        Some(Value::Array(blocks)) => {
            blocks.iter().any(|b| b.get("type").and_then(Value::as_str) != Some("tool_result"))
        }
        _ => true,
    }
}

fn first_tool(request: &Map<String, Value>) -> Option<String> {
    let tool = request.get("tools")?.as_array()?.first()?;
    tool.get("name")?.as_str().map(str::to_owned)
}

fn stop_reason(reply: &Reply) -> &'static str {
    match reply {
        Reply::Text(_) => "end_turn",
        Reply::ToolCall { .. } => "tool_use",
    }
}

fn usage(prompt_tokens: u64, output_tokens: u64) -> Value {
    json!({
        "input_tokens": prompt_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
        "service_tier": "standard"
    })
}

fn message(answer: &Answer) -> Value {
    let content = match &answer.reply {
        Reply::Text(text) => json!([{"type": "text", "text": text}]),
        Reply::ToolCall { name } => {
            json!([{"type": "tool_use", "id": TOOL_USE_ID, "name": name, "input": {}}])
        }
    };
    json!({
        "id": answer.id,
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": content,
        "stop_reason": stop_reason(&answer.reply),
        "stop_sequence": null,
        "usage": usage(answer.prompt_tokens, answer.reply.completion_tokens())
    })
}

fn stream_events(answer: &Answer) -> Vec<Bytes> {
    let mut events = Vec::new();
    let mut push = |data: Value| {
        let name = data.get("type").and_then(Value::as_str).unwrap_or("");
        events.push(named_event(name, &data));
    };
    // Like the real API, message_start reports 1 output token so far.
    push(json!({
        "type": "message_start",
        "message": {
            "id": answer.id,
            "type": "message",
            "role": "assistant",
            "model": answer.model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": usage(answer.prompt_tokens, 1)
        }
    }));
    let (block, deltas) = match &answer.reply {
        Reply::Text(text) => (
            json!({"type": "text", "text": ""}),
            word_pieces(text).into_iter().map(|piece| json!({"type": "text_delta", "text": piece})).collect::<Vec<_>>(),
        ),
        Reply::ToolCall { name } => (
            json!({"type": "tool_use", "id": TOOL_USE_ID, "name": name, "input": {}}),
            vec![
                json!({"type": "input_json_delta", "partial_json": ""}),
                json!({"type": "input_json_delta", "partial_json": TOOL_ARGUMENTS}),
            ],
        ),
    };
    push(json!({"type": "content_block_start", "index": 0, "content_block": block}));
    push(json!({"type": "ping"}));
    for delta in deltas {
        push(json!({"type": "content_block_delta", "index": 0, "delta": delta}));
    }
    push(json!({"type": "content_block_stop", "index": 0}));
    push(json!({
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason(&answer.reply), "stop_sequence": null},
        "usage": {"output_tokens": answer.reply.completion_tokens()}
    }));
    push(json!({"type": "message_stop"}));
    events
}
