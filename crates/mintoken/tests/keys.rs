//! `/v1/auth/keys`: the contract of SPEC §5.

mod common;

use common::{TestApp, chat_body};
use serde_json::json;

#[tokio::test]
async fn create_returns_201_with_defaults_and_the_raw_key_once() {
    let app = TestApp::start().await;
    let token = app.signup("a@example.com").await["access_token"].as_str().unwrap().to_owned();
    let (status, key) = app.post_json("/v1/auth/keys", Some(&token), json!({})).await;
    assert_eq!(status, 201, "{key}");
    let raw = key["raw_key"].as_str().unwrap();
    assert!(raw.starts_with("mt_live_") && raw.len() >= 40);
    assert_eq!(key["key_prefix"], &raw[..12]);
    assert_eq!(key["name"], "Default");
    assert_eq!(key["intensity"], "full");
    assert_eq!(key["auto_compress_input"], false);
    assert_eq!(key["smart_detect_enabled"], true);
    assert_eq!(key["context_compress"], false);
    assert_eq!(key["context_compress_level"], "standard");
    assert_eq!(key["is_active"], true);
    assert!(key["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(key["last_used_at"].is_null());
    for field in ["id", "key_prefix", "name", "intensity", "is_active", "created_at", "last_used_at"] {
        assert!(key.get(field).is_some(), "missing {field}");
    }

    let (status, list) = app.send(app.http.get(app.url("/v1/auth/keys")).bearer_auth(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0].get("raw_key").is_none(), "the raw key is never shown again");
    let (status, one) = app
        .send(app.http.get(app.url(&format!("/v1/auth/keys/{}", key["id"].as_str().unwrap()))).bearer_auth(&token))
        .await;
    assert_eq!(status, 200);
    assert!(one.get("raw_key").is_none());
    assert_eq!(one["key_prefix"], key["key_prefix"]);
}

#[tokio::test]
async fn create_accepts_every_setting_and_validates_each() {
    let app = TestApp::start_with("[plans.free]\nmax_keys = 10\n").await;
    let token = app.signup("b@example.com").await["access_token"].as_str().unwrap().to_owned();
    let body = json!({"name": "Prod", "intensity": "ultra", "auto_compress_input": true, "smart_detect_enabled": false,
                      "context_compress": true, "context_compress_level": "light"});
    let (status, key) = app.post_json("/v1/auth/keys", Some(&token), body).await;
    assert_eq!(status, 201);
    assert_eq!(
        (
            &key["name"],
            &key["intensity"],
            &key["auto_compress_input"],
            &key["smart_detect_enabled"],
            &key["context_compress"]
        ),
        (&json!("Prod"), &json!("ultra"), &json!(true), &json!(false), &json!(true))
    );
    assert_eq!(key["context_compress_level"], "conservative", "light is an alias of conservative");

    for (body, fragment) in [
        (json!({"intensity": "max"}), "lite, full, ultra, none"),
        (json!({"context_compress_level": "huge"}), "conservative"),
        (json!({"auto_compress_input": "yes"}), "must be true or false"),
        (json!({"name": ""}), "`name` must be 1 to 100"),
        (json!({"nmae": "typo"}), "unknown field `nmae`"),
    ] {
        let (status, answer) = app.post_json("/v1/auth/keys", Some(&token), body.clone()).await;
        assert_eq!(status, 422, "{body} → {answer}");
        assert!(answer["detail"].as_str().unwrap().contains(fragment), "{body} → {answer}");
    }
}

#[tokio::test]
async fn names_are_unique_among_active_keys_only() {
    let app = TestApp::start().await;
    let token = app.signup("c@example.com").await["access_token"].as_str().unwrap().to_owned();
    let (_, first) = app.post_json("/v1/auth/keys", Some(&token), json!({"name": "ci"})).await;
    let (status, dup) = app.post_json("/v1/auth/keys", Some(&token), json!({"name": "ci"})).await;
    assert_eq!(status, 409);
    assert!(dup["detail"].as_str().unwrap().contains("\"ci\""));
    let del = app.http.delete(app.url(&format!("/v1/auth/keys/{}", first["id"].as_str().unwrap()))).bearer_auth(&token);
    assert_eq!(app.send(del).await.0, 200);
    let (status, _) = app.post_json("/v1/auth/keys", Some(&token), json!({"name": "ci"})).await;
    assert_eq!(status, 201, "a revoked key's name can be reused");
}

#[tokio::test]
async fn patch_changes_settings_but_never_the_key_string() {
    let app = TestApp::start().await;
    let (token, key) = app.user_with_key("d@example.com").await;
    let url = app.url(&format!("/v1/auth/keys/{}", key["id"].as_str().unwrap()));
    let (status, updated) =
        app.send(app.http.patch(&url).bearer_auth(&token).json(&json!({"intensity": "lite", "name": "renamed"}))).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!((updated["intensity"].as_str(), updated["name"].as_str()), (Some("lite"), Some("renamed")));
    assert_eq!(updated["key_prefix"], key["key_prefix"]);

    for field in ["raw_key", "key", "key_prefix"] {
        let (status, body) =
            app.send(app.http.patch(&url).bearer_auth(&token).json(&json!({ field: "mt_live_x" }))).await;
        assert_eq!(status, 422);
        assert!(body["detail"].as_str().unwrap().contains("create a new key and revoke"), "{body}");
    }
    // The new default intensity is used by the proxy at once.
    let resp = app.chat(key["raw_key"].as_str().unwrap(), &chat_body()).send().await.unwrap();
    assert_eq!(resp.headers()["x-mintoken-intensity"], "lite");
}

#[tokio::test]
async fn revoked_keys_are_refused_at_once() {
    let app = TestApp::start().await;
    let (token, key) = app.user_with_key("e@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    assert_eq!(app.chat(raw, &chat_body()).send().await.unwrap().status(), 200);
    let (status, revoked) = app
        .send(app.http.delete(app.url(&format!("/v1/auth/keys/{}", key["id"].as_str().unwrap()))).bearer_auth(&token))
        .await;
    assert_eq!(status, 200);
    assert_eq!(revoked["is_active"], false);
    let (status, body) = app.send(app.chat(raw, &chat_body())).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["message"], "Invalid API key");
}

#[tokio::test]
async fn another_users_key_is_not_found() {
    let app = TestApp::start().await;
    let (_, key) = app.user_with_key("owner@example.com").await;
    let other = app.signup("intruder@example.com").await["access_token"].as_str().unwrap().to_owned();
    let url = app.url(&format!("/v1/auth/keys/{}", key["id"].as_str().unwrap()));
    for req in [app.http.get(&url), app.http.patch(&url).json(&json!({"intensity": "none"})), app.http.delete(&url)] {
        let (status, body) = app.send(req.bearer_auth(&other)).await;
        assert_eq!(status, 404);
        assert_eq!(body["detail"], "API key not found");
    }
    // And the owner's key still works, unchanged.
    let resp = app.chat(key["raw_key"].as_str().unwrap(), &chat_body()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-mintoken-intensity"], "full");
}

#[tokio::test]
async fn the_plan_caps_active_keys() {
    let app = TestApp::start().await; // free plan: 2 active keys
    let token = app.signup("f@example.com").await["access_token"].as_str().unwrap().to_owned();
    for name in ["one", "two"] {
        assert_eq!(app.post_json("/v1/auth/keys", Some(&token), json!({"name": name})).await.0, 201);
    }
    let (status, body) = app.post_json("/v1/auth/keys", Some(&token), json!({"name": "three"})).await;
    assert_eq!(status, 403);
    assert!(body["detail"].as_str().unwrap().contains("allows 2 active keys"));
}

#[tokio::test]
async fn only_a_hash_of_the_key_is_stored() {
    let app = TestApp::start().await;
    let (_, key) = app.user_with_key("g@example.com").await;
    let record = app.server.state.store.key_by_id(key["id"].as_str().unwrap()).await.unwrap().unwrap();
    assert_eq!(record.key_hash.len(), 64);
    assert_ne!(record.key_hash, key["raw_key"].as_str().unwrap());
}
