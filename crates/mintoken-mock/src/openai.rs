//! What the two OpenAI APIs (Chat Completions and Responses) share: the
//! `Authorization: Bearer` check and OpenAI's error envelope.

use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Map, Value, json};

use crate::deliver::Rejection;
use crate::request::{BodyError, json_object};

/// OpenAI's error envelope.
pub(crate) fn error(status: StatusCode, message: &str, code: Option<&str>) -> Rejection {
    let body = json!({
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": null,
            "code": code,
        }
    });
    Rejection { status, body }
}

/// A 400 `invalid_request_error`.
pub(crate) fn bad_request(message: &str) -> Rejection {
    error(StatusCode::BAD_REQUEST, message, None)
}

/// Requires `Authorization: Bearer <non-empty key>`, as OpenAI does before
/// even looking at the body.
pub(crate) fn check_auth(headers: &HeaderMap) -> Result<(), Rejection> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    if key.is_empty() {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "You didn't provide an API key. You need to provide your API key in an \
             Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            Some("invalid_api_key"),
        ));
    }
    Ok(())
}

/// Parses the body as a JSON object, answering OpenAI-style 400s otherwise.
pub(crate) fn parse_body(body: &[u8]) -> Result<Map<String, Value>, Rejection> {
    json_object(body).map_err(|e| match e {
        BodyError::NotJson(detail) => bad_request(&format!(
            "We could not parse the JSON body of your request. (HINT: This likely means \
             you aren't using your HTTP library correctly. The OpenAI API expects a JSON \
             payload, but what was sent was not valid JSON.) Parser said: {detail}"
        )),
        BodyError::NotObject => bad_request("The request body must be a JSON object."),
    })
}

/// The request's `model`, which both OpenAI APIs require.
pub(crate) fn model(map: &Map<String, Value>) -> Result<String, Rejection> {
    match map.get("model") {
        Some(Value::String(m)) if !m.is_empty() => Ok(m.clone()),
        _ => Err(bad_request("you must provide a model parameter")),
    }
}
