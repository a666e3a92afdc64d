//! Request input that the framework refuses before a handler runs — a path segment that is not
//! UTF-8, a query with a repeated or malformed field, a body over its route's limit or not the
//! expected form — named once here ([`Rejected`]), so that each API family turns it into its own
//! documented error shape in one place, its `From<Rejected>`:
//!
//! | family | where | a body over the limit |
//! |---|---|---|
//! | SkyJoy partner APIs | `skyjoy/mod.rs` | 413 `PAYLOAD_TOO_LARGE` |
//! | Tiki VIP APIs | `tikivip/api.rs` | 401 code 1 (unsigned: it is refused before its signature is read) |
//! | OAuth `/token` | `oidc/token.rs` | 400 `invalid_request` |
//! | benefits, reward tasks | `benefits/mod.rs`, `rewards/api.rs` (they read their bodies themselves) | their own codes |
//!
//! A request target (path and query) over [`URI_LIMIT`] is refused the same way, by the family's
//! router ([`limit_uri`]), with 414 in its shape (the ISV APIs: HTTP 200 `PARAM_ILLEGAL`, the
//! seed's convention). Beyond 64 KiB hyper itself answers a bare 414 before any routing: its
//! request-line limit is a constant.
//!
//! Body limits per route are the constants below: [`Bytes`] reads at most its limit, and
//! `/token`'s form is limited with `DefaultBodyLimit` on its route, so nothing larger is
//! ever buffered.

use std::marker::PhantomData;

use axum::{
    extract::{
        rejection::{FormRejection, PathRejection, QueryRejection},
        FromRequest, FromRequestParts, Request,
    },
    http::{request::Parts, StatusCode},
    response::IntoResponse,
};
use serde::de::DeserializeOwned;
use tower_http::validate_request::ValidateRequestHeaderLayer;

/// SkyJoy partner APIs' JSON bodies (the batch upload has its own, `skyjoy::batch`).
pub const SKYJOY_BODY_LIMIT: usize = 64 * 1024;
/// Tiki VIP's signed JSON bodies (webview, IPN).
pub const TIKIVIP_BODY_LIMIT: usize = 64 * 1024;
/// `POST /token` forms.
pub const TOKEN_BODY_LIMIT: usize = 16 * 1024;

/// The longest request target (path and query) the APIs take, in bytes.
pub const URI_LIMIT: usize = 8 * 1024;

/// Refuses a request whose target is over [`URI_LIMIT`] in the family's shape (`E`), before
/// any extractor reads it: `.route_layer(limit_uri::<FamilyError>())`. A plain validation
/// layer (tower-http's), not a `from_fn`: no boxed future per request.
pub fn limit_uri<E: From<Rejected> + IntoResponse>() -> ValidateRequestHeaderLayer<UriCheck> {
    ValidateRequestHeaderLayer::custom(check_uri::<E>)
}

/// What [`limit_uri`] runs on each request.
pub type UriCheck = fn(&mut Request) -> Result<(), axum::response::Response>;

fn check_uri<E: From<Rejected> + IntoResponse>(req: &mut Request) -> Result<(), axum::response::Response> {
    let len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if len > URI_LIMIT {
        return Err(E::from(Rejected::UriTooLong { limit: URI_LIMIT }).into_response());
    }
    Ok(())
}

/// Why the framework refused a request's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// The path and query are over [`URI_LIMIT`] bytes.
    UriTooLong { limit: usize },
    /// The body is over the route's limit (bytes).
    TooLarge { limit: usize },
    /// The body is not of the expected content type.
    ContentType(String),
    /// The path, query or body does not parse (bad UTF-8, repeated field, wrong type…).
    Malformed(String),
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejected::TooLarge { limit } => write!(f, "the request body is larger than {} KiB", limit / 1024),
            Rejected::UriTooLong { limit } => write!(f, "the request's path and query are longer than {} KiB", limit / 1024),
            Rejected::ContentType(m) | Rejected::Malformed(m) => f.write_str(m),
        }
    }
}

impl Rejected {
    /// A form body's rejection, on a route limited to `limit` bytes (`DefaultBodyLimit`).
    pub fn from_form(e: FormRejection, limit: usize) -> Self {
        match e {
            FormRejection::InvalidFormContentType(_) => {
                Rejected::ContentType("the body must be application/x-www-form-urlencoded".into())
            }
            e if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Rejected::TooLarge { limit },
            e => Rejected::Malformed(e.body_text()),
        }
    }
}

impl From<QueryRejection> for Rejected {
    fn from(e: QueryRejection) -> Self {
        Rejected::Malformed(e.body_text())
    }
}

impl From<PathRejection> for Rejected {
    fn from(e: PathRejection) -> Self {
        Rejected::Malformed(e.body_text())
    }
}

/// axum's `Query`, refused in the family's shape `E`. Match it as `Query(q, ..)`.
pub struct Query<T, E>(pub T, pub PhantomData<E>);

impl<T, E, S> FromRequestParts<S> for Query<T, E>
where
    T: DeserializeOwned,
    E: From<Rejected> + IntoResponse,
    S: Send + Sync,
{
    type Rejection = E;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, E> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(q) => Ok(Query(q.0, PhantomData)),
            Err(e) => Err(Rejected::from(e).into()),
        }
    }
}

/// axum's `Path`, refused in the family's shape `E`. Match it as `Path(p, ..)`.
pub struct Path<T, E>(pub T, pub PhantomData<E>);

impl<T, E, S> FromRequestParts<S> for Path<T, E>
where
    T: DeserializeOwned + Send,
    E: From<Rejected> + IntoResponse,
    S: Send + Sync,
{
    type Rejection = E;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, E> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(p) => Ok(Path(p.0, PhantomData)),
            Err(e) => Err(Rejected::from(e).into()),
        }
    }
}

/// The raw body, at most `LIMIT` bytes (never more is buffered), refused in the family's shape
/// `E`: a `Content-Length` over the limit before anything is read, a longer chunked body as soon
/// as it passes the limit.
pub struct Bytes<E, const LIMIT: usize>(pub axum::body::Bytes, pub PhantomData<E>);

impl<E, S, const LIMIT: usize> FromRequest<S> for Bytes<E, LIMIT>
where
    E: From<Rejected> + IntoResponse,
    S: Send + Sync,
{
    type Rejection = E;

    async fn from_request(req: Request, _state: &S) -> Result<Self, E> {
        let declared = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > LIMIT as u64) {
            return Err(Rejected::TooLarge { limit: LIMIT }.into());
        }
        match axum::body::to_bytes(req.into_body(), LIMIT).await {
            Ok(b) => Ok(Bytes(b, PhantomData)),
            // within a declared length that fits, a failed read is the connection's, not the size's
            Err(e) if declared.is_some() => Err(Rejected::Malformed(format!("the request body could not be read: {e}")).into()),
            Err(_) => Err(Rejected::TooLarge { limit: LIMIT }.into()),
        }
    }
}
