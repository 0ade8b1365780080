//! The two routes the reference CLI (PyPI `mintoken` 0.2.x) calls on a mintoken server
//! (SPEC §15): `POST /v1/cli/compress-context` compresses a long agent session exactly as
//! `mintoken_compress` does, keeps tool pairs valid and records a usage row;
//! `POST /v1/cli-telemetry` records reported usage that shows up in the key owner's
//! analytics. Requests carry the headers the reference client's httpx sends.

mod common;

use common::TestApp;
use common::sessions::{build_log, source_file};
use mintoken_compress::ContextLevel;
use mintoken_compress::context::{self, ContextReport, Shape};
use serde_json::{Value, json};

const COMPRESS: &str = "/v1/cli/compress-context";
const TELEMETRY: &str = "/v1/cli-telemetry";

/// What the reference client's requests look like on the wire (httpx defaults plus the
/// two headers it sets itself).
fn reference_request(app: &TestApp, path: &str, key: &str, body: &Value) -> reqwest::RequestBuilder {
    app.http
        .post(app.url(path))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .header("user-agent", "python-httpx/0.28.1")
        .header("accept", "*/*")
        .header("accept-encoding", "gzip, deflate")
        .header("connection", "keep-alive")
        .body(body.to_string())
}

async fn call(app: &TestApp, path: &str, key: &str, body: &Value) -> (u16, Value) {
    app.send(reference_request(app, path, key, body)).await
}

fn unique_email(tag: &str) -> String {
    format!("{tag}-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// A tool result of turn `turn`: the same file read again and again, or a big build log.
fn tool_output(turn: usize) -> (&'static str, String) {
    if turn.is_multiple_of(2) { ("read_file", source_file(300)) } else { ("cargo_build", build_log(1500, turn)) }
}

/// An Anthropic Messages session: tool_use / tool_result pairs with large results, then
/// more than the recency window of plain turns.
fn anthropic_session() -> Value {
    let mut messages = vec![json!({"role": "user", "content": "Fix the build."})];
    for turn in 0..8 {
        let id = format!("toolu_{turn:02}");
        let (name, output) = tool_output(turn);
        messages.push(json!({"role": "assistant", "content": [
            {"type": "text", "text": format!("Step {turn}: running {name}.")},
            {"type": "tool_use", "id": id, "name": name, "input": {"path": "src/lib.rs"}}
        ]}));
        let content = if turn % 4 == 1 { json!([{"type": "text", "text": output}]) } else { json!(output) };
        messages
            .push(json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": content}]}));
    }
    for i in 0..5 {
        messages.push(json!({"role": "assistant", "content": format!("Working on step {i}.")}));
        messages.push(json!({"role": "user", "content": format!("Keep going, step {i}.")}));
    }
    json!({
        "model": "claude-sonnet-4-5", "max_tokens": 1024, "stream": true,
        "system": [{"type": "text", "text": "You are a coding agent."}],
        "tools": [{"name": "read_file", "input_schema": {"type": "object"}}],
        "messages": messages,
        "metadata": {"user_id": "u-123456789012345678901234567890"}
    })
}

fn openai_session() -> Value {
    let mut messages = vec![
        json!({"role": "system", "content": "You are a coding agent."}),
        json!({"role": "user", "content": "Fix it."}),
    ];
    for turn in 0..6 {
        let id = format!("call_{turn}");
        let (name, output) = tool_output(turn);
        messages.push(json!({"role": "assistant", "content": null, "tool_calls": [{"id": id, "type": "function", "function": {"name": name, "arguments": "{}"}}]}));
        messages.push(json!({"role": "tool", "tool_call_id": id, "content": output}));
    }
    for i in 0..6 {
        messages.push(json!({"role": "user", "content": format!("Keep going, step {i}.")}));
        messages.push(json!({"role": "assistant", "content": format!("Working on step {i}.")}));
    }
    json!({"model": "gpt-4o-mini", "messages": messages, "temperature": 0.2})
}

fn responses_session() -> Value {
    let mut input = vec![json!({"type": "message", "role": "user", "content": "Fix it."})];
    for turn in 0..6 {
        let id = format!("call_{turn}");
        let (name, output) = tool_output(turn);
        input.push(json!({"type": "function_call", "call_id": id, "name": name, "arguments": "{}"}));
        input.push(json!({"type": "function_call_output", "call_id": id, "output": output}));
    }
    for i in 0..6 {
        input.push(json!({"type": "message", "role": "user", "content": format!("Keep going, step {i}.")}));
    }
    json!({"model": "gpt-4.1", "instructions": "You are a coding agent.", "input": input})
}

/// The library run directly on the same body: what the server must answer.
fn direct(body: &Value, shape: Shape, level: ContextLevel) -> (Value, ContextReport) {
    let mut object = body.as_object().unwrap().clone();
    let report = context::compress(&mut object, shape, level);
    (Value::Object(object), report)
}

fn assert_metrics_match(answer: &Value, report: &ContextReport) {
    let m = &answer["metrics"];
    assert_eq!(m["tokens_before"], report.tokens_before, "{m}");
    assert_eq!(m["tokens_after"], report.tokens_after, "{m}");
    assert_eq!(m["skipped_reason"], Value::Null, "{m}");
    assert_eq!(m["results_deduplicated"], report.results_deduplicated);
    assert_eq!(m["results_truncated"], report.results_truncated);
    assert!(m["messages_modified"].as_u64().unwrap() > 0, "{m}");
    assert!(report.tokens_after < report.tokens_before / 2, "{report:?}");
}

async fn analytics(app: &TestApp, token: &str, path: &str) -> Value {
    app.server.state.usage.flush().await;
    let (status, body) = app.send(app.http.get(app.url(path)).bearer_auth(token)).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn raw_key(app: &TestApp, email: &str) -> String {
    let (_, key) = app.user_with_key(email).await;
    key["raw_key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_long_anthropic_session_is_compressed_like_the_library_does_with_valid_tool_pairs() {
    let app = TestApp::start_with("default_plan = \"pro\"\n").await;
    let email = unique_email("anthropic");
    let key = raw_key(&app, &email).await;
    let session = anthropic_session();
    // "light" is the reference CLI's name for the conservative level.
    let request = json!({"body": session, "shape": "anthropic", "level": "light", "endpoint": "messages"});
    let response = reference_request(&app, COMPRESS, &key, &request).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let answer: Value = response.json().await.unwrap();

    let (expected, report) = direct(&session, Shape::Anthropic, ContextLevel::Conservative);
    assert_metrics_match(&answer, &report);
    assert_eq!(answer["metrics"]["level"], "conservative");
    assert_eq!(answer["body"], expected, "the same bytes as the library");
    assert!(answer["body"].to_string().len() < session.to_string().len() / 2);

    // Everything but the conversation is as sent; every tool_use keeps its result.
    let body = &answer["body"];
    for member in ["model", "max_tokens", "stream", "system", "tools", "metadata"] {
        assert_eq!(body[member], session[member], "{member}");
    }
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), session["messages"].as_array().unwrap().len());
    let mut pairs = 0;
    for (i, m) in messages.iter().enumerate() {
        for block in m["content"].as_array().into_iter().flatten().filter(|b| b["type"] == "tool_use") {
            let results: Vec<&Value> = messages[i + 1]["content"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["type"] == "tool_result" && r["tool_use_id"] == block["id"])
                .collect();
            assert_eq!(results.len(), 1, "tool pair broken at {i}");
            pairs += 1;
        }
    }
    assert_eq!(pairs, 8);
    let text = body.to_string();
    assert!(text.contains("cannot find value `x1` in this scope"), "errors in truncated logs survive");

    // One usage row: provider cli, the context tokens, no output.
    let rows = app.usage(&email).await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!((row.provider.as_str(), row.endpoint.as_str()), ("cli", "cli.compress-context"));
    assert_eq!(row.model, "claude-sonnet-4-5");
    assert_eq!(
        (row.context_tokens_before, row.context_tokens_after),
        (Some(report.tokens_before as i64), Some(report.tokens_after as i64))
    );
    assert_eq!((row.input_tokens, row.output_tokens, row.status), (0, 0, 200));
    assert_eq!((row.intensity.as_str(), row.usage_source.as_str()), ("none", "none"));
}

#[tokio::test]
async fn openai_chat_and_responses_sessions_are_compressed_like_the_library_does() {
    let app = TestApp::start_with("default_plan = \"pro\"\n").await;
    let email = unique_email("openai");
    let key = raw_key(&app, &email).await;

    let session = openai_session();
    let request = json!({"body": session, "shape": "openai", "level": "aggressive", "endpoint": "chat-completions"});
    let (status, answer) = call(&app, COMPRESS, &key, &request).await;
    assert_eq!(status, 200, "{answer}");
    let (expected, report) = direct(&session, Shape::OpenAiChat, ContextLevel::Aggressive);
    assert_metrics_match(&answer, &report);
    assert_eq!(answer["body"], expected);
    let messages = answer["body"]["messages"].as_array().unwrap();
    for (i, m) in messages.iter().enumerate() {
        for call in m["tool_calls"].as_array().into_iter().flatten() {
            assert_eq!(messages[i + 1]["tool_call_id"], call["id"], "tool pair broken at {i}");
        }
    }
    // Every rewritten message is a tool result; the count is the number of them.
    let modified = messages.iter().zip(session["messages"].as_array().unwrap()).filter(|(a, b)| a != b).count();
    assert_eq!(answer["metrics"]["messages_modified"], modified);

    // The reference client sends shape "openai" for the Responses API too; the endpoint
    // tells the two apart.
    let session = responses_session();
    let request = json!({"body": session, "shape": "openai", "level": "standard", "endpoint": "responses"});
    let (status, answer) = call(&app, COMPRESS, &key, &request).await;
    assert_eq!(status, 200, "{answer}");
    let (expected, report) = direct(&session, Shape::OpenAiResponses, ContextLevel::Standard);
    assert_metrics_match(&answer, &report);
    assert_eq!(answer["body"], expected);
    let input = answer["body"]["input"].as_array().unwrap();
    for (i, item) in input.iter().enumerate().filter(|(_, item)| item["type"] == "function_call") {
        assert_eq!(input[i + 1]["call_id"], item["call_id"], "call pair broken at {i}");
    }

    // A short request is answered unchanged, with the reason.
    let short = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
    let (status, answer) =
        call(&app, COMPRESS, &key, &json!({"body": short, "shape": "openai", "level": "standard"})).await;
    assert_eq!(status, 200);
    assert_eq!(answer["body"], short);
    assert_eq!(answer["metrics"]["skipped_reason"], "below_threshold");
    assert_eq!(answer["metrics"]["tokens_before"], answer["metrics"]["tokens_after"]);
    assert_eq!(answer["metrics"]["messages_modified"], 0);

    let rows = app.usage(&email).await;
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.endpoint == "cli.compress-context" && r.output_tokens == 0));
}

#[tokio::test]
async fn keys_are_checked_and_bad_input_is_a_400_naming_the_problem() {
    let app = TestApp::start().await;
    let key = raw_key(&app, &unique_email("bad")).await;
    let good = json!({"body": {"messages": []}, "shape": "anthropic", "level": "standard", "endpoint": "messages"});

    let (status, body) = app.send(app.http.post(app.url(COMPRESS)).json(&good)).await;
    assert_eq!((status, body["detail"].as_str()), (401, Some("Missing API key")));
    for path in [COMPRESS, TELEMETRY] {
        let wrong = format!("mt_live_{}", "A".repeat(40));
        let (status, body) = call(&app, path, &wrong, &good).await;
        assert_eq!((status, body["detail"].as_str()), (401, Some("Invalid API key")), "{path}");
        let (status, _) = call(&app, path, "not-a-key", &good).await;
        assert_eq!(status, 401, "{path}");
    }

    let (status, _) = call(&app, COMPRESS, &key, &good).await;
    assert_eq!(status, 200, "the well-formed request is accepted");
    let cases = [
        (json!({"body": {"messages": []}, "shape": "gemini"}), "`shape` must be \"anthropic\" or \"openai\""),
        (json!({"body": {"messages": []}}), "`shape` is required"),
        (json!({"body": {"messages": []}, "shape": "anthropic", "level": "max"}), "`level` must be"),
        (json!({"body": {"messages": []}, "shape": "openai", "endpoint": "embeddings"}), "`endpoint` must be"),
        (
            json!({"body": {"messages": []}, "shape": "anthropic", "endpoint": "responses"}),
            "`endpoint` \"responses\" does not belong to shape \"anthropic\"",
        ),
        (json!({"shape": "anthropic"}), "`body` is required"),
        (json!({"body": "{\"messages\": []}", "shape": "anthropic"}), "`body` must be a JSON object"),
        (json!({"body": {"model": "m"}, "shape": "anthropic"}), "`body.messages` is required"),
        (json!({"body": {"messages": []}, "shape": "openai", "endpoint": "responses"}), "`body.input` is required"),
        (json!([1, 2]), "request body must be a JSON object"),
    ];
    for (request, message) in cases {
        let (status, body) = call(&app, COMPRESS, &key, &request).await;
        assert_eq!(status, 400, "{request}: {body}");
        assert!(body["detail"].as_str().unwrap().contains(message), "{request}: {body}");
    }
    let malformed = app.http.post(app.url(COMPRESS)).bearer_auth(&key).body("{\"body\": ");
    let (status, body) = app.send(malformed).await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("malformed JSON"), "{body}");
}

#[tokio::test]
async fn the_plan_body_cap_rate_limit_and_quota_apply() {
    let config = "[plans.free]\nmax_body_bytes = 50000\nrequests_per_minute = 3\nmonthly_output_tokens = 100\n";
    let app = TestApp::start_with(config).await;
    let key = raw_key(&app, &unique_email("limits")).await;

    // Over the plan's body cap: 413 naming the plan; the body is not read further.
    let big = json!({"shape": "openai", "body": {"messages": [{"role": "user", "content": "x".repeat(60_000)}]}});
    let (status, body) = call(&app, COMPRESS, &key, &big).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("50000 bytes, the limit of the free plan"), "{body}");

    // Output tokens reported by the CLI count towards the quota; a report is accepted
    // even when it takes the account over it.
    let report = |output: i64| {
        json!({"upstream": "openai", "model": "gpt-4o-mini", "endpoint": "chat-completions", "intensity": "standard",
               "input_tokens": 500, "output_tokens": output, "context_tokens_before": null,
               "context_tokens_after": null, "duration_ms": 120, "skipped_reason": "quota_exceeded",
               "client": "mintoken-cli"})
    };
    let (status, body) = call(&app, TELEMETRY, &key, &report(150)).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], true);
    let small = json!({"shape": "openai", "body": {"messages": [{"role": "user", "content": "hi"}]}});
    let response = reference_request(&app, COMPRESS, &key, &small).send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["x-mintoken-tokens-used"], "150");
    assert_eq!(response.headers()["x-mintoken-tokens-limit"], "100");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["detail"], "token quota exceeded");
    let (status, _) = call(&app, TELEMETRY, &key, &report(10)).await;
    assert_eq!(status, 202, "reports are still recorded over the quota");

    // Every compress call counts towards the plan's rate (3 a minute here), refused ones
    // included: after the 413 and two quota refusals the next is a rate-limit refusal
    // with Retry-After, while reports have a bucket of their own.
    let (status, _) = call(&app, COMPRESS, &key, &small).await;
    assert_eq!(status, 429);
    let response = reference_request(&app, COMPRESS, &key, &small).send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().starts_with("rate limit exceeded"), "{body}");
    let (status, _) = call(&app, TELEMETRY, &key, &report(0)).await;
    assert_eq!(status, 202);
}

#[tokio::test]
async fn reports_become_usage_rows_in_the_owners_analytics_only() {
    let app = TestApp::start_with("default_plan = \"pro\"\n").await;
    let email = unique_email("owner");
    let (token, key) = app.user_with_key(&email).await;
    let raw = key["raw_key"].as_str().unwrap();

    // What the reference client sends after a forwarded request (compressed through
    // this server first), a streamed Responses request whose compression was skipped,
    // and a report of another client that compressed locally.
    let compress = json!({"body": anthropic_session(), "shape": "anthropic", "level": "light", "endpoint": "messages"});
    let (status, compressed) = call(&app, COMPRESS, raw, &compress).await;
    assert_eq!(status, 200);
    let (before, after) = (
        compressed["metrics"]["tokens_before"].as_i64().unwrap(),
        compressed["metrics"]["tokens_after"].as_i64().unwrap(),
    );
    let reference = json!({
        "upstream": "anthropic", "model": "claude-sonnet-4-5", "endpoint": "messages", "intensity": "light",
        "input_tokens": after + 20, "output_tokens": 300, "context_tokens_before": before,
        "context_tokens_after": after, "duration_ms": 2500, "skipped_reason": null, "client": "mintoken-cli"
    });
    let skipped = json!({
        "upstream": "openai", "model": "gpt-4o-mini", "endpoint": "responses", "intensity": "standard",
        "input_tokens": 40, "output_tokens": 12, "context_tokens_before": 30, "context_tokens_after": 30,
        "duration_ms": 300, "skipped_reason": "below_threshold", "client": "mintoken-cli"
    });
    let local = json!({
        "upstream": "openai", "model": "gpt-4o-mini", "endpoint": "chat-completions", "intensity": "aggressive",
        "input_tokens": 2000, "output_tokens": 100, "context_tokens_before": 5000, "context_tokens_after": 2000,
        "duration_ms": 900, "skipped_reason": null, "client": "mintoken-proxy/0.1.0", "status": 200, "streamed": true
    });
    for report in [&reference, &skipped, &local] {
        let (status, body) = call(&app, TELEMETRY, raw, report).await;
        assert_eq!(status, 202, "{body}");
        assert!(body["request_id"].as_str().unwrap().starts_with("req_"));
    }

    let rows = app.usage(&email).await;
    assert_eq!(rows.len(), 4);
    let row = |endpoint: &str| rows.iter().find(|r| r.endpoint == endpoint).unwrap();
    let r = row("cli.messages");
    assert_eq!(
        (r.provider.as_str(), r.model.as_str(), r.usage_source.as_str()),
        ("anthropic", "claude-sonnet-4-5", "reported")
    );
    assert_eq!((r.input_tokens, r.output_tokens, r.status, r.streamed), (after + 20, 300, 200, false));
    // The reference client's context figures are the compress call's, already recorded.
    assert_eq!((r.context_tokens_before, r.context_tokens_after), (None, None));
    assert_eq!(row("cli.responses").provider, "openai");
    let r = row("cli.chat-completions");
    assert_eq!((r.context_tokens_before, r.context_tokens_after, r.streamed), (Some(5000), Some(2000), true));
    assert_eq!(row("cli.compress-context").context_tokens_before, Some(before));

    let summary = analytics(&app, &token, "/v1/analytics/summary").await;
    assert_eq!(summary["total_requests"], 4, "{summary}");
    assert_eq!(summary["total_input_tokens"], after + 20 + 40 + 2000);
    assert_eq!(summary["total_output_tokens"], 300 + 12 + 100);
    // Context savings: the compress call's and the local proxy's, each once.
    assert_eq!(summary["context_tokens_saved"], (before - after) + 3000, "{summary}");
    assert_eq!(summary["output_tokens_saved_estimated"], 0, "no skill, no estimated output saving");
    let by_key = analytics(&app, &token, "/v1/analytics/by-key").await;
    let keys = by_key["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{by_key}");
    assert_eq!((&keys[0]["id"], &keys[0]["requests"]), (&key["id"], &json!(4)));
    assert_eq!(keys[0]["output_tokens"], 412);

    // Another account sees none of it.
    let (other, other_key) = app.user_with_key(&unique_email("other")).await;
    let theirs = analytics(&app, &other, "/v1/analytics/summary").await;
    assert_eq!((&theirs["total_requests"], &theirs["total_output_tokens"]), (&json!(0), &json!(0)));
    let their_keys = analytics(&app, &other, "/v1/analytics/by-key").await;
    let listed = their_keys["keys"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((&listed[0]["id"], &listed[0]["requests"]), (&other_key["id"], &json!(0)));
}

#[tokio::test]
async fn invalid_reports_are_a_400_naming_the_field_and_record_nothing() {
    let app = TestApp::start().await;
    let email = unique_email("invalid");
    let key = raw_key(&app, &email).await;
    let valid = json!({
        "upstream": "openai", "model": "gpt-4o-mini", "endpoint": "chat-completions", "intensity": "standard",
        "input_tokens": 10, "output_tokens": 5, "context_tokens_before": null, "context_tokens_after": null,
        "duration_ms": 50, "skipped_reason": null, "client": "mintoken-cli"
    });
    let cases: [(&str, Value, &str); 9] = [
        ("upstream", json!("mistral"), "`upstream` must be \"anthropic\" or \"openai\""),
        ("endpoint", json!("messages"), "`endpoint` \"messages\" does not belong to upstream \"openai\""),
        ("model", json!(null), "`model` is required"),
        ("model", json!("m".repeat(300)), "`model` is longer than 200 bytes"),
        ("input_tokens", json!("10"), "`input_tokens` must be an integer"),
        ("output_tokens", json!(-5), "`output_tokens` must not be negative"),
        ("output_tokens", json!(20_000_000_000i64), "`output_tokens` must be at most"),
        ("duration_ms", json!(2.5), "`duration_ms` must be a whole number"),
        ("context_tokens_before", json!(100), "`context_tokens_after` is required"),
    ];
    for (field, value, message) in cases {
        let mut report = valid.clone();
        report[field] = value;
        let (status, body) = call(&app, TELEMETRY, &key, &report).await;
        assert_eq!(status, 400, "{field}: {body}");
        assert!(body["detail"].as_str().unwrap().contains(message), "{field}: {body}");
    }
    let (status, body) = call(&app, TELEMETRY, &key, &json!("hello")).await;
    assert_eq!((status, body["detail"].as_str()), (400, Some("request body must be a JSON object")));
    let huge = json!({"padding": "x".repeat(20_000)});
    let (status, _) = call(&app, TELEMETRY, &key, &huge).await;
    assert_eq!(status, 413);
    assert!(app.usage(&email).await.is_empty(), "refused reports leave no row");

    let (status, _) = call(&app, TELEMETRY, &key, &valid).await;
    assert_eq!(status, 202);
    assert_eq!(app.usage(&email).await.len(), 1);
}

/// The reference client's own code (`compressor.compress`, `telemetry.push`) run against
/// this server, as a user who set `MINTOKEN_COMPRESS_URL` / `MINTOKEN_TELEMETRY_URL`.
const REFERENCE_SCRIPT: &str = r#"
import asyncio, json, os, sys
from mintoken_cli.compressor import compress
from mintoken_cli import telemetry

body = json.load(open(sys.argv[1]))
key = os.environ["MT_KEY"]

async def main():
    new, m = await compress(body, shape="anthropic", level="light", mintoken_key=key, endpoint="messages")
    await telemetry.push(mintoken_key=key, upstream="anthropic", model=body["model"], endpoint="messages",
                         intensity="light", input_tokens=m.tokens_after, output_tokens=77,
                         context_tokens_before=m.tokens_before, context_tokens_after=m.tokens_after,
                         duration_ms=5, skipped_reason=m.skipped_reason)
    _, bad = await compress(body, shape="anthropic", level="light", mintoken_key=key + "x", endpoint="messages")
    json.dump({"body": new, "tokens_before": m.tokens_before, "tokens_after": m.tokens_after,
               "messages_modified": m.messages_modified, "skipped_reason": m.skipped_reason,
               "bad_key_reason": bad.skipped_reason}, sys.stdout)

asyncio.run(main())
"#;

/// Runs only where `MINTOKEN_TEST_REFERENCE_CLI_PYTHON` names a Python interpreter with
/// the published package installed (`pip install mintoken==0.2.2`).
#[tokio::test]
async fn the_published_reference_client_compresses_and_reports_through_this_server() {
    let Ok(python) = std::env::var("MINTOKEN_TEST_REFERENCE_CLI_PYTHON") else {
        eprintln!("skipped: set MINTOKEN_TEST_REFERENCE_CLI_PYTHON to a Python with `pip install mintoken==0.2.2`");
        return;
    };
    let app = TestApp::start_with("default_plan = \"pro\"\n").await;
    let email = unique_email("reference");
    let (token, key) = app.user_with_key(&email).await;
    let session = anthropic_session();
    let session_path = app.dir.path().join("session.json");
    std::fs::write(&session_path, session.to_string()).unwrap();
    let script_path = app.dir.path().join("reference.py");
    std::fs::write(&script_path, REFERENCE_SCRIPT).unwrap();

    let output = tokio::process::Command::new(python)
        .arg(&script_path)
        .arg(&session_path)
        .env("MT_KEY", key["raw_key"].as_str().unwrap())
        .env("MINTOKEN_COMPRESS_URL", app.url(COMPRESS))
        .env("MINTOKEN_TELEMETRY_URL", app.url(TELEMETRY))
        .output()
        .await
        .expect("run the reference client");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let seen: Value = serde_json::from_slice(&output.stdout).expect("the script's JSON");

    let (expected, report) = direct(&session, Shape::Anthropic, ContextLevel::Conservative);
    assert_eq!(seen["body"], expected, "the client forwards the body compressed by this server");
    assert_eq!(
        (&seen["tokens_before"], &seen["tokens_after"]),
        (&json!(report.tokens_before), &json!(report.tokens_after))
    );
    assert!(seen["messages_modified"].as_u64().unwrap() > 0);
    assert_eq!(seen["skipped_reason"], Value::Null);
    assert_eq!(seen["bad_key_reason"], "auth_failed");
    assert!(!stderr.contains("telemetry POST"), "the report was accepted: {stderr}");

    let summary = analytics(&app, &token, "/v1/analytics/summary").await;
    assert_eq!(summary["total_requests"], 2, "{summary}");
    assert_eq!(summary["total_output_tokens"], 77);
    assert_eq!(summary["context_tokens_saved"], (report.tokens_before - report.tokens_after) as i64);
    let rows = app.usage(&email).await;
    let reported = rows.iter().find(|r| r.endpoint == "cli.messages").expect("the report's row");
    assert_eq!((reported.usage_source.as_str(), reported.output_tokens), ("reported", 77));
}
