//! The Tiki-side VIP APIs over HTTP, signed as a payment partner signs them: the official
//! signature vector's recipe, each refusal (bad signature, old timestamp, unknown client,
//! replay), the webview link, IPNs (duplicate, out of order, each code) and the flat
//! transaction answer.

use domain::{
    signing::tikivip as sig,
    tikivip::{
        customers,
        partners::{self, OpenMode, Partner},
        payments::{self, Status},
        Plan,
    },
};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::TestApp;

const CLIENT_ID: &str = "2f1c5f38-3b7e-4d6e-9a43-1e1f0c9d7a11";
const SECRET: &str = "EhjGcsUUuRSJTHiYPbW5fxzyaKEx0JuAZIKRQ4HnIfNFidB2kMg6locQbTIEz3Vf";

async fn partner(app: &TestApp, code: &str, client_id: &str) {
    let p = Partner {
        partner_code: code.into(),
        name: code.into(),
        client_id: client_id.into(),
        client_secret: SECRET.into(),
        api_base_url: "http://127.0.0.1:9/partner/v1".into(),
        open_mode: OpenMode::Url,
    };
    partners::register(app.db(), &p, domain::now_ms()).await.unwrap();
}

/// Sends `body` (or a GET with the empty body) signed as `client_id`, at `ts`.
async fn signed(app: &TestApp, method: reqwest::Method, path: &str, body: Option<&Value>, client_id: &str, secret: &str, ts: i64) -> (StatusCode, Value) {
    let raw = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.url))
        .header(sig::HEADER_TIMESTAMP, ts.to_string())
        .header(sig::HEADER_CLIENT_ID, client_id)
        .header(sig::HEADER_SIGNATURE, sig::sign(secret.as_bytes(), ts, client_id, raw.as_bytes()));
    if body.is_some() {
        req = req.header("content-type", "application/json").body(raw);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn post(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    signed(app, reqwest::Method::POST, path, Some(&body), CLIENT_ID, SECRET, domain::now_ms()).await
}

#[tokio::test]
async fn requests_must_be_signed_by_a_known_partner_within_five_minutes() {
    let app = TestApp::spawn().await;
    partner(&app, "walletx", CLIENT_ID).await;
    let body = json!({"identify_code": "C-1", "identify_phone": "0912345678"});
    let now = domain::now_ms();
    for (client, secret, ts, why) in [
        (CLIENT_ID, "wrong-secret-wrong-secret", now, "bad signature"),
        (CLIENT_ID, SECRET, now - 300_001, "old timestamp"),
        ("not-a-partner", SECRET, now, "unknown client"),
    ] {
        let (status, res) = signed(&app, reqwest::Method::POST, "/miniapp/tikivip/webview", Some(&body), client, secret, ts).await;
        assert_eq!((status, res["code"].as_i64()), (StatusCode::UNAUTHORIZED, Some(1)), "{why}: {res}");
    }
    let res = app.client.post(format!("{}/miniapp/tikivip/webview", app.url)).json(&body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "unsigned");

    // the same signed request twice: the second is a replay
    let ts = domain::now_ms();
    let (status, first) = signed(&app, reqwest::Method::POST, "/miniapp/tikivip/webview", Some(&body), CLIENT_ID, SECRET, ts).await;
    assert_eq!((status, first["code"].as_i64()), (StatusCode::OK, Some(0)), "{first}");
    let (status, _) = signed(&app, reqwest::Method::POST, "/miniapp/tikivip/webview", Some(&body), CLIENT_ID, SECRET, ts).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn the_webview_link_opens_once_and_never_carries_the_secret() {
    let app = TestApp::spawn().await;
    partner(&app, "walletx", CLIENT_ID).await;
    let (status, res) = post(&app, "/miniapp/tikivip/webview", json!({"identify_code": "C-9", "identify_phone": 912345678, "identify_fullname": "Tran Thi Vip"})).await;
    assert_eq!((status, res["code"].as_i64(), res["message"].as_str()), (StatusCode::OK, Some(0), Some("success")), "{res}");
    let data = &res["data"];
    let url_open = data["url_open"].as_str().unwrap();
    assert!(url_open.starts_with(&format!("{}/apps/vn.tiki.vip/open?t=", app.url)) && !url_open.contains(SECRET) && !url_open.contains(CLIENT_ID), "{url_open}");
    assert_eq!(data["url_checkout_result"].as_str(), Some(format!("{}/apps/vn.tiki.vip/callback/index", app.url).as_str()));
    assert_eq!(data["request_id"].as_str().unwrap().len(), 36);

    let opened = app.client.get(url_open).send().await.unwrap();
    assert_eq!((opened.status(), opened.headers()["location"].to_str().unwrap()), (StatusCode::SEE_OTHER, "/apps/vn.tiki.vip"));
    assert!(crate::helpers::set_cookie(&opened, "joygate_session").is_some(), "the webview session");
    let again = app.client.get(url_open).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::GONE, "single use");

    for (body, why) in [(json!({"identify_phone": "0912345678"}), "no identify_code"), (json!({"identify_code": "C-1", "identify_phone": "12"}), "bad phone")] {
        let (status, res) = post(&app, "/miniapp/tikivip/webview", body).await;
        assert_eq!((status, res["code"].as_i64()), (StatusCode::OK, Some(1)), "{why}: {res}");
    }
    app.stop().await;
}

#[tokio::test]
async fn ipns_change_a_payment_once_and_answer_tikis_codes() {
    let app = TestApp::spawn().await;
    partner(&app, "walletx", CLIENT_ID).await;
    partner(&app, "othery", "other-client").await;
    let req = customers::CustomerRequest { identify_code: "C-5".into(), phone: "0912345678".into(), full_name: None };
    let c = customers::open_link(app.db(), "walletx", &req, 60_000, domain::now_ms()).await.unwrap().customer;
    let plan = Plan::defaults().remove(0);
    let (p, _) = payments::open_payment(app.db(), &c, &plan, domain::now_ms()).await.unwrap();
    payments::attach_partner_transaction(app.db(), &p.tiki_transaction_id, "8A43B011-0EC9-4AA5-8D83-6FE7B2BCE4EC", "http://pay", domain::now_ms()).await.unwrap();
    let ipn = |status: &str, amount: i64| {
        json!({"reference_transaction_id": p.tiki_transaction_id, "transaction_amount": amount,
               "transaction_id": "8A43B011-0EC9-4AA5-8D83-6FE7B2BCE4EC", "status": status, "partner_banking_method": "WALLET"})
    };
    let code = |res: &Value| res["code"].as_i64().unwrap();

    let (_, res) = post(&app, "/miniapp/tikivip/payment/ipn", ipn("SUCCESS", 1)).await;
    assert_eq!(code(&res), 5, "wrong amount: {res}");
    let (_, res) = post(&app, "/miniapp/tikivip/payment/ipn", json!({"reference_transaction_id": "221115TIKIVIP-1-1", "transaction_amount": 1, "transaction_id": "x", "status": "SUCCESS"})).await;
    assert_eq!(code(&res), 3, "not found");
    let (_, res) = signed(&app, reqwest::Method::POST, "/miniapp/tikivip/payment/ipn", Some(&ipn("SUCCESS", 99_000)), "other-client", SECRET, domain::now_ms()).await;
    assert_eq!(code(&res), 4, "another partner's");
    let (_, res) = post(&app, "/miniapp/tikivip/payment/ipn", ipn("PAID", 99_000)).await;
    assert_eq!(code(&res), 1, "unknown status");
    let (_, res) = post(&app, "/miniapp/tikivip/payment/ipn", ipn("PENDING", 99_000)).await;
    assert_eq!(code(&res), 0);

    // the success, then duplicates and a late failure: applied once
    for (status, n) in [("SUCCESS", 0), ("SUCCESS", 0), ("FAILURE", 0), ("SUCCESS", 0)] {
        let (http, res) = post(&app, "/miniapp/tikivip/payment/ipn", ipn(status, 99_000)).await;
        assert_eq!((http, code(&res), res["data"]["transaction_id"].as_str()), (StatusCode::OK, n, Some("8A43B011-0EC9-4AA5-8D83-6FE7B2BCE4EC")), "{res}");
    }
    let now = payments::find(app.db(), &p.tiki_transaction_id).await.unwrap().unwrap();
    assert_eq!((now.status, now.vip_granted), (Status::Success, true));
    assert!(customers::find(app.db(), &c.id).await.unwrap().unwrap().is_vip(domain::now_ms()));

    // the flat transaction answer (a GET signs the empty body)
    let path = format!("/miniapp/tikivip/transaction?tiki_transaction_id={}", p.tiki_transaction_id);
    let (status, res) = signed(&app, reqwest::Method::GET, &path, None, CLIENT_ID, SECRET, domain::now_ms()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(res, json!({"code": 0, "message": "success", "tiki_transaction_id": p.tiki_transaction_id,
        "partner_transaction_id": "8A43B011-0EC9-4AA5-8D83-6FE7B2BCE4EC", "status": "SUCCESS", "amount": 99_000}));
    let (_, res) = signed(&app, reqwest::Method::GET, &path, None, "other-client", SECRET, domain::now_ms()).await;
    assert_eq!(code(&res), 4);
    let (_, res) = signed(&app, reqwest::Method::GET, "/miniapp/tikivip/transaction?tiki_transaction_id=nope", None, CLIENT_ID, SECRET, domain::now_ms()).await;
    assert_eq!(code(&res), 3);

    // a success for a payment cancelled on our side: code 6, the partner refunds
    let (q, _) = payments::open_payment(app.db(), &c, &Plan::defaults().remove(1), domain::now_ms()).await.unwrap();
    let cancel = payments::Report { partner_code: "walletx".into(), tiki_transaction_id: q.tiki_transaction_id.clone(), partner_transaction_id: None, amount: None, status: Status::Cancelled, banking_method: None };
    payments::apply_report(app.db(), &Plan::defaults(), &cancel, domain::now_ms()).await.unwrap();
    let (_, res) = post(&app, "/miniapp/tikivip/payment/ipn", json!({"reference_transaction_id": q.tiki_transaction_id, "transaction_amount": q.amount, "transaction_id": "P-2", "status": "SUCCESS"})).await;
    assert_eq!(code(&res), 6, "{res}");
    app.stop().await;
}
