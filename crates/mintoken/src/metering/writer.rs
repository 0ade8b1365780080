//! The usage pipeline: request handlers hand records to a bounded channel and return;
//! one writer task stores them in batches. A flush message travels through the same
//! channel, so "flushed" means every record sent before it is in the database — that
//! is how graceful shutdown loses nothing. Recording also moves the in-memory quota
//! counter forward at once, so the next request's quota check sees it.

use super::{QuotaCounters, UsageRecord};
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Records waiting beyond this are dropped (and logged): memory stays bounded even if
/// the database is unreachable for a long time.
const CHANNEL_CAPACITY: usize = 65_536;
const MAX_BATCH: usize = 512;
/// How long a record may wait for companions before its batch is written.
const BATCH_WINDOW: Duration = Duration::from_millis(100);

enum Message {
    Record(Box<UsageRecord>),
    Flush(oneshot::Sender<()>),
}

/// The handle request handlers use. Cheap to clone.
#[derive(Clone)]
pub struct UsageSink {
    tx: mpsc::Sender<Message>,
    quota: Arc<QuotaCounters>,
}

impl UsageSink {
    /// Logs the record and queues it for storage without waiting.
    pub fn record(&self, record: UsageRecord) {
        record.log();
        self.quota.add(&record.user_id, record.output_tokens, record.created_at);
        if let Err(e) = self.tx.try_send(Message::Record(Box::new(record))) {
            let reason = match e {
                mpsc::error::TrySendError::Full(_) => "usage queue full",
                mpsc::error::TrySendError::Closed(_) => "usage writer stopped",
            };
            tracing::error!(reason, "usage record dropped");
        }
    }

    pub fn quota(&self) -> &QuotaCounters {
        &self.quota
    }

    /// Waits until every record recorded before this call is stored.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

pub struct UsageWriter {
    task: tokio::task::JoinHandle<()>,
}

impl UsageWriter {
    pub fn start(store: Store, quota: Arc<QuotaCounters>) -> (UsageSink, UsageWriter) {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let task = tokio::spawn(run(store, rx));
        (UsageSink { tx, quota }, UsageWriter { task })
    }

    /// Flushes what was queued and stops, once every sink clone is dropped or after
    /// `sink.flush()`; call at shutdown after the server stopped taking requests.
    pub async fn finish(self, sink: UsageSink) {
        sink.flush().await;
        drop(sink);
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Message>) {
    let mut batch: Vec<UsageRecord> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        let mut waiters = Vec::new();
        let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Record(r) => batch.push(*r),
                // A flush ends the batch now: its caller is waiting.
                Message::Flush(done) => {
                    waiters.push(done);
                    break;
                }
            }
            if batch.len() >= MAX_BATCH {
                break;
            }
            // A timeout ends the batch just like a closed channel does.
            next = tokio::time::timeout_at(deadline, rx.recv()).await.ok().flatten();
        }
        write_with_retry(&store, &mut batch).await;
        for w in waiters {
            let _ = w.send(());
        }
    }
    write_with_retry(&store, &mut batch).await;
}

/// Tries a few times with backoff; a batch that still fails is logged and dropped so
/// one bad moment of the database cannot grow memory without bound.
async fn write_with_retry(store: &Store, batch: &mut Vec<UsageRecord>) {
    if batch.is_empty() {
        return;
    }
    for attempt in 0..5u32 {
        match store.insert_usage(batch).await {
            Ok(()) => {
                batch.clear();
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt, records = batch.len(), "usage batch write failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
            }
        }
    }
    tracing::error!(records = batch.len(), "usage batch dropped after repeated database errors");
    batch.clear();
}
