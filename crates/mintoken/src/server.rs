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
        let (usage, writer) = UsageWriter::start(store.clone(), quota.clone(), metrics.clone());
        let keys = KeyCache::new(store.clone());
        let rules = RuleCache::new(store.clone());
        let retention = crate::analytics::retention::spawn(store.clone(), config.usage_retention_days);
        let state = Arc::new(AppState {
            upstream,
            playground: crate::playground::Playground::new(&config),
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
        let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let task = tokio::spawn(async move {
            let serving = axum::serve(without_nagle(listener), app).with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            });
            if let Err(e) = serving.await {
                tracing::error!(error = %e, "server stopped with an error");
            }
        });
        Ok(Server { addr, state, shutdown, task, writer, sync, retention })
    }

    /// Stops accepting connections, lets in-flight requests and streams finish for up
    /// to the configured grace period, then flushes usage and closes the store.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let grace = self.state.config.shutdown_grace;
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "in-flight requests outlived the shutdown grace period; closing them"
            );
            task.abort();
        }
        self.sync.abort();
        self.retention.abort();
        self.writer.finish(self.state.usage.clone()).await;
        self.state.store.close().await;
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
