//! Metering: the usage record of each proxied request and the pipeline that writes it
//! off the request path.

pub mod quota;
pub mod rate;
mod record;
mod writer;

pub use quota::{QuotaCounters, QuotaExceeded, Reservation};
pub use rate::RateLimiter;
pub use record::{IntensityReason, UsageRecord, UsageSource};
pub use writer::{UsageSink, UsageWriter};
