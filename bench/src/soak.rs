//! The soak: mixed traffic through mintoken (OpenAI and Anthropic, plain and
//! streamed, zero delay) from `concurrency` workers for a long time, sampling
//! its memory. Memory that is flat after the warm-up means no leak per request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::Conn;
use crate::payload::{Api, chat_body};
use crate::rss::{Sampler, max_mb};
use crate::stats::Tally;
use crate::{Ctx, mock};

/// The four kinds of request, taken in turn by each worker.
const MIX: [(Api, bool); 4] =
    [(Api::OpenAi, false), (Api::Anthropic, false), (Api::OpenAi, true), (Api::Anthropic, true)];

pub async fn run(ctx: &Ctx, secs: f64, concurrency: usize, sample_secs: f64) -> Result<Value, String> {
    mock::set_behavior(&ctx.direct, &mock::instant()).await?;
    let bodies: Vec<_> = MIX.iter().map(|&(api, stream)| (api, stream, chat_body(api, stream))).collect();
    let shared = Arc::new((ctx.mintoken.clone(), bodies));
    let sampler = Sampler::start(ctx.mintoken_pid, Duration::from_secs_f64(sample_secs));
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let shared = shared.clone();
        let mut conn = Conn::open(ctx.mintoken.addr).await?;
        tasks.spawn(async move {
            let (endpoint, bodies) = &*shared;
            let mut tally = Tally::default();
            let mut i = worker;
            while Instant::now() < end {
                let (api, stream, body) = &bodies[i % bodies.len()];
                let request = endpoint.request(*api, api.path(), body.clone());
                let outcome = if *stream {
                    conn.stream(*api, request).await.map(|r| r.ttfb)
                } else {
                    conn.call(request).await.map(|r| r.elapsed)
                };
                match outcome {
                    Ok(elapsed) => tally.latency.push_duration(elapsed),
                    Err(e) => tally.error(e),
                }
                i += 1;
            }
            tally
        });
    }
    let total = Tally::join(tasks).await;
    let samples = sampler.finish().await;
    let mut result = json!({
        "scenario": "soak",
        "secs": secs,
        "concurrency": concurrency,
        "requests": total.latency.len(),
        "requests_per_sec": total.latency.len() as f64 / secs,
        "samples": samples.iter().map(|&(t, mb)| json!([t, mb])).collect::<Vec<_>>(),
        "max_mb": max_mb(&samples),
        "first_mb": samples.first().map(|s| s.1),
        "last_mb": samples.last().map(|s| s.1),
        "growth_mb": growth(&samples, secs),
    });
    let tally = total.to_json();
    result["errors"] = tally["errors"].clone();
    result["first_errors"] = tally["first_errors"].clone();
    result["latency"] = tally["latency"].clone();
    Ok(result)
}

/// Mean RSS of the second half minus that of the first half, leaving out a
/// warm-up of a tenth of the run (at most 30 s): with a 10-minute soak, the
/// last 5 minutes against the first 5 after warm-up.
pub(crate) fn growth(samples: &[(f64, f64)], secs: f64) -> Option<f64> {
    let warmup = (secs / 10.0).min(30.0);
    let half = secs / 2.0;
    let mean = |range: std::ops::Range<f64>| {
        let picked: Vec<f64> = samples.iter().filter(|(t, _)| range.contains(t)).map(|&(_, mb)| mb).collect();
        (!picked.is_empty()).then(|| picked.iter().sum::<f64>() / picked.len() as f64)
    };
    Some(mean(half..f64::INFINITY)? - mean(warmup..half)?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn growth_compares_the_halves_after_warmup() {
        let samples = [(0.0, 50.0), (100.0, 10.0), (200.0, 12.0), (400.0, 13.0), (500.0, 15.0)];
        assert_eq!(super::growth(&samples, 600.0), Some(3.0));
        assert_eq!(super::growth(&[], 600.0), None);
    }
}
