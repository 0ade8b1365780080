//! OpenAI Chat Completions: JSON and streamed answers, tool calls, validation.

mod common;

use std::time::Duration;

use common::{End, post, post_json, read_events};
use mintoken_mock::{Behavior, DEFAULT_REPLY, MockServer};
use serde_json::{Value, json};

const AUTH: (&str, &str) = ("authorization", "Bearer sk-test");

fn url(server: &MockServer) -> String {
    format!("{}/v1/chat/completions", server.base_url())
}

/// 14 + 8 = 22 characters of text → ⌈22/4⌉ = 6 prompt tokens.
fn request() -> Value {
    json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [{"type": "text", "text": "Hi there"}]}
        ]
    })
}

#[tokio::test]
async fn json_answer_has_openai_shape_and_deterministic_usage() {
    let server = MockServer::start().await;
    let (status, body) = post_json(&url(&server), &[AUTH], &request()).await;
    assert_eq!(status, 200);
    let id = body["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-mock"), "{id}");
    assert!(body["created"].as_u64().unwrap() > 1_600_000_000);
    let expected = json!({
        "id": id,
        "object": "chat.completion",
        "created": body["created"],
        "model": "gpt-4o-mini",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": DEFAULT_REPLY, "refusal": null, "annotations": []},
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {
            "prompt_tokens": 6,
            "completion_tokens": 9,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
        },
        "service_tier": "default",
        "system_fingerprint": "fp_mock"
    });
    assert_eq!(body, expected);
}

#[tokio::test]
async fn reply_text_and_ids_follow_behavior() {
    let server = MockServer::start().await;
    server.set_behavior(Behavior { reply_text: Some("short answer".into()), ..Behavior::default() });
    let (_, first) = post_json(&url(&server), &[AUTH], &request()).await;
    let (_, second) = post_json(&url(&server), &[AUTH], &request()).await;
    assert_eq!(first["choices"][0]["message"]["content"], "short answer");
    assert_eq!(first["usage"]["completion_tokens"], 2);
    assert_ne!(first["id"], second["id"]);
}

#[tokio::test]
async fn tools_on_the_users_turn_get_a_tool_call() {
    let server = MockServer::start().await;
    let mut body = request();
    body["tools"] = json!([
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "other"}}
    ]);
    let (status, answer) = post_json(&url(&server), &[AUTH], &body).await;
    assert_eq!(status, 200);
    let choice = &answer["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([{"id": "call_mock1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{}"}}])
    );
    assert_eq!(answer["usage"]["completion_tokens"], 2);

    // After the tool answered, the model speaks again.
    body["messages"] = json!([
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_mock1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_mock1", "content": "sunny"}
    ]);
    let (_, answer) = post_json(&url(&server), &[AUTH], &body).await;
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    assert_eq!(answer["choices"][0]["message"]["content"], DEFAULT_REPLY);
    assert_eq!(answer["usage"]["prompt_tokens"], 4); // "weather?" + "sunny" = 13 chars
}

#[tokio::test]
async fn invalid_requests_get_openai_errors() {
    let server = MockServer::start().await;
    let url = url(&server);
    let cases: [(&str, &str); 5] = [
        ("{not json", ""),
        ("[1, 2]", ""),
        (r#"{"messages": [{"role": "user", "content": "x"}]}"#, "model"),
        (r#"{"model": "gpt-4o"}"#, "messages"),
        (r#"{"model": "gpt-4o", "messages": "hi"}"#, "messages"),
    ];
    for (body, mention) in cases {
        let response = post(&url, &[AUTH], body).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert_eq!(error["error"]["type"], "invalid_request_error");
        assert_eq!(error["error"]["param"], Value::Null);
        assert_eq!(error["error"]["code"], Value::Null);
        assert!(error["error"]["message"].as_str().unwrap().contains(mention), "{error}");
    }
}

#[tokio::test]
async fn missing_bearer_key_is_401() {
    let server = MockServer::start().await;
    for headers in [vec![], vec![("authorization", "Bearer ")], vec![("authorization", "sk-x")]] {
        let (status, error) = post_json(&url(&server), &headers, &request()).await;
        assert_eq!(status, 401);
        assert_eq!(error["error"]["type"], "invalid_request_error");
        assert_eq!(error["error"]["code"], "invalid_api_key");
    }
}

fn stream_request(include_usage: Option<bool>) -> Value {
    let mut body = request();
    body["stream"] = json!(true);
    if let Some(include) = include_usage {
        body["stream_options"] = json!({"include_usage": include});
    }
    body
}

#[tokio::test]
async fn stream_without_usage_matches_openai_chunks() {
    let server = MockServer::start().await;
    for include in [None, Some(false)] {
        let response = post(&url(&server), &[AUTH], stream_request(include).to_string()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let (events, end) = read_events(response, Duration::from_secs(5)).await;
        assert_eq!(end, End::Clean);
        let words = DEFAULT_REPLY.split_whitespace().count();
        assert_eq!(events.len(), 1 + words + 1 + 1);
        assert_eq!(events.last().unwrap().text, "data: [DONE]");
        let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| e.json()).collect();
        for chunk in &chunks {
            assert_eq!(chunk["object"], "chat.completion.chunk");
            assert_eq!(chunk["model"], "gpt-4o-mini");
            assert_eq!(chunk["id"], chunks[0]["id"]);
            assert!(chunk.get("usage").is_none(), "{chunk}");
        }
        assert_eq!(
            chunks[0]["choices"],
            json!([{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": null},
                "logprobs": null, "finish_reason": null}])
        );
        let text: String =
            chunks[1..=words].iter().map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap()).collect();
        assert_eq!(text, DEFAULT_REPLY);
        assert_eq!(chunks[1]["choices"][0]["delta"], json!({"content": "Hello! "}));
        let finish = &chunks[words + 1]["choices"][0];
        assert_eq!(finish["delta"], json!({}));
        assert_eq!(finish["finish_reason"], "stop");
    }
}

#[tokio::test]
async fn stream_with_usage_ends_with_a_usage_chunk() {
    let server = MockServer::start().await;
    let response = post(&url(&server), &[AUTH], stream_request(Some(true)).to_string()).await;
    let (events, end) = read_events(response, Duration::from_secs(5)).await;
    assert_eq!(end, End::Clean);
    assert_eq!(events.last().unwrap().data(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| e.json()).collect();
    let (last, others) = chunks.split_last().unwrap();
    for chunk in others {
        assert_eq!(chunk["usage"], Value::Null);
        assert!(chunk.as_object().unwrap().contains_key("usage"));
    }
    assert_eq!(others.last().unwrap()["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 6);
    assert_eq!(last["usage"]["completion_tokens"], 9);
    assert_eq!(last["usage"]["total_tokens"], 15);
}

#[tokio::test]
async fn streamed_tool_call() {
    let server = MockServer::start().await;
    let mut body = stream_request(None);
    body["tools"] = json!([{"type": "function", "function": {"name": "lookup"}}]);
    let response = post(&url(&server), &[AUTH], body.to_string()).await;
    let (events, end) = read_events(response, Duration::from_secs(5)).await;
    assert_eq!(end, End::Clean);
    let deltas: Vec<Value> = events[..events.len() - 1].iter().map(|e| e.json()["choices"][0].clone()).collect();
    assert_eq!(deltas.len(), 3);
    assert_eq!(
        deltas[0]["delta"]["tool_calls"],
        json!([{"index": 0, "id": "call_mock1", "type": "function",
            "function": {"name": "lookup", "arguments": ""}}])
    );
    assert_eq!(deltas[0]["delta"]["role"], "assistant");
    assert_eq!(deltas[1]["delta"], json!({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}));
    assert_eq!(deltas[2]["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn empty_reply_streams_only_frame_chunks() {
    let server = MockServer::start().await;
    server.set_behavior(Behavior { reply_text: Some(String::new()), ..Behavior::default() });
    let response = post(&url(&server), &[AUTH], stream_request(Some(true)).to_string()).await;
    let (events, end) = read_events(response, Duration::from_secs(5)).await;
    assert_eq!(end, End::Clean);
    // role chunk, finish chunk, usage chunk, [DONE]
    assert_eq!(events.len(), 4);
    assert_eq!(events[2].json()["usage"]["completion_tokens"], 0);
}
