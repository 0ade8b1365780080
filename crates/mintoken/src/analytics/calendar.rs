//! UTC calendar arithmetic on Unix milliseconds: month starts, days, ISO weeks. Plain
//! integer arithmetic (no time-zone database, no fallible conversions), so the bucket
//! edges analytics reports are exact and nothing here can panic.

pub const MS_PER_HOUR: i64 = 3_600_000;
pub const MS_PER_DAY: i64 = 86_400_000;
pub const MS_PER_WEEK: i64 = 7 * MS_PER_DAY;
/// 1970-01-05T00:00:00Z, the first Monday of the Unix epoch: weeks start on Mondays.
pub const FIRST_MONDAY_MS: i64 = 4 * MS_PER_DAY;

/// The first millisecond (UTC) of the calendar month holding `ms`.
pub fn month_start_ms(ms: i64) -> i64 {
    let days = ms.div_euclid(MS_PER_DAY);
    let (y, m, _) = civil_from_days(days);
    days_from_civil(y, m, 1) * MS_PER_DAY
}

/// The first millisecond of the month after the one holding `ms`.
pub fn next_month_start_ms(ms: i64) -> i64 {
    let (y, m, _) = civil_from_days(ms.div_euclid(MS_PER_DAY));
    let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    days_from_civil(y, m, 1) * MS_PER_DAY
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm):
/// exact for every i64 day this code can meet, no table, no panics.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Day count since 1970-01-01 of a Gregorian date (inverse of [`civil_from_days`]).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_arithmetic_round_trips() {
        for days in [-800_000, -1, 0, 1, 59, 60, 365, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        // 2026-11-26T10:00:00Z → 2026-11-01T00:00:00Z
        assert_eq!(month_start_ms(1_795_687_200_000), 1_793_491_200_000);
        assert_eq!(month_start_ms(-1), -MS_PER_DAY * 31);
        assert_eq!(next_month_start_ms(1_793_491_200_000), 1_796_083_200_000);
        assert_eq!(
            next_month_start_ms(days_from_civil(2026, 12, 1) * MS_PER_DAY),
            days_from_civil(2027, 1, 1) * MS_PER_DAY
        );
    }
}
