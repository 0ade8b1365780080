//! `GET /metrics` and `X-Mintoken-Overhead-Us`: what operators and users read to see
//! what mintoken does and what it costs.

mod common;

use common::{PROVIDER_KEY, TestApp, chat_body};
use futures_util::StreamExt;
use serde_json::json;

/// The value of one series line (`name{labels} value`) in an exposition.
fn series(text: &str, name_and_labels: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("no series {name_and_labels} in:\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

async fn scrape(app: &TestApp) -> String {
    let resp = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    resp.text().await.unwrap()
}

fn overhead_us(resp: &reqwest::Response) -> u64 {
    resp.headers()["x-mintoken-overhead-us"].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn overhead_header_excludes_the_time_spent_waiting_for_the_upstream() {
    let app = TestApp::start().await;
    let (_, key) = app.user_with_key("o@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    app.mock.set_behavior(mintoken_mock::Behavior { first_byte_delay_ms: 300, ..Default::default() });

    let resp = app.chat(raw, &chat_body()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let total_ms: u64 = resp.headers()["x-mintoken-duration-ms"].to_str().unwrap().parse().unwrap();
    assert!(total_ms >= 300, "the whole request includes the upstream's 300 ms: {total_ms}");
    assert!(overhead_us(&resp) < 150_000, "overhead must not include the upstream's 300 ms: {}", overhead_us(&resp));

    // A refusal never reaches the upstream: all of its time is mintoken's.
    let refused = app.chat("mt_live_nope", &chat_body()).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().contains_key("x-mintoken-overhead-us"));
}

#[tokio::test]
async fn metrics_count_requests_tokens_errors_and_streams_without_secrets() {
    let app = TestApp::start().await;
    let (_, key) = app.user_with_key("m@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();

    for _ in 0..2 {
        assert_eq!(app.chat(raw, &chat_body()).send().await.unwrap().status(), 200);
    }
    assert_eq!(app.chat("mt_live_wrong", &chat_body()).send().await.unwrap().status(), 401);
    // An upstream error is relayed and counted as such.
    app.mock.set_behavior(mintoken_mock::Behavior {
        fault: Some(mintoken_mock::Fault::Status { status: 500, body: "{}".into(), retry_after: None }),
        ..Default::default()
    });
    assert_eq!(app.chat(raw, &chat_body()).send().await.unwrap().status(), 500);
    app.mock.set_behavior(Default::default());

    // A stream: open while being read, closed after.
    app.mock.set_behavior(mintoken_mock::Behavior { chunk_delay_ms: 100, ..Default::default() });
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": true,
                      "messages": [{"role": "user", "content": "Hi"}]});
    let resp = app.messages(raw, &body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut events = resp.bytes_stream();
    events.next().await.unwrap().unwrap();
    assert_eq!(series(&scrape(&app).await, "mintoken_open_streams"), 1.0);
    while let Some(chunk) = events.next().await {
        chunk.unwrap();
    }
    app.server.state.usage.flush().await;

    let text = scrape(&app).await;
    assert_eq!(series(&text, "mintoken_open_streams"), 0.0);
    assert_eq!(series(&text, r#"mintoken_requests_total{provider="openai",class="2xx"}"#), 2.0);
    assert_eq!(series(&text, r#"mintoken_requests_total{provider="openai",class="4xx"}"#), 1.0);
    assert_eq!(series(&text, r#"mintoken_requests_total{provider="openai",class="5xx"}"#), 1.0);
    assert_eq!(series(&text, r#"mintoken_requests_total{provider="anthropic",class="2xx"}"#), 1.0);
    assert_eq!(series(&text, r#"mintoken_errors_total{class="auth"}"#), 1.0);
    assert_eq!(series(&text, r#"mintoken_errors_total{class="upstream_status"}"#), 1.0);
    // Output tokens as the mock reported them: 9 words of its default reply, per answer.
    assert_eq!(series(&text, r#"mintoken_tokens_total{provider="openai",direction="output"}"#), 18.0);
    assert_eq!(series(&text, r#"mintoken_tokens_total{provider="anthropic",direction="output"}"#), 9.0);
    // 18 output tokens at `full` (an expected 30 % saving): 18 · 0.3 / 0.7 ≈ 8.
    assert_eq!(series(&text, r#"mintoken_tokens_saved_total{provider="openai",kind="output_estimated"}"#), 8.0);
    assert!(series(&text, r#"mintoken_skill_tokens_total{provider="openai"}"#) > 0.0);
    // Every answer is in the overhead histogram; every usage record in the durations.
    assert_eq!(series(&text, r#"mintoken_overhead_seconds_count{provider="openai"}"#), 4.0);
    assert_eq!(series(&text, r#"mintoken_overhead_seconds_bucket{provider="openai",le="+Inf"}"#), 4.0);
    assert_eq!(series(&text, r#"mintoken_request_duration_seconds_count{provider="anthropic"}"#), 1.0);
    assert!(series(&text, r#"mintoken_upstream_duration_seconds_sum{provider="anthropic"}"#) >= 0.1);
    assert_eq!(series(&text, "mintoken_usage_queue_depth"), 0.0);
    assert!(series(&text, "process_resident_memory_bytes") > 1e6);

    // No account, key or credential reaches the exposition.
    for secret in [raw, PROVIDER_KEY, "m@example.com", key["id"].as_str().unwrap()] {
        assert!(!text.contains(secret), "{secret} leaked into /metrics");
    }
}
