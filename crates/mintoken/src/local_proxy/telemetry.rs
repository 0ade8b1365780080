//! Optional usage reports to a mintoken server (`mintoken proxy --server URL`): one record
//! per generation request, `POST URL/v1/cli-telemetry` with the mintoken key as Bearer.
//! Records go through a bounded queue to one background task, so a slow or unreachable
//! server never delays or fails a proxied request (a full queue drops records). Never a
//! body, a prompt or a provider key: token counts, model, endpoint, duration.

use std::io::Write;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::secret::Secret;

const QUEUE: usize = 1024;
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The record, with the field names the reference CLI sends and `serve` accepts.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Record {
    /// `anthropic` or `openai`.
    pub upstream: &'static str,
    /// The request's `model` (`unknown` when the body named none).
    pub model: String,
    /// `messages`, `chat-completions` or `responses`.
    pub endpoint: &'static str,
    /// The compression level: `light`, `standard` or `aggressive`.
    pub intensity: &'static str,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub context_tokens_before: u64,
    pub context_tokens_after: u64,
    pub duration_ms: u64,
    pub skipped_reason: Option<String>,
    pub client: String,
    /// Additions the reference client does not send (`serve` accepts them): the upstream
    /// status and whether the answer was a stream.
    pub status: u16,
    pub streamed: bool,
}

#[derive(Clone)]
pub struct Reporter {
    tx: mpsc::Sender<Record>,
}

impl Reporter {
    /// Starts the sender task; `server` is the base URL (a trailing `/` is ignored).
    pub fn start(http: reqwest::Client, server: &str, key: Secret<String>) -> Reporter {
        let (tx, mut rx) = mpsc::channel::<Record>(QUEUE);
        let url = format!("{}/v1/cli-telemetry", server.trim_end_matches('/'));
        tokio::spawn(async move {
            let mut warned = false;
            while let Some(record) = rx.recv().await {
                let Ok(body) = serde_json::to_vec(&record) else { continue };
                let sent = http
                    .post(&url)
                    .bearer_auth(key.expose())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .timeout(TIMEOUT)
                    .body(body)
                    .send()
                    .await;
                let problem = match sent {
                    Ok(r) if r.status().is_success() => None,
                    Ok(r) => Some(format!("answered {}", r.status())),
                    Err(e) => Some(format!("unreachable ({})", without_url(&e))),
                };
                // One warning, not one per request: the proxy keeps working regardless.
                if let Some(problem) = problem
                    && !warned
                {
                    warned = true;
                    let _ = writeln!(
                        std::io::stderr().lock(),
                        "mintoken proxy: usage report to {url} failed: {problem}; requests are unaffected"
                    );
                }
            }
        });
        Reporter { tx }
    }

    /// Queues a record; never waits.
    pub fn report(&self, record: Record) {
        let _ = self.tx.try_send(record);
    }
}

fn without_url(e: &reqwest::Error) -> String {
    let mut e = e.to_string();
    if let Some(i) = e.find(" for url") {
        e.truncate(i);
    }
    e
}
