//! Point APIs (counterparts.md §1.6, §1.7): accrual, redemption and transaction lookup on the
//! SkyPoint ledger. Every field is checked once in `domain::ledger::request` (the same rules as
//! batch rows and the redemption page), a refusal becomes SkyJoy's error in `super` (one
//! place); idempotency and no overdraft are `domain::ledger::post`'s; the points a purchase
//! earns come from the partner's earning rule (configuration).

use axum::{extract::State, http::StatusCode, response::Response};
use domain::{
    identity::{members::{self, Member}, SkyJoyId},
    ledger::{self, request::Operation, sign, PointRefusal, PointRequest, RawPointRequest, Reference},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use utoipa::ToSchema;

use super::{success, Body, ErrorBody, Partner, Refusals, SkyJoyError, Success};
use crate::http::{openapi::fields, AppState};

/// The member a request names by `skyjoyId` (the lookup, lock and unlock APIs, which carry no
/// posting to check).
pub(super) async fn member_of(state: &AppState, skyjoy_id: &Option<String>) -> Result<Member, SkyJoyError> {
    let raw = skyjoy_id.as_deref().filter(|s| !s.trim().is_empty()).ok_or(PointRefusal::InvalidSkyjoyId)?;
    let id = SkyJoyId::parse(raw).map_err(|_| PointRefusal::InvalidSkyjoyId)?;
    members::find_by_skyjoy_id(&state.db, &id).await.map_err(SkyJoyError::internal)?.ok_or_else(|| PointRefusal::MemberNotFound.into())
}

/// A point request's body checked once (`domain::ledger::request`), and the member it names.
async fn checked(state: &AppState, operation: Operation, body: &Map<String, Value>) -> Result<(PointRequest, Member), SkyJoyError> {
    let request = PointRequest::try_from(RawPointRequest::from_object(operation, body))?;
    let member = members::find_by_skyjoy_id(&state.db, &request.skyjoy_id)
        .await
        .map_err(SkyJoyError::internal)?
        .ok_or(PointRefusal::MemberNotFound)?;
    Ok((request, member))
}

/// Posts a checked request for the partner; wakes the outbox for its webhook and notification.
async fn post(state: &AppState, partner: &Partner, request: &PointRequest, member: &Member) -> Result<Response, SkyJoyError> {
    let may_debit = partner.has("point:redeem");
    let posting = request.posting(&partner.client_id, &member.id, state.earning.for_partner(&partner.client_id), may_debit)?;
    let posted = ledger::post(&state.db, &posting, domain::now_ms()).await?;
    state.worker.wake();
    Ok(success(result(&posted.entry)))
}

/// What a posting did: `point` for a credit, `usedPoint` for a debit, the balance before and after.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PointResult {
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

/// The answer to a posting: `point` for a credit, `usedPoint` for a debit.
pub(super) fn result(e: &ledger::Entry) -> PointResult {
    let accrual = e.points > 0;
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

/// A point-accrual body as the partner sends it (read by `RawPointRequest::from_object`, which
/// also takes numbers written as strings). The types below are the wire shapes, for the
/// document; the handlers read them field by field.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct AccrualRequest {
    #[schema(schema_with = fields::skyjoy_id)]
    skyjoy_id: String,
    #[schema(schema_with = fields::transaction_id)]
    transaction_id: String,
    #[schema(schema_with = fields::transaction_date)]
    transaction_date: String,
    #[schema(schema_with = fields::amount)]
    transaction_amount: i64,
    /// VND, the only currency.
    #[schema(pattern = "^VND$")]
    transaction_currency: Option<String>,
    #[schema(schema_with = fields::description_or_null)]
    transaction_des: Option<Value>,
    #[schema(schema_with = fields::item_id_or_null)]
    item_id: Option<String>,
}

/// A point-redemption body: an accrual's fields and the points to spend.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct RedemptionRequest {
    #[serde(flatten)]
    purchase: AccrualRequest,
    #[schema(schema_with = fields::points)]
    used_point: i64,
}

/// A redemption the member confirmed: a redemption's fields and the confirmation's `sign`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct RedemptionWithTokenRequest {
    #[serde(flatten)]
    redemption: RedemptionRequest,
    /// What the member's confirmation page handed back (`/account/redeem`).
    sign: String,
}

/// Credit the points a purchase earns.
///
/// Scope `point:earn`. Earns what the partner's earning rule gives for `transactionAmount`
/// (VND). Idempotent by `transactionId`: a retry answers the first result; the same id with
/// other fields is `DUPLICATE_TRANSACTION`.
#[utoipa::path(
    post, path = "/api-point/partner/v1/point-accrual", tag = "SkyJoy points", operation_id = "pointAccrual",
    security(("bearer" = ["point:earn"])),
    request_body = AccrualRequest,
    responses(
        (status = 200, description = "Credited (or the first answer, replayed)", body = Success<PointResult>),
        (status = 404, description = "No such member (`MEMBER_NOT_FOUND`)", body = ErrorBody),
        Refusals,
    )
)]
pub async fn accrual(State(state): State<AppState>, partner: Partner, Body(body): Body<Map<String, Value>>) -> Result<Response, SkyJoyError> {
    partner.require("point:earn")?;
    let (request, member) = checked(&state, Operation::Accrual, &body).await?;
    post(&state, &partner, &request, &member).await
}

/// Spend points.
///
/// Scope `point:redeem`. Spends `usedPoint`, never more than the available balance
/// (`INSUFFICIENT_BALANCE`). Idempotent by `transactionId`.
#[utoipa::path(
    post, path = "/api-point/partner/v1/point-redemption", tag = "SkyJoy points", operation_id = "pointRedemption",
    security(("bearer" = ["point:redeem"])),
    request_body = RedemptionRequest,
    responses(
        (status = 200, description = "Spent (or the first answer, replayed)", body = Success<PointResult>),
        (status = 404, description = "No such member (`MEMBER_NOT_FOUND`)", body = ErrorBody),
        Refusals,
    )
)]
pub async fn redemption(State(state): State<AppState>, partner: Partner, Body(body): Body<Map<String, Value>>) -> Result<Response, SkyJoyError> {
    partner.require("point:redeem")?;
    let (request, member) = checked(&state, Operation::Redemption, &body).await?;
    post(&state, &partner, &request, &member).await
}

/// Spend points the member confirmed.
///
/// Scope `point:redeem`. A redemption the member confirmed on our page (`/account/redeem`),
/// proven by `sign`; every field must equal what the member confirmed, for this partner, within
/// 30 minutes (`INVALID_SIGN` otherwise).
#[utoipa::path(
    post, path = "/api-point/partner/v1/point-redemption-with-token", tag = "SkyJoy points", operation_id = "pointRedemptionWithToken",
    security(("bearer" = ["point:redeem"])),
    request_body = RedemptionWithTokenRequest,
    responses(
        (status = 200, description = "Spent (or the first answer, replayed)", body = Success<PointResult>),
        (status = 404, description = "No such member (`MEMBER_NOT_FOUND`)", body = ErrorBody),
        Refusals,
    )
)]
pub async fn redemption_with_token(
    State(state): State<AppState>,
    partner: Partner,
    Body(body): Body<Map<String, Value>>,
) -> Result<Response, SkyJoyError> {
    partner.require("point:redeem")?;
    let (request, member) = checked(&state, Operation::Redemption, &body).await?;
    let sign = body.get("sign").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or_else(|| SkyJoyError::bad_request("INVALID_SIGN", "sign is required"))?;
    let confirmed = sign::TxnData::of(&request, &member.skyjoy_id).ok_or(PointRefusal::InvalidUsedPoint)?;
    let idp = &state.idp;
    let claims = idp
        .with_keys(|keys| sign::verify(keys, &idp.issuer, &partner.client_id, sign, &confirmed, domain::now_ms()), |e| *e == sign::SignError::Invalid)
        .await
        .map_err(|e| SkyJoyError::bad_request("INVALID_SIGN", e.to_string()))?;
    if claims.sub != member.id {
        return Err(SkyJoyError::bad_request("INVALID_SIGN", "sign was issued to another member"));
    }
    post(&state, &partner, &request, &member).await
}

/// A transaction to find, by `bitReference` or `transactionId`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LookupRequest {
    #[schema(schema_with = fields::skyjoy_id, required = true)]
    skyjoy_id: Option<String>,
    /// Our reference, from the posting's answer.
    bit_reference: Option<String>,
    #[schema(schema_with = fields::transaction_id_or_null)]
    transaction_id: Option<String>,
}

/// One of the partner's transactions.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    transaction_point: i64,
    transaction_amount: Option<i64>,
    transaction_source: &'static str,
    transaction_type: &'static str,
    transaction_id: String,
    bit_reference: String,
    sponsor: String,
    status: &'static str,
    transaction_time: String,
    request_id: String,
    timestamp: String,
}

/// One of the partner's transactions.
///
/// Scope `point:read`. By `bitReference` or `transactionId`; only the calling partner's own.
#[utoipa::path(
    post, path = "/api-point/partner/v1/lookup-transaction-id", tag = "SkyJoy points", operation_id = "lookupTransaction",
    security(("bearer" = ["point:read"])),
    request_body = LookupRequest,
    responses(
        (status = 200, description = "The transaction", body = Success<Transaction>),
        (status = 404, description = "No such member or transaction (`MEMBER_NOT_FOUND`, `TRANSACTION_NOT_FOUND`)", body = ErrorBody),
        Refusals,
    )
)]
pub async fn lookup(State(state): State<AppState>, partner: Partner, Body(req): Body<LookupRequest>) -> Result<Response, SkyJoyError> {
    partner.require("point:read")?;
    let member = member_of(&state, &req.skyjoy_id).await?;
    let by = match (req.bit_reference.as_deref(), req.transaction_id.as_deref()) {
        (Some(b), _) if !b.is_empty() => Reference::BitReference(b),
        (_, Some(t)) if !t.is_empty() => Reference::TransactionId(t),
        _ => return Err(SkyJoyError::bad_request("BAD_REQUEST", "bitReference or transactionId is required")),
    };
    let entry = ledger::lookup(&state.db, &partner.client_id, &member.id, by)
        .await?
        .ok_or_else(|| SkyJoyError::new(StatusCode::NOT_FOUND, "TRANSACTION_NOT_FOUND", "No transaction of yours matches."))?;
    Ok(success(Transaction {
        transaction_point: entry.points.abs(),
        transaction_amount: entry.amount,
        transaction_source: "SkyJoy",
        transaction_type: entry.kind.as_str(),
        transaction_id: entry.transaction_id.clone(),
        bit_reference: entry.bit_reference.clone(),
        sponsor: partner.client_id.clone(),
        status: "SUCCESS",
        transaction_time: domain::clock::vietnam_rfc3339(entry.created_at_ms),
        request_id: uuid::Uuid::new_v4().to_string(),
        timestamp: domain::clock::iso_utc(domain::now_ms()),
    }))
}
