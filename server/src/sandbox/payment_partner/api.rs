//! The signed partner API Tiki calls: create-transaction, check-transaction, refund. Every
//! call's X-Tikivip signature is checked once, in [`signed`]; refusals are
//! `{"code","message"}` ([`PartnerError`]).

use axum::{
    body::{Body, Bytes},
    extract::{Query, Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};
use domain::signing::{tikivip, TimestampWindow};
use serde::Deserialize;
use serde_json::{json, Value};

use super::state::{new_id, Refund, Status, Transaction, Partner};
use super::BANKING_METHOD;

/// The largest body a call may have.
const MAX_BODY: usize = 64 * 1024;

/// A refusal in the contract's shape `{"code","message"}`.
#[derive(Debug)]
pub(super) struct PartnerError {
    pub(super) status: StatusCode,
    pub(super) code: u8,
    pub(super) message: String,
}

impl PartnerError {
    pub(super) fn invalid(message: impl Into<String>) -> Self {
        Self { status: StatusCode::OK, code: 1, message: message.into() }
    }

    pub(super) fn system(message: impl Into<String>) -> Self {
        Self { status: StatusCode::OK, code: 2, message: message.into() }
    }

    pub(super) fn not_found(message: impl Into<String>) -> Self {
        Self { status: StatusCode::OK, code: 3, message: message.into() }
    }

    pub(super) fn unauthorized(message: impl Into<String>) -> Self {
        Self { status: StatusCode::UNAUTHORIZED, code: 1, message: message.into() }
    }

    /// Refund failures are HTTP 500 (refund.md: "success = HTTP 200, failure = HTTP 500").
    pub(super) fn of_refund(self) -> Self {
        Self { status: StatusCode::INTERNAL_SERVER_ERROR, ..self }
    }
}

impl IntoResponse for PartnerError {
    fn into_response(self) -> Response {
        tracing::debug!(code = self.code, message = %self.message, "payment partner refused a call");
        (self.status, Json(json!({ "code": self.code, "message": self.message }))).into_response()
    }
}

pub(super) fn success(data: Value) -> Response {
    Json(json!({ "code": 0, "message": "success", "data": data })).into_response()
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, PartnerError> {
    serde_json::from_slice(body).map_err(|e| PartnerError::invalid(format!("invalid request: {e}")))
}


impl Partner {
    /// Checks the X-Tikivip headers of a call from Tiki (§4.3).
    pub(super) fn authenticate(&self, headers: &axum::http::HeaderMap, body: &[u8]) -> Result<(), PartnerError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(timestamp), Some(client_id), Some(signature)) =
            (header(tikivip::HEADER_TIMESTAMP), header(tikivip::HEADER_CLIENT_ID), header(tikivip::HEADER_SIGNATURE))
        else {
            return Err(PartnerError::unauthorized("X-Tikivip-Timestamp, X-Tikivip-Client-Id and X-Tikivip-Signature are required"));
        };
        if client_id != self.config.client_id {
            return Err(PartnerError::unauthorized("unknown X-Tikivip-Client-Id"));
        }
        let timestamp = tikivip::parse_timestamp(timestamp).map_err(|e| PartnerError::unauthorized(e.to_string()))?;
        tikivip::verify(self.config.client_secret.as_bytes(), timestamp, client_id, body, signature, TimestampWindow::FIVE_MINUTES, domain::now_ms())
            .map_err(|e| PartnerError::unauthorized(e.to_string()))
    }

    pub(super) fn created(&self, t: &Transaction) -> Value {
        json!({
            "transaction_id": t.transaction_id,
            "tiki_transaction_id": t.tiki_transaction_id,
            "status": t.status.as_str(),
            "payment_url": format!("{}/pay/{}", self.own_url, t.transaction_id),
            "deeplink": format!("sandboxpay://pay?transaction_id={}", t.transaction_id),
        })
    }

}

/// Refuses any call to the partner API whose X-Tikivip signature does not hold.
pub(super) async fn signed(State(partner): State<Partner>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return PartnerError::invalid("the body is too large").into_response();
    };
    if let Err(refused) = partner.authenticate(&parts.headers, &body) {
        return refused.into_response();
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

#[derive(Deserialize)]
pub(super) struct CreateTransaction {
    pub(super) tiki_transaction_id: String,
    pub(super) amount: i64,
    pub(super) description: String,
    pub(super) identify_code: String,
    pub(super) return_url: String,
}

pub(super) async fn create_transaction(State(partner): State<Partner>, body: Bytes) -> Result<Response, PartnerError> {
    let req: CreateTransaction = parse(&body)?;
    let tiki_id = req.tiki_transaction_id.as_str();
    if tiki_id.trim().is_empty() || tiki_id.len() > 64 {
        return Err(PartnerError::invalid("tiki_transaction_id must be 1 to 64 characters"));
    }
    if req.amount <= 0 {
        return Err(PartnerError::invalid("amount must be a positive number of VND"));
    }
    let return_url = url::Url::parse(&req.return_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| PartnerError::invalid("return_url must be an absolute http(s) URL"))?;
    let mut ledger = partner.ledger();
    if let Some(known) = ledger.by_tiki_id.get(tiki_id).and_then(|id| ledger.transactions.get(id)) {
        if known.amount != req.amount {
            return Err(PartnerError::invalid(format!("{tiki_id} was created with another amount ({})", known.amount)));
        }
        return Ok(success(partner.created(known)));
    }
    let now = domain::now_ms();
    let t = Transaction {
        transaction_id: new_id(),
        tiki_transaction_id: tiki_id.to_string(),
        amount: req.amount,
        description: req.description,
        identify_code: req.identify_code,
        return_url,
        status: Status::Pending,
        refunded_amount: 0,
        ipn_dropped: false,
        ipn_deliveries: 0,
        last_ipn: None,
        created_at: now,
        updated_at: now,
    };
    let answer = success(partner.created(&t));
    tracing::info!(transaction_id = %t.transaction_id, tiki_transaction_id = %t.tiki_transaction_id, amount = t.amount, "payment partner: transaction created");
    ledger.by_tiki_id.insert(t.tiki_transaction_id.clone(), t.transaction_id.clone());
    ledger.transactions.insert(t.transaction_id.clone(), t);
    Ok(answer)
}

#[derive(Deserialize)]
pub(super) struct CheckQuery {
    pub(super) tiki_transaction_id: Option<String>,
}

pub(super) async fn check_transaction(State(partner): State<Partner>, Query(q): Query<CheckQuery>) -> Result<Response, PartnerError> {
    let tiki_id = q.tiki_transaction_id.filter(|id| !id.trim().is_empty()).ok_or_else(|| PartnerError::invalid("tiki_transaction_id is required"))?;
    let ledger = partner.ledger();
    let t = ledger
        .by_tiki_id
        .get(&tiki_id)
        .and_then(|id| ledger.transactions.get(id))
        .ok_or_else(|| PartnerError::not_found(format!("no transaction for {tiki_id}")))?;
    Ok(success(json!({
        "transaction_id": t.transaction_id,
        "tiki_transaction_id": t.tiki_transaction_id,
        "status": t.status.as_str(),
        "amount": t.amount,
        "refunded_amount": t.refunded_amount,
        "partner_banking_method": (t.status != Status::Pending).then_some(BANKING_METHOD),
        "updated_at": t.updated_at,
    })))
}

#[derive(Deserialize)]
pub(super) struct RefundRequest {
    pub(super) tiki_transaction_id: String,
    pub(super) transaction_amount: i64,
    pub(super) transaction_id: String,
    pub(super) reason: String,
    pub(super) request_id: String,
}

pub(super) async fn refund(State(partner): State<Partner>, body: Bytes) -> Result<Response, PartnerError> {
    partner.refund(&body).map_err(PartnerError::of_refund)
}

impl Partner {
    /// A partial or full refund of a paid transaction, once per request_id.
    pub(super) fn refund(&self, body: &[u8]) -> Result<Response, PartnerError> {
        let mut ledger = self.ledger();
        if ledger.fail_refunds > 0 {
            ledger.fail_refunds -= 1;
            return Err(PartnerError::system("sandbox: refund failure requested with /sandbox/fail-refunds"));
        }
        let req: RefundRequest = parse(body)?;
        if req.request_id.trim().is_empty() {
            return Err(PartnerError::invalid("request_id is required"));
        }
        if let Some(done) = ledger.refunds.get(&req.request_id) {
            let same = done.amount == req.transaction_amount
                && done.tiki_transaction_id == req.tiki_transaction_id
                && done.transaction_id == req.transaction_id;
            return if same {
                Ok(Json(done.answer.clone()).into_response())
            } else {
                Err(PartnerError::invalid("request_id was already used for another refund"))
            };
        }
        if req.transaction_amount <= 0 {
            return Err(PartnerError::invalid("transaction_amount must be a positive number of VND"));
        }
        let id = ledger.by_tiki_id.get(&req.tiki_transaction_id).filter(|id| **id == req.transaction_id).cloned();
        let Some(t) = id.and_then(|id| ledger.transactions.get_mut(&id)) else {
            return Err(PartnerError::not_found(format!("no transaction {} for {}", req.transaction_id, req.tiki_transaction_id)));
        };
        if t.status != Status::Success {
            return Err(PartnerError::invalid(format!("the transaction is {}, not SUCCESS", t.status.as_str())));
        }
        let refundable = t.amount - t.refunded_amount;
        if req.transaction_amount > refundable {
            return Err(PartnerError::invalid(format!("{} is more than the {refundable} VND left to refund", req.transaction_amount)));
        }
        t.refunded_amount += req.transaction_amount;
        t.updated_at = domain::now_ms();
        let answer = json!({
            "code": 0,
            "message": "success",
            "data": {"refund_id": new_id(), "request_id": req.request_id, "refunded_amount": t.refunded_amount, "status": "SUCCESS"},
        });
        tracing::info!(transaction_id = %t.transaction_id, amount = req.transaction_amount, refunded = t.refunded_amount, reason = %req.reason, "payment partner: refunded");
        let refund = Refund {
            tiki_transaction_id: req.tiki_transaction_id,
            transaction_id: req.transaction_id,
            amount: req.transaction_amount,
            answer: answer.clone(),
        };
        ledger.refunds.insert(req.request_id, refund);
        Ok(Json(answer).into_response())
    }
}

