//! Relays an upstream event stream to the client event by event as it arrives, while
//! the dialect's observer reads usage on the side. The usage record is written when
//! the stream ends — or when the client goes away: dropping the response body drops
//! this relay, which drops the upstream response (cancelling the upstream request) and
//! records what was seen so far.

use super::dialect::{EventAction, StreamObserver};
use super::meter::{Outcome, RequestMeter, count_request_text};
use super::sse::EventSplitter;
use crate::metering::UsageSource;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use std::time::Duration;

/// HTTP status recorded when the client closed the connection mid-stream (as nginx).
const CLIENT_CLOSED: u16 = 499;

struct Relay {
    upstream: std::pin::Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    splitter: EventSplitter,
    observer: Box<dyn StreamObserver>,
    meter: RequestMeter,
    upstream_body: Bytes,
    idle_timeout: Duration,
    status: u16,
    finished: bool,
    recorded: bool,
}

pub fn relay(
    response: reqwest::Response,
    observer: Box<dyn StreamObserver>,
    meter: RequestMeter,
    upstream_body: Bytes,
    idle_timeout: Duration,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let status = response.status().as_u16();
    let relay = Relay {
        upstream: Box::pin(response.bytes_stream()),
        splitter: EventSplitter::default(),
        observer,
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
    /// The next bytes for the client: every complete event of the next upstream chunk,
    /// or `None` when the stream is over.
    async fn next_output(&mut self) -> Option<Bytes> {
        loop {
            if self.finished {
                self.record();
                return None;
            }
            match tokio::time::timeout(self.idle_timeout, self.upstream.next()).await {
                Ok(Some(Ok(chunk))) => {
                    self.splitter.push(&chunk);
                    if let Some(out) = self.drain_events() {
                        return Some(out);
                    }
                }
                Ok(Some(Err(e))) => {
                    tracing::warn!(request_id = %self.meter.request_id, error = %e.without_url(), "upstream stream broke; ending the client stream");
                    return self.finish();
                }
                Ok(None) => return self.finish(),
                Err(_) => {
                    tracing::warn!(request_id = %self.meter.request_id, idle_secs = self.idle_timeout.as_secs(), "upstream stream stalled; ending the client stream");
                    return self.finish();
                }
            }
        }
    }

    /// Passes each complete event through the observer; events of one upstream chunk
    /// leave together, so the client gets them in one write.
    fn drain_events(&mut self) -> Option<Bytes> {
        let mut out = BytesMut::new();
        while let Some(event) = self.splitter.next_event() {
            match self.observer.on_event(&event) {
                EventAction::Pass => out.extend_from_slice(&event),
                EventAction::Drop => {}
                EventAction::Replace(bytes) => out.extend_from_slice(&bytes),
            }
        }
        (!out.is_empty()).then(|| out.freeze())
    }

    /// The upstream is done: relay any unterminated tail as is and stop.
    fn finish(&mut self) -> Option<Bytes> {
        self.finished = true;
        match self.splitter.take_rest() {
            Some(rest) => Some(rest),
            None => {
                self.record();
                None
            }
        }
    }

    fn record(&mut self) {
        if self.recorded {
            return;
        }
        self.recorded = true;
        let status = if self.finished { self.status } else { CLIENT_CLOSED };
        let (tokens, source) = match self.observer.reported() {
            Some(tokens) => (Some(tokens), UsageSource::Upstream),
            None => {
                let output = mintoken_compress::tokens::count(self.observer.streamed_text()) as i64;
                let input = count_request_text(&self.upstream_body);
                (Some(super::dialect::Tokens { input, output }), UsageSource::Counted)
            }
        };
        self.meter.record(Outcome { status, tokens, source });
    }
}

impl Drop for Relay {
    /// The client went away before the end: the upstream response is dropped with us
    /// (closing that connection), and the usage seen so far is still recorded.
    fn drop(&mut self) {
        if !self.recorded {
            tracing::info!(request_id = %self.meter.request_id, "client closed the stream early; upstream request cancelled");
        }
        self.record();
    }
}
