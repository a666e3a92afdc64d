//! The partner API a shop's mini program (its server, or its cashier) calls to spend a benefit
//! (Flow 3 of the seed: "the mini program server requests the ISV server to deactivate the used
//! benefit"). SkyJoy's partner conventions, like the point APIs: a `client_credentials` token
//! with scope `benefit:use` (or `partner`), `{"statusCode":200,"message":"SUCCESS","data":…}`,
//! errors `{"errors":{"name","message","code"},"message","statusCode"}`.
//!
//! | API | body | answer, errors |
//! |---|---|---|
//! | `POST /api-benefit/partner/v1/benefit/lookup` | `benefitCode` or `benefitInstanceId` | the benefit; `BENEFIT_NOT_FOUND` 404 |
//! | `POST /api-benefit/partner/v1/benefit/use` | `benefitCode` or `benefitInstanceId`, `benefitPin` (when it has one), `requestId` (yours, optional) | the benefit, USED; `BENEFIT_ALREADY_USED`, `BENEFIT_EXPIRED`, `BENEFIT_REVERSED` 409, `INVALID_PIN` 400, `BENEFIT_NOT_FOUND` 404 |
//!
//! Only the template's partner sees or uses its benefits; another partner gets 404.

use axum::{extract::State, http::StatusCode, response::Response, routing::post, Router};
use domain::benefits::{
    instances::{normalize_code, Instance, Lookup},
    usage::{self, UseRequest},
    BenefitError,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::{
    skyjoy::{success, Body, Partner, SkyJoyError},
    AppState,
};

pub const SCOPE: &str = "benefit:use";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api-benefit/partner/v1/benefit/lookup", post(lookup))
        .route("/api-benefit/partner/v1/benefit/use", post(use_benefit))
}

/// The one mapping of the domain's refusals to this API's codes.
fn refused(e: BenefitError) -> SkyJoyError {
    use BenefitError::*;
    match e {
        UnknownBenefit => SkyJoyError::new(StatusCode::NOT_FOUND, "BENEFIT_NOT_FOUND", "No benefit of yours has this code."),
        AlreadyUsed => SkyJoyError::new(StatusCode::CONFLICT, "BENEFIT_ALREADY_USED", "This benefit was already used."),
        Expired => SkyJoyError::new(StatusCode::CONFLICT, "BENEFIT_EXPIRED", "This benefit has expired."),
        Reversed => SkyJoyError::new(StatusCode::CONFLICT, "BENEFIT_REVERSED", "This benefit was taken back by the platform."),
        WrongPin => SkyJoyError::bad_request("INVALID_PIN", "The PIN does not match."),
        Invalid(message) => SkyJoyError::bad_request("INVALID_REQUEST_ID", message),
        other => SkyJoyError::internal(other),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BenefitRef {
    benefit_code: Option<String>,
    benefit_instance_id: Option<String>,
    benefit_pin: Option<String>,
    request_id: Option<String>,
}

impl BenefitRef {
    fn lookup(&self) -> Result<Lookup, SkyJoyError> {
        match (self.benefit_code.as_deref().map(normalize_code), &self.benefit_instance_id) {
            (Some(code), None) if (1..=64).contains(&code.len()) => Ok(Lookup::Code(code)),
            (None, Some(id)) if (1..=64).contains(&id.len()) => Ok(Lookup::InstanceId(id.clone())),
            _ => Err(SkyJoyError::bad_request("INVALID_BENEFIT_CODE", "Give exactly one of benefitCode and benefitInstanceId (1 to 64 characters).")),
        }
    }
}

/// What a partner sees of a benefit: never the user, never the PIN.
fn view(i: &Instance) -> Value {
    json!({
        "benefitInstanceId": i.instance_id,
        "benefitTemplateId": i.template_id,
        "benefitCode": i.code,
        "title": i.title,
        "amount": { "currency": i.amount.currency, "value": i.amount.value },
        "status": i.status.as_str(),
        "activateTime": i.activate_time(),
        "expireTime": i.expire_time(),
        "pinRequired": i.pin.is_some(),
        "usedTime": (i.status == domain::benefits::instances::Status::Used).then(|| domain::benefits::fields::wire_time(i.status_at_ms)),
        "requestId": i.partner_request_id,
    })
}

async fn lookup(State(state): State<AppState>, partner: Partner, Body(r): Body<BenefitRef>) -> Result<Response, SkyJoyError> {
    partner.require(SCOPE)?;
    let found = usage::lookup(&state.db, &partner.client_id, &r.lookup()?).await.map_err(refused)?;
    Ok(success(view(&found)))
}

async fn use_benefit(State(state): State<AppState>, partner: Partner, Body(r): Body<BenefitRef>) -> Result<Response, SkyJoyError> {
    partner.require(SCOPE)?;
    let req = UseRequest { lookup: r.lookup()?, pin: r.benefit_pin.clone(), partner_request_id: r.request_id.clone() };
    let used = usage::use_benefit(&state.db, &partner.client_id, &req, domain::now_ms()).await.map_err(refused)?;
    if !used.replayed {
        state.worker.wake(); // the syncUsedBenefit
        tracing::info!(instance = %used.instance.instance_id, partner = %partner.client_id, "benefit used");
    }
    let mut data = view(&used.instance);
    data["replayed"] = json!(used.replayed);
    Ok(success(data))
}
