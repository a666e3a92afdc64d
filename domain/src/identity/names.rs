use std::fmt;

use serde::{Deserialize, Serialize};
use time::{macros::format_description, Date, OffsetDateTime};

use super::InvalidInput;

/// A member's full name as written (Vietnamese order: family name first), whitespace folded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FullName(String);

string_newtype!(FullName);

impl FullName {
    pub fn parse(s: &str) -> Result<FullName, InvalidInput> {
        let folded = s.split_whitespace().collect::<Vec<_>>().join(" ");
        let len = folded.chars().count();
        let allowed = |c: char| c.is_alphabetic() || c == ' ' || c == '.' || c == '\'' || c == '-' || is_combining_mark(c);
        if len == 0 || len > 100 || !folded.chars().all(allowed) || !folded.chars().any(char::is_alphabetic) {
            return Err(InvalidInput::FullName);
        }
        Ok(FullName(folded))
    }

    /// SkyJoy's `firstName` / `lastName` split: `"NGUYEN VAN A"` → (`"NGUYEN VAN"`, `"A"`);
    /// a one-word name is all `lastName` (the given name).
    pub fn first_and_last(&self) -> (&str, &str) {
        match self.0.rsplit_once(' ') {
            Some((first, last)) => (first, last),
            None => ("", &self.0),
        }
    }
}

/// Vietnamese text typed on some keyboards arrives decomposed (base letter + tone mark).
fn is_combining_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}')
}

/// A date of birth; SkyJoy writes dates `DD-MM-YYYY` (counterparts.md §1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DateOfBirth(Date);

const DMY: &[time::format_description::FormatItem<'static>] = format_description!("[day]-[month]-[year]");
const ISO: &[time::format_description::FormatItem<'static>] = format_description!("[year]-[month]-[day]");

impl DateOfBirth {
    /// `DD-MM-YYYY`, a real calendar date in the past, at most 130 years ago.
    pub fn parse(s: &str) -> Result<DateOfBirth, InvalidInput> {
        Self::checked(Date::parse(s.trim(), DMY).map_err(|_| InvalidInput::DateOfBirth)?)
    }

    /// `YYYY-MM-DD`, what an HTML date input submits.
    pub fn parse_iso(s: &str) -> Result<DateOfBirth, InvalidInput> {
        Self::checked(Date::parse(s.trim(), ISO).map_err(|_| InvalidInput::DateOfBirth)?)
    }

    fn checked(d: Date) -> Result<DateOfBirth, InvalidInput> {
        let today = OffsetDateTime::now_utc().date();
        if d >= today || today.year() - d.year() > 130 {
            return Err(InvalidInput::DateOfBirth);
        }
        Ok(DateOfBirth(d))
    }

    pub fn date(&self) -> Date {
        self.0
    }

    /// OpenID Connect's `birthdate` claim form, `YYYY-MM-DD`.
    pub fn iso(&self) -> String {
        self.0.format(ISO).expect("a date always formats")
    }
}

impl fmt::Display for DateOfBirth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.format(DMY).map_err(|_| fmt::Error)?)
    }
}

impl TryFrom<String> for DateOfBirth {
    type Error = InvalidInput;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        DateOfBirth::parse(&s)
    }
}

impl From<DateOfBirth> for String {
    fn from(d: DateOfBirth) -> String {
        d.to_string()
    }
}

/// A partner's own identifier for its customer (counterparts.md §1.4), opaque to us.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CustomerId(String);

string_newtype!(CustomerId);

impl CustomerId {
    /// The most characters (after trimming; no control characters).
    pub const MAX_CHARS: usize = 64;

    pub fn parse(s: &str) -> Result<CustomerId, InvalidInput> {
        let s = s.trim();
        if s.is_empty() || s.chars().count() > Self::MAX_CHARS || s.chars().any(|c| c.is_control()) {
            return Err(InvalidInput::CustomerId);
        }
        Ok(CustomerId(s.to_string()))
    }

}

/// An e-mail address, checked for shape only (the inbox proves the rest), stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

string_newtype!(Email);

impl Email {
    pub fn parse(s: &str) -> Result<Email, InvalidInput> {
        let s = s.trim();
        let (local, domain) = s.rsplit_once('@').ok_or(InvalidInput::Email)?;
        let ok = !local.is_empty()
            && local.len() <= 64
            && s.len() <= 254
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !s.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == ',')
            && !local.contains('@');
        if !ok {
            return Err(InvalidInput::Email);
        }
        Ok(Email(s.to_lowercase()))
    }

}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn names_fold_whitespace_and_split_like_skyjoy() {
        let n = FullName::parse("  NGUYEN   VAN \t A ").unwrap();
        assert_eq!(n.as_str(), "NGUYEN VAN A");
        assert_eq!(n.first_and_last(), ("NGUYEN VAN", "A"));
        assert_eq!(FullName::parse("Nguyễn Thị Minh Khai").unwrap().first_and_last(), ("Nguyễn Thị Minh", "Khai"));
        assert_eq!(FullName::parse("Nguye\u{0302}\u{0303}n").unwrap().first_and_last(), ("", "Nguye\u{0302}\u{0303}n"));
        assert_eq!(FullName::parse("O'Brien-Smith Jr.").unwrap().as_str(), "O'Brien-Smith Jr.");
        for bad in ["", "   ", "Agent 007", "<script>", "A\u{0000}B", "...", &"a".repeat(101)] {
            assert_eq!(FullName::parse(bad), Err(InvalidInput::FullName), "{bad:?}");
        }
    }

    #[test]
    fn dates_of_birth_are_dd_mm_yyyy_and_in_the_past() {
        let d = DateOfBirth::parse("03-08-1998").unwrap();
        assert_eq!(d.to_string(), "03-08-1998");
        assert_eq!(d.iso(), "1998-08-03");
        assert_eq!(DateOfBirth::parse_iso("1998-08-03").unwrap(), d);
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"03-08-1998\"");
        for bad in ["1998-08-03", "31-02-1990", "3-8-1998", "01-01-1850", "01-01-2999", "", "29-02-2023"] {
            assert_eq!(DateOfBirth::parse(bad), Err(InvalidInput::DateOfBirth), "{bad}");
        }
        assert!(DateOfBirth::parse("29-02-2024").is_ok());
    }

    #[test]
    fn emails_are_checked_for_shape() {
        assert_eq!(Email::parse(" VPQuoi@YopMail.com ").unwrap().as_str(), "vpquoi@yopmail.com");
        for bad in ["", "a", "a@b", "@b.vn", "a@.vn", "a@b.", "a b@c.vn", "a@b@c.vn", "<a@b.vn>"] {
            assert_eq!(Email::parse(bad), Err(InvalidInput::Email), "{bad}");
        }
    }

    #[test]
    fn customer_ids_are_opaque_but_bounded() {
        assert_eq!(CustomerId::parse(" CUS-000123 ").unwrap().as_str(), "CUS-000123");
        assert!(CustomerId::parse("khách-hàng/42").is_ok());
        for bad in ["", "  ", "a\nb", &"x".repeat(65)] {
            assert_eq!(CustomerId::parse(bad), Err(InvalidInput::CustomerId), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn valid_dates_round_trip(day in 1u8..=28, month in 1u8..=12, year in 1950i32..=2010) {
            let s = format!("{day:02}-{month:02}-{year}");
            let d = DateOfBirth::parse(&s).unwrap();
            prop_assert_eq!(d.to_string(), s);
            prop_assert_eq!(DateOfBirth::parse_iso(&d.iso()).unwrap(), d);
        }

        #[test]
        fn parsers_never_panic(s in ".{0,120}") {
            let _ = FullName::parse(&s);
            let _ = DateOfBirth::parse(&s);
            let _ = CustomerId::parse(&s);
            let _ = Email::parse(&s);
        }

        #[test]
        fn a_parsed_name_parses_to_itself(s in "[A-Za-zÀ-ỹ ]{1,60}") {
            if let Ok(n) = FullName::parse(&s) {
                prop_assert_eq!(FullName::parse(n.as_str()).unwrap(), n);
            }
        }
    }
}
