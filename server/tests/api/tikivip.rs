//! The Tiki-side VIP APIs over HTTP, signed as a payment partner signs them: the official
//! signature vector's recipe, each refusal (bad signature, old timestamp, unknown client,
//! replay), the webview link, IPNs (duplicate, out of order, each code) and the flat
//! transaction answer.

use domain::{
    signing::tikivip as sig,
    tikivip::{
        customers,
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
    crate::helpers::tiki_partner(app.db(), code, client_id, SECRET).await;
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

/// The whole loop against the sandbox payment partner (a real program on its own port): the
/// partner opens the webview, the customer pays (or the IPN is lost, or comes twice), refunds.
mod with_the_sandbox_partner {
    use std::time::Duration;

    use domain::tikivip::{
        customers::CustomerRequest,
        gateway,
        partners,
        payments::{self, Status},
        refunds, Plan,
    };
    use joygate::{sandbox::payment_partner::PARTNER_CODE, tikivip_partner::HttpPartnerApi};
    use reqwest::StatusCode;

    use crate::helpers::TestApp;

    async fn wait_for_status(app: &TestApp, id: &str, want: Status) -> payments::Payment {
        for _ in 0..100 {
            let p = payments::find(app.db(), id).await.unwrap().unwrap();
            if p.status == want {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{id} never became {want:?}");
    }

    /// A customer of the sandbox partner with an open payment for `plan`, created at the partner.
    async fn checkout(app: &TestApp, code: &str, plan: &Plan) -> gateway::Checkout {
        let req = CustomerRequest { identify_code: code.into(), phone: "0912345678".into(), full_name: None };
        let c = domain::tikivip::customers::open_link(app.db(), PARTNER_CODE, &req, 60_000, domain::now_ms()).await.unwrap().customer;
        let api = HttpPartnerApi::new().unwrap();
        let result_url = format!("{}/apps/vn.tiki.vip/callback/index", app.url);
        let first = gateway::checkout(app.db(), &api, &c, plan, &result_url, domain::now_ms()).await.unwrap();
        let again = gateway::checkout(app.db(), &api, &c, plan, &result_url, domain::now_ms()).await.unwrap();
        assert_eq!(first, again, "a second tap is the same payment at the same partner transaction");
        first
    }

    async fn decide(app: &TestApp, open_url: &str, decision: &str) -> reqwest::Response {
        let res = app.client.post(open_url).form(&[("decision", decision)]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{open_url}");
        res
    }

    #[tokio::test]
    async fn paid_then_refunded_partly_then_fully() {
        let app = TestApp::spawn().await;
        let plans = Plan::defaults();
        let done = checkout(&app, "W-1", &plans[0]).await;
        let back = decide(&app, &done.open_url, "success").await;
        let location = back.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with(&format!("{}/apps/vn.tiki.vip/callback/index?", app.url)) && location.contains(&done.payment.tiki_transaction_id), "{location}");
        let paid = wait_for_status(&app, &done.payment.tiki_transaction_id, Status::Success).await;
        assert!(paid.vip_granted && paid.partner_banking_method.as_deref() == Some("SANDBOX_WALLET"));
        let customer = || async { domain::tikivip::customers::find(app.db(), &paid.customer_id).await.unwrap().unwrap() };
        assert!(customer().await.is_vip(domain::now_ms()));

        // a duplicate IPN from the partner changes nothing
        let pay = app.server.as_ref().unwrap().payment_partner_url.clone().unwrap();
        let resend = app.client.post(format!("{pay}/sandbox/resend-ipn?transaction_id={}", paid.partner_transaction_id.clone().unwrap())).send().await.unwrap();
        assert_eq!(resend.status(), StatusCode::OK);
        assert_eq!(payments::find(app.db(), &paid.tiki_transaction_id).await.unwrap().unwrap().updated_at_ms, paid.updated_at_ms);

        // the partner fails the first refund call: the outbox tries again
        app.client.post(format!("{pay}/sandbox/fail-refunds?count=1")).send().await.unwrap();
        refunds::request(app.db(), &paid.tiki_transaction_id, 30_000, "goodwill", "RF-1", domain::now_ms()).await.unwrap();
        refunds::request(app.db(), &paid.tiki_transaction_id, 69_000, "cancelled plan", "RF-2", domain::now_ms()).await.unwrap();
        for _ in 0..200 {
            if payments::find(app.db(), &paid.tiki_transaction_id).await.unwrap().unwrap().refunded_amount == 99_000 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let refunded = payments::find(app.db(), &paid.tiki_transaction_id).await.unwrap().unwrap();
        assert_eq!((refunded.refunded_amount, refunded.vip_granted), (99_000, false), "{:?}", refunds::of_payment(app.db(), &paid.tiki_transaction_id).await);
        assert!(!customer().await.is_vip(domain::now_ms()), "a full refund takes the VIP back");
        assert!(refunds::request(app.db(), &paid.tiki_transaction_id, 1, "more", "RF-3", domain::now_ms()).await.is_err());
        app.stop().await;
    }

    #[tokio::test]
    async fn a_lost_ipn_is_found_by_the_pending_check_and_failures_grant_nothing() {
        let app = TestApp::spawn_with(|c| {
            c.tikivip.pending_check_after_s = 0;
            c.tikivip.pending_check_every_s = 1;
        })
        .await;
        let plans = Plan::defaults();
        let dropped = checkout(&app, "W-2", &plans[1]).await;
        decide(&app, &dropped.open_url, "drop-ipn").await;
        let found = wait_for_status(&app, &dropped.payment.tiki_transaction_id, Status::Success).await;
        assert!(found.vip_granted, "granted once the check found the payment");

        let failed = checkout(&app, "W-3", &plans[0]).await;
        decide(&app, &failed.open_url, "fail").await;
        let cancelled = checkout(&app, "W-4", &plans[0]).await;
        decide(&app, &cancelled.open_url, "cancel").await;
        for id in [&failed.payment.tiki_transaction_id, &cancelled.payment.tiki_transaction_id] {
            let p = wait_for_status(&app, id, Status::Failure).await;
            assert!(!p.vip_granted);
        }
        // the customer may try again: a new payment, since the failed one is closed
        let again = checkout(&app, "W-3", &plans[0]).await;
        assert_ne!(again.payment.tiki_transaction_id, failed.payment.tiki_transaction_id);
        assert!(partners::by_code(app.db(), PARTNER_CODE).await.unwrap().is_some());
        app.stop().await;
    }
}

/// Reconciliation (issue 5): our daily file through the signed API and in OUTBOUND, T+1 only, and
/// a partner file dropped in INBOUND compared, answered with its mismatches and archived.
mod reconciliation {
    use std::{path::Path, time::Duration};

    use domain::tikivip::{
        customers::{self, CustomerRequest},
        payments::{self, Report, Status},
        reconcile::{Day, HEADER, MISMATCH_HEADER},
        Plan,
    };
    use reqwest::StatusCode;

    use super::{signed, CLIENT_ID, SECRET};
    use crate::helpers::TestApp;

    /// A payment of `partner` created at `at`, settled `status` a minute later at the partner's
    /// transaction `partner_id` (when given).
    async fn payment(db: &domain::Db, partner: &str, customer: &str, at: i64, status: Status, partner_id: Option<&str>) -> payments::Payment {
        let req = CustomerRequest { identify_code: customer.into(), phone: "0912345678".into(), full_name: None };
        let c = customers::open_link(db, partner, &req, 60_000, at).await.unwrap().customer;
        let (p, _) = payments::open_payment(db, &c, &Plan::defaults()[0], at).await.unwrap();
        if let Some(id) = partner_id {
            payments::attach_partner_transaction(db, &p.tiki_transaction_id, id, "http://pay", at).await.unwrap();
        }
        if status != Status::Pending {
            let report = Report {
                partner_code: partner.into(),
                tiki_transaction_id: p.tiki_transaction_id.clone(),
                partner_transaction_id: None,
                amount: None,
                status,
                banking_method: None,
            };
            payments::apply_report(db, &Plan::defaults(), &report, at + 60_000).await.unwrap();
        }
        payments::find(db, &p.tiki_transaction_id).await.unwrap().unwrap()
    }

    /// A database with partners `walletx` (our signer) and `othery`, and payments made yesterday
    /// (Vietnam time) before the server starts, so its first scan writes yesterday's files whole.
    async fn database(dir: &Path) -> (joygate::config::Secret, domain::store::testing::TestDb, Day, Vec<payments::Payment>, payments::Payment) {
        let (url, guard) = crate::helpers::fresh_database(dir).await;
        let db = domain::Db::connect(url.expose()).await.unwrap();
        db.migrate().await.unwrap();
        for (code, client_id) in [("walletx", CLIENT_ID), ("othery", "other-client")] {
            crate::helpers::tiki_partner(&db, code, client_id, SECRET).await;
        }
        let day = Day::of(domain::now_ms()).previous();
        let at = day.start_ms() + 9 * 3_600_000;
        let ours = vec![
            payment(&db, "walletx", "A", at, Status::Success, Some("P-A")).await,
            payment(&db, "walletx", "B", at + 1_000, Status::Success, Some("P,\"B\"")).await,
            payment(&db, "walletx", "C", at + 2_000, Status::Success, Some("P-C")).await,
            payment(&db, "walletx", "E", at + 3_000, Status::Success, Some("P-E")).await,
            payment(&db, "walletx", "F", at + 4_000, Status::Pending, None).await,
        ];
        payment(&db, "othery", "O", at, Status::Success, Some("P-O")).await;
        let day_before = payment(&db, "walletx", "before", day.start_ms() - 1, Status::Success, Some("P-0")).await;
        db.close().await;
        (url, guard, day, ours, day_before)
    }

    async fn spawn(dir: &Path, url: &joygate::config::Secret) -> TestApp {
        TestApp::spawn_with(|c| {
            c.database_url = url.clone();
            c.tikivip.reconcile_dir = dir.join("reconcile");
            c.tikivip.reconcile_poll_s = 1;
        })
        .await
    }

    async fn get(app: &TestApp, query: &str) -> reqwest::Response {
        let ts = domain::now_ms();
        app.client
            .get(format!("{}/miniapp/tikivip/reconciliation?{query}", app.url))
            .header(domain::signing::tikivip::HEADER_TIMESTAMP, ts.to_string())
            .header(domain::signing::tikivip::HEADER_CLIENT_ID, CLIENT_ID)
            .header(domain::signing::tikivip::HEADER_SIGNATURE, domain::signing::tikivip::sign(SECRET.as_bytes(), ts, CLIENT_ID, b""))
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn yesterdays_file_is_served_signed_and_written_to_outbound_and_today_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (url, _db, day, ours, _) = database(dir.path()).await;
        let app = spawn(dir.path(), &url).await;

        let res = get(&app, &format!("date={day}&part=1")).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
        let name = format!("tikivip_walletx_{day}_1.csv");
        assert_eq!(res.headers()["content-disposition"].to_str().unwrap(), format!("attachment; filename=\"{name}\""));
        let csv = res.text().await.unwrap();
        let t = |ms: i64| domain::clock::vietnam_rfc3339(ms);
        let row = |p: &payments::Payment, transaction_id: &str| {
            format!("{},{transaction_id},99000,{},{},{}", p.tiki_transaction_id, p.status.as_str(), t(p.created_at_ms), t(p.updated_at_ms))
        };
        let expected = [
            HEADER.to_string(),
            row(&ours[0], "P-A"),
            row(&ours[1], "\"P,\"\"B\"\"\""),
            row(&ours[2], "P-C"),
            row(&ours[3], "P-E"),
            row(&ours[4], ""),
            String::new(),
        ];
        assert_eq!(csv.split("\r\n").collect::<Vec<_>>(), expected, "walletx's payments of that day only, CRLF");
        assert!(csv.contains(",SUCCESS,") && csv.contains(&format!("{}T09:00:01+07:00", &t(day.start_ms())[..10])), "{csv}");

        // the background task wrote the same file to OUTBOUND, and othery's own
        let outbound = dir.path().join("reconcile/OUTBOUND");
        assert_eq!(crate::helpers::wait_for_file(&outbound.join("walletx").join(&name)).await, csv);
        assert_eq!(crate::helpers::wait_for_file(&outbound.join(format!("othery/tikivip_othery_{day}_1.csv"))).await.lines().count(), 2);
        let before = crate::helpers::wait_for_file(&outbound.join(format!("walletx/tikivip_walletx_{}_1.csv", day.previous()))).await;
        assert_eq!(before.lines().count(), 2, "the days before are caught up");

        let code = |res: serde_json::Value| res["code"].as_i64();
        let today = Day::of(domain::now_ms());
        for (query, want) in [
            (format!("date={day}&part=2"), Some(3)),
            (format!("date={today}"), Some(1)),
            (format!("date={}", Day::of(domain::now_ms() + 86_400_000)), Some(1)),
            ("date=2026-11-23".to_string(), Some(1)),
            (format!("date={day}&part=0"), Some(1)),
            ("part=1".to_string(), Some(1)),
        ] {
            let res = get(&app, &query).await;
            assert_eq!(res.status(), StatusCode::OK, "{query}");
            assert_eq!(code(res.json().await.unwrap()), want, "{query}");
        }
        let path = format!("/miniapp/tikivip/reconciliation?date={day}");
        let (status, body) = signed(&app, reqwest::Method::GET, &path, None, CLIENT_ID, "not-the-secret", domain::now_ms()).await;
        assert_eq!((status, body["code"].as_i64()), (StatusCode::UNAUTHORIZED, Some(1)));
        let res = get(&app, &format!("date={day}")).await;
        assert_eq!(res.text().await.unwrap(), csv, "part 1 is the default");
        app.stop().await;
    }

    #[tokio::test]
    async fn a_partner_file_in_inbound_is_compared_answered_with_its_mismatches_and_archived() {
        let dir = tempfile::tempdir().unwrap();
        let (url, _db, day, ours, day_before) = database(dir.path()).await;
        let root = dir.path().join("reconcile");
        let (inbound, outbound, archived) = (root.join("INBOUND/walletx"), root.join("OUTBOUND/walletx"), root.join("ARCHIVED/walletx"));
        std::fs::create_dir_all(&inbound).unwrap();
        std::fs::create_dir_all(root.join("INBOUND/nobody")).unwrap();
        let name = format!("tikivip_walletx_{day}_1.csv");
        let id = |i: usize| ours[i].tiki_transaction_id.as_str();
        // their columns in another order, LF line ends: A matches, then one mismatch of each kind
        let theirs = format!(
            "status,tiki_transaction_id,transaction_amount,transaction_id,created_at,updated_at\n\
             SUCCESS,{a},99000,P-A,,\n\
             FAILURE,{b},99000,\"P,\"\"B\"\"\",,\n\
             SUCCESS,{c},98000,P-C,,\n\
             SUCCESS,{e},99000,P-X,,\n\
             SUCCESS,{day_}TIKIVIP-1-1,99000,P-G,,\n\
             SUCCESS,oops,99 000,P-H,,\n",
            a = id(0),
            b = id(1),
            c = id(2),
            e = id(3),
            day_ = &day.to_string()[2..],
        );
        std::fs::write(root.join("INBOUND/nobody").join(&name), &theirs).unwrap();
        std::fs::write(inbound.join("notes.txt"), "not a reconciliation file").unwrap();
        let today = format!("tikivip_walletx_{}_1.csv", Day::of(domain::now_ms()));
        std::fs::write(inbound.join(&today), format!("{HEADER}\n")).unwrap();
        // a day's second and last part waits for the first
        let earlier_day = day.previous();
        let part2 = format!("tikivip_walletx_{earlier_day}_2.csv");
        std::fs::write(inbound.join(&part2), format!("{HEADER}\n")).unwrap();
        std::fs::write(inbound.join(format!("{name}.tmp")), &theirs).unwrap();
        std::fs::rename(inbound.join(format!("{name}.tmp")), inbound.join(&name)).unwrap();

        let app = spawn(dir.path(), &url).await;
        let result = crate::helpers::wait_for_file(&outbound.join(format!("{name}.mismatches.csv"))).await;
        assert_eq!(
            result.split("\r\n").collect::<Vec<_>>(),
            [
                MISMATCH_HEADER.to_string(),
                format!("{},STATUS,SUCCESS,FAILURE,3", id(1)),
                format!("{},AMOUNT,99000,98000,4", id(2)),
                format!("{},TRANSACTION_ID,P-E,P-X,5", id(3)),
                format!("{}TIKIVIP-1-1,MISSING_AT_TIKI,,SUCCESS,6", &day.to_string()[2..]),
                "oops,INVALID_ROW,,\"transaction_amount must be a whole number of VND, not \"\"99 000\"\"\",7".to_string(),
                format!("{},MISSING_AT_PARTNER,PENDING,,", id(4)),
                String::new(),
            ]
        );
        // the mismatch file is published before the partner's file is archived: wait for both
        assert_eq!(crate::helpers::wait_for_file(&archived.join(&name)).await, theirs, "archived as it came");
        assert!(!inbound.join(&name).exists());
        assert!(inbound.join("notes.txt").is_file() && inbound.join(&today).is_file(), "a stranger and a day not over are left alone");
        assert!(root.join("INBOUND/nobody").join(&name).is_file() && !root.join("OUTBOUND/nobody").exists(), "not a partner's folder");
        assert!(inbound.join(&part2).is_file() && !outbound.join(format!("{part2}.mismatches.csv")).exists(), "waits for part 1");

        // part 1 comes (full, as far as the rule goes, only once it holds 500,000 rows): part 2 follows it
        std::fs::write(inbound.join(format!("tikivip_walletx_{earlier_day}_1.csv")), format!("{HEADER}\n")).unwrap();
        let second = crate::helpers::wait_for_file(&outbound.join(format!("{part2}.mismatches.csv"))).await;
        assert_eq!(second, format!("{MISMATCH_HEADER}\r\n{},MISSING_AT_PARTNER,SUCCESS,,\r\n", day_before.tiki_transaction_id), "in neither part");
        crate::helpers::wait_for_file(&archived.join(&part2)).await;
        assert!(archived.join(&part2).is_file() && archived.join(format!("tikivip_walletx_{earlier_day}_1.csv")).is_file());

        // the same file sent again: compared again, the first archived copy kept aside
        std::fs::write(inbound.join(&name), format!("{HEADER}\n")).unwrap();
        for _ in 0..200 {
            if !inbound.join(&name).exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let again = crate::helpers::wait_for_file(&outbound.join(format!("{name}.mismatches.csv"))).await;
        assert_eq!(again.lines().filter(|l| l.contains("MISSING_AT_PARTNER")).count(), 5, "{again}");
        assert_eq!(std::fs::read_to_string(archived.join(&name)).unwrap(), format!("{HEADER}\n"));
        assert_eq!(std::fs::read_dir(&archived).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(&name)).count(), 2);
        app.stop().await;
    }
}
