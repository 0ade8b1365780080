//! The retention job: usage rows older than `usage_retention_days` become monthly
//! aggregates (`Store::roll_up_usage_before`), so the table of per-request rows stays
//! bounded while totals and savings over any past month stay exact. Runs at start-up
//! and then every hour; several instances may run it at once (each row is moved once).

use crate::analytics::calendar::MS_PER_DAY;
use crate::store::{RollupReport, Store, StoreError};
use std::time::Duration;

const INTERVAL: Duration = Duration::from_secs(3600);

/// The cutoff for a retention of `days` at `now_ms`; `None` when retention is off (0).
pub fn cutoff_ms(days: u32, now_ms: i64) -> Option<i64> {
    (days > 0).then(|| now_ms - i64::from(days) * MS_PER_DAY)
}

/// One pass: rolls up and deletes every row older than the retention period.
pub async fn run_once(store: &Store, days: u32, now_ms: i64) -> Result<RollupReport, StoreError> {
    match cutoff_ms(days, now_ms) {
        Some(cutoff) => store.roll_up_usage_before(cutoff).await,
        None => Ok(RollupReport::default()),
    }
}

/// Starts the background job; abort the handle to stop it (an interrupted pass rolls
/// back its open transaction, and the next pass redoes it).
pub fn spawn(store: Store, days: u32) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if days == 0 {
            return;
        }
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match run_once(&store, days, crate::clock::now_ms()).await {
                Ok(r) if r.rows_rolled_up > 0 => tracing::info!(
                    rows = r.rows_rolled_up,
                    aggregates = r.aggregates_written,
                    retention_days = days,
                    "usage rows rolled up into monthly aggregates"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "usage retention pass failed; retrying in an hour"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn zero_keeps_everything() {
        assert_eq!(super::cutoff_ms(0, 1_000), None);
        assert_eq!(super::cutoff_ms(1, super::MS_PER_DAY * 3), Some(super::MS_PER_DAY * 2));
    }
}
