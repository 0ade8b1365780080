//! One run of a comparison: the request the proxy would send for the prompt at one
//! intensity, its answer and token counts, and its usage row. A run that fails still
//! leaves a usage row (with the provider's status), as a proxied request does.

use super::providers::Provider;
use crate::metering::UsageSource;
use crate::proxy::dialect::{Credential, ParsedRequest, Tokens};
use crate::proxy::error::ProxyError;
use crate::proxy::meter::{Outcome, RequestMeter};
use crate::secret::Secret;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use serde_json::Value;
use std::time::Duration;

/// Longest provider error message passed on; they are short, a page of HTML is not.
const MAX_MESSAGE_CHARS: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    WithoutSkill,
    WithSkill,
}

impl Label {
    pub fn as_str(self) -> &'static str {
        match self {
            Label::WithoutSkill => "without_skill",
            Label::WithSkill => "with_skill",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Label::WithoutSkill => "the run without the skill",
            Label::WithSkill => "the run with the skill",
        }
    }
}

/// Where both runs go, and the time they have.
pub struct Target {
    pub provider: &'static Provider,
    /// A configured upstream, or the checked `custom_base_url`.
    pub base_url: String,
    pub client: reqwest::Client,
    pub provider_key: Secret<String>,
    pub deadline: tokio::time::Instant,
    /// The configured upstream timeout, for messages.
    pub limit: Duration,
}

/// A run ready to send: the request and the meter that will record it.
pub struct Run {
    pub label: Label,
    outgoing: reqwest::RequestBuilder,
    /// The body as sent, counted when the provider reports no usage.
    body: Vec<u8>,
    meter: RequestMeter,
}

pub struct Answer {
    pub text: String,
    pub tokens: Tokens,
    /// `Upstream` (the provider's usage) or `Counted` (o200k_base, when it sent none).
    pub source: UsageSource,
    pub latency_ms: u64,
}

pub struct Failure {
    pub label: Label,
    pub timed_out: bool,
    /// The provider's status when it answered with an error; `None` when it did not
    /// answer usably (connection, timeout, unreadable body).
    pub upstream_status: Option<u16>,
    pub message: String,
}

impl Failure {
    fn from_proxy(label: Label, e: &ProxyError) -> Failure {
        let timed_out = e.status == StatusCode::GATEWAY_TIMEOUT;
        Failure { label, timed_out, upstream_status: None, message: e.message.clone() }
    }
}

impl Run {
    /// Builds the upstream request for `request` exactly as the proxy writes it: the
    /// dialect's path, required headers and credential placement. `Err` is a message for
    /// a 400 (a provider key that cannot be sent).
    pub fn new(label: Label, target: &Target, request: &ParsedRequest, meter: RequestMeter) -> Result<Run, String> {
        let dialect = target.provider.dialect;
        let mut url = reqwest::Url::parse(&format!("{}{}", target.base_url, request.path))
            .map_err(|e| format!("cannot build the upstream URL: {e}"))?;
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in dialect.default_headers() {
            headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        match dialect.credential() {
            Credential::Header { name, prefix } => {
                let mut value =
                    HeaderValue::from_str(&format!("{prefix}{}", target.provider_key.expose())).map_err(|_| {
                        "`provider_key` contains characters that cannot be sent in an HTTP header".to_owned()
                    })?;
                value.set_sensitive(true);
                headers.insert(HeaderName::from_static(name), value);
            }
            Credential::Query { name } => {
                url.query_pairs_mut().append_pair(name, target.provider_key.expose());
            }
        }
        let body = serde_json::to_vec(&request.body).unwrap_or_default();
        let outgoing = target.client.post(url).headers(headers).body(body.clone());
        Ok(Run { label, outgoing, body, meter })
    }

    /// Sends the run, reads the answer within the deadline and records its usage row.
    pub async fn execute(self, target: &Target) -> Result<Answer, Failure> {
        let Run { label, outgoing, body, mut meter } = self;
        let failed = |meter: &RequestMeter, e: ProxyError| Failure::from_proxy(label, &meter.failed(e));
        meter.sending();
        let response = match tokio::time::timeout_at(target.deadline, outgoing.send()).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return Err(failed(&meter, ProxyError::upstream_reqwest(&e, target.limit))),
            Err(_) => return Err(failed(&meter, ProxyError::timeout(target.limit))),
        };
        let status = response.status();
        let answer = match tokio::time::timeout_at(
            target.deadline,
            crate::proxy::read_upstream_body(reqwest::Body::from(response)),
        )
        .await
        {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return Err(failed(&meter, e)),
            Err(_) => return Err(failed(&meter, ProxyError::timeout(target.limit))),
        };
        let latency_ms = meter.upstream_started.elapsed().as_millis() as u64;
        if !status.is_success() {
            meter.record(Outcome { status: status.as_u16(), tokens: None, source: UsageSource::None });
            let message = provider_message(&answer, &target.provider_key);
            return Err(Failure { label, timed_out: false, upstream_status: Some(status.as_u16()), message });
        }

        let dialect = target.provider.dialect;
        let reported = dialect.usage_from_body(&answer);
        let Some(text) = dialect.answer_text(&answer).or_else(|| reported.map(|_| String::new())) else {
            let e = ProxyError::new(StatusCode::BAD_GATEWAY, "the provider answered with a body mintoken cannot read");
            return Err(failed(&meter, e));
        };
        let (tokens, source) = match reported {
            Some(tokens) => (tokens, UsageSource::Upstream),
            None => {
                let output = mintoken_compress::tokens::count(&text) as i64;
                let input = crate::proxy::meter::count_request_text(&body);
                (Tokens { input, output }, UsageSource::Counted)
            }
        };
        meter.record(Outcome { status: status.as_u16(), tokens: Some(tokens), source });
        Ok(Answer { text, tokens, source, latency_ms })
    }
}

/// What the provider said about an error. OpenAI, Anthropic and Gemini envelopes all
/// carry `error.message`; otherwise the start of the body. Should the provider have
/// echoed the provider key, it is cut out.
fn provider_message(body: &[u8], provider_key: &Secret<String>) -> String {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    // Gemini sometimes wraps its error in a one-element array.
    let json = match json {
        Some(Value::Array(mut items)) if !items.is_empty() => Some(items.swap_remove(0)),
        other => other,
    };
    let from_json = json.as_ref().and_then(|v| {
        [v.pointer("/error/message"), v.get("error"), v.get("message"), v.get("detail")]
            .into_iter()
            .flatten()
            .find_map(Value::as_str)
            .map(str::to_owned)
    });
    let mut message = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    let key = provider_key.expose();
    // A very short key would blank out ordinary letters, and leaking it would reveal nothing.
    if key.len() >= 4 {
        message = message.replace(key.as_str(), "[redacted]");
    }
    if message.is_empty() {
        return "(the provider sent no message)".to_owned();
    }
    if message.chars().count() > MAX_MESSAGE_CHARS {
        message = message.chars().take(MAX_MESSAGE_CHARS).collect::<String>() + "…";
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::dialect::Dialect;

    #[test]
    fn provider_messages_from_every_envelope_without_the_key() {
        let key = Secret::new("sk-live-canary-123".to_owned());
        for (body, expected) in [
            (
                r#"{"error":{"message":"Incorrect API key provided: sk-live-canary-123","type":"x"}}"#,
                "Incorrect API key provided: [redacted]",
            ),
            (
                r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
                "invalid x-api-key",
            ),
            (
                r#"[{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT"}}]"#,
                "API key not valid.",
            ),
            (r#"{"detail":"Not Found"}"#, "Not Found"),
            ("<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
            ("", "(the provider sent no message)"),
        ] {
            assert_eq!(provider_message(body.as_bytes(), &key), expected);
        }
        let long = "x".repeat(2_000);
        assert_eq!(provider_message(long.as_bytes(), &key).chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    /// The dialects' answer readers, on each API's documented response shape.
    #[test]
    fn answer_text_of_each_api() {
        use crate::proxy::{anthropic, google, openai_chat, openai_responses};
        let chat = br#"{"choices":[{"message":{"role":"assistant","content":"Hi there"}}],"usage":{}}"#;
        assert_eq!(openai_chat::OpenAiChat.answer_text(chat).as_deref(), Some("Hi there"));
        let refusal = br#"{"choices":[{"message":{"role":"assistant","content":null,"refusal":"No."}}]}"#;
        assert_eq!(openai_chat::OpenAiChat.answer_text(refusal).as_deref(), Some("No."));
        let messages = br#"{"content":[{"type":"thinking","thinking":"hm"},{"type":"text","text":"Hi "},{"type":"text","text":"there"}]}"#;
        assert_eq!(anthropic::AnthropicMessages.answer_text(messages).as_deref(), Some("Hi there"));
        let gemini = br#"{"candidates":[{"content":{"parts":[{"text":"plan","thought":true},{"text":"Hi there"}]}}]}"#;
        assert_eq!(google::Gemini.answer_text(gemini).as_deref(), Some("Hi there"));
        let responses = br#"{"output":[{"type":"reasoning"},{"type":"message","content":[{"type":"output_text","text":"Hi there"}]}]}"#;
        assert_eq!(openai_responses::OpenAiResponses.answer_text(responses).as_deref(), Some("Hi there"));
        assert_eq!(openai_chat::OpenAiChat.answer_text(b"not json"), None);
    }
}
