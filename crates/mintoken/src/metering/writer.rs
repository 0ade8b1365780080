//! The usage pipeline: request handlers hand records to a bounded channel and return;
//! one writer stores them in batches, on a thread of its own with its own small runtime.
//! Each batch is several round trips to the database (begin, inserts, counters, commit);
//! as a task among the request tasks, the writer waited behind them for every one, and a
//! saturated instance stored fewer rows than it served: at concurrency 256 on one core,
//! two records in three overflowed the queue (docs/BENCHMARKS.md). On its own thread it
//! waits for the database only, through a connection of its own, and it wakes once per
//! batch, not once per record. A flush message travels through the same channel, so
//! "flushed" means every record sent before it is in the database — that is how
//! graceful shutdown loses nothing. Recording also moves the in-memory quota counter
//! forward at once, so the next request's quota check sees it.

use super::{QuotaCounters, UsageRecord};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::{Pace, UsageWriterDb};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};

/// Records waiting beyond this are dropped (and logged): memory stays bounded even if
/// the database is unreachable for a long time. At ~500 bytes a record, about 32 MB.
const CHANNEL_CAPACITY: usize = 65_536;
/// Longest wait between two attempts to write a batch while the database is away.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);
/// How long shutdown waits for queued records to reach the database.
const FINISH_TIMEOUT: Duration = Duration::from_secs(15);
/// Rows per transaction; a longer queue is written as several.
const MAX_BATCH: usize = 512;
/// How long a record may wait for companions before its batch is written (the writer
/// sleeps this long after the first record of a batch arrives).
const BATCH_WINDOW: Duration = Duration::from_millis(100);
/// Records waiting (the rows of the batch being written included) beyond which the
/// writer has fallen behind and stops giving its core way ([`Pace::CatchUp`]). A quarter
/// of the queue: well above the ~8,000 a one-core instance at concurrency 1 lets wait
/// while its core is never idle (so latency does not pay for catching up), and reached
/// within a second by a saturated instance whose writer, giving way after every row,
/// stores fewer rows than are served (docs/BENCHMARKS.md).
const BEHIND: usize = CHANNEL_CAPACITY / 4;

enum Message {
    Record(Box<UsageRecord>),
    Flush(oneshot::Sender<()>),
}

/// The handle request handlers use. Cheap to clone.
#[derive(Clone)]
pub struct UsageSink {
    tx: mpsc::Sender<Message>,
    quota: Arc<QuotaCounters>,
    /// Records dropped because the queue was full, and whether that was logged since
    /// the queue last had room (one error line per episode, not one per record).
    dropped: Arc<AtomicU64>,
    full_logged: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    /// Ends the writer's wait for a batch to gather: a flush's caller is waiting.
    wake: Arc<Notify>,
}

impl UsageSink {
    /// Logs the record, counts it in the metrics and queues it for storage without waiting.
    pub fn record(&self, record: UsageRecord) {
        record.log();
        self.metrics.observe_usage(&record);
        self.quota.add(record.account_id(), record.output_tokens, record.created_at, record.is_output_sample());
        match self.tx.try_send(Message::Record(Box::new(record))) {
            Ok(()) => {
                if self.full_logged.load(Ordering::Relaxed) {
                    self.full_logged.store(false, Ordering::Relaxed);
                }
            }
            Err(e) => {
                let total = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                let full = matches!(e, mpsc::error::TrySendError::Full(_));
                if !full || !self.full_logged.swap(true, Ordering::Relaxed) {
                    let reason = if full { "usage queue full (database unavailable?)" } else { "usage writer stopped" };
                    tracing::error!(
                        reason,
                        queue_capacity = CHANNEL_CAPACITY,
                        dropped_total = total,
                        "usage records dropped"
                    );
                }
            }
        }
    }

    /// Usage records dropped since start because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Records queued and not yet taken by the writer.
    pub fn queued(&self) -> usize {
        CHANNEL_CAPACITY - self.tx.capacity()
    }

    pub fn quota(&self) -> &Arc<QuotaCounters> {
        &self.quota
    }

    /// The clock usage records are stamped with.
    pub fn now_ms(&self) -> i64 {
        self.quota.clock().now_ms()
    }

    /// Waits until every record recorded before this call is stored.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            self.wake.notify_one();
            let _ = wait.await;
        }
    }
}

pub struct UsageWriter {
    /// Sent by `finish`: ends the writer where it waits (as aborting a task would), and
    /// with it its thread. Dropped unsent (a server dropped without shutdown), the writer
    /// goes on until every sink is gone, as a spawned task would.
    stop: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl UsageWriter {
    /// Starts the writer's thread, which opens its own connection to the database
    /// [`crate::store::Store::open`] prepared; fails only when the system cannot start a thread.
    pub fn start(
        config: &Config,
        quota: Arc<QuotaCounters>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<(UsageSink, UsageWriter)> {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let (stop, stopped) = oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let config = config.clone();
        let writer_quota = quota.clone();
        let wake = Arc::new(Notify::new());
        let writer_wake = wake.clone();
        let thread = std::thread::Builder::new().name("mintoken-usage".to_owned()).spawn(move || {
            runtime.block_on(async move {
                tokio::select! {
                    () = async { run(connect(&config).await, writer_quota, rx, writer_wake).await } => {}
                    Ok(()) = stopped => {}
                }
            });
        })?;
        let sink = UsageSink { tx, quota, dropped: Arc::default(), full_logged: Arc::default(), metrics, wake };
        Ok((sink, UsageWriter { stop, thread }))
    }

    /// Flushes what was queued and stops, once every sink clone is dropped or after
    /// `sink.flush()`; call at shutdown after the server stopped taking requests.
    pub async fn finish(self, sink: UsageSink) {
        if tokio::time::timeout(FINISH_TIMEOUT, sink.flush()).await.is_err() {
            tracing::error!(
                queued = sink.queued(),
                "usage records could not be written before shutdown (database unavailable); they are lost"
            );
        }
        drop(sink);
        let _ = self.stop.send(());
        let thread = self.thread;
        // Joining blocks: off the runtime's workers.
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

/// The writer's connection, retried with backoff while the database is unreachable
/// (records wait in the queue meanwhile, as they do for any outage).
async fn connect(config: &Config) -> UsageWriterDb {
    let mut delay = Duration::from_millis(100);
    loop {
        match UsageWriterDb::open(config).await {
            Ok(store) => return store,
            Err(e) => {
                tracing::warn!(error = %e, "the usage writer cannot connect to the database; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RETRY_DELAY);
            }
        }
    }
}

async fn run(mut store: UsageWriterDb, quota: Arc<QuotaCounters>, mut rx: mpsc::Receiver<Message>, wake: Arc<Notify>) {
    let mut batch: Vec<UsageRecord> = Vec::with_capacity(MAX_BATCH);
    let mut waiters = Vec::new();
    while let Some(first) = rx.recv().await {
        let flushing = matches!(first, Message::Flush(_));
        take(first, &mut batch, &mut waiters);
        if !flushing {
            // Let the batch gather without taking its records one by one: while nothing
            // polls the channel, a record sent wakes no one. Taken one at a time, every
            // request woke this thread (a system call and two context switches each).
            tokio::select! {
                () = tokio::time::sleep(BATCH_WINDOW) => {}
                () = wake.notified() => {}
            }
        }
        // Everything queued now, in batches of at most MAX_BATCH.
        loop {
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(message) => take(message, &mut batch, &mut waiters),
                    Err(_) => break,
                }
            }
            let full = batch.len() >= MAX_BATCH;
            // Asked before every statement: rows of this batch still to write, and the queue.
            let pace = |unwritten: usize| if unwritten + rx.len() > BEHIND { Pace::CatchUp } else { Pace::GiveWay };
            write_with_retry(&mut store, &quota, &mut batch, pace).await;
            if !full {
                break;
            }
        }
        // Every record sent before each flush was queued before it, so it is written.
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

fn take(message: Message, batch: &mut Vec<UsageRecord>, waiters: &mut Vec<oneshot::Sender<()>>) {
    match message {
        Message::Record(r) => batch.push(*r),
        Message::Flush(done) => waiters.push(done),
    }
}

/// Writes the batch, retrying with backoff (capped at [`MAX_RETRY_DELAY`]) for as long
/// as the database is unreachable: records made while it is away wait here and in the
/// queue, which is bounded, and reach it when it returns. A batch the database *rejects*
/// (a statement error, not an outage) is written record by record instead, so one bad
/// record cannot hold the others back; the rejected ones are logged and dropped.
async fn write_with_retry(
    store: &mut UsageWriterDb,
    quota: &QuotaCounters,
    batch: &mut Vec<UsageRecord>,
    pace: impl Fn(usize) -> Pace,
) {
    if batch.is_empty() {
        return;
    }
    let mut delay = Duration::from_millis(100);
    for attempt in 0u64.. {
        match store.insert_usage(batch, &pace).await {
            Ok(()) => {
                if attempt > 0 {
                    tracing::info!(records = batch.len(), attempt, "usage batch written after the database returned");
                }
                quota.written(batch);
                batch.clear();
                return;
            }
            Err(e) if e.is_rejection() => {
                write_one_by_one(store, quota, batch).await;
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt, records = batch.len(), "usage batch write failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RETRY_DELAY);
            }
        }
    }
}

async fn write_one_by_one(store: &mut UsageWriterDb, quota: &QuotaCounters, batch: &mut Vec<UsageRecord>) {
    for record in batch.drain(..) {
        let one = std::slice::from_ref(&record);
        let mut delay = Duration::from_millis(100);
        loop {
            match store.insert_usage(one, |_| Pace::GiveWay).await {
                Ok(()) => {
                    quota.written(one);
                    break;
                }
                Err(e) if e.is_rejection() => {
                    tracing::error!(error = %e, request_id = %record.request_id, "usage record rejected by the database; dropped");
                    quota.written(one);
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "usage record write failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
            }
        }
    }
}
