//! Relays an upstream stream to the client chunk by chunk as it arrives, while a
//! reader picks usage out of it on the side. The usage record is written when the
//! stream ends — or when the client goes away: dropping the response body drops this
//! relay, which drops the upstream response (cancelling the upstream request) and
//! records what was seen so far.

use super::dialect::{Dialect, EventAction, GeneratedText, StreamObserver, Tokens};
use super::meter::CLIENT_CLOSED;
use super::meter::{Outcome, RequestMeter, count_request_text};
use super::sse::EventSplitter;
use crate::metering::UsageSource;
use crate::metrics::{ErrorClass, Metrics, OpenStream};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http_body_util::{BodyDataStream, BodyExt};
use hyper::body::Incoming;
use std::sync::Arc;
use std::time::Duration;

/// A non-SSE stream (Gemini without `alt=sse` streams one JSON array) is kept up to
/// this size to read its usage at the end; beyond it usage is counted from text.
const MAX_RAW_KEPT: usize = 16 * 1024 * 1024;
/// An SSE event still unterminated past this size is relayed as it stands, unread: an
/// upstream that never ends an event must not make the relay buffer without bound (and
/// hold the client's bytes back).
const MAX_PENDING_EVENT: usize = 16 * 1024 * 1024;

/// How the relay reads a stream.
pub enum Reader {
    /// Server-sent events: cut into events, each shown to the dialect's observer, which
    /// may withhold or rewrite it.
    Sse { splitter: EventSplitter, observer: Box<dyn StreamObserver> },
    /// Anything else: relayed as is, kept (bounded) and parsed whole at the end.
    Raw { dialect: &'static dyn Dialect, kept: BytesMut, overflowed: bool },
}

impl Reader {
    pub fn new(dialect: &'static dyn Dialect, observer: Box<dyn StreamObserver>, sse: bool) -> Reader {
        if sse {
            Reader::Sse { splitter: EventSplitter::default(), observer }
        } else {
            Reader::Raw { dialect, kept: BytesMut::new(), overflowed: false }
        }
    }

    /// What to send the client for one upstream chunk (possibly nothing yet).
    fn read(&mut self, chunk: Bytes) -> Option<Bytes> {
        match self {
            Reader::Sse { splitter, observer } => {
                splitter.push(&chunk);
                let mut out = BytesMut::new();
                while let Some(event) = splitter.next_event() {
                    match observer.on_event(&event) {
                        EventAction::Pass => out.extend_from_slice(&event),
                        EventAction::Drop => {}
                        EventAction::Replace(bytes) => out.extend_from_slice(&bytes),
                    }
                }
                if splitter.buffered() > MAX_PENDING_EVENT
                    && let Some(partial) = splitter.take_rest()
                {
                    out.extend_from_slice(&partial);
                }
                (!out.is_empty()).then(|| out.freeze())
            }
            Reader::Raw { kept, overflowed, .. } => {
                if kept.len() + chunk.len() <= MAX_RAW_KEPT {
                    kept.extend_from_slice(&chunk);
                } else {
                    *overflowed = true;
                }
                Some(chunk)
            }
        }
    }

    /// An unterminated last SSE event is relayed as is.
    fn rest(&mut self) -> Option<Bytes> {
        match self {
            Reader::Sse { splitter, .. } => splitter.take_rest(),
            Reader::Raw { .. } => None,
        }
    }

    /// Usage the provider reported, and the text the model produced (for counting).
    fn usage(&self) -> (Option<Tokens>, Option<&GeneratedText>) {
        match self {
            Reader::Sse { observer, .. } => (observer.tally().usage, Some(&observer.tally().text)),
            Reader::Raw { dialect, kept, overflowed } => {
                let reported = if *overflowed { None } else { dialect.usage_from_body(kept) };
                (reported, None)
            }
        }
    }
}

struct Relay {
    upstream: BodyDataStream<Incoming>,
    reader: Reader,
    meter: RequestMeter,
    upstream_body: Bytes,
    idle_timeout: Duration,
    status: u16,
    finished: bool,
    recorded: bool,
    metrics: Arc<Metrics>,
    /// Counts this stream in `mintoken_open_streams` while it lives.
    _open: OpenStream,
}

pub fn relay(
    response: super::upstream::UpstreamResponse,
    reader: Reader,
    meter: RequestMeter,
    upstream_body: Bytes,
    idle_timeout: Duration,
    metrics: Arc<Metrics>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let status = response.status().as_u16();
    let relay = Relay {
        _open: metrics.stream_opened(),
        metrics,
        upstream: response.into_body().into_data_stream(),
        reader,
        meter,
        upstream_body,
        idle_timeout,
        status,
        finished: false,
        recorded: false,
    };
    futures_util::stream::unfold(relay, |mut relay| async move {
        let out = relay.next_output().await?;
        Some((Ok(out), relay))
    })
}

impl Relay {
    /// The next bytes for the client, or `None` when the stream is over.
    async fn next_output(&mut self) -> Option<Bytes> {
        loop {
            if self.finished {
                self.record();
                return None;
            }
            match tokio::time::timeout(self.idle_timeout, self.upstream.next()).await {
                Ok(Some(Ok(chunk))) => {
                    if let Some(out) = self.reader.read(chunk) {
                        return Some(out);
                    }
                }
                Ok(Some(Err(e))) => {
                    tracing::warn!(request_id = %self.meter.request_id, error = %e, "upstream stream broke; ending the client stream");
                    self.metrics.observe_error(ErrorClass::StreamBroken);
                    return self.finish();
                }
                Ok(None) => return self.finish(),
                Err(_) => {
                    let idle_secs = self.idle_timeout.as_secs();
                    tracing::warn!(request_id = %self.meter.request_id, idle_secs, "upstream stream stalled; ending the client stream");
                    self.metrics.observe_error(ErrorClass::StreamStalled);
                    return self.finish();
                }
            }
        }
    }

    fn finish(&mut self) -> Option<Bytes> {
        self.finished = true;
        let rest = self.reader.rest();
        if rest.is_none() {
            self.record();
        }
        rest
    }

    /// Provider figures where the provider gave them; otherwise (a stream cut short)
    /// the streamed text and the request's text are counted, and the row says so.
    fn record(&mut self) {
        if self.recorded {
            return;
        }
        self.recorded = true;
        let status = if self.finished { self.status } else { CLIENT_CLOSED };
        let (reported, text) = self.reader.usage();
        let counted_output = || text.map_or(0, GeneratedText::tokens);
        let (tokens, source) = match reported {
            Some(t) if self.finished => (t, UsageSource::Upstream),
            // Cut short: providers that report early (Anthropic, Gemini) may have
            // sent input but not the final output count.
            Some(t) => {
                let output = t.output.max(counted_output());
                let input = if t.input > 0 { t.input } else { count_request_text(&self.upstream_body) };
                let source =
                    if output == t.output && input == t.input { UsageSource::Upstream } else { UsageSource::Counted };
                (Tokens { input, output }, source)
            }
            None => (
                Tokens { input: count_request_text(&self.upstream_body), output: counted_output() },
                UsageSource::Counted,
            ),
        };
        self.meter.record(Outcome { status, tokens: Some(tokens), source });
    }
}

impl Drop for Relay {
    /// The client went away before the end: the upstream response is dropped with us
    /// (closing that connection), and the usage seen so far is still recorded.
    fn drop(&mut self) {
        if !self.recorded {
            tracing::info!(request_id = %self.meter.request_id, "client closed the stream early; upstream request cancelled");
            self.metrics.observe_error(ErrorClass::ClientClosed);
        }
        self.record();
    }
}
