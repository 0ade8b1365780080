//! The load generator's HTTP client: one keep-alive HTTP/1.1 connection per
//! worker on hyper's bare connection API (no pool, no retries), `TCP_NODELAY`
//! on, and a clock that runs from just before the request is written to the
//! last byte of the body. Every answer is checked: status 200 and a non-empty
//! body, and for streams the provider's end-of-stream event.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{SendRequest, handshake};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::payload::Api;

/// Longest a single non-streamed exchange may take before it counts as an error.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a stream may stay silent before it counts as an error.
const STREAM_SILENCE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where requests go: straight to the mock, or through mintoken with a key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    Direct,
    Mintoken,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Direct => "direct",
            Side::Mintoken => "mintoken",
        }
    }
}

/// One side of a comparison: its address and the credentials that side needs.
#[derive(Clone)]
pub struct Endpoint {
    pub side: Side,
    pub addr: SocketAddr,
    host: HeaderValue,
    /// The mintoken key; `None` when calling the mock directly.
    key: Option<String>,
}

/// Provider keys the mock accepts (it takes any non-empty key); mintoken
/// forwards them from `X-Provider-Key`.
const OPENAI_PROVIDER_KEY: &str = "sk-bench";
const ANTHROPIC_PROVIDER_KEY: &str = "sk-ant-bench";
const GEMINI_PROVIDER_KEY: &str = "gm-bench";

impl Endpoint {
    pub fn direct(url: &str) -> Endpoint {
        Endpoint::new(Side::Direct, url, None)
    }

    pub fn mintoken(url: &str, key: &str) -> Endpoint {
        Endpoint::new(Side::Mintoken, url, Some(key.to_owned()))
    }

    fn new(side: Side, url: &str, key: Option<String>) -> Endpoint {
        let addr = parse_base_url(url);
        let host = HeaderValue::from_str(&addr.to_string()).expect("a socket address is a valid Host header");
        Endpoint { side, addr, host, key }
    }

    /// The same endpoint with another mintoken key (ignored for the mock).
    pub fn with_key(&self, key: &str) -> Endpoint {
        let key = self.key.as_ref().map(|_| key.to_owned());
        Endpoint { key, ..self.clone() }
    }

    /// A POST of `body` to `path` with the credentials of `api` for this side.
    pub fn request(&self, api: Api, path: &str, body: Bytes) -> Request<Full<Bytes>> {
        let mut request = self.json_post(path, body);
        let headers = request.headers_mut();
        match (api, &self.key) {
            (Api::OpenAi, None) => {
                headers.insert(header::AUTHORIZATION, value(&format!("Bearer {OPENAI_PROVIDER_KEY}")));
            }
            (Api::OpenAi, Some(key)) => {
                headers.insert(header::AUTHORIZATION, value(&format!("Bearer {key}")));
                headers.insert("x-provider-key", value(OPENAI_PROVIDER_KEY));
            }
            (Api::Anthropic, None) => {
                headers.insert("x-api-key", value(ANTHROPIC_PROVIDER_KEY));
            }
            (Api::Anthropic, Some(key)) => {
                headers.insert("x-api-key", value(key));
                headers.insert("x-provider-key", value(ANTHROPIC_PROVIDER_KEY));
            }
        }
        if api == Api::Anthropic {
            headers.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        }
        request
    }
}

/// A header value from one of the keys (printable ASCII by construction).
fn value(key: &str) -> HeaderValue {
    HeaderValue::from_str(key).expect("keys are printable ASCII")
}

impl Endpoint {
    /// A JSON POST of `body` to `path` on this side, without credentials.
    fn json_post(&self, path: &str, body: Bytes) -> Request<Full<Bytes>> {
        Request::post(path)
            .header(header::HOST, self.host.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .expect("a request built from a valid path and fixed headers")
    }

    /// A POST of `body` to a Gemini `path` with this side's credentials: the
    /// mintoken key in `x-goog-api-key` (as the Gemini SDKs send their key) and the
    /// provider key in `X-Provider-Key`; straight to the mock, the provider key.
    pub fn gemini_request(&self, path: &str, body: Bytes) -> Request<Full<Bytes>> {
        let mut request = self.json_post(path, body);
        let headers = request.headers_mut();
        match &self.key {
            None => {
                headers.insert("x-goog-api-key", value(GEMINI_PROVIDER_KEY));
            }
            Some(key) => {
                headers.insert("x-goog-api-key", value(key));
                headers.insert("x-provider-key", value(GEMINI_PROVIDER_KEY));
            }
        }
        request
    }
}

/// `http://IP:PORT` (what the mock prints and mintoken listens on) to an address.
///
/// # Panics
/// On anything else: a setup mistake in the caller, best reported at once.
pub fn parse_base_url(url: &str) -> SocketAddr {
    let rest = url.strip_prefix("http://").unwrap_or(url).trim_end_matches('/');
    rest.parse().unwrap_or_else(|e| panic!("base URL {url:?} is not http://IP:PORT: {e}"))
}

/// A complete, checked, non-streamed answer.
pub struct Reply {
    pub elapsed: Duration,
    pub headers: HeaderMap,
}

/// A complete, checked stream and when each of its events arrived.
pub struct StreamReply {
    /// From just before the request was written to the first body byte.
    pub ttfb: Duration,
    /// Arrival of each server-sent event (its closing blank line), from the same start.
    pub events: Vec<Duration>,
    pub headers: HeaderMap,
}

/// One keep-alive connection; reopened transparently after the server closed it.
pub struct Conn {
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    /// A connection that opens on first use.
    pub fn lazy(addr: SocketAddr) -> Conn {
        Conn { addr, sender: None }
    }

    /// Opens the TCP connection now (so connecting is not part of the first
    /// measurement).
    pub async fn open(addr: SocketAddr) -> Result<Conn, String> {
        let mut conn = Conn::lazy(addr);
        conn.ready().await?;
        Ok(conn)
    }

    async fn ready(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, String> {
        if self.sender.as_ref().is_some_and(|s| s.is_closed()) {
            self.sender = None;
        }
        if self.sender.is_none() {
            let tcp = TcpStream::connect(self.addr).await.map_err(|e| format!("connect {}: {e}", self.addr))?;
            tcp.set_nodelay(true).map_err(|e| format!("TCP_NODELAY: {e}"))?;
            let (sender, connection) =
                handshake(TokioIo::new(tcp)).await.map_err(|e| format!("HTTP handshake: {e}"))?;
            // Drives the socket; ends when the server closes it or the sender is dropped.
            tokio::spawn(connection);
            self.sender = Some(sender);
        }
        let sender = self.sender.as_mut().expect("set just above");
        if let Err(e) = sender.ready().await {
            self.sender = None;
            return Err(format!("connection not ready: {e}"));
        }
        Ok(self.sender.as_mut().expect("still set"))
    }

    async fn send(&mut self, request: Request<Full<Bytes>>) -> Result<(Instant, Response<Incoming>), String> {
        let sender = self.ready().await?;
        let start = Instant::now();
        match sender.send_request(request).await {
            Ok(response) => Ok((start, response)),
            Err(e) => {
                self.sender = None;
                Err(format!("request: {e}"))
            }
        }
    }

    /// Sends `request` and reads the whole answer. An error is any failure to
    /// exchange, a status other than 200, an empty body, or a timeout.
    pub async fn call(&mut self, request: Request<Full<Bytes>>) -> Result<Reply, String> {
        let exchange = async {
            let (start, response) = self.send(request).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| format!("reading the body: {e}"))?.to_bytes();
            Ok::<_, String>((start.elapsed(), parts, body))
        };
        let (elapsed, parts, body) = match tokio::time::timeout(CALL_TIMEOUT, exchange).await {
            Ok(done) => done?,
            Err(_) => {
                self.sender = None;
                return Err(format!("no complete answer within {CALL_TIMEOUT:?}"));
            }
        };
        check_status(parts.status, &body)?;
        if body.is_empty() {
            return Err("200 with an empty body".to_owned());
        }
        Ok(Reply { elapsed, headers: parts.headers })
    }

    /// Sends a streaming `request` and times each event. The stream must end
    /// cleanly with `api`'s final event.
    pub async fn stream(&mut self, api: Api, request: Request<Full<Bytes>>) -> Result<StreamReply, String> {
        self.stream_until(api.end_marker(), request).await
    }

    /// [`Conn::stream`] for any API: `end_marker` is what only its final event contains.
    pub async fn stream_until(
        &mut self,
        end_marker: &'static [u8],
        request: Request<Full<Bytes>>,
    ) -> Result<StreamReply, String> {
        let (start, response) = match tokio::time::timeout(STREAM_SILENCE_TIMEOUT, self.send(request)).await {
            Ok(sent) => sent?,
            Err(_) => {
                self.sender = None;
                return Err(format!("no response head within {STREAM_SILENCE_TIMEOUT:?}"));
            }
        };
        let (parts, mut body) = response.into_parts();
        if parts.status != http::StatusCode::OK {
            let text = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            return Err(status_error(parts.status, &text));
        }
        let mut scan = EventScan::new(end_marker);
        let mut ttfb = None;
        let mut events = Vec::new();
        loop {
            let frame = match tokio::time::timeout(STREAM_SILENCE_TIMEOUT, body.frame()).await {
                Err(_) => {
                    self.sender = None;
                    return Err(format!("stream silent for {STREAM_SILENCE_TIMEOUT:?}"));
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    self.sender = None;
                    return Err(format!("stream broken after {} events: {e}", events.len()));
                }
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else { continue };
            if data.is_empty() {
                continue;
            }
            let now = start.elapsed();
            ttfb.get_or_insert(now);
            for _ in 0..scan.feed(&data) {
                events.push(now);
            }
        }
        let Some(ttfb) = ttfb else { return Err("200 with an empty stream".to_owned()) };
        if !scan.saw_end {
            return Err(format!("stream ended after {} events without its final event", events.len()));
        }
        Ok(StreamReply { ttfb, events, headers: parts.headers })
    }
}

/// A one-off JSON exchange (setup and mock control, never measured): returns
/// the status and the parsed body (`null` when it is not JSON).
pub async fn json_exchange(
    addr: SocketAddr,
    method: http::Method,
    path: &str,
    body: Option<&serde_json::Value>,
    bearer: Option<&str>,
) -> Result<(u16, serde_json::Value), String> {
    let mut builder = Request::builder().method(method).uri(path).header(header::HOST, addr.to_string());
    if let Some(token) = bearer {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let payload = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    if body.is_some() {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    let request = builder.body(Full::new(payload)).map_err(|e| format!("building {path}: {e}"))?;
    let mut conn = Conn::open(addr).await?;
    let (_, response) = conn.send(request).await?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.map_err(|e| format!("reading {path}: {e}"))?.to_bytes();
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)))
}

/// The value of an unlabelled series in a server's `GET /metrics` (Prometheus text).
pub async fn metric(addr: SocketAddr, name: &str) -> Result<f64, String> {
    let request = Request::builder()
        .uri("/metrics")
        .header(header::HOST, addr.to_string())
        .body(Full::new(Bytes::new()))
        .map_err(|e| format!("building /metrics: {e}"))?;
    let (_, response) = Conn::open(addr).await?.send(request).await?;
    let bytes = response.into_body().collect().await.map_err(|e| format!("reading /metrics: {e}"))?.to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .ok_or_else(|| format!("/metrics has no {name}"))
}

fn check_status(status: http::StatusCode, body: &[u8]) -> Result<(), String> {
    if status == http::StatusCode::OK { Ok(()) } else { Err(status_error(status, body)) }
}

fn status_error(status: http::StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    format!("status {}: {text}", status.as_u16())
}

/// Counts server-sent events (each ends with a blank line) across body frames
/// however they are split, and watches for the end-of-stream marker.
struct EventScan {
    marker: &'static [u8],
    last_was_newline: bool,
    /// The last bytes seen, so a marker split across two frames is still found.
    tail: Vec<u8>,
    saw_end: bool,
}

impl EventScan {
    fn new(marker: &'static [u8]) -> EventScan {
        EventScan { marker, last_was_newline: false, tail: Vec::new(), saw_end: false }
    }

    /// Feeds one frame; returns how many events it completed.
    fn feed(&mut self, data: &[u8]) -> usize {
        let mut completed = 0;
        for &byte in data {
            if byte == b'\n' {
                if self.last_was_newline {
                    completed += 1;
                }
                self.last_was_newline = true;
            } else if byte != b'\r' {
                self.last_was_newline = false;
            }
        }
        if !self.saw_end {
            self.tail.extend_from_slice(data);
            self.saw_end = self.tail.windows(self.marker.len()).any(|w| w == self.marker);
            let keep = self.marker.len().saturating_sub(1);
            if self.tail.len() > keep {
                self.tail.drain(..self.tail.len() - keep);
            }
        }
        completed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_and_marker_split_across_frames() {
        let mut scan = EventScan::new(b"[DONE]");
        assert_eq!(scan.feed(b"data: a\n\ndata: b\n"), 1);
        assert_eq!(scan.feed(b"\ndata: [DO"), 1);
        assert!(!scan.saw_end);
        assert_eq!(scan.feed(b"NE]\n\n"), 1);
        assert!(scan.saw_end);
    }

    #[test]
    fn base_urls() {
        assert_eq!(parse_base_url("http://127.0.0.1:8787/").port(), 8787);
        assert_eq!(parse_base_url("127.0.0.1:9").port(), 9);
    }
}
