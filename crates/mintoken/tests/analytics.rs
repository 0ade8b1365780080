//! Analytics end to end: real requests through the proxy (OpenAI, Anthropic, Gemini;
//! streamed and not) against mintoken-mock, and every figure of `/v1/analytics/*`
//! checked against sums this test computes itself from the usage the mock returned.
//! Statistics, bucket edges and retention use rows written straight into the store
//! (with chosen timestamps). Every test works on accounts of its own, so the suite can
//! share one PostgreSQL database with other runs (`MINTOKEN_TEST_DATABASE_URL`).

mod common;

use common::{PROVIDER_KEY, TestApp};
use futures_util::StreamExt;
use mintoken::analytics::calendar::{MS_PER_DAY, MS_PER_HOUR, MS_PER_WEEK};
use mintoken::analytics::period::Bucket;
use mintoken::metering::{IntensityReason, UsageRecord, UsageSource};
use mintoken_compress::{Intensity, skill};
use serde_json::{Value, json};

/// Generous limits so the free plan's rate limit and key cap do not get in the way, and
/// one price override (which the cost checks below rely on).
const CONFIG: &str = r#"
[plans.free]
max_keys = 10
requests_per_minute = 100000
monthly_output_tokens = 0

[prices."gpt-4o-mini"]
input_per_mtok = 1.0
output_per_mtok = 4.0
"#;

/// USD per million tokens this test expects: the override above and two shipped prices.
fn price(model: &str) -> Option<(f64, f64)> {
    match model {
        "gpt-4o-mini" => Some((1.0, 4.0)),
        "claude-sonnet-4-5" => Some((3.0, 15.0)),
        "gemini-2.5-flash" => Some((0.3, 2.5)),
        "gpt-4o" => Some((2.5, 10.0)),
        _ => None,
    }
}

const FULL_RATIO: f64 = 0.30;

fn unique_email(tag: &str) -> String {
    format!("{tag}-{}@example.com", uuid::Uuid::new_v4().simple())
}

fn full_skill_tokens() -> i64 {
    mintoken_compress::tokens::count(skill::text(Intensity::Full).unwrap()) as i64
}

async fn start() -> TestApp {
    TestApp::start_with(CONFIG).await
}

/// A signed-up user with `n` keys: (access token, keys with raw_key).
async fn user_with_keys(app: &TestApp, email: &str, keys: &[Value]) -> (String, Vec<Value>) {
    let session = app.signup(email).await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let mut created = Vec::new();
    for body in keys {
        let (status, key) = app.post_json("/v1/auth/keys", Some(&token), body.clone()).await;
        assert_eq!(status, 201, "create key: {key}");
        created.push(key);
    }
    (token, created)
}

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    app.send(app.http.get(app.url(path)).bearer_auth(token)).await
}

async fn analytics(app: &TestApp, token: &str, path: &str) -> Value {
    app.server.state.usage.flush().await;
    let (status, body) = get(app, token, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

fn close(actual: &Value, expected: f64, tolerance: f64, what: &str) {
    let a = actual.as_f64().unwrap_or_else(|| panic!("{what} is not a number: {actual}"));
    assert!((a - expected).abs() <= tolerance, "{what}: got {a}, expected {expected}");
}

/// One request as the test saw it: which key, which model, and the usage the mock
/// reported to the client.
struct Sent {
    key: usize,
    model: &'static str,
    input: i64,
    output: i64,
}

/// The `data:` payloads of an SSE body.
async fn sse_payloads(resp: reqwest::Response) -> Vec<Value> {
    let mut text = String::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    text.lines().filter_map(|l| l.strip_prefix("data: ")).filter_map(|d| serde_json::from_str(d).ok()).collect()
}

async fn openai(app: &TestApp, raw: &str, model: &str, stream: bool) -> (i64, i64) {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": "Count the planets, please."}]});
    if stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    let resp = app.chat(raw, &body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let usage = if stream {
        sse_payloads(resp).await.into_iter().find(|c| c["usage"].is_object()).expect("usage chunk")["usage"].clone()
    } else {
        resp.json::<Value>().await.unwrap()["usage"].clone()
    };
    (usage["prompt_tokens"].as_i64().unwrap(), usage["completion_tokens"].as_i64().unwrap())
}

async fn anthropic(app: &TestApp, raw: &str, model: &str, stream: bool) -> (i64, i64) {
    let body = json!({"model": model, "max_tokens": 300, "stream": stream,
        "messages": [{"role": "user", "content": "Explain tides in one paragraph."}]});
    let resp = app.messages(raw, &body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let input = |u: &Value| {
        u["input_tokens"].as_i64().unwrap()
            + u["cache_creation_input_tokens"].as_i64().unwrap_or(0)
            + u["cache_read_input_tokens"].as_i64().unwrap_or(0)
    };
    if stream {
        let events = sse_payloads(resp).await;
        let start = events.iter().find(|e| e["type"] == "message_start").unwrap();
        let delta = events.iter().find(|e| e["type"] == "message_delta").unwrap();
        (input(&start["message"]["usage"]), delta["usage"]["output_tokens"].as_i64().unwrap())
    } else {
        let answer: Value = resp.json().await.unwrap();
        (input(&answer["usage"]), answer["usage"]["output_tokens"].as_i64().unwrap())
    }
}

async fn gemini(app: &TestApp, raw: &str, model: &str, stream: bool) -> (i64, i64) {
    let path = match stream {
        true => format!("/v1beta/models/{model}:streamGenerateContent?alt=sse"),
        false => format!("/v1beta/models/{model}:generateContent"),
    };
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "Name three rivers."}]}]});
    let resp = app
        .http
        .post(app.url(&path))
        .header("x-goog-api-key", raw)
        .header("x-provider-key", PROVIDER_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let usage = if stream {
        sse_payloads(resp).await.into_iter().rev().find(|c| c["usageMetadata"].is_object()).unwrap()["usageMetadata"]
            .clone()
    } else {
        resp.json::<Value>().await.unwrap()["usageMetadata"].clone()
    };
    let input = usage["promptTokenCount"].as_i64().unwrap() + usage["toolUsePromptTokenCount"].as_i64().unwrap_or(0);
    let output = usage["candidatesTokenCount"].as_i64().unwrap() + usage["thoughtsTokenCount"].as_i64().unwrap_or(0);
    (input, output)
}

/// What the analytics should say about a set of requests (all at intensity `full`,
/// none held out, so every saving is the estimate).
#[derive(Default)]
struct Expected {
    requests: i64,
    input: i64,
    output: i64,
    tokens_saved: f64,
    cost: f64,
}

fn expected<'a>(sent: impl IntoIterator<Item = &'a Sent>) -> Expected {
    let skill = full_skill_tokens();
    let mut e = Expected::default();
    for s in sent {
        let saved_output = s.output as f64 * FULL_RATIO / (1.0 - FULL_RATIO);
        e.requests += 1;
        e.input += s.input;
        e.output += s.output;
        e.tokens_saved += saved_output - skill as f64;
        if let Some((input_price, output_price)) = price(s.model) {
            e.cost += (saved_output * output_price - skill as f64 * input_price) / 1e6;
        }
    }
    e
}

#[tokio::test]
async fn mock_skill_marker_is_in_every_skill_text() {
    for level in [Intensity::Lite, Intensity::Full, Intensity::Ultra] {
        assert!(skill::text(level).unwrap().contains(mintoken_mock::SKILL_MARKER), "{level:?}");
    }
}

#[tokio::test]
async fn proxied_requests_add_up_in_every_report() {
    let app = start().await;
    // The mock answers 12 tokens when it sees the skill (every request here has it).
    app.mock.set_behavior(mintoken_mock::Behavior {
        output_tokens_with_skill: Some(12),
        output_tokens_without_skill: Some(20),
        ..Default::default()
    });
    let email = unique_email("totals");
    let (token, keys) =
        user_with_keys(&app, &email, &[json!({"name": "one"}), json!({"name": "two"}), json!({"name": "idle"})]).await;
    let raw = |i: usize| keys[i]["raw_key"].as_str().unwrap().to_owned();

    let mut sent = Vec::new();
    for stream in [false, true] {
        let (input, output) = openai(&app, &raw(0), "gpt-4o-mini", stream).await;
        sent.push(Sent { key: 0, model: "gpt-4o-mini", input, output });
        let (input, output) = anthropic(&app, &raw(1), "claude-sonnet-4-5", stream).await;
        sent.push(Sent { key: 1, model: "claude-sonnet-4-5", input, output });
        let (input, output) = gemini(&app, &raw(stream as usize), "gemini-2.5-flash", stream).await;
        sent.push(Sent { key: stream as usize, model: "gemini-2.5-flash", input, output });
    }
    // A model the price table does not know.
    let (input, output) = openai(&app, &raw(0), "mock-model-x", false).await;
    sent.push(Sent { key: 0, model: "mock-model-x", input, output });
    assert!(sent.iter().all(|s| s.output == 12 && s.input > 0), "the mock saw the skill on every request");

    // Revoked keys keep their history.
    let key_id = |i: usize| keys[i]["id"].as_str().unwrap().to_owned();
    let (status, _) =
        app.send(app.http.delete(app.url(&format!("/v1/auth/keys/{}", key_id(1)))).bearer_auth(&token)).await;
    assert_eq!(status, 200);

    let all = expected(&sent);
    let skill = full_skill_tokens();
    let summary = analytics(&app, &token, "/v1/analytics/summary").await;
    assert_eq!(summary["total_requests"], all.requests);
    assert_eq!(summary["total_input_tokens"], all.input);
    assert_eq!(summary["total_output_tokens"], all.output);
    close(&summary["total_tokens_saved"], all.tokens_saved, 0.5, "total_tokens_saved");
    close(&summary["total_cost_saved_usd"], all.cost, 2e-6, "total_cost_saved_usd");
    assert_eq!(summary["skill_input_tokens"], skill * all.requests);
    close(&summary["output_tokens_saved_estimated"], all.output as f64 * 3.0 / 7.0, 0.5, "estimated output saved");
    assert_eq!(summary["output_tokens_saved_measured"], 0);
    assert_eq!(summary["context_tokens_saved"], 0);
    assert_eq!(summary["estimated"], true);
    assert_eq!(summary["savings_basis"], "estimated");
    assert_eq!(summary["cost"]["unpriced_models"], json!(["mock-model-x"]));
    assert_eq!(summary["cost"]["unpriced_requests"], 1);
    // Default period: the current UTC calendar month.
    let now = mintoken::clock::now_ms();
    let month = mintoken::analytics::calendar::month_start_ms(now);
    assert_eq!(summary["period_start"], mintoken::clock::rfc3339(month));
    assert_eq!(
        summary["period_end"],
        mintoken::clock::rfc3339(mintoken::analytics::calendar::next_month_start_ms(now))
    );

    // By key: each key's own sums; the revoked key is listed, the idle one with zeros.
    let by_key = analytics(&app, &token, "/v1/analytics/by-key").await;
    let listed = by_key["keys"].as_array().unwrap();
    assert_eq!(listed.len(), 3, "{by_key}");
    for (i, name) in [(0, "one"), (1, "two"), (2, "idle")] {
        let row = listed.iter().find(|k| k["id"] == key_id(i).as_str()).unwrap();
        let mine = expected(sent.iter().filter(|s| s.key == i));
        assert_eq!(row["name"], name);
        assert_eq!(row["key_prefix"], keys[i]["key_prefix"]);
        assert_eq!(row["is_active"], i != 1);
        assert_eq!(row["requests"], mine.requests);
        assert_eq!(row["input_tokens"], mine.input);
        assert_eq!(row["output_tokens"], mine.output);
        close(&row["tokens_saved"], mine.tokens_saved, 0.5, "key tokens_saved");
        close(&row["cost_saved_usd"], mine.cost, 2e-6, "key cost");
    }

    // Savings: one group per provider, model and intensity, each an estimate.
    let savings = analytics(&app, &token, "/v1/analytics/savings").await;
    let groups = savings["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 4, "{savings}");
    for model in ["gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash", "mock-model-x"] {
        let g = groups.iter().find(|g| g["model"] == model).unwrap();
        let mine = expected(sent.iter().filter(|s| s.model == model));
        assert_eq!(g["intensity"], "full");
        assert_eq!(g["requests"], mine.requests);
        assert_eq!(g["holdout_requests"], 0);
        assert_eq!(g["output_tokens"], mine.output);
        assert_eq!(g["skill_input_tokens"], skill * mine.requests);
        assert_eq!(g["basis"], "estimated");
        assert_eq!(g["estimated"]["kind"], "estimated");
        assert_eq!(g["estimated"]["expected_ratio"], FULL_RATIO);
        assert_eq!(g["measured"], Value::Null);
        close(&g["net_tokens_saved"], mine.tokens_saved, 0.5, "group net tokens");
        match price(model) {
            Some((input, output)) => {
                close(&g["net_cost_saved_usd"], mine.cost, 2e-6, "group cost");
                assert_eq!(g["price"]["input_per_mtok"], input);
                assert_eq!(g["price"]["output_per_mtok"], output);
            }
            None => {
                assert_eq!(g["net_cost_saved_usd"], Value::Null);
                assert_eq!(g["price"], Value::Null);
            }
        }
    }
    assert_eq!(groups.iter().find(|g| g["model"] == "gpt-4o-mini").unwrap()["price"]["source"], "config");
    assert_eq!(savings["totals"]["requests"], all.requests);

    // The time series of the month adds up to the summary; everything is in today's bucket.
    let series = analytics(&app, &token, "/v1/analytics/timeseries?bucket=day").await;
    let buckets = series["buckets"].as_array().unwrap();
    let today = mintoken::clock::rfc3339(Bucket::Day.floor(now));
    for b in buckets {
        let is_today = b["start"] == today.as_str();
        assert_eq!(b["requests"], if is_today { all.requests } else { 0 }, "{b}");
        if is_today {
            assert_eq!(b["input_tokens"], all.input);
            assert_eq!(b["output_tokens"], all.output);
            close(&b["tokens_saved"], all.tokens_saved, 0.5, "bucket tokens_saved");
        }
    }
    assert!(buckets.iter().any(|b| b["start"] == today.as_str()));

    // Another account sees nothing of this one.
    let (other, other_keys) = user_with_keys(&app, &unique_email("other"), &[json!({"name": "theirs"})]).await;
    let theirs = analytics(&app, &other, "/v1/analytics/summary").await;
    for field in ["total_requests", "total_input_tokens", "total_output_tokens", "total_tokens_saved"] {
        assert_eq!(theirs[field], 0, "{field}");
    }
    assert_eq!(theirs["total_cost_saved_usd"], 0.0);
    let their_keys = analytics(&app, &other, "/v1/analytics/by-key").await;
    let listed = their_keys["keys"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], other_keys[0]["id"]);
    assert_eq!(listed[0]["requests"], 0);
    assert_eq!(analytics(&app, &other, "/v1/analytics/savings").await["groups"], json!([]));
    let series = analytics(&app, &other, "/v1/analytics/timeseries?bucket=week").await;
    assert!(series["buckets"].as_array().unwrap().iter().all(|b| b["requests"] == 0));
    let (status, _) = get(&app, &other, &format!("/v1/auth/keys/{}", key_id(0))).await;
    assert_eq!(status, 404);

    // Analytics need an access token, not an API key.
    let (status, _) = get(&app, &raw(0), "/v1/analytics/summary").await;
    assert_eq!(status, 401);
    let (status, _) = app.send(app.http.get(app.url("/v1/analytics/summary"))).await;
    assert_eq!(status, 401);
}

/// A usage row written straight into the store.
fn row(user: &str, key: &str, at: i64, model: &str, intensity: Intensity, holdout: bool, output: i64) -> UsageRecord {
    UsageRecord {
        request_id: uuid::Uuid::new_v4().to_string(),
        created_at: at,
        user_id: user.to_owned(),
        org_id: None,
        key_id: key.to_owned(),
        provider: "openai",
        model: model.to_owned(),
        endpoint: "chat.completions",
        intensity,
        intensity_reason: IntensityReason::Default,
        status: 200,
        input_tokens: 100,
        output_tokens: output,
        skill_tokens: if holdout || intensity == Intensity::None { 0 } else { 119 },
        holdout,
        context_tokens_before: None,
        context_tokens_after: None,
        duration_ms: 10,
        upstream_ms: 9,
        streamed: false,
        usage_source: UsageSource::Upstream,
    }
}

async fn user_and_key(app: &TestApp, tag: &str) -> (String, String, String) {
    let email = unique_email(tag);
    let (token, keys) = user_with_keys(app, &email, &[json!({"name": "k"})]).await;
    (token, app.user_id(&email).await, keys[0]["id"].as_str().unwrap().to_owned())
}

fn iso(ms: i64) -> String {
    mintoken::clock::rfc3339(ms).replace('+', "%2B")
}

#[tokio::test]
async fn timeseries_buckets_split_at_utc_edges() {
    let app = start().await;
    let (token, user, key) = user_and_key(&app, "edges").await;
    // A Monday 00:00 UTC about two weeks ago (recent enough that no retention job touches it).
    let monday = Bucket::Week.floor(mintoken::clock::now_ms() - 10 * MS_PER_DAY);
    let times = [monday - 1, monday, monday + MS_PER_HOUR - 1, monday + MS_PER_HOUR];
    let rows: Vec<_> = times.iter().map(|&t| row(&user, &key, t, "gpt-4o", Intensity::Full, false, 10)).collect();
    app.server.state.store.insert_usage(&rows).await.unwrap();

    let counts = |v: &Value| -> Vec<i64> {
        v["buckets"].as_array().unwrap().iter().map(|b| b["requests"].as_i64().unwrap()).collect()
    };
    let path = |bucket: &str, start: i64, end: i64| {
        format!("/v1/analytics/timeseries?bucket={bucket}&start={}&end={}", iso(start), iso(end))
    };
    let hours = analytics(&app, &token, &path("hour", monday - MS_PER_HOUR, monday + 2 * MS_PER_HOUR)).await;
    assert_eq!(counts(&hours), [1, 2, 1]);
    let starts: Vec<&str> = hours["buckets"].as_array().unwrap().iter().map(|b| b["start"].as_str().unwrap()).collect();
    assert_eq!(starts[1], mintoken::clock::rfc3339(monday));
    assert_eq!(hours["buckets"][1]["end"], mintoken::clock::rfc3339(monday + MS_PER_HOUR));
    let days = analytics(&app, &token, &path("day", monday - MS_PER_DAY, monday + MS_PER_DAY)).await;
    assert_eq!(counts(&days), [1, 3]);
    let weeks = analytics(&app, &token, &path("week", monday - MS_PER_WEEK, monday + MS_PER_WEEK)).await;
    assert_eq!(counts(&weeks), [1, 3]);
    // A start inside a bucket is widened to the whole bucket, and the answer says so.
    let widened = analytics(&app, &token, &path("hour", monday - MS_PER_HOUR / 2, monday + 1)).await;
    assert_eq!(widened["period_start"], mintoken::clock::rfc3339(monday - MS_PER_HOUR));
    assert_eq!(widened["period_end"], mintoken::clock::rfc3339(monday + MS_PER_HOUR));
    assert_eq!(counts(&widened), [1, 2]);
    // Dates: `end` as a date includes that day.
    let day = mintoken::clock::rfc3339(monday)[..10].to_owned();
    let one_day = analytics(&app, &token, &format!("/v1/analytics/summary?start={day}&end={day}")).await;
    assert_eq!(one_day["total_requests"], 3);
    // The summary over the same range agrees with the series.
    let summary = analytics(
        &app,
        &token,
        &format!("/v1/analytics/summary?start={}&end={}", iso(monday - MS_PER_WEEK), iso(monday + MS_PER_WEEK)),
    )
    .await;
    assert_eq!(summary["total_requests"], 4);
    let saved: i64 = weeks["buckets"].as_array().unwrap().iter().map(|b| b["tokens_saved"].as_i64().unwrap()).sum();
    assert!((saved - summary["total_tokens_saved"].as_i64().unwrap()).abs() <= 1);

    // Bad parameters: 400 naming the problem.
    for (query, needle) in [
        ("bucket=month", "hour, day, week"),
        ("bucket=hour&start=2020-01-01&end=2026-01-01", "at most 2000"),
        ("start=2026-02-01&end=2026-01-01", "before"),
        ("start=yesterday", "RFC 3339"),
        ("start=2026-02-30", "valid date"),
        ("bucket=day&bucket=week", "more than once"),
        ("granularity=day", "unknown query parameter `granularity`"),
    ] {
        let (status, body) = get(&app, &token, &format!("/v1/analytics/timeseries?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body["detail"].as_str().unwrap().contains(needle), "{query}: {body}");
    }
    let (status, body) = get(&app, &token, "/v1/analytics/summary?bucket=day").await;
    assert_eq!(status, 400, "{body}");
}

struct Stats {
    n: f64,
    mean: f64,
    var: f64,
}

fn stats(xs: &[i64]) -> Stats {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<i64>() as f64 / n;
    let var = xs.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Stats { n, mean, var }
}

#[tokio::test]
async fn measured_savings_and_their_interval_from_holdout_rows() {
    let app = start().await;
    let (token, user, key) = user_and_key(&app, "measured").await;
    let at = mintoken::clock::now_ms() - MS_PER_HOUR;
    let treated: Vec<i64> = (0..40).map(|i| 50 + (i * 7) % 23).collect();
    let held: Vec<i64> = (0..35).map(|i| 90 + (i * 11) % 31).collect();
    let mut rows = Vec::new();
    rows.extend(treated.iter().map(|&o| row(&user, &key, at, "gpt-4o", Intensity::Full, false, o)));
    rows.extend(held.iter().map(|&o| row(&user, &key, at, "gpt-4o", Intensity::Full, true, o)));
    // Not samples: playground requests, failed requests, cut streams.
    let mut playground = row(&user, &key, at, "gpt-4o", Intensity::Full, true, 5000);
    playground.endpoint = "playground";
    let mut playground_treated = row(&user, &key, at, "gpt-4o", Intensity::Full, false, 70);
    playground_treated.endpoint = "playground";
    let mut failed = row(&user, &key, at, "gpt-4o", Intensity::Full, true, 0);
    failed.status = 500;
    let mut cut = row(&user, &key, at, "gpt-4o", Intensity::Full, false, 3);
    cut.status = 499;
    cut.usage_source = UsageSource::Counted;
    rows.extend([playground, playground_treated, failed, cut]);
    // Too few held-out `lite` requests for a measurement: the estimate stays.
    rows.extend((0..5).map(|_| row(&user, &key, at, "gpt-4o", Intensity::Lite, true, 80)));
    rows.extend((0..5).map(|_| row(&user, &key, at, "gpt-4o", Intensity::Lite, false, 60)));
    // Context compression savings on one request.
    let mut compressed = row(&user, &key, at, "gpt-4o", Intensity::None, false, 10);
    compressed.context_tokens_before = Some(5000);
    compressed.context_tokens_after = Some(1200);
    rows.push(compressed);
    app.server.state.store.insert_usage(&rows).await.unwrap();

    let range = format!("start={}&end={}", iso(at - MS_PER_DAY), iso(at + MS_PER_DAY));
    let savings = analytics(&app, &token, &format!("/v1/analytics/savings?{range}")).await;
    let group = |intensity: &str| {
        savings["groups"].as_array().unwrap().iter().find(|g| g["intensity"] == intensity).unwrap().clone()
    };
    let full = group("full");
    let (t, h) = (stats(&treated), stats(&held));
    let ratio = t.mean / h.mean;
    let reduction = 1.0 - ratio;
    let se = (t.var / t.n + ratio * ratio * h.var / h.n).sqrt() / h.mean;
    let m = &full["measured"];
    assert_eq!(m["kind"], "measured");
    assert_eq!(m["treated"]["requests"], 40);
    assert_eq!(m["holdout"]["requests"], 35);
    close(&m["treated"]["mean_output_tokens"], t.mean, 1e-9, "treated mean");
    close(&m["holdout"]["mean_output_tokens"], h.mean, 1e-9, "holdout mean");
    close(&m["treated"]["stddev_output_tokens"], t.var.sqrt(), 1e-9, "treated sd");
    close(&m["reduction"], reduction, 1e-12, "reduction");
    close(&m["reduction_ci95"][0], reduction - 1.959964 * se, 1e-6, "ci low");
    close(&m["reduction_ci95"][1], reduction + 1.959964 * se, 1e-6, "ci high");
    let diff_se = (t.var / t.n + h.var / h.n).sqrt();
    close(&m["tokens_saved_per_request"], h.mean - t.mean, 1e-9, "difference");
    close(&m["tokens_saved_per_request_ci95"][0], h.mean - t.mean - 1.959964 * diff_se, 1e-6, "difference ci");
    assert_eq!(m["sufficient"], true);
    assert_eq!(full["basis"], "measured");
    // Measured saving of the 40 treated requests, plus the estimate for the playground one.
    let measured_saving = 40.0 * h.mean - treated.iter().sum::<i64>() as f64;
    let playground_estimate = 70.0 * 3.0 / 7.0;
    close(&full["output_tokens_saved"], measured_saving + playground_estimate, 0.5, "full output saved");
    assert_eq!(full["requests"], 40 + 35 + 4);
    assert_eq!(full["holdout_requests"], 35 + 2);
    let full_skill = 119 * 42; // 40 treated + playground treated + cut stream
    assert_eq!(full["skill_input_tokens"], full_skill);
    close(&full["net_tokens_saved"], measured_saving + playground_estimate - full_skill as f64, 0.5, "net");
    close(
        &full["net_cost_saved_usd"],
        ((measured_saving + playground_estimate) * 10.0 - full_skill as f64 * 2.5) / 1e6,
        2e-6,
        "net cost",
    );

    let lite = group("lite");
    assert_eq!(lite["basis"], "estimated");
    assert_eq!(lite["measured"]["sufficient"], false);
    assert_eq!(lite["measured"]["holdout"]["requests"], 5);
    assert_eq!(lite["estimated"]["expected_ratio"], 0.2);
    close(&lite["output_tokens_saved"], 5.0 * 60.0 * 0.2 / 0.8, 0.5, "lite estimate");

    let none = group("none");
    assert_eq!(none["context_tokens_saved"], 3800);
    assert_eq!(none["output_tokens_saved"], 0);
    assert_eq!(none["basis"], "none");

    // The summary combines all of it.
    let summary = analytics(&app, &token, &format!("/v1/analytics/summary?{range}")).await;
    let output_saved = measured_saving + playground_estimate + 75.0;
    let skill = full_skill + 119 * 5;
    assert_eq!(summary["savings_basis"], "mixed");
    close(&summary["output_tokens_saved_measured"], measured_saving, 0.5, "measured part");
    close(&summary["output_tokens_saved_estimated"], playground_estimate + 75.0, 0.5, "estimated part");
    assert_eq!(summary["context_tokens_saved"], 3800);
    assert_eq!(summary["skill_input_tokens"], skill);
    close(&summary["total_tokens_saved"], output_saved + 3800.0 - skill as f64, 0.5, "total");
    close(&summary["total_cost_saved_usd"], (output_saved * 10.0 + (3800.0 - skill as f64) * 2.5) / 1e6, 2e-6, "usd");

    // The same measurement is applied in every bucket and key, so they add up.
    let series = analytics(&app, &token, &format!("/v1/analytics/timeseries?bucket=hour&{range}")).await;
    let sum =
        |field: &str| -> i64 { series["buckets"].as_array().unwrap().iter().map(|b| b[field].as_i64().unwrap()).sum() };
    assert_eq!(sum("requests"), summary["total_requests"].as_i64().unwrap());
    assert_eq!(sum("skill_input_tokens"), skill);
    assert!((sum("output_tokens_saved_measured") - measured_saving.round() as i64).abs() <= 1);
    let by_key = analytics(&app, &token, &format!("/v1/analytics/by-key?{range}")).await;
    assert_eq!(by_key["keys"][0]["tokens_saved"], summary["total_tokens_saved"]);
    assert_eq!(by_key["keys"][0]["cost_saved_usd"], summary["total_cost_saved_usd"]);
}

#[tokio::test]
async fn holdout_key_measures_what_the_mock_saves() {
    let app = start().await;
    // A model that follows the skill: 60 output tokens with it, 100 without.
    app.mock.set_behavior(mintoken_mock::Behavior {
        output_tokens_with_skill: Some(60),
        output_tokens_without_skill: Some(100),
        ..Default::default()
    });
    let email = unique_email("holdout");
    let (token, keys) = user_with_keys(
        &app,
        &email,
        &[
            json!({"name": "treated"}),
            json!({"name": "held", "holdout_percent": 100}),
            json!({"name": "half", "holdout_percent": 50}),
        ],
    )
    .await;
    assert_eq!(keys[1]["holdout_percent"], 100);
    let raw = |i: usize| keys[i]["raw_key"].as_str().unwrap().to_owned();
    let mut seen = [Vec::new(), Vec::new(), Vec::new()];
    for i in 0..30 {
        for (k, outputs) in seen.iter_mut().enumerate() {
            outputs.push(openai(&app, &raw(k), "gpt-4o-mini", i % 2 == 1).await.1);
        }
    }
    assert!(seen[0].iter().all(|&o| o == 60), "treated requests carried the skill");
    assert!(seen[1].iter().all(|&o| o == 100), "held-out requests did not");
    assert!(seen[2].iter().all(|&o| o == 60 || o == 100));
    let half_held = seen[2].iter().filter(|&&o| o == 100).count() as i64;

    let savings = analytics(&app, &token, "/v1/analytics/savings").await;
    let g = &savings["groups"][0];
    assert_eq!(savings["groups"].as_array().unwrap().len(), 1, "{savings}");
    let m = &g["measured"];
    assert_eq!(m["treated"]["requests"], 30 + (30 - half_held));
    assert_eq!(m["holdout"]["requests"], 30 + half_held);
    close(&m["reduction"], 0.40, 1e-12, "reduction");
    let (low, high) = (m["reduction_ci95"][0].as_f64().unwrap(), m["reduction_ci95"][1].as_f64().unwrap());
    assert!(low <= 0.40 + 1e-12 && 0.40 - 1e-12 <= high, "[{low}, {high}]");
    assert_eq!(g["basis"], "measured");
    let treated = 60 - half_held;
    close(&g["output_tokens_saved"], treated as f64 * 40.0, 0.5, "measured output saved");
    assert_eq!(g["skill_input_tokens"], treated * full_skill_tokens());
    close(&g["net_tokens_saved"], treated as f64 * 40.0 - (treated * full_skill_tokens()) as f64, 0.5, "net tokens");
    let rows = app.usage(&email).await;
    assert_eq!(rows.len(), 90);
    assert_eq!(rows.iter().filter(|r| r.skill_tokens == 0).count() as i64, 30 + half_held);
}

#[tokio::test]
async fn retention_rolls_old_rows_into_monthly_aggregates_without_changing_totals() {
    let app = start().await;
    let (token, user, key) = user_and_key(&app, "retention").await;
    let store = &app.server.state.store;
    let now = mintoken::clock::now_ms();
    let mut rows = Vec::new();
    for (age_days, n) in [(200, 40), (170, 35), (120, 3), (5, 4)] {
        let at = now - age_days * MS_PER_DAY;
        for i in 0..n {
            let holdout = i % 2 == 0;
            let output = if holdout { 100 + i % 9 } else { 60 + i % 7 };
            let mut r = row(&user, &key, at + i, "gpt-4o", Intensity::Full, holdout, output);
            if i % 5 == 0 {
                r.context_tokens_before = Some(3000);
                r.context_tokens_after = Some(1000 + i);
            }
            rows.push(r);
        }
    }
    let mut failed = row(&user, &key, now - 200 * MS_PER_DAY, "gpt-4o", Intensity::Full, true, 0);
    failed.status = 502;
    rows.push(failed);
    store.insert_usage(&rows).await.unwrap();

    let all_time = format!("start=2000-01-01&end={}", iso(now + MS_PER_DAY));
    let reports = || async {
        let mut out = Vec::new();
        for route in ["summary", "savings", "by-key"] {
            out.push(analytics(&app, &token, &format!("/v1/analytics/{route}?{all_time}")).await);
        }
        out
    };
    let before = reports().await;
    assert_eq!(before[0]["total_requests"], rows.len());
    assert_eq!(before[1]["groups"][0]["measured"]["sufficient"], true);

    // Two instances' jobs at once, then again: every old row is moved exactly once.
    let (a, b) = tokio::join!(
        mintoken::analytics::retention::run_once(store, 90, now),
        mintoken::analytics::retention::run_once(store, 90, now)
    );
    a.unwrap();
    b.unwrap();
    mintoken::analytics::retention::run_once(store, 90, now).await.unwrap();
    let left = store.usage_of_user(&user, 1000).await.unwrap();
    assert_eq!(left.len(), 4, "only the recent rows stay");
    assert!(store.monthly_aggregate_rows(&user).await.unwrap() > 0);
    assert_eq!(reports().await, before, "totals, savings and per-key figures are unchanged");

    // Months are the aggregates' grain: a period that starts mid-month leaves that
    // month's aggregates out, one that covers the month start includes them.
    let old = now - 200 * MS_PER_DAY;
    let month = mintoken::analytics::calendar::month_start_ms(old);
    let next = mintoken::analytics::calendar::next_month_start_ms(old);
    let in_month = rows.iter().filter(|r| (month..next).contains(&r.created_at)).count();
    let whole = analytics(&app, &token, &format!("/v1/analytics/summary?start={}&end={}", iso(month), iso(next))).await;
    assert_eq!(whole["total_requests"], in_month);
    let mid =
        analytics(&app, &token, &format!("/v1/analytics/summary?start={}&end={}", iso(month + 1), iso(next))).await;
    assert_eq!(mid["total_requests"], 0);
    let weeks = analytics(
        &app,
        &token,
        &format!("/v1/analytics/timeseries?bucket=week&start={}&end={}", iso(month), iso(next)),
    )
    .await;
    let first = &weeks["buckets"][0];
    assert_eq!(first["requests"], in_month, "aggregates sit in the bucket of their month's first day: {weeks}");

    // 0 keeps everything.
    let report = mintoken::analytics::retention::run_once(store, 0, now + 1000 * MS_PER_DAY).await.unwrap();
    assert_eq!(report.rows_rolled_up, 0);
}

#[tokio::test]
async fn the_quota_still_counts_rows_rolled_up_this_month() {
    let app = start().await;
    let (_, user, key) = user_and_key(&app, "quota").await;
    let store = &app.server.state.store;
    let now = mintoken::clock::now_ms();
    let month = mintoken::analytics::calendar::month_start_ms(now);
    let at = month.max(now - 2 * MS_PER_HOUR);
    let rows: Vec<_> = (0..3).map(|i| row(&user, &key, at + i, "gpt-4o", Intensity::Full, false, 50)).collect();
    store.insert_usage(&rows).await.unwrap();
    assert_eq!(store.output_tokens_since(&user, month).await.unwrap(), 150);
    // A one-day retention run a day later moves them into this month's aggregate.
    let report = store.roll_up_usage_of_user_before(&user, now + 1).await.unwrap();
    assert_eq!(report.rows_rolled_up, 3);
    assert!(store.usage_of_user(&user, 10).await.unwrap().is_empty());
    assert_eq!(store.output_tokens_since(&user, month).await.unwrap(), 150);
}

#[tokio::test]
async fn retention_moves_a_backlog_larger_than_one_chunk() {
    let app = start().await;
    let (token, user, key) = user_and_key(&app, "backlog").await;
    let store = &app.server.state.store;
    let now = mintoken::clock::now_ms();
    let old = now - 400 * MS_PER_DAY;
    // More than the 5,000 rows one transaction moves.
    let rows: Vec<_> = (0..5_003)
        .map(|i| row(&user, &key, old + i * 1000, "gpt-4o", Intensity::Full, i % 3 == 0, 40 + i % 13))
        .collect();
    store.insert_usage(&rows).await.unwrap();
    let path = format!("/v1/analytics/savings?start=2000-01-01&end={}", iso(now + MS_PER_DAY));
    let before = analytics(&app, &token, &path).await;
    assert_eq!(before["totals"]["requests"], 5_003);
    store.roll_up_usage_of_user_before(&user, now - 90 * MS_PER_DAY).await.unwrap();
    assert!(store.usage_of_user(&user, 10).await.unwrap().is_empty());
    assert_eq!(analytics(&app, &token, &path).await, before);
}
