//! The mixed load of issue 10: plain and streamed requests to all three
//! providers (OpenAI chat, Anthropic, Gemini) through mintoken from
//! `concurrency` workers for a long time, with upstream faults mixed in, while
//! mintoken's memory is sampled.
//!
//! Faults come in short windows, one per `fault_period`, in turn: the mock
//! answers every request with a 500, then with a 429, then drops every stream
//! after a few events (and closes non-streamed requests without an answer).
//! An answer is an *expected* fault when it is the mock's marked 500/429, or a
//! broken stream / 502 while a drop window was open (plus a little slack);
//! anything else that is not a complete answer is an unexpected error.
//!
//! Every request that mintoken answered (any status, or a stream that began)
//! must have a usage row: the count is printed for `bench/run-mixed-load`,
//! which compares it with the rows in the database after shutdown.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::{Value, json};

use crate::client::{Conn, Endpoint};
use crate::payload::{Api, PROMPT, SYSTEM, chat_body};
use crate::rss::{Sampler, max_mb};
use crate::stats::Tally;
use crate::{Ctx, mock};

/// Text in the body of every injected 500/429, so they are told apart from
/// mintoken's own errors (its rate limit also answers 429).
const FAULT_MARKER: &str = "mixed-load injected fault";
/// A 502 or a broken stream this soon after a drop window closed still counts
/// as that window's: mintoken may have taken a connection the mock had just
/// aborted from its pool.
const DROP_SLACK: Duration = Duration::from_millis(500);
/// Streams are paced (a few milliseconds between events), so they overlap the
/// fault windows and each other as real streams do.
const CHUNK_MS: u64 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Provider {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Provider {
    fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Gemini => "gemini",
        }
    }
}

/// The six kinds of request, taken in turn by each worker.
const MIX: [(Provider, bool); 6] = [
    (Provider::OpenAi, false),
    (Provider::Anthropic, true),
    (Provider::Gemini, false),
    (Provider::OpenAi, true),
    (Provider::Anthropic, false),
    (Provider::Gemini, true),
];

#[derive(Clone, Copy, Debug)]
enum Fault {
    Status500,
    Status429,
    Drop,
}

impl Fault {
    fn behavior(self) -> Value {
        let body = |kind: &str| json!({"error": {"message": FAULT_MARKER, "type": kind}}).to_string();
        let fault = match self {
            Fault::Status500 => json!({"kind": "status", "status": 500, "body": body("server_error")}),
            Fault::Status429 => {
                json!({"kind": "status", "status": 429, "body": body("rate_limit_error"), "retry_after": "1"})
            }
            Fault::Drop => json!({"kind": "drop_after_events", "events": 3}),
        };
        json!({"chunk_delay_ms": CHUNK_MS, "fault": fault})
    }
}

fn normal() -> Value {
    json!({"chunk_delay_ms": CHUNK_MS})
}

fn gemini_body() -> Bytes {
    let body = json!({
        "systemInstruction": {"parts": [{"text": SYSTEM}]},
        "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
    });
    Bytes::from(body.to_string())
}

struct Kind {
    provider: Provider,
    stream: bool,
    body: Bytes,
}

impl Kind {
    fn request(&self, endpoint: &Endpoint) -> Request<Full<Bytes>> {
        match self.provider {
            Provider::OpenAi => endpoint.request(Api::OpenAi, Api::OpenAi.path(), self.body.clone()),
            Provider::Anthropic => endpoint.request(Api::Anthropic, Api::Anthropic.path(), self.body.clone()),
            Provider::Gemini if self.stream => endpoint
                .gemini_request("/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse", self.body.clone()),
            Provider::Gemini => {
                endpoint.gemini_request("/v1beta/models/gemini-2.0-flash:generateContent", self.body.clone())
            }
        }
    }

    fn end_marker(&self) -> &'static [u8] {
        match self.provider {
            Provider::OpenAi => Api::OpenAi.end_marker(),
            Provider::Anthropic => Api::Anthropic.end_marker(),
            Provider::Gemini => b"finishReason",
        }
    }
}

/// The fault windows so far: when each opened and closed, and its kind.
type Windows = Vec<(Instant, Instant, &'static str)>;

/// A failure that is neither success nor a marked status: judged after the run,
/// once every drop window is known.
struct Failure {
    start: Instant,
    end: Instant,
    message: String,
}

#[derive(Default)]
struct Counts {
    /// Answers mintoken gave (any status, or a stream that began): each one is metered.
    answered: u64,
    ok: u64,
    status_500: u64,
    status_429: u64,
    /// Per provider and plain/stream, in [`MIX`] order.
    per_kind: [u64; MIX.len()],
    latency: Tally,
    failures: Vec<Failure>,
}

pub async fn run(
    ctx: &Ctx,
    secs: f64,
    concurrency: usize,
    sample_secs: f64,
    fault_period_secs: f64,
    fault_secs: f64,
) -> Result<Value, String> {
    mock::set_behavior(&ctx.direct, &normal()).await?;
    let kinds: Vec<Kind> = MIX
        .iter()
        .map(|&(provider, stream)| {
            let body = match provider {
                Provider::OpenAi => chat_body(Api::OpenAi, stream),
                Provider::Anthropic => chat_body(Api::Anthropic, stream),
                Provider::Gemini => gemini_body(),
            };
            Kind { provider, stream, body }
        })
        .collect();
    let shared = Arc::new((ctx.mintoken.clone(), kinds));
    let sampler = Sampler::start(ctx.mintoken_pid, Duration::from_secs_f64(sample_secs));
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);

    // The fault windows: one per period, 70% of the way into it.
    let windows: Arc<Mutex<Windows>> = Arc::default();
    let controller = {
        let windows = windows.clone();
        let mock_endpoint = ctx.direct.clone();
        tokio::spawn(async move {
            let period = Duration::from_secs_f64(fault_period_secs);
            let length = Duration::from_secs_f64(fault_secs);
            let faults = [Fault::Status500, Fault::Status429, Fault::Drop];
            for n in 0u32.. {
                let at = start + period * n + period.mul_f64(0.7);
                if at + length >= end {
                    break;
                }
                tokio::time::sleep_until(at.into()).await;
                let fault = faults[n as usize % faults.len()];
                let opened = Instant::now();
                mock::set_behavior(&mock_endpoint, &fault.behavior()).await?;
                tokio::time::sleep(length).await;
                mock::set_behavior(&mock_endpoint, &normal()).await?;
                let name = match fault {
                    Fault::Status500 => "status_500",
                    Fault::Status429 => "status_429",
                    Fault::Drop => "drop",
                };
                windows.lock().expect("not poisoned").push((opened, Instant::now(), name));
            }
            Ok::<(), String>(())
        })
    };

    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let shared = shared.clone();
        let mut conn = Conn::open(ctx.mintoken.addr).await?;
        tasks.spawn(async move {
            let (endpoint, kinds) = &*shared;
            let mut counts = Counts::default();
            let mut i = worker;
            while Instant::now() < end {
                let slot = i % kinds.len();
                let kind = &kinds[slot];
                let request = kind.request(endpoint);
                let began = Instant::now();
                let outcome = if kind.stream {
                    conn.stream_until(kind.end_marker(), request).await.map(|r| r.ttfb)
                } else {
                    conn.call(request).await.map(|r| r.elapsed)
                };
                match outcome {
                    Ok(elapsed) => {
                        counts.answered += 1;
                        counts.ok += 1;
                        counts.per_kind[slot] += 1;
                        counts.latency.latency.push_duration(elapsed);
                    }
                    Err(message) => {
                        if answered(&message) {
                            counts.answered += 1;
                            counts.per_kind[slot] += 1;
                        }
                        if message.contains(FAULT_MARKER) && message.starts_with("status 500") {
                            counts.status_500 += 1;
                        } else if message.contains(FAULT_MARKER) && message.starts_with("status 429") {
                            counts.status_429 += 1;
                        } else {
                            counts.failures.push(Failure { start: began, end: Instant::now(), message });
                        }
                    }
                }
                i += 1;
            }
            counts
        });
    }
    let mut total = Counts::default();
    while let Some(joined) = tasks.join_next().await {
        let counts = joined.map_err(|e| format!("worker failed: {e}"))?;
        total.answered += counts.answered;
        total.ok += counts.ok;
        total.status_500 += counts.status_500;
        total.status_429 += counts.status_429;
        for (sum, n) in total.per_kind.iter_mut().zip(counts.per_kind) {
            *sum += n;
        }
        total.latency.merge(counts.latency);
        total.failures.extend(counts.failures);
    }
    controller.await.map_err(|e| format!("fault controller failed: {e}"))??;
    mock::set_behavior(&ctx.direct, &mock::instant()).await?;
    let samples = sampler.finish().await;

    let windows = windows.lock().expect("not poisoned").clone();
    let drops: Vec<(Instant, Instant)> =
        windows.iter().filter(|w| w.2 == "drop").map(|&(from, to, _)| (from, to + DROP_SLACK)).collect();
    let mut dropped = 0u64;
    let mut unexpected = Tally::default();
    for failure in &total.failures {
        let during_drop = drops.iter().any(|&(from, to)| failure.start < to && failure.end > from);
        let drop_like = failure.message.starts_with("status 502")
            || failure.message.contains("without its final event")
            || failure.message.starts_with("stream broken");
        if during_drop && drop_like {
            dropped += 1;
        } else {
            unexpected.error(failure.message.clone());
        }
    }
    let per_kind: serde_json::Map<String, Value> = MIX
        .iter()
        .zip(total.per_kind)
        .map(|(&(provider, stream), n)| {
            (format!("{}_{}", provider.as_str(), if stream { "stream" } else { "plain" }), json!(n))
        })
        .collect();
    let count_windows = |name: &str| windows.iter().filter(|w| w.2 == name).count();
    Ok(json!({
        "scenario": "mixed",
        "secs": secs,
        "concurrency": concurrency,
        "chunk_delay_ms": CHUNK_MS,
        "requests": total.answered,
        "requests_per_sec": total.answered as f64 / secs,
        "ok": total.ok,
        "per_kind": per_kind,
        "fault_windows": {
            "period_secs": fault_period_secs,
            "length_secs": fault_secs,
            "status_500": count_windows("status_500"),
            "status_429": count_windows("status_429"),
            "drop": count_windows("drop"),
        },
        "expected_faults": {
            "status_500": total.status_500,
            "status_429": total.status_429,
            "dropped": dropped,
        },
        "unexpected_errors": unexpected.errors,
        "first_unexpected_errors": unexpected.first_errors,
        "latency": total.latency.latency.summary(),
        "samples": samples.iter().map(|&(t, mb)| json!([t, mb])).collect::<Vec<_>>(),
        "max_mb": max_mb(&samples),
        "first_mb": samples.first().map(|s| s.1),
        "last_mb": samples.last().map(|s| s.1),
        "growth_mb": crate::soak::growth(&samples, secs),
    }))
}

/// Whether a failed exchange still got an answer from mintoken (a status line,
/// or a stream that began): those are metered like successes.
fn answered(message: &str) -> bool {
    message.starts_with("status ")
        || message.starts_with("stream ")
        || message.starts_with("200 with")
        || message.starts_with("reading the body")
}

#[cfg(test)]
mod tests {
    #[test]
    fn answers_that_are_metered() {
        assert!(super::answered("status 502: upstream closed"));
        assert!(super::answered("stream ended after 3 events without its final event"));
        assert!(super::answered("stream broken after 3 events: connection reset"));
        assert!(!super::answered("connect 127.0.0.1:1: refused"));
        assert!(!super::answered("no response head within 30s"));
    }
}
