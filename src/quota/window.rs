//! Budget windows. Every window is calendar-aligned in UTC (a day starts at
//! 00:00 UTC, a month on its first day), not rolling: a window has one exact
//! reset time that both stores agree on, that the 429 can name, and that an
//! operator can reconcile against an invoice.

use serde::{Deserialize, Serialize};

/// A period over which spend, tokens or requests are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    Minute,
    Hour,
    Day,
    Month,
    /// Never resets.
    Total,
}

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const DAY_MS: u64 = 24 * HOUR_MS;

impl Window {
    pub const ALL: [Window; 5] = [
        Window::Minute,
        Window::Hour,
        Window::Day,
        Window::Month,
        Window::Total,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Month => "month",
            Self::Total => "total",
        }
    }

    /// Start and end (exclusive) of the window holding `now_ms` (Unix ms, UTC).
    /// `Total` runs from 0 to `u64::MAX`.
    pub fn bounds(self, now_ms: u64) -> (u64, u64) {
        let fixed = |len: u64| {
            let start = now_ms - now_ms % len;
            (start, start + len)
        };
        match self {
            Self::Minute => fixed(MINUTE_MS),
            Self::Hour => fixed(HOUR_MS),
            Self::Day => fixed(DAY_MS),
            Self::Month => {
                let days = (now_ms / DAY_MS) as i64;
                let (year, month, _) = civil_from_days(days);
                let start = days_from_civil(year, month, 1);
                let (next_year, next_month) = if month == 12 {
                    (year + 1, 1)
                } else {
                    (year, month + 1)
                };
                let end = days_from_civil(next_year, next_month, 1);
                (start as u64 * DAY_MS, end as u64 * DAY_MS)
            }
            Self::Total => (0, u64::MAX),
        }
    }
}

/// Days since 1970-01-01 → (year, month, day); Howard Hinnant's algorithm.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) → days since 1970-01-01.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of a Unix time in ms, for the ledger's per-day reads.
pub fn day_of(now_ms: u64) -> String {
    let (y, m, d) = civil_from_days((now_ms / DAY_MS) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Where "now" comes from. The tokio clock lets tests pause and advance time.
#[derive(Debug, Clone)]
pub enum Clock {
    System,
    /// `origin_ms` plus the tokio time elapsed since `start`.
    Tokio {
        origin_ms: u64,
        start: tokio::time::Instant,
    },
}

impl Clock {
    pub fn tokio_at(origin_ms: u64) -> Self {
        Self::Tokio {
            origin_ms,
            start: tokio::time::Instant::now(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        match self {
            Self::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            Self::Tokio { origin_ms, start } => origin_ms + start.elapsed().as_millis() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(window: Window, now: &str, expected: (&str, &str)) {
        let parse = |text: &str| -> u64 {
            let (date, time) = text.split_once('T').unwrap();
            let parts: Vec<u32> = date.split('-').map(|p| p.parse().unwrap()).collect();
            let hms: Vec<u64> = time.split(':').map(|p| p.parse().unwrap()).collect();
            let days = days_from_civil(i64::from(parts[0]), parts[1], parts[2]) as u64;
            days * DAY_MS + hms[0] * HOUR_MS + hms[1] * MINUTE_MS + hms[2] * 1000
        };
        assert_eq!(
            window.bounds(parse(now)),
            (parse(expected.0), parse(expected.1)),
            "{window:?} at {now}"
        );
    }

    #[test]
    fn windows_are_calendar_aligned() {
        use Window::*;
        let at = "2026-11-26T17:45:30";
        check(Minute, at, ("2026-11-26T17:45:00", "2026-11-26T17:46:00"));
        check(Hour, at, ("2026-11-26T17:00:00", "2026-11-26T18:00:00"));
        check(Day, at, ("2026-11-26T00:00:00", "2026-11-27T00:00:00"));
        check(Month, at, ("2026-11-01T00:00:00", "2026-12-01T00:00:00"));
        check(
            Month,
            "2026-12-31T23:59:59",
            ("2026-12-01T00:00:00", "2027-01-01T00:00:00"),
        );
        check(
            Month,
            "2028-02-29T12:00:00",
            ("2028-02-01T00:00:00", "2028-03-01T00:00:00"),
        );
        check(
            Month,
            "2026-03-01T00:00:00",
            ("2026-03-01T00:00:00", "2026-04-01T00:00:00"),
        );
    }

    #[test]
    fn days_round_trip() {
        for days in [-1000, 0, 1, 59, 365, 10_957, 20_000, 20_418, 50_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(day_of(0), "1970-01-01");
    }
}
