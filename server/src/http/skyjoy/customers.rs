//! Customer APIs (counterparts.md §1.5) and Customer ID linking. The linking rules themselves are
//! in `domain::identity::members` ([`members::link`], [`members::onboard`]).

use axum::{
    extract::State,
    http::StatusCode,
    response::Response,
};
use domain::identity::{
    customer_fields::{CustomerFields, Onboarding},
    grants,
    link_requests::{self, LinkHint, LINK_TOKEN_TTL_MS},
    members::{self, Member, MemberError},
    CustomerId, PhoneNumber, SkyJoyId,
};
use serde::{Deserialize, Serialize};

use utoipa::{IntoParams, ToSchema};

use super::{success, Body, ErrorBody, Partner, Path, Query, Refusals, SkyJoyError, Success};
use crate::http::{input, AppState};

/// Customer info as SkyJoy returns it; `customerId` is the calling partner's own link, if any.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    skyjoy_id: String,
    date_of_birth: Option<String>,
    date_of_join: String,
    email: Option<String>,
    first_name: String,
    last_name: String,
    full_name: String,
    e_kyc_status: &'static str,
    status: String,
    phone: String,
    customer_id: Option<String>,
    /// SkyPoints: the balance and, of it, what is locked (held).
    point_balance: i64,
    locked_point: i64,
}

async fn profile_of(state: &AppState, partner: &Partner, m: &Member) -> Result<Profile, SkyJoyError> {
    let customer_id = members::customer_id_of(&state.db, &partner.client_id, &m.id).await.map_err(SkyJoyError::internal)?;
    let (point_balance, locked_point) = domain::ledger::balance(&state.db, &m.id).await.map_err(SkyJoyError::internal)?;
    let (first, last) = m.full_name.first_and_last();
    Ok(Profile {
        skyjoy_id: m.skyjoy_id.to_string(),
        date_of_birth: m.date_of_birth.map(|d| d.to_string()),
        date_of_join: m.date_of_join(),
        email: m.email.as_ref().map(|e| e.to_string()),
        first_name: first.to_string(),
        last_name: last.to_string(),
        full_name: m.full_name.to_string(),
        // Members are verified by phone only; no identity documents are collected (yet).
        e_kyc_status: "NONE",
        status: m.status.clone(),
        phone: m.phone.to_string(),
        customer_id: customer_id.map(String::from),
        point_balance,
        locked_point,
    })
}

fn member_error(e: MemberError) -> SkyJoyError {
    match e {
        MemberError::AccountAlreadyLinked => SkyJoyError::bad_request("ACCOUNT_ALREADY_LINKED", e.to_string()),
        MemberError::CustomerAlreadyLinked => SkyJoyError::bad_request("CUSTOMER_ALREADY_LINKED", e.to_string()),
        MemberError::NotFound => SkyJoyError::member_not_found(),
        other => SkyJoyError::internal(other),
    }
}

/// The member a profile request names.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // the wire shape, for the document; read by `input::Path`
pub struct ProfilePath {
    #[param(rename = "skyjoyId", schema_with = crate::http::openapi::fields::skyjoy_id)]
    skyjoy_id: String,
}

/// Customer info.
///
/// Scope `user:read`. The member's profile, balance and locked points; `customerId` is the
/// calling partner's own link, if any.
#[utoipa::path(
    get, path = "/api-user/partner/v1/user-profile/{skyjoyId}", tag = "SkyJoy customers", operation_id = "userProfile",
    security(("bearer" = ["user:read"])),
    params(ProfilePath),
    responses(
        (status = 200, description = "The member", body = Success<Profile>),
        (status = 404, description = "No such member (`MEMBER_NOT_FOUND`)", body = ErrorBody),
        Refusals,
    )
)]
pub async fn profile(State(state): State<AppState>, partner: Partner, input::Path(skyjoy_id, ..): Path<String>) -> Result<Response, SkyJoyError> {
    partner.require("user:read")?;
    let id = SkyJoyId::parse(&skyjoy_id)?;
    let member = members::find_by_skyjoy_id(&state.db, &id).await.map_err(member_error)?.ok_or_else(SkyJoyError::member_not_found)?;
    Ok(success(profile_of(&state, &partner, &member).await?))
}

/// Exactly one key to find a member by.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct LookupQuery {
    #[param(schema_with = crate::http::openapi::fields::skyjoy_id)]
    skyjoy_id: Option<String>,
    /// Identity documents are not collected: never found.
    document_id: Option<String>,
    /// A Vietnamese mobile number (`09…`, `+849…`).
    phone: Option<String>,
    /// The calling partner's own Customer ID.
    customer_id: Option<String>,
}

/// Find a member by exactly one key.
///
/// Scope `user:read`. Give exactly one of `skyjoyId`, `documentId`, `phone`, `customerId`.
#[utoipa::path(
    get, path = "/api-user/partner/v2/user/lookup", tag = "SkyJoy customers", operation_id = "userLookup",
    security(("bearer" = ["user:read"])),
    params(LookupQuery),
    responses(
        (status = 200, description = "The member", body = Success<Profile>),
        (status = 404, description = "No member matches (`MEMBER_NOT_FOUND`)", body = ErrorBody),
        Refusals,
    )
)]
/// `GET /api-user/partner/v2/user/lookup?skyjoyId=…` (or `phone=…`, or `customerId=…` — the
/// calling partner's own Customer ID). Exactly one key.
pub async fn lookup(State(state): State<AppState>, partner: Partner, input::Query(q, ..): Query<LookupQuery>) -> Result<Response, SkyJoyError> {
    partner.require("user:read")?;
    let db = &state.db;
    let given = [&q.skyjoy_id, &q.document_id, &q.phone, &q.customer_id].iter().filter(|v| v.is_some()).count();
    if given != 1 {
        return Err(SkyJoyError::bad_request("BAD_REQUEST", "give exactly one of skyjoyId, documentId, phone, customerId"));
    }
    let found = if let Some(id) = &q.skyjoy_id {
        members::find_by_skyjoy_id(db, &SkyJoyId::parse(id)?).await
    } else if let Some(phone) = &q.phone {
        members::find_by_phone(db, &PhoneNumber::parse(phone)?).await
    } else if let Some(customer) = &q.customer_id {
        let customer = CustomerId::parse(customer)?;
        match members::member_of_customer(db, &partner.client_id, &customer).await.map_err(member_error)? {
            Some(member_id) => members::find_by_id(db, &member_id).await,
            None => Ok(None),
        }
    } else {
        // Identity documents are not collected (no eKYC yet), so no member can match one.
        Ok(None)
    };
    let member = found.map_err(member_error)?.ok_or_else(|| SkyJoyError::new(StatusCode::NOT_FOUND, "MEMBER_NOT_FOUND", "No member matches."))?;
    Ok(success(profile_of(&state, &partner, &member).await?))
}

/// A member onboarded (or found by phone).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Onboarded {
    #[serde(flatten)]
    profile: Profile,
    /// True when this call created the member (false: the phone was already a member).
    is_new_member: bool,
}

/// `POST /api-user/partner/v1/user/onboard`: `phone`* and `fullName`* (or `firstName` +
/// `lastName`), optional `dateOfBirth` (DD-MM-YYYY), `email`, and `customerId` to link.
/// Create (or find) a member by phone.
///
/// Scope `user:write`. `phone` and `fullName` are required; a `customerId` is linked to the
/// member for the calling partner (`CUSTOMER_ALREADY_LINKED` if it is another member's).
#[utoipa::path(
    post, path = "/api-user/partner/v1/user/onboard", tag = "SkyJoy customers", operation_id = "userOnboard",
    security(("bearer" = ["user:write"])),
    request_body = CustomerFields,
    responses((status = 200, description = "The member", body = Success<Onboarded>), Refusals)
)]
pub async fn onboard(State(state): State<AppState>, partner: Partner, Body(fields): Body<CustomerFields>) -> Result<Response, SkyJoyError> {
    partner.require("user:write")?;
    let Onboarding { member, customer_id } = Onboarding::try_from(&fields)?;
    let done = members::onboard(&state.db, &partner.client_id, member, customer_id.as_ref(), domain::now_ms())
        .await
        .map_err(member_error)?;
    if done.created {
        tracing::info!(client_id = %partner.client_id, skyjoy_id = %done.member.skyjoy_id, "member onboarded by a partner");
    }
    let profile = profile_of(&state, &partner, &done.member).await?;
    Ok(success(Onboarded { profile, is_new_member: done.created }))
}

/// A Customer ID to link to a member.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkRequest {
    #[schema(schema_with = crate::http::openapi::fields::skyjoy_id, required = true)]
    skyjoy_id: Option<String>,
    #[schema(schema_with = crate::http::openapi::fields::customer_id, required = true)]
    customer_id: Option<String>,
}

/// Link a Customer ID to a member who signed in at the partner.
///
/// Scope `user:write`. Only for a member who has signed in at this partner
/// (`MEMBER_NOT_AUTHORIZED` otherwise: link through the sign-in's `link_token`).
#[utoipa::path(
    post, path = "/api-user/partner/v1/user/link", tag = "SkyJoy customers", operation_id = "userLink",
    security(("bearer" = ["user:write"])),
    request_body = LinkRequest,
    responses(
        (status = 200, description = "Linked", body = Success<Profile>),
        (status = 404, description = "No such member (`MEMBER_NOT_FOUND`)", body = ErrorBody),
        Refusals,
    )
)]
/// `POST /api-user/partner/v1/user/link` `{skyjoyId, customerId}`: links a member who has signed
/// in at this partner (the sign-in is the member's consent) to the partner's Customer ID.
pub async fn link(State(state): State<AppState>, partner: Partner, Body(req): Body<LinkRequest>) -> Result<Response, SkyJoyError> {
    partner.require("user:write")?;
    let db = &state.db;
    let skyjoy_id = SkyJoyId::parse(req.skyjoy_id.as_deref().unwrap_or_default())?;
    let customer_id = CustomerId::parse(req.customer_id.as_deref().unwrap_or_default())?;
    let member = members::find_by_skyjoy_id(db, &skyjoy_id).await.map_err(member_error)?.ok_or_else(SkyJoyError::member_not_found)?;
    if !grants::has_authorized(db, &partner.client_id, &member.id).await.map_err(SkyJoyError::internal)? {
        return Err(SkyJoyError::forbidden(
            "MEMBER_NOT_AUTHORIZED",
            "The member has not signed in at this partner; link through the sign-in (link_token) instead.",
        ));
    }
    members::link(db, &partner.client_id, &customer_id, &member.id, domain::now_ms()).await.map_err(member_error)?;
    Ok(success(profile_of(&state, &partner, &member).await?))
}

/// A link token for `/authorize` or `/embed` (`link_token`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkToken {
    link_token: String,
    expires_in: i64,
}

/// A link token to hand a customer to a sign-in.
///
/// Scope `user:write`. `customerId` and what the partner knows of its customer; the
/// `linkToken` goes to `/authorize` or `/embed` as `link_token` (valid 30 minutes).
#[utoipa::path(
    post, path = "/api-user/partner/v1/user/link-token", tag = "SkyJoy customers", operation_id = "userLinkToken",
    security(("bearer" = ["user:write"])),
    request_body = CustomerFields,
    responses((status = 200, description = "The link token", body = Success<LinkToken>), Refusals)
)]
pub async fn link_token(State(state): State<AppState>, partner: Partner, Body(fields): Body<CustomerFields>) -> Result<Response, SkyJoyError> {
    partner.require("user:write")?;
    let hint = LinkHint::try_from(&fields)?;
    let token = link_requests::create(&state.db, &partner.client_id, &hint, domain::now_ms()).await.map_err(SkyJoyError::internal)?;
    Ok(success(LinkToken { link_token: token, expires_in: LINK_TOKEN_TTL_MS / 1000 }))
}
