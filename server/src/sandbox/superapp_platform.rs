//! The sandbox super-app platform: the Alipay Connect side of the benefit APIs (counterparts.md
//! §2), on its own port with its own RSA key, while Joygate plays the ISV. It signs every request
//! and answer and verifies ours exactly as §2.5 says (the ISV's public keys by `keyVersion`,
//! `Request-Time`/`Response-Time` within 5 minutes), so nothing of the exchange is mocked.
//!
//! What it does:
//! - the platform APIs (`POST /v1/marketing/benefit/sync`, `…/sync/query`, `…/used/sync`),
//!   answering `{"result":{"resultStatus","resultCode","resultMessage"},…}`: syncBenefit is
//!   idempotent by benefitSyncRequestId and refuses a change of clientCode, benefitContent or
//!   benefitBudget after a sync (PARAM_ILLEGAL); a sync is then reviewed (`review_ms`) with the
//!   result the tester chose (pass, AUDIT_FAIL, INNER_PROCESS_FAIL, SYNC_CLIENT_FAIL) and the
//!   ISV is told by notifyBenefitSync (retried until it answers `success: true`);
//!   syncUsedBenefit (idempotent by benefitUseRequestId) deactivates the user's benefit;
//! - the console `GET /` (what was synced, its review, "Release" for the super app's operator,
//!   the knobs, the exchange log) and the super app's user page `GET /app?user=…` (phone width:
//!   the released benefits, Collect, the codes collected and their status);
//! - a collect calls issueBenefit, retrying on `U` (UNKNOWN_EXCEPTION or any code the seed does
//!   not define) and on no answer within `issue_timeout_ms` (5 s, as Alipay+ notify APIs) with
//!   the same benefitIssueRequestId; after its retries it reverses (reverseBenefitIssue, until
//!   it succeeds) and inquires (inquireBenefitIssue);
//! - knobs for testers, JSON over HTTP (`GET`/`POST /sandbox/knobs`): `review`,
//!   `dropResponses` (the next N issue answers are thrown away, as if they never came),
//!   `slowMs` (it waits this long before answering the ISV's calls), `duplicates` (each
//!   issueBenefit is sent this many more times at once), `reverseFirst` (the next collect sends
//!   its reversal before its issue), `skipNotify` (the ISV has to inquire), `usedSyncScript`
//!   (answers for the next syncUsedBenefit calls: `U`, `F`, `timeout`), `timeoutMs` (how long a
//!   scripted `timeout` waits);
//! - for tests: `POST /sandbox/collect` `{userId, benefitTemplateId, clientCode?, quantity?}`,
//!   `POST /sandbox/release` `{benefitTemplateId}`, `GET /sandbox/state`, `GET /sandbox/log`,
//!   `POST /sandbox/isv-keys` `{keyVersion, publicKey}` (after rotating our key).
//!
//! State is in memory: this is a sandbox counterpart, not the product.

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context;
use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Form, Json, Router,
};
use domain::signing::{alipay_plus, RsaPrivateKey, RsaPublicKey, TimestampWindow};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::{sync::watch, task::JoinHandle};

use crate::http::oidc::page::escape;

/// The Client-Id the sandbox platform gave Joygate (used in both directions).
pub const CLIENT_ID: &str = "SANDBOX_5Y00000000000001";
/// Its one super app.
pub const CLIENT_CODE: &str = "SANDBOXAPP";
/// The partner shop (a client of Joygate's provider) whose cashier spends the sandbox vouchers.
pub const SANDBOX_SHOP: &str = "sandbox-shop";
/// The codes the seed defines for the ISV's answers: anything else is a system error (U).
const DEFINED_CODES: [&str; 9] = [
    "UNKNOWN_EXCEPTION",
    "PROCESS_FAIL",
    "PARAM_ILLEGAL",
    "METHOD_NOT_SUPPORTED",
    "MEDIA_TYPE_NOT_ACCEPTABLE",
    "INVALID_CLIENT",
    "INVALID_SIGNATURE",
    "ISSUE_REQUEST_ID_NOT_EXIST",
    "SYNC_REQUEST_ID_NOT_EXIST",
];
const WINDOW: TimestampWindow = TimestampWindow::FIVE_MINUTES;
const MAX_LOG: usize = 2_000;

/// Where the ISV's four APIs are.
#[derive(Clone, Debug)]
pub struct IsvEndpoints {
    pub base_url: String,
    pub notify_path: String,
    pub issue_path: String,
    pub reverse_path: String,
    pub query_path: String,
}

pub struct SuperappConfig {
    pub client_id: String,
    pub isv: IsvEndpoints,
    /// The platform's own key and its version.
    pub key: RsaPrivateKey,
    pub key_version: i64,
    /// The ISV's public keys by version.
    pub isv_keys: Vec<(i64, RsaPublicKey)>,
    pub issue_timeout_ms: u64,
    pub issue_retries: u32,
    pub retry_wait_ms: u64,
    pub review_ms: u64,
}

/// The review result a tester chose for the next syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Review {
    #[default]
    Pass,
    AuditFail,
    InnerProcessFail,
    SyncClientFail,
}

impl Review {
    fn fail(self) -> Option<(&'static str, &'static str)> {
        match self {
            Review::Pass => None,
            Review::AuditFail => Some(("AUDIT_FAIL", "The benefit failed the review: its content does not meet the super app's rules.")),
            Review::InnerProcessFail => Some(("INNER_PROCESS_FAIL", "Internal processing of the benefit failed.")),
            Review::SyncClientFail => Some(("SYNC_CLIENT_FAIL", "The benefit could not be synced to the super app.")),
        }
    }

    fn parse(s: &str) -> Option<Review> {
        serde_json::from_value(json!(s.trim().to_ascii_uppercase())).ok()
    }
}

/// A scripted answer to a syncUsedBenefit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scripted {
    U,
    F,
    #[serde(rename = "timeout")]
    Timeout,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Knobs {
    pub review: Review,
    pub drop_responses: u32,
    pub slow_ms: u64,
    pub duplicates: u32,
    pub reverse_first: bool,
    pub skip_notify: bool,
    pub used_sync_script: VecDeque<Scripted>,
    pub timeout_ms: u64,
}

impl Default for Knobs {
    fn default() -> Self {
        Self { review: Review::Pass, drop_responses: 0, slow_ms: 0, duplicates: 0, reverse_first: false, skip_notify: false, used_sync_script: VecDeque::new(), timeout_ms: 6_000 }
    }
}

/// A synced benefit's review, as the platform reports it (syncStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
enum SyncState {
    Processing,
    Success,
    Fail,
}

impl SyncState {
    fn as_str(self) -> &'static str {
        match self {
            SyncState::Processing => "PROCESSING",
            SyncState::Success => "SUCCESS",
            SyncState::Fail => "FAIL",
        }
    }
}

/// How a collect ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
enum CollectOutcome {
    /// issueBenefit succeeded (at some attempt).
    Collected,
    /// The ISV refused it with a defined code (no retry).
    Failed,
    /// No answer after the retries: reversed.
    Reversed,
}

/// A benefit the ISV synced.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Benefit {
    template_id: String,
    sync_request_id: String,
    title: String,
    begin_time: String,
    end_time: String,
    client_codes: Vec<String>,
    content: Value,
    budget: Value,
    sync_status: SyncState,
    fail_code: Option<&'static str>,
    fail_reason: Option<&'static str>,
    released: bool,
}

/// A syncBenefit received, kept under its id with the answer given.
struct SyncEntry {
    body: Value,
    template_id: String,
    answer: Value,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Voucher {
    benefit_instance_id: String,
    benefit_code: Option<String>,
    benefit_pin: Option<String>,
    benefit_url: Option<String>,
    status: String,
    expire_time: String,
}

/// One collect by a user, and how it ended.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Collect {
    issue_request_id: String,
    user_id: String,
    client_code: String,
    template_id: String,
    outcome: CollectOutcome,
    result_code: Option<String>,
    message: Option<String>,
    vouchers: Vec<Voucher>,
    attempts: u32,
}

/// One message of the exchange, for the console and tests.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct LogLine {
    at: i64,
    /// `to_isv` (we called the ISV) or `from_isv`.
    direction: &'static str,
    api: &'static str,
    request_id: String,
    outcome: String,
}

#[derive(Default)]
struct World {
    benefits: HashMap<String, Benefit>,
    syncs: HashMap<String, SyncEntry>,
    collects: Vec<Collect>,
    /// benefitUseRequestId → (benefitInstanceId, the answer given)
    used: HashMap<String, (String, Value)>,
    knobs: Knobs,
    log: Vec<LogLine>,
}

#[derive(Clone)]
struct Platform {
    config: Arc<SuperappConfig>,
    isv_keys: Arc<Mutex<HashMap<i64, RsaPublicKey>>>,
    world: Arc<Mutex<World>>,
    http: reqwest::Client,
    shutdown: watch::Receiver<bool>,
}

/// What came back from a call to the ISV.
enum Answer {
    /// A verified answer.
    Signed(Value),
    /// No usable answer: a timeout, a network error, not 200, a bad signature.
    Nothing(String),
}

impl Platform {
    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn log(&self, direction: &'static str, api: &'static str, request_id: &str, outcome: impl Into<String>) {
        let mut w = self.world();
        w.log.push(LogLine { at: domain::now_ms(), direction, api, request_id: request_id.to_string(), outcome: outcome.into() });
        let excess = w.log.len().saturating_sub(MAX_LOG);
        w.log.drain(..excess);
    }

    fn sign(&self, method: &str, uri: &str, time: &str, body: &[u8]) -> String {
        alipay_plus::sign_header(&self.config.key, self.config.key_version as u32, method, uri, &self.config.client_id, time, body)
    }

    /// Checks an ISV signature (a request with Request-Time, or an answer with Response-Time).
    fn verify_isv(&self, headers: &HeaderMap, time_header: &str, method: &str, uri: &str, body: &[u8]) -> Result<(), String> {
        let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let time = h(time_header).ok_or_else(|| format!("no {time_header}"))?;
        alipay_plus::check_time(time, WINDOW, domain::now_ms()).map_err(|e| format!("{time_header}: {e}"))?;
        let signature = h(alipay_plus::HEADER_SIGNATURE).ok_or("no Signature")?;
        let parsed = alipay_plus::parse_header(signature).map_err(|e| e.to_string())?;
        let keys = self.isv_keys.lock().unwrap_or_else(|e| e.into_inner());
        let version: Option<i64> = parsed.key_version.as_deref().and_then(|v| v.trim().parse().ok());
        let key = match version {
            Some(v) => keys.get(&v),
            None => keys.iter().max_by_key(|(v, _)| **v).map(|(_, k)| k),
        }
        .ok_or("no ISV key of this keyVersion")?;
        alipay_plus::verify(key, signature, method, uri, &self.config.client_id, time, body).map(|_| ()).map_err(|e| e.to_string())
    }

    /// A signed POST to one of the ISV's APIs; the answer counts only if its signature holds.
    async fn call_isv(&self, path: &str, body: &Value, timeout_ms: u64) -> Answer {
        let raw = body.to_string();
        let time = alipay_plus::format_time(domain::now_ms());
        let url = format!("{}{path}", self.config.isv.base_url);
        let signature = self.sign("POST", path, &time, raw.as_bytes());
        let sent = self
            .http
            .post(&url)
            .timeout(Duration::from_millis(timeout_ms))
            .header(header::CONTENT_TYPE, "application/json; charset=UTF-8")
            .header(alipay_plus::HEADER_CLIENT_ID, &self.config.client_id)
            .header(alipay_plus::HEADER_REQUEST_TIME, &time)
            .header(alipay_plus::HEADER_SIGNATURE, signature)
            .body(raw)
            .send()
            .await;
        let res = match sent {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Answer::Nothing(format!("no answer within {timeout_ms} ms")),
            Err(e) => return Answer::Nothing(e.without_url().to_string()),
        };
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = match res.bytes().await {
            Ok(b) => b,
            Err(e) => return Answer::Nothing(e.without_url().to_string()),
        };
        if status != StatusCode::OK {
            return Answer::Nothing(format!("HTTP {}", status.as_u16()));
        }
        if let Err(why) = self.verify_isv(&headers, alipay_plus::HEADER_RESPONSE_TIME, "POST", path, &bytes) {
            return Answer::Nothing(format!("the answer's signature: {why}"));
        }
        match serde_json::from_slice(&bytes) {
            Ok(v) => Answer::Signed(v),
            Err(e) => Answer::Nothing(format!("the answer is not JSON: {e}")),
        }
    }

    async fn pause(&self, ms: u64) {
        let mut stop = self.shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    }
}

/// The platform's answer `{"result":…}` plus `extra`, signed over the request's URI.
fn platform_answer(p: &Platform, uri: &str, status: &str, code: &str, message: &str, extra: Value) -> Response {
    let mut body = json!({ "result": { "resultStatus": status, "resultCode": code, "resultMessage": message } });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    signed_answer(p, uri, body)
}

fn signed_answer(p: &Platform, uri: &str, body: Value) -> Response {
    let raw = body.to_string();
    let time = alipay_plus::format_time(domain::now_ms());
    let signature = p.sign("POST", uri, &time, raw.as_bytes());
    let mut res = (StatusCode::OK, raw).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=UTF-8"));
    for (name, value) in [(alipay_plus::HEADER_CLIENT_ID, p.config.client_id.clone()), (alipay_plus::HEADER_RESPONSE_TIME, time), (alipay_plus::HEADER_SIGNATURE, signature)] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    res
}

/// Checks a call from the ISV; `Err` is the signed refusal to send.
fn check_call(p: &Platform, method: &Method, uri: &str, headers: &HeaderMap, body: &[u8]) -> Result<Value, Response> {
    if *method != Method::POST {
        return Err(platform_answer(p, uri, "F", "METHOD_NOT_SUPPORTED", "POST only", json!({})));
    }
    let client = headers.get(alipay_plus::HEADER_CLIENT_ID).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if client != p.config.client_id {
        return Err(platform_answer(p, uri, "F", "INVALID_CLIENT", "unknown Client-Id", json!({})));
    }
    if let Err(why) = p.verify_isv(headers, alipay_plus::HEADER_REQUEST_TIME, method.as_str(), uri, body) {
        return Err(platform_answer(p, uri, "F", "INVALID_SIGNATURE", &why, json!({})));
    }
    serde_json::from_slice(body).map_err(|e| platform_answer(p, uri, "F", "PARAM_ILLEGAL", &format!("not JSON: {e}"), json!({})))
}

fn text<'a>(v: &'a Value, key: &str, max: usize) -> Result<&'a str, String> {
    match v[key].as_str() {
        Some(s) if !s.is_empty() && s.chars().count() <= max => Ok(s),
        Some(_) => Err(format!("{key} must be 1 to {max} characters")),
        None => Err(format!("{key} is required")),
    }
}

fn iso(v: &Value, key: &str) -> Result<String, String> {
    let s = text(v, key, 64)?;
    alipay_plus::parse_time_ms(s).map_err(|_| format!("{key} must be ISO 8601 with an offset"))?;
    Ok(s.to_string())
}

/// `POST /v1/marketing/benefit/sync`
async fn sync_benefit(State(p): State<Platform>, method: Method, headers: HeaderMap, body: Bytes) -> Response {
    const URI: &str = "/v1/marketing/benefit/sync";
    let req = match check_call(&p, &method, URI, &headers, &body) {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    let slow = p.world().knobs.slow_ms;
    p.pause(slow).await;
    let id = req["benefitSyncRequestId"].as_str().unwrap_or_default().to_string();
    let checked = (|| -> Result<Benefit, String> {
        text(&req, "benefitSyncRequestId", 64)?;
        let template_id = text(&req, "benefitTemplateId", 64)?.to_string();
        if req["benefitProductCode"] != "SPICE_SECRET_VOUCHER" {
            return Err("benefitProductCode must be SPICE_SECRET_VOUCHER".into());
        }
        let codes: Vec<String> = req["clientCode"].as_array().map(|a| a.iter().filter_map(|c| c.as_str().map(str::to_string)).collect()).unwrap_or_default();
        if codes.is_empty() {
            return Err("clientCode must list the super apps".into());
        }
        if !req["benefitContent"].is_object() || !req["benefitBudget"]["totalQuantity"].is_i64() {
            return Err("benefitContent and benefitBudget.totalQuantity are required".into());
        }
        Ok(Benefit {
            template_id,
            sync_request_id: text(&req, "benefitSyncRequestId", 64)?.to_string(),
            title: text(&req, "benefitTitle", 128)?.to_string(),
            begin_time: iso(&req, "benefitBeginTime")?,
            end_time: iso(&req, "benefitEndTime")?,
            client_codes: codes,
            content: req["benefitContent"].clone(),
            budget: req["benefitBudget"].clone(),
            sync_status: SyncState::Processing,
            fail_code: None,
            fail_reason: None,
            released: false,
        })
    })();
    let benefit = match checked {
        Ok(b) => b,
        Err(why) => {
            p.log("from_isv", "syncBenefit", &id, format!("F PARAM_ILLEGAL {why}"));
            return platform_answer(&p, URI, "F", "PARAM_ILLEGAL", &why, json!({}));
        }
    };
    let answer = {
        let mut w = p.world();
        if let Some(seen) = w.syncs.get(&id) {
            let answer = if seen.body == req { seen.answer.clone() } else { json!(["F", "PARAM_ILLEGAL", "benefitSyncRequestId was used for another sync"]) };
            drop(w);
            p.log("from_isv", "syncBenefit", &id, "replay");
            return platform_answer(&p, URI, answer[0].as_str().unwrap_or("F"), answer[1].as_str().unwrap_or(""), answer[2].as_str().unwrap_or(""), json!({}));
        }
        let immutable_changed = w.benefits.get(&benefit.template_id).filter(|b| b.sync_status != SyncState::Fail || b.released).is_some_and(|b| {
            b.client_codes != benefit.client_codes || b.content != benefit.content || b.budget != benefit.budget
        });
        let answer = if immutable_changed {
            json!(["F", "PARAM_ILLEGAL", "clientCode, benefitContent and benefitBudget cannot change after a sync"])
        } else {
            let released = w.benefits.get(&benefit.template_id).is_some_and(|b| b.released);
            w.benefits.insert(benefit.template_id.clone(), Benefit { released, ..benefit.clone() });
            json!(["S", "SUCCESS", "Success"])
        };
        w.syncs.insert(id.clone(), SyncEntry { body: req.clone(), template_id: benefit.template_id.clone(), answer: answer.clone() });
        answer
    };
    p.log("from_isv", "syncBenefit", &id, format!("{} {}", answer[0].as_str().unwrap_or(""), answer[1].as_str().unwrap_or("")));
    if answer[0] == "S" {
        tokio::spawn(review(p.clone(), id));
    }
    platform_answer(&p, URI, answer[0].as_str().unwrap_or("F"), answer[1].as_str().unwrap_or(""), answer[2].as_str().unwrap_or(""), json!({}))
}

/// Reviews a sync after `review_ms` with the chosen result, then tells the ISV.
async fn review(p: Platform, sync_request_id: String) {
    p.pause(p.config.review_ms).await;
    let (notice, skip) = {
        let mut w = p.world();
        let review = w.knobs.review;
        let skip = w.knobs.skip_notify;
        let Some(template_id) = w.syncs.get(&sync_request_id).map(|s| s.template_id.clone()) else { return };
        let Some(b) = w.benefits.get_mut(&template_id).filter(|b| b.sync_request_id == sync_request_id) else { return };
        match review.fail() {
            None => b.sync_status = SyncState::Success,
            Some((code, reason)) => {
                b.sync_status = SyncState::Fail;
                b.fail_code = Some(code);
                b.fail_reason = Some(reason);
            }
        }
        let mut notice = json!({ "benefitSyncRequestId": sync_request_id, "syncStatus": b.sync_status.as_str() });
        if let (Some(code), Some(reason)) = (b.fail_code, b.fail_reason) {
            notice["syncFailCode"] = json!(code);
            notice["syncFailReason"] = json!(reason);
        }
        (notice, skip)
    };
    if skip {
        p.log("to_isv", "notifyBenefitSync", &sync_request_id, "skipped (knob skipNotify)");
        return;
    }
    for attempt in 1..=10u32 {
        if *p.shutdown.borrow() {
            return;
        }
        match p.call_isv(&p.config.isv.notify_path.clone(), &notice, p.config.issue_timeout_ms).await {
            Answer::Signed(a) if a["success"] == true => {
                p.log("to_isv", "notifyBenefitSync", &sync_request_id, format!("received (attempt {attempt})"));
                return;
            }
            Answer::Signed(a) => p.log("to_isv", "notifyBenefitSync", &sync_request_id, format!("refused: {}", a["resultCode"])),
            Answer::Nothing(why) => p.log("to_isv", "notifyBenefitSync", &sync_request_id, format!("no answer: {why}")),
        }
        p.pause(p.config.retry_wait_ms.saturating_mul(u64::from(attempt))).await;
    }
}

/// `POST /v1/marketing/benefit/sync/query`
async fn inquire_sync(State(p): State<Platform>, method: Method, headers: HeaderMap, body: Bytes) -> Response {
    const URI: &str = "/v1/marketing/benefit/sync/query";
    let req = match check_call(&p, &method, URI, &headers, &body) {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    let slow = p.world().knobs.slow_ms;
    p.pause(slow).await;
    let id = req["benefitSyncRequestId"].as_str().unwrap_or_default().to_string();
    let found = {
        let w = p.world();
        w.syncs.get(&id).and_then(|s| w.benefits.get(&s.template_id).map(|b| (s.answer.clone(), b.clone())))
    };
    let answer = match found {
        None => platform_answer(&p, URI, "F", "SYNC_REQUEST_ID_NOT_EXIST", "The request ID of benefit synchronization does not exist.", json!({})),
        Some((given, _)) if given[0] != "S" => platform_answer(&p, URI, "F", "SYNC_REQUEST_ID_NOT_EXIST", "That sync was refused.", json!({})),
        Some((_, b)) => {
            // a later sync of the same template supersedes this one: it is then done
            let status = if b.sync_request_id == id { b.sync_status } else { SyncState::Success };
            let mut extra = json!({ "syncStatus": status.as_str() });
            if status == SyncState::Fail {
                extra["syncFailCode"] = json!(b.fail_code);
                extra["syncFailReason"] = json!(b.fail_reason);
            }
            platform_answer(&p, URI, "S", "SUCCESS", "Success", extra)
        }
    };
    p.log("from_isv", "inquireBenefitSync", &id, "answered");
    answer
}

/// `POST /v1/marketing/benefit/used/sync`
async fn sync_used(State(p): State<Platform>, method: Method, headers: HeaderMap, body: Bytes) -> Response {
    const URI: &str = "/v1/marketing/benefit/used/sync";
    let req = match check_call(&p, &method, URI, &headers, &body) {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    let id = req["benefitUseRequestId"].as_str().unwrap_or_default().to_string();
    let (slow, scripted, timeout_ms) = {
        let mut w = p.world();
        (w.knobs.slow_ms, w.knobs.used_sync_script.pop_front(), w.knobs.timeout_ms)
    };
    p.pause(slow).await;
    match scripted {
        Some(Scripted::U) => {
            p.log("from_isv", "syncUsedBenefit", &id, "U (scripted)");
            return platform_answer(&p, URI, "U", "UNKNOWN_EXCEPTION", "scripted: try again", json!({}));
        }
        Some(Scripted::F) => {
            p.log("from_isv", "syncUsedBenefit", &id, "F (scripted)");
            return platform_answer(&p, URI, "F", "PROCESS_FAIL", "scripted: refused", json!({}));
        }
        Some(Scripted::Timeout) => {
            p.log("from_isv", "syncUsedBenefit", &id, format!("timeout (scripted: answering after {timeout_ms} ms)"));
            p.pause(timeout_ms).await;
            return platform_answer(&p, URI, "U", "UNKNOWN_EXCEPTION", "too late", json!({}));
        }
        None => {}
    }
    let checked = (|| -> Result<(), String> {
        for (key, max) in [("benefitUseRequestId", 64), ("userId", 32), ("clientCode", 32), ("benefitInstanceId", 64), ("benefitTemplateId", 64), ("useScene", 64)] {
            text(&req, key, max)?;
        }
        iso(&req, "benefitUseDate")?;
        Ok(())
    })();
    if let Err(why) = checked {
        p.log("from_isv", "syncUsedBenefit", &id, format!("F PARAM_ILLEGAL {why}"));
        return platform_answer(&p, URI, "F", "PARAM_ILLEGAL", &why, json!({}));
    }
    let instance = req["benefitInstanceId"].as_str().unwrap_or_default().to_string();
    let outcome = {
        let mut w = p.world();
        if let Some((seen, _)) = w.used.get(&id) {
            if *seen == instance { "replay" } else { "conflict" }
        } else {
            let voucher = w.collects.iter_mut().filter(|c| c.user_id == req["userId"].as_str().unwrap_or_default()).flat_map(|c| c.vouchers.iter_mut()).find(|v| v.benefit_instance_id == instance);
            match voucher {
                Some(v) => {
                    v.status = "USED".into();
                    w.used.insert(id.clone(), (instance.clone(), json!({})));
                    "deactivated"
                }
                None => "unknown",
            }
        }
    };
    p.log("from_isv", "syncUsedBenefit", &id, outcome);
    match outcome {
        "deactivated" | "replay" => platform_answer(&p, URI, "S", "SUCCESS", "Success", json!({})),
        "conflict" => platform_answer(&p, URI, "F", "PARAM_ILLEGAL", "benefitUseRequestId was used for another benefit", json!({})),
        _ => platform_answer(&p, URI, "F", "PROCESS_FAIL", "the super app has no such benefit of this user", json!({})),
    }
}

/// How an issueBenefit answer is read: S, F with its code, or U (retry).
enum IssueReading {
    Issued(Vec<Value>),
    Refused(String, String),
    Unknown(String),
}

fn read_issue(a: Answer) -> IssueReading {
    match a {
        Answer::Nothing(why) => IssueReading::Unknown(why),
        Answer::Signed(v) if v["success"] == true => IssueReading::Issued(v["benefitDetails"].as_array().cloned().unwrap_or_default()),
        Answer::Signed(v) => {
            let code = v["resultCode"].as_str().unwrap_or_default().to_string();
            let message = v["resultMessage"].as_str().unwrap_or_default().to_string();
            if code == "UNKNOWN_EXCEPTION" || !DEFINED_CODES.contains(&code.as_str()) {
                IssueReading::Unknown(format!("{code}: {message}")) // undefined codes are system errors
            } else {
                IssueReading::Refused(code, message)
            }
        }
    }
}

fn voucher_of(d: &Value) -> Voucher {
    let s = |k: &str| d[k].as_str().map(str::to_string);
    Voucher {
        benefit_instance_id: s("benefitInstanceId").unwrap_or_default(),
        benefit_code: s("benefitCode"),
        benefit_pin: s("benefitPin"),
        benefit_url: s("benefitUrl"),
        status: s("status").unwrap_or_default(),
        expire_time: s("expireTime").unwrap_or_default(),
    }
}

/// `20261124095933123` (the time to the millisecond) and 7 random digits: 24 digits, like the
/// documented `20211111010101000001234`.
fn new_issue_request_id() -> String {
    let stamp = alipay_plus::format_time(domain::now_ms()).chars().filter(char::is_ascii_digit).take(17).collect::<String>();
    format!("{stamp}{:07}", uuid::Uuid::new_v4().as_u128() % 10_000_000)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CollectRequest {
    user_id: String,
    benefit_template_id: String,
    client_code: Option<String>,
    quantity: Option<i64>,
}

/// A user taps Collect: issueBenefit with retries, then reverse and inquire if no answer came.
async fn collect(p: &Platform, r: CollectRequest) -> Collect {
    let issue_request_id = new_issue_request_id();
    let client_code = r.client_code.unwrap_or_else(|| CLIENT_CODE.to_string());
    let request = json!({
        "benefitIssueRequestId": issue_request_id,
        "userId": r.user_id,
        "clientCode": client_code,
        "benefitTemplateId": r.benefit_template_id,
        "quantity": r.quantity.unwrap_or(1),
    });
    let reverse_body = json!({ "benefitIssueRequestId": issue_request_id, "userId": r.user_id, "benefitTemplateId": r.benefit_template_id, "clientCode": client_code });
    let mut c = Collect {
        issue_request_id: issue_request_id.clone(),
        user_id: r.user_id.clone(),
        client_code: client_code.clone(),
        template_id: r.benefit_template_id.clone(),
        outcome: CollectOutcome::Reversed,
        result_code: None,
        message: None,
        vouchers: Vec::new(),
        attempts: 0,
    };
    let reverse_first = std::mem::take(&mut p.world().knobs.reverse_first);
    if reverse_first {
        reverse(p, &issue_request_id, &reverse_body).await;
    }
    let timeout = p.config.issue_timeout_ms;
    let path = p.config.isv.issue_path.clone();
    for attempt in 1..=p.config.issue_retries + 1 {
        c.attempts = attempt;
        // duplicates: the same request sent again at the same moment, as a flaky network does
        let mut copies = tokio::task::JoinSet::new();
        for _ in 0..p.world().knobs.duplicates {
            let (p, path, request) = (p.clone(), path.clone(), request.clone());
            copies.spawn(async move { p.call_isv(&path, &request, timeout).await });
        }
        let first = p.call_isv(&path, &request, timeout).await;
        let extra = copies.join_all().await;
        for (n, a) in extra.into_iter().enumerate() {
            let outcome = match read_issue(a) {
                IssueReading::Issued(d) => format!("duplicate {}: issued {} (the same benefits)", n + 1, d.len()),
                IssueReading::Refused(code, _) => format!("duplicate {}: {code}", n + 1),
                IssueReading::Unknown(why) => format!("duplicate {}: unknown: {why}", n + 1),
            };
            p.log("to_isv", "issueBenefit", &issue_request_id, outcome);
        }
        let dropped = {
            let mut w = p.world();
            let drop = w.knobs.drop_responses > 0 && matches!(first, Answer::Signed(_));
            if drop {
                w.knobs.drop_responses -= 1;
            }
            drop
        };
        let reading = if dropped { IssueReading::Unknown("answer dropped (knob dropResponses)".into()) } else { read_issue(first) };
        match reading {
            IssueReading::Issued(details) => {
                p.log("to_isv", "issueBenefit", &issue_request_id, format!("issued {} (attempt {attempt})", details.len()));
                c.outcome = CollectOutcome::Collected;
                c.vouchers = details.iter().map(voucher_of).collect();
                return c;
            }
            IssueReading::Refused(code, message) => {
                p.log("to_isv", "issueBenefit", &issue_request_id, format!("refused {code} (attempt {attempt})"));
                c.outcome = CollectOutcome::Failed;
                c.result_code = Some(code);
                c.message = Some(message);
                return c;
            }
            IssueReading::Unknown(why) => {
                p.log("to_isv", "issueBenefit", &issue_request_id, format!("unknown (attempt {attempt}): {why}"));
                c.message = Some(why);
            }
        }
        if attempt <= p.config.issue_retries {
            p.pause(p.config.retry_wait_ms).await;
        }
    }
    // Retries spent: reverse (it must succeed), then inquire what the ISV holds.
    reverse(p, &issue_request_id, &reverse_body).await;
    let query = json!({ "benefitIssueRequestId": issue_request_id });
    let state = match p.call_isv(&p.config.isv.query_path.clone(), &query, timeout).await {
        Answer::Signed(v) if v["success"] == true => {
            let statuses: Vec<String> = v["benefitDetails"].as_array().into_iter().flatten().filter_map(|d| d["status"].as_str().map(str::to_string)).collect();
            format!("success, statuses {statuses:?}")
        }
        Answer::Signed(v) => format!("{}", v["resultCode"]),
        Answer::Nothing(why) => format!("no answer: {why}"),
    };
    p.log("to_isv", "inquireBenefitIssue", &issue_request_id, state);
    c
}

/// reverseBenefitIssue until the ISV says success (at most 10 times).
async fn reverse(p: &Platform, issue_request_id: &str, body: &Value) {
    for attempt in 1..=10u32 {
        match p.call_isv(&p.config.isv.reverse_path.clone(), body, p.config.issue_timeout_ms).await {
            Answer::Signed(v) if v["success"] == true => {
                p.log("to_isv", "reverseBenefitIssue", issue_request_id, format!("reversed (attempt {attempt})"));
                return;
            }
            Answer::Signed(v) => p.log("to_isv", "reverseBenefitIssue", issue_request_id, format!("refused {}", v["resultCode"])),
            Answer::Nothing(why) => p.log("to_isv", "reverseBenefitIssue", issue_request_id, format!("no answer: {why}")),
        }
        if *p.shutdown.borrow() {
            return;
        }
        p.pause(p.config.retry_wait_ms).await;
    }
}

async fn collect_api(State(p): State<Platform>, Json(r): Json<CollectRequest>) -> Response {
    let c = collect(&p, r).await;
    p.world().collects.push(c.clone());
    Json(c).into_response()
}

#[derive(Deserialize)]
struct CollectForm {
    user: String,
    template_id: String,
}

async fn collect_form(State(p): State<Platform>, Form(f): Form<CollectForm>) -> Response {
    let user = f.user.trim().to_string();
    let c = collect(&p, CollectRequest { user_id: user.clone(), benefit_template_id: f.template_id, client_code: None, quantity: None }).await;
    p.world().collects.push(c);
    Redirect::to(&format!("/app?user={}", url::form_urlencoded::byte_serialize(user.as_bytes()).collect::<String>())).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReleaseRequest {
    benefit_template_id: String,
}

fn release_one(p: &Platform, template_id: &str) -> Result<(), String> {
    let mut w = p.world();
    let b = w.benefits.get_mut(template_id).ok_or("no such benefit")?;
    if b.sync_status != SyncState::Success {
        return Err(format!("the benefit is {}, not SUCCESS: it cannot be released", b.sync_status.as_str()));
    }
    b.released = true;
    Ok(())
}

async fn release_api(State(p): State<Platform>, Json(r): Json<ReleaseRequest>) -> Response {
    match release_one(&p, &r.benefit_template_id) {
        Ok(()) => Json(json!({ "released": r.benefit_template_id })).into_response(),
        Err(why) => (StatusCode::CONFLICT, Json(json!({ "error": why }))).into_response(),
    }
}

async fn release_form(State(p): State<Platform>, Path(template_id): Path<String>) -> Response {
    if let Err(why) = release_one(&p, &template_id) {
        return (StatusCode::CONFLICT, page("Release", &format!("<p data-testid=\"release-error\">{}</p>", escape(&why)))).into_response();
    }
    Redirect::to("/").into_response()
}

async fn knobs_get(State(p): State<Platform>) -> Json<Knobs> {
    Json(p.world().knobs.clone())
}

/// Partial update: only the knobs named in the body change.
async fn knobs_set(State(p): State<Platform>, Json(change): Json<Value>) -> Response {
    let mut w = p.world();
    let mut current = serde_json::to_value(&w.knobs).unwrap_or(Value::Null);
    if let (Some(cur), Some(new)) = (current.as_object_mut(), change.as_object()) {
        for (k, v) in new {
            if !cur.contains_key(k) {
                return (StatusCode::BAD_REQUEST, Json(json!({ "error": format!("unknown knob {k}") }))).into_response();
            }
            cur.insert(k.clone(), v.clone());
        }
    }
    match serde_json::from_value::<Knobs>(current) {
        Ok(k) => {
            w.knobs = k.clone();
            Json(k).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({ "error": e.to_string() }))).into_response(),
    }
}

#[derive(Deserialize)]
struct ReviewForm {
    review: String,
}

async fn review_form(State(p): State<Platform>, Form(f): Form<ReviewForm>) -> Response {
    match Review::parse(&f.review) {
        Some(r) => {
            p.world().knobs.review = r;
            Redirect::to("/").into_response()
        }
        None => (StatusCode::BAD_REQUEST, "unknown review result").into_response(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IsvKey {
    key_version: i64,
    public_key: String,
}

async fn add_isv_key(State(p): State<Platform>, Json(k): Json<IsvKey>) -> Response {
    match RsaPublicKey::from_spki_base64(&k.public_key) {
        Ok(key) if k.key_version > 0 => {
            p.isv_keys.lock().unwrap_or_else(|e| e.into_inner()).insert(k.key_version, key);
            Json(json!({ "keyVersion": k.key_version })).into_response()
        }
        _ => (StatusCode::BAD_REQUEST, Json(json!({ "error": "publicKey must be base64 X.509 DER and keyVersion ≥ 1" }))).into_response(),
    }
}

async fn state_api(State(p): State<Platform>) -> Json<Value> {
    let w = p.world();
    let mut benefits: Vec<&Benefit> = w.benefits.values().collect();
    benefits.sort_by(|a, b| a.template_id.cmp(&b.template_id));
    Json(json!({ "benefits": benefits, "collects": w.collects }))
}

async fn log_api(State(p): State<Platform>) -> Json<Value> {
    Json(json!(p.world().log))
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Sandbox super app</title><link rel=\"icon\" href=\"data:,\"><style>body{{font-family:system-ui,sans-serif;margin:0 auto;padding:16px;max-width:480px;color:#1d1d1f}}\
         .card{{border:1px solid #e0e0e0;border-radius:14px;padding:14px;margin:12px 0}} .amount{{font-size:1.6rem;font-weight:700}} .muted{{color:#5f6368;font-size:.85rem;word-break:break-all}}\
         .code{{font:700 1.5rem ui-monospace,monospace;letter-spacing:.08em;background:#f1f3f4;border-radius:8px;padding:8px;text-align:center;word-break:break-all}}\
         button{{display:block;width:100%;box-sizing:border-box;min-height:48px;padding:12px;border-radius:12px;border:0;background:#0958d9;color:#fff;font:inherit;font-size:1.05rem;cursor:pointer}}\
         .status{{font-weight:700}} .USED,.FAILED,.REVERSED,.FAIL{{color:#c62828}} .ACTIVATED,.SUCCESS{{color:#1b5e20}} table{{border-collapse:collapse;width:100%;font-size:.85rem}} td,th{{padding:4px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}}\
         form.inline{{display:inline}} select{{font:inherit;padding:8px}}</style></head>\
         <body>{body}</body></html>"
    ))
}

/// The console: what was synced and its review, Release, the review knob, the exchange log.
async fn console(State(p): State<Platform>) -> Html<String> {
    let w = p.world();
    let mut benefits: Vec<&Benefit> = w.benefits.values().collect();
    benefits.sort_by(|a, b| a.template_id.cmp(&b.template_id));
    let rows: String = benefits
        .iter()
        .map(|b| {
            let action = if b.released {
                "released".to_string()
            } else if b.sync_status == SyncState::Success {
                format!("<form method=\"post\" class=\"inline\" action=\"/console/release/{id}\"><button data-testid=\"release\">Release</button></form>", id = escape(&b.template_id))
            } else {
                "—".to_string()
            };
            format!(
                "<tr data-testid=\"platform-benefit\" data-template=\"{id}\" data-status=\"{status}\"><td>{id}<br><span class=\"muted\">{title}</span></td>\
                 <td class=\"status {status}\">{status}<br><span class=\"muted\">{fail}</span></td><td>{action}</td></tr>",
                id = escape(&b.template_id),
                title = escape(&b.title),
                status = b.sync_status.as_str(),
                fail = escape(&[b.fail_code.unwrap_or_default(), b.fail_reason.unwrap_or_default()].join(" ")),
            )
        })
        .collect();
    let review = w.knobs.review;
    let options: String = [Review::Pass, Review::AuditFail, Review::InnerProcessFail, Review::SyncClientFail]
        .iter()
        .map(|r| {
            let v = serde_json::to_value(r).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
            format!("<option value=\"{v}\"{}>{v}</option>", if *r == review { " selected" } else { "" })
        })
        .collect();
    let log: String = w
        .log
        .iter()
        .rev()
        .take(50)
        .map(|l| format!("<tr><td>{}</td><td>{} {}</td><td class=\"muted\">{}<br>{}</td></tr>", alipay_plus::format_time(l.at).get(11..19).unwrap_or(""), l.direction, l.api, escape(&l.request_id), escape(&l.outcome)))
        .collect();
    page(
        "Console",
        &format!(
            "<h1>Sandbox super-app platform</h1><p class=\"muted\">Client-Id {client} · super app {app} · ISV {isv}</p>\
             <p><a href=\"/app?user=2188000000000001\" data-testid=\"open-app\">Open the super app as a user</a></p>\
             <h2>Synced benefits</h2><table><tr><th>Benefit</th><th>Sync</th><th></th></tr>{rows}</table>\
             <h2>Review of the next syncs</h2><form method=\"post\" action=\"/console/review\" data-testid=\"review-form\"><label>Outcome <select name=\"review\">{options}</select></label> <button>Set</button></form>\
             <p class=\"muted\">Other knobs: <code>POST /sandbox/knobs</code> (JSON).</p><h2>Exchange log</h2><table>{log}</table>",
            client = escape(&p.config.client_id),
            app = CLIENT_CODE,
            isv = escape(&p.config.isv.base_url),
        ),
    )
}

#[derive(Deserialize)]
struct AppQuery {
    user: Option<String>,
}

/// The super app's user page: released benefits with Collect, and the user's vouchers.
async fn app_page(State(p): State<Platform>, Query(q): Query<AppQuery>) -> Html<String> {
    let user = q.user.filter(|u| !u.trim().is_empty() && u.len() <= 32).unwrap_or_else(|| "2188000000000001".into());
    let w = p.world();
    let mut released: Vec<&Benefit> = w.benefits.values().filter(|b| b.released).collect();
    released.sort_by(|a, b| a.template_id.cmp(&b.template_id));
    let offers: String = released
        .iter()
        .map(|b| {
            let amount = &b.content["amount"];
            format!(
                "<div class=\"card\" data-testid=\"offer\" data-template=\"{id}\"><div class=\"amount\">{value} {currency}</div><strong>{title}</strong><p class=\"muted\">{description}</p>\
                 <form method=\"post\" action=\"/app/collect\"><input type=\"hidden\" name=\"user\" value=\"{user}\"><input type=\"hidden\" name=\"template_id\" value=\"{id}\">\
                 <button data-testid=\"collect\">Collect</button></form></div>",
                id = escape(&b.template_id),
                value = escape(amount["value"].as_str().unwrap_or_default()),
                currency = escape(amount["currency"].as_str().unwrap_or_default()),
                title = escape(&b.title),
                description = escape(b.content["description"].as_str().unwrap_or_default()),
                user = escape(&user),
            )
        })
        .collect();
    let mine: String = w
        .collects
        .iter()
        .rev()
        .filter(|c| c.user_id == user)
        .map(|c| {
            let title = w.benefits.get(&c.template_id).map(|b| b.title.clone()).unwrap_or_else(|| c.template_id.clone());
            if c.outcome != CollectOutcome::Collected {
                return format!(
                    "<div class=\"card\" data-testid=\"collect-failed\" data-code=\"{code}\"><strong>{title}</strong><p class=\"FAILED\">Could not collect: {message}</p></div>",
                    code = escape(c.result_code.as_deref().unwrap_or("REVERSED")),
                    title = escape(&title),
                    message = escape(c.message.as_deref().unwrap_or("no answer; the collect was reversed")),
                );
            }
            c.vouchers
                .iter()
                .map(|v| {
                    let shown = match (&v.benefit_url, &v.benefit_code) {
                        (Some(url), _) => format!("<a href=\"{u}\" data-testid=\"voucher-url\">{u}</a>", u = escape(url)),
                        (None, Some(code)) => format!("<div class=\"code\" data-testid=\"voucher-code\">{}</div>", escape(code)),
                        _ => String::new(),
                    };
                    let pin = v.benefit_pin.as_ref().map(|p| format!("<p>PIN <strong data-testid=\"voucher-pin\">{}</strong></p>", escape(p))).unwrap_or_default();
                    format!(
                        "<div class=\"card\" data-testid=\"voucher\" data-instance=\"{id}\" data-status=\"{status}\"><strong>{title}</strong>{shown}{pin}\
                         <p><span class=\"status {status}\" data-testid=\"voucher-status\">{status}</span> <span class=\"muted\">until {until}</span></p></div>",
                        id = escape(&v.benefit_instance_id),
                        status = escape(&v.status),
                        title = escape(&title),
                        until = escape(&v.expire_time.get(..16).unwrap_or(&v.expire_time).replace('T', " ")),
                    )
                })
                .collect()
        })
        .collect();
    page(
        "Super app",
        &format!(
            "<h1>Super app</h1><p class=\"muted\">Signed in as user <strong data-testid=\"app-user\">{user}</strong></p><h2>Offers</h2>{offers}{none}<h2>My vouchers</h2>{mine}",
            user = escape(&user),
            none = if offers.is_empty() { "<p class=\"muted\" data-testid=\"no-offers\">No benefit released yet.</p>" } else { "" },
        ),
    )
}

async fn serve(listener: tokio::net::TcpListener, p: Platform, mut shutdown: watch::Receiver<bool>) {
    let app = Router::new()
        .route("/v1/marketing/benefit/sync", axum::routing::any(sync_benefit))
        .route("/v1/marketing/benefit/sync/query", axum::routing::any(inquire_sync))
        .route("/v1/marketing/benefit/used/sync", axum::routing::any(sync_used))
        .route("/", get(console))
        .route("/console/release/{template_id}", post(release_form))
        .route("/console/review", post(review_form))
        .route("/app", get(app_page))
        .route("/app/collect", post(collect_form))
        .route("/sandbox/collect", post(collect_api))
        .route("/sandbox/release", post(release_api))
        .route("/sandbox/knobs", get(knobs_get).post(knobs_set))
        .route("/sandbox/isv-keys", post(add_isv_key))
        .route("/sandbox/state", get(state_api))
        .route("/sandbox/log", get(log_api))
        .with_state(p);
    let stop = async move {
        let _ = shutdown.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
        tracing::error!(error = %e, "sandbox super-app platform stopped");
    }
}

/// Binds the platform's port (port 0 picks one) and returns its URL — `public_url`, or
/// `http://localhost:{port}` — so the ISV can register it before it starts.
pub async fn bind(listen: SocketAddr, public_url: Option<&str>) -> anyhow::Result<(tokio::net::TcpListener, String)> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let bound = listener.local_addr()?;
    let own_url = match public_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => format!("http://localhost:{}", bound.port()),
    };
    Ok((listener, own_url))
}

/// Serves the platform on `listener` until shutdown; the task ends once it has stopped.
pub fn spawn(config: SuperappConfig, listener: tokio::net::TcpListener, shutdown: watch::Receiver<bool>) -> anyhow::Result<JoinHandle<()>> {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).user_agent("SandboxSuperApp/1").build()?;
    let isv_keys = config.isv_keys.iter().map(|(v, k)| (*v, k.clone())).collect();
    let isv = IsvEndpoints { base_url: config.isv.base_url.trim_end_matches('/').to_string(), ..config.isv.clone() };
    let p = Platform {
        config: Arc::new(SuperappConfig { isv, ..config }),
        isv_keys: Arc::new(Mutex::new(isv_keys)),
        world: Arc::default(),
        http,
        shutdown: shutdown.clone(),
    };
    Ok(tokio::spawn(serve(listener, p, shutdown)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_codes_and_unknown_exception_are_retried_defined_refusals_are_not() {
        let ans = |v: Value| read_issue(Answer::Signed(v));
        assert!(matches!(ans(json!({"success": false, "resultCode": "UNKNOWN_EXCEPTION"})), IssueReading::Unknown(_)));
        assert!(matches!(ans(json!({"success": false, "resultCode": "BUDGET_GONE"})), IssueReading::Unknown(_)));
        assert!(matches!(ans(json!({"success": false, "resultCode": "PROCESS_FAIL"})), IssueReading::Refused(..)));
        assert!(matches!(ans(json!({"success": true, "benefitDetails": [{}]})), IssueReading::Issued(d) if d.len() == 1));
        assert!(matches!(read_issue(Answer::Nothing("timeout".into())), IssueReading::Unknown(_)));
    }

    #[test]
    fn knobs_parse_from_testers_json() {
        let k: Knobs = serde_json::from_value(json!({"review": "AUDIT_FAIL", "usedSyncScript": ["U", "U", "timeout"], "dropResponses": 2})).unwrap();
        assert_eq!(k.review, Review::AuditFail);
        assert_eq!(k.used_sync_script, [Scripted::U, Scripted::U, Scripted::Timeout]);
        assert_eq!((k.drop_responses, k.timeout_ms), (2, 6_000));
        assert_eq!(Review::parse("sync_client_fail"), Some(Review::SyncClientFail));
        assert!(new_issue_request_id().len() == 24 && new_issue_request_id().bytes().all(|b| b.is_ascii_digit()));
    }
}
