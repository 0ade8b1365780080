//! A fake LLM upstream for mintoken's tests and benchmarks.
//!
//! [`MockServer`] speaks the wire formats of the APIs mintoken proxies, on
//! plain HTTP:
//!
//! | route | API |
//! | --- | --- |
//! | `POST /v1/chat/completions` | OpenAI Chat Completions (JSON and SSE) |
//! | `POST /v1/responses` | OpenAI Responses (JSON and named SSE events) |
//! | `POST /v1/messages` | Anthropic Messages (JSON and named SSE events) |
//! | `POST /v1/messages/count_tokens` | Anthropic token counting |
//! | `POST /{v1,v1beta}/models/{model}:generateContent` | Gemini |
//! | `POST /{v1,v1beta}/models/{model}:streamGenerateContent` | Gemini stream: SSE with `?alt=sse`, else a JSON array |
//! | `POST /{v1,v1beta}/models/{model}:countTokens` | Gemini token counting |
//! | `POST /v1/orders` | Razorpay Orders API (see [`RazorpaySettings`]) |
//!
//! Credentials are checked the way each provider does, but any non-empty key
//! is accepted: `Authorization: Bearer …` for OpenAI (else 401), `x-api-key`
//! for Anthropic (else 401), `?key=` or `x-goog-api-key` for Gemini (else
//! 403 `PERMISSION_DENIED`). Errors use each provider's envelope. Any other
//! path gets a 404 (recorded too).
//!
//! It records every request exactly as received ([`RecordedRequest`]), logs
//! when each streamed event left ([`ChunkSent`]), counts live streams, and
//! can be told to slow down or fail ([`Behavior`], [`Fault`]). Benchmarks
//! switch recording off ([`MockServer::set_recording`], `mintoken-mock
//! --no-record`) so the log neither grows nor adds a lock per request.
//!
//! # Token counts
//!
//! Usage numbers are deterministic so tests can assert on savings:
//!
//! * **prompt tokens** = ⌈c / 4⌉, where c is the number of characters
//!   (Unicode scalar values) of conversation text in the request: every
//!   message `content` that is a string, and the `text` of every content part
//!   (walking nested `content` arrays such as tool results), plus the system
//!   prompt (`instructions`, Anthropic `system`, Gemini `systemInstruction`);
//!   Gemini `parts` count the same way;
//! * **completion tokens** = the number of whitespace-separated words of the
//!   reply; for a tool call, the words of `"<tool name> {}"`, i.e. 2.
//!
//! So the default reply costs 9 completion tokens, and the counting routes
//! (`count_tokens`, `countTokens`) return the same prompt count as a
//! generation would report.
//!
//! # Replies
//!
//! The assistant answers [`Behavior::reply_text`] (default
//! [`DEFAULT_REPLY`]). When the request offers tools and the last message is
//! the user's (not a tool result), it instead calls the first tool with
//! arguments `{}` (ids `call_mock1`, `toolu_mock1`). Streams send one content
//! event per word; the pieces keep their whitespace so they concatenate to
//! the reply exactly.
//!
//! # Answering shorter when the skill is present
//!
//! [`Behavior::output_tokens_with_skill`] and
//! [`Behavior::output_tokens_without_skill`] fix the reply's length, in words (so in
//! completion tokens, for every API, streamed or not), depending on whether the request
//! body contains [`SKILL_MARKER`] (a sentence of every mintoken skill text; replace it
//! with [`Behavior::skill_marker`]). The reply's words are repeated or cut to that
//! length. A model that "follows the skill" is thus e.g. 100 tokens without it and 60
//! with it: what mintoken's measured-savings analytics must then report.
//!
//! # Faults
//!
//! [`Behavior`] applies to every API route alike: `first_byte_delay_ms`
//! before the headers of any answer, `chunk_delay_ms` between streamed
//! events, and a [`Fault`]. A `Status` fault replaces every answer; the other
//! faults distort answers that would have succeeded (see [`Fault`]).
//!
//! # Control routes
//!
//! For clients outside the process: `POST /_mock/behavior` (a [`Behavior`]
//! as JSON), `GET /_mock/behavior`, `GET /_mock/requests` (JSON array of
//! [`RecordedRequest`], bodies as UTF-8 text), `GET /_mock/chunks` (the chunk
//! log with each event's bytes as text) and `DELETE /_mock/requests` (also
//! clears the chunk log), `POST /_mock/razorpay` (a [`RazorpaySettings`] as JSON),
//! `GET /_mock/razorpay` and `GET /_mock/razorpay/orders` (the orders the fake Razorpay
//! created). They are not recorded.
//!
//! [`Behavior::gzip`] makes every non-streamed answer gzip-encoded whatever the
//! request asked for, like an upstream behind a compressing CDN.

#![forbid(unsafe_code)]

mod anthropic;
mod behavior;
mod control;
mod deliver;
mod gemini;
mod openai;
mod openai_chat;
mod openai_responses;
mod razorpay;
mod record;
mod reply;
mod request;
mod server;
mod state;
mod tokens;

pub use behavior::{Behavior, DEFAULT_REPLY, Fault, SKILL_MARKER};
pub use razorpay::{RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET, RazorpaySettings};
pub use record::{ChunkSent, RecordedRequest};
pub use server::MockServer;
