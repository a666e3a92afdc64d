//! The sandbox payment partner: a super app's wallet that plays the partner side of the Tiki VIP
//! webview integration (issue 5) on its own port, while the platform plays Tiki. Tiki leaves
//! create-transaction, check-transaction, the payment screen and refund to each partner
//! (counterparts.md §4.1 rows 6–10, §4.5), so this is the contract we defined, base
//! `{partner}/partner/v1`:
//!
//! - every call from Tiki carries `X-Tikivip-Timestamp` (ms), `X-Tikivip-Client-Id` and
//!   `X-Tikivip-Signature` over the raw body ("" for GET), as in §4.3; a wrong client id, a
//!   timestamp outside 5 minutes or a bad signature gets HTTP 401 `{"code":1,"message"}`;
//! - answers are `{"code":0,"message":"success","data":{…}}`; errors are HTTP 200
//!   `{"code","message"}` with 1 invalid request, 2 system error, 3 not found (refunds: HTTP 500);
//! - `POST /partner/v1/transactions` {tiki_transaction_id, amount, description, identify_code,
//!   return_url} → {transaction_id, tiki_transaction_id, status, payment_url, deeplink};
//!   idempotent on tiki_transaction_id, the same id with another amount is code 1;
//! - `GET /partner/v1/transactions?tiki_transaction_id=…` → {transaction_id, tiki_transaction_id,
//!   status PENDING|SUCCESS|FAILURE|CANCELLED, amount, refunded_amount, partner_banking_method,
//!   updated_at}; unknown is code 3;
//! - `POST /partner/v1/refunds` {tiki_transaction_id, transaction_amount, transaction_id, reason,
//!   request_id} → HTTP 200 {refund_id, request_id, refunded_amount (in total), status SUCCESS},
//!   any failure HTTP 500 (refund.md); partial or full, never above what was paid, idempotent on
//!   request_id ("partner API must support idempotency");
//! - `GET /pay/{transaction_id}`, the payment screen: the tester picks pay, fail, cancel or pay
//!   but drop the IPN (`POST /pay/{transaction_id}` with `decision=success|fail|cancel|drop-ipn`);
//!   the first decision wins, then 303 to return_url with tiki_transaction_id, transaction_id and
//!   status added to its query;
//! - the IPN, `POST {tiki}/miniapp/tikivip/payment/ipn` (§4.4 §1), signed the same way, sent in
//!   the background: code 0 is delivered, codes 1 and 3–6 are final, anything else is retried
//!   after each of `ipn_retry_ms` ("retry at least 3 times", payment.md), then Tiki has to
//!   check the transaction;
//! - sandbox knobs, no auth: `POST /sandbox/resend-ipn?transaction_id=…` (one more attempt now,
//!   answered with its outcome), `POST /sandbox/fail-refunds?count=N` (the next N refund calls
//!   answer HTTP 500 code 2), `GET /sandbox/ipn-log[?transaction_id=…]` (every IPN attempt).
//!
//! State is in memory: this is a sandbox counterpart, not the product.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context;
use app::components::vnd;
use axum::{
    body::{Body, Bytes},
    extract::{Path, Query, Request, State},
    http::{header, StatusCode},
    middleware::{self, Next},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Form, Json, Router,
};
use domain::signing::{tikivip, TimestampWindow};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::{
    sync::{mpsc, watch},
    task::{JoinHandle, JoinSet},
};

use crate::http::oidc::page::escape;

/// The payment method reported to Tiki (the partner supplies its list of codes, §4.4 §1).
pub const BANKING_METHOD: &str = "SANDBOX_WALLET";
/// Tiki's IPN endpoint under its base URL (§4.4 §1).
pub const IPN_PATH: &str = "/miniapp/tikivip/payment/ipn";
/// How long one IPN attempt may take before it counts as a network error.
const IPN_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BODY: usize = 64 * 1024;
const MAX_IPN_LOG: usize = 2_000;

/// How the payment partner reaches Tiki, and the credentials Tiki gave it (§4.1): the same
/// client id and secret sign Tiki's calls to the partner and the partner's IPNs to Tiki.
/// The partner code the sandbox partner is registered under.
pub const PARTNER_CODE: &str = "SANDBOXPAY";

#[derive(Clone)]
pub struct PaymentPartnerConfig {
    /// Tiki's base URL (the platform); IPNs go to `{tiki_url}/miniapp/tikivip/payment/ipn`.
    pub tiki_url: String,
    pub partner_code: String,
    pub client_id: String,
    pub client_secret: String,
    /// The delay before each IPN retry, in milliseconds: one attempt plus one per entry.
    pub ipn_retry_ms: Vec<u64>,
}

impl PaymentPartnerConfig {
    /// payment.md: "the partner should retry at least 3 times", then check the transaction.
    pub const DEFAULT_IPN_RETRY_MS: [u64; 3] = [1_000, 5_000, 30_000];
}

/// A payment's state at the partner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Pending,
    Success,
    Failure,
    Cancelled,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Success => "SUCCESS",
            Status::Failure => "FAILURE",
            Status::Cancelled => "CANCELLED",
        }
    }

    /// Tiki's IPN knows SUCCESS and FAILURE (§4.4 §1): a cancelled payment is a failed one.
    fn ipn_status(self) -> &'static str {
        match self {
            Status::Success => "SUCCESS",
            _ => "FAILURE",
        }
    }

    /// A pending payment is decided once; every other move is refused (`None`).
    fn transition(self, to: Status) -> Option<Status> {
        (self == Status::Pending && to != Status::Pending).then_some(to)
    }
}

/// What the tester chose on the payment screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Decision {
    Success,
    Fail,
    Cancel,
    /// Paid, but Tiki is never told: it has to find out with check-transaction.
    DropIpn,
}

impl Decision {
    fn status(self) -> Status {
        match self {
            Decision::Success | Decision::DropIpn => Status::Success,
            Decision::Fail => Status::Failure,
            Decision::Cancel => Status::Cancelled,
        }
    }
}

#[derive(Clone)]
struct Transaction {
    transaction_id: String,
    tiki_transaction_id: String,
    amount: i64,
    description: String,
    identify_code: String,
    return_url: url::Url,
    status: Status,
    refunded_amount: i64,
    ipn_dropped: bool,
    /// IPN deliveries started for it: the decision's, then one per resend.
    ipn_deliveries: u32,
    /// Tiki's last answer to an IPN for it.
    last_ipn: Option<IpnAttempt>,
    created_at: i64,
    updated_at: i64,
}

impl Transaction {
    /// Where the browser goes after the decision: return_url plus what happened.
    fn return_target(&self) -> url::Url {
        let mut url = self.return_url.clone();
        url.query_pairs_mut()
            .append_pair("tiki_transaction_id", &self.tiki_transaction_id)
            .append_pair("transaction_id", &self.transaction_id)
            .append_pair("status", self.status.as_str());
        url
    }

    /// The next IPN delivery for a decided payment (§4.4 §1 body, compact JSON).
    fn next_ipn(&mut self) -> Ipn {
        self.ipn_deliveries += 1;
        let body = json!({
            "reference_transaction_id": self.tiki_transaction_id,
            "transaction_amount": self.amount,
            "transaction_id": self.transaction_id,
            "status": self.status.ipn_status(),
            "partner_banking_method": BANKING_METHOD,
        });
        Ipn {
            transaction_id: self.transaction_id.clone(),
            delivery: self.ipn_deliveries,
            status: self.status.ipn_status(),
            body: Bytes::from(body.to_string()),
        }
    }
}

/// A refund done, kept under its request_id with the answer given.
struct Refund {
    tiki_transaction_id: String,
    transaction_id: String,
    amount: i64,
    answer: Value,
}

/// One IPN attempt as `/sandbox/ipn-log` shows it.
#[derive(Clone, Debug, Serialize)]
struct IpnAttempt {
    transaction_id: String,
    delivery: u32,
    attempt: u32,
    /// The status the IPN told: SUCCESS or FAILURE.
    status: &'static str,
    http_status: Option<u16>,
    code: Option<i64>,
    outcome: IpnOutcome,
    answer: Option<Value>,
    error: Option<String>,
    at: i64,
}

/// What an IPN attempt came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum IpnOutcome {
    /// HTTP 200, code 0.
    Delivered,
    /// HTTP 200 with code 1 or 3–6: Tiki's answer stands, no retry.
    Final,
    /// Anything else (no answer, not 200, code 2, …): tried again after the next delay.
    Retry,
    /// Like `Retry`, but no attempt is left: Tiki has to check the transaction.
    Failed,
}

impl IpnOutcome {
    fn as_str(self) -> &'static str {
        match self {
            IpnOutcome::Delivered => "delivered",
            IpnOutcome::Final => "final",
            IpnOutcome::Retry => "retry",
            IpnOutcome::Failed => "failed",
        }
    }
}

/// An IPN to deliver: the body is fixed when the delivery starts, signed anew at each attempt.
struct Ipn {
    transaction_id: String,
    delivery: u32,
    status: &'static str,
    body: Bytes,
}

#[derive(Default)]
struct Ledger {
    transactions: HashMap<String, Transaction>,
    /// tiki_transaction_id → transaction_id
    by_tiki_id: HashMap<String, String>,
    /// request_id → the refund done for it
    refunds: HashMap<String, Refund>,
    /// Refund calls still to fail on purpose (`/sandbox/fail-refunds`).
    fail_refunds: u32,
    ipn_log: Vec<IpnAttempt>,
}

#[derive(Clone)]
struct Partner {
    config: Arc<PaymentPartnerConfig>,
    own_url: String,
    http: reqwest::Client,
    ledger: Arc<Mutex<Ledger>>,
    ipn_queue: mpsc::UnboundedSender<Ipn>,
}

/// A refusal in the contract's shape `{"code","message"}`.
#[derive(Debug)]
struct PartnerError {
    status: StatusCode,
    code: u8,
    message: String,
}

impl PartnerError {
    fn invalid(message: impl Into<String>) -> Self {
        Self { status: StatusCode::OK, code: 1, message: message.into() }
    }

    fn system(message: impl Into<String>) -> Self {
        Self { status: StatusCode::OK, code: 2, message: message.into() }
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self { status: StatusCode::OK, code: 3, message: message.into() }
    }

    fn unauthorized(message: impl Into<String>) -> Self {
        Self { status: StatusCode::UNAUTHORIZED, code: 1, message: message.into() }
    }

    /// Refund failures are HTTP 500 (refund.md: "success = HTTP 200, failure = HTTP 500").
    fn of_refund(self) -> Self {
        Self { status: StatusCode::INTERNAL_SERVER_ERROR, ..self }
    }
}

impl IntoResponse for PartnerError {
    fn into_response(self) -> Response {
        tracing::debug!(code = self.code, message = %self.message, "payment partner refused a call");
        (self.status, Json(json!({ "code": self.code, "message": self.message }))).into_response()
    }
}

fn success(data: Value) -> Response {
    Json(json!({ "code": 0, "message": "success", "data": data })).into_response()
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, PartnerError> {
    serde_json::from_slice(body).map_err(|e| PartnerError::invalid(format!("invalid request: {e}")))
}

/// An id in the partner's style, e.g. `8A43B011-0EC9-4AA5-8D83-6FE7B2BCE4EC` (§4.4 examples).
fn new_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string().to_uppercase()
}

impl Partner {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn transaction(&self, transaction_id: &str) -> Option<Transaction> {
        self.ledger().transactions.get(transaction_id).cloned()
    }

    /// Checks the X-Tikivip headers of a call from Tiki (§4.3).
    fn authenticate(&self, headers: &axum::http::HeaderMap, body: &[u8]) -> Result<(), PartnerError> {
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

    fn created(&self, t: &Transaction) -> Value {
        json!({
            "transaction_id": t.transaction_id,
            "tiki_transaction_id": t.tiki_transaction_id,
            "status": t.status.as_str(),
            "payment_url": format!("{}/pay/{}", self.own_url, t.transaction_id),
            "deeplink": format!("sandboxpay://pay?transaction_id={}", t.transaction_id),
        })
    }

    /// One signed IPN attempt; its outcome is logged and kept as the transaction's last answer.
    async fn send_ipn(&self, ipn: &Ipn, attempt: u32, last: bool) -> IpnAttempt {
        let mut req = self.http.post(format!("{}{IPN_PATH}", self.config.tiki_url)).header(header::CONTENT_TYPE, "application/json");
        for (name, value) in tikivip::headers(&self.config.client_id, &self.config.client_secret, &ipn.body, domain::now_ms()) {
            req = req.header(name, value);
        }
        let sent = req
            .body(ipn.body.clone())
            .send()
            .await;
        let (http_status, answer, error) = match sent {
            Ok(res) => {
                let status = res.status().as_u16();
                match res.bytes().await {
                    Ok(b) => (Some(status), serde_json::from_slice::<Value>(&b).ok(), None),
                    Err(e) => (Some(status), None, Some(e.to_string())),
                }
            }
            Err(e) => (None, None, Some(e.to_string())),
        };
        let code = answer.as_ref().and_then(|a| a["code"].as_i64());
        let outcome = match (http_status, code) {
            (Some(200), Some(0)) => IpnOutcome::Delivered,
            // §4.4 §1: invalid request, not found, not this partner's, wrong amount, cancelled
            (Some(200), Some(1 | 3..=6)) => IpnOutcome::Final,
            _ if last => IpnOutcome::Failed,
            _ => IpnOutcome::Retry,
        };
        let record = IpnAttempt {
            transaction_id: ipn.transaction_id.clone(),
            delivery: ipn.delivery,
            attempt,
            status: ipn.status,
            http_status,
            code,
            outcome,
            answer,
            error,
            at: domain::now_ms(),
        };
        match outcome {
            IpnOutcome::Delivered => tracing::info!(transaction_id = %ipn.transaction_id, attempt, "IPN delivered to Tiki"),
            IpnOutcome::Final => tracing::warn!(transaction_id = %ipn.transaction_id, attempt, ?code, "Tiki refused the IPN"),
            IpnOutcome::Failed => {
                tracing::warn!(transaction_id = %ipn.transaction_id, attempt, ?http_status, ?code, "IPN not delivered; Tiki has to check the transaction")
            }
            IpnOutcome::Retry => {
                tracing::info!(transaction_id = %ipn.transaction_id, attempt, ?http_status, ?code, error = ?record.error, "IPN failed, will retry")
            }
        }
        let mut ledger = self.ledger();
        if let Some(t) = ledger.transactions.get_mut(&ipn.transaction_id) {
            t.last_ipn = Some(record.clone());
        }
        ledger.ipn_log.push(record.clone());
        let excess = ledger.ipn_log.len().saturating_sub(MAX_IPN_LOG);
        ledger.ipn_log.drain(..excess);
        record
    }

    /// The first attempt, then one retry after each configured delay while Tiki's answer is
    /// neither a success nor final.
    async fn deliver(self, ipn: Ipn) {
        let delays = self.config.ipn_retry_ms.clone();
        let attempts = delays.len() as u32 + 1;
        for attempt in 1..=attempts {
            if attempt > 1 {
                tokio::time::sleep(Duration::from_millis(delays[attempt as usize - 2])).await;
            }
            if self.send_ipn(&ipn, attempt, attempt == attempts).await.outcome != IpnOutcome::Retry {
                return;
            }
        }
    }
}

/// Runs the IPN deliveries beside the requests, so a browser's redirect never waits for Tiki;
/// at shutdown the deliveries still waiting stop (Tiki will check those transactions).
async fn ipn_sender(partner: Partner, mut queue: mpsc::UnboundedReceiver<Ipn>, mut shutdown: watch::Receiver<bool>) {
    let mut deliveries = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break,
            Some(ipn) = queue.recv() => {
                deliveries.spawn(partner.clone().deliver(ipn));
            }
            Some(_) = deliveries.join_next(), if !deliveries.is_empty() => {}
        }
    }
    deliveries.shutdown().await;
}

/// Refuses any call to the partner API whose X-Tikivip signature does not hold.
async fn signed(State(partner): State<Partner>, req: Request, next: Next) -> Response {
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
struct CreateTransaction {
    tiki_transaction_id: String,
    amount: i64,
    description: String,
    identify_code: String,
    return_url: String,
}

async fn create_transaction(State(partner): State<Partner>, body: Bytes) -> Result<Response, PartnerError> {
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
struct CheckQuery {
    tiki_transaction_id: Option<String>,
}

async fn check_transaction(State(partner): State<Partner>, Query(q): Query<CheckQuery>) -> Result<Response, PartnerError> {
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
struct RefundRequest {
    tiki_transaction_id: String,
    transaction_amount: i64,
    transaction_id: String,
    reason: String,
    request_id: String,
}

async fn refund(State(partner): State<Partner>, body: Bytes) -> Result<Response, PartnerError> {
    partner.refund(&body).map_err(PartnerError::of_refund)
}

impl Partner {
    /// A partial or full refund of a paid transaction, once per request_id.
    fn refund(&self, body: &[u8]) -> Result<Response, PartnerError> {
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

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Sandbox Pay</title><link rel=\"icon\" href=\"data:,\"><style>body{{font-family:system-ui,sans-serif;margin:0 auto;padding:16px;max-width:480px}}\
         .amount{{font-size:2.2rem;font-weight:700;margin:8px 0}} .muted{{color:#5f6368;font-size:.85rem;word-break:break-all}} form{{display:grid;gap:12px;margin-top:24px}}\
         button,a.button{{display:block;width:100%;box-sizing:border-box;min-height:56px;padding:14px;border-radius:12px;border:0;background:#0b5cff;color:#fff;\
         font:inherit;font-size:1.15rem;text-align:center;text-decoration:none;cursor:pointer}} button.fail{{background:#c62828}} button.cancel{{background:#5f6368}}\
         button.drop{{background:#fff;color:#0b5cff;border:2px dashed #0b5cff}} table{{border-collapse:collapse;width:100%}} td{{padding:4px;border-bottom:1px solid #eee}}</style></head>\
         <body><h1>Sandbox Pay</h1>{body}</body></html>"
    ))
}

/// The payment screen: the amount and the four choices, or the decision already taken.
async fn payment_screen(State(partner): State<Partner>, Path(transaction_id): Path<String>) -> Response {
    let Some(t) = partner.transaction(&transaction_id) else {
        return (StatusCode::NOT_FOUND, page("Not found", "<p data-testid=\"pay-error\">Unknown transaction.</p>")).into_response();
    };
    let head = format!(
        "<p>Pay Tiki ({partner})</p><p class=\"amount\" data-testid=\"pay-amount\">{amount}</p><p data-testid=\"pay-description\">{description}</p>\
         <p class=\"muted\">Transaction {id}<br>Tiki {tiki_id}</p>",
        partner = escape(&partner.config.partner_code),
        amount = vnd(t.amount),
        description = escape(&t.description),
        id = escape(&t.transaction_id),
        tiki_id = escape(&t.tiki_transaction_id),
    );
    let body = if t.status == Status::Pending {
        format!(
            "{head}<form method=\"post\" action=\"/pay/{id}\">\
             <button name=\"decision\" value=\"success\" data-testid=\"pay-success\">Pay</button>\
             <button name=\"decision\" value=\"fail\" class=\"fail\" data-testid=\"pay-fail\">Fail</button>\
             <button name=\"decision\" value=\"cancel\" class=\"cancel\" data-testid=\"pay-cancel\">Cancel</button>\
             <button name=\"decision\" value=\"drop-ipn\" class=\"drop\" data-testid=\"pay-drop-ipn\">Pay but drop the IPN</button></form>",
            id = escape(&t.transaction_id),
        )
    } else {
        let ipn = match (&t.last_ipn, t.ipn_dropped) {
            (Some(last), _) => format!(
                "Last IPN: {} (HTTP {}, code {}).",
                last.outcome.as_str(),
                last.http_status.unwrap_or(0),
                last.code.map_or("-".into(), |c| c.to_string())
            ),
            (None, true) => "IPN dropped on purpose: Tiki has to check the transaction.".to_string(),
            (None, false) => "IPN on its way.".to_string(),
        };
        format!(
            "{head}<p>Status <strong data-testid=\"pay-status\">{status}</strong></p><p class=\"muted\">{ipn}</p>\
             <a class=\"button\" data-testid=\"pay-return\" href=\"{back}\">Back to Tiki</a>",
            status = t.status.as_str(),
            ipn = escape(&ipn),
            back = escape(t.return_target().as_str()),
        )
    };
    page("Payment", &body).into_response()
}

#[derive(Deserialize)]
struct DecisionForm {
    decision: Decision,
}

/// The tester's choice: the first one decides the payment, a later one (double tap, back
/// button) changes nothing; either way the browser goes back to Tiki.
async fn decide(State(partner): State<Partner>, Path(transaction_id): Path<String>, Form(form): Form<DecisionForm>) -> Response {
    let mut ledger = partner.ledger();
    let Some(t) = ledger.transactions.get_mut(&transaction_id) else {
        return (StatusCode::NOT_FOUND, page("Not found", "<p data-testid=\"pay-error\">Unknown transaction.</p>")).into_response();
    };
    let mut ipn = None;
    if let Some(next) = t.status.transition(form.decision.status()) {
        t.status = next;
        t.updated_at = domain::now_ms();
        t.ipn_dropped = form.decision == Decision::DropIpn;
        tracing::info!(transaction_id = %t.transaction_id, status = next.as_str(), ipn_dropped = t.ipn_dropped, "payment partner: payment decided");
        if !t.ipn_dropped {
            ipn = Some(t.next_ipn());
        }
    }
    let target = t.return_target();
    drop(ledger);
    if let Some(ipn) = ipn {
        if partner.ipn_queue.send(ipn).is_err() {
            tracing::warn!(%transaction_id, "payment partner is stopping: IPN not sent");
        }
    }
    Redirect::to(target.as_str()).into_response()
}

/// Testers' index: the transactions, newest first.
async fn home(State(partner): State<Partner>) -> Html<String> {
    let mut all: Vec<Transaction> = partner.ledger().transactions.values().cloned().collect();
    all.sort_by_key(|t| std::cmp::Reverse(t.created_at));
    let rows: String = all
        .iter()
        .take(100)
        .map(|t| {
            format!(
                "<tr><td><a href=\"/pay/{id}\">{tiki_id}</a></td><td>{amount}</td><td>{status}</td><td>{refunded}</td><td>{who}</td></tr>",
                id = escape(&t.transaction_id),
                tiki_id = escape(&t.tiki_transaction_id),
                amount = vnd(t.amount),
                status = t.status.as_str(),
                refunded = vnd(t.refunded_amount),
                who = escape(&t.identify_code),
            )
        })
        .collect();
    page(
        "Transactions",
        &format!(
            "<p>A sandbox wallet for Tiki VIP payments (partner {}). IPN attempts: <a href=\"/sandbox/ipn-log\">/sandbox/ipn-log</a>.</p>\
             <h2>Open Tiki VIP as a customer</h2>\
             <form method=\"post\" action=\"/open-vip\" data-testid=\"open-vip-form\">\
             <label>Customer code <input name=\"identify_code\" value=\"WALLET-1001\" required></label> \
             <label>Phone <input name=\"identify_phone\" type=\"tel\" value=\"0912345678\" required></label> \
             <label>Name <input name=\"identify_fullname\" value=\"Nguyen Van Vi\"></label> \
             <label>Language <select name=\"lang\"><option value=\"vi\">Tiếng Việt</option><option value=\"en\">English</option></select></label> \
             <button type=\"submit\">Open Tiki VIP</button></form>\
             <h2>Transactions</h2>\
             <table><tr><th>Tiki transaction</th><th>Amount</th><th>Status</th><th>Refunded</th><th>Customer</th></tr>{rows}</table>",
            escape(&partner.config.partner_code)
        ),
    )
}

#[derive(Deserialize)]
struct OpenVip {
    identify_code: String,
    identify_phone: String,
    identify_fullname: Option<String>,
    lang: Option<String>,
}

/// The super app opens Tiki VIP for its customer, as a real partner does: a signed
/// `POST {tiki}/miniapp/tikivip/webview`, then the webview at `url_open`.
async fn open_vip(State(partner): State<Partner>, axum::Form(f): axum::Form<OpenVip>) -> Response {
    let body = json!({ "identify_code": f.identify_code, "identify_phone": f.identify_phone, "identify_fullname": f.identify_fullname }).to_string();
    let mut req = partner.http.post(format!("{}/miniapp/tikivip/webview", partner.config.tiki_url)).header(header::CONTENT_TYPE, "application/json");
    for (name, value) in tikivip::headers(&partner.config.client_id, &partner.config.client_secret, body.as_bytes(), domain::now_ms()) {
        req = req.header(name, value);
    }
    let answer = req
        .body(body)
        .send()
        .await;
    let answer: Value = match answer {
        Ok(res) => res.json().await.unwrap_or(Value::Null),
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("Tiki did not answer: {e}")).into_response(),
    };
    match answer["data"]["url_open"].as_str() {
        Some(url) => {
            let lang = f.lang.filter(|l| l == "vi" || l == "en").map(|l| format!("&lang={l}")).unwrap_or_default();
            axum::response::Redirect::to(&format!("{url}{lang}")).into_response()
        }
        None => (StatusCode::BAD_GATEWAY, format!("Tiki refused: {answer}")).into_response(),
    }
}

#[derive(Deserialize)]
struct TransactionQuery {
    transaction_id: Option<String>,
}

/// Sends a decided transaction's IPN once more, now, and answers with the attempt.
async fn resend_ipn(State(partner): State<Partner>, Query(q): Query<TransactionQuery>) -> Response {
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
struct FailRefundsQuery {
    count: u32,
}

async fn fail_refunds(State(partner): State<Partner>, Query(q): Query<FailRefundsQuery>) -> Response {
    partner.ledger().fail_refunds = q.count;
    success(json!({ "fail_refunds": q.count }))
}

async fn ipn_log(State(partner): State<Partner>, Query(q): Query<TransactionQuery>) -> Json<Vec<IpnAttempt>> {
    let ledger = partner.ledger();
    Json(ledger.ipn_log.iter().filter(|a| q.transaction_id.as_ref().is_none_or(|id| *id == a.transaction_id)).cloned().collect())
}

/// Serves the payment partner on `listener` until shutdown, its IPN deliveries beside it.
async fn serve(listener: tokio::net::TcpListener, partner: Partner, queue: mpsc::UnboundedReceiver<Ipn>, shutdown: watch::Receiver<bool>) {
    let sender = tokio::spawn(ipn_sender(partner.clone(), queue, shutdown.clone()));
    let api = Router::new()
        .route("/partner/v1/transactions", post(create_transaction).get(check_transaction))
        .route("/partner/v1/refunds", post(refund))
        .route_layer(middleware::from_fn_with_state(partner.clone(), signed));
    let app = Router::new()
        .merge(api)
        .route("/", get(home))
        .route("/open-vip", post(open_vip))
        .route("/pay/{transaction_id}", get(payment_screen).post(decide))
        .route("/sandbox/resend-ipn", post(resend_ipn))
        .route("/sandbox/fail-refunds", post(fail_refunds))
        .route("/sandbox/ipn-log", get(ipn_log))
        .with_state(partner);
    let mut stop = shutdown;
    let stop = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
        tracing::error!(error = %e, "payment partner stopped");
    }
    let _ = sender.await;
}

/// Starts the payment partner on `listen` (port 0 picks one). Returns its URL — `public_url`,
/// or `http://localhost:{port}`, another site than the platform's `127.0.0.1` — and the task
/// that ends once it has stopped.
pub async fn start(
    config: PaymentPartnerConfig,
    listen: SocketAddr,
    public_url: Option<&str>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(String, JoinHandle<()>)> {
    anyhow::ensure!(!config.client_id.is_empty() && !config.client_secret.is_empty(), "the payment partner needs a client_id and a client_secret");
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let bound = listener.local_addr()?;
    let own_url = match public_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => format!("http://localhost:{}", bound.port()),
    };
    let http = reqwest::Client::builder().timeout(IPN_TIMEOUT).redirect(reqwest::redirect::Policy::none()).build()?;
    let (ipn_queue, queue) = mpsc::unbounded_channel();
    let config = PaymentPartnerConfig { tiki_url: config.tiki_url.trim_end_matches('/').to_string(), ..config };
    let partner = Partner { config: Arc::new(config), own_url: own_url.clone(), http, ledger: Arc::default(), ipn_queue };
    Ok((own_url, tokio::spawn(serve(listener, partner, queue, shutdown))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_the_vietnamese_way() {
        assert_eq!(vnd(1_000_000), "1.000.000 ₫");
        assert_eq!(vnd(99_000), "99.000 ₫");
        assert_eq!(vnd(500), "500 ₫");
    }

    #[test]
    fn a_payment_is_decided_once() {
        assert_eq!(Status::Pending.transition(Status::Success), Some(Status::Success));
        assert_eq!(Status::Pending.transition(Status::Pending), None);
        for decided in [Status::Success, Status::Failure, Status::Cancelled] {
            for to in [Status::Pending, Status::Success, Status::Failure, Status::Cancelled] {
                assert_eq!(decided.transition(to), None);
            }
        }
        assert_eq!(Status::Cancelled.ipn_status(), "FAILURE");
    }
}
