//! One usage record per proxied request: the single event that feeds the request log
//! line and the database row. It never holds a prompt, a response or a provider key.

use mintoken_compress::Intensity;

/// Why a request ran at the intensity it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntensityReason {
    /// `X-Mintoken-Intensity` header or `?intensity=`.
    Override,
    /// A custom rule matched.
    Rule,
    /// The built-in classifier decided.
    Classifier,
    /// The key's default intensity.
    Default,
}

impl IntensityReason {
    pub fn as_str(self) -> &'static str {
        match self {
            IntensityReason::Override => "override",
            IntensityReason::Rule => "rule",
            IntensityReason::Classifier => "classifier",
            IntensityReason::Default => "default",
        }
    }
}

/// Where the token figures came from, so analytics can tell measured from counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UsageSource {
    /// The provider reported usage (response body or stream event).
    Upstream,
    /// No usage arrived (e.g. the client hung up mid-stream); the streamed text was
    /// counted with o200k_base instead.
    Counted,
    /// Nothing to count: an error before any output.
    #[default]
    None,
    /// A client reported the figures: a request a local CLI proxy forwarded from the
    /// user's machine (`POST /v1/cli-telemetry`); mintoken did not see it.
    Reported,
}

impl UsageSource {
    pub fn as_str(self) -> &'static str {
        match self {
            UsageSource::Upstream => "upstream",
            UsageSource::Counted => "counted",
            UsageSource::None => "none",
            UsageSource::Reported => "reported",
        }
    }
}

#[derive(Clone, Debug)]
pub struct UsageRecord {
    pub request_id: String,
    pub created_at: i64,
    pub user_id: String,
    /// The org of an org key: the request counts against the org (quota, analytics).
    pub org_id: Option<String>,
    pub key_id: String,
    pub provider: &'static str,
    pub model: String,
    pub endpoint: &'static str,
    pub intensity: Intensity,
    pub intensity_reason: IntensityReason,
    pub status: u16,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub skill_tokens: i64,
    /// The key's `holdout_percent` drew this request: the skill was left out on purpose
    /// so analytics can measure what it saves (SPEC §7).
    pub holdout: bool,
    pub context_tokens_before: Option<i64>,
    pub context_tokens_after: Option<i64>,
    pub duration_ms: i64,
    pub upstream_ms: i64,
    pub streamed: bool,
    pub usage_source: UsageSource,
}

impl UsageRecord {
    /// The account whose quota this request spends: the org for an org key.
    pub fn account_id(&self) -> &str {
        self.org_id.as_deref().unwrap_or(&self.user_id)
    }

    /// Whether this record tells what the account's requests produce, for the running
    /// mean output that quota reservations use: a 2xx answer whose output is known. A
    /// 2xx without any usage (e.g. `POST /v1/cli/compress-context`, which produces no
    /// output) says nothing about it, and would drag the mean towards 0.
    pub fn is_output_sample(&self) -> bool {
        (200..300).contains(&self.status) && !(self.usage_source == UsageSource::None && self.output_tokens == 0)
    }

    /// The request's log line.
    pub fn log(&self) {
        tracing::info!(
            target: "mintoken::request",
            request_id = %self.request_id,
            key_id = %self.key_id,
            provider = self.provider,
            endpoint = self.endpoint,
            model = %self.model,
            status = self.status,
            intensity = self.intensity.as_str(),
            intensity_reason = self.intensity_reason.as_str(),
            input_tokens = self.input_tokens,
            output_tokens = self.output_tokens,
            streamed = self.streamed,
            duration_ms = self.duration_ms,
            upstream_ms = self.upstream_ms,
            "proxied request"
        );
    }
}
