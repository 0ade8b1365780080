//! Errors of the playground routes, rendered like the management API (`{"detail": …}`),
//! plus, when the provider failed, which run failed and what the provider said.

use crate::api::ApiError;
use crate::proxy::error::ProxyError;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub struct PlaygroundError {
    pub status: StatusCode,
    pub detail: String,
    pub headers: Vec<(&'static str, HeaderValue)>,
    /// One entry per failed run: `{run, upstream_status, message}`.
    pub failed_runs: Vec<Value>,
}

impl PlaygroundError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        PlaygroundError { status, detail: detail.into(), headers: Vec::new(), failed_runs: Vec::new() }
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

/// The proxy's refusals (auth, quota, rate limit) keep their status, message and headers.
impl From<ProxyError> for PlaygroundError {
    fn from(e: ProxyError) -> Self {
        PlaygroundError { status: e.status, detail: e.message, headers: e.headers, failed_runs: Vec::new() }
    }
}

impl From<ApiError> for PlaygroundError {
    fn from(e: ApiError) -> Self {
        Self::new(e.status, e.detail)
    }
}

impl IntoResponse for PlaygroundError {
    fn into_response(self) -> Response {
        let mut body = json!({ "detail": self.detail });
        if !self.failed_runs.is_empty() {
            body["failed_runs"] = Value::Array(self.failed_runs);
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}
