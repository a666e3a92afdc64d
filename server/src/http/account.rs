//! The first-party sign-in behind the member's pages (`/account…`, `app::pages::account`): the
//! platform is a public client of its own provider (`joygate-account`, PKCE, registered at
//! start). `/account/signin?return_to=/account…` starts the usual SkyJoy sign-in;
//! `/account/callback` checks `state`, redeems the code with its verifier and returns the member
//! to where they were. `POST /account/signout` forgets the member on this browser.
//!

use app::session::{self, AccountSignIn};
use axum::{
    extract::{Query, State},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Router,
};
use domain::identity::{clients, grants};
use serde::Deserialize;
use tower_sessions::Session;

use super::{oidc::page, AppState};

/// The platform's own client id.
pub const CLIENT_ID: &str = "joygate-account";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/account/signin", get(signin))
        .route("/account/callback", get(callback))
        .route("/account/signout", post(signout))
}

/// The client as registered at start (its redirect URI depends on the public URL).
pub fn client_spec(public_url: &str) -> clients::ClientSpec {
    clients::ClientSpec {
        client_id: CLIENT_ID.into(),
        name: "SkyJoy".into(),
        confidential: false,
        redirect_uris: vec![format!("{public_url}/account/callback")],
        web_origins: Vec::new(),
        logo_uri: None,
        secret_sha256: None,
        scopes: Vec::new(),
        id_token_signed_response_alg: Default::default(),
    }
}

/// Only our own member pages are places to return to (no open redirect).
fn safe_return(to: Option<&str>) -> String {
    match to {
        Some(p) if p.starts_with("/account") && !p.starts_with("//") && !p.contains('\\') => p.to_string(),
        _ => "/account".to_string(),
    }
}

#[derive(Deserialize)]
pub struct SigninQuery {
    return_to: Option<String>,
    lang: Option<String>,
}

async fn signin(State(state): State<AppState>, session: Session, Query(q): Query<SigninQuery>) -> Response {
    let st = uuid::Uuid::new_v4().simple().to_string();
    let (verifier, challenge) = grants::pkce_pair();
    let started = AccountSignIn { state: st.clone(), verifier, return_to: safe_return(q.return_to.as_deref()) };
    if let Err(e) = session::start_account_sign_in(&session, &started).await {
        tracing::error!(error = %e, "account sign-in: the session could not be saved");
        return page::error(axum::http::StatusCode::SERVICE_UNAVAILABLE, "the sign-in service is unavailable; try again shortly", None);
    }
    let mut url = url::Url::parse(&format!("{}/authorize", state.idp.issuer)).expect("the issuer is a URL");
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", &format!("{}/account/callback", state.idp.issuer))
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("state", &st)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    if let Some(lang) = q.lang.as_deref().and_then(app::i18n::Lang::parse) {
        url.query_pairs_mut().append_pair("lang", lang.code());
    }
    Redirect::to(url.as_str()).into_response()
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn callback(State(state): State<AppState>, session: Session, Query(q): Query<CallbackQuery>) -> Response {
    let started = session::take_account_sign_in(&session).await;
    if q.error.is_some() {
        return Redirect::to("/").into_response(); // the member cancelled the sign-in
    }
    let (Some(code), Some(st), Some(AccountSignIn { state: expected, verifier, return_to: back })) = (q.code, q.state, started) else {
        return page::error(axum::http::StatusCode::BAD_REQUEST, "this sign-in link is incomplete or was already used; start again", None);
    };
    if st != expected {
        return page::error(axum::http::StatusCode::BAD_REQUEST, "this sign-in did not start in this browser; start again", None);
    }
    let redirect_uri = format!("{}/account/callback", state.idp.issuer);
    match grants::redeem_code(&state.db, CLIENT_ID, &code, &redirect_uri, Some(&verifier), domain::now_ms()).await {
        Ok(grant) => {
            // the sign-in just finished on this browser: now is its auth time
            if let Err(e) = session::sign_in_member(&session, &grant.member_id, domain::now_ms()).await {
                tracing::error!(error = %e, "account sign-in: the session could not be saved");
                return page::error(axum::http::StatusCode::SERVICE_UNAVAILABLE, "the sign-in service is unavailable; try again shortly", None);
            }
            Redirect::to(&back).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "account sign-in: the code was refused");
            page::error(axum::http::StatusCode::BAD_REQUEST, "this sign-in has expired; start again", None)
        }
    }
}

async fn signout(session: Session) -> Response {
    let _ = session.flush().await;
    Redirect::to("/").into_response()
}
