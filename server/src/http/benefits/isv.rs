//! The four ISV APIs (§2.2). Each parses its fields into the domain's checked types once, calls
//! `domain::benefits`, and answers `{"success":true,"resultCode":"","resultMessage":"",…}` as
//! the documented sample does; refusals come from [`super::IsvError`].

use axum::{extract::State, response::Response};
use domain::benefits::{
    fields::{reason, SyncRequestId},
    instances::Instance,
    issue::{self, IssueRequest, ReverseRequest},
    sync::{self, FailCode, SyncReport, SyncStatus},
    ClientCode, InvalidField, IssueRequestId, Quantity, TemplateId, UserId,
};
use serde_json::{json, Value};

use super::{exchange, Code, Fields, IsvError, Verified};
use crate::http::AppState;

fn success(extra: Value) -> Value {
    let mut body = json!({ "success": true, "resultCode": "", "resultMessage": "" });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

/// ExternalBenefitDetail (§2.3): one of benefitCode, benefitCode + benefitPin, benefitUrl.
pub fn detail(i: &Instance) -> Value {
    let mut d = json!({
        "benefitInstanceId": i.instance_id,
        "benefitTemplateId": i.template_id,
        "amount": { "currency": i.amount.currency, "value": i.amount.value.to_string() },
        "status": i.status.as_str(),
        "activateTime": i.activate_time(),
        "expireTime": i.expire_time(),
    });
    let obj = d.as_object_mut().expect("an object");
    match &i.url {
        Some(url) => {
            obj.insert("benefitUrl".into(), json!(url));
        }
        None => {
            obj.insert("benefitCode".into(), json!(i.code));
            if let Some(pin) = &i.pin {
                obj.insert("benefitPin".into(), json!(pin));
            }
        }
    }
    d
}

fn details(list: &[Instance]) -> Value {
    json!({ "benefitDetails": list.iter().map(detail).collect::<Vec<_>>() })
}

fn opt<T>(fields: &Fields, name: &'static str, parse: impl Fn(&str) -> Result<T, InvalidField>) -> Result<Option<T>, InvalidField> {
    fields.text(name)?.map(parse).transpose()
}

impl TryFrom<&Fields> for IssueRequest {
    type Error = InvalidField;

    fn try_from(f: &Fields) -> Result<Self, InvalidField> {
        Ok(IssueRequest {
            issue_request_id: IssueRequestId::parse(f.required("benefitIssueRequestId")?)?,
            user_id: UserId::parse(f.required("userId")?)?,
            template_id: TemplateId::parse(f.required("benefitTemplateId")?)?,
            client_code: ClientCode::parse(f.required("clientCode")?)?,
            quantity: match f.integer("quantity")? {
                None => Quantity::ONE,
                Some(n) => Quantity::new(n)?,
            },
        })
    }
}

impl TryFrom<&Fields> for ReverseRequest {
    type Error = InvalidField;

    fn try_from(f: &Fields) -> Result<Self, InvalidField> {
        Ok(ReverseRequest {
            issue_request_id: IssueRequestId::parse(f.required("benefitIssueRequestId")?)?,
            user_id: opt(f, "userId", UserId::parse)?,
            template_id: opt(f, "benefitTemplateId", TemplateId::parse)?,
            client_code: opt(f, "clientCode", ClientCode::parse)?,
        })
    }
}

/// notifyBenefitSync's fields: benefitSyncRequestId (the documented sample names it
/// benefitIssueRequestId, accepted too), syncStatus, syncFailCode (required with FAIL),
/// syncFailReason (≤ 256).
fn sync_notice(f: &Fields) -> Result<(SyncRequestId, SyncReport), InvalidField> {
    let id = match f.text("benefitSyncRequestId")? {
        Some(id) => id,
        None => f.text("benefitIssueRequestId")?.ok_or(InvalidField::new("benefitSyncRequestId", "is required"))?,
    };
    let id = SyncRequestId::parse(id)?;
    let status = SyncStatus::parse_wire(f.required("syncStatus")?).ok_or(InvalidField::new("syncStatus", "must be PROCESSING, SUCCESS or FAIL"))?;
    let fail_code = opt(f, "syncFailCode", |c| FailCode::parse(c).ok_or(InvalidField::new("syncFailCode", "must be AUDIT_FAIL, INNER_PROCESS_FAIL or SYNC_CLIENT_FAIL")))?;
    let fail_reason = opt(f, "syncFailReason", |r| reason("syncFailReason", r))?;
    if status == SyncStatus::Fail && fail_code.is_none() {
        return Err(InvalidField::new("syncFailCode", "is required when syncStatus is FAIL"));
    }
    let (fail_code, fail_reason) = if status == SyncStatus::Fail { (fail_code.map(|c| c.as_str().to_string()), fail_reason) } else { (None, None) };
    Ok((id, SyncReport { status, fail_code, fail_reason }))
}

/// notifyBenefitSync: `success: true` means received (the platform's review result is applied
/// once; a notice the state machine does not allow any more is received and changes nothing).
pub async fn notify(State(state): State<AppState>, req: axum::extract::Request) -> Response {
    let ctx = state.benefits.clone();
    let poll_after_ms = ctx.poll_after_ms;
    exchange(&ctx, req, "notifyBenefitSync", |v: Verified| async move {
        let (id, report) = sync_notice(&v.fields)?;
        let (template_id, _) = sync::find(&state.db, id.as_str()).await.map_err(IsvError::from)?.ok_or(IsvError::new(Code::SyncRequestIdNotExist, "no sync has this benefitSyncRequestId"))?;
        let template = domain::benefits::templates::find(&state.db, &template_id).await.map_err(IsvError::from)?;
        if template.is_none_or(|t| t.client_id != v.client_id) {
            return Err(IsvError::new(Code::SyncRequestIdNotExist, "no sync of yours has this benefitSyncRequestId"));
        }
        let (now, changed) = sync::apply(&state.db, id.as_str(), &report, poll_after_ms, domain::now_ms()).await?;
        if changed {
            state.worker.wake();
            tracing::info!(sync = %id, status = now.status.as_str(), fail_code = ?now.fail_code, "benefit sync notified");
        }
        Ok(success(json!({})))
    })
    .await
}

/// issueBenefit: the benefits (same ones on every retry of the id), or a documented refusal.
pub async fn issue(State(state): State<AppState>, req: axum::extract::Request) -> Response {
    let ctx = state.benefits.clone();
    exchange(&ctx, req, "issueBenefit", |v: Verified| async move {
        let r = IssueRequest::try_from(&v.fields)?;
        let issued = issue::issue(&state.db, &v.client_id, &r, domain::now_ms()).await?;
        if !issued.replayed {
            tracing::info!(issue = %r.issue_request_id, template = %r.template_id, quantity = r.quantity.get(), "benefits issued");
        }
        Ok(success(details(&issued.instances)))
    })
    .await
}

/// reverseBenefitIssue: success for an issue reversed now or before, and for an id never seen
/// (a tombstone then refuses its late issue).
pub async fn reverse(State(state): State<AppState>, req: axum::extract::Request) -> Response {
    let ctx = state.benefits.clone();
    exchange(&ctx, req, "reverseBenefitIssue", |v: Verified| async move {
        let r = ReverseRequest::try_from(&v.fields)?;
        let done = issue::reverse(&state.db, &v.client_id, &r, domain::now_ms()).await?;
        tracing::info!(issue = %r.issue_request_id, outcome = ?done, "benefit issue reversed");
        Ok(success(json!({})))
    })
    .await
}

/// inquireBenefitIssue: the issue's benefits as they are now; ISSUE_REQUEST_ID_NOT_EXIST when
/// there is no issuing record ("the issuing does not need to be reversed").
pub async fn query(State(state): State<AppState>, req: axum::extract::Request) -> Response {
    let ctx = state.benefits.clone();
    exchange(&ctx, req, "inquireBenefitIssue", |v: Verified| async move {
        let id = IssueRequestId::parse(v.fields.required("benefitIssueRequestId")?)?;
        let list = issue::inquire(&state.db, &v.client_id, &id).await?;
        Ok(success(details(&list)))
    })
    .await
}
