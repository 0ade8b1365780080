//! What the mock should do with the next requests: delays, reply text and
//! injected faults. Owned by the shared state; read once per request so a
//! behaviour change never affects a response that is already being served.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

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
    /// Answer with exactly this many output tokens (words) when the request contains
    /// the skill marker: a model that follows the compression skill answers shorter.
    pub output_tokens_with_skill: Option<u64>,
    /// Answer with exactly this many output tokens when the marker is absent.
    pub output_tokens_without_skill: Option<u64>,
    /// Text whose presence anywhere in the request body means "the skill was injected";
    /// [`SKILL_MARKER`] when `None`.
    pub skill_marker: Option<String>,
    /// Gzip every non-streamed answer body (`Content-Encoding: gzip`), successes, rejections
    /// and `Status` faults alike, whatever the request's `Accept-Encoding` says: an upstream
    /// (or a CDN in front of it) that compresses regardless. Streams are never compressed.
    pub gzip: bool,
}

/// A sentence every one of mintoken's skill texts contains (all three levels), with no
/// character JSON escapes, so it appears verbatim in any request body that carries the
/// skill. mintoken's tests check it against the real skill texts.
pub const SKILL_MARKER: &str =
    "Keep code, commands, numbers, units, error messages, names and technical terms exactly as they are";

impl Behavior {
    /// The assistant text this behaviour answers with.
    pub fn reply(&self) -> &str {
        self.reply_text.as_deref().unwrap_or(DEFAULT_REPLY)
    }

    /// Whether this request body carries the skill.
    pub fn has_skill(&self, body: &[u8]) -> bool {
        let marker = self.skill_marker.as_deref().unwrap_or(SKILL_MARKER).as_bytes();
        !marker.is_empty() && body.windows(marker.len()).any(|w| w == marker)
    }

    /// The text to answer this request with: the reply, cut or repeated word by word to
    /// the configured length when `output_tokens_with_skill` / `_without_skill` applies,
    /// so every API reports that many output tokens and streams that many words.
    pub fn reply_for(&self, body: &[u8]) -> Cow<'_, str> {
        let length =
            if self.has_skill(body) { self.output_tokens_with_skill } else { self.output_tokens_without_skill };
        let Some(length) = length else { return Cow::Borrowed(self.reply()) };
        let words: Vec<&str> = self.reply().split_whitespace().collect();
        let words = if words.is_empty() { vec!["word"] } else { words };
        let text: Vec<&str> = words.iter().copied().cycle().take(length as usize).collect();
        Cow::Owned(text.join(" "))
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
    /// Non-stream: the 200 head and the first `bytes` bytes of the JSON body, then the
    /// connection is aborted (a body cut short). Stream: the first `bytes` bytes of the
    /// event stream (possibly ending inside an event), then the connection is aborted.
    CloseMidBody { bytes: usize },
    /// Answers that succeed are replaced by these chunks, verbatim, each its own body
    /// frame, then a clean end: `text/event-stream` for a stream, `application/json`
    /// otherwise. For malformed streams (bad framing, invalid UTF-8 escapes, no blank
    /// line at the end…) and malformed bodies of any shape.
    RawBody { chunks: Vec<String> },
    /// A 200 of about `bytes` bytes, produced 64 KiB at a time and never held whole:
    /// non-stream, one JSON object `{"pad":"aaa…"}`; stream, `data: {"pad":"aaa…"}`
    /// events of 64 KiB each (logged in the chunk log, all sharing one buffer).
    HugeBody { bytes: usize },
}
