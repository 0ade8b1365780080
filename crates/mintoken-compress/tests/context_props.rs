//! Property tests of Tier-1 context compression on arbitrary conversations of every shape
//! and level: the harness's invariant checks (valid JSON of the same shape, only old
//! tool-result payloads change, pairs and ids intact, honest markers, deterministic,
//! idempotent, never larger in tokens or bytes) must all pass, and user text — code fences
//! included — must come out byte-identical.

#[path = "../examples/context_eval/eval.rs"]
mod eval;
#[path = "../examples/context_eval/prng.rs"]
mod prng;
#[path = "../examples/context_eval/sessions.rs"]
mod sessions;

use mintoken_compress::ContextLevel;
use mintoken_compress::context::Shape;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};

#[derive(Debug, Clone)]
struct ResultSpec {
    lines: Vec<u8>,
    trailing_newline: bool,
    as_parts: bool,
    with_marker: bool,
    /// Repeat an earlier result exactly, or (`tweak`) with one line changed.
    copy_of: Option<Index>,
    tweak: bool,
}

#[derive(Debug, Clone)]
enum Step {
    User(Vec<usize>),
    Tool(ResultSpec),
}

/// Fragments of user text: prose, fences with whitespace that must survive, marker-like
/// and error-like text a user may paste.
const USER_FRAGMENTS: [&str; 6] = [
    "Please fix this.   \n\n\n",
    "```rust\nfn a() {   \n\n\n}\n```\n",
    "~~~\nraw   \n\n~~~\n",
    "[mintoken: 3 lines omitted]\n",
    "error: the user pasted this\r\n",
    "   \n",
];

fn line(kind: u8, i: usize) -> String {
    match kind {
        0..=7 => format!("   Compiling crate_{i} v0.{}.{}", i % 7, i % 11),
        8 => format!("error: build failed at step {i}"),
        9 => String::new(),
        10 => format!("  \"quoted\" \\ back\ttab \u{1} {i}"),
        11 => format!("ünïcødé ✓ {i} 日本語"),
        12 => format!("warning: unused variable `v{i}`"),
        13 => "x".repeat(150),
        14 => format!("test case_{i} ... ok"),
        _ => format!("line {i}"),
    }
}

fn result_text(spec: &ResultSpec, earlier: &[String]) -> String {
    if let Some(index) = &spec.copy_of
        && !earlier.is_empty()
    {
        let copy = earlier[index.index(earlier.len())].clone();
        return if spec.tweak { format!("{copy}changed\n") } else { copy };
    }
    let mut lines: Vec<String> = spec.lines.iter().enumerate().map(|(i, &k)| line(k, i)).collect();
    if spec.with_marker && !lines.is_empty() {
        let middle = lines.len() / 2;
        lines[middle] = "[mintoken: 2 lines omitted]".to_string();
    }
    let mut text = lines.join("\n");
    if spec.trailing_newline {
        text.push('\n');
    }
    text
}

fn result_spec() -> impl Strategy<Value = ResultSpec> {
    (
        prop::collection::vec(0u8..16, 0..300),
        any::<bool>(),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.1),
        prop::option::weighted(0.3, any::<Index>()),
        any::<bool>(),
    )
        .prop_map(|(lines, trailing_newline, as_parts, with_marker, copy_of, tweak)| ResultSpec {
            lines,
            trailing_newline,
            as_parts,
            with_marker,
            copy_of,
            tweak,
        })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => prop::collection::vec(0..USER_FRAGMENTS.len(), 1..5).prop_map(Step::User),
        3 => result_spec().prop_map(Step::Tool),
    ]
}

fn render(steps: &[Step], shape: Shape) -> Map<String, Value> {
    let system = "You are an agent.   \n\n\nKeep answers short.";
    let mut conversation: Vec<Value> = Vec::new();
    let mut earlier: Vec<String> = Vec::new();
    let user = |text: &str| match shape {
        Shape::OpenAiChat => json!({"role": "user", "content": text}),
        Shape::Anthropic => json!({"role": "user", "content": [{"type": "text", "text": text}]}),
        Shape::OpenAiResponses => {
            json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
        }
        Shape::Gemini => json!({"role": "user", "parts": [{"text": text}]}),
    };
    conversation.push(user("Start."));
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::User(fragments) => {
                let text: String = fragments.iter().map(|&f| USER_FRAGMENTS[f]).collect();
                conversation.push(user(&text));
            }
            Step::Tool(spec) => {
                let text = result_text(spec, &earlier);
                earlier.push(text.clone());
                let id = format!("call_{i}");
                let content = if spec.as_parts { json!([{"type": "text", "text": text}]) } else { json!(text) };
                match shape {
                    Shape::OpenAiChat => {
                        conversation.push(json!({"role": "assistant", "content": null, "tool_calls": [{"id": id, "type": "function", "function": {"name": "run", "arguments": "{}"}}]}));
                        conversation.push(json!({"role": "tool", "tool_call_id": id, "content": content}));
                    }
                    Shape::Anthropic => {
                        conversation.push(json!({"role": "assistant", "content": [{"type": "tool_use", "id": id, "name": "run", "input": {}}]}));
                        conversation.push(json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": content}]}));
                    }
                    Shape::OpenAiResponses => {
                        conversation
                            .push(json!({"type": "function_call", "call_id": id, "name": "run", "arguments": "{}"}));
                        conversation.push(json!({"type": "function_call_output", "call_id": id, "output": text}));
                    }
                    Shape::Gemini => {
                        conversation.push(json!({"role": "model", "parts": [{"functionCall": {"id": id, "name": "run", "args": {}}}]}));
                        conversation.push(json!({"role": "user", "parts": [{"functionResponse": {"id": id, "name": "run", "response": {"output": text}}}]}));
                    }
                }
            }
        }
    }
    let body = match shape {
        Shape::OpenAiChat => {
            conversation.insert(0, json!({"role": "system", "content": system}));
            json!({"model": "m", "messages": conversation})
        }
        Shape::Anthropic => json!({"model": "m", "system": system, "messages": conversation, "max_tokens": 10}),
        Shape::OpenAiResponses => json!({"model": "m", "instructions": system, "input": conversation}),
        Shape::Gemini => json!({"systemInstruction": {"parts": [{"text": system}]}, "contents": conversation}),
    };
    body.as_object().cloned().unwrap_or_default()
}

/// Every user-authored text of a body, in order.
fn user_texts(body: &Map<String, Value>, shape: Shape) -> Vec<String> {
    let conversation = body.get(shape.conversation_key()).and_then(Value::as_array).cloned().unwrap_or_default();
    let mut texts = Vec::new();
    for element in &conversation {
        let is_user = element["role"] == "user";
        if !is_user {
            continue;
        }
        match &element["content"] {
            Value::String(s) => texts.push(s.clone()),
            Value::Array(parts) => texts.extend(parts.iter().filter_map(|p| p["text"].as_str().map(str::to_string))),
            _ => {}
        }
        for part in element["parts"].as_array().into_iter().flatten() {
            texts.extend(part["text"].as_str().map(str::to_string));
        }
    }
    texts
}

const SHAPES: [Shape; 4] = [Shape::OpenAiChat, Shape::Anthropic, Shape::OpenAiResponses, Shape::Gemini];
const LEVELS: [ContextLevel; 3] = [ContextLevel::Conservative, ContextLevel::Standard, ContextLevel::Aggressive];

proptest! {
    // Each case compresses and recounts tens of thousands of tokens in a debug build.
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn compression_keeps_every_invariant(
        shape in 0..SHAPES.len(),
        level in 0..LEVELS.len(),
        steps in prop::collection::vec(step(), 1..14),
    ) {
        let (shape, level) = (SHAPES[shape], LEVELS[level]);
        let original = render(&steps, shape);
        let checked = eval::check(&original, shape, level);
        prop_assert!(checked.failures.is_empty(), "{:#?}", checked.failures);
        prop_assert_eq!(user_texts(&checked.body, shape), user_texts(&original, shape));
        let reparsed: Value = serde_json::from_str(&checked.out_json).expect("valid JSON");
        prop_assert_eq!(&reparsed, &Value::Object(checked.body.clone()));
    }
}
