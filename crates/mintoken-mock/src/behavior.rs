//! What the mock should do with the next requests: delays, reply text and
//! injected faults. Owned by the shared state; read once per request so a
//! behaviour change never affects a response that is already being served.

use serde::{Deserialize, Serialize};

/// Assistant text used when [`Behavior::reply_text`] is `None`.
pub const DEFAULT_REPLY: &str = "Hello! This is the mock upstream answering your request.";

/// How the mock answers the following API requests (control routes are unaffected).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Behavior {
    /// Wait this long before sending response headers (every API response, errors included).
    pub first_byte_delay_ms: u64,
    /// Wait this long before each streamed event after the first.
    pub chunk_delay_ms: u64,
    /// Assistant text; [`DEFAULT_REPLY`] when `None`.
    pub reply_text: Option<String>,
    /// Failure to inject, see [`Fault`].
    pub fault: Option<Fault>,
}

impl Behavior {
    /// The assistant text this behaviour answers with.
    pub fn reply(&self) -> &str {
        self.reply_text.as_deref().unwrap_or(DEFAULT_REPLY)
    }
}

/// A failure injected into API answers.
///
/// `Status` replaces the answer to every API request, even one that would
/// have been rejected (the upstream is "down"). The other faults distort an
/// answer that would otherwise have succeeded, so validation errors (400/401)
/// still come through unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Answer this status with this raw body (`content-type: application/json`)
    /// and, when given, a `Retry-After` header.
    Status {
        status: u16,
        body: String,
        #[serde(default)]
        retry_after: Option<String>,
    },
    /// Stream: send this many events, then abort the connection (no clean end).
    /// Non-stream: close the connection without any response.
    DropAfterEvents { events: usize },
    /// Non-stream: 200 with the body `{"id": "broken`.
    /// Stream: a single event `data: {not json`, then a clean end.
    MalformedJson,
    /// Stream: send this many events, then hang until the client goes away.
    /// Non-stream: never send the response headers.
    StallAfterEvents { events: usize },
}
