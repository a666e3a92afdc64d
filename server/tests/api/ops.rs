use reqwest::{header, StatusCode};
use serde_json::Value;

use crate::helpers::TestApp;

#[tokio::test]
async fn health_and_readiness_answer_json() {
    let app = TestApp::spawn().await;
    let res = app.get("/healthz", "application/json").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "ok");
    let res = app.get("/readyz", "*/*").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["checks"]["database"], "ok");
    app.stop().await;
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    app.server.as_ref().unwrap().db.close().await;
    let res = app.get("/readyz", "application/json").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "UNAVAILABLE");
    app.stop().await;
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_given_one_is_kept() {
    let app = TestApp::spawn().await;
    let res = app.get("/healthz", "*/*").await;
    let id = res.headers().get("x-request-id").expect("generated id").to_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(uuid::Uuid::parse_str(&id).map(|u| u.get_version_num()).ok(), Some(4), "a random (v4) UUID: {id}");
    let next = app.get("/healthz", "*/*").await.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(next, id, "each request gets its own");
    let res = app.client.get(format!("{}/healthz", app.url)).header("x-request-id", "partner-trace-42").send().await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "partner-trace-42");
    app.stop().await;
}

#[tokio::test]
async fn api_clients_get_json_errors_never_html() {
    let app = TestApp::spawn().await;
    for accept in ["application/json", "*/*"] {
        let res = app.get("/api-point/partner/v1/no-such-endpoint", accept).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert!(res.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("application/json"));
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "NOT_FOUND");
    }
    app.stop().await;
}

#[tokio::test]
async fn security_headers_are_on_api_responses() {
    let app = TestApp::spawn().await;
    let res = app.get("/healthz", "application/json").await;
    let h = res.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert!(h.contains_key("referrer-policy"));
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_per_route_template() {
    let app = TestApp::spawn().await;
    app.get("/healthz", "*/*").await;
    let res = app.get("/metrics", "text/plain").await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(text.contains("joygate_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}"), "{text}");
    assert!(text.contains("joygate_http_request_duration_seconds_bucket"));
    assert!(text.contains("joygate_build_info"));
    app.stop().await;
}

#[tokio::test]
async fn responses_are_compressed_for_clients_that_ask() {
    let app = TestApp::spawn().await;
    let res = app.client.get(format!("{}/", app.url)).header(header::ACCEPT_ENCODING, "gzip").header(header::ACCEPT, "text/html").send().await.unwrap();
    assert_eq!(res.headers()[header::CONTENT_ENCODING], "gzip");
    app.stop().await;
}

#[tokio::test]
async fn stop_is_graceful_and_releases_the_port() {
    let app = TestApp::spawn().await;
    let addr = app.server.as_ref().unwrap().addr;
    // a stop that hangs fails here instead of hanging the suite
    tokio::time::timeout(std::time::Duration::from_secs(15), app.stop()).await.expect("the server stops within 15 s");
    tokio::net::TcpListener::bind(addr).await.expect("port is free again after a graceful stop");
}

/// A refused operator sign-in is a 403 for the hydrated page's call, and for a plain form post
/// (no wasm yet) a redirect back to the page with the error in its URL — never a 500, and never
/// the error's JSON shown instead of the page.
#[tokio::test]
async fn a_refused_operator_sign_in_is_403_or_a_redirect_back_never_500() {
    let token_sha256 = domain::identity::clients::secret_sha256("the-right-token");
    let app = TestApp::spawn_with(|c| c.operator.token_sha256 = Some(token_sha256)).await;
    let url = format!("{}/api/ops/sign_in", app.url);
    let origin = app.url.clone();
    let fetch = app.client.post(&url).header(header::ACCEPT, "application/json").header(header::ORIGIN, &origin).form(&[("token", "wrong")]);
    let res = fetch.send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "refused");

    let page = format!("{}/ops/tikivip", app.url);
    let plain = app.client.post(&url).header(header::ACCEPT, "text/html").header(header::REFERER, &page).header(header::ORIGIN, &origin).form(&[("token", "wrong")]);
    let res = plain.send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND, "back to the page");
    let location = res.headers()[header::LOCATION].to_str().unwrap().to_string();
    let err = url::Url::parse(&location).unwrap().query_pairs().find(|(k, _)| k == "__err").map(|(_, v)| v.into_owned());
    use base64::Engine;
    let err = err.and_then(|e| base64::engine::general_purpose::STANDARD.decode(e).ok()).map(|b| String::from_utf8_lossy(&b).into_owned());
    assert!(location.starts_with(&page) && err.as_deref() == Some(r#"{"error":"refused"}"#), "the error rides in the URL: {location}");

    // the control: the right token signs in (a redirect to the operator page)
    let res = app.client.post(&url).header(header::ACCEPT, "application/json").header(header::ORIGIN, &origin).form(&[("token", "the-right-token")]).send().await.unwrap();
    assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
    app.stop().await;
}
