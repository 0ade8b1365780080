//! Metering: the usage record of each proxied request and the pipeline that writes it
//! off the request path.

pub mod quota;
mod record;
mod writer;

pub use quota::QuotaCounters;
pub use record::{IntensityReason, UsageRecord, UsageSource};
pub use writer::{UsageSink, UsageWriter};
