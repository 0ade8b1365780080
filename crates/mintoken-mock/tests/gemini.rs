//! Google Gemini generateContent, streamGenerateContent and countTokens.

mod common;

use std::time::Duration;

use common::{End, post, post_json, read_events};
use mintoken_mock::{DEFAULT_REPLY, MockServer};
use serde_json::{Value, json};

const KEY: (&str, &str) = ("x-goog-api-key", "AIza-test");

fn url(server: &MockServer, version: &str, action: &str) -> String {
    format!("{}/{version}/models/gemini-2.5-flash:{action}", server.base_url())
}

/// "Be brief." (9) + "Hello" (5) + "there" (5) = 19 chars → 5 prompt tokens.
fn request() -> Value {
    json!({
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "Hello"}, {"text": "there"}]}]
    })
}

#[tokio::test]
async fn generate_content_on_both_versions_and_both_key_styles() {
    let server = MockServer::start().await;
    let by_header = post_json(&url(&server, "v1beta", "generateContent"), &[KEY], &request()).await;
    let by_query = post_json(&format!("{}?key=AIza-q", url(&server, "v1", "generateContent")), &[], &request()).await;
    for (status, response) in [by_header, by_query] {
        assert_eq!(status, 200);
        let id = response["responseId"].as_str().unwrap();
        assert_eq!(
            response,
            json!({
                "candidates": [{
                    "content": {"parts": [{"text": DEFAULT_REPLY}], "role": "model"},
                    "index": 0,
                    "finishReason": "STOP"
                }],
                "usageMetadata": {
                    "promptTokenCount": 5,
                    "candidatesTokenCount": 9,
                    "totalTokenCount": 14,
                    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 5}]
                },
                "modelVersion": "gemini-2.5-flash",
                "responseId": id
            })
        );
    }
    let recorded = server.requests();
    assert_eq!(recorded[0].path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(recorded[1].query.as_deref(), Some("key=AIza-q"));
}

#[tokio::test]
async fn function_declarations_get_a_function_call() {
    let server = MockServer::start().await;
    let mut body = request();
    body["tools"] = json!([{"functionDeclarations": [{"name": "get_weather", "parameters": {}}]}]);
    let (_, response) = post_json(&url(&server, "v1beta", "generateContent"), &[KEY], &body).await;
    assert_eq!(
        response["candidates"][0]["content"]["parts"],
        json!([{"functionCall": {"name": "get_weather", "args": {}}}])
    );
    assert_eq!(response["candidates"][0]["finishReason"], "STOP");
    assert_eq!(response["usageMetadata"]["candidatesTokenCount"], 2);

    body["contents"] = json!([
        {"role": "user", "parts": [{"text": "weather?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"t": 20}}}]}
    ]);
    let (_, response) = post_json(&url(&server, "v1beta", "generateContent"), &[KEY], &body).await;
    assert_eq!(response["candidates"][0]["content"]["parts"][0]["text"], DEFAULT_REPLY);
}

#[tokio::test]
async fn errors_use_the_google_envelope() {
    let server = MockServer::start().await;
    let (status, error) = post_json(&url(&server, "v1beta", "generateContent"), &[], &request()).await;
    assert_eq!(status, 403);
    assert_eq!(error["error"]["code"], 403);
    assert_eq!(error["error"]["status"], "PERMISSION_DENIED");

    for body in ["{bad", "[]", "{}", r#"{"contents": []}"#] {
        let response = post(&url(&server, "v1beta", "generateContent"), &[KEY], body).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert_eq!(error["error"]["code"], 400);
        assert_eq!(error["error"]["status"], "INVALID_ARGUMENT");
    }
    for target in ["gemini-2.5-flash:explode", "gemini-2.5-flash"] {
        let response =
            post(&format!("{}/v1beta/models/{target}", server.base_url()), &[KEY], request().to_string()).await;
        assert_eq!(response.status(), 404, "{target}");
        let error: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert_eq!(error["error"]["status"], "NOT_FOUND");
    }
}

#[tokio::test]
async fn sse_stream_sends_one_response_per_word() {
    let server = MockServer::start().await;
    let response =
        post(&format!("{}?alt=sse", url(&server, "v1beta", "streamGenerateContent")), &[KEY], request().to_string())
            .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let (events, end) = read_events(response, Duration::from_secs(5)).await;
    assert_eq!(end, End::Clean);
    let words = DEFAULT_REPLY.split_whitespace().count();
    assert_eq!(events.len(), words);
    let chunks: Vec<Value> = events.iter().map(|e| e.json()).collect();
    let text: String =
        chunks.iter().map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str().unwrap()).collect();
    assert_eq!(text, DEFAULT_REPLY);
    let (last, others) = chunks.split_last().unwrap();
    for chunk in others {
        assert_eq!(chunk["usageMetadata"]["promptTokenCount"], 5);
        assert!(chunk["usageMetadata"].get("candidatesTokenCount").is_none());
        assert!(chunk["candidates"][0].get("finishReason").is_none());
        assert_eq!(chunk["responseId"], last["responseId"]);
        assert_eq!(chunk["modelVersion"], "gemini-2.5-flash");
    }
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 9);
    assert_eq!(last["usageMetadata"]["totalTokenCount"], 14);
}

#[tokio::test]
async fn stream_without_alt_sse_is_a_json_array() {
    let server = MockServer::start().await;
    let response = post(&url(&server, "v1", "streamGenerateContent"), &[KEY], request().to_string()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let chunks: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    let chunks = chunks.as_array().unwrap();
    assert_eq!(chunks.len(), DEFAULT_REPLY.split_whitespace().count());
    assert_eq!(chunks.last().unwrap()["candidates"][0]["finishReason"], "STOP");
    assert_eq!(server.chunk_log().len(), chunks.len() + 1);
}

#[tokio::test]
async fn function_call_stream_is_a_single_chunk() {
    let server = MockServer::start().await;
    let mut body = request();
    body["tools"] = json!([{"function_declarations": [{"name": "f"}]}]);
    let response =
        post(&format!("{}?alt=sse&key=k", url(&server, "v1beta", "streamGenerateContent")), &[], body.to_string())
            .await;
    let (events, end) = read_events(response, Duration::from_secs(5)).await;
    assert_eq!(end, End::Clean);
    assert_eq!(events.len(), 1);
    let chunk = events[0].json();
    assert_eq!(chunk["candidates"][0]["content"]["parts"][0]["functionCall"]["name"], "f");
    assert_eq!(chunk["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn count_tokens_matches_generation_usage() {
    let server = MockServer::start().await;
    let (status, count) = post_json(&url(&server, "v1beta", "countTokens"), &[KEY], &request()).await;
    assert_eq!(status, 200);
    assert_eq!(count["totalTokens"], 5);
    let wrapped = json!({"generateContentRequest": request()});
    let (_, count) = post_json(&url(&server, "v1beta", "countTokens"), &[KEY], &wrapped).await;
    assert_eq!(count["totalTokens"], 5);
}
