//! Starting a sign-in: `/authorize` (regular web apps; OpenID Connect authorization code flow)
//! and `/embed` (the SkyJoy iFrame and the single-page-app dialog/popup; the answer goes back by
//! `postMessage`).
//!
//! A bad `client_id` or `redirect_uri` gets an error page and never a redirect; every later
//! problem is reported to the verified redirect URI (`error`, `error_description`, `state`,
//! `iss`; RFC 6749 §4.1.2.1, RFC 9207) — or, for `/embed`, as an `error` event.

use app::i18n::Lang;
use axum::{
    extract::{Query, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Extension, Form,
};
use domain::identity::{
    clients::Client,
    flows::{self, Action, Flow, NewFlow, ResponseMode, Step},
    grants,
    link_requests::{self, LinkHint},
    members,
    tokens::SCOPES,
};
use serde::Deserialize;
use tower_sessions::Session;

use super::page;
use crate::http::AppState;

/// The parameters of both entry points (all optional here; [`validate`] decides).
#[derive(Debug, Default, Deserialize)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub response_mode: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    /// SkyJoy iFrame: `signin` | `signup`.
    pub action: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
    /// The partner's customer to link after sign-in (from `POST …/user/link-token`).
    pub link_token: Option<String>,
}

/// A request that passed every check.
#[derive(Debug)]
pub struct Valid {
    pub client: Client,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Option<String>,
    pub action: Action,
    pub mode: ResponseMode,
    pub link_hint: Option<LinkHint>,
}

/// Why a request was refused, and where the refusal may be shown.
#[derive(Debug)]
pub enum Refusal {
    /// The client or redirect URI cannot be trusted: an error page, no redirect.
    Page { status: StatusCode, message: &'static str },
    /// Reported to the (verified) redirect URI or framing page.
    ToClient { redirect_uri: String, state: Option<String>, mode: ResponseMode, error: &'static str, description: String },
}

const MAX_PARAM: usize = 512;
/// What `/embed` asks for when the partner names no scope: everything SkyJoy releases.
const EMBED_SCOPE: &str = "openid profile phone email dob";

pub async fn validate(state: &AppState, p: AuthorizeParams, mode: ResponseMode) -> Result<Valid, Refusal> {
    let page = |status, message| Refusal::Page { status, message };
    let client_id = p.client_id.as_deref().filter(|c| !c.is_empty()).ok_or(page(StatusCode::BAD_REQUEST, "client_id is missing"))?;
    let client = match state.idp.client(client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(page(StatusCode::BAD_REQUEST, "client_id is not registered")),
        Err(e) => {
            tracing::error!(error = %e, "loading a client failed");
            return Err(page(StatusCode::SERVICE_UNAVAILABLE, "the sign-in service is unavailable; try again shortly"));
        }
    };
    let redirect_uri = p.redirect_uri.clone().ok_or(page(StatusCode::BAD_REQUEST, "redirect_uri is missing"))?;
    if !client.allows_redirect(&redirect_uri) {
        return Err(page(StatusCode::BAD_REQUEST, "redirect_uri is not registered for this client"));
    }
    if mode == ResponseMode::WebMessage {
        let origin = url::Url::parse(&redirect_uri).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
        if !client.allows_origin(&origin) {
            return Err(page(StatusCode::BAD_REQUEST, "the redirect_uri's origin is not a registered web origin of this client"));
        }
    }
    let state_param = p.state.clone();
    let to_client = |error: &'static str, description: &str| Refusal::ToClient {
        redirect_uri: redirect_uri.clone(),
        state: state_param.clone(),
        mode,
        error,
        description: description.to_string(),
    };
    if p.request.is_some() {
        return Err(to_client("request_not_supported", "request objects are not supported"));
    }
    if p.request_uri.is_some() {
        return Err(to_client("request_uri_not_supported", "request_uri is not supported"));
    }
    for (name, value) in [("state", &p.state), ("nonce", &p.nonce)] {
        if value.as_ref().is_some_and(|v| v.len() > MAX_PARAM) {
            return Err(to_client("invalid_request", &format!("{name} is longer than {MAX_PARAM} characters")));
        }
    }
    let response_type = p.response_type.as_deref().or(if mode == ResponseMode::WebMessage { Some("code") } else { None });
    if response_type != Some("code") {
        return Err(to_client("unsupported_response_type", "only response_type=code is supported"));
    }
    if mode == ResponseMode::Query && p.response_mode.as_deref().is_some_and(|m| m != "query") {
        return Err(to_client("invalid_request", "only response_mode=query is supported here; use /embed for postMessage"));
    }
    let requested = p.scope.as_deref().or(if mode == ResponseMode::WebMessage { Some(EMBED_SCOPE) } else { None }).unwrap_or("");
    let words: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
    if !words.contains(&"openid") {
        return Err(to_client("invalid_scope", "scope must include openid"));
    }
    let scope = SCOPES.iter().filter(|s| words.contains(s)).copied().collect::<Vec<_>>().join(" ");
    let code_challenge = match (p.code_challenge.as_deref(), p.code_challenge_method.as_deref()) {
        (None, _) if client.is_public() => {
            return Err(to_client("invalid_request", "public clients must use PKCE (code_challenge with S256)"))
        }
        (None, Some(_)) => return Err(to_client("invalid_request", "code_challenge_method without code_challenge")),
        (None, None) => None,
        (Some(c), Some("S256")) if grants::is_valid_challenge(c) => Some(c.to_string()),
        (Some(_), Some("S256")) => return Err(to_client("invalid_request", "code_challenge must be 43 base64url characters")),
        // An absent method means `plain` (RFC 7636 §4.3), which we do not accept.
        (Some(_), _) => return Err(to_client("invalid_request", "code_challenge_method must be S256")),
    };
    let prompt = p.prompt.clone();
    if let Some(prompt) = &prompt {
        let values: Vec<&str> = prompt.split(' ').collect();
        if values.contains(&"none") && values.len() > 1 {
            return Err(to_client("invalid_request", "prompt=none cannot be combined with other values"));
        }
    }
    let action = match p.action.as_deref() {
        None | Some("signin") => Action::SignIn,
        Some("signup") => Action::SignUp,
        Some(_) => return Err(to_client("invalid_request", "action must be signin or signup")),
    };
    let link_hint = match p.link_token.as_deref() {
        None => None,
        Some(token) => match link_requests::resolve(&state.db, &client.client_id, token, domain::now_ms()).await {
            Ok(Some(hint)) => Some(hint),
            Ok(None) => return Err(to_client("invalid_request", "link_token is unknown, expired, or not this client's")),
            Err(e) => {
                tracing::error!(error = %e, "resolving a link token failed");
                return Err(to_client("temporarily_unavailable", "the sign-in service is unavailable; try again shortly"));
            }
        },
    };
    Ok(Valid { client, redirect_uri, scope, state: p.state, nonce: p.nonce, code_challenge, prompt, action, mode, link_hint })
}

/// `redirect_uri?error=…&error_description=…&state=…&iss=…`
fn error_redirect(issuer: &str, redirect_uri: &str, state: Option<&str>, error: &str, description: &str) -> Response {
    let pairs = [("error", error), ("error_description", description)];
    match flows::authorization_response(redirect_uri, &pairs, state, issuer) {
        Some(url) => see_other(&url),
        None => page::error(StatusCode::BAD_REQUEST, "redirect_uri is not a URL", None),
    }
}

fn see_other(location: &str) -> Response {
    let mut res = Redirect::to(location).into_response();
    *res.status_mut() = StatusCode::SEE_OTHER;
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn refuse(state: &AppState, refusal: Refusal) -> Response {
    match refusal {
        Refusal::Page { status, message } => page::error(status, message, None),
        Refusal::ToClient { redirect_uri, state: st, mode: ResponseMode::Query, error, description } => {
            error_redirect(&state.idp.issuer, &redirect_uri, st.as_deref(), error, &description)
        }
        Refusal::ToClient { redirect_uri, state: st, mode: ResponseMode::WebMessage, error, description } => {
            let event = page::EmbedEvent::error(error, &description, st.as_deref());
            page::error(StatusCode::BAD_REQUEST, "the sign-in request is invalid", Some((&redirect_uri, event)))
        }
    }
}

pub async fn authorize_get(
    State(state): State<AppState>,
    Extension(lang): Extension<Lang>,
    session: Session,
    Query(p): Query<AuthorizeParams>,
) -> Response {
    authorize(state, lang, session, p).await
}

pub async fn authorize_post(
    State(state): State<AppState>,
    Extension(lang): Extension<Lang>,
    session: Session,
    Form(p): Form<AuthorizeParams>,
) -> Response {
    authorize(state, lang, session, p).await
}

async fn authorize(state: AppState, lang: Lang, session: Session, p: AuthorizeParams) -> Response {
    let valid = match validate(&state, p, ResponseMode::Query).await {
        Ok(v) => v,
        Err(refusal) => return refuse(&state, refusal),
    };
    let prompt = valid.prompt.clone().unwrap_or_default();
    let prompt = prompt.as_str();
    let force_login = prompt.split(' ').any(|p| p == "login");
    let member = if force_login { None } else { session_member(&state, &session).await };
    if member.is_none() && prompt == "none" {
        return error_redirect(&state.idp.issuer, &valid.redirect_uri, valid.state.as_deref(), "login_required", "the member is not signed in");
    }
    let flow = match create_flow(&state, valid, lang).await {
        Ok(flow) => flow,
        Err(response) => return response,
    };
    // Single sign-on: a member already signed in here goes through the flow without a form
    // (linking the partner's customer, if any, as after a fresh sign-in).
    if let Some((member, auth_time)) = member {
        let services = state.idp.services();
        match flows::finish_signed_in(&services, &flow, &member, auth_time, domain::now_ms()).await {
            Ok(done) => {
                let back = match done.step {
                    Step::Done => done.redirect_url(&state.idp.issuer),
                    // refused: the flow's page says why, unless no page may be shown
                    _ if prompt == "none" => done.error_redirect_url(&state.idp.issuer),
                    _ => None,
                };
                if let Some(url) = back {
                    return see_other(&url);
                }
            }
            Err(e) => tracing::error!(error = %e, "single sign-on failed; showing the form"),
        }
    }
    see_other(&flow_page(&flow, lang))
}

/// The SkyJoy iFrame entry point (also used by the single-page-app SDK's dialog and popup).
pub async fn embed(State(state): State<AppState>, Extension(lang): Extension<Lang>, Query(p): Query<AuthorizeParams>) -> Response {
    match validate(&state, p, ResponseMode::WebMessage).await {
        Ok(valid) => start_flow(&state, valid, lang).await,
        Err(refusal) => refuse(&state, refusal),
    }
}

async fn start_flow(state: &AppState, v: Valid, lang: Lang) -> Response {
    match create_flow(state, v, lang).await {
        Ok(flow) => see_other(&flow_page(&flow, lang)),
        Err(response) => response,
    }
}

fn flow_page(flow: &Flow, lang: Lang) -> String {
    format!("/signin/{}?lang={}", flow.id, lang.code())
}

async fn create_flow(state: &AppState, v: Valid, lang: Lang) -> Result<Flow, Response> {
    let new = NewFlow {
        client_id: v.client.client_id.clone(),
        redirect_uri: v.redirect_uri,
        scope: v.scope,
        state: v.state,
        nonce: v.nonce,
        code_challenge: v.code_challenge,
        response_mode: v.mode,
        action: v.action,
        lang: lang.code().to_string(),
        link_hint: v.link_hint,
    };
    flows::create(&state.db, new, domain::now_ms()).await.map_err(|e| {
        tracing::error!(error = %e, "creating a sign-in flow failed");
        page::error(StatusCode::SERVICE_UNAVAILABLE, "the sign-in service is unavailable; try again shortly", None)
    })
}

/// The member signed in on this browser (and when), if any.
async fn session_member(state: &AppState, session: &Session) -> Option<(members::Member, i64)> {
    let (member_id, auth_time) = app::session::member(session).await?;
    let member = members::find_by_id(&state.db, &member_id).await.ok().flatten()?;
    Some((member, auth_time))
}
