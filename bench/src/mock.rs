//! Telling the mock how to answer (`POST /_mock/behavior`) before a scenario.

use serde_json::{Value, json};

use crate::client::{Endpoint, json_exchange};

/// Zero delay, default reply: latency and throughput.
pub fn instant() -> Value {
    json!({})
}

/// `words` streamed events spaced by `chunk_ms` (non-streamed answers carry the
/// same text at once).
pub fn paced(chunk_ms: u64, words: usize) -> Value {
    let text: Vec<String> = (0..words).map(|i| format!("word{i}")).collect();
    json!({"chunk_delay_ms": chunk_ms, "reply_text": text.join(" ")})
}

pub async fn set_behavior(mock: &Endpoint, behavior: &Value) -> Result<(), String> {
    let (status, body) = json_exchange(mock.addr, http::Method::POST, "/_mock/behavior", Some(behavior), None).await?;
    if status == 200 { Ok(()) } else { Err(format!("the mock refused the behaviour {behavior}: {status} {body}")) }
}
