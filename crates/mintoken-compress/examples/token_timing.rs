//! Cold start, memory and throughput of `tokens::count`, next to the reference tokenizer
//! (bpe-openai, what token counting was built on before it had its own vocabulary):
//!
//! ```text
//! cargo run --release -p mintoken-compress --example token_timing
//! ```
//!
//! The text is this repository's Rust sources and docs, concatenated.

use std::collections::HashSet;
use std::time::Instant;

use mintoken_compress::tokens;

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS")).unwrap_or("VmRSS: 0 kB");
    line.split_whitespace().nth(1).and_then(|kb| kb.parse().ok()).unwrap_or(0)
}

fn corpus() -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut text = String::new();
    for dir in ["crates/mintoken-compress/src", "crates/mintoken-compress/src/context", "crates/mintoken/src", "docs"] {
        let Ok(entries) = std::fs::read_dir(format!("{root}/{dir}")) else { continue };
        for entry in entries.flatten() {
            text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    text
}

/// Megabytes per second of `count` over `text`, best of a few rounds after one warm round.
fn throughput(text: &str, count: impl Fn(&str) -> usize) -> (usize, f64) {
    let tokens = count(text);
    let best = (0..5)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(count(std::hint::black_box(text)));
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    (tokens, text.len() as f64 / best / 1e6)
}

fn main() {
    // `token_timing profile`: only `tokens::count`, in a loop, for a profiler.
    if std::env::args().nth(1).as_deref() == Some("profile") {
        let text = corpus();
        let (tokens, mbs) = throughput(&text, tokens::count);
        let rounds = (0..50).map(|_| std::hint::black_box(tokens::count(&text))).filter(|&n| n == tokens).count();
        println!("{rounds} rounds, {mbs:.0} MB/s");
        return;
    }
    let before = rss_kb();
    let start = Instant::now();
    tokens::warm_up();
    let warm_up = start.elapsed();
    let after = rss_kb();
    println!("tokens::warm_up: {warm_up:.1?}, RSS {before} kB -> {after} kB (+{} kB)", after - before);

    // What warm-up built before: the reference tokenizer and a set of every token's bytes.
    let start = Instant::now();
    let reference = bpe_openai::o200k_base();
    let set: HashSet<&[u8]> = (0..reference.bpe.num_tokens()).map(|id| reference.bpe.token_bytes(id as u32)).collect();
    let old_warm_up = start.elapsed();
    let old_after = rss_kb();
    println!(
        "bpe_openai::o200k_base() + token set: {old_warm_up:.1?}, RSS +{} kB ({} tokens)",
        old_after - after,
        set.len()
    );

    let text = corpus();
    let (ours, ours_mbs) = throughput(&text, tokens::count);
    let (theirs, theirs_mbs) = throughput(&text, |t| reference.count(t));
    println!("{} bytes of repository text: {ours} tokens", text.len());
    println!("tokens::count {ours_mbs:.0} MB/s, bpe_openai count {theirs_mbs:.0} MB/s");
    assert_eq!(ours, theirs, "counts differ");
}
