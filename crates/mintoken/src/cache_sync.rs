//! Keeps this instance's in-memory caches (keys, plans, rules) in step with changes
//! made elsewhere — another instance behind the same load balancer, or the admin CLI —
//! by polling the store's `updated_at` columns. The interval is the bound on how long
//! a key revoked elsewhere may still be accepted here. Every second it also brings the
//! quota counters up to the usage the store holds (other instances' included), and on
//! PostgreSQL every poll exchanges request-rate counts with the other instances.

use crate::clock::now_ms;
use crate::server::SharedState;
use crate::store::Backend;
use std::time::Duration;

pub const SYNC_INTERVAL: Duration = Duration::from_millis(500);
/// Rows committed slightly out of order are still seen: each poll looks this far back.
const OVERLAP_MS: i64 = 2_000;
/// Quota counters are reconciled every this many polls (1 s): usage other instances
/// record reaches this one's counters within that plus their usage batch window (0.1 s).
const QUOTA_EVERY_ROUNDS: u64 = 2;

/// Polls until the returned task is aborted. A failed poll (database away) keeps the
/// caches as they are and retries on the next tick.
pub fn spawn(state: SharedState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut since = now_ms() - OVERLAP_MS;
        let mut tick = tokio::time::interval(SYNC_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Only a shared database has other instances to share request rates with.
        let shared_rates = state.store.backend() == Backend::Postgres;
        for round in 1u64.. {
            tick.tick().await;
            if round % QUOTA_EVERY_ROUNDS == 0
                && let Err(e) = state.usage.quota().reconcile().await
            {
                tracing::warn!(error = %e, "quota reconciliation failed; the in-memory counters stay in use");
            }
            if shared_rates && let Err(e) = state.rate.sync(&state.store).await {
                tracing::warn!(error = %e, "rate-limit sync failed; this instance's own counts stay in use");
            }
            let started = now_ms();
            let keys_done = state.keys.sync_once(since).await;
            let rules_done = state.rules.sync_once(since).await;
            match keys_done.and(rules_done) {
                Ok(()) => since = started - OVERLAP_MS,
                Err(e) => tracing::warn!(error = %e, "cache sync failed; cached keys and rules stay in use"),
            }
        }
    })
}
