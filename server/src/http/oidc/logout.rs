//! `GET|POST /logout` — OpenID Connect RP-Initiated Logout 1.0. Ends the provider session on
//! this browser and revokes the member's grants at the client named by `id_token_hint` (or
//! `client_id`). `post_logout_redirect_uri` is followed only when the client registered it
//! (one of its redirect URIs, or a URL on one of its web origins); otherwise a "signed out"
//! page is shown.

use axum::{
    extract::{Query, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Form,
};
use domain::identity::{grants, tokens};
use serde::Deserialize;
use tower_sessions::Session;

use super::page;
use crate::http::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct LogoutParams {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

pub async fn end_session_get(State(state): State<AppState>, session: Session, Query(p): Query<LogoutParams>) -> Response {
    end_session(state, session, p).await
}

pub async fn end_session_post(State(state): State<AppState>, session: Session, Form(p): Form<LogoutParams>) -> Response {
    end_session(state, session, p).await
}

/// `(client_id, sub)` from an ID token we signed (expired ones are fine: that is the usual case).
async fn hint(state: &AppState, token: &str) -> Option<(String, String)> {
    let verified = state.idp.with_keys(|keys| tokens::verify_jwt::<serde_json::Value>(keys, token), |e| *e == tokens::TokenError::UnknownKey).await;
    let claims = verified.ok()?;
    if claims.get("iss")?.as_str()? != state.idp.issuer {
        return None;
    }
    let aud = match claims.get("aud")? {
        serde_json::Value::String(a) => a.clone(),
        serde_json::Value::Array(a) => a.first()?.as_str()?.to_string(),
        _ => return None,
    };
    Some((aud, claims.get("sub")?.as_str()?.to_string()))
}

async fn end_session(state: AppState, session: Session, p: LogoutParams) -> Response {
    let hinted = match p.id_token_hint.as_deref() {
        Some(t) => hint(&state, t).await,
        None => None,
    };
    if p.id_token_hint.is_some() && hinted.is_none() {
        return page::error(StatusCode::BAD_REQUEST, "id_token_hint is not an ID token from this provider", None);
    }
    if let (Some((aud, _)), Some(client_id)) = (&hinted, &p.client_id) {
        if aud != client_id {
            return page::error(StatusCode::BAD_REQUEST, "client_id does not match the id_token_hint", None);
        }
    }
    let client_id = hinted.as_ref().map(|(aud, _)| aud.clone()).or(p.client_id.clone());
    let client = match &client_id {
        Some(id) => state.idp.client(id).await.ok().flatten(),
        None => None,
    };
    if let Err(e) = session.flush().await {
        tracing::warn!(error = %e, "could not end the provider session");
    }
    if let (Some((_, sub)), Some(client)) = (&hinted, &client) {
        if let Err(e) = grants::revoke_member_at_client(&state.db, sub, &client.client_id, domain::now_ms()).await {
            tracing::error!(error = %e, "revoking grants at logout failed");
        }
    }
    let Some(target) = &p.post_logout_redirect_uri else { return page::signed_out() };
    let allowed = client.as_ref().is_some_and(|c| {
        c.allows_redirect(target)
            || url::Url::parse(target).is_ok_and(|u| c.allows_origin(&u.origin().ascii_serialization()))
    });
    if !allowed {
        return page::error(StatusCode::BAD_REQUEST, "post_logout_redirect_uri is not registered for this client", None);
    }
    let Ok(mut url) = url::Url::parse(target) else { return page::signed_out() };
    if let Some(st) = &p.state {
        url.query_pairs_mut().append_pair("state", st);
    }
    let mut res = Redirect::to(url.as_str()).into_response();
    *res.status_mut() = StatusCode::SEE_OTHER;
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
