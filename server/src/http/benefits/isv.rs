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
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::{
    openapi::{
        schema::{ObjectBuilder, Schema},
        Object, Type,
    },
    ToSchema,
};

use super::{exchange, Code, Fields, IsvError, Verified};
use crate::http::{openapi::fields::or_null, AppState};

fn id_schema(max: usize, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(domain::benefits::fields::ID_PATTERN))
        .description(Some(format!("{description}: 1 to {max} characters, no @ # ? or control characters, no leading or trailing space")))
        .build()
}
fn issue_request_id() -> Object {
    id_schema(IssueRequestId::MAX, "The platform's idempotency key for the issue")
}
fn user_id() -> Object {
    id_schema(UserId::MAX, "The super app's user")
}
fn template_id() -> Object {
    id_schema(TemplateId::MAX, "The benefit template")
}
fn sync_request_id() -> Object {
    id_schema(SyncRequestId::MAX, "Our syncBenefit's id")
}
fn client_code() -> Object {
    ObjectBuilder::new().schema_type(Type::String).pattern(Some("^[A-Z0-9_]{2,32}$")).description(Some("The super app (GCASH, DANA, TNG, …)")).build()
}
fn quantity_or_null() -> Schema {
    or_null(quantity())
}
fn user_id_or_null() -> Schema {
    or_null(user_id())
}
fn template_id_or_null() -> Schema {
    or_null(template_id())
}
fn client_code_or_null() -> Schema {
    or_null(client_code())
}
/// Empty on success, else one of the documented codes ([`Code::ALL`]).
fn result_code() -> Object {
    let codes = std::iter::once("").chain(Code::ALL.iter().map(|c| c.as_str()));
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(codes)).description(Some("Empty on success, else the refusal's code")).build()
}
fn quantity() -> Object {
    ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).maximum(Some(Quantity::MAX)).description(Some("How many benefits, all or nothing (default 1)")).build()
}

/// issueBenefit's body (field names are case-insensitive, §2.5).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)] // the wire shape, for the document; read by `TryFrom<&Fields>`
pub struct IssueBody {
    #[schema(schema_with = issue_request_id)]
    benefit_issue_request_id: String,
    #[schema(schema_with = user_id)]
    user_id: String,
    #[schema(schema_with = template_id)]
    benefit_template_id: String,
    #[schema(schema_with = client_code)]
    client_code: String,
    #[schema(schema_with = quantity_or_null)]
    quantity: Option<i64>,
}

/// reverseBenefitIssue's body: the issue's id; the other fields, when given, must match it.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)] // the wire shape, for the document
pub struct ReverseBody {
    #[schema(schema_with = issue_request_id)]
    benefit_issue_request_id: String,
    #[schema(schema_with = user_id_or_null)]
    user_id: Option<String>,
    #[schema(schema_with = template_id_or_null)]
    benefit_template_id: Option<String>,
    #[schema(schema_with = client_code_or_null)]
    client_code: Option<String>,
}

/// inquireBenefitIssue's body.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)] // the wire shape, for the document
pub struct InquireBody {
    #[schema(schema_with = issue_request_id)]
    benefit_issue_request_id: String,
}

/// notifyBenefitSync's body: the platform's review result of a syncBenefit.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)] // the wire shape, for the document
pub struct NotifyBody {
    #[schema(schema_with = sync_request_id)]
    benefit_sync_request_id: String,
    #[schema(pattern = "^(PROCESSING|SUCCESS|FAIL)$")]
    sync_status: String,
    /// Required with FAIL.
    #[schema(pattern = "^(AUDIT_FAIL|INNER_PROCESS_FAIL|SYNC_CLIENT_FAIL)$")]
    sync_fail_code: Option<String>,
    #[schema(max_length = 256)]
    sync_fail_reason: Option<String>,
}

/// Every ISV answer (HTTP 200, signed): `success`, and on a refusal one of the documented
/// `resultCode`s (only `UNKNOWN_EXCEPTION` is worth retrying); issue and inquire add the benefits.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)] // the wire shape, for the document; answers are built by `success` / `IsvError::body`
pub struct IsvReply {
    success: bool,
    #[schema(schema_with = result_code)]
    result_code: String,
    #[schema(max_length = 256)]
    result_message: String,
    benefit_details: Option<Vec<BenefitDetail>>,
}

/// ExternalBenefitDetail (§2.3): one of benefitCode, benefitCode + benefitPin, benefitUrl.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BenefitDetail {
    benefit_instance_id: String,
    benefit_template_id: String,
    amount: WireAmount,
    #[schema(pattern = "^(ACTIVATED|USED|REVERSED|EXPIRED)$")]
    status: &'static str,
    activate_time: String,
    expire_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    benefit_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    benefit_pin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    benefit_url: Option<String>,
}

/// The seed's Amount: the value in minor units, as a string.
#[derive(Serialize, ToSchema)]
pub struct WireAmount {
    currency: String,
    #[schema(pattern = "^[0-9]{1,16}$")]
    value: String,
}

fn success(extra: Value) -> Value {
    let mut body = json!({ "success": true, "resultCode": "", "resultMessage": "" });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

/// ExternalBenefitDetail (§2.3) of an instance: a URL, or a code (and its PIN).
pub fn detail(i: &Instance) -> BenefitDetail {
    let (code, pin) = if i.url.is_some() { (None, None) } else { (Some(i.code.clone()), i.pin.clone()) };
    BenefitDetail {
        benefit_instance_id: i.instance_id.clone(),
        benefit_template_id: i.template_id.clone(),
        amount: WireAmount { currency: i.amount.currency.clone(), value: i.amount.value.to_string() },
        status: i.status.as_str(),
        activate_time: i.activate_time(),
        expire_time: i.expire_time(),
        benefit_code: code,
        benefit_pin: pin,
        benefit_url: i.url.clone(),
    }
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

/// The platform's review result of a syncBenefit (notifyBenefitSync).
///
/// Signed by the platform (`Client-Id`, `Request-Time`, `Signature: algorithm=RSA256,…`, §2.5);
/// the answer is signed with our key. `success: true` means received: the result is applied once; a
/// notice the sync's state no longer allows is received and changes nothing.
#[utoipa::path(
    post, path = "/isv/benefit/sync/notify", tag = "Benefits (super-app platforms)", operation_id = "notifyBenefitSync",
    security(("alipayClientId" = [], "alipayRequestTime" = [], "alipaySignature" = [])),
    request_body = NotifyBody,
    responses((status = 200, description = "The answer, or a refusal's `resultCode` (a request not signed right: `INVALID_CLIENT` / `INVALID_SIGNATURE`)", body = IsvReply))
)]
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

/// A user collected a benefit (issueBenefit).
///
/// Signed by the platform (`Client-Id`, `Request-Time`, `Signature: algorithm=RSA256,…`, §2.5);
/// the answer is signed with our key. The benefits — the same ones on every retry of
/// `benefitIssueRequestId` — or a documented refusal (`PARAM_ILLEGAL`, `PROCESS_FAIL` for a budget
/// used up or outside the collection period, `UNKNOWN_EXCEPTION` to retry).
#[utoipa::path(
    post, path = "/isv/benefit/issue", tag = "Benefits (super-app platforms)", operation_id = "issueBenefit",
    security(("alipayClientId" = [], "alipayRequestTime" = [], "alipaySignature" = [])),
    request_body = IssueBody,
    responses((status = 200, description = "The answer, or a refusal's `resultCode` (a request not signed right: `INVALID_CLIENT` / `INVALID_SIGNATURE`)", body = IsvReply))
)]
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

/// Take an issue back (reverseBenefitIssue).
///
/// Signed by the platform (`Client-Id`, `Request-Time`, `Signature: algorithm=RSA256,…`, §2.5);
/// the answer is signed with our key. Success for an issue reversed now or before, and for an id
/// never seen (a later issue of it is refused); a used benefit cannot be reversed (`PROCESS_FAIL`).
#[utoipa::path(
    post, path = "/isv/benefit/reverse", tag = "Benefits (super-app platforms)", operation_id = "reverseBenefitIssue",
    security(("alipayClientId" = [], "alipayRequestTime" = [], "alipaySignature" = [])),
    request_body = ReverseBody,
    responses((status = 200, description = "The answer, or a refusal's `resultCode` (a request not signed right: `INVALID_CLIENT` / `INVALID_SIGNATURE`)", body = IsvReply))
)]
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

/// An issue's benefits as they are now (inquireBenefitIssue).
///
/// Signed by the platform (`Client-Id`, `Request-Time`, `Signature: algorithm=RSA256,…`, §2.5);
/// the answer is signed with our key. `ISSUE_REQUEST_ID_NOT_EXIST` when there is no issuing record.
#[utoipa::path(
    post, path = "/isv/benefit/query", tag = "Benefits (super-app platforms)", operation_id = "inquireBenefitIssue",
    security(("alipayClientId" = [], "alipayRequestTime" = [], "alipaySignature" = [])),
    request_body = InquireBody,
    responses((status = 200, description = "The answer, or a refusal's `resultCode` (a request not signed right: `INVALID_CLIENT` / `INVALID_SIGNATURE`)", body = IsvReply))
)]
pub async fn query(State(state): State<AppState>, req: axum::extract::Request) -> Response {
    let ctx = state.benefits.clone();
    exchange(&ctx, req, "inquireBenefitIssue", |v: Verified| async move {
        let id = IssueRequestId::parse(v.fields.required("benefitIssueRequestId")?)?;
        let list = issue::inquire(&state.db, &v.client_id, &id).await?;
        Ok(success(details(&list)))
    })
    .await
}
