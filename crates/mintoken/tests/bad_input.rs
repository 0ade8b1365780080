//! Bad input on every route gets a clear 4xx, never a 5xx or a dropped connection: every
//! management operation (taken from the same table the router is built from, so a new
//! route is covered without editing this file) × every kind of bad input, and the proxy
//! routes' malformed bodies, answered in the provider's error envelope.

mod common;

use common::{PROVIDER_KEY, TestApp};
use mintoken::api::{Access, Operation, operations};
use reqwest::Method;
use serde_json::{Value, json};

const ADMIN: &str = "admin@example.com";

/// 10,000 nested arrays: deeper than any parser should recurse.
fn deep(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// The bad bodies, each with what it is.
fn bad_bodies(fields: &[&str]) -> Vec<(String, Vec<u8>)> {
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("empty body".into(), b"".to_vec()),
        ("whitespace body".into(), b" \r\n\t".to_vec()),
        ("malformed JSON".into(), br#"{"name": "#.to_vec()),
        ("trailing garbage".into(), br#"{} {}"#.to_vec()),
        ("single quotes".into(), b"{'name': 'x'}".to_vec()),
        ("JSON array".into(), b"[]".to_vec()),
        ("JSON string".into(), br#""x""#.to_vec()),
        ("JSON null".into(), b"null".to_vec()),
        ("JSON number".into(), b"1e999".to_vec()),
        ("10,000 nested arrays".into(), deep(10_000).into_bytes()),
        ("10,000 nested objects".into(), format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000)).into_bytes()),
        ("invalid UTF-8".into(), b"{\"name\": \"\xff\xfe\xfd\"}".to_vec()),
        ("invalid UTF-8 key".into(), b"{\"\xc3\x28\": 1}".to_vec()),
        ("lone surrogate escape".into(), br#"{"name": "\ud800"}"#.to_vec()),
        ("NUL byte".into(), b"{\"name\": \"a\0b\"}".to_vec()),
        ("unknown field".into(), br#"{"definitely_not_a_field": 1}"#.to_vec()),
        ("over 64 KiB".into(), format!(r#"{{"name": "{}"}}"#, "a".repeat(70_000)).into_bytes()),
    ];
    for field in fields {
        let wrong: [(&str, Value); 8] = [
            ("number", json!(12345)),
            ("huge integer", serde_json::from_str("123456789012345678901234567890123456789").unwrap()),
            ("negative", json!(-1)),
            ("array", json!(["x"])),
            ("object", json!({"x": 1})),
            ("bool", json!(true)),
            ("CR/LF string", json!("x\r\nSet-Cookie: injected=1\r\nX-Injected: 1")),
            ("NUL string", json!("a\u{0}b")),
        ];
        for (kind, value) in wrong {
            cases.push((format!("`{field}` {kind}"), json!({ *field: value }).to_string().into_bytes()));
        }
        cases.push((format!("`{field}` 1e400"), format!(r#"{{"{field}": 1e400}}"#).into_bytes()));
        cases.push((
            format!("`{field}` nested 10,000 deep"),
            format!(r#"{{"{field}": {}}}"#, deep(10_000)).into_bytes(),
        ));
        cases
            .push((format!("`{field}` 60 KiB string"), json!({ *field: "é".repeat(30_000) }).to_string().into_bytes()));
    }
    cases
}

/// Bad path parameters and query strings.
const BAD_SEGMENTS: [(&str, &str); 6] = [
    ("CR/LF", "%0D%0ASet-Cookie:%20injected=1"),
    ("invalid UTF-8", "%FF%FE"),
    ("NUL", "a%00b"),
    ("10 KB", "a"),
    ("dot-dot", ".."),
    ("huge number", "123456789012345678901234567890"),
];

const BAD_QUERIES: [(&str, &str); 9] = [
    ("CR/LF value", "start=%0D%0AX-Injected:%201"),
    ("invalid UTF-8", "start=%FF"),
    ("bad percent-encoding", "start=%ZZ"),
    ("unknown parameter", "definitely_not=1"),
    ("repeated parameter", "start=2026-01-01&start=2026-02-01"),
    ("huge year", "start=99999999999-01-01"),
    ("end before start", "start=2026-02-01&end=2026-01-01"),
    ("bucket of the wrong value", "bucket=fortnight"),
    ("hour buckets over years", "bucket=hour&start=1970-01-01&end=9999-12-31"),
];

struct Response {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
    text: String,
}

async fn send(app: &TestApp, method: &Method, path: &str, token: Option<&str>, body: Option<Vec<u8>>) -> Response {
    let mut req = app.http.request(method.clone(), app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: no answer: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    Response { status, headers, body: serde_json::from_str(&text).unwrap_or(Value::Null), text }
}

/// A clear 4xx: a client status, the `{"detail"}` envelope with a message, and nothing
/// the input could have written into the headers.
fn assert_clear_4xx(r: &Response, what: &str) {
    assert!((400..500).contains(&r.status), "{what}: expected a 4xx, got {} {}", r.status, r.text);
    let detail = r.body["detail"].as_str().unwrap_or_else(|| panic!("{what}: no `detail` in {}", r.text));
    assert!(detail.len() > 10, "{what}: unhelpful detail {detail:?}");
    assert_no_injected_headers(r, what);
}

fn assert_no_injected_headers(r: &Response, what: &str) {
    assert!(r.headers.get("set-cookie").is_none(), "{what}: Set-Cookie in the answer");
    assert!(r.headers.get("x-injected").is_none(), "{what}: X-Injected in the answer");
}

fn concrete(path: &str, segment: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { segment.to_owned() } else { s.to_owned() })
        .collect::<Vec<_>>()
        .join("/")
}

struct Setup {
    app: TestApp,
    token: String,
    key_id: String,
    rule_id: String,
    org_id: String,
    user_id: String,
}

async fn setup() -> Setup {
    // Enough keys and rules on the plan for the bodies that turn out valid.
    let app = TestApp::start_with(&format!(
        "admin_emails = [\"{ADMIN}\"]\n[plans.free]\nmax_keys = 1000\nmax_rules = 1000\nrequests_per_minute = 100000\nmax_orgs = 1000\nmax_members_per_org = 1000\n"
    ))
    .await;
    let session = app.signup(ADMIN).await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let (status, key) = app.post_json("/v1/auth/keys", Some(&token), json!({"name": "k"})).await;
    assert_eq!(status, 201, "{key}");
    let (status, rule) =
        app.post_json("/v1/rules", Some(&token), json!({"rule_type": "keep_exact", "pattern": "x"})).await;
    assert_eq!(status, 201, "{rule}");
    let (status, org) = app.post_json("/v1/orgs", Some(&token), json!({"name": "Bad Input Org"})).await;
    assert_eq!(status, 201, "{org}");
    Setup {
        token,
        key_id: key["id"].as_str().unwrap().to_owned(),
        rule_id: rule["id"].as_str().unwrap().to_owned(),
        org_id: org["id"].as_str().unwrap().to_owned(),
        user_id: session["user"]["id"].as_str().unwrap().to_owned(),
        app,
    }
}

/// A path of the operation that names an existing resource, so the body is what fails.
fn real_path(op: &Operation, s: &Setup) -> String {
    let id = if op.path.starts_with("/v1/rules") {
        &s.rule_id
    } else if op.path.starts_with("/v1/orgs/") {
        &s.org_id
    } else {
        &s.key_id
    };
    op.path
        .replace("{id}", id)
        .replace("{email}", ADMIN)
        .replace("{user_id}", &s.user_id)
        .replace("{invitation_id}", "no-such-invitation")
}

#[tokio::test]
async fn every_management_route_answers_bad_bodies_with_a_clear_4xx() {
    let s = setup().await;
    let mut tried = 0;
    for op in operations() {
        let Some(request) = &op.request else { continue };
        let path = real_path(&op, &s);
        let token = (op.access == Access::AccessToken).then_some(s.token.as_str());
        for (kind, body) in bad_bodies(request.fields) {
            let what = format!("{} {} with {kind}", op.method, op.path);
            let r = send(&s.app, &op.method, &path, token, Some(body)).await;
            if kind.starts_with('`') {
                // A field of another type or size: some are valid for some fields (a
                // bool for a flag, a number for `priority`, any string for a name);
                // either way the answer is a success or a clear 4xx.
                if r.status >= 300 {
                    assert_clear_4xx(&r, &what);
                }
                assert_no_injected_headers(&r, &what);
            } else {
                assert_clear_4xx(&r, &what);
                // The status follows SPEC §11.
                let expected = match kind.as_str() {
                    "over 64 KiB" => 413,
                    "unknown field" => 422,
                    _ => 400,
                };
                assert_eq!(r.status, expected, "{what}: {}", r.text);
            }
            tried += 1;
        }
    }
    assert!(tried > 200, "only {tried} cases");
}

#[tokio::test]
async fn every_management_route_answers_bad_paths_queries_and_credentials_with_a_clear_4xx() {
    let s = setup().await;
    for op in operations() {
        let token = (op.access == Access::AccessToken).then_some(s.token.as_str());
        let body = op.request.as_ref().map(|_| b"{}".to_vec());
        if op.path.contains('{') {
            for (kind, segment) in BAD_SEGMENTS {
                let segment = if kind == "10 KB" { "a".repeat(10_000) } else { segment.to_owned() };
                let what = format!("{} {} with a {kind} path parameter", op.method, op.path);
                let r = send(&s.app, &op.method, &concrete(op.path, &segment), token, body.clone()).await;
                assert_clear_4xx(&r, &what);
            }
        }
        if !op.query.is_empty() {
            for (kind, query) in BAD_QUERIES {
                if kind.contains("bucket") && !op.query.iter().any(|(n, _, _)| *n == "bucket") {
                    continue;
                }
                let what = format!("{} {} with {kind}", op.method, op.path);
                let r = send(&s.app, &op.method, &format!("{}?{query}", op.path), token, None).await;
                assert_clear_4xx(&r, &what);
                assert_eq!(r.status, 400, "{what}: {}", r.text);
            }
        }
        if op.access == Access::AccessToken {
            let path = real_path(&op, &s);
            for (kind, header) in [
                ("no token", None),
                ("garbage token", Some("Bearer not.a.jwt")),
                ("an mt_live_ key", Some("Bearer mt_live_0000000000000000")),
                ("a 10 KB token", Some(&*format!("Bearer {}", "a".repeat(10_000)))),
                ("basic auth", Some("Basic dXNlcjpwYXNz")),
                ("invalid UTF-8 token", Some("Bearer \u{ff}\u{fe}")),
            ] {
                let mut req = s.app.http.request(op.method.clone(), s.app.url(&path));
                if let Some(h) = header {
                    req = req.header("authorization", reqwest::header::HeaderValue::from_bytes(h.as_bytes()).unwrap());
                }
                let resp = req.send().await.unwrap();
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let text = resp.text().await.unwrap();
                let r = Response { status, headers, body: serde_json::from_str(&text).unwrap_or(Value::Null), text };
                let what = format!("{} {} with {kind}", op.method, op.path);
                assert_clear_4xx(&r, &what);
                assert_eq!(r.status, 401, "{what}: {}", r.text);
            }
        }
    }
}

/// CR/LF in a value never reaches a header: a key name refuses control characters (422);
/// a rule pattern may hold them and is echoed in JSON, escaped.
#[tokio::test]
async fn cr_lf_in_values_stays_out_of_headers() {
    let s = setup().await;
    let name = "x\r\nSet-Cookie: injected=1";
    let r =
        send(&s.app, &Method::POST, "/v1/auth/keys", Some(&s.token), Some(json!({"name": name}).to_string().into()))
            .await;
    assert_clear_4xx(&r, "key name with CR/LF");
    assert_eq!(r.status, 422, "{}", r.text);
    let path = format!("/v1/auth/keys/{}", s.key_id);
    let r = send(&s.app, &Method::PATCH, &path, Some(&s.token), Some(json!({"name": name}).to_string().into())).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let body = json!({"rule_type": "keep_exact", "pattern": name}).to_string().into();
    let r = send(&s.app, &Method::POST, "/v1/rules", Some(&s.token), Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["pattern"], name);
    assert_no_injected_headers(&r, "rule");
    let r = send(&s.app, &Method::GET, "/v1/rules", Some(&s.token), None).await;
    assert_no_injected_headers(&r, "rules");
    // A header value with a raw CR/LF cannot even be sent: hyper refuses it at the socket.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(s.app.server.addr).await.unwrap();
    let request = format!(
        "GET /v1/auth/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\rX-Injected: 1\r\nConnection: close\r\n\r\n",
        s.token
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

/// The proxy routes: a malformed body is a 400 in the provider's own error envelope.
#[tokio::test]
async fn proxy_routes_answer_malformed_bodies_with_400_in_the_provider_envelope() {
    let s = setup().await;
    let key = {
        let (status, key) = s.app.post_json("/v1/auth/keys", Some(&s.token), json!({"name": "proxy"})).await;
        assert_eq!(status, 201);
        key["raw_key"].as_str().unwrap().to_owned()
    };
    // (path, envelope check)
    let openai = |b: &Value| b["error"]["message"].is_string() && b["error"]["type"].is_string();
    let anthropic = |b: &Value| b["type"] == "error" && b["error"]["message"].is_string();
    let gemini = |b: &Value| b["error"]["code"] == 400 && b["error"]["message"].is_string();
    type Envelope<'a> = &'a dyn Fn(&Value) -> bool;
    let routes: [(&str, Envelope); 10] = [
        ("/v1/chat/completions", &openai),
        ("/v1/responses", &openai),
        ("/v1/messages", &anthropic),
        ("/v1/messages/count_tokens", &anthropic),
        ("/v1/generateContent", &gemini),
        ("/v1/streamGenerateContent", &gemini),
        ("/v1/models/gemini-2.0-flash:generateContent", &gemini),
        ("/v1beta/models/gemini-2.0-flash:streamGenerateContent", &gemini),
        ("/v1beta/models/gemini-2.0-flash:countTokens", &gemini),
        ("/v1/models/gemini-2.0-flash:generateContent?alt=sse", &gemini),
    ];
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty body", b"".to_vec()),
        ("malformed JSON", br#"{"model": "#.to_vec()),
        ("JSON array", b"[1]".to_vec()),
        ("JSON null", b"null".to_vec()),
        ("10,000 nested arrays", deep(10_000).into_bytes()),
        ("invalid UTF-8", b"{\"model\": \"\xff\"}".to_vec()),
        ("1e400", br#"{"model": 1e400}"#.to_vec()),
        ("messages nested 10,000 deep", format!(r#"{{"model": "m", "messages": {}}}"#, deep(10_000)).into_bytes()),
        ("contents nested 10,000 deep", format!(r#"{{"model": "m", "contents": {}}}"#, deep(10_000)).into_bytes()),
    ];
    let mut tried = 0;
    for (path, envelope) in routes {
        for (kind, body) in &bodies {
            let what = format!("POST {path} with {kind}");
            let resp = s
                .app
                .http
                .post(s.app.url(path))
                .bearer_auth(&key)
                .header("x-api-key", &key)
                .header("x-goog-api-key", &key)
                .header("x-provider-key", PROVIDER_KEY)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            // A body the dialect does not read (e.g. deep `contents` on an OpenAI route)
            // may be relayed; the mock then answers. It must never be a 5xx.
            assert!(status < 500, "{what}: {status} {text}");
            if status != 200 {
                assert_eq!(status, 400, "{what}: {text}");
                assert!(envelope(&json), "{what}: not the provider's envelope: {text}");
            }
            tried += 1;
        }
    }
    assert_eq!(tried, 90);
}
