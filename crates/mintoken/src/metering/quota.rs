//! Monthly output-token quota counters, in memory, per account: a user (their personal
//! keys) or an org (its keys, whoever uses them; docs/orgs.md). An account's counter is
//! loaded from the store on its first request of the month in this process, then moved
//! forward by
//! every usage record as it is produced — so the check before forwarding never waits on
//! the database after that first read. Months are UTC calendar months.
//!
//! Overshoot bound. Output is only known after the response, so a quota check alone
//! would let every request already in flight finish past the limit. Each admitted
//! request therefore *reserves* the output it is expected to produce — its own output
//! cap (`max_tokens` and the like) when that is smaller, else the account's running mean
//! output per request ([`FIRST_RESERVATION`] before any is known) — and a request is
//! admitted only while `used + reserved by requests in flight + its own reservation ≤
//! limit`, or when it would be the account's only request in flight (so a nearly spent
//! quota still serves one request at a time). The overshoot is then at most the output
//! of one request plus whatever requests in flight produce beyond their reservations:
//! with output caps on every request, at most one request's cap. `docs/decisions.md`
//! has the reasoning; `tests/quota.rs` fires 200 parallel requests at it.

use crate::clock::Clock;
use crate::store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use time::OffsetDateTime;

/// What a request reserves when the account has no output history yet.
pub const FIRST_RESERVATION: i64 = 1_024;
/// Weight of the newest request in the running mean output (an exponential moving
/// average: recent behaviour counts most, one outlier does not dominate).
const MEAN_WEIGHT: f64 = 0.2;

pub struct QuotaCounters {
    store: Store,
    clock: Clock,
    accounts: Mutex<HashMap<String, Account>>,
    /// Wall-clock time of the last successful reconciliation's query.
    reconciled_at: Mutex<i64>,
}

/// Each reconciliation reads the changes since the previous one minus this, so rows
/// committed slightly out of order are not missed.
const RECONCILE_OVERLAP_MS: i64 = 2_000;

struct Account {
    month_start_ms: i64,
    output_tokens: i64,
    /// Sum of the reservations of this account's requests in flight, and their number.
    reserved: i64,
    in_flight: u32,
    /// Running mean output tokens per request, once one was recorded.
    mean_output: Option<f64>,
    /// This process's output tokens of the month counted here but not yet committed to
    /// the store (queued for the usage writer).
    pending: i64,
}

impl Account {
    fn new(month_start_ms: i64, output_tokens: i64) -> Self {
        Account { month_start_ms, output_tokens, reserved: 0, in_flight: 0, mean_output: None, pending: 0 }
    }
}

/// Why a request was not admitted: the quota, counting reservations in flight, is spent.
#[derive(Debug)]
pub struct QuotaExceeded {
    pub used: i64,
    pub reserved: i64,
}

/// An admitted request's reservation; released when dropped (after its usage, if any,
/// was recorded), whatever way the request ends.
pub struct Reservation {
    counters: Option<Arc<QuotaCounters>>,
    user_id: String,
    tokens: i64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(counters) = &self.counters
            && let Some(account) = counters.lock().get_mut(&self.user_id)
        {
            account.reserved = (account.reserved - self.tokens).max(0);
            account.in_flight = account.in_flight.saturating_sub(1);
        }
    }
}

impl Reservation {
    /// For requests no quota applies to.
    pub fn none() -> Self {
        Reservation { counters: None, user_id: String::new(), tokens: 0 }
    }
}

impl QuotaCounters {
    pub fn new(store: Store, clock: Clock) -> Self {
        QuotaCounters { store, clock, accounts: Mutex::new(HashMap::new()), reconciled_at: Mutex::new(0) }
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Output tokens the user has used this month.
    pub async fn used(&self, user_id: &str) -> Result<i64, StoreError> {
        let month = month_start_ms(self.clock.now_ms());
        if let Some(account) = self.lock().get(user_id).filter(|a| a.month_start_ms == month) {
            return Ok(account.output_tokens);
        }
        let stored = self.store.output_tokens_since(user_id, month).await?;
        let mut map = self.lock();
        let account = map.entry(user_id.to_owned()).or_insert_with(|| Account::new(month, stored));
        if account.month_start_ms != month {
            // A new month: the count starts again; requests in flight keep their reservations.
            account.month_start_ms = month;
            account.output_tokens = stored;
        }
        Ok(account.output_tokens)
    }

    /// Admits a request of `user_id` against `limit` (call [`Self::used`] first, which
    /// loads the counter), reserving its expected output; see the module notes.
    pub fn admit(
        self: &Arc<Self>,
        user_id: &str,
        limit: i64,
        output_cap: Option<i64>,
    ) -> Result<Reservation, QuotaExceeded> {
        let month = month_start_ms(self.clock.now_ms());
        let mut map = self.lock();
        let account = map.entry(user_id.to_owned()).or_insert_with(|| Account::new(month, 0));
        if account.month_start_ms != month {
            account.month_start_ms = month;
            account.output_tokens = 0;
        }
        let expected = account.mean_output.map_or(FIRST_RESERVATION, |m| m.ceil() as i64).max(1);
        let tokens = output_cap.map_or(expected, |cap| cap.clamp(1, expected));
        let fits = account.output_tokens.saturating_add(account.reserved).saturating_add(tokens) <= limit;
        let alone = account.in_flight == 0 && account.output_tokens < limit;
        if !(fits || alone) {
            return Err(QuotaExceeded { used: account.output_tokens, reserved: account.reserved });
        }
        account.reserved = account.reserved.saturating_add(tokens);
        account.in_flight += 1;
        Ok(Reservation { counters: Some(self.clone()), user_id: user_id.to_owned(), tokens })
    }

    /// Counts a request's output tokens; only users with a loaded counter are tracked
    /// (others are read from the store when they next make a request). Successful
    /// requests also move the running mean that sizes reservations.
    pub fn add(&self, user_id: &str, output_tokens: i64, at_ms: i64, success: bool) {
        let month = month_start_ms(at_ms);
        if let Some(account) = self.lock().get_mut(user_id) {
            if account.month_start_ms == month {
                account.output_tokens = account.output_tokens.saturating_add(output_tokens);
                account.pending = account.pending.saturating_add(output_tokens);
            }
            if success {
                let tokens = output_tokens as f64;
                account.mean_output = Some(account.mean_output.map_or(tokens, |m| m + MEAN_WEIGHT * (tokens - m)));
            }
        }
    }

    /// The usage writer committed these records: they are no longer pending here.
    pub fn written(&self, records: &[super::UsageRecord]) {
        let mut map = self.lock();
        for r in records {
            if let Some(account) =
                map.get_mut(r.account_id()).filter(|a| a.month_start_ms == month_start_ms(r.created_at))
            {
                account.pending = (account.pending - r.output_tokens).max(0);
            }
        }
    }

    /// Brings the loaded counters up to what the store holds, so usage recorded by other
    /// processes (other instances behind the same load balancer) counts here too: an
    /// account's count becomes its stored total plus this process's records still queued
    /// for the database. Only changes since the previous call are read.
    pub async fn reconcile(&self) -> Result<(), StoreError> {
        let month = month_start_ms(self.clock.now_ms());
        let started = crate::clock::now_ms();
        let since = *self.reconciled_at.lock().unwrap_or_else(|e| e.into_inner()) - RECONCILE_OVERLAP_MS;
        let stored = self.store.quota_usage_changed_since(month, since).await?;
        let mut map = self.lock();
        for (user_id, tokens) in stored {
            if let Some(account) = map.get_mut(&user_id).filter(|a| a.month_start_ms == month) {
                // Never down: the stored total may lag a batch that is being committed.
                account.output_tokens = account.output_tokens.max(tokens.saturating_add(account.pending));
            }
        }
        drop(map);
        *self.reconciled_at.lock().unwrap_or_else(|e| e.into_inner()) = started;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Account>> {
        self.accounts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Start of the UTC calendar month containing `ms`.
pub fn month_start_ms(ms: i64) -> i64 {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let start = t.replace_day(1).unwrap_or(t).replace_time(time::Time::MIDNIGHT);
    (start.unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    #[test]
    fn months_start_at_utc_midnight_on_the_first() {
        // 2026-11-26T06:21:30Z → 2026-11-01T00:00:00Z
        assert_eq!(super::month_start_ms(1_795_674_090_000), 1_793_491_200_000);
        assert_eq!(super::month_start_ms(1_793_491_200_000), 1_793_491_200_000);
    }
}
