use rand::Rng;
use serde::{Deserialize, Serialize};

use super::InvalidInput;

/// A member's SkyJoy ID: `SJ` + 10 digits (counterparts.md §1.4), e.g. `SJ3609438573`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SkyJoyId(String);

string_newtype!(SkyJoyId);

impl SkyJoyId {
    /// The canonical form, as answers carry it (a request may also write `sj`, or pad it with
    /// spaces).
    pub const PATTERN: &'static str = "^SJ[0-9]{10}$";

    /// Accepts `SJ` in either case around 10 digits; stores the canonical upper-case form.
    pub fn parse(s: &str) -> Result<SkyJoyId, InvalidInput> {
        let s = s.trim();
        let digits = s.get(2..).filter(|_| s.len() == 12 && s[..2].eq_ignore_ascii_case("SJ")).ok_or(InvalidInput::SkyJoyId)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidInput::SkyJoyId);
        }
        Ok(SkyJoyId(format!("SJ{digits}")))
    }

    /// A fresh random ID (the first digit is never 0, as in every published sample); callers
    /// insert it under a unique constraint and draw again on the rare collision.
    pub fn random(rng: &mut impl Rng) -> SkyJoyId {
        let n: u64 = rng.gen_range(1_000_000_000..10_000_000_000);
        SkyJoyId(format!("SJ{n}"))
    }

}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn published_samples_parse() {
        for s in ["SJ3609438573", "SJ5408563422", "sj1047851528", " SJ5658649698 "] {
            assert_eq!(SkyJoyId::parse(s).unwrap().as_str(), s.trim().to_uppercase());
        }
        for bad in ["", "SJ", "SJ123456789", "SJ12345678901", "XX3609438573", "SJ36094385a3", "SJ３６０９４３８５７３"] {
            assert_eq!(SkyJoyId::parse(bad), Err(InvalidInput::SkyJoyId), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn random_ids_are_valid_and_round_trip(seed in any::<u64>()) {
            use rand::SeedableRng;
            let id = SkyJoyId::random(&mut rand::rngs::StdRng::seed_from_u64(seed));
            prop_assert_eq!(SkyJoyId::parse(&id.to_string()), Ok(id.clone()));
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(serde_json::from_str::<SkyJoyId>(&json).unwrap(), id);
        }

        #[test]
        fn parse_never_panics(s in ".{0,30}") {
            let _ = SkyJoyId::parse(&s);
        }
    }
}
