//! Errors at the HTTP edge for the platform's own endpoints, and the two guarantees that hold
//! for every route: a JSON client never gets an HTML error, and a browser gets a styled page.
//! Each API family maps its domain errors to its own documented shape in its own module.

use std::panic::AssertUnwindSafe;

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode, Uri},
    response::{Html, IntoResponse, Response},
    Json,
};
use futures_util::FutureExt;
use serde_json::json;
use tower::ServiceExt;
use tower_http::services::ServeDir;

use super::AppState;

/// `{"error":{"code":"…","message":"…"}}` with an HTTP status.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn not_found() -> Self {
        Self { status: StatusCode::NOT_FOUND, code: "NOT_FOUND", message: "No such resource.".into() }
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self { status: StatusCode::SERVICE_UNAVAILABLE, code: "UNAVAILABLE", message: message.into() }
    }
    pub fn internal() -> Self {
        Self { status: StatusCode::INTERNAL_SERVER_ERROR, code: "INTERNAL_ERROR", message: "Internal error; it has been logged.".into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, code = self.code, message = %self.message, "request failed");
        }
        (self.status, Json(json!({ "error": { "code": self.code, "message": self.message } }))).into_response()
    }
}

/// True when the client is a browser asking for a page.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
}

/// Unknown paths: a static file from the site if there is one; else the styled 404 page for
/// browsers and a JSON 404 for everyone else.
pub async fn fallback(State(state): State<AppState>, uri: Uri, req: Request) -> Response {
    if wants_html(req.headers()) {
        let handler = leptos_axum::file_and_error_handler::<AppState, _>(app::shell);
        return handler(uri, State(state), req).await;
    }
    let (parts, _) = req.into_parts();
    let probe = Request::from_parts(parts, Body::empty());
    match ServeDir::new(&*state.leptos_options.site_root).precompressed_br().precompressed_gzip().oneshot(probe).await {
        Ok(res) if res.status() != StatusCode::NOT_FOUND => {
            let mut res = res.into_response();
            res.headers_mut().insert(header::CACHE_CONTROL, static_cache_control(uri.path()));
            res
        }
        _ => ApiError::not_found().into_response(),
    }
}

/// How long browsers (and a partner page embedding the SDK) may keep a static file: a file
/// whose name carries its content hash forever; the versioned SDK an hour (`/sdk/v1/` only
/// changes compatibly); anything else five minutes, then revalidated (`Last-Modified`).
fn static_cache_control(path: &str) -> HeaderValue {
    let file = path.rsplit('/').next().unwrap_or("");
    let hashed = file.split('.').any(|part| part.len() >= 16 && part.bytes().all(|b| b.is_ascii_hexdigit() || b.is_ascii_alphanumeric()) && part.bytes().any(|b| b.is_ascii_digit()));
    if hashed {
        HeaderValue::from_static("public, max-age=31536000, immutable")
    } else if path.starts_with("/sdk/v1/") {
        HeaderValue::from_static("public, max-age=3600")
    } else {
        HeaderValue::from_static("public, max-age=300, must-revalidate")
    }
}

/// A panicking handler becomes a logged 500: a JSON body for API clients, a page for browsers
/// (`html`: the request's [`wants_html`]). The edge runs every route's handler in it.
pub async fn unless_panicked(html: bool, handler: impl std::future::Future<Output = Response>) -> Response {
    match AssertUnwindSafe(handler).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(panic = %what, "handler panicked");
            if html {
                (StatusCode::INTERNAL_SERVER_ERROR, Html(ERROR_PAGE)).into_response()
            } else {
                ApiError::internal().into_response()
            }
        }
    }
}

/// Served when rendering itself failed, so it depends on nothing but the stylesheet.
const ERROR_PAGE: &str = r#"<!DOCTYPE html>
<html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Lỗi · Error · Joygate</title><link rel="stylesheet" href="/pkg/joygate.css"></head>
<body><main class="page error-page"><p class="error-code">500</p>
<h1>Đã có lỗi xảy ra</h1><p>Chúng tôi đã ghi nhận lỗi. Vui lòng thử lại sau ít phút.</p>
<h1 lang="en">Something went wrong</h1><p lang="en">The error has been logged. Please try again in a few minutes.</p>
<a class="button" href="/">Về trang chủ · Home</a></main></body></html>"#;

#[cfg(test)]
mod tests {
    use axum::{routing::get, Router};

    use super::*;

    async fn boom() -> &'static str {
        panic!("boom")
    }

    async fn call(accept: &str) -> Response {
        let app = Router::new().route("/boom", get(boom)).layer(axum::middleware::from_fn(|req: Request, next: axum::middleware::Next| async move {
            unless_panicked(wants_html(req.headers()), next.run(req)).await
        }));
        app.oneshot(Request::get("/boom").header(header::ACCEPT, accept).body(Body::empty()).unwrap()).await.unwrap()
    }

    #[test]
    fn static_files_are_cached_by_how_their_name_changes() {
        assert_eq!(static_cache_control("/pkg/joygate.3f2a9c41d07b8e65aa01.wasm"), "public, max-age=31536000, immutable");
        assert_eq!(static_cache_control("/sdk/v1/skyjoy.js"), "public, max-age=3600");
        assert_eq!(static_cache_control("/pkg/joygate.css"), "public, max-age=300, must-revalidate");
        assert_eq!(static_cache_control("/favicon.svg"), "public, max-age=300, must-revalidate");
    }

    #[tokio::test]
    async fn a_panic_is_a_json_500_for_api_clients_and_a_page_for_browsers() {
        let res = call("application/json").await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
        let res = call("text/html").await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(res.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    }
}
