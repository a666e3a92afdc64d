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
