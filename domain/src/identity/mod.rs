//! Members and who they are: SkyJoy IDs, phone numbers, names, dates of birth, and the
//! partners' Customer IDs. Each is a newtype with one checking constructor; inside the domain a
//! value of these types is valid by construction (parse, don't validate).

/// `Display`, `as_str` and serde through `String` for a string newtype whose one constructor is
/// `parse` (so deserialising checks exactly what parsing checks).
macro_rules! string_newtype {
    ($t:ident) => {
        impl $t {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $t {
            type Error = $crate::identity::InvalidInput;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $t::parse(&s)
            }
        }

        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
    };
}

pub mod clients;
pub mod customer_fields;
pub mod flows;
pub mod grants;
pub mod link_requests;
pub mod members;
mod names;
pub mod otp;
mod phone;
mod provider;
pub mod signer;
pub mod signing_keys;
mod skyjoy_id;
pub mod sms;
pub mod tokens;

pub use names::{CustomerId, DateOfBirth, Email, FullName};
pub use phone::PhoneNumber;
pub use provider::Idp;
pub use skyjoy_id::SkyJoyId;

/// Why a value given at the edge was refused; the message is safe to show to a partner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    #[error("skyjoyId must be SJ followed by 10 digits")]
    SkyJoyId,
    #[error("phone must be a Vietnamese number, e.g. +84912345678 or 0912345678")]
    Phone,
    #[error("fullName must be 1 to 100 letters, spaces, dots, apostrophes or hyphens")]
    FullName,
    #[error("dateOfBirth must be a past date in the form DD-MM-YYYY")]
    DateOfBirth,
    #[error("customerId must be 1 to 64 visible characters")]
    CustomerId,
    #[error("email must be an address like name@example.vn")]
    Email,
}
