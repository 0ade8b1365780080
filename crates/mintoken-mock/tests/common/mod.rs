//! Helpers shared by the integration tests: a plain-HTTP client and an SSE
//! reader that keeps arrival times and tells a clean end from an abort.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;

/// In a workspace build reqwest is compiled with mintoken's `rustls-no-provider`
/// feature, so a TLS crypto provider must exist before any client is built.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn client() -> reqwest::Client {
    install_tls_provider();
    // A fresh client per test: no pooled connection can leak a fault's
    // broken connection into another request.
    reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client")
}

pub async fn post(url: &str, headers: &[(&str, &str)], body: impl Into<String>) -> reqwest::Response {
    let mut request = client().post(url).body(body.into());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request failed")
}

pub async fn post_json(url: &str, headers: &[(&str, &str)], body: &Value) -> (u16, Value) {
    let response = post(url, headers, body.to_string()).await;
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, value)
}

/// One SSE event as received: its text (without the blank line) and when it arrived.
#[derive(Debug)]
pub struct Event {
    pub text: String,
    pub at: Instant,
}

impl Event {
    /// The `data:` payload of the event.
    pub fn data(&self) -> &str {
        self.text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap_or("")
    }

    /// The `event:` name, if any.
    pub fn name(&self) -> Option<&str> {
        self.text.lines().find_map(|l| l.strip_prefix("event: "))
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(self.data()).unwrap_or_else(|_| panic!("not JSON: {}", self.text))
    }
}

/// How a stream finished.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    Clean,
    Error,
    /// Nothing arrived for the given time.
    Timeout,
}

/// Reads SSE events until the stream ends, fails, or is silent for `idle`.
pub async fn read_events(response: reqwest::Response, idle: Duration) -> (Vec<Event>, End) {
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    loop {
        match tokio::time::timeout(idle, stream.next()).await {
            Err(_) => return (events, End::Timeout),
            Ok(None) => return (events, End::Clean),
            Ok(Some(Err(_))) => return (events, End::Error),
            Ok(Some(Ok(bytes))) => {
                let at = Instant::now();
                buffer.push_str(&String::from_utf8_lossy(&bytes));
                // Both \n\n and \r\n\r\n end an event.
                loop {
                    let lf = buffer.find("\n\n").map(|i| (i, 2));
                    let crlf = buffer.find("\r\n\r\n").map(|i| (i, 4));
                    let Some((i, len)) = [lf, crlf].into_iter().flatten().min() else {
                        break;
                    };
                    let text = buffer[..i].replace("\r\n", "\n");
                    buffer.drain(..i + len);
                    events.push(Event { text, at });
                }
            }
        }
    }
}

/// Waits (bounded) until `cond` holds.
pub async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}
