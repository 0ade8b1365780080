//! Context compression through the proxy (SPEC §4): a long agent session reaches the
//! upstream smaller, with every tool call still paired with its result, and the
//! response headers and usage row report the token counts.

mod common;

use common::TestApp;
use common::sessions::{build_log, source_file};
use serde_json::{Value, json};

/// An OpenAI-shaped agent session: the same file read three times, big logs, and a
/// final user turn.
fn openai_session() -> Value {
    let file = source_file(400);
    let mut messages = vec![
        json!({"role": "system", "content": "You are a coding agent."}),
        json!({"role": "user", "content": "Fix the build."}),
    ];
    for turn in 0..6 {
        let id = format!("call_{turn}");
        let (name, output) =
            if turn % 2 == 0 { ("read_file", file.clone()) } else { ("cargo_build", build_log(3000, turn)) };
        messages.push(json!({"role": "assistant", "content": null, "tool_calls": [{"id": id, "type": "function", "function": {"name": name, "arguments": "{}"}}]}));
        messages.push(json!({"role": "tool", "tool_call_id": id, "content": output}));
    }
    for i in 0..6 {
        messages.push(json!({"role": "user", "content": format!("Keep going, step {i}.")}));
        messages.push(json!({"role": "assistant", "content": format!("Working on step {i}.")}));
    }
    messages.push(json!({"role": "user", "content": "Now summarise what failed."}));
    json!({"model": "gpt-4o-mini", "messages": messages, "tools": [{"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}}}]})
}

#[tokio::test]
async fn a_long_openai_session_reaches_upstream_smaller_with_valid_tool_pairs() {
    let app = TestApp::start_with("default_plan = \"pro\"\n").await;
    let (t, key) = app.user_with_key("a@example.com").await;
    let url = app.url(&format!("/v1/auth/keys/{}", key["id"].as_str().unwrap()));
    app.send(
        app.http
            .patch(&url)
            .bearer_auth(&t)
            .json(&json!({"context_compress": true, "context_compress_level": "aggressive"})),
    )
    .await;

    let session = openai_session();
    let resp = app.chat(key["raw_key"].as_str().unwrap(), &session).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let before: i64 = resp.headers()["x-mintoken-context-tokens-before"].to_str().unwrap().parse().unwrap();
    let after: i64 = resp.headers()["x-mintoken-context-tokens-after"].to_str().unwrap().parse().unwrap();
    assert!(after < before / 2, "{before} → {after}");
    assert!(resp.headers().get("x-mintoken-context-skipped").is_none());

    let sent = app.mock.last_request().unwrap();
    assert!(sent.body.len() < session.to_string().len() / 2);
    let messages = sent.json()["messages"].as_array().unwrap().clone();
    // Every tool call keeps exactly one result with its id, in order.
    for (i, m) in messages.iter().enumerate() {
        if let Some(calls) = m["tool_calls"].as_array() {
            for call in calls {
                assert_eq!(messages[i + 1]["tool_call_id"], call["id"], "tool pair broken at {i}");
            }
        }
    }
    // Errors buried in truncated logs survive; the recency window is untouched.
    let text = sent.body_text();
    assert!(text.contains("cannot find value `x1` in this scope"));
    assert!(text.contains("cannot find value `x5` in this scope"));
    let original = session["messages"].as_array().unwrap();
    assert_eq!(&messages[messages.len() - 6..], &original[original.len() - 6..]);

    let row = &app.usage("a@example.com").await[0];
    assert_eq!((row.context_tokens_before, row.context_tokens_after), (Some(before), Some(after)));
}

#[tokio::test]
async fn small_requests_are_left_alone_and_say_why() {
    let app = TestApp::start().await;
    let (t, key) = app.user_with_key("b@example.com").await;
    let url = app.url(&format!("/v1/auth/keys/{}", key["id"].as_str().unwrap()));
    app.send(app.http.patch(&url).bearer_auth(&t).json(&json!({"context_compress": true}))).await;
    let body =
        json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "Hi"}]});
    let resp = app
        .http
        .post(app.url("/v1/messages"))
        .header("x-api-key", key["raw_key"].as_str().unwrap())
        .header("x-provider-key", common::PROVIDER_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-mintoken-context-skipped"], "below_threshold");
    assert_eq!(resp.headers()["x-mintoken-context-tokens-before"], resp.headers()["x-mintoken-context-tokens-after"]);
    assert_eq!(app.mock.last_request().unwrap().json()["messages"], body["messages"]);
}

/// A long prompt with trailing blanks, blank-line runs and a repeated paragraph.
fn sloppy_prompt() -> String {
    let para = "Please review the rollout plan below and tell me which steps are risky for the database migration.";
    let mut text = String::new();
    for i in 0..80 {
        text.push_str(&format!("{para}   \n\n\n\nStep {i}: migrate shard {i}.  \n\n\n"));
    }
    text.push_str("```sql\nALTER TABLE t   ADD COLUMN c int;  \n\n\n```\n");
    text
}

#[tokio::test]
async fn input_compression_shrinks_user_text_on_plans_that_have_it() {
    for (plan, expect_smaller) in [("pro", true), ("free", false)] {
        let app = TestApp::start_with(&format!("default_plan = \"{plan}\"\n")).await;
        let (t, key) = app.user_with_key("c@example.com").await;
        let url = app.url(&format!("/v1/auth/keys/{}", key["id"].as_str().unwrap()));
        app.send(app.http.patch(&url).bearer_auth(&t).json(&json!({"auto_compress_input": true}))).await;
        let prompt = sloppy_prompt();
        let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]});
        let resp = app
            .chat(key["raw_key"].as_str().unwrap(), &body)
            .header("x-mintoken-intensity", "none")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let sent = app.mock.last_request().unwrap().json();
        let sent_text = sent["messages"][0]["content"].as_str().unwrap();
        assert_eq!(sent_text.len() < prompt.len(), expect_smaller, "plan {plan}");
        assert!(
            sent_text.contains("```sql\nALTER TABLE t   ADD COLUMN c int;  \n\n\n```"),
            "code fences are byte-exact"
        );
    }
}

#[test]
fn the_compress_command_transforms_a_body_from_stdin() {
    use std::io::Write;
    let session = openai_session();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mintoken"))
        .args(["compress", "--level", "aggressive"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(session.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(body.to_string().len() < session.to_string().len() / 2);
    let metrics = String::from_utf8_lossy(&out.stderr);
    assert!(metrics.contains("api=openai level=aggressive context_tokens_before="), "{metrics}");
}
