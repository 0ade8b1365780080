//! JSON request bodies of the management API: read with a size cap, parsed once, and
//! every field checked with an error naming the field and what it should be.

use super::error::ApiError;
use axum::body::Body;
use axum::extract::{FromRequest, Request};
use http_body_util::BodyExt;
use serde_json::{Map, Value};

/// Management bodies are small; anything larger is a mistake.
const MAX_BODY: usize = 64 * 1024;

/// A JSON object body. Malformed JSON or a non-object → 400; too large → 413.
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let bytes = read_limited(req.into_body(), MAX_BODY).await?;
        parse_object(&bytes).map(JsonObject)
    }
}

pub async fn read_limited(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {limit} bytes"),
        )),
        Err(_) => Err(ApiError::bad_request("could not read the request body")),
    }
}

pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("request body is empty; send a JSON object"));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("request body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("malformed JSON in request body: {e}"))),
    }
}

impl JsonObject {
    /// Refuses fields outside `allowed`, so a typo is reported instead of ignored.
    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => {
                Err(ApiError::unprocessable(format!("unknown field `{k}`; allowed fields: {}", allowed.join(", "))))
            }
            None => Ok(()),
        }
    }

    pub fn string(&self, field: &str) -> Result<Option<&str>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            // PostgreSQL cannot store NUL in text: refused here, not a 503 from the store.
            Some(Value::String(s)) if s.contains('\0') => {
                Err(ApiError::unprocessable(format!("`{field}` must not contain the NUL character (\\u0000)")))
            }
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::unprocessable(format!("`{field}` must be a string"))),
        }
    }

    pub fn required_string(&self, field: &str) -> Result<&str, ApiError> {
        self.string(field)?.ok_or_else(|| ApiError::bad_request(format!("`{field}` is required")))
    }

    pub fn bool(&self, field: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::unprocessable(format!("`{field}` must be true or false"))),
        }
    }
}

/// A path parameter (`{id}`, `{email}`). axum's own `Path` answers a malformed one (e.g.
/// percent-encoded bytes that are not UTF-8) in plain text; this answers in the API's
/// error envelope.
pub struct PathParam(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            // Ids and emails have no control characters; a NUL would reach the store.
            Ok(axum::extract::Path(value)) if value.chars().any(char::is_control) => {
                Err(ApiError::bad_request("path parameter must not contain control characters"))
            }
            Ok(axum::extract::Path(value)) => Ok(PathParam(value)),
            Err(e) => Err(ApiError::bad_request(format!("malformed path parameter: {}", e.body_text()))),
        }
    }
}

/// Two path parameters (`/v1/orgs/{id}/members/{user_id}`), answered in the API's
/// error envelope like [`PathParam`].
pub struct PathPair(pub String, pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PathPair {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<(String, String)>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path((a, b))) if a.chars().chain(b.chars()).any(char::is_control) => {
                Err(ApiError::bad_request("path parameter must not contain control characters"))
            }
            Ok(axum::extract::Path((a, b))) => Ok(PathPair(a, b)),
            Err(e) => Err(ApiError::bad_request(format!("malformed path parameter: {}", e.body_text()))),
        }
    }
}
