//! Secrets canary (SPEC §12). One run with a random provider key, random passwords and
//! real mintoken keys goes through every route — accounts, keys, rules, analytics, plan,
//! admin, every proxy route of every provider (streamed and not, every place a mintoken
//! key may travel, Gemini's `?key=` both as the client's credential and as the upstream
//! one), the playground, the CLI route — and through the failures: upstream 401/500 that
//! quote the provider key back, a dropped connection, malformed upstream JSON, an
//! unreachable upstream, bad keys, bad bodies. The server logs at debug level (every
//! target) in both log formats into a buffer. Then the database (SQLite file bytes, or
//! every PostgreSQL table as text), the logs, `/metrics` and every response (status,
//! headers, body) are searched for each canary. Only the responses that issue a secret
//! may hold it: the key-creation answer its raw key, session answers their tokens.

mod common;

use common::{TestApp, chat_body};
use mintoken::cli::LogFormat;
use mintoken_mock::{Behavior, Fault, RazorpaySettings};
use serde_json::{Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

// ---- log capture -------------------------------------------------------------------

#[derive(Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything any code in this process logs at debug level or above, formatted by
/// `serve`'s own layers, text and JSON.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let (text, json) = (Sink(buf.clone()), Sink(buf.clone()));
        tracing_subscriber::registry()
            .with(EnvFilter::new("debug"))
            .with(mintoken::logging::layer(LogFormat::Text, move || text.clone(), false))
            .with(mintoken::logging::layer(LogFormat::Json, move || json.clone(), false))
            .init();
        buf
    })
    .clone()
}

// ---- canaries ----------------------------------------------------------------------

fn random(n: usize) -> String {
    mintoken::auth::random::alphanumeric(n)
}

/// A secret and the strings that would betray it: the whole value and two 16-character
/// stretches of its random part (a truncated or masked echo still shows one).
struct Canary {
    what: &'static str,
    value: String,
    needles: Vec<String>,
}

impl Canary {
    fn new(what: &'static str, value: String, random_from: usize) -> Canary {
        let secret = &value[random_from..];
        let mut needles = vec![value.clone()];
        for start in [0, secret.len().saturating_sub(16)] {
            if secret.len() >= start + 16 {
                needles.push(secret[start..start + 16].to_owned());
            }
        }
        Canary { what, value, needles }
    }

    fn found_in(&self, haystack: &[u8]) -> Option<&str> {
        self.needles.iter().find(|n| haystack.windows(n.len()).any(|w| w == n.as_bytes())).map(String::as_str)
    }
}

/// One answer from mintoken, in full, and the secrets it may legitimately carry.
struct Seen {
    label: String,
    text: String,
    allowed: Vec<String>,
}

struct Run {
    app: TestApp,
    seen: Vec<Seen>,
    provider_key: String,
}

impl Run {
    /// Sends, records status, headers and body, and returns (status, body).
    async fn call(&mut self, label: &str, req: reqwest::RequestBuilder, allowed: &[&str]) -> (u16, String) {
        let resp = req.send().await.unwrap_or_else(|e| panic!("{label}: {e}"));
        let status = resp.status().as_u16();
        let headers = format!("{:?}", resp.headers());
        let body = resp.text().await.unwrap_or_default();
        self.seen.push(Seen {
            label: label.to_owned(),
            text: format!("{status}\n{headers}\n{body}"),
            allowed: allowed.iter().map(|s| s.to_string()).collect(),
        });
        (status, body)
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.app.http.post(self.app.url(path))
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.app.http.get(self.app.url(path))
    }

    /// A proxy request with the provider key in `X-Provider-Key`.
    fn proxy(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.post(path).header("x-provider-key", &self.provider_key).json(body)
    }
}

fn responses_body(stream: bool) -> Value {
    json!({"model": "gpt-4o-mini", "input": "Say hello.", "stream": stream})
}

fn anthropic_body(stream: bool) -> Value {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": stream,
           "messages": [{"role": "user", "content": "Say hello."}]})
}

fn gemini_body() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "Say hello."}]}]})
}

fn streamed(mut body: Value) -> Value {
    body["stream"] = json!(true);
    body
}

/// A server whose every upstream is a closed port: the connection itself fails.
async fn unreachable_upstream_server(dir: &std::path::Path, database_url: Option<String>) -> mintoken::server::Server {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let args = mintoken::cli::ServeArgs {
        store: mintoken::cli::StoreArgs { config: None, data_dir: Some(dir.join("data-unreachable")), database_url },
        listen: Some("127.0.0.1:0".parse().unwrap()),
        openai_base_url: Some(dead.clone()),
        anthropic_base_url: Some(dead.clone()),
        google_base_url: Some(dead),
        upstream_timeout_secs: Some(5),
        ..Default::default()
    };
    let config = mintoken::config::Config::load(&args).unwrap();
    mintoken::server::Server::start(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_database_logs_metrics_or_other_answers() {
    let logs = captured_logs();
    tracing::debug!("log capture is on");
    let razorpay_secret = Canary::new("Razorpay key secret", format!("rzp-secret-canary-{}", random(24)), 18);
    let app = TestApp::start_with(&format!(
        "admin_emails = [\"canary@example.com\"]\n[plans.free]\nrequests_per_minute = 1000\n\
         [billing.razorpay]\nkey_id = \"rzp_test_canary\"\nkey_secret = \"{}\"\nbase_url = \"$MOCK_BASE_URL\"\n",
        razorpay_secret.value
    ))
    .await;
    let fake_razorpay = |key_secret: &str, refuse_status, malformed| RazorpaySettings {
        key_id: "rzp_test_canary".to_owned(),
        key_secret: key_secret.to_owned(),
        refuse_status,
        malformed,
    };
    app.mock.set_razorpay(fake_razorpay(&razorpay_secret.value, None, false));

    let provider = Canary::new("provider key", format!("sk-canary-{}", random(32)), 10);
    let password = Canary::new("password", format!("pw-canary-{}", random(24)), 10);
    let wrong_password = Canary::new("wrong password", format!("pw-wrong-{}", random(24)), 9);
    let short_password = Canary::new("short password", random(7), 0);
    let bogus_key = Canary::new("made-up mintoken key", format!("mt_live_{}", random(43)), 12);
    let mut run = Run { app, seen: Vec::new(), provider_key: provider.value.clone() };
    let email = "canary@example.com";

    // ---- accounts ----
    let (s, _) = run
        .call(
            "signup, short password",
            run.post("/v1/auth/signup").json(&json!({"email": email, "password": short_password.value})),
            &[],
        )
        .await;
    assert_eq!(s, 422);
    let (s, body) = run
        .call("signup", run.post("/v1/auth/signup").json(&json!({"email": email, "password": password.value})), &[])
        .await;
    assert_eq!(s, 200, "{body}");
    let session: Value = serde_json::from_str(&body).unwrap();
    let mut tokens = vec![
        session["access_token"].as_str().unwrap().to_owned(),
        session["refresh_token"].as_str().unwrap().to_owned(),
    ];
    // The signup answer issued these two: allow them there, after the fact.
    run.seen.last_mut().unwrap().allowed.extend(tokens.clone());
    let (s, _) = run
        .call(
            "signup again",
            run.post("/v1/auth/signup").json(&json!({"email": email, "password": password.value})),
            &[],
        )
        .await;
    assert_eq!(s, 409);
    let (s, _) = run
        .call(
            "login, wrong password",
            run.post("/v1/auth/login").json(&json!({"email": email, "password": wrong_password.value})),
            &[],
        )
        .await;
    assert_eq!(s, 401);
    let (s, _) = run
        .call(
            "login, unknown account",
            run.post("/v1/auth/login").json(&json!({"email": "ghost@example.com", "password": password.value})),
            &[],
        )
        .await;
    assert_eq!(s, 401);
    let (s, _) = run
        .call(
            "login, password of the wrong type",
            run.post("/v1/auth/login").json(&json!({"email": email, "password": [password.value]})),
            &[],
        )
        .await;
    assert_eq!(s, 422);
    let broken = format!("{{\"email\": \"{email}\", \"password\": \"{}\"", password.value);
    let (s, _) = run
        .call(
            "login, truncated JSON",
            run.post("/v1/auth/login").header("content-type", "application/json").body(broken),
            &[],
        )
        .await;
    assert_eq!(s, 400);
    let (s, body) = run
        .call("login", run.post("/v1/auth/login").json(&json!({"email": email, "password": password.value})), &[])
        .await;
    assert_eq!(s, 200, "{body}");
    let login: Value = serde_json::from_str(&body).unwrap();
    let issued =
        [login["access_token"].as_str().unwrap().to_owned(), login["refresh_token"].as_str().unwrap().to_owned()];
    run.seen.last_mut().unwrap().allowed.extend(issued.clone());
    tokens.extend(issued.clone());
    let refresh = issued[1].clone();
    let (s, body) =
        run.call("refresh", run.post("/v1/auth/refresh").json(&json!({"refresh_token": refresh})), &[]).await;
    assert_eq!(s, 200, "{body}");
    let refreshed: Value = serde_json::from_str(&body).unwrap();
    let issued = [
        refreshed["access_token"].as_str().unwrap().to_owned(),
        refreshed["refresh_token"].as_str().unwrap().to_owned(),
    ];
    run.seen.last_mut().unwrap().allowed.extend(issued.clone());
    tokens.extend(issued.clone());
    let (s, _) = run
        .call("refresh token reused", run.post("/v1/auth/refresh").json(&json!({"refresh_token": refresh})), &[])
        .await;
    assert_eq!(s, 401);
    // The reuse revoked that session: log in again.
    let (s, body) = run
        .call("login again", run.post("/v1/auth/login").json(&json!({"email": email, "password": password.value})), &[])
        .await;
    assert_eq!(s, 200);
    let again: Value = serde_json::from_str(&body).unwrap();
    let issued =
        [again["access_token"].as_str().unwrap().to_owned(), again["refresh_token"].as_str().unwrap().to_owned()];
    run.seen.last_mut().unwrap().allowed.extend(issued.clone());
    tokens.extend(issued.clone());
    let token = issued[0].clone();
    let (s, _) = run.call("me", run.get("/v1/auth/me").bearer_auth(&token), &[]).await;
    assert_eq!(s, 200);

    // ---- keys ----
    let mut raw_keys = Vec::new();
    let mut key_ids = Vec::new();
    for name in ["canary", "second"] {
        let (s, body) = run
            .call("create key", run.post("/v1/auth/keys").bearer_auth(&token).json(&json!({"name": name})), &[])
            .await;
        assert_eq!(s, 201, "{body}");
        let key: Value = serde_json::from_str(&body).unwrap();
        let raw = key["raw_key"].as_str().unwrap().to_owned();
        run.seen.last_mut().unwrap().allowed.push(raw.clone());
        raw_keys.push(raw);
        key_ids.push(key["id"].as_str().unwrap().to_owned());
        if name == "canary" {
            let (s, _) = run
                .call(
                    "create key, duplicate name",
                    run.post("/v1/auth/keys").bearer_auth(&token).json(&json!({"name": "canary"})),
                    &[],
                )
                .await;
            assert_eq!(s, 409);
        }
    }
    let (s, _) = run
        .call(
            "create key, plan cap",
            run.post("/v1/auth/keys").bearer_auth(&token).json(&json!({"name": "third"})),
            &[],
        )
        .await;
    assert_eq!(s, 403);
    let raw = raw_keys[0].clone();
    let (s, _) = run.call("list keys", run.get("/v1/auth/keys").bearer_auth(&token), &[]).await;
    assert_eq!(s, 200);
    let (s, _) = run.call("get key", run.get(&format!("/v1/auth/keys/{}", key_ids[0])).bearer_auth(&token), &[]).await;
    assert_eq!(s, 200);
    let patch = run.app.http.patch(run.app.url(&format!("/v1/auth/keys/{}", key_ids[0])));
    let (s, _) = run.call("patch key", patch.bearer_auth(&token).json(&json!({"intensity": "lite"})), &[]).await;
    assert_eq!(s, 200);
    let patch = run.app.http.patch(run.app.url(&format!("/v1/auth/keys/{}", key_ids[0])));
    let (s, _) = run.call("patch key string", patch.bearer_auth(&token).json(&json!({"raw_key": raw})), &[]).await;
    assert_eq!(s, 422);
    let delete = run.app.http.delete(run.app.url(&format!("/v1/auth/keys/{}", key_ids[1])));
    let (s, _) = run.call("revoke key", delete.bearer_auth(&token), &[]).await;
    assert_eq!(s, 200);
    let (s, _) = run.call("mt_live_ key on a management route", run.get("/v1/auth/keys").bearer_auth(&raw), &[]).await;
    assert_eq!(s, 401);

    // ---- rules, plan, analytics, admin ----
    let (s, body) = run
        .call(
            "create rule",
            run.post("/v1/rules").bearer_auth(&token).json(&json!({"rule_type": "keep_exact", "pattern": "SKU-\\d+"})),
            &[],
        )
        .await;
    assert_eq!(s, 201);
    let rule_id = serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().unwrap().to_owned();
    let (s, _) = run.call("list rules", run.get("/v1/rules").bearer_auth(&token), &[]).await;
    assert_eq!(s, 200);
    let (s, _) = run
        .call("delete rule", run.app.http.delete(run.app.url(&format!("/v1/rules/{rule_id}"))).bearer_auth(&token), &[])
        .await;
    assert_eq!(s, 204);
    for path in ["/v1/plan", "/v1/admin/users", "/v1/playground/providers"] {
        let (s, _) = run.call(path, run.get(path).bearer_auth(&token), &[]).await;
        assert_eq!(s, 200, "{path}");
    }
    let put = run.app.http.put(run.app.url(&format!("/v1/admin/users/{email}/plan")));
    let (s, _) = run.call("set plan", put.bearer_auth(&token).json(&json!({"plan": "free"})), &[]).await;
    assert_eq!(s, 200);

    // ---- the proxy, every route, successes ----
    let gemini = "/v1beta/models/gemini-2.5-flash";
    let successes: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("chat", run.proxy("/v1/chat/completions", &chat_body()).bearer_auth(&raw)),
        ("chat, streamed", run.proxy("/v1/chat/completions", &streamed(chat_body())).bearer_auth(&raw)),
        ("responses", run.proxy("/v1/responses", &responses_body(false)).bearer_auth(&raw)),
        ("responses, streamed", run.proxy("/v1/responses", &responses_body(true)).bearer_auth(&raw)),
        ("messages, x-api-key", run.proxy("/v1/messages", &anthropic_body(false)).header("x-api-key", &raw)),
        ("messages, streamed", run.proxy("/v1/messages", &anthropic_body(true)).bearer_auth(&raw)),
        ("count_tokens", run.proxy("/v1/messages/count_tokens", &anthropic_body(false)).header("x-api-key", &raw)),
        ("gemini, ?key=", run.proxy(&format!("{gemini}:generateContent?key={raw}"), &gemini_body())),
        (
            "gemini, streamed, ?alt=sse&key=",
            run.proxy(&format!("{gemini}:streamGenerateContent?alt=sse&key={raw}"), &gemini_body()),
        ),
        (
            "gemini v1, streamed JSON array, x-goog-api-key",
            run.proxy("/v1/models/gemini-2.5-flash:streamGenerateContent", &gemini_body())
                .header("x-goog-api-key", &raw),
        ),
        ("gemini countTokens", run.proxy(&format!("{gemini}:countTokens?key={raw}"), &gemini_body())),
        (
            "gemini, model in the body",
            run.proxy(
                "/v1/generateContent",
                &json!({"model": "gemini-2.5-flash", "contents": gemini_body()["contents"]}),
            )
            .bearer_auth(&raw),
        ),
        (
            "gemini, model in the body, streamed",
            run.proxy(
                "/v1/streamGenerateContent",
                &json!({"model": "gemini-2.5-flash", "contents": gemini_body()["contents"]}),
            )
            .bearer_auth(&raw),
        ),
    ];
    for (label, req) in successes {
        let (s, body) = run.call(label, req, &[]).await;
        assert_eq!(s, 200, "{label}: {body}");
    }
    let upstream = run.app.mock.requests();
    assert!(
        upstream.iter().any(|r| r.query.as_deref().unwrap_or_default().contains(&provider.value)),
        "Gemini's upstream ?key="
    );

    // ---- the playground and the CLI route ----
    for p in ["openai", "google"] {
        let body = json!({"prompt": "Say hello.", "provider": p, "provider_key": provider.value});
        let (s, out) =
            run.call("playground", run.post("/v1/playground/compare").bearer_auth(&raw).json(&body), &[]).await;
        assert_eq!(s, 200, "playground {p}: {out}");
    }
    let compress =
        json!({"shape": "openai", "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}});
    let (s, out) = run
        .call("cli compress-context", run.post("/v1/cli/compress-context").bearer_auth(&raw).json(&compress), &[])
        .await;
    assert_eq!(s, 200, "{out}");

    // ---- upstream failures that quote the key back ----
    let echo = format!(
        "{{\"error\":{{\"message\":\"Incorrect API key provided: {p}. Request: https://generativelanguage.googleapis.com/v1beta/models/x:generateContent?key={p}\",\"type\":\"invalid_request_error\",\"code\":\"invalid_api_key\"}}}}",
        p = provider.value
    );
    for status in [401, 500] {
        run.app.mock.set_behavior(Behavior {
            fault: Some(Fault::Status { status, body: echo.clone(), retry_after: None }),
            ..Default::default()
        });
        let failing: Vec<(&str, reqwest::RequestBuilder)> = vec![
            ("chat, upstream error", run.proxy("/v1/chat/completions", &chat_body()).bearer_auth(&raw)),
            (
                "chat streamed, upstream error",
                run.proxy("/v1/chat/completions", &streamed(chat_body())).bearer_auth(&raw),
            ),
            ("messages, upstream error", run.proxy("/v1/messages", &anthropic_body(true)).header("x-api-key", &raw)),
            (
                "count_tokens, upstream error",
                run.proxy("/v1/messages/count_tokens", &anthropic_body(false)).header("x-api-key", &raw),
            ),
            ("gemini, upstream error", run.proxy(&format!("{gemini}:generateContent?key={raw}"), &gemini_body())),
            (
                "gemini countTokens, upstream error",
                run.proxy(&format!("{gemini}:countTokens?key={raw}"), &gemini_body()),
            ),
            (
                "playground, upstream error",
                run.post("/v1/playground/compare")
                    .bearer_auth(&raw)
                    .json(&json!({"prompt": "Say hello.", "provider": "google", "provider_key": provider.value})),
            ),
        ];
        for (label, req) in failing {
            let (s, body) = run.call(&format!("{label} {status}"), req, &[]).await;
            assert!(s >= 400, "{label} {status}: {s} {body}");
        }
    }
    for fault in [Fault::DropAfterEvents { events: 0 }, Fault::DropAfterEvents { events: 2 }, Fault::MalformedJson] {
        run.app.mock.set_behavior(Behavior { fault: Some(fault.clone()), ..Default::default() });
        for (label, req) in [
            ("chat, broken upstream", run.proxy("/v1/chat/completions", &chat_body()).bearer_auth(&raw)),
            (
                "chat streamed, broken upstream",
                run.proxy("/v1/chat/completions", &streamed(chat_body())).bearer_auth(&raw),
            ),
            (
                "gemini streamed, broken upstream",
                run.proxy(&format!("{gemini}:streamGenerateContent?alt=sse&key={raw}"), &gemini_body()),
            ),
        ] {
            run.call(&format!("{label} {fault:?}"), req, &[]).await;
        }
    }
    run.app.mock.set_behavior(Behavior::default());

    // ---- mintoken's own refusals ----
    let client_errors: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("made-up key", run.proxy("/v1/chat/completions", &chat_body()).bearer_auth(&bogus_key.value)),
        (
            "made-up key in ?key=",
            run.proxy(&format!("{gemini}:generateContent?key={}", bogus_key.value), &gemini_body()),
        ),
        ("revoked key", run.proxy("/v1/chat/completions", &chat_body()).bearer_auth(&raw_keys[1])),
        ("no provider key", run.post("/v1/chat/completions").bearer_auth(&raw).json(&chat_body())),
        (
            "provider key not a header value",
            run.post("/v1/messages").header("x-api-key", &raw).header("x-provider-key", format!("{}é", provider.value)),
        ),
        (
            "malformed body",
            run.post("/v1/chat/completions")
                .bearer_auth(&raw)
                .header("x-provider-key", &provider.value)
                .header("content-type", "application/json")
                .body(format!("{{\"model\": \"{}\", ", provider.value)),
        ),
        ("unknown Gemini action", run.proxy(&format!("{gemini}:explode?key={raw}"), &gemini_body())),
        ("unknown route with ?key=", run.proxy(&format!("/v1beta/nothing?key={raw}"), &gemini_body())),
        (
            "wrong method with ?key=",
            run.get(&format!("/v1/chat/completions?key={raw}")).header("x-provider-key", &provider.value),
        ),
        (
            "bad intensity",
            run.proxy("/v1/chat/completions", &chat_body()).bearer_auth(&raw).header("x-mintoken-intensity", "max"),
        ),
    ];
    for (label, req) in client_errors {
        let (s, body) = run.call(label, req, &[]).await;
        assert!((400..500).contains(&s), "{label}: {s} {body}");
    }

    // ---- an upstream that cannot be reached at all ----
    let database_url = run.app.db.as_ref().map(|db| db.url.clone());
    let dead = unreachable_upstream_server(run.app.dir.path(), database_url).await;
    let http = run.app.http.clone();
    let at_dead = |path: &str| http.post(format!("http://{}{path}", dead.addr));
    let signup = json!({"email": "canary2@example.com", "password": password.value});
    let (s, body) = run.call("signup on the second server", at_dead("/v1/auth/signup").json(&signup), &[]).await;
    assert_eq!(s, 200, "{body}");
    let dead_session: Value = serde_json::from_str(&body).unwrap();
    let issued = [
        dead_session["access_token"].as_str().unwrap().to_owned(),
        dead_session["refresh_token"].as_str().unwrap().to_owned(),
    ];
    run.seen.last_mut().unwrap().allowed.extend(issued.clone());
    tokens.extend(issued.clone());
    let (s, body) = run
        .call("create key on the second server", at_dead("/v1/auth/keys").bearer_auth(&issued[0]).json(&json!({})), &[])
        .await;
    assert_eq!(s, 201, "{body}");
    let raw = serde_json::from_str::<Value>(&body).unwrap()["raw_key"].as_str().unwrap().to_owned();
    run.seen.last_mut().unwrap().allowed.push(raw.clone());
    raw_keys.push(raw.clone());
    for (label, path, body, auth) in [
        ("unreachable OpenAI", "/v1/chat/completions".to_owned(), chat_body(), true),
        ("unreachable OpenAI, streamed", "/v1/chat/completions".to_owned(), streamed(chat_body()), true),
        ("unreachable Gemini, ?key=", format!("{gemini}:generateContent?key={raw}"), gemini_body(), false),
        ("unreachable Gemini countTokens", format!("{gemini}:countTokens?key={raw}"), gemini_body(), false),
    ] {
        let mut req = at_dead(&path).header("x-provider-key", &provider.value).json(&body);
        if auth {
            req = req.bearer_auth(&raw);
        }
        let (s, out) = run.call(label, req, &[]).await;
        assert_eq!(s, 502, "{label}: {out}");
    }
    dead.state.usage.flush().await;

    // ---- billing: the Razorpay key secret signs, and reaches Razorpay only ----
    let (s, _) = run.call("billing config", run.get("/v1/billing/razorpay/config").bearer_auth(&token), &[]).await;
    assert_eq!(s, 200);
    let (http, base) = (run.app.http.clone(), run.app.base.clone());
    let order = |plan: &str| {
        http.post(format!("{base}/v1/billing/razorpay/order")).bearer_auth(&token).json(&json!({"plan": plan}))
    };
    let (s, body) = run.call("billing order", order("pro"), &[]).await;
    assert_eq!(s, 200, "{body}");
    let order_id = serde_json::from_str::<Value>(&body).unwrap()["order_id"].as_str().unwrap().to_owned();
    let verify = |signature: &str| {
        http.post(format!("{base}/v1/billing/razorpay/verify")).bearer_auth(&token).json(&json!({
            "razorpay_order_id": order_id, "razorpay_payment_id": "pay_Canary000001", "razorpay_signature": signature}))
    };
    let good = common::razorpay_signature(&razorpay_secret.value, &order_id, "pay_Canary000001");
    // The last hex digit changed (replacing one letter left a signature without that
    // letter intact, ~1.6 % of runs).
    let wrong = format!("{}{}", &good[..good.len() - 1], if good.ends_with('0') { '1' } else { '0' });
    let (s, _) = run.call("billing verify, wrong signature", verify(&wrong), &[]).await;
    assert_eq!(s, 400);
    let (s, body) = run.call("billing verify", verify(&good), &[]).await;
    assert_eq!(s, 200, "{body}");
    let (s, _) = run.call("billing verify, replayed", verify(&good), &[]).await;
    assert_eq!(s, 200);
    for (label, settings) in [
        ("billing order, Razorpay 401", fake_razorpay(&razorpay_secret.value, Some(401), false)),
        ("billing order, Razorpay 500", fake_razorpay(&razorpay_secret.value, Some(500), false)),
        ("billing order, another key pair", fake_razorpay("rotated", None, false)),
        ("billing order, malformed answer", fake_razorpay(&razorpay_secret.value, None, true)),
    ] {
        run.app.mock.set_razorpay(settings);
        let (s, body) = run.call(label, order("team"), &[]).await;
        assert_eq!(s, 502, "{label}: {body}");
    }
    // It did reach Razorpay, in the Basic credentials: the search below would find it.
    let basic = run.app.mock.requests().into_iter().rev().find(|r| r.path == "/v1/orders").unwrap();
    assert!(basic.header("authorization").unwrap().starts_with("Basic "));

    // ---- log out, then metrics ----
    let (s, _) = run.call("logout", run.post("/v1/auth/logout").bearer_auth(&token), &[]).await;
    assert_eq!(s, 204);
    let (s, _) = run.call("access token after logout", run.get("/v1/auth/me").bearer_auth(&token), &[]).await;
    assert_eq!(s, 401);
    run.app.server.state.usage.flush().await;
    let (s, metrics) = run.call("metrics", run.get("/metrics"), &[]).await;
    assert_eq!(s, 200);
    assert!(metrics.contains("mintoken_"), "{metrics}");

    // ---- scan ----
    let mut canaries = vec![provider, password, wrong_password, short_password, bogus_key, razorpay_secret];
    for raw in &raw_keys {
        canaries.push(Canary::new("raw mintoken key", raw.clone(), 12));
    }
    for t in &tokens {
        // Access tokens: their signature; refresh tokens: all of them.
        let from = t.rfind('.').map_or(0, |i| i + 1);
        canaries.push(Canary::new("session token", t.clone(), from));
    }

    let database = database_text(&run.app).await;
    let logs = logs.lock().unwrap().clone();
    let log_text = String::from_utf8_lossy(&logs);
    assert!(log_text.contains("proxied request"), "the server's request lines were captured");
    assert!(log_text.contains(" DEBUG "), "debug-level lines were captured");
    assert!(log_text.contains("upstream request failed"), "the failures were logged");

    let mut leaks = Vec::new();
    for c in &canaries {
        for (place, bytes) in [("database", &database), ("logs", &logs)] {
            if let Some(needle) = c.found_in(bytes) {
                leaks.push(format!("{} found in the {place} ({needle:?}){}", c.what, context(bytes, needle)));
            }
        }
        for seen in run.seen.iter().filter(|s| !s.allowed.contains(&c.value)) {
            if let Some(needle) = c.found_in(seen.text.as_bytes()) {
                leaks.push(format!(
                    "{} found in the answer to {:?}: {}",
                    c.what,
                    seen.label,
                    context(seen.text.as_bytes(), needle)
                ));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
    // The search itself works: every issued secret is found in the answer that issued it.
    for c in canaries.iter().filter(|c| matches!(c.what, "raw mintoken key" | "session token")) {
        // (An access token refreshed within the same second is the same string, issued twice.)
        let issued_in: Vec<&Seen> = run.seen.iter().filter(|s| s.allowed.contains(&c.value)).collect();
        assert!(!issued_in.is_empty(), "{} issued nowhere", c.what);
        for s in issued_in {
            assert!(c.found_in(s.text.as_bytes()).is_some(), "{} not found in {:?}", c.what, s.label);
        }
    }
    assert!(run.seen.len() > 80, "{} answers checked", run.seen.len());
    dead.shutdown().await;
}

/// Up to 120 bytes around the first occurrence, for the failure message.
fn context(bytes: &[u8], needle: &str) -> String {
    let at = bytes.windows(needle.len()).position(|w| w == needle.as_bytes()).unwrap_or(0);
    let (from, to) = (at.saturating_sub(60), (at + needle.len() + 60).min(bytes.len()));
    format!(" …{}…", String::from_utf8_lossy(&bytes[from..to]))
}

/// The whole database: the SQLite files' bytes, or every PostgreSQL table as text.
async fn database_text(app: &TestApp) -> Vec<u8> {
    let mut out = Vec::new();
    match &app.db {
        None => {
            for dir in [app.dir.path().join("data"), app.dir.path().join("data-unreachable")] {
                let mut found = 0;
                for entry in std::fs::read_dir(&dir).unwrap() {
                    let path = entry.unwrap().path();
                    if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("mintoken.db")) {
                        out.extend(std::fs::read(&path).unwrap());
                        found += 1;
                    }
                }
                assert!(found > 0, "SQLite files in {}", dir.display());
            }
        }
        Some(db) => {
            use sqlx::Row;
            let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&db.url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            assert!(tables.len() > 3, "{tables:?}");
            for table in tables {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT t::text FROM \"{table}\" t")))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                for row in rows {
                    out.extend(row.get::<String, _>(0).into_bytes());
                    out.push(b'\n');
                }
            }
            pool.close().await;
        }
    }
    out
}
