//! Benefits in super apps: Joygate is the ISV of the Alipay Connect benefit APIs
//! (counterparts.md §2, `../shared/spec/seed-isv-benefit-offering.txt`). An operator defines a
//! benefit (a partner shop's voucher) as a template and syncs it to a platform; once a super app
//! releases it, each user's collect makes the platform call our issueBenefit; the partner's
//! mini program spends the voucher through us, and we sync the use back to the platform.
//!
//! Where is each rule?
//! - field limits and wire types (ids ≤ 64, userId ≤ 32, titles ≤ 128, `Amount`): [`fields`];
//! - platforms (our `Client-Id` at each) and their RSA keys, versions, rotation: [`platforms`],
//!   [`keys`];
//! - templates, what is immutable after the first sync, the budget: [`templates`];
//! - a sync's life (PENDING → PROCESSING → SUCCESS | FAIL, once; notify and inquiry applied by
//!   one `transition`): [`sync`];
//! - instances (ACTIVATED → USED | REVERSED | EXPIRED only, each by one conditional `UPDATE` in
//!   [`instances::transition`]), codes and PINs from the OS's CSPRNG, the expiry job: [`instances`];
//! - issue (idempotent forever by benefitIssueRequestId, all or nothing, the budget moved by one
//!   conditional `UPDATE` so it is never over-issued), reverse (restores the budget; an unseen id
//!   leaves a tombstone), inquire: [`issue`];
//! - a partner's use of a voucher, exactly once, and the syncUsedBenefit it queues: [`usage`];
//! - the calls to the platform (syncBenefit, inquireBenefitSync, syncUsedBenefit) as a trait,
//!   and the outbox flows that make them: [`platform_api`].
//!
//! The HTTP side is `server::http::benefits` (the ISV APIs, each refusal mapped to a documented
//! code in one place) and `server::benefit_platform` (the signed calls to the platform).

pub mod fields;
pub mod instances;
pub mod issue;
pub mod keys;
pub mod platform_api;
pub mod platforms;
pub mod sync;
pub mod templates;
pub mod usage;

#[cfg(test)]
mod tests;

pub use fields::{Amount, ClientCode, InstanceId, InvalidField, IssueRequestId, Quantity, SyncRequestId, TemplateId, Title, UserId};

/// The only product code the platform accepts (§2.1 syncBenefit).
pub const PRODUCT_CODE: &str = "SPICE_SECRET_VOUCHER";

/// Why a benefit operation was refused. Each API family maps these to its own documented codes
/// in one place (`server::http::benefits::IsvError`, the partner API's `SkyJoyError`).
#[derive(Debug, thiserror::Error)]
pub enum BenefitError {
    /// A field of a request did not pass its check.
    #[error(transparent)]
    Field(#[from] InvalidField),
    /// An operator's input that cannot be used (template, key, platform).
    #[error("{0}")]
    Invalid(String),
    #[error("no platform has this Client-Id")]
    UnknownPlatform,
    #[error("no benefit template has this benefitTemplateId")]
    UnknownTemplate,
    #[error("a benefit template with this benefitTemplateId already exists")]
    TemplateExists,
    /// The seed: clientCode, benefitContent and benefitBudget cannot change after a sync.
    #[error("{0} cannot change once the template was synced; create a new template instead")]
    Immutable(&'static str),
    #[error("a sync of this template is still in progress")]
    SyncInFlight,
    #[error("no sync has this benefitSyncRequestId")]
    UnknownSync,
    /// The platform has not accepted the template (never synced, or its sync failed).
    #[error("this benefit is not synced to the platform")]
    NotSynced,
    #[error("clientCode {0} is not one this benefit was synced for")]
    ClientCodeNotAllowed(String),
    #[error("the benefit cannot be collected before its begin time")]
    NotStarted,
    #[error("the benefit can no longer be collected: its end time has passed")]
    Ended,
    #[error("the benefit's budget is used up: fewer than {0} left")]
    BudgetExhausted(i64),
    /// The same benefitIssueRequestId came with another userId, template, quantity or clientCode.
    #[error("benefitIssueRequestId was already used with another userId, benefitTemplateId, quantity or clientCode")]
    RequestIdConflict,
    /// The id was reversed (before or after it was issued): it cannot be issued any more.
    #[error("this benefitIssueRequestId was reversed; it cannot be issued")]
    IssueReversed,
    #[error("no issue has this benefitIssueRequestId")]
    UnknownIssue,
    /// A reversal of an issue some of whose benefits are no longer ACTIVATED (all or nothing).
    #[error("the issue cannot be reversed: a benefit of it is {0}")]
    NotReversible(&'static str),
    #[error("no benefit of yours has this code")]
    UnknownBenefit,
    #[error("this benefit was already used")]
    AlreadyUsed,
    #[error("this benefit has expired")]
    Expired,
    #[error("this benefit was reversed")]
    Reversed,
    #[error("the PIN does not match")]
    WrongPin,
    #[error(transparent)]
    Store(#[from] crate::StoreError),
}

impl From<sqlx::Error> for BenefitError {
    fn from(e: sqlx::Error) -> Self {
        BenefitError::Store(e.into())
    }
}

/// A fresh, random identifier of `len` characters in Crockford's base 32 (no I, L, O, U), from
/// the operating system's CSPRNG: benefit codes and our request ids.
pub(crate) fn random_base32(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut rng = rand::rngs::OsRng;
    (0..len).map(|_| ALPHABET[rng.gen_range(0..32)] as char).collect()
}

/// Request ids in the platform's style (`20211111010101000001234`): the Vietnam time to the
/// second, then random digits; 24 characters.
pub(crate) fn request_id(now_ms: i64) -> String {
    use rand::Rng;
    let at = time::OffsetDateTime::from_unix_timestamp(now_ms.div_euclid(1000)).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let local = at.to_offset(time::UtcOffset::from_hms(7, 0, 0).expect("a valid offset"));
    let stamp = local.format(time::macros::format_description!("[year][month][day][hour][minute][second]")).unwrap_or_default();
    let mut rng = rand::rngs::OsRng;
    let digits: String = (0..10).map(|_| char::from(b'0' + rng.gen_range(0..10u8))).collect();
    format!("{stamp}{digits}")
}
