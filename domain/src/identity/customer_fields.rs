//! What a partner sends about its customer (the customer APIs: onboard, link-token), checked
//! once into domain values: [`Onboarding`] and [`LinkHint`] by `TryFrom<&CustomerFields>`.
//! A refusal is an [`InvalidInput`] naming the field; the API maps it to its wire code
//! (`INVALID_PHONE`, …) in one place (`server::http::skyjoy`).
//!
//! Rules: a required field missing or blank is refused as that field; an optional personal
//! field (date of birth, e-mail, phone and name of a link hint) left empty counts as not given;
//! a `customerId` that is present must be valid — empty or blank is refused, never ignored.

use serde::Deserialize;

use super::{link_requests::LinkHint, members::NewMember, CustomerId, DateOfBirth, Email, FullName, InvalidInput, PhoneNumber};

/// The fields as the partner sent them (JSON, camelCase), none checked yet.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CustomerFields {
    pub phone: Option<String>,
    pub full_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// `DD-MM-YYYY`.
    pub date_of_birth: Option<String>,
    pub email: Option<String>,
    pub customer_id: Option<String>,
}

fn blank(v: &Option<String>) -> bool {
    v.as_deref().is_none_or(|s| s.trim().is_empty())
}

fn optional<T>(v: &Option<String>, parse: impl Fn(&str) -> Result<T, InvalidInput>) -> Result<Option<T>, InvalidInput> {
    if blank(v) {
        Ok(None)
    } else {
        parse(v.as_deref().unwrap_or_default()).map(Some)
    }
}

impl CustomerFields {
    /// `fullName`, or `firstName` + `lastName` when it is not given.
    fn name(&self) -> Option<String> {
        if !blank(&self.full_name) {
            return self.full_name.clone();
        }
        match (&self.first_name, &self.last_name) {
            (Some(f), Some(l)) if !f.trim().is_empty() || !l.trim().is_empty() => Some(format!("{} {}", f.trim(), l.trim())),
            _ => None,
        }
    }

    /// A `customerId` that is present must be valid (blank is refused).
    fn customer_id(&self) -> Result<Option<CustomerId>, InvalidInput> {
        self.customer_id.as_deref().map(CustomerId::parse).transpose()
    }
}

/// A partner's onboarding: the member to find (by phone) or create, and the Customer ID to link.
#[derive(Debug, Clone)]
pub struct Onboarding {
    pub member: NewMember,
    pub customer_id: Option<CustomerId>,
}

impl TryFrom<&CustomerFields> for Onboarding {
    type Error = InvalidInput;

    /// `phone`* and a name* (`fullName`, or `firstName` + `lastName`), then the optional fields,
    /// in that order.
    fn try_from(f: &CustomerFields) -> Result<Self, InvalidInput> {
        let phone = PhoneNumber::parse(f.phone.as_deref().unwrap_or_default())?;
        let full_name = FullName::parse(&f.name().unwrap_or_default())?;
        let member = NewMember { phone, full_name, date_of_birth: optional(&f.date_of_birth, DateOfBirth::parse)?, email: optional(&f.email, Email::parse)? };
        Ok(Onboarding { member, customer_id: f.customer_id()? })
    }
}

impl TryFrom<&CustomerFields> for LinkHint {
    type Error = InvalidInput;

    /// `customerId`* and whatever else the partner knows, each checked when given.
    fn try_from(f: &CustomerFields) -> Result<Self, InvalidInput> {
        Ok(LinkHint {
            customer_id: f.customer_id()?.ok_or(InvalidInput::CustomerId)?,
            phone: optional(&f.phone, PhoneNumber::parse)?,
            full_name: optional(&f.name(), FullName::parse)?,
            date_of_birth: optional(&f.date_of_birth, DateOfBirth::parse)?,
            email: optional(&f.email, Email::parse)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(phone: &str, name: &str, customer: Option<&str>) -> CustomerFields {
        CustomerFields { phone: Some(phone.into()), full_name: Some(name.into()), customer_id: customer.map(str::to_string), ..Default::default() }
    }

    #[test]
    fn onboarding_needs_a_phone_and_a_name_and_refuses_a_blank_customer_id() {
        assert!(Onboarding::try_from(&fields("0912345678", "Nguyen Van A", Some("C-1"))).is_ok());
        assert_eq!(Onboarding::try_from(&fields("", "Nguyen Van A", None)).unwrap_err(), InvalidInput::Phone);
        assert_eq!(Onboarding::try_from(&fields("0912345678", "  ", None)).unwrap_err(), InvalidInput::FullName);
        assert_eq!(Onboarding::try_from(&fields("0912345678", "Nguyen Van A", Some(""))).unwrap_err(), InvalidInput::CustomerId);
        assert_eq!(Onboarding::try_from(&fields("0912345678", "Nguyen Van A", Some("   "))).unwrap_err(), InvalidInput::CustomerId);
        let split = CustomerFields { phone: Some("0912345678".into()), first_name: Some("Van A".into()), last_name: Some("Nguyen".into()), ..Default::default() };
        assert_eq!(Onboarding::try_from(&split).unwrap().member.full_name.to_string(), "Van A Nguyen");
        let empty_optional = CustomerFields { email: Some(String::new()), date_of_birth: Some(" ".into()), ..fields("0912345678", "A B", None) };
        assert!(Onboarding::try_from(&empty_optional).is_ok(), "an empty optional field is not given");
    }

    #[test]
    fn a_link_hint_needs_a_customer_id() {
        assert_eq!(LinkHint::try_from(&CustomerFields::default()).unwrap_err(), InvalidInput::CustomerId);
        let f = CustomerFields { customer_id: Some("C-9".into()), phone: Some("0912 345 678".into()), ..Default::default() };
        assert_eq!(LinkHint::try_from(&f).unwrap().phone.map(|p| p.to_string()), Some("+84912345678".into()));
        let bad = CustomerFields { email: Some("nope".into()), ..f };
        assert_eq!(LinkHint::try_from(&bad).unwrap_err(), InvalidInput::Email);
    }
}
