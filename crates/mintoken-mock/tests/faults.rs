//! Behaviour knobs on the Chat Completions route: every fault, both delays,
//! the chunk log and the open-stream count.

mod common;

use std::time::{Duration, Instant};

use common::{End, client, eventually, post, read_events};
use mintoken_mock::{Behavior, Fault, MockServer};
use serde_json::json;

const AUTH: (&str, &str) = ("authorization", "Bearer sk-test");

fn url(server: &MockServer) -> String {
    format!("{}/v1/chat/completions", server.base_url())
}

fn body(stream: bool) -> String {
    json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}).to_string()
}

fn with_fault(fault: Fault) -> Behavior {
    Behavior { fault: Some(fault), ..Behavior::default() }
}

#[tokio::test]
async fn status_fault_answers_raw_body_and_retry_after() {
    let server = MockServer::start().await;
    let raw = r#"{"error":{"message":"slow down","type":"requests"}}"#;
    server.set_behavior(with_fault(Fault::Status { status: 429, body: raw.into(), retry_after: Some("7".into()) }));
    // Applies to streams, and even to requests that would be rejected.
    for (headers, stream) in [(vec![AUTH], false), (vec![AUTH], true), (vec![], false)] {
        let response = post(&url(&server), &headers, body(stream)).await;
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "7");
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.text().await.unwrap(), raw);
    }
    server.set_behavior(with_fault(Fault::Status { status: 500, body: "{}".into(), retry_after: None }));
    let response = post(&url(&server), &[AUTH], body(false)).await;
    assert_eq!(response.status(), 500);
    assert!(response.headers().get("retry-after").is_none());
}

#[tokio::test]
async fn drop_after_events_aborts_the_stream() {
    let server = MockServer::start().await;
    server.set_behavior(with_fault(Fault::DropAfterEvents { events: 3 }));
    let response = post(&url(&server), &[AUTH], body(true)).await;
    assert_eq!(response.status(), 200);
    let (events, end) = read_events(response, Duration::from_secs(5)).await;
    assert_eq!(end, End::Error);
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e.data() != "[DONE]"));
    assert_eq!(server.chunk_log().len(), 3);
    assert!(eventually(|| server.open_streams() == 0).await);
}

#[tokio::test]
async fn drop_after_events_closes_a_non_stream_request_without_response() {
    let server = MockServer::start().await;
    server.set_behavior(with_fault(Fault::DropAfterEvents { events: 0 }));
    let result = client().post(url(&server)).header(AUTH.0, AUTH.1).body(body(false)).send().await;
    let error = result.expect_err("the connection should close without a response");
    assert!(!error.is_timeout() && !error.is_status(), "{error:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn malformed_json_in_both_modes() {
    let server = MockServer::start().await;
    server.set_behavior(with_fault(Fault::MalformedJson));
    let response = post(&url(&server), &[AUTH], body(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), r#"{"id": "broken"#);

    let response = post(&url(&server), &[AUTH], body(true)).await;
    assert_eq!(response.status(), 200);
    let (events, end) = read_events(response, Duration::from_secs(5)).await;
    assert_eq!(end, End::Clean);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].text, "data: {not json");
}

#[tokio::test]
async fn stall_after_events_hangs_until_the_client_leaves() {
    let server = MockServer::start().await;
    server.set_behavior(with_fault(Fault::StallAfterEvents { events: 2 }));
    let response = post(&url(&server), &[AUTH], body(true)).await;
    assert_eq!(server.open_streams(), 1);
    let (events, end) = read_events(response, Duration::from_millis(300)).await;
    assert_eq!(end, End::Timeout);
    assert_eq!(events.len(), 2);
    // `read_events` dropped the response: the mock must notice and let go.
    assert!(eventually(|| server.open_streams() == 0).await);
}

#[tokio::test]
async fn stall_without_stream_never_answers() {
    let server = MockServer::start().await;
    server.set_behavior(with_fault(Fault::StallAfterEvents { events: 0 }));
    let request = client().post(url(&server)).header(AUTH.0, AUTH.1).body(body(false)).send();
    let outcome = tokio::time::timeout(Duration::from_millis(300), request).await;
    assert!(outcome.is_err(), "expected no answer");
}

#[tokio::test]
async fn faults_other_than_status_leave_rejections_alone() {
    let server = MockServer::start().await;
    server.set_behavior(with_fault(Fault::MalformedJson));
    let response = post(&url(&server), &[], body(false)).await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn first_byte_delay_holds_the_headers() {
    let server = MockServer::start().await;
    server.set_behavior(Behavior { first_byte_delay_ms: 200, ..Behavior::default() });
    for headers in [vec![AUTH], vec![]] {
        let start = Instant::now();
        let response = post(&url(&server), &headers, body(false)).await;
        assert!(start.elapsed() >= Duration::from_millis(200));
        let _ = response.text().await;
    }
    let start = Instant::now();
    let response = post(&url(&server), &[AUTH], body(true)).await;
    assert!(start.elapsed() >= Duration::from_millis(200));
    let (_, end) = read_events(response, Duration::from_secs(5)).await;
    assert_eq!(end, End::Clean);
}

#[tokio::test]
async fn chunk_delay_paces_events_and_each_is_flushed() {
    let server = MockServer::start().await;
    server.set_behavior(Behavior {
        chunk_delay_ms: 40,
        reply_text: Some("one two three".into()),
        ..Behavior::default()
    });
    let start = Instant::now();
    let response = post(&url(&server), &[AUTH], body(true)).await;
    let first_byte = start.elapsed();
    let (events, end) = read_events(response, Duration::from_secs(5)).await;
    assert_eq!(end, End::Clean);
    // role, 3 words, finish, [DONE]
    assert_eq!(events.len(), 6);
    // Headers leave before the events, not after the whole (200 ms) stream.
    assert!(first_byte < Duration::from_millis(150), "{first_byte:?}");

    let log = server.chunk_log();
    assert_eq!(log.len(), 6);
    for (i, pair) in log.windows(2).enumerate() {
        assert_eq!(pair[0].request_index, 0);
        assert_eq!(pair[0].event_index, i);
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(40));
    }
    // Events reached the client as they were written, not batched at the end:
    // their arrivals span most of the 5 × 40 ms of pacing (slack for load).
    let span = events[5].at - events[0].at;
    assert!(span >= Duration::from_millis(150), "{span:?}");
    server.clear();
    assert!(server.chunk_log().is_empty());
}

#[tokio::test]
async fn behavior_is_read_when_the_request_arrives() {
    let server = MockServer::start().await;
    server.set_behavior(Behavior { chunk_delay_ms: 30, ..Behavior::default() });
    let response = post(&url(&server), &[AUTH], body(true)).await;
    // Changing the behaviour mid-stream does not affect the stream in flight.
    server.set_behavior(with_fault(Fault::DropAfterEvents { events: 1 }));
    let (events, end) = read_events(response, Duration::from_secs(5)).await;
    assert_eq!(end, End::Clean);
    assert_eq!(events.last().unwrap().data(), "[DONE]");
}
