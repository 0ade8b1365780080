//! Prints how smart detection does on the labelled set (`data/classifier/prompts.jsonl`):
//! confusion matrix, per-class precision/recall and the share of benign prompts wrongly
//! bypassed, for the tuning split, the held-out test split and all prompts; then the
//! classify time per prompt. The figures in `docs/classifier.md` are this output.
//!
//! `cargo run -p mintoken-compress --release --example classifier_report [-- --misses]`;
//! `--misses` also lists the misclassified prompts of the tuning split (the ones the word
//! lists may be tuned against), `--misses-test` those of the test split; `--batch NAME`
//! prints the full figures and the misclassified prompts of one writing batch
//! (`--batch fresh5`).

#[path = "../tests/classifier_eval/mod.rs"]
mod classifier_eval;

use std::time::{Duration, Instant};

use classifier_eval::{Eval, Prompt, load};
use mintoken_compress::classifier::Class;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let prompts = load();
    let tuning: Vec<&Prompt> = prompts.iter().filter(|p| !p.test).collect();
    let test: Vec<&Prompt> = prompts.iter().filter(|p| p.test).collect();
    let all: Vec<&Prompt> = prompts.iter().collect();
    for (name, subset) in [("tuning split", &tuning), ("test split (held out)", &test), ("all prompts", &all)] {
        println!("## {name}\n");
        println!("{}", Eval::of(subset.iter().copied()).render());
    }
    print_batches(&prompts);
    print_timing(&prompts);
    if args.iter().any(|a| a == "--misses") {
        print_misses("tuning", &tuning);
    }
    if args.iter().any(|a| a == "--misses-test") {
        print_misses("test", &test);
    }
    if let Some(batch) = args.iter().position(|a| a == "--batch").and_then(|i| args.get(i + 1)) {
        let subset: Vec<&Prompt> = prompts.iter().filter(|p| &p.batch == batch).collect();
        println!("## batch {batch}\n");
        println!("{}", Eval::of(subset.iter().copied()).render());
        print_misses(batch, &subset);
    }
}

/// The headline figures per writing batch, with the current lists. Batches after "base"
/// were measured once against frozen lists before being tuned on; those first figures
/// are kept in docs/classifier.md.
fn print_batches(prompts: &[Prompt]) {
    println!("## by batch (current lists)\n");
    println!(
        "{:<8}{:>8}{:>18}{:>18}{:>16}",
        "batch", "prompts", "security bypassed", "legal bypassed", "benign bypassed"
    );
    let mut batches: Vec<&str> = prompts.iter().map(|p| p.batch.as_str()).collect();
    batches.dedup();
    for batch in batches {
        let eval = Eval::of(prompts.iter().filter(|p| p.batch == batch));
        println!(
            "{batch:<8}{:>8}{:>18.3}{:>18.3}{:>16}",
            eval.total(),
            eval.bypass_recall(Class::Security),
            eval.bypass_recall(Class::Legal),
            format!("{}/{}", eval.benign_bypassed, eval.benign)
        );
    }
    println!();
}

/// Mean and p99 over the prompts of the time one classify call takes (system prompt
/// included). Each prompt is timed over batches of calls, so timer resolution does not
/// matter, and its median batch is kept, so a preemption by the OS does not either.
fn print_timing(prompts: &[Prompt]) {
    const CALLS: u32 = 50;
    const BATCHES: usize = 5;
    let _ = prompts[0].predict(); // the first call compiles the lists
    let mut per_call: Vec<Duration> = prompts
        .iter()
        .map(|p| {
            let mut batches: Vec<Duration> = (0..BATCHES)
                .map(|_| {
                    let started = Instant::now();
                    for _ in 0..CALLS {
                        std::hint::black_box(mintoken_compress::classifier::classify(
                            std::hint::black_box(&p.text),
                            std::hint::black_box(&p.system),
                        ));
                    }
                    started.elapsed() / CALLS
                })
                .collect();
            batches.sort();
            batches[BATCHES / 2]
        })
        .collect();
    per_call.sort();
    let mean = per_call.iter().sum::<Duration>() / per_call.len() as u32;
    let p99 = per_call[(per_call.len() * 99).div_ceil(100) - 1];
    let max = per_call[per_call.len() - 1];
    let bytes: Vec<usize> = prompts.iter().map(|p| p.text.len() + p.system.len()).collect();
    println!(
        "## timing ({} prompts, {}-{} bytes, mean {} bytes)\n\nclassify: mean {:.2} µs, p99 {:.2} µs, max {:.2} µs\n",
        prompts.len(),
        bytes.iter().min().unwrap_or(&0),
        bytes.iter().max().unwrap_or(&0),
        bytes.iter().sum::<usize>() / bytes.len().max(1),
        micros(mean),
        micros(p99),
        micros(max)
    );
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn print_misses(split: &str, prompts: &[&Prompt]) {
    println!("## misclassified ({split} split)\n");
    for p in prompts {
        let predicted = p.predict();
        if predicted != p.label {
            let text: String = p.text.chars().take(160).collect::<String>().replace('\n', " ");
            let system = if p.system.is_empty() { String::new() } else { " [+system]".to_owned() };
            println!(
                "- {} -> {}{}{system}: {text}",
                p.label.as_str(),
                predicted.as_str(),
                if p.trap { " (trap)" } else { "" }
            );
        }
    }
    println!();
}
