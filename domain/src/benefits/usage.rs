//! A partner's mini program spends a benefit (Flow 3 of the seed: "the mini program server
//! requests the ISV server to deactivate the used benefit"). Where is each rule?
//! - [`use_benefit`]: only the template's partner sees or uses its benefits (another partner gets
//!   "not found"); a PIN, when the benefit has one, must match; ACTIVATED → USED exactly once
//!   under any concurrency ([`instances::transition`] on the locked row); the same partner's
//!   retry with the same `requestId` gets the same answer; a benefit past its expireTime is
//!   expired on the spot and refused;
//! - the syncUsedBenefit to the platform is queued in the same transaction (job [`SYNC_USED`],
//!   benefitUseRequestId fixed at the use, so every retry carries the same id).

use serde::Serialize;
use serde_json::json;

use super::{
    instances::{self, Instance, Lookup, Status, Target, UseRecord},
    BenefitError,
};
use crate::{
    outbox::{self, NewJob},
    store::Db,
};

/// Outbox job: send the syncUsedBenefit of a used benefit (payload `{"instance_id"}`).
pub const SYNC_USED: &str = "benefits.sync_used";

/// A partner's request to use a benefit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseRequest {
    pub lookup: Lookup,
    pub pin: Option<String>,
    /// The partner's own idempotency key, 1 to 64 characters (optional).
    pub partner_request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Used {
    pub instance: Instance,
    /// The same partner's retry with the same requestId (nothing changed now).
    pub replayed: bool,
}

/// Looks a benefit up for its partner (the cashier shows it before the use).
pub async fn lookup(db: &Db, partner_client_id: &str, by: &Lookup) -> Result<Instance, BenefitError> {
    instances::find_by(db, by).await?.filter(|i| i.partner_client_id == partner_client_id).ok_or(BenefitError::UnknownBenefit)
}

/// Uses a benefit once (see the module header).
pub async fn use_benefit(db: &Db, partner_client_id: &str, r: &UseRequest, now_ms: i64) -> Result<Used, BenefitError> {
    if let Some(id) = &r.partner_request_id {
        if id.is_empty() || id.len() > 64 || id.chars().any(char::is_control) {
            return Err(BenefitError::Invalid("requestId must be 1 to 64 characters".into()));
        }
    }
    let mut tx = db.begin().await?;
    let instance = instances::find_for_update(&mut tx, db, &r.lookup)
        .await?
        .filter(|i| i.partner_client_id == partner_client_id)
        .ok_or(BenefitError::UnknownBenefit)?;
    if let Some(pin) = &instance.pin {
        let given = r.pin.as_deref().unwrap_or_default().trim();
        if !crate::signing::constant_time_eq(given.as_bytes(), pin.as_bytes()) {
            return Err(BenefitError::WrongPin);
        }
    }
    match instance.status {
        Status::Used => {
            let same = r.partner_request_id.is_some() && instance.partner_request_id == r.partner_request_id && instance.used_by.as_deref() == Some(partner_client_id);
            return if same { Ok(Used { instance, replayed: true }) } else { Err(BenefitError::AlreadyUsed) };
        }
        Status::Reversed => return Err(BenefitError::Reversed),
        Status::Expired => return Err(BenefitError::Expired),
        Status::Activated if instance.expire_at_ms <= now_ms => {
            instances::transition(&mut tx, Target::One(&instance.instance_id), Status::Expired, &UseRecord::default(), now_ms).await?;
            tx.commit().await?;
            return Err(BenefitError::Expired);
        }
        Status::Activated => {}
    }
    let use_request_id = super::request_id(now_ms);
    let record = UseRecord { used_by: Some(partner_client_id), partner_request_id: r.partner_request_id.as_deref(), use_request_id: Some(&use_request_id) };
    let moved = instances::transition(&mut tx, Target::One(&instance.instance_id), Status::Used, &record, now_ms).await?;
    if moved != 1 {
        return Err(BenefitError::AlreadyUsed);
    }
    let job = NewJob::new(SYNC_USED, json!({ "instance_id": instance.instance_id })).dedupe_key(format!("{SYNC_USED}:{}", instance.instance_id)).max_attempts(30);
    outbox::enqueue(&mut tx, job, now_ms).await?;
    tx.commit().await?;
    let instance = instances::find(db, &instance.instance_id).await?.ok_or(BenefitError::UnknownBenefit)?;
    Ok(Used { instance, replayed: false })
}
