//! Many concurrent paced streams. For each step N, N clients each open a
//! connection (spread over a short ramp) and read one stream of `words`
//! events spaced by `chunk_ms`, so all N are open together for most of the
//! stream. A stream *stalls* when two of its events arrive more than
//! `chunk_ms + 1 s` apart, or when it does not complete. Each step runs direct
//! first, then through mintoken; the steps stop at the first stall.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::{Conn, Endpoint};
use crate::cpu::CpuSampler;
use crate::payload::{Api, chat_body};
use crate::rss::{Sampler, max_mb};
use crate::stats::{Samples, Tally};
use crate::{Ctx, mock};

const STALL_MARGIN: Duration = Duration::from_secs(1);
const RSS_EVERY: Duration = Duration::from_millis(250);
const CPU_EVERY: Duration = Duration::from_millis(500);
/// Pause between runs so the previous run's sockets are closed on both ends.
const PAUSE: Duration = Duration::from_secs(2);

pub async fn run(ctx: &Ctx, steps: &[usize], chunk_ms: u64, words: usize) -> Result<Value, String> {
    mock::set_behavior(&ctx.direct, &mock::paced(chunk_ms, words)).await?;
    let interval = Duration::from_millis(chunk_ms);
    // Spread the connects over a quarter of a stream's life (at most 2 s), so
    // the listen backlogs never overflow yet all streams overlap.
    let stream_life = interval * u32::try_from(words).unwrap_or(u32::MAX);
    let ramp = (stream_life / 4).min(Duration::from_secs(2));
    let api = Api::OpenAi;
    let body = chat_body(api, true);
    let mut results = Vec::new();
    let mut largest_without_stall = None;
    for &n in steps {
        let mut step = json!({"streams": n});
        let mut stalled = false;
        for (endpoint, pid) in [(&ctx.direct, ctx.mock_pid), (&ctx.mintoken, ctx.mintoken_pid)] {
            let sampler = Sampler::start(pid, RSS_EVERY);
            let cpu = CpuSampler::start(processes(ctx), CPU_EVERY);
            let outcome = open_streams(endpoint, api, &body, n, ramp, interval).await;
            let samples = sampler.finish().await;
            let mut side = outcome.to_json();
            side["rss_max_mb"] = json!(max_mb(&samples));
            side["cpu"] = cpu.finish().await;
            step[endpoint.side.as_str()] = side;
            stalled |= outcome.stalls > 0;
            tokio::time::sleep(PAUSE).await;
        }
        if step["mintoken"]["stalls"] == 0 && step["direct"]["stalls"] == 0 {
            largest_without_stall = Some(n);
        }
        results.push(step);
        if stalled {
            break;
        }
    }
    mock::set_behavior(&ctx.direct, &mock::instant()).await?;
    Ok(json!({
        "scenario": "streams",
        "chunk_ms": chunk_ms,
        "words": words,
        "ramp_ms": ramp.as_millis(),
        "steps": results,
        "largest_without_stall": largest_without_stall,
    }))
}

/// The processes whose CPU the steps record: a stall means something only if the
/// load generator and the mock had CPU to spare.
fn processes(ctx: &Ctx) -> Vec<(&'static str, u32)> {
    let mut processes = vec![("client", std::process::id())];
    processes.extend(ctx.mock_pid.map(|pid| ("mock", pid)));
    processes.extend(ctx.mintoken_pid.map(|pid| ("mintoken", pid)));
    processes
}

/// What N concurrent streams on one side came to.
struct Outcome {
    completed: usize,
    stalls: usize,
    largest_gap: Duration,
    gaps: Samples,
    tally: Tally,
}

impl Outcome {
    fn to_json(&self) -> Value {
        let mut value = self.tally.to_json();
        value["completed"] = json!(self.completed);
        value["stalls"] = json!(self.stalls);
        value["largest_gap_ms"] = json!(self.largest_gap.as_secs_f64() * 1000.0);
        value["gap"] = self.gaps.summary();
        value
    }
}

async fn open_streams(
    endpoint: &Endpoint,
    api: Api,
    body: &bytes::Bytes,
    n: usize,
    ramp: Duration,
    interval: Duration,
) -> Outcome {
    let shared = Arc::new((endpoint.clone(), body.clone()));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let shared = shared.clone();
        let at = start + ramp.mul_f64(i as f64 / n as f64);
        tasks.spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            let (endpoint, body) = &*shared;
            let mut conn = Conn::lazy(endpoint.addr);
            conn.stream(api, endpoint.request(api, api.path(), body.clone())).await
        });
    }
    let mut outcome = Outcome {
        completed: 0,
        stalls: 0,
        largest_gap: Duration::ZERO,
        gaps: Samples::default(),
        tally: Tally::default(),
    };
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(reply)) => {
                outcome.completed += 1;
                outcome.tally.latency.push_duration(reply.ttfb);
                let largest = reply.events.windows(2).map(|p| p[1].saturating_sub(p[0])).max().unwrap_or_default();
                for pair in reply.events.windows(2) {
                    outcome.gaps.push_duration(pair[1].saturating_sub(pair[0]));
                }
                outcome.largest_gap = outcome.largest_gap.max(largest);
                if largest > interval + STALL_MARGIN {
                    outcome.stalls += 1;
                }
            }
            Ok(Err(e)) => {
                outcome.stalls += 1;
                outcome.tally.error(e);
            }
            Err(e) => {
                outcome.stalls += 1;
                outcome.tally.error(format!("stream task failed: {e}"));
            }
        }
    }
    outcome
}
