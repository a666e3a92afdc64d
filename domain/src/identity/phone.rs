use serde::{Deserialize, Serialize};

use super::InvalidInput;

/// A Vietnamese phone number in E.164 form, `+84` and the national number without its trunk
/// `0` (SkyJoy sends and expects `+84979921380`, counterparts.md §1.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

string_newtype!(PhoneNumber);

impl PhoneNumber {
    /// Accepts `+84…`, `84…` and `0…` forms with spaces, dots, dashes or parentheses between
    /// digits. Mobile numbers have 9 national digits starting 3, 5, 7, 8 or 9; landlines 10
    /// starting with 2.
    /// The plain forms [`PhoneNumber::parse`] accepts (it also skips spaces, dots, dashes and
    /// brackets): 0, 84 or +84, then a mobile's 9 digits or a landline's 10.
    pub const PATTERN: &'static str = r"^(0|\+84|84)([35789][0-9]{8}|2[0-9]{9})$";

    pub fn parse(s: &str) -> Result<PhoneNumber, InvalidInput> {
        let mut plus = false;
        let mut digits = String::with_capacity(12);
        for c in s.trim().chars() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if digits.is_empty() && !plus => plus = true,
                ' ' | '.' | '-' | '(' | ')' => {}
                _ => return Err(InvalidInput::Phone),
            }
        }
        let national = if let Some(n) = digits.strip_prefix("84").filter(|n| plus || n.len() >= 9) {
            n.strip_prefix('0').unwrap_or(n)
        } else if plus {
            return Err(InvalidInput::Phone); // another country
        } else {
            digits.strip_prefix('0').ok_or(InvalidInput::Phone)?
        };
        let valid = match national.as_bytes().first() {
            Some(b'3' | b'5' | b'7' | b'8' | b'9') => national.len() == 9,
            Some(b'2') => national.len() == 10,
            _ => false,
        };
        if !valid {
            return Err(InvalidInput::Phone);
        }
        Ok(PhoneNumber(format!("+84{national}")))
    }

    /// The number as dialled at home (`0912345678`), to pre-fill a form.
    pub fn national(&self) -> String {
        format!("0{}", &self.0[3..])
    }

    /// The last 3 digits, for showing a member where a code was sent without revealing the number.
    pub fn masked(&self) -> String {
        format!("+84 ••• ••• {}", &self.0[self.0.len() - 3..])
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn local_and_international_forms_normalise_to_e164() {
        for s in ["+84979921380", "84979921380", "0979921380", "0979 921 380", "+84 979-921-380", "(+84) 979.921.380", "+840979921380"] {
            assert_eq!(PhoneNumber::parse(s).unwrap().as_str(), "+84979921380", "{s}");
        }
        assert_eq!(PhoneNumber::parse("024 3826 4321").unwrap().as_str(), "+842438264321");
        assert_eq!(PhoneNumber::parse("+84330012221").unwrap().masked(), "+84 ••• ••• 221");
    }

    #[test]
    fn other_countries_and_malformed_numbers_are_refused() {
        for bad in ["", "+1 415 555 0100", "+6591234567", "097992138", "09799213800", "0179921380", "+84a979921380", "979921380", "0979_921_380"] {
            assert_eq!(PhoneNumber::parse(bad), Err(InvalidInput::Phone), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn every_mobile_number_round_trips(prefix in prop::sample::select(vec!['3', '5', '7', '8', '9']), rest in "[0-9]{8}", form in 0..3usize) {
            let e164 = format!("+84{prefix}{rest}");
            let written = match form { 0 => e164.clone(), 1 => format!("0{prefix}{rest}"), _ => format!("84{prefix}{rest}") };
            let parsed = PhoneNumber::parse(&written).unwrap();
            prop_assert_eq!(parsed.as_str(), e164.as_str());
            prop_assert_eq!(PhoneNumber::parse(parsed.as_str()).unwrap(), parsed);
        }

        #[test]
        fn parse_never_panics(s in ".{0,30}") {
            let _ = PhoneNumber::parse(&s);
        }
    }
}
