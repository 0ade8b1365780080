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
use futures_util::{FutureExt, Stream, StreamExt};
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
/// Pieces gathered into one write to the client stop growing past this size.
const MAX_GATHERED: usize = 64 * 1024;
/// Yields without a new piece before a gathered write goes out. hyper's connection task
/// had the next chunk ready only after the second (measured with the mock's unpaced
/// stream, one worker thread).
const GATHER_YIELDS: u32 = 2;

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
    /// Whether the first bytes went out (they go alone, at once).
    started: bool,
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
        started: false,
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
    ///
    /// Upstreams often deliver several events in one read (a burst of tokens, or a
    /// whole fast stream), and hyper hands them over one chunk at a time: written as
    /// they came, each was a system call and a TCP segment of its own, with the client
    /// woken for each. So pieces already received are sent together, in one write. The
    /// first piece goes out alone (the time to first byte), and so does one the relay
    /// had to wait for: a paced stream's events are never held back, and nothing waits
    /// for bytes still on their way.
    async fn next_output(&mut self) -> Option<Bytes> {
        let Some(first) = self.received_piece().await else {
            self.started = true;
            return self.next_piece().await;
        };
        let first = first?;
        if !self.started {
            self.started = true;
            return Some(first);
        }
        let mut gathered: Option<BytesMut> = None;
        while !self.finished && first.len() + gathered.as_ref().map_or(0, BytesMut::len) < MAX_GATHERED {
            let Some(Some(more)) = self.received_piece().await else { break };
            gathered.get_or_insert_with(|| BytesMut::from(&first[..])).extend_from_slice(&more);
        }
        Some(gathered.map_or(first, BytesMut::freeze))
    }

    /// The next piece if the upstream has already delivered it, without waiting for the
    /// network: `None` if it has not. Taking a chunk tells hyper's connection task to
    /// decode the next one from what it has read, which it does while this task yields.
    async fn received_piece(&mut self) -> Option<Option<Bytes>> {
        for _ in 0..GATHER_YIELDS {
            if let Some(piece) = self.piece_now() {
                return Some(piece);
            }
            tokio::task::yield_now().await;
        }
        self.piece_now()
    }

    /// [`Self::received_piece`] without yielding: what the chunks at hand give.
    fn piece_now(&mut self) -> Option<Option<Bytes>> {
        loop {
            if self.finished {
                self.record();
                return Some(None);
            }
            let item = self.upstream.next().now_or_never()?;
            if let Some(piece) = self.take(item) {
                return Some(piece);
            }
        }
    }

    /// The next piece for the client, waiting for the upstream as long as the idle
    /// timeout allows, or `None` when the stream is over.
    async fn next_piece(&mut self) -> Option<Bytes> {
        loop {
            if self.finished {
                self.record();
                return None;
            }
            let Ok(item) = tokio::time::timeout(self.idle_timeout, self.upstream.next()).await else {
                let idle_secs = self.idle_timeout.as_secs();
                tracing::warn!(request_id = %self.meter.request_id, idle_secs, "upstream stream stalled; ending the client stream");
                self.metrics.observe_error(ErrorClass::StreamStalled);
                return self.finish();
            };
            if let Some(piece) = self.take(item) {
                return piece;
            }
        }
    }

    /// Reads one item of the upstream body: `Some(bytes)` for the client, `Some(None)`
    /// at the end (a broken stream ends too), `None` when it completed no event yet.
    fn take(&mut self, item: Option<Result<Bytes, hyper::Error>>) -> Option<Option<Bytes>> {
        match item {
            Some(Ok(chunk)) => self.reader.read(chunk).map(Some),
            Some(Err(e)) => {
                tracing::warn!(request_id = %self.meter.request_id, error = %e, "upstream stream broke; ending the client stream");
                self.metrics.observe_error(ErrorClass::StreamBroken);
                Some(self.finish())
            }
            None => Some(self.finish()),
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
