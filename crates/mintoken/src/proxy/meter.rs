//! Turns what the pipeline learned about one request into its usage record.

use super::dialect::Tokens;
use crate::metering::{IntensityReason, UsageRecord, UsageSink, UsageSource};
use mintoken_compress::Intensity;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Everything known about a request before its response arrives.
pub struct RequestMeter {
    pub sink: UsageSink,
    pub request_id: String,
    pub user_id: String,
    pub org_id: Option<String>,
    pub key_id: String,
    pub provider: &'static str,
    pub endpoint: &'static str,
    pub model: String,
    pub intensity: Intensity,
    pub reason: IntensityReason,
    pub skill_tokens: i64,
    pub holdout: bool,
    /// The request's quota reservation, released when the meter is dropped (after the
    /// usage was recorded).
    #[expect(dead_code, reason = "held for its Drop, which releases the reservation")]
    pub reservation: crate::metering::Reservation,
    /// Conversation tokens before and after context compression, when it ran.
    pub context: Option<(i64, i64)>,
    pub streamed: bool,
    pub started: Instant,
    /// When the upstream request was sent (see [`RequestMeter::sending`]).
    pub upstream_started: Instant,
    /// Whether the request went upstream: only then does dropping the meter without an
    /// outcome record a row.
    pub sent: bool,
    /// Set by the first [`RequestMeter::record`]: a request gets exactly one usage row.
    pub recorded: AtomicBool,
}

/// How the request ended, from the usage point of view.
pub struct Outcome {
    pub status: u16,
    pub tokens: Option<Tokens>,
    pub source: UsageSource,
}

impl RequestMeter {
    /// The request is about to go upstream: from now on it owes a usage row.
    pub fn sending(&mut self) {
        self.sent = true;
        self.upstream_started = Instant::now();
    }

    /// Records the request's usage row; later calls are ignored.
    pub fn record(&self, outcome: Outcome) {
        if self.recorded.swap(true, Ordering::Relaxed) {
            return;
        }
        let tokens = outcome.tokens.unwrap_or_default();
        let (input, output) = (tokens.input.clamp(0, MAX_TOKENS), tokens.output.clamp(0, MAX_TOKENS));
        let upstream_ms = self.upstream_started.elapsed().as_millis() as i64;
        self.sink.record(UsageRecord {
            request_id: self.request_id.clone(),
            created_at: self.sink.now_ms(),
            user_id: self.user_id.clone(),
            org_id: self.org_id.clone(),
            key_id: self.key_id.clone(),
            provider: self.provider,
            model: self.model.clone(),
            endpoint: self.endpoint,
            intensity: self.intensity,
            intensity_reason: self.reason,
            status: outcome.status,
            input_tokens: input,
            output_tokens: output,
            skill_tokens: self.skill_tokens,
            holdout: self.holdout,
            context_tokens_before: self.context.map(|c| c.0),
            context_tokens_after: self.context.map(|c| c.1),
            duration_ms: self.started.elapsed().as_millis() as i64,
            upstream_ms,
            streamed: self.streamed,
            usage_source: outcome.source,
        });
    }
}

impl RequestMeter {
    /// Records a forwarded request that failed (timeout, connection, unreadable
    /// answer) and hands the error on.
    pub fn failed(&self, e: super::error::ProxyError) -> super::error::ProxyError {
        self.record(Outcome { status: e.status.as_u16(), tokens: None, source: UsageSource::None });
        e
    }
}

impl Drop for RequestMeter {
    /// The request ended without an outcome: its handler was dropped while waiting for
    /// the upstream, because the client closed the connection or a shutdown closed it at
    /// the end of the grace period. It still gets its row (status 499, no tokens known),
    /// so no forwarded request goes unmetered.
    fn drop(&mut self) {
        if self.sent && !*self.recorded.get_mut() {
            tracing::info!(request_id = %self.request_id, "connection closed before the upstream answered; upstream request cancelled");
            self.record(Outcome { status: CLIENT_CLOSED, tokens: None, source: UsageSource::None });
        }
    }
}

/// The most tokens one request is recorded with. Far beyond any model's window, it only
/// matters for an upstream reporting absurd figures: sums over many rows (quota counters,
/// analytics, the store's aggregates) then stay far from overflowing 64 bits.
pub const MAX_TOKENS: i64 = 1 << 40;

/// The status recorded for a request whose client went away first (nginx's convention).
pub const CLIENT_CLOSED: u16 = 499;

/// Input tokens the skill of `intensity` adds (0 for `none`); each of the constant texts
/// is counted once per process, without a lock afterwards.
pub fn skill_tokens(intensity: Intensity) -> i64 {
    use std::sync::OnceLock;
    static COUNTS: [OnceLock<i64>; 4] = [const { OnceLock::new() }; 4];
    let Some(text) = mintoken_compress::skill::text(intensity) else { return 0 };
    *COUNTS[intensity as usize].get_or_init(|| mintoken_compress::tokens::count(text) as i64)
}

/// Counts the prompt text of a request body: every string under the members that
/// carry text in the providers' formats. Used only when the provider reported no
/// usage, so the estimate is marked `counted`.
pub fn count_request_text(body: &[u8]) -> i64 {
    fn walk(v: &serde_json::Value, under_text: bool, total: &mut usize) {
        match v {
            serde_json::Value::String(s) if under_text => *total += mintoken_compress::tokens::count(s),
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, under_text, total)),
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let text = matches!(
                        k.as_str(),
                        "content"
                            | "text"
                            | "system"
                            | "instructions"
                            | "input"
                            | "arguments"
                            | "parts"
                            | "systemInstruction"
                    );
                    walk(v, under_text || text, total);
                }
            }
            _ => {}
        }
    }
    let mut total = 0;
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        walk(&v, false, &mut total);
    }
    total as i64
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_message_text_not_structure() {
        let body = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hello world"}]}"#;
        assert_eq!(super::count_request_text(body), 2);
    }
}
