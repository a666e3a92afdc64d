//! A VIP payment's life. Where is each rule?
//! - [`open_payment`]: one open (PENDING) payment per customer and plan — a double tap, the back
//!   button or a reload gets the same one (a partial unique index, so even concurrent taps);
//! - [`apply_report`]: what an IPN or a check at the partner says, applied once: PENDING →
//!   SUCCESS / FAILURE / CANCELLED by one conditional `UPDATE`; a FAILURE may still become
//!   SUCCESS (the partner's money is the truth), SUCCESS is final, a success for a CANCELLED
//!   payment is refused with code 6 (the partner refunds). VIP time is granted in the same
//!   transaction as the SUCCESS, so exactly once per successful payment.

use chrono::{DateTime, Months, Utc};
use serde::Serialize;

use super::{customers::Customer, Plan, TikiError, TikiTransactionId};
use crate::store::{Db, Tx};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pending,
    Success,
    Failure,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Success => "SUCCESS",
            Status::Failure => "FAILURE",
            Status::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "PENDING" => Status::Pending,
            "SUCCESS" => Status::Success,
            "FAILURE" => Status::Failure,
            "CANCELLED" => Status::Cancelled,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Payment {
    pub tiki_transaction_id: String,
    pub partner_code: String,
    pub customer_id: String,
    pub plan_code: String,
    pub amount: i64,
    pub status: Status,
    pub partner_transaction_id: Option<String>,
    pub payment_url: Option<String>,
    pub partner_banking_method: Option<String>,
    pub refunded_amount: i64,
    pub vip_granted: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    tiki_transaction_id: String,
    partner_code: String,
    customer_id: String,
    plan_code: String,
    amount: i64,
    status: String,
    partner_transaction_id: Option<String>,
    payment_url: Option<String>,
    partner_banking_method: Option<String>,
    refunded_amount: i64,
    vip_granted: crate::store::Flag,
    created_at: i64,
    updated_at: i64,
}
const COLUMNS: &str = "tiki_transaction_id, partner_code, customer_id, plan_code, amount, status, partner_transaction_id, payment_url,
    partner_banking_method, refunded_amount, vip_granted, created_at, updated_at";

fn from_row(r: Row) -> Result<Payment, crate::store::StoreError> {
    let status = Status::parse(&r.status).ok_or_else(|| crate::store::StoreError::corrupt("tikivip_transactions", format!("unknown status {:?}", r.status)))?;
    Ok(Payment {
        tiki_transaction_id: r.tiki_transaction_id,
        partner_code: r.partner_code,
        customer_id: r.customer_id,
        plan_code: r.plan_code,
        amount: r.amount,
        status,
        partner_transaction_id: r.partner_transaction_id,
        payment_url: r.payment_url,
        partner_banking_method: r.partner_banking_method,
        refunded_amount: r.refunded_amount,
        vip_granted: r.vip_granted.0,
        created_at_ms: r.created_at,
        updated_at_ms: r.updated_at,
    })
}

pub async fn find(db: &Db, tiki_transaction_id: &str) -> Result<Option<Payment>, TikiError> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM tikivip_transactions WHERE tiki_transaction_id = $1"))
        .bind(tiki_transaction_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(from_row).transpose()?)
}

/// The payment, its row locked until `tx` ends (PostgreSQL; SQLite's write transaction holds
/// the whole database already).
async fn find_locked(db: &Db, tx: &mut Tx<'_>, tiki_transaction_id: &str) -> Result<Option<Payment>, TikiError> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM tikivip_transactions WHERE tiki_transaction_id = $1{}", db.for_update()))
        .bind(tiki_transaction_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(from_row).transpose()?)
}

/// The customer's open payment for `plan`, or a new one; `true` when it was created now.
pub async fn open_payment(db: &Db, customer: &Customer, plan: &Plan, now_ms: i64) -> Result<(Payment, bool), TikiError> {
    for _ in 0..3 {
        let open: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM tikivip_transactions WHERE customer_id = $1 AND plan_code = $2 AND status = 'PENDING'"
        ))
        .bind(&customer.id)
        .bind(&plan.code)
        .fetch_optional(db.pool())
        .await?;
        if let Some(row) = open {
            return Ok((from_row(row)?, false));
        }
        let id = TikiTransactionId::new(now_ms);
        let inserted = sqlx::query(
            "INSERT INTO tikivip_transactions (tiki_transaction_id, partner_code, customer_id, plan_code, amount, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 'PENDING', $6, $6) ON CONFLICT DO NOTHING",
        )
        .bind(id.as_str())
        .bind(&customer.partner_code)
        .bind(&customer.id)
        .bind(&plan.code)
        .bind(plan.price)
        .bind(now_ms)
        .execute(db.pool())
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok((find(db, id.as_str()).await?.ok_or(TikiError::NotFound)?, true));
        }
        // another tap created it first (or, rarely, the random id was taken): look again
    }
    Err(TikiError::Invalid("could not open a payment; try again".into()))
}

/// Records the partner's transaction for a payment (its create-transaction answer).
pub async fn attach_partner_transaction(db: &Db, tiki_transaction_id: &str, partner_transaction_id: &str, payment_url: &str, now_ms: i64) -> Result<(), TikiError> {
    sqlx::query(
        "UPDATE tikivip_transactions SET partner_transaction_id = $2, payment_url = $3, updated_at = $4
         WHERE tiki_transaction_id = $1 AND (partner_transaction_id IS NULL OR partner_transaction_id = $2)",
    )
    .bind(tiki_transaction_id)
    .bind(partner_transaction_id)
    .bind(payment_url)
    .bind(now_ms)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// What the partner says about a payment (an IPN, or its check-transaction answer).
#[derive(Debug, Clone)]
pub struct Report {
    pub partner_code: String,
    pub tiki_transaction_id: String,
    pub partner_transaction_id: Option<String>,
    pub amount: Option<i64>,
    pub status: Status,
    pub banking_method: Option<String>,
}

/// What [`apply_report`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub payment: Payment,
    /// False when the report changed nothing (a duplicate, a PENDING, a late FAILURE).
    pub changed: bool,
}

fn next(current: Status, reported: Status) -> Result<Option<Status>, TikiError> {
    use Status::*;
    Ok(match (current, reported) {
        (_, Pending) => None,
        (Pending, s) => Some(s),
        (Failure, Success) => Some(Success),
        (Cancelled, Success) => return Err(TikiError::Cancelled),
        _ => None,
    })
}

/// Applies `r` once. Errors carry Tiki's IPN codes: 3 unknown, 4 another partner's, 5 wrong
/// amount, 6 cancelled, 1 the partner transaction id does not match.
pub async fn apply_report(db: &Db, plans: &[Plan], r: &Report, now_ms: i64) -> Result<Applied, TikiError> {
    let mut tx = db.begin().await?;
    // Reports on one payment take turns: the row is locked from the read to the commit.
    let p = find_locked(db, &mut tx, &r.tiki_transaction_id).await?.ok_or(TikiError::NotFound)?;
    if p.partner_code != r.partner_code {
        return Err(TikiError::OtherPartner);
    }
    if r.amount.is_some_and(|a| a != p.amount) {
        return Err(TikiError::WrongAmount);
    }
    if let (Some(given), Some(known)) = (&r.partner_transaction_id, &p.partner_transaction_id) {
        if given != known {
            return Err(TikiError::Invalid("transaction_id is not the partner transaction of this payment".into()));
        }
    }
    let Some(new) = next(p.status, r.status)? else {
        return Ok(Applied { payment: p, changed: false });
    };
    sqlx::query(
        "UPDATE tikivip_transactions SET status = $2, partner_transaction_id = COALESCE(partner_transaction_id, $3),
             partner_banking_method = COALESCE($4, partner_banking_method), updated_at = $5
         WHERE tiki_transaction_id = $1 AND status = $6",
    )
    .bind(&p.tiki_transaction_id)
    .bind(new.as_str())
    .bind(&r.partner_transaction_id)
    .bind(&r.banking_method)
    .bind(now_ms)
    .bind(p.status.as_str())
    .execute(&mut *tx)
    .await?;
    if new == Status::Success && !p.vip_granted {
        let plan = plans.iter().find(|pl| pl.code == p.plan_code).ok_or_else(|| TikiError::Invalid(format!("plan {} is no longer configured", p.plan_code)))?;
        grant_vip(&mut tx, &p, plan, now_ms).await?;
    }
    let payment = find_locked(db, &mut tx, &p.tiki_transaction_id).await?.ok_or(TikiError::NotFound)?;
    tx.commit().await?;
    Ok(Applied { payment, changed: true })
}

fn add_months(from_ms: i64, months: u32, back: bool) -> i64 {
    let at = DateTime::<Utc>::from_timestamp_millis(from_ms).unwrap_or_default();
    let moved = if back { at.checked_sub_months(Months::new(months)) } else { at.checked_add_months(Months::new(months)) };
    moved.unwrap_or(at).timestamp_millis()
}

/// Extends the customer's VIP by the plan's months, from now or from the end of the VIP time
/// already bought.
async fn grant_vip(tx: &mut Tx<'_>, p: &Payment, plan: &Plan, now_ms: i64) -> Result<(), TikiError> {
    let until: Option<i64> = sqlx::query_scalar("SELECT vip_until FROM tikivip_customers WHERE id = $1").bind(&p.customer_id).fetch_one(&mut **tx).await?;
    let from = until.filter(|u| *u > now_ms).unwrap_or(now_ms);
    sqlx::query("UPDATE tikivip_customers SET vip_plan = $2, vip_until = $3, updated_at = $4 WHERE id = $1")
        .bind(&p.customer_id)
        .bind(&plan.code)
        .bind(add_months(from, plan.months, false))
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE tikivip_transactions SET vip_granted = TRUE WHERE tiki_transaction_id = $1").bind(&p.tiki_transaction_id).execute(&mut **tx).await?;
    Ok(())
}

/// Takes back the VIP time a fully refunded payment gave.
pub(super) async fn revoke_vip(tx: &mut Tx<'_>, p: &Payment, plan_months: u32, now_ms: i64) -> Result<(), TikiError> {
    let until: Option<i64> = sqlx::query_scalar("SELECT vip_until FROM tikivip_customers WHERE id = $1").bind(&p.customer_id).fetch_one(&mut **tx).await?;
    let Some(until) = until else { return Ok(()) };
    sqlx::query("UPDATE tikivip_customers SET vip_until = $2, updated_at = $3 WHERE id = $1")
        .bind(&p.customer_id)
        .bind(add_months(until, plan_months, true).min(until))
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE tikivip_transactions SET vip_granted = FALSE WHERE tiki_transaction_id = $1").bind(&p.tiki_transaction_id).execute(&mut **tx).await?;
    Ok(())
}

/// PENDING payments older than `min_age_ms` not checked in the last `every_ms`: the pending
/// check's work list. Marks them checked now, so two checkers do not take the same ones.
pub async fn take_due_for_check(db: &Db, min_age_ms: i64, every_ms: i64, limit: i64, now_ms: i64) -> Result<Vec<Payment>, TikiError> {
    // The outer WHERE repeats the condition: a row another checker took meanwhile no longer
    // matches (PostgreSQL re-checks it on the locked row), so no payment is taken twice.
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "UPDATE tikivip_transactions SET checked_at = $1
         WHERE tiki_transaction_id IN (
             SELECT tiki_transaction_id FROM tikivip_transactions
             WHERE status = 'PENDING' AND created_at <= $2 AND COALESCE(checked_at, 0) <= $3
             ORDER BY created_at LIMIT $4{skip})
           AND status = 'PENDING' AND COALESCE(checked_at, 0) <= $3
         RETURNING {COLUMNS}",
        skip = db.skip_locked()
    ))
    .bind(now_ms)
    .bind(now_ms - min_age_ms)
    .bind(now_ms - every_ms)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(from_row).collect::<Result<_, _>>()?)
}

/// A partner's payments created in `[from_ms, to_ms)`, oldest first (reconciliation).
pub async fn created_between(db: &Db, partner_code: &str, from_ms: i64, to_ms: i64) -> Result<Vec<Payment>, TikiError> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tikivip_transactions WHERE partner_code = $1 AND created_at >= $2 AND created_at < $3 ORDER BY created_at, tiki_transaction_id"
    ))
    .bind(partner_code)
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Claims the right to check one PENDING payment at the partner now: true at most once per
/// `every_ms` (the result page asks while the customer waits; this keeps it to one call).
pub async fn claim_check(db: &Db, tiki_transaction_id: &str, every_ms: i64, now_ms: i64) -> Result<bool, TikiError> {
    let claimed = sqlx::query(
        "UPDATE tikivip_transactions SET checked_at = $2
         WHERE tiki_transaction_id = $1 AND status = 'PENDING' AND COALESCE(checked_at, 0) <= $3",
    )
    .bind(tiki_transaction_id)
    .bind(now_ms)
    .bind(now_ms - every_ms)
    .execute(db.pool())
    .await?;
    Ok(claimed.rows_affected() == 1)
}
