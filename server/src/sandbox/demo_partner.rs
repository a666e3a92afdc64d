//! The demo partner: a small shop web site on another origin (by default
//! `http://localhost:3100`, while the platform is `http://127.0.0.1:3000` — another *site*, so
//! framing, cookies and postMessage behave as between real companies). It signs its customers
//! in with SkyJoy in all three modes, as a real partner would:
//!
//! - `/login` → the provider's `/authorize` (regular web app), `/callback` exchanges the code
//!   with the `openidconnect` crate (confidential client, PKCE, nonce, state);
//! - `/iframe` embeds `/embed` and finishes the sign-in from the frame's `success` event;
//! - `/spa` uses the provider's `/sdk/v1/skyjoy.js` as a public client (dialog or popup);
//! - `/link` signs in one of the shop's own customers and links its Customer ID to the SkyJoy
//!   ID: a client_credentials token, `POST /api-user/partner/v1/user/link-token`, then
//!   `/authorize?…&link_token=…`; the callback shows the link (or `ACCOUNT_ALREADY_LINKED`).
//!
//! - signed in, `/buy` earns SkyPoints for a purchase (`point-accrual`) and `/redeem/start` pays
//!   with points: the member confirms on the platform's `/account/redeem`, comes back to
//!   `/redeem/callback` with `sign`, and the shop calls `point-redemption-with-token`;
//! - `/webhooks/skyjoy` receives the platform's webhooks (endpoint registered at start),
//!   verifies `gj-signature` on the raw body and lists them, deduplicated by `event_id`, at
//!   `/events`.
//!
//! The pages' browser code (the iFrame page's message listener, the single-page app's use of
//! the SDK) is a static file beside this one, `demo_partner.js`, served as `/demo.js`; a page
//! hands it its values in data- attributes.
//!
//! Sessions are in memory (cookie `demo_sid`): this is a sandbox counterpart, not the product.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    extract::{Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Json, Router,
};
use openidconnect::{
    core::{CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreProviderMetadata},
    reqwest, AuthorizationCode, ClientId, EndpointMaybeSet, EndpointNotSet, EndpointSet, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;

use crate::http::oidc::page::escape;
use domain::identity::tokens::SkyJoyClaims;

pub const CLIENT_ID: &str = "demo-partner";
pub const SPA_CLIENT_ID: &str = "demo-spa";

/// How the demo partner reaches the provider and itself.
#[derive(Clone)]
pub struct DemoConfig {
    pub provider_url: String,
    pub own_url: String,
    pub client_secret: String,
    /// The secret of the shop's webhook endpoint.
    pub webhook_secret: String,
}

/// A redemption sent for the member's confirmation.
#[derive(Clone)]
struct PendingRedemption {
    transaction_id: String,
    amount: i64,
    date_ms: i64,
    points: i64,
}

#[derive(Default, Clone)]
struct Session {
    pending: HashMap<String, (String, String)>, // state → (pkce verifier, nonce)
    user: Option<serde_json::Value>,
    id_token: Option<String>,
    redemptions: HashMap<String, PendingRedemption>, // state → what the member is asked to confirm
}

#[derive(Clone)]
struct Demo {
    config: DemoConfig,
    http: reqwest::Client,
    metadata: Arc<tokio::sync::OnceCell<CoreProviderMetadata>>,
    sessions: Arc<Mutex<HashMap<String, Session>>>,
    partner_token: Arc<Mutex<Option<(String, std::time::Instant)>>>,
    /// Webhook events received: event_id → body (a redelivery replaces nothing).
    events: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
}

type DemoError = (StatusCode, String);

/// A client from discovery: authorize URL set; token and userinfo URLs as discovered.
type DemoClient = CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

fn fail(e: impl std::fmt::Display) -> DemoError {
    (StatusCode::BAD_GATEWAY, format!("demo partner: {e}"))
}

impl Demo {
    async fn metadata(&self) -> Result<&CoreProviderMetadata, DemoError> {
        self.metadata
            .get_or_try_init(|| async {
                let issuer = IssuerUrl::new(self.config.provider_url.clone()).map_err(fail)?;
                CoreProviderMetadata::discover_async(issuer, &self.http).await.map_err(fail)
            })
            .await
    }

    fn redirect_uri(&self) -> String {
        format!("{}/callback", self.config.own_url)
    }

    fn session_id(headers: &HeaderMap) -> Option<String> {
        let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
        cookies.split(';').find_map(|c| c.trim().strip_prefix("demo_sid=")).map(str::to_string)
    }

    /// The session of this browser (created when missing) and the Set-Cookie to send if new.
    fn session(&self, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
        if let Some(id) = Self::session_id(headers) {
            if self.sessions.lock().unwrap().contains_key(&id) {
                return (id, None);
            }
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        self.sessions.lock().unwrap().insert(id.clone(), Session::default());
        let cookie = HeaderValue::from_str(&format!("demo_sid={id}; Path=/; HttpOnly; SameSite=Lax")).ok();
        (id, cookie)
    }

    fn with_session<T>(&self, id: &str, f: impl FnOnce(&mut Session) -> T) -> T {
        let mut all = self.sessions.lock().unwrap();
        f(all.entry(id.to_string()).or_default())
    }

    fn client(&self, metadata: CoreProviderMetadata) -> Result<DemoClient, DemoError> {
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(CLIENT_ID.into()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(RedirectUrl::new(self.redirect_uri()).map_err(fail)?))
    }

    /// A client_credentials access token for the partner APIs, reused until a minute before it
    /// expires.
    async fn partner_token(&self) -> Result<String, DemoError> {
        if let Some((token, until)) = self.partner_token.lock().unwrap().clone() {
            if std::time::Instant::now() < until {
                return Ok(token);
            }
        }
        let client = self.client(self.metadata().await?.clone())?;
        let tokens = client
            .exchange_client_credentials()
            .map_err(fail)?
            .add_scope(Scope::new("partner".into()))
            .request_async(&self.http)
            .await
            .map_err(fail)?;
        let token = tokens.access_token().secret().clone();
        let lifetime = tokens.expires_in().unwrap_or_default().saturating_sub(std::time::Duration::from_secs(60));
        *self.partner_token.lock().unwrap() = Some((token.clone(), std::time::Instant::now() + lifetime));
        Ok(token)
    }

    /// Calls a SkyJoy partner API; returns the `data` of a success, or the error envelope.
    async fn partner_api(&self, method: reqwest::Method, path: &str, body: Option<serde_json::Value>) -> Result<serde_json::Value, DemoError> {
        let token = self.partner_token().await?;
        let mut req = self.http.request(method, format!("{}{path}", self.config.provider_url)).bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.map_err(fail)?;
        let ok = res.status().is_success();
        let json: serde_json::Value = res.json().await.map_err(fail)?;
        if ok {
            Ok(json["data"].clone())
        } else {
            Err((StatusCode::BAD_GATEWAY, json.to_string()))
        }
    }

    /// A fresh state, nonce and PKCE pair, remembered in the session.
    fn begin(&self, sid: &str) -> (CsrfToken, Nonce, PkceCodeChallenge) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = CsrfToken::new_random();
        let nonce = Nonce::new_random();
        self.with_session(sid, |s| {
            s.pending.insert(state.secret().clone(), (verifier.secret().clone(), nonce.secret().clone()))
        });
        (state, nonce, challenge)
    }

    /// Exchanges a code for tokens, verifies the ID token, reads userinfo, signs the user in.
    async fn finish(&self, sid: &str, code: &str, state: &str) -> Result<serde_json::Value, DemoError> {
        let (verifier, nonce) = self
            .with_session(sid, |s| s.pending.remove(state))
            .ok_or((StatusCode::BAD_REQUEST, "unknown or reused state".to_string()))?;
        let client = self.client(self.metadata().await?.clone())?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(fail)?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&self.http)
            .await
            .map_err(fail)?;
        let id_token = tokens.id_token().ok_or_else(|| fail("no ID token"))?;
        let claims = id_token.claims(&client.id_token_verifier(), &Nonce::new(nonce)).map_err(fail)?;
        let info: openidconnect::UserInfoClaims<SkyJoyClaims, CoreGenderClaim> = client
            .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))
            .map_err(fail)?
            .request_async(&self.http)
            .await
            .map_err(fail)?;
        // The shop's own Customer ID linked to this member, if any (partner API, client_credentials).
        let skyjoy_id = info.additional_claims().skyjoy_id.clone().unwrap_or_default();
        let profile = self.partner_api(reqwest::Method::GET, &format!("/api-user/partner/v1/user-profile/{skyjoy_id}"), None).await?;
        let user = json!({
            "customer_id": profile["customerId"],
            "sub": claims.subject().as_str(),
            "skyjoy_id": info.additional_claims().skyjoy_id,
            "name": info.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
            "phone_number": info.phone_number().map(|p| p.as_str()),
            "email": info.email().map(|e| e.as_str()),
            "birthdate": info.birthdate().map(|b| b.as_str()),
        });
        let raw_id_token = id_token.to_string();
        self.with_session(sid, |s| {
            s.user = Some(user.clone());
            s.id_token = Some(raw_id_token);
        });
        Ok(user)
    }
}

/// Serves the demo partner on `listener` until shutdown.
pub async fn serve(listener: tokio::net::TcpListener, config: DemoConfig, mut shutdown: watch::Receiver<bool>) {
    let http = match reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "demo partner: no HTTP client");
            return;
        }
    };
    let demo = Demo { config, http, metadata: Arc::default(), sessions: Arc::default(), partner_token: Arc::default(), events: Arc::default() };
    let app = Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/callback", get(callback))
        .route("/logout", get(logout))
        .route("/iframe", get(iframe))
        .route("/iframe/complete", post(iframe_complete))
        .route("/spa", get(spa))
        .route("/buy", post(buy))
        .route("/redeem/start", post(redeem_start))
        .route("/redeem/callback", get(redeem_callback))
        .route("/webhooks/skyjoy", post(webhook))
        .route("/events", get(events))
        .route("/demo.js", get(script))
        .with_state(demo);
    let stop = async move {
        let _ = shutdown.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
        tracing::error!(error = %e, "demo partner stopped");
    }
}

/// The shop's browser code (the iFrame page's message listener, the single-page app's SDK use),
/// a static file beside this one.
const SCRIPT: &str = include_str!("demo_partner.js");

async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], SCRIPT).into_response()
}

fn page(title: &str, body: &str, cookie: Option<HeaderValue>) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Demo Shop</title><link rel=\"icon\" href=\"data:,\"><style>body{{font-family:system-ui,sans-serif;margin:0;padding:16px;max-width:720px}}\
         a.button,button{{display:inline-block;margin:4px 0;padding:10px 14px;border-radius:8px;border:0;background:#0b5cff;color:#fff;text-decoration:none;font:inherit;cursor:pointer}}\
         iframe{{width:100%;border:1px solid #ccd;border-radius:12px;min-height:420px}} pre{{background:#f3f4f8;padding:8px;overflow:auto}}</style></head>\
         <body><h1>Demo Shop</h1><nav><a href=\"/\">Home</a> · <a href=\"/iframe\">iFrame</a> · <a href=\"/spa\">Single-page app</a> · <a href=\"/events\">Webhooks</a></nav>{body}</body></html>"
    );
    let mut res = Html(html).into_response();
    if let Some(c) = cookie {
        res.headers_mut().insert(header::SET_COOKIE, c);
    }
    res
}

fn user_block(user: &serde_json::Value) -> String {
    format!(
        "<section data-testid=\"demo-user\"><p>Signed in as <strong data-testid=\"demo-name\">{}</strong>, SkyJoy ID \
         <strong data-testid=\"demo-skyjoy-id\">{}</strong>; shop account <strong data-testid=\"demo-customer-id\">{}</strong></p>\
         <pre tabindex=\"0\">{}</pre><a class=\"button\" href=\"/logout\">Sign out</a></section>\
         <h2>Shop</h2>\
         <form method=\"post\" action=\"/buy\" data-testid=\"demo-buy-form\"><label>Purchase (VND) <input name=\"amount\" type=\"number\" min=\"10000\" value=\"250000\" required></label> \
         <button type=\"submit\">Buy and earn SkyPoints</button></form>\
         <form method=\"post\" action=\"/redeem/start\" data-testid=\"demo-redeem-form\"><label>Order (VND) <input name=\"amount\" type=\"number\" min=\"0\" value=\"55000\" required></label> \
         <label>SkyPoints to use <input name=\"points\" type=\"number\" min=\"1\" value=\"10\" required></label> \
         <button type=\"submit\">Pay with SkyPoints</button></form>",
        escape(user["name"].as_str().unwrap_or("")),
        escape(user["skyjoy_id"].as_str().unwrap_or("")),
        escape(user["customer_id"].as_str().unwrap_or("not linked")),
        escape(&serde_json::to_string_pretty(user).unwrap_or_default()),
    )
}

async fn home(State(demo): State<Demo>, headers: HeaderMap) -> Response {
    let (sid, cookie) = demo.session(&headers);
    let user = demo.with_session(&sid, |s| s.user.clone());
    let body = match user {
        Some(user) => user_block(&user),
        None => "<p>Sign in to collect SkyPoints with your purchases.</p>\
                 <a class=\"button\" data-testid=\"demo-login\" href=\"/login\">Sign in with SkyJoy</a> \
                 <a class=\"button\" data-testid=\"demo-signup\" href=\"/login?action=signup&amp;lang=en\">Join SkyJoy</a>\
                 <h2>Link your shop account</h2>\
                 <form method=\"get\" action=\"/login\" data-testid=\"demo-link-form\">\
                 <label>Shop customer ID <input name=\"customer\" value=\"SHOP-1001\" required></label> \
                 <label>Phone <input name=\"phone\" type=\"tel\"></label> <input type=\"hidden\" name=\"lang\" value=\"en\">\
                 <button type=\"submit\">Link with SkyJoy</button></form>"
            .to_string(),
    };
    page("Home", &body, cookie)
}

#[derive(Deserialize)]
struct LoginQuery {
    action: Option<String>,
    lang: Option<String>,
    /// The shop's own Customer ID (and phone) to link to the SkyJoy ID.
    customer: Option<String>,
    phone: Option<String>,
}

async fn login(State(demo): State<Demo>, headers: HeaderMap, Query(q): Query<LoginQuery>) -> Result<Response, DemoError> {
    let (sid, cookie) = demo.session(&headers);
    let client = demo.client(demo.metadata().await?.clone())?;
    let (state, nonce, challenge) = demo.begin(&sid);
    let (state2, nonce2) = (state.clone(), nonce.clone());
    let mut request = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, move || state2.clone(), move || nonce2.clone())
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("phone".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("dob".into()))
        .set_pkce_challenge(challenge);
    if let Some(action) = q.action.filter(|a| a == "signup" || a == "signin") {
        request = request.add_extra_param("action", action);
    }
    if let Some(lang) = q.lang.filter(|l| l == "vi" || l == "en") {
        request = request.add_extra_param("lang", lang);
    }
    if let Some(customer) = q.customer.filter(|c| !c.is_empty()) {
        // One of the shop's own customers: register who it is, then sign in with the token.
        let body = json!({ "customerId": customer, "phone": q.phone.filter(|p| !p.is_empty()) });
        let data = demo.partner_api(reqwest::Method::POST, "/api-user/partner/v1/user/link-token", Some(body)).await?;
        let token = data["linkToken"].as_str().ok_or_else(|| fail("no linkToken"))?.to_string();
        request = request.add_extra_param("link_token", token);
    }
    let (url, _, _) = request.url();
    let mut res = Redirect::to(url.as_str()).into_response();
    if let Some(c) = cookie {
        res.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(res)
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    error_code: Option<String>,
}

async fn callback(State(demo): State<Demo>, headers: HeaderMap, Query(q): Query<CallbackQuery>) -> Result<Response, DemoError> {
    let (sid, cookie) = demo.session(&headers);
    if let Some(error) = q.error {
        let body = format!(
            "<p data-testid=\"demo-error\">Sign-in did not complete: <code>{}</code> <code data-testid=\"demo-error-code\">{}</code> \
             <span data-testid=\"demo-error-message\">{}</span></p><a href=\"/\">Back</a>",
            escape(&error),
            escape(q.error_code.as_deref().unwrap_or("")),
            escape(q.error_description.as_deref().unwrap_or(""))
        );
        return Ok(page("Sign-in", &body, cookie));
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return Err((StatusCode::BAD_REQUEST, "code and state are required".into()));
    };
    demo.finish(&sid, &code, &state).await?;
    Ok(Redirect::to("/").into_response())
}

async fn logout(State(demo): State<Demo>, headers: HeaderMap) -> Result<Response, DemoError> {
    let (sid, _) = demo.session(&headers);
    let id_token = demo.with_session(&sid, |s| {
        s.user = None;
        s.id_token.take()
    });
    let mut url = url::Url::parse(&format!("{}/logout", demo.config.provider_url)).map_err(fail)?;
    url.query_pairs_mut().append_pair("client_id", CLIENT_ID).append_pair("post_logout_redirect_uri", &format!("{}/", demo.config.own_url));
    if let Some(t) = id_token {
        url.query_pairs_mut().append_pair("id_token_hint", &t);
    }
    Ok(Redirect::to(url.as_str()).into_response())
}

#[derive(Deserialize)]
struct IframeQuery {
    action: Option<String>,
    lang: Option<String>,
}

async fn iframe(State(demo): State<Demo>, headers: HeaderMap, Query(q): Query<IframeQuery>) -> Response {
    let (sid, cookie) = demo.session(&headers);
    let (state, nonce, challenge) = demo.begin(&sid);
    let mut src = match url::Url::parse(&format!("{}/embed", demo.config.provider_url)) {
        Ok(u) => u,
        Err(e) => return fail(e).into_response(),
    };
    src.query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", &demo.redirect_uri())
        .append_pair("action", q.action.as_deref().filter(|a| *a == "signup").unwrap_or("signin"))
        .append_pair("lang", q.lang.as_deref().filter(|l| *l == "en").unwrap_or("vi"))
        .append_pair("state", state.secret())
        .append_pair("nonce", nonce.secret())
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    let provider_origin = url::Url::parse(&demo.config.provider_url).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
    let body = format!(
        "<p>Sign in without leaving the shop:</p>\
         <iframe id=\"skyjoy\" title=\"SkyJoy\" src=\"{src}\" data-provider-origin=\"{origin}\"></iframe>\
         <p data-testid=\"demo-events\"></p><section id=\"result\"></section>\
         <script src=\"/demo.js\"></script>",
        src = escape(src.as_str()),
        origin = escape(&provider_origin),
    );
    page("iFrame sign-in", &body, cookie)
}

#[derive(Deserialize)]
struct Complete {
    code: String,
    state: String,
}

async fn iframe_complete(State(demo): State<Demo>, headers: HeaderMap, Json(c): Json<Complete>) -> Response {
    let (sid, _) = demo.session(&headers);
    match demo.finish(&sid, &c.code, &c.state).await {
        Ok(user) => Json(user).into_response(),
        Err((status, message)) => (status, Json(json!({ "error": message }))).into_response(),
    }
}

async fn spa(State(demo): State<Demo>) -> Response {
    let body = format!(
        "<p>A single-page app: the button below comes from SkyJoy's SDK; the page exchanges the code \
         itself as a public client (PKCE) and shows the ID token's claims.</p>\
         <div id=\"skyjoy-button\" data-client-id=\"{client}\" data-redirect-uri=\"{redirect}\"></div> \
         <button id=\"popup\" type=\"button\">Sign in with a popup</button>\
         <section id=\"spa-result\" data-testid=\"spa-result\"></section>\
         <script src=\"{provider}/sdk/v1/skyjoy.js\"></script>\
         <script src=\"/demo.js\"></script>",
        provider = escape(&demo.config.provider_url),
        client = escape(SPA_CLIENT_ID),
        redirect = escape(&format!("{}/spa", demo.config.own_url)),
    );
    page("Single-page app", &body, None)
}

fn signed_in_user(demo: &Demo, headers: &HeaderMap) -> Result<(String, serde_json::Value), DemoError> {
    let (sid, _) = demo.session(headers);
    let user = demo.with_session(&sid, |s| s.user.clone()).ok_or((StatusCode::UNAUTHORIZED, "sign in first".to_string()))?;
    Ok((sid, user))
}

#[derive(Deserialize)]
struct BuyForm {
    amount: i64,
}

/// A purchase: the shop earns the member SkyPoints for it (`point-accrual`).
async fn buy(State(demo): State<Demo>, headers: HeaderMap, axum::Form(f): axum::Form<BuyForm>) -> Result<Response, DemoError> {
    let (_, user) = signed_in_user(&demo, &headers)?;
    let body = json!({
        "skyjoyId": user["skyjoy_id"], "transactionId": format!("BUY-{}", uuid::Uuid::new_v4().simple()),
        "transactionDate": domain::now_ms(), "transactionAmount": f.amount, "transactionCurrency": "VND",
        "transactionDes": {"product": "Demo purchase"},
    });
    let html = match demo.partner_api(reqwest::Method::POST, "/api-point/partner/v1/point-accrual", Some(body)).await {
        Ok(d) => format!("<p data-testid=\"demo-earned\">Earned <strong>{}</strong> SkyPoints; balance <strong data-testid=\"demo-balance\">{}</strong>.</p>", d["point"], d["newBalance"]),
        Err((_, e)) => format!("<p data-testid=\"demo-error\">{}</p>", escape(&e)),
    };
    Ok(page("Purchase", &format!("{html}<a href=\"/\">Back</a>"), None))
}

#[derive(Deserialize)]
struct RedeemForm {
    amount: i64,
    points: i64,
}

/// Pay with points: send the member to SkyJoy to confirm.
async fn redeem_start(State(demo): State<Demo>, headers: HeaderMap, axum::Form(f): axum::Form<RedeemForm>) -> Result<Response, DemoError> {
    let (sid, _) = signed_in_user(&demo, &headers)?;
    let pending = PendingRedemption { transaction_id: format!("ORDER-{}", uuid::Uuid::new_v4().simple()), amount: f.amount, date_ms: domain::now_ms(), points: f.points };
    let state = uuid::Uuid::new_v4().simple().to_string();
    let mut url = url::Url::parse(&format!("{}/account/redeem", demo.config.provider_url)).map_err(fail)?;
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", &format!("{}/redeem/callback", demo.config.own_url))
        .append_pair("state", &state)
        .append_pair("transactionId", &pending.transaction_id)
        .append_pair("transactionAmount", &pending.amount.to_string())
        .append_pair("transactionDate", &pending.date_ms.to_string())
        .append_pair("usedPoint", &pending.points.to_string())
        .append_pair("transactionDes", "Demo Shop order")
        .append_pair("lang", "en");
    demo.with_session(&sid, |s| s.redemptions.insert(state, pending));
    Ok(Redirect::to(url.as_str()).into_response())
}

#[derive(Deserialize)]
struct RedeemCallback {
    sign: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Back from SkyJoy: with `sign`, spend the points (`point-redemption-with-token`).
async fn redeem_callback(State(demo): State<Demo>, headers: HeaderMap, Query(q): Query<RedeemCallback>) -> Result<Response, DemoError> {
    let (sid, user) = signed_in_user(&demo, &headers)?;
    let pending = q.state.as_ref().and_then(|st| demo.with_session(&sid, |s| s.redemptions.remove(st)));
    let Some(p) = pending else {
        return Ok(page("Payment", "<p data-testid=\"demo-error\">Unknown or reused payment.</p>", None));
    };
    let (Some(sign), None) = (q.sign, q.error.as_ref()) else {
        let e = escape(q.error.as_deref().unwrap_or("no sign"));
        return Ok(page("Payment", &format!("<p data-testid=\"demo-redeem-cancelled\">Not paid: <code>{e}</code></p><a href=\"/\">Back</a>"), None));
    };
    let body = json!({
        "transactionId": p.transaction_id, "transactionDate": p.date_ms, "transactionDes": "Demo Shop order",
        "transactionAmount": p.amount, "usedPoint": p.points, "skyjoyId": user["skyjoy_id"], "sign": sign,
    });
    let html = match demo.partner_api(reqwest::Method::POST, "/api-point/partner/v1/point-redemption-with-token", Some(body)).await {
        Ok(d) => format!(
            "<p data-testid=\"demo-redeemed\">Paid <strong>{}</strong> SkyPoints (reference <code>{}</code>); balance <strong data-testid=\"demo-balance\">{}</strong>.</p>",
            d["usedPoint"], escape(d["bitReference"].as_str().unwrap_or("")), d["newBalance"]
        ),
        Err((_, e)) => format!("<p data-testid=\"demo-error\">{}</p>", escape(&e)),
    };
    Ok(page("Payment", &format!("{html}<a href=\"/\">Back</a>"), None))
}

/// The shop's webhook endpoint: verifies `gj-signature` over the raw body, then keeps the event
/// once per `event_id`.
async fn webhook(State(demo): State<Demo>, headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    use domain::signing::{skyjoy_webhook, TimestampWindow};
    let header = headers.get(skyjoy_webhook::HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if skyjoy_webhook::verify(demo.config.webhook_secret.as_bytes(), header, &body, TimestampWindow::FIVE_MINUTES, domain::now_ms()).is_err() {
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(&body) else { return StatusCode::BAD_REQUEST };
    let id = event["event_id"].as_str().unwrap_or_default().to_string();
    let mut events = demo.events.lock().unwrap();
    if !events.iter().any(|(seen, _)| *seen == id) {
        events.push((id, event));
        let excess = events.len().saturating_sub(200);
        events.drain(..excess);
    }
    StatusCode::NO_CONTENT
}

async fn events(State(demo): State<Demo>) -> Response {
    let events = demo.events.lock().unwrap().clone();
    let items: String = events
        .iter()
        .rev()
        .map(|(id, e)| {
            format!(
                "<li data-testid=\"demo-event\" data-type=\"{}\" data-member=\"{}\"><code>{}</code> {}<pre tabindex=\"0\">{}</pre></li>",
                escape(e["event_type"].as_str().unwrap_or("")),
                escape(e["data"]["member_id"].as_str().unwrap_or("")),
                escape(id),
                escape(e["event_type"].as_str().unwrap_or("")),
                escape(&e["data"].to_string())
            )
        })
        .collect();
    page("Webhooks", &format!("<p>Signed webhooks received from SkyJoy, newest first ({}):</p><ul>{items}</ul>", events.len()), None)
}

/// Registers the demo clients (a new secret for the confidential one at every start) and
/// starts the demo partner on `listen`. Returns its URL.
pub async fn start(
    db: &domain::Db,
    provider_url: String,
    listen: SocketAddr,
    public_url: Option<&str>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    use domain::identity::clients::{self, ClientSpec};
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    let own_url = match public_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => format!("http://localhost:{}", bound.port()),
    };
    let confidential = ClientSpec {
        client_id: CLIENT_ID.into(),
        name: "Demo Shop".into(),
        confidential: true,
        redirect_uris: vec![format!("{own_url}/callback"), format!("{own_url}/redeem/callback")],
        web_origins: vec![own_url.clone()],
        logo_uri: None,
        secret_sha256: None,
        scopes: Vec::new(),
        id_token_signed_response_alg: Default::default(),
    };
    let (_, secret) = clients::register(db, &confidential, false, domain::now_ms()).await?;
    let (_, webhook_secret) = domain::events::webhooks::register(db, CLIENT_ID, &format!("{own_url}/webhooks/skyjoy"), &[], false, domain::now_ms()).await?;
    let spa = ClientSpec {
        client_id: SPA_CLIENT_ID.into(),
        name: "Demo Shop (single-page app)".into(),
        confidential: false,
        redirect_uris: vec![format!("{own_url}/spa")],
        web_origins: vec![own_url.clone()],
        logo_uri: None,
        secret_sha256: None,
        scopes: Vec::new(),
        id_token_signed_response_alg: Default::default(),
    };
    clients::register(db, &spa, true, domain::now_ms()).await?;
    let config = DemoConfig { provider_url, own_url: own_url.clone(), client_secret: secret.unwrap_or_default(), webhook_secret };
    Ok((own_url, tokio::spawn(serve(listener, config, shutdown))))
}
