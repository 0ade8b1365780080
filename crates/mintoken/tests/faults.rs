//! Faults on both sides of the proxy (issue 10): an upstream that is slow, stalls, fails,
//! closes, answers garbage or too much; a client that goes away, trickles, sends too
//! much header or opens thousands of connections. Each test states what the client sees,
//! what usage records, and that the server is still there afterwards. The figures printed
//! (`FIGURE …`, shown with `--nocapture`) are in docs/reliability.md#faults.

mod common;

use common::{PROVIDER_KEY, TestApp, chat_body};
use futures_util::StreamExt;
use mintoken_mock::{Behavior, Fault};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The upstream time limit the test apps run with (`upstream_timeout_secs`).
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(5);

fn stream_body() -> Value {
    let mut body = chat_body();
    body["stream"] = json!(true);
    body
}

fn fault(fault: Fault) -> Behavior {
    Behavior { fault: Some(fault), ..Default::default() }
}

/// One generation request per API, as its SDK sends it.
fn each_api(app: &TestApp, raw: &str) -> Vec<(&'static str, reqwest::RequestBuilder)> {
    vec![
        ("openai", app.chat(raw, &chat_body())),
        (
            "responses",
            app.http
                .post(app.url("/v1/responses"))
                .bearer_auth(raw)
                .header("x-provider-key", PROVIDER_KEY)
                .json(&json!({ "model": "gpt-4o-mini", "input": "Say hello." })),
        ),
        ("anthropic", app.messages(raw, &json!({ "model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{ "role": "user", "content": "Say hello." }] }))),
        (
            "google",
            app.http
                .post(app.url("/v1beta/models/gemini-2.0-flash:generateContent"))
                .header("x-goog-api-key", raw)
                .header("x-provider-key", PROVIDER_KEY)
                .json(&json!({ "contents": [{ "role": "user", "parts": [{ "text": "Say hello." }] }] })),
        ),
    ]
}

/// The message of an error in any provider's envelope.
fn error_message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_else(|| panic!("no error message in {body}"))
}

async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().unwrap())
}

/// Waits until `done` holds, for at most `limit`; returns whether it did.
async fn eventually(limit: Duration, mut done: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("VmRSS: 0 kB");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The soft limit on open files of this process.
fn open_files_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap_or("");
    line.split_whitespace().nth(3).and_then(|v| v.parse().ok()).unwrap_or(1024)
}

/// Open file descriptors of this process (the server, the mock and the test's clients).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Everything the server sends on `tcp` until it closes the connection or `limit` passes;
/// `None` when it was still open at the end.
async fn read_until_closed(tcp: &mut tokio::net::TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(out),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// The free plan's rate limit (20 a minute) would answer most of these tests' requests.
const NO_RATE_LIMIT: &str = "[plans.free]\nrequests_per_minute = 1000000\n";

async fn app_with_key(toml: &str, email: &str) -> (TestApp, String) {
    let app = TestApp::start_with(&format!("{toml}{NO_RATE_LIMIT}")).await;
    let (_, key) = app.user_with_key(email).await;
    let raw = key["raw_key"].as_str().unwrap().to_owned();
    (app, raw)
}

// ---------------------------------------------------------------------------------------
// Upstream faults

#[tokio::test]
async fn a_slow_first_byte_is_a_504_in_each_providers_envelope_and_metered() {
    let (app, raw) = app_with_key("", "slow@example.com").await;
    app.mock.set_behavior(Behavior { first_byte_delay_ms: 7_000, ..Default::default() });
    let started = Instant::now();
    let answers = futures_util::future::join_all(each_api(&app, &raw).into_iter().map(|(api, req)| async move {
        let resp = req.send().await.unwrap();
        (api, resp.status().as_u16(), resp.json::<Value>().await.unwrap())
    }))
    .await;
    let elapsed = started.elapsed();
    for (api, status, body) in &answers {
        assert_eq!(*status, 504, "{api}: {body}");
        assert_eq!(error_message(body), "the upstream provider did not answer within 5 s", "{api}");
        match *api {
            "anthropic" => assert_eq!(body["error"]["type"], "timeout_error"),
            "google" => assert_eq!(body["error"]["status"], "DEADLINE_EXCEEDED"),
            _ => assert!(body["error"].is_object()),
        }
    }
    assert!(elapsed >= UPSTREAM_TIMEOUT && elapsed < UPSTREAM_TIMEOUT + Duration::from_secs(1), "{elapsed:?}");
    println!("FIGURE slow first byte: 4 APIs answered 504 after {elapsed:?} (limit 5 s)");
    let rows = app.usage("slow@example.com").await;
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r.status == 504 && r.output_tokens == 0 && r.usage_source == "none"), "{rows:?}");
}

#[tokio::test]
async fn a_stream_that_stalls_ends_cleanly_after_the_idle_timeout_and_is_metered() {
    let (app, raw) = app_with_key("", "stall@example.com").await;
    app.mock.set_behavior(fault(Fault::StallAfterEvents { events: 3 }));
    let started = Instant::now();
    let resp = app.chat(&raw, &stream_body()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // The client's stream ends without an error: the events so far, then the end.
    let text = tokio::time::timeout(Duration::from_secs(10), resp.text()).await.expect("stream ends").unwrap();
    let elapsed = started.elapsed();
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.len(), 3, "{text}");
    assert!(events.iter().all(|e| e.starts_with("data: {")), "{text}");
    assert!(elapsed >= UPSTREAM_TIMEOUT && elapsed < UPSTREAM_TIMEOUT + Duration::from_secs(1), "{elapsed:?}");
    println!("FIGURE stalled stream: client stream ended after {elapsed:?} (idle limit 5 s)");

    let rows = app.usage("stall@example.com").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, 200);
    assert!(rows[0].streamed);
    assert_eq!(rows[0].usage_source, "counted");
    assert!(rows[0].output_tokens > 0 && rows[0].input_tokens > 0, "{:?}", rows[0]);
    assert_eq!(metric(&app, "mintoken_open_streams").await, 0.0);
    // The upstream request was dropped with the relay.
    assert!(eventually(Duration::from_secs(2), async || app.mock.open_streams() == 0).await);
}

#[tokio::test]
async fn upstream_5xx_and_429_are_relayed_with_body_and_retry_after_for_each_api() {
    let (app, raw) = app_with_key("", "status@example.com").await;
    let mut expected = 0;
    for (status, retry_after) in [(429, Some("7")), (500, None), (502, None), (503, Some("30")), (529, None)] {
        let body = format!(r#"{{"error":{{"message":"upstream says {status}","code":{status}}}}}"#);
        app.mock.set_behavior(fault(Fault::Status {
            status,
            body: body.clone(),
            retry_after: retry_after.map(str::to_owned),
        }));
        let mut requests = each_api(&app, &raw);
        // An upstream error answering a stream request is relayed the same way.
        requests.push(("openai stream", app.chat(&raw, &stream_body())));
        for (api, req) in requests {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status().as_u16(), status, "{api}");
            assert_eq!(resp.headers().get("retry-after").map(|v| v.to_str().unwrap()), retry_after, "{api} {status}");
            assert!(resp.headers().contains_key("x-request-id"));
            assert_eq!(resp.text().await.unwrap(), body, "{api} {status}: the body is relayed byte for byte");
            expected += 1;
        }
    }
    let rows = app.usage("status@example.com").await;
    assert_eq!(rows.len(), expected);
    assert!(rows.iter().all(|r| r.status >= 429 && r.output_tokens == 0), "{rows:?}");
}

#[tokio::test]
async fn refused_reset_and_cut_connections_are_502s_or_clean_stream_ends() {
    // Nothing listens: refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let app = TestApp::start_full(NO_RATE_LIMIT, Some(dead)).await;
    let (_, key) = app.user_with_key("cut@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    let started = Instant::now();
    let (status, body) = app.send(app.chat(raw, &chat_body())).await;
    println!("FIGURE connection refused: 502 after {:?}", started.elapsed());
    assert_eq!(status, 502, "{body}");
    assert_eq!(error_message(&body), "could not connect to the upstream provider");

    // The mock (Anthropic's base URL) closes the connection before any byte of the answer.
    let anthropic = json!({ "model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{ "role": "user", "content": "Say hello." }] });
    app.mock.set_behavior(fault(Fault::DropAfterEvents { events: 0 }));
    let (status, body) = app.send(app.messages(raw, &anthropic)).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["type"], "api_error");
    assert_eq!(error_message(&body), "the upstream provider closed the connection or answered unintelligibly");

    // The head and part of the body, then the connection goes.
    app.mock.set_behavior(fault(Fault::CloseMidBody { bytes: 40 }));
    let (status, body) = app.send(app.messages(raw, &anthropic)).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(error_message(&body), "upstream connection failed while sending its response");

    // Streamed: the events that came, then a clean end (also when cut inside an event).
    let mut streamed = anthropic.clone();
    streamed["stream"] = json!(true);
    for behavior in [fault(Fault::DropAfterEvents { events: 3 }), fault(Fault::CloseMidBody { bytes: 700 })] {
        app.mock.set_behavior(behavior);
        let resp = app.messages(raw, &streamed).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let text = resp.text().await.expect("the client's stream ends cleanly");
        assert!(text.starts_with("event: message_start"), "{text}");
        assert!(!text.contains("message_stop"), "{text}");
    }
    assert_eq!(metric(&app, "mintoken_open_streams").await, 0.0);
    let rows = app.usage("cut@example.com").await;
    let statuses: Vec<i64> = rows.iter().rev().map(|r| r.status).collect();
    assert_eq!(statuses, [502, 502, 502, 200, 200]);
    // The cut streams are metered: Anthropic's input from message_start, output counted.
    assert!(rows[..2].iter().all(|r| r.streamed && r.input_tokens > 0), "{rows:?}");
}

#[tokio::test]
async fn malformed_upstream_json_is_a_502_and_malformed_sse_ends_cleanly() {
    let (app, raw) = app_with_key("", "garbage@example.com").await;
    // A 200 whose body is not JSON: SPEC §2 makes it a 502.
    for behavior in [fault(Fault::MalformedJson), fault(Fault::RawBody { chunks: vec!["\u{0}\u{7f}garbage".into()] })] {
        app.mock.set_behavior(behavior);
        for (api, req) in each_api(&app, &raw) {
            let (status, body) = app.send(req).await;
            assert_eq!(status, 502, "{api}: {body}");
            assert_eq!(error_message(&body), "the upstream provider answered 200 with a body that is not valid JSON");
        }
    }
    // Valid JSON of the wrong shape is relayed (usage unknown), not refused.
    app.mock.set_behavior(fault(Fault::RawBody { chunks: vec![r#"{"unexpected":[1,2,3]}"#.into()] }));
    let resp = app.chat(&raw, &chat_body()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), r#"{"unexpected":[1,2,3]}"#);

    // Malformed streams: relayed as they come and ended cleanly, never a panic.
    let streams: Vec<Vec<String>> = vec![
        vec!["data: {not json\n\n".into()],
        vec!["data: {\"choices\":[{\"delta\":{\"content\":\"half".into()],
        vec!["\n\n\n\r\r\n:comment only\n\n".into(), "event: \n\ndata:\n\n".into(), "data: [DONE]\n\n".into()],
        vec!["data: {\"choices\":\"not a list\",\"usage\":{\"completion_tokens\":\"x\"}}\n\n".into()],
        vec![format!("data: {}", "x".repeat(300_000))],
        vec!["data: \u{fffd}\u{0}\u{1}\n\n".into(), "data: {\"choices\":[null,{}]}\n\n".into()],
    ];
    for chunks in streams {
        let sent: String = chunks.concat();
        app.mock.set_behavior(fault(Fault::RawBody { chunks }));
        let resp = app.chat(&raw, &stream_body()).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let text = tokio::time::timeout(Duration::from_secs(5), resp.text()).await.unwrap().unwrap();
        assert_eq!(text.len(), sent.len(), "relayed unchanged: {:?}", &sent[..sent.len().min(80)]);
    }
    assert_eq!(metric(&app, "mintoken_open_streams").await, 0.0);
    let rows = app.usage("garbage@example.com").await;
    assert_eq!(rows.len(), 8 + 1 + 6, "every request has its row");
    assert!(rows.iter().filter(|r| r.status == 502).count() == 8);
    // The server is still there.
    app.mock.set_behavior(Behavior::default());
    assert_eq!(app.chat(&raw, &chat_body()).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn absurd_upstream_usage_figures_are_capped_and_the_quota_still_holds() {
    let (app, raw) = app_with_key("[plans.pro]\nmonthly_output_tokens = 0\n", "absurd@example.com").await;
    let body = json!({
        "id": "chatcmpl-absurd", "object": "chat.completion", "model": "gpt-4o-mini",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": "hi" }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": i64::MAX, "completion_tokens": i64::MAX, "total_tokens": i64::MAX },
    });
    app.mock.set_behavior(fault(Fault::RawBody { chunks: vec![body.to_string()] }));
    // Free plan (100,000 a month): the first answer is relayed, its output counted at the
    // cap, and the quota is then spent without any counter wrapping round to negative.
    let first = app.chat(&raw, &chat_body()).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let (status, body) = app.send(app.chat(&raw, &chat_body())).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(error_message(&body), "token quota exceeded");
    let rows = app.usage("absurd@example.com").await;
    assert_eq!(rows[rows.len() - 1].output_tokens, 1 << 40, "capped: {rows:?}");
    // An unlimited plan keeps adding the capped figures without overflowing.
    let email = "absurd@example.com";
    app.server.state.store.set_plan(email, "pro").await.unwrap();
    app.server.state.keys.apply_plan(&app.user_id(email).await, "pro");
    for _ in 0..3 {
        assert_eq!(app.chat(&raw, &chat_body()).send().await.unwrap().status(), 200);
    }
    let rows = app.usage(email).await;
    assert!(rows.iter().filter(|r| r.status == 200).all(|r| r.output_tokens == 1 << 40 && r.input_tokens == 1 << 40));
}

#[tokio::test]
async fn an_oversized_answer_is_a_502_and_a_large_stream_is_relayed_without_buffering() {
    let (app, raw) = app_with_key("", "huge@example.com").await;
    app.mock.set_behavior(fault(Fault::HugeBody { bytes: 65 * 1024 * 1024 }));
    let started = Instant::now();
    let (status, body) = app.send(app.chat(&raw, &chat_body())).await;
    println!("FIGURE 65 MiB unstreamed answer: 502 after {:?}", started.elapsed());
    assert_eq!(status, 502, "{body}");
    assert_eq!(error_message(&body), "upstream response is larger than mintoken relays unstreamed");

    // 64 MiB streamed in 1,024 events of 64 KiB. The client reads one chunk and pauses:
    // the relay must not read on (back-pressure), so the mock cannot get far ahead.
    let total = 64 * 1024 * 1024;
    app.mock.set_behavior(fault(Fault::HugeBody { bytes: total }));
    let resp = app.chat(&raw, &stream_body()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let mut received = stream.next().await.unwrap().unwrap().len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sent_while_paused = app.mock.chunk_log().len();
    println!("FIGURE large stream: with the client paused, the upstream got {sent_while_paused} of 1024 events out");
    // Four loopback sockets sit between the mock and the client, and the kernel grows
    // each one's buffers to a few MiB (up to ~200 events in all were seen on a loaded
    // machine); without back-pressure the mock would have sent all 1,024.
    assert!(sent_while_paused < 400, "the relay buffered {sent_while_paused} events of 64 KiB");
    let started = Instant::now();
    while let Some(chunk) = stream.next().await {
        received += chunk.unwrap().len();
    }
    println!("FIGURE large stream: 64 MiB relayed in {:?} after the pause", started.elapsed());
    assert_eq!(received, total);
    assert_eq!(app.mock.chunk_log().len(), 1024);
    assert_eq!(metric(&app, "mintoken_open_streams").await, 0.0);
    let rows = app.usage("huge@example.com").await;
    assert_eq!(rows.iter().map(|r| r.status).collect::<Vec<_>>(), [200, 502]);

    // An event that never ends (no blank line): 24 MiB in 1 MiB pieces, 50 ms apart. The
    // relay passes it on once 16 MiB are pending instead of holding it to the end.
    app.mock.clear();
    let piece = "x".repeat(1024 * 1024);
    app.mock.set_behavior(Behavior {
        chunk_delay_ms: 50,
        fault: Some(Fault::RawBody { chunks: vec![piece; 24] }),
        ..Default::default()
    });
    let resp = app.chat(&raw, &stream_body()).send().await.unwrap();
    let mut stream = resp.bytes_stream();
    let mut received = stream.next().await.unwrap().unwrap().len();
    let first_received = Instant::now();
    while let Some(chunk) = stream.next().await {
        received += chunk.unwrap().len();
    }
    assert_eq!(received, 24 * 1024 * 1024);
    let last_sent = app.mock.chunk_log().last().unwrap().at;
    assert!(first_received < last_sent, "the unterminated event was held until the upstream ended");
}

// ---------------------------------------------------------------------------------------
// Client faults

/// The head of a chat request with both keys and the given body length.
fn chat_head(raw: &str, content_length: usize) -> String {
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {raw}\r\nx-provider-key: {PROVIDER_KEY}\r\ncontent-type: application/json\r\ncontent-length: {content_length}\r\n\r\n"
    )
}

#[tokio::test]
async fn clients_that_leave_mid_request_or_mid_stream_leak_nothing() {
    let (app, raw) = app_with_key("", "leave@example.com").await;
    // Half a body, then the client is gone: nothing reaches the upstream.
    let body = chat_body().to_string();
    for _ in 0..10 {
        let mut tcp = tokio::net::TcpStream::connect(app.server.addr).await.unwrap();
        tcp.write_all(chat_head(&raw, body.len()).as_bytes()).await.unwrap();
        tcp.write_all(&body.as_bytes()[..body.len() / 2]).await.unwrap();
        drop(tcp);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(app.mock.requests().is_empty(), "a half-sent request never goes upstream");

    // 50 streams, each left after two chunks, 10 at a time.
    app.mock.set_behavior(Behavior { chunk_delay_ms: 100, ..Default::default() });
    let fds_before = open_fds();
    let started = Instant::now();
    for _ in 0..5 {
        futures_util::future::join_all((0..10).map(|_| async {
            let resp = app.chat(&raw, &stream_body()).send().await.unwrap();
            let mut stream = resp.bytes_stream();
            for _ in 0..2 {
                stream.next().await.unwrap().unwrap();
            }
        }))
        .await;
    }
    let cancelled = eventually(Duration::from_secs(3), async || app.mock.open_streams() == 0).await;
    println!("FIGURE 50 client disconnects: upstream streams all cancelled {:?} after the start", started.elapsed());
    assert!(cancelled, "{} upstream streams still open", app.mock.open_streams());
    assert_eq!(metric(&app, "mintoken_open_streams").await, 0.0);
    let rows = app.usage("leave@example.com").await;
    assert_eq!(rows.len(), 50);
    assert!(rows.iter().all(|r| r.status == 499 && r.streamed && r.output_tokens > 0), "{rows:?}");
    assert_eq!(metric(&app, "mintoken_errors_total{class=\"client_closed\"}").await, 50.0);
    // The connections are gone too (the test's reqwest pool keeps a few idle ones).
    let settled = eventually(Duration::from_secs(3), async || open_fds() <= fds_before + 12).await;
    println!("FIGURE 50 client disconnects: fds {fds_before} before, {} after", open_fds());
    assert!(settled, "fds {fds_before} before, {} after", open_fds());

    // 10 plain requests left while mintoken waits for their upstream answers: each still
    // has its row (status 499, not streamed), written when the client went away.
    app.mock.set_behavior(Behavior { first_byte_delay_ms: 5_000, ..Default::default() });
    futures_util::future::join_all((0..10).map(|_| async {
        let left = app.chat(&raw, &chat_body()).timeout(Duration::from_millis(300)).send().await;
        assert!(left.is_err(), "the client gave up first");
    }))
    .await;
    let metered = eventually(Duration::from_secs(3), async || app.usage("leave@example.com").await.len() == 60).await;
    let plain: Vec<_> = app.usage("leave@example.com").await.into_iter().filter(|r| !r.streamed).collect();
    assert!(metered && plain.len() == 10 && plain.iter().all(|r| r.status == 499), "{plain:?}");
}

#[tokio::test]
async fn slow_headers_and_slow_bodies_are_cut_off() {
    let toml = "header_read_timeout_secs = 1\nrequest_body_timeout_secs = 2\n";
    let (app, raw) = app_with_key(toml, "slowloris@example.com").await;

    // Headers at one byte every 200 ms: closed after the 1 s header-read timeout.
    let mut tcp = tokio::net::TcpStream::connect(app.server.addr).await.unwrap();
    let head = chat_head(&raw, 10);
    let started = Instant::now();
    let mut cut = None;
    for byte in head.as_bytes() {
        if tcp.write_all(&[*byte]).await.is_err() {
            cut = Some(started.elapsed());
            break;
        }
        let mut probe = [0u8; 256];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(200), tcp.read(&mut probe)).await {
            assert_eq!(n, 0, "no answer to a slow head, just a closed connection");
            cut = Some(started.elapsed());
            break;
        }
        if started.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    let cut = cut.expect("the connection was closed");
    println!("FIGURE slowloris headers: connection closed after {cut:?} (limit 1 s)");
    assert!(cut >= Duration::from_millis(900) && cut < Duration::from_millis(1800), "{cut:?}");

    // A connection that sends nothing at all is closed by the same limit.
    let mut tcp = tokio::net::TcpStream::connect(app.server.addr).await.unwrap();
    let started = Instant::now();
    let answer = read_until_closed(&mut tcp, Duration::from_secs(4)).await.expect("silent connection closed");
    let closed = started.elapsed();
    println!("FIGURE silent connection closed after {closed:?} (limit 1 s)");
    assert!(answer.is_empty());
    assert!(closed >= Duration::from_millis(900) && closed < Duration::from_millis(1800), "{closed:?}");

    // A keep-alive connection left idle is closed by the same timer.
    let mut tcp = tokio::net::TcpStream::connect(app.server.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let started = Instant::now();
    let answer = read_until_closed(&mut tcp, Duration::from_secs(4)).await.expect("idle connection closed");
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    println!("FIGURE idle keep-alive connection closed after {:?}", started.elapsed());

    // The head at once, then the body at one byte every 100 ms: 408 at the 2 s mark.
    let body = chat_body().to_string();
    let mut tcp = tokio::net::TcpStream::connect(app.server.addr).await.unwrap();
    tcp.write_all(chat_head(&raw, body.len()).as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    for byte in body.as_bytes() {
        if tcp.write_all(&[*byte]).await.is_err() {
            break;
        }
        let mut buf = [0u8; 4096];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(100), tcp.read(&mut buf)).await {
            answer.extend_from_slice(&buf[..n]);
            break;
        }
    }
    let elapsed = started.elapsed();
    let rest = read_until_closed(&mut tcp, Duration::from_secs(2)).await.expect("connection closed after the 408");
    answer.extend_from_slice(&rest);
    let answer = String::from_utf8_lossy(&answer);
    println!("FIGURE slow body: 408 after {elapsed:?} (limit 2 s)");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("the request body did not arrive within 2 s"), "{answer}");
    assert!(elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_millis(3000), "{elapsed:?}");
    assert!(app.mock.requests().is_empty());

    // Others are served all along.
    assert_eq!(app.chat(&raw, &chat_body()).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn oversized_headers_are_refused_and_the_server_keeps_serving() {
    let (app, raw) = app_with_key("", "headers@example.com").await;
    let cases = [
        ("one 200 KB header", format!("x-big: {}\r\n", "a".repeat(200_000))),
        ("2,000 headers of 100 bytes", (0..2000).map(|i| format!("x-h{i}: {}\r\n", "b".repeat(90))).collect()),
        ("120 small headers", (0..120).map(|i| format!("x-h{i}: c\r\n")).collect()),
    ];
    for (what, headers) in cases {
        let mut tcp = tokio::net::TcpStream::connect(app.server.addr).await.unwrap();
        let request = format!("GET /healthz HTTP/1.1\r\nhost: x\r\n{headers}\r\n");
        // The server may close before it has read everything: a failed write is fine.
        let _ = tcp.write_all(request.as_bytes()).await;
        let answer = read_until_closed(&mut tcp, Duration::from_secs(3)).await.expect("connection closed");
        let answer = String::from_utf8_lossy(&answer);
        println!("FIGURE oversized headers, {what}: {:?}", answer.lines().next().unwrap_or("(closed, no answer)"));
        assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 431"), "{what}: {answer}");
        assert_eq!(app.chat(&raw, &chat_body()).send().await.unwrap().status(), 200, "after {what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_idle_connections_do_not_stop_normal_requests() {
    let (app, raw) = app_with_key("", "crowd@example.com").await;
    let baseline = {
        let started = Instant::now();
        assert_eq!(app.chat(&raw, &chat_body()).send().await.unwrap().status(), 200);
        started.elapsed()
    };
    // 1,000 connections that never send anything and 1,000 kept alive after a request
    // (fewer where the open-files limit would not allow both ends of 2,000).
    let n = (open_files_limit() / 2).saturating_sub(100).min(2000);
    let mut idle = Vec::new();
    let rss_before = rss_kib();
    let started = Instant::now();
    for i in 0..n {
        let mut tcp = tokio::net::TcpStream::connect(app.server.addr).await.unwrap();
        if i % 2 == 1 {
            tcp.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        }
        idle.push(tcp);
    }
    for tcp in idle.iter_mut().skip(1).step_by(2) {
        let mut buf = [0u8; 512];
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    }
    println!(
        "FIGURE {n} connections opened (half with a request answered) in {:?}; RSS of the whole test process +{} KiB (both ends)",
        started.elapsed(),
        rss_kib().saturating_sub(rss_before)
    );
    let mut latencies = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        assert_eq!(app.chat(&raw, &chat_body()).send().await.unwrap().status(), 200);
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let (median, worst) = (latencies[10], latencies[19]);
    println!("FIGURE with {n} idle connections: chat median {median:?}, worst {worst:?} (alone: {baseline:?})");
    assert!(worst < Duration::from_secs(1), "{latencies:?}");
    assert!(app.http.get(app.url("/healthz")).send().await.unwrap().status().is_success());
    drop(idle);
}
