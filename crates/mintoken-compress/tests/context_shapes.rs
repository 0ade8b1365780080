//! Tier-1 context compression on hand-written requests of every shape: what is rewritten,
//! what is never touched, the markers, the skip reasons and the edge cases around
//! deduplication (changed re-reads, markers, images).

use mintoken_compress::ContextLevel;
use mintoken_compress::context::{self, ContextReport, Shape, SkipReason};
use serde_json::{Map, Value, json};

/// A build log of `n` lines (~10 tokens each) with one error line in the middle.
fn log(n: usize, tag: &str) -> String {
    let mut lines: Vec<String> =
        (0..n).map(|i| format!("   Compiling crate_{i} v0.{}.{} {tag}", i % 7, i % 13)).collect();
    lines[n / 2] = format!("error[E0308]: mismatched types in {tag}");
    lines.join("\n") + "\n"
}

fn body(v: Value) -> Map<String, Value> {
    v.as_object().expect("object").clone()
}

fn run(v: Value, shape: Shape) -> (Map<String, Value>, ContextReport) {
    let mut b = body(v);
    let report = context::compress(&mut b, shape, ContextLevel::Standard);
    (b, report)
}

/// OpenAI chat: system, user, then `n` tool rounds, then `recent` short rounds.
fn openai_chat(results: &[Value]) -> Value {
    let mut messages = vec![
        json!({"role": "system", "content": "You are an agent."}),
        json!({"role": "user", "content": "Fix the build."}),
    ];
    for (i, content) in results.iter().enumerate() {
        messages.push(json!({"role": "assistant", "content": null, "tool_calls": [{"id": format!("call_{i}"), "type": "function", "function": {"name": "run", "arguments": "{\"cmd\":\"make\"}"}}]}));
        messages.push(json!({"role": "tool", "tool_call_id": format!("call_{i}"), "content": content}));
    }
    for i in 0..4 {
        messages.push(json!({"role": "assistant", "content": format!("step {i}")}));
        messages.push(json!({"role": "user", "content": "ok"}));
    }
    json!({"model": "gpt-4.1", "messages": messages})
}

#[test]
fn openai_chat_truncates_old_results_and_keeps_errors() {
    let big = log(400, "a");
    let (out, report) =
        run(openai_chat(&[json!(big), json!([{"type": "text", "text": log(400, "b")}])]), Shape::OpenAiChat);
    assert_eq!(report.skipped, None);
    assert_eq!(report.results_truncated, 2);
    assert!(report.tokens_after < report.tokens_before);
    let first = out["messages"][3]["content"].as_str().unwrap();
    assert!(first.contains("error[E0308]: mismatched types in a"));
    assert!(first.contains("[mintoken: 149 lines omitted]"));
    assert!(first.starts_with("   Compiling crate_0 "));
    assert!(first.ends_with("   Compiling crate_399 v0.0.9 a\n"));
    let second = out["messages"][5]["content"][0]["text"].as_str().unwrap();
    assert!(second.contains("error[E0308]: mismatched types in b"));
    // Ids and calls untouched.
    assert_eq!(out["messages"][4]["tool_calls"][0]["id"], "call_1");
    assert_eq!(out["messages"][5]["tool_call_id"], "call_1");
    assert_eq!(context::request_tokens(&out, Shape::OpenAiChat), Some(report.tokens_after));
}

#[test]
fn identical_results_keep_only_the_newest_copy() {
    let big = log(400, "same");
    let (out, report) = run(openai_chat(&[json!(big), json!("short"), json!(big)]), Shape::OpenAiChat);
    assert_eq!(report.results_deduplicated, 1);
    assert_eq!(out["messages"][3]["content"], "[mintoken: identical to the tool result in message 7]");
    // The newest copy (outside the window too) is truncated, not replaced.
    assert!(out["messages"][7]["content"].as_str().unwrap().contains("lines omitted"));
}

#[test]
fn a_file_read_twice_with_different_content_is_not_merged() {
    let v1 = log(400, "v1");
    let v2 = v1.replace("crate_100 ", "crate_100_changed ");
    assert_ne!(v1, v2);
    let (out, report) = run(openai_chat(&[json!(v1), json!(v2)]), Shape::OpenAiChat);
    assert_eq!(report.results_deduplicated, 0);
    assert!(!out["messages"][3]["content"].as_str().unwrap().contains("identical"));
}

#[test]
fn the_recency_window_is_never_touched() {
    let big = log(400, "recent");
    let mut v = openai_chat(&[json!(log(400, "old"))]);
    let messages = v["messages"].as_array_mut().unwrap();
    messages.push(json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_r", "type": "function", "function": {"name": "run", "arguments": "{}"}}]}));
    messages.push(json!({"role": "tool", "tool_call_id": "call_r", "content": big}));
    let (out, report) = run(v, Shape::OpenAiChat);
    assert_eq!(report.results_truncated, 1);
    let last = out["messages"].as_array().unwrap().last().unwrap();
    assert_eq!(last["content"].as_str().unwrap(), big);
}

#[test]
fn skip_reasons() {
    let (_, small) = run(openai_chat(&[json!("tiny")]), Shape::OpenAiChat);
    assert_eq!(small.skipped, Some(SkipReason::BelowThreshold));
    assert_eq!(small.tokens_after, small.tokens_before);
    assert!(small.tokens_before > 0);

    // Above the threshold, but the only big text is user-authored.
    let mut v = openai_chat(&[json!("tiny")]);
    v["messages"][1]["content"] = json!(log(800, "user"));
    let before = body(v.clone());
    let (out, none) = run(v, Shape::OpenAiChat);
    assert_eq!(none.skipped, Some(SkipReason::NoSavings));
    assert_eq!(out, before);

    for (v, shape) in [
        (json!({"messages": {"role": "user"}}), Shape::OpenAiChat),
        (json!({"model": "x"}), Shape::Anthropic),
        (json!({"input": 3}), Shape::OpenAiResponses),
        (json!({"contents": ["text"]}), Shape::Gemini),
    ] {
        let before = body(v.clone());
        let (out, report) = run(v, shape);
        assert_eq!(report.skipped, Some(SkipReason::UnsupportedShape), "{shape:?}");
        assert_eq!((report.tokens_before, report.tokens_after), (0, 0));
        assert_eq!(out, before);
    }
}

#[test]
fn results_with_markers_are_left_alone() {
    let marked = format!("{}[mintoken: 5 lines omitted]\n{}", log(200, "x"), log(200, "y"));
    let v = openai_chat(&[json!(marked), json!(marked)]);
    let before = body(v.clone());
    let (out, report) = run(v, Shape::OpenAiChat);
    assert_eq!(report.skipped, Some(SkipReason::NoSavings));
    assert_eq!(out, before);
}

#[test]
fn anthropic_tool_results_images_and_user_text() {
    let big = log(400, "anthropic");
    let user_text = "Here is the log.\n\n```\nkeep   \n\n\n   exactly\n```\n";
    let v = json!({
        "model": "claude",
        "system": [{"type": "text", "text": "You are an agent."}],
        "messages": [
            {"role": "user", "content": "Fix it."},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "run", "input": {"cmd": "make"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [
                    {"type": "text", "text": big},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
                ]},
                {"type": "text", "text": user_text}
            ]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_2", "name": "run", "input": {"cmd": "make"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_2", "content": big, "is_error": true}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_3", "name": "run", "input": {"cmd": "make"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_3", "content": big}]},
            {"role": "assistant", "content": "a"}, {"role": "user", "content": "b"},
            {"role": "assistant", "content": "c"}, {"role": "user", "content": "d"},
            {"role": "assistant", "content": "e"}, {"role": "user", "content": "f"}
        ]
    });
    let (out, report) = run(v.clone(), Shape::Anthropic);
    // Message 2 has an image: truncated (text part only), never deduplicated.
    let parts = &out["messages"][2]["content"][0]["content"];
    assert!(parts[0]["text"].as_str().unwrap().contains("lines omitted"));
    assert_eq!(parts[1], v["messages"][2]["content"][0]["content"][1]);
    assert_eq!(out["messages"][2]["content"][1]["text"], user_text);
    // Message 4 is an older identical copy of message 6 (string content).
    assert_eq!(out["messages"][4]["content"][0]["content"], "[mintoken: identical to the tool result in message 6]");
    assert_eq!(out["messages"][4]["content"][0]["is_error"], true);
    assert_eq!(out["messages"][4]["content"][0]["tool_use_id"], "toolu_2");
    assert_eq!(out["system"], v["system"]);
    assert_eq!((report.results_deduplicated, report.results_truncated), (1, 2));
}

#[test]
fn responses_function_call_outputs() {
    let big = log(400, "responses");
    let mut input = vec![json!({"role": "user", "content": "go"})];
    for i in 0..2 {
        input.push(json!({"type": "function_call", "call_id": format!("c{i}"), "name": "run", "arguments": "{}"}));
        input.push(json!({"type": "function_call_output", "call_id": format!("c{i}"), "output": big}));
    }
    for _ in 0..6 {
        input.push(json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "more"}]}));
    }
    let (out, report) =
        run(json!({"model": "gpt-5", "instructions": "Be brief.", "input": input}), Shape::OpenAiResponses);
    assert_eq!((report.results_deduplicated, report.results_truncated), (1, 1));
    assert_eq!(out["input"][2]["output"], "[mintoken: identical to the tool result in message 4]");
    assert!(out["input"][4]["output"].as_str().unwrap().contains("error[E0308]"));
    assert_eq!(out["input"][4]["call_id"], "c1");

    let (_, text) = run(json!({"input": "just a question"}), Shape::OpenAiResponses);
    assert_eq!(text.skipped, Some(SkipReason::BelowThreshold));
}

#[test]
fn gemini_function_responses() {
    let big = log(400, "gemini");
    let mut contents = vec![json!({"role": "user", "parts": [{"text": "go"}]})];
    for _ in 0..2 {
        contents.push(json!({"role": "model", "parts": [{"functionCall": {"name": "run", "args": {"cmd": "make"}}}]}));
        contents.push(json!({"role": "user", "parts": [{"functionResponse": {"name": "run", "response": {"content": big, "exit_code": 1}}}]}));
    }
    contents.push(json!({"role": "model", "parts": [{"functionCall": {"name": "run", "args": {}}}]}));
    contents.push(json!({"role": "user", "parts": [{"function_response": {"name": "run", "response": {"output": log(300, "other")}}}]}));
    for _ in 0..3 {
        contents.push(json!({"role": "model", "parts": [{"text": "x"}]}));
        contents.push(json!({"role": "user", "parts": [{"text": "y"}]}));
    }
    let v = json!({"systemInstruction": {"parts": [{"text": "Be brief."}]}, "contents": contents});
    let (out, report) = run(v, Shape::Gemini);
    assert_eq!(
        out["contents"][2]["parts"][0]["functionResponse"]["response"],
        json!({"output": "[mintoken: identical to the tool result in message 4]"})
    );
    let kept = &out["contents"][4]["parts"][0]["functionResponse"]["response"];
    assert!(kept["content"].as_str().unwrap().contains("lines omitted"));
    assert_eq!(kept["exit_code"], 1);
    assert!(
        out["contents"][6]["parts"][0]["function_response"]["response"]["output"]
            .as_str()
            .unwrap()
            .contains("lines omitted")
    );
    assert_eq!((report.results_deduplicated, report.results_truncated), (1, 2));
}

#[test]
fn compressing_twice_changes_nothing_more() {
    let big = log(400, "twice");
    let v = openai_chat(&[json!(big), json!(log(500, "other")), json!(big)]);
    let (once, first) = run(v, Shape::OpenAiChat);
    let mut twice = once.clone();
    let second = context::compress(&mut twice, Shape::OpenAiChat, ContextLevel::Standard);
    assert_eq!(serde_json::to_string(&twice).unwrap(), serde_json::to_string(&once).unwrap());
    assert_eq!(second.tokens_before, first.tokens_after);
    assert!(second.skipped.is_some());
}

#[test]
fn levels_differ_as_the_table_says() {
    let v = openai_chat(&[json!(log(1000, "lvl"))]);
    let omitted = |level| {
        let mut b = body(v.clone());
        context::compress(&mut b, Shape::OpenAiChat, level);
        let text = b["messages"][3]["content"].as_str().unwrap().to_string();
        text.lines().filter(|l| !l.starts_with("[mintoken")).count()
    };
    // head + tail + the one error line
    assert_eq!(omitted(ContextLevel::Conservative), 161);
    assert_eq!(omitted(ContextLevel::Standard), 101);
    assert_eq!(omitted(ContextLevel::Aggressive), 51);
}
