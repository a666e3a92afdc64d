//! The few plain pages the protocol edge shows itself (the sign-in screens are Leptos pages in
//! `app::pages::signin`): refusals that must not redirect, and "signed out". In both languages,
//! with the site's stylesheet. Who may frame them is the page policy's
//! (`http::middleware::page_policy`: an `/embed` refusal, its client's origins; nobody else).

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Response},
};
use serde_json::json;

/// A versioned event for the framing page (see README, "iFrame events").
pub struct EmbedEvent(serde_json::Value);

impl EmbedEvent {
    pub fn error(error: &str, description: &str, state: Option<&str>) -> Self {
        EmbedEvent(json!({ "source": "skyjoy", "version": 1, "type": "error", "error": error, "error_description": description, "state": state }))
    }
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn respond(status: StatusCode, body: String) -> Response {
    let mut res = (status, Html(body)).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn document(title: &str, head: &str, main: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"vi\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · SkyJoy</title><link rel=\"stylesheet\" href=\"/pkg/joygate.css\">{head}</head>\
         <body><main class=\"page narrow\">{main}</main></body></html>"
    )
}

/// A refusal page. With `embed`, the page tells the framing page what went wrong with an
/// `error` event sent to the (registered) redirect URI's origin.
pub fn error(status: StatusCode, message: &str, embed: Option<(&str, EmbedEvent)>) -> Response {
    let (head, result) = match &embed {
        Some((redirect_uri, event)) => {
            let origin = url::Url::parse(redirect_uri).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
            (
                format!(
                    "<meta name=\"skyjoy-parent-origin\" content=\"{}\"><script src=\"/sdk/v1/bridge.js\" defer></script>",
                    escape(&origin)
                ),
                format!("<div id=\"skyjoy-result\" hidden data-message=\"{}\"></div>", escape(&event.0.to_string())),
            )
        }
        None => (String::new(), String::new()),
    };
    let main = format!(
        "<section class=\"card\" data-testid=\"signin-refused\"><h1>Không thể đăng nhập</h1>\
         <p lang=\"en\"><strong>Sign-in refused:</strong> <span data-testid=\"refusal\">{}</span></p>\
         <p>Vui lòng quay lại trang của đối tác và thử lại. · Please go back to the partner's page and try again.</p>{result}</section>",
        escape(message)
    );
    respond(status, document("Lỗi đăng nhập · Sign-in error", &head, &main))
}

/// After RP-initiated logout without a (valid) post_logout_redirect_uri.
pub fn signed_out() -> Response {
    let main = "<section class=\"card\" data-testid=\"signed-out\"><h1>Bạn đã đăng xuất</h1>\
                <p lang=\"en\">You have signed out of SkyJoy.</p></section>";
    respond(StatusCode::OK, document("Đã đăng xuất · Signed out", "", main))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_attributes() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}
