//! The Prometheus text exposition format (version 0.0.4) of [`Metrics`], plus the
//! figures read at scrape time: the usage queue and the process's memory.

use super::histogram::Histogram;
use super::{ErrorClass, Metrics, PROVIDERS, STATUS_CLASSES};
use crate::metering::UsageSink;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

pub fn render(metrics: &Metrics, usage: &UsageSink) -> String {
    let mut out = Exposition(String::with_capacity(16 * 1024));
    out.header("mintoken_build_info", "gauge", "The running mintoken version.");
    out.line("mintoken_build_info", &[("version", env!("CARGO_PKG_VERSION"))], 1);

    out.header("mintoken_requests_total", "counter", "Proxied requests answered, by provider and HTTP status class.");
    for (p, provider) in PROVIDERS.iter().enumerate() {
        for (c, class) in STATUS_CLASSES.iter().enumerate() {
            let value = metrics.requests[p][c].load(Ordering::Relaxed);
            out.line("mintoken_requests_total", &[("provider", provider), ("class", class)], value);
        }
    }
    out.histograms(
        "mintoken_overhead_seconds",
        "Time spent inside mintoken per proxied request, excluding the upstream (also sent as X-Mintoken-Overhead-Us).",
        &metrics.overhead_us,
        1e6,
    );
    out.histograms(
        "mintoken_request_duration_seconds",
        "Whole proxied request, streams until their end, by provider.",
        &metrics.duration_ms,
        1e3,
    );
    out.histograms(
        "mintoken_upstream_duration_seconds",
        "From sending the upstream request to the end of its answer, by provider.",
        &metrics.upstream_ms,
        1e3,
    );
    out.header("mintoken_tokens_total", "counter", "Tokens of proxied requests as the provider reported them.");
    for (p, provider) in PROVIDERS.iter().enumerate() {
        for (direction, series) in [("input", &metrics.input_tokens), ("output", &metrics.output_tokens)] {
            out.counter_line("mintoken_tokens_total", &[("provider", provider), ("direction", direction)], &series[p]);
        }
    }
    out.header("mintoken_skill_tokens_total", "counter", "Input tokens the injected compression skill cost.");
    for (p, provider) in PROVIDERS.iter().enumerate() {
        out.counter_line("mintoken_skill_tokens_total", &[("provider", provider)], &metrics.skill_tokens[p]);
    }
    out.header(
        "mintoken_tokens_saved_total",
        "counter",
        "Tokens saved: context = removed by context compression (exact); output_estimated = the per-intensity estimate of docs/analytics.md (the analytics API gives measured figures).",
    );
    for (p, provider) in PROVIDERS.iter().enumerate() {
        let saved = [("context", &metrics.context_saved), ("output_estimated", &metrics.output_saved_estimated)];
        for (kind, series) in saved {
            out.counter_line("mintoken_tokens_saved_total", &[("provider", provider), ("kind", kind)], &series[p]);
        }
    }
    out.header("mintoken_errors_total", "counter", "Proxied requests and streams that did not succeed, by cause.");
    for (i, class) in ErrorClass::ALL.iter().enumerate() {
        out.counter_line("mintoken_errors_total", &[("class", class.as_str())], &metrics.errors[i]);
    }
    out.header("mintoken_open_streams", "gauge", "Streams being relayed now.");
    out.line("mintoken_open_streams", &[], metrics.open_streams.load(Ordering::Relaxed).max(0) as u64);
    out.header("mintoken_usage_queue_depth", "gauge", "Usage records waiting to be written to the database.");
    out.line("mintoken_usage_queue_depth", &[], usage.queued() as u64);
    out.header(
        "mintoken_usage_records_dropped_total",
        "counter",
        "Usage records dropped because the queue was full (the database was away too long).",
    );
    out.line("mintoken_usage_records_dropped_total", &[], usage.dropped());
    if let Some(bytes) = resident_memory_bytes() {
        out.header("process_resident_memory_bytes", "gauge", "Resident memory of the mintoken process.");
        out.line("process_resident_memory_bytes", &[], bytes);
    }
    out.0
}

struct Exposition(String);

impl Exposition {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn line(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.0.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.0, " {value}");
    }

    fn counter_line(&mut self, name: &str, labels: &[(&str, &str)], counter: &AtomicU64) {
        self.line(name, labels, counter.load(Ordering::Relaxed));
    }

    /// Label values here are fixed identifiers and numbers: nothing to escape.
    fn labels(&mut self, labels: &[(&str, &str)], le: Option<&str>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.0.push('{');
        let mut first = true;
        for (k, v) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
            if !first {
                self.0.push(',');
            }
            first = false;
            let _ = write!(self.0, "{k}=\"{v}\"");
        }
        self.0.push('}');
    }

    /// One histogram per provider; stored units per second (1e6 for µs) converts to
    /// seconds (dividing keeps `le` values short: 25 µs prints as 0.000025).
    fn histograms(&mut self, name: &str, help: &str, per_provider: &[Histogram], units_per_second: f64) {
        self.header(name, "histogram", help);
        for (provider, histogram) in PROVIDERS.iter().zip(per_provider) {
            let snapshot = histogram.snapshot();
            let labels = [("provider", *provider)];
            for (bound, count) in snapshot.bounds.iter().zip(&snapshot.cumulative) {
                let le = format!("{}", *bound as f64 / units_per_second);
                self.0.push_str(name);
                self.0.push_str("_bucket");
                self.labels(&labels, Some(&le));
                let _ = writeln!(self.0, " {count}");
            }
            let _ = write!(self.0, "{name}_bucket");
            self.labels(&labels, Some("+Inf"));
            let _ = writeln!(self.0, " {}", snapshot.count);
            let _ = write!(self.0, "{name}_sum");
            self.labels(&labels, None);
            let _ = writeln!(self.0, " {}", snapshot.sum as f64 / units_per_second);
            let _ = write!(self.0, "{name}_count");
            self.labels(&labels, None);
            let _ = writeln!(self.0, " {}", snapshot.count);
        }
    }
}

/// `VmRSS` of `/proc/self/status` (Linux); absent elsewhere.
fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}
