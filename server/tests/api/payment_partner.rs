//! The sandbox payment partner over HTTP, as the Tiki side will use it: signed calls to
//! `/partner/v1`, the payment screen a tester taps, and IPNs to a "Tiki" in the test (a real
//! HTTP server on port 0) that checks every X-Tikivip signature and answers from a script.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{body::Bytes, extract::State, http::HeaderMap, routing::post as route_post, Json, Router};
use domain::signing::{tikivip, TimestampWindow};
use joygate::sandbox::payment_partner::{self, PaymentPartnerConfig};
use reqwest::{header, Client, Method, StatusCode};
use serde_json::{json, Value};
use tokio::{sync::watch, task::JoinHandle};

const CLIENT_ID: &str = "7f0c1d2e-3b4a-4c5d-9e8f-a1b2c3d4e5f6";
const SECRET: &str = "sandbox-wallet-secret";
const RETURN_URL: &str = "https://tiki.example/apps/vn.tiki.vip/callback/index?lang=vi";

/// The test's Tiki: records every IPN and answers from the script, then with code 0.
#[derive(Clone, Default)]
struct Tiki {
    received: Arc<Mutex<Vec<Value>>>,
    bad_signatures: Arc<Mutex<u32>>,
    script: Arc<Mutex<VecDeque<(StatusCode, Value)>>>,
}

async fn receive_ipn(State(tiki): State<Tiki>, headers: HeaderMap, body: Bytes) -> (StatusCode, Json<Value>) {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let timestamp = tikivip::parse_timestamp(&h(tikivip::HEADER_TIMESTAMP)).unwrap_or(0);
    let signed = h(tikivip::HEADER_CLIENT_ID) == CLIENT_ID
        && tikivip::verify(
            SECRET.as_bytes(),
            timestamp,
            CLIENT_ID,
            &body,
            &h(tikivip::HEADER_SIGNATURE),
            TimestampWindow::FIVE_MINUTES,
            domain::now_ms(),
        )
        .is_ok();
    if !signed {
        *tiki.bad_signatures.lock().unwrap() += 1;
        return (StatusCode::UNAUTHORIZED, Json(json!({"code": 1, "message": "bad signature"})));
    }
    let ipn: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(String::from_utf8_lossy(&body), ipn.to_string(), "compact JSON");
    tiki.received.lock().unwrap().push(ipn.clone());
    let scripted = tiki.script.lock().unwrap().pop_front();
    scripted
        .map(|(s, b)| (s, Json(b)))
        .unwrap_or((StatusCode::OK, Json(json!({"code": 0, "message": "success", "data": {"transaction_id": ipn["transaction_id"]}}))))
}

struct Sandbox {
    url: String,
    tiki: Tiki,
    client: Client,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Sandbox {
    async fn spawn() -> Sandbox {
        Self::spawn_with(vec![50, 100, 200]).await
    }

    async fn spawn_with(ipn_retry_ms: Vec<u64>) -> Sandbox {
        let tiki = Tiki::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tiki_url = format!("http://{}", listener.local_addr().unwrap());
        let router = Router::new().route("/miniapp/tikivip/payment/ipn", route_post(receive_ipn)).with_state(tiki.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let config = PaymentPartnerConfig {
            tiki_url,
            partner_code: "SANDBOXPAY".into(),
            client_id: CLIENT_ID.into(),
            client_secret: SECRET.into(),
            ipn_retry_ms,
        };
        let (shutdown, rx) = watch::channel(false);
        let (url, task) = payment_partner::start(config, "127.0.0.1:0".parse().unwrap(), None, rx).await.expect("payment partner starts");
        let client = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Sandbox { url, tiki, client, shutdown, task }
    }

    /// A call from Tiki signed with `client_id`/`secret` at `timestamp`.
    async fn call_as(&self, method: Method, path: &str, body: Option<&Value>, client_id: &str, secret: &str, timestamp: i64) -> (StatusCode, Value) {
        let raw = body.map(Value::to_string).unwrap_or_default();
        let res = self
            .client
            .request(method, format!("{}{path}", self.url))
            .header(header::CONTENT_TYPE, "application/json")
            .header(tikivip::HEADER_TIMESTAMP, timestamp.to_string())
            .header(tikivip::HEADER_CLIENT_ID, client_id)
            .header(tikivip::HEADER_SIGNATURE, tikivip::sign(secret.as_bytes(), timestamp, client_id, raw.as_bytes()))
            .body(raw)
            .send()
            .await
            .unwrap();
        (res.status(), res.json().await.unwrap())
    }

    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        self.call_as(method, path, body, CLIENT_ID, SECRET, domain::now_ms()).await
    }

    async fn create(&self, tiki_id: &str, amount: i64) -> Value {
        let body = json!({"tiki_transaction_id": tiki_id, "amount": amount, "description": "VIP 12 tháng", "identify_code": "CUS-1", "return_url": RETURN_URL});
        let (status, answer) = self.call(Method::POST, "/partner/v1/transactions", Some(&body)).await;
        assert_eq!((status, answer["code"].as_i64()), (StatusCode::OK, Some(0)), "{answer}");
        answer["data"].clone()
    }

    async fn check(&self, tiki_id: &str) -> Value {
        let (status, answer) = self.call(Method::GET, &format!("/partner/v1/transactions?tiki_transaction_id={tiki_id}"), None).await;
        assert_eq!(status, StatusCode::OK);
        answer
    }

    async fn refund(&self, created: &Value, amount: i64, request_id: &str) -> (StatusCode, Value) {
        let body = json!({
            "tiki_transaction_id": created["tiki_transaction_id"], "transaction_amount": amount,
            "transaction_id": created["transaction_id"], "reason": "customer asked", "request_id": request_id,
        });
        self.call(Method::POST, "/partner/v1/refunds", Some(&body)).await
    }

    /// The tester taps a button on the payment screen; returns the 303's Location.
    async fn decide(&self, created: &Value, decision: &str) -> String {
        let res = self.client.post(created["payment_url"].as_str().unwrap()).form(&[("decision", decision)]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        res.headers()[header::LOCATION].to_str().unwrap().to_string()
    }

    async fn screen(&self, created: &Value) -> String {
        let res = self.client.get(created["payment_url"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.text().await.unwrap()
    }

    fn received(&self) -> Vec<Value> {
        self.tiki.received.lock().unwrap().clone()
    }

    async fn wait_for_ipns(&self, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            if self.received().len() >= n {
                return self.received();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for {n} IPNs: {:?}", self.received());
    }

    /// Waits until no IPN delivery is queued or has a retry to come (the partner's own count):
    /// from then on no IPN arrives unless a payment is decided or an IPN resent.
    async fn settled(&self) {
        for _ in 0..200 {
            let answer: Value = self.client.get(format!("{}/sandbox/ipn-deliveries", self.url)).send().await.unwrap().json().await.unwrap();
            if answer["data"]["in_flight"] == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("IPN deliveries still under way");
    }

    async fn ipn_log(&self, transaction_id: &Value) -> Vec<Value> {
        let url = format!("{}/sandbox/ipn-log?transaction_id={}", self.url, transaction_id.as_str().unwrap());
        self.client.get(url).send().await.unwrap().json().await.unwrap()
    }

    async fn stop(self) {
        let _ = self.shutdown.send(true);
        tokio::time::timeout(Duration::from_secs(5), self.task).await.expect("stops promptly").unwrap();
    }
}

fn is_partner_id(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok() && id.len() == 36 && id == id.to_uppercase()
}

#[tokio::test]
async fn calls_without_a_valid_signature_are_refused_with_401() {
    let s = Sandbox::spawn().await;
    let body = json!({"tiki_transaction_id": "250101TIKIVIP-1-1735689600", "amount": 100_000, "description": "VIP", "identify_code": "CUS-1", "return_url": RETURN_URL});
    let path = "/partner/v1/transactions";
    let now = domain::now_ms();

    let unsigned = s.client.post(format!("{}{path}", s.url)).json(&body).send().await.unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unsigned.json::<Value>().await.unwrap()["code"], 1);
    let refused = [
        ("bad signature", s.call_as(Method::POST, path, Some(&body), CLIENT_ID, "another-secret", now).await),
        ("stale timestamp", s.call_as(Method::POST, path, Some(&body), CLIENT_ID, SECRET, now - 6 * 60_000).await),
        ("unknown client", s.call_as(Method::POST, path, Some(&body), "someone-else", SECRET, now).await),
        ("badly signed check", s.call_as(Method::GET, &format!("{path}?tiki_transaction_id=x"), None, CLIENT_ID, "another-secret", now).await),
    ];
    for (what, (status, answer)) in refused {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {answer}");
        assert_eq!(answer["code"], 1, "{what}: {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {answer}");
    }
    let tampered =
        s.client.post(format!("{}{path}", s.url)).header(tikivip::HEADER_TIMESTAMP, now.to_string()).header(tikivip::HEADER_CLIENT_ID, CLIENT_ID);
    let tampered = tampered.header(tikivip::HEADER_SIGNATURE, tikivip::sign(SECRET.as_bytes(), now, CLIENT_ID, body.to_string().as_bytes()));
    let res = tampered.json(&json!({"tiki_transaction_id": "250101TIKIVIP-1-1735689600", "amount": 1})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "a body other than the one signed");

    let (status, answer) = s.call(Method::POST, path, Some(&body)).await;
    assert_eq!((status, answer["code"].as_i64()), (StatusCode::OK, Some(0)), "{answer}");
    s.stop().await;
}

#[tokio::test]
async fn creating_is_idempotent_on_the_tiki_transaction_id() {
    let s = Sandbox::spawn().await;
    let tiki_id = "250101TIKIVIP-235784371-1735689600";
    let created = s.create(tiki_id, 1_000_000).await;
    let id = created["transaction_id"].as_str().unwrap();
    assert!(is_partner_id(id), "{created}");
    assert_eq!((created["tiki_transaction_id"].as_str(), created["status"].as_str()), (Some(tiki_id), Some("PENDING")));
    assert_eq!(created["payment_url"], format!("{}/pay/{id}", s.url));
    assert_eq!(created["deeplink"], format!("sandboxpay://pay?transaction_id={id}"));
    assert_eq!(s.create(tiki_id, 1_000_000).await, created, "the same request answers the same transaction");

    let create = |tiki: &str, amount: Value, return_url: &str| json!({"tiki_transaction_id": tiki, "amount": amount, "description": "VIP", "identify_code": "CUS-1", "return_url": return_url});
    let invalid = [
        ("another amount", create(tiki_id, json!(2_000_000), RETURN_URL)),
        ("zero", create("250101TIKIVIP-2-1735689600", json!(0), RETURN_URL)),
        ("negative", create("250101TIKIVIP-2-1735689600", json!(-5), RETURN_URL)),
        ("fraction", create("250101TIKIVIP-2-1735689600", json!(10.5), RETURN_URL)),
        ("relative return_url", create("250101TIKIVIP-2-1735689600", json!(10_000), "/callback")),
        ("no tiki id", create("", json!(10_000), RETURN_URL)),
        ("missing fields", json!({"tiki_transaction_id": "250101TIKIVIP-2-1735689600"})),
    ];
    for (what, body) in invalid {
        let (status, answer) = s.call(Method::POST, "/partner/v1/transactions", Some(&body)).await;
        assert_eq!((status, answer["code"].as_i64()), (StatusCode::OK, Some(1)), "{what}: {answer}");
    }

    let check = s.check(tiki_id).await;
    assert_eq!(check["code"], 0, "{check}");
    let d = &check["data"];
    assert_eq!(
        (d["transaction_id"].as_str(), d["status"].as_str(), d["amount"].as_i64(), d["refunded_amount"].as_i64()),
        (Some(id), Some("PENDING"), Some(1_000_000), Some(0))
    );
    assert!(d["updated_at"].as_i64().unwrap() > 1_700_000_000_000, "{d}");
    assert_eq!(s.check("250101TIKIVIP-9-1735689600").await["code"], 3);
    let (_, missing) = s.call(Method::GET, "/partner/v1/transactions", None).await;
    assert_eq!(missing["code"], 1);
    s.stop().await;
}

#[tokio::test]
async fn paying_sends_a_signed_ipn_and_a_second_tap_changes_nothing() {
    let s = Sandbox::spawn().await;
    let created = s.create("250101TIKIVIP-10-1735689600", 1_000_000).await;
    let (id, tiki_id) = (created["transaction_id"].as_str().unwrap(), created["tiki_transaction_id"].as_str().unwrap());

    let html = s.screen(&created).await;
    assert!(html.contains("name=\"viewport\""), "mobile first");
    assert!(html.contains("data-testid=\"pay-amount\">1.000.000 ₫<"), "{html}");
    assert!(html.contains("VIP 12 tháng"));
    for testid in ["pay-success", "pay-fail", "pay-cancel", "pay-drop-ipn"] {
        assert!(html.contains(&format!("data-testid=\"{testid}\"")), "{testid}");
    }

    let location = s.decide(&created, "success").await;
    let back = url::Url::parse(&location).unwrap();
    assert_eq!(location.split('?').next(), RETURN_URL.split('?').next());
    let query: Vec<(String, String)> = back.query_pairs().into_owned().collect();
    let expected = [("lang", "vi"), ("tiki_transaction_id", tiki_id), ("transaction_id", id), ("status", "SUCCESS")];
    assert_eq!(query, expected.map(|(k, v)| (k.to_string(), v.to_string())));

    let ipns = s.wait_for_ipns(1).await;
    assert_eq!(
        ipns[0],
        json!({"reference_transaction_id": tiki_id, "transaction_amount": 1_000_000, "transaction_id": id, "status": "SUCCESS", "partner_banking_method": "SANDBOX_WALLET"})
    );
    let d = s.check(tiki_id).await["data"].clone();
    assert_eq!((d["status"].as_str(), d["partner_banking_method"].as_str()), (Some("SUCCESS"), Some("SANDBOX_WALLET")));

    // A double tap or the back button: the first decision stands, no second IPN.
    let again = s.decide(&created, "fail").await;
    assert!(again.ends_with("&status=SUCCESS"), "{again}");
    let html = s.screen(&created).await;
    assert!(html.contains("data-testid=\"pay-status\">SUCCESS<"), "{html}");
    assert!(!html.contains("data-testid=\"pay-success\""), "no buttons once decided");
    s.settled().await;
    assert_eq!(s.received().len(), 1);
    assert_eq!(s.check(tiki_id).await["data"]["status"], "SUCCESS");
    let log = s.ipn_log(&created["transaction_id"]).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!((log[0]["attempt"].as_i64(), log[0]["http_status"].as_i64(), log[0]["code"].as_i64()), (Some(1), Some(200), Some(0)));
    assert_eq!(*s.tiki.bad_signatures.lock().unwrap(), 0);
    s.stop().await;
}

#[tokio::test]
async fn fail_and_cancel_are_told_to_tiki_as_failure() {
    let s = Sandbox::spawn().await;
    let failed = s.create("250101TIKIVIP-20-1735689600", 99_000).await;
    let cancelled = s.create("250101TIKIVIP-21-1735689600", 99_000).await;
    assert!(s.decide(&failed, "fail").await.ends_with("&status=FAILURE"));
    assert!(s.decide(&cancelled, "cancel").await.ends_with("&status=CANCELLED"));

    let ipns = s.wait_for_ipns(2).await;
    for created in [&failed, &cancelled] {
        let ipn = ipns.iter().find(|i| i["transaction_id"] == created["transaction_id"]).unwrap();
        assert_eq!(ipn["status"], "FAILURE", "{ipn}");
        assert_eq!(ipn["reference_transaction_id"], created["tiki_transaction_id"]);
    }
    assert_eq!(s.check("250101TIKIVIP-20-1735689600").await["data"]["status"], "FAILURE");
    assert_eq!(s.check("250101TIKIVIP-21-1735689600").await["data"]["status"], "CANCELLED");
    assert!(s.screen(&cancelled).await.contains("data-testid=\"pay-status\">CANCELLED<"));
    s.stop().await;
}

#[tokio::test]
async fn a_dropped_ipn_leaves_tiki_to_check_and_can_be_resent() {
    let s = Sandbox::spawn().await;
    let created = s.create("250101TIKIVIP-30-1735689600", 250_000).await;
    assert!(s.decide(&created, "drop-ipn").await.ends_with("&status=SUCCESS"));
    s.settled().await;
    assert!(s.received().is_empty(), "no IPN ever: {:?}", s.received());
    assert_eq!(s.check("250101TIKIVIP-30-1735689600").await["data"]["status"], "SUCCESS");

    // The duplicate-IPN knob: each resend is one more attempt, answered with its outcome.
    let resend = format!("{}/sandbox/resend-ipn?transaction_id={}", s.url, created["transaction_id"].as_str().unwrap());
    for n in 1..=2 {
        let answer: Value = s.client.post(&resend).send().await.unwrap().json().await.unwrap();
        assert_eq!((answer["data"]["outcome"].as_str(), answer["data"]["code"].as_i64()), (Some("delivered"), Some(0)), "{answer}");
        assert_eq!(s.received().len(), n);
    }
    assert_eq!(s.received()[0], s.received()[1]);
    let unknown = s.client.post(format!("{}/sandbox/resend-ipn?transaction_id=NOPE", s.url)).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let pending = s.create("250101TIKIVIP-31-1735689600", 250_000).await;
    let res =
        s.client.post(format!("{}/sandbox/resend-ipn?transaction_id={}", s.url, pending["transaction_id"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    s.stop().await;
}

#[tokio::test]
async fn a_failing_tiki_gets_the_ipn_on_a_retry() {
    let s = Sandbox::spawn().await;
    s.tiki
        .script
        .lock()
        .unwrap()
        .extend([(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": "down"})), (StatusCode::OK, json!({"code": 2, "message": "system error"}))]);
    let created = s.create("250101TIKIVIP-40-1735689600", 500_000).await;
    s.decide(&created, "success").await;
    let ipns = s.wait_for_ipns(3).await;
    assert!(ipns.iter().all(|i| *i == ipns[0]), "the same IPN each time");
    s.settled().await;
    assert_eq!(s.received().len(), 3, "nothing after the success");
    let log = s.ipn_log(&created["transaction_id"]).await;
    let seen: Vec<_> =
        log.iter().map(|a| (a["attempt"].as_i64().unwrap(), a["http_status"].as_i64(), a["code"].as_i64(), a["outcome"].as_str().unwrap())).collect();
    assert_eq!(seen, [(1, Some(500), None, "retry"), (2, Some(200), Some(2), "retry"), (3, Some(200), Some(0), "delivered")]);
    s.stop().await;
}

#[tokio::test]
async fn a_final_answer_is_not_retried_and_a_down_tiki_is_given_up_on() {
    let s = Sandbox::spawn().await;
    s.tiki.script.lock().unwrap().push_back((StatusCode::OK, json!({"code": 3, "message": "transaction not found"})));
    let refused = s.create("250101TIKIVIP-50-1735689600", 500_000).await;
    s.decide(&refused, "success").await;
    s.wait_for_ipns(1).await;
    s.settled().await;
    assert_eq!(s.received().len(), 1, "code 3 is final");
    let log = s.ipn_log(&refused["transaction_id"]).await;
    assert_eq!((log.len(), log[0]["code"].as_i64(), log[0]["outcome"].as_str()), (1, Some(3), Some("final")), "{log:?}");
    assert!(s.screen(&refused).await.contains("Last IPN: final (HTTP 200, code 3)"));

    // Tiki answers 503 every time: the first attempt and three retries, then nothing more.
    s.tiki.script.lock().unwrap().extend(vec![(StatusCode::SERVICE_UNAVAILABLE, json!({})); 10]);
    let lost = s.create("250101TIKIVIP-51-1735689600", 500_000).await;
    s.decide(&lost, "success").await;
    s.wait_for_ipns(5).await;
    s.settled().await;
    assert_eq!(s.received().len(), 5);
    let outcomes: Vec<_> = s.ipn_log(&lost["transaction_id"]).await.iter().map(|a| a["outcome"].as_str().unwrap().to_string()).collect();
    assert_eq!(outcomes, ["retry", "retry", "retry", "failed"]);
    assert_eq!(s.check("250101TIKIVIP-51-1735689600").await["data"]["status"], "SUCCESS", "Tiki finds out by checking");
    s.stop().await;
}

#[tokio::test]
async fn refunds_are_partial_or_full_never_more_and_once_per_request_id() {
    let s = Sandbox::spawn().await;
    let created = s.create("250101TIKIVIP-60-1735689600", 1_000_000).await;
    let (status, answer) = s.refund(&created, 100_000, "R-0").await;
    assert_eq!((status, answer["code"].as_i64()), (StatusCode::INTERNAL_SERVER_ERROR, Some(1)), "not paid yet: {answer}");
    s.decide(&created, "success").await;

    let (status, first) = s.refund(&created, 300_000, "R-1").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!((first["code"].as_i64(), first["message"].as_str()), (Some(0), Some("success")));
    let d = &first["data"];
    assert_eq!((d["request_id"].as_str(), d["refunded_amount"].as_i64(), d["status"].as_str()), (Some("R-1"), Some(300_000), Some("SUCCESS")));
    assert!(is_partner_id(d["refund_id"].as_str().unwrap()), "{d}");
    assert_eq!(s.refund(&created, 300_000, "R-1").await, (StatusCode::OK, first.clone()), "a retry answers the same, refunds nothing");
    assert_eq!(s.refund(&created, 200_000, "R-1").await.1["code"], 1, "same request_id, another amount");
    assert_eq!(s.refund(&created, 200_000, "R-1").await.0, StatusCode::INTERNAL_SERVER_ERROR);

    let mut unknown = created.clone();
    unknown["tiki_transaction_id"] = json!("250101TIKIVIP-69-1735689600");
    let mut mismatched = created.clone();
    mismatched["transaction_id"] = json!("8A43B011-0EC9-4AA5-8D83-6FE7B2BCE4EC");
    let refused = [
        ("more than left", s.refund(&created, 700_001, "R-2").await, 1),
        ("zero", s.refund(&created, 0, "R-3").await, 1),
        ("unknown", s.refund(&unknown, 1_000, "R-4").await, 3),
        ("another partner id", s.refund(&mismatched, 1_000, "R-5").await, 3),
    ];
    for (what, (status, answer), code) in refused {
        assert_eq!((status, answer["code"].as_i64()), (StatusCode::INTERNAL_SERVER_ERROR, Some(code)), "{what}: {answer}");
    }

    // The knob: the next two refund calls fail as a system error, then the same call succeeds.
    let knob = s.client.post(format!("{}/sandbox/fail-refunds?count=2", s.url)).send().await.unwrap();
    assert_eq!(knob.status(), StatusCode::OK);
    for _ in 0..2 {
        let (status, answer) = s.refund(&created, 700_000, "R-6").await;
        assert_eq!((status, answer["code"].as_i64()), (StatusCode::INTERNAL_SERVER_ERROR, Some(2)), "{answer}");
    }
    let (status, full) = s.refund(&created, 700_000, "R-6").await;
    assert_eq!((status, full["data"]["refunded_amount"].as_i64()), (StatusCode::OK, Some(1_000_000)), "{full}");
    assert_eq!(s.refund(&created, 1, "R-7").await.0, StatusCode::INTERNAL_SERVER_ERROR, "nothing left");
    assert_eq!(s.refund(&created, 300_000, "R-1").await, (StatusCode::OK, first), "still the same answer");

    let d = s.check("250101TIKIVIP-60-1735689600").await["data"].clone();
    assert_eq!((d["status"].as_str(), d["amount"].as_i64(), d["refunded_amount"].as_i64()), (Some("SUCCESS"), Some(1_000_000), Some(1_000_000)));
    s.stop().await;
}

#[tokio::test]
async fn shutdown_stops_a_delivery_waiting_to_retry() {
    let s = Sandbox::spawn_with(vec![60_000]).await;
    s.tiki.script.lock().unwrap().push_back((StatusCode::BAD_GATEWAY, json!({})));
    let created = s.create("250101TIKIVIP-70-1735689600", 10_000).await;
    s.decide(&created, "success").await;
    s.wait_for_ipns(1).await;
    s.stop().await;
}
