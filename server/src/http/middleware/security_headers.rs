//! Security headers on every response. Pages set their own Content-Security-Policy (with the
//! hydration script's nonce, see `app::shell`); everything else gets a deny-all policy.

use axum::{
    extract::Request,
    http::{header, HeaderValue},
    middleware::Next,
    response::Response,
};

pub async fn apply(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let redirect = response.status().is_redirection();
    let h = response.headers_mut();
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; base-uri 'none'"));
    h.entry(header::X_CONTENT_TYPE_OPTIONS).or_insert(HeaderValue::from_static("nosniff"));
    h.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("strict-origin-when-cross-origin"));
    // Legacy twin of frame-ancestors for old webviews, on every page no partner may frame.
    let framable = h
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|csp| csp.contains("frame-ancestors") && !csp.contains("frame-ancestors 'none'"));
    if !framable {
        h.entry(header::X_FRAME_OPTIONS).or_insert(HeaderValue::from_static("DENY"));
    }
    h.entry("permissions-policy").or_insert(HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"));
    // A page a partner may frame is also the sign-in popup the partner's page opened: it must
    // keep `window.opener` to post its result back, so no COOP there (nor on redirects to it).
    if !framable && !redirect {
        h.entry("cross-origin-opener-policy").or_insert(HeaderValue::from_static("same-origin-allow-popups"));
    }
    response
}
