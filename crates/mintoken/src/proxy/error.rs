//! Errors the proxy answers itself, and the classification of upstream failures.

use axum::http::{HeaderValue, StatusCode};

/// An error mintoken itself answers, rendered in the calling dialect's envelope.
pub struct ProxyError {
    pub status: StatusCode,
    pub message: String,
    pub headers: Vec<(&'static str, HeaderValue)>,
}

impl ProxyError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ProxyError { status, message: message.into(), headers: Vec::new() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn timeout(limit: std::time::Duration) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!("the upstream provider did not answer within {} s", limit.as_secs()),
        )
    }

    /// Classifies a failed upstream request (the text logged holds no URL).
    pub fn upstream(e: &super::upstream::UpstreamError) -> Self {
        tracing::warn!(error = %e, "upstream request failed");
        if e.is_connect() {
            Self::new(StatusCode::BAD_GATEWAY, "could not connect to the upstream provider")
        } else {
            Self::new(StatusCode::BAD_GATEWAY, "the upstream provider closed the connection or answered unintelligibly")
        }
    }

    /// The same for the playground's reqwest client, without echoing its URL.
    pub fn upstream_reqwest(e: &reqwest::Error, limit: std::time::Duration) -> Self {
        tracing::warn!(error = %WithoutUrl(e), "upstream request failed");
        if e.is_timeout() {
            Self::timeout(limit)
        } else if e.is_connect() {
            Self::new(StatusCode::BAD_GATEWAY, "could not connect to the upstream provider")
        } else {
            Self::new(StatusCode::BAD_GATEWAY, "the upstream provider closed the connection or answered unintelligibly")
        }
    }
}
/// A reqwest error's cause chain without the URL reqwest would print.
pub struct WithoutUrl<'a>(pub &'a reqwest::Error);

impl std::fmt::Display for WithoutUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::error::Error;
        let kind = if self.0.is_connect() {
            "connect error"
        } else if self.0.is_timeout() {
            "timeout"
        } else {
            "request error"
        };
        f.write_str(kind)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}
