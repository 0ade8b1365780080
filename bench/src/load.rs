//! Throughput under concurrency: `C` workers, each with its own keep-alive
//! connection, send back to back for a fixed time, to the mock and through
//! mintoken in alternating rounds. Requests started in a round's warm-up are not
//! counted.
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

pub async fn run(
    ctx: &Ctx,
    api: Api,
    levels: &[usize],
    secs: f64,
    warmup_secs: f64,
    rounds: usize,
) -> Result<Value, String> {
    mock::set_behavior(&ctx.direct, &mock::instant()).await?;
    let body = chat_body(api, false);
    let rounds = rounds.max(1);
    let round_secs = secs / rounds as f64;
    let mut results = Vec::new();
    for &concurrency in levels {
        let mut level = json!({"concurrency": concurrency});
        let sides = [(&ctx.direct, ctx.mock_pid), (&ctx.mintoken, ctx.mintoken_pid)];
        let mut totals: [SideTotal; 2] = Default::default();
        // Sides alternate in rounds, so a slow spell of this shared machine (they last
        // seconds here) falls on both sides rather than on whichever ran during it.
        for _ in 0..rounds {
            for ((endpoint, pid), total) in sides.iter().zip(&mut totals) {
                let sampler = Sampler::start(*pid, RSS_EVERY);
                let (tally, measured) = window(endpoint, api, &body, concurrency, warmup_secs, round_secs).await?;
                total.tally.merge(tally);
                total.secs += measured;
                total.rss.extend(sampler.finish().await);
            }
        }
        for ((endpoint, _), total) in sides.iter().zip(totals) {
            let mut side = total.tally.to_json();
            side["requests_per_sec"] = json!(total.tally.latency.len() as f64 / total.secs);
            side["rss_max_mb"] = json!(max_mb(&total.rss));
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
        "rounds": rounds,
        "levels": results,
        "mintoken_rss_after_mb": ctx.mintoken_pid.and_then(rss_mb),
        "settle_secs": SETTLE.as_secs(),
        "usage_records_dropped": dropped,
    }))
}

/// One side's rounds at one concurrency, added up.
#[derive(Default)]
struct SideTotal {
    tally: Tally,
    secs: f64,
    /// (seconds into its round, MB) samples of the side's server.
    rss: Vec<(f64, f64)>,
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
