//! A client's time zone: the calendar its members live by (a check-in's day, a lucky draw's
//! daily limit, how a `trxDate` without an offset is read).
//!
//! Zones are fixed UTC offsets. An IANA name is accepted for the zones of the region that keep
//! one offset all year (no daylight saving time: Indonesia, Vietnam and their neighbours), so
//! the mapping is exact without shipping a time-zone database; any other place is written as an
//! offset (`+07:00`, `UTC+7`).

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// IANA names of zones without daylight saving time, and their offset in minutes.
const NAMED: [(&str, i32); 21] = [
    ("Asia/Jakarta", 420),
    ("Asia/Pontianak", 420),
    ("Asia/Makassar", 480),
    ("Asia/Jayapura", 540),
    ("Asia/Ho_Chi_Minh", 420),
    ("Asia/Saigon", 420),
    ("Asia/Bangkok", 420),
    ("Asia/Phnom_Penh", 420),
    ("Asia/Vientiane", 420),
    ("Asia/Singapore", 480),
    ("Asia/Kuala_Lumpur", 480),
    ("Asia/Manila", 480),
    ("Asia/Shanghai", 480),
    ("Asia/Hong_Kong", 480),
    ("Asia/Taipei", 480),
    ("Asia/Tokyo", 540),
    ("Asia/Seoul", 540),
    ("Asia/Kolkata", 330),
    ("Asia/Dubai", 240),
    ("UTC", 0),
    ("Etc/UTC", 0),
];

/// The default zone of a reward client (the task service is Indonesian).
pub const DEFAULT_ZONE: &str = "Asia/Jakarta";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("time zone must be one of {names} (zones without daylight saving time) or an offset like +07:00 or UTC+7")]
pub struct UnknownZone {
    names: &'static str,
}

/// A fixed-offset zone with the name it was configured by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZone {
    name: String,
    offset: UtcOffset,
}

impl Default for TimeZone {
    fn default() -> Self {
        TimeZone::parse(DEFAULT_ZONE).expect("the default zone is known")
    }
}

impl TimeZone {
    pub fn parse(s: &str) -> Result<TimeZone, UnknownZone> {
        let s = s.trim();
        let refused = UnknownZone { names: "Asia/Jakarta, Asia/Makassar, Asia/Jayapura, Asia/Ho_Chi_Minh, Asia/Bangkok, Asia/Singapore, Asia/Manila, Asia/Tokyo, UTC, …" };
        let minutes = match NAMED.iter().find(|(name, _)| *name == s) {
            Some((_, m)) => *m,
            None => parse_offset(s).ok_or(refused)?,
        };
        let offset = UtcOffset::from_whole_seconds(minutes * 60).map_err(|_| refused)?;
        Ok(TimeZone { name: s.to_string(), offset })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn offset(&self) -> UtcOffset {
        self.offset
    }

    /// The calendar day of a moment in this zone.
    pub fn day_of(&self, ms: i64) -> Date {
        let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        at.to_offset(self.offset).date()
    }

    /// A wall-clock time in this zone as Unix milliseconds.
    pub fn to_ms(&self, local: PrimitiveDateTime) -> i64 {
        (local.assume_offset(self.offset).unix_timestamp_nanos() / 1_000_000) as i64
    }
}

/// `+07:00`, `+0700`, `+7`, `UTC+7`, `UTC+05:30`, `-03:00`: minutes east of UTC, within ±14 h.
fn parse_offset(s: &str) -> Option<i32> {
    let s = s.strip_prefix("UTC").or_else(|| s.strip_prefix("GMT")).unwrap_or(s);
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (hours, minutes) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    let all_digits = |t: &str| !t.is_empty() && t.len() <= 2 && t.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(hours) || !all_digits(minutes) {
        return None;
    }
    let (h, m): (i32, i32) = (hours.parse().ok()?, minutes.parse().ok()?);
    (h <= 14 && m < 60 && h * 60 + m <= 14 * 60).then_some(sign * (h * 60 + m))
}

impl TryFrom<String> for TimeZone {
    type Error = UnknownZone;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        TimeZone::parse(&s)
    }
}

impl From<TimeZone> for String {
    fn from(z: TimeZone) -> String {
        z.name
    }
}

impl std::fmt::Display for TimeZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (UTC{})", self.name, self.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_offsets() {
        assert_eq!(TimeZone::default().offset().whole_minutes(), 420);
        assert_eq!(TimeZone::parse("Asia/Makassar").unwrap().offset().whole_minutes(), 480);
        for (s, minutes) in [("+07:00", 420), ("+0700", 420), ("UTC+7", 420), ("UTC+05:30", 330), ("-03:00", -180), ("+14:00", 840)] {
            assert_eq!(TimeZone::parse(s).unwrap().offset().whole_minutes(), minutes, "{s}");
        }
        for bad in ["Europe/Paris", "America/New_York", "+15:00", "+7:60", "7", "", "UTC+", "+1:2:3"] {
            assert!(TimeZone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_local_day_turns_at_local_midnight() {
        let jakarta = TimeZone::default();
        // 2024-04-30 16:59:59.999 UTC is 23:59:59.999 in Jakarta; one millisecond later it is May
        let before = 1_714_496_399_999;
        assert_eq!(jakarta.day_of(before).to_string(), "2024-04-30");
        assert_eq!(jakarta.day_of(before + 1).to_string(), "2024-05-01");
        assert_eq!(TimeZone::parse("UTC").unwrap().day_of(before + 1).to_string(), "2024-04-30");
    }
}
