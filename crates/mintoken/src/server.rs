//! The `serve` process: shared state, the router (one place that lists every route and
//! which authentication guards it), and start-up / graceful shutdown.

use crate::api::{self, ApiError};
use crate::auth::jwt::JwtKeys;
use crate::auth::key_cache::KeyCache;
use crate::auth::login_limiter::LoginLimiter;
use crate::config::Config;
use crate::metering::{QuotaCounters, UsageSink, UsageWriter};
use crate::metrics::Metrics;
use crate::proxy::{
    self, anthropic::AnthropicMessages, dialect::RouteInfo, google, openai_chat::OpenAiChat,
    openai_responses::OpenAiResponses,
};
use crate::rules::cache::RuleCache;
use crate::store::Store;
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub keys: Arc<KeyCache>,
    pub rules: Arc<RuleCache>,
    pub jwt: JwtKeys,
    pub usage: UsageSink,
    pub upstream: proxy::upstream::UpstreamClient,
    pub login_limiter: LoginLimiter,
    /// The playground's own HTTP client (for user-chosen `custom_base_url`s).
    pub playground: crate::playground::Playground,
    /// Requests per minute per account.
    pub rate: crate::metering::RateLimiter,
    /// The metering clock (tests move it across month boundaries).
    pub clock: crate::clock::Clock,
    /// Prometheus metrics (`GET /metrics`).
    pub metrics: Arc<Metrics>,
    /// The providers' base URLs, parsed.
    pub upstream_bases: proxy::upstream::BaseUrls,
    /// The client for Razorpay's Orders API.
    pub billing: crate::billing::razorpay::Client,
}

pub type SharedState = Arc<AppState>;

static OPENAI_CHAT: OpenAiChat = OpenAiChat;
static OPENAI_RESPONSES: OpenAiResponses = OpenAiResponses;
static ANTHROPIC: AnthropicMessages = AnthropicMessages;
static GEMINI: google::Gemini = google::Gemini;

/// The proxy routes: one line per API, each naming its dialect.
fn proxy_routes() -> Router<SharedState> {
    let generation = |dialect: &'static dyn proxy::dialect::Dialect| {
        post(move |State(s): State<SharedState>, req: Request| proxy::handle(dialect, s, req, RouteInfo::default()))
    };
    let gemini_body_model = |stream: bool| {
        post(move |State(s): State<SharedState>, req: Request| {
            proxy::handle(&GEMINI, s, req, RouteInfo { stream, ..Default::default() })
        })
    };
    Router::new()
        .route("/v1/chat/completions", generation(&OPENAI_CHAT))
        .route("/v1/responses", generation(&OPENAI_RESPONSES))
        .route("/v1/messages", generation(&ANTHROPIC))
        .route(
            "/v1/messages/count_tokens",
            post(|State(s): State<SharedState>, req: Request| {
                proxy::passthrough(&ANTHROPIC, s, req, "/v1/messages/count_tokens".to_owned())
            }),
        )
        .route("/v1/generateContent", gemini_body_model(false))
        .route("/v1/streamGenerateContent", gemini_body_model(true))
        .route("/v1/models/{model_action}", post(|s, p, r| gemini_native("v1", s, p, r)))
        .route("/v1beta/models/{model_action}", post(|s, p, r| gemini_native("v1beta", s, p, r)))
}

/// `/{version}/models/{model}:{action}`: axum cannot split on the colon, so the whole
/// segment is captured and split here.
async fn gemini_native(
    version: &'static str,
    State(state): State<SharedState>,
    Path(model_action): Path<String>,
    request: Request,
) -> Response {
    let Some((model, action)) = google::split_model_action(&model_action) else {
        return ApiError::not_found(format!(
            "no route for POST /{version}/models/{model_action}; use models/{{model}}:generateContent, :streamGenerateContent or :countTokens"
        ))
        .into_response();
    };
    let route = |stream| RouteInfo { model: Some(model.to_owned()), stream, version: Some(version) };
    match action {
        google::Action::Generate => proxy::handle(&GEMINI, state, request, route(false)).await,
        google::Action::StreamGenerate => proxy::handle(&GEMINI, state, request, route(true)).await,
        google::Action::CountTokens => {
            proxy::passthrough(&GEMINI, state, request, format!("/{version}/models/{model}:countTokens")).await
        }
    }
}

pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(api::public_routes())
        .merge(api::protected_routes(state.clone()))
        .merge(proxy_routes())
        .merge(crate::playground::routes())
        .route("/v1/cli/compress-context", post(crate::cli_api::compress::handle))
        .route("/v1/cli-telemetry", post(crate::cli_api::telemetry::handle))
        .merge(crate::dashboard::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Bodies are capped per route (plan limits on the proxy, 64 KiB on management).
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

/// Ready = the database answers. The usage queue is reported alongside: records waiting
/// for the database, and records dropped because the queue was full.
async fn readyz(State(state): State<SharedState>) -> Response {
    let usage = json!({ "queued": state.usage.queued(), "dropped": state.usage.dropped() });
    match state.store.ping().await {
        Ok(()) => Json(json!({ "status": "ready", "usage_queue": usage })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            let body = json!({ "status": "unavailable", "detail": "database unreachable", "usage_queue": usage });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// Prometheus exposition; like the health routes it needs no key: it carries no
/// account, key or model labels (see `crate::metrics`).
async fn metrics(State(state): State<SharedState>) -> Response {
    let body = crate::metrics::render(&state.metrics, &state.usage);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}; see the README for the API", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed on {}", uri.path()))
}

/// A running server, for `serve` and for tests.
pub struct Server {
    pub addr: SocketAddr,
    pub state: SharedState,
    shutdown: tokio::sync::watch::Sender<bool>,
    /// Set when the grace period is over: every open connection fails its next read
    /// or write, which ends the streams still running (see [`Closable`]).
    close_connections: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    writer: UsageWriter,
    sync: tokio::task::JoinHandle<()>,
    /// The usage retention job (rolls old usage rows into monthly aggregates).
    retention: tokio::task::JoinHandle<()>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("JWT secret: {0}")]
    Secret(std::io::Error),
    #[error("cannot start the usage writer's thread: {0}")]
    UsageWriter(std::io::Error),
    /// A base URL or the TLS setup of the upstream client.
    #[error("{0}")]
    Upstream(String),
}

impl Server {
    /// Opens the store, binds the listener and starts serving in the background.
    pub async fn start(config: Config) -> Result<Server, StartError> {
        let upstream_bases = proxy::upstream::BaseUrls::new(&config).map_err(StartError::Upstream)?;
        let upstream = proxy::upstream::UpstreamClient::new(&config).map_err(StartError::Upstream)?;
        let store = Store::open(&config).await?;
        let secret = match &config.jwt_secret {
            Some(s) => s.expose().as_bytes().to_vec(),
            // The data dir holds the secret even when the database lives elsewhere.
            None => {
                crate::store::create_private_dir(&config.data_dir)?;
                load_or_create_secret(&config.data_dir.join("jwt_secret")).map_err(StartError::Secret)?
            }
        };
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Listen { addr: config.listen, source })?;
        let addr = listener.local_addr().map_err(|source| StartError::Listen { addr: config.listen, source })?;
        // Load the tokenizer and build the classifier's automaton now, off the async
        // runtime, so the first request does not pay for them.
        tokio::task::spawn_blocking(|| {
            mintoken_compress::tokens::warm_up();
            mintoken_compress::classifier::warm_up();
        })
        .await
        .ok();

        let clock = crate::clock::Clock::default();
        let quota = Arc::new(QuotaCounters::new(store.clone(), clock.clone()));
        let metrics = Arc::new(Metrics::default());
        let (usage, writer) =
            UsageWriter::start(&config, quota.clone(), metrics.clone()).map_err(StartError::UsageWriter)?;
        let keys = KeyCache::new(store.clone());
        let rules = RuleCache::new(store.clone());
        let retention = crate::analytics::retention::spawn(store.clone(), config.usage_retention_days);
        let state = Arc::new(AppState {
            upstream,
            playground: crate::playground::Playground::new(&config),
            billing: crate::billing::razorpay::Client::new(&config),
            jwt: JwtKeys::new(&secret),
            config,
            store,
            keys,
            rules,
            usage,
            login_limiter: LoginLimiter::default(),
            rate: crate::metering::RateLimiter::new(clock.clone()),
            clock,
            metrics,
            upstream_bases,
        });
        let sync = crate::cache_sync::spawn(state.clone());
        let (shutdown, mut stop) = tokio::sync::watch::channel(false);
        let (close_connections, closed) = tokio::sync::watch::channel(false);
        let app = router(state.clone());
        let timeouts = ClientTimeouts {
            header_read: state.config.header_read_timeout,
            request_body: state.config.request_body_timeout,
        };
        let listener = ClosableListener { inner: listener, closed };
        let listener = axum::serve::ListenerExt::tap_io(listener, |io: &mut Closable| {
            let _ = io.tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            let stop = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            serve(listener, app, timeouts, stop).await;
        });
        Ok(Server { addr, state, shutdown, close_connections, task, writer, sync, retention })
    }

    /// Stops accepting connections, lets in-flight requests and streams finish for up
    /// to the configured grace period, then flushes usage and closes the store.
    ///
    /// Streams still running at the end of the grace period are ended by closing their
    /// connections; each records the usage it saw (as a stream the client did not see
    /// to its end) before the writer's final flush, so none of them goes unmetered.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let grace = self.state.config.shutdown_grace;
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "in-flight requests outlived the shutdown grace period; closing them"
            );
            // The connections run in tasks of their own: the serve task ends once all
            // of them have, which closing their sockets brings about at once.
            let _ = self.close_connections.send(true);
            if tokio::time::timeout(CLOSE_TIMEOUT, &mut task).await.is_err() {
                tracing::error!("connections still open after closing them; abandoning them");
                task.abort();
            }
        }
        self.sync.abort();
        self.retention.abort();
        self.writer.finish(self.state.usage.clone()).await;
        self.state.store.close().await;
    }
}

/// How long closed connections get to wind down (their handlers record usage as they drop).
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The listener of `serve`: a TCP listener whose connections can all be closed at once.
struct ClosableListener {
    inner: tokio::net::TcpListener,
    closed: tokio::sync::watch::Receiver<bool>,
}

impl axum::serve::Listener for ClosableListener {
    type Io = Closable;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Closable, SocketAddr) {
        let (tcp, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        let mut closed = self.closed.clone();
        let closing = Box::pin(async move {
            let _ = closed.wait_for(|c| *c).await;
        });
        (Closable { tcp, closing: Some(closing) }, addr)
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// An accepted connection that fails every read and write once the server closes its
/// connections. A failed read is how hyper notices a vanished client, so the connection
/// ends promptly even while its stream waits on the upstream, and the response being
/// streamed is dropped, which records its usage.
struct Closable {
    tcp: tokio::net::TcpStream,
    /// `None` once closed: a finished future must not be polled again (it would panic).
    closing: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
}

impl Closable {
    fn check(&mut self, cx: &mut std::task::Context<'_>) -> std::io::Result<()> {
        let aborted = || std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "server shutting down");
        let Some(closing) = self.closing.as_mut() else { return Err(aborted()) };
        match closing.as_mut().poll(cx) {
            std::task::Poll::Ready(()) => {
                self.closing = None;
                Err(aborted())
            }
            std::task::Poll::Pending => Ok(()),
        }
    }
}

impl tokio::io::AsyncRead for Closable {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if let Err(e) = self.check(cx) {
            return std::task::Poll::Ready(Err(e));
        }
        tokio::io::AsyncRead::poll_read(std::pin::Pin::new(&mut self.tcp), cx, buf)
    }
}

impl tokio::io::AsyncWrite for Closable {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if let Err(e) = self.check(cx) {
            return std::task::Poll::Ready(Err(e));
        }
        tokio::io::AsyncWrite::poll_write(std::pin::Pin::new(&mut self.tcp), cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if let Err(e) = self.check(cx) {
            return std::task::Poll::Ready(Err(e));
        }
        tokio::io::AsyncWrite::poll_write_vectored(std::pin::Pin::new(&mut self.tcp), cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        tokio::io::AsyncWrite::is_write_vectored(&self.tcp)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if let Err(e) = self.check(cx) {
            return std::task::Poll::Ready(Err(e));
        }
        tokio::io::AsyncWrite::poll_flush(std::pin::Pin::new(&mut self.tcp), cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(std::pin::Pin::new(&mut self.tcp), cx)
    }
}

/// The largest request head (request line and headers) read; hyper's own default is
/// 400 KiB. Provider SDKs send a few kilobytes.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How long a client may take to send a request: its head, then its body.
#[derive(Clone, Copy)]
struct ClientTimeouts {
    header_read: Duration,
    request_body: Duration,
}

/// Accepts connections and serves `app` on each (HTTP/1.1, or HTTP/2 by prior knowledge)
/// until `stop` resolves, then stops accepting and waits for the open connections to
/// finish (each told to close once its in-flight requests are done).
///
/// This rather than `axum::serve`, which sets no timer, so hyper's header-read timeout
/// never ran: a client sending its headers a byte at a time (slowloris) held a
/// connection and its task for as long as it liked. Here a request's head must arrive
/// within `header_read_timeout` (hyper then closes the connection; the same timer closes
/// a keep-alive connection left idle that long), and its body within
/// `request_body_timeout` ([`DeadlineBody`]).
///
/// There is no cap on connections: an idle one costs a task and a few kilobytes, and the
/// header-read timeout bounds how long it lives; the file-descriptor limit is the cap
/// (the listener retries a failed `accept`, e.g. `EMFILE`, after a pause instead of
/// ending the server). docs/reliability.md#faults has the figures.
async fn serve<L>(mut listener: L, app: Router, timeouts: ClientTimeouts, stop: impl std::future::Future<Output = ()>)
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // A request head larger than MAX_HEAD_BYTES, or with more than 100 headers, is a 431.
    builder.http1().timer(TokioTimer::new()).header_read_timeout(timeouts.header_read).max_buf_size(MAX_HEAD_BYTES);
    builder.http2().timer(TokioTimer::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (io, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let (mut parts, body) = request.into_parts();
            parts.extensions.insert(axum::extract::ConnectInfo(peer));
            let body = axum::body::Body::new(DeadlineBody::new(body, timeouts.request_body));
            tower_service::Service::call(&mut app.clone(), Request::from_parts(parts, body))
        });
        let io = TokioIo::new(FirstBytes::new(io, timeouts.header_read));
        let connection = builder.serve_connection(io, service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// A connection whose first bytes must arrive within the header-read timeout. hyper's
/// own header-read timer starts only once the HTTP/1 connection exists, after the bytes
/// that tell HTTP/1 from HTTP/2 (up to the 24 of the HTTP/2 preface) have been read; a
/// client that connected and sent nothing was otherwise kept for ever.
struct FirstBytes<I> {
    io: I,
    /// Bytes read so far, up to the preface's length.
    read: usize,
    /// Running until the preface's length has been read.
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

/// Length of the HTTP/2 connection preface, what version detection reads at most.
const PREFACE_LEN: usize = 24;

impl<I> FirstBytes<I> {
    fn new(io: I, limit: Duration) -> FirstBytes<I> {
        FirstBytes { io, read: 0, timer: Some(Box::pin(tokio::time::sleep(limit))) }
    }
}

impl<I: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for FirstBytes<I> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let this = &mut *self;
        let before = buf.filled().len();
        let result = tokio::io::AsyncRead::poll_read(std::pin::Pin::new(&mut this.io), cx, buf);
        let Some(timer) = this.timer.as_mut() else { return result };
        if let Poll::Ready(r) = result {
            this.read += buf.filled().len() - before;
            if this.read >= PREFACE_LEN || r.is_err() {
                this.timer = None;
            }
            return Poll::Ready(r);
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.timer = None;
                let message = "no request within the header-read timeout";
                Poll::Ready(Err(std::io::Error::new(std::io::ErrorKind::TimedOut, message)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<I: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for FirstBytes<I> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(std::pin::Pin::new(&mut self.io), cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write_vectored(std::pin::Pin::new(&mut self.io), cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        tokio::io::AsyncWrite::is_write_vectored(&self.io)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(std::pin::Pin::new(&mut self.io), cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(std::pin::Pin::new(&mut self.io), cx)
    }
}

/// A request body that fails with [`BodyTimeout`] when it has not fully arrived by its
/// deadline (counted from the request's head). The timer is armed only when the body is
/// actually waited for, so a body already received costs nothing.
struct DeadlineBody {
    inner: hyper::body::Incoming,
    limit: Duration,
    deadline: tokio::time::Instant,
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl DeadlineBody {
    fn new(inner: hyper::body::Incoming, limit: Duration) -> DeadlineBody {
        DeadlineBody { inner, limit, deadline: tokio::time::Instant::now() + limit, timer: None }
    }
}

impl hyper::body::Body for DeadlineBody {
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        use std::task::Poll;
        let this = &mut *self;
        if let Poll::Ready(frame) = std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout(this.limit))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that did not arrive within `request_body_timeout`.
#[derive(Debug)]
pub(crate) struct BodyTimeout(Duration);

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the request body did not arrive within {} s; send it faster", self.0.as_secs())
    }
}

impl std::error::Error for BodyTimeout {}

impl BodyTimeout {
    /// The `BodyTimeout` somewhere in an error's cause chain, if any.
    pub(crate) fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a BodyTimeout> {
        let mut current = Some(error);
        while let Some(e) = current {
            if let Some(timeout) = e.downcast_ref::<BodyTimeout>() {
                return Some(timeout);
            }
            current = e.source();
        }
        None
    }
}

/// Accepted connections with Nagle's algorithm off: answers and stream events are small
/// writes the client waits for, which Nagle (with delayed ACKs) would hold back.
pub fn without_nagle(
    listener: tokio::net::TcpListener,
) -> axum::serve::TapIo<tokio::net::TcpListener, fn(&mut tokio::net::TcpStream)> {
    axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    })
}

/// The HS256 secret kept in the data directory, created on first start with 0600.
fn load_or_create_secret(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim().len() >= 32 => return Ok(s.trim().as_bytes().to_vec()),
        Ok(_) => return Err(std::io::Error::other(format!("{} is shorter than 32 characters", path.display()))),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let secret = crate::auth::random::alphanumeric(64);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write;
    options.open(path)?.write_all(secret.as_bytes())?;
    Ok(secret.into_bytes())
}
