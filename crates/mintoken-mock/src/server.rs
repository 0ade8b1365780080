//! The HTTP server: [`MockServer`] (start, inspect, configure), the route
//! table, and the middleware that records every API request before any
//! handler sees it.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::post;
use axum::serve::ListenerExt;
use bytes::Bytes;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::behavior::Behavior;
use crate::deliver::json_response;
use crate::razorpay::RazorpaySettings;
use crate::record::{ChunkSent, RecordedRequest};
use crate::state::Shared;
use crate::{anthropic, control, gemini, openai_chat, openai_responses, razorpay};

/// Largest request body read (and recorded). Far above anything a test sends,
/// but bounded so a runaway client cannot exhaust memory.
const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// A running mock upstream. Dropping it stops accepting connections.
pub struct MockServer {
    addr: SocketAddr,
    state: Shared,
    task: JoinHandle<()>,
}

impl MockServer {
    /// Starts on an ephemeral port of 127.0.0.1, serving in a tokio task.
    ///
    /// # Panics
    /// If no loopback port can be bound, which means the test machine itself
    /// is broken.
    pub async fn start() -> MockServer {
        MockServer::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("cannot bind an ephemeral port on 127.0.0.1")
    }

    /// Starts on `addr` (port 0 picks a free port).
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<MockServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Shared::default();
        let app = router(state.clone());
        // Streamed events are small writes spaced in time; without NODELAY,
        // Nagle plus delayed ACKs would hold them back and blur the timings
        // the tests measure.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            // `serve` only returns if the listener itself fails; the mock then
            // simply stops answering, which the tests will notice.
            let _ = axum::serve(listener, app).await;
        });
        Ok(MockServer { addr, state, task })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`, without a trailing slash or an API version.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every API request received so far, in arrival order (control routes excluded).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// The most recent API request, if any.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.state.last_request()
    }

    /// Switches recording of requests and chunk timings on (the default) or
    /// off. Off, [`MockServer::requests`] and [`MockServer::chunk_log`] stop
    /// growing: for benchmarks, where the log would be memory growth and a
    /// lock on every request.
    pub fn set_recording(&self, on: bool) {
        self.state.set_recording(on);
    }

    /// Forgets recorded requests and chunk timings (the behaviour is kept).
    pub fn clear(&self) {
        self.state.clear();
    }

    /// Sets how the following requests are answered.
    pub fn set_behavior(&self, behavior: Behavior) {
        self.state.set_behavior(behavior);
    }

    /// The behaviour currently applied.
    pub fn behavior(&self) -> Behavior {
        self.state.behavior()
    }

    /// Every streamed event written so far, with the instant it was handed
    /// to the connection.
    pub fn chunk_log(&self) -> Vec<ChunkSent> {
        self.state.chunk_log()
    }

    /// Sets the fake Razorpay's key pair and faults.
    pub fn set_razorpay(&self, settings: RazorpaySettings) {
        self.state.set_razorpay(settings);
    }

    /// The fake Razorpay's current settings.
    pub fn razorpay(&self) -> RazorpaySettings {
        self.state.razorpay()
    }

    /// Every order the fake Razorpay created, as it answered them, oldest first.
    pub fn razorpay_orders(&self) -> Vec<serde_json::Value> {
        self.state.razorpay_orders()
    }

    /// Streams currently being served; drops back once a client goes away.
    pub fn open_streams(&self) -> usize {
        self.state.open_streams()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The recorded form of the request being handled, for API handlers.
#[derive(Clone)]
pub(crate) struct Received {
    /// Index in the request log (and in [`ChunkSent::request_index`]).
    pub(crate) index: usize,
    /// The raw body, already read by the recorder.
    pub(crate) body: Bytes,
}

/// The whole application: API routes (recorded) plus control routes (not).
pub(crate) fn router(state: Shared) -> Router {
    let api = Router::new()
        .route("/v1/chat/completions", post(openai_chat::handle))
        .route("/v1/responses", post(openai_responses::handle))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route("/v1/models/{target}", post(gemini::handle))
        .route("/v1beta/models/{target}", post(gemini::handle))
        .route("/v1/orders", post(razorpay::create_order))
        .fallback(unknown_route)
        .layer(middleware::from_fn_with_state(state.clone(), record));
    api.merge(control::router()).with_state(state)
}

/// Records the request exactly as received (unless recording is off), then
/// hands it on with its body (and index) available to the handler.
async fn record(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, MAX_BODY_BYTES).await;
    let bytes = read.as_ref().cloned().unwrap_or_default();
    let index = if state.recording() { state.record(recorded(&parts, &bytes)) } else { state.skip_record() };
    if let Err(e) = read {
        // Too large, or the client stopped sending mid-body.
        let error = json!({"error": {"message": format!("could not read the request body: {e}"),
            "type": "invalid_request_error", "param": null, "code": null}});
        return json_response(StatusCode::BAD_REQUEST, &error);
    }
    parts.extensions.insert(Received { index, body: bytes.clone() });
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// The request as it goes into the log.
fn recorded(parts: &axum::http::request::Parts, bytes: &Bytes) -> RecordedRequest {
    RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect(),
        body: bytes.to_vec(),
    }
}

/// Unknown path: a 404 in OpenAI's envelope, the most common client.
async fn unknown_route(request: Request) -> Response {
    let message = format!(
        "Unknown request URL: {} {}. The mock serves /v1/chat/completions, /v1/responses, \
         /v1/messages, /v1/messages/count_tokens, /{{v1,v1beta}}/models/{{model}}:{{generateContent,streamGenerateContent}} \
         and (Razorpay) /v1/orders.",
        request.method(),
        request.uri().path()
    );
    let error = json!({"error": {"message": message, "type": "invalid_request_error",
        "param": null, "code": "unknown_url"}});
    json_response(StatusCode::NOT_FOUND, &error)
}
