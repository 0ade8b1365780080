//! Anthropic Messages, OpenAI Responses and Google Gemini through mintoken, against
//! mintoken-mock over real sockets: credential placement, skill injection, streaming,
//! usage rows (also for a stream the client cuts), and each provider's error envelope.

mod common;

use common::{PROVIDER_KEY, TestApp};
use futures_util::StreamExt;
use mintoken_compress::{Intensity, skill};
use serde_json::{Value, json};

fn full_skill() -> &'static str {
    skill::text(Intensity::Full).unwrap()
}

/// Upstream must never see the mintoken key, in any header, the query or the body.
fn assert_no_mintoken_key(req: &mintoken_mock::RecordedRequest, raw: &str) {
    assert!(req.headers.iter().all(|(n, v)| !v.contains(raw) && n != "x-provider-key"), "{:?}", req.headers);
    assert!(!req.query.clone().unwrap_or_default().contains(raw));
    assert!(!req.body_text().contains(raw));
}

/// An Anthropic-SDK-style request: the mintoken key in `x-api-key`.
fn anthropic(app: &TestApp, path: &str, raw: &str) -> reqwest::RequestBuilder {
    app.http.post(app.url(path)).header("x-api-key", raw).header("x-provider-key", PROVIDER_KEY)
}

fn anthropic_body() -> Value {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 256, "messages": [{"role": "user", "content": "Hello"}]})
}

#[tokio::test]
async fn anthropic_messages_with_the_key_in_x_api_key_or_bearer() {
    let app = TestApp::start().await;
    let (_, key) = app.user_with_key("a@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    let mut body = anthropic_body();
    body["system"] = json!([{"type": "text", "text": "Big context", "cache_control": {"type": "ephemeral"}}]);

    for (header, value) in [("x-api-key", raw.to_owned()), ("authorization", format!("Bearer {raw}"))] {
        let resp = app
            .http
            .post(app.url("/v1/messages"))
            .header(header, &value)
            .header("x-provider-key", PROVIDER_KEY)
            .header("anthropic-beta", "prompt-caching-2024-07-31")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-mintoken-intensity"], "full");
        let answer: Value = resp.json().await.unwrap();
        assert_eq!(answer["content"][0]["text"], mintoken_mock::DEFAULT_REPLY);

        let up = app.mock.last_request().unwrap();
        assert_eq!(up.path, "/v1/messages");
        assert_eq!(up.header("x-api-key"), Some(PROVIDER_KEY));
        assert_eq!(up.header("anthropic-version"), Some("2023-06-01"), "defaulted when absent");
        assert_eq!(up.header("anthropic-beta"), Some("prompt-caching-2024-07-31"));
        assert_eq!(up.header("authorization"), None);
        assert_no_mintoken_key(&up, raw);
        let mut expected = body.clone();
        expected["system"] = json!([{"type": "text", "text": full_skill()}, body["system"][0]]);
        assert_eq!(up.json(), expected);
    }
    // A client's own anthropic-version is kept.
    app.http
        .post(app.url("/v1/messages"))
        .header("x-api-key", raw)
        .header("x-provider-key", PROVIDER_KEY)
        .header("anthropic-version", "2024-01-01")
        .json(&anthropic_body())
        .send()
        .await
        .unwrap();
    assert_eq!(app.mock.last_request().unwrap().header("anthropic-version"), Some("2024-01-01"));

    let rows = app.usage("a@example.com").await;
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter().all(|r| r.provider == "anthropic"
            && r.endpoint == "messages"
            && r.output_tokens == 9
            && r.input_tokens > 0)
    );
}

#[tokio::test]
async fn anthropic_streaming_is_relayed_verbatim_and_metered() {
    let app = TestApp::start().await;
    let (_, key) = app.user_with_key("b@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    let mut body = anthropic_body();
    body["stream"] = json!(true);
    body["system"] = json!("Be brief.");
    let resp = anthropic(&app, "/v1/messages", raw).json(&body).send().await.unwrap();
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let text = resp.text().await.unwrap();
    for event in ["message_start", "content_block_start", "content_block_delta", "message_delta", "message_stop"] {
        assert!(text.contains(&format!("event: {event}\n")), "{event} missing in {text}");
    }
    assert_eq!(app.mock.last_request().unwrap().json()["system"], format!("{}\n\nBe brief.", full_skill()));
    let rows = app.usage("b@example.com").await;
    assert!(rows[0].streamed);
    assert_eq!((rows[0].output_tokens, rows[0].usage_source.as_str()), (9, "upstream"));
    assert!(rows[0].input_tokens > 0);
}

#[tokio::test]
async fn anthropic_count_tokens_is_passed_through_unchanged_and_not_metered() {
    let app = TestApp::start().await;
    let (_, key) = app.user_with_key("c@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    let body = json!({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Count me"}]});
    let resp = anthropic(&app, "/v1/messages/count_tokens", raw).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert!(answer["input_tokens"].as_i64().unwrap() > 0);
    let up = app.mock.last_request().unwrap();
    assert_eq!(up.json(), body, "no skill in a token count");
    assert_eq!(up.header("x-api-key"), Some(PROVIDER_KEY));
    assert!(app.usage("c@example.com").await.is_empty());
}

#[tokio::test]
async fn anthropic_errors_use_anthropics_envelope() {
    let app = TestApp::start().await;
    let (_, key) = app.user_with_key("d@example.com").await;
    let no_key = app.http.post(app.url("/v1/messages")).header("x-provider-key", PROVIDER_KEY).json(&anthropic_body());
    let (status, body) = app.send(no_key).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"type": "error", "error": {"type": "authentication_error", "message": "Missing API key"}, "detail": "Missing API key"})
    );
    let no_provider = app
        .http
        .post(app.url("/v1/messages"))
        .header("x-api-key", key["raw_key"].as_str().unwrap())
        .json(&anthropic_body());
    let (status, body) = app.send(no_provider).await;
    assert_eq!((status, body["error"]["type"].as_str()), (400, Some("invalid_request_error")));
    assert_eq!(body["error"]["message"], "Missing X-Provider-Key header");
}

#[tokio::test]
async fn openai_responses_inject_into_instructions_and_meter_streams() {
    let app = TestApp::start().await;
    let (_, key) = app.user_with_key("e@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    let body = json!({"model": "gpt-4.1-mini", "instructions": "Answer in French.", "input": "Hello"});
    let req = app.http.post(app.url("/v1/responses")).bearer_auth(raw).header("x-provider-key", PROVIDER_KEY);
    let resp = req.json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["object"], "response");
    let up = app.mock.last_request().unwrap();
    assert_eq!(up.path, "/v1/responses");
    assert_eq!(up.header("authorization"), Some(format!("Bearer {PROVIDER_KEY}").as_str()));
    assert_no_mintoken_key(&up, raw);
    assert_eq!(up.json()["instructions"], format!("{}\n\nAnswer in French.", full_skill()));
    assert_eq!(up.json()["input"], "Hello");

    let mut stream_body = json!({"model": "gpt-4.1-mini", "input": "Hello", "stream": true});
    let resp = app
        .http
        .post(app.url("/v1/responses"))
        .bearer_auth(raw)
        .header("x-provider-key", PROVIDER_KEY)
        .json(&stream_body)
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    assert!(text.contains("event: response.completed"));
    assert_eq!(app.mock.last_request().unwrap().json()["instructions"], full_skill());
    stream_body["stream"] = json!(false);

    let rows = app.usage("e@example.com").await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.endpoint == "responses"
        && r.output_tokens == 9
        && r.input_tokens > 0
        && r.usage_source == "upstream"));
    assert!(rows[0].streamed && !rows[1].streamed);
}

#[tokio::test]
async fn gemini_native_paths_take_the_key_from_any_accepted_place() {
    let app = TestApp::start().await;
    let (_, key) = app.user_with_key("f@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
                      "systemInstruction": {"parts": [{"text": "Be kind."}]}, "generationConfig": {"temperature": 0.5}});
    let ways = [
        app.http.post(app.url("/v1beta/models/gemini-2.0-flash:generateContent")).header("x-goog-api-key", raw),
        app.http.post(app.url("/v1/models/gemini-2.0-flash:generateContent")).bearer_auth(raw),
        app.http.post(app.url(&format!("/v1beta/models/gemini-2.0-flash:generateContent?key={raw}"))),
    ];
    for (i, req) in ways.into_iter().enumerate() {
        let resp = req.header("x-provider-key", PROVIDER_KEY).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 200, "way {i}");
        let answer: Value = resp.json().await.unwrap();
        assert_eq!(answer["candidates"][0]["content"]["parts"][0]["text"], mintoken_mock::DEFAULT_REPLY);
        let up = app.mock.last_request().unwrap();
        let version = if i == 1 { "v1" } else { "v1beta" };
        assert_eq!(up.path, format!("/{version}/models/gemini-2.0-flash:generateContent"));
        assert_eq!(up.query.as_deref(), Some(format!("key={PROVIDER_KEY}").as_str()));
        assert_eq!(up.header("x-goog-api-key"), None);
        assert_no_mintoken_key(&up, raw);
        let mut expected = body.clone();
        expected["systemInstruction"]["parts"][0]["text"] = json!(format!("{}\n\nBe kind.", full_skill()));
        assert_eq!(up.json(), expected);
    }
    let rows = app.usage("f@example.com").await;
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.provider == "google"
        && r.model == "gemini-2.0-flash"
        && r.output_tokens == 9
        && r.input_tokens > 0));
}

#[tokio::test]
async fn gemini_body_model_route_and_both_stream_forms() {
    let app = TestApp::start().await;
    let (_, key) = app.user_with_key("g@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    let contents = json!([{"role": "user", "parts": [{"text": "Hello"}]}]);

    let resp = app
        .http
        .post(app.url("/v1/generateContent"))
        .bearer_auth(raw)
        .header("x-provider-key", PROVIDER_KEY)
        .json(&json!({"model": "gemini-2.0-flash", "contents": contents}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let up = app.mock.last_request().unwrap();
    assert_eq!(up.path, "/v1beta/models/gemini-2.0-flash:generateContent");
    assert!(up.json().get("model").is_none(), "model is removed from the body");
    assert_eq!(up.json()["systemInstruction"], json!({"parts": [{"text": full_skill()}]}));

    // SSE (alt=sse) and the streamed JSON array (no alt) are both relayed and metered.
    for query in ["?alt=sse", ""] {
        let url = app.url(&format!("/v1beta/models/gemini-2.0-flash:streamGenerateContent{query}"));
        let resp = app
            .http
            .post(url)
            .header("x-goog-api-key", raw)
            .header("x-provider-key", PROVIDER_KEY)
            .json(&json!({"contents": contents}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let text = resp.text().await.unwrap();
        assert!(text.contains("usageMetadata"), "{text}");
        let up = app.mock.last_request().unwrap();
        let expected_query =
            if query.is_empty() { format!("key={PROVIDER_KEY}") } else { format!("alt=sse&key={PROVIDER_KEY}") };
        assert_eq!(up.query.as_deref(), Some(expected_query.as_str()));
    }
    let rows = app.usage("g@example.com").await;
    assert_eq!(rows.len(), 3);
    for row in &rows {
        assert_eq!((row.output_tokens, row.usage_source.as_str()), (9, "upstream"), "{row:?}");
    }
    assert!(rows[0].streamed && rows[1].streamed && !rows[2].streamed);
}

#[tokio::test]
async fn gemini_errors_use_googles_envelope_and_bad_paths_are_404() {
    let app = TestApp::start().await;
    let (_, key) = app.user_with_key("h@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    let url = app.url("/v1beta/models/gemini-2.0-flash:generateContent");
    let (status, body) =
        app.send(app.http.post(&url).header("x-provider-key", PROVIDER_KEY).json(&json!({"contents": []}))).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], json!({"code": 401, "message": "Missing API key", "status": "UNAUTHENTICATED"}));
    let (status, body) =
        app.send(app.http.post(&url).header("x-goog-api-key", raw).json(&json!({"contents": []}))).await;
    assert_eq!((status, body["error"]["status"].as_str()), (400, Some("INVALID_ARGUMENT")));
    assert_eq!(body["detail"], "Missing X-Provider-Key header");
    let (status, _) =
        app.send(app.http.post(app.url("/v1beta/models/gemini:explode")).header("x-goog-api-key", raw)).await;
    assert_eq!(status, 404);
    let (status, body) = app
        .send(
            app.http
                .post(app.url("/v1/generateContent"))
                .header("x-goog-api-key", raw)
                .header("x-provider-key", PROVIDER_KEY)
                .json(&json!({"model": "../etc", "contents": []})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("not a valid Gemini model id"));
    assert!(app.mock.requests().is_empty());
}

/// Reads a few chunks of a stream, then hangs up; returns once upstream let go.
async fn cut_after(app: &TestApp, resp: reqwest::Response, chunks: usize) {
    let mut stream = resp.bytes_stream();
    for _ in 0..chunks {
        stream.next().await.unwrap().unwrap();
    }
    drop(stream);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while app.mock.open_streams() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(app.mock.open_streams(), 0, "upstream stream cancelled");
}

#[tokio::test]
async fn streams_cut_by_the_client_are_metered_for_every_api() {
    let app = TestApp::start().await;
    let (_, key) = app.user_with_key("i@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    app.mock.set_behavior(mintoken_mock::Behavior { chunk_delay_ms: 150, ..Default::default() });
    let requests = [
        app.http.post(app.url("/v1/chat/completions")).bearer_auth(raw).json(
            &json!({"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "Hello there"}]}),
        ),
        app.http
            .post(app.url("/v1/responses"))
            .bearer_auth(raw)
            .json(&json!({"model": "gpt-4.1", "stream": true, "input": "Hello there"})),
        app.http.post(app.url("/v1/messages")).header("x-api-key", raw).json(&{
            let mut b = anthropic_body();
            b["stream"] = json!(true);
            b
        }),
        app.http
            .post(app.url("/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"))
            .header("x-goog-api-key", raw)
            .json(&json!({"contents": [{"role": "user", "parts": [{"text": "Hello there"}]}]})),
    ];
    // Hang up after a couple of text events (each API opens with its own preamble).
    for (req, chunks) in requests.into_iter().zip([4, 6, 6, 3]) {
        let resp = req.header("x-provider-key", PROVIDER_KEY).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        cut_after(&app, resp, chunks).await;
    }
    let rows = app.usage("i@example.com").await;
    assert_eq!(rows.len(), 4);
    for row in &rows {
        assert_eq!(row.status, 499, "{row:?}");
        assert!(row.input_tokens > 0, "{row:?}");
        assert!(row.output_tokens > 0 && row.output_tokens < 9, "partial output counted: {row:?}");
    }
}
