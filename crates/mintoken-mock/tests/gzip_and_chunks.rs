//! `Behavior::gzip` (an upstream that compresses whatever the client asked for) and the
//! chunk log's bytes, in process and through `GET /_mock/chunks`.

mod common;

use std::io::Read;

use common::{client, post};
use mintoken_mock::{Behavior, Fault, MockServer};
use serde_json::{Value, json};

const AUTH: (&str, &str) = ("authorization", "Bearer sk-test");

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes).read_to_string(&mut text).expect("valid gzip");
    text
}

#[tokio::test]
async fn gzip_applies_to_json_answers_and_errors_but_not_streams() {
    let server = MockServer::start().await;
    server.set_behavior(Behavior { gzip: true, ..Behavior::default() });
    let url = format!("{}/v1/chat/completions", server.base_url());
    let body = |stream: bool| json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]});

    let response = post(&url, &[AUTH], body(false).to_string()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let answer: Value = serde_json::from_str(&gunzip(&response.bytes().await.unwrap())).unwrap();
    assert_eq!(answer["object"], "chat.completion");

    // A rejection (no credential) is compressed too.
    let response = post(&url, &[], body(false).to_string()).await;
    assert_eq!(response.status(), 401);
    assert!(gunzip(&response.bytes().await.unwrap()).contains("error"));

    let response = post(&url, &[AUTH], body(true).to_string()).await;
    assert!(response.headers().get("content-encoding").is_none());
    assert!(response.text().await.unwrap().contains("data: [DONE]"));

    server.set_behavior(Behavior {
        gzip: true,
        fault: Some(Fault::Status { status: 429, body: "{\"x\":1}".into(), retry_after: Some("2".into()) }),
        ..Behavior::default()
    });
    let response = post(&url, &[AUTH], body(false).to_string()).await;
    assert_eq!((response.status().as_u16(), &response.headers()["retry-after"]), (429, &"2".parse().unwrap()));
    assert_eq!(gunzip(&response.bytes().await.unwrap()), "{\"x\":1}");
}

#[tokio::test]
async fn the_chunk_log_keeps_each_events_bytes() {
    let server = MockServer::start().await;
    let url = format!("{}/v1/chat/completions", server.base_url());
    let body = json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let streamed = post(&url, &[AUTH], body.to_string()).await.bytes().await.unwrap();
    let logged: Vec<u8> = server.chunk_log().iter().flat_map(|c| c.data.to_vec()).collect();
    assert_eq!(logged, streamed.to_vec());

    let listed = client().get(format!("{}/_mock/chunks", server.base_url())).send().await.unwrap();
    let listed: Value = serde_json::from_slice(&listed.bytes().await.unwrap()).unwrap();
    let text: String = listed.as_array().unwrap().iter().map(|c| c["data"].as_str().unwrap()).collect();
    assert_eq!(text.as_bytes(), streamed.as_ref());
    assert_eq!(listed[0]["request_index"], 0);
    assert_eq!(listed[0]["event_index"], 0);
}
