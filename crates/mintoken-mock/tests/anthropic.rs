//! Anthropic Messages and count_tokens.

mod common;

use std::time::Duration;

use common::{End, post, post_json, read_events};
use mintoken_mock::{DEFAULT_REPLY, MockServer};
use serde_json::{Value, json};

const KEY: (&str, &str) = ("x-api-key", "sk-ant-test");
const VERSION: (&str, &str) = ("anthropic-version", "2023-06-01");

fn url(server: &MockServer) -> String {
    format!("{}/v1/messages", server.base_url())
}

/// "Be brief." (9) + "Hi!" (3) + "more" (4) = 16 chars → 4 prompt tokens.
fn request() -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [
            {"role": "user", "content": "Hi!"},
            {"role": "assistant", "content": [{"type": "text", "text": "more"}]},
            {"role": "user", "content": ""}
        ]
    })
}

#[tokio::test]
async fn message_has_anthropic_shape() {
    let server = MockServer::start().await;
    let (status, message) = post_json(&url(&server), &[KEY, VERSION], &request()).await;
    assert_eq!(status, 200);
    let id = message["id"].as_str().unwrap();
    assert!(id.starts_with("msg_"));
    assert_eq!(
        message,
        json!({
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": DEFAULT_REPLY}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": 4, "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0, "output_tokens": 9, "service_tier": "standard"}
        })
    );
    let recorded = server.last_request().unwrap();
    assert_eq!(recorded.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(recorded.header("x-api-key"), Some("sk-ant-test"));
}

#[tokio::test]
async fn tools_get_a_tool_use_block_until_results_come_back() {
    let server = MockServer::start().await;
    let mut body = request();
    body["tools"] = json!([{"name": "search", "input_schema": {"type": "object"}}]);
    let (_, message) = post_json(&url(&server), &[KEY], &body).await;
    assert_eq!(message["stop_reason"], "tool_use");
    assert_eq!(message["content"], json!([{"type": "tool_use", "id": "toolu_mock1", "name": "search", "input": {}}]));
    assert_eq!(message["usage"]["output_tokens"], 2);

    body["messages"] = json!([
        {"role": "user", "content": "find"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_mock1", "name": "search", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_mock1", "content": "found"}]}
    ]);
    let (_, message) = post_json(&url(&server), &[KEY], &body).await;
    assert_eq!(message["stop_reason"], "end_turn");
    // "Be brief." + "find" + "found" = 18 chars → 5.
    assert_eq!(message["usage"]["input_tokens"], 5);
}

#[tokio::test]
async fn errors_use_the_anthropic_envelope() {
    // A bearer token is accepted like a key (recent SDKs send one); anything else is not.
    let server_ok = MockServer::start().await;
    let (status, _) = post_json(&url(&server_ok), &[("authorization", "Bearer x")], &request()).await;
    assert_eq!(status, 200);

    let server = MockServer::start().await;
    let (status, error) = post_json(&url(&server), &[("authorization", "Basic x")], &request()).await;
    assert_eq!(status, 401);
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "authentication_error");
    assert!(error["error"]["message"].as_str().unwrap().contains("x-api-key"));

    let mut no_max = request();
    no_max.as_object_mut().unwrap().remove("max_tokens");
    let cases = [
        "{oops".to_owned(),
        "42".to_owned(),
        r#"{"max_tokens": 5, "messages": []}"#.to_owned(),
        r#"{"model": "c", "max_tokens": 5}"#.to_owned(),
        no_max.to_string(),
    ];
    for body in cases {
        let response = post(&url(&server), &[KEY], body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert_eq!(error["type"], "error");
        assert_eq!(error["error"]["type"], "invalid_request_error");
    }
}

#[tokio::test]
async fn count_tokens_matches_the_messages_usage() {
    let server = MockServer::start().await;
    let mut body = request();
    body.as_object_mut().unwrap().remove("max_tokens");
    let (status, count) = post_json(&format!("{}/v1/messages/count_tokens", server.base_url()), &[KEY], &body).await;
    assert_eq!(status, 200);
    assert_eq!(count, json!({"input_tokens": 4}));
    let (status, _) = post_json(&format!("{}/v1/messages/count_tokens", server.base_url()), &[], &body).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn text_stream_follows_the_event_sequence() {
    let server = MockServer::start().await;
    let mut body = request();
    body["stream"] = json!(true);
    let response = post(&url(&server), &[KEY], body.to_string()).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let (events, end) = read_events(response, Duration::from_secs(5)).await;
    assert_eq!(end, End::Clean);
    let words = DEFAULT_REPLY.split_whitespace().count();
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(std::iter::repeat_n("content_block_delta", words));
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    let names: Vec<&str> = events.iter().map(|e| e.name().unwrap()).collect();
    assert_eq!(names, expected);
    let data: Vec<Value> = events.iter().map(|e| e.json()).collect();
    for (event, name) in data.iter().zip(&names) {
        assert_eq!(event["type"], *name);
    }
    let start = &data[0]["message"];
    assert_eq!(start["content"], json!([]));
    assert_eq!(start["stop_reason"], Value::Null);
    assert_eq!(start["usage"]["input_tokens"], 4);
    assert_eq!(start["usage"]["output_tokens"], 1);
    assert_eq!(data[1]["content_block"], json!({"type": "text", "text": ""}));
    let text: String = data[3..3 + words]
        .iter()
        .map(|d| {
            assert_eq!(d["index"], 0);
            assert_eq!(d["delta"]["type"], "text_delta");
            d["delta"]["text"].as_str().unwrap()
        })
        .collect();
    assert_eq!(text, DEFAULT_REPLY);
    let delta = &data[data.len() - 2];
    assert_eq!(delta["delta"], json!({"stop_reason": "end_turn", "stop_sequence": null}));
    assert_eq!(delta["usage"]["output_tokens"], 9);
}

#[tokio::test]
async fn tool_use_stream() {
    let server = MockServer::start().await;
    let mut body = request();
    body["stream"] = json!(true);
    body["tools"] = json!([{"name": "search", "input_schema": {"type": "object"}}]);
    let response = post(&url(&server), &[KEY], body.to_string()).await;
    let (events, end) = read_events(response, Duration::from_secs(5)).await;
    assert_eq!(end, End::Clean);
    let data: Vec<Value> = events.iter().map(|e| e.json()).collect();
    assert_eq!(
        data[1]["content_block"],
        json!({"type": "tool_use", "id": "toolu_mock1", "name": "search", "input": {}})
    );
    let partial: String = data
        .iter()
        .filter(|d| d["type"] == "content_block_delta")
        .map(|d| {
            assert_eq!(d["delta"]["type"], "input_json_delta");
            d["delta"]["partial_json"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(partial, "{}");
    assert_eq!(data[data.len() - 2]["delta"]["stop_reason"], "tool_use");
}
