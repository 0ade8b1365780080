//! Percentiles of recorded durations, and the tally of one side of a
//! measurement (latencies, mintoken's own overhead header, errors). Every
//! sample is kept (a few million `u64`s at most) and sorted once, so the
//! figures are exact rather than bucketed.

use std::time::Duration;

use serde_json::{Value, json};

use crate::client::Reply;

/// Header in which mintoken reports the microseconds it spent on a request,
/// upstream time excluded.
pub const OVERHEAD_HEADER: &str = "x-mintoken-overhead-us";

/// Error messages kept verbatim per tally; the rest are only counted.
const KEPT_ERRORS: usize = 5;

/// What one side of a measurement saw.
#[derive(Default)]
pub struct Tally {
    pub latency: Samples,
    /// From [`OVERHEAD_HEADER`], when the server sends it.
    pub overhead: Samples,
    pub errors: u64,
    pub first_errors: Vec<String>,
}

impl Tally {
    pub fn ok(&mut self, reply: &Reply) {
        self.latency.push_duration(reply.elapsed);
        self.overhead_from(&reply.headers);
    }

    pub fn overhead_from(&mut self, headers: &http::HeaderMap) {
        let value = headers.get(OVERHEAD_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if let Some(us) = value {
            self.overhead.push(us * 1000);
        }
    }

    pub fn error(&mut self, message: String) {
        self.errors += 1;
        if self.first_errors.len() < KEPT_ERRORS && !self.first_errors.contains(&message) {
            self.first_errors.push(message);
        }
    }

    pub fn merge(&mut self, other: Tally) {
        self.latency.extend(other.latency);
        self.overhead.extend(other.overhead);
        self.errors += other.errors;
        for message in other.first_errors {
            if self.first_errors.len() < KEPT_ERRORS && !self.first_errors.contains(&message) {
                self.first_errors.push(message);
            }
        }
    }

    /// The merged tallies of every worker in `tasks`; a worker that panicked counts as an error.
    pub async fn join(mut tasks: tokio::task::JoinSet<Tally>) -> Tally {
        let mut total = Tally::default();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(tally) => total.merge(tally),
                Err(e) => total.error(format!("worker failed: {e}")),
            }
        }
        total
    }

    /// `{latency, overhead (null when absent), errors, first_errors}`.
    pub fn to_json(&self) -> Value {
        let overhead = (self.overhead.len() > 0).then(|| self.overhead.summary());
        json!({
            "latency": self.latency.summary(),
            "overhead": overhead,
            "errors": self.errors,
            "first_errors": self.first_errors,
        })
    }
}

/// Durations in nanoseconds, summarised on demand.
#[derive(Default, Clone)]
pub struct Samples(Vec<u64>);

impl Samples {
    pub fn push(&mut self, nanos: u64) {
        self.0.push(nanos);
    }

    pub fn push_duration(&mut self, d: Duration) {
        self.0.push(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `{n, mean_us, p50_us, p99_us, p999_us, max_us}`; the percentiles are
    /// `null` when there is no sample.
    pub fn summary(&self) -> Value {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let us = |nanos: u64| nanos as f64 / 1000.0;
        let pick = |q: f64| percentile(&sorted, q).map(us);
        let mean = (!sorted.is_empty()).then(|| us(sorted.iter().sum::<u64>() / sorted.len() as u64));
        json!({
            "n": sorted.len(),
            "mean_us": mean,
            "p50_us": pick(0.50),
            "p99_us": pick(0.99),
            "p999_us": pick(0.999),
            "max_us": sorted.last().copied().map(us),
        })
    }
}

/// The nearest-rank percentile: the smallest sample with at least `q` of all
/// samples at or below it.
fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let sorted: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&sorted, 0.5), Some(500));
        assert_eq!(percentile(&sorted, 0.99), Some(990));
        assert_eq!(percentile(&sorted, 0.999), Some(999));
        assert_eq!(percentile(&[7], 0.99), Some(7));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn summary_in_microseconds() {
        let mut s = Samples::default();
        for n in [1_000, 2_000, 3_000] {
            s.push(n);
        }
        let v = s.summary();
        assert_eq!(v["n"], 3);
        assert_eq!(v["p50_us"], 2.0);
        assert_eq!(v["max_us"], 3.0);
    }
}
