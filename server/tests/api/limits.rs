//! Input the framework refuses before a handler runs (`server/src/http/input.rs`), answered in
//! each API family's own shape: a path segment that is not UTF-8, a repeated query field, a body
//! over its route's limit, a body that is not the expected form. Each case has its control: the
//! same request made well is accepted.

use domain::signing::tikivip as sig;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{member, partner, TestApp};

async fn answer(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("a JSON answer, not {text:?}")))
}

fn skyjoy_code(body: &Value) -> &str {
    body["errors"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn skyjoy_apis_refuse_bad_paths_queries_and_bodies_in_their_own_shape() {
    let app = TestApp::spawn().await;
    let (_, token) = partner(&app, "limits-shop").await;
    let sj = member(&app, &token, "0912000401", "Giới Hạn").await;
    let get = |path: String| app.client.get(format!("{}{path}", app.url)).bearer_auth(&token).send();

    // a path segment that is not UTF-8; control: the member's own id
    let (status, body) = answer(get("/api-user/partner/v1/user-profile/SJ%FF%FE".into()).await.unwrap()).await;
    assert_eq!((status, skyjoy_code(&body)), (StatusCode::BAD_REQUEST, "BAD_REQUEST"), "{body}");
    assert_eq!(body["statusCode"], 400);
    let (status, _) = answer(get(format!("/api-user/partner/v1/user-profile/{sj}")).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);

    // a repeated query field; control: once
    let (status, body) = answer(get("/api-user/partner/v2/user/lookup?phone=0912000401&phone=0912000402".into()).await.unwrap()).await;
    assert_eq!((status, skyjoy_code(&body)), (StatusCode::BAD_REQUEST, "BAD_REQUEST"), "{body}");
    let (status, body) = answer(get("/api-user/partner/v2/user/lookup?phone=0912000401".into()).await.unwrap()).await;
    assert_eq!((status, body["data"]["skyjoyId"].as_str()), (StatusCode::OK, Some(sj.as_str())));

    // a body over 64 KiB: refused before it is parsed, nothing posted; control: the same small
    let accrual = format!("{}/api-point/partner/v1/point-accrual", app.url);
    let small = json!({"skyjoyId": sj, "transactionId": "limits-1", "transactionDate": 1_678_896_000_000_i64, "transactionAmount": 100_000});
    let mut big = small.clone();
    big["memo"] = json!("x".repeat(70 * 1024));
    let res = app.client.post(&accrual).bearer_auth(&token).header("content-type", "application/json").body(big.to_string()).send().await.unwrap();
    let (status, body) = answer(res).await;
    assert_eq!((status, skyjoy_code(&body)), (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"), "{body}");
    let (status, body) = answer(app.client.post(&accrual).bearer_auth(&token).json(&small).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ledger_entries WHERE transaction_id = 'limits-1'").fetch_one(app.db().pool()).await.unwrap();
    assert_eq!(entries, 1, "only the small request was posted");
    app.stop().await;
}

#[tokio::test]
async fn tiki_apis_refuse_an_oversized_body_as_unsigned_and_a_bad_query_as_invalid() {
    let app = TestApp::spawn().await;
    const CLIENT: &str = "7d0c4c8e-limits";
    const SECRET: &str = "limits-secret-limits-secret-limits-secret";
    crate::helpers::tiki_partner(app.db(), "LIMITS", CLIENT, SECRET).await;
    let webview = format!("{}/miniapp/tikivip/webview", app.url);
    let signed = |body: String| {
        let ts = domain::now_ms();
        app.client
            .post(&webview)
            .header(sig::HEADER_TIMESTAMP, ts.to_string())
            .header(sig::HEADER_CLIENT_ID, CLIENT)
            .header(sig::HEADER_SIGNATURE, sig::sign(SECRET.as_bytes(), ts, CLIENT, body.as_bytes()))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    // 256 KiB, unsigned: 401 code 1, not a framework 413
    let res = app.client.post(&webview).header("content-type", "application/json").body(vec![b' '; 256 * 1024]).send().await.unwrap();
    let (status, body) = answer(res).await;
    assert_eq!((status, body["code"].as_i64()), (StatusCode::UNAUTHORIZED, Some(1)), "{body}");
    // signed but over 64 KiB: the same (its signature is never read)
    let big = json!({"identify_code": "C-1", "identify_phone": "0912000403", "identify_fullname": "x".repeat(70 * 1024)}).to_string();
    let (status, body) = answer(signed(big).await.unwrap()).await;
    assert_eq!((status, body["code"].as_i64()), (StatusCode::UNAUTHORIZED, Some(1)), "{body}");
    // control: the same customer, small and signed, gets a link
    let small = json!({"identify_code": "C-1", "identify_phone": "0912000403", "identify_fullname": "Nguyen Gioi Han"}).to_string();
    let (status, body) = answer(signed(small).await.unwrap()).await;
    assert_eq!((status, body["code"].as_i64()), (StatusCode::OK, Some(0)), "{body}");

    // a repeated query field on the signed transaction lookup: Tiki's shape, not plain text
    let ts = domain::now_ms();
    let res = app
        .client
        .get(format!("{}/miniapp/tikivip/transaction?tiki_transaction_id=a&tiki_transaction_id=b", app.url))
        .header(sig::HEADER_TIMESTAMP, ts.to_string())
        .header(sig::HEADER_CLIENT_ID, CLIENT)
        .header(sig::HEADER_SIGNATURE, sig::sign(SECRET.as_bytes(), ts, CLIENT, b""))
        .send()
        .await
        .unwrap();
    let (status, body) = answer(res).await;
    assert!(body["code"].as_i64().is_some_and(|c| c != 0), "{status} {body}");
    app.stop().await;
}

#[tokio::test]
async fn the_token_endpoint_names_what_is_wrong_with_its_input() {
    let app = TestApp::spawn().await;
    let secret = crate::oidc::register(&app, "limits-token", true).await.unwrap();
    let token = format!("{}/token", app.url);
    let post = |body: String, content_type: &'static str| app.client.post(&token).basic_auth("limits-token", Some(&secret)).header("content-type", content_type).body(body).send();
    let form = "application/x-www-form-urlencoded";

    let cases = [
        (format!("grant_type=client_credentials&scope=partner&pad={}", "x".repeat(256 * 1024)), form, "larger than 16 KiB"),
        ("grant_type=client_credentials&grant_type=client_credentials".to_string(), form, "duplicate field"),
        (r#"{"grant_type":"client_credentials"}"#.to_string(), "application/json", "application/x-www-form-urlencoded"),
    ];
    for (body, content_type, says) in cases {
        let (status, answer) = answer(post(body, content_type).await.unwrap()).await;
        assert_eq!((status, answer["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{answer}");
        let description = answer["error_description"].as_str().unwrap_or_default();
        assert!(description.contains(says), "{description:?} should say {says:?}");
    }
    // control: the well-formed request
    let (status, answer) = answer(post("grant_type=client_credentials&scope=partner".into(), form).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer["access_token"].is_string());
    app.stop().await;
}

/// A request target (path and query) over 8 KiB gets a 414 in each family's shape; the same
/// request at 7 KiB is read (control: it reaches the handler, which answers as it would).
#[tokio::test]
async fn an_over_long_target_is_refused_in_each_familys_shape() {
    let app = TestApp::spawn().await;
    let (_, token) = partner(&app, "limits-uri").await;
    let long = "x".repeat(9 * 1024);
    let fits = "x".repeat(7 * 1024);
    let get = |path: String| app.client.get(format!("{}{path}", app.url)).bearer_auth(&token).send();

    // SkyJoy: 414 URI_TOO_LONG; control: MEMBER_NOT_FOUND from the handler
    let (status, body) = answer(get(format!("/api-user/partner/v2/user/lookup?customerId={long}")).await.unwrap()).await;
    assert_eq!((status, skyjoy_code(&body)), (StatusCode::URI_TOO_LONG, "URI_TOO_LONG"), "{body}");
    assert_eq!(body["statusCode"], 414);
    let (status, body) = answer(get(format!("/api-user/partner/v2/user/lookup?phone={fits}")).await.unwrap()).await;
    assert_eq!((status, skyjoy_code(&body)), (StatusCode::BAD_REQUEST, "INVALID_PHONE"), "the handler read it: {body}");
    // the benefit partner APIs share SkyJoy's shape
    let res = app.client.post(format!("{}/api-benefit/partner/v1/benefit/lookup?pad={long}", app.url)).bearer_auth(&token).json(&json!({})).send().await.unwrap();
    let (status, body) = answer(res).await;
    assert_eq!((status, skyjoy_code(&body)), (StatusCode::URI_TOO_LONG, "URI_TOO_LONG"), "{body}");

    // Tiki VIP: 414, code 1; control: unsigned (401, code 1) from the signature check
    let (status, body) = answer(app.client.get(format!("{}/miniapp/tikivip/transaction?tiki_transaction_id={long}", app.url)).send().await.unwrap()).await;
    assert_eq!((status, &body["code"]), (StatusCode::URI_TOO_LONG, &json!(1)), "{body}");
    let (status, body) = answer(app.client.get(format!("{}/miniapp/tikivip/transaction?tiki_transaction_id={fits}", app.url)).send().await.unwrap()).await;
    assert_eq!((status, &body["code"]), (StatusCode::UNAUTHORIZED, &json!(1)), "{body}");

    // OAuth: 414 invalid_request; control: the JWKS
    let (status, body) = answer(app.client.get(format!("{}/jwks?pad={long}", app.url)).send().await.unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::URI_TOO_LONG, Some("invalid_request")), "{body}");
    let (status, body) = answer(app.client.get(format!("{}/jwks?pad={fits}", app.url)).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // reward tasks: 414 in the gateway's envelope; control: its 401 for no client
    let routed = json!({"Subject":"loyalty","SubjectType":"reward","SubjectIdentifier":"task","Action":"transaction"});
    let (status, body) = answer(app.client.post(format!("{}/saas/requestin?pad={long}", app.url)).json(&routed).send().await.unwrap()).await;
    assert_eq!((status, &body["Status"], &body["StatusCode"]), (StatusCode::URI_TOO_LONG, &json!("failed"), &json!(414)), "{body}");
    let (status, body) = answer(app.client.post(format!("{}/saas/requestin?pad={fits}", app.url)).json(&routed).send().await.unwrap()).await;
    assert_eq!((status, &body["StatusCode"]), (StatusCode::UNAUTHORIZED, &json!(401)), "{body}");

    // benefit ISV APIs: the seed's HTTP 200 with PARAM_ILLEGAL; control: INVALID_CLIENT
    let (status, body) = answer(app.client.post(format!("{}/isv/benefit/issue?pad={long}", app.url)).json(&json!({})).send().await.unwrap()).await;
    assert_eq!((status, &body["success"], &body["resultCode"]), (StatusCode::OK, &json!(false), &json!("PARAM_ILLEGAL")), "{body}");
    let (status, body) = answer(app.client.post(format!("{}/isv/benefit/issue?pad={fits}", app.url)).json(&json!({})).send().await.unwrap()).await;
    assert_eq!((status, &body["resultCode"]), (StatusCode::OK, &json!("INVALID_CLIENT")), "{body}");
    app.stop().await;
}
