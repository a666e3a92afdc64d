//! The benefit APIs' field types, each with one checking constructor (counterparts.md §2: ids at
//! most 64 characters, userId at most 32, titles at most 128, reasons and messages at most 256,
//! "characters not allowed: special characters such as @ # ?"; Amount: an ISO 4217 currency
//! and a positive integer value in the smallest unit, at most 16 digits). Inside the domain
//! nothing re-checks a string.

use std::fmt;

use serde::Serialize;

/// Which field did not pass, and why (the API answers `PARAM_ILLEGAL` with this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {why}")]
pub struct InvalidField {
    pub field: &'static str,
    pub why: &'static str,
}

impl InvalidField {
    pub fn new(field: &'static str, why: &'static str) -> Self {
        Self { field, why }
    }
}

/// The characters the seed forbids in identifiers (and control characters, which no id needs).
fn has_forbidden(s: &str) -> bool {
    s.chars().any(|c| matches!(c, '@' | '#' | '?') || c.is_control())
}

/// What [`id_text`] accepts, as a regular expression (an OpenAPI `pattern`): no `@ # ?`, no
/// control characters, no leading or trailing space.
pub const ID_PATTERN: &str = r"^[^@#?\s\u0000-\u001F\u007F-\u009F]([^@#?\u0000-\u001F\u007F-\u009F]*[^@#?\s\u0000-\u001F\u007F-\u009F])?$";

fn id_text(field: &'static str, s: &str, max: usize, too_long: &'static str) -> Result<String, InvalidField> {
    if s.is_empty() {
        return Err(InvalidField::new(field, "is required"));
    }
    if s.chars().count() > max {
        return Err(InvalidField::new(field, too_long));
    }
    if has_forbidden(s) || s.trim() != s {
        return Err(InvalidField::new(field, "has characters that are not allowed (@ # ? control characters, leading or trailing spaces)"));
    }
    Ok(s.to_string())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const FIELD: &'static str = $field;
            /// The most characters.
            pub const MAX: usize = $max;

            pub fn parse(s: &str) -> Result<Self, InvalidField> {
                id_text($field, s, $max, concat!("is longer than ", stringify!($max), " characters")).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// `benefitIssueRequestId`: the platform's idempotency key for an issue (and its reversal).
    IssueRequestId, "benefitIssueRequestId", 64
);
id_type!(
    /// `benefitSyncRequestId`: our idempotency key for a syncBenefit.
    SyncRequestId, "benefitSyncRequestId", 64
);
id_type!(
    /// `benefitTemplateId`: one type of benefit.
    TemplateId, "benefitTemplateId", 64
);
id_type!(
    /// `userId`: the super app's user, at most 32 characters.
    UserId, "userId", 32
);
id_type!(
    /// `benefitInstanceId`: one benefit a user collected.
    InstanceId, "benefitInstanceId", 64
);

/// A super app (`clientCode`: TRUEMONEY, ALIPAY_HK, TNG, GCASH, DANA, …): uppercase letters,
/// digits and `_`, 2 to 32 characters. The documented list is open-ended, so any such code is
/// accepted; a template names the ones it is synced for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ClientCode(String);

impl ClientCode {
    pub fn parse(s: &str) -> Result<Self, InvalidField> {
        let ok = (2..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(InvalidField::new("clientCode", "must be 2 to 32 uppercase letters, digits or _ (e.g. GCASH)"));
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `benefitTitle`: 1 to 128 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Title(String);

impl Title {
    pub fn parse(s: &str) -> Result<Self, InvalidField> {
        let s = s.trim();
        if s.is_empty() || s.chars().count() > 128 {
            return Err(InvalidField::new("benefitTitle", "must be 1 to 128 characters"));
        }
        if s.chars().any(char::is_control) {
            return Err(InvalidField::new("benefitTitle", "must not contain control characters"));
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many benefits one issue asks for: 1 to [`Quantity::MAX`] (all or nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Quantity(i64);

impl Quantity {
    /// One collect is a handful of vouchers; a larger number is a mistake, not a collect.
    pub const MAX: i64 = 100;
    pub const ONE: Quantity = Quantity(1);

    pub fn new(n: i64) -> Result<Self, InvalidField> {
        if !(1..=Self::MAX).contains(&n) {
            return Err(InvalidField::new("quantity", "must be a whole number from 1 to 100"));
        }
        Ok(Self(n))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// The data dictionary's `Amount`: an ISO 4217 currency and a positive integer value in the
/// currency's smallest unit (at most 16 digits on the wire, `"value":"50000"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Amount {
    pub currency: String,
    pub value: i64,
}

impl Amount {
    /// 16 decimal digits, the dictionary's limit.
    pub const MAX_VALUE: i64 = 9_999_999_999_999_999;

    pub fn new(currency: &str, value: i64) -> Result<Self, InvalidField> {
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(InvalidField::new("amount.currency", "must be an ISO 4217 code of 3 uppercase letters (e.g. VND)"));
        }
        if !(1..=Self::MAX_VALUE).contains(&value) {
            return Err(InvalidField::new("amount.value", "must be a positive whole number of the smallest unit, at most 16 digits"));
        }
        Ok(Self { currency: currency.to_string(), value })
    }

    /// The wire form of `value`, `"50000"`; parsing it back refuses signs, decimals and spaces.
    pub fn parse(currency: &str, value: &str) -> Result<Self, InvalidField> {
        if value.is_empty() || value.len() > 16 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidField::new("amount.value", "must be a positive whole number of the smallest unit, at most 16 digits"));
        }
        Self::new(currency, value.parse().map_err(|_| InvalidField::new("amount.value", "is not a number"))?)
    }
}

/// A reason or message: at most 256 characters (longer ones are cut, not refused, when they are
/// ours to send; refused when they come in).
pub fn reason(field: &'static str, s: &str) -> Result<String, InvalidField> {
    if s.chars().count() > 256 {
        return Err(InvalidField::new(field, "is longer than 256 characters"));
    }
    Ok(s.to_string())
}

/// Cuts a message of ours to the dictionary's 256 characters.
pub fn clip_message(s: &str) -> String {
    s.chars().take(256).collect()
}

/// ISO 8601 with an offset, in Vietnam time with milliseconds: `2026-11-24T09:59:33.123+07:00`
/// (the form of the examples' `Request-Time`), for times on the wire.
pub fn wire_time(ms: i64) -> String {
    crate::signing::alipay_plus::format_time(ms)
}

/// Parses an ISO 8601 time with an offset (`2019-11-27T12:01:01+08:30`, `…Z`) to Unix ms.
pub fn parse_wire_time(field: &'static str, s: &str) -> Result<i64, InvalidField> {
    let t = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .map_err(|_| InvalidField::new(field, "must be ISO 8601 with an offset, e.g. 2026-11-24T09:59:33+07:00"))?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).map_err(|_| InvalidField::new(field, "is out of range"))
}

fn vietnam(ms: i64) -> time::OffsetDateTime {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    at.to_offset(time::UtcOffset::from_hms(7, 0, 0).expect("a valid offset"))
}

/// An operator's time: ISO 8601 with an offset, or a form's `datetime-local` value
/// (`2026-12-01T09:30`, seconds optional) read as Vietnam time.
pub fn parse_operator_time(field: &'static str, s: &str) -> Result<i64, InvalidField> {
    let s = s.trim();
    if let Ok(ms) = parse_wire_time(field, s) {
        return Ok(ms);
    }
    let with_seconds = if s.len() == 16 { format!("{s}:00") } else { s.to_string() };
    let local = time::PrimitiveDateTime::parse(&with_seconds, time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"))
        .map_err(|_| InvalidField::new(field, "must be a date and time, e.g. 2026-12-01T09:30 (Vietnam time) or ISO 8601 with an offset"))?;
    let at = local.assume_offset(time::UtcOffset::from_hms(7, 0, 0).expect("a valid offset"));
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).map_err(|_| InvalidField::new(field, "is out of range"))
}

/// `2026-12-01T09:30` in Vietnam time: the value of a `datetime-local` input.
pub fn local_input_time(ms: i64) -> String {
    vietnam(ms).format(time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]")).unwrap_or_default()
}

/// `01-12-2026 09:30` in Vietnam time, for people.
pub fn display_time(ms: i64) -> String {
    vietnam(ms).format(time::macros::format_description!("[day]-[month]-[year] [hour]:[minute]")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_follow_the_documented_limits() {
        assert!(IssueRequestId::parse("20211111010101000001234").is_ok());
        assert!(IssueRequestId::parse(&"9".repeat(64)).is_ok());
        assert_eq!(IssueRequestId::parse(&"9".repeat(65)).unwrap_err().field, "benefitIssueRequestId");
        assert!(UserId::parse(&"1".repeat(32)).is_ok());
        assert!(UserId::parse(&"1".repeat(33)).is_err());
        for bad in ["", "a@b", "a#b", "a?b", " a", "a\n"] {
            assert!(TemplateId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(TemplateId::parse("VOUCHER-50K_shop.1").is_ok());
    }

    #[test]
    fn client_codes_quantities_and_titles() {
        for good in ["GCASH", "ALIPAY_HK", "TNG", "SANDBOXAPP"] {
            assert!(ClientCode::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "g", "gcash", "GC-ASH", &"A".repeat(33)] {
            assert!(ClientCode::parse(bad).is_err(), "{bad}");
        }
        assert!(Quantity::new(0).is_err() && Quantity::new(101).is_err() && Quantity::new(-1).is_err());
        assert_eq!(Quantity::new(100).unwrap().get(), 100);
        assert!(Title::parse(&"é".repeat(128)).is_ok());
        assert!(Title::parse(&"é".repeat(129)).is_err());
        assert!(Title::parse("  ").is_err());
    }

    #[test]
    fn amounts_are_positive_integers_of_at_most_16_digits() {
        assert_eq!(Amount::parse("VND", "50000").unwrap(), Amount { currency: "VND".into(), value: 50_000 });
        assert!(Amount::parse("VND", "9999999999999999").is_ok());
        for bad in ["", "0", "-5", "1.5", "+5", " 5", "10000000000000000", "5e3"] {
            assert!(Amount::parse("VND", bad).is_err(), "{bad:?}");
        }
        assert!(Amount::new("vnd", 1).is_err() && Amount::new("VNDX", 1).is_err());
    }

    #[test]
    fn wire_times_round_trip_in_vietnam_time() {
        assert_eq!(wire_time(1_694_406_247_602), "2023-09-11T11:24:07.602+07:00");
        assert_eq!(parse_wire_time("t", "2023-09-11T11:24:07.602+07:00"), Ok(1_694_406_247_602));
        // python3: datetime.fromisoformat("2019-11-27T12:01:01+08:30").timestamp()
        assert_eq!(parse_wire_time("t", "2019-11-27T12:01:01+08:30"), Ok(1_574_825_461_000));
        assert!(parse_wire_time("t", "2019-11-27 12:01:01").is_err());
    }

    #[test]
    fn operator_times_are_vietnam_time_unless_they_say_otherwise() {
        let ms = parse_operator_time("begin", "2026-12-01T09:30").unwrap();
        assert_eq!(Ok(ms), parse_wire_time("t", "2026-12-01T09:30:00+07:00"));
        assert_eq!(parse_operator_time("begin", "2026-12-01T09:30:15"), Ok(ms + 15_000));
        assert_eq!(parse_operator_time("begin", "2026-12-01T02:30:00Z"), Ok(ms));
        assert_eq!(local_input_time(ms), "2026-12-01T09:30");
        assert_eq!(display_time(ms), "01-12-2026 09:30");
        assert_eq!(parse_operator_time("begin", "tomorrow").unwrap_err().field, "begin");
    }

    proptest! {
        #[test]
        fn parsed_ids_never_hold_forbidden_characters(s in ".{0,80}") {
            if let Ok(id) = IssueRequestId::parse(&s) {
                prop_assert!(id.as_str().chars().count() <= 64);
                prop_assert!(!id.as_str().contains(['@', '#', '?']));
            }
        }

        #[test]
        fn amount_values_round_trip(v in 1i64..=Amount::MAX_VALUE) {
            prop_assert_eq!(Amount::parse("VND", &v.to_string()).unwrap().value, v);
        }
    }
}
