//! Locked points (our extension of SkyJoy's point APIs, same envelope and codes): a partner
//! locks part of a member's available balance for a pending order, then captures it (a
//! redemption) or releases it; an unused lock expires. The rules are in
//! `domain::ledger::holds`.
//!
//! | path | body | answer |
//! |---|---|---|
//! | `POST /api-point/partner/v1/point-lock` | `skyjoyId`, `transactionId`, `lockPoint`, `expiresIn` (s, default 900, at most 604800) | the lock |
//! | `POST /api-point/partner/v1/point-lock/release` | `skyjoyId`, `transactionId` | the lock, RELEASED |
//! | `POST /api-point/partner/v1/point-lock/capture` | `skyjoyId`, `transactionId`, `usedPoint` (default all), `transactionAmount` | a point-redemption answer |

use axum::{extract::State, response::Response};
use domain::ledger::{
    holds::{self, HoldResult, NewHold},
    request::{Amount, PointCount, TransactionId},
    PointRefusal,
};
use serde::{Deserialize, Serialize};

use utoipa::ToSchema;

use super::{
    points::{member_of, result, PointResult},
    success, Body, ErrorBody, Partner, Refusals, SkyJoyError, Success,
};
use crate::http::{openapi::fields, AppState};

fn transaction_id(v: &Option<String>) -> Result<String, PointRefusal> {
    Ok(TransactionId::parse(v.as_deref().unwrap_or(""))?.as_str().to_string())
}

/// Points to lock for a pending order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LockRequest {
    #[schema(schema_with = fields::skyjoy_id, required = true)]
    skyjoy_id: Option<String>,
    /// The lock's id, the partner's own (idempotent by it).
    #[schema(schema_with = fields::transaction_id, required = true)]
    transaction_id: Option<String>,
    #[schema(schema_with = fields::points, required = true)]
    lock_point: Option<i64>,
    #[schema(schema_with = fields::lock_seconds_or_null)]
    expires_in: Option<i64>,
}

/// A lock and the balance around it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LockResult {
    request_id: String,
    transaction_id: String,
    lock_reference: String,
    lock_point: i64,
    #[schema(pattern = "^(HELD|RELEASED|CAPTURED|EXPIRED)$")]
    state: &'static str,
    expires_at: String,
    point_balance: i64,
    locked_point: i64,
    available_point: i64,
    timestamp: String,
}

fn lock_result(r: HoldResult) -> Response {
    success(LockResult {
        request_id: uuid::Uuid::new_v4().to_string(),
        transaction_id: r.hold.transaction_id,
        lock_reference: r.hold.reference,
        lock_point: r.hold.points,
        state: r.hold.state.as_str(),
        expires_at: domain::clock::iso_utc(r.hold.expires_at_ms),
        point_balance: r.balance,
        locked_point: r.locked,
        available_point: r.balance - r.locked,
        timestamp: domain::clock::iso_utc(domain::now_ms()),
    })
}

/// Lock part of the available balance.
///
/// Scope `point:redeem`. The locked points cannot be spent elsewhere until the lock is captured,
/// released or expires (`expiresIn` seconds, default 900). Idempotent by `transactionId`.
#[utoipa::path(
    post, path = "/api-point/partner/v1/point-lock", tag = "SkyJoy points", operation_id = "pointLock",
    security(("bearer" = ["point:redeem"])),
    request_body = LockRequest,
    responses(
        (status = 200, description = "Locked (or the first answer, replayed)", body = Success<LockResult>),
        (status = 404, description = "No such member (`MEMBER_NOT_FOUND`)", body = ErrorBody),
        Refusals,
    )
)]
pub async fn lock(State(state): State<AppState>, partner: Partner, Body(req): Body<LockRequest>) -> Result<Response, SkyJoyError> {
    partner.require("point:redeem")?;
    let member = member_of(&state, &req.skyjoy_id).await?;
    let transaction_id = transaction_id(&req.transaction_id)?;
    let points = req.lock_point.and_then(PointCount::new).ok_or(PointRefusal::InvalidLockPoint)?;
    let ttl_s = req.expires_in.unwrap_or(holds::DEFAULT_TTL_MS / 1000);
    if !(1..=holds::MAX_TTL_MS / 1000).contains(&ttl_s) {
        return Err(PointRefusal::InvalidLockTime.into());
    }
    let hold = NewHold { client_id: partner.client_id, transaction_id, member_id: member.id, points: points.get(), ttl_ms: ttl_s * 1000 };
    let r = holds::lock(&state.db, &hold, domain::now_ms()).await?;
    state.worker.wake();
    Ok(lock_result(r))
}

/// The lock to release.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseRequest {
    #[schema(schema_with = fields::skyjoy_id, required = true)]
    skyjoy_id: Option<String>,
    #[schema(schema_with = fields::transaction_id, required = true)]
    transaction_id: Option<String>,
}

/// The lock to capture, and how much of it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaptureRequest {
    #[serde(flatten)]
    lock: ReleaseRequest,
    /// At most the locked points; left out, all of them.
    #[schema(schema_with = fields::points_or_null)]
    used_point: Option<i64>,
    #[schema(schema_with = fields::amount_or_null)]
    transaction_amount: Option<i64>,
}

/// Release a lock.
///
/// Scope `point:redeem`. The points are available again; releasing a released lock answers it
/// again, a captured or expired one is `LOCK_NOT_ACTIVE`.
#[utoipa::path(
    post, path = "/api-point/partner/v1/point-lock/release", tag = "SkyJoy points", operation_id = "pointLockRelease",
    security(("bearer" = ["point:redeem"])),
    request_body = ReleaseRequest,
    responses(
        (status = 200, description = "Released", body = Success<LockResult>),
        (status = 404, description = "No such member or lock (`MEMBER_NOT_FOUND`, `LOCK_NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "The lock was captured or expired (`LOCK_NOT_ACTIVE`)", body = ErrorBody),
        Refusals,
    )
)]
pub async fn release(State(state): State<AppState>, partner: Partner, Body(req): Body<ReleaseRequest>) -> Result<Response, SkyJoyError> {
    partner.require("point:redeem")?;
    let member = member_of(&state, &req.skyjoy_id).await?;
    let transaction_id = transaction_id(&req.transaction_id)?;
    let r = holds::release(&state.db, &partner.client_id, &member.id, &transaction_id, domain::now_ms()).await?;
    state.worker.wake();
    Ok(lock_result(r))
}

/// Capture a lock: a redemption.
///
/// Scope `point:redeem`. Spends `usedPoint` of the lock (all of it if left out) and frees the
/// rest; answers as a point-redemption does. Capturing it again answers the first result.
#[utoipa::path(
    post, path = "/api-point/partner/v1/point-lock/capture", tag = "SkyJoy points", operation_id = "pointLockCapture",
    security(("bearer" = ["point:redeem"])),
    request_body = CaptureRequest,
    responses(
        (status = 200, description = "Captured", body = Success<PointResult>),
        (status = 404, description = "No such member or lock (`MEMBER_NOT_FOUND`, `LOCK_NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "The lock was released or expired (`LOCK_NOT_ACTIVE`)", body = ErrorBody),
        Refusals,
    )
)]
pub async fn capture(State(state): State<AppState>, partner: Partner, Body(req): Body<CaptureRequest>) -> Result<Response, SkyJoyError> {
    partner.require("point:redeem")?;
    let member = member_of(&state, &req.lock.skyjoy_id).await?;
    let transaction_id = transaction_id(&req.lock.transaction_id)?;
    // usedPoint left out captures the whole lock
    let used = req.used_point.map(|p| PointCount::new(p).ok_or(PointRefusal::InvalidUsedPoint)).transpose()?;
    let amount = req.transaction_amount.map(|a| Amount::new(a).ok_or(PointRefusal::InvalidTransactionAmount)).transpose()?;
    let (entry, _) = holds::capture(
        &state.db,
        &partner.client_id,
        &member.id,
        &transaction_id,
        used.map(PointCount::get),
        amount.map(Amount::get),
        domain::now_ms(),
    )
    .await?;
    state.worker.wake();
    Ok(success(result(&entry)))
}
