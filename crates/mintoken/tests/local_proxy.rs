//! `mintoken proxy` (SPEC §15), in-process on a real socket in front of `mintoken-mock`:
//! long sessions reach the upstream compressed with their tool pairs intact and the
//! headers and console line report what the upstream received; streams, errors, gzip
//! bodies and headers come back exactly as the upstream sent them; other `/v1/*` paths
//! pass through untouched; usage reports reach a server; `login` writes an owner-only file.

mod common;

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::sessions::{build_log, source_file};
use mintoken::local_proxy::{Console, LocalProxy, ProxyConfig};
use mintoken::secret::Secret;
use mintoken_compress::ContextLevel;
use mintoken_compress::context::{Shape, request_tokens};
use mintoken_mock::{Behavior, Fault, MockServer};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ANTHROPIC_KEY: &str = "sk-ant-local-proxy-test";
const OPENAI_KEY: &str = "sk-openai-local-proxy-test";
const MINTOKEN_KEY: &str = "mt_live_0123456789abcdefghijABCDEFGHIJ0123456789";

struct Env {
    mock: MockServer,
    proxy: LocalProxy,
    lines: Arc<Mutex<Vec<String>>>,
    http: reqwest::Client,
}

impl Env {
    async fn start() -> Env {
        Env::start_with(|_| {}).await
    }

    async fn start_with(change: impl FnOnce(&mut ProxyConfig)) -> Env {
        mintoken::proxy::upstream::install_crypto_provider();
        let mock = MockServer::start().await;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut config = ProxyConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            level: ContextLevel::Aggressive,
            anthropic_upstream: mock.base_url(),
            // A trailing /v1 is accepted, as users paste it.
            openai_upstream: format!("{}/v1", mock.base_url()),
            server: None,
            key: None,
            console: Console::Capture(lines.clone()),
        };
        change(&mut config);
        let proxy = LocalProxy::start(config).await.unwrap();
        let http = reqwest::Client::builder().build().unwrap();
        Env { mock, proxy, lines, http }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.proxy.addr)
    }

    fn anthropic(&self, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(self.url("/v1/messages"))
            .header("x-api-key", ANTHROPIC_KEY)
            .header("anthropic-version", "2023-06-01")
            .header("anthropic-beta", "prompt-caching-2024-07-31")
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    fn openai(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(self.url(path))
            .bearer_auth(OPENAI_KEY)
            .header("openai-organization", "org-test")
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    /// Console lines appear when the response body ends; wait a little for them.
    async fn console_line(&self, n: usize) -> String {
        for _ in 0..100 {
            if let Some(line) = self.lines.lock().unwrap().get(n) {
                return line.clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no console line {n}: {:?}", self.lines.lock().unwrap());
    }

    /// The bytes the mock streamed for its `index`-th request, in order.
    fn streamed(&self, index: usize) -> Vec<u8> {
        let mut chunks: Vec<_> = self.mock.chunk_log().into_iter().filter(|c| c.request_index == index).collect();
        chunks.sort_by_key(|c| c.event_index);
        chunks.iter().flat_map(|c| c.data.to_vec()).collect()
    }
}

/// A long Claude Code–like session: repeated file reads and big build logs as tool results.
fn anthropic_session(stream: bool) -> Value {
    let mut messages = vec![json!({"role": "user", "content": "Fix the build."})];
    for turn in 0..6 {
        let id = format!("toolu_{turn:02}");
        let output = if turn % 2 == 0 { source_file(400) } else { build_log(2000, turn) };
        messages.push(json!({"role": "assistant", "content": [
            {"type": "text", "text": format!("Step {turn}.")},
            {"type": "tool_use", "id": id, "name": "bash", "input": {"command": "cargo build"}}]}));
        messages.push(json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": id, "content": output}]}));
    }
    for i in 0..4 {
        messages.push(json!({"role": "assistant", "content": format!("Working on step {i}.")}));
        messages.push(json!({"role": "user", "content": format!("Keep going, step {i}.")}));
    }
    json!({"model": "claude-sonnet-4-5", "max_tokens": 1024, "stream": stream,
           "system": "You are a coding agent.", "messages": messages})
}

/// The same session in OpenAI chat shape.
fn openai_session(stream: bool) -> Value {
    let mut messages = vec![
        json!({"role": "system", "content": "You are a coding agent."}),
        json!({"role": "user", "content": "Fix the build."}),
    ];
    for turn in 0..6 {
        let id = format!("call_{turn}");
        let output = if turn % 2 == 0 { source_file(400) } else { build_log(2000, turn) };
        messages.push(json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": id, "type": "function", "function": {"name": "bash", "arguments": "{}"}}]}));
        messages.push(json!({"role": "tool", "tool_call_id": id, "content": output}));
    }
    for i in 0..4 {
        messages.push(json!({"role": "user", "content": format!("Keep going, step {i}.")}));
        messages.push(json!({"role": "assistant", "content": format!("Working on step {i}.")}));
    }
    messages.push(json!({"role": "user", "content": "Now summarise what failed."}));
    json!({"model": "gpt-4o-mini", "stream": stream, "messages": messages})
}

/// The same session in Responses shape.
fn responses_session(stream: bool) -> Value {
    let mut input = vec![json!({"role": "user", "content": "Fix the build."})];
    for turn in 0..6 {
        let id = format!("call_{turn}");
        let output = if turn % 2 == 0 { source_file(400) } else { build_log(2000, turn) };
        input.push(json!({"type": "function_call", "call_id": id, "name": "bash", "arguments": "{}"}));
        input.push(json!({"type": "function_call_output", "call_id": id, "output": output}));
    }
    for i in 0..4 {
        input.push(json!({"role": "user", "content": format!("Keep going, step {i}.")}));
    }
    json!({"model": "gpt-4.1", "stream": stream, "instructions": "You are a coding agent.", "input": input})
}

fn object(value: &Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

fn header_num(resp: &reqwest::Response, name: &str) -> usize {
    resp.headers().get(name).unwrap_or_else(|| panic!("no {name}")).to_str().unwrap().parse().unwrap()
}

/// Before/after/saved headers: before is the original body's count, after is the count of
/// what the mock received, saved their difference; the console line shows the same numbers.
async fn assert_reported(env: &Env, resp: &reqwest::Response, original: &Value, shape: Shape, line_no: usize) {
    let received = env.mock.last_request().unwrap();
    let before = header_num(resp, "x-mintoken-cli-tokens-before");
    let after = header_num(resp, "x-mintoken-cli-tokens-after");
    let saved = header_num(resp, "x-mintoken-cli-tokens-saved");
    assert_eq!(before, request_tokens(&object(original), shape).unwrap());
    assert_eq!(after, request_tokens(&object(&received.json()), shape).unwrap());
    assert_eq!(saved, before - after);
    assert!(after < before / 2, "{before} → {after}");
    assert!(resp.headers().get("x-mintoken-cli-skipped").is_none());
    let line = env.console_line(line_no).await;
    let thousands = mintoken::local_proxy::console::thousands;
    let expected = format!("{} → {} tokens (saved {}", thousands(before), thousands(after), thousands(saved));
    assert!(line.contains(&expected), "{line} lacks {expected}");
    assert!(line.starts_with(&format!("POST {} 200 ", received.path)), "{line}");
}

#[tokio::test]
async fn a_long_anthropic_session_arrives_compressed_with_valid_tool_pairs_and_credentials() {
    let env = Env::start().await;
    let session = anthropic_session(false);
    let resp = env.anthropic(&session).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_reported(&env, &resp, &session, Shape::Anthropic, 0).await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "message");

    let received = env.mock.last_request().unwrap();
    assert_eq!(received.path, "/v1/messages");
    // The client's own credentials and Anthropic headers travel unchanged.
    assert_eq!(received.header("x-api-key"), Some(ANTHROPIC_KEY));
    assert_eq!(received.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(received.header("anthropic-beta"), Some("prompt-caching-2024-07-31"));
    assert_eq!(received.header("host"), Some(env.mock.addr().to_string().as_str()));
    let sent = received.json();
    let messages = sent["messages"].as_array().unwrap();
    // Every tool_use is answered by a tool_result with its id in the next message.
    let mut pairs = 0;
    for (i, m) in messages.iter().enumerate() {
        for block in m["content"].as_array().into_iter().flatten() {
            if block["type"] == "tool_use" {
                let next = messages[i + 1]["content"].as_array().unwrap();
                assert!(next.iter().any(|b| b["type"] == "tool_result" && b["tool_use_id"] == block["id"]));
                pairs += 1;
            }
        }
    }
    assert_eq!(pairs, 6);
    // Nothing but tool results changed: the rest of the body is the client's.
    assert_eq!(sent["system"], session["system"]);
    assert_eq!(sent["model"], session["model"]);
    assert_eq!(messages.len(), session["messages"].as_array().unwrap().len());
    assert!(received.body_text().contains("error[E0425]: cannot find value `x1`"));
}

#[tokio::test]
async fn long_openai_chat_and_responses_sessions_arrive_compressed() {
    let env = Env::start().await;
    let session = openai_session(false);
    let resp = env.openai("/v1/chat/completions", &session).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_reported(&env, &resp, &session, Shape::OpenAiChat, 0).await;
    let received = env.mock.last_request().unwrap();
    assert_eq!(received.header("authorization"), Some(format!("Bearer {OPENAI_KEY}").as_str()));
    assert_eq!(received.header("openai-organization"), Some("org-test"));
    let messages = received.json()["messages"].as_array().unwrap().clone();
    for (i, m) in messages.iter().enumerate() {
        for call in m["tool_calls"].as_array().into_iter().flatten() {
            assert_eq!(messages[i + 1]["tool_call_id"], call["id"], "tool pair broken at {i}");
        }
    }

    let session = responses_session(false);
    let resp = env.openai("/v1/responses", &session).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_reported(&env, &resp, &session, Shape::OpenAiResponses, 1).await;
    let input = env.mock.last_request().unwrap().json()["input"].as_array().unwrap().clone();
    let calls: Vec<_> = input.iter().filter(|i| i["type"] == "function_call").map(|i| &i["call_id"]).collect();
    let outputs: Vec<_> = input.iter().filter(|i| i["type"] == "function_call_output").map(|i| &i["call_id"]).collect();
    assert_eq!(calls, outputs);
}

#[tokio::test]
async fn streams_arrive_byte_equal_to_what_the_upstream_sent() {
    let env = Env::start().await;
    let cases = [
        ("/v1/messages", anthropic_session(true)),
        ("/v1/chat/completions", openai_session(true)),
        ("/v1/responses", responses_session(true)),
    ];
    for (index, (path, session)) in cases.into_iter().enumerate() {
        let request = if path == "/v1/messages" { env.anthropic(&session) } else { env.openai(path, &session) };
        let resp = request.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        assert_eq!(resp.headers()["cache-control"], "no-cache", "upstream headers relayed");
        assert!(header_num(&resp, "x-mintoken-cli-tokens-saved") > 0);
        let bytes = resp.bytes().await.unwrap();
        let sent = env.streamed(index);
        assert!(!sent.is_empty());
        assert_eq!(bytes.as_ref(), sent.as_slice(), "{path}: relayed stream differs");
        assert!(env.console_line(index).await.starts_with(&format!("POST {path} 200 · ")));
    }
}

#[tokio::test]
async fn upstream_errors_reach_the_client_with_status_headers_and_body_streaming_or_not() {
    let env = Env::start().await;
    let cases = [
        (429, Some("17"), r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down, mock says"}}"#),
        (500, None, r#"{"error":{"message":"the mock fell over","type":"server_error"}}"#),
    ];
    for (status, retry_after, body) in cases {
        env.mock.set_behavior(Behavior {
            fault: Some(Fault::Status { status, body: body.into(), retry_after: retry_after.map(Into::into) }),
            ..Behavior::default()
        });
        for stream in [false, true] {
            let requests = [
                env.anthropic(&anthropic_session(stream)),
                env.openai("/v1/chat/completions", &openai_session(stream)),
            ];
            for request in requests {
                let resp = request.send().await.unwrap();
                assert_eq!(resp.status().as_u16(), status, "stream={stream}");
                assert_eq!(resp.headers().get("retry-after").map(|v| v.to_str().unwrap()), retry_after);
                assert_eq!(resp.headers()["content-type"], "application/json");
                assert!(resp.headers().get("x-mintoken-cli-tokens-before").is_some());
                assert_eq!(resp.text().await.unwrap(), body);
            }
        }
    }
    let line = env.console_line(0).await;
    assert!(line.starts_with("POST /v1/messages 429 · "), "{line}");
}

#[tokio::test]
async fn a_gzip_encoded_upstream_answer_reaches_the_client_readable() {
    let env = Env::start().await;
    env.mock.set_behavior(Behavior { gzip: true, ..Behavior::default() });
    let resp = env
        .openai("/v1/chat/completions", &json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // The encoding the bytes carry is the one the headers announce.
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let raw = resp.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(raw.as_ref()).read_to_string(&mut text).unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["object"], "chat.completion");
    // The proxy asked for an uncompressed body; the client's preference is not forwarded.
    assert_eq!(env.mock.last_request().unwrap().header("accept-encoding"), Some("identity"));

    // An error answered gzip is just as readable.
    env.mock.set_behavior(Behavior {
        gzip: true,
        fault: Some(Fault::Status { status: 429, body: r#"{"error":{"message":"zipped"}}"#.into(), retry_after: None }),
        ..Behavior::default()
    });
    let resp = env.anthropic(&anthropic_session(false)).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let raw = resp.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(raw.as_ref()).read_to_string(&mut text).unwrap();
    assert_eq!(text, r#"{"error":{"message":"zipped"}}"#);
}

/// Hop-by-hop headers, written on a raw connection so no client library filters them.
#[tokio::test]
async fn hop_by_hop_headers_are_not_forwarded() {
    let env = Env::start().await;
    let body = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    let request = format!(
        "POST /v1/chat/completions?trace=1 HTTP/1.1\r\nHost: localhost:8788\r\n\
         Authorization: Bearer {OPENAI_KEY}\r\nContent-Type: application/json\r\n\
         Connection: keep-alive, X-Per-Hop\r\nX-Per-Hop: secret\r\nKeep-Alive: timeout=5\r\n\
         TE: trailers\r\nTrailer: X-Checksum\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n\
         Proxy-Connection: keep-alive\r\nX-End-To-End: kept\r\nAccept-Encoding: gzip, br\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut tcp = tokio::net::TcpStream::connect(env.proxy.addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    // Read the head, then as many body bytes as the relayed upstream Content-Length says.
    let complete = |answer: &[u8]| {
        let text = String::from_utf8_lossy(answer);
        let Some((head, body)) = text.split_once("\r\n\r\n") else { return false };
        let length = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse::<usize>()))
            .expect("the upstream's Content-Length is relayed")
            .unwrap();
        body.len() >= length
    };
    while !complete(&answer) {
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "connection closed early");
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(!answer.to_ascii_lowercase().contains("transfer-encoding"), "{answer}");
    assert!(answer.contains("\"object\":\"chat.completion\""), "{answer}");

    let received = env.mock.last_request().unwrap();
    assert_eq!(received.query.as_deref(), Some("trace=1"));
    for name in ["connection", "x-per-hop", "keep-alive", "te", "trailer", "proxy-authorization", "proxy-connection"] {
        assert_eq!(received.header(name), None, "{name} was forwarded");
    }
    assert_eq!(received.header("x-end-to-end"), Some("kept"));
    assert_eq!(received.header("authorization"), Some(format!("Bearer {OPENAI_KEY}").as_str()));
    assert_eq!(received.header("host"), Some(env.mock.addr().to_string().as_str()));
    assert_eq!(received.body, body.as_bytes(), "a short body is forwarded byte for byte");
}

#[tokio::test]
async fn other_v1_paths_pass_through_unchanged_to_the_right_upstream() {
    let anthropic = MockServer::start().await;
    let env = Env::start_with(|c| c.anthropic_upstream = anthropic.base_url()).await;

    // count_tokens: Anthropic's, a long body forwarded byte for byte (never compressed).
    let session = anthropic_session(false);
    let raw = session.to_string();
    let resp = env
        .http
        .post(env.url("/v1/messages/count_tokens"))
        .header("x-api-key", ANTHROPIC_KEY)
        .header("anthropic-version", "2023-06-01")
        .body(raw.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-mintoken-cli-skipped"], "passthrough");
    let counted: Value = resp.json().await.unwrap();
    assert!(counted["input_tokens"].as_u64().unwrap() > 10_000);
    let received = anthropic.last_request().unwrap();
    assert_eq!(received.path, "/v1/messages/count_tokens");
    assert_eq!(received.body, raw.as_bytes());
    assert_eq!(received.header("x-api-key"), Some(ANTHROPIC_KEY));

    // /v1/models: OpenAI's by default (the mock has no such route: its 404 is relayed).
    let resp = env.http.get(env.url("/v1/models?limit=5")).bearer_auth(OPENAI_KEY).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["x-mintoken-cli-skipped"], "passthrough");
    assert!(resp.text().await.unwrap().contains("Unknown request URL: GET /v1/models"));
    let received = env.mock.last_request().unwrap();
    assert_eq!((received.method.as_str(), received.path.as_str()), ("GET", "/v1/models"));
    assert_eq!(received.query.as_deref(), Some("limit=5"));
    assert!(received.body.is_empty());
    // …and Anthropic's when the request says it speaks Anthropic.
    let resp = env
        .http
        .get(env.url("/v1/models"))
        .header("x-api-key", ANTHROPIC_KEY)
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(anthropic.last_request().unwrap().path, "/v1/models");
    assert_eq!(env.mock.requests().len(), 1);

    // Not JSON on a generation route: forwarded as is, with the reason.
    let resp =
        env.http.post(env.url("/v1/chat/completions")).bearer_auth(OPENAI_KEY).body("{nope").send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["x-mintoken-cli-skipped"], "not_json");
    assert_eq!(env.mock.last_request().unwrap().body, b"{nope");
    // Small sessions are below the threshold and go unchanged.
    let small = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let resp = env.openai("/v1/chat/completions", &small).send().await.unwrap();
    assert_eq!(resp.headers()["x-mintoken-cli-skipped"], "below_threshold");
    assert_eq!(env.mock.last_request().unwrap().body, small.to_string().as_bytes());
}

#[tokio::test]
async fn health_index_and_unreachable_upstream() {
    let env = Env::start_with(|c| c.anthropic_upstream = "http://127.0.0.1:9".into()).await;
    let health: Value = env.http.get(env.url("/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["service"], "mintoken proxy");
    assert_eq!(health["level"], "aggressive");
    let index = env.http.get(env.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(index.contains("ANTHROPIC_BASE_URL=http://"), "{index}");
    assert!(index.contains("/v1\n"), "{index}");
    let banner = env.proxy.banner();
    assert!(banner.contains(&format!("ANTHROPIC_BASE_URL=http://{}\n", env.proxy.addr)), "{banner}");
    assert!(banner.contains(&format!("OPENAI_BASE_URL=http://{}/v1\n", env.proxy.addr)), "{banner}");
    assert!(banner.contains("aggressive"));

    let resp = env.anthropic(&anthropic_session(false)).send().await.unwrap();
    assert_eq!(resp.status(), 502);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert!(body["error"]["message"].as_str().unwrap().contains("could not reach the anthropic upstream"));
    let resp = env.http.get(env.url("/elsewhere")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
}

/// A stand-in for `serve`'s `/v1/cli-telemetry`: records what arrives.
async fn telemetry_sink() -> (String, Arc<Mutex<Vec<(Option<String>, Value)>>>) {
    use axum::routing::post;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let store = seen.clone();
    let app = axum::Router::new().route(
        "/v1/cli-telemetry",
        post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                let auth = headers.get("authorization").map(|v| v.to_str().unwrap().to_owned());
                store.lock().unwrap().push((auth, serde_json::from_slice(&body).unwrap()));
                axum::Json(json!({"ok": true}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test]
async fn usage_is_reported_to_a_mintoken_server_off_the_request_path() {
    let (server, seen) = telemetry_sink().await;
    let env = Env::start_with(|c| {
        c.server = Some(server);
        c.key = Some(Secret::new(MINTOKEN_KEY.into()));
    })
    .await;
    let streamed = env.anthropic(&anthropic_session(true)).send().await.unwrap();
    let before = header_num(&streamed, "x-mintoken-cli-tokens-before");
    let after = header_num(&streamed, "x-mintoken-cli-tokens-after");
    let text = streamed.text().await.unwrap();
    assert!(text.contains("message_stop"));
    let plain = env.openai(
        "/v1/chat/completions",
        &json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}),
    );
    assert_eq!(plain.send().await.unwrap().status(), 200);

    let mut records = Vec::new();
    for _ in 0..200 {
        records = seen.lock().unwrap().clone();
        if records.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(records.len(), 2, "{records:?}");
    let (auth, first) = &records[0];
    assert_eq!(auth.as_deref(), Some(format!("Bearer {MINTOKEN_KEY}").as_str()));
    assert_eq!(first["upstream"], "anthropic");
    assert_eq!(first["endpoint"], "messages");
    assert_eq!(first["model"], "claude-sonnet-4-5");
    assert_eq!(first["intensity"], "aggressive");
    assert_eq!(first["context_tokens_before"], before as u64);
    assert_eq!(first["context_tokens_after"], after as u64);
    assert_eq!(first["skipped_reason"], Value::Null);
    // The mock's usage: ⌈characters / 4⌉ of what it received, and 9 words of reply.
    let received_chars = mock_prompt_chars(&env.mock.requests()[0].json());
    assert_eq!(first["input_tokens"], received_chars.div_ceil(4) as u64);
    assert_eq!(first["output_tokens"], 9);
    assert!(first["duration_ms"].is_u64());
    assert!(first["client"].as_str().unwrap().starts_with("mintoken-proxy/"));
    let keys: Vec<_> = first.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys.len(), 13, "{keys:?}");
    assert_eq!(first["status"], 200);
    assert_eq!(first["streamed"], true);

    let (_, second) = &records[1];
    assert_eq!(second["upstream"], "openai");
    assert_eq!(second["endpoint"], "chat-completions");
    assert_eq!(second["skipped_reason"], "below_threshold");
    assert_eq!(second["input_tokens"], 3); // "hello there" = 11 characters
    assert_eq!(second["output_tokens"], 9);
    assert_eq!(second["streamed"], false);
    // Never a body.
    assert!(!serde_json::to_string(&records).unwrap().contains("hello there"));
}

/// The mock's prompt-token rule for an Anthropic body: characters of the system prompt
/// and of every string content and `text`/tool-result content.
fn mock_prompt_chars(body: &Value) -> usize {
    fn walk(v: &Value) -> usize {
        match v {
            Value::String(s) => s.chars().count(),
            Value::Array(parts) => parts.iter().map(walk).sum(),
            Value::Object(o) => o.get("text").map_or(0, walk) + o.get("content").map_or(0, walk),
            _ => 0,
        }
    }
    walk(&body["system"]) + body["messages"].as_array().unwrap().iter().map(|m| walk(&m["content"])).sum::<usize>()
}

#[test]
fn login_writes_an_owner_only_file_and_status_masks_the_key() {
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mintoken"));
        command.args(args).env("HOME", home.path()).env_remove("MINTOKEN_KEY");
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().unwrap()
    };

    let bad = run(&["login", "--key", "sk-not-a-mintoken-key"], &[]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("mt_live_"));
    assert!(!home.path().join(".mintoken").exists());

    let ok = run(&["login", "--key", MINTOKEN_KEY], &[]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(!stdout.contains(MINTOKEN_KEY), "the key was printed: {stdout}");
    let path = home.path().join(".mintoken/config.json");
    let saved: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(saved["key"], MINTOKEN_KEY);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&home.path().join(".mintoken")), 0o700);
    }

    let status = run(&["status", "--port", "1"], &[]);
    assert!(status.status.success());
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("mt_live_0123…"), "{text}");
    assert!(!text.contains(MINTOKEN_KEY), "{text}");
    assert!(text.contains("not running on port 1"), "{text}");

    let other = "mt_live_ZYXWVUTSRQzyxwvutsrq9876543210ZYXWVUTSRQ";
    let status = run(&["status", "--port", "1"], &[("MINTOKEN_KEY", other)]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("mt_live_ZYXW… (from MINTOKEN_KEY)"), "{text}");

    let version = run(&["version"], &[]);
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("mintoken "));
}

#[tokio::test]
async fn status_sees_a_running_proxy() {
    let env = Env::start().await;
    let home = tempfile::tempdir().unwrap();
    let port = env.proxy.addr.port().to_string();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mintoken"))
        .args(["status", "--port", &port])
        .env("HOME", home.path())
        .env_remove("MINTOKEN_KEY")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("running on http://127.0.0.1:{port} (level aggressive)")), "{text}");
    assert!(text.contains("key:     none"), "{text}");
}

/// Acceptance: reports from `mintoken proxy --server` become usage rows of the key's owner
/// on a real `serve` instance, visible in its analytics with the context savings.
#[tokio::test]
async fn reports_appear_on_a_serve_instance_and_in_its_analytics() {
    let app = common::TestApp::start_with("default_plan = \"pro\"\n").await;
    let email = "local-proxy@example.com";
    let (token, key) = app.user_with_key(email).await;
    let raw = key["raw_key"].as_str().unwrap().to_owned();
    let upstream = app.mock.base_url();
    let server = app.base.clone();
    let env = Env::start_with(|c| {
        c.anthropic_upstream = upstream.clone();
        c.openai_upstream = upstream;
        c.server = Some(server);
        c.key = Some(Secret::new(raw));
    })
    .await;

    let resp = env.anthropic(&anthropic_session(true)).send().await.unwrap();
    let (before, after) =
        (header_num(&resp, "x-mintoken-cli-tokens-before"), header_num(&resp, "x-mintoken-cli-tokens-after"));
    assert!(resp.text().await.unwrap().contains("message_stop"));
    let small = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]});
    assert_eq!(env.openai("/v1/chat/completions", &small).send().await.unwrap().status(), 200);

    let mut rows = Vec::new();
    for _ in 0..300 {
        rows = app.usage(email).await;
        if rows.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rows.len(), 2, "{rows:?}");
    let row = |endpoint: &str| rows.iter().find(|r| r.endpoint == endpoint).unwrap();
    let messages = row("cli.messages");
    let received_chars = mock_prompt_chars(&app.mock.requests()[0].json());
    assert_eq!((messages.provider.as_str(), messages.model.as_str()), ("anthropic", "claude-sonnet-4-5"));
    assert_eq!((messages.input_tokens, messages.output_tokens), (received_chars.div_ceil(4) as i64, 9));
    assert_eq!(
        (messages.context_tokens_before, messages.context_tokens_after),
        (Some(before as i64), Some(after as i64))
    );
    assert_eq!((messages.status, messages.streamed, messages.usage_source.as_str()), (200, true, "reported"));
    let chat = row("cli.chat-completions");
    assert_eq!((chat.provider.as_str(), chat.input_tokens, chat.output_tokens), ("openai", 3, 9));

    app.server.state.usage.flush().await;
    let (status, summary) = app.send(app.http.get(app.url("/v1/analytics/summary")).bearer_auth(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(summary["total_requests"], 2, "{summary}");
    assert_eq!(summary["context_tokens_saved"], (before - after) as u64, "{summary}");
}

#[tokio::test]
async fn an_upstream_that_breaks_off_mid_stream_is_not_passed_off_as_complete() {
    let env = Env::start().await;
    env.mock.set_behavior(Behavior { fault: Some(Fault::DropAfterEvents { events: 3 }), ..Behavior::default() });
    let resp = env.anthropic(&anthropic_session(true)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.is_err(), "the cut stream must not end cleanly");
    let line = env.console_line(0).await;
    assert!(line.ends_with("upstream broke off the body"), "{line}");
}

#[tokio::test]
async fn a_client_that_gives_up_before_the_upstream_answers_still_gets_its_line() {
    let env = Env::start().await;
    env.mock.set_behavior(Behavior { first_byte_delay_ms: 3_000, ..Behavior::default() });
    let small = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let gave_up = env.openai("/v1/chat/completions", &small).timeout(Duration::from_millis(300)).send().await;
    assert!(gave_up.is_err());
    let line = env.console_line(0).await;
    assert!(line.starts_with("POST /v1/chat/completions 499 · skipped: below_threshold"), "{line}");
    assert!(line.ends_with("client closed the connection before the upstream answered"), "{line}");
}
