//! OpenAI Responses, `POST /v1/responses`: validation, the `response` object
//! with `message` / `function_call` output items, and the semantic event
//! stream (`response.created` … `response.completed`, each numbered).

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::deliver::{Ctx, EVENT_STREAM, Outcome, Rejection, deliver, named_event};
use crate::openai;
use crate::reply::{Reply, TOOL_ARGUMENTS};
use crate::request::{flag, unix_now};
use crate::server::Received;
use crate::state::Shared;
use crate::tokens::{content_chars, prompt_tokens, word_pieces};

/// `call_id` of the single function call the mock makes.
const CALL_ID: &str = "call_mock1";

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
    number: u64,
    created: u64,
    reply: Reply,
    prompt_tokens: u64,
    /// The request, for the parameters a response object echoes back.
    request: Map<String, Value>,
    model: String,
}

fn plan(ctx: &Ctx, headers: &HeaderMap, body: &[u8]) -> Result<Outcome, Rejection> {
    openai::check_auth(headers)?;
    let request = openai::parse_body(body)?;
    let model = openai::model(&request)?;
    let instructions = match request.get("instructions") {
        None | Some(Value::Null) => 0,
        Some(Value::String(s)) => s.chars().count(),
        Some(_) => return Err(openai::bad_request("Invalid type for 'instructions': expected a string.")),
    };
    // `input` may be absent (e.g. with `previous_response_id`).
    let (input_chars, users_turn) = match request.get("input") {
        None | Some(Value::Null) => (0, false),
        Some(text @ Value::String(_)) => (content_chars(text), true),
        Some(items @ Value::Array(list)) => (content_chars(items), is_users_turn(list.last())),
        Some(_) => {
            return Err(openai::bad_request("Invalid type for 'input': expected a string or an array of input items."));
        }
    };
    let tool = users_turn.then(|| first_function(&request)).flatten();
    let answer = Answer {
        number: ctx.state.next_id(),
        created: unix_now(),
        reply: Reply::choose(tool, &ctx.behavior.reply_for(body)),
        prompt_tokens: prompt_tokens(instructions + input_chars),
        model,
        request,
    };
    Ok(if flag(&answer.request, "stream") {
        Outcome::Stream { events: stream_events(&answer), content_type: EVENT_STREAM }
    } else {
        Outcome::Json(response_object(&answer, Status::Completed))
    })
}

/// The user speaks last: a user message (items may omit `type: message`),
/// not a `function_call_output` handing a tool result back.
fn is_users_turn(last: Option<&Value>) -> bool {
    last.is_some_and(|item| {
        item.get("role").and_then(Value::as_str) == Some("user")
            && item.get("type").and_then(Value::as_str).unwrap_or("message") == "message"
    })
}

/// Name of the first `function` tool; Responses tools carry it at top level.
fn first_function(request: &Map<String, Value>) -> Option<String> {
    request
        .get("tools")?
        .as_array()?
        .iter()
        .find(|t| t.get("type").and_then(Value::as_str) == Some("function"))?
        .get("name")?
        .as_str()
        .map(str::to_owned)
}

#[derive(Clone, Copy)]
enum Status {
    InProgress,
    Completed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
        }
    }
}

fn message_id(answer: &Answer) -> String {
    format!("msg_mock{}", answer.number)
}

fn call_item_id(answer: &Answer) -> String {
    format!("fc_mock{}", answer.number)
}

fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text})
}

/// The single output item, as it looks when complete or just started.
fn output_item(answer: &Answer, status: Status) -> Value {
    let done = matches!(status, Status::Completed);
    match &answer.reply {
        Reply::Text(text) => json!({
            "id": message_id(answer),
            "type": "message",
            "status": status.as_str(),
            "content": if done { json!([output_text(text)]) } else { json!([]) },
            "role": "assistant"
        }),
        Reply::ToolCall { name } => json!({
            "id": call_item_id(answer),
            "type": "function_call",
            "status": status.as_str(),
            "arguments": if done { TOOL_ARGUMENTS } else { "" },
            "call_id": CALL_ID,
            "name": name
        }),
    }
}

fn usage(answer: &Answer) -> Value {
    let output = answer.reply.completion_tokens();
    json!({
        "input_tokens": answer.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": answer.prompt_tokens + output
    })
}

/// The `response` object; in progress it has no output and no usage yet.
fn response_object(answer: &Answer, status: Status) -> Value {
    let echo = |key: &str, default: Value| match answer.request.get(key) {
        Some(v) if !v.is_null() => v.clone(),
        _ => default,
    };
    let (output, usage) = match status {
        Status::InProgress => (json!([]), Value::Null),
        Status::Completed => (json!([output_item(answer, status)]), usage(answer)),
    };
    json!({
        "id": format!("resp_mock{}", answer.number),
        "object": "response",
        "created_at": answer.created,
        "status": status.as_str(),
        "background": false,
        "error": null,
        "incomplete_details": null,
        "instructions": echo("instructions", Value::Null),
        "max_output_tokens": echo("max_output_tokens", Value::Null),
        "model": answer.model,
        "output": output,
        "parallel_tool_calls": echo("parallel_tool_calls", json!(true)),
        "previous_response_id": echo("previous_response_id", Value::Null),
        "reasoning": {"effort": null, "summary": null},
        "store": echo("store", json!(true)),
        "temperature": echo("temperature", json!(1.0)),
        "text": echo("text", json!({"format": {"type": "text"}})),
        "tool_choice": echo("tool_choice", json!("auto")),
        "tools": echo("tools", json!([])),
        "top_p": echo("top_p", json!(1.0)),
        "truncation": echo("truncation", json!("disabled")),
        "usage": usage,
        "user": echo("user", Value::Null),
        "metadata": echo("metadata", json!({}))
    })
}

/// Builds `event: X` / `data: {"type": X, "sequence_number": n, …}` events.
struct Sequence {
    events: Vec<Bytes>,
}

impl Sequence {
    fn push(&mut self, kind: &str, fields: Value) {
        let mut data = Map::new();
        data.insert("type".to_owned(), json!(kind));
        data.insert("sequence_number".to_owned(), json!(self.events.len()));
        if let Value::Object(fields) = fields {
            data.extend(fields);
        }
        self.events.push(named_event(kind, &Value::Object(data)));
    }
}

fn stream_events(answer: &Answer) -> Vec<Bytes> {
    let mut seq = Sequence { events: Vec::new() };
    let started = response_object(answer, Status::InProgress);
    seq.push("response.created", json!({"response": started}));
    seq.push("response.in_progress", json!({"response": started}));
    seq.push("response.output_item.added", json!({"output_index": 0, "item": output_item(answer, Status::InProgress)}));
    match &answer.reply {
        Reply::Text(text) => {
            let at = json!({"item_id": message_id(answer), "output_index": 0, "content_index": 0});
            let with = |extra: Value| merge(&at, extra);
            seq.push("response.content_part.added", with(json!({"part": output_text("")})));
            for piece in word_pieces(text) {
                seq.push("response.output_text.delta", with(json!({"delta": piece, "logprobs": []})));
            }
            seq.push("response.output_text.done", with(json!({"text": text, "logprobs": []})));
            seq.push("response.content_part.done", with(json!({"part": output_text(text)})));
        }
        Reply::ToolCall { .. } => {
            let at = json!({"item_id": call_item_id(answer), "output_index": 0});
            seq.push("response.function_call_arguments.delta", merge(&at, json!({"delta": TOOL_ARGUMENTS})));
            seq.push("response.function_call_arguments.done", merge(&at, json!({"arguments": TOOL_ARGUMENTS})));
        }
    }
    seq.push("response.output_item.done", json!({"output_index": 0, "item": output_item(answer, Status::Completed)}));
    seq.push("response.completed", json!({"response": response_object(answer, Status::Completed)}));
    seq.events
}

/// `base` with the fields of `extra` appended.
fn merge(base: &Value, extra: Value) -> Value {
    let mut map = base.as_object().cloned().unwrap_or_default();
    if let Value::Object(extra) = extra {
        map.extend(extra);
    }
    Value::Object(map)
}
