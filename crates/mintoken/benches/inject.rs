//! The proxy's per-request skill-injection transform on a typical ~2 KB request body:
//! parse (`Dialect::parse`), `inject_skill` with the `full` skill text, serialize.
//! Target: ≤ 5 µs. Figures are in `docs/BENCHMARKS.md`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mintoken::proxy::anthropic::AnthropicMessages;
use mintoken::proxy::dialect::{Dialect, RouteInfo};
use mintoken::proxy::openai_chat::OpenAiChat;
use mintoken_compress::Intensity;
use serde_json::json;

/// A short coding conversation: system prompt, a question, an assistant tool call, its
/// result, a follow-up. About 2 KB serialized.
fn openai_body() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "model": "gpt-4.1-mini",
        "stream": true,
        "temperature": 0.2,
        "messages": [
            { "role": "system", "content": system_prompt() },
            { "role": "user", "content": question() },
            { "role": "assistant", "content": null, "tool_calls": [{
                "id": "call_8f2a", "type": "function",
                "function": { "name": "read_file", "arguments": "{\"path\":\"src/cache.rs\"}" }
            }]},
            { "role": "tool", "tool_call_id": "call_8f2a", "content": tool_output() },
            { "role": "user", "content": "Fix it and keep the public API unchanged." }
        ],
        "tools": [{ "type": "function", "function": {
            "name": "read_file", "description": "Read a file of the repository",
            "parameters": { "type": "object", "properties": { "path": { "type": "string" } }, "required": ["path"] }
        }}]
    }))
    .expect("serializable")
}

fn anthropic_body() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "stream": true,
        "system": system_prompt(),
        "messages": [
            { "role": "user", "content": question() },
            { "role": "assistant", "content": [
                { "type": "text", "text": "Let me read the cache module." },
                { "type": "tool_use", "id": "toolu_01", "name": "read_file", "input": { "path": "src/cache.rs" } }
            ]},
            { "role": "user", "content": [
                { "type": "tool_result", "tool_use_id": "toolu_01", "content": tool_output() },
                { "type": "text", "text": "Fix it and keep the public API unchanged." }
            ]}
        ],
        "tools": [{
            "name": "read_file", "description": "Read a file of the repository",
            "input_schema": { "type": "object", "properties": { "path": { "type": "string" } }, "required": ["path"] }
        }]
    }))
    .expect("serializable")
}

fn system_prompt() -> &'static str {
    "You are a careful coding assistant working in a Rust repository. Prefer small, \
     reviewable changes; explain what you change and why. Run the tests before you say \
     something works. Never invent APIs: read the code first."
}

fn question() -> &'static str {
    "The totals endpoint returns stale numbers after a retry. I think the cache key \
     ignores the tenant id. Can you check src/cache.rs and fix it?"
}

fn tool_output() -> String {
    let mut out = String::new();
    for i in 0..14 {
        out.push_str(&format!(
            "{:>3} | pub fn total_{i}(&self, tenant: TenantId) -> u64 {{ self.get(key({i})) }}\n",
            i + 10
        ));
    }
    out
}

fn inject(c: &mut Criterion) {
    let skill = mintoken_compress::skill::text(Intensity::Full).expect("full has a skill text");
    let route = RouteInfo::default();
    let mut group = c.benchmark_group("inject");
    let cases: [(&str, &dyn Dialect, Vec<u8>); 2] =
        [("openai_chat", &OpenAiChat, openai_body()), ("anthropic", &AnthropicMessages, anthropic_body())];
    for (name, dialect, body) in cases {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("parse_inject_serialize_{name}_{}b", body.len()), |b| {
            b.iter(|| {
                let mut parsed = dialect.parse(black_box(&body), &route).expect("valid request");
                dialect.inject_skill(&mut parsed, skill).expect("injectable");
                serde_json::to_vec(&parsed.body).expect("serializable")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, inject);
criterion_main!(benches);
