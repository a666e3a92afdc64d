//! Benefits in super apps over HTTP. The ISV APIs are called here as a platform would, every
//! request signed with the platform's key (the openssl fixture key) and every answer's signature
//! checked with ours; then the whole loop runs against the sandbox super-app platform (a real
//! program on its own port with its own key): sync and review, release, collect, use at the
//! partner's cashier API, syncUsedBenefit — with the platform's knobs.

use std::{collections::HashSet, time::Duration};

use axum::{body::Bytes, http::HeaderMap, routing::post as route_post, Router};
use domain::{
    benefits::{
        fields::Amount,
        keys::{self, Owner},
        platform_api::{CallError, PlatformApi, UsedRequest},
        platforms, sync,
        templates::{self, Credential, NewTemplate, Validity},
        ClientCode, TemplateId, Title,
    },
    identity::clients::{self, ClientSpec},
    signing::{alipay_plus, RsaPrivateKey, RsaPublicKey, TimestampWindow},
};
use joygate::{benefit_platform::HttpPlatformApi, sandbox::superapp_platform as sp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{helpers::TestApp, oidc::token, skyjoy::error_code};

const PLATFORM: &str = "TEST_5Y00000000000009";
const ISSUE: &str = "/isv/benefit/issue";
const REVERSE: &str = "/isv/benefit/reverse";
const QUERY: &str = "/isv/benefit/query";
const NOTIFY: &str = "/isv/benefit/sync/notify";
const USE: &str = "/api-benefit/partner/v1/benefit/use";
const LOOKUP: &str = "/api-benefit/partner/v1/benefit/lookup";
const DOCUMENTED: [&str; 9] = [
    "UNKNOWN_EXCEPTION",
    "PROCESS_FAIL",
    "PARAM_ILLEGAL",
    "METHOD_NOT_SUPPORTED",
    "MEDIA_TYPE_NOT_ACCEPTABLE",
    "INVALID_CLIENT",
    "INVALID_SIGNATURE",
    "ISSUE_REQUEST_ID_NOT_EXIST",
    "SYNC_REQUEST_ID_NOT_EXIST",
];

/// The platform's key: the openssl fixture's (domain/tests/fixtures/signing/alipay_plus.json).
fn platform_key() -> RsaPrivateKey {
    let f: Value = serde_json::from_str(include_str!("../../../domain/tests/fixtures/signing/alipay_plus.json")).unwrap();
    RsaPrivateKey::from_pkcs8_base64(f["private_key_pkcs8_b64"].as_str().unwrap()).unwrap()
}

/// An answer as it came over the wire.
struct Exchange {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Exchange {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The test's platform: the app, our keys for it, and the partner shop `shop`.
struct Platform {
    app: TestApp,
    key: RsaPrivateKey,
    shop_secret: String,
}

fn template(id: &str, client_id: &str, partner: &str, budget: i64, credential: Credential) -> NewTemplate {
    let now = domain::now_ms();
    NewTemplate {
        template_id: TemplateId::parse(id).unwrap(),
        client_id: client_id.into(),
        partner_client_id: partner.into(),
        title: Title::parse("Giảm 50.000 ₫ tại Shop").unwrap(),
        content: "50,000 VND off any order at Shop.".into(),
        client_codes: vec![ClientCode::parse("SANDBOXAPP").unwrap()],
        begin_at_ms: now - 86_400_000,
        end_at_ms: now + 30 * 86_400_000,
        budget,
        amount: Amount::new("VND", 50_000).unwrap(),
        credential,
        url_base: (credential == Credential::Url).then(|| "https://shop.example/v?c=".into()),
        validity: Validity::Days(30),
    }
}

async fn register_shop(app: &TestApp, id: &str, scopes: &[&str]) -> String {
    let spec = ClientSpec {
        client_id: id.into(),
        name: id.into(),
        confidential: true,
        redirect_uris: vec!["https://shop.example/cb".into()],
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        ..ClientSpec::default()
    };
    clients::register(app.db(), &spec, false, domain::now_ms()).await.unwrap().1.unwrap()
}

async fn bearer(app: &TestApp, id: &str, secret: &str, scope: &str) -> String {
    let (status, body) = token(app, &[("grant_type", "client_credentials"), ("scope", scope)], Some((id, secret))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

impl Platform {
    /// The app with the test platform registered (its key version 1), the partner `shop`, and
    /// template VOUCHER-50K of `budget` whose sync the platform accepted.
    async fn spawn(budget: i64) -> Platform {
        let app = TestApp::spawn().await;
        let key = platform_key();
        let now = domain::now_ms();
        platforms::register(app.db(), PLATFORM, "Test platform", "http://127.0.0.1:9", now).await.unwrap();
        keys::register_platform_key(app.db(), PLATFORM, None, &key.public_key().to_spki_base64(), now).await.unwrap();
        let shop_secret = register_shop(&app, "shop", &["benefit:use"]).await;
        let p = Platform { app, key, shop_secret };
        p.template("VOUCHER-50K", budget, Credential::Code).await;
        p
    }

    async fn template(&self, id: &str, budget: i64, credential: Credential) {
        let db = self.app.db();
        templates::create(db, &template(id, PLATFORM, "shop", budget, credential), domain::now_ms()).await.unwrap();
        let s = sync::request(db, id, domain::now_ms()).await.unwrap();
        sync::apply(db, &s.sync_request_id, &sync::SyncReport::accepted(), 3_600_000, domain::now_ms()).await.unwrap();
    }

    fn signed_headers(&self, method: &str, path: &str, body: &str, time: &str) -> Vec<(&'static str, String)> {
        vec![
            ("content-type", "application/json; charset=UTF-8".into()),
            (alipay_plus::HEADER_CLIENT_ID, PLATFORM.into()),
            (alipay_plus::HEADER_REQUEST_TIME, time.into()),
            (alipay_plus::HEADER_SIGNATURE, alipay_plus::sign_header(&self.key, 1, method, path, PLATFORM, time, body.as_bytes())),
        ]
    }

    async fn raw(&self, method: Method, path: &str, body: &str, headers: Vec<(&'static str, String)>) -> Exchange {
        let mut req = self.app.client.request(method, format!("{}{path}", self.app.url)).body(body.to_string());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let res = req.send().await.unwrap();
        Exchange { status: res.status(), headers: res.headers().clone(), body: res.bytes().await.unwrap() }
    }

    async fn send(&self, path: &str, body: &Value) -> Exchange {
        let raw = body.to_string();
        let headers = self.signed_headers("POST", path, &raw, &alipay_plus::format_time(domain::now_ms()));
        self.raw(Method::POST, path, &raw, headers).await
    }

    /// Checks our answer's signature with our public key of its keyVersion; returns the version.
    async fn verify_answer(&self, method: &str, path: &str, ex: &Exchange) -> Result<i64, String> {
        let sig = ex.header(alipay_plus::HEADER_SIGNATURE).ok_or("no Signature")?;
        let time = ex.header(alipay_plus::HEADER_RESPONSE_TIME).ok_or("no Response-Time")?;
        assert_eq!(ex.header(alipay_plus::HEADER_CLIENT_ID), Some(PLATFORM));
        alipay_plus::check_time(time, TimestampWindow::FIVE_MINUTES, domain::now_ms()).map_err(|e| e.to_string())?;
        let version: i64 = alipay_plus::parse_header(sig).map_err(|e| e.to_string())?.key_version.ok_or("no keyVersion")?.parse().unwrap();
        let ours = keys::list(self.app.db(), PLATFORM).await.unwrap().into_iter().find(|k| k.owner == Owner::Isv && k.key_version == version).ok_or("unknown keyVersion")?;
        let public = RsaPublicKey::from_spki_base64(&ours.public_key).unwrap();
        alipay_plus::verify(&public, sig, method, path, PLATFORM, time, &ex.body).map_err(|e| e.to_string())?;
        Ok(version)
    }

    /// A signed call whose answer must be signed right; returns the answer.
    async fn call(&self, path: &str, body: Value) -> Value {
        let ex = self.send(path, &body).await;
        assert_eq!(ex.status, StatusCode::OK);
        self.verify_answer("POST", path, &ex).await.unwrap();
        let v = ex.json();
        if v["success"] == false {
            assert!(DOCUMENTED.contains(&v["resultCode"].as_str().unwrap()), "{v}");
            assert!(v["resultMessage"].as_str().unwrap().chars().count() <= 256);
        }
        v
    }

    async fn left(&self, template_id: &str) -> i64 {
        templates::find(self.app.db(), template_id).await.unwrap().unwrap().budget_left
    }
}

fn issue(id: &str, user: &str, quantity: i64) -> Value {
    json!({"benefitIssueRequestId": id, "userId": user, "clientCode": "SANDBOXAPP", "benefitTemplateId": "VOUCHER-50K", "quantity": quantity})
}

fn code_of(answer: &Value) -> String {
    answer["resultCode"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn every_answer_is_signed_and_every_unsigned_or_stale_request_is_refused_in_the_apis_shape() {
    let p = Platform::spawn(10).await;
    let body = issue("SIG-1", "U1", 1).to_string();
    let now = alipay_plus::format_time(domain::now_ms());

    let ok = p.raw(Method::POST, ISSUE, &body, p.signed_headers("POST", ISSUE, &body, &now)).await;
    assert_eq!(p.verify_answer("POST", ISSUE, &ok).await, Ok(1));
    assert_eq!(ok.header("content-type"), Some("application/json; charset=UTF-8"));
    let a = ok.json();
    assert_eq!((a["success"].as_bool(), a["resultCode"].as_str(), a["benefitDetails"].as_array().map(Vec::len)), (Some(true), Some(""), Some(1)));

    // unsigned-able: no or an unknown Client-Id → INVALID_CLIENT, unsigned (no key of theirs is ours to answer with)
    for client in [None, Some("NOBODY")] {
        let mut headers = p.signed_headers("POST", ISSUE, &body, &now);
        headers.retain(|(k, _)| *k != alipay_plus::HEADER_CLIENT_ID);
        if let Some(c) = client {
            headers.push((alipay_plus::HEADER_CLIENT_ID, c.into()));
        }
        let ex = p.raw(Method::POST, ISSUE, &body, headers).await;
        assert_eq!((ex.status, code_of(&ex.json()).as_str()), (StatusCode::OK, "INVALID_CLIENT"));
        assert!(ex.header(alipay_plus::HEADER_SIGNATURE).is_none());
    }

    // signed refusals: missing / wrong / another key's signature, an unknown keyVersion, stale or missing times
    let forged = RsaPrivateKey::generate_2048().unwrap();
    let cases: Vec<(&str, Vec<(&'static str, String)>)> = vec![
        ("no signature", p.signed_headers("POST", ISSUE, &body, &now).into_iter().filter(|(k, _)| *k != alipay_plus::HEADER_SIGNATURE).collect()),
        ("another body", p.signed_headers("POST", ISSUE, &issue("SIG-2", "U1", 1).to_string(), &now)),
        ("another path", p.signed_headers("POST", REVERSE, &body, &now)),
        ("another key", {
            let mut h = p.signed_headers("POST", ISSUE, &body, &now);
            h.retain(|(k, _)| *k != alipay_plus::HEADER_SIGNATURE);
            h.push((alipay_plus::HEADER_SIGNATURE, alipay_plus::sign_header(&forged, 1, "POST", ISSUE, PLATFORM, &now, body.as_bytes())));
            h
        }),
        ("unknown keyVersion", {
            let mut h = p.signed_headers("POST", ISSUE, &body, &now);
            h.retain(|(k, _)| *k != alipay_plus::HEADER_SIGNATURE);
            h.push((alipay_plus::HEADER_SIGNATURE, alipay_plus::sign_header(&p.key, 7, "POST", ISSUE, PLATFORM, &now, body.as_bytes())));
            h
        }),
        ("stale Request-Time", p.signed_headers("POST", ISSUE, &body, &alipay_plus::format_time(domain::now_ms() - 301_000))),
        ("future Request-Time", p.signed_headers("POST", ISSUE, &body, &alipay_plus::format_time(domain::now_ms() + 301_000))),
        ("no Request-Time", p.signed_headers("POST", ISSUE, &body, &now).into_iter().filter(|(k, _)| *k != alipay_plus::HEADER_REQUEST_TIME).collect()),
        ("garbage signature", {
            let mut h = p.signed_headers("POST", ISSUE, &body, &now);
            h.retain(|(k, _)| *k != alipay_plus::HEADER_SIGNATURE);
            h.push((alipay_plus::HEADER_SIGNATURE, "algorithm=RSA256,keyVersion=1,signature=%%%".into()));
            h
        }),
    ];
    for (what, headers) in cases {
        let ex = p.raw(Method::POST, ISSUE, &body, headers).await;
        assert_eq!(code_of(&ex.json()), "INVALID_SIGNATURE", "{what}");
        assert_eq!(p.verify_answer("POST", ISSUE, &ex).await, Ok(1), "{what}: the refusal is signed");
    }
    assert_eq!(p.left("VOUCHER-50K").await, 9, "nothing issued by a refused request");

    // method, media type, body
    let get = p.raw(Method::GET, ISSUE, "", p.signed_headers("GET", ISSUE, "", &now)).await;
    assert_eq!(code_of(&get.json()), "METHOD_NOT_SUPPORTED");
    p.verify_answer("GET", ISSUE, &get).await.unwrap();
    let mut text = p.signed_headers("POST", ISSUE, &body, &now);
    text[0].1 = "text/plain".into();
    assert_eq!(code_of(&p.raw(Method::POST, ISSUE, &body, text).await.json()), "MEDIA_TYPE_NOT_ACCEPTABLE");
    let not_json = "{\"benefitIssueRequestId\":";
    let ex = p.raw(Method::POST, ISSUE, not_json, p.signed_headers("POST", ISSUE, not_json, &now)).await;
    assert_eq!(code_of(&ex.json()), "PARAM_ILLEGAL");
}

#[tokio::test]
async fn fields_are_checked_against_the_documented_limits() {
    let p = Platform::spawn(10).await;
    let long = |n: usize| "1".repeat(n);
    let bad = [
        json!({"userId": "U1", "clientCode": "SANDBOXAPP", "benefitTemplateId": "VOUCHER-50K"}),
        json!({"benefitIssueRequestId": long(65), "userId": "U1", "clientCode": "SANDBOXAPP", "benefitTemplateId": "VOUCHER-50K"}),
        json!({"benefitIssueRequestId": "A#1", "userId": "U1", "clientCode": "SANDBOXAPP", "benefitTemplateId": "VOUCHER-50K"}),
        json!({"benefitIssueRequestId": "A-1", "userId": long(33), "clientCode": "SANDBOXAPP", "benefitTemplateId": "VOUCHER-50K"}),
        json!({"benefitIssueRequestId": "A-1", "userId": "U@1", "clientCode": "SANDBOXAPP", "benefitTemplateId": "VOUCHER-50K"}),
        json!({"benefitIssueRequestId": "A-1", "userId": "U1", "clientCode": "sandbox", "benefitTemplateId": "VOUCHER-50K"}),
        json!({"benefitIssueRequestId": "A-1", "userId": "U1", "clientCode": "SANDBOXAPP", "benefitTemplateId": "VOUCHER-50K", "quantity": 0}),
        json!({"benefitIssueRequestId": "A-1", "userId": "U1", "clientCode": "SANDBOXAPP", "benefitTemplateId": "VOUCHER-50K", "quantity": 101}),
        json!({"benefitIssueRequestId": "A-1", "userId": "U1", "clientCode": "SANDBOXAPP", "benefitTemplateId": "VOUCHER-50K", "quantity": "two"}),
        json!({"benefitIssueRequestId": "A-1", "userId": 7, "clientCode": "SANDBOXAPP", "benefitTemplateId": "VOUCHER-50K"}),
        json!({"benefitIssueRequestId": "A-1", "userId": "U1", "clientCode": "SANDBOXAPP", "benefitTemplateId": "NO-SUCH"}),
        json!({"benefitIssueRequestId": "A-1", "userId": "U1", "clientCode": "GCASH", "benefitTemplateId": "VOUCHER-50K"}),
    ];
    for b in bad {
        let a = p.call(ISSUE, b.clone()).await;
        assert_eq!((a["success"].as_bool(), code_of(&a).as_str()), (Some(false), "PARAM_ILLEGAL"), "{b}");
    }
    // limits themselves pass; names are case-insensitive; quantity may be a string of digits
    let a = p.call(ISSUE, json!({"BENEFITISSUEREQUESTID": long(64), "userid": long(32), "ClientCode": "SANDBOXAPP", "benefitTemplateId": "VOUCHER-50K", "quantity": "2"})).await;
    assert_eq!(a["benefitDetails"].as_array().unwrap().len(), 2, "{a}");
    for (path, b) in [(REVERSE, json!({"userId": "U1"})), (QUERY, json!({})), (QUERY, json!({"benefitIssueRequestId": long(65)})), (NOTIFY, json!({"syncStatus": "SUCCESS"}))] {
        assert_eq!(code_of(&p.call(path, b).await), "PARAM_ILLEGAL", "{path}");
    }
    assert_eq!(p.left("VOUCHER-50K").await, 8);
}

#[tokio::test]
async fn an_issue_replayed_ten_times_answers_the_same_benefits_byte_for_byte() {
    let p = Platform::spawn(10).await;
    let first = p.send(ISSUE, &issue("REPLAY-1", "U1", 2)).await;
    let a = first.json();
    let d = &a["benefitDetails"];
    assert_eq!(d.as_array().unwrap().len(), 2);
    for (i, detail) in d.as_array().unwrap().iter().enumerate() {
        assert_eq!(detail["status"], "ACTIVATED");
        assert_eq!(detail["amount"], json!({"currency": "VND", "value": "50000"}));
        assert_eq!(detail["benefitTemplateId"], "VOUCHER-50K");
        let code = detail["benefitCode"].as_str().unwrap();
        assert_eq!(code.len(), 12, "{i}");
        assert!(detail["benefitPin"].is_null() && detail["benefitUrl"].is_null());
        alipay_plus::parse_time_ms(detail["activateTime"].as_str().unwrap()).unwrap();
        let (on, off) = (alipay_plus::parse_time_ms(detail["activateTime"].as_str().unwrap()).unwrap(), alipay_plus::parse_time_ms(detail["expireTime"].as_str().unwrap()).unwrap());
        assert_eq!(off - on, 30 * 86_400_000);
    }
    for _ in 0..10 {
        let again = p.send(ISSUE, &issue("REPLAY-1", "U1", 2)).await;
        p.verify_answer("POST", ISSUE, &again).await.unwrap();
        assert_eq!(again.body, first.body, "byte-identical business content");
    }
    assert_eq!(p.left("VOUCHER-50K").await, 8);
    // the same id with another user, quantity, template or client code: refused (PARAM_ILLEGAL)
    for other in [issue("REPLAY-1", "U2", 2), issue("REPLAY-1", "U1", 1)] {
        let a = p.call(ISSUE, other).await;
        assert_eq!(code_of(&a), "PARAM_ILLEGAL");
        assert!(a["resultMessage"].as_str().unwrap().contains("benefitIssueRequestId"), "{a}");
    }
    assert_eq!(p.left("VOUCHER-50K").await, 8);
    let inquired = p.call(QUERY, json!({"benefitIssueRequestId": "REPLAY-1"})).await;
    assert_eq!(inquired["benefitDetails"], a["benefitDetails"]);
}

#[tokio::test]
async fn two_hundred_parallel_collects_of_a_hundred_vouchers_over_http() {
    let p = std::sync::Arc::new(Platform::spawn(100).await);
    let tasks: Vec<_> = (0..200)
        .map(|n| {
            let p = p.clone();
            tokio::spawn(async move { p.call(ISSUE, issue(&format!("P-{n}"), &format!("U{n}"), 1)).await })
        })
        .collect();
    let (mut codes, mut refused) = (Vec::new(), 0);
    for t in tasks {
        let a = t.await.unwrap();
        if a["success"] == true {
            codes.push(a["benefitDetails"][0]["benefitCode"].as_str().unwrap().to_string());
        } else {
            assert_eq!(code_of(&a), "PROCESS_FAIL", "{a}");
            refused += 1;
        }
    }
    assert_eq!((codes.len(), refused), (100, 100));
    assert_eq!(codes.iter().collect::<HashSet<_>>().len(), 100, "no code repeated");
    assert_eq!(p.left("VOUCHER-50K").await, 0);
}

#[tokio::test]
async fn quantity_three_with_two_left_issues_nothing_and_a_reversal_gives_the_budget_back() {
    let p = Platform::spawn(5).await;
    assert_eq!(p.call(ISSUE, issue("Q-1", "U1", 3)).await["success"], true);
    let a = p.call(ISSUE, issue("Q-2", "U2", 3)).await;
    assert_eq!(code_of(&a), "PROCESS_FAIL");
    assert_eq!(p.left("VOUCHER-50K").await, 2, "nothing issued");
    assert_eq!(code_of(&p.call(QUERY, json!({"benefitIssueRequestId": "Q-2"})).await), "ISSUE_REQUEST_ID_NOT_EXIST");

    for _ in 0..2 {
        let r = p.call(REVERSE, json!({"benefitIssueRequestId": "Q-1", "userId": "U1", "benefitTemplateId": "VOUCHER-50K"})).await;
        assert_eq!((r["success"].as_bool(), r["resultCode"].as_str()), (Some(true), Some("")), "{r}");
    }
    assert_eq!(p.left("VOUCHER-50K").await, 5);
    let q = p.call(QUERY, json!({"benefitIssueRequestId": "Q-1"})).await;
    assert!(q["benefitDetails"].as_array().unwrap().iter().all(|d| d["status"] == "REVERSED"), "{q}");
    assert_eq!(code_of(&p.call(ISSUE, issue("Q-1", "U1", 3)).await), "PROCESS_FAIL", "a reversed id is not issued again");
    assert_eq!(p.call(ISSUE, issue("Q-2", "U2", 3)).await["success"], true, "a later collect gets the budget back");
    assert_eq!(code_of(&p.call(REVERSE, json!({"benefitIssueRequestId": "Q-2", "userId": "U9"})).await), "PARAM_ILLEGAL");
}

#[tokio::test]
async fn a_reversal_before_the_issue_succeeds_and_the_late_issue_is_refused() {
    let p = Platform::spawn(5).await;
    let r = p.call(REVERSE, json!({"benefitIssueRequestId": "EARLY-1"})).await;
    assert_eq!(r["success"], true, "the seed: the reversal must be successful");
    let late = p.call(ISSUE, issue("EARLY-1", "U1", 1)).await;
    assert_eq!(code_of(&late), "PROCESS_FAIL");
    assert_eq!(p.left("VOUCHER-50K").await, 5);
    assert_eq!(code_of(&p.call(QUERY, json!({"benefitIssueRequestId": "EARLY-1"})).await), "ISSUE_REQUEST_ID_NOT_EXIST");
}

#[tokio::test]
async fn credentials_come_as_code_code_and_pin_or_url() {
    let p = Platform::spawn(5).await;
    p.template("PIN-1", 5, Credential::CodePin).await;
    p.template("URL-1", 5, Credential::Url).await;
    let with = |t: &str, id: &str| json!({"benefitIssueRequestId": id, "userId": "U1", "clientCode": "SANDBOXAPP", "benefitTemplateId": t});
    let pin = p.call(ISSUE, with("PIN-1", "C-1")).await["benefitDetails"][0].clone();
    assert!(pin["benefitCode"].is_string() && pin["benefitPin"].as_str().is_some_and(|p| p.len() == 6) && pin["benefitUrl"].is_null(), "{pin}");
    let url = p.call(ISSUE, with("URL-1", "C-2")).await["benefitDetails"][0].clone();
    assert!(url["benefitUrl"].as_str().unwrap().starts_with("https://shop.example/v?c=") && url["benefitCode"].is_null(), "{url}");
}

#[tokio::test]
async fn notify_benefit_sync_applies_the_review_once() {
    let p = Platform::spawn(5).await;
    let db = p.app.db();
    templates::create(db, &template("NOTIFY-1", PLATFORM, "shop", 5, Credential::Code), domain::now_ms()).await.unwrap();
    let s = sync::request(db, "NOTIFY-1", domain::now_ms()).await.unwrap();
    let fail = json!({"benefitSyncRequestId": s.sync_request_id, "syncStatus": "FAIL"});
    assert_eq!(code_of(&p.call(NOTIFY, fail).await), "PARAM_ILLEGAL", "FAIL needs syncFailCode");
    let bad_code = json!({"benefitSyncRequestId": s.sync_request_id, "syncStatus": "FAIL", "syncFailCode": "NOPE"});
    assert_eq!(code_of(&p.call(NOTIFY, bad_code).await), "PARAM_ILLEGAL");
    assert_eq!(code_of(&p.call(NOTIFY, json!({"benefitSyncRequestId": "UNKNOWN", "syncStatus": "SUCCESS"})).await), "SYNC_REQUEST_ID_NOT_EXIST");
    // the documented sample names the id benefitIssueRequestId: accepted
    let audit = json!({"benefitIssueRequestId": s.sync_request_id, "syncStatus": "FAIL", "syncFailCode": "AUDIT_FAIL", "syncFailReason": "Logo too small"});
    for _ in 0..2 {
        let a = p.call(NOTIFY, audit.clone()).await;
        assert_eq!((a["success"].as_bool(), a["resultCode"].as_str()), (Some(true), Some("")));
    }
    let late = json!({"benefitSyncRequestId": s.sync_request_id, "syncStatus": "SUCCESS"});
    assert_eq!(p.call(NOTIFY, late).await["success"], true, "received; a final sync stays as it is");
    let t = templates::find(db, "NOTIFY-1").await.unwrap().unwrap().sync.unwrap();
    assert_eq!((t.status.as_str(), t.fail_code.as_deref(), t.fail_reason.as_deref()), ("FAIL", Some("AUDIT_FAIL"), Some("Logo too small")));
    let issue_it = json!({"benefitIssueRequestId": "N-1", "userId": "U1", "clientCode": "SANDBOXAPP", "benefitTemplateId": "NOTIFY-1"});
    assert_eq!(code_of(&p.call(ISSUE, issue_it).await), "PROCESS_FAIL", "a benefit that failed its review is not issued");
}

#[tokio::test]
async fn twenty_parallel_uses_of_one_code_have_one_success_and_the_rest_hear_already_used() {
    let p = Platform::spawn(5).await;
    let code = p.call(ISSUE, issue("USE-1", "U1", 1)).await["benefitDetails"][0]["benefitCode"].as_str().unwrap().to_string();
    let t = bearer(&p.app, "shop", &p.shop_secret, "benefit:use").await;
    let post = |path: &'static str, body: Value| {
        let (client, url, t) = (p.app.client.clone(), format!("{}{path}", p.app.url), t.clone());
        async move {
            let res = client.post(url).bearer_auth(t).json(&body).send().await.unwrap();
            (res.status(), res.json::<Value>().await.unwrap())
        }
    };
    let (status, seen) = post(LOOKUP, json!({"benefitCode": code.to_lowercase()})).await;
    assert_eq!((status, seen["data"]["status"].as_str(), seen["data"]["title"].as_str()), (StatusCode::OK, Some("ACTIVATED"), Some("Giảm 50.000 ₫ tại Shop")));
    assert!(seen["data"]["userId"].is_null() && seen["data"]["benefitPin"].is_null(), "the partner never sees the user or the PIN");
    let tasks: Vec<_> = (0..20).map(|n| tokio::spawn(post(USE, json!({"benefitCode": code, "requestId": format!("POS-{n}")})))).collect();
    let (mut ok, mut used) = (Vec::new(), 0);
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::OK => ok.push(body),
            StatusCode::CONFLICT => {
                assert_eq!(error_code(status, &body), "BENEFIT_ALREADY_USED");
                used += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!((ok.len(), used), (1, 19));
    let winner = ok[0]["data"].clone();
    assert_eq!((winner["status"].as_str(), winner["replayed"].as_bool()), (Some("USED"), Some(false)));
    // the winner's retry with its requestId is answered again; another use is "already used"
    let (status, again) = post(USE, json!({"benefitCode": code, "requestId": winner["requestId"]})).await;
    assert_eq!((status, again["data"]["replayed"].as_bool()), (StatusCode::OK, Some(true)));
    let (status, body) = post(USE, json!({"benefitCode": code})).await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::CONFLICT, "BENEFIT_ALREADY_USED"));
    let q = p.call(QUERY, json!({"benefitIssueRequestId": "USE-1"})).await;
    assert_eq!(q["benefitDetails"][0]["status"], "USED");
    assert_eq!(code_of(&p.call(REVERSE, json!({"benefitIssueRequestId": "USE-1"})).await), "PROCESS_FAIL", "a used benefit is not reversed");

    // bad requests, another partner, a token without the scope
    for body in [json!({}), json!({"benefitCode": code, "benefitInstanceId": "BI1"})] {
        let (status, b) = post(USE, body).await;
        assert_eq!((status, error_code(status, &b).as_str()), (StatusCode::BAD_REQUEST, "INVALID_BENEFIT_CODE"));
    }
    let other_secret = register_shop(&p.app, "other-shop", &["benefit:use"]).await;
    let other = bearer(&p.app, "other-shop", &other_secret, "benefit:use").await;
    let res = p.app.client.post(format!("{}{LOOKUP}", p.app.url)).bearer_auth(&other).json(&json!({"benefitCode": code})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let points_secret = register_shop(&p.app, "points-only", &["point:read"]).await;
    let points = bearer(&p.app, "points-only", &points_secret, "point:read").await;
    let res = p.app.client.post(format!("{}{USE}", p.app.url)).bearer_auth(&points).json(&json!({"benefitCode": code})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = p.app.client.post(format!("{}{USE}", p.app.url)).json(&json!({"benefitCode": code})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

/// A platform in the test that answers every call with what `answer` returns (headers, body).
async fn fake_platform(answer: fn(&HeaderMap, &Bytes) -> (Vec<(&'static str, String)>, String)) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = Router::new().route(
        "/v1/marketing/benefit/used/sync",
        route_post(move |headers: HeaderMap, body: Bytes| async move {
            let (h, b) = answer(&headers, &body);
            let mut res = axum::response::Response::new(axum::body::Body::from(b));
            for (k, v) in h {
                res.headers_mut().insert(k, v.parse().unwrap());
            }
            res
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

#[tokio::test]
async fn a_platform_answer_that_is_not_signed_right_counts_as_no_answer() {
    let app = TestApp::spawn().await;
    let db = app.db();
    let now = domain::now_ms();
    let used = UsedRequest {
        use_request_id: "2026112409593300000001".into(),
        user_id: "U1".into(),
        client_code: "SANDBOXAPP".into(),
        instance_id: "BI1".into(),
        template_id: "VOUCHER-50K".into(),
        use_date_ms: now,
        use_scene: "MINI_PROGRAM",
        used_amount: Amount::new("VND", 50_000).unwrap(),
        benefit_code: "ABCDEFGH1234".into(),
        benefit_url: None,
    };
    // The platform signs with the fixture key; the test answers in several wrong ways.
    let key = platform_key();
    let fixtures: [(&str, fn(&HeaderMap, &Bytes) -> (Vec<(&'static str, String)>, String)); 4] = [
        ("unsigned", |_, _| (vec![], r#"{"result":{"resultStatus":"S","resultCode":"SUCCESS","resultMessage":"Success"}}"#.into())),
        ("signed by another key", |h, _| {
            let body = r#"{"result":{"resultStatus":"S","resultCode":"SUCCESS","resultMessage":"Success"}}"#.to_string();
            let time = alipay_plus::format_time(domain::now_ms());
            let client = h.get("client-id").unwrap().to_str().unwrap().to_string();
            let forged = RsaPrivateKey::generate_2048().unwrap();
            (vec![("response-time", time.clone()), ("signature", alipay_plus::sign_header(&forged, 1, "POST", "/v1/marketing/benefit/used/sync", &client, &time, body.as_bytes()))], body)
        }),
        ("stale Response-Time", |h, _| {
            let body = r#"{"result":{"resultStatus":"S","resultCode":"SUCCESS","resultMessage":"Success"}}"#.to_string();
            let time = alipay_plus::format_time(domain::now_ms() - 600_000);
            let client = h.get("client-id").unwrap().to_str().unwrap().to_string();
            (vec![("response-time", time.clone()), ("signature", alipay_plus::sign_header(&platform_key(), 1, "POST", "/v1/marketing/benefit/used/sync", &client, &time, body.as_bytes()))], body)
        }),
        ("signed right", |h, _| {
            let body = r#"{"result":{"resultStatus":"S","resultCode":"SUCCESS","resultMessage":"Success"}}"#.to_string();
            let time = alipay_plus::format_time(domain::now_ms());
            let client = h.get("client-id").unwrap().to_str().unwrap().to_string();
            (vec![("response-time", time.clone()), ("signature", alipay_plus::sign_header(&platform_key(), 1, "POST", "/v1/marketing/benefit/used/sync", &client, &time, body.as_bytes()))], body)
        }),
    ];
    let api = HttpPlatformApi::new(domain::benefits::keys::KeyStore::new(db.clone()), Duration::from_secs(5), TimestampWindow::FIVE_MINUTES).unwrap();
    for (n, (what, answer)) in fixtures.into_iter().enumerate() {
        let client_id = format!("FAKE_{n}");
        let url = fake_platform(answer).await;
        let (platform, _) = platforms::register(db, &client_id, "Fake", &url, now).await.unwrap();
        keys::register_platform_key(db, &client_id, None, &key.public_key().to_spki_base64(), now).await.unwrap();
        let result = api.sync_used(&platform, &used).await;
        match what {
            "signed right" => assert_eq!(result.map(|r| r.code), Ok("SUCCESS".into())),
            _ => assert!(matches!(result, Err(CallError::BadSignature(_))), "{what}: {result:?}"),
        }
    }
}

// ---- the whole loop against the sandbox super-app platform ----

struct Sandbox {
    app: TestApp,
    url: String,
}

impl Sandbox {
    async fn spawn() -> Sandbox {
        let app = TestApp::spawn_with(|c| {
            c.superapp_platform.enabled = true;
            c.superapp_platform.review_ms = 50;
            c.superapp_platform.retry_wait_ms = 50;
            c.superapp_platform.issue_timeout_ms = 2_000;
            c.superapp_platform.issue_retries = 2;
            c.benefits.call_timeout_ms = 500;
            c.benefits.retry_first_ms = 50;
            c.benefits.retry_max_ms = 200;
            c.benefits.sync_poll_after_s = 1;
        })
        .await;
        let url = app.server.as_ref().unwrap().superapp_platform_url.clone().expect("the sandbox platform runs");
        Sandbox { app, url }
    }

    async fn sandbox(&self, path: &str, body: Value) -> Value {
        let res = self.app.client.post(format!("{}{path}", self.url)).json(&body).send().await.unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().await.unwrap()
    }

    async fn state(&self) -> Value {
        self.app.client.get(format!("{}/sandbox/state", self.url)).send().await.unwrap().json().await.unwrap()
    }

    async fn log(&self) -> Vec<Value> {
        self.app.client.get(format!("{}/sandbox/log", self.url)).send().await.unwrap().json().await.unwrap()
    }

    /// A template of the sandbox shop for the sandbox platform, synced and (with `release`) released.
    async fn synced(&self, id: &str, budget: i64, release: bool) -> String {
        let db = self.app.db();
        templates::create(db, &template(id, sp::CLIENT_ID, sp::SANDBOX_SHOP, budget, Credential::Code), domain::now_ms()).await.unwrap();
        sync::request(db, id, domain::now_ms()).await.unwrap();
        let status = self.sync_ends(id).await;
        if release {
            assert_eq!(status, "SUCCESS");
            self.sandbox("/sandbox/release", json!({"benefitTemplateId": id})).await;
        }
        status
    }

    async fn sync_ends(&self, id: &str) -> String {
        until(|| async {
            let t = templates::find(self.app.db(), id).await.unwrap().unwrap();
            t.sync.filter(|s| s.status.is_final()).map(|s| s.status.as_str().to_string())
        })
        .await
    }

    async fn collect(&self, user: &str, template_id: &str) -> Value {
        self.sandbox("/sandbox/collect", json!({"userId": user, "benefitTemplateId": template_id})).await
    }

    async fn cashier_token(&self) -> String {
        let creds: Value = self.app.client.get(format!("{}/sandbox/cashier", self.app.url)).send().await.unwrap().json().await.unwrap();
        bearer(&self.app, creds["client_id"].as_str().unwrap(), creds["client_secret"].as_str().unwrap(), "benefit:use").await
    }

    async fn use_code(&self, code: &str) -> (StatusCode, Value) {
        let t = self.cashier_token().await;
        let res = self.app.client.post(format!("{}{USE}", self.app.url)).bearer_auth(t).json(&json!({"benefitCode": code})).send().await.unwrap();
        (res.status(), res.json().await.unwrap())
    }

    async fn left(&self, id: &str) -> i64 {
        templates::find(self.app.db(), id).await.unwrap().unwrap().budget_left
    }
}

/// Waits (up to 20 s) until `check` gives a value.
async fn until<T, F, Fut>(mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..400 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out");
}

#[tokio::test]
async fn the_three_flows_run_end_to_end_against_the_sandbox_platform() {
    let s = Sandbox::spawn().await;
    // Flow 1: sync, review, notify; the operator releases it in the super app
    assert_eq!(s.synced("LOOP-1", 10, true).await, "SUCCESS");
    let benefit = s.state().await["benefits"][0].clone();
    assert_eq!((benefit["templateId"].as_str(), benefit["released"].as_bool(), benefit["clientCodes"][0].as_str()), (Some("LOOP-1"), Some(true), Some("SANDBOXAPP")));
    assert_eq!(benefit["content"]["amount"], json!({"currency": "VND", "value": "50000"}));
    // Flow 2: a user collects it
    let c = s.collect("2188000000000001", "LOOP-1").await;
    assert_eq!((c["outcome"].as_str(), c["attempts"].as_u64()), (Some("COLLECTED"), Some(1)), "{c}");
    let code = c["vouchers"][0]["benefitCode"].as_str().unwrap().to_string();
    assert_eq!(c["vouchers"][0]["status"], "ACTIVATED");
    assert_eq!(s.left("LOOP-1").await, 9);
    // Flow 3: the shop's cashier uses it; the platform deactivates it
    let (status, used) = s.use_code(&code).await;
    assert_eq!((status, used["data"]["status"].as_str()), (StatusCode::OK, Some("USED")), "{used}");
    until(|| async { (s.state().await["collects"][0]["vouchers"][0]["status"] == "USED").then_some(()) }).await;
    // our side records the platform's answer once it has it
    let instance = c["vouchers"][0]["benefitInstanceId"].as_str().unwrap();
    until(|| async {
        let i = domain::benefits::instances::find(s.app.db(), instance).await.unwrap().unwrap();
        (i.use_sync_status == Some(domain::benefits::instances::UseSync::Success)).then_some(())
    })
    .await;
    let (status, again) = s.use_code(&code).await;
    assert_eq!((status, error_code(status, &again).as_str()), (StatusCode::CONFLICT, "BENEFIT_ALREADY_USED"));
    // the platform verified every signature of ours: no refusal of that kind in its log
    assert!(s.log().await.iter().all(|l| !l["outcome"].as_str().unwrap().contains("signature")), "{:?}", s.log().await);
}

#[tokio::test]
async fn a_review_failure_reaches_the_operator_by_notify_or_by_inquiry() {
    let s = Sandbox::spawn().await;
    s.sandbox("/sandbox/knobs", json!({"review": "AUDIT_FAIL"})).await;
    assert_eq!(s.synced("AUDIT-1", 5, false).await, "FAIL");
    let t = templates::find(s.app.db(), "AUDIT-1").await.unwrap().unwrap().sync.unwrap();
    assert_eq!(t.fail_code.as_deref(), Some("AUDIT_FAIL"));
    assert!(t.fail_reason.unwrap().contains("review"));
    // without the notify, our inquiry finds the result
    s.sandbox("/sandbox/knobs", json!({"review": "SYNC_CLIENT_FAIL", "skipNotify": true})).await;
    assert_eq!(s.synced("CLIENT-1", 5, false).await, "FAIL");
    let t = templates::find(s.app.db(), "CLIENT-1").await.unwrap().unwrap().sync.unwrap();
    assert_eq!(t.fail_code.as_deref(), Some("SYNC_CLIENT_FAIL"));
    assert!(s.log().await.iter().any(|l| l["api"] == "inquireBenefitSync"));
    // the immutable fields cannot change on our side once synced
    let change = domain::benefits::templates::TemplateChange { budget: Some(6), ..Default::default() };
    assert!(matches!(templates::update(s.app.db(), "CLIENT-1", &change, domain::now_ms()).await, Err(domain::benefits::BenefitError::Immutable("benefitBudget"))));
}

#[tokio::test]
async fn dropped_answers_and_duplicates_are_retried_to_the_same_benefits_and_a_spent_retry_is_reversed() {
    let s = Sandbox::spawn().await;
    s.synced("KNOB-1", 10, true).await;
    // our answer dropped once: the platform retries the same id and gets the same benefit
    s.sandbox("/sandbox/knobs", json!({"dropResponses": 1})).await;
    let c = s.collect("U-DROP", "KNOB-1").await;
    assert_eq!((c["outcome"].as_str(), c["attempts"].as_u64()), (Some("COLLECTED"), Some(2)), "{c}");
    assert_eq!(s.left("KNOB-1").await, 9, "one benefit for two requests");
    // three copies at once: one benefit
    s.sandbox("/sandbox/knobs", json!({"duplicates": 2})).await;
    let c = s.collect("U-DUP", "KNOB-1").await;
    assert_eq!(c["outcome"], "COLLECTED");
    assert_eq!(s.left("KNOB-1").await, 8);
    let id = c["issueRequestId"].as_str().unwrap().to_string();
    let dups: Vec<Value> = s.log().await.into_iter().filter(|l| l["requestId"] == id.as_str() && l["outcome"].as_str().unwrap().starts_with("duplicate")).collect();
    assert_eq!(dups.len(), 2, "{dups:?}");
    assert!(dups.iter().all(|l| l["outcome"].as_str().unwrap().contains("issued 1")), "{dups:?}");
    s.sandbox("/sandbox/knobs", json!({"duplicates": 0})).await;
    // every answer dropped: after its retries the platform reverses, and the budget comes back
    s.sandbox("/sandbox/knobs", json!({"dropResponses": 3})).await;
    let c = s.collect("U-LOST", "KNOB-1").await;
    assert_eq!((c["outcome"].as_str(), c["attempts"].as_u64()), (Some("REVERSED"), Some(3)), "{c}");
    assert_eq!(s.left("KNOB-1").await, 8, "issued, then reversed");
    let id = c["issueRequestId"].as_str().unwrap().to_string();
    let lines: Vec<String> = s.log().await.into_iter().filter(|l| l["requestId"] == id.as_str()).map(|l| format!("{} {}", l["api"].as_str().unwrap(), l["outcome"].as_str().unwrap())).collect();
    assert!(lines.iter().any(|l| l.starts_with("reverseBenefitIssue reversed")), "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("inquireBenefitIssue success") && l.contains("REVERSED")), "{lines:?}");
    // a reversal that arrives before its issue: the late issue is refused, nothing is taken
    s.sandbox("/sandbox/knobs", json!({"reverseFirst": true})).await;
    let c = s.collect("U-EARLY", "KNOB-1").await;
    assert_eq!((c["outcome"].as_str(), c["resultCode"].as_str()), (Some("FAILED"), Some("PROCESS_FAIL")), "{c}");
    assert_eq!(s.left("KNOB-1").await, 8);
}

#[tokio::test]
async fn sync_used_benefit_is_retried_through_two_unknowns_and_a_timeout_with_one_request_id() {
    let s = Sandbox::spawn().await;
    s.synced("USED-1", 5, true).await;
    let c = s.collect("U-1", "USED-1").await;
    let code = c["vouchers"][0]["benefitCode"].as_str().unwrap().to_string();
    // U, U, then an answer after 1.5 s (our timeout is 0.5 s), then the real answer
    s.sandbox("/sandbox/knobs", json!({"usedSyncScript": ["U", "U", "timeout"], "timeoutMs": 1500})).await;
    assert_eq!(s.use_code(&code).await.0, StatusCode::OK);
    let instance = c["vouchers"][0]["benefitInstanceId"].as_str().unwrap().to_string();
    let settled = until(|| async {
        let i = domain::benefits::instances::find(s.app.db(), &instance).await.unwrap().unwrap();
        (i.use_sync_status == Some(domain::benefits::instances::UseSync::Success)).then_some(i)
    })
    .await;
    let use_request_id = settled.use_request_id.unwrap();
    let calls: Vec<String> =
        s.log().await.into_iter().filter(|l| l["api"] == "syncUsedBenefit").map(|l| format!("{} {}", l["requestId"].as_str().unwrap(), l["outcome"].as_str().unwrap())).collect();
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert!(calls.iter().all(|c| c.starts_with(&use_request_id)), "one benefitUseRequestId: {calls:?}");
    assert!(calls[0].ends_with("U (scripted)") && calls[1].ends_with("U (scripted)") && calls[2].contains("timeout") && calls[3].ends_with("deactivated"), "{calls:?}");
    // the job's last attempt is recorded as it finishes
    until(|| async {
        let state: String = sqlx::query_scalar("SELECT state FROM outbox_jobs WHERE kind = 'benefits.sync_used'").fetch_one(s.app.db().pool()).await.unwrap();
        (state == "done").then_some(())
    })
    .await;
    let outcomes: Vec<String> = sqlx::query_scalar(
        "SELECT a.outcome FROM outbox_attempts a JOIN outbox_jobs j ON j.id = a.job_id WHERE j.kind = 'benefits.sync_used' ORDER BY a.attempt",
    )
    .fetch_all(s.app.db().pool())
    .await
    .unwrap();
    assert_eq!(outcomes, ["retry", "retry", "retry", "ok"]);
    until(|| async { (s.state().await["collects"][0]["vouchers"][0]["status"] == "USED").then_some(()) }).await;
}
