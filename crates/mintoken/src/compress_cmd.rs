//! `mintoken compress`: the compression engine on a request body from stdin, for
//! scripting and for evaluating settings on real sessions without a server.

use crate::cli::CompressArgs;
use mintoken_compress::context::{self, Shape};
use mintoken_compress::{ContextLevel, input};
use serde_json::{Map, Value};
use std::io::Read;

pub fn run(args: CompressArgs) -> Result<(), String> {
    let level: ContextLevel = args.level.parse().map_err(|e| format!("--level: {e}"))?;
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(|e| format!("cannot read stdin: {e}"))?;
    let mut body: Map<String, Value> = match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err("the body on stdin must be a JSON object".to_owned()),
        Err(e) => return Err(format!("the body on stdin is not valid JSON: {e}")),
    };
    let shape = match args.api.as_deref() {
        Some(api) => parse_api(api)?,
        None => detect(&body),
    };
    let input_report = args.input_compress.then(|| input::compress_conversation(&mut body, shape));
    let report = context::compress(&mut body, shape, level);
    let out = serde_json::to_string(&Value::Object(body)).map_err(|e| e.to_string())?;
    println!("{out}");
    let mut line = format!(
        "mintoken compress: api={} level={level} context_tokens_before={} context_tokens_after={} deduplicated={} truncated={}",
        api_name(shape),
        report.tokens_before,
        report.tokens_after,
        report.results_deduplicated,
        report.results_truncated
    );
    if let Some(reason) = report.skipped {
        line.push_str(&format!(" skipped={}", reason.as_str()));
    }
    if let Some(i) = input_report {
        line.push_str(&format!(" input_tokens_before={} input_tokens_after={}", i.tokens_before, i.tokens_after));
    }
    eprintln!("{line}");
    Ok(())
}

fn parse_api(api: &str) -> Result<Shape, String> {
    match api {
        "openai" | "chat" => Ok(Shape::OpenAiChat),
        "responses" => Ok(Shape::OpenAiResponses),
        "anthropic" => Ok(Shape::Anthropic),
        "gemini" | "google" => Ok(Shape::Gemini),
        other => Err(format!("--api {other:?}: expected openai, responses, anthropic or gemini")),
    }
}

fn api_name(shape: Shape) -> &'static str {
    match shape {
        Shape::OpenAiChat => "openai",
        Shape::OpenAiResponses => "responses",
        Shape::Anthropic => "anthropic",
        Shape::Gemini => "gemini",
    }
}

/// `contents` → Gemini, `input` → Responses; `messages` is Anthropic when the body has a
/// top-level `system` or Anthropic tool blocks, OpenAI otherwise.
fn detect(body: &Map<String, Value>) -> Shape {
    if body.contains_key("contents") {
        return Shape::Gemini;
    }
    if body.contains_key("input") && !body.contains_key("messages") {
        return Shape::OpenAiResponses;
    }
    let anthropic_blocks = body.get("messages").and_then(Value::as_array).is_some_and(|messages| {
        messages
            .iter()
            .filter_map(|m| m.get("content").and_then(Value::as_array))
            .flatten()
            .any(|block| matches!(block.get("type").and_then(Value::as_str), Some("tool_use" | "tool_result")))
    });
    if body.contains_key("system") || anthropic_blocks { Shape::Anthropic } else { Shape::OpenAiChat }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shape_of(v: Value) -> Shape {
        detect(v.as_object().unwrap())
    }

    #[test]
    fn detects_the_api_from_the_body() {
        assert_eq!(shape_of(json!({"contents": []})), Shape::Gemini);
        assert_eq!(shape_of(json!({"input": "hi"})), Shape::OpenAiResponses);
        assert_eq!(shape_of(json!({"messages": [], "system": "s"})), Shape::Anthropic);
        assert_eq!(
            shape_of(json!({"messages": [{"role": "user", "content": [{"type": "tool_result"}]}]})),
            Shape::Anthropic
        );
        assert_eq!(shape_of(json!({"messages": [{"role": "user", "content": "hi"}]})), Shape::OpenAiChat);
    }
}
