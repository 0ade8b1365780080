//! Access-token hardening, through HTTP on protected routes: every forged, altered,
//! expired or misaddressed token is a 401 whose message says what is wrong, and never
//! reaches a handler. The server's secret is set in the config so the test can sign
//! tokens the way an attacker who knows (or guesses at) parts of the scheme would.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::TestApp;
use mintoken::auth::jwt::{AUDIENCE, Audience, Claims, JwtKeys};
use serde_json::{Value, json};

const SECRET: &str = "jwt-test-secret-0123456789abcdef-0123456789";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn claims_for(user_id: &str, email: &str) -> Value {
    json!({
        "sub": user_id, "email": email, "role": "authenticated", "aud": AUDIENCE,
        "exp": now() + 600, "iat": now(),
    })
}

/// A token with any header and payload, signed with HMAC (`alg_for_mac`) under `secret`;
/// `None` leaves the signature empty.
fn token(header: &Value, payload: &Value, mac: Option<(ring::hmac::Algorithm, &[u8])>) -> String {
    let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(payload.to_string()));
    let signature = match mac {
        Some((alg, secret)) => B64.encode(ring::hmac::sign(&ring::hmac::Key::new(alg, secret), input.as_bytes())),
        None => String::new(),
    };
    format!("{input}.{signature}")
}

fn hs256(payload: &Value) -> String {
    token(&json!({"alg": "HS256", "typ": "JWT"}), payload, Some((ring::hmac::HMAC_SHA256, SECRET.as_bytes())))
}

#[tokio::test]
async fn forged_altered_and_stale_tokens_are_refused_with_the_reason() {
    let app = TestApp::start_with(&format!("jwt_secret = \"{SECRET}\"\n")).await;
    let session = app.signup("alice@example.com").await;
    app.signup("bob@example.com").await;
    let alice = app.user_id("alice@example.com").await;
    let bob = app.user_id("bob@example.com").await;
    let good = claims_for(&alice, "alice@example.com");

    // Controls: the session's token and one this test signs are both accepted.
    let issued = session["access_token"].as_str().unwrap().to_owned();
    let signed_here = hs256(&good);
    let secret = SECRET.as_bytes();

    let mut tampered = issued.split('.').map(str::to_owned).collect::<Vec<_>>();
    let mut payload: Value = serde_json::from_slice(&B64.decode(&tampered[1]).unwrap()).unwrap();
    payload["sub"] = json!(bob);
    payload["email"] = json!("bob@example.com");
    tampered[1] = B64.encode(payload.to_string());
    let tampered = tampered.join(".");

    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = good.clone();
        f(&mut c);
        hs256(&c)
    };
    // (case, Authorization header value or None, fragment of the message)
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        (
            "alg none",
            Some(format!("Bearer {}", token(&json!({"alg": "none", "typ": "JWT"}), &good, None))),
            "algorithm",
        ),
        ("alg None", Some(format!("Bearer {}", token(&json!({"alg": "None"}), &good, None))), "algorithm"),
        (
            "alg none with an HS256 signature",
            Some(format!("Bearer {}", token(&json!({"alg": "none"}), &good, Some((ring::hmac::HMAC_SHA256, secret))))),
            "algorithm",
        ),
        (
            "HS512 with the right secret",
            Some(format!(
                "Bearer {}",
                token(&json!({"alg": "HS512", "typ": "JWT"}), &good, Some((ring::hmac::HMAC_SHA512, secret)))
            )),
            "algorithm",
        ),
        (
            "RS256 header, HMAC signature (key confusion)",
            Some(format!(
                "Bearer {}",
                token(&json!({"alg": "RS256", "typ": "JWT"}), &good, Some((ring::hmac::HMAC_SHA256, secret)))
            )),
            "algorithm",
        ),
        (
            "HS256 under another secret",
            Some(format!(
                "Bearer {}",
                token(
                    &json!({"alg": "HS256"}),
                    &good,
                    Some((ring::hmac::HMAC_SHA256, b"another-secret-another-secret-123456"))
                )
            )),
            "signature",
        ),
        ("expired", Some(format!("Bearer {}", with(&|c| c["exp"] = json!(now() - 5)))), "expired"),
        (
            "no exp",
            Some(format!(
                "Bearer {}",
                with(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                })
            )),
            "malformed",
        ),
        ("audience anon", Some(format!("Bearer {}", with(&|c| c["aud"] = json!("anon")))), "audience"),
        (
            "audience list without authenticated",
            Some(format!("Bearer {}", with(&|c| c["aud"] = json!(["service", "other"])))),
            "audience",
        ),
        (
            "no audience",
            Some(format!(
                "Bearer {}",
                with(&|c| {
                    c.as_object_mut().unwrap().remove("aud");
                })
            )),
            "malformed",
        ),
        ("payload changed, signature kept", Some(format!("Bearer {tampered}")), "signature"),
        ("signature cut off", Some(format!("Bearer {}", &issued[..issued.rfind('.').unwrap() + 1])), "signature"),
        ("garbage", Some("Bearer garbage".to_owned()), "malformed"),
        ("three garbage parts", Some("Bearer a.b.c".to_owned()), "malformed"),
        ("four parts", Some(format!("Bearer {issued}.x")), "malformed"),
        ("no Bearer scheme", Some(issued.clone()), "Missing access token"),
        ("Basic scheme", Some(format!("Basic {}", B64.encode("alice:pw"))), "Missing access token"),
        ("Bearer without token", Some("Bearer ".to_owned()), "Missing access token"),
        ("no header", None, "Missing access token"),
    ];

    for path in ["/v1/auth/keys", "/v1/plan"] {
        for (token, expected) in [(&issued, 200), (&signed_here, 200)] {
            let resp = app.http.get(app.url(path)).bearer_auth(token).send().await.unwrap();
            assert_eq!(resp.status(), expected, "control token on {path}");
        }
        for (case, header, fragment) in &cases {
            let mut req = app.http.get(app.url(path));
            if let Some(h) = header {
                req = req.header("authorization", h);
            }
            let (status, body) = app.send(req).await;
            let detail = body["detail"].as_str().unwrap_or_default();
            assert_eq!(status, 401, "{case} on {path}: {body}");
            assert!(detail.contains(fragment), "{case} on {path}: message {detail:?} should mention {fragment:?}");
            assert!(!detail.contains(&bob) && !detail.contains(&alice), "{case}: message names an account: {detail}");
        }
    }
    // Nothing a forged token asked for happened: Bob's keys are still none.
    let bob_token = JwtKeys::new(SECRET.as_bytes()).sign(&Claims {
        sub: bob.clone(),
        email: "bob@example.com".into(),
        role: "authenticated".into(),
        aud: Audience::One(AUDIENCE.into()),
        exp: now() + 60,
        iat: now(),
        session_id: None,
        iss: None,
    });
    let (status, keys) = app.send(app.http.get(app.url("/v1/auth/keys")).bearer_auth(&bob_token)).await;
    assert_eq!((status, keys), (200, json!([])));
}

/// A POST with a forged token is refused before its body is looked at: no key appears.
#[tokio::test]
async fn a_forged_token_cannot_create_anything() {
    let app = TestApp::start_with(&format!("jwt_secret = \"{SECRET}\"\n")).await;
    let session = app.signup("carol@example.com").await;
    let carol = app.user_id("carol@example.com").await;
    let forged = token(&json!({"alg": "none"}), &claims_for(&carol, "carol@example.com"), None);
    let (status, body) = app.post_json("/v1/auth/keys", Some(&forged), json!({"name": "forged"})).await;
    assert_eq!(status, 401, "{body}");
    let token = session["access_token"].as_str().unwrap();
    let (_, keys) = app.send(app.http.get(app.url("/v1/auth/keys")).bearer_auth(token)).await;
    assert_eq!(keys, json!([]));
}
