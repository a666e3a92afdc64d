//! The SkyJoy partner APIs, in SkyJoy's wire format (counterparts.md §1): paths under
//! `/api-user/partner/…`, a `Bearer` client_credentials access token from our provider,
//! success `{"statusCode":200,"message":"SUCCESS","data":…}` and errors
//! `{"errors":{"name","message","code"},"message","statusCode"}` with UPPERCASE codes.
//!
//! | path | what |
//! |---|---|
//! | `GET /api-user/partner/v1/user-profile/{skyjoyId}` | customer info ([`customers`]) |
//! | `GET /api-user/partner/v2/user/lookup?skyjoyId=…\|phone=…\|customerId=…` | customer lookup |
//! | `POST /api-user/partner/v1/user/onboard` | create (or find) a member by phone, link a Customer ID |
//! | `POST /api-user/partner/v1/user/link` | link a Customer ID to a member who signed in at the partner |
//! | `POST /api-user/partner/v1/user/link-token` | hand a customer to a sign-in (`link_token`) |
//! | `POST /api-point/partner/v1/point-accrual`, `…/point-redemption`, `…/point-redemption-with-token`, `…/lookup-transaction-id` | SkyPoints ([`points`]) |
//! | `POST /api-point/partner/v1/point-lock`, `…/point-lock/release`, `…/point-lock/capture` | locked points ([`locks`]) |
//! | `POST /api-point/partner/v1/batch`, `GET …/batch/{batchId}`, `GET …/batch/{batchId}/result.csv` | batch point files ([`batch`]) |
//!
//! Each handler carries its OpenAPI operation (`#[utoipa::path]`), gathered with the other
//! families' in `super::openapi` (`GET /openapi.json`); `server/tests/api/contract.rs` checks
//! that the document names exactly the routes served here, and `make test` runs schemathesis
//! against it and the live server.

pub mod batch;
pub mod customers;
pub mod locks;
pub mod points;

use axum::{
    extract::{FromRequestParts, State},
    http::{request::Parts, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use domain::{
    identity::{tokens, InvalidInput},
    ledger::{LedgerError, PointError, PointRefusal},
};
use serde::{de::DeserializeOwned, Serialize};
use utoipa::{IntoResponses, ToSchema};

use super::{
    input::{self, Rejected, SKYJOY_BODY_LIMIT},
    oidc::userinfo::bearer,
    AppState,
};

/// A query string, refused in SkyJoy's shape (`input::Query(q, ..)`).
pub type Query<T> = input::Query<T, SkyJoyError>;
/// A path parameter, refused in SkyJoy's shape (`input::Path(p, ..)`).
pub type Path<T> = input::Path<T, SkyJoyError>;


pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api-user/partner/v1/user-profile/{skyjoy_id}", get(customers::profile))
        .route("/api-user/partner/v2/user/lookup", get(customers::lookup))
        .route("/api-user/partner/v1/user/onboard", post(customers::onboard))
        .route("/api-user/partner/v1/user/link", post(customers::link))
        .route("/api-user/partner/v1/user/link-token", post(customers::link_token))
        .route("/api-point/partner/v1/point-accrual", post(points::accrual))
        .route("/api-point/partner/v1/point-redemption", post(points::redemption))
        .route("/api-point/partner/v1/point-redemption-with-token", post(points::redemption_with_token))
        .route("/api-point/partner/v1/lookup-transaction-id", post(points::lookup))
        .route("/api-point/partner/v1/point-lock", post(locks::lock))
        .route("/api-point/partner/v1/point-lock/release", post(locks::release))
        .route("/api-point/partner/v1/point-lock/capture", post(locks::capture))
        .merge(batch::routes())
        .route_layer(input::limit_uri::<SkyJoyError>())
}

/// `{"statusCode":200,"message":"SUCCESS","data":…}`
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Success<T> {
    #[schema(minimum = 200, maximum = 202)]
    status_code: u16,
    /// `SUCCESS` (`ACCEPTED` for a batch still being processed).
    #[schema(pattern = "^(SUCCESS|ACCEPTED)$")]
    message: &'static str,
    data: T,
}

/// `{"statusCode":200,"message":"SUCCESS","data":…}`
pub fn success<T: Serialize>(data: T) -> Response {
    Json(Success { status_code: 200, message: "SUCCESS", data }).into_response()
}

/// `{"statusCode":202,"message":"ACCEPTED","data":…}`
pub fn accepted<T: Serialize>(data: T) -> Response {
    (StatusCode::ACCEPTED, Json(Success { status_code: 202, message: "ACCEPTED", data })).into_response()
}

/// Every SkyJoy refusal: `{"errors":{"name","message","code"},"message","statusCode"}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    errors: ErrorDetail,
    message: String,
    #[schema(minimum = 400, maximum = 599)]
    status_code: u16,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// The status in PascalCase (`BadRequest`, `NotFound`, …).
    name: String,
    message: String,
    /// What was refused, UPPERCASE (README "Limits and errors").
    #[schema(pattern = "^[A-Z_]+$")]
    code: &'static str,
}

/// The refusals every SkyJoy operation may answer (each operation adds its own 404 / 409).
#[derive(IntoResponses)]
#[allow(dead_code)] // a list of answers for the document, never built
pub enum Refusals {
    /// A field is refused; its code names it.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No access token, or an invalid one (`UNAUTHORIZED`).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The token lacks the operation's scope (`FORBIDDEN`).
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// The body is over 64 KiB (`PAYLOAD_TOO_LARGE`).
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// The path and query are over 8 KiB (`URI_TOO_LONG`).
    #[response(status = 414)]
    UriTooLong(ErrorBody),
}

/// A SkyJoy error response.
#[derive(Debug)]
pub struct SkyJoyError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl SkyJoyError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }
    pub fn member_not_found() -> Self {
        PointRefusal::MemberNotFound.into()
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "SkyJoy partner API failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "Internal error; it has been logged.")
    }

    /// A field that did not parse: its own code (`INVALID_PHONE`, …) and the parser's message.
    pub fn invalid(e: InvalidInput) -> Self {
        let code = match e {
            InvalidInput::SkyJoyId => "INVALID_SKYJOY_ID",
            InvalidInput::Phone => "INVALID_PHONE",
            InvalidInput::FullName => "INVALID_FULL_NAME",
            InvalidInput::DateOfBirth => "INVALID_DATE_OF_BIRTH",
            InvalidInput::CustomerId => "INVALID_CUSTOMER_ID",
            InvalidInput::Email => "INVALID_EMAIL",
        };
        Self::bad_request(code, e.to_string())
    }
}

/// Input the framework refused: a body over 64 KiB is 413 `PAYLOAD_TOO_LARGE`; a path and
/// query over 8 KiB 414 `URI_TOO_LONG`; a path, query or body that does not parse (bad UTF-8, a
/// repeated field) is 400 `BAD_REQUEST`.
impl From<Rejected> for SkyJoyError {
    fn from(r: Rejected) -> Self {
        match r {
            Rejected::TooLarge { .. } => SkyJoyError::new(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", r.to_string()),
            Rejected::UriTooLong { .. } => SkyJoyError::new(StatusCode::URI_TOO_LONG, "URI_TOO_LONG", r.to_string()),
            Rejected::ContentType(m) | Rejected::Malformed(m) => SkyJoyError::bad_request("BAD_REQUEST", m),
        }
    }
}

impl From<InvalidInput> for SkyJoyError {
    fn from(e: InvalidInput) -> Self {
        SkyJoyError::invalid(e)
    }
}

/// A point request's refusal (`domain::ledger::request`): its code and message, with the
/// status SkyJoy uses for it.
impl From<PointRefusal> for SkyJoyError {
    fn from(r: PointRefusal) -> Self {
        let status = match r {
            PointRefusal::MemberNotFound | PointRefusal::LockNotFound => StatusCode::NOT_FOUND,
            PointRefusal::LockNotActive(_) => StatusCode::CONFLICT,
            PointRefusal::Forbidden => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        };
        SkyJoyError::new(status, r.code(), r.message())
    }
}

impl From<PointError> for SkyJoyError {
    fn from(e: PointError) -> Self {
        match e {
            PointError::Refused(r) => r.into(),
            PointError::Store(s) => SkyJoyError::internal(s),
        }
    }
}

impl From<LedgerError> for SkyJoyError {
    fn from(e: LedgerError) -> Self {
        PointError::from(e).into()
    }
}

/// The error's `name`: the status in SkyJoy's PascalCase (`BadRequest`, `NotFound`, …).
fn status_name(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("Error").split([' ', '-']).collect()
}

impl IntoResponse for SkyJoyError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            errors: ErrorDetail { name: status_name(self.status), message: self.message.clone(), code: self.code },
            message: self.message,
            status_code: self.status.as_u16(),
        };
        let mut res = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// A JSON body (at most 64 KiB) parsed with a SkyJoy error (never axum's plain-text rejection).
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = SkyJoyError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let input::Bytes(bytes, ..) = input::Bytes::<SkyJoyError, SKYJOY_BODY_LIMIT>::from_request(req, state).await?;
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| SkyJoyError::bad_request("BAD_REQUEST", format!("the request body is not the expected JSON: {e}")))
    }
}

/// The partner calling: a valid client_credentials access token. Each handler then asks for
/// the scope its API needs ([`Partner::require`]).
#[derive(Debug, Clone)]
pub struct Partner {
    pub client_id: String,
    scope: String,
}

impl Partner {
    /// Whether the token carries `scope` (or `partner`, which is every partner scope).
    pub fn has(&self, scope: &str) -> bool {
        debug_assert!(tokens::PARTNER_SCOPES.contains(&scope), "unknown scope {scope}");
        self.scope.split(' ').any(|s| s == scope || s == tokens::PARTNER_SCOPE)
    }

    /// 403 unless the token carries `scope`.
    pub fn require(&self, scope: &str) -> Result<(), SkyJoyError> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(SkyJoyError::forbidden("FORBIDDEN", format!("The access token lacks the {scope} scope.")))
        }
    }
}

impl FromRequestParts<AppState> for Partner {
    type Rejection = SkyJoyError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let State(state): State<AppState> = State::from_request_parts(parts, state).await.map_err(SkyJoyError::internal)?;
        let token = bearer(&parts.headers).ok_or_else(|| SkyJoyError::unauthorized("A Bearer access token is required."))?;
        let idp = &state.idp;
        let claims = idp
            .with_keys(|keys| tokens::verify_access_token(keys, &idp.issuer, token, domain::now_ms()), |e| *e == tokens::TokenError::UnknownKey)
            .await
            .map_err(|e| SkyJoyError::unauthorized(format!("The access token is not valid: {e}.")))?;
        if claims.gid.is_some() {
            return Err(SkyJoyError::forbidden("FORBIDDEN", "A member's token cannot call partner APIs; use client_credentials."));
        }
        if !claims.scope.split(' ').any(|s| tokens::PARTNER_SCOPES.contains(&s)) {
            return Err(SkyJoyError::forbidden("FORBIDDEN", "The access token has no partner scope."));
        }
        Ok(Partner { client_id: claims.client_id, scope: claims.scope })
    }
}
