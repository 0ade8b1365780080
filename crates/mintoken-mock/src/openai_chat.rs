//! OpenAI Chat Completions, `POST /v1/chat/completions`: validation, the
//! `chat.completion` object and the `chat.completion.chunk` stream, including
//! tool calls and `stream_options.include_usage`.

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::deliver::{Ctx, EVENT_STREAM, Outcome, Rejection, data_event, deliver};
use crate::openai;
use crate::reply::{Reply, TOOL_ARGUMENTS};
use crate::request::{flag, unix_now};
use crate::server::Received;
use crate::state::Shared;
use crate::tokens::{content_chars, prompt_tokens, word_pieces};

/// Id the mock gives the single tool call it makes.
const TOOL_CALL_ID: &str = "call_mock1";

pub(crate) async fn handle(
    State(state): State<Shared>,
    Extension(received): Extension<Received>,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(state, received.index);
    let outcome = plan(&ctx, &headers, &received.body).unwrap_or_else(Outcome::Reject);
    deliver(ctx, outcome).await
}

/// Everything of the answer that does not depend on how it is framed.
struct Answer {
    id: String,
    created: u64,
    model: String,
    reply: Reply,
    prompt_tokens: u64,
    include_usage: bool,
}

fn plan(ctx: &Ctx, headers: &HeaderMap, body: &[u8]) -> Result<Outcome, Rejection> {
    openai::check_auth(headers)?;
    let map = openai::parse_body(body)?;
    let model = openai::model(&map)?;
    let messages = match map.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) => {
            return Err(openai::bad_request("'messages' must contain at least one message."));
        }
        Some(_) => return Err(openai::bad_request("'messages' must be an array.")),
        None => return Err(openai::bad_request("Missing required parameter: 'messages'.")),
    };
    let chars = messages.iter().map(|m| m.get("content").map_or(0, content_chars)).sum();
    let users_turn = messages.last().and_then(|m| m.get("role")).and_then(Value::as_str) == Some("user");
    let tool = users_turn.then(|| first_tool(&map)).flatten();
    let answer = Answer {
        id: format!("chatcmpl-mock{}", ctx.state.next_id()),
        created: unix_now(),
        model,
        reply: Reply::choose(tool, &ctx.behavior.reply_for(body)),
        prompt_tokens: prompt_tokens(chars),
        include_usage: map.get("stream_options").and_then(Value::as_object).is_some_and(|o| flag(o, "include_usage")),
    };
    Ok(if flag(&map, "stream") {
        Outcome::Stream { events: stream_events(&answer), content_type: EVENT_STREAM }
    } else {
        Outcome::Json(completion(&answer))
    })
}

/// Name of the first function tool offered, if any.
fn first_tool(map: &Map<String, Value>) -> Option<String> {
    let tool = map.get("tools")?.as_array()?.first()?;
    Some(tool.get("function")?.get("name")?.as_str()?.to_owned())
}

fn usage(answer: &Answer) -> Value {
    let completion = answer.reply.completion_tokens();
    json!({
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": answer.prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

fn completion(answer: &Answer) -> Value {
    let (message, finish_reason) = match &answer.reply {
        Reply::Text(text) => {
            (json!({"role": "assistant", "content": text, "refusal": null, "annotations": []}), "stop")
        }
        Reply::ToolCall { name } => (
            json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": TOOL_CALL_ID,
                    "type": "function",
                    "function": {"name": name, "arguments": TOOL_ARGUMENTS}
                }],
                "refusal": null,
                "annotations": []
            }),
            "tool_calls",
        ),
    };
    json!({
        "id": answer.id,
        "object": "chat.completion",
        "created": answer.created,
        "model": answer.model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason
        }],
        "usage": usage(answer),
        "service_tier": "default",
        "system_fingerprint": "fp_mock"
    })
}

/// One `chat.completion.chunk`. With `include_usage` OpenAI puts
/// `"usage": null` on every chunk but the last; without it the key is absent.
fn chunk(answer: &Answer, choices: Value) -> Value {
    let mut chunk = json!({
        "id": answer.id,
        "object": "chat.completion.chunk",
        "created": answer.created,
        "model": answer.model,
        "service_tier": "default",
        "system_fingerprint": "fp_mock",
        "choices": choices,
    });
    if answer.include_usage
        && let Some(map) = chunk.as_object_mut()
    {
        map.insert("usage".to_owned(), Value::Null);
    }
    chunk
}

fn choice(delta: Value, finish_reason: Option<&str>) -> Value {
    json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}])
}

fn stream_events(answer: &Answer) -> Vec<Bytes> {
    let mut chunks = Vec::new();
    let finish_reason = match &answer.reply {
        Reply::Text(text) => {
            chunks.push(choice(json!({"role": "assistant", "content": "", "refusal": null}), None));
            for piece in word_pieces(text) {
                chunks.push(choice(json!({"content": piece}), None));
            }
            "stop"
        }
        Reply::ToolCall { name } => {
            chunks.push(choice(
                json!({
                    "role": "assistant",
                    "content": null,
                    "tool_calls": [{
                        "index": 0,
                        "id": TOOL_CALL_ID,
                        "type": "function",
                        "function": {"name": name, "arguments": ""}
                    }],
                    "refusal": null
                }),
                None,
            ));
            chunks.push(choice(json!({"tool_calls": [{"index": 0, "function": {"arguments": TOOL_ARGUMENTS}}]}), None));
            "tool_calls"
        }
    };
    chunks.push(choice(json!({}), Some(finish_reason)));
    let mut events: Vec<Bytes> = chunks.into_iter().map(|choices| data_event(&chunk(answer, choices))).collect();
    if answer.include_usage {
        let mut last = chunk(answer, json!([]));
        if let Some(map) = last.as_object_mut() {
            map.insert("usage".to_owned(), usage(answer));
        }
        events.push(data_event(&last));
    }
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    events
}
