//! The local proxy's router: `GET /health`, `GET /`, and every `/v1/*` request (any
//! method) handed to [`super::forward`]. Anything else is a 404.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::forward::{self, Shared};
use super::telemetry::Reporter;
use super::{ProxyConfig, level_name};

pub(super) fn router(config: &ProxyConfig) -> Result<Router, String> {
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .pool_idle_timeout(std::time::Duration::from_secs(90))
        .tcp_nodelay(true)
        // A proxy relays redirects; it does not follow them.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let reporter = match (&config.server, &config.key) {
        (Some(server), Some(key)) => Some(Reporter::start(http.clone(), server, key.clone())),
        _ => None,
    };
    let shared = Arc::new(Shared {
        http,
        level: config.level,
        anthropic: config.anthropic_upstream.clone(),
        openai: config.openai_upstream.clone(),
        console: config.console.clone(),
        reporter,
    });
    Ok(Router::new().route("/health", get(health)).route("/", get(index)).fallback(dispatch).with_state(shared))
}

async fn dispatch(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let path = request.uri().path();
    if path == "/v1" || path.starts_with("/v1/") {
        return forward::forward(shared, request).await;
    }
    let message = format!(
        "mintoken proxy forwards /v1/* to the Anthropic and OpenAI APIs; {} {} is not one of them",
        request.method(),
        path
    );
    (StatusCode::NOT_FOUND, axum::Json(json!({"error": {"type": "not_found", "message": message}}))).into_response()
}

async fn health(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(json!({
        "status": "ok",
        "service": "mintoken proxy",
        "version": env!("CARGO_PKG_VERSION"),
        "level": level_name(shared.level),
        "upstreams": {"anthropic": shared.anthropic, "openai": shared.openai},
        "telemetry": shared.reporter.is_some(),
    }))
    .into_response()
}

async fn index(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.bytes().all(|b| b.is_ascii_alphanumeric() || b".:-[]".contains(&b)))
        .unwrap_or("127.0.0.1:8788")
        .to_owned();
    let text = format!(
        "mintoken proxy {version}\n\n\
         A local proxy for coding agents and SDKs: it forwards /v1/messages (Anthropic),\n\
         /v1/chat/completions and /v1/responses (OpenAI) with your own API keys, compresses\n\
         old tool results in long sessions (level: {level}), and relays every answer unchanged.\n\
         Other /v1/* paths pass through untouched.\n\n\
         Point your agent at it:\n  \
         export ANTHROPIC_BASE_URL=http://{host}\n  \
         export OPENAI_BASE_URL=http://{host}/v1\n\n\
         Upstreams: anthropic {anthropic}, openai {openai}. Health: GET /health\n",
        version = env!("CARGO_PKG_VERSION"),
        level = level_name(shared.level),
        anthropic = shared.anthropic,
        openai = shared.openai,
    );
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}
