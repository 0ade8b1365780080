//! `POST /v1/cli-telemetry`: the usage record of one request a local CLI proxy forwarded
//! from the user's machine straight to the provider. The reference client (PyPI
//! `mintoken` 0.2.x) sends, after every forwarded request, fire-and-forget:
//!
//! ```text
//! {"upstream": "anthropic"|"openai", "model": str, "endpoint": "messages"|"chat-completions"|"responses",
//!  "intensity": str (its --level), "input_tokens": int, "output_tokens": int,
//!  "context_tokens_before": int|null, "context_tokens_after": int|null, "duration_ms": int,
//!  "skipped_reason": str|null, "client": "mintoken-cli"}
//! ```
//!
//! and reads nothing of the answer but its status (≥ 400 is logged on its console). Each
//! report becomes one usage row under the key: provider from `upstream`, endpoint
//! `cli.<endpoint>`, `usage_source = "reported"`, intensity `none` (no skill was
//! injected). Its output tokens count towards the monthly quota like any request's.
//! Every field is checked (type, range, length) with a 400 naming it; unknown fields
//! are ignored so a newer client's additions do not lose its reports.

use super::{CliError, authenticate, finish, new_request_id, read_body};
use crate::metering::{IntensityReason, UsageRecord, UsageSource};
use crate::server::SharedState;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use mintoken_compress::Intensity;
use serde_json::{Map, Value, json};
use std::time::Instant;

/// A report is a few hundred bytes.
const MAX_BODY: usize = 16 * 1024;
/// Largest token figure accepted (any one field): far above any context window.
const MAX_TOKENS: i64 = 10_000_000;
/// Longest duration accepted: a day.
const MAX_DURATION_MS: i64 = 86_400_000;
const MAX_MODEL_BYTES: usize = 200;
const MAX_LABEL_BYTES: usize = 64;
/// Reports per minute allowed per account, as a multiple of the plan's requests per
/// minute (0 stays unlimited).
pub const REPORTS_PER_REQUEST_ALLOWED: u32 = 10;

/// The reference CLI compresses only through `POST /v1/cli/compress-context`, which
/// records the context tokens on its own row; its reports' context figures are that
/// call's, so they are not stored a second time.
pub const REFERENCE_CLIENT: &str = "mintoken-cli";

/// The values the reference client puts in `intensity`: its `--level` (light | standard |
/// aggressive, `conservative` being our name for light), or, per its own documentation,
/// a skill intensity or `passthrough`.
const INTENSITIES: [&str; 9] =
    ["light", "conservative", "standard", "aggressive", "none", "lite", "full", "ultra", "passthrough"];

pub async fn handle(State(state): State<SharedState>, request: Request) -> Response {
    let started = Instant::now();
    let request_id = new_request_id();
    let result = run(&state, request, &request_id).await;
    finish(result, &request_id, started)
}

async fn run(state: &SharedState, request: Request, request_id: &str) -> Result<Response, CliError> {
    let (parts, body) = request.into_parts();
    let key = authenticate(state, &parts.headers).await?;
    let limits = state.config.plans.limits(&key.plan);
    check_report_rate(state, key.account_id(), &key.plan, limits.requests_per_minute)?;
    let bytes = read_body(body, MAX_BODY, None).await?;
    let report = Report::parse(&bytes)?;

    // Not refused when the quota is used up: the request already happened, at the
    // provider, on the user's own key; refusing the report would only lose its record.
    // The quota bites on the next compress-context call instead.
    let context = match (report.client.as_deref(), report.context) {
        (Some(REFERENCE_CLIENT), _) => None,
        (_, context) => context,
    };
    state.usage.record(UsageRecord {
        request_id: request_id.to_owned(),
        created_at: state.usage.now_ms(),
        user_id: key.user_id.clone(),
        org_id: key.org_id.clone(),
        key_id: key.key_id.clone(),
        provider: report.provider,
        model: report.model,
        endpoint: report.endpoint,
        intensity: Intensity::None,
        intensity_reason: IntensityReason::Default,
        status: report.status,
        input_tokens: report.input_tokens,
        output_tokens: report.output_tokens,
        skill_tokens: 0,
        holdout: false,
        context_tokens_before: context.map(|c| c.0),
        context_tokens_after: context.map(|c| c.1),
        duration_ms: report.duration_ms,
        upstream_ms: report.duration_ms,
        streamed: report.streamed,
        usage_source: UsageSource::Reported,
    });
    Ok((StatusCode::ACCEPTED, Json(json!({ "accepted": true, "request_id": request_id }))).into_response())
}

/// Reports do not spend the plan's requests per minute (each describes a request that,
/// with the reference client, already made a compress-context call counted there), but
/// a flood is refused: at most [`REPORTS_PER_REQUEST_ALLOWED`] × the plan's rate, in a
/// bucket of its own (shared across instances like the request rate).
fn check_report_rate(state: &SharedState, account_id: &str, plan: &str, rpm: u32) -> Result<(), CliError> {
    let allowed = rpm.saturating_mul(REPORTS_PER_REQUEST_ALLOWED);
    state.rate.check(&format!("{account_id}#cli-telemetry"), allowed).map_err(|wait| {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut e = CliError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "rate limit exceeded: the {plan} plan allows {allowed} usage reports per minute; retry in {seconds} s"
            ),
        );
        e.headers.push(("retry-after", HeaderValue::from(seconds.max(1))));
        e
    })
}

/// A checked report.
#[derive(Debug, PartialEq)]
struct Report {
    provider: &'static str,
    endpoint: &'static str,
    model: String,
    input_tokens: i64,
    output_tokens: i64,
    /// Before, after.
    context: Option<(i64, i64)>,
    duration_ms: i64,
    client: Option<String>,
    /// Our additions, which the reference client does not send: the upstream status
    /// (default 200) and whether the answer was streamed (default false).
    status: u16,
    streamed: bool,
}

impl Report {
    fn parse(bytes: &[u8]) -> Result<Report, CliError> {
        let fields = match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return Err(CliError::bad_request("request body must be a JSON object")),
            Err(_) if bytes.iter().all(u8::is_ascii_whitespace) => {
                return Err(CliError::bad_request("request body is empty; send a JSON object"));
            }
            Err(e) => return Err(CliError::bad_request(format!("malformed JSON in request body: {e}"))),
        };
        let f = Fields(&fields);
        let upstream = f.string("upstream", MAX_LABEL_BYTES, "\"anthropic\" or \"openai\"")?;
        let provider = match upstream.as_deref() {
            Some("anthropic") => "anthropic",
            Some("openai") => "openai",
            Some(other) => return Err(f.invalid("upstream", "\"anthropic\" or \"openai\"", other)),
            None => return Err(f.missing("upstream", "\"anthropic\" or \"openai\"")),
        };
        const ENDPOINTS: &str = "\"messages\" (anthropic), \"chat-completions\" or \"responses\" (openai)";
        let endpoint = match (provider, f.string("endpoint", MAX_LABEL_BYTES, ENDPOINTS)?.as_deref()) {
            ("anthropic", Some("messages")) => "cli.messages",
            ("openai", Some("chat-completions")) => "cli.chat-completions",
            ("openai", Some("responses")) => "cli.responses",
            (_, Some(e @ ("messages" | "chat-completions" | "responses"))) => {
                return Err(CliError::bad_request(format!(
                    "`endpoint` {e:?} does not belong to upstream {provider:?}: use {ENDPOINTS}"
                )));
            }
            (_, Some(other)) => return Err(f.invalid("endpoint", ENDPOINTS, other)),
            (_, None) => return Err(f.missing("endpoint", ENDPOINTS)),
        };
        let model = f
            .string("model", MAX_MODEL_BYTES, "the model the request named")?
            .ok_or_else(|| f.missing("model", "the model the request named (a string)"))?;
        if model.trim().is_empty() {
            return Err(CliError::bad_request("`model` must not be empty"));
        }
        let intensities = INTENSITIES.join(", ");
        if let Some(intensity) = f.string("intensity", MAX_LABEL_BYTES, &intensities)?
            && !INTENSITIES.contains(&intensity.as_str())
        {
            return Err(f.invalid("intensity", &intensities, &intensity));
        }
        let input_tokens =
            f.integer("input_tokens", MAX_TOKENS)?.ok_or_else(|| f.missing("input_tokens", "an integer ≥ 0"))?;
        let output_tokens =
            f.integer("output_tokens", MAX_TOKENS)?.ok_or_else(|| f.missing("output_tokens", "an integer ≥ 0"))?;
        let duration_ms =
            f.integer("duration_ms", MAX_DURATION_MS)?.ok_or_else(|| f.missing("duration_ms", "an integer ≥ 0"))?;
        let context = match (
            f.integer("context_tokens_before", MAX_TOKENS)?,
            f.integer("context_tokens_after", MAX_TOKENS)?,
        ) {
            (Some(before), Some(after)) if after > before => {
                return Err(CliError::bad_request(format!(
                    "`context_tokens_after` ({after}) must not exceed `context_tokens_before` ({before}): compression never grows a context"
                )));
            }
            (Some(before), Some(after)) => Some((before, after)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(CliError::bad_request(
                    "`context_tokens_after` is required when `context_tokens_before` is given (or send both as null)",
                ));
            }
            (None, Some(_)) => {
                return Err(CliError::bad_request(
                    "`context_tokens_before` is required when `context_tokens_after` is given (or send both as null)",
                ));
            }
        };
        if let Some(reason) =
            f.string("skipped_reason", MAX_LABEL_BYTES, "a short reason such as \"below_threshold\"")?
            && !reason.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
        {
            return Err(CliError::bad_request(
                "`skipped_reason` must be a short code of letters, digits and _ - . : (e.g. \"below_threshold\")",
            ));
        }
        let client = f.string("client", MAX_LABEL_BYTES, "the reporting client's name, e.g. \"mintoken-cli\"")?;
        let status = match f.integer("status", 599)? {
            None => 200,
            Some(s) if s >= 100 => s as u16,
            Some(s) => return Err(CliError::bad_request(format!("`status` must be an HTTP status 100–599; got {s}"))),
        };
        let streamed = match fields.get("streamed") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(CliError::bad_request("`streamed` must be true or false")),
        };
        Ok(Report {
            provider,
            endpoint,
            model,
            input_tokens,
            output_tokens,
            context,
            duration_ms,
            client,
            status,
            streamed,
        })
    }
}

/// Typed access to the report's fields, each error naming the field.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    /// An optional string (`null` = absent) of printable characters, at most `max` bytes.
    fn string(&self, field: &str, max: usize, hint: &str) -> Result<Option<String>, CliError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.len() > max => {
                Err(CliError::bad_request(format!("`{field}` is longer than {max} bytes")))
            }
            Some(Value::String(s)) if s.chars().any(char::is_control) => {
                Err(CliError::bad_request(format!("`{field}` must not contain control characters")))
            }
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(CliError::bad_request(format!("`{field}` must be a string: {hint}"))),
        }
    }

    /// An optional whole number (`null` = absent) in `0..=max`.
    fn integer(&self, field: &str, max: i64) -> Result<Option<i64>, CliError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(v) if (0..=max).contains(&v) => Ok(Some(v)),
                Some(v) if v < 0 => Err(CliError::bad_request(format!("`{field}` must not be negative; got {v}"))),
                _ if n.is_f64() => Err(CliError::bad_request(format!("`{field}` must be a whole number; got {n}"))),
                _ => Err(CliError::bad_request(format!("`{field}` must be at most {max}; got {n}"))),
            },
            Some(_) => Err(CliError::bad_request(format!("`{field}` must be an integer"))),
        }
    }

    fn missing(&self, field: &str, hint: &str) -> CliError {
        CliError::bad_request(format!("`{field}` is required: {hint}"))
    }

    fn invalid(&self, field: &str, hint: &str, got: &str) -> CliError {
        let got: String = got.chars().take(40).collect();
        CliError::bad_request(format!("`{field}` must be {hint}; got {got:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the reference client 0.2.2 sends (`telemetry.push`).
    fn reference() -> Value {
        json!({
            "upstream": "anthropic", "model": "claude-sonnet-4-5", "endpoint": "messages",
            "intensity": "standard", "input_tokens": 1200, "output_tokens": 80,
            "context_tokens_before": 9000, "context_tokens_after": 4000, "duration_ms": 850,
            "skipped_reason": null, "client": "mintoken-cli"
        })
    }

    fn parse(v: &Value) -> Result<Report, String> {
        Report::parse(v.to_string().as_bytes()).map_err(|e| e.detail)
    }

    #[test]
    fn the_reference_report_is_accepted() {
        let r = parse(&reference()).unwrap();
        assert_eq!((r.provider, r.endpoint, r.status, r.streamed), ("anthropic", "cli.messages", 200, false));
        assert_eq!((r.input_tokens, r.output_tokens, r.context, r.duration_ms), (1200, 80, Some((9000, 4000)), 850));
        let mut skipped = reference();
        skipped["context_tokens_before"] = Value::Null;
        skipped["context_tokens_after"] = Value::Null;
        skipped["skipped_reason"] = json!("server_error_413");
        skipped["extra_field_of_a_newer_client"] = json!(1);
        assert_eq!(parse(&skipped).unwrap().context, None);
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = |field: &str, value: Value| {
            let mut v = reference();
            v[field] = value;
            parse(&v).unwrap_err()
        };
        assert!(bad("upstream", json!("google")).contains("`upstream` must be"));
        assert!(bad("endpoint", json!("chat-completions")).contains("does not belong to upstream"));
        assert!(bad("model", json!(12)).contains("`model` must be a string"));
        assert!(bad("model", json!("m".repeat(201))).contains("`model` is longer than 200 bytes"));
        assert!(bad("input_tokens", json!(-1)).contains("`input_tokens` must not be negative"));
        assert!(bad("output_tokens", json!(1.5)).contains("`output_tokens` must be a whole number"));
        assert!(bad("output_tokens", json!("80")).contains("`output_tokens` must be an integer"));
        assert!(bad("duration_ms", json!(86_400_001)).contains("`duration_ms` must be at most"));
        assert!(bad("context_tokens_after", json!(9001)).contains("must not exceed"));
        assert!(bad("context_tokens_after", Value::Null).contains("`context_tokens_after` is required"));
        assert!(bad("intensity", json!("max")).contains("`intensity` must be"));
        assert!(bad("skipped_reason", json!("a b")).contains("`skipped_reason`"));
        assert!(bad("client", json!("x\ny")).contains("control characters"));
        let mut v = reference();
        v.as_object_mut().unwrap().remove("output_tokens");
        assert!(parse(&v).unwrap_err().contains("`output_tokens` is required"));
    }
}
