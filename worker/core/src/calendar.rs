//! Local days and calendar months in the deployment's time zone (`budget.timezone`): when a
//! daily budget rolls over (local midnight), which calendar month a moment belongs to, and
//! when the next period starts, all from Unix milliseconds.
//!
//! **Why a small table, not a tz database.** A full IANA database (chrono-tz and friends)
//! adds hundreds of KiB to the worker's wasm for rules the deployments we serve do not need:
//! oachat's users are in zones without daylight saving time (all of China, Japan, Korea,
//! Singapore, India, the Gulf...). So a zone here is a name and a fixed offset, and a name
//! whose zone observes DST (`Europe/Berlin`, `America/New_York`) is refused when the config
//! is read, with an error that says so, instead of being silently wrong twice a year.
//! `Etc/GMT±N` names any other fixed offset (with POSIX's inverted sign, as in the database).
//!
//! Local day numbers count days since 1970-01-01 *in the zone*; months are numbered
//! `year * 12 + (month - 1)`, so both only grow and compare as integers.

use serde::{Deserialize, Serialize};

/// Milliseconds per day (a day without DST transitions is always this long).
pub const DAY_MS: u64 = 86_400_000;

/// The default of `budget.timezone`: oachat's users are mostly in China.
pub const DEFAULT_TIMEZONE: &str = "Asia/Shanghai";

/// IANA zones without daylight saving time today, with their UTC offset in minutes.
const FIXED_ZONES: &[(&str, i32)] = &[
    ("UTC", 0),
    ("Etc/UTC", 0),
    ("Etc/GMT", 0),
    ("GMT", 0),
    ("Africa/Abidjan", 0),
    ("Atlantic/Reykjavik", 0),
    ("Africa/Lagos", 60),
    ("Africa/Johannesburg", 120),
    ("Africa/Cairo", 120),
    ("Africa/Nairobi", 180),
    ("Europe/Moscow", 180),
    ("Europe/Istanbul", 180),
    ("Asia/Riyadh", 180),
    ("Asia/Qatar", 180),
    ("Asia/Dubai", 240),
    ("Asia/Karachi", 300),
    ("Asia/Tashkent", 300),
    ("Asia/Kolkata", 330),
    ("Asia/Calcutta", 330),
    ("Asia/Kathmandu", 345),
    ("Asia/Dhaka", 360),
    ("Asia/Almaty", 300),
    ("Asia/Yangon", 390),
    ("Asia/Bangkok", 420),
    ("Asia/Jakarta", 420),
    ("Asia/Ho_Chi_Minh", 420),
    ("Asia/Shanghai", 480),
    ("Asia/Chongqing", 480),
    ("Asia/Harbin", 480),
    ("Asia/Urumqi", 360),
    ("Asia/Hong_Kong", 480),
    ("Asia/Macau", 480),
    ("Asia/Taipei", 480),
    ("Asia/Singapore", 480),
    ("Asia/Kuala_Lumpur", 480),
    ("Asia/Manila", 480),
    ("Australia/Perth", 480),
    ("PRC", 480),
    ("Asia/Tokyo", 540),
    ("Asia/Seoul", 540),
    ("Australia/Brisbane", 600),
    ("Pacific/Guam", 600),
    ("Pacific/Honolulu", -600),
    ("America/Phoenix", -420),
    ("America/Bogota", -300),
    ("America/Lima", -300),
    ("America/Sao_Paulo", -180),
    ("America/Argentina/Buenos_Aires", -180),
];

/// A time zone as budgets use it: its name (for display) and its fixed offset from UTC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Zone {
    pub name: String,
    pub offset_minutes: i32,
}

impl Default for Zone {
    fn default() -> Zone {
        Zone::utc()
    }
}

impl Zone {
    pub fn utc() -> Zone {
        Zone {
            name: "UTC".into(),
            offset_minutes: 0,
        }
    }

    /// The zone an IANA name means, or `None` for a name this table does not hold (unknown,
    /// or a zone with daylight saving time).
    pub fn parse(name: &str) -> Option<Zone> {
        let offset_minutes = match FIXED_ZONES.iter().find(|(known, _)| *known == name) {
            Some((_, offset)) => *offset,
            None => etc_gmt_offset(name)?,
        };
        Some(Zone {
            name: name.to_string(),
            offset_minutes,
        })
    }

    fn offset_ms(&self) -> i64 {
        i64::from(self.offset_minutes) * 60_000
    }

    /// The local day (days since 1970-01-01 in this zone) of a Unix time.
    pub fn day(&self, now_ms: u64) -> u32 {
        let local = i64::try_from(now_ms).unwrap_or(i64::MAX) + self.offset_ms();
        u32::try_from(local.max(0) / DAY_MS as i64).unwrap_or(u32::MAX)
    }

    /// When local day `day` starts, in Unix milliseconds.
    pub fn day_start_ms(&self, day: u32) -> u64 {
        let start = i64::from(day) * DAY_MS as i64 - self.offset_ms();
        u64::try_from(start).unwrap_or(0)
    }

    /// When the local day after `day` starts: when a daily budget resets.
    pub fn next_day_start_ms(&self, day: u32) -> u64 {
        self.day_start_ms(day.saturating_add(1))
    }

    /// The calendar month (`year * 12 + month - 1`) of a Unix time in this zone.
    pub fn month(&self, now_ms: u64) -> u32 {
        month_of_day(self.day(now_ms))
    }

    /// When the month after `month` starts, in Unix milliseconds: when a monthly budget resets.
    pub fn next_month_start_ms(&self, month: u32) -> u64 {
        let next = month.saturating_add(1);
        let day = days_from_civil(i64::from(next / 12), next % 12 + 1, 1);
        self.day_start_ms(u32::try_from(day.max(0)).unwrap_or(u32::MAX))
    }
}

/// `Etc/GMT-8` is UTC+8 (POSIX signs are inverted); the database has -14..=+12.
fn etc_gmt_offset(name: &str) -> Option<i32> {
    let rest = name.strip_prefix("Etc/GMT")?;
    let (sign, hours) = match rest.as_bytes().first()? {
        b'+' => (-1, &rest[1..]),
        b'-' => (1, &rest[1..]),
        _ => return None,
    };
    if hours.is_empty() || hours.len() > 2 || !hours.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = hours.parse().ok()?;
    let offset = sign * hours;
    (-12..=14).contains(&offset).then_some(offset * 60)
}

/// The calendar month of a local day number.
pub fn month_of_day(day: u32) -> u32 {
    let (year, month, _) = civil_from_days(i64::from(day));
    u32::try_from(year * 12 + i64::from(month) - 1).unwrap_or(0)
}

/// `2026-12-05` for a local day number.
pub fn day_label(day: u32) -> String {
    let (year, month, day) = civil_from_days(i64::from(day));
    format!("{year:04}-{month:02}-{day:02}")
}

/// `2026-12` for a month number.
pub fn month_label(month: u32) -> String {
    format!("{:04}-{:02}", month / 12, month % 12 + 1)
}

/// (year, month 1..=12, day 1..=31) of a day number (days since 1970-01-01), proleptic
/// Gregorian: Howard Hinnant's `civil_from_days`.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The day number of a civil date: the inverse of [`civil_from_days`].
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shanghai() -> Zone {
        Zone::parse("Asia/Shanghai").unwrap()
    }

    /// Unix ms of a UTC wall-clock time.
    fn utc(year: i64, month: u32, day: u32, hour: u64, minute: u64) -> u64 {
        days_from_civil(year, month, day) as u64 * DAY_MS + hour * 3_600_000 + minute * 60_000
    }

    #[track_caller]
    fn check_day(zone: &Zone, now_ms: u64, expected_day: &str, expected_month: &str) {
        assert_eq!(day_label(zone.day(now_ms)), expected_day);
        assert_eq!(month_label(zone.month(now_ms)), expected_month);
    }

    #[test]
    fn shanghai_days_roll_at_local_midnight_which_is_16_utc() {
        let zone = shanghai();
        check_day(&zone, utc(2026, 12, 5, 15, 59), "2026-12-05", "2026-12");
        check_day(&zone, utc(2026, 12, 5, 16, 0), "2026-12-06", "2026-12");
        let day = zone.day(utc(2026, 12, 5, 12, 0));
        assert_eq!(zone.next_day_start_ms(day), utc(2026, 12, 5, 16, 0));
    }

    #[test]
    fn months_end_at_local_midnight_of_the_first() {
        let zone = shanghai();
        check_day(&zone, utc(2026, 12, 31, 15, 59), "2026-12-31", "2026-12");
        check_day(&zone, utc(2026, 12, 31, 16, 0), "2027-01-01", "2027-01");
        let december = zone.month(utc(2026, 12, 10, 0, 0));
        assert_eq!(zone.next_month_start_ms(december), utc(2026, 12, 31, 16, 0));
        // In UTC, 16:00 on the 31st is still December.
        check_day(
            &Zone::utc(),
            utc(2026, 12, 31, 16, 0),
            "2026-12-31",
            "2026-12",
        );
    }

    #[test]
    fn february_29_exists_in_leap_years_only() {
        let zone = shanghai();
        check_day(&zone, utc(2028, 2, 28, 16, 0), "2028-02-29", "2028-02");
        check_day(&zone, utc(2028, 2, 29, 16, 0), "2028-03-01", "2028-03");
        check_day(&zone, utc(2027, 2, 28, 16, 0), "2027-03-01", "2027-03");
        let february = zone.month(utc(2028, 2, 10, 0, 0));
        assert_eq!(zone.next_month_start_ms(february), utc(2028, 2, 29, 16, 0));
        check_day(
            &Zone::utc(),
            utc(2000, 2, 29, 12, 0),
            "2000-02-29",
            "2000-02",
        );
        check_day(&Zone::utc(), utc(2100, 3, 1, 0, 0), "2100-03-01", "2100-03");
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in (0..80_000).step_by(7) {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
        }
        assert_eq!(day_label(0), "1970-01-01");
    }

    #[test]
    fn zones_without_dst_are_known_and_dst_zones_are_not() {
        assert_eq!(shanghai().offset_minutes, 480);
        assert_eq!(Zone::parse("Asia/Kolkata").unwrap().offset_minutes, 330);
        assert_eq!(Zone::parse("Etc/GMT-8").unwrap().offset_minutes, 480);
        assert_eq!(Zone::parse("Etc/GMT+5").unwrap().offset_minutes, -300);
        for refused in [
            "Europe/Berlin",
            "America/New_York",
            "Etc/GMT-15",
            "Etc/GMT8",
            "",
            "CST",
        ] {
            assert_eq!(Zone::parse(refused), None, "{refused}");
        }
    }

    #[test]
    fn west_of_utc_the_day_starts_later() {
        let zone = Zone::parse("Pacific/Honolulu").unwrap();
        check_day(&zone, utc(2027, 1, 1, 9, 59), "2026-12-31", "2026-12");
        check_day(&zone, utc(2027, 1, 1, 10, 0), "2027-01-01", "2027-01");
    }
}
