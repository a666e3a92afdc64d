//! The partner side of the contract, as the platform calls it (README, "Tiki VIP: the partner
//! contract"): create a transaction, check one, refund one — each a signed HTTP call made by
//! the server (`server::tikivip_partner`); this trait keeps the rules here free of HTTP. And
//! the three flows that use it: [`checkout`], [`check_pending`], [`send_refund`].

use std::{future::Future, pin::Pin};

use super::{
    customers::Customer,
    partners::{self, OpenMode, Partner},
    payments::{self, Payment, Report, Status},
    refunds, Plan, TikiError,
};
use crate::store::Db;

pub type CallFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, CallError>> + Send + 'a>>;

/// Why a call to the partner did not give an answer we can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No answer, a timeout, a 5xx, code 2: worth trying again.
    #[error("the partner did not answer: {0}")]
    Unavailable(String),
    /// The partner answered with a refusal (`code` ≠ 0, or a refund's HTTP 500).
    #[error("the partner refused: code {code}: {message}")]
    Refused { code: i64, message: String },
}

#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub tiki_transaction_id: String,
    pub amount: i64,
    pub description: String,
    pub identify_code: String,
    pub return_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub transaction_id: String,
    pub payment_url: String,
    pub deeplink: Option<String>,
}

/// A check-transaction answer; `None` from [`PartnerApi::check`] is code 3 (unknown there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub transaction_id: String,
    pub status: Status,
    pub amount: i64,
    pub banking_method: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RefundRequest {
    pub tiki_transaction_id: String,
    pub transaction_id: String,
    pub amount: i64,
    pub reason: String,
    pub request_id: String,
}

pub trait PartnerApi: Send + Sync {
    fn create<'a>(&'a self, partner: &'a Partner, req: &'a CreateRequest) -> CallFuture<'a, Created>;
    fn check<'a>(&'a self, partner: &'a Partner, tiki_transaction_id: &'a str) -> CallFuture<'a, Option<Checked>>;
    fn refund<'a>(&'a self, partner: &'a Partner, req: &'a RefundRequest) -> CallFuture<'a, ()>;
}

/// Where the webview sends the customer to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    pub payment: Payment,
    pub open_url: String,
}

/// The customer chose `plan`: their open payment for it (created, and created at the partner,
/// if need be) and where to pay it. A double tap or a reload gets the same payment and URL.
pub async fn checkout(db: &Db, api: &dyn PartnerApi, customer: &Customer, plan: &Plan, return_url: &str, now_ms: i64) -> Result<Checkout, CheckoutError> {
    let partner = partners::by_code(db, &customer.partner_code).await?.ok_or(TikiError::NotFound)?;
    let (payment, _) = payments::open_payment(db, customer, plan, now_ms).await?;
    let created = match (&payment.partner_transaction_id, &payment.payment_url) {
        (Some(id), Some(url)) => Created { transaction_id: id.clone(), payment_url: url.clone(), deeplink: None },
        _ => {
            let req = CreateRequest {
                tiki_transaction_id: payment.tiki_transaction_id.clone(),
                amount: payment.amount,
                description: format!("Tiki {}", plan.name_en),
                identify_code: customer.identify_code.clone(),
                return_url: return_url.to_string(),
            };
            // the partner is idempotent on tiki_transaction_id: a retry after a lost answer is safe
            let created = api.create(&partner, &req).await.map_err(CheckoutError::Partner)?;
            payments::attach_partner_transaction(db, &payment.tiki_transaction_id, &created.transaction_id, &created.payment_url, now_ms).await?;
            created
        }
    };
    let open_url = match (partner.open_mode, &created.deeplink) {
        (OpenMode::Deeplink, Some(link)) => link.clone(),
        _ => created.payment_url.clone(),
    };
    let payment = payments::find(db, &payment.tiki_transaction_id).await?.ok_or(TikiError::NotFound)?;
    Ok(Checkout { payment, open_url })
}

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error(transparent)]
    Tiki(#[from] TikiError),
    #[error(transparent)]
    Partner(CallError),
}

impl From<crate::StoreError> for CheckoutError {
    fn from(e: crate::StoreError) -> Self {
        CheckoutError::Tiki(e.into())
    }
}

/// How the pending check treats a payment the partner does not settle.
#[derive(Debug, Clone, Copy)]
pub struct PendingPolicy {
    /// Checked only once this old (the IPN usually comes first).
    pub check_after_ms: i64,
    /// Then at most this often.
    pub check_every_ms: i64,
    /// Unknown at the partner this long after creation (never created there): cancelled.
    pub unknown_cancel_after_ms: i64,
    /// Still PENDING at the partner this long after creation: cancelled (a later success is
    /// answered with code 6, and the partner refunds).
    pub pending_cancel_after_ms: i64,
}

impl Default for PendingPolicy {
    fn default() -> Self {
        Self { check_after_ms: 60_000, check_every_ms: 30_000, unknown_cancel_after_ms: 30 * 60_000, pending_cancel_after_ms: 24 * 3_600_000 }
    }
}

/// Asks the partner about one payment and applies its answer; returns the payment as it is now.
pub async fn check_one(db: &Db, api: &dyn PartnerApi, plans: &[Plan], policy: &PendingPolicy, p: &Payment, now_ms: i64) -> Result<Payment, CheckError> {
    let partner = partners::by_code(db, &p.partner_code).await?.ok_or(TikiError::NotFound)?;
    let age = now_ms - p.created_at_ms;
    let status = match api.check(&partner, &p.tiki_transaction_id).await.map_err(CheckError::Partner)? {
        Some(c) if c.amount != p.amount => return Err(CheckError::Tiki(TikiError::WrongAmount)),
        Some(c) => {
            let status = if c.status == Status::Pending && age > policy.pending_cancel_after_ms { Status::Cancelled } else { c.status };
            let report = Report {
                partner_code: p.partner_code.clone(),
                tiki_transaction_id: p.tiki_transaction_id.clone(),
                partner_transaction_id: Some(c.transaction_id),
                amount: Some(c.amount),
                status,
                banking_method: c.banking_method,
            };
            return Ok(payments::apply_report(db, plans, &report, now_ms).await?.payment);
        }
        None if age > policy.unknown_cancel_after_ms => Status::Cancelled,
        None => Status::Pending,
    };
    let report = Report { partner_code: p.partner_code.clone(), tiki_transaction_id: p.tiki_transaction_id.clone(), partner_transaction_id: None, amount: None, status, banking_method: None };
    Ok(payments::apply_report(db, plans, &report, now_ms).await?.payment)
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Tiki(#[from] TikiError),
    #[error(transparent)]
    Partner(CallError),
}

/// One round of the pending check: every PENDING payment due for a look (a few hundred at a
/// time). Returns how many changed.
pub async fn check_pending(db: &Db, api: &dyn PartnerApi, plans: &[Plan], policy: &PendingPolicy, now_ms: i64) -> Result<usize, TikiError> {
    let due = payments::take_due_for_check(db, policy.check_after_ms, policy.check_every_ms, 200, now_ms).await?;
    let mut changed = 0;
    for p in due {
        match check_one(db, api, plans, policy, &p, now_ms).await {
            Ok(now) if now.status != Status::Pending => changed += 1,
            Ok(_) => {}
            Err(e) => tracing::warn!(payment = %p.tiki_transaction_id, error = %e, "pending check: asking the partner failed; asked again later"),
        }
    }
    Ok(changed)
}

/// What sending a refund came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    Done,
    /// Try again later (the partner was unavailable or refused; its refusal may be temporary).
    Retry(String),
}

/// Sends refund `request_id` to the partner (idempotent there on request_id) and settles it on
/// success; on the last attempt, a refusal settles it as FAILED.
pub async fn send_refund(db: &Db, api: &dyn PartnerApi, plans: &[Plan], request_id: &str, last_attempt: bool, now_ms: i64) -> Result<RefundOutcome, TikiError> {
    let refund = refunds::find(db, request_id).await?.ok_or(TikiError::NotFound)?;
    if refund.status != refunds::RefundStatus::Pending {
        return Ok(RefundOutcome::Done);
    }
    let payment = payments::find(db, &refund.tiki_transaction_id).await?.ok_or(TikiError::NotFound)?;
    let partner = partners::by_code(db, &payment.partner_code).await?.ok_or(TikiError::NotFound)?;
    let req = RefundRequest {
        tiki_transaction_id: payment.tiki_transaction_id.clone(),
        transaction_id: payment.partner_transaction_id.clone().unwrap_or_default(),
        amount: refund.amount,
        reason: refund.reason.clone(),
        request_id: refund.request_id.clone(),
    };
    match api.refund(&partner, &req).await {
        Ok(()) => {
            refunds::settle(db, plans, request_id, true, now_ms).await?;
            Ok(RefundOutcome::Done)
        }
        Err(e) if last_attempt => {
            refunds::settle(db, plans, request_id, false, now_ms).await?;
            tracing::warn!(refund = request_id, error = %e, "refund failed for good");
            Ok(RefundOutcome::Done)
        }
        Err(e) => Ok(RefundOutcome::Retry(e.to_string())),
    }
}
