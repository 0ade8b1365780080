//! Requests are recorded exactly as received, in order; control routes are not.

mod common;

use common::{client, post};
use mintoken_mock::MockServer;
use serde_json::json;

#[tokio::test]
async fn records_method_path_query_headers_and_raw_body() {
    let server = MockServer::start().await;
    let body = "{\"model\": \"m\",  \"messages\": [{\"role\": \"user\", \"content\": \"héllo\"}]}";
    let response = client()
        .post(format!("{}/v1/chat/completions?trace=1&x=a%20b", server.base_url()))
        .header("Authorization", "Bearer sk-abc")
        .header("X-Custom", "One")
        .header("x-multi", "a")
        .header("x-multi", "b")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.query.as_deref(), Some("trace=1&x=a%20b"));
    assert_eq!(r.body, body.as_bytes());
    assert_eq!(r.header("authorization"), Some("Bearer sk-abc"));
    assert_eq!(r.header("AUTHORIZATION"), Some("Bearer sk-abc"));
    assert_eq!(r.header("x-custom"), Some("One"));
    assert_eq!(r.header("x-provider-key"), None);
    assert!(r.headers.iter().all(|(n, _)| n == &n.to_lowercase()));
    let multi: Vec<&str> = r.headers.iter().filter(|(n, _)| n == "x-multi").map(|(_, v)| v.as_str()).collect();
    assert_eq!(multi, ["a", "b"]);
    assert_eq!(r.json()["messages"][0]["content"], "héllo");
    assert_eq!(server.last_request().as_ref(), Some(r));
}

#[tokio::test]
async fn records_everything_in_order_even_rejections() {
    let server = MockServer::start().await;
    let base = server.base_url();
    let _ = post(&format!("{base}/v1/chat/completions"), &[], "not json").await;
    let unknown = post(&format!("{base}/v2/whatever"), &[], "x").await;
    assert_eq!(unknown.status(), 404);
    let error: serde_json::Value = serde_json::from_str(&unknown.text().await.unwrap()).unwrap();
    assert_eq!(error["error"]["code"], "unknown_url");
    let wrong_method = client().get(format!("{base}/v1/chat/completions")).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    // Control routes are not recorded.
    let _ = client().get(format!("{base}/_mock/requests")).send().await.unwrap();

    let requests = server.requests();
    let seen: Vec<(&str, &str)> = requests.iter().map(|r| (r.method.as_str(), r.path.as_str())).collect();
    assert_eq!(seen, [("POST", "/v1/chat/completions"), ("POST", "/v2/whatever"), ("GET", "/v1/chat/completions")]);
    assert_eq!(requests[0].json(), serde_json::Value::Null);
    assert_eq!(requests[0].query, None);

    server.clear();
    assert!(server.requests().is_empty());
    assert!(server.last_request().is_none());
}

#[tokio::test]
async fn large_bodies_are_recorded_whole() {
    let server = MockServer::start().await;
    let content = "word ".repeat(1_000_000); // 5 MB, above axum's default limit
    let body = json!({"model": "m", "messages": [{"role": "user", "content": content}]}).to_string();
    let response =
        post(&format!("{}/v1/chat/completions", server.base_url()), &[("authorization", "Bearer k")], body.clone())
            .await;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(answer["usage"]["prompt_tokens"], 1_250_000);
    assert_eq!(server.last_request().unwrap().body.len(), body.len());
}

#[tokio::test]
async fn recording_off_answers_the_same_and_logs_nothing() {
    let server = MockServer::start().await;
    server.set_recording(false);
    let url = format!("{}/v1/chat/completions", server.base_url());
    let body = json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let response = post(&url, &[("authorization", "Bearer k")], body).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().ends_with("data: [DONE]\n\n"));
    assert!(server.requests().is_empty());
    assert!(server.chunk_log().is_empty());

    // Switched back on, recording resumes from an empty log.
    server.set_recording(true);
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    assert_eq!(post(&url, &[("authorization", "Bearer k")], body).await.status(), 200);
    assert_eq!(server.requests().len(), 1);
}
