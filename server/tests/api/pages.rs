use reqwest::{header, StatusCode};

use crate::helpers::{set_cookie, TestApp};

#[tokio::test]
async fn home_renders_on_the_server_in_vietnamese_by_default() {
    let app = TestApp::spawn().await;
    let res = app.page("/").await;
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_string();
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"<html lang="vi""#), "{html}");
    assert!(html.contains("Nền tảng tích điểm"), "server-rendered text");
    assert_eq!(html.matches(r#"data-testid="integration""#).count(), 4);
    assert!(html.contains("/pkg/joygate.js"), "the hydration script is referenced");
    // the hydration script carries this response's nonce, and only that nonce is allowed
    let nonce = csp.split("'nonce-").nth(1).and_then(|s| s.split('\'').next()).expect("nonce in CSP");
    assert!(nonce.len() >= 16);
    assert!(html.contains(&format!(r#"nonce="{nonce}""#)), "{html}");
    assert!(csp.contains("frame-ancestors 'none'"));
    app.stop().await;
}

#[tokio::test]
async fn lang_query_switches_language_and_the_session_remembers_it() {
    let app = TestApp::spawn().await;
    let res = app.page("/?lang=en").await;
    let cookie = set_cookie(&res, "joygate_session").expect("a session cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http in tests: {cookie}");
    assert!(res.text().await.unwrap().contains("Self-hosted loyalty"));

    let pair = cookie.split(';').next().unwrap().to_string();
    let res = app.client.get(format!("{}/", app.url)).header(header::ACCEPT, "text/html").header(header::COOKIE, &pair).send().await.unwrap();
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"<html lang="en""#) && html.contains("Self-hosted loyalty"), "the session (in the database) kept English");

    // back to Vietnamese in that session: remembered too (it differs from the session's English)
    let res = app.client.get(format!("{}/?lang=vi", app.url)).header(header::ACCEPT, "text/html").header(header::COOKIE, &pair).send().await.unwrap();
    assert!(res.text().await.unwrap().contains(r#"<html lang="vi""#));
    let res = app.client.get(format!("{}/", app.url)).header(header::ACCEPT, "text/html").header(header::COOKIE, &pair).send().await.unwrap();
    assert!(res.text().await.unwrap().contains(r#"<html lang="vi""#), "the session now says Vietnamese");

    // a new visitor whose `?lang=` names what they would get anyway (the sign-in redirect does):
    // no session is written, so no cookie (the control above: a different language gets one)
    let res = app.page("/?lang=vi").await;
    assert!(set_cookie(&res, "joygate_session").is_none(), "no session row for a first visit");
    assert!(res.text().await.unwrap().contains(r#"<html lang="vi""#));
    app.stop().await;
}

#[tokio::test]
async fn accept_language_is_the_fallback() {
    let app = TestApp::spawn().await;
    let res = app.client.get(format!("{}/", app.url)).header(header::ACCEPT, "text/html").header(header::ACCEPT_LANGUAGE, "en-GB,en;q=0.9").send().await.unwrap();
    assert!(res.text().await.unwrap().contains("Self-hosted loyalty"));
    app.stop().await;
}

#[tokio::test]
async fn the_set_language_server_function_stores_the_choice() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .post(format!("{}/api/set_language", app.url))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .body("lang=en")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let pair = set_cookie(&res, "joygate_session").unwrap().split(';').next().unwrap().to_string();
    let res = app.client.get(format!("{}/", app.url)).header(header::ACCEPT, "text/html").header(header::COOKIE, pair).send().await.unwrap();
    assert!(res.text().await.unwrap().contains(r#"<html lang="en""#));
    app.stop().await;
}

#[tokio::test]
async fn browsers_get_a_styled_404_page() {
    let app = TestApp::spawn().await;
    let res = app.page("/no/such/page").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let html = res.text().await.unwrap();
    assert!(html.contains("Không tìm thấy trang") && html.contains("/pkg/joygate.css"), "{html}");
    app.stop().await;
}

#[tokio::test]
async fn a_cross_site_post_to_a_server_function_is_refused_with_the_security_headers() {
    let app = TestApp::spawn().await;
    let post = |origin: Option<&str>, site: Option<&str>| {
        let mut req = app
            .client
            .post(format!("{}/api/set_language", app.url))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body("lang=en");
        if let Some(o) = origin {
            req = req.header(header::ORIGIN, o);
        }
        if let Some(s) = site {
            req = req.header("sec-fetch-site", s);
        }
        req.send()
    };
    // the control: our own origin, from our own page, is let through (and stores the choice)
    let res = post(Some(&app.url), Some("same-origin")).await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    assert!(set_cookie(&res, "joygate_session").is_some(), "the server function ran");

    for (origin, site) in [(Some("https://evil.example"), None), (None, Some("cross-site")), (Some(app.url.as_str()), Some("same-site"))] {
        let res = post(origin, site).await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{origin:?} {site:?}");
        assert!(set_cookie(&res, "joygate_session").is_none(), "the server function did not run: {origin:?} {site:?}");
        // the refusal carries the headers every response carries
        assert_eq!(res.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert!(res.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().starts_with("default-src 'none'"));
        assert_eq!(res.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "CROSS_SITE_REQUEST", "{body}");
    }
    app.stop().await;
}

/// A request that keeps no session (a static file, the partner APIs, discovery) neither reads
/// nor answers the session cookie: a browser's file requests still in flight when a sign-in
/// replaced its session (the id is cycled) used to find the old session gone and answer by
/// deleting the cookie the sign-in had just set.
#[tokio::test]
async fn a_file_or_an_api_answer_leaves_the_session_cookie_alone() {
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(site.path().join("pkg")).unwrap();
    std::fs::write(site.path().join("pkg/joygate.css"), "body{}").unwrap();
    std::fs::write(site.path().join("favicon.svg"), "<svg/>").unwrap();
    let root = site.path().to_path_buf();
    let app = TestApp::spawn_with(move |c| c.site_root = root).await;
    // a session id the server does not have, as a sign-in leaves behind in earlier requests
    let stale = format!("joygate_session={}", tower_sessions::session::Id::default());
    let get = |path: &str| app.client.get(format!("{}{path}", app.url)).header(header::COOKIE, &stale).send();

    // the control: a page keeps a session, so there the unknown one is removed
    let res = get("/").await.unwrap();
    let removal = set_cookie(&res, "joygate_session").expect("a page reads the session");
    assert!(removal.contains("Max-Age=0"), "{removal}");

    for path in ["/favicon.svg", "/pkg/joygate.css", "/jwks", "/.well-known/openid-configuration", "/healthz", "/no-such-file"] {
        let res = get(path).await.unwrap();
        let expected = if path == "/no-such-file" { StatusCode::NOT_FOUND } else { StatusCode::OK };
        assert_eq!(res.status(), expected, "{path}");
        assert!(set_cookie(&res, "joygate_session").is_none(), "{path}: {:?}", set_cookie(&res, "joygate_session"));
    }
    app.stop().await;
}
