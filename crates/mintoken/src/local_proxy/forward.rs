//! One proxied request: read the body, compress it (generation routes only, on the
//! blocking pool), send it to the right upstream with the client's headers, and relay the
//! upstream's status, headers and body bytes as they arrive. A [`Relay`] watches the bytes
//! go by for usage and, when the body ends (or the client goes away), prints the console
//! line and queues the telemetry record.
//!
//! Which upstream: `/v1/messages…` and `/v1/complete` are Anthropic's, `/v1/chat/…`,
//! `/v1/responses…`, `/v1/completions`, `/v1/embeddings`… OpenAI's. A path both APIs have
//! (`/v1/models`, `/v1/files`…) goes to Anthropic when the request carries
//! `anthropic-version` (every Anthropic SDK and Claude Code send it), else to OpenAI.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::Stream;
use futures_util::stream::BoxStream;
use mintoken_compress::ContextLevel;
use mintoken_compress::context::{self, Shape};
use serde_json::{Map, Value, json};

use super::console::{self, Console, Outcome};
use super::headers;
use super::level_name;
use super::telemetry::{Record, Reporter};
use super::usage::Observer;

/// Largest request body accepted. Long agent sessions are a few MB at most.
const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

/// State shared by every request.
pub(super) struct Shared {
    pub(super) http: reqwest::Client,
    pub(super) level: ContextLevel,
    pub(super) anthropic: String,
    pub(super) openai: String,
    pub(super) console: Console,
    pub(super) reporter: Option<Reporter>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Upstream {
    Anthropic,
    OpenAi,
}

impl Upstream {
    fn name(self) -> &'static str {
        match self {
            Upstream::Anthropic => "anthropic",
            Upstream::OpenAi => "openai",
        }
    }

    fn of(path: &str, headers: &HeaderMap) -> Upstream {
        let under =
            |prefix: &str| path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        if under("/v1/messages") || under("/v1/complete") {
            Upstream::Anthropic
        } else if under("/v1/chat") || under("/v1/responses") || under("/v1/completions") || under("/v1/embeddings") {
            Upstream::OpenAi
        } else if headers.contains_key("anthropic-version") {
            Upstream::Anthropic
        } else {
            Upstream::OpenAi
        }
    }
}

/// The generation routes whose bodies are compressed.
fn endpoint(method: &Method, path: &str) -> Option<(Shape, &'static str)> {
    if method != Method::POST {
        return None;
    }
    match path {
        "/v1/messages" => Some((Shape::Anthropic, "messages")),
        "/v1/chat/completions" => Some((Shape::OpenAiChat, "chat-completions")),
        "/v1/responses" => Some((Shape::OpenAiResponses, "responses")),
        _ => None,
    }
}

pub(super) async fn forward(shared: Arc<Shared>, request: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let method = parts.method;
    let path = parts.uri.path().to_owned();
    let upstream = Upstream::of(&path, &parts.headers);
    let endpoint = endpoint(&method, &path);

    // Until the upstream's answer is handed to the client, a hang-up drops this future:
    // the guard still prints the request's line.
    let mut hangup = Hangup {
        console: shared.console.clone(),
        method: method.to_string(),
        path: path.clone(),
        outcome: None,
        started,
        armed: true,
    };

    let body = match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            let status = StatusCode::PAYLOAD_TOO_LARGE;
            let message = format!("mintoken proxy could not read the request body (limit 64 MiB): {e}");
            let outcome = Outcome::Skipped { reason: "unreadable_body".into(), tokens: 0 };
            let line = console::line(method.as_str(), &path, status.as_u16(), &outcome, started.elapsed(), None);
            shared.console.emit(line);
            hangup.armed = false;
            return error_response(upstream, status, &message, &outcome);
        }
    };

    let (body, outcome, model) = match endpoint {
        Some((shape, _)) => compress(body, shape, shared.level).await,
        None => (body, Outcome::Skipped { reason: "passthrough".into(), tokens: 0 }, None),
    };
    hangup.outcome = Some(outcome.clone());

    let base = match upstream {
        Upstream::Anthropic => &shared.anthropic,
        Upstream::OpenAi => &shared.openai,
    };
    let path_and_query = parts.uri.path_and_query().map_or(path.as_str(), |pq| pq.as_str());
    let url = format!("{base}{path_and_query}");
    let mut outgoing = shared.http.request(method.clone(), url).headers(headers::upstream_request(&parts.headers));
    if !body.is_empty() {
        outgoing = outgoing.body(body);
    }
    let answer = match outgoing.send().await {
        Ok(r) => r,
        Err(e) => {
            let status = if e.is_timeout() { StatusCode::GATEWAY_TIMEOUT } else { StatusCode::BAD_GATEWAY };
            let message =
                format!("mintoken proxy could not reach the {} upstream {base}: {}", upstream.name(), cause(&e));
            let line =
                console::line(method.as_str(), &path, status.as_u16(), &outcome, started.elapsed(), Some(&message));
            shared.console.emit(line);
            hangup.armed = false;
            return error_response(upstream, status, &message, &outcome);
        }
    };
    hangup.armed = false;

    let status = answer.status();
    let mut relayed = headers::client_response(answer.headers());
    add_outcome_headers(&mut relayed, &outcome);
    let event_stream = crate::proxy::upstream::is_event_stream(answer.headers());
    // Usage is read only from bodies that are not content-encoded (we ask for identity;
    // an upstream that compresses anyway is relayed as is, and its usage is not read).
    let encoded = answer
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("identity"));
    let observer = Observer::new(event_stream, endpoint.is_some() && !encoded);
    let finish = Finish {
        shared: Arc::clone(&shared),
        method: method.to_string(),
        path,
        status: status.as_u16(),
        outcome,
        model,
        upstream,
        endpoint: endpoint.map(|(_, name)| name),
        streamed: event_stream,
        started,
    };
    // No body is read for these; their end is not a client hanging up.
    let bodyless = method == Method::HEAD || matches!(status.as_u16(), 204 | 304);
    let relay = Relay { inner: Box::pin(answer.bytes_stream()), observer, finish: Some(finish), bodyless };
    let mut response = Response::new(Body::from_stream(relay));
    *response.status_mut() = status;
    *response.headers_mut() = relayed;
    response
}

/// Compresses a generation request on the blocking pool. The original bytes go upstream
/// unchanged whenever nothing was compressed.
async fn compress(body: Bytes, shape: Shape, level: ContextLevel) -> (Bytes, Outcome, Option<String>) {
    let original = body.clone();
    let work = tokio::task::spawn_blocking(move || {
        let mut map: Map<String, Value> = match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return (body, skipped("unsupported_shape", 0), None),
            Err(_) => return (body, skipped("not_json", 0), None),
        };
        let model = map.get("model").and_then(Value::as_str).map(str::to_owned);
        let report = context::compress(&mut map, shape, level);
        if let Some(reason) = report.skipped {
            return (body, skipped(reason.as_str(), report.tokens_before), model);
        }
        match serde_json::to_vec(&map) {
            Ok(bytes) => (
                Bytes::from(bytes),
                Outcome::Compressed { before: report.tokens_before, after: report.tokens_after },
                model,
            ),
            Err(_) => (body, skipped("internal_error", report.tokens_before), model),
        }
    });
    // A panic inside the compressor must not fail the request: forward it unchanged.
    work.await.unwrap_or_else(|_| (original, skipped("internal_error", 0), None))
}

fn skipped(reason: &str, tokens: usize) -> Outcome {
    Outcome::Skipped { reason: reason.to_owned(), tokens }
}

fn add_outcome_headers(headers: &mut HeaderMap, outcome: &Outcome) {
    match outcome {
        Outcome::Compressed { before, after } => {
            headers.insert(headers::TOKENS_BEFORE, HeaderValue::from(*before as u64));
            headers.insert(headers::TOKENS_AFTER, HeaderValue::from(*after as u64));
            headers.insert(headers::TOKENS_SAVED, HeaderValue::from(before.saturating_sub(*after) as u64));
        }
        Outcome::Skipped { reason, .. } => {
            if let Ok(v) = HeaderValue::from_str(reason) {
                headers.insert(headers::SKIPPED, v);
            }
        }
    }
}

/// An error of the proxy itself (not of the upstream), in the envelope the client's SDK
/// parses.
fn error_response(upstream: Upstream, status: StatusCode, message: &str, outcome: &Outcome) -> Response {
    let body = match upstream {
        Upstream::Anthropic => json!({"type": "error", "error": {"type": "api_error", "message": message}}),
        Upstream::OpenAi => {
            json!({"error": {"message": message, "type": "mintoken_proxy_error", "param": null, "code": null}})
        }
    };
    let mut response = (status, axum::Json(body)).into_response();
    add_outcome_headers(response.headers_mut(), outcome);
    response
}

/// reqwest's error chain without the URL (it repeats what the message says already).
fn cause(e: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    if text.is_empty() { "request failed".to_owned() } else { text }
}

/// Prints the line of a request whose client went away before the upstream answered
/// (status 499, nginx's "client closed request"); the upstream request is cancelled.
struct Hangup {
    console: Console,
    method: String,
    path: String,
    outcome: Option<Outcome>,
    started: Instant,
    armed: bool,
}

impl Drop for Hangup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let outcome =
            self.outcome.take().unwrap_or_else(|| Outcome::Skipped { reason: "client_closed".into(), tokens: 0 });
        let note = Some("client closed the connection before the upstream answered");
        self.console.emit(console::line(&self.method, &self.path, 499, &outcome, self.started.elapsed(), note));
    }
}

/// What is needed to report a request once its response body is over.
struct Finish {
    shared: Arc<Shared>,
    method: String,
    path: String,
    status: u16,
    outcome: Outcome,
    model: Option<String>,
    upstream: Upstream,
    endpoint: Option<&'static str>,
    streamed: bool,
    started: Instant,
}

impl Finish {
    fn done(self, observer: &mut Observer, note: Option<&str>) {
        let elapsed = self.started.elapsed();
        let line = console::line(&self.method, &self.path, self.status, &self.outcome, elapsed, note);
        self.shared.console.emit(line);
        let (Some(reporter), Some(endpoint)) = (&self.shared.reporter, self.endpoint) else { return };
        let usage = observer.finish();
        let (before, after, skipped_reason) = match &self.outcome {
            Outcome::Compressed { before, after } => (*before, *after, None),
            Outcome::Skipped { reason, tokens } => (*tokens, *tokens, Some(reason.clone())),
        };
        reporter.report(Record {
            upstream: self.upstream.name(),
            model: self.model.unwrap_or_else(|| "unknown".to_owned()),
            endpoint,
            intensity: level_name(self.shared.level),
            input_tokens: usage.input_tokens.unwrap_or(0),
            output_tokens: usage.output_tokens.unwrap_or(0),
            context_tokens_before: before as u64,
            context_tokens_after: after as u64,
            duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            skipped_reason,
            client: format!("mintoken-proxy/{}", env!("CARGO_PKG_VERSION")),
            status: self.status,
            streamed: self.streamed,
        });
    }
}

/// The upstream body relayed chunk by chunk, untouched, with a side observer.
struct Relay {
    inner: BoxStream<'static, Result<Bytes, reqwest::Error>>,
    observer: Observer,
    finish: Option<Finish>,
    bodyless: bool,
}

impl Relay {
    fn end(&mut self, note: Option<&str>) {
        if let Some(finish) = self.finish.take() {
            finish.done(&mut self.observer, note);
        }
    }
}

impl Stream for Relay {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match this.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.observer.feed(&chunk);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                // The upstream broke off: end the client's response abruptly too (hyper
                // closes the connection without a clean end), so the client sees the cut.
                this.end(Some("upstream broke off the body"));
                Poll::Ready(Some(Err(std::io::Error::other(cause(&e)))))
            }
            Poll::Ready(None) => {
                this.end(None);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Dropped before the end: the client went away mid-body.
        let note = if self.bodyless { None } else { Some("client closed the connection") };
        self.end(note);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_path_then_by_header() {
        let none = HeaderMap::new();
        let mut anthropic = HeaderMap::new();
        anthropic.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        assert_eq!(Upstream::of("/v1/messages", &none), Upstream::Anthropic);
        assert_eq!(Upstream::of("/v1/messages/count_tokens", &none), Upstream::Anthropic);
        assert_eq!(Upstream::of("/v1/messagesx", &none), Upstream::OpenAi);
        assert_eq!(Upstream::of("/v1/chat/completions", &anthropic), Upstream::OpenAi);
        assert_eq!(Upstream::of("/v1/models", &none), Upstream::OpenAi);
        assert_eq!(Upstream::of("/v1/models", &anthropic), Upstream::Anthropic);
        assert_eq!(endpoint(&Method::POST, "/v1/responses").map(|e| e.1), Some("responses"));
        assert_eq!(endpoint(&Method::GET, "/v1/responses"), None);
    }
}
