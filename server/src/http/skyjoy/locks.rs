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

use super::{
    points::{member_of, result},
    success, Body, Partner, SkyJoyError,
};
use crate::http::AppState;

fn transaction_id(v: &Option<String>) -> Result<String, PointRefusal> {
    Ok(TransactionId::parse(v.as_deref().unwrap_or(""))?.as_str().to_string())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockRequest {
    skyjoy_id: Option<String>,
    transaction_id: Option<String>,
    lock_point: Option<i64>,
    expires_in: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LockResult {
    request_id: String,
    transaction_id: String,
    lock_reference: String,
    lock_point: i64,
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

/// `POST /api-point/partner/v1/point-lock`
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndRequest {
    skyjoy_id: Option<String>,
    transaction_id: Option<String>,
    used_point: Option<i64>,
    transaction_amount: Option<i64>,
}

/// `POST /api-point/partner/v1/point-lock/release`
pub async fn release(State(state): State<AppState>, partner: Partner, Body(req): Body<EndRequest>) -> Result<Response, SkyJoyError> {
    partner.require("point:redeem")?;
    let member = member_of(&state, &req.skyjoy_id).await?;
    let transaction_id = transaction_id(&req.transaction_id)?;
    let r = holds::release(&state.db, &partner.client_id, &member.id, &transaction_id, domain::now_ms()).await?;
    state.worker.wake();
    Ok(lock_result(r))
}

/// `POST /api-point/partner/v1/point-lock/capture`
pub async fn capture(State(state): State<AppState>, partner: Partner, Body(req): Body<EndRequest>) -> Result<Response, SkyJoyError> {
    partner.require("point:redeem")?;
    let member = member_of(&state, &req.skyjoy_id).await?;
    let transaction_id = transaction_id(&req.transaction_id)?;
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
