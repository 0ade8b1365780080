//! Control routes over HTTP, and the standalone binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{client, post, post_json};
use mintoken_mock::{Behavior, Fault, MockServer};
use serde_json::{Value, json};

#[tokio::test]
async fn behavior_can_be_set_over_http() {
    let server = MockServer::start().await;
    let base = server.base_url();
    let (status, _) =
        post_json(&format!("{base}/_mock/behavior"), &[], &json!({"reply_text": "from python", "chunk_delay_ms": 5}))
            .await;
    assert_eq!(status, 200);
    assert_eq!(server.behavior().reply_text.as_deref(), Some("from python"));
    assert_eq!(server.behavior().chunk_delay_ms, 5);
    let (_, answer) = post_json(
        &format!("{base}/v1/chat/completions"),
        &[("authorization", "Bearer k")],
        &json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(answer["choices"][0]["message"]["content"], "from python");

    let (status, _) = post_json(
        &format!("{base}/_mock/behavior"),
        &[],
        &json!({"fault": {"kind": "status", "status": 503, "body": "{\"e\":1}", "retry_after": "2"}}),
    )
    .await;
    assert_eq!(status, 200);
    let response = post(&format!("{base}/v1/chat/completions"), &[], "{}").await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "2");

    let current: Value = client()
        .get(format!("{base}/_mock/behavior"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    assert_eq!(current["fault"]["kind"], "status");
    assert_eq!(current["reply_text"], Value::Null);
}

#[tokio::test]
async fn invalid_behaviors_are_rejected() {
    let server = MockServer::start().await;
    let url = format!("{}/_mock/behavior", server.base_url());
    for bad in [
        "nope",
        r#"{"fault": {"kind": "explode"}}"#,
        r#"{"fault": {"kind": "status", "status": 42, "body": ""}}"#,
        r#"{"chunk_delay_ms": -1}"#,
    ] {
        let response = post(&url, &[], bad).await;
        assert_eq!(response.status(), 400, "{bad}");
    }
    assert_eq!(server.behavior(), Behavior::default());
}

#[tokio::test]
async fn requests_can_be_listed_and_cleared_over_http() {
    let server = MockServer::start().await;
    let base = server.base_url();
    let _ = post(
        &format!("{base}/v1/chat/completions?q=1"),
        &[("authorization", "Bearer sk-1"), ("x-extra", "yes")],
        r#"{"model": "m", "messages": [{"role": "user", "content": "hi"}]}"#,
    )
    .await;
    let listed: Value = serde_json::from_str(
        &client().get(format!("{base}/_mock/requests")).send().await.unwrap().text().await.unwrap(),
    )
    .unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["method"], "POST");
    assert_eq!(listed[0]["path"], "/v1/chat/completions");
    assert_eq!(listed[0]["query"], "q=1");
    assert_eq!(listed[0]["body"], r#"{"model": "m", "messages": [{"role": "user", "content": "hi"}]}"#);
    assert!(listed[0]["headers"].as_array().unwrap().contains(&json!(["x-extra", "yes"])));

    let response = client().delete(format!("{base}/_mock/requests")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(server.requests().is_empty());
}

#[test]
fn behavior_json_round_trips() {
    let behavior = Behavior {
        first_byte_delay_ms: 1,
        chunk_delay_ms: 2,
        reply_text: Some("x".into()),
        fault: Some(Fault::StallAfterEvents { events: 3 }),
        output_tokens_with_skill: Some(4),
        output_tokens_without_skill: Some(9),
        skill_marker: Some("marker".into()),
        gzip: true,
    };
    let text = serde_json::to_string(&behavior).unwrap();
    assert!(text.contains(r#""fault":{"kind":"stall_after_events","events":3}"#), "{text}");
    assert_eq!(serde_json::from_str::<Behavior>(&text).unwrap(), behavior);
    let partial: Behavior = serde_json::from_str(r#"{"fault": {"kind": "malformed_json"}}"#).unwrap();
    assert_eq!(partial.fault, Some(Fault::MalformedJson));
    let status: Behavior =
        serde_json::from_str(r#"{"fault": {"kind": "status", "status": 502, "body": "x"}}"#).unwrap();
    assert!(matches!(status.fault, Some(Fault::Status { retry_after: None, .. })));
}

#[tokio::test]
async fn binary_listens_prints_its_url_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mintoken-mock"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn mintoken-mock");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .unwrap()
    .unwrap();
    let url = line
        .trim()
        .strip_prefix("mintoken-mock listening on ")
        .unwrap_or_else(|| panic!("unexpected banner {line:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let (status, _) = post_json(
        &format!("{url}/v1/chat/completions"),
        &[("authorization", "Bearer k")],
        &json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, 200);

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let exit = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(exit.success(), "{exit:?}");
}

/// With `output_tokens_with_skill` / `_without_skill`, every API reports (and streams)
/// the configured number of output tokens, depending on the skill marker.
#[tokio::test]
async fn answers_are_shorter_when_the_skill_marker_is_present() {
    let server = MockServer::start().await;
    let base = server.base_url();
    let (status, _) = post_json(
        &format!("{base}/_mock/behavior"),
        &[],
        &json!({"output_tokens_with_skill": 6, "output_tokens_without_skill": 25}),
    )
    .await;
    assert_eq!(status, 200);
    let skill = format!("Be brief. {}. Thanks.", mintoken_mock::SKILL_MARKER);
    for (system, expected) in [(skill.as_str(), 6), ("You are helpful.", 25)] {
        let (_, chat) = post_json(
            &format!("{base}/v1/chat/completions"),
            &[("authorization", "Bearer k")],
            &json!({"model": "m", "messages": [{"role": "system", "content": system}, {"role": "user", "content": "hi"}]}),
        )
        .await;
        assert_eq!(chat["usage"]["completion_tokens"], expected);
        let text = chat["choices"][0]["message"]["content"].as_str().unwrap();
        assert_eq!(text.split_whitespace().count(), expected);

        let (_, msg) = post_json(
            &format!("{base}/v1/messages"),
            &[("x-api-key", "k")],
            &json!({"model": "m", "max_tokens": 9, "system": system, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
        assert_eq!(msg["usage"]["output_tokens"], expected);

        let (_, gem) = post_json(
            &format!("{base}/v1beta/models/g:generateContent"),
            &[("x-goog-api-key", "k")],
            &json!({"systemInstruction": {"parts": [{"text": system}]}, "contents": [{"parts": [{"text": "hi"}]}]}),
        )
        .await;
        assert_eq!(gem["usageMetadata"]["candidatesTokenCount"], expected);

        let (_, resp) = post_json(
            &format!("{base}/v1/responses"),
            &[("authorization", "Bearer k")],
            &json!({"model": "m", "instructions": system, "input": "hi"}),
        )
        .await;
        assert_eq!(resp["usage"]["output_tokens"], expected);
    }
    // Unset: the configured reply, whatever the request holds.
    server.set_behavior(Behavior::default());
    let (_, chat) = post_json(
        &format!("{base}/v1/chat/completions"),
        &[("authorization", "Bearer k")],
        &json!({"model": "m", "messages": [{"role": "system", "content": skill}, {"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(chat["choices"][0]["message"]["content"], mintoken_mock::DEFAULT_REPLY);
}

/// The fake Razorpay: Basic auth against its key pair, a Razorpay-shaped order, the
/// order remembered, and the faults set over HTTP.
#[tokio::test]
async fn fake_razorpay_creates_orders_and_refuses_on_demand() {
    use base64::Engine;
    let server = MockServer::start().await;
    let base = server.base_url();
    let basic = |id: &str, secret: &str| {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
    };
    let good = basic(mintoken_mock::RAZORPAY_KEY_ID, mintoken_mock::RAZORPAY_KEY_SECRET);
    let order = json!({"amount": 49900, "currency": "INR", "receipt": "r1", "notes": {"plan": "pro"}});
    let (status, answer) = post_json(&format!("{base}/v1/orders"), &[("authorization", &good)], &order).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["id"].as_str().unwrap().starts_with("order_"), "{answer}");
    assert_eq!((answer["entity"].as_str(), answer["status"].as_str()), (Some("order"), Some("created")));
    assert_eq!((answer["amount"].as_u64(), answer["amount_due"].as_u64()), (Some(49900), Some(49900)));
    assert_eq!(answer["receipt"], "r1");
    assert_eq!(answer["notes"]["plan"], "pro");
    assert_eq!(server.razorpay_orders(), vec![answer.clone()]);
    assert_eq!(server.last_request().unwrap().header("authorization"), Some(good.as_str()));

    let wrong = basic(mintoken_mock::RAZORPAY_KEY_ID, "nope");
    let (status, answer) = post_json(&format!("{base}/v1/orders"), &[("authorization", &wrong)], &order).await;
    assert_eq!(status, 401);
    assert_eq!(answer["error"]["description"], "Authentication failed");
    let (status, _) = post_json(&format!("{base}/v1/orders"), &[], &order).await;
    assert_eq!(status, 401);
    let (status, answer) =
        post_json(&format!("{base}/v1/orders"), &[("authorization", &good)], &json!({"amount": 5, "currency": "INR"}))
            .await;
    assert_eq!(status, 400, "{answer}");

    let (status, _) = post_json(
        &format!("{base}/_mock/razorpay"),
        &[],
        &json!({"key_id": "rzp_test_other", "key_secret": "s3cret", "refuse_status": 500}),
    )
    .await;
    assert_eq!(status, 200);
    let other = basic("rzp_test_other", "s3cret");
    let (status, _) = post_json(&format!("{base}/v1/orders"), &[("authorization", &other)], &order).await;
    assert_eq!(status, 500);
    let (status, _) =
        post_json(&format!("{base}/_mock/razorpay"), &[], &json!({"key_id": "rzp_test_other", "key_secret": "s3cret"}))
            .await;
    assert_eq!(status, 200);
    let (status, answer) = post_json(&format!("{base}/v1/orders"), &[("authorization", &other)], &order).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(server.razorpay_orders().len(), 2);
    let (status, _) = post_json(&format!("{base}/_mock/razorpay"), &[], &json!({"refuse_status": 1000})).await;
    assert_eq!(status, 400);
}
