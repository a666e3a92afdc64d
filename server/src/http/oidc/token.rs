//! `POST /token`: `authorization_code` (with PKCE), `refresh_token` (rotating) and
//! `client_credentials`. Clients authenticate with `client_secret_basic`, `client_secret_post`,
//! or — public clients only — `none` plus PKCE. Errors follow RFC 6749 §5.2.
//!
//! RSA signing (about 0.3 ms a token) runs on the blocking pool, not on the async workers.

use std::time::Duration;

use axum::{
    extract::{
        rejection::{FormRejection, QueryRejection},
        State,
    },
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Form, Json,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use domain::identity::{
    clients::Client,
    grants::{self, Grant, GrantError},
    members,
    tokens::{self, AccessClaims, TokenFields, TokenResponse},
    Idp,
};
use openidconnect::{
    core::CoreTokenType, AccessToken, EmptyExtraTokenFields, RefreshToken, Scope, StandardTokenResponse,
};
use percent_encoding::percent_decode_str;
use serde::Deserialize;

use super::{allow_origin, request_origin, OAuthError};
use crate::http::input::{Rejected, TOKEN_BODY_LIMIT};
use crate::http::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct TokenForm {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<axum::extract::Query<super::ClientQuery>, QueryRejection>,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let origin = request_origin(&headers).map(str::to_string);
    let (query, form) = match (query, form) {
        (Ok(q), Ok(Form(f))) => (q, f),
        (Err(e), _) => return OAuthError::from(Rejected::from(e)).into_response(),
        (_, Err(e)) => return OAuthError::from(Rejected::from_form(e, TOKEN_BODY_LIMIT)).into_response(),
    };
    let client = match authenticate(&state.idp, &headers, &form).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    // `?client_id=` (what a browser's CORS preflight was answered for) must be the client itself.
    if query.client_id.as_deref().is_some_and(|id| id != client.client_id) {
        return OAuthError::invalid_request("the client_id in the URL is not the authenticated client").into_response();
    }
    let mut res = match grant(&state.idp, &client, &form).await {
        Ok(res) => res,
        Err(e) => e.into_response(),
    };
    allow_origin(&mut res, origin.as_deref(), Some(&client));
    res
}

/// Finds the client and checks its credentials (exactly one method per request).
async fn authenticate(idp: &Idp, headers: &HeaderMap, form: &TokenForm) -> Result<Client, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")));
    let (client_id, secret) = match (basic, &form.client_secret) {
        (Some(_), Some(_)) => return Err(OAuthError::invalid_request("use one client authentication method, not two")),
        (Some(b64), None) => {
            let decoded = STANDARD.decode(b64.trim()).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(OAuthError::invalid_client)?;
            let (id, secret) = decoded.split_once(':').ok_or_else(OAuthError::invalid_client)?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
            let id = percent_decode_str(&id.replace('+', " ")).decode_utf8_lossy().into_owned();
            let secret = percent_decode_str(&secret.replace('+', " ")).decode_utf8_lossy().into_owned();
            if form.client_id.as_ref().is_some_and(|c| *c != id) {
                return Err(OAuthError::invalid_request("client_id differs from the Authorization header"));
            }
            (id, Some(secret))
        }
        (None, secret) => (form.client_id.clone().ok_or_else(OAuthError::invalid_client)?, secret.clone()),
    };
    match idp.clients.authenticate(&idp.db, &client_id, secret.as_deref()).await.map_err(OAuthError::server_error)? {
        Some(client) => Ok(client),
        None => {
            tracing::info!(client = %client_id, "client authentication failed");
            Err(OAuthError::invalid_client())
        }
    }
}

fn grant_error(e: GrantError) -> OAuthError {
    match e {
        GrantError::Store(e) => OAuthError::server_error(e),
        other => OAuthError::invalid_grant(other.to_string()),
    }
}

async fn grant(idp: &Idp, client: &Client, form: &TokenForm) -> Result<Response, OAuthError> {
    let now = domain::now_ms();
    match form.grant_type.as_deref() {
        Some("authorization_code") => {
            let code = form.code.as_deref().ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
            let redirect_uri = form.redirect_uri.as_deref().ok_or_else(|| OAuthError::invalid_request("redirect_uri is missing"))?;
            let policy = idp.grants.for_client(client.is_public());
            let (grant, refresh) =
                grants::exchange_code(&idp.db, &policy, &client.client_id, code, redirect_uri, form.code_verifier.as_deref(), now)
                    .await
                    .map_err(grant_error)?;
            member_tokens(idp, client, grant, None, Some(code.to_string()), refresh, now).await
        }
        Some("refresh_token") => {
            let token = form.refresh_token.as_deref().ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
            let (grant, next) =
                grants::rotate_refresh_token(&idp.db, &idp.grants.for_client(client.is_public()), &client.client_id, token, now).await.map_err(grant_error)?;
            let narrowed = match form.scope.as_deref() {
                None => None,
                Some(asked) => {
                    let granted: Vec<&str> = grant.scope.split(' ').collect();
                    if asked.split(' ').any(|s| !granted.contains(&s)) {
                        return Err(OAuthError::new(StatusCode::BAD_REQUEST, "invalid_scope", "scope exceeds what was granted"));
                    }
                    Some(asked.to_string())
                }
            };
            member_tokens(idp, client, grant, narrowed, None, next, now).await
        }
        Some("client_credentials") => {
            if client.is_public() {
                return Err(OAuthError::new(StatusCode::BAD_REQUEST, "unauthorized_client", "public clients cannot use client_credentials"));
            }
            // Without `scope`, everything the partner may have; otherwise each asked scope must
            // be known and granted to this partner.
            let scope = form.scope.clone().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| client.scopes.join(" "));
            if scope.split_whitespace().any(|s| !tokens::PARTNER_SCOPES.contains(&s)) {
                let known = tokens::PARTNER_SCOPES.join(" ");
                return Err(OAuthError::new(StatusCode::BAD_REQUEST, "invalid_scope", format!("client_credentials scopes are: {known}")));
            }
            if let Some(refused) = scope.split_whitespace().find(|s| !client.may_request(s)) {
                return Err(OAuthError::new(StatusCode::BAD_REQUEST, "invalid_scope", format!("this client may not be granted {refused}")));
            }
            let scope = scope.split_whitespace().collect::<Vec<_>>().join(" ");
            let claims = AccessClaims::new(&idp.issuer, &idp.tokens, &client.client_id, &client.client_id, &scope, now);
            let (keys, alg) = (idp.keys(), client.token_alg);
            let access = idp.sign(move || tokens::sign_jwt(&keys, alg, "at+jwt", &claims))
                .await
                .map_err(OAuthError::server_error)?;
            let mut body: StandardTokenResponse<EmptyExtraTokenFields, CoreTokenType> =
                StandardTokenResponse::new(AccessToken::new(access), CoreTokenType::Bearer, EmptyExtraTokenFields {});
            body.set_expires_in(Some(&Duration::from_secs(idp.tokens.access_ttl_s as u64)));
            body.set_scopes(Some(scope.split(' ').map(|s| Scope::new(s.to_string())).collect()));
            Ok(no_store(Json(body).into_response()))
        }
        Some(_) => Err(OAuthError::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", "grant_type is not supported")),
        None => Err(OAuthError::invalid_request("grant_type is missing")),
    }
}

/// Access token and ID token for a member's grant, with the grant's next refresh token.
async fn member_tokens(
    idp: &Idp,
    client: &Client,
    grant: Grant,
    narrowed: Option<String>,
    code: Option<String>,
    refresh: String,
    now: i64,
) -> Result<Response, OAuthError> {
    let member = members::find_by_id(&idp.db, &grant.member_id)
        .await
        .map_err(OAuthError::server_error)?
        .ok_or_else(|| OAuthError::invalid_grant("the member no longer exists"))?;
    let scope = narrowed.unwrap_or_else(|| grant.scope.clone());
    let (keys, issuer, policy, alg) = (idp.keys(), idp.issuer.clone(), idp.tokens, client.token_alg);
    let body = idp.sign(move || -> Result<TokenResponse, tokens::TokenError> {
        let mut claims = AccessClaims::new(&issuer, &policy, &grant.client_id, &member.id, &scope, now);
        claims.gid = Some(grant.id.clone());
        claims.skyjoy_id = Some(member.skyjoy_id.to_string());
        let access = tokens::sign_jwt(&keys, alg, "at+jwt", &claims);
        let input = tokens::IdTokenInput {
            issuer: &issuer,
            client_id: &grant.client_id,
            member: &member,
            scope: &scope,
            nonce: grant.nonce.as_deref(),
            auth_time_ms: grant.auth_time_ms,
            access_token: Some(&access),
            code: code.as_deref(),
        };
        let id_token = tokens::id_token(&keys, alg, &policy, &input, now)?;
        let mut body = TokenResponse::new(AccessToken::new(access), CoreTokenType::Bearer, TokenFields::new(Some(id_token), EmptyExtraTokenFields {}));
        body.set_expires_in(Some(&Duration::from_secs(policy.access_ttl_s as u64)));
        body.set_refresh_token(Some(RefreshToken::new(refresh)));
        body.set_scopes(Some(scope.split(' ').map(|s| Scope::new(s.to_string())).collect()));
        Ok(body)
    })
    .await
    .map_err(OAuthError::server_error)?
    .map_err(OAuthError::server_error)?;
    Ok(no_store(Json(body).into_response()))
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}
