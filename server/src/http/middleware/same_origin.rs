//! CSRF defence for the pages' server functions (`POST /api/…`): a browser's cross-site post is
//! refused by its `Origin` (or `Sec-Fetch-Site`) before any handler runs. The sign-in forms
//! also carry a per-flow CSRF token (`domain::identity::flows`).

use axum::{
    extract::Request,
    http::{header, Method, StatusCode},
    response::{IntoResponse, Response},
};

use crate::http::errors::ApiError;

/// Our own origin, as browsers send it in `Origin`.
#[derive(Clone)]
pub struct OwnOrigin(pub String);

/// The refusal of a browser's cross-site post to a server function; `None` lets it through.
pub fn refusal(own: &OwnOrigin, req: &Request) -> Option<Response> {
    if req.method() != Method::POST || !req.uri().path().starts_with("/api/") {
        return None;
    }
    let origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let site = req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let foreign_origin = origin.is_some_and(|o| o != own.0);
    let cross_site = site.is_some_and(|s| s == "cross-site" || s == "same-site");
    if !(foreign_origin || cross_site) {
        return None;
    }
    tracing::warn!(origin = ?origin, sec_fetch_site = ?site, path = %req.uri().path(), "cross-site form post refused");
    Some(
        ApiError { status: StatusCode::FORBIDDEN, code: "CROSS_SITE_REQUEST", message: "Cross-site requests are not allowed here.".into() }
            .into_response(),
    )
}
