//! Throughput under concurrency: `C` workers, each with its own keep-alive
//! connection, send back to back for a fixed time, first to the mock, then
//! through mintoken. Requests started in the warm-up window are not counted.
//! Memory is sampled during each run (the mock's on the direct side,
//! mintoken's on the other) and once more after the last run has settled, when
//! mintoken's count of usage records it had to drop is read too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::{self, Conn, Endpoint};
use crate::payload::{Api, chat_body};
use crate::rss::{Sampler, max_mb, rss_mb};
use crate::stats::Tally;
use crate::{Ctx, mock};

const RSS_EVERY: Duration = Duration::from_millis(250);
/// Time given to mintoken after the load to release what it can.
const SETTLE: Duration = Duration::from_secs(5);

pub async fn run(ctx: &Ctx, api: Api, levels: &[usize], secs: f64, warmup_secs: f64) -> Result<Value, String> {
    mock::set_behavior(&ctx.direct, &mock::instant()).await?;
    let body = chat_body(api, false);
    let mut results = Vec::new();
    for &concurrency in levels {
        let mut level = json!({"concurrency": concurrency});
        for (endpoint, pid) in [(&ctx.direct, ctx.mock_pid), (&ctx.mintoken, ctx.mintoken_pid)] {
            let sampler = Sampler::start(pid, RSS_EVERY);
            let (tally, measured) = window(endpoint, api, &body, concurrency, warmup_secs, secs).await?;
            let samples = sampler.finish().await;
            let mut side = tally.to_json();
            side["requests_per_sec"] = json!(tally.latency.len() as f64 / measured);
            side["rss_max_mb"] = json!(max_mb(&samples));
            level[endpoint.side.as_str()] = side;
        }
        results.push(level);
    }
    tokio::time::sleep(SETTLE).await;
    // Every request through mintoken must leave a usage row: a writer that cannot keep up
    // with a saturated instance shows here as records its bounded queue dropped.
    let dropped = client::metric(ctx.mintoken.addr, "mintoken_usage_records_dropped_total").await?;
    Ok(json!({
        "scenario": "load",
        "api": api.as_str(),
        "secs": secs,
        "levels": results,
        "mintoken_rss_after_mb": ctx.mintoken_pid.and_then(rss_mb),
        "settle_secs": SETTLE.as_secs(),
        "usage_records_dropped": dropped,
    }))
}

/// Runs `concurrency` workers for `warmup + secs`; returns the tally of the
/// requests started after the warm-up and the measured seconds.
async fn window(
    endpoint: &Endpoint,
    api: Api,
    body: &bytes::Bytes,
    concurrency: usize,
    warmup_secs: f64,
    secs: f64,
) -> Result<(Tally, f64), String> {
    let mut conns = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        conns.push(Conn::open(endpoint.addr).await?);
    }
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(warmup_secs);
    let end = measure_from + Duration::from_secs_f64(secs);
    let shared = Arc::new((endpoint.clone(), body.clone()));
    let mut tasks = tokio::task::JoinSet::new();
    for mut conn in conns {
        let shared = shared.clone();
        tasks.spawn(async move {
            let (endpoint, body) = &*shared;
            let mut tally = Tally::default();
            loop {
                let request = endpoint.request(api, api.path(), body.clone());
                let started = Instant::now();
                if started >= end {
                    break;
                }
                let outcome = conn.call(request).await;
                if started < measure_from {
                    continue;
                }
                match outcome {
                    Ok(reply) => tally.ok(&reply),
                    Err(e) => tally.error(e),
                }
            }
            tally
        });
    }
    let total = Tally::join(tasks).await;
    Ok((total, secs))
}
