//! Prometheus metrics for `GET /metrics`: what the proxy does and what it costs.
//!
//! Every series is a fixed array of atomics indexed by small closed label sets
//! (provider, status class, error class), so observing on the request path is a few
//! relaxed additions: no lock, no hashing, no allocation. Usage figures come from the
//! usage record (the same struct that feeds the log line and the database row); the
//! proxy adds what only it sees — its own overhead, errors by class, open streams.
//! No label carries an account, key or model, so the endpoint reveals nothing about
//! tenants and its series stay few.

mod histogram;
mod render;

use crate::metering::UsageRecord;
use histogram::Histogram;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

pub use render::render;

/// Providers as labels; usage reported for anything else (none today) is `other`.
const PROVIDERS: [&str; 4] = ["openai", "anthropic", "google", "other"];
/// HTTP status classes as labels.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Time inside mintoken per request, in µs: 10 µs to 100 ms.
const OVERHEAD_BOUNDS_US: &[u64] = &[10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 100_000];
/// Whole-request and upstream durations, in ms: 5 ms to 5 min.
const DURATION_BOUNDS_MS: &[u64] =
    &[5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000];

/// Why a proxied request or stream did not end as a success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request was malformed or too large (400, 413, …).
    InvalidRequest,
    /// Missing, invalid or revoked mintoken key.
    Auth,
    /// Requests-per-minute limit.
    RateLimited,
    /// Monthly output-token quota.
    QuotaExceeded,
    /// The upstream answered with an error status, relayed as is.
    UpstreamStatus,
    /// The upstream could not be reached or answered unintelligibly (502).
    UpstreamFailed,
    /// The upstream did not answer in time (504).
    UpstreamTimeout,
    /// An upstream stream broke off mid-way.
    StreamBroken,
    /// An upstream stream went silent longer than the idle timeout.
    StreamStalled,
    /// The client closed the connection before the stream ended.
    ClientClosed,
    /// The database was unavailable for a check the request needed (503).
    Unavailable,
    /// A fault of mintoken itself (500).
    Internal,
}

impl ErrorClass {
    const ALL: [ErrorClass; 12] = [
        ErrorClass::InvalidRequest,
        ErrorClass::Auth,
        ErrorClass::RateLimited,
        ErrorClass::QuotaExceeded,
        ErrorClass::UpstreamStatus,
        ErrorClass::UpstreamFailed,
        ErrorClass::UpstreamTimeout,
        ErrorClass::StreamBroken,
        ErrorClass::StreamStalled,
        ErrorClass::ClientClosed,
        ErrorClass::Unavailable,
        ErrorClass::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::InvalidRequest => "invalid_request",
            ErrorClass::Auth => "auth",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::QuotaExceeded => "quota_exceeded",
            ErrorClass::UpstreamStatus => "upstream_status",
            ErrorClass::UpstreamFailed => "upstream_failed",
            ErrorClass::UpstreamTimeout => "upstream_timeout",
            ErrorClass::StreamBroken => "stream_broken",
            ErrorClass::StreamStalled => "stream_stalled",
            ErrorClass::ClientClosed => "client_closed",
            ErrorClass::Unavailable => "unavailable",
            ErrorClass::Internal => "internal",
        }
    }

    /// The class of an error status mintoken answered itself. A 429 is the rate limit
    /// when it says when to retry (`Retry-After`), else the quota.
    pub fn of_own_error(status: u16, has_retry_after: bool) -> ErrorClass {
        match status {
            401 | 403 => ErrorClass::Auth,
            429 if has_retry_after => ErrorClass::RateLimited,
            429 => ErrorClass::QuotaExceeded,
            502 => ErrorClass::UpstreamFailed,
            503 => ErrorClass::Unavailable,
            504 => ErrorClass::UpstreamTimeout,
            400..=499 => ErrorClass::InvalidRequest,
            _ => ErrorClass::Internal,
        }
    }
}

/// The process's metrics; one per server, shared by every request.
pub struct Metrics {
    requests: [[AtomicU64; STATUS_CLASSES.len()]; PROVIDERS.len()],
    overhead_us: [Histogram; PROVIDERS.len()],
    duration_ms: [Histogram; PROVIDERS.len()],
    upstream_ms: [Histogram; PROVIDERS.len()],
    input_tokens: [AtomicU64; PROVIDERS.len()],
    output_tokens: [AtomicU64; PROVIDERS.len()],
    skill_tokens: [AtomicU64; PROVIDERS.len()],
    context_saved: [AtomicU64; PROVIDERS.len()],
    output_saved_estimated: [AtomicU64; PROVIDERS.len()],
    errors: [AtomicU64; ErrorClass::ALL.len()],
    open_streams: AtomicI64,
}

impl Default for Metrics {
    fn default() -> Self {
        let histograms = |bounds| std::array::from_fn(|_| Histogram::new(bounds));
        Metrics {
            requests: Default::default(),
            overhead_us: histograms(OVERHEAD_BOUNDS_US),
            duration_ms: histograms(DURATION_BOUNDS_MS),
            upstream_ms: histograms(DURATION_BOUNDS_MS),
            input_tokens: Default::default(),
            output_tokens: Default::default(),
            skill_tokens: Default::default(),
            context_saved: Default::default(),
            output_saved_estimated: Default::default(),
            errors: Default::default(),
            open_streams: AtomicI64::new(0),
        }
    }
}

fn provider_index(provider: &str) -> usize {
    PROVIDERS.iter().position(|p| *p == provider).unwrap_or(PROVIDERS.len() - 1)
}

fn add(counter: &AtomicU64, value: i64) {
    if value > 0 {
        counter.fetch_add(value as u64, Ordering::Relaxed);
    }
}

impl Metrics {
    /// A proxied request answered: its status, and the time mintoken itself spent on it
    /// (everything but waiting for the upstream), in µs.
    pub fn observe_response(&self, provider: &str, status: u16, overhead_us: u64) {
        let p = provider_index(provider);
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[p][class].fetch_add(1, Ordering::Relaxed);
        self.overhead_us[p].observe(overhead_us);
    }

    pub fn observe_error(&self, class: ErrorClass) {
        let i = ErrorClass::ALL.iter().position(|c| *c == class).unwrap_or(0);
        self.errors[i].fetch_add(1, Ordering::Relaxed);
    }

    /// A usage record, as it is queued for the database.
    pub fn observe_usage(&self, record: &UsageRecord) {
        let p = provider_index(record.provider);
        self.duration_ms[p].observe(record.duration_ms.max(0) as u64);
        self.upstream_ms[p].observe(record.upstream_ms.max(0) as u64);
        add(&self.input_tokens[p], record.input_tokens);
        add(&self.output_tokens[p], record.output_tokens);
        add(&self.skill_tokens[p], record.skill_tokens);
        if let (Some(before), Some(after)) = (record.context_tokens_before, record.context_tokens_after) {
            add(&self.context_saved[p], before - after);
        }
        // The same per-intensity estimate analytics uses before a holdout measurement
        // exists (docs/analytics.md); labelled `output_estimated` for that reason.
        if !record.holdout
            && let Some(r) = crate::analytics::savings::expected_ratio(record.intensity.as_str())
        {
            add(&self.output_saved_estimated[p], (record.output_tokens as f64 * r / (1.0 - r)).round() as i64);
        }
    }

    /// A stream started relaying; the guard counts it until dropped.
    pub fn stream_opened(self: &std::sync::Arc<Self>) -> OpenStream {
        self.open_streams.fetch_add(1, Ordering::Relaxed);
        OpenStream(self.clone())
    }
}

/// Counts one open stream in `mintoken_open_streams` for as long as it lives.
pub struct OpenStream(std::sync::Arc<Metrics>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.open_streams.fetch_sub(1, Ordering::Relaxed);
    }
}
