//! `GET /openapi.json`: served without credentials, and every operation it lists is one
//! the router answers (and the other way round: every management operation is listed).

mod common;

use common::TestApp;
use serde_json::Value;

#[tokio::test]
async fn the_document_lists_exactly_the_routes_the_server_answers() {
    let app = TestApp::start().await;
    let resp = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    assert_eq!(doc["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
    assert!(doc["components"]["schemas"]["ErrorBody"]["properties"]["detail"].is_object());
    // The configured plans are the ones an administrator may set.
    assert_eq!(
        doc["components"]["schemas"]["SetPlanRequest"]["properties"]["plan"]["enum"],
        serde_json::json!(["enterprise", "free", "pro", "team"])
    );

    let mut listed = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            listed.push(format!("{} {path}", method.to_uppercase()));
            // Every operation documents its errors in the envelope, 5xx included.
            let responses = op["responses"].as_object().unwrap();
            if path != "/openapi.json" {
                assert!(responses.contains_key("500") && responses.contains_key("503"), "{method} {path}");
            }
            if op["security"].as_array().unwrap().is_empty() {
                assert!(!responses.contains_key("401") || path == "/v1/auth/login" || path == "/v1/auth/refresh");
            } else {
                assert!(responses.contains_key("401"), "{method} {path}");
            }
            // The router answers it: not the fallback's 404, not 405.
            let concrete = path.replace("{id}", "x").replace("{email}", "a@b.co");
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let resp = app.http.request(method.clone(), app.url(&concrete)).send().await.unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            let detail = body["detail"].as_str().unwrap_or("");
            assert!(status != 405 && !detail.starts_with("no route for"), "{method} {path}: {status} {body}");
        }
    }
    let mut expected: Vec<String> =
        mintoken::api::operations().iter().map(|op| format!("{} {}", op.method, op.path)).collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
    // Every management route of SPEC §5–§7 is there.
    for route in [
        "POST /v1/auth/signup",
        "POST /v1/auth/login",
        "POST /v1/auth/refresh",
        "POST /v1/auth/logout",
        "POST /v1/auth/keys",
        "GET /v1/auth/keys",
        "GET /v1/auth/keys/{id}",
        "PATCH /v1/auth/keys/{id}",
        "DELETE /v1/auth/keys/{id}",
        "GET /v1/analytics/summary",
        "GET /v1/analytics/timeseries",
        "GET /v1/analytics/by-key",
        "GET /v1/analytics/savings",
    ] {
        assert!(listed.contains(&route.to_owned()), "{route} missing");
    }
}
