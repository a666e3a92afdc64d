//! issueBenefit, reverseBenefitIssue and inquireBenefitIssue (Flow 2 of the seed), the rules
//! behind the ISV APIs the platform calls. Where is each rule?
//! - [`issue`]: idempotent by benefitIssueRequestId with no time limit (the first statement
//!   inserts the request's row; a second request with that id finds it and gets the same
//!   benefits back, or [`BenefitError::RequestIdConflict`] when userId, template, quantity or
//!   clientCode differ); all or nothing for any quantity; the budget taken by one conditional
//!   `UPDATE … WHERE budget_left >= quantity` in the same transaction, so it is never
//!   over-issued under any concurrency, on either database;
//! - [`reverse`]: idempotent by benefitIssueRequestId; every benefit of the issue ACTIVATED →
//!   REVERSED (all or nothing: a USED one refuses the reversal) and the budget given back; an id
//!   never seen is reversed successfully and leaves a tombstone, so its late issue is refused
//!   (the seed: after failed retries "the reversal must be successful");
//! - [`inquire`]: the issue's benefits as they are now; a tombstone is not an issuing record.

use serde::Serialize;

use super::{
    fields::{ClientCode, IssueRequestId, Quantity, TemplateId, UserId},
    instances::{self, Credentials, Instance, Status, Target, UseRecord},
    templates, BenefitError,
};
use crate::store::Db;

/// An issueBenefit request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRequest {
    pub issue_request_id: IssueRequestId,
    pub user_id: UserId,
    pub template_id: TemplateId,
    pub client_code: ClientCode,
    pub quantity: Quantity,
}

/// What an issue answers: the benefits, and whether they were issued before (a retry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issued {
    pub instances: Vec<Instance>,
    pub replayed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IssueState {
    Issued,
    Reversed,
    Tombstone,
}

impl IssueState {
    fn parse(s: &str) -> Result<IssueState, BenefitError> {
        match s {
            "ISSUED" => Ok(IssueState::Issued),
            "REVERSED" => Ok(IssueState::Reversed),
            "TOMBSTONE" => Ok(IssueState::Tombstone),
            other => Err(crate::StoreError::corrupt("benefit_issues", format!("state {other:?}")).into()),
        }
    }
}

#[derive(sqlx::FromRow)]
struct IssueRow {
    template_id: Option<String>,
    user_id: Option<String>,
    client_code: Option<String>,
    quantity: Option<i64>,
    state: String,
}

impl IssueRow {
    fn same_request(&self, r: &IssueRequest) -> bool {
        self.template_id.as_deref() == Some(r.template_id.as_str())
            && self.user_id.as_deref() == Some(r.user_id.as_str())
            && self.client_code.as_deref() == Some(r.client_code.as_str())
            && self.quantity == Some(r.quantity.get())
    }
}

const ISSUE_COLUMNS: &str = "template_id, user_id, client_code, quantity, state";

/// Issues `r.quantity` benefits of `r.template_id` to `r.user_id` for platform `client_id`.
pub async fn issue(db: &Db, client_id: &str, r: &IssueRequest, now_ms: i64) -> Result<Issued, BenefitError> {
    let mut tx = db.begin().await?;
    // The idempotency key first: a concurrent request with the same id waits here for this one.
    let inserted = sqlx::query(
        "INSERT INTO benefit_issues (client_id, issue_request_id, template_id, user_id, client_code, quantity, state, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'ISSUED', $7, $7) ON CONFLICT DO NOTHING",
    )
    .bind(client_id)
    .bind(r.issue_request_id.as_str())
    .bind(r.template_id.as_str())
    .bind(r.user_id.as_str())
    .bind(r.client_code.as_str())
    .bind(r.quantity.get())
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        let row: IssueRow = sqlx::query_as(&format!("SELECT {ISSUE_COLUMNS} FROM benefit_issues WHERE client_id = $1 AND issue_request_id = $2"))
            .bind(client_id)
            .bind(r.issue_request_id.as_str())
            .fetch_one(&mut *tx)
            .await?;
        return match IssueState::parse(&row.state)? {
            IssueState::Reversed | IssueState::Tombstone => Err(BenefitError::IssueReversed),
            IssueState::Issued if !row.same_request(r) => Err(BenefitError::RequestIdConflict),
            IssueState::Issued => {
                let instances = instances::of_issue_in(&mut tx, client_id, r.issue_request_id.as_str()).await?;
                tx.rollback().await?;
                Ok(Issued { instances, replayed: true })
            }
        };
    }
    let template = templates::find_in(&mut tx, r.template_id.as_str()).await?.filter(|t| t.client_id == client_id).ok_or(BenefitError::UnknownTemplate)?;
    if !template.client_codes.iter().any(|c| c == r.client_code.as_str()) {
        return Err(BenefitError::ClientCodeNotAllowed(r.client_code.to_string()));
    }
    if !template.collectable() {
        return Err(BenefitError::NotSynced);
    }
    if now_ms < template.begin_at_ms {
        return Err(BenefitError::NotStarted);
    }
    if now_ms >= template.end_at_ms {
        return Err(BenefitError::Ended);
    }
    let expire_at = template.validity.expire_at(now_ms);
    if expire_at <= now_ms {
        return Err(BenefitError::Expired);
    }
    let q = r.quantity.get();
    let taken = sqlx::query("UPDATE benefit_templates SET budget_left = budget_left - $2, updated_at = $3 WHERE template_id = $1 AND budget_left >= $2")
        .bind(r.template_id.as_str())
        .bind(q)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
    if taken.rows_affected() != 1 {
        return Err(BenefitError::BudgetExhausted(q));
    }
    for seq in 0..q {
        let mut placed = false;
        for _ in 0..5 {
            let credentials = Credentials::generate(template.credential, template.url_base.as_deref());
            let id = instances::new_instance_id();
            if instances::insert(&mut tx, &id, client_id, r.issue_request_id.as_str(), seq, r.template_id.as_str(), r.user_id.as_str(), r.client_code.as_str(), &credentials, now_ms, expire_at).await? {
                placed = true;
                break;
            }
        }
        if !placed {
            return Err(BenefitError::Invalid("could not draw an unused benefit code".into()));
        }
    }
    let instances = instances::of_issue_in(&mut tx, client_id, r.issue_request_id.as_str()).await?;
    tx.commit().await?;
    Ok(Issued { instances, replayed: false })
}

/// A reverseBenefitIssue request. Beside the id, the fields the platform may repeat from the
/// issue; when given, they must match it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReverseRequest {
    pub issue_request_id: IssueRequestId,
    pub user_id: Option<UserId>,
    pub template_id: Option<TemplateId>,
    pub client_code: Option<ClientCode>,
}

/// What a reversal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reversal {
    /// The issue's benefits are now REVERSED and the budget is back.
    Reversed,
    /// Reversed before (the same answer again).
    AlreadyReversed,
    /// The id was never issued: a tombstone now refuses its late issue.
    Tombstone,
}

/// Reverses the issue `r.issue_request_id` of platform `client_id` (see the module header).
pub async fn reverse(db: &Db, client_id: &str, r: &ReverseRequest, now_ms: i64) -> Result<Reversal, BenefitError> {
    for _ in 0..2 {
        let mut tx = db.begin().await?;
        let row: Option<IssueRow> =
            sqlx::query_as(&format!("SELECT {ISSUE_COLUMNS} FROM benefit_issues WHERE client_id = $1 AND issue_request_id = $2{}", db.for_update()))
                .bind(client_id)
                .bind(r.issue_request_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(row) = row else {
            let inserted = sqlx::query(
                "INSERT INTO benefit_issues (client_id, issue_request_id, template_id, user_id, client_code, state, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, 'TOMBSTONE', $6, $6) ON CONFLICT DO NOTHING",
            )
            .bind(client_id)
            .bind(r.issue_request_id.as_str())
            .bind(r.template_id.as_ref().map(TemplateId::as_str))
            .bind(r.user_id.as_ref().map(UserId::as_str))
            .bind(r.client_code.as_ref().map(ClientCode::as_str))
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 1 {
                tx.commit().await?;
                return Ok(Reversal::Tombstone);
            }
            // The issue with this id committed meanwhile: reverse it.
            tx.rollback().await?;
            continue;
        };
        // A field the reversal repeats must be the issue's (a tombstone may not know them).
        let differs = |given: Option<&str>, stored: Option<&str>| matches!((given, stored), (Some(g), Some(s)) if g != s);
        if differs(r.template_id.as_ref().map(TemplateId::as_str), row.template_id.as_deref())
            || differs(r.user_id.as_ref().map(UserId::as_str), row.user_id.as_deref())
            || differs(r.client_code.as_ref().map(ClientCode::as_str), row.client_code.as_deref())
        {
            return Err(BenefitError::RequestIdConflict);
        }
        if IssueState::parse(&row.state)? != IssueState::Issued {
            return Ok(Reversal::AlreadyReversed);
        }
        let quantity = row.quantity.ok_or_else(|| crate::StoreError::corrupt("benefit_issues", "an issued row without quantity"))?;
        let template_id = row.template_id.ok_or_else(|| crate::StoreError::corrupt("benefit_issues", "an issued row without template"))?;
        let target = Target::Issue { client_id, issue_request_id: r.issue_request_id.as_str() };
        let moved = instances::transition(&mut tx, target, Status::Reversed, &UseRecord::default(), now_ms).await?;
        if moved != quantity as u64 {
            // Some benefit is USED or EXPIRED: nothing is reversed.
            let blocking = instances::of_issue_in(&mut tx, client_id, r.issue_request_id.as_str())
                .await?
                .into_iter()
                .map(|i| i.status)
                .find(|s| *s != Status::Activated && *s != Status::Reversed)
                .unwrap_or(Status::Used);
            tx.rollback().await?;
            return Err(BenefitError::NotReversible(blocking.as_str()));
        }
        let restored = sqlx::query(
            "UPDATE benefit_templates SET budget_left = budget_left + $2, updated_at = $3 WHERE template_id = $1 AND budget_left + $2 <= budget_total",
        )
        .bind(&template_id)
        .bind(quantity)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        if restored.rows_affected() != 1 {
            return Err(crate::StoreError::corrupt("benefit_templates", format!("{template_id}: giving back {quantity} would exceed the budget")).into());
        }
        sqlx::query("UPDATE benefit_issues SET state = 'REVERSED', updated_at = $3 WHERE client_id = $1 AND issue_request_id = $2 AND state = 'ISSUED'")
            .bind(client_id)
            .bind(r.issue_request_id.as_str())
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        return Ok(Reversal::Reversed);
    }
    Err(BenefitError::Invalid("the reversal raced with its issue twice; try again".into()))
}

/// The benefits issued under an id, as they are now (REVERSED after a reversal);
/// [`BenefitError::UnknownIssue`] when there is no issuing record (never seen, or a tombstone).
pub async fn inquire(db: &Db, client_id: &str, issue_request_id: &IssueRequestId) -> Result<Vec<Instance>, BenefitError> {
    let state: Option<String> = sqlx::query_scalar("SELECT state FROM benefit_issues WHERE client_id = $1 AND issue_request_id = $2")
        .bind(client_id)
        .bind(issue_request_id.as_str())
        .fetch_optional(db.pool())
        .await?;
    match state.as_deref().map(IssueState::parse).transpose()? {
        None | Some(IssueState::Tombstone) => Err(BenefitError::UnknownIssue),
        Some(IssueState::Issued | IssueState::Reversed) => instances::of_issue(db, client_id, issue_request_id.as_str()).await,
    }
}
