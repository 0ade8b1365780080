//! OpenAI Responses: the response object, function calls and the event stream.

mod common;

use std::time::Duration;

use common::{End, post, post_json, read_events};
use mintoken_mock::{DEFAULT_REPLY, MockServer};
use serde_json::{Value, json};

const AUTH: (&str, &str) = ("authorization", "Bearer sk-test");

fn url(server: &MockServer) -> String {
    format!("{}/v1/responses", server.base_url())
}

#[tokio::test]
async fn string_input_gets_a_completed_response() {
    let server = MockServer::start().await;
    // 12 + 5 = 17 characters → 5 prompt tokens.
    let body = json!({"model": "gpt-4.1", "instructions": "Be concise.!", "input": "Hello"});
    let (status, response) = post_json(&url(&server), &[AUTH], &body).await;
    assert_eq!(status, 200);
    assert!(response["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(response["object"], "response");
    assert_eq!(response["status"], "completed");
    assert_eq!(response["model"], "gpt-4.1");
    assert_eq!(response["instructions"], "Be concise.!");
    assert_eq!(response["error"], Value::Null);
    let output = response["output"].as_array().unwrap();
    assert_eq!(output.len(), 1);
    assert_eq!(output[0]["type"], "message");
    assert_eq!(output[0]["role"], "assistant");
    assert_eq!(output[0]["status"], "completed");
    assert!(output[0]["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(
        output[0]["content"],
        json!([{"type": "output_text", "annotations": [], "logprobs": [], "text": DEFAULT_REPLY}])
    );
    assert_eq!(
        response["usage"],
        json!({"input_tokens": 5, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 14})
    );
}

#[tokio::test]
async fn item_input_with_tools_gets_a_function_call() {
    let server = MockServer::start().await;
    let body = json!({
        "model": "gpt-4.1",
        "input": [
            {"role": "developer", "content": "abcd"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "efgh"}]}
        ],
        "tools": [{"type": "web_search"}, {"type": "function", "name": "get_time", "parameters": {}}]
    });
    let (status, response) = post_json(&url(&server), &[AUTH], &body).await;
    assert_eq!(status, 200);
    assert_eq!(response["usage"]["input_tokens"], 2);
    assert_eq!(response["usage"]["output_tokens"], 2);
    let item = &response["output"][0];
    assert_eq!(item["type"], "function_call");
    assert_eq!(item["name"], "get_time");
    assert_eq!(item["arguments"], "{}");
    assert_eq!(item["call_id"], "call_mock1");
    assert_eq!(item["status"], "completed");
    assert_eq!(response["tools"], body["tools"]);

    // Handing the result back gets text.
    let body = json!({
        "model": "gpt-4.1",
        "input": [{"type": "function_call_output", "call_id": "call_mock1", "output": "12:00"}],
        "tools": body["tools"]
    });
    let (_, response) = post_json(&url(&server), &[AUTH], &body).await;
    assert_eq!(response["output"][0]["type"], "message");
}

#[tokio::test]
async fn validation_and_auth_errors() {
    let server = MockServer::start().await;
    let (status, error) = post_json(&url(&server), &[], &json!({"model": "m", "input": "x"})).await;
    assert_eq!(status, 401);
    assert_eq!(error["error"]["code"], "invalid_api_key");
    for body in ["{", "[]", r#"{"input": "x"}"#, r#"{"model": "m", "input": 3}"#] {
        let response = post(&url(&server), &[AUTH], body).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert_eq!(error["error"]["type"], "invalid_request_error");
    }
}

#[tokio::test]
async fn text_stream_follows_the_event_sequence() {
    let server = MockServer::start().await;
    let body = json!({"model": "gpt-4.1", "input": "Hello", "stream": true});
    let response = post(&url(&server), &[AUTH], body.to_string()).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let (events, end) = read_events(response, Duration::from_secs(5)).await;
    assert_eq!(end, End::Clean);
    let words = DEFAULT_REPLY.split_whitespace().count();
    let mut expected =
        vec!["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"];
    expected.extend(std::iter::repeat_n("response.output_text.delta", words));
    expected.extend([
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]);
    let names: Vec<&str> = events.iter().map(|e| e.name().unwrap()).collect();
    assert_eq!(names, expected);
    let data: Vec<Value> = events.iter().map(|e| e.json()).collect();
    for (i, (event, name)) in data.iter().zip(&names).enumerate() {
        assert_eq!(event["type"], *name);
        assert_eq!(event["sequence_number"], i);
    }
    assert_eq!(data[0]["response"]["status"], "in_progress");
    assert_eq!(data[0]["response"]["output"], json!([]));
    assert_eq!(data[0]["response"]["usage"], Value::Null);
    let item_id = data[2]["item"]["id"].clone();
    let text: String = data[4..4 + words]
        .iter()
        .map(|d| {
            assert_eq!(d["item_id"], item_id);
            assert_eq!(d["output_index"], 0);
            assert_eq!(d["content_index"], 0);
            d["delta"].as_str().unwrap()
        })
        .collect();
    assert_eq!(text, DEFAULT_REPLY);
    assert_eq!(data[4 + words]["text"], DEFAULT_REPLY);
    let completed = &data.last().unwrap()["response"];
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["usage"]["input_tokens"], 2);
    assert_eq!(completed["usage"]["output_tokens"], 9);
    assert_eq!(completed["output"][0]["content"][0]["text"], DEFAULT_REPLY);
}

#[tokio::test]
async fn function_call_stream() {
    let server = MockServer::start().await;
    let body = json!({"model": "m", "input": "time?", "stream": true,
        "tools": [{"type": "function", "name": "get_time"}]});
    let response = post(&url(&server), &[AUTH], body.to_string()).await;
    let (events, end) = read_events(response, Duration::from_secs(5)).await;
    assert_eq!(end, End::Clean);
    let names: Vec<&str> = events.iter().map(|e| e.name().unwrap()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let added = events[2].json();
    assert_eq!(added["item"]["type"], "function_call");
    assert_eq!(added["item"]["arguments"], "");
    assert_eq!(added["item"]["name"], "get_time");
    assert_eq!(events[4].json()["arguments"], "{}");
    assert_eq!(events[6].json()["response"]["output"][0]["arguments"], "{}");
}
