//! The process-wide token-count cache never changes a figure: compressing a session with
//! the cache empty, warm, or after an earlier turn of the same session gives the same body
//! and report, and cached counts equal direct counts.

#[path = "../examples/context_eval/prng.rs"]
mod prng;
#[path = "../examples/context_eval/sessions.rs"]
mod sessions;

use mintoken_compress::context::{self, Shape};
use mintoken_compress::{ContextLevel, tokens};
use serde_json::{Map, Value};

const SHAPES: [Shape; 4] = [Shape::OpenAiChat, Shape::OpenAiResponses, Shape::Anthropic, Shape::Gemini];

/// The request-token figure of `body` counted from an empty cache (only its own repeated
/// pieces can hit). Per-text equality of cached and direct counts is checked below.
fn fresh_total(body: &Map<String, Value>, shape: Shape) -> usize {
    tokens::clear_cache();
    context::request_tokens(body, shape).unwrap()
}

#[test]
fn cold_warm_and_grown_turns_give_identical_results() {
    tokens::warm_up();
    for seed in [3, 5] {
        let session = sessions::generate(seed, sessions::Config { min_turns: 30, max_turns: 40 });
        for shape in SHAPES {
            let body = sessions::render(&session, shape);
            let mut previous = body.clone();
            if let Some(Value::Array(items)) = previous.get_mut(shape.conversation_key()) {
                items.truncate(items.len().saturating_sub(3));
            }
            for level in [ContextLevel::Conservative, ContextLevel::Standard, ContextLevel::Aggressive] {
                tokens::clear_cache();
                let mut cold = body.clone();
                let cold_report = context::compress(&mut cold, shape, level);

                let mut warm = body.clone();
                let warm_report = context::compress(&mut warm, shape, level);
                assert_eq!((&warm, &warm_report), (&cold, &cold_report), "{shape:?} {level:?} warm");

                tokens::clear_cache();
                context::compress(&mut previous.clone(), shape, level);
                let mut grown = body.clone();
                let grown_report = context::compress(&mut grown, shape, level);
                assert_eq!((&grown, &grown_report), (&cold, &cold_report), "{shape:?} {level:?} grown");

                assert_eq!(cold_report.tokens_before, fresh_total(&body, shape));
                assert_eq!(cold_report.tokens_after, fresh_total(&cold, shape));
            }
        }
    }
}

#[test]
fn cached_counts_of_session_texts_equal_direct_counts() {
    let session = sessions::generate(9, sessions::Config { min_turns: 20, max_turns: 30 });
    let body = Value::Object(sessions::render(&session, Shape::Anthropic));
    let mut texts = Vec::new();
    collect_strings(&body, &mut texts);
    assert!(texts.iter().any(|t| t.len() >= tokens::CACHE_FROM_BYTES));
    for round in 0..2 {
        for text in &texts {
            assert_eq!(tokens::count_cached(text), tokens::count(text), "round {round}");
        }
    }
}

fn collect_strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(members) => members.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}
