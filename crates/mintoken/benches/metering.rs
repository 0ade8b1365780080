//! What metering adds to each proxied request, measured per request so the tail shows:
//! the requests-per-minute check, the quota check (in-memory counter), the quota
//! admission (reservation), building and queueing the usage record (with its log line
//! formatted by a JSON subscriber into a sink), and releasing the reservation. The
//! database write happens on the writer task, off the request path; it runs here too, on
//! another runtime thread, as in the server. Target: ≤ 20 µs at p99.
//!
//! `cargo bench -p mintoken --bench metering` prints p50/p90/p99/p99.9 over 200,000
//! requests from 1,000 accounts. Figures are in `docs/BENCHMARKS.md`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mintoken::cli::{ServeArgs, StoreArgs};
use mintoken::clock::Clock;
use mintoken::config::Config;
use mintoken::metering::{IntensityReason, QuotaCounters, RateLimiter, UsageRecord, UsageSource, UsageWriter};
use mintoken::store::Store;
use mintoken_compress::Intensity;

const REQUESTS: usize = 200_000;
const ACCOUNTS: usize = 1_000;

fn main() {
    tracing_subscriber::fmt().json().with_writer(std::io::sink).init();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let args = ServeArgs {
        store: StoreArgs { data_dir: Some(dir.path().to_path_buf()), ..Default::default() },
        ..Default::default()
    };
    let config = Config::load(&args).expect("config");
    let store = Store::open(&config).await.expect("store");
    let clock = Clock::default();
    let quota = Arc::new(QuotaCounters::new(store.clone(), clock.clone()));
    let (usage, writer) = UsageWriter::start(&config, quota.clone(), Default::default()).expect("writer");
    let rate = RateLimiter::new(clock.clone());
    let users: Vec<String> = (0..ACCOUNTS).map(|i| format!("user-{i:04}-0000-0000-0000-000000000000")).collect();
    // Load every counter once, as the first request of each account does.
    for user in &users {
        quota.used(user).await.expect("counter");
    }

    let mut samples = Vec::with_capacity(REQUESTS);
    for i in 0..REQUESTS {
        let user = &users[i % ACCOUNTS];
        let started = Instant::now();
        rate.check(user, 1_000_000).expect("within the rate");
        let used = quota.used(user).await.expect("counter");
        let reservation = quota.admit(user, i64::MAX, Some(256)).expect("admitted");
        usage.record(UsageRecord {
            request_id: format!("req_{i:024}"),
            created_at: clock.now_ms(),
            user_id: user.clone(),
            org_id: None,
            key_id: "key-0000".to_owned(),
            provider: "openai",
            model: "gpt-4o-mini".to_owned(),
            endpoint: "chat.completions",
            intensity: Intensity::Full,
            intensity_reason: IntensityReason::Default,
            status: 200,
            input_tokens: 812,
            output_tokens: 97 + used % 3,
            skill_tokens: 119,
            holdout: false,
            context_tokens_before: None,
            context_tokens_after: None,
            duration_ms: 412,
            upstream_ms: 409,
            streamed: false,
            usage_source: UsageSource::Upstream,
        });
        drop(reservation);
        samples.push(started.elapsed());
        if i % 512 == 0 {
            // Let the writer task keep up, as idle time between requests does in a server.
            tokio::task::yield_now().await;
        }
    }
    writer.finish(usage).await;

    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "metering per request ({REQUESTS} requests, {ACCOUNTS} accounts): p50 {:.2} µs, p90 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs, max {:.1} µs",
        us(at(0.50)),
        us(at(0.90)),
        us(at(0.99)),
        us(at(0.999)),
        us(samples[samples.len() - 1]),
    );
}
