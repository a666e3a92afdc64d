//! The platform's APIs as we call them (§2.1: syncBenefit, inquireBenefitSync,
//! syncUsedBenefit), as a trait so the rules here stay free of HTTP (the signed calls are
//! `server::benefit_platform`), and the three outbox flows that make the calls. Each answer's
//! `result.resultStatus` decides: S done, F final (never retried), U — like a timeout, a
//! network error, or an answer whose signature does not verify — retried with the same request id.

use std::{future::Future, pin::Pin};

use super::{
    fields::Amount,
    instances::{self, Status},
    platforms::{self, Platform},
    sync::{self, SyncReport, SyncStatus},
    templates::{self, Template},
    BenefitError,
};
use crate::store::Db;

pub type CallFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, CallError>> + Send + 'a>>;

/// Why a call gave no answer we can use; both are retried with the same request id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No answer, a timeout, not HTTP 200, or not the documented JSON.
    #[error("the platform did not answer: {0}")]
    Unavailable(String),
    /// The answer's Signature is missing or does not verify with the platform's key: it may not
    /// be the platform's, so it is treated as no answer.
    #[error("the platform's answer is not signed right: {0}")]
    BadSignature(String),
}

/// `resultStatus` of the data dictionary's Result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultStatus {
    /// Success.
    S,
    /// Failed for good: do not retry.
    F,
    /// Unknown: retry with the same request.
    U,
}

impl ResultStatus {
    pub fn parse(s: &str) -> Option<ResultStatus> {
        match s {
            "S" => Some(ResultStatus::S),
            "F" => Some(ResultStatus::F),
            "U" => Some(ResultStatus::U),
            _ => None,
        }
    }
}

/// The Result object of a platform answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformResult {
    pub status: ResultStatus,
    pub code: String,
    pub message: String,
}

/// A syncBenefit to send: the template as it is now, under the sync's request id.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub sync_request_id: String,
    pub template: Template,
}

/// An inquireBenefitSync answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncInquiry {
    pub result: PlatformResult,
    /// syncStatus, syncFailCode, syncFailReason (when the result is S).
    pub report: Option<SyncReport>,
}

/// `useScene`: the values were not published (counterparts.md §2.1, INFERRED); ours are used in
/// a partner's mini program.
pub const USE_SCENE: &str = "MINI_PROGRAM";

/// A syncUsedBenefit to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedRequest {
    pub use_request_id: String,
    pub user_id: String,
    pub client_code: String,
    pub instance_id: String,
    pub template_id: String,
    pub use_date_ms: i64,
    pub use_scene: &'static str,
    pub used_amount: Amount,
    pub benefit_code: String,
    pub benefit_url: Option<String>,
}

pub trait PlatformApi: Send + Sync {
    fn sync_benefit<'a>(&'a self, platform: &'a Platform, req: &'a SyncRequest) -> CallFuture<'a, PlatformResult>;
    fn inquire_sync<'a>(&'a self, platform: &'a Platform, sync_request_id: &'a str) -> CallFuture<'a, SyncInquiry>;
    fn sync_used<'a>(&'a self, platform: &'a Platform, req: &'a UsedRequest) -> CallFuture<'a, PlatformResult>;
}

/// What a flow came to, for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing more to do (success, a final refusal recorded, or already settled).
    Done,
    /// Ask again later with the same request id.
    Retry(String),
}

async fn platform_of(db: &Db, client_id: &str) -> Result<Platform, BenefitError> {
    platforms::find(db, client_id).await?.ok_or(BenefitError::UnknownPlatform)
}

/// Job [`sync::SEND`]: sends a PENDING sync's syncBenefit and applies the answer (S: the sync is
/// PROCESSING and polled; F: FAIL with the result's code; U or no answer: retry).
pub async fn send_sync(db: &Db, api: &dyn PlatformApi, sync_request_id: &str, poll_after_ms: i64, now_ms: i64) -> Result<Outcome, BenefitError> {
    let (template_id, view) = sync::find(db, sync_request_id).await?.ok_or(BenefitError::UnknownSync)?;
    if view.status != SyncStatus::Pending {
        return Ok(Outcome::Done); // the platform already answered or notified
    }
    let template = templates::find(db, &template_id).await?.ok_or(BenefitError::UnknownTemplate)?;
    let platform = platform_of(db, &template.client_id).await?;
    let req = SyncRequest { sync_request_id: sync_request_id.to_string(), template };
    let result = match api.sync_benefit(&platform, &req).await {
        Ok(r) => r,
        Err(e) => return Ok(Outcome::Retry(e.to_string())),
    };
    match result.status {
        ResultStatus::S => {
            sync::apply(db, sync_request_id, &SyncReport::accepted(), poll_after_ms, now_ms).await?;
            Ok(Outcome::Done)
        }
        ResultStatus::F => {
            tracing::warn!(sync = sync_request_id, code = %result.code, message = %result.message, "syncBenefit refused");
            sync::apply(db, sync_request_id, &SyncReport::failed(&result.code, &result.message), poll_after_ms, now_ms).await?;
            Ok(Outcome::Done)
        }
        ResultStatus::U => Ok(Outcome::Retry(format!("syncBenefit: U {} {}", result.code, result.message))),
    }
}

/// Job [`sync::POLL`]: while a sync is PROCESSING, asks inquireBenefitSync; a final answer is
/// applied, PROCESSING is asked again later.
pub async fn poll_sync(db: &Db, api: &dyn PlatformApi, sync_request_id: &str, now_ms: i64) -> Result<Outcome, BenefitError> {
    let (template_id, view) = sync::find(db, sync_request_id).await?.ok_or(BenefitError::UnknownSync)?;
    if view.status.is_final() {
        return Ok(Outcome::Done); // notifyBenefitSync came first
    }
    let template = templates::find(db, &template_id).await?.ok_or(BenefitError::UnknownTemplate)?;
    let platform = platform_of(db, &template.client_id).await?;
    let answer = match api.inquire_sync(&platform, sync_request_id).await {
        Ok(a) => a,
        Err(e) => return Ok(Outcome::Retry(e.to_string())),
    };
    match (answer.result.status, answer.report) {
        (ResultStatus::S, Some(report)) if report.status.is_final() => {
            sync::apply(db, sync_request_id, &report, 0, now_ms).await?;
            Ok(Outcome::Done)
        }
        (ResultStatus::S, _) => Ok(Outcome::Retry("inquireBenefitSync: still PROCESSING".into())),
        (ResultStatus::F, _) => {
            // SYNC_REQUEST_ID_NOT_EXIST: the platform has no such sync, so it will never end there.
            tracing::warn!(sync = sync_request_id, code = %answer.result.code, "inquireBenefitSync refused");
            sync::apply(db, sync_request_id, &SyncReport::failed(&answer.result.code, &answer.result.message), 0, now_ms).await?;
            Ok(Outcome::Done)
        }
        (ResultStatus::U, _) => Ok(Outcome::Retry(format!("inquireBenefitSync: U {}", answer.result.code))),
    }
}

/// Job [`super::usage::SYNC_USED`]: sends a USED benefit's syncUsedBenefit with its fixed
/// benefitUseRequestId; S and F settle it (F is never retried), U and no answer retry.
pub async fn send_used(db: &Db, api: &dyn PlatformApi, instance_id: &str) -> Result<Outcome, BenefitError> {
    let instance = instances::find(db, instance_id).await?.ok_or(BenefitError::UnknownBenefit)?;
    if instance.status != Status::Used || instance.use_sync_status != Some(instances::UseSync::Pending) {
        return Ok(Outcome::Done);
    }
    let use_request_id = instance.use_request_id.clone().ok_or_else(|| crate::StoreError::corrupt("benefit_instances", "a USED benefit without benefitUseRequestId"))?;
    let platform = platform_of(db, &instance.client_id).await?;
    let req = UsedRequest {
        use_request_id,
        user_id: instance.user_id.clone(),
        client_code: instance.client_code.clone(),
        instance_id: instance.instance_id.clone(),
        template_id: instance.template_id.clone(),
        use_date_ms: instance.status_at_ms,
        use_scene: USE_SCENE,
        used_amount: instance.amount.clone(),
        benefit_code: instance.code.clone(),
        benefit_url: instance.url.clone(),
    };
    let result = match api.sync_used(&platform, &req).await {
        Ok(r) => r,
        Err(e) => return Ok(Outcome::Retry(e.to_string())),
    };
    match result.status {
        ResultStatus::S => {
            instances::settle_use_sync(db, instance_id, true, None).await?;
            Ok(Outcome::Done)
        }
        ResultStatus::F => {
            tracing::warn!(instance = instance_id, code = %result.code, message = %result.message, "syncUsedBenefit refused for good");
            instances::settle_use_sync(db, instance_id, false, Some(&result.code)).await?;
            Ok(Outcome::Done)
        }
        ResultStatus::U => Ok(Outcome::Retry(format!("syncUsedBenefit: U {} {}", result.code, result.message))),
    }
}
