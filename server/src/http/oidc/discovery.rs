//! `/.well-known/openid-configuration` and `/jwks`, both served from bytes prepared in advance
//! (discovery once at start; the JWKS whenever the key ring is reloaded).

use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use domain::identity::tokens::{CLAIMS, SCOPES};
use openidconnect::{
    core::{
        CoreClaimName, CoreClientAuthMethod, CoreGrantType, CoreJwsSigningAlgorithm,
        CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
    },
    AdditionalProviderMetadata, AuthUrl, EndSessionUrl, IssuerUrl, JsonWebKeySetUrl, ProviderMetadata, ResponseTypes,
    Scope, TokenUrl, UserInfoUrl,
};
use serde::{Deserialize, Serialize};

use crate::http::AppState;

/// What discovery adds to `CoreProviderMetadata`: RP-initiated logout, PKCE, and RFC 9207 (we
/// send `iss` with every authorization response, so clients may insist on it).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct SkyIdMetadata {
    pub end_session_endpoint: EndSessionUrl,
    pub code_challenge_methods_supported: Vec<String>,
    pub authorization_response_iss_parameter_supported: bool,
}
impl AdditionalProviderMetadata for SkyIdMetadata {}

pub type SkyIdProviderMetadata = ProviderMetadata<
    SkyIdMetadata,
    openidconnect::core::CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    openidconnect::core::CoreClaimType,
    CoreGrantType,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJweKeyManagementAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The provider metadata for `issuer`, serialised.
pub fn metadata_json(issuer: &str) -> anyhow::Result<Bytes> {
    let url = |path: &str| format!("{issuer}{path}");
    let metadata = SkyIdProviderMetadata::new(
        IssuerUrl::new(issuer.to_string())?,
        AuthUrl::new(url("/authorize"))?,
        JsonWebKeySetUrl::new(url("/jwks"))?,
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
        SkyIdMetadata {
            end_session_endpoint: EndSessionUrl::new(url("/logout"))?,
            code_challenge_methods_supported: vec!["S256".into()],
            authorization_response_iss_parameter_supported: true,
        },
    )
    .set_token_endpoint(Some(TokenUrl::new(url("/token"))?))
    .set_userinfo_endpoint(Some(UserInfoUrl::new(url("/userinfo"))?))
    .set_scopes_supported(Some(SCOPES.iter().map(|s| Scope::new(s.to_string())).collect()))
    .set_claims_supported(Some(CLAIMS.iter().map(|c| CoreClaimName::new(c.to_string())).collect()))
    .set_response_modes_supported(Some(vec![CoreResponseMode::Query]))
    .set_grant_types_supported(Some(vec![CoreGrantType::AuthorizationCode, CoreGrantType::RefreshToken, CoreGrantType::ClientCredentials]))
    .set_token_endpoint_auth_methods_supported(Some(vec![
        CoreClientAuthMethod::ClientSecretBasic,
        CoreClientAuthMethod::ClientSecretPost,
        CoreClientAuthMethod::None,
    ]))
    .set_claims_parameter_supported(Some(false))
    .set_request_parameter_supported(Some(false))
    .set_request_uri_parameter_supported(Some(false));
    Ok(Bytes::from(serde_json::to_vec(&metadata)?))
}

fn json(body: Bytes, max_age: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(max_age));
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    res
}

pub async fn configuration(State(state): State<AppState>) -> Response {
    json(state.discovery.clone(), "public, max-age=3600")
}

pub async fn jwks(State(state): State<AppState>) -> Response {
    // Short caching: after a rotation, verifiers must see the new key within minutes.
    json(Bytes::from(state.idp.keys().jwks_json.clone()), "public, max-age=300")
}
