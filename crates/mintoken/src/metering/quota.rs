//! Monthly output-token quota counters, in memory. A user's counter is loaded from the
//! store on their first request of the month in this process, then moved forward by
//! every usage record as it is produced — so the check before forwarding never waits on
//! the database after that first read. Months are UTC calendar months.
//!
//! Overshoot bound: the check happens before forwarding and the count after the
//! response, so requests already in flight when the quota is reached still complete.
//! A user can exceed the limit by at most the output of their concurrent requests.

use crate::store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;
use time::OffsetDateTime;

pub struct QuotaCounters {
    store: Store,
    used: Mutex<HashMap<String, MonthCount>>,
}

#[derive(Clone, Copy)]
struct MonthCount {
    month_start_ms: i64,
    output_tokens: i64,
}

impl QuotaCounters {
    pub fn new(store: Store) -> Self {
        QuotaCounters { store, used: Mutex::new(HashMap::new()) }
    }

    /// Output tokens the user has used this month.
    pub async fn used(&self, user_id: &str) -> Result<i64, StoreError> {
        let month = month_start_ms(crate::clock::now_ms());
        if let Some(count) = self.lock().get(user_id).filter(|c| c.month_start_ms == month) {
            return Ok(count.output_tokens);
        }
        let stored = self.store.output_tokens_since(user_id, month).await?;
        let mut map = self.lock();
        let count =
            map.entry(user_id.to_owned()).or_insert(MonthCount { month_start_ms: month, output_tokens: stored });
        if count.month_start_ms != month {
            *count = MonthCount { month_start_ms: month, output_tokens: stored };
        }
        Ok(count.output_tokens)
    }

    /// Counts a request's output tokens; only users with a loaded counter are tracked
    /// (others are read from the store when they next make a request).
    pub fn add(&self, user_id: &str, output_tokens: i64, at_ms: i64) {
        let month = month_start_ms(at_ms);
        if let Some(count) = self.lock().get_mut(user_id)
            && count.month_start_ms == month
        {
            count.output_tokens += output_tokens;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, MonthCount>> {
        self.used.lock().unwrap_or_else(|e| e.into_inner())
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
