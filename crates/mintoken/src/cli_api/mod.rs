//! The two server routes the reference product's published CLI (PyPI `mintoken` 0.2.x)
//! calls, so that CLI works against a self-hosted server when its
//! `MINTOKEN_COMPRESS_URL` / `MINTOKEN_TELEMETRY_URL` point here (SPEC §15):
//!
//! - `POST /v1/cli/compress-context` ([`compress`]): context compression of a provider
//!   request body on the server; one usage row (`provider = "cli"`,
//!   `endpoint = "cli.compress-context"`) with the context tokens before/after.
//! - `POST /v1/cli-telemetry` ([`telemetry`]): the usage record of a request the CLI
//!   forwarded from the user's machine (`usage_source = "reported"`).
//!
//! Both take the `mt_live_` key as `Authorization: Bearer` and answer errors like the
//! management API (`{"detail": …}`), which is what the reference client logs. Neither
//! ever stores or logs a request body. Shapes and decisions: `docs/local-proxy.md`.

pub mod compress;
pub mod telemetry;

use crate::api::ApiError;
use crate::auth::key_cache::{AuthedKey, KeyAuthError};
use crate::proxy::error::ProxyError;
use crate::server::SharedState;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Instant;

/// An error these routes answer: status, a message saying what to fix, and headers
/// (`Retry-After`, `X-Mintoken-Tokens-Used` / `-Limit`) carried over from the proxy's
/// refusals.
#[derive(Debug)]
pub struct CliError {
    pub status: StatusCode,
    pub detail: String,
    pub headers: Vec<(&'static str, HeaderValue)>,
}

impl CliError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        CliError { status, detail: detail.into(), headers: Vec::new() }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn internal(what: &str, error: impl std::fmt::Display) -> Self {
        // The cause goes to the log, not to the client.
        tracing::error!(error = %error, "{what}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error; the server log has the details")
    }
}

/// The proxy's refusals (rate limit, quota, database) keep their status, message and
/// headers.
impl From<ProxyError> for CliError {
    fn from(e: ProxyError) -> Self {
        CliError { status: e.status, detail: e.message, headers: e.headers }
    }
}

impl From<ApiError> for CliError {
    fn from(e: ApiError) -> Self {
        Self::new(e.status, e.detail)
    }
}

impl IntoResponse for CliError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(serde_json::json!({ "detail": self.detail }))).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// The mintoken key, from `Authorization: Bearer` (the only place the reference client
/// puts it). The key itself is never logged.
pub(crate) async fn authenticate(state: &SharedState, headers: &HeaderMap) -> Result<Arc<AuthedKey>, CliError> {
    let raw = crate::api::bearer(headers).ok_or_else(|| CliError::new(StatusCode::UNAUTHORIZED, "Missing API key"))?;
    match state.keys.authenticate(raw).await {
        Ok(key) => Ok(key),
        Err(KeyAuthError::Invalid) => Err(CliError::new(StatusCode::UNAUTHORIZED, "Invalid API key")),
        Err(KeyAuthError::Store(e)) => {
            tracing::error!(error = %e, "cannot verify an API key: database unavailable");
            Err(CliError::new(StatusCode::SERVICE_UNAVAILABLE, "cannot verify the API key right now; retry shortly"))
        }
    }
}

pub(crate) fn new_request_id() -> String {
    format!("req_{}", crate::auth::random::alphanumeric(24))
}

/// Renders the result and adds the headers every answer carries.
pub(crate) fn finish(result: Result<Response, CliError>, request_id: &str, started: Instant) -> Response {
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    let headers = response.headers_mut();
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", id);
    }
    headers.insert("x-mintoken-duration-ms", HeaderValue::from(started.elapsed().as_millis() as u64));
    response
}

/// Reads a body of at most `limit` bytes; `plan` (when the cap is the plan's) is named in
/// the 413 so the caller knows what to change.
pub(crate) async fn read_body(
    body: axum::body::Body,
    limit: usize,
    plan: Option<&str>,
) -> Result<bytes::Bytes, CliError> {
    use http_body_util::BodyExt;
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(CliError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            match plan {
                Some(plan) => format!(
                    "request body is larger than {limit} bytes, the limit of the {plan} plan; send a smaller request or upgrade"
                ),
                None => format!("request body is larger than {limit} bytes"),
            },
        )),
        Err(_) => Err(CliError::bad_request("could not read the request body")),
    }
}
