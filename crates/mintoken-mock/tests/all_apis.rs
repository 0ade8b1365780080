//! Faults, delays, the chunk log and the open-stream count behave the same on
//! every API route.

mod common;

use std::time::Duration;

use common::{End, eventually, post, read_events};
use mintoken_mock::{Behavior, Fault, MockServer};
use serde_json::json;

/// A streaming request to one API: path and query, headers, body.
type ApiRequest = (&'static str, Vec<(&'static str, &'static str)>, String);

/// One streaming request per API.
fn streaming_requests() -> Vec<ApiRequest> {
    vec![
        (
            "/v1/chat/completions",
            vec![("authorization", "Bearer k")],
            json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]}).to_string(),
        ),
        (
            "/v1/responses",
            vec![("authorization", "Bearer k")],
            json!({"model": "m", "stream": true, "input": "hi"}).to_string(),
        ),
        (
            "/v1/messages",
            vec![("x-api-key", "k")],
            json!({"model": "m", "max_tokens": 9, "stream": true,
                "messages": [{"role": "user", "content": "hi"}]})
            .to_string(),
        ),
        (
            "/v1beta/models/g:streamGenerateContent?alt=sse",
            vec![("x-goog-api-key", "k")],
            json!({"contents": [{"parts": [{"text": "hi"}]}]}).to_string(),
        ),
    ]
}

fn set_fault(server: &MockServer, fault: Fault) {
    server.set_behavior(Behavior { fault: Some(fault), ..Behavior::default() });
}

#[tokio::test]
async fn every_stream_is_logged_paced_and_counted() {
    let server = MockServer::start().await;
    server.set_behavior(Behavior { chunk_delay_ms: 15, reply_text: Some("a b".into()), ..Behavior::default() });
    for (index, (path, headers, body)) in streaming_requests().into_iter().enumerate() {
        let response = post(&format!("{}{path}", server.base_url()), &headers, body).await;
        assert_eq!(response.status(), 200, "{path}");
        let (events, end) = read_events(response, Duration::from_secs(5)).await;
        assert_eq!(end, End::Clean, "{path}");
        let log: Vec<_> = server.chunk_log().into_iter().filter(|c| c.request_index == index).collect();
        assert_eq!(log.len(), events.len(), "{path}");
        for (i, pair) in log.windows(2).enumerate() {
            assert_eq!(pair[0].event_index, i);
            assert!(pair[1].at - pair[0].at >= Duration::from_millis(15), "{path}");
        }
    }
    assert!(eventually(|| server.open_streams() == 0).await);
}

#[tokio::test]
async fn drop_and_stall_work_on_every_stream() {
    let server = MockServer::start().await;
    for (path, headers, body) in streaming_requests() {
        let url = format!("{}{path}", server.base_url());
        set_fault(&server, Fault::DropAfterEvents { events: 1 });
        let response = post(&url, &headers, body.clone()).await;
        let (events, end) = read_events(response, Duration::from_secs(5)).await;
        assert_eq!((events.len(), end), (1, End::Error), "{path}");

        set_fault(&server, Fault::StallAfterEvents { events: 1 });
        let response = post(&url, &headers, body.clone()).await;
        assert!(eventually(|| server.open_streams() == 1).await, "{path}");
        let (events, end) = read_events(response, Duration::from_millis(200)).await;
        assert_eq!((events.len(), end), (1, End::Timeout), "{path}");
        assert!(eventually(|| server.open_streams() == 0).await, "{path}");

        set_fault(&server, Fault::MalformedJson);
        let response = post(&url, &headers, body.clone()).await;
        let (events, end) = read_events(response, Duration::from_secs(5)).await;
        assert_eq!(end, End::Clean);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].text, "data: {not json", "{path}");

        set_fault(
            &server,
            Fault::Status {
                status: 529,
                body: r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#.into(),
                retry_after: None,
            },
        );
        let response = post(&url, &headers, body).await;
        assert_eq!(response.status(), 529, "{path}");
    }
}

#[tokio::test]
async fn non_stream_faults_on_every_route() {
    let server = MockServer::start().await;
    let requests = [
        ("/v1/responses", ("authorization", "Bearer k"), json!({"model": "m", "input": "hi"})),
        (
            "/v1/messages",
            ("x-api-key", "k"),
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "/v1/messages/count_tokens",
            ("x-api-key", "k"),
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
        ),
        ("/v1/models/g:generateContent", ("x-goog-api-key", "k"), json!({"contents": [{"parts": [{"text": "hi"}]}]})),
    ];
    for (path, header, body) in requests {
        let url = format!("{}{path}", server.base_url());
        set_fault(&server, Fault::MalformedJson);
        let response = post(&url, &[header], body.to_string()).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.text().await.unwrap(), r#"{"id": "broken"#);

        set_fault(&server, Fault::DropAfterEvents { events: 0 });
        let sent = common::client().post(&url).header(header.0, header.1).body(body.to_string()).send().await;
        assert!(sent.is_err(), "{path}");

        server.set_behavior(Behavior { first_byte_delay_ms: 100, ..Behavior::default() });
        let start = std::time::Instant::now();
        let response = post(&url, &[header], body.to_string()).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(start.elapsed() >= Duration::from_millis(100));
    }
}

#[tokio::test]
async fn http2_clients_are_served_and_recorded() {
    let server = MockServer::start().await;
    common::install_tls_provider();
    let client = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let (path, headers, body) = streaming_requests().remove(0);
    let mut request = client.post(format!("{}{path}", server.base_url())).body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let (events, end) = read_events(response, Duration::from_secs(5)).await;
    assert_eq!(end, End::Clean);
    assert_eq!(events.last().unwrap().data(), "[DONE]");
    assert_eq!(server.last_request().unwrap().header("authorization"), Some("Bearer k"));
}
