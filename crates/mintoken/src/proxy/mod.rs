//! The proxy pipeline, written once for every provider:
//! authenticate the mintoken key → take the provider key → check the plan's body limit
//! → resolve intensity → parse and transform the body (inject the skill, ask for stream
//! usage) → forward → relay the response and record usage off the request path.

pub mod dialect;
mod json;
mod meter;
pub mod openai_chat;
mod relay;
pub mod sse;
pub mod upstream;

use crate::auth::key_cache::{AuthedKey, KeyAuthError};
use crate::metering::{IntensityReason, UsageSource};
use crate::server::SharedState;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dialect::{Credential, Dialect, StreamObserver};
use http_body_util::BodyExt;
use meter::{Outcome, RequestMeter};
use mintoken_compress::Intensity;
use std::sync::Arc;
use std::time::Instant;

/// A non-streaming upstream body larger than this is refused (502) instead of being
/// held in memory.
const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;

/// An error mintoken itself answers, rendered in the calling dialect's envelope.
pub struct ProxyError {
    status: StatusCode,
    message: String,
    headers: Vec<(&'static str, HeaderValue)>,
}

impl ProxyError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ProxyError { status, message: message.into(), headers: Vec::new() }
    }
}

/// Handles one proxied request for `dialect`.
pub async fn handle(dialect: &'static dyn Dialect, state: SharedState, request: Request) -> Response {
    let started = Instant::now();
    let request_id = format!("req_{}", crate::auth::random::alphanumeric(24));
    let mut response = match forward(dialect, &state, request, &request_id, started).await {
        Ok(response) => response,
        Err(e) => {
            let mut response = (e.status, axum::Json(dialect.error_body(e.status, &e.message))).into_response();
            for (name, value) in e.headers {
                response.headers_mut().insert(name, value);
            }
            response
        }
    };
    let headers = response.headers_mut();
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", id);
    }
    headers.insert("x-mintoken-duration-ms", HeaderValue::from(started.elapsed().as_millis() as u64));
    response
}

async fn forward(
    dialect: &'static dyn Dialect,
    state: &SharedState,
    request: Request,
    request_id: &str,
    started: Instant,
) -> Result<Response, ProxyError> {
    let (parts, body) = request.into_parts();
    let query: Vec<(String, String)> = parts.uri.query().map(parse_query).unwrap_or_default();

    let key = authenticate(dialect, state, &parts.headers, &query).await?;
    let provider_key = parts
        .headers
        .get("x-provider-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ProxyError::new(StatusCode::BAD_REQUEST, "Missing X-Provider-Key header"))?;
    let provider_key = crate::secret::Secret::new(provider_key.to_owned());

    let limits = state.config.plans.limits(&key.plan);
    let quota = Quota::check(state, &key, limits.monthly_output_tokens).await?;
    let body = read_body(body, limits.max_body_bytes, &key.plan).await?;
    let (intensity, reason) = resolve_intensity(&parts.headers, &query, &key)?;

    let mut parsed = dialect.parse(&body).map_err(|m| ProxyError::new(StatusCode::BAD_REQUEST, m))?;
    let skill = mintoken_compress::skill::text(intensity);
    if let Some(skill) = skill {
        dialect.inject_skill(&mut parsed, skill).map_err(|m| ProxyError::new(StatusCode::BAD_REQUEST, m))?;
    }
    let observer: Option<Box<dyn StreamObserver>> = match parsed.stream {
        true => Some(dialect.prepare_stream(&mut parsed).map_err(|m| ProxyError::new(StatusCode::BAD_REQUEST, m))?),
        false => None,
    };
    let upstream_body = bytes::Bytes::from(json::to_bytes(&parsed.body));

    let forwarded_query = forwarded_query(&query);
    let mut url = dialect.upstream_url(dialect.base_url(&state.config), &parsed, &forwarded_query);
    let mut headers = upstream::request_headers(&parts.headers);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    match dialect.credential() {
        Credential::Header { name, prefix } => {
            let value = HeaderValue::from_str(&format!("{prefix}{}", provider_key.expose())).map_err(|_| {
                ProxyError::new(StatusCode::BAD_REQUEST, "X-Provider-Key contains characters not allowed in a header")
            })?;
            headers.insert(upstream::header_name(name), value);
        }
        Credential::Query { name } => {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(name);
            url.push('=');
            url.push_str(&percent_encode(provider_key.expose()));
        }
    }

    let mut meter = RequestMeter {
        sink: state.usage.clone(),
        request_id: request_id.to_owned(),
        user_id: key.user_id.clone(),
        key_id: key.key_id.clone(),
        provider: dialect.provider(),
        endpoint: dialect.endpoint(),
        model: parsed.model.clone(),
        intensity,
        reason,
        skill_tokens: skill.map_or(0, skill_tokens),
        streamed: parsed.stream,
        started,
        upstream_started: Some(Instant::now()),
    };
    let timeout = state.config.upstream_timeout;
    let sent = state.upstream.post(url).headers(headers).body(upstream_body.clone()).send();
    let upstream_response = match tokio::time::timeout(timeout, sent).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            let (status, message) = upstream_failure(&e, timeout);
            meter.record(Outcome { status: status.as_u16(), tokens: None, source: UsageSource::None });
            return Err(ProxyError::new(status, message));
        }
        Err(_) => {
            meter.record(Outcome { status: 504, tokens: None, source: UsageSource::None });
            return Err(ProxyError::new(StatusCode::GATEWAY_TIMEOUT, timeout_message(timeout)));
        }
    };

    let status = upstream_response.status();
    let mut response_headers = upstream::response_headers(upstream_response.headers());
    response_headers.insert("x-mintoken-intensity", HeaderValue::from_static(intensity.as_str()));

    if let Some(observer) = observer
        && status.is_success()
        && upstream::is_event_stream(upstream_response.headers())
    {
        // Headers leave before the stream's usage is known: report the count so far.
        quota.report(&mut response_headers, 0);
        let stream = relay::relay(upstream_response, observer, meter, upstream_body, timeout);
        let mut response = Response::new(Body::from_stream(stream));
        *response.status_mut() = status;
        *response.headers_mut() = response_headers;
        return Ok(response);
    }

    // Non-streaming (or an upstream error answering a streaming request): read the
    // whole body within what is left of the time limit, then relay it unchanged.
    meter.streamed = false;
    let remaining = timeout.saturating_sub(started.elapsed());
    let body = match tokio::time::timeout(remaining, read_upstream_body(upstream_response)).await {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => {
            meter.record(Outcome { status: e.status.as_u16(), tokens: None, source: UsageSource::None });
            return Err(e);
        }
        Err(_) => {
            meter.record(Outcome { status: 504, tokens: None, source: UsageSource::None });
            return Err(ProxyError::new(StatusCode::GATEWAY_TIMEOUT, timeout_message(timeout)));
        }
    };
    let tokens = if status.is_success() { dialect.usage_from_body(&body) } else { None };
    let source = if tokens.is_some() { UsageSource::Upstream } else { UsageSource::None };
    meter.record(Outcome { status: status.as_u16(), tokens, source });
    quota.report(&mut response_headers, tokens.map_or(0, |t| t.output));
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = response_headers;
    Ok(response)
}

async fn authenticate(
    dialect: &dyn Dialect,
    state: &SharedState,
    headers: &HeaderMap,
    query: &[(String, String)],
) -> Result<Arc<AuthedKey>, ProxyError> {
    let raw = dialect
        .client_key(headers, query)
        .ok_or_else(|| ProxyError::new(StatusCode::UNAUTHORIZED, "Missing API key"))?;
    match state.keys.authenticate(raw).await {
        Ok(key) => Ok(key),
        Err(KeyAuthError::Invalid) => Err(ProxyError::new(StatusCode::UNAUTHORIZED, "Invalid API key")),
        Err(KeyAuthError::Store(e)) => {
            tracing::error!(error = %e, "cannot verify an API key: database unavailable");
            Err(ProxyError::new(StatusCode::SERVICE_UNAVAILABLE, "cannot verify the API key right now; retry shortly"))
        }
    }
}

/// The monthly output-token quota as it stood before this request.
struct Quota {
    used: i64,
    /// 0 = unlimited.
    limit: i64,
}

impl Quota {
    /// Refuses the request when the quota is already used up.
    async fn check(state: &SharedState, key: &AuthedKey, limit: u64) -> Result<Quota, ProxyError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        if limit == 0 {
            return Ok(Quota { used: 0, limit });
        }
        let used = state.usage.quota().used(&key.user_id).await.map_err(|e| {
            tracing::error!(error = %e, "cannot read the quota counter: database unavailable");
            ProxyError::new(StatusCode::SERVICE_UNAVAILABLE, "cannot check the token quota right now; retry shortly")
        })?;
        if used >= limit {
            let mut e = ProxyError::new(StatusCode::TOO_MANY_REQUESTS, "token quota exceeded");
            e.headers.push(("x-mintoken-tokens-used", HeaderValue::from(used)));
            e.headers.push(("x-mintoken-tokens-limit", HeaderValue::from(limit)));
            return Err(e);
        }
        Ok(Quota { used, limit })
    }

    /// `X-Mintoken-Tokens-Used` once usage reaches 80 % of the limit.
    fn report(&self, headers: &mut HeaderMap, output_tokens: i64) {
        let used = self.used.saturating_add(output_tokens);
        if self.limit > 0 && used.saturating_mul(5) >= self.limit.saturating_mul(4) {
            headers.insert("x-mintoken-tokens-used", HeaderValue::from(used));
        }
    }
}

/// Override (header, then `?intensity=`) wins; otherwise the key's default.
fn resolve_intensity(
    headers: &HeaderMap,
    query: &[(String, String)],
    key: &AuthedKey,
) -> Result<(Intensity, IntensityReason), ProxyError> {
    let from_header = headers
        .get("x-mintoken-intensity")
        .map(|v| ("X-Mintoken-Intensity", String::from_utf8_lossy(v.as_bytes()).into_owned()));
    let from_query = || query.iter().find(|(k, _)| k == "intensity").map(|(_, v)| ("intensity", v.clone()));
    match from_header.or_else(from_query) {
        Some((source, value)) => value
            .parse::<Intensity>()
            .map(|i| (i, IntensityReason::Override))
            .map_err(|e| ProxyError::new(StatusCode::BAD_REQUEST, format!("invalid {source} value {value:?}: {e}"))),
        None => Ok((key.settings.intensity, IntensityReason::Default)),
    }
}

async fn read_body(body: Body, limit: usize, plan: &str) -> Result<bytes::Bytes, ProxyError> {
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ProxyError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request body is larger than {limit} bytes, the limit of the {plan} plan; send a smaller request or upgrade"
            ),
        )),
        Err(_) => Err(ProxyError::new(StatusCode::BAD_REQUEST, "could not read the request body")),
    }
}

async fn read_upstream_body(response: reqwest::Response) -> Result<bytes::Bytes, ProxyError> {
    let limited = http_body_util::Limited::new(reqwest::Body::from(response), MAX_UPSTREAM_BODY);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(ProxyError::new(StatusCode::BAD_GATEWAY, "upstream response is larger than mintoken relays unstreamed"))
        }
        Err(_) => {
            Err(ProxyError::new(StatusCode::BAD_GATEWAY, "upstream connection failed while sending its response"))
        }
    }
}

/// Classifies a failed upstream request without echoing its URL (which may carry a
/// provider key in `?key=`).
fn upstream_failure(e: &reqwest::Error, timeout: std::time::Duration) -> (StatusCode, String) {
    tracing::warn!(error = %DisplayWithoutUrl(e), "upstream request failed");
    if e.is_timeout() {
        (StatusCode::GATEWAY_TIMEOUT, timeout_message(timeout))
    } else if e.is_connect() {
        (StatusCode::BAD_GATEWAY, "could not connect to the upstream provider".to_owned())
    } else {
        (StatusCode::BAD_GATEWAY, "the upstream provider closed the connection or answered unintelligibly".to_owned())
    }
}

struct DisplayWithoutUrl<'a>(&'a reqwest::Error);

impl std::fmt::Display for DisplayWithoutUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::error::Error;
        let mut source = self.0.source();
        write!(
            f,
            "{}",
            if self.0.is_connect() {
                "connect error"
            } else if self.0.is_timeout() {
                "timeout"
            } else {
                "request error"
            }
        )?;
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

fn timeout_message(timeout: std::time::Duration) -> String {
    format!("the upstream provider did not answer within {} s", timeout.as_secs())
}

fn skill_tokens(skill: &'static str) -> i64 {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    // Three constant texts: count each once per process.
    static COUNTS: OnceLock<Mutex<HashMap<usize, i64>>> = OnceLock::new();
    let counts = COUNTS.get_or_init(Default::default);
    let mut counts = counts.lock().unwrap_or_else(|e| e.into_inner());
    *counts.entry(skill.as_ptr() as usize).or_insert_with(|| mintoken_compress::tokens::count(skill) as i64)
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// The client's query string minus mintoken's own parameters and credentials.
fn forwarded_query(query: &[(String, String)]) -> String {
    query
        .iter()
        .filter(|(k, _)| k != "intensity" && k != "key")
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_round_trip_drops_mintoken_parameters() {
        let q = parse_query("intensity=lite&api-version=2024-02-01&key=secret&x=a%20b");
        assert_eq!(q[0], ("intensity".to_owned(), "lite".to_owned()));
        assert_eq!(forwarded_query(&q), "api-version=2024-02-01&x=a%20b");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
