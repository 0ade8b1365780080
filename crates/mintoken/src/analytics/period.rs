//! The query parameters of the analytics routes: the period (`start`, `end`) and the
//! time-series bucket, parsed and checked with errors that say what to send instead.

use super::calendar::{FIRST_MONDAY_MS, MS_PER_DAY, MS_PER_HOUR, MS_PER_WEEK, month_start_ms, next_month_start_ms};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

/// A half-open UTC period `[start_ms, end_ms)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub start_ms: i64,
    pub end_ms: i64,
}

/// Time-series bucket widths. Buckets are aligned in UTC; weeks start on Monday.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
    Week,
}

/// At most this many buckets per time series.
pub const MAX_BUCKETS: i64 = 2_000;

impl Bucket {
    pub fn parse(s: &str) -> Result<Bucket, String> {
        match s {
            "hour" => Ok(Bucket::Hour),
            "day" => Ok(Bucket::Day),
            "week" => Ok(Bucket::Week),
            other => Err(format!("`bucket` must be one of hour, day, week (got {other:?})")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
            Bucket::Week => "week",
        }
    }

    pub fn width_ms(self) -> i64 {
        match self {
            Bucket::Hour => MS_PER_HOUR,
            Bucket::Day => MS_PER_DAY,
            Bucket::Week => MS_PER_WEEK,
        }
    }

    /// The start of the bucket holding `ms`.
    pub fn floor(self, ms: i64) -> i64 {
        let origin = if self == Bucket::Week { FIRST_MONDAY_MS } else { 0 };
        origin + (ms - origin).div_euclid(self.width_ms()) * self.width_ms()
    }

    /// `ms` if it starts a bucket, else the start of the next one.
    pub fn ceil(self, ms: i64) -> i64 {
        let f = self.floor(ms);
        if f == ms { f } else { f + self.width_ms() }
    }

    /// The period widened to whole buckets, checked against [`MAX_BUCKETS`].
    pub fn align(self, p: Period) -> Result<Period, String> {
        let aligned = Period { start_ms: self.floor(p.start_ms), end_ms: self.ceil(p.end_ms) };
        let count = (aligned.end_ms - aligned.start_ms) / self.width_ms();
        if count > MAX_BUCKETS {
            return Err(format!(
                "this period has {count} {} buckets; at most {MAX_BUCKETS} are returned: shorten start/end or use a larger bucket",
                self.as_str()
            ));
        }
        Ok(aligned)
    }
}

/// Earliest and latest instants accepted (years 1970 to 9999).
const MIN_MS: i64 = 0;
const MAX_MS: i64 = 253_402_300_800_000;

/// `start` and `end` (RFC 3339, or `YYYY-MM-DD` meaning that whole UTC day: a date as
/// `end` includes the day). Without `start`, the period starts at the beginning of the
/// current UTC calendar month (or of `end`'s month); without `end`, it ends at the start
/// of the month after `start`'s.
pub fn parse_period(start: Option<&str>, end: Option<&str>, now_ms: i64) -> Result<Period, String> {
    let start_ms = start.map(|s| parse_instant("start", s, false)).transpose()?;
    let end_ms = end.map(|s| parse_instant("end", s, true)).transpose()?;
    let (start_ms, end_ms) = match (start_ms, end_ms) {
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, next_month_start_ms(s)),
        (None, Some(e)) => (month_start_ms(e - 1), e),
        (None, None) => (month_start_ms(now_ms), next_month_start_ms(now_ms)),
    };
    if start_ms >= end_ms {
        return Err("`start` must be before `end` (the period is [start, end))".into());
    }
    Ok(Period { start_ms, end_ms })
}

fn parse_instant(name: &str, value: &str, is_end: bool) -> Result<i64, String> {
    let value = value.trim();
    let ms = if value.len() == 10 && !value.contains('T') {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let date = Date::parse(value, format)
            .map_err(|_| format!("`{name}`: {value:?} is not a valid date; use YYYY-MM-DD or RFC 3339"))?;
        let midnight = date.midnight().assume_utc().unix_timestamp() * 1000;
        if is_end { midnight + MS_PER_DAY } else { midnight }
    } else {
        // A `+` offset arrives as a space when the client did not percent-encode it.
        let repaired = repair_plus(value);
        let t = OffsetDateTime::parse(&repaired, &Rfc3339).map_err(|_| {
            format!(
                "`{name}`: {value:?} is not an RFC 3339 timestamp (e.g. 2026-11-01T00:00:00Z) or a date (YYYY-MM-DD); \
                 percent-encode a `+` offset as %2B"
            )
        })?;
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000).map_err(|_| format!("`{name}` is out of range"))?
    };
    if !(MIN_MS..=MAX_MS).contains(&ms) {
        return Err(format!("`{name}` must be between 1970 and 9999"));
    }
    Ok(ms)
}

/// `2026-11-01T10:00:00 01:00` → `2026-11-01T10:00:00+01:00`.
fn repair_plus(value: &str) -> String {
    match value.rfind(' ') {
        Some(i) if value[..i].contains('T') => format!("{}+{}", &value[..i], &value[i + 1..]),
        _ => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOV_1: i64 = 1_793_491_200_000;
    const DEC_1: i64 = 1_796_083_200_000;

    #[test]
    fn default_period_is_the_current_month() {
        let p = parse_period(None, None, NOV_1 + 25 * MS_PER_DAY + 5).unwrap();
        assert_eq!(p, Period { start_ms: NOV_1, end_ms: DEC_1 });
    }

    #[test]
    fn dates_and_timestamps() {
        let p = parse_period(Some("2026-11-01"), Some("2026-11-30"), 0).unwrap();
        assert_eq!(p, Period { start_ms: NOV_1, end_ms: DEC_1 });
        let p = parse_period(Some("2026-11-01T01:00:00+01:00"), Some("2026-11-01T00:00:01.5Z"), 0).unwrap();
        assert_eq!(p, Period { start_ms: NOV_1, end_ms: NOV_1 + 1_500 });
        let p = parse_period(Some("2026-11-01T01:00:00 01:00"), None, 0).unwrap();
        assert_eq!(p, Period { start_ms: NOV_1, end_ms: DEC_1 });
        assert!(parse_period(Some("2026-13-01"), None, 0).unwrap_err().contains("start"));
        assert!(parse_period(Some("yesterday"), None, 0).unwrap_err().contains("RFC 3339"));
        assert!(parse_period(Some("2026-11-02"), Some("2026-11-01"), 0).unwrap_err().contains("before"));
    }

    #[test]
    fn buckets_align_in_utc_and_weeks_start_on_monday() {
        // 2026-11-26 is a Thursday; its week starts Monday 2026-11-23.
        let thu = NOV_1 + 25 * MS_PER_DAY + 7 * MS_PER_HOUR;
        assert_eq!(Bucket::Week.floor(thu), NOV_1 + 22 * MS_PER_DAY);
        assert_eq!(Bucket::Day.floor(thu), NOV_1 + 25 * MS_PER_DAY);
        assert_eq!(Bucket::Hour.ceil(thu + 1), thu + MS_PER_HOUR);
        assert_eq!(Bucket::Hour.ceil(thu), thu);
        let year = Period { start_ms: NOV_1 - 365 * MS_PER_DAY, end_ms: NOV_1 };
        assert!(Bucket::Hour.align(year).unwrap_err().contains("8760 hour buckets"));
        assert!(Bucket::Day.align(year).is_ok());
        assert!(Bucket::parse("month").unwrap_err().contains("hour, day, week"));
    }
}
