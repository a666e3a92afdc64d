//! Point APIs (counterparts.md §1.6, §1.7): accrual, redemption and transaction lookup on the
//! SkyPoint ledger. The rules (idempotency, no overdraft) are in `domain::ledger::post`; the
//! points a purchase earns come from the partner's earning rule (configuration).

use axum::{extract::State, http::StatusCode, response::Response};
use domain::{
    identity::{members::{self, Member}, SkyJoyId},
    ledger::{self, sign, Kind, LedgerError, Posting, Reference},
};
use serde::{Deserialize, Serialize};

use super::{success, Body, Partner, SkyJoyError};
use crate::http::AppState;

pub(super) fn ledger_error(e: LedgerError) -> SkyJoyError {
    match e {
        LedgerError::InsufficientBalance => SkyJoyError::bad_request("INSUFFICIENT_BALANCE", e.to_string()),
        LedgerError::DuplicateTransaction => SkyJoyError::bad_request("DUPLICATE_TRANSACTION", e.to_string()),
        LedgerError::Invalid(m) => SkyJoyError::bad_request("BAD_REQUEST", m),
        LedgerError::HoldNotFound => SkyJoyError::new(StatusCode::NOT_FOUND, "LOCK_NOT_FOUND", e.to_string()),
        LedgerError::HoldNotActive(_) => SkyJoyError::new(StatusCode::CONFLICT, "LOCK_NOT_ACTIVE", e.to_string()),
        LedgerError::Store(s) => SkyJoyError::internal(s),
    }
}

pub(super) async fn member_of(state: &AppState, skyjoy_id: &Option<String>) -> Result<Member, SkyJoyError> {
    let raw = skyjoy_id.as_deref().filter(|s| !s.is_empty()).ok_or_else(|| SkyJoyError::bad_request("INVALID_SKYJOY_ID", "skyjoyId is required"))?;
    let id = SkyJoyId::parse(raw)?;
    members::find_by_skyjoy_id(&state.idp.db, &id).await.map_err(SkyJoyError::internal)?.ok_or_else(SkyJoyError::member_not_found)
}

pub(super) fn transaction_id(value: &Option<String>) -> Result<String, SkyJoyError> {
    match value.as_deref().map(str::trim) {
        Some(t) if !t.is_empty() && t.len() <= 64 => Ok(t.to_string()),
        _ => Err(SkyJoyError::bad_request("INVALID_TRANSACTION_ID", "transactionId is required (1 to 64 characters)")),
    }
}

pub(super) fn transaction_date(value: &Option<serde_json::Value>) -> Result<i64, SkyJoyError> {
    value
        .as_ref()
        .and_then(domain::clock::parse_wire_time)
        .ok_or_else(|| SkyJoyError::bad_request("INVALID_TRANSACTION_DATE", "transactionDate is required: Unix milliseconds or RFC 3339"))
}

pub(super) fn amount(value: Option<i64>) -> Result<i64, SkyJoyError> {
    value.filter(|a| *a >= 0).ok_or_else(|| SkyJoyError::bad_request("INVALID_TRANSACTION_AMOUNT", "transactionAmount is required and must not be negative"))
}

/// The fields every point posting carries (accrual, redemption, redemption with token).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionFields {
    skyjoy_id: Option<String>,
    transaction_id: Option<String>,
    transaction_date: Option<serde_json::Value>,
    transaction_amount: Option<i64>,
}

/// [`TransactionFields`] checked, in SkyJoy's order and with its codes.
struct Checked {
    member: Member,
    transaction_id: String,
    amount: i64,
}

impl TransactionFields {
    async fn check(&self, state: &AppState) -> Result<Checked, SkyJoyError> {
        let member = member_of(state, &self.skyjoy_id).await?;
        let transaction_id = transaction_id(&self.transaction_id)?;
        transaction_date(&self.transaction_date)?;
        let amount = amount(self.transaction_amount)?;
        Ok(Checked { member, transaction_id, amount })
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PointResult {
    request_id: String,
    transaction_id: String,
    bit_reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    point: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    used_point: Option<i64>,
    old_balance: i64,
    new_balance: i64,
    timestamp: String,
}

pub(super) fn result(e: &ledger::Entry, accrual: bool) -> PointResult {
    PointResult {
        request_id: uuid::Uuid::new_v4().to_string(),
        transaction_id: e.transaction_id.clone(),
        bit_reference: e.bit_reference.clone(),
        point: accrual.then_some(e.points),
        used_point: (!accrual).then_some(-e.points),
        old_balance: e.balance_after - e.points,
        new_balance: e.balance_after,
        timestamp: domain::clock::iso_utc(domain::now_ms()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccrualRequest {
    #[serde(flatten)]
    txn: TransactionFields,
    transaction_currency: Option<String>,
    // itemId, transactionDes and extraData are the partner's own records: accepted, not stored.
}

/// `POST /api-point/partner/v1/point-accrual`: earns the points the partner's earning rule gives
/// for `transactionAmount` (VND). Idempotent by `transactionId`.
pub async fn accrual(State(state): State<AppState>, partner: Partner, Body(req): Body<AccrualRequest>) -> Result<Response, SkyJoyError> {
    partner.require("point:earn")?;
    let Checked { member, transaction_id, amount } = req.txn.check(&state).await?;
    let currency = req.transaction_currency.clone().unwrap_or_else(|| "VND".into());
    if currency != "VND" {
        return Err(SkyJoyError::bad_request("INVALID_CURRENCY", "transactionCurrency must be VND"));
    }
    let points = state.earning.for_partner(&partner.client_id).points_for(amount);
    if points == 0 {
        return Err(SkyJoyError::bad_request("NO_POINTS_EARNED", "transactionAmount is below what earns one point"));
    }
    let posting = Posting {
        client_id: partner.client_id.clone(),
        transaction_id,
        member_id: member.id.clone(),
        kind: Kind::Accrual,
        points,
        amount: Some(amount),
        currency: Some(currency),
    };
    let posted = ledger::post(&state.idp.db, &posting, domain::now_ms()).await.map_err(ledger_error)?;
    state.worker.wake();
    Ok(success(result(&posted.entry, true)))
}

fn used_point(value: Option<i64>) -> Result<i64, SkyJoyError> {
    value.filter(|p| *p > 0).ok_or_else(|| SkyJoyError::bad_request("INVALID_USED_POINT", "usedPoint is required and must be positive"))
}

/// Posts the redemption (never more than the available balance; idempotent by transactionId).
async fn spend(state: &AppState, partner: &Partner, member: &Member, transaction_id: String, amount: i64, used: i64) -> Result<Response, SkyJoyError> {
    let posting = Posting {
        client_id: partner.client_id.clone(),
        transaction_id,
        member_id: member.id.clone(),
        kind: Kind::Redemption,
        points: -used,
        amount: Some(amount),
        currency: Some("VND".into()),
    };
    let posted = ledger::post(&state.idp.db, &posting, domain::now_ms()).await.map_err(ledger_error)?;
    state.worker.wake();
    Ok(success(result(&posted.entry, false)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedemptionRequest {
    #[serde(flatten)]
    txn: TransactionFields,
    used_point: Option<i64>,
    // transactionDes, product and config: accepted, not stored.
}

/// `POST /api-point/partner/v1/point-redemption`: spends `usedPoint`, never more than the
/// available balance. Idempotent by `transactionId`.
pub async fn redemption(State(state): State<AppState>, partner: Partner, Body(req): Body<RedemptionRequest>) -> Result<Response, SkyJoyError> {
    partner.require("point:redeem")?;
    let Checked { member, transaction_id, amount } = req.txn.check(&state).await?;
    let used = used_point(req.used_point)?;
    spend(&state, &partner, &member, transaction_id, amount, used).await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedemptionWithTokenRequest {
    #[serde(flatten)]
    txn: TransactionFields,
    used_point: Option<i64>,
    sign: Option<String>,
}

/// `POST /api-point/partner/v1/point-redemption-with-token`: a redemption the member confirmed
/// on our page (`/account/redeem`), proven by `sign`; every field must equal what the member
/// confirmed, for this partner, within 30 minutes (`INVALID_SIGN` otherwise).
pub async fn redemption_with_token(
    State(state): State<AppState>,
    partner: Partner,
    Body(req): Body<RedemptionWithTokenRequest>,
) -> Result<Response, SkyJoyError> {
    partner.require("point:redeem")?;
    let Checked { member, transaction_id, amount } = req.txn.check(&state).await?;
    let used = used_point(req.used_point)?;
    let sign = req.sign.as_deref().filter(|s| !s.is_empty()).ok_or_else(|| SkyJoyError::bad_request("INVALID_SIGN", "sign is required"))?;
    let confirmed = sign::TxnData {
        transaction_amount: amount,
        transaction_date: req.txn.transaction_date.clone().unwrap_or_default(),
        transaction_id: transaction_id.clone(),
        used_point: used,
        skyjoy_id: member.skyjoy_id.as_str().to_string(),
    };
    let claims = sign::verify(&state.idp.keys(), &state.idp.issuer, &partner.client_id, sign, &confirmed, domain::now_ms())
        .map_err(|e| SkyJoyError::bad_request("INVALID_SIGN", e.to_string()))?;
    if claims.sub != member.id {
        return Err(SkyJoyError::bad_request("INVALID_SIGN", "sign was issued to another member"));
    }
    spend(&state, &partner, &member, transaction_id, amount, used).await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LookupRequest {
    skyjoy_id: Option<String>,
    bit_reference: Option<String>,
    transaction_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Transaction {
    transaction_point: i64,
    transaction_amount: Option<i64>,
    transaction_source: &'static str,
    transaction_type: String,
    transaction_id: String,
    bit_reference: String,
    sponsor: String,
    status: &'static str,
    transaction_time: String,
    request_id: String,
    timestamp: String,
}

/// `POST /api-point/partner/v1/lookup-transaction-id`: one of the partner's own transactions, by
/// `bitReference` or `transactionId`.
pub async fn lookup(State(state): State<AppState>, partner: Partner, Body(req): Body<LookupRequest>) -> Result<Response, SkyJoyError> {
    partner.require("point:read")?;
    let member = member_of(&state, &req.skyjoy_id).await?;
    let by = match (req.bit_reference.as_deref(), req.transaction_id.as_deref()) {
        (Some(b), _) if !b.is_empty() => Reference::BitReference(b),
        (_, Some(t)) if !t.is_empty() => Reference::TransactionId(t),
        _ => return Err(SkyJoyError::bad_request("BAD_REQUEST", "bitReference or transactionId is required")),
    };
    let entry = ledger::lookup(&state.idp.db, &partner.client_id, &member.id, by)
        .await
        .map_err(ledger_error)?
        .ok_or_else(|| SkyJoyError::new(StatusCode::NOT_FOUND, "TRANSACTION_NOT_FOUND", "No transaction of yours matches."))?;
    Ok(success(Transaction {
        transaction_point: entry.points.abs(),
        transaction_amount: entry.amount,
        transaction_source: "SkyJoy",
        transaction_type: entry.kind.clone(),
        transaction_id: entry.transaction_id.clone(),
        bit_reference: entry.bit_reference.clone(),
        sponsor: partner.client_id.clone(),
        status: "SUCCESS",
        transaction_time: domain::clock::vietnam_rfc3339(entry.created_at_ms),
        request_id: uuid::Uuid::new_v4().to_string(),
        timestamp: domain::clock::iso_utc(domain::now_ms()),
    }))
}
