//! Speed of smart detection (SPEC §3 asks for microseconds): a typical ~1 KB prompt, a
//! ~20 KB one with pasted code, and a 100 KB worst case that must stay under a millisecond.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mintoken_compress::classifier::classify;

/// A realistic ~1 KB request: prose, one code block, a few trap words, no trigger.
fn typical() -> String {
    let text = "We have a retry policy in our HTTP client that is supposed to back off when the \
upstream returns 503, but in production it hammers the service instead. The client is used by \
three workers that each exploit parallelism with a thread pool of 16, and the token count of \
each request is logged for the LLM budget dashboard. Could you rewrite the loop below so that \
it waits 2^n * 100 ms with full jitter, gives up after 5 attempts, and records the attempt \
number in the span? Keep the public function signature unchanged because the contract tests \
of two other teams call it directly.\n\n```python\ndef fetch(url, session):\n    for attempt in \
range(5):\n        r = session.get(url, timeout=3)\n        if r.status_code != 503:\n            \
return r\n    return r\n```\n\nAlso, in terms of style we use type hints everywhere and ruff \
with the default rules. If the jitter makes the tests flaky, inject a seeded random source \
through the constructor instead of patching the module. Thanks!";
    assert!((900..1300).contains(&text.len()), "{}", text.len());
    text.to_owned()
}

/// Repeats a varied block (prose, code, log lines) up to `size` bytes, so the automaton
/// sees many partial matches, as with a long pasted file.
fn long(size: usize) -> String {
    let block = "Here is the next part of the service, the handler reads the user record and \
updates the customer profile; the error message in the log says the cache was stale.\n\n```rust\n\
fn update(user: &User, db: &Db) -> Result<(), Error> {\n    let mut profile = db.profile(user.id)?;\n    \
profile.touch();\n    db.save(&profile)\n}\n```\n\n2024-05-01T10:00:00Z INFO request_id=42 path=/v1/users \
status=200 latency_ms=12\n";
    let mut text = String::with_capacity(size + block.len());
    while text.len() < size {
        text.push_str(block);
    }
    text
}

fn bench(c: &mut Criterion) {
    let system = "You are a helpful coding assistant. Answer concisely.";
    let _ = classify("warm up", ""); // compile the lists outside the measurement
    let mut group = c.benchmark_group("classify");
    for (name, text) in [("typical_1kb", typical()), ("long_20kb", long(20_000)), ("huge_100kb", long(100_000))] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(name, |b| b.iter(|| classify(black_box(&text), black_box(system))));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
