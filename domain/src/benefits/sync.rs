//! A template's syncs to its platform (Flow 1 of the seed). Each syncBenefit has its own
//! benefitSyncRequestId (the platform's idempotency key) and moves PENDING (queued) →
//! PROCESSING (the platform accepted it and reviews it) → SUCCESS (in the super app, waiting to
//! be released) | FAIL (syncFailCode AUDIT_FAIL, INNER_PROCESS_FAIL, SYNC_CLIENT_FAIL, or the
//! code of a refused syncBenefit), once: [`SyncStatus::transition`] is the only rule, and
//! [`apply`] the only writer after [`request`]. What tells us — the syncBenefit answer, a
//! notifyBenefitSync, an inquireBenefitSync — may come in any order and any number of times.

use serde::Serialize;
use serde_json::json;

use super::{fields::SyncRequestId, templates, BenefitError};
use crate::{
    outbox::{self, NewJob},
    store::{Db, Tx},
};

/// Outbox job: send the syncBenefit (payload `{"sync_request_id"}`).
pub const SEND: &str = "benefits.sync";
/// Outbox job: ask inquireBenefitSync until the sync is final (payload `{"sync_request_id"}`).
pub const POLL: &str = "benefits.inquire_sync";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SyncStatus {
    /// Queued; the platform has not answered the syncBenefit yet.
    Pending,
    Processing,
    Success,
    Fail,
}

impl SyncStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatus::Pending => "PENDING",
            SyncStatus::Processing => "PROCESSING",
            SyncStatus::Success => "SUCCESS",
            SyncStatus::Fail => "FAIL",
        }
    }

    pub fn parse(s: &str) -> Option<SyncStatus> {
        Some(match s {
            "PENDING" => SyncStatus::Pending,
            "PROCESSING" => SyncStatus::Processing,
            "SUCCESS" => SyncStatus::Success,
            "FAIL" => SyncStatus::Fail,
            _ => return None,
        })
    }

    /// The wire's syncStatus values (PENDING is ours only).
    pub fn parse_wire(s: &str) -> Option<SyncStatus> {
        SyncStatus::parse(s).filter(|s| *s != SyncStatus::Pending)
    }

    pub fn is_final(self) -> bool {
        matches!(self, SyncStatus::Success | SyncStatus::Fail)
    }

    /// The one rule: forward only, final states stay. `None` when `to` changes nothing or is not
    /// allowed from here.
    pub fn transition(self, to: SyncStatus) -> Option<SyncStatus> {
        use SyncStatus::*;
        match (self, to) {
            (Pending, Processing | Success | Fail) => Some(to),
            (Processing, Success | Fail) => Some(to),
            _ => None,
        }
    }
}

/// syncFailCode of notifyBenefitSync / inquireBenefitSync (§2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailCode {
    /// The benefit failed the platform's review.
    AuditFail,
    /// The platform's internal processing failed.
    InnerProcessFail,
    /// The platform could not sync it to the super app.
    SyncClientFail,
}

impl FailCode {
    pub fn as_str(self) -> &'static str {
        match self {
            FailCode::AuditFail => "AUDIT_FAIL",
            FailCode::InnerProcessFail => "INNER_PROCESS_FAIL",
            FailCode::SyncClientFail => "SYNC_CLIENT_FAIL",
        }
    }

    pub fn parse(s: &str) -> Option<FailCode> {
        Some(match s {
            "AUDIT_FAIL" => FailCode::AuditFail,
            "INNER_PROCESS_FAIL" => FailCode::InnerProcessFail,
            "SYNC_CLIENT_FAIL" => FailCode::SyncClientFail,
            _ => return None,
        })
    }
}

/// A sync as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncView {
    pub sync_request_id: String,
    pub status: SyncStatus,
    /// syncFailCode, or the resultCode of a refused syncBenefit.
    pub fail_code: Option<String>,
    pub fail_reason: Option<String>,
    pub updated_at_ms: i64,
}

/// What the platform said about a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub status: SyncStatus,
    pub fail_code: Option<String>,
    pub fail_reason: Option<String>,
}

impl SyncReport {
    pub fn accepted() -> Self {
        SyncReport { status: SyncStatus::Processing, fail_code: None, fail_reason: None }
    }

    pub fn failed(code: &str, reason: &str) -> Self {
        SyncReport { status: SyncStatus::Fail, fail_code: Some(code.to_string()), fail_reason: Some(super::fields::clip_message(reason)) }
    }
}

#[derive(sqlx::FromRow)]
struct SyncRow {
    sync_request_id: String,
    template_id: String,
    status: String,
    fail_code: Option<String>,
    fail_reason: Option<String>,
    updated_at: i64,
}

impl SyncRow {
    fn view(self) -> Result<(String, SyncView), BenefitError> {
        let status = SyncStatus::parse(&self.status).ok_or_else(|| crate::StoreError::corrupt("benefit_syncs", format!("status {:?}", self.status)))?;
        Ok((
            self.template_id,
            SyncView { sync_request_id: self.sync_request_id, status, fail_code: self.fail_code, fail_reason: self.fail_reason, updated_at_ms: self.updated_at },
        ))
    }
}

const SYNC_COLUMNS: &str = "sync_request_id, template_id, status, fail_code, fail_reason, updated_at";

/// A sync and its template id.
pub async fn find(db: &Db, sync_request_id: &str) -> Result<Option<(String, SyncView)>, BenefitError> {
    let row: Option<SyncRow> = sqlx::query_as(&format!("SELECT {SYNC_COLUMNS} FROM benefit_syncs WHERE sync_request_id = $1"))
        .bind(sync_request_id)
        .fetch_optional(db.pool())
        .await?;
    row.map(SyncRow::view).transpose()
}

/// Every sync of a template, newest first.
pub async fn of_template(db: &Db, template_id: &str) -> Result<Vec<SyncView>, BenefitError> {
    let rows: Vec<SyncRow> = sqlx::query_as(&format!("SELECT {SYNC_COLUMNS} FROM benefit_syncs WHERE template_id = $1 ORDER BY created_at DESC, sync_request_id"))
        .bind(template_id)
        .fetch_all(db.pool())
        .await?;
    rows.into_iter().map(|r| r.view().map(|(_, v)| v)).collect()
}

/// Queues a syncBenefit of the template as it is now (the outbox sends it). Refused while an
/// earlier sync has not ended. The first sync freezes clientCode, benefitContent, benefitBudget.
pub async fn request(db: &Db, template_id: &str, now_ms: i64) -> Result<SyncView, BenefitError> {
    let mut tx = db.begin().await?;
    let locked: Option<i32> = sqlx::query_scalar(&format!("SELECT 1 FROM benefit_templates WHERE template_id = $1{}", db.for_update()))
        .bind(template_id)
        .fetch_optional(&mut *tx)
        .await?;
    locked.ok_or(BenefitError::UnknownTemplate)?;
    let template = templates::find_in(&mut tx, template_id).await?.ok_or(BenefitError::UnknownTemplate)?;
    if template.sync.as_ref().is_some_and(|s| !s.status.is_final()) {
        return Err(BenefitError::SyncInFlight);
    }
    let id = SyncRequestId::parse(&super::request_id(now_ms))?;
    sqlx::query("INSERT INTO benefit_syncs (sync_request_id, template_id, status, created_at, updated_at) VALUES ($1, $2, 'PENDING', $3, $3)")
        .bind(id.as_str())
        .bind(template_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE benefit_templates SET sync_request_id = $2, first_sync_at = COALESCE(first_sync_at, $3), updated_at = $3 WHERE template_id = $1")
        .bind(template_id)
        .bind(id.as_str())
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
    let job = NewJob::new(SEND, json!({ "sync_request_id": id.as_str() })).dedupe_key(format!("{SEND}:{id}")).max_attempts(30);
    outbox::enqueue(&mut tx, job, now_ms).await?;
    tx.commit().await?;
    Ok(SyncView { sync_request_id: id.as_str().to_string(), status: SyncStatus::Pending, fail_code: None, fail_reason: None, updated_at_ms: now_ms })
}

/// Applies what the platform said, once: returns the sync as it is now, and whether this
/// report changed it. A report that the state machine does not allow (a late PROCESSING, a
/// FAIL after SUCCESS) changes nothing. When the sync becomes PROCESSING, the inquiry job
/// that polls it until it ends is queued in the same transaction (first run after `poll_after_ms`).
pub async fn apply(db: &Db, sync_request_id: &str, report: &SyncReport, poll_after_ms: i64, now_ms: i64) -> Result<(SyncView, bool), BenefitError> {
    let mut tx = db.begin().await?;
    let changed = apply_in(&mut tx, db, sync_request_id, report, poll_after_ms, now_ms).await?;
    tx.commit().await?;
    let (_, view) = find(db, sync_request_id).await?.ok_or(BenefitError::UnknownSync)?;
    Ok((view, changed))
}

async fn apply_in(tx: &mut Tx<'_>, db: &Db, sync_request_id: &str, report: &SyncReport, poll_after_ms: i64, now_ms: i64) -> Result<bool, BenefitError> {
    let row: Option<SyncRow> = sqlx::query_as(&format!("SELECT {SYNC_COLUMNS} FROM benefit_syncs WHERE sync_request_id = $1{}", db.for_update()))
        .bind(sync_request_id)
        .fetch_optional(&mut **tx)
        .await?;
    let (_, current) = row.ok_or(BenefitError::UnknownSync)?.view()?;
    let Some(next) = current.status.transition(report.status) else { return Ok(false) };
    let (code, reason) = match next {
        SyncStatus::Fail => (report.fail_code.as_deref(), report.fail_reason.as_deref()),
        _ => (None, None),
    };
    let moved = sqlx::query("UPDATE benefit_syncs SET status = $2, fail_code = $3, fail_reason = $4, updated_at = $5 WHERE sync_request_id = $1 AND status = $6")
        .bind(sync_request_id)
        .bind(next.as_str())
        .bind(code)
        .bind(reason)
        .bind(now_ms)
        .bind(current.status.as_str())
        .execute(&mut **tx)
        .await?;
    if moved.rows_affected() != 1 {
        return Ok(false);
    }
    if next == SyncStatus::Processing {
        let job = NewJob::new(POLL, json!({ "sync_request_id": sync_request_id }))
            .dedupe_key(format!("{POLL}:{sync_request_id}"))
            .max_attempts(60)
            .run_at_ms(now_ms.saturating_add(poll_after_ms));
        outbox::enqueue(tx, job, now_ms).await?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::SyncStatus::{self, *};

    #[test]
    fn syncs_only_move_forward_and_end_once() {
        let all = [Pending, Processing, Success, Fail];
        for from in all {
            for to in all {
                let expected = match (from, to) {
                    (Pending, Processing | Success | Fail) | (Processing, Success | Fail) => Some(to),
                    _ => None,
                };
                assert_eq!(from.transition(to), expected, "{from:?} → {to:?}");
            }
        }
        assert_eq!(SyncStatus::parse_wire("PENDING"), None);
        assert_eq!(SyncStatus::parse_wire("FAIL"), Some(Fail));
    }
}
