//! Sandbox-only endpoints (`sandbox = true`): the dev SMS inbox, so testers and browser tests
//! can read the one-time codes the log sender "sent".
//!
//! `GET /sandbox/sms?phone=0912345678` → `{"messages":[{"to","text","sent_at_ms"}, …]}`, newest
//! first (all recent messages without `phone`).
//!
//! `GET /sandbox/cashier` → `{"client_id","client_secret"}`: the sandbox shop whose cashier page
//! spends the sandbox platform's vouchers (a fresh secret at every start; sandbox mode only).

use axum::{
    extract::{Query, State},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use domain::identity::PhoneNumber;
use serde::Deserialize;
use serde_json::json;

use super::{errors::ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/sandbox/sms", get(inbox)).route("/sandbox/cashier", get(cashier))
}

#[derive(Deserialize)]
struct InboxQuery {
    phone: Option<String>,
}

async fn inbox(State(state): State<AppState>, Query(q): Query<InboxQuery>) -> Response {
    let Some(inbox) = &state.idp.inbox else { return ApiError::not_found().into_response() };
    let phone = match q.phone.as_deref().map(PhoneNumber::parse).transpose() {
        Ok(p) => p,
        Err(e) => {
            return ApiError { status: axum::http::StatusCode::BAD_REQUEST, code: "INVALID_PHONE", message: e.to_string() }
                .into_response()
        }
    };
    match inbox.messages(phone.as_ref()).await {
        Ok(messages) => Json(json!({ "messages": messages })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "sandbox inbox: reading failed");
            ApiError::internal().into_response()
        }
    }
}

async fn cashier(State(state): State<AppState>) -> Response {
    match &state.benefits.sandbox_cashier {
        Some((client_id, secret)) => Json(json!({ "client_id": client_id, "client_secret": secret.expose() })).into_response(),
        None => ApiError::not_found().into_response(),
    }
}
