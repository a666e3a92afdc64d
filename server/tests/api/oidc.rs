//! The sign-in provider end to end over HTTP, driven by the `openidconnect` client as a partner
//! would: discovery → JWKS → authorize with PKCE → phone + one-time code (read from the sandbox
//! inbox) → code → token → ID token verified → userinfo → refresh rotation → logout; and the
//! ways each step must fail.

use domain::identity::clients::{self, ClientSpec};
use openidconnect::{
    core::{CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreProviderMetadata},
    reqwest as oidc_reqwest, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope, TokenResponse,
};
use reqwest::{header, StatusCode};
use serde_json::Value;

use crate::helpers::TestApp;

pub(crate) const REDIRECT: &str = "http://localhost:4000/cb";
const ORIGIN: &str = "http://localhost:4000";

/// Registers a confidential test client and returns its secret.
pub(crate) async fn register(app: &TestApp, client_id: &str, confidential: bool) -> Option<String> {
    let spec = ClientSpec {
        client_id: client_id.into(),
        name: "Test Shop".into(),
        confidential,
        redirect_uris: vec![REDIRECT.into()],
        web_origins: vec![ORIGIN.into()],
        logo_uri: None,
        secret_sha256: None,
        scopes: Vec::new(),
        id_token_signed_response_alg: Default::default(),
    };
    clients::register(app.db(), &spec, false, domain::now_ms()).await.unwrap().1
}

fn http() -> oidc_reqwest::Client {
    oidc_reqwest::Client::builder().redirect(oidc_reqwest::redirect::Policy::none()).build().unwrap()
}

pub(crate) fn location(res: &reqwest::Response) -> String {
    res.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

pub(crate) fn query(url: &str, key: &str) -> Option<String> {
    url::Url::parse(url).ok()?.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// Calls one of the sign-in page's server functions the way the hydrated page does.
pub(crate) async fn server_fn(app: &TestApp, name: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(format!("{}/api/signin/{name}", app.url))
        .header(header::ORIGIN, &app.url)
        .form(form)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn flow_view(app: &TestApp, flow: &str) -> Value {
    let res = server_fn(app, "flow", &[("flow", flow)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

pub(crate) async fn last_code(app: &TestApp, phone: &str) -> String {
    let inbox: Value = app.client.get(format!("{}/sandbox/sms?phone={phone}", app.url)).send().await.unwrap().json().await.unwrap();
    inbox["messages"][0]["text"].as_str().expect("a message")[..6].to_string()
}

/// Follows a `/signin/{flow}` location through phone and code (and the profile for a new
/// member); returns the finished flow view.
pub(crate) async fn sign_in(app: &TestApp, signin_location: &str, phone: &str) -> Value {
    let flow = signin_location.trim_start_matches("/signin/").split('?').next().unwrap().to_string();
    let view = flow_view(app, &flow).await;
    let csrf = view["csrf"].as_str().unwrap().to_string();
    assert_eq!(server_fn(app, "phone", &[("flow", &flow), ("csrf", &csrf), ("phone", phone)]).await.status(), StatusCode::OK);
    let code = last_code(app, phone).await;
    assert_eq!(server_fn(app, "code", &[("flow", &flow), ("csrf", &csrf), ("code", &code)]).await.status(), StatusCode::OK);
    let view = flow_view(app, &flow).await;
    if view["screen"] == "profile" {
        let form = [("flow", flow.as_str()), ("csrf", &csrf), ("full_name", "Nguyễn Thị Test"), ("date_of_birth", "1992-03-04"), ("email", "")];
        assert_eq!(server_fn(app, "profile", &form).await.status(), StatusCode::OK);
        return flow_view(app, &flow).await;
    }
    view
}

async fn discover(app: &TestApp) -> (CoreProviderMetadata, oidc_reqwest::Client) {
    let http = http();
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(app.url.clone()).unwrap(), &http).await.expect("discovery");
    (metadata, http)
}

#[tokio::test]
async fn a_partner_signs_a_member_in_and_out_with_the_openidconnect_client() {
    let app = TestApp::spawn().await;
    let secret = register(&app, "shop", true).await.unwrap();
    let (metadata, http) = discover(&app).await;
    assert_eq!(metadata.jwks().keys().len(), 3, "discovery fetched the JWKS (one key per algorithm)");
    let client = CoreClient::from_provider_metadata(metadata, ClientId::new("shop".into()), Some(ClientSecret::new(secret)))
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("phone".into()))
        .add_scope(Scope::new("dob".into()))
        .set_pkce_challenge(challenge)
        .url();
    let res = app.client.get(url.as_str()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let signin = location(&res);
    assert!(signin.starts_with("/signin/"), "{signin}");

    let done = sign_in(&app, &signin, "0912345678").await;
    assert_eq!(done["screen"], "done", "{done}");
    let back = done["done_url"].as_str().unwrap().to_string();
    assert!(back.starts_with(REDIRECT), "{back}");
    assert_eq!(query(&back, "state").as_deref(), Some(state.secret().as_str()));
    assert_eq!(query(&back, "iss").as_deref(), Some(app.url.as_str()));
    let code = query(&back, "code").unwrap();

    let tokens = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .unwrap()
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.secret().clone()))
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token.claims(&client.id_token_verifier(), &nonce).expect("ID token verifies against the JWKS");
    assert_eq!(claims.phone_number().map(|p| p.as_str()), Some("+84912345678"));
    assert_eq!(claims.birthdate().map(|b| b.as_str()), Some("1992-03-04"));
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, id_token.to_string().split('.').next().unwrap()).unwrap(),
    )
    .unwrap();
    assert!(header["kid"].is_string() && header["alg"] == "RS256", "{header}");

    let info: openidconnect::UserInfoClaims<domain::identity::tokens::SkyJoyClaims, CoreGenderClaim> = client
        .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    let skyjoy_id = info.additional_claims().skyjoy_id.clone().expect("skyjoy_id");
    assert!(skyjoy_id.starts_with("SJ") && skyjoy_id.len() == 12, "{skyjoy_id}");
    assert_eq!(info.name().and_then(|n| n.get(None)).map(|n| n.as_str()), Some("Nguyễn Thị Test"));

    // refresh rotates; the old refresh token is then a reuse, which revokes the family
    let first_refresh = tokens.refresh_token().unwrap().clone();
    let refreshed = client.exchange_refresh_token(&first_refresh).unwrap().request_async(&http).await.expect("refresh");
    let second_refresh = refreshed.refresh_token().unwrap().clone();
    assert_ne!(second_refresh.secret(), first_refresh.secret());
    let reuse = client.exchange_refresh_token(&first_refresh).unwrap().request_async(&http).await;
    assert!(format!("{reuse:?}").contains("invalid_grant"), "{reuse:?}");
    let after = client.exchange_refresh_token(&RefreshToken::new(second_refresh.secret().clone())).unwrap().request_async(&http).await;
    assert!(after.is_err(), "the whole family is revoked");
    let res = app.client.get(format!("{}/userinfo", app.url)).bearer_auth(refreshed.access_token().secret()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "access tokens of a revoked grant stop working");
    assert!(res.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().contains("invalid_token"));

    // logout: a registered post-logout URI is followed, with state
    let logout = format!(
        "{}/logout?id_token_hint={}&post_logout_redirect_uri={}&state=bye",
        app.url,
        id_token,
        urlencode(ORIGIN)
    );
    let res = app.client.get(logout).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), format!("{ORIGIN}/?state=bye"));
    let res = app.client.get(format!("{}/logout?client_id=shop&post_logout_redirect_uri={}", app.url, urlencode("https://evil.example/"))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "unregistered post-logout targets are refused");
    app.stop().await;
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Starts a sign-in for `client_id` with the given extra parameters; returns the response.
pub(crate) async fn authorize(app: &TestApp, params: &[(&str, &str)]) -> reqwest::Response {
    app.client.get(format!("{}/authorize", app.url)).query(params).send().await.unwrap()
}

const CHALLENGE: &str = "Lwx_yackzt-ZbubzOC00wj4w4esJ07lfGHCrOJVfE6Q";
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K9BuqNA4QYOx5fB4dJvUhSY3LI";

pub(crate) async fn token(app: &TestApp, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> (StatusCode, Value) {
    let mut req = app.client.post(format!("{}/token", app.url)).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn bad_requests_never_redirect_and_codes_are_single_use() {
    let app = TestApp::spawn().await;
    let secret = register(&app, "shop", true).await.unwrap();
    register(&app, "spa", false).await;
    let base = [("client_id", "shop"), ("redirect_uri", REDIRECT), ("response_type", "code"), ("scope", "openid phone")];

    // unknown client / unregistered redirect: an error page, never a redirect
    for params in [
        vec![("client_id", "nobody"), ("redirect_uri", REDIRECT), ("response_type", "code"), ("scope", "openid")],
        vec![("client_id", "shop"), ("redirect_uri", "http://localhost:4000/cb/../evil"), ("response_type", "code"), ("scope", "openid")],
        vec![("client_id", "shop"), ("response_type", "code"), ("scope", "openid")],
    ] {
        let res = authorize(&app, &params).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{params:?}");
        assert!(res.headers().get(header::LOCATION).is_none());
        assert!(res.text().await.unwrap().contains("signin-refused"));
    }
    // protocol errors go back to the verified redirect URI with state and iss
    let res = authorize(&app, &[("client_id", "shop"), ("redirect_uri", REDIRECT), ("response_type", "token"), ("scope", "openid"), ("state", "s1")]).await;
    let to = location(&res);
    assert_eq!(query(&to, "error").as_deref(), Some("unsupported_response_type"));
    assert_eq!(query(&to, "state").as_deref(), Some("s1"));
    let res = authorize(&app, &[("client_id", "shop"), ("redirect_uri", REDIRECT), ("response_type", "code"), ("scope", "phone")]).await;
    assert_eq!(query(&location(&res), "error").as_deref(), Some("invalid_scope"));
    let res = authorize(&app, &[("client_id", "spa"), ("redirect_uri", REDIRECT), ("response_type", "code"), ("scope", "openid")]).await;
    assert_eq!(query(&location(&res), "error").as_deref(), Some("invalid_request"), "public clients need PKCE");
    let res = authorize(&app, &[("client_id", "spa"), ("redirect_uri", REDIRECT), ("response_type", "code"), ("scope", "openid"), ("code_challenge", CHALLENGE)]).await;
    assert_eq!(query(&location(&res), "error").as_deref(), Some("invalid_request"), "plain PKCE is refused");
    let res = authorize(&app, &[base.as_slice(), &[("prompt", "none")]].concat()).await;
    assert_eq!(query(&location(&res), "error").as_deref(), Some("login_required"));

    // a public client: PKCE S256, no secret
    let res = authorize(&app, &[("client_id", "spa"), ("redirect_uri", REDIRECT), ("response_type", "code"), ("scope", "openid"), ("code_challenge", CHALLENGE), ("code_challenge_method", "S256")]).await;
    let done = sign_in(&app, &location(&res), "0987654321").await;
    let code = query(done["done_url"].as_str().unwrap(), "code").unwrap();
    let wrong = [("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT), ("client_id", "spa"), ("code_verifier", &VERIFIER.replace('d', "e"))];
    let (status, body) = token(&app, &wrong, None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "wrong verifier: {body}");

    // the wrong verifier burnt that code; a fresh one redeems once, and a replay revokes
    let res = authorize(&app, &[("client_id", "spa"), ("redirect_uri", REDIRECT), ("response_type", "code"), ("scope", "openid"), ("code_challenge", CHALLENGE), ("code_challenge_method", "S256")]).await;
    let done = sign_in(&app, &location(&res), "0987654322").await;
    let code = query(done["done_url"].as_str().unwrap(), "code").unwrap();
    let good = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT), ("client_id", "spa"), ("code_verifier", VERIFIER)];
    let (status, first) = token(&app, &good, None).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let access = first["access_token"].as_str().unwrap().to_string();
    let ok = app.client.get(format!("{}/userinfo", app.url)).bearer_auth(&access).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let (status, replay) = token(&app, &good, None).await;
    assert_eq!((status, replay["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let revoked = app.client.get(format!("{}/userinfo", app.url)).bearer_auth(&access).send().await.unwrap();
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED, "a replayed code revokes what it issued");

    // client authentication
    let cc = [("grant_type", "client_credentials"), ("scope", "partner")];
    let (status, body) = token(&app, &cc, Some(("shop", "wrong"))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    let (status, body) = token(&app, &cc, Some(("shop", &secret))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["token_type"].as_str(), body["scope"].as_str()), (Some("bearer"), Some("partner")), "{body}");
    let unknown = [("grant_type", "client_credentials"), ("scope", "partner admin")];
    let (status, body) = token(&app, &unknown, Some(("shop", &secret))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_scope")));
    assert!(body.get("refresh_token").is_none());
    let post = [("grant_type", "client_credentials"), ("client_id", "shop"), ("client_secret", secret.as_str())];
    assert_eq!(token(&app, &post, None).await.0, StatusCode::OK, "client_secret_post");
    let (status, body) = token(&app, &[("grant_type", "client_credentials"), ("client_id", "spa")], None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unauthorized_client")));
    let (status, body) = token(&app, &[("grant_type", "password"), ("client_id", "spa")], None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unsupported_grant_type")));
    app.stop().await;
}

#[tokio::test]
async fn one_time_codes_fail_the_same_way_and_lock_after_five_tries() {
    let app = TestApp::spawn().await;
    register(&app, "shop", true).await;
    let res = authorize(&app, &[("client_id", "shop"), ("redirect_uri", REDIRECT), ("response_type", "code"), ("scope", "openid")]).await;
    let flow = location(&res).trim_start_matches("/signin/").split('?').next().unwrap().to_string();
    let csrf = flow_view(&app, &flow).await["csrf"].as_str().unwrap().to_string();
    server_fn(&app, "phone", &[("flow", &flow), ("csrf", &csrf), ("phone", "0911111111")]).await;
    let right = last_code(&app, "0911111111").await;
    let wrong = if right == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        server_fn(&app, "code", &[("flow", &flow), ("csrf", &csrf), ("code", wrong)]).await;
        assert_eq!(flow_view(&app, &flow).await["error"], "invalid_code");
    }
    server_fn(&app, "code", &[("flow", &flow), ("csrf", &csrf), ("code", &right)]).await;
    let view = flow_view(&app, &flow).await;
    assert_eq!((view["screen"].as_str(), view["error"].as_str()), (Some("code"), Some("invalid_code")), "locked after five tries");

    // a resend within the cool-down is refused with its own message
    server_fn(&app, "resend", &[("flow", &flow), ("csrf", &csrf)]).await;
    assert_eq!(flow_view(&app, &flow).await["error"], "too_many_codes");

    // CSRF: a wrong token, or a post from another site, changes nothing
    let res = server_fn(&app, "phone", &[("flow", &flow), ("csrf", "forged"), ("phone", "0922222222")]).await;
    assert!(!res.status().is_success());
    let res = app
        .client
        .post(format!("{}/api/signin/restart", app.url))
        .header(header::ORIGIN, "http://evil.example")
        .form(&[("flow", flow.as_str()), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(flow_view(&app, &flow).await["screen"], "code");
    app.stop().await;
}

#[tokio::test]
async fn the_embedded_sign_in_is_framable_only_by_the_clients_origins() {
    let app = TestApp::spawn().await;
    register(&app, "shop", true).await;
    let embed = |redirect: &'static str| {
        let app = &app;
        async move {
            app.client
                .get(format!("{}/embed", app.url))
                .query(&[("client_id", "shop"), ("redirect_uri", redirect), ("action", "signup"), ("lang", "en"), ("state", "st"), ("nonce", "n"), ("code_challenge", CHALLENGE), ("code_challenge_method", "S256")])
                .send()
                .await
                .unwrap()
        }
    };
    let res = embed(REDIRECT).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let signin = location(&res);
    assert!(signin.ends_with("?lang=en"), "{signin}");
    let page = app.page(&signin).await;
    let csp = page.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_string();
    assert!(csp.contains(&format!("frame-ancestors {ORIGIN};")), "{csp}");
    assert!(page.headers().get(header::X_FRAME_OPTIONS).is_none(), "no DENY on a framable page");
    let html = page.text().await.unwrap();
    assert!(html.contains("Join SkyJoy") && html.contains(&format!(r#"data-parent-origin="{ORIGIN}""#)), "{html}");
    assert!(html.contains("/sdk/v1/bridge.js"));
    // the frame is HTML forms and the bridge: no browser bundle to download
    assert!(!html.contains("/pkg/joygate.js") && !html.contains(".wasm"), "{html}");
    assert!(html.contains(r#"data-testid="phone-form""#) && html.contains(r#"method="post""#), "{html}");

    // the redirect-mode page of the same client is not framable, and hydrates (the control)
    let res = authorize(&app, &[("client_id", "shop"), ("redirect_uri", REDIRECT), ("response_type", "code"), ("scope", "openid")]).await;
    let page = app.page(&location(&res)).await;
    assert!(page.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert_eq!(page.headers()[header::X_FRAME_OPTIONS], "DENY");
    assert!(page.text().await.unwrap().contains("/pkg/joygate.js"), "the top-level sign-in loads the bundle");

    // an embed whose redirect URI is not on a registered web origin is refused outright
    let spec = ClientSpec {
        client_id: "noframe".into(),
        name: "No frames".into(),
        confidential: true,
        redirect_uris: vec![REDIRECT.into()],
        web_origins: vec![],
        logo_uri: None,
        secret_sha256: None,
        scopes: Vec::new(),
        id_token_signed_response_alg: Default::default(),
    };
    clients::register(app.db(), &spec, false, domain::now_ms()).await.unwrap();
    let res = app.client.get(format!("{}/embed?client_id=noframe&redirect_uri={}", app.url, urlencode(REDIRECT))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("frame-ancestors 'none'"));

    // the finished embedded flow hands the code to the bridge, for the exact parent origin only
    let done = sign_in(&app, &signin, "0933333333").await;
    let message: Value = serde_json::from_str(done["result_message"].as_str().unwrap()).unwrap();
    assert_eq!((message["type"].as_str(), message["state"].as_str()), (Some("success"), Some("st")));
    assert_eq!(done["embed_origin"], ORIGIN);
    assert!(done["done_url"].is_null(), "no redirect in embedded mode");
    app.stop().await;
}

#[tokio::test]
async fn discovery_and_jwks_describe_what_the_provider_does() {
    let app = TestApp::spawn().await;
    let d: Value = app.client.get(format!("{}/.well-known/openid-configuration", app.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(d["issuer"], app.url.as_str());
    for (key, path) in [("authorization_endpoint", "/authorize"), ("token_endpoint", "/token"), ("userinfo_endpoint", "/userinfo"), ("jwks_uri", "/jwks"), ("end_session_endpoint", "/logout")] {
        assert_eq!(d[key], format!("{}{path}", app.url), "{key}");
    }
    assert_eq!(d["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    let jwks: Value = app.client.get(format!("{}/jwks", app.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert!(jwks["keys"][0]["kid"].is_string());
    // the demo partner is registered in sandbox mode
    assert!(clients::find(app.db(), "demo-partner").await.unwrap().is_some());
    assert!(clients::find(app.db(), "demo-spa").await.unwrap().unwrap().is_public());
    app.stop().await;
}

/// The token endpoint's CORS preflight is answered per client: only the named client's
/// registered origins may call it from a browser.
#[tokio::test]
async fn the_token_preflight_is_answered_for_the_named_clients_origins_only() {
    let app = TestApp::spawn().await;
    register(&app, "shop", true).await;
    let preflight = |query: &str, origin: &str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/token{query}", app.url))
            .header(header::ORIGIN, origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let res = preflight("?client_id=shop", ORIGIN).await.unwrap();
    assert_eq!(res.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).map(|v| v.to_str().unwrap()), Some(ORIGIN));
    for (query, origin, why) in [
        ("", ORIGIN, "no client named"),
        ("?client_id=shop", "http://localhost:4001", "an origin the client did not register"),
        ("?client_id=nobody", ORIGIN, "an unknown client"),
    ] {
        let res = preflight(query, origin).await.unwrap();
        assert!(res.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "{why}");
    }
    // the real request must come from the client it named
    let res = app
        .client
        .post(format!("{}/token?client_id=other", app.url))
        .form(&[("grant_type", "client_credentials"), ("client_id", "shop"), ("client_secret", "wrong")])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error());
    let meta: Value = app.get("/.well-known/openid-configuration", "application/json").await.json().await.unwrap();
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true, "RFC 9207: we send iss, clients may insist");
    app.stop().await;
}

/// A client that chose ES256 or EdDSA gets its tokens signed so, the JWKS publishes one key per
/// algorithm, and the partner APIs accept the tokens; RS256 stays the default.
#[tokio::test]
async fn a_client_may_choose_es256_or_eddsa_for_its_tokens() {
    use base64::Engine;
    let app = TestApp::spawn().await;
    let mut es_token = String::new();
    for (client_id, alg) in [("shop-rs", "RS256"), ("shop-es", "ES256"), ("shop-ed", "EdDSA")] {
        let spec = ClientSpec {
            client_id: client_id.into(),
            name: "Test Shop".into(),
            redirect_uris: vec![REDIRECT.into()],
            id_token_signed_response_alg: domain::identity::signing_keys::Alg::parse(alg).unwrap(),
            ..Default::default()
        };
        let secret = clients::register(app.db(), &ClientSpec { confidential: true, ..spec }, false, domain::now_ms()).await.unwrap().1.unwrap();
        let token = crate::skyjoy::partner_token(&app, client_id, &secret).await;
        let header: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header["alg"], alg, "{client_id}");
        let res = app.client.get(format!("{}/api-user/partner/v1/user-profile/SJ0000000000", app.url)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{alg}: the token is accepted (the member is simply unknown)");
        if alg == "ES256" {
            es_token = token;
        }
    }
    let jwks: Value = app.get("/jwks", "application/json").await.json().await.unwrap();
    let kinds: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kty"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["RSA", "EC", "OKP"]);
    let meta: Value = app.get("/.well-known/openid-configuration", "application/json").await.json().await.unwrap();
    assert_eq!(meta["id_token_signing_alg_values_supported"], serde_json::json!(["RS256", "ES256", "EdDSA"]));
    // a token whose header names another algorithm than its key's is refused (no alg confusion)
    let parts: Vec<&str> = es_token.split('.').collect();
    let mut header: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    header["alg"] = "RS256".into();
    let forged = format!("{}.{}.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(header.to_string()), parts[1], parts[2]);
    let res = app.client.get(format!("{}/api-user/partner/v1/user-profile/SJ0000000000", app.url)).bearer_auth(&forged).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}
