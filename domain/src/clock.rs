//! Wall-clock time in the unit the counterparts use on the wire (Unix milliseconds).

use std::time::{SystemTime, UNIX_EPOCH};

/// Where "now" comes from, for code whose rules depend on the calendar (a reward check-in's
/// day): the system clock in production, a [`ManualClock`] in tests that cross midnight.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

/// A clock that stands still until it is set or advanced (tests).
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    pub fn at(ms: i64) -> ManualClock {
        ManualClock(std::sync::atomic::AtomicI64::new(ms))
    }

    pub fn set(&self, ms: i64) {
        self.0.store(ms, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `2023-09-11T04:24:07.602Z`: SkyJoy's response `timestamp`.
pub fn iso_utc(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    at.format(f).unwrap_or_default()
}

/// `2023-08-29T16:37:14+07:00`: SkyJoy's `transactionTime`, in Vietnam time.
pub fn vietnam_rfc3339(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let local = at.to_offset(time::UtcOffset::from_hms(7, 0, 0).expect("a valid offset"));
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+07:00");
    local.format(f).unwrap_or_default()
}

/// The calendar day (`DD-MM-YYYY`) in Vietnam (UTC+7) of a moment, as SkyJoy writes `dateOfJoin`.
pub fn vietnam_day(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let local = at.to_offset(time::UtcOffset::from_hms(7, 0, 0).expect("a valid offset"));
    local.date().format(time::macros::format_description!("[day]-[month]-[year]")).unwrap_or_default()
}

/// A wire date: Unix milliseconds, or RFC 3339 text (`2024-10-09T07:25:37.784Z`).
pub fn parse_wire_time(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64().filter(|ms| *ms > 0),
        serde_json::Value::String(s) => time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_the_wire_forms() {
        assert_eq!(iso_utc(1_694_406_247_602), "2023-09-11T04:24:07.602Z");
        assert_eq!(vietnam_rfc3339(1_693_301_834_000), "2023-08-29T16:37:14+07:00");
        assert_eq!(parse_wire_time(&serde_json::json!(1_678_896_000_000i64)), Some(1_678_896_000_000));
        assert_eq!(parse_wire_time(&serde_json::json!("2024-10-09T07:25:37.784Z")), Some(1_728_458_737_784));
        assert_eq!(parse_wire_time(&serde_json::json!("yesterday")), None);
        assert_eq!(parse_wire_time(&serde_json::json!(-5)), None);
    }
}
