//! The SkyID OpenID Connect provider's endpoints (OpenID Connect Core, Discovery, RP-Initiated
//! Logout; OAuth 2.0 with PKCE). Business rules are in `domain::identity`; this module is the
//! protocol edge: parameters, client authentication, errors in the OAuth shape, CORS.
//!
//! | path | what |
//! |---|---|
//! | `/.well-known/openid-configuration` | discovery ([`discovery`]) |
//! | `/jwks` | the published signing keys |
//! | `/authorize`, `/embed` | start a sign-in: redirect mode, iFrame mode ([`authorize`]) |
//! | `/token` | codes, refresh tokens, client credentials ([`token`]) |
//! | `/userinfo` | claims for an access token ([`userinfo`]) |
//! | `/logout` | RP-initiated logout ([`logout`]) |

pub mod authorize;
pub mod discovery;
pub mod logout;
pub mod page;
pub mod token;
pub mod userinfo;

use axum::{
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use domain::identity::clients;
use serde_json::json;

use super::AppState;

/// The JSON endpoints (no browser session); they refuse an over-long target as OAuth errors.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery::configuration))
        .route("/jwks", get(discovery::jwks))
        .route(
            "/token",
            axum::routing::post(token::token)
                .options(cors_preflight)
                .layer(axum::extract::DefaultBodyLimit::max(crate::http::input::TOKEN_BODY_LIMIT)),
        )
        .route("/userinfo", get(userinfo::userinfo).post(userinfo::userinfo).options(cors_preflight))
        .route_layer(crate::http::input::limit_uri::<OAuthError>())
}

/// The sign-in pages: they keep the member's browser session (single sign-on, sign-out).
pub fn session_routes() -> Router<AppState> {
    Router::new()
        .route("/authorize", get(authorize::authorize_get).post(authorize::authorize_post))
        .route("/embed", get(authorize::embed))
        .route("/logout", get(logout::end_session_get).post(logout::end_session_post))
}

/// An OAuth 2.0 error response: `{"error": …, "error_description": …}` (RFC 6749 §5.2).
#[derive(Debug)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self { status, error, description: description.into() }
    }
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
    pub fn invalid_client() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed")
    }
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }
    pub fn server_error(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "OAuth endpoint failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "internal error; it has been logged")
    }
}

/// Input the framework refused (a form over 16 KiB, not a form, a repeated field, a query that
/// does not parse): `invalid_request`, saying which.
impl From<crate::http::input::Rejected> for OAuthError {
    fn from(r: crate::http::input::Rejected) -> Self {
        match r {
            crate::http::input::Rejected::UriTooLong { .. } => OAuthError::new(StatusCode::URI_TOO_LONG, "invalid_request", r.to_string()),
            r => OAuthError::invalid_request(r.to_string()),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut res = (self.status, Json(json!({ "error": self.error, "error_description": self.description }))).into_response();
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = if self.error == "invalid_client" {
                "Basic realm=\"skyid\"".to_string()
            } else {
                format!("Bearer realm=\"skyid\", error=\"{}\"", self.error)
            };
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                h.insert(header::WWW_AUTHENTICATE, v);
            }
        }
        res
    }
}

/// The request's `Origin`, if it is a web origin (not `null`).
pub fn request_origin(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).filter(|o| *o != "null")
}

/// Lets `origin` read the response when it is one of the client's registered web origins.
pub fn allow_origin(res: &mut Response, origin: Option<&str>, client: Option<&clients::Client>) {
    if let (Some(origin), Some(client)) = (origin, client) {
        if client.allows_origin(origin) {
            if let Ok(v) = HeaderValue::from_str(origin) {
                res.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
                res.headers_mut().insert(header::VARY, HeaderValue::from_static("Origin"));
            }
        }
    }
}

/// `?client_id=` on the token and userinfo endpoints: which client a browser calls them for.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ClientQuery {
    pub client_id: Option<String>,
}

/// CORS preflight for the token and userinfo endpoints, per client: a browser that must ask
/// (a request that is not a simple form post) names its client (`?client_id=`, as our SDK does),
/// and only that client's registered web origins are allowed; without it, or for an origin the
/// client did not register, the answer carries no CORS header and the browser does not send the
/// request. The real request is checked against its authenticated client again.
async fn cors_preflight(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Query(q): axum::extract::Query<ClientQuery>,
    headers: HeaderMap,
) -> Response {
    let Some(origin) = request_origin(&headers) else { return StatusCode::NO_CONTENT.into_response() };
    let client = match q.client_id.as_deref() {
        Some(id) => state.idp.client(id).await.ok().flatten(),
        None => None,
    };
    let allowed = client.is_some_and(|c| c.allows_origin(origin));
    let mut res = StatusCode::NO_CONTENT.into_response();
    if allowed {
        let h = res.headers_mut();
        if let Ok(v) = HeaderValue::from_str(origin) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        }
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    res
}
