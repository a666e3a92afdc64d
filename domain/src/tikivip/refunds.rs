//! Refunds of VIP payments, partial or full, requested by an operator and sent to the partner by
//! the outbox (job [`SEND`]), idempotent on `request_id` both here and at the partner.
//!
//! Where is each rule? [`request`]: never more than what was paid minus what is refunded or
//! being refunded — one conditional `INSERT`, so two operators at once cannot over-refund.
//! [`settle`]: the partner's answer, applied once; the refund that completes the full amount
//! takes back the VIP time the payment gave.

use serde::Serialize;
use serde_json::json;

use super::{payments, Plan, TikiError};
use crate::{
    outbox::{self, NewJob},
    store::{Db, StoreError},
};

/// The outbox job that sends one refund to the partner.
pub const SEND: &str = "tikivip.refund";

/// PENDING (queued or being sent) → SUCCESS | FAILED (the partner refused it for good), once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RefundStatus {
    Pending,
    Success,
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "PENDING",
            RefundStatus::Success => "SUCCESS",
            RefundStatus::Failed => "FAILED",
        }
    }

    fn parse(s: &str) -> Result<RefundStatus, StoreError> {
        [RefundStatus::Pending, RefundStatus::Success, RefundStatus::Failed]
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| StoreError::corrupt("tikivip_refunds", format!("unknown status {s:?}")))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refund {
    pub request_id: String,
    pub tiki_transaction_id: String,
    pub amount: i64,
    pub reason: String,
    pub status: RefundStatus,
    pub created_at_ms: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    request_id: String,
    tiki_transaction_id: String,
    amount: i64,
    reason: String,
    status: String,
    created_at: i64,
}
const COLUMNS: &str = "request_id, tiki_transaction_id, amount, reason, status, created_at";

fn from_row(r: Row) -> Result<Refund, StoreError> {
    Ok(Refund {
        request_id: r.request_id,
        tiki_transaction_id: r.tiki_transaction_id,
        amount: r.amount,
        reason: r.reason,
        status: RefundStatus::parse(&r.status)?,
        created_at_ms: r.created_at,
    })
}

/// A fresh idempotency key for a refund form or command.
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub async fn find(db: &Db, request_id: &str) -> Result<Option<Refund>, TikiError> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM tikivip_refunds WHERE request_id = $1")).bind(request_id).fetch_optional(db.pool()).await?;
    Ok(row.map(from_row).transpose()?)
}

pub async fn of_payment(db: &Db, tiki_transaction_id: &str) -> Result<Vec<Refund>, TikiError> {
    let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM tikivip_refunds WHERE tiki_transaction_id = $1 ORDER BY created_at"))
        .bind(tiki_transaction_id)
        .fetch_all(db.pool())
        .await?;
    Ok(rows.into_iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Queues a refund of `amount` (VND) of a successful payment. The same `request_id` again is
/// the same refund (`true`: it already existed); with other fields it is refused.
pub async fn request(db: &Db, tiki_transaction_id: &str, amount: i64, reason: &str, request_id: &str, now_ms: i64) -> Result<(Refund, bool), TikiError> {
    let reason = reason.trim();
    if amount <= 0 || reason.is_empty() || request_id.trim().is_empty() || request_id.len() > 64 {
        return Err(TikiError::Invalid("a refund needs a positive amount, a reason and a request_id (1 to 64 characters)".into()));
    }
    if let Some(existing) = find(db, request_id).await? {
        if existing.tiki_transaction_id == tiki_transaction_id && existing.amount == amount {
            return Ok((existing, true));
        }
        return Err(TikiError::Invalid("this request_id was used for another refund".into()));
    }
    let payment = payments::find(db, tiki_transaction_id).await?.ok_or(TikiError::NotFound)?;
    if payment.status != payments::Status::Success {
        return Err(TikiError::Invalid(format!("only a successful payment can be refunded; this one is {}", payment.status.as_str())));
    }
    let mut tx = db.begin().await?;
    // Refund requests of one payment take turns (the row lock), so two cannot both fit.
    sqlx::query(&format!("SELECT 1 FROM tikivip_transactions WHERE tiki_transaction_id = $1{}", db.for_update()))
        .bind(tiki_transaction_id)
        .fetch_optional(&mut *tx)
        .await?;
    let inserted = sqlx::query(
        "INSERT INTO tikivip_refunds (request_id, tiki_transaction_id, amount, reason, status, created_at, updated_at)
         SELECT $1, $2, $3, $4, 'PENDING', $5, $5
         WHERE (SELECT amount - refunded_amount FROM tikivip_transactions WHERE tiki_transaction_id = $2)
             - (SELECT COALESCE(SUM(amount), 0) FROM tikivip_refunds WHERE tiki_transaction_id = $2 AND status = 'PENDING') >= $3
         ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(request_id)
    .bind(tiki_transaction_id)
    .bind(amount)
    .bind(reason)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(TikiError::Invalid("the refund is more than what was paid and not yet refunded".into()));
    }
    let job = NewJob::new(SEND, json!({ "request_id": request_id })).dedupe_key(format!("tikivip-refund:{request_id}")).max_attempts(12);
    outbox::enqueue(&mut tx, job, now_ms).await?;
    tx.commit().await?;
    Ok((find(db, request_id).await?.ok_or(TikiError::NotFound)?, false))
}

/// The partner's final answer to a refund: applied once. Success adds it to the payment's
/// refunded amount (and, when that reaches the full amount, takes the VIP time back).
pub async fn settle(db: &Db, plans: &[Plan], request_id: &str, succeeded: bool, now_ms: i64) -> Result<(), TikiError> {
    let mut tx = db.begin().await?;
    let done: Option<(String, i64)> = sqlx::query_as(
        "UPDATE tikivip_refunds SET status = $2, updated_at = $3 WHERE request_id = $1 AND status = 'PENDING' RETURNING tiki_transaction_id, amount",
    )
    .bind(request_id)
    .bind(if succeeded { RefundStatus::Success } else { RefundStatus::Failed }.as_str())
    .bind(now_ms)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((tiki_transaction_id, amount)) = done else {
        return Ok(()); // settled before
    };
    if succeeded {
        let full: crate::store::Flag = sqlx::query_scalar(
            "UPDATE tikivip_transactions SET refunded_amount = refunded_amount + $2, updated_at = $3
             WHERE tiki_transaction_id = $1 RETURNING refunded_amount = amount",
        )
        .bind(&tiki_transaction_id)
        .bind(amount)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await?;
        if full.0 {
            let payment = payments::find(db, &tiki_transaction_id).await?.ok_or(TikiError::NotFound)?;
            if payment.vip_granted {
                let months = plans.iter().find(|p| p.code == payment.plan_code).map(|p| p.months).unwrap_or(0);
                payments::revoke_vip(&mut tx, &payment, months, now_ms).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}
