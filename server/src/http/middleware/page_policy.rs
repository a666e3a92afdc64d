//! The page policy, decided here for every route: who may frame a response, where its forms may
//! send the browser, and the nonce of the page's hydration script — written together as
//! Content-Security-Policy, X-Frame-Options and Cross-Origin-Opener-Policy (plus the headers
//! every response carries) — and which pages are served without the browser bundle
//! (`app::HtmlOnly`). The page shell only reads the nonce (`app::PageNonce`) and that mark.
//!
//! | route | may be framed by | forms may also go to |
//! |---|---|---|
//! | `/signin/{flow}` | the flow's client's registered web origins, when the flow is embedded (`/embed`, the SDK); such a frame is HTML forms and the SDK bridge, without the wasm | the flow's redirect URI origin (the answer of a form post redirects there) |
//! | `/embed` | its `client_id`'s registered web origins (a refusal page; a valid request redirects to `/signin/{flow}`) | — |
//! | `/account/redeem` | nobody | the requesting partner's redirect URI origin, if registered for that partner |
//! | `/apps/vn.tiki.vip` | nobody (a webview, not a frame) | the payment partners' origins (checkout redirects to their payment screen) |
//! | any other page | nobody | — |
//! | anything that is not HTML | nobody, and `default-src 'none'` | — |
//!
//! X-Frame-Options (for old webviews) is `DENY` exactly when nobody may frame. COOP is
//! `same-origin-allow-popups` except on a framable page (it is also the SDK's popup, which must
//! keep `window.opener` to post its result) and on redirects to one.

use app::{pages::signin::backend::Preloaded, HtmlOnly, PageNonce};
use axum::{
    extract::Request,
    http::{header, HeaderMap, HeaderValue, Method},
    response::Response,
};
use domain::identity::flows;

use crate::http::AppState;

/// A page's policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Origins that may frame it; empty: nobody.
    pub frame_ancestors: Vec<String>,
    /// Origins a form post's answer may redirect to, besides ours.
    pub form_targets: Vec<String>,
}

fn origin_of(url: &str) -> Option<String> {
    url::Url::parse(url).ok().map(|u| u.origin().ascii_serialization()).filter(|o| o != "null")
}

fn query_param(req: &Request, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The table in the module header. Lookups that fail leave the default (nobody frames, forms
/// post to us only): a failure never widens a policy.
async fn decide(state: &AppState, req: &mut Request) -> Policy {
    let path = req.uri().path();
    if let Some(flow_id) = path.strip_prefix("/signin/").filter(|id| !id.is_empty() && !id.contains('/')) {
        let Ok(Some(flow)) = flows::load(&state.db, flow_id, domain::now_ms()).await else { return Policy::default() };
        let embedded = flow.request.response_mode == flows::ResponseMode::WebMessage;
        let client = state.idp.client(&flow.request.client_id).await.ok().flatten();
        let policy = Policy {
            frame_ancestors: client.as_ref().filter(|_| embedded).map(|c| c.web_origins.clone()).unwrap_or_default(),
            form_targets: flow.message_origin().into_iter().collect(),
        };
        // the page renders this same flow: hand it over instead of reading it again
        req.extensions_mut().insert(Preloaded { flow, client });
        // the frame a partner page embeds: HTML forms and the SDK bridge, no browser bundle
        if embedded {
            req.extensions_mut().insert(HtmlOnly);
        }
        return policy;
    }
    match path {
        "/embed" => {
            let client = match query_param(req, "client_id") {
                Some(id) => state.idp.client(&id).await.ok().flatten(),
                None => None,
            };
            Policy { frame_ancestors: client.map(|c| c.web_origins).unwrap_or_default(), form_targets: Vec::new() }
        }
        "/account/redeem" => {
            let (Some(client_id), Some(redirect_uri)) = (query_param(req, "client_id"), query_param(req, "redirect_uri")) else {
                return Policy::default();
            };
            match state.idp.client(&client_id).await {
                Ok(Some(c)) if c.allows_redirect(&redirect_uri) => Policy { frame_ancestors: Vec::new(), form_targets: origin_of(&redirect_uri).into_iter().collect() },
                _ => Policy::default(),
            }
        }
        "/apps/vn.tiki.vip" => match domain::tikivip::partners::list(&state.db).await {
            Ok(partners) => Policy { frame_ancestors: Vec::new(), form_targets: partners.iter().filter_map(|p| origin_of(&p.api_base_url)).collect() },
            Err(_) => Policy::default(),
        },
        _ => Policy::default(),
    }
}

/// A fresh 128-bit nonce for a page's hydration script.
fn new_nonce() -> String {
    domain::signing::random_token(16)
}

fn is_html(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("text/html"))
}

fn page_csp(policy: &Policy, nonce: &str) -> String {
    let ancestors = if policy.frame_ancestors.is_empty() { "'none'".to_string() } else { policy.frame_ancestors.join(" ") };
    let forms = policy.form_targets.iter().fold(String::from("'self'"), |acc, o| acc + " " + o);
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; frame-ancestors {ancestors}; base-uri 'none'; form-action {forms}; object-src 'none'"
    )
}

/// What [`prepare`] decided for a request, for [`finish`] to write on its response.
pub struct Prepared {
    policy: Policy,
    /// The page's nonce: set for `GET` and `HEAD`, the requests that may answer with a page.
    nonce: Option<String>,
}

/// Before the handler: the request's policy, and for a page request its nonce (in the
/// request's extensions as [`PageNonce`], with whatever [`decide`] hands the page).
pub async fn prepare(state: &AppState, req: &mut Request) -> Prepared {
    let page_request = matches!(*req.method(), Method::GET | Method::HEAD);
    let policy = if page_request { decide(state, req).await } else { Policy::default() };
    let nonce = page_request.then(new_nonce);
    if let Some(n) = &nonce {
        req.extensions_mut().insert(PageNonce(n.clone()));
    }
    Prepared { policy, nonce }
}

/// After the handler: the policy's headers on whatever answered, and the headers every
/// response carries.
pub fn finish(prepared: &Prepared, response: &mut Response) {
    let Prepared { policy, nonce } = prepared;
    let redirect = response.status().is_redirection();
    let html = is_html(response.headers());
    let h = response.headers_mut();
    let csp = match (nonce, html) {
        (Some(n), true) => HeaderValue::from_str(&page_csp(policy, n)).ok(),
        // a form post's answer is a redirect or a server function's data, never a page of ours
        _ => Some(HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; base-uri 'none'")),
    };
    let framable = html && !policy.frame_ancestors.is_empty();
    if let Some(v) = csp {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    if !framable {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if !framable && !redirect {
        h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin-allow-popups"));
    }
    h.entry(header::X_CONTENT_TYPE_OPTIONS).or_insert(HeaderValue::from_static("nosniff"));
    h.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("strict-origin-when-cross-origin"));
    h.entry("permissions-policy").or_insert(HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_csp_names_exactly_the_policys_origins() {
        let p = Policy { frame_ancestors: vec!["https://shop.example".into()], form_targets: vec!["https://shop.example".into()] };
        let csp = page_csp(&p, "abc");
        assert!(csp.contains("frame-ancestors https://shop.example;"), "{csp}");
        assert!(csp.contains("form-action 'self' https://shop.example;"), "{csp}");
        assert!(csp.contains("'nonce-abc'"), "{csp}");
        let none = page_csp(&Policy::default(), "n");
        assert!(none.contains("frame-ancestors 'none';") && none.contains("form-action 'self';"), "{none}");
    }
}
