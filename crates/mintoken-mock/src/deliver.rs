//! Turning what an API module decided ([`Outcome`]) into the HTTP response
//! actually sent: the first-byte delay, every [`Fault`], the paced event
//! stream with its chunk log, and the open-stream count.
//!
//! API modules never sleep or inject faults themselves, so all routes behave
//! the same way under a given [`Behavior`].

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use crate::behavior::{Behavior, Fault};
use crate::state::{Shared, StreamGuard};

/// Content type of server-sent-event streams.
pub(crate) const EVENT_STREAM: &str = "text/event-stream";

/// The answer an API module would give if nothing went wrong.
pub(crate) enum Outcome {
    /// A rejection (bad auth, invalid request…), sent as is: only a `Status`
    /// fault and the first-byte delay apply to it.
    Reject(Rejection),
    /// A successful, non-streamed JSON answer.
    Json(Value),
    /// A successful stream: already framed events and their content type.
    Stream { events: Vec<Bytes>, content_type: &'static str },
}

/// An error answer, already in its provider's envelope. Kept as plain data
/// (not a `Response`) so the `Result`s that carry it stay small.
pub(crate) struct Rejection {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
}

/// What the request being answered is: the index under which it was recorded
/// and the behaviour that was current when it arrived.
pub(crate) struct Ctx {
    pub(crate) state: Shared,
    pub(crate) behavior: Behavior,
    pub(crate) request_index: usize,
}

impl Ctx {
    /// Context for the request recorded at `request_index`, with the
    /// behaviour current now (later changes do not affect this answer).
    pub(crate) fn new(state: Shared, request_index: usize) -> Ctx {
        Ctx { behavior: state.behavior(), state, request_index }
    }
}

/// A JSON response with the given status.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    raw_json_response(status, body.to_string())
}

fn raw_json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// One SSE event carrying only data, as OpenAI Chat Completions and Gemini send it.
pub(crate) fn data_event(data: &Value) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

/// One SSE event with a name, as the Responses API and Anthropic send it.
pub(crate) fn named_event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// Sends `outcome` the way the current behaviour says.
pub(crate) async fn deliver(ctx: Ctx, outcome: Outcome) -> Response {
    let behavior = &ctx.behavior;
    if behavior.first_byte_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(behavior.first_byte_delay_ms)).await;
    }
    if let Some(Fault::Status { status, body, retry_after }) = &behavior.fault {
        return gzip_if(behavior.gzip, status_fault(*status, body, retry_after.as_deref())).await;
    }
    match outcome {
        Outcome::Reject(rejection) => gzip_if(behavior.gzip, json_response(rejection.status, &rejection.body)).await,
        Outcome::Json(value) => {
            let response = json_answer(behavior.fault.as_ref(), &value).await;
            // A dropped connection stays dropped: its body fails on purpose.
            let drops = matches!(behavior.fault, Some(Fault::DropAfterEvents { .. }));
            gzip_if(behavior.gzip && !drops, response).await
        }
        Outcome::Stream { events, content_type } => stream_answer(ctx, events, content_type),
    }
}

/// With [`Behavior::gzip`], re-sends a buffered answer gzip-encoded.
async fn gzip_if(gzip: bool, response: Response) -> Response {
    use std::io::Write;
    if !gzip {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Only JSON bodies built in memory come here; reading them cannot fail.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let encoded = encoder.write_all(&bytes).and_then(|()| encoder.finish());
    match encoded {
        Ok(encoded) => {
            parts.headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(encoded))
        }
        Err(_) => Response::from_parts(parts, Body::from(bytes)),
    }
}

fn status_fault(status: u16, body: &str, retry_after: Option<&str>) -> Response {
    // An out-of-range status can only come from an in-process `set_behavior`
    // (the control route validates it); answer 500 rather than panic.
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = raw_json_response(status, body.to_owned());
    if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(v).ok()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

async fn json_answer(fault: Option<&Fault>, value: &Value) -> Response {
    match fault {
        None | Some(Fault::Status { .. }) => json_response(StatusCode::OK, value),
        Some(Fault::MalformedJson) => raw_json_response(StatusCode::OK, r#"{"id": "broken"#.to_owned()),
        Some(Fault::DropAfterEvents { .. }) => {
            // hyper buffers the head until the first body frame; a body that
            // fails at once makes it close the connection with nothing sent.
            let failing = futures_util::stream::once(async {
                Err::<Bytes, _>(std::io::Error::other("mock: connection dropped on purpose"))
            });
            Response::new(Body::from_stream(failing))
        }
        Some(Fault::StallAfterEvents { .. }) => {
            // Never answer; the connection task drops this future once the
            // client gives up.
            std::future::pending().await
        }
        Some(Fault::CloseMidBody { bytes }) => {
            let mut body = value.to_string().into_bytes();
            body.truncate(*bytes);
            let frames = [Ok(Bytes::from(body)), Err(std::io::Error::other("mock: body cut short on purpose"))];
            let mut response = Response::new(Body::from_stream(cut_after_flush(frames)));
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Some(Fault::RawBody { chunks }) => {
            let frames: Vec<Result<Bytes, std::io::Error>> =
                chunks.iter().map(|c| Ok(Bytes::from(c.clone().into_bytes()))).collect();
            let mut response = Response::new(Body::from_stream(futures_util::stream::iter(frames)));
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Some(Fault::HugeBody { bytes }) => {
            let piece = Bytes::from(vec![b'a'; HUGE_PIECE]);
            let pieces = bytes.div_ceil(HUGE_PIECE);
            let body = futures_util::stream::iter(
                std::iter::once(Bytes::from_static(b"{\"pad\":\""))
                    .chain(std::iter::repeat_n(piece, pieces))
                    .chain(std::iter::once(Bytes::from_static(b"\"}")))
                    .map(Ok::<_, std::io::Error>),
            );
            let mut response = Response::new(Body::from_stream(body));
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
    }
}

/// Size of each piece of a [`Fault::HugeBody`].
const HUGE_PIECE: usize = 64 * 1024;

/// `frames`, with a pause before an error so that what came before it is flushed (hyper
/// only writes when the body is pending) and the abort cuts the body where it says.
fn cut_after_flush<const N: usize>(
    frames: [Result<Bytes, std::io::Error>; N],
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    use futures_util::StreamExt;
    futures_util::stream::iter(frames).then(|frame| async move {
        if frame.is_err() {
            tokio::time::sleep(ABORT_FLUSH_PAUSE).await;
        }
        frame
    })
}

/// Time given to hyper to flush the events sent before an abort. Loopback
/// writes of a few kilobytes complete well within it.
const ABORT_FLUSH_PAUSE: Duration = Duration::from_millis(10);

/// How a stream ends once its events are sent.
enum End {
    Clean,
    Abort,
    Stall,
}

/// The state a stream body carries from one event to the next.
struct Feed {
    events: std::vec::IntoIter<Bytes>,
    sent: usize,
    delay: Duration,
    end: End,
    state: Shared,
    request_index: usize,
    _open: StreamGuard,
}

fn stream_answer(ctx: Ctx, mut events: Vec<Bytes>, content_type: &'static str) -> Response {
    let end = match ctx.behavior.fault {
        Some(Fault::DropAfterEvents { events: n }) => {
            events.truncate(n);
            End::Abort
        }
        Some(Fault::StallAfterEvents { events: n }) => {
            events.truncate(n);
            End::Stall
        }
        Some(Fault::MalformedJson) => {
            events = vec![Bytes::from_static(b"data: {not json\n\n")];
            End::Clean
        }
        Some(Fault::CloseMidBody { bytes }) => {
            let mut all: Vec<u8> = events.concat();
            all.truncate(bytes);
            events = vec![Bytes::from(all)];
            End::Abort
        }
        Some(Fault::RawBody { ref chunks }) => {
            events = chunks.iter().map(|c| Bytes::from(c.clone().into_bytes())).collect();
            End::Clean
        }
        Some(Fault::HugeBody { bytes }) => {
            let mut event = b"data: {\"pad\":\"".to_vec();
            event.resize(HUGE_PIECE - 4, b'a');
            event.extend_from_slice(b"\"}\n\n");
            let event = Bytes::from(event);
            events = vec![event; bytes.div_ceil(HUGE_PIECE)];
            End::Clean
        }
        None | Some(Fault::Status { .. }) => End::Clean,
    };
    let feed = Feed {
        events: events.into_iter(),
        sent: 0,
        delay: Duration::from_millis(ctx.behavior.chunk_delay_ms),
        end,
        _open: ctx.state.stream_guard(),
        state: ctx.state,
        request_index: ctx.request_index,
    };
    let body = futures_util::stream::unfold(feed, next_event);
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Yields the next event (each one its own body frame, hence its own HTTP
/// chunk), pacing and logging it, then ends the way the fault says.
async fn next_event(mut feed: Feed) -> Option<(Result<Bytes, std::io::Error>, Feed)> {
    match feed.events.next() {
        Some(event) => {
            if feed.sent > 0 && !feed.delay.is_zero() {
                tokio::time::sleep(feed.delay).await;
            }
            feed.state.log_chunk(feed.request_index, feed.sent, event.clone());
            feed.sent += 1;
            Some((Ok(event), feed))
        }
        None => match feed.end {
            End::Clean => None,
            End::Abort => {
                // hyper only flushes when the body is pending: pause briefly
                // so the events already written reach the client, then fail.
                // The error makes hyper close the connection without the
                // terminating chunk, which is what a crashed upstream looks like.
                tokio::time::sleep(ABORT_FLUSH_PAUSE).await;
                feed.end = End::Clean;
                let error = std::io::Error::other("mock: stream dropped on purpose");
                Some((Err(error), feed))
            }
            End::Stall => {
                // Hang with the guard alive; hyper drops the body (and so the
                // guard) when the client closes the connection.
                let never: Infallible = std::future::pending().await;
                match never {}
            }
        },
    }
}
