//! Accounts and sessions: sign-up, log-in, refresh rotation, log-out, `me`.

mod common;

use common::TestApp;
use serde_json::json;

#[tokio::test]
async fn signup_returns_a_supabase_shaped_session() {
    let app = TestApp::start().await;
    let s = app.signup("Ada@Example.com").await;
    assert_eq!(s["token_type"], "bearer");
    assert!(s["access_token"].as_str().unwrap().split('.').count() == 3);
    assert_eq!(s["expires_in"], 3600);
    assert!(s["expires_at"].as_i64().unwrap() > 1_700_000_000);
    assert!(s["refresh_token"].as_str().unwrap().len() >= 32);
    assert_eq!(s["user"]["email"], "ada@example.com", "emails are case-insensitive");
    assert_eq!(s["user"]["aud"], "authenticated");

    // The access token carries Supabase's claims.
    let payload = s["access_token"].as_str().unwrap().split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["sub"], s["user"]["id"]);
    assert_eq!(claims["role"], "authenticated");
    assert_eq!(claims["aud"], "authenticated");
    assert_eq!(claims["email"], "ada@example.com");

    let token = s["access_token"].as_str().unwrap();
    let (status, me) = app.send(app.http.get(app.url("/v1/auth/me")).bearer_auth(token)).await;
    assert_eq!(status, 200);
    assert_eq!(me["id"], s["user"]["id"]);
    assert_eq!(me["plan"], "free");
}

#[tokio::test]
async fn signup_refuses_duplicates_and_bad_input_with_clear_messages() {
    let app = TestApp::start().await;
    app.signup("bob@example.com").await;
    let (status, body) = app
        .post_json("/v1/auth/signup", None, json!({"email": "BOB@example.com", "password": "another password"}))
        .await;
    assert_eq!(status, 409);
    assert!(body["detail"].as_str().unwrap().contains("already exists"));

    let cases = [
        (json!({"email": "not-an-email", "password": "long enough"}), 422, "email"),
        (json!({"email": "c@example.com", "password": "short"}), 422, "at least 8"),
        (json!({"email": "c@example.com"}), 400, "`password` is required"),
        (json!({"email": 5, "password": "long enough"}), 422, "`email` must be a string"),
        (json!({"email": "c@example.com", "password": "long enough", "plan": "pro"}), 422, "unknown field `plan`"),
    ];
    for (body, want_status, want_text) in cases {
        let (status, answer) = app.post_json("/v1/auth/signup", None, body.clone()).await;
        assert_eq!(status, want_status, "{body} → {answer}");
        assert!(answer["detail"].as_str().unwrap().contains(want_text), "{body} → {answer}");
    }
    let (status, answer) = app
        .send(app.http.post(app.url("/v1/auth/signup")).header("content-type", "application/json").body("{oops"))
        .await;
    assert_eq!(status, 400);
    assert!(answer["detail"].as_str().unwrap().contains("malformed JSON"));
}

#[tokio::test]
async fn signup_can_be_switched_off() {
    let app = TestApp::start_with("signup_enabled = false\n").await;
    let (status, body) =
        app.post_json("/v1/auth/signup", None, json!({"email": "x@example.com", "password": "long enough"})).await;
    assert_eq!(status, 403);
    assert!(body["detail"].as_str().unwrap().contains("disabled"));
}

#[tokio::test]
async fn login_checks_the_password_and_locks_out_guessing() {
    let app = TestApp::start().await;
    app.signup("carol@example.com").await;
    let (status, s) = app
        .post_json("/v1/auth/login", None, json!({"email": "carol@example.com", "password": "correct horse battery"}))
        .await;
    assert_eq!(status, 200);
    assert!(s["access_token"].is_string());

    let (status, body) = app
        .post_json("/v1/auth/login", None, json!({"email": "carol@example.com", "password": "wrong password"}))
        .await;
    assert_eq!((status, body["detail"].as_str().unwrap()), (401, "Invalid login credentials"));
    let (status, _) = app
        .post_json("/v1/auth/login", None, json!({"email": "nobody@example.com", "password": "wrong password"}))
        .await;
    assert_eq!(status, 401, "unknown accounts look like wrong passwords");

    for _ in 0..10 {
        app.post_json("/v1/auth/login", None, json!({"email": "carol@example.com", "password": "guess guess"})).await;
    }
    let resp = app
        .http
        .post(app.url("/v1/auth/login"))
        .json(&json!({"email": "carol@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429, "locked out even with the right password");
    assert!(resp.headers().get("retry-after").is_some());
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_ends_the_session() {
    let app = TestApp::start().await;
    let s1 = app.signup("dan@example.com").await;
    let r1 = s1["refresh_token"].as_str().unwrap();
    let (status, s2) = app.post_json("/v1/auth/refresh", None, json!({"refresh_token": r1})).await;
    assert_eq!(status, 200, "{s2}");
    let r2 = s2["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2);

    // Presenting the spent token again is treated as theft: refused, and the whole
    // session (including the new refresh token) is revoked.
    let (status, body) = app.post_json("/v1/auth/refresh", None, json!({"refresh_token": r1})).await;
    assert_eq!(status, 401);
    assert!(body["detail"].as_str().unwrap().contains("Invalid refresh token"));
    let (status, _) = app.post_json("/v1/auth/refresh", None, json!({"refresh_token": r2})).await;
    assert_eq!(status, 401);
    let (status, _) =
        app.send(app.http.get(app.url("/v1/auth/me")).bearer_auth(s2["access_token"].as_str().unwrap())).await;
    assert_eq!(status, 401, "access tokens of a revoked session stop working");
}

#[tokio::test]
async fn logout_revokes_the_session() {
    let app = TestApp::start().await;
    let s = app.signup("erin@example.com").await;
    let token = s["access_token"].as_str().unwrap();
    let resp = app.http.post(app.url("/v1/auth/logout")).bearer_auth(token).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    let (status, body) = app.send(app.http.get(app.url("/v1/auth/me")).bearer_auth(token)).await;
    assert_eq!(status, 401);
    assert!(body["detail"].as_str().unwrap().contains("logged out"));
    let (status, _) = app.post_json("/v1/auth/refresh", None, json!({"refresh_token": s["refresh_token"]})).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn management_routes_require_an_access_token() {
    let app = TestApp::start().await;
    let (_, key) = app.user_with_key("fay@example.com").await;
    for (token, fragment) in [
        (None, "Missing access token"),
        (Some("garbage"), "Invalid access token"),
        (Some(key["raw_key"].as_str().unwrap()), "not an mt_live_ API key"),
    ] {
        let mut req = app.http.get(app.url("/v1/auth/keys"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let (status, body) = app.send(req).await;
        assert_eq!(status, 401);
        assert!(body["detail"].as_str().unwrap().contains(fragment), "{body}");
    }
}

#[tokio::test]
async fn the_jwt_secret_is_generated_owner_only() {
    let app = TestApp::start().await;
    let path = app.dir.path().join("data").join("jwt_secret");
    let secret = std::fs::read_to_string(&path).unwrap();
    assert!(secret.len() >= 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(app.dir.path().join("data")).unwrap().permissions().mode() & 0o777, 0o700);
    }
}

#[tokio::test]
async fn the_secret_is_kept_in_the_data_dir_even_when_the_database_is_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("not-yet-created");
    let args = mintoken::cli::ServeArgs {
        store: mintoken::cli::StoreArgs {
            data_dir: Some(data.clone()),
            database_url: Some(format!("sqlite://{}?mode=rwc", dir.path().join("elsewhere.db").display())),
            ..Default::default()
        },
        listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Default::default()
    };
    let server = mintoken::server::Server::start(mintoken::config::Config::load(&args).unwrap()).await.expect("starts");
    assert!(data.join("jwt_secret").exists());
    assert!(!data.join("mintoken.db").exists());
    server.shutdown().await;
}
