//! The loyalty reward task gateway, in the task service's wire format (counterparts.md §3.2,
//! §3.3): `POST /saas/requestin` takes a signed command and answers with a TicketId once the
//! command is stored; `POST /saas/requestout` tells a ticket's status and result.
//!
//! | path | what |
//! |---|---|
//! | `POST /saas/requestin` | a command: route, API key, envelope, Data signature, then stored once ([`api::request_in`]) |
//! | `POST /saas/requestout` | `{TicketId, Subject, SubjectType, SubjectIdentifier}` → the ticket's status and result ([`api::request_out`]) |
//! | anything else under `/saas/` | the generic `{"Status":"failed","StatusCode":400,"Message":"Access route not found","Data":null}` |
//!
//! Headers: `Client-Id` (the partner's sign-in client_id), `Api-Key` (the client's API key;
//! only its SHA-256 is configured), `Idempotency-Key` (optional; the clients send
//! MD5(body + date)). Every refusal is `{"Status":"failed","StatusCode":N,"Message":…,"Data":null}`
//! with HTTP status N, decided in one place: [`RewardsError`].

pub mod api;

use axum::{
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{any, post},
    Json, Router,
};
use domain::rewards::{envelope::EnvelopeError, tickets::SubmitError};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::rewards::RewardClientEntry;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/saas/requestin", post(api::request_in).fallback(route_not_found))
        .route("/saas/requestout", post(api::request_out).fallback(route_not_found))
        .route("/saas", any(route_not_found))
        .route("/saas/{*rest}", any(route_not_found))
        .route_layer(super::input::limit_uri::<RewardsError>())
}

async fn route_not_found() -> RewardsError {
    RewardsError::RouteNotFound
}

/// The headers a client authenticates with.
pub const CLIENT_ID_HEADER: &str = "client-id";
pub const API_KEY_HEADER: &str = "api-key";
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// Every way a request to the gateway is refused, and its answer.
#[derive(Debug)]
pub enum RewardsError {
    /// Not a route of ours (Subject, SubjectType, SubjectIdentifier, Action; or the path).
    RouteNotFound,
    /// Malformed JSON, a missing or mistyped field, a bad header.
    BadRequest(String),
    /// No or unknown client, wrong API key, a signature that does not verify, a key refused.
    Unauthorized(String),
    /// The action is switched off for this client.
    Forbidden(String),
    NotFound(String),
    /// A key (business key or Idempotency-Key) reused for another command.
    Conflict(String),
    TooLarge,
    /// The path and query are over 8 KiB.
    UriTooLong,
    /// Logged with its cause; the client gets an opaque answer.
    Internal(String),
}

impl RewardsError {
    fn status(&self) -> StatusCode {
        match self {
            RewardsError::RouteNotFound | RewardsError::BadRequest(_) => StatusCode::BAD_REQUEST,
            RewardsError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            RewardsError::Forbidden(_) => StatusCode::FORBIDDEN,
            RewardsError::NotFound(_) => StatusCode::NOT_FOUND,
            RewardsError::Conflict(_) => StatusCode::CONFLICT,
            RewardsError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            RewardsError::UriTooLong => StatusCode::URI_TOO_LONG,
            RewardsError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        RewardsError::Internal(e.to_string())
    }
}

impl From<EnvelopeError> for RewardsError {
    fn from(e: EnvelopeError) -> Self {
        match e {
            EnvelopeError::RouteNotFound => RewardsError::RouteNotFound,
            EnvelopeError::Invalid { .. } => RewardsError::BadRequest(format!("Invalid request: {e}")),
        }
    }
}

impl From<SubmitError> for RewardsError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Duplicate { .. } | SubmitError::IdempotencyKeyReused { .. } => RewardsError::Conflict(format!("Duplicate command: {e}")),
            SubmitError::Store(s) => RewardsError::internal(s),
        }
    }
}

impl From<crate::http::input::Rejected> for RewardsError {
    fn from(r: crate::http::input::Rejected) -> Self {
        use crate::http::input::Rejected;
        match r {
            Rejected::UriTooLong { .. } => RewardsError::UriTooLong,
            Rejected::TooLarge { .. } => RewardsError::TooLarge,
            Rejected::ContentType(m) | Rejected::Malformed(m) => RewardsError::BadRequest(format!("Invalid request: {m}")),
        }
    }
}

impl From<domain::StoreError> for RewardsError {
    fn from(e: domain::StoreError) -> Self {
        RewardsError::internal(e)
    }
}

impl IntoResponse for RewardsError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match self {
            RewardsError::RouteNotFound => "Access route not found".to_string(),
            RewardsError::TooLarge => "The request body is larger than 64 KiB".to_string(),
            RewardsError::UriTooLong => "The request's path and query are longer than 8 KiB".to_string(),
            RewardsError::Internal(cause) => {
                tracing::error!(error = %cause, "reward task gateway failed");
                "Internal error; it has been logged".to_string()
            }
            RewardsError::BadRequest(m) | RewardsError::Unauthorized(m) | RewardsError::Forbidden(m) | RewardsError::NotFound(m) | RewardsError::Conflict(m) => {
                tracing::info!(status = status.as_u16(), message = %m, "reward task refused");
                m
            }
        };
        (status, Json(RewardsFailure { Status: "failed", StatusCode: status.as_u16(), Message: message, Data: None })).into_response()
    }
}

/// Every refusal: `{"Status":"failed","StatusCode":N,"Message":…,"Data":null}`, HTTP N.
#[derive(Serialize, ToSchema)]
#[allow(non_snake_case)] // the task service's member names
pub struct RewardsFailure {
    #[schema(pattern = "^failed$")]
    Status: &'static str,
    #[schema(minimum = 400, maximum = 599)]
    StatusCode: u16,
    Message: String,
    /// Always null.
    #[schema(value_type = Option<Object>)]
    Data: Option<()>,
}

/// The client calling: `Client-Id` names a reward client, and `Api-Key` is its key.
fn authenticate<'a>(state: &'a AppState, headers: &HeaderMap) -> Result<&'a std::sync::Arc<RewardClientEntry>, RewardsError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let client_id = header(CLIENT_ID_HEADER).ok_or_else(|| RewardsError::Unauthorized("The Client-Id header is required".into()))?;
    let key = header(API_KEY_HEADER).ok_or_else(|| RewardsError::Unauthorized("The Api-Key header is required".into()))?;
    let client = state.rewards.get(client_id).ok_or_else(|| RewardsError::Unauthorized("Unknown client".into()))?;
    if !client.api_key_matches(key) {
        return Err(RewardsError::Unauthorized("Invalid API key".into()));
    }
    Ok(client)
}
