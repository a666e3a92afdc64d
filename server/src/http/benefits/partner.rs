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
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::{
    skyjoy::{success, Body, ErrorBody, Partner, Refusals, SkyJoyError, Success},
    AppState,
};

pub const SCOPE: &str = "benefit:use";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api-benefit/partner/v1/benefit/lookup", post(lookup))
        .route("/api-benefit/partner/v1/benefit/use", post(use_benefit))
        .route_layer(crate::http::input::limit_uri::<SkyJoyError>())
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

/// A benefit, by exactly one of `benefitCode` and `benefitInstanceId`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BenefitRef {
    /// The code the user shows (spaces and dashes ignored, any case).
    #[schema(min_length = 1, max_length = 64)]
    benefit_code: Option<String>,
    #[schema(min_length = 1, max_length = 64)]
    benefit_instance_id: Option<String>,
    /// Required to use a benefit that has one.
    benefit_pin: Option<String>,
    /// Your id for this use (`use` only): a retry with it answers the first result.
    #[schema(min_length = 1, max_length = 64)]
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
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BenefitView {
    benefit_instance_id: String,
    benefit_template_id: String,
    benefit_code: String,
    title: String,
    amount: Money,
    #[schema(pattern = "^(ACTIVATED|USED|REVERSED|EXPIRED)$")]
    status: &'static str,
    activate_time: String,
    expire_time: String,
    pin_required: bool,
    used_time: Option<String>,
    request_id: Option<String>,
    /// `use` only: whether this answers an earlier use with the same `requestId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    replayed: Option<bool>,
}

/// An amount in the currency's minor units.
#[derive(Serialize, ToSchema)]
pub struct Money {
    currency: String,
    value: i64,
}

fn view(i: &Instance, replayed: Option<bool>) -> BenefitView {
    BenefitView {
        benefit_instance_id: i.instance_id.clone(),
        benefit_template_id: i.template_id.clone(),
        benefit_code: i.code.clone(),
        title: i.title.clone(),
        amount: Money { currency: i.amount.currency.clone(), value: i.amount.value },
        status: i.status.as_str(),
        activate_time: i.activate_time(),
        expire_time: i.expire_time(),
        pin_required: i.pin.is_some(),
        used_time: (i.status == domain::benefits::instances::Status::Used).then(|| domain::benefits::fields::wire_time(i.status_at_ms)),
        request_id: i.partner_request_id.clone(),
        replayed,
    }
}

/// See a benefit a user shows.
///
/// Scope `benefit:use`. Only the template's partner sees its benefits; another partner gets
/// `BENEFIT_NOT_FOUND`.
#[utoipa::path(
    post, path = "/api-benefit/partner/v1/benefit/lookup", tag = "Benefits (partners)", operation_id = "benefitLookup",
    security(("bearer" = ["benefit:use"])),
    request_body = BenefitRef,
    responses(
        (status = 200, description = "The benefit", body = Success<BenefitView>),
        (status = 404, description = "No benefit of yours has this code (`BENEFIT_NOT_FOUND`)", body = ErrorBody),
        Refusals,
    )
)]
pub async fn lookup(State(state): State<AppState>, partner: Partner, Body(r): Body<BenefitRef>) -> Result<Response, SkyJoyError> {
    partner.require(SCOPE)?;
    let found = usage::lookup(&state.db, &partner.client_id, &r.lookup()?).await.map_err(refused)?;
    Ok(success(view(&found, None)))
}

/// Use a benefit, once.
///
/// Scope `benefit:use`. Marks it USED and tells the platform (syncUsedBenefit). `benefitPin` is
/// required when the benefit has one (`INVALID_PIN`).
#[utoipa::path(
    post, path = "/api-benefit/partner/v1/benefit/use", tag = "Benefits (partners)", operation_id = "benefitUse",
    security(("bearer" = ["benefit:use"])),
    request_body = BenefitRef,
    responses(
        (status = 200, description = "Used (or the first answer to this `requestId`, replayed)", body = Success<BenefitView>),
        (status = 404, description = "No benefit of yours has this code (`BENEFIT_NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "Already used, expired or reversed (`BENEFIT_ALREADY_USED`, `BENEFIT_EXPIRED`, `BENEFIT_REVERSED`)", body = ErrorBody),
        Refusals,
    )
)]
pub async fn use_benefit(State(state): State<AppState>, partner: Partner, Body(r): Body<BenefitRef>) -> Result<Response, SkyJoyError> {
    partner.require(SCOPE)?;
    let req = UseRequest { lookup: r.lookup()?, pin: r.benefit_pin.clone(), partner_request_id: r.request_id.clone() };
    let used = usage::use_benefit(&state.db, &partner.client_id, &req, domain::now_ms()).await.map_err(refused)?;
    if !used.replayed {
        state.worker.wake(); // the syncUsedBenefit
        tracing::info!(instance = %used.instance.instance_id, partner = %partner.client_id, "benefit used");
    }
    Ok(success(view(&used.instance, Some(used.replayed))))
}
