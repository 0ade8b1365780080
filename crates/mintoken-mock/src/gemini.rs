//! Google Gemini, `POST /{v1,v1beta}/models/{model}:{action}` with actions
//! `generateContent`, `streamGenerateContent` (SSE with `?alt=sse`, else a
//! streamed JSON array) and `countTokens`: the API-key check, Google's error
//! envelope and `GenerateContentResponse` objects.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::deliver::{Ctx, EVENT_STREAM, Outcome, Rejection, deliver};
use crate::reply::Reply;
use crate::request::{BodyError, json_object};
use crate::server::Received;
use crate::state::Shared;
use crate::tokens::{content_chars, prompt_tokens, word_pieces};

pub(crate) async fn handle(
    State(state): State<Shared>,
    Extension(received): Extension<Received>,
    Path(target): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(state, received.index);
    let outcome = plan(&ctx, &target, uri.query(), &headers, &received.body).unwrap_or_else(Outcome::Reject);
    deliver(ctx, outcome).await
}

/// Google's error envelope, e.g. `{"error": {"code": 403, "message": …, "status": "PERMISSION_DENIED"}}`.
fn error(status: StatusCode, google_status: &str, message: &str) -> Rejection {
    let body = json!({
        "error": {"code": status.as_u16(), "message": message, "status": google_status}
    });
    Rejection { status, body }
}

fn invalid(message: &str) -> Rejection {
    error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
}

/// The three methods served on a model.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Generate,
    Stream,
    CountTokens,
}

/// Query parameters of a `key=…&alt=…` query, undecoded (keys and `sse` need no decoding).
fn query_param<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn plan(ctx: &Ctx, target: &str, query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Result<Outcome, Rejection> {
    // axum cannot split `{model}:{action}` inside one segment, so the whole
    // segment is captured and split on its last colon here.
    let (model, action) = match target.rsplit_once(':') {
        Some((model, "generateContent")) => (model, Action::Generate),
        Some((model, "streamGenerateContent")) => (model, Action::Stream),
        Some((model, "countTokens")) => (model, Action::CountTokens),
        _ => {
            return Err(error(StatusCode::NOT_FOUND, "NOT_FOUND", &format!("Method not found: models/{target}")));
        }
    };
    if model.is_empty() {
        return Err(invalid("The model name must not be empty."));
    }
    let header_key = headers.get("x-goog-api-key").and_then(|v| v.to_str().ok()).unwrap_or("");
    let query_key = query_param(query, "key").unwrap_or("");
    if header_key.trim().is_empty() && query_key.is_empty() {
        return Err(error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). \
             Please use API Key or other form of API consumer identity to call this API.",
        ));
    }
    let request = json_object(body).map_err(|e| match e {
        BodyError::NotJson(detail) => invalid(&format!("Invalid JSON payload received. {detail}")),
        BodyError::NotObject => invalid("Invalid JSON payload received. Expected an object."),
    })?;
    // countTokens accepts either `contents` or a whole `generateContentRequest`.
    let request = match (action, request.get("generateContentRequest")) {
        (Action::CountTokens, Some(Value::Object(inner))) => inner.clone(),
        _ => request,
    };
    let contents = match request.get("contents") {
        Some(Value::Array(c)) if !c.is_empty() => c,
        _ => {
            return Err(invalid("* GenerateContentRequest.contents: contents is not specified"));
        }
    };
    let system = field(&request, "systemInstruction", "system_instruction")
        .and_then(|s| s.get("parts"))
        .map_or(0, content_chars);
    let chars: usize = contents.iter().map(|c| c.get("parts").map_or(0, content_chars)).sum();
    let prompt = prompt_tokens(system + chars);
    if action == Action::CountTokens {
        return Ok(Outcome::Json(json!({
            "totalTokens": prompt,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}]
        })));
    }
    let tool = is_users_turn(contents.last()).then(|| first_function(&request)).flatten();
    let answer = Answer {
        response_id: format!("mock-resp-{}", ctx.state.next_id()),
        model: model.to_owned(),
        reply: Reply::choose(tool, &ctx.behavior.reply_for(body)),
        prompt_tokens: prompt,
    };
    Ok(match action {
        Action::Stream if query_param(query, "alt") == Some("sse") => Outcome::Stream {
            // Google ends SSE events with CRLF pairs; clients must cope with both.
            events: stream_chunks(&answer).iter().map(|chunk| Bytes::from(format!("data: {chunk}\r\n\r\n"))).collect(),
            content_type: EVENT_STREAM,
        },
        Action::Stream => {
            Outcome::Stream { events: json_array(&stream_chunks(&answer)), content_type: "application/json" }
        }
        _ => Outcome::Json(response(&answer, Some(answer.reply_parts()), true)),
    })
}

/// The REST API accepts both protobuf JSON spellings of a field.
fn field<'m>(map: &'m Map<String, Value>, camel: &str, snake: &str) -> Option<&'m Value> {
    map.get(camel).or_else(|| map.get(snake))
}

/// The user speaks last (role may be omitted) and is not only returning
/// function results.
fn is_users_turn(last: Option<&Value>) -> bool {
    let Some(content) = last else { return false };
    let role = content.get("role").and_then(Value::as_str).unwrap_or("user");
    let parts = content.get("parts").and_then(Value::as_array);
    role == "user"
        && parts.is_none_or(|parts| {
            parts.iter().any(|p| p.get("functionResponse").or_else(|| p.get("function_response")).is_none())
        })
}

fn first_function(request: &Map<String, Value>) -> Option<String> {
    request
        .get("tools")?
        .as_array()?
        .iter()
        .filter_map(|tool| {
            let declarations = tool.get("functionDeclarations").or_else(|| tool.get("function_declarations"));
            declarations?.as_array()?.first()
        })
        .next()?
        .get("name")?
        .as_str()
        .map(str::to_owned)
}

/// Everything of the answer that does not depend on how it is framed.
struct Answer {
    response_id: String,
    model: String,
    reply: Reply,
    prompt_tokens: u64,
}

impl Answer {
    fn reply_parts(&self) -> Value {
        match &self.reply {
            Reply::Text(text) => json!([{"text": text}]),
            Reply::ToolCall { name } => json!([{"functionCall": {"name": name, "args": {}}}]),
        }
    }
}

/// One `GenerateContentResponse`. Only the final one carries `finishReason`
/// and the candidate count; earlier stream chunks report the prompt alone,
/// as the real API does.
fn response(answer: &Answer, parts: Option<Value>, last: bool) -> Value {
    let prompt = answer.prompt_tokens;
    let details = json!([{"modality": "TEXT", "tokenCount": prompt}]);
    let mut candidate = json!({
        "content": {"parts": parts.unwrap_or_else(|| json!([])), "role": "model"},
        "index": 0
    });
    let usage = if last {
        if let Some(map) = candidate.as_object_mut() {
            map.insert("finishReason".to_owned(), json!("STOP"));
        }
        let output = answer.reply.completion_tokens();
        json!({
            "promptTokenCount": prompt,
            "candidatesTokenCount": output,
            "totalTokenCount": prompt + output,
            "promptTokensDetails": details
        })
    } else {
        json!({"promptTokenCount": prompt, "totalTokenCount": prompt, "promptTokensDetails": details})
    };
    json!({
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": answer.model,
        "responseId": answer.response_id
    })
}

/// Stream chunks: one per word of a text reply (the last one finishing),
/// or a single chunk holding the whole function call.
fn stream_chunks(answer: &Answer) -> Vec<Value> {
    let Reply::Text(text) = &answer.reply else {
        return vec![response(answer, Some(answer.reply_parts()), true)];
    };
    let pieces = word_pieces(text);
    if pieces.is_empty() {
        return vec![response(answer, Some(json!([{"text": ""}])), true)];
    }
    let last = pieces.len() - 1;
    pieces.iter().enumerate().map(|(i, piece)| response(answer, Some(json!([{"text": piece}])), i == last)).collect()
}

/// Without `alt=sse` the chunks form one JSON array, sent piece by piece.
fn json_array(chunks: &[Value]) -> Vec<Bytes> {
    let mut events: Vec<Bytes> = chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let lead = if i == 0 { "[" } else { ",\r\n" };
            Bytes::from(format!("{lead}{chunk}"))
        })
        .collect();
    events.push(Bytes::from_static(b"]"));
    events
}
