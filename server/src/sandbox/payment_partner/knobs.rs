//! The sandbox knobs, no auth (a tester's tools): resend an IPN now, fail the next refunds,
//! read the IPN log, see whether IPN deliveries are still under way.

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use serde_json::json;

use super::{
    api::{success, PartnerError},
    ipn::IpnAttempt,
    state::{Partner, Status},
};

#[derive(Deserialize)]
pub(super) struct TransactionQuery {
    pub(super) transaction_id: Option<String>,
}

/// Sends a decided transaction's IPN once more, now, and answers with the attempt.
pub(super) async fn resend_ipn(State(partner): State<Partner>, Query(q): Query<TransactionQuery>) -> Response {
    let ipn = {
        let mut ledger = partner.ledger();
        let Some(t) = q.transaction_id.as_ref().and_then(|id| ledger.transactions.get_mut(id)) else {
            return (StatusCode::NOT_FOUND, PartnerError::not_found("unknown transaction_id")).into_response();
        };
        if t.status == Status::Pending {
            return (StatusCode::CONFLICT, PartnerError::invalid("the transaction is still PENDING: nothing to notify")).into_response();
        }
        t.next_ipn()
    };
    let attempt = partner.send_ipn(&ipn, 1, true).await;
    success(json!(attempt))
}

#[derive(Deserialize)]
pub(super) struct FailRefundsQuery {
    pub(super) count: u32,
}

pub(super) async fn fail_refunds(State(partner): State<Partner>, Query(q): Query<FailRefundsQuery>) -> Response {
    partner.ledger().fail_refunds = q.count;
    success(json!({ "fail_refunds": q.count }))
}

pub(super) async fn ipn_log(State(partner): State<Partner>, Query(q): Query<TransactionQuery>) -> Json<Vec<IpnAttempt>> {
    let ledger = partner.ledger();
    Json(ledger.ipn_log.iter().filter(|a| q.transaction_id.as_ref().is_none_or(|id| *id == a.transaction_id)).cloned().collect())
}


/// How many IPN deliveries are queued or still attempting: 0 means no IPN will be sent unless
/// a payment is decided or resent (what tests wait for instead of sleeping).
pub(super) async fn ipn_deliveries(State(partner): State<Partner>) -> Response {
    success(json!({ "in_flight": partner.ledger().ipn_in_flight }))
}
