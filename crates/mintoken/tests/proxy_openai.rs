//! The OpenAI chat-completions proxy against mintoken-mock over real sockets.

mod common;

use common::{PROVIDER_KEY, TestApp, chat_body};
use futures_util::StreamExt;
use mintoken_compress::{Intensity, skill};
use mintoken_mock::Fault;
use serde_json::{Value, json};

#[tokio::test]
async fn non_streaming_request_reaches_upstream_with_the_skill_and_comes_back_unchanged() {
    let app = TestApp::start().await;
    let (_, key) = app.user_with_key("a@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    let body = json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"}],
        "temperature": 0.25, "seed": 12345678901234567890u64, "custom_field": {"kept": ["as", "is"]}
    });
    let resp = app
        .http
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(raw)
        .header("x-provider-key", PROVIDER_KEY)
        .header("openai-organization", "org-kept")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();

    let upstream = app.mock.last_request().unwrap();
    assert_eq!(upstream.path, "/v1/chat/completions");
    assert_eq!(upstream.header("authorization"), Some(format!("Bearer {PROVIDER_KEY}").as_str()));
    assert_eq!(upstream.header("x-provider-key"), None);
    assert_eq!(upstream.header("openai-organization"), Some("org-kept"));
    assert!(upstream.headers.iter().all(|(_, v)| !v.contains(raw)), "the mintoken key never goes upstream");
    assert!(!String::from_utf8_lossy(&upstream.body).contains(raw));

    // Only the system message changed; everything else arrived as sent.
    let mut expected = body.clone();
    expected["messages"][0]["content"] = json!(format!("{}\n\nYou are terse.", skill::text(Intensity::Full).unwrap()));
    assert_eq!(upstream.json(), expected);
    assert!(String::from_utf8_lossy(&upstream.body).contains("12345678901234567890"), "big integers keep their digits");

    // The client gets exactly what the upstream answered.
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["choices"][0]["message"]["content"], mintoken_mock::DEFAULT_REPLY);
    assert_eq!(headers["x-mintoken-intensity"], "full");
    assert!(headers["x-mintoken-duration-ms"].to_str().unwrap().parse::<u64>().is_ok());
    assert!(headers["x-request-id"].to_str().unwrap().starts_with("req_"));

    let usage = app.usage("a@example.com").await;
    assert_eq!(usage.len(), 1);
    let row = &usage[0];
    assert_eq!(
        (row.provider.as_str(), row.endpoint.as_str(), row.model.as_str()),
        ("openai", "chat.completions", "gpt-4o-mini")
    );
    assert_eq!(row.input_tokens, answer["usage"]["prompt_tokens"].as_i64().unwrap());
    assert_eq!(row.output_tokens, answer["usage"]["completion_tokens"].as_i64().unwrap());
    assert!(row.input_tokens > 0 && row.output_tokens > 0);
    assert_eq!((row.status, row.streamed, row.usage_source.as_str()), (200, false, "upstream"));
    assert_eq!((row.intensity.as_str(), row.intensity_reason.as_str()), ("full", "default"));
    assert!(row.skill_tokens > 0);
    assert_eq!(row.request_id, headers["x-request-id"].to_str().unwrap());

    // last_used_at is kept current.
    let (_, keys) = app
        .send(
            app.http.get(app.url("/v1/auth/keys")).bearer_auth(
                app.post_json(
                    "/v1/auth/login",
                    None,
                    json!({"email":"a@example.com","password":"correct horse battery"}),
                )
                .await
                .1["access_token"]
                    .as_str()
                    .unwrap(),
            ),
        )
        .await;
    assert!(keys[0]["last_used_at"].is_string());
}

#[tokio::test]
async fn a_system_message_is_inserted_when_there_is_none_and_none_intensity_injects_nothing() {
    let app = TestApp::start().await;
    let (_, key) = app.user_with_key("b@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    app.chat(raw, &chat_body()).send().await.unwrap();
    let sent = app.mock.last_request().unwrap().json();
    assert_eq!(sent["messages"][0], json!({"role": "system", "content": skill::text(Intensity::Full).unwrap()}));
    assert_eq!(sent["messages"][1], chat_body()["messages"][0]);

    let resp = app.chat(raw, &chat_body()).header("x-mintoken-intensity", "none").send().await.unwrap();
    assert_eq!(resp.headers()["x-mintoken-intensity"], "none");
    assert_eq!(app.mock.last_request().unwrap().json(), chat_body(), "nothing injected for none");
}

#[tokio::test]
async fn intensity_override_from_header_or_query_and_invalid_values_are_refused() {
    let app = TestApp::start().await;
    let (_, key) = app.user_with_key("c@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();

    let resp = app.chat(raw, &chat_body()).header("x-mintoken-intensity", "ULTRA").send().await.unwrap();
    assert_eq!(resp.headers()["x-mintoken-intensity"], "ultra");
    assert_eq!(
        app.mock.last_request().unwrap().json()["messages"][0]["content"],
        skill::text(Intensity::Ultra).unwrap()
    );

    let resp = app
        .http
        .post(app.url("/v1/chat/completions?intensity=lite"))
        .bearer_auth(raw)
        .header("x-provider-key", PROVIDER_KEY)
        .json(&chat_body())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-mintoken-intensity"], "lite");
    let upstream = app.mock.last_request().unwrap();
    assert_eq!(upstream.query, None, "mintoken's own query parameter is not forwarded");

    let (status, body) = app.send(app.chat(raw, &chat_body()).header("x-mintoken-intensity", "max")).await;
    assert_eq!(status, 400);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("lite, full, ultra, none"), "{message}");
    assert_eq!(body["detail"], body["error"]["message"]);

    let rows = app.usage("c@example.com").await;
    assert_eq!(rows[0].intensity_reason, "override");
}

/// Reads a streamed response as the events the client received.
async fn read_events(resp: reqwest::Response) -> Vec<String> {
    let text = resp.text().await.unwrap();
    text.split("\n\n").filter(|e| !e.is_empty()).map(str::to_owned).collect()
}

#[tokio::test]
async fn streaming_relays_the_stream_the_client_asked_for_and_meters_it() {
    let app = TestApp::start().await;
    let (_, key) = app.user_with_key("d@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    let mut body = chat_body();
    body["stream"] = json!(true);

    let resp = app.chat(raw, &body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    assert_eq!(resp.headers()["x-mintoken-intensity"], "full");
    let events = read_events(resp).await;

    // Upstream was asked for usage…
    let sent = app.mock.last_request().unwrap().json();
    assert_eq!(sent["stream_options"]["include_usage"], true);
    // …but the client sees no usage chunk and no `usage` member: the stream it asked for.
    assert_eq!(events.last().unwrap(), "data: [DONE]");
    let chunks: Vec<Value> = events
        .iter()
        .filter(|e| *e != "data: [DONE]")
        .map(|e| serde_json::from_str(&e["data: ".len()..]).unwrap())
        .collect();
    assert!(chunks.iter().all(|c| c.get("usage").is_none()), "{chunks:?}");
    assert!(chunks.iter().all(|c| !c["choices"].as_array().unwrap().is_empty()));
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, mintoken_mock::DEFAULT_REPLY);

    let rows = app.usage("d@example.com").await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].streamed);
    assert_eq!(rows[0].usage_source, "upstream");
    assert_eq!(rows[0].output_tokens, mintoken_mock::DEFAULT_REPLY.split_whitespace().count() as i64);
    assert!(rows[0].input_tokens > 0);
}

#[tokio::test]
async fn streaming_with_include_usage_from_the_client_relays_the_usage_chunk() {
    let app = TestApp::start().await;
    let (_, key) = app.user_with_key("e@example.com").await;
    let mut body = chat_body();
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let resp = app.chat(key["raw_key"].as_str().unwrap(), &body).send().await.unwrap();
    let events = read_events(resp).await;
    let usage_chunk: Value = serde_json::from_str(&events[events.len() - 2]["data: ".len()..]).unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert!(usage_chunk["usage"]["completion_tokens"].as_i64().unwrap() > 0);
    assert_eq!(app.mock.last_request().unwrap().json()["stream_options"], json!({"include_usage": true}));
    assert_eq!(
        app.usage("e@example.com").await[0].output_tokens,
        usage_chunk["usage"]["completion_tokens"].as_i64().unwrap()
    );
}

#[tokio::test]
async fn streamed_events_are_relayed_as_they_arrive() {
    let app = TestApp::start().await;
    let (_, key) = app.user_with_key("f@example.com").await;
    app.mock.set_behavior(mintoken_mock::Behavior { chunk_delay_ms: 30, ..Default::default() });
    let mut body = chat_body();
    body["stream"] = json!(true);
    // Asked for by the client, the usage chunk is relayed and no event is rewritten.
    body["stream_options"] = json!({"include_usage": true});
    let resp = app.chat(key["raw_key"].as_str().unwrap(), &body).send().await.unwrap();
    // What the client has received, and when each piece came.
    let mut received = Vec::new();
    let mut arrivals = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        received.extend_from_slice(&chunk.unwrap());
        arrivals.push((std::time::Instant::now(), received.len()));
    }
    // Every event reached the client before the mock sent the next one: nothing is held
    // back to be sent together.
    let log = app.mock.chunk_log();
    assert!(log.len() >= 10, "{} events", log.len());
    let mut from = 0;
    for pair in log.windows(2) {
        let event = &pair[0].data[..];
        let at = received[from..].windows(event.len()).position(|w| w == event).expect("every event relayed as sent");
        from += at + event.len();
        let (arrived, _) = arrivals.iter().find(|(_, len)| *len >= from).unwrap();
        assert!(*arrived < pair[1].at, "event {} reached the client after the mock sent the next", pair[0].event_index);
    }
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_stream_cancels_upstream_and_is_still_metered() {
    let app = TestApp::start().await;
    let (_, key) = app.user_with_key("g@example.com").await;
    app.mock.set_behavior(mintoken_mock::Behavior { chunk_delay_ms: 200, ..Default::default() });
    let mut body = chat_body();
    body["stream"] = json!(true);
    let resp = app.chat(key["raw_key"].as_str().unwrap(), &body).send().await.unwrap();
    let mut stream = resp.bytes_stream();
    let mut received = Vec::new();
    while received.len() < 3 {
        received.push(stream.next().await.unwrap().unwrap());
    }
    drop(stream);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while app.mock.open_streams() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(app.mock.open_streams(), 0, "the upstream stream was cancelled");
    let rows = app.usage("g@example.com").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, 499);
    assert_eq!(rows[0].usage_source, "counted");
    assert!(rows[0].output_tokens > 0 && rows[0].input_tokens > 0, "{:?}", rows[0]);
}

#[tokio::test]
async fn every_auth_error_of_the_seed_has_its_status_and_exact_message() {
    let app = TestApp::start_with("[plans.free]\nmonthly_output_tokens = 5\n").await;
    let (_, key) = app.user_with_key("h@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    let url = app.url("/v1/chat/completions");
    let cases = [
        (app.http.post(&url).header("x-provider-key", PROVIDER_KEY).json(&chat_body()), 401, "Missing API key"),
        (
            app.http
                .post(&url)
                .bearer_auth("sk-proj-wrong-kind")
                .header("x-provider-key", PROVIDER_KEY)
                .json(&chat_body()),
            401,
            "Invalid API key",
        ),
        (
            app.http
                .post(&url)
                .bearer_auth(format!("mt_live_{}", "A".repeat(40)))
                .header("x-provider-key", PROVIDER_KEY)
                .json(&chat_body()),
            401,
            "Invalid API key",
        ),
        (app.http.post(&url).bearer_auth(raw).json(&chat_body()), 400, "Missing X-Provider-Key header"),
    ];
    for (req, status, message) in cases {
        let (got, body) = app.send(req).await;
        assert_eq!((got, body["error"]["message"].as_str().unwrap()), (status, message), "{body}");
        assert_eq!(body["detail"], message);
    }
    assert!(app.mock.requests().is_empty(), "refused requests never reach the upstream");

    // The free plan here allows 5 output tokens a month; the first answer uses 9.
    assert_eq!(app.chat(raw, &chat_body()).send().await.unwrap().status(), 200);
    let resp = app.chat(raw, &chat_body()).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["x-mintoken-tokens-used"], "9");
    assert_eq!(resp.headers()["x-mintoken-tokens-limit"], "5");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["message"], "token quota exceeded");
    assert_eq!(body["detail"], "token quota exceeded");
    assert_eq!(app.mock.requests().len(), 1);
}

#[tokio::test]
async fn usage_near_the_quota_is_reported_in_a_header() {
    let app = TestApp::start_with("[plans.free]\nmonthly_output_tokens = 20\n").await;
    let (_, key) = app.user_with_key("i@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    let first = app.chat(raw, &chat_body()).send().await.unwrap();
    assert!(first.headers().get("x-mintoken-tokens-used").is_none(), "9 of 20 is under 80 %");
    let second = app.chat(raw, &chat_body()).send().await.unwrap();
    assert_eq!(second.headers()["x-mintoken-tokens-used"], "18");
}

#[tokio::test]
async fn bad_requests_get_clear_errors_in_the_openai_envelope() {
    let app = TestApp::start().await; // free plan: 100 KB bodies
    let (_, key) = app.user_with_key("j@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    let post = |body: String| {
        app.http
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(raw)
            .header("x-provider-key", PROVIDER_KEY)
            .header("content-type", "application/json")
            .body(body)
    };
    let big = json!({"model": "m", "messages": [{"role": "user", "content": "x".repeat(150_000)}]}).to_string();
    let cases = [
        (post("{\"model\": ".into()), 400, "malformed JSON"),
        (post("[1, 2]".into()), 400, "must be a JSON object"),
        (post("".into()), 400, "empty"),
        (post(json!({"messages": []}).to_string()), 400, "`model` is required"),
        (post(json!({"model": "m"}).to_string()), 400, "`messages` is required"),
        (post(json!({"model": "m", "messages": "hi"}).to_string()), 400, "`messages` must be an array"),
        (post(big), 413, "limit of the free plan"),
    ];
    for (req, status, fragment) in cases {
        let (got, body) = app.send(req).await;
        assert_eq!(got, status, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(fragment), "{body}");
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }
    let (status, body) = app.send(app.http.get(app.url("/v1/nope"))).await;
    assert_eq!(status, 404);
    assert!(body["detail"].as_str().unwrap().contains("GET /v1/nope"));
    let (status, body) = app.send(app.http.get(app.url("/v1/chat/completions"))).await;
    assert_eq!(status, 405);
    assert!(body["detail"].as_str().unwrap().contains("GET is not allowed"));
}

#[tokio::test]
async fn upstream_errors_are_relayed_and_failures_classified() {
    let app = TestApp::start().await;
    let (_, key) = app.user_with_key("k@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();

    let upstream_error =
        r#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
    app.mock.set_behavior(mintoken_mock::Behavior {
        fault: Some(Fault::Status { status: 429, body: upstream_error.into(), retry_after: Some("7".into()) }),
        ..Default::default()
    });
    let resp = app.chat(raw, &chat_body()).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    assert_eq!(resp.text().await.unwrap(), upstream_error);

    app.mock.set_behavior(mintoken_mock::Behavior { first_byte_delay_ms: 6_000, ..Default::default() });
    let (status, body) = app.send(app.chat(raw, &chat_body())).await;
    assert_eq!(status, 504, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("did not answer within 5 s"));

    app.mock.set_behavior(mintoken_mock::Behavior {
        fault: Some(Fault::DropAfterEvents { events: 0 }),
        ..Default::default()
    });
    let (status, _) = app.send(app.chat(raw, &chat_body())).await;
    assert_eq!(status, 502);

    let rows = app.usage("k@example.com").await;
    let statuses: Vec<i64> = rows.iter().rev().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 504, 502]);
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener); // nothing listens there now
    let app = TestApp::start_full("", Some(dead)).await;
    let (_, key) = app.user_with_key("l@example.com").await;
    let (status, body) = app.send(app.chat(key["raw_key"].as_str().unwrap(), &chat_body())).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["message"], "could not connect to the upstream provider");
}
