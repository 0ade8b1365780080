//! What the mock remembers about traffic: every API request exactly as it
//! arrived ([`RecordedRequest`]) and the moment each streamed event was handed
//! to the connection ([`ChunkSent`]).

use std::time::Instant;

use serde::{Deserialize, Serialize};

/// One request as received: tests assert on exactly what reached the upstream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Path without the query string, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Raw (still percent-encoded) query string, without the `?`.
    pub query: Option<String>,
    /// Every header in arrival order; names lowercase, values as received
    /// (bytes that are not UTF-8 are replaced lossily).
    pub headers: Vec<(String, String)>,
    /// Raw body bytes. Serialized as a (lossy) UTF-8 string so the control
    /// route's JSON stays readable from Python.
    #[serde(with = "body_as_text")]
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// First value of the header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, or `Value::Null` when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body as (lossy) UTF-8 text.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One streamed event written by the mock.
#[derive(Clone, Debug)]
pub struct ChunkSent {
    /// Index of the request (in [`crate::MockServer::requests`]) this stream answers.
    pub request_index: usize,
    /// Position of the event within its stream, from 0.
    pub event_index: usize,
    /// When the event was handed to the connection.
    pub at: Instant,
    /// The exact bytes of the event, so tests can check a relayed stream byte for byte.
    pub data: bytes::Bytes,
}

/// Bodies travel as text in JSON; bytes that are not UTF-8 are replaced.
mod body_as_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(body: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(body))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Ok(String::deserialize(d)?.into_bytes())
    }
}
