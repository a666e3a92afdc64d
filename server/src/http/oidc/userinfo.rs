//! `GET|POST /userinfo` with `Authorization: Bearer <access token>`: the member's claims for
//! the token's scopes. A token whose grant was revoked (logout, replayed code, reused refresh
//! token) is refused even before it expires.

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use domain::identity::{grants, members, tokens};

use super::{allow_origin, request_origin, OAuthError};
use crate::http::AppState;

fn invalid_token(description: &str) -> OAuthError {
    OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_token", description)
}

/// The bearer token of a request, if it has one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
}

pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let idp = &state.idp;
    let Some(token) = bearer(&headers) else { return invalid_token("a bearer access token is required").into_response() };
    let verified = idp.with_keys(|keys| tokens::verify_access_token(keys, &idp.issuer, token, domain::now_ms()), |e| *e == tokens::TokenError::UnknownKey).await;
    let claims = match verified {
        Ok(c) => c,
        Err(e) => return invalid_token(&e.to_string()).into_response(),
    };
    let Some(gid) = claims.gid.as_deref() else { return invalid_token("not a member's token").into_response() };
    if !claims.has_scope("openid") {
        return OAuthError::new(StatusCode::FORBIDDEN, "insufficient_scope", "the token lacks the openid scope").into_response();
    }
    match grants::is_active(&idp.db, gid).await {
        Ok(true) => {}
        Ok(false) => return invalid_token("the grant was revoked").into_response(),
        Err(e) => return OAuthError::server_error(e).into_response(),
    }
    let member = match members::find_by_id(&idp.db, &claims.sub).await {
        Ok(Some(m)) => m,
        Ok(None) => return invalid_token("the member no longer exists").into_response(),
        Err(e) => return OAuthError::server_error(e).into_response(),
    };
    let mut res = Json(tokens::userinfo(&member, &claims.scope)).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    let origin = request_origin(&headers);
    if origin.is_some() {
        let client = idp.client(&claims.client_id).await.ok().flatten();
        allow_origin(&mut res, origin, client.as_ref());
    }
    res
}
