//! Keeps this instance's in-memory caches (keys, plans, rules) in step with changes
//! made elsewhere — another instance behind the same load balancer, or the admin CLI —
//! by polling the store's `updated_at` columns. The interval is the bound on how long
//! a key revoked elsewhere may still be accepted here.

use crate::auth::key_cache::KeyCache;
use crate::clock::now_ms;
use crate::rules::cache::RuleCache;
use std::sync::Arc;
use std::time::Duration;

pub const SYNC_INTERVAL: Duration = Duration::from_millis(500);
/// Rows committed slightly out of order are still seen: each poll looks this far back.
const OVERLAP_MS: i64 = 2_000;

/// Polls until the returned task is aborted. A failed poll (database away) keeps the
/// caches as they are and retries on the next tick.
pub fn spawn(keys: Arc<KeyCache>, rules: Arc<RuleCache>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut since = now_ms() - OVERLAP_MS;
        let mut tick = tokio::time::interval(SYNC_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let started = now_ms();
            let keys_done = keys.sync_once(since).await;
            let rules_done = rules.sync_once(since).await;
            match keys_done.and(rules_done) {
                Ok(()) => since = started - OVERLAP_MS,
                Err(e) => tracing::warn!(error = %e, "cache sync failed; cached keys and rules stay in use"),
            }
        }
    })
}
