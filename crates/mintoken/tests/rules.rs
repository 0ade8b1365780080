//! Custom rules (`/v1/rules`) and how intensity is resolved on the proxy path:
//! override → rules → classifier (smart detection on and allowed by the plan) → default.

mod common;

use common::{PROVIDER_KEY, TestApp};
use serde_json::{Value, json};

async fn token(app: &TestApp, email: &str) -> String {
    app.signup(email).await["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn rules_are_created_listed_and_deleted_per_user() {
    let app = TestApp::start().await;
    let t = token(&app, "a@example.com").await;
    let (status, rule) = app
        .post_json(
            "/v1/rules",
            Some(&t),
            json!({"rule_type": "never_compress", "pattern": "patient|diagnos", "priority": 10}),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    assert_eq!(
        (rule["rule_type"].as_str(), rule["pattern"].as_str(), rule["priority"].as_i64()),
        (Some("never_compress"), Some("patient|diagnos"), Some(10))
    );
    assert_eq!(rule["effective"], true);
    let (status, planned) =
        app.post_json("/v1/rules", Some(&t), json!({"rule_type": "keep_exact", "pattern": "SKU-\\d+"})).await;
    assert_eq!(status, 201);
    assert_eq!((planned["priority"].as_i64(), planned["effective"].as_bool()), (Some(0), Some(false)));

    let (_, list) = app.send(app.http.get(app.url("/v1/rules")).bearer_auth(&t)).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["id"], rule["id"], "highest priority first");

    let other = token(&app, "b@example.com").await;
    let (_, theirs) = app.send(app.http.get(app.url("/v1/rules")).bearer_auth(&other)).await;
    assert_eq!(theirs, json!([]));
    let url = app.url(&format!("/v1/rules/{}", rule["id"].as_str().unwrap()));
    assert_eq!(app.http.delete(&url).bearer_auth(&other).send().await.unwrap().status(), 404);
    assert_eq!(app.http.delete(&url).bearer_auth(&t).send().await.unwrap().status(), 204);
    assert_eq!(app.http.delete(&url).bearer_auth(&t).send().await.unwrap().status(), 404);
    let (_, list) = app.send(app.http.get(app.url("/v1/rules")).bearer_auth(&t)).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_rules_are_refused_with_the_reason() {
    let app = TestApp::start().await;
    let t = token(&app, "c@example.com").await;
    for (body, status, fragment) in [
        (json!({"rule_type": "never_compress", "pattern": "(unclosed"}), 400, "not a valid regular expression"),
        (
            json!({"rule_type": "sometimes", "pattern": "x"}),
            400,
            "never_compress, always_compress, keep_exact, abbreviation",
        ),
        (json!({"rule_type": "never_compress"}), 400, "`pattern` is required"),
        (
            json!({"rule_type": "never_compress", "pattern": "x", "priority": "high"}),
            422,
            "`priority` must be an integer",
        ),
        (json!({"rule_type": "never_compress", "pattern": "x", "colour": 1}), 422, "unknown field `colour`"),
    ] {
        let (got, answer) = app.post_json("/v1/rules", Some(&t), body.clone()).await;
        assert_eq!(got, status, "{body} → {answer}");
        assert!(answer["detail"].as_str().unwrap().contains(fragment), "{body} → {answer}");
    }
    // The free plan allows 5 rules.
    for i in 0..5 {
        assert_eq!(
            app.post_json("/v1/rules", Some(&t), json!({"rule_type": "always_compress", "pattern": format!("r{i}")}))
                .await
                .0,
            201
        );
    }
    let (status, answer) =
        app.post_json("/v1/rules", Some(&t), json!({"rule_type": "always_compress", "pattern": "r5"})).await;
    assert_eq!(status, 403);
    assert!(answer["detail"].as_str().unwrap().contains("allows 5 custom rules"));
}

/// Sends a chat request and returns (intensity header, system prompt that went upstream).
async fn chat(app: &TestApp, raw: &str, user_text: &str) -> (String, Option<String>) {
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": user_text}]});
    let resp = app.chat(raw, &body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let intensity = resp.headers()["x-mintoken-intensity"].to_str().unwrap().to_owned();
    let sent = app.mock.last_request().unwrap().json();
    let system = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "system")
        .map(|m| m["content"].as_str().unwrap().to_owned());
    (intensity, system)
}

#[tokio::test]
async fn rules_then_classifier_decide_when_smart_detection_is_on() {
    let app = TestApp::start_with("default_plan = \"pro\"\n").await;
    let (t, key) = app.user_with_key("d@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();

    // No rule yet: the classifier decides.
    assert_eq!(
        chat(&app, raw, "We found CVE-2024-3094 in the xz package on our servers. What do we do?").await,
        ("none".to_owned(), None)
    );
    let (intensity, system) = chat(&app, raw, "Explain how a B-tree keeps itself balanced.").await;
    assert_eq!(intensity, "ultra");
    assert!(system.unwrap().starts_with(mintoken_compress::skill::text(mintoken_compress::Intensity::Ultra).unwrap()));

    // A rule takes effect on the very next request, and beats the classifier.
    app.post_json(
        "/v1/rules",
        Some(&t),
        json!({"rule_type": "never_compress", "pattern": "\\bb-tree\\b", "priority": 1}),
    )
    .await;
    assert_eq!(chat(&app, raw, "Explain how a B-tree keeps itself balanced.").await.0, "none");
    app.post_json("/v1/rules", Some(&t), json!({"rule_type": "always_compress", "pattern": "b-tree", "priority": 1}))
        .await;
    assert_eq!(
        chat(&app, raw, "Explain how a B-tree keeps itself balanced.").await.0,
        "none",
        "ties go to never_compress"
    );
    app.post_json("/v1/rules", Some(&t), json!({"rule_type": "always_compress", "pattern": "balanced", "priority": 2}))
        .await;
    assert_eq!(chat(&app, raw, "Explain how a B-tree keeps itself balanced.").await.0, "ultra");

    // An explicit override beats everything.
    let body =
        json!({"model": "m", "messages": [{"role": "user", "content": "Explain how a B-tree keeps itself balanced."}]});
    let resp = app.chat(raw, &body).header("x-mintoken-intensity", "lite").send().await.unwrap();
    assert_eq!(resp.headers()["x-mintoken-intensity"], "lite");

    let reasons: Vec<String> =
        app.usage("d@example.com").await.iter().rev().map(|r| r.intensity_reason.clone()).collect();
    assert_eq!(reasons, ["classifier", "classifier", "rule", "rule", "rule", "override"]);
}

#[tokio::test]
async fn without_smart_detection_the_key_default_applies() {
    let app = TestApp::start_with("default_plan = \"pro\"\n").await;
    let (t, key) = app.user_with_key("e@example.com").await;
    let url = app.url(&format!("/v1/auth/keys/{}", key["id"].as_str().unwrap()));
    app.send(app.http.patch(&url).bearer_auth(&t).json(&json!({"smart_detect_enabled": false, "intensity": "lite"})))
        .await;
    assert_eq!(chat(&app, key["raw_key"].as_str().unwrap(), "Explain TCP slow start.").await.0, "lite");
    assert_eq!(app.usage("e@example.com").await[0].intensity_reason, "default");
}

#[tokio::test]
async fn plans_without_smart_detection_use_the_key_default() {
    let app = TestApp::start().await; // free: no smart detection
    let (_, key) = app.user_with_key("f@example.com").await;
    assert_eq!(key["smart_detect_enabled"], Value::Bool(true));
    assert_eq!(chat(&app, key["raw_key"].as_str().unwrap(), "We found CVE-2024-3094, help").await.0, "full");
    let _ = PROVIDER_KEY;
}
