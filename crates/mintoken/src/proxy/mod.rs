//! The proxy pipeline, written once for every provider:
//! authenticate the mintoken key → take the provider key → check the plan (quota, body
//! size) → resolve intensity → parse and transform the body (inject the skill, ask for
//! stream usage) → forward → relay the response and record usage off the request path.
//!
//! Provider specifics live behind [`dialect::Dialect`], one file per API.

pub mod anthropic;
pub mod dialect;
pub(crate) mod error;
pub mod google;
mod json;
mod json_scan;
pub(crate) mod meter;
pub mod openai_chat;
pub mod openai_responses;
mod query;
pub(crate) mod quota;
mod relay;
pub mod sse;
pub mod upstream;

use crate::auth::key_cache::{AuthedKey, KeyAuthError};
use crate::metering::{IntensityReason, UsageSource};
use crate::metrics::ErrorClass;
use crate::secret::Secret;
use crate::server::SharedState;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use dialect::{Credential, Dialect, RouteInfo, StreamObserver};
use error::ProxyError;
use http_body_util::BodyExt;
use meter::{Outcome, RequestMeter};
use mintoken_compress::Intensity;
use mintoken_compress::context::{self, ContextReport};
use mintoken_compress::input;
use quota::Quota;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A non-streaming upstream body larger than this is refused (502) instead of being
/// held in memory.
const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;

/// Handles one metered request (generation) for `dialect`.
pub async fn handle(dialect: &'static dyn Dialect, state: SharedState, request: Request, route: RouteInfo) -> Response {
    let mut timing = Timing::start();
    let request_id = new_request_id();
    let result = forward(dialect, &state, request, route, &request_id, &mut timing).await;
    finish(dialect, &state, result, &request_id, &timing)
}

/// Handles a request that is authenticated like the others but forwarded unchanged and
/// not metered (token counting: `count_tokens`, `countTokens`).
pub async fn passthrough(
    dialect: &'static dyn Dialect,
    state: SharedState,
    request: Request,
    path: String,
) -> Response {
    let mut timing = Timing::start();
    let request_id = new_request_id();
    let result = forward_unchanged(dialect, &state, request, path, &mut timing).await;
    finish(dialect, &state, result, &request_id, &timing)
}

/// Where a request's time went: mintoken's own work, or waiting for the upstream.
struct Timing {
    started: Instant,
    /// When the upstream request was sent, and when the upstream's part ended: the
    /// whole body read, or (streams) the response head received.
    upstream: Option<(Instant, Instant)>,
}

impl Timing {
    fn start() -> Timing {
        Timing { started: Instant::now(), upstream: None }
    }

    fn upstream_done(&mut self, sent: Instant) {
        self.upstream = Some((sent, Instant::now()));
    }

    /// Time spent inside mintoken so far, excluding the upstream's part.
    fn overhead_us(&self) -> u64 {
        let upstream = self.upstream.map_or(Duration::ZERO, |(sent, done)| done - sent);
        self.started.elapsed().saturating_sub(upstream).as_micros() as u64
    }
}

/// `req_` and 24 base-62 characters, 8 from each of three 64-bit draws (~143 bits):
/// unique across instances for all practical purposes, and cheap, since ids need no
/// secrecy.
fn new_request_id() -> String {
    use crate::auth::random::{ALPHABET, fast_u64};
    let mut id = String::with_capacity(28);
    id.push_str("req_");
    for _ in 0..3 {
        let mut draw = fast_u64();
        for _ in 0..8 {
            id.push(ALPHABET[(draw % 62) as usize] as char);
            draw /= 62;
        }
    }
    id
}

/// Renders errors in the dialect's envelope, adds the headers every answer carries and
/// counts the answer in the metrics.
fn finish(
    dialect: &dyn Dialect,
    state: &SharedState,
    result: Result<Response, ProxyError>,
    request_id: &str,
    timing: &Timing,
) -> Response {
    let mut response = match result {
        Ok(response) => {
            if !response.status().is_success() {
                state.metrics.observe_error(ErrorClass::UpstreamStatus);
            }
            response
        }
        Err(e) => {
            let retry_after = e.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("retry-after"));
            state.metrics.observe_error(ErrorClass::of_own_error(e.status.as_u16(), retry_after));
            let mut response = (e.status, axum::Json(dialect.error_body(e.status, &e.message))).into_response();
            for (name, value) in e.headers {
                response.headers_mut().insert(name, value);
            }
            response
        }
    };
    let overhead_us = timing.overhead_us();
    state.metrics.observe_response(dialect.provider(), response.status().as_u16(), overhead_us);
    let headers = response.headers_mut();
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", id);
    }
    headers.insert("x-mintoken-duration-ms", HeaderValue::from(timing.started.elapsed().as_millis() as u64));
    headers.insert("x-mintoken-overhead-us", HeaderValue::from(overhead_us));
    response
}

/// Who is calling, with which provider key: the first checks of every proxied request.
struct Caller {
    key: Arc<AuthedKey>,
    provider_key: Secret<String>,
}

async fn identify(
    dialect: &dyn Dialect,
    state: &SharedState,
    headers: &HeaderMap,
    query: &[(String, String)],
) -> Result<Caller, ProxyError> {
    let raw = dialect
        .client_key(headers, query)
        .ok_or_else(|| ProxyError::new(StatusCode::UNAUTHORIZED, "Missing API key"))?;
    let key = match state.keys.authenticate(raw).await {
        Ok(key) => key,
        Err(KeyAuthError::Invalid) => return Err(ProxyError::new(StatusCode::UNAUTHORIZED, "Invalid API key")),
        Err(KeyAuthError::Store(e)) => {
            tracing::error!(error = %e, "cannot verify an API key: database unavailable");
            return Err(ProxyError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot verify the API key right now; retry shortly",
            ));
        }
    };
    let provider_key = headers
        .get("x-provider-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ProxyError::bad_request("Missing X-Provider-Key header"))?;
    Ok(Caller { key, provider_key: Secret::new(provider_key.to_owned()) })
}

async fn forward(
    dialect: &'static dyn Dialect,
    state: &SharedState,
    request: Request,
    route: RouteInfo,
    request_id: &str,
    timing: &mut Timing,
) -> Result<Response, ProxyError> {
    let (parts, body) = request.into_parts();
    let query = query::parse(parts.uri.query());
    let caller = identify(dialect, state, &parts.headers, &query).await?;
    let limits = state.config.plans.limits(&caller.key.plan);
    quota::check_rate(state, &caller.key, limits)?;
    let quota = Quota::check(state, &caller.key, limits.monthly_output_tokens).await?;
    let body = read_body(body, limits.max_body_bytes, &caller.key.plan).await?;
    let parsed = dialect.parse(&body, &route).map_err(ProxyError::bad_request)?;
    let reservation = quota.admit(state, &caller.key, dialect.output_cap(&parsed))?;
    let smart = caller.key.settings.smart_detect_enabled && limits.smart_detection;
    let (intensity, reason) =
        resolve_intensity(dialect, state, &parts.headers, &query, &caller.key, smart, &parsed).await?;

    let (mut parsed, context) = compress(dialect, parsed, &caller.key.settings, limits.input_compression).await?;
    // An explicit per-request intensity is the caller's choice: never held out.
    let holdout = intensity != Intensity::None
        && reason != IntensityReason::Override
        && held_out(caller.key.settings.holdout_percent);
    let skill = mintoken_compress::skill::text(intensity).filter(|_| !holdout);
    if let Some(skill) = skill {
        dialect.inject_skill(&mut parsed, skill).map_err(ProxyError::bad_request)?;
    }
    let observer: Option<Box<dyn StreamObserver>> = match parsed.stream {
        true => Some(dialect.prepare_stream(&mut parsed).map_err(ProxyError::bad_request)?),
        false => None,
    };
    let upstream_body = Bytes::from(json::to_bytes(&parsed.body));
    let outgoing = upstream_request(dialect, state, &parts, &query, &parsed.path, &caller, upstream_body.clone())?;

    let mut meter = RequestMeter {
        sink: state.usage.clone(),
        request_id: request_id.to_owned(),
        user_id: caller.key.user_id.clone(),
        org_id: caller.key.org_id.clone(),
        key_id: caller.key.key_id.clone(),
        provider: dialect.provider(),
        endpoint: dialect.endpoint(),
        model: parsed.model.clone(),
        intensity,
        reason,
        skill_tokens: if skill.is_some() { meter::skill_tokens(intensity) } else { 0 },
        holdout,
        reservation,
        context: context.as_ref().map(|r| (r.tokens_before as i64, r.tokens_after as i64)),
        streamed: parsed.stream,
        started: timing.started,
        upstream_started: Instant::now(),
        sent: false,
        recorded: Default::default(),
    };
    let limit = state.config.upstream_timeout;
    meter.sending();
    let sent = meter.upstream_started;
    let upstream_response = tokio::time::timeout(limit, state.upstream.send(outgoing)).await;
    timing.upstream_done(sent);
    let upstream_response = match upstream_response {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(meter.failed(ProxyError::upstream(&e))),
        Err(_) => return Err(meter.failed(ProxyError::timeout(limit))),
    };

    let status = upstream_response.status();
    let mut headers = upstream::response_headers(upstream_response.headers());
    headers.insert("x-mintoken-intensity", HeaderValue::from_static(intensity.as_str()));
    if holdout {
        headers.insert("x-mintoken-holdout", HeaderValue::from_static("true"));
    }
    if let Some(report) = &context {
        report_context(&mut headers, report);
    }

    if let Some(observer) = observer
        && status.is_success()
    {
        // Headers leave before the stream's usage is known: report the count so far.
        quota.report(&mut headers, 0);
        let sse = upstream::is_event_stream(upstream_response.headers());
        let reader = relay::Reader::new(dialect, observer, sse);
        let stream = relay::relay(upstream_response, reader, meter, upstream_body, limit, state.metrics.clone());
        return Ok(response(status, headers, Body::from_stream(stream)));
    }

    // Non-streaming (or an upstream error answering a streaming request): read the
    // whole body within what is left of the time limit, then relay it unchanged.
    meter.streamed = false;
    let remaining = limit.saturating_sub(timing.started.elapsed());
    let body = tokio::time::timeout(remaining, read_upstream_body(upstream_response.into_body())).await;
    timing.upstream_done(sent);
    let body = match body {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => return Err(meter.failed(e)),
        Err(_) => return Err(meter.failed(ProxyError::timeout(limit))),
    };
    let body = without_provider_key(status, &headers, body, &caller.provider_key);
    let tokens = if status.is_success() { dialect.usage_from_body(&body) } else { None };
    // SPEC §2: an unparseable answer is a 502. Checked only when no usage was found, so
    // a normal answer is not parsed twice; a compressed body is relayed as it is.
    if status.is_success()
        && tokens.is_none()
        && !headers.contains_key(header::CONTENT_ENCODING)
        && serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err()
    {
        tracing::warn!(request_id, "upstream answered 200 with a body that is not JSON");
        let message = "the upstream provider answered 200 with a body that is not valid JSON";
        return Err(meter.failed(ProxyError::new(StatusCode::BAD_GATEWAY, message)));
    }
    let source = if tokens.is_some() { UsageSource::Upstream } else { UsageSource::None };
    meter.record(Outcome { status: status.as_u16(), tokens, source });
    quota.report(&mut headers, tokens.map_or(0, |t| t.output));
    Ok(response(status, headers, Body::from(body)))
}

async fn forward_unchanged(
    dialect: &'static dyn Dialect,
    state: &SharedState,
    request: Request,
    path: String,
    timing: &mut Timing,
) -> Result<Response, ProxyError> {
    let (parts, body) = request.into_parts();
    let query = query::parse(parts.uri.query());
    let caller = identify(dialect, state, &parts.headers, &query).await?;
    let limits = state.config.plans.limits(&caller.key.plan);
    quota::check_rate(state, &caller.key, limits)?;
    let body = read_body(body, limits.max_body_bytes, &caller.key.plan).await?;
    let outgoing = upstream_request(dialect, state, &parts, &query, &path, &caller, body)?;
    let limit = state.config.upstream_timeout;
    let sent = Instant::now();
    let answer = tokio::time::timeout(limit, async move {
        let upstream_response = state.upstream.send(outgoing).await.map_err(|e| ProxyError::upstream(&e))?;
        let status = upstream_response.status();
        let headers = upstream::response_headers(upstream_response.headers());
        let body = read_upstream_body(upstream_response.into_body()).await?;
        let body = without_provider_key(status, &headers, body, &caller.provider_key);
        Ok((status, headers, body))
    })
    .await;
    timing.upstream_done(sent);
    let (status, headers, body) = answer.map_err(|_| ProxyError::timeout(limit))??;
    Ok(response(status, headers, Body::from(body)))
}

/// The upstream request: the client's headers minus credentials and hop-by-hop ones,
/// the provider's required defaults, and the provider key where the provider wants it.
fn upstream_request(
    dialect: &dyn Dialect,
    state: &SharedState,
    parts: &Parts,
    query: &[(String, String)],
    path: &str,
    caller: &Caller,
    body: Bytes,
) -> Result<axum::http::Request<http_body_util::Full<Bytes>>, ProxyError> {
    let mut query = query::forwarded(query);
    let mut headers = upstream::request_headers(&parts.headers);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in dialect.default_headers() {
        if !headers.contains_key(*name) {
            headers.insert(upstream::header_name(name), HeaderValue::from_static(value));
        }
    }
    match dialect.credential() {
        Credential::Header { name, prefix } => {
            let value = HeaderValue::from_str(&format!("{prefix}{}", caller.provider_key.expose()))
                .map_err(|_| ProxyError::bad_request("X-Provider-Key contains characters not allowed in a header"))?;
            headers.insert(upstream::header_name(name), value);
        }
        Credential::Query { name } => {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(name);
            query.push('=');
            query.push_str(&query::encode(caller.provider_key.expose()));
        }
    }
    let uri = state.upstream_bases.uri(dialect.provider(), path, &query).map_err(ProxyError::bad_request)?;
    let mut request = axum::http::Request::new(http_body_util::Full::new(body));
    *request.method_mut() = axum::http::Method::POST;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Ok(request)
}

/// An upstream that refuses a provider key may quote it back, in its message or in the
/// URL of the request (Gemini's `?key=`). SPEC §12 keeps provider keys out of error
/// bodies, so a relayed error body has every copy replaced by `[redacted]`, as the
/// playground does. A compressed body is relayed as it is (mintoken never asks for one).
fn without_provider_key(status: StatusCode, headers: &HeaderMap, body: Bytes, key: &Secret<String>) -> Bytes {
    let key = key.expose();
    // A very short key would blank out ordinary text, and hiding it would protect nothing.
    if status.is_success() || key.len() < 8 || headers.contains_key(header::CONTENT_ENCODING) {
        return body;
    }
    let encoded = query::encode(key);
    let mut out: Option<Vec<u8>> = None;
    for needle in [key.as_bytes(), encoded.as_bytes()] {
        let current = out.as_deref().unwrap_or(&body[..]);
        if let Some(replaced) = replace_all(current, needle, b"[redacted]") {
            out = Some(replaced);
        }
    }
    out.map_or(body, Bytes::from)
}

/// `haystack` with every `needle` replaced, or `None` when there is none.
fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Option<Vec<u8>> {
    let mut found = memchr::memmem::find_iter(haystack, needle).peekable();
    found.peek()?;
    let mut out = Vec::with_capacity(haystack.len());
    let mut from = 0;
    for at in found {
        out.extend_from_slice(&haystack[from..at]);
        out.extend_from_slice(with);
        from = at + needle.len();
    }
    out.extend_from_slice(&haystack[from..]);
    Some(out)
}

fn response(status: StatusCode, headers: HeaderMap, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// Whether this request is one of the key's `holdout_percent` share sent without the
/// skill (SPEC §7): a uniform draw per request, so the held-out requests are a random
/// sample of the key's traffic.
fn held_out(percent: u8) -> bool {
    percent > 0 && crate::auth::random::fast_u64() % 100 < u64::from(percent)
}

/// SPEC §3, in order: an explicit override (header, then `?intensity=`); with smart
/// detection on (key setting and plan), the user's custom rules, then the built-in
/// classifier; otherwise the key's default.
async fn resolve_intensity(
    dialect: &dyn Dialect,
    state: &SharedState,
    headers: &HeaderMap,
    query: &[(String, String)],
    key: &AuthedKey,
    smart: bool,
    request: &dialect::ParsedRequest,
) -> Result<(Intensity, IntensityReason), ProxyError> {
    let from_header = headers
        .get("x-mintoken-intensity")
        .map(|v| ("X-Mintoken-Intensity", String::from_utf8_lossy(v.as_bytes()).into_owned()));
    let from_query = || query::get(query, "intensity").map(|v| ("intensity", v.to_owned()));
    if let Some((source, value)) = from_header.or_else(from_query) {
        let intensity = value
            .parse::<Intensity>()
            .map_err(|e| ProxyError::bad_request(format!("invalid {source} value {value:?}: {e}")))?;
        return Ok((intensity, IntensityReason::Override));
    }
    if !smart {
        return Ok((key.settings.intensity, IntensityReason::Default));
    }
    let text = dialect.prompt_text(request);
    // Custom rules are personal: an org key, shared by the members, follows the
    // classifier only (docs/orgs.md).
    if key.org_id.is_none() {
        let rules = state.rules.rules_of(&key.user_id).await.map_err(|e| {
            tracing::error!(error = %e, "cannot load custom rules: database unavailable");
            ProxyError::new(StatusCode::SERVICE_UNAVAILABLE, "cannot load your custom rules right now; retry shortly")
        })?;
        if let Some(intensity) = rules.decide(&[&text.latest_user, &text.system]) {
            return Ok((intensity, IntensityReason::Rule));
        }
    }
    let class = mintoken_compress::classifier::classify(&text.latest_user, &text.system);
    Ok((class.intensity(), IntensityReason::Classifier))
}

/// Input compression (when the key asks and the plan allows) then context compression
/// (when the key asks), SPEC §4. CPU work proportional to the body, so it runs on the
/// blocking pool rather than holding up a runtime worker.
async fn compress(
    dialect: &'static dyn Dialect,
    mut request: dialect::ParsedRequest,
    settings: &crate::store::KeySettings,
    plan_allows_input: bool,
) -> Result<(dialect::ParsedRequest, Option<ContextReport>), ProxyError> {
    let input_on = settings.auto_compress_input && plan_allows_input;
    let context_level = settings.context_compress.then_some(settings.context_compress_level);
    if !input_on && context_level.is_none() {
        return Ok((request, None));
    }
    let work = move || -> Result<_, ProxyError> {
        if input_on {
            on_conversation(dialect, &mut request, |members, shape| {
                input::compress_conversation(members, shape).changed
            })?;
        }
        let mut report = None;
        if let Some(level) = context_level {
            on_conversation(dialect, &mut request, |members, shape| {
                let r = context::compress(members, shape, level);
                let changed = r.skipped.is_none();
                report = Some(r);
                changed
            })?;
        }
        Ok((request, report))
    };
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        tracing::error!(error = %e, "compression task failed");
        ProxyError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error while compressing the request")
    })?
}

/// Runs a compression step (SPEC §4) on the conversation. Only the members the
/// compressors read are parsed (the conversation and the system prompt); only the
/// conversation is written back, and only when `step` says it changed.
fn on_conversation(
    dialect: &dyn Dialect,
    request: &mut dialect::ParsedRequest,
    step: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>, context::Shape) -> bool,
) -> Result<(), ProxyError> {
    let shape = dialect.context_shape();
    let conversation = shape.conversation_key();
    let mut members = serde_json::Map::new();
    for name in [conversation, "system", "instructions", "systemInstruction", "system_instruction"] {
        if let Some(raw) = request.body.get(name) {
            let value =
                serde_json::from_str(raw.get()).map_err(|e| ProxyError::bad_request(format!("`{name}`: {e}")))?;
            members.insert(name.to_owned(), value);
        }
    }
    if step(&mut members, shape)
        && let Some(changed) = members.get(conversation)
    {
        request.body.insert(conversation.to_owned(), json::to_raw(changed));
    }
    Ok(())
}

/// `X-Mintoken-Context-Tokens-Before/-After`, and why nothing was done if so.
fn report_context(headers: &mut HeaderMap, report: &ContextReport) {
    headers.insert("x-mintoken-context-tokens-before", HeaderValue::from(report.tokens_before));
    headers.insert("x-mintoken-context-tokens-after", HeaderValue::from(report.tokens_after));
    if let Some(reason) = report.skipped {
        headers.insert("x-mintoken-context-skipped", HeaderValue::from_static(reason.as_str()));
    }
}

async fn read_body(body: Body, limit: usize, plan: &str) -> Result<Bytes, ProxyError> {
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ProxyError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request body is larger than {limit} bytes, the limit of the {plan} plan; send a smaller request or upgrade"
            ),
        )),
        Err(e) => match crate::server::BodyTimeout::find(&*e) {
            Some(timeout) => Err(ProxyError::new(StatusCode::REQUEST_TIMEOUT, timeout.to_string())),
            None => Err(ProxyError::bad_request("could not read the request body")),
        },
    }
}

/// A whole upstream body, bounded in size.
pub(crate) async fn read_upstream_body<B>(body: B) -> Result<Bytes, ProxyError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limited = http_body_util::Limited::new(body, MAX_UPSTREAM_BODY);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relayed_error_bodies_lose_the_provider_key_and_successes_are_untouched() {
        let key = Secret::new("sk-live+canary/123".to_owned());
        let body = Bytes::from_static(b"{\"m\":\"bad key sk-live+canary/123 in ?key=sk-live%2Bcanary%2F123\"}");
        let out = without_provider_key(StatusCode::UNAUTHORIZED, &HeaderMap::new(), body.clone(), &key);
        assert_eq!(&out[..], b"{\"m\":\"bad key [redacted] in ?key=[redacted]\"}");
        assert_eq!(without_provider_key(StatusCode::OK, &HeaderMap::new(), body.clone(), &key), body);
        let clean = Bytes::from_static(b"{\"error\":\"quota\"}");
        assert_eq!(without_provider_key(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), clean.clone(), &key), clean);
    }
}
