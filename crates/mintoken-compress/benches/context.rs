//! Benchmarks of the request-path costs of compression: Tier-1 context compression of a
//! ~1 MB agent session (target ≤ 10 ms in release) and input compression of a 20 KB
//! prompt. Sessions come from the evaluation harness's seeded generator.
//!
//! Context compression is measured three ways, because token counting (which the engage
//! threshold and the report need) dominates and is cached process-wide: `cold` (cache
//! empty: the first time a session is seen), `warm` (the same request again) and
//! `grown_by_3` (the previous turn was seen, this one has 3 more messages: the usual
//! proxy case). `request_tokens_*_cold` is the uncached count alone.
//!
//! Figures on the 2-core development machine are in `docs/compression.md` ("Performance").

#[path = "../examples/context_eval/prng.rs"]
mod prng;
#[path = "../examples/context_eval/sessions.rs"]
mod sessions;

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mintoken_compress::ContextLevel;
use mintoken_compress::context::{self, Shape};
use mintoken_compress::{input, tokens};
use serde_json::Value;

fn context_compression(c: &mut Criterion) {
    tokens::warm_up();
    let session = sessions::generate_bytes(7, 1_000_000);
    let mut group = c.benchmark_group("context");
    group.sample_size(20);
    for shape in [Shape::OpenAiChat, Shape::Anthropic] {
        let body = sessions::render(&session, shape);
        // The previous turn of the same session: the last 3 messages not there yet.
        let mut previous = body.clone();
        if let Some(Value::Array(messages)) = previous.get_mut(shape.conversation_key()) {
            messages.truncate(messages.len() - 3);
        }
        let bytes = serde_json::to_string(&body).map_or(0, |s| s.len()) as u64;
        group.throughput(Throughput::Bytes(bytes));
        // Cold: the first time the proxy sees this session (token-count cache empty).
        group.bench_function(format!("compress_1mb_{shape:?}_standard_cold"), |b| {
            b.iter_batched_ref(
                || {
                    tokens::clear_cache();
                    body.clone()
                },
                |body| context::compress(black_box(body), shape, ContextLevel::Standard),
                BatchSize::LargeInput,
            )
        });
        // Warm: the same request again (a retry, or a client resending the same turn).
        context::compress(&mut body.clone(), shape, ContextLevel::Standard);
        group.bench_function(format!("compress_1mb_{shape:?}_standard_warm"), |b| {
            b.iter_batched_ref(
                || body.clone(),
                |body| context::compress(black_box(body), shape, ContextLevel::Standard),
                BatchSize::LargeInput,
            )
        });
        // The realistic proxy case: the previous turn was compressed, this turn has 3 more
        // messages (new text, and results that left the recency window get truncated).
        group.bench_function(format!("compress_1mb_{shape:?}_standard_grown_by_3"), |b| {
            b.iter_batched_ref(
                || {
                    tokens::clear_cache();
                    context::compress(&mut previous.clone(), shape, ContextLevel::Standard);
                    body.clone()
                },
                |body| context::compress(black_box(body), shape, ContextLevel::Standard),
                BatchSize::LargeInput,
            )
        });
        // The count alone, uncached: what the report costs without the cache.
        group.bench_function(format!("request_tokens_1mb_{shape:?}_cold"), |b| {
            b.iter_batched_ref(
                tokens::clear_cache,
                |()| context::request_tokens(black_box(&body), shape),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

/// A ~20 KB prompt with trailing spaces, blank-line runs, repeated paragraphs and code.
fn prompt_20kb() -> String {
    let mut rng = prng::Rng::new(11);
    let mut text = String::new();
    let paragraphs: Vec<String> = (0..12)
        .map(|i| format!("Paragraph {i}: the service returns stale totals after a retry; the cache key ignores the tenant id {}.", rng.hex(8)))
        .collect();
    while text.len() < 20_000 {
        text.push_str(rng.pick(paragraphs.as_slice()).as_str());
        text.push_str("   \n\n\n");
        if rng.percent(20) {
            text.push_str("```rust\nfn total(items: &[Item]) -> u64 {   \n\n\n    items.iter().map(|i| i.cents).sum()\n}\n```\n\n");
        }
    }
    text
}

fn input_compression(c: &mut Criterion) {
    tokens::warm_up();
    let prompt = prompt_20kb();
    let mut group = c.benchmark_group("input");
    group.throughput(Throughput::Bytes(prompt.len() as u64));
    group.bench_function("compress_text_20kb", |b| b.iter(|| input::compress_text(black_box(&prompt))));
    group.finish();
}

criterion_group!(benches, context_compression, input_compression);
criterion_main!(benches);
