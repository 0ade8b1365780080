//! Requests-per-minute limit per account, in memory: the generic cell rate algorithm
//! (GCRA). An account may send its plan's `requests_per_minute` at once, then one more
//! every `60 s / rpm` — the same long-run rate as a sliding one-minute window, with one
//! timestamp per account instead of a log of requests. Refusals say when to retry.
//!
//! Several instances behind one load balancer share the limit through the store
//! ([`RateLimiter::sync`], every 0.5 s on PostgreSQL): each publishes its running total
//! of admitted requests per account, and counts the others' increments as if those
//! requests had arrived locally (each pushes the account's next slot one interval on).
//! The request path never waits for this. Bound: an instance learns of the others'
//! requests within about one second, so N instances hit by a burst at the same moment
//! may together admit up to N × the plan's burst before they converge; in steady traffic
//! the combined rate is the plan's rate.

use crate::clock::Clock;
use crate::store::{RateTotal, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Entries whose window has passed are pruned once the map holds this many accounts.
const PRUNE_ABOVE: usize = 10_000;
/// Each sync reads the other instances' changes since the previous one minus this.
const SYNC_OVERLAP_MS: i64 = 2_000;

pub struct RateLimiter {
    clock: Clock,
    /// This process's id in the shared table.
    instance_id: String,
    accounts: Mutex<Accounts>,
}

#[derive(Default)]
struct Accounts {
    /// Account → theoretical arrival time of its next request (Unix µs), and the limit
    /// it was computed under (a plan change starts the account afresh).
    next_at: HashMap<String, (i64, u32)>,
    /// Requests admitted here per account since start, and whether that changed since
    /// the last publication.
    admitted: HashMap<String, (i64, u32, bool)>,
    /// Last total seen from each (instance, account).
    seen: HashMap<(String, String), i64>,
    synced_at: i64,
}

impl RateLimiter {
    pub fn new(clock: Clock) -> Self {
        let instance_id = format!("i_{}", crate::auth::random::alphanumeric(16));
        RateLimiter { clock, instance_id, accounts: Mutex::new(Accounts::default()) }
    }

    /// Counts a request of `user_id` under a limit of `rpm` (0 = unlimited); `Err` holds
    /// how long until a request would be accepted.
    pub fn check(&self, user_id: &str, rpm: u32) -> Result<(), Duration> {
        if rpm == 0 {
            return Ok(());
        }
        let now = self.now_us();
        let (interval, burst) = spacing(rpm);
        let mut accounts = self.lock();
        if accounts.next_at.len() >= PRUNE_ABOVE {
            accounts.next_at.retain(|_, (at, _)| *at > now);
        }
        let next = match accounts.next_at.get(user_id) {
            Some(&(at, limit)) if limit == rpm => at.max(now),
            _ => now,
        };
        if next - now > burst {
            let wait_us = next - burst - now;
            return Err(Duration::from_micros(wait_us.max(0) as u64));
        }
        accounts.next_at.insert(user_id.to_owned(), (next + interval, rpm));
        let admitted = accounts.admitted.entry(user_id.to_owned()).or_insert((0, rpm, false));
        *admitted = (admitted.0 + 1, rpm, true);
        Ok(())
    }

    /// Publishes this instance's admitted totals and applies the other instances' new
    /// requests to the local accounts.
    pub async fn sync(&self, store: &Store) -> Result<(), StoreError> {
        let started = crate::clock::now_ms();
        let (changed, since) = {
            let mut accounts = self.lock();
            let changed: Vec<RateTotal> = accounts
                .admitted
                .iter_mut()
                .filter(|(_, (_, _, dirty))| *dirty)
                .map(|(user_id, (total, rpm, dirty))| {
                    *dirty = false;
                    RateTotal {
                        instance_id: self.instance_id.clone(),
                        user_id: user_id.clone(),
                        total: *total,
                        rpm: *rpm,
                    }
                })
                .collect();
            (changed, accounts.synced_at - SYNC_OVERLAP_MS)
        };
        if let Err(e) = store.publish_rate_totals(&changed, started).await {
            // Publish again next time.
            let mut accounts = self.lock();
            for t in &changed {
                if let Some(entry) = accounts.admitted.get_mut(&t.user_id) {
                    entry.2 = true;
                }
            }
            return Err(e);
        }
        let others = store.rate_totals_changed_since(&self.instance_id, since).await?;
        let now = self.now_us();
        let mut accounts = self.lock();
        for other in others {
            let key = (other.instance_id, other.user_id);
            let first_sight = accounts.synced_at == 0;
            let previous = accounts.seen.insert(key.clone(), other.total);
            // Totals from before this process started are history, not new requests.
            let new_requests = match previous {
                Some(seen) => other.total - seen,
                None if first_sight => 0,
                None => other.total,
            };
            if new_requests > 0 && other.rpm > 0 {
                let (interval, _) = spacing(other.rpm);
                let entry = accounts.next_at.entry(key.1).or_insert((now, other.rpm));
                if entry.1 == other.rpm {
                    entry.0 = entry.0.max(now) + new_requests * interval;
                }
            }
        }
        accounts.synced_at = started;
        Ok(())
    }

    fn now_us(&self) -> i64 {
        self.clock.now_ms().saturating_mul(1_000)
    }

    fn lock(&self) -> MutexGuard<'_, Accounts> {
        self.accounts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The emission interval and burst tolerance of `rpm` requests per minute, in µs.
fn spacing(rpm: u32) -> (i64, i64) {
    // Above 60 million a minute the spacing would round down to 0 µs, and with it the
    // burst allowance: every request would then have to come after the last one.
    let interval = (60_000_000 / i64::from(rpm.max(1))).max(1);
    (interval, interval * (i64::from(rpm.max(1)) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_plan_rate_then_refuses_until_a_slot_frees() {
        let clock = Clock::default();
        let limiter = RateLimiter::new(clock.clone());
        for _ in 0..20 {
            assert!(limiter.check("u", 20).is_ok());
        }
        let wait = limiter.check("u", 20).expect_err("21st request in the same minute");
        assert!(wait <= Duration::from_secs(3) && wait > Duration::from_millis(2_900), "{wait:?}");
        assert!(limiter.check("other", 20).is_ok(), "accounts are independent");
        clock.advance(3_000);
        assert!(limiter.check("u", 20).is_ok());
        assert!(limiter.check("u", 20).is_err());
        clock.advance(60_000);
        for _ in 0..20 {
            assert!(limiter.check("u", 20).is_ok());
        }
    }

    /// Found by the 10-minute mixed load: a plan of 100 million a minute refused requests.
    #[test]
    fn a_rate_above_a_million_a_second_still_allows_a_burst() {
        let limiter = RateLimiter::new(Clock::default());
        for _ in 0..10_000 {
            assert!(limiter.check("u", 100_000_000).is_ok());
        }
    }

    #[test]
    fn zero_means_unlimited() {
        let limiter = RateLimiter::new(Clock::default());
        for _ in 0..10_000 {
            assert!(limiter.check("u", 0).is_ok());
        }
    }
}
