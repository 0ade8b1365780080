//! State shared by the server task, the HTTP handlers and the test-side
//! [`crate::MockServer`] handle: recorded traffic, the current behaviour, the
//! count of live streams and the id counter.
//!
//! Recording can be switched off (benchmarks): a log that grows with every
//! request and a mutex taken per request and per chunk would make the mock
//! itself the thing being measured.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::behavior::Behavior;
use crate::razorpay::RazorpaySettings;
use crate::record::{ChunkSent, RecordedRequest};

/// Cheap-to-clone handle on the mock's state.
#[derive(Clone, Default)]
pub(crate) struct Shared(Arc<Inner>);

#[derive(Default)]
struct Inner {
    requests: Mutex<Vec<RecordedRequest>>,
    behavior: Mutex<Behavior>,
    chunks: Mutex<Vec<ChunkSent>>,
    open_streams: AtomicUsize,
    next_id: AtomicU64,
    /// Set when recording is off (inverted so `Default` means "recording").
    not_recording: AtomicBool,
    /// Requests seen while not recording: their indexes, so they stay unique.
    unrecorded: AtomicUsize,
    /// The fake Razorpay's key pair and faults, and the orders it created.
    razorpay: Mutex<RazorpaySettings>,
    razorpay_orders: Mutex<Vec<serde_json::Value>>,
}

/// A panicking test thread must not make every later lock fail: the data
/// behind these mutexes stays consistent after any single push or swap.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Whether requests and chunks are being recorded (the default).
    pub(crate) fn recording(&self) -> bool {
        !self.0.not_recording.load(Ordering::Relaxed)
    }

    pub(crate) fn set_recording(&self, on: bool) {
        self.0.not_recording.store(!on, Ordering::Relaxed);
    }

    /// Index for a request that is not recorded: counted from far past any
    /// real log length, so it never collides with a recorded one, and without
    /// taking the log's lock.
    pub(crate) fn skip_record(&self) -> usize {
        usize::MAX / 2 + self.0.unrecorded.fetch_add(1, Ordering::Relaxed)
    }

    /// Stores a request and returns its index in the request log.
    pub(crate) fn record(&self, request: RecordedRequest) -> usize {
        let mut requests = lock(&self.0.requests);
        requests.push(request);
        requests.len() - 1
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.0.requests).clone()
    }

    pub(crate) fn last_request(&self) -> Option<RecordedRequest> {
        lock(&self.0.requests).last().cloned()
    }

    pub(crate) fn clear(&self) {
        lock(&self.0.requests).clear();
        lock(&self.0.chunks).clear();
    }

    pub(crate) fn behavior(&self) -> Behavior {
        lock(&self.0.behavior).clone()
    }

    pub(crate) fn set_behavior(&self, behavior: Behavior) {
        *lock(&self.0.behavior) = behavior;
    }

    pub(crate) fn log_chunk(&self, request_index: usize, event_index: usize, data: bytes::Bytes) {
        if !self.recording() {
            return;
        }
        lock(&self.0.chunks).push(ChunkSent { request_index, event_index, at: Instant::now(), data });
    }

    pub(crate) fn chunk_log(&self) -> Vec<ChunkSent> {
        lock(&self.0.chunks).clone()
    }

    pub(crate) fn open_streams(&self) -> usize {
        self.0.open_streams.load(Ordering::SeqCst)
    }

    /// Counts a stream as open until the returned guard is dropped, which
    /// happens when the body finishes or the connection goes away.
    pub(crate) fn stream_guard(&self) -> StreamGuard {
        self.0.open_streams.fetch_add(1, Ordering::SeqCst);
        StreamGuard(self.clone())
    }

    pub(crate) fn razorpay(&self) -> RazorpaySettings {
        lock(&self.0.razorpay).clone()
    }

    pub(crate) fn set_razorpay(&self, settings: RazorpaySettings) {
        *lock(&self.0.razorpay) = settings;
    }

    pub(crate) fn add_razorpay_order(&self, order: serde_json::Value) {
        lock(&self.0.razorpay_orders).push(order);
    }

    pub(crate) fn razorpay_orders(&self) -> Vec<serde_json::Value> {
        lock(&self.0.razorpay_orders).clone()
    }

    /// Next response number (1, 2, …), used to build unique response ids.
    pub(crate) fn next_id(&self) -> u64 {
        self.0.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// Keeps one stream counted in `open_streams` while alive.
pub(crate) struct StreamGuard(Shared);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.0.open_streams.fetch_sub(1, Ordering::SeqCst);
    }
}
