//! The playground (SPEC §8). `POST /v1/playground/compare` sends one prompt twice, in
//! parallel, as the proxy would send it — without the skill and with it — and answers
//! both texts, their token counts and latencies, and the saving. `GET
//! /v1/playground/providers` lists what can be compared (public: it is a static catalogue).
//!
//! The provider-specific work is the proxy's dialects' (`parse`, `inject_skill`,
//! `credential`, `usage_from_body`, `answer_text`); this module only assembles a body from
//! the prompt, runs the pair, and reports. Both runs are metered like proxied requests —
//! one usage row each with `endpoint = "playground"`, the run without the skill at
//! intensity `none` (reason `override`) — and count against the monthly quota.

mod custom_base_url;
mod error;
mod providers;
mod request;
mod run;
mod saving;

use crate::auth::key_cache::{AuthedKey, KeyAuthError};
use crate::config::Config;
use crate::metering::{IntensityReason, UsageSource};
use crate::proxy::meter::{self, RequestMeter};
use crate::proxy::quota::{self, Quota};
use crate::server::SharedState;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use error::PlaygroundError;
use mintoken_compress::Intensity;
use request::CompareRequest;
use run::{Answer, Failure, Label, Run, Target};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;

/// What the playground keeps for the server's lifetime.
pub struct Playground {
    /// Calls the configured providers.
    provider_client: reqwest::Client,
    /// Calls `custom_base_url`s: fenced off private addresses unless configured otherwise.
    custom_client: reqwest::Client,
}

impl Playground {
    pub fn new(config: &Config) -> Self {
        Playground {
            provider_client: crate::proxy::upstream::reqwest_client(config),
            custom_client: custom_base_url::client(config),
        }
    }
}

pub fn routes() -> Router<SharedState> {
    Router::new().route("/v1/playground/compare", post(compare)).route("/v1/playground/providers", get(list_providers))
}

async fn list_providers() -> Json<Value> {
    let providers: Vec<Value> = providers::PROVIDERS.iter().map(providers::Provider::describe).collect();
    Json(json!({ "default_provider": providers::DEFAULT_PROVIDER, "providers": providers }))
}

async fn compare(State(state): State<SharedState>, request: Request) -> Response {
    let started = Instant::now();
    let request_id = format!("req_{}", crate::auth::random::alphanumeric(24));
    let mut response = match run_compare(state, request, &request_id, started).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    let headers = response.headers_mut();
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", id);
    }
    headers.insert("x-mintoken-duration-ms", HeaderValue::from(started.elapsed().as_millis() as u64));
    response
}

async fn run_compare(
    state: SharedState,
    request: Request,
    request_id: &str,
    started: Instant,
) -> Result<Response, PlaygroundError> {
    let (parts, body) = request.into_parts();
    let key = authenticate(&state, &parts.headers).await?;
    // The one admission point of a metered request: every limit that can refuse it before
    // any work is done sits behind this call.
    let quota = admit(&state, &key).await?;
    let limits = state.config.plans.limits(&key.plan);
    let body = crate::api::body::read_limited(body, limits.max_body_bytes).await?;
    let compare = CompareRequest::parse(&body, key.settings.intensity).map_err(PlaygroundError::bad_request)?;
    let target = target(&state, &compare).await?;

    // Both requests are built (and every 400 found) before either is sent.
    let comparison =
        Comparison { state: &state, key: &key, compare: &compare, target: &target, quota: &quota, request_id, started };
    let without = comparison.prepare(Label::WithoutSkill)?;
    let with = comparison.prepare(Label::WithSkill)?;

    // In parallel, and in a task of their own: a client that hangs up does not cancel
    // requests the provider may already bill, and both still get their usage rows.
    let task = tokio::spawn(async move { tokio::join!(without.execute(&target), with.execute(&target)) });
    let (without, with) =
        task.await.map_err(|e| PlaygroundError::internal("a playground run failed unexpectedly", e))?;
    let (without, with) = match (without, with) {
        (Ok(without), Ok(with)) => (without, with),
        (without, with) => return Err(upstream_failure([without.err(), with.err()].into_iter().flatten().collect())),
    };

    let body = json!({
        "request_id": request_id,
        "provider": compare.provider.id,
        "model": compare.model,
        "intensity": compare.intensity.as_str(),
        "without_skill": report(&without, Intensity::None, 0),
        "with_skill": report(&with, compare.intensity, meter::skill_tokens(compare.intensity)),
        "saving": saving::between(without.tokens, with.tokens),
    });
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert("x-mintoken-intensity", HeaderValue::from_static(compare.intensity.as_str()));
    quota.report(headers, without.tokens.output + with.tokens.output);
    Ok(response)
}

/// What both runs of a comparison share.
struct Comparison<'a> {
    state: &'a SharedState,
    key: &'a AuthedKey,
    compare: &'a CompareRequest,
    target: &'a Target,
    quota: &'a Quota,
    request_id: &'a str,
    started: Instant,
}

impl Comparison<'_> {
    /// One run: the body the proxy would send (with the skill injected for `WithSkill`),
    /// its quota reservation, and the meter that will record its usage row.
    fn prepare(&self, label: Label) -> Result<Run, PlaygroundError> {
        let compare = self.compare;
        let (intensity, reason) = match label {
            Label::WithoutSkill => (Intensity::None, IntensityReason::Override),
            Label::WithSkill => (compare.intensity, compare.intensity_reason),
        };
        let dialect = compare.provider.dialect;
        let body = compare.provider.request_body(&compare.model, &compare.prompt, compare.max_tokens);
        let mut parsed = dialect.parse(&body, &Default::default()).map_err(PlaygroundError::bad_request)?;
        if let Some(skill) = mintoken_compress::skill::text(intensity) {
            dialect.inject_skill(&mut parsed, skill).map_err(PlaygroundError::bad_request)?;
        }
        let reservation = self.quota.admit(self.state, self.key, dialect.output_cap(&parsed))?;
        let meter = RequestMeter {
            sink: self.state.usage.clone(),
            request_id: self.request_id.to_owned(),
            user_id: self.key.user_id.clone(),
            org_id: self.key.org_id.clone(),
            key_id: self.key.key_id.clone(),
            provider: compare.provider.id,
            endpoint: "playground",
            model: compare.model.clone(),
            intensity,
            reason,
            skill_tokens: meter::skill_tokens(intensity),
            holdout: false,
            reservation,
            context: None,
            streamed: false,
            started: self.started,
            upstream_started: Instant::now(),
            sent: false,
            recorded: Default::default(),
        };
        Run::new(label, self.target, &parsed, meter).map_err(PlaygroundError::bad_request)
    }
}

/// The mintoken key, from `Authorization: Bearer` only (the provider key is in the body).
async fn authenticate(state: &SharedState, headers: &HeaderMap) -> Result<Arc<AuthedKey>, PlaygroundError> {
    let raw =
        crate::api::bearer(headers).ok_or_else(|| PlaygroundError::new(StatusCode::UNAUTHORIZED, "Missing API key"))?;
    match state.keys.authenticate(raw).await {
        Ok(key) => Ok(key),
        Err(KeyAuthError::Invalid) => Err(PlaygroundError::new(StatusCode::UNAUTHORIZED, "Invalid API key")),
        Err(KeyAuthError::Store(e)) => {
            tracing::error!(error = %e, "cannot verify an API key: database unavailable");
            Err(PlaygroundError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot verify the API key right now; retry shortly",
            ))
        }
    }
}

/// Admits a metered request exactly as the proxy does: the plan's requests-per-minute,
/// then the monthly output-token quota (`429 token quota exceeded` with
/// `X-Mintoken-Tokens-Used` / `-Limit`). A compare is one request here; its two runs each
/// reserve their expected output from the quota when they are prepared.
async fn admit(state: &SharedState, key: &AuthedKey) -> Result<Quota, PlaygroundError> {
    let limits = state.config.plans.limits(&key.plan);
    quota::check_rate(state, key, limits)?;
    Ok(Quota::check(state, key, limits.monthly_output_tokens).await?)
}

/// The upstream both runs call, and the time they have: the configured upstream timeout
/// bounds the whole comparison, a custom host's DNS check included.
async fn target(state: &SharedState, compare: &CompareRequest) -> Result<Target, PlaygroundError> {
    let limit = state.config.upstream_timeout;
    let deadline = tokio::time::Instant::now() + limit;
    let (base_url, client) = match &compare.custom_base_url {
        Some(raw) => {
            let allow_private = state.config.playground_allow_private_base_urls;
            let checked = tokio::time::timeout_at(deadline, custom_base_url::check(raw, allow_private))
                .await
                .map_err(|_| PlaygroundError::bad_request("`custom_base_url` host could not be resolved in time"))?
                .map_err(PlaygroundError::bad_request)?;
            (checked, state.playground.custom_client.clone())
        }
        None => (compare.provider.dialect.base_url(&state.config).to_owned(), state.playground.provider_client.clone()),
    };
    let provider_key = compare.provider_key.clone();
    Ok(Target { provider: compare.provider, base_url, client, provider_key, deadline, limit })
}

fn report(answer: &Answer, intensity: Intensity, skill_tokens: i64) -> Value {
    let token_source = match answer.source {
        UsageSource::Upstream => "provider",
        // The provider sent no usage: counted with o200k_base, and labelled so.
        _ => "o200k_count",
    };
    json!({
        "intensity": intensity.as_str(),
        "answer": answer.text,
        "input_tokens": answer.tokens.input,
        "output_tokens": answer.tokens.output,
        "skill_tokens": skill_tokens,
        "token_source": token_source,
        "latency_ms": answer.latency_ms,
    })
}

/// 502 (504 when a run ran out of time) naming which run failed and what the provider
/// said; runs that did answer were metered all the same.
fn upstream_failure(failures: Vec<Failure>) -> PlaygroundError {
    let reason = |f: &Failure| match f.upstream_status {
        Some(status) => format!("the provider answered {status}: {}", f.message),
        None => f.message.clone(),
    };
    let detail = match failures.as_slice() {
        [one] => format!("{} failed ({}); the other run succeeded", one.label.describe(), reason(one)),
        [first, ..] => format!("both runs failed; {}", reason(first)),
        [] => "the comparison failed".to_owned(),
    };
    let status =
        if failures.iter().any(|f| f.timed_out) { StatusCode::GATEWAY_TIMEOUT } else { StatusCode::BAD_GATEWAY };
    let mut error = PlaygroundError::new(status, detail);
    error.failed_runs = failures
        .iter()
        .map(|f| json!({ "run": f.label.as_str(), "upstream_status": f.upstream_status, "message": f.message }))
        .collect();
    error
}
