//! Sandbox-only endpoints (`sandbox = true`): the dev SMS inbox, so testers and browser tests
//! can read the one-time codes the log sender "sent".
//!
//! `GET /sandbox/sms?phone=0912345678` → `{"messages":[{"to","text","sent_at_ms"}, …]}`, newest
//! first (all recent messages without `phone`).

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
    Router::new().route("/sandbox/sms", get(inbox))
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
