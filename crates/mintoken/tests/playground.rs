//! The playground (`/v1/playground/compare`, `/v1/playground/providers`) over real
//! sockets: against mintoken-mock for every provider, and against a small
//! OpenAI-compatible fake (below) whose answer depends on whether the skill is present,
//! for real savings. Every account is created fresh, so the file also runs against a
//! shared PostgreSQL database (`MINTOKEN_TEST_DATABASE_URL`).

mod common;

use common::{PROVIDER_KEY, TestApp};
use mintoken_compress::{Intensity, skill};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PROMPT: &str = "Explain what a mutex is, briefly.";
const ALLOW_PRIVATE: &str = "playground_allow_private_base_urls = true\n[plans.free]\nrequests_per_minute = 1000\n";

fn skill_text(level: Intensity) -> &'static str {
    skill::text(level).unwrap()
}

/// The mock's prompt-token rule: one token per started group of four characters.
fn mock_prompt_tokens(chars: usize) -> i64 {
    chars.div_ceil(4) as i64
}

/// A fresh account with a key; returns (email, raw mintoken key).
async fn account(app: &TestApp, tag: &str) -> (String, String) {
    let email = format!("{tag}-{}@example.com", uuid::Uuid::new_v4().simple());
    let (_, key) = app.user_with_key(&email).await;
    (email, key["raw_key"].as_str().unwrap().to_owned())
}

async fn compare(app: &TestApp, raw_key: Option<&str>, body: &Value) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = app.http.post(app.url("/v1/playground/compare")).json(body);
    if let Some(key) = raw_key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap_or(Value::Null))
}

/// How each provider's request looks at the mock: path, credential, and the body the
/// proxy would send with (`Some(skill)`) and without the skill.
struct Expected {
    path: String,
    body: fn(&str, Option<&str>) -> Value,
    credential_ok: fn(&mintoken_mock::RecordedRequest, &str) -> bool,
}

fn expected(provider: &str, model: &str) -> Expected {
    match provider {
        "anthropic" => Expected {
            path: "/v1/messages".into(),
            body: |model, skill| {
                let mut b =
                    json!({"model": model, "max_tokens": 4096, "messages": [{"role": "user", "content": PROMPT}]});
                if let Some(s) = skill {
                    b["system"] = json!(s);
                }
                b
            },
            credential_ok: |r, key| r.header("x-api-key") == Some(key) && r.header("anthropic-version").is_some(),
        },
        "google" | "gemini" => Expected {
            path: format!("/v1beta/models/{model}:generateContent"),
            body: |_, skill| {
                let mut b = json!({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]});
                if let Some(s) = skill {
                    b["systemInstruction"] = json!({"parts": [{"text": s}]});
                }
                b
            },
            credential_ok: |r, key| r.query.as_deref() == Some(&format!("key={key}")),
        },
        _ => Expected {
            path: "/v1/chat/completions".into(),
            body: |model, skill| {
                let mut messages = vec![json!({"role": "user", "content": PROMPT})];
                if let Some(s) = skill {
                    messages.insert(0, json!({"role": "system", "content": s}));
                }
                json!({"model": model, "messages": messages})
            },
            credential_ok: |r, key| r.header("authorization") == Some(&format!("Bearer {key}")),
        },
    }
}

/// The mock answers 12 words without the skill and 3 with it, so every provider shows a
/// real saving computed from the mock's usage figures.
#[tokio::test]
async fn compares_every_provider_against_the_mock() {
    let app = TestApp::start_with(ALLOW_PRIVATE).await;
    let behavior = mintoken_mock::Behavior {
        output_tokens_without_skill: Some(12),
        output_tokens_with_skill: Some(3),
        ..Default::default()
    };
    app.mock.set_behavior(behavior.clone());
    let skill = skill_text(Intensity::Full);
    let skill_chars = skill.chars().count();
    let prompt_chars = PROMPT.chars().count();
    for (provider, model, id) in [
        ("anthropic", "claude-sonnet-4-5", "anthropic"),
        ("openai", "gpt-4o-mini", "openai"),
        ("google", "gemini-2.5-flash", "google"),
        ("gemini", "gemini-2.5-flash", "google"),
        ("custom", "llama3", "custom"),
    ] {
        app.mock.clear();
        let (email, raw) = account(&app, provider).await;
        let mut body = json!({"prompt": PROMPT, "provider": provider, "provider_key": PROVIDER_KEY});
        if provider == "custom" {
            // An OpenAI SDK style base URL (with /v1) is accepted.
            body["custom_base_url"] = json!(format!("{}/v1", app.mock.base_url()));
            body["model"] = json!(model);
        }
        let (status, headers, answer) = compare(&app, Some(&raw), &body).await;
        assert_eq!(status, 200, "{provider}: {answer}");
        assert_eq!(headers["x-mintoken-intensity"], "full");
        assert!(headers.contains_key("x-request-id"));
        assert_eq!((answer["provider"].as_str(), answer["model"].as_str()), (Some(id), Some(model)));
        for run in ["without_skill", "with_skill"] {
            assert_eq!(answer[run]["token_source"], "provider");
            assert!(answer[run]["latency_ms"].is_u64());
        }
        assert_eq!(answer["without_skill"]["intensity"], "none");
        assert_eq!(answer["with_skill"]["intensity"], "full");

        // Exactly two upstream requests: the proxy's body with the skill, and without.
        let want = expected(provider, model);
        let requests = app.mock.requests();
        assert_eq!(requests.len(), 2, "{provider}");
        let (with, without): (Vec<_>, Vec<_>) =
            requests.iter().partition(|r| r.json() == (want.body)(model, Some(skill)));
        assert_eq!((with.len(), without.len()), (1, 1), "{provider}: one request with the skill");
        assert_eq!(without[0].json(), (want.body)(model, None), "{provider}: the other has no skill");
        // Each answer is the text the mock gave that very request.
        assert_eq!(answer["with_skill"]["answer"], *behavior.reply_for(&with[0].body), "{provider}");
        assert_eq!(answer["without_skill"]["answer"], *behavior.reply_for(&without[0].body), "{provider}");
        for r in &requests {
            assert_eq!(r.path, want.path, "{provider}");
            assert!((want.credential_ok)(r, PROVIDER_KEY), "{provider}: {:?} {:?}", r.headers, r.query);
            assert!(!r.body_text().contains(&raw) && r.headers.iter().all(|(_, v)| !v.contains(&raw)));
        }

        // Token counts are the mock's usage; the saving follows from them.
        let input_without = mock_prompt_tokens(prompt_chars);
        let input_with = mock_prompt_tokens(skill_chars + prompt_chars);
        assert_eq!(answer["without_skill"]["input_tokens"], input_without, "{provider}");
        assert_eq!(answer["with_skill"]["input_tokens"], input_with, "{provider}");
        let outputs =
            (answer["without_skill"]["output_tokens"].as_i64(), answer["with_skill"]["output_tokens"].as_i64());
        assert_eq!(outputs, (Some(12), Some(3)), "{provider}");
        let net = (input_without + 12) - (input_with + 3);
        assert_eq!(answer["saving"], json!({"output_tokens": 9, "percent": 75.0, "net_tokens": net}), "{provider}");

        // Two usage rows, as analytics will see them.
        let mut rows = app.usage(&email).await;
        assert_eq!(rows.len(), 2, "{provider}");
        rows.sort_by(|a, b| a.intensity.cmp(&b.intensity));
        let (full, none) = (&rows[0], &rows[1]);
        for row in &rows {
            assert_eq!((row.endpoint.as_str(), row.provider.as_str(), row.model.as_str()), ("playground", id, model));
            assert_eq!((row.status, row.usage_source.as_str()), (200, "upstream"));
            assert_eq!(row.request_id, answer["request_id"].as_str().unwrap());
            assert!(!row.streamed);
        }
        assert_eq!((none.intensity.as_str(), none.intensity_reason.as_str()), ("none", "override"));
        assert_eq!((none.input_tokens, none.output_tokens, none.skill_tokens), (input_without, 12, 0));
        assert_eq!((full.intensity.as_str(), full.intensity_reason.as_str()), ("full", "default"));
        assert_eq!((full.input_tokens, full.output_tokens), (input_with, 3));
        assert_eq!(full.skill_tokens, mintoken_compress::tokens::count(skill) as i64);
        assert_eq!(answer["with_skill"]["skill_tokens"], full.skill_tokens);
    }
}

#[tokio::test]
async fn the_two_runs_go_out_in_parallel() {
    let app = TestApp::start_with(ALLOW_PRIVATE).await;
    let (_, raw) = account(&app, "parallel").await;
    app.mock.set_behavior(mintoken_mock::Behavior { first_byte_delay_ms: 600, ..Default::default() });
    let started = Instant::now();
    let (status, _, answer) =
        compare(&app, Some(&raw), &json!({"prompt": PROMPT, "provider": "openai", "provider_key": PROVIDER_KEY})).await;
    let elapsed = started.elapsed();
    assert_eq!(status, 200, "{answer}");
    assert!(answer["without_skill"]["latency_ms"].as_u64().unwrap() >= 600);
    assert!(answer["with_skill"]["latency_ms"].as_u64().unwrap() >= 600);
    assert!(elapsed < Duration::from_millis(1_100), "two 600 ms runs took {elapsed:?}: not in parallel");
}

#[tokio::test]
async fn a_client_that_hangs_up_still_gets_both_runs_metered() {
    let app = TestApp::start_with(ALLOW_PRIVATE).await;
    let (email, raw) = account(&app, "hangup").await;
    app.mock.set_behavior(mintoken_mock::Behavior { first_byte_delay_ms: 500, ..Default::default() });
    let gone = app
        .http
        .post(app.url("/v1/playground/compare"))
        .bearer_auth(&raw)
        .json(&json!({"prompt": PROMPT, "provider_key": PROVIDER_KEY}))
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(gone.is_err(), "the client gave up before the provider answered");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let rows = app.usage(&email).await;
    assert_eq!(rows.len(), 2, "the provider answered both runs; both are metered");
    assert!(rows.iter().all(|r| r.status == 200 && r.output_tokens == 9));
}

// ── A fake OpenAI-compatible server that answers shorter when the skill is present ──

const LONG: &str = "A mutex is a lock that lets only one thread at a time enter a critical section, \
    so shared data is never changed by two threads at once; others wait until it is released.";
const SHORT: &str = "A lock: one thread at a time in the critical section.";

/// `/{mode}/v1/chat/completions`: `shorter` answers SHORT with a system prompt and LONG
/// without, `longer` the reverse; `no-usage` is `shorter` without a `usage` member.
/// Prompt tokens are reported as 100 without a system prompt and 160 with one.
async fn fake_server() -> String {
    async fn chat(
        axum::extract::Path(mode): axum::extract::Path<String>,
        axum::Json(body): axum::Json<Value>,
    ) -> axum::Json<Value> {
        let has_system = body["messages"].as_array().is_some_and(|m| m.iter().any(|m| m["role"] == "system"));
        let reply = if (mode == "longer") == has_system { LONG } else { SHORT };
        let mut out = json!({"id": "fake", "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}]});
        if mode != "no-usage" {
            let prompt = if has_system { 160 } else { 100 };
            out["usage"] = json!({"prompt_tokens": prompt, "completion_tokens": reply.split_whitespace().count()});
        }
        axum::Json(out)
    }
    let app = axum::Router::new().route("/{mode}/v1/chat/completions", axum::routing::post(chat));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    format!("http://{addr}")
}

fn custom(base: &str, mode: &str) -> Value {
    json!({"prompt": PROMPT, "provider": "custom", "model": "local-model",
        "custom_base_url": format!("{base}/{mode}"), "provider_key": "sk-local"})
}

#[tokio::test]
async fn savings_are_measured_from_the_providers_usage_negative_ones_included() {
    let app = TestApp::start_with(ALLOW_PRIVATE).await;
    let (email, raw) = account(&app, "saving").await;
    let base = fake_server().await;
    let (long, short) = (LONG.split_whitespace().count() as i64, SHORT.split_whitespace().count() as i64);

    let (status, _, answer) = compare(&app, Some(&raw), &custom(&base, "shorter")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["without_skill"]["answer"].as_str(), answer["with_skill"]["answer"].as_str()),
        (Some(LONG), Some(SHORT))
    );
    assert_eq!(
        (answer["without_skill"]["output_tokens"].as_i64(), answer["with_skill"]["output_tokens"].as_i64()),
        (Some(long), Some(short))
    );
    let percent = ((long - short) as f64 * 1000.0 / long as f64).round() / 10.0;
    let net = (100 + long) - (160 + short);
    assert_eq!(answer["saving"], json!({"output_tokens": long - short, "percent": percent, "net_tokens": net}));

    // A skill that made the answer longer is reported as a negative saving.
    let (status, _, answer) = compare(&app, Some(&raw), &custom(&base, "longer")).await;
    assert_eq!(status, 200, "{answer}");
    let percent = ((short - long) as f64 * 1000.0 / short as f64).round() / 10.0;
    assert_eq!(answer["saving"]["output_tokens"], short - long);
    assert_eq!(answer["saving"]["percent"], percent);

    let rows = app.usage(&email).await;
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r.provider == "custom" && r.model == "local-model" && r.endpoint == "playground"));
    let outputs: Vec<i64> = rows.iter().map(|r| r.output_tokens).collect();
    assert_eq!(outputs.iter().sum::<i64>(), 2 * (long + short));
}

#[tokio::test]
async fn without_provider_usage_the_counts_are_o200k_and_labelled() {
    let app = TestApp::start_with(ALLOW_PRIVATE).await;
    let (email, raw) = account(&app, "counted").await;
    let base = fake_server().await;
    let mut body = custom(&base, "no-usage");
    body["intensity"] = json!("ultra");
    let (status, _, answer) = compare(&app, Some(&raw), &body).await;
    assert_eq!(status, 200, "{answer}");
    let count = |t: &str| mintoken_compress::tokens::count(t) as i64;
    let ultra = skill_text(Intensity::Ultra);
    assert_eq!(answer["intensity"], "ultra");
    for (run, text, input) in
        [("without_skill", LONG, count(PROMPT)), ("with_skill", SHORT, count(ultra) + count(PROMPT))]
    {
        assert_eq!(answer[run]["token_source"], "o200k_count", "{run}");
        assert_eq!(answer[run]["output_tokens"], count(text), "{run}");
        assert_eq!(answer[run]["input_tokens"], input, "{run}");
    }
    assert_eq!(answer["saving"]["output_tokens"], count(LONG) - count(SHORT));
    let rows = app.usage(&email).await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.usage_source == "counted"));
    let ultra_row = rows.iter().find(|r| r.intensity == "ultra").expect("the run with the skill");
    assert_eq!(ultra_row.intensity_reason, "override", "an intensity in the body is an override");
}

#[tokio::test]
async fn an_exhausted_quota_is_429_with_both_headers() {
    let app = TestApp::start_with("[plans.free]\nmonthly_output_tokens = 18\nrequests_per_minute = 1000\n").await;
    let (email, raw) = account(&app, "quota").await;
    let body = json!({"prompt": PROMPT, "provider": "anthropic", "provider_key": PROVIDER_KEY, "max_tokens": 9});
    let (status, headers, answer) = compare(&app, Some(&raw), &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(headers["x-mintoken-tokens-used"], "18", "both runs count, reported past 80 %");

    app.mock.clear();
    let (status, headers, answer) = compare(&app, Some(&raw), &body).await;
    assert_eq!(status, 429, "{answer}");
    assert_eq!(answer["detail"], "token quota exceeded");
    assert_eq!(headers["x-mintoken-tokens-used"], "18");
    assert_eq!(headers["x-mintoken-tokens-limit"], "18");
    assert!(app.mock.requests().is_empty(), "a refused comparison reaches no provider");
    assert_eq!(app.usage(&email).await.len(), 2, "and is not metered");
}

#[tokio::test]
async fn bad_requests_are_refused_before_any_provider_call() {
    let app = TestApp::start_with(ALLOW_PRIVATE).await;
    let (email, raw) = account(&app, "bad").await;
    let ok = |extra: Value| {
        let mut body = json!({"prompt": PROMPT, "provider_key": PROVIDER_KEY});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    for (body, expected) in [
        (json!({"provider_key": PROVIDER_KEY}), "`prompt` is required"),
        (json!({"prompt": "", "provider_key": PROVIDER_KEY}), "`prompt` is required"),
        (json!({"prompt": ["Hi"], "provider_key": PROVIDER_KEY}), "`prompt` must be a string"),
        (json!({"prompt": PROMPT}), "`provider_key` is required"),
        (
            ok(json!({"provider": "azure"})),
            "unknown provider \"azure\"; valid providers: anthropic, openai, google (or gemini), custom",
        ),
        (ok(json!({"intensity": "none"})), "`intensity` cannot be \"none\""),
        (ok(json!({"intensity": "extreme"})), "use lite, full or ultra"),
        (ok(json!({"max_tokens": -1})), "`max_tokens` must be an integer"),
        (ok(json!({"model": 4})), "`model` must be a string"),
        (ok(json!({"provider": "google", "model": "../../v1/files"})), "not a valid Gemini model id"),
        (ok(json!({"provider": "custom", "model": "m"})), "`custom_base_url` is required"),
        (ok(json!({"provider": "custom", "custom_base_url": "http://127.0.0.1:9"})), "`model` is required"),
        (
            ok(json!({"provider": "custom", "model": "m", "custom_base_url": "ftp://example.com"})),
            "must use http or https",
        ),
        (
            ok(json!({"provider": "openai", "custom_base_url": "https://example.com"})),
            "only used with provider \"custom\"",
        ),
        (ok(json!({"provider": "anthropic", "provider_key": "sk-\nbad"})), "cannot be sent in an HTTP header"),
        (ok(json!({"temperature": 0.2})), "unknown field `temperature`"),
        (json!([PROMPT]), "must be a JSON object"),
    ] {
        let (status, _, answer) = compare(&app, Some(&raw), &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let detail = answer["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(expected), "{body}: {detail}");
        assert!(!detail.contains(PROVIDER_KEY), "{detail}");
    }
    let malformed =
        app.http.post(app.url("/v1/playground/compare")).bearer_auth(&raw).body("{\"prompt\":").send().await.unwrap();
    assert_eq!(malformed.status(), 400);
    assert!(malformed.text().await.unwrap().contains("malformed JSON"));

    let body = ok(json!({}));
    assert_eq!(compare(&app, None, &body).await.2["detail"], "Missing API key");
    assert_eq!(compare(&app, Some("mt_live_notakey"), &body).await.2["detail"], "Invalid API key");
    assert!(app.mock.requests().is_empty());
    assert!(app.usage(&email).await.is_empty());
}

#[tokio::test]
async fn private_base_urls_are_refused_unless_configured() {
    let app = TestApp::start_with("[plans.free]\nrequests_per_minute = 1000\n").await;
    let (email, raw) = account(&app, "ssrf").await;
    let port = app.mock.addr().port();
    for (url, expected) in [
        (app.mock.base_url(), "127.0.0.1, a loopback address"),
        (format!("http://localhost:{port}"), "resolves to a non-public address"),
        (format!("http://[::1]:{port}/v1"), "a loopback address"),
        ("http://169.254.169.254/latest/meta-data".to_owned(), "a link-local address"),
        ("http://10.0.0.8:8000".to_owned(), "a private address"),
        ("http://[::ffff:192.168.0.1]".to_owned(), "a private address"),
    ] {
        let body = json!({"prompt": PROMPT, "provider": "custom", "model": "m", "custom_base_url": url,
            "provider_key": PROVIDER_KEY});
        let (status, _, answer) = compare(&app, Some(&raw), &body).await;
        assert_eq!(status, 400, "{url}: {answer}");
        let detail = answer["detail"].as_str().unwrap();
        assert!(detail.contains(expected) && detail.contains("playground_allow_private_base_urls"), "{url}: {detail}");
    }
    assert!(app.mock.requests().is_empty(), "nothing reached the private address");
    assert!(app.usage(&email).await.is_empty());
}

#[tokio::test]
async fn upstream_errors_name_the_run_and_the_provider_status_but_not_the_key() {
    let app = TestApp::start_with(ALLOW_PRIVATE).await;
    let (email, raw) = account(&app, "upstream-error").await;
    // A provider that echoes the key it refused.
    let refusal = json!({"type": "error", "error": {"type": "authentication_error",
        "message": format!("invalid x-api-key {PROVIDER_KEY}")}});
    app.mock.set_behavior(mintoken_mock::Behavior {
        fault: Some(mintoken_mock::Fault::Status { status: 401, body: refusal.to_string(), retry_after: None }),
        ..Default::default()
    });
    let body = json!({"prompt": PROMPT, "provider_key": PROVIDER_KEY});
    let (status, _, answer) = compare(&app, Some(&raw), &body).await;
    assert_eq!(status, 502, "{answer}");
    assert!(!answer.to_string().contains(PROVIDER_KEY), "{answer}");
    assert_eq!(answer["detail"], "both runs failed; the provider answered 401: invalid x-api-key [redacted]");
    let failed = answer["failed_runs"].as_array().unwrap();
    let runs: Vec<_> = failed.iter().map(|f| f["run"].as_str().unwrap()).collect();
    assert_eq!(runs, ["without_skill", "with_skill"]);
    assert!(failed.iter().all(|f| f["upstream_status"] == 401 && f["message"] == "invalid x-api-key [redacted]"));
    let rows = app.usage(&email).await;
    assert_eq!(rows.len(), 2, "forwarded runs are metered even when they fail");
    assert!(rows.iter().all(|r| r.status == 401 && r.output_tokens == 0));

    // Past the configured upstream timeout (5 s in tests): 504, naming both runs.
    app.mock.set_behavior(mintoken_mock::Behavior { first_byte_delay_ms: 6_000, ..Default::default() });
    let started = Instant::now();
    let (status, _, answer) = compare(&app, Some(&raw), &body).await;
    assert_eq!(status, 504, "{answer}");
    assert!(started.elapsed() < Duration::from_millis(5_900), "bounded by the timeout");
    assert!(answer["detail"].as_str().unwrap().contains("did not answer within 5 s"), "{answer}");
    assert!(answer["failed_runs"].as_array().unwrap().iter().all(|f| f["upstream_status"].is_null()));
}

/// Collects every log line of this test process.
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_provider_key_never_reaches_usage_rows_or_logs() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("only this test installs a subscriber");

    let app = TestApp::start_with(ALLOW_PRIVATE).await;
    let (email, raw) = account(&app, "secret").await;
    let canary = "sk-playground-canary-5e1f0c";
    for provider in ["anthropic", "openai", "google"] {
        let body = json!({"prompt": PROMPT, "provider": provider, "provider_key": canary});
        assert_eq!(compare(&app, Some(&raw), &body).await.0, 200);
    }
    let custom = json!({"prompt": PROMPT, "provider": "custom", "model": "m", "provider_key": canary,
        "custom_base_url": app.mock.base_url()});
    assert_eq!(compare(&app, Some(&raw), &custom).await.0, 200);
    // And a failing run (connection refused: nothing listens on port 9 of loopback).
    let refused = json!({"prompt": PROMPT, "provider": "custom", "model": "m", "provider_key": canary,
        "custom_base_url": "http://127.0.0.1:9"});
    let (status, _, answer) = compare(&app, Some(&raw), &refused).await;
    assert_eq!(status, 502, "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains("could not connect"), "{answer}");

    let rows = app.usage(&email).await;
    assert_eq!(rows.len(), 10);
    assert!(!serde_json::to_string(&rows).unwrap().contains(canary));
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(logs.contains("playground"), "the usage log lines were captured");
    assert!(!logs.contains(canary), "the provider key is in the logs");
}

#[tokio::test]
async fn the_provider_list_needs_no_key() {
    let app = TestApp::start().await;
    let response = app.http.get(app.url("/v1/playground/providers")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let list: Value = response.json().await.unwrap();
    assert_eq!(list["default_provider"], "anthropic");
    let providers = list["providers"].as_array().unwrap();
    let ids: Vec<_> = providers.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["anthropic", "openai", "google", "custom"]);
    let by_id = |id: &str| providers.iter().find(|p| p["id"] == id).unwrap().clone();
    assert_eq!(by_id("anthropic")["default_model"], "claude-sonnet-4-5");
    assert_eq!(by_id("openai")["default_model"], "gpt-4o-mini");
    assert_eq!(by_id("google")["aliases"], json!(["gemini"]));
    assert_eq!(by_id("custom")["needs_custom_base_url"], true);
    assert_eq!(by_id("custom")["default_model"], Value::Null);
    assert!(providers.iter().filter(|p| p["id"] != "custom").all(|p| p["needs_custom_base_url"] == false));
}
