//! Our calls to a benefit platform (counterparts.md §2.1), each signed and its answer verified
//! (§2.5): `POST {base}/v1/marketing/benefit/sync`, `…/sync/query`, `…/used/sync` with
//! `Client-Id`, `Request-Time` and `Signature` (our active key of that platform); the answer
//! must be HTTP 200 with a `Signature` over the same URI, `Client-Id` and its `Response-Time`
//! (within the window) that verifies with the platform's key of its `keyVersion`, else it counts
//! as no answer (retried). Implements `domain::benefits::platform_api::PlatformApi`; the rules
//! that use it live there.

use std::time::Duration;

use domain::{
    benefits::{
        keys::KeyStore,
        platform_api::{CallError, CallFuture, PlatformApi, PlatformResult, ResultStatus, SyncInquiry, SyncRequest, UsedRequest},
        platforms::Platform,
        sync::{SyncReport, SyncStatus},
        templates::Validity,
        PRODUCT_CODE,
    },
    signing::{alipay_plus, TimestampWindow},
};
use serde_json::{json, Value};

pub const SYNC_PATH: &str = "/v1/marketing/benefit/sync";
pub const SYNC_QUERY_PATH: &str = "/v1/marketing/benefit/sync/query";
pub const USED_SYNC_PATH: &str = "/v1/marketing/benefit/used/sync";

pub struct HttpPlatformApi {
    http: reqwest::Client,
    keys: KeyStore,
    window: TimestampWindow,
}

impl HttpPlatformApi {
    pub fn new(keys: KeyStore, timeout: Duration, window: TimestampWindow) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(timeout).user_agent("Joygate-ISV/1").redirect(reqwest::redirect::Policy::none()).build()?;
        Ok(Self { http, keys, window })
    }

    /// One signed call; returns the verified answer's JSON.
    async fn call(&self, platform: &Platform, path: &str, body: &Value) -> Result<Value, CallError> {
        let keys = self
            .keys
            .for_platform(&platform.client_id)
            .await
            .map_err(|e| CallError::Unavailable(format!("loading keys: {e}")))?
            .ok_or_else(|| CallError::Unavailable("no keys for this platform".into()))?;
        let signing = keys.signing.clone().ok_or_else(|| CallError::Unavailable("no active key of ours for this platform".into()))?;
        let url = url::Url::parse(&format!("{}{path}", platform.base_url)).map_err(|e| CallError::Unavailable(format!("the platform's URL: {e}")))?;
        let uri = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let raw = body.to_string();
        let time = alipay_plus::format_time(domain::now_ms());
        let client_id = platform.client_id.clone();
        let (signature, raw, time, uri_signed) = {
            let (uri, raw, time, client_id) = (uri.clone(), raw, time, client_id.clone());
            tokio::task::spawn_blocking(move || {
                let sig = alipay_plus::sign_header(&signing.key, signing.version as u32, "POST", &uri, &client_id, &time, raw.as_bytes());
                (sig, raw, time, uri)
            })
            .await
            .map_err(|e| CallError::Unavailable(format!("signing: {e}")))?
        };
        let res = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json; charset=UTF-8")
            .header(alipay_plus::HEADER_CLIENT_ID, &client_id)
            .header(alipay_plus::HEADER_REQUEST_TIME, &time)
            .header(alipay_plus::HEADER_SIGNATURE, signature)
            .body(raw)
            .send()
            .await
            .map_err(|e| CallError::Unavailable(e.without_url().to_string()))?;
        let status = res.status();
        let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (sig, res_time, res_client) = (header(alipay_plus::HEADER_SIGNATURE), header(alipay_plus::HEADER_RESPONSE_TIME), header(alipay_plus::HEADER_CLIENT_ID));
        let bytes = res.bytes().await.map_err(|e| CallError::Unavailable(e.without_url().to_string()))?;
        if !status.is_success() {
            return Err(CallError::Unavailable(format!("HTTP {}", status.as_u16())));
        }
        let (Some(sig), Some(res_time)) = (sig, res_time) else {
            return Err(CallError::BadSignature("the answer has no Signature or Response-Time".into()));
        };
        if res_client.as_deref().is_some_and(|c| c != client_id) {
            return Err(CallError::BadSignature("the answer's Client-Id is not ours".into()));
        }
        alipay_plus::check_time(&res_time, self.window, domain::now_ms()).map_err(|e| CallError::BadSignature(format!("Response-Time: {e}")))?;
        let parsed = alipay_plus::parse_header(&sig).map_err(|e| CallError::BadSignature(e.to_string()))?;
        let key = keys.verifying(parsed.key_version.as_deref()).ok_or_else(|| CallError::BadSignature("no key of the platform has this keyVersion".into()))?;
        alipay_plus::verify(&key.key, &sig, "POST", &uri_signed, &client_id, &res_time, &bytes).map_err(|e| CallError::BadSignature(e.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| CallError::Unavailable(format!("the answer is not JSON: {e}")))
    }
}

/// The answer's `result` (§2.3).
fn result_of(answer: &Value) -> Result<PlatformResult, CallError> {
    let r = &answer["result"];
    let status = r["resultStatus"].as_str().and_then(ResultStatus::parse).ok_or_else(|| CallError::Unavailable("the answer has no result.resultStatus".into()))?;
    Ok(PlatformResult {
        status,
        code: r["resultCode"].as_str().unwrap_or_default().to_string(),
        message: r["resultMessage"].as_str().unwrap_or_default().to_string(),
    })
}

/// The syncBenefit body. The published page lists benefitSyncRequestId, benefitTemplateId,
/// benefitProductCode, benefitTitle and benefitBeginTime, and names benefitEndTime, clientCode,
/// benefitContent and benefitBudget without their structure (counterparts.md §2.1); the
/// structure of those four is ours (README, "Benefits").
pub fn sync_body(req: &SyncRequest) -> Value {
    let t = &req.template;
    let validity = match t.validity {
        Validity::Days(d) => json!({ "days": d }),
        Validity::Until(at) => json!({ "endTime": domain::benefits::fields::wire_time(at) }),
    };
    json!({
        "benefitSyncRequestId": req.sync_request_id,
        "benefitTemplateId": t.template_id,
        "benefitProductCode": PRODUCT_CODE,
        "benefitTitle": t.title,
        "benefitBeginTime": t.begin_time(),
        "benefitEndTime": t.end_time(),
        "clientCode": t.client_codes,
        "benefitContent": {
            "description": t.content,
            "amount": { "currency": t.amount.currency, "value": t.amount.value.to_string() },
            "credentialType": t.credential.as_str(),
            "validity": validity,
        },
        "benefitBudget": { "totalQuantity": t.budget_total },
    })
}

impl PlatformApi for HttpPlatformApi {
    fn sync_benefit<'a>(&'a self, platform: &'a Platform, req: &'a SyncRequest) -> CallFuture<'a, PlatformResult> {
        Box::pin(async move { result_of(&self.call(platform, SYNC_PATH, &sync_body(req)).await?) })
    }

    fn inquire_sync<'a>(&'a self, platform: &'a Platform, sync_request_id: &'a str) -> CallFuture<'a, SyncInquiry> {
        Box::pin(async move {
            let answer = self.call(platform, SYNC_QUERY_PATH, &json!({ "benefitSyncRequestId": sync_request_id })).await?;
            let result = result_of(&answer)?;
            let report = match (result.status, answer["syncStatus"].as_str().and_then(SyncStatus::parse_wire)) {
                (ResultStatus::S, Some(SyncStatus::Fail)) => Some(SyncReport::failed(
                    answer["syncFailCode"].as_str().unwrap_or("UNKNOWN"),
                    answer["syncFailReason"].as_str().unwrap_or_default(),
                )),
                (ResultStatus::S, Some(status)) => Some(SyncReport { status, fail_code: None, fail_reason: None }),
                (ResultStatus::S, None) => return Err(CallError::Unavailable("inquireBenefitSync answered S without a syncStatus".into())),
                _ => None,
            };
            Ok(SyncInquiry { result, report })
        })
    }

    fn sync_used<'a>(&'a self, platform: &'a Platform, req: &'a UsedRequest) -> CallFuture<'a, PlatformResult> {
        Box::pin(async move {
            let mut body = json!({
                "benefitUseRequestId": req.use_request_id,
                "userId": req.user_id,
                "clientCode": req.client_code,
                "benefitInstanceId": req.instance_id,
                "benefitTemplateId": req.template_id,
                "benefitUseDate": domain::benefits::fields::wire_time(req.use_date_ms),
                "useScene": req.use_scene,
                "usedAmount": { "currency": req.used_amount.currency, "value": req.used_amount.value.to_string() },
                "benefitCode": req.benefit_code,
            });
            if let Some(url) = &req.benefit_url {
                body["benefitUrl"] = json!(url);
            }
            result_of(&self.call(platform, USED_SYNC_PATH, &body).await?)
        })
    }
}
