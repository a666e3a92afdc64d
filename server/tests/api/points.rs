//! The SkyJoy point APIs over HTTP: accrual by the partner's earning rule, redemption without
//! overdraft (also under many parallel requests), idempotent retries, lookups, and each code.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{
    helpers::{self, TestApp},
    oidc::register,
    skyjoy::{error_code, get, post, ONBOARD},
};

const ACCRUAL: &str = "/api-point/partner/v1/point-accrual";
const REDEMPTION: &str = "/api-point/partner/v1/point-redemption";
const LOOKUP: &str = "/api-point/partner/v1/lookup-transaction-id";

async fn member(app: &TestApp, token: &str, phone: &str) -> String {
    helpers::member(app, token, phone, "Point Member").await
}

fn accrual(skyjoy_id: &str, txn: &str, amount: i64) -> Value {
    json!({"skyjoyId": skyjoy_id, "transactionId": txn, "transactionDate": 1_678_896_000_000i64, "transactionAmount": amount,
           "transactionCurrency": "VND", "transactionDes": {"product": "Coffee"}})
}

fn redemption(skyjoy_id: &str, txn: &str, used: i64) -> Value {
    json!({"skyjoyId": skyjoy_id, "transactionId": txn, "transactionDate": "2024-10-09T07:25:37.784Z", "transactionAmount": 55_000,
           "usedPoint": used, "product": {"id": "prod123"}})
}

#[tokio::test]
async fn accrue_redeem_and_look_up_in_skyjoys_wire_format() {
    let app = TestApp::spawn().await;
    let (_, t) = helpers::partner(&app, "shop").await;
    let sj = member(&app, &t, "0912000111").await;

    // 1 point per 10,000 VND, rounded down (the default rule)
    let (status, body) = post(&app, &t, ACCRUAL, accrual(&sj, "A-1", 152_123)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    assert_eq!((data["point"].as_i64(), data["oldBalance"].as_i64(), data["newBalance"].as_i64()), (Some(15), Some(0), Some(15)));
    let bit = data["bitReference"].as_str().unwrap().to_string();
    assert!(bit.len() == 26 && bit.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()), "{bit}");
    assert!(data["timestamp"].as_str().unwrap().ends_with('Z'));

    let (status, again) = post(&app, &t, ACCRUAL, accrual(&sj, "A-1", 152_123)).await;
    assert_eq!((status, again["data"]["bitReference"].as_str()), (StatusCode::OK, Some(bit.as_str())), "a retry is the same transaction");
    let (status, body) = post(&app, &t, ACCRUAL, accrual(&sj, "A-1", 999_999)).await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::BAD_REQUEST, "DUPLICATE_TRANSACTION"));

    let (status, body) = post(&app, &t, REDEMPTION, redemption(&sj, "R-1", 16)).await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::BAD_REQUEST, "INSUFFICIENT_BALANCE"));
    let (status, body) = post(&app, &t, REDEMPTION, redemption(&sj, "R-1", 13)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["data"]["usedPoint"].as_i64(), body["data"]["newBalance"].as_i64()), (Some(13), Some(2)));

    let (_, profile) = get(&app, &t, &format!("/api-user/partner/v1/user-profile/{sj}")).await;
    assert_eq!(profile["data"]["pointBalance"].as_i64(), Some(2));

    for key in [json!({"skyjoyId": sj, "bitReference": bit}), json!({"skyjoyId": sj, "transactionId": "A-1"})] {
        let (status, body) = post(&app, &t, LOOKUP, key).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let d = &body["data"];
        assert_eq!((d["transactionType"].as_str(), d["transactionPoint"].as_i64(), d["transactionAmount"].as_i64()), (Some("ACCRUAL"), Some(15), Some(152_123)));
        assert!(d["transactionTime"].as_str().unwrap().ends_with("+07:00"), "{d}");
    }
    let (_, t2) = helpers::partner(&app, "airline").await;
    let (status, body) = post(&app, &t2, LOOKUP, json!({"skyjoyId": sj, "transactionId": "A-1"})).await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::NOT_FOUND, "TRANSACTION_NOT_FOUND"), "another partner's transaction");

    // each field's code; never a 500
    let mut bad_date = accrual(&sj, "A-2", 10_000);
    bad_date["transactionDate"] = json!("yesterday");
    let mut no_amount = accrual(&sj, "A-3", 10_000);
    no_amount.as_object_mut().unwrap().remove("transactionAmount");
    let mut item_list = accrual(&sj, "A-8", 10_000);
    item_list["itemId"] = json!([]);
    let mut des_number = redemption(&sj, "R-3", 1);
    des_number["transactionDes"] = json!(42);
    for (path, body, code) in [
        (ACCRUAL, accrual("SJ12", "A-4", 10_000), "INVALID_SKYJOY_ID"),
        (ACCRUAL, accrual("SJ0000000000", "A-4", 10_000), "MEMBER_NOT_FOUND"),
        (ACCRUAL, accrual(&sj, "", 10_000), "INVALID_TRANSACTION_ID"),
        (ACCRUAL, bad_date, "INVALID_TRANSACTION_DATE"),
        (ACCRUAL, no_amount, "INVALID_TRANSACTION_AMOUNT"),
        (ACCRUAL, accrual(&sj, "A-5", -1), "INVALID_TRANSACTION_AMOUNT"),
        (ACCRUAL, accrual(&sj, "A-6", 9_999), "NO_POINTS_EARNED"),
        (REDEMPTION, redemption(&sj, "R-2", 0), "INVALID_USED_POINT"),
        (ACCRUAL, item_list, "INVALID_ITEM_ID"),
        (REDEMPTION, des_number, "INVALID_TRANSACTION_DES"),
        (LOOKUP, json!({"skyjoyId": sj}), "BAD_REQUEST"),
    ] {
        let (status, res) = post(&app, &t, path, body.clone()).await;
        assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND, "{body}: {status}");
        assert_eq!(error_code(status, &res), code, "{body}");
    }
    let (_, profile) = get(&app, &t, &format!("/api-user/partner/v1/user-profile/{sj}")).await;
    assert_eq!(profile["data"]["pointBalance"].as_i64(), Some(2), "no refused request moved a point");
    let (status, body) = post(&app, "not-a-token", ACCRUAL, accrual(&sj, "A-7", 10_000)).await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"));
    app.stop().await;
}

#[tokio::test]
async fn many_parallel_redemptions_and_retried_accruals_never_overdraw_or_double_credit() {
    let one_per_vnd = domain::ledger::EarningRule { vnd_per_point: 1, ..Default::default() };
    let app = TestApp::spawn_with(|c| {
        c.earning_by_partner.insert("shop".into(), one_per_vnd);
    })
    .await;
    let (_, t) = helpers::partner(&app, "shop").await;
    let sj = member(&app, &t, "0912000222").await;
    let (status, _) = post(&app, &t, ACCRUAL, accrual(&sj, "SEED", 1_000)).await;
    assert_eq!(status, StatusCode::OK);

    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for i in 0..48 {
        let (app, t, sj) = (app.clone(), t.clone(), sj.clone());
        tasks.push(tokio::spawn(async move {
            let (r, _) = post(&app, &t, REDEMPTION, redemption(&sj, &format!("R{i}"), 100)).await;
            // 8 accruals of 50 points, each sent 6 times
            let (a, body) = post(&app, &t, ACCRUAL, accrual(&sj, &format!("A{}", i % 8), 50)).await;
            assert_eq!(a, StatusCode::OK, "{body}");
            (r == StatusCode::OK, body["data"]["bitReference"].as_str().unwrap().to_string())
        }));
    }
    let mut redeemed = 0;
    let mut accrual_refs = std::collections::BTreeSet::new();
    for task in tasks {
        let (ok, bit) = task.await.unwrap();
        redeemed += i64::from(ok);
        accrual_refs.insert(bit);
    }
    assert_eq!(accrual_refs.len(), 8, "each retried accrual credited once");
    let (_, profile) = get(&app, &t, &format!("/api-user/partner/v1/user-profile/{sj}")).await;
    let balance = profile["data"]["pointBalance"].as_i64().unwrap();
    assert_eq!(balance, 1_000 + 8 * 50 - 100 * redeemed);
    assert!(balance >= 0 && redeemed <= 14, "redeemed {redeemed}, balance {balance}");
    assert!(domain::ledger::inconsistent_accounts(app.db()).await.unwrap().is_empty());
}

const LOCK: &str = "/api-point/partner/v1/point-lock";
const RELEASE: &str = "/api-point/partner/v1/point-lock/release";
const CAPTURE: &str = "/api-point/partner/v1/point-lock/capture";

#[tokio::test]
async fn locked_points_are_held_then_captured_or_released_with_their_codes() {
    let app = TestApp::spawn().await;
    let (_, t) = helpers::partner(&app, "shop").await;
    let sj = member(&app, &t, "0912000333").await;
    post(&app, &t, ACCRUAL, accrual(&sj, "SEED", 1_000_000)).await; // 100 points

    let (status, body) = post(&app, &t, LOCK, json!({"skyjoyId": sj, "transactionId": "ORDER-1", "lockPoint": 60, "expiresIn": 600})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let d = &body["data"];
    assert_eq!((d["state"].as_str(), d["lockedPoint"].as_i64(), d["availablePoint"].as_i64(), d["pointBalance"].as_i64()), (Some("HELD"), Some(60), Some(40), Some(100)));
    assert_eq!(d["lockReference"].as_str().unwrap().len(), 26);
    let (_, again) = post(&app, &t, LOCK, json!({"skyjoyId": sj, "transactionId": "ORDER-1", "lockPoint": 60})).await;
    assert_eq!(again["data"]["lockReference"], d["lockReference"], "a retried lock is the same lock");

    let (_, profile) = get(&app, &t, &format!("/api-user/partner/v1/user-profile/{sj}")).await;
    assert_eq!((profile["data"]["pointBalance"].as_i64(), profile["data"]["lockedPoint"].as_i64()), (Some(100), Some(60)));
    let (status, body) = post(&app, &t, REDEMPTION, redemption(&sj, "R-X", 41)).await;
    assert_eq!(error_code(status, &body), "INSUFFICIENT_BALANCE", "locked points cannot be redeemed");

    let (status, body) = post(&app, &t, CAPTURE, json!({"skyjoyId": sj, "transactionId": "ORDER-1", "usedPoint": 50, "transactionAmount": 500_000})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["data"]["usedPoint"].as_i64(), body["data"]["newBalance"].as_i64()), (Some(50), Some(50)));
    let (_, again) = post(&app, &t, CAPTURE, json!({"skyjoyId": sj, "transactionId": "ORDER-1"})).await;
    assert_eq!(again["data"]["bitReference"], body["data"]["bitReference"], "a second capture is the first");
    let (_, lookup) = post(&app, &t, LOOKUP, json!({"skyjoyId": sj, "transactionId": "ORDER-1"})).await;
    assert_eq!((lookup["data"]["transactionType"].as_str(), lookup["data"]["transactionPoint"].as_i64()), (Some("REDEMPTION"), Some(50)));

    post(&app, &t, LOCK, json!({"skyjoyId": sj, "transactionId": "ORDER-2", "lockPoint": 20})).await;
    let (status, body) = post(&app, &t, RELEASE, json!({"skyjoyId": sj, "transactionId": "ORDER-2"})).await;
    assert_eq!((status, body["data"]["state"].as_str(), body["data"]["availablePoint"].as_i64()), (StatusCode::OK, Some("RELEASED"), Some(50)));

    for (path, req, status, code) in [
        (RELEASE, json!({"skyjoyId": sj, "transactionId": "ORDER-1"}), StatusCode::CONFLICT, "LOCK_NOT_ACTIVE"),
        (CAPTURE, json!({"skyjoyId": sj, "transactionId": "ORDER-2"}), StatusCode::CONFLICT, "LOCK_NOT_ACTIVE"),
        (CAPTURE, json!({"skyjoyId": sj, "transactionId": "NOPE"}), StatusCode::NOT_FOUND, "LOCK_NOT_FOUND"),
        (LOCK, json!({"skyjoyId": sj, "transactionId": "ORDER-3", "lockPoint": 51}), StatusCode::BAD_REQUEST, "INSUFFICIENT_BALANCE"),
        (LOCK, json!({"skyjoyId": sj, "transactionId": "ORDER-3", "lockPoint": 0}), StatusCode::BAD_REQUEST, "INVALID_LOCK_POINT"),
        (LOCK, json!({"skyjoyId": sj, "transactionId": "ORDER-3", "lockPoint": 5, "expiresIn": 604_801}), StatusCode::BAD_REQUEST, "INVALID_EXPIRES_IN"),
        (LOCK, json!({"skyjoyId": sj, "transactionId": "ORDER-2", "lockPoint": 21}), StatusCode::BAD_REQUEST, "DUPLICATE_TRANSACTION"),
        (CAPTURE, json!({"skyjoyId": sj, "transactionId": "ORDER-1", "usedPoint": -1}), StatusCode::BAD_REQUEST, "INVALID_USED_POINT"),
    ] {
        let (s, res) = post(&app, &t, path, req.clone()).await;
        assert_eq!((s, error_code(s, &res).as_str()), (status, code), "{req}");
    }
    assert!(domain::ledger::inconsistent_accounts(app.db()).await.unwrap().is_empty());
    assert!(domain::ledger::holds::inconsistent_locks(app.db()).await.unwrap().is_empty());
    app.stop().await;
}

const WITH_TOKEN: &str = "/api-point/partner/v1/point-redemption-with-token";

#[tokio::test]
async fn a_redemption_with_token_spends_exactly_what_the_member_confirmed() {
    use domain::ledger::sign::{self, TxnData};
    let app = TestApp::spawn().await;
    let (_, t) = helpers::partner(&app, "shop").await;
    let sj = member(&app, &t, "0912000555").await;
    post(&app, &t, ACCRUAL, accrual(&sj, "SEED", 1_000_000)).await; // 100 points
    let m = domain::identity::members::find_by_skyjoy_id(app.db(), &domain::identity::SkyJoyId::parse(&sj).unwrap()).await.unwrap().unwrap();
    // what the member confirmed on /account/redeem (the page issues the same token)
    let issuer = app.url.clone();
    let keys = domain::identity::signing_keys::KeyRing::load_or_create(app.db(), domain::now_ms()).await.unwrap();
    let confirmed = TxnData {
        transaction_amount: 55_000,
        transaction_date: json!("2024-10-09T07:25:37.784Z"),
        transaction_id: "85e187d1".into(),
        used_point: 33,
        skyjoy_id: sj.clone(),
    };
    let good = sign::issue(&keys, &issuer, "shop", &m.id, &confirmed, domain::now_ms());
    let body = |sign: &str, used: i64| {
        json!({"transactionId": "85e187d1", "transactionDate": "2024-10-09T07:25:37.784Z", "transactionDes": "Save 10%",
               "transactionAmount": 55_000, "usedPoint": used, "skyjoyId": sj, "sign": sign})
    };
    let other_partner = sign::issue(&keys, &issuer, "airline", &m.id, &confirmed, domain::now_ms());
    let expired = sign::issue(&keys, &issuer, "shop", &m.id, &confirmed, domain::now_ms() - 1_801_000);
    for (req, why) in [
        (body(&good, 34), "more points than confirmed"),
        (body(&other_partner, 33), "issued for another partner"),
        (body(&expired, 33), "older than 30 minutes"),
        (body("eyJhbGciOiJSUzI1NiJ9.e30.AAAA", 33), "not ours"),
        (body("", 33), "missing"),
    ] {
        let (status, res) = post(&app, &t, WITH_TOKEN, req).await;
        assert_eq!((status, error_code(status, &res).as_str()), (StatusCode::BAD_REQUEST, "INVALID_SIGN"), "{why}: {res}");
    }
    let (status, res) = post(&app, &t, WITH_TOKEN, body(&good, 33)).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!((res["data"]["usedPoint"].as_i64(), res["data"]["newBalance"].as_i64()), (Some(33), Some(67)));
    let (_, again) = post(&app, &t, WITH_TOKEN, body(&good, 33)).await;
    assert_eq!(again["data"]["bitReference"], res["data"]["bitReference"], "a retry is the same redemption, spent once");
    app.stop().await;
}

#[tokio::test]
async fn each_partner_gets_only_the_scopes_it_was_given() {
    use crate::oidc::token;
    let app = TestApp::spawn().await;
    let (_, full) = helpers::partner(&app, "shop").await;
    let sj = member(&app, &full, "0912000666").await;
    post(&app, &full, ACCRUAL, accrual(&sj, "SEED", 100_000)).await;

    let spec = domain::identity::clients::ClientSpec {
        client_id: "reporting".into(),
        name: "Reporting tool".into(),
        confidential: true,
        redirect_uris: vec!["https://reporting.example/cb".into()],
        scopes: vec!["point:read".into(), "user:read".into()],
        ..Default::default()
    };
    let (_, secret) = domain::identity::clients::register(app.db(), &spec, false, domain::now_ms()).await.unwrap();
    let secret = secret.unwrap();
    let (status, body) = token(&app, &[("grant_type", "client_credentials")], Some(("reporting", &secret))).await;
    assert_eq!((status, body["scope"].as_str()), (StatusCode::OK, Some("point:read user:read")), "{body}");
    let read_only = body["access_token"].as_str().unwrap().to_string();
    for asked in ["point:earn", "partner", "point:read point:redeem", "admin"] {
        let (status, body) = token(&app, &[("grant_type", "client_credentials"), ("scope", asked)], Some(("reporting", &secret))).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_scope")), "{asked}: {body}");
    }
    let (status, _) = get(&app, &read_only, &format!("/api-user/partner/v1/user-profile/{sj}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = post(&app, &read_only, LOOKUP, json!({"skyjoyId": sj, "transactionId": "SEED"})).await;
    assert_eq!((status, body["data"]["transactionId"].as_str()), (StatusCode::NOT_FOUND, None), "another partner's transaction: {body}");
    for (path, req) in [
        (ACCRUAL, accrual(&sj, "R-ACC", 100_000)),
        (REDEMPTION, redemption(&sj, "R-RED", 1)),
        (LOCK, json!({"skyjoyId": sj, "transactionId": "R-LOCK", "lockPoint": 1})),
        (ONBOARD, json!({"phone": "0912000667", "fullName": "Not Allowed"})),
    ] {
        let (status, body) = post(&app, &read_only, path, req).await;
        assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::FORBIDDEN, "FORBIDDEN"), "{path}: {body}");
    }
    // a narrower token from a full partner works for what it names only
    let (_, body) = token(&app, &[("grant_type", "client_credentials"), ("scope", "point:earn")], Some(("shop", &secret_of_shop(&app).await))).await;
    let earn_only = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(post(&app, &earn_only, ACCRUAL, accrual(&sj, "E-1", 100_000)).await.0, StatusCode::OK);
    assert_eq!(post(&app, &earn_only, REDEMPTION, redemption(&sj, "E-2", 1)).await.0, StatusCode::FORBIDDEN);
    app.stop().await;
}

/// A new secret for the `shop` client (registering again rotates it).
async fn secret_of_shop(app: &TestApp) -> String {
    register(app, "shop", true).await.unwrap()
}
