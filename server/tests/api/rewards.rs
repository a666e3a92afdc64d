//! Loyalty reward tasks over HTTP: `/saas/requestin` and `/saas/requestout` with signed
//! commands, the reward worker paying into the ledger, refusals with their documented answers,
//! key URLs, the clock across midnight, failures, dead letters and replays, and the sandbox
//! membership app.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use domain::{
    clock::ManualClock,
    identity::clients::{secret_sha256, ClientSpec},
    signing::{loyalty_task, RsaPrivateKey},
};
use joygate::config::{Config, RewardClientSettings};
use reqwest::StatusCode;
use serde_json::{json, Map, Value};

use crate::helpers::TestApp;

const CLIENT: &str = "shop-web";
const API_KEY: &str = "shop-api-key-0123456789";

fn fixture(name: &str) -> Value {
    let text = match name {
        "openssl" => include_str!("../../../domain/tests/fixtures/signing/loyalty_task.json"),
        _ => include_str!("../../../domain/tests/fixtures/signing/loyalty_task_python.json"),
    };
    serde_json::from_str(text).unwrap()
}

/// The shop's signing key (the 2048-bit fixture key).
fn shop_key() -> RsaPrivateKey {
    RsaPrivateKey::from_pkcs8_base64(fixture("openssl")["rsa2048"]["private_key_pkcs8_b64"].as_str().unwrap()).unwrap()
}

/// `shop-web`: a registered partner and a reward client with the API key above.
fn configure_shop(c: &mut Config, public_key_pem: Option<String>, public_key_url: Option<String>) {
    c.clients.push(ClientSpec {
        client_id: CLIENT.into(),
        name: "Shop".into(),
        confidential: true,
        redirect_uris: vec!["https://shop.example/cb".into()],
        secret_sha256: Some(secret_sha256("shop-secret")),
        ..ClientSpec::default()
    });
    c.rewards.first_retry_ms = 50;
    c.rewards.max_retry_delay_ms = 200;
    c.rewards.max_attempts = 6;
    let settings = RewardClientSettings {
        api_key_sha256: secret_sha256(API_KEY),
        public_key_pem,
        public_key_url,
        time_zone: Default::default(),
        rules: Default::default(),
    };
    c.rewards.clients.insert(CLIENT.into(), settings);
}

struct Shop {
    app: TestApp,
    key: RsaPrivateKey,
}

fn message(action: &str, data: Map<String, Value>) -> Value {
    json!({"Subject":"loyalty","SubjectType":"reward","SubjectIdentifier":"task","Action":action,
           "ResourceType":"null","Resource":"null","ResourceId":"null","ScopeSource":"","Data":data})
}

fn object(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

impl Shop {
    async fn spawn() -> Shop {
        Self::spawn_with(|_| {}).await
    }

    async fn spawn_with(change: impl FnOnce(&mut Config)) -> Shop {
        let key = shop_key();
        let pem = key.public_key().to_pem();
        let app = TestApp::spawn_with(|c| {
            configure_shop(c, Some(pem), None);
            change(c);
        })
        .await;
        Shop { app, key }
    }

    fn signed(&self, action: &str, data: Value) -> String {
        let mut data = object(data);
        loyalty_task::sign_data(&self.key, &mut data);
        message(action, data).to_string()
    }

    async fn post(&self, path: &str, body: String, headers: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut req = self.app.client.post(format!("{}{path}", self.app.url)).header("content-type", "application/json").body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn raw(&self, body: String) -> (StatusCode, Value) {
        self.post("/saas/requestin", body, &[("Client-Id", CLIENT), ("Api-Key", API_KEY)]).await
    }

    async fn send(&self, action: &str, data: Value) -> (StatusCode, Value) {
        self.raw(self.signed(action, data)).await
    }

    /// Sends a command that must be accepted; its TicketId.
    async fn ticket(&self, action: &str, data: Value) -> String {
        let (status, answer) = self.send(action, data).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["TicketId"].as_str().unwrap().to_string()
    }

    async fn request_out(&self, ticket: &str) -> (StatusCode, Value) {
        let body = json!({"TicketId": ticket, "Subject": "loyalty", "SubjectType": "reward", "SubjectIdentifier": "task"}).to_string();
        self.post("/saas/requestout", body, &[("Client-Id", CLIENT), ("Api-Key", API_KEY)]).await
    }

    /// Waits (polling Request Out) until the worker settled the ticket; its Result.
    async fn settled(&self, ticket: &str) -> Value {
        self.until(ticket, |s| matches!(s, "success" | "failed" | "dead")).await
    }

    async fn until(&self, ticket: &str, done: impl Fn(&str) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (status, answer) = self.request_out(ticket).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            if done(answer["Result"]["ticketStatus"].as_str().unwrap()) {
                return answer["Result"].clone();
            }
            assert!(tokio::time::Instant::now() < deadline, "ticket {ticket} stayed {}", answer["Result"]);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(self.app.db().pool()).await.unwrap()
    }

    async fn balance_of(&self, customer: &str) -> i64 {
        let id = domain::identity::members::member_of_customer(self.app.db(), CLIENT, &domain::identity::CustomerId::parse(customer).unwrap())
            .await
            .unwrap()
            .expect("linked");
        domain::ledger::balance(self.app.db(), &id).await.unwrap().0
    }

    async fn ledger_consistent(&self) {
        assert!(domain::ledger::inconsistent_accounts(self.app.db()).await.unwrap().is_empty());
        assert!(domain::ledger::holds::inconsistent_locks(self.app.db()).await.unwrap().is_empty());
    }
}

fn register(member: &str, phone: &str, trx: i64) -> Value {
    json!({"trxId": trx, "refference": format!("ref-{trx}"), "memberId": member, "memberName": "Nguyễn Văn A", "userFromStatus": 0, "userId": 0,
           "userIdShare": 0, "deviceType": "android", "installId": "S21+", "data": [{"trxAmount": 0, "trxDate": ""}], "memberQtagPhone": phone})
}

fn generic_not_found() -> Value {
    json!({"Status":"failed","StatusCode":400,"Message":"Access route not found","Data":null})
}

#[tokio::test]
async fn every_action_is_accepted_with_a_ticket_and_paid_once_into_the_ledger() {
    let shop = Shop::spawn().await;
    // the published success answer, with a new TicketId
    let (status, answer) = shop.send("register", register("2784", "0912000001", 1)).await;
    assert_eq!(status, StatusCode::OK);
    let ticket = answer["TicketId"].as_str().unwrap().to_string();
    let mut expected = json!({"TicketId": ticket, "Subject":"loyalty","SubjectType":"reward","SubjectIdentifier":"task","Action":"register",
        "ResourceType":"data","Resource":"none","ResourceId":"none","Result":null,"Status":"success","Message":"Success process data(Success)","StatusCode":200});
    assert_eq!(answer, expected);
    let r = shop.settled(&ticket).await;
    assert_eq!((r["ticketStatus"].as_str(), r["points"].as_i64()), (Some("success"), Some(50)), "{r}");
    assert_eq!(r["rewards"][0]["bitReference"].as_str().unwrap().len(), 26);

    // Request Out: the same envelope with the ticket's result
    let (status, out) = shop.request_out(&ticket).await;
    assert_eq!(status, StatusCode::OK);
    expected["Result"] = out["Result"].clone();
    assert_eq!(out, expected);

    // a referred member registers (numbers as ids), buys, the referrer gets a share
    let referral = json!({"trxId": 2, "memberId": 3001, "memberName": "Tran Thi B", "userIdShare": 2784, "memberQtagPhone": "0912000002", "data": []});
    let r = shop.settled(&shop.ticket("registerreferral", referral).await).await;
    assert_eq!((r["points"].as_i64(), r["rewards"].as_array().unwrap().len()), (Some(150), 2), "{r}");
    let buy = json!({"trxId": 3, "memberId": 3001, "data": [{"trxAmount": 150_000, "trxDate": "2024-04-30 10:30:00", "product_id": 10}, {"trxAmount": "50000", "trxDate": "2024-04-30 10-31-00"}]});
    let r = shop.settled(&shop.ticket("transaction", buy.clone()).await).await;
    assert_eq!(r["points"].as_i64(), Some(20), "{r}");
    let r = shop.settled(&shop.ticket("transactionreferral", buy).await).await;
    assert_eq!((r["points"].as_i64(), r["rewards"][0]["role"].as_str(), r["rewards"][0]["memberId"].as_str()), (Some(2), Some("referrer"), Some("2784")), "10 % of 200,000 VND");
    let r = shop.settled(&shop.ticket("dailycheckin", json!({"memberId": 3001, "trxId": 0, "data": [{"trxAmount": 0, "trxDate": "2024-04-30 10-30-00"}]})).await).await;
    assert_eq!((r["streak"].as_i64(), r["points"].as_i64()), (Some(1), Some(5)));
    let r = shop.settled(&shop.ticket("luckydraw", json!({"trxId": 4, "memberId": 3001})).await).await;
    assert_eq!(r["ticketStatus"], "success");
    let prize = r["prize"]["points"].as_i64().unwrap();
    assert!([0, 10, 50, 200].contains(&prize));

    assert_eq!(shop.balance_of("2784").await, 50 + 100 + 2);
    assert_eq!(shop.balance_of("3001").await, 50 + 20 + 5 + prize);
    // a rule's refusal is a final result on the ticket
    let r = shop.settled(&shop.ticket("register", register("2784", "0912000001", 5)).await).await;
    assert_eq!((r["ticketStatus"].as_str(), r["reason"].as_str()), (Some("failed"), Some("ALREADY_REWARDED")));
    let r = shop.settled(&shop.ticket("transaction", json!({"trxId": 6, "memberId": "nobody", "data": [{"trxAmount": 100_000}]})).await).await;
    assert_eq!((r["reason"].as_str(), r["message"].as_str()), (Some("MEMBER_NOT_FOUND"), Some("No SkyJoy member is linked to this memberId at this client.")));
    // the history shows rewards as their own kind
    let kinds: Vec<String> = sqlx::query_scalar("SELECT DISTINCT kind FROM ledger_entries").fetch_all(shop.app.db().pool()).await.unwrap();
    assert_eq!(kinds, vec!["REWARD".to_string()]);
    shop.ledger_consistent().await;
    shop.app.stop().await;
}

#[tokio::test]
async fn the_same_command_fifty_times_at_once_gets_one_ticket_and_one_posting() {
    let shop = Shop::spawn().await;
    shop.settled(&shop.ticket("register", register("2784", "0912000001", 1)).await).await;
    let body = shop.signed("transaction", json!({"trxId": "T-50", "memberId": 2784, "data": [{"trxAmount": 250_000, "trxDate": ""}]}));
    let idem = "9e107d9d372bb6826bd81d3542a419d6";
    let sends: Vec<_> = (0..50)
        .map(|i| {
            let (client, url, body) = (shop.app.client.clone(), shop.app.url.clone(), body.clone());
            tokio::spawn(async move {
                let mut req = client.post(format!("{url}/saas/requestin")).header("Client-Id", CLIENT).header("Api-Key", API_KEY).body(body);
                if i % 2 == 0 {
                    req = req.header("Idempotency-Key", idem); // half with the header, half by the business key alone
                }
                let res = req.send().await.unwrap();
                assert_eq!(res.status(), StatusCode::OK);
                res.json::<Value>().await.unwrap()["TicketId"].as_str().unwrap().to_string()
            })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for s in sends {
        ids.insert(s.await.unwrap());
    }
    assert_eq!(ids.len(), 1, "one TicketId");
    let ticket = ids.into_iter().next().unwrap();
    assert_eq!(shop.settled(&ticket).await["points"].as_i64(), Some(25));
    // the same command again later: the first ticket, answered as a replay
    let res = shop.app.client.post(format!("{}/saas/requestin", shop.app.url)).header("Client-Id", CLIENT).header("Api-Key", API_KEY).body(body).send().await.unwrap();
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_eq!(res.json::<Value>().await.unwrap()["TicketId"], ticket.as_str());
    // the same command signed with another key: refused, though the command is stored (the
    // signature is checked before a retry is answered)
    let other_key = RsaPrivateKey::generate_2048().unwrap();
    let mut forged = object(json!({"trxId": "T-50", "memberId": 2784, "data": [{"trxAmount": 250_000, "trxDate": ""}]}));
    loyalty_task::sign_data(&other_key, &mut forged);
    let (status, answer) = shop.raw(message("transaction", forged).to_string()).await;
    assert_eq!((status, answer["Message"].as_str()), (StatusCode::UNAUTHORIZED, Some("Invalid signature")), "{answer}");
    assert_eq!(shop.count("SELECT CAST(COUNT(*) AS BIGINT) FROM reward_tickets WHERE action = 'transaction'").await, 1);
    assert_eq!(shop.count("SELECT CAST(COUNT(*) AS BIGINT) FROM ledger_entries WHERE transaction_id LIKE 'reward:%:member'").await, 2, "register + the purchase");
    assert_eq!(shop.balance_of("2784").await, 75);

    // the same trxId with other data, or the Idempotency-Key on another command: 409, nothing stored
    let (status, answer) = shop.send("transaction", json!({"trxId": "T-50", "memberId": 2784, "data": [{"trxAmount": 999_000}]})).await;
    assert_eq!((status, answer["StatusCode"].as_u64(), answer["Status"].as_str()), (StatusCode::CONFLICT, Some(409), Some("failed")), "{answer}");
    assert!(answer["Message"].as_str().unwrap().starts_with("Duplicate command"));
    let with_key = |trx: &str| shop.signed("transaction", json!({"trxId": trx, "memberId": 2784, "data": [{"trxAmount": 10_000}]}));
    let headers = [("Client-Id", CLIENT), ("Api-Key", API_KEY), ("Idempotency-Key", "d41d8cd98f00b204e9800998ecf8427e")];
    assert_eq!(shop.post("/saas/requestin", with_key("T-51"), &headers).await.0, StatusCode::OK);
    let (status, answer) = shop.post("/saas/requestin", with_key("T-52"), &headers).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(answer["Message"].as_str().unwrap().contains("Idempotency-Key"), "{answer}");
    assert_eq!(shop.count("SELECT CAST(COUNT(*) AS BIGINT) FROM reward_tickets").await, 3);
    shop.ledger_consistent().await;
    shop.app.stop().await;
}

#[tokio::test]
async fn refusals_get_their_documented_answer_and_store_nothing() {
    let small_key = fixture("python")["rsa512_public_key_pem"].as_str().unwrap().to_string();
    let keys = KeyServer::start(Some(small_key)).await;
    let key_url = keys.url.clone();
    let shop = Shop::spawn_with(move |c| {
        // a second client whose key URL serves a 512-bit key, and one with draws switched off
        c.clients.push(ClientSpec {
            client_id: "small-key".into(),
            name: "Small".into(),
            confidential: true,
            redirect_uris: vec!["https://small.example/cb".into()],
            secret_sha256: Some(secret_sha256("x")),
            ..ClientSpec::default()
        });
        let mut small = c.rewards.clients[CLIENT].clone();
        (small.public_key_pem, small.public_key_url) = (None, Some(key_url));
        c.rewards.clients.insert("small-key".into(), small);
        c.rewards.clients.get_mut(CLIENT).unwrap().rules.luckydraw.enabled = false;
    })
    .await;
    let good = shop.signed("register", register("2784", "0912000001", 1));
    let auth = [("Client-Id", CLIENT), ("Api-Key", API_KEY)];

    // unknown routes: the generic answer, whatever the rest
    for action in ["refferal", "Register", "process"] {
        let (status, answer) = shop.raw(good.replace("\"Action\":\"register\"", &format!("\"Action\":\"{action}\""))).await;
        assert_eq!((status, answer), (StatusCode::BAD_REQUEST, generic_not_found()), "{action}");
    }
    let (status, answer) = shop.raw(good.replace("\"SubjectIdentifier\":\"task\"", "\"SubjectIdentifier\":\"processor\"")).await;
    assert_eq!((status, answer), (StatusCode::BAD_REQUEST, generic_not_found()));
    for path in ["/saas/requestdown", "/saas", "/saas/requestin/x"] {
        let (status, answer) = shop.post(path, good.clone(), &auth).await;
        assert_eq!((status, answer), (StatusCode::BAD_REQUEST, generic_not_found()), "{path}");
    }
    let res = shop.app.client.get(format!("{}/saas/requestin", shop.app.url)).send().await.unwrap();
    assert_eq!((res.status(), res.json::<Value>().await.unwrap()), (StatusCode::BAD_REQUEST, generic_not_found()));

    let refused = |status: StatusCode, message: &str| (status, json!({"Status": "failed", "StatusCode": status.as_u16(), "Message": message, "Data": null}));
    // the client and its key
    assert_eq!(shop.post("/saas/requestin", good.clone(), &[("Api-Key", API_KEY)]).await, refused(StatusCode::UNAUTHORIZED, "The Client-Id header is required"));
    assert_eq!(shop.post("/saas/requestin", good.clone(), &[("Client-Id", CLIENT)]).await, refused(StatusCode::UNAUTHORIZED, "The Api-Key header is required"));
    assert_eq!(shop.post("/saas/requestin", good.clone(), &[("Client-Id", "nobody"), ("Api-Key", API_KEY)]).await, refused(StatusCode::UNAUTHORIZED, "Unknown client"));
    assert_eq!(shop.post("/saas/requestin", good.clone(), &[("Client-Id", CLIENT), ("Api-Key", "wrong")]).await, refused(StatusCode::UNAUTHORIZED, "Invalid API key"));
    // the signature: changed data, another key, none
    assert_eq!(shop.raw(good.replace("0912000001", "0912000009")).await, refused(StatusCode::UNAUTHORIZED, "Invalid signature"));
    let other_key = RsaPrivateKey::generate_2048().unwrap();
    let mut data = object(register("2784", "0912000001", 1));
    loyalty_task::sign_data(&other_key, &mut data);
    assert_eq!(shop.raw(message("register", data.clone()).to_string()).await, refused(StatusCode::UNAUTHORIZED, "Invalid signature"));
    data.shift_remove("signature");
    let (status, answer) = shop.raw(message("register", data).to_string()).await;
    assert_eq!((status, answer["Message"].as_str()), (StatusCode::UNAUTHORIZED, Some("Invalid signature: Data.signature is missing")));
    // a key below 1024 bits, from the client's key URL
    let (status, answer) = shop.post("/saas/requestin", good.clone(), &[("Client-Id", "small-key"), ("Api-Key", API_KEY)]).await;
    assert_eq!((status, answer["Message"].as_str()), (StatusCode::UNAUTHORIZED, Some("Invalid signature: the client's public key is refused: RSA keys below 1024 bits are refused")));
    // malformed envelopes and wrong types, each naming the field
    let (status, answer) = shop.raw("{\"Subject\": ".into()).await;
    assert_eq!((status, answer["StatusCode"].as_u64()), (StatusCode::BAD_REQUEST, Some(400)));
    assert!(answer["Message"].as_str().unwrap().starts_with("Invalid request: the body is not JSON"));
    for (data, field) in [
        (json!({"trxId": 1, "memberId": 27.84}), "Data.memberId must be a string or a whole number"),
        (json!({"trxId": {"x": 1}, "memberId": 1}), "Data.trxId must be a string or a whole number"),
        (json!({"trxId": 1, "memberId": 1, "data": [{"trxAmount": "lots"}]}), "Data.data[0].trxAmount must be a whole number"),
        (json!({"trxId": 1, "memberId": 1, "data": [{"trxAmount": 1, "trxDate": "30/04/2024"}]}), "Data.data[0].trxDate must be"),
        (json!({"memberId": 1}), "Data.trxId or Data.refference is required"),
    ] {
        let (status, answer) = shop.send("register", data).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(answer["Message"].as_str().unwrap().starts_with(&format!("Invalid request: {field}")), "{answer}");
    }
    let mut no_data = serde_json::from_str::<Value>(&good).unwrap();
    no_data.as_object_mut().unwrap().remove("Data");
    assert_eq!(shop.raw(no_data.to_string()).await, refused(StatusCode::BAD_REQUEST, "Invalid request: Data is required"));
    let (status, _) = shop.send("registerreferral", json!({"trxId": 1, "memberId": 1, "userIdShare": 0})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // an action switched off for this client; a body too large; a bad Idempotency-Key
    assert_eq!(shop.send("luckydraw", json!({"trxId": 1, "memberId": 2784})).await, refused(StatusCode::FORBIDDEN, "The action luckydraw is not enabled for this client"));
    let (status, answer) = shop.raw(format!("{{\"pad\":\"{}\"}}", "x".repeat(70_000))).await;
    assert_eq!((status, answer["StatusCode"].as_u64()), (StatusCode::PAYLOAD_TOO_LARGE, Some(413)));
    let (status, _) = shop.post("/saas/requestin", good.clone(), &[("Client-Id", CLIENT), ("Api-Key", API_KEY), ("Idempotency-Key", "a b")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    assert_eq!(shop.count("SELECT CAST(COUNT(*) AS BIGINT) FROM reward_tickets").await, 0, "nothing stored");
    assert_eq!(shop.count("SELECT CAST(COUNT(*) AS BIGINT) FROM outbox_jobs WHERE kind = 'reward.task'").await, 0);

    // Request Out: only the client's own tickets
    let ticket = shop.ticket("register", register("2784", "0912000001", 1)).await;
    let body = |id: &str| json!({"TicketId": id, "Subject": "loyalty", "SubjectType": "reward", "SubjectIdentifier": "task"}).to_string();
    assert_eq!(shop.post("/saas/requestout", body("nope"), &auth).await, refused(StatusCode::NOT_FOUND, "Ticket not found"));
    assert_eq!(
        shop.post("/saas/requestout", body(&ticket), &[("Client-Id", "small-key"), ("Api-Key", API_KEY)]).await,
        refused(StatusCode::NOT_FOUND, "Ticket not found")
    );
    assert_eq!(shop.post("/saas/requestout", json!({"Subject": "loyalty", "SubjectType": "reward", "SubjectIdentifier": "task"}).to_string(), &auth).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(shop.post("/saas/requestout", json!({"TicketId": ticket, "Subject": "qoin"}).to_string(), &auth).await, (StatusCode::BAD_REQUEST, generic_not_found()));
    shop.app.stop().await;
    keys.stop();
}

#[tokio::test]
async fn a_configured_key_below_1024_bits_or_an_unregistered_client_stops_the_start() {
    let small = fixture("python")["rsa512_public_key_pem"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let (database_url, _db) = crate::helpers::fresh_database(dir.path()).await;
    let mut config = Config { listen: "127.0.0.1:0".parse().unwrap(), database_url, sandbox: false, ..Config::default() };
    configure_shop(&mut config, Some(small), None);
    let err = joygate::start(config.clone()).await.err().expect("refused");
    assert!(format!("{err:#}").contains("below 1024 bits"), "{err:#}");
    let (database_url, _other) = crate::helpers::fresh_database(&dir.path().join("other")).await;
    config.database_url = database_url;
    config.clients.clear();
    config.rewards.clients.get_mut(CLIENT).unwrap().public_key_pem = Some(shop_key().public_key().to_pem());
    let err = joygate::start(config).await.err().expect("refused");
    assert!(format!("{err:#}").contains("no registered client shop-web"), "{err:#}");
}

/// A client's key URL: serves the PEM it holds (503 while it holds none), counting requests.
struct KeyServer {
    url: String,
    pem: Arc<Mutex<Option<String>>>,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl KeyServer {
    async fn start(pem: Option<String>) -> KeyServer {
        let pem = Arc::new(Mutex::new(pem));
        let hits = Arc::new(AtomicUsize::new(0));
        let (p, h) = (pem.clone(), hits.clone());
        let router = axum::Router::new().route(
            "/loyalty.pem",
            axum::routing::get(move || {
                let (p, h) = (p.clone(), h.clone());
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    match p.lock().unwrap().clone() {
                        Some(pem) => (axum::http::StatusCode::OK, pem),
                        None => (axum::http::StatusCode::SERVICE_UNAVAILABLE, String::new()),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/loyalty.pem", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        KeyServer { url, pem, hits, task }
    }

    fn serve(&self, pem: Option<String>) {
        *self.pem.lock().unwrap() = pem;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn stop(self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn a_key_url_is_fetched_once_cached_and_fetched_again_once_when_a_signature_fails() {
    let key1 = shop_key();
    let keys = KeyServer::start(Some(key1.public_key().to_pem())).await;
    let url = keys.url.clone();
    let app = TestApp::spawn_with(|c| configure_shop(c, None, Some(url))).await;
    let mut shop = Shop { app, key: key1 };
    shop.ticket("register", register("2784", "0912000001", 1)).await;
    shop.ticket("register", register("2785", "0912000002", 2)).await;
    assert_eq!(keys.hits(), 1, "fetched once, then cached");

    // the client rotates its key: the first command signed with the new key fetches it again
    let key2 = RsaPrivateKey::generate_2048().unwrap();
    keys.serve(Some(key2.public_key().to_pem()));
    shop.key = key2;
    shop.ticket("register", register("2786", "0912000003", 3)).await;
    assert_eq!(keys.hits(), 2);
    shop.ticket("register", register("2787", "0912000004", 4)).await;
    assert_eq!(keys.hits(), 2);
    // a bad signature: one more fetch (the key has not changed), then refused
    let stranger = RsaPrivateKey::generate_2048().unwrap();
    let mut data = object(register("2788", "0912000005", 5));
    loyalty_task::sign_data(&stranger, &mut data);
    assert_eq!(shop.raw(message("register", data.clone()).to_string()).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(keys.hits(), 3);

    assert_eq!(shop.count("SELECT CAST(COUNT(*) AS BIGINT) FROM reward_tickets").await, 4, "the refused one was not stored");
    shop.app.stop().await;
    keys.stop();
}

#[tokio::test]
async fn while_the_key_url_is_down_commands_are_stored_and_the_worker_verifies_them_later() {
    let keys = KeyServer::start(None).await;
    let url = keys.url.clone();
    let app = TestApp::spawn_with(|c| configure_shop(c, None, Some(url))).await;
    let shop = Shop { app, key: shop_key() };
    let legit = shop.ticket("register", register("2784", "0912000001", 1)).await;
    let mut data = object(register("2785", "0912000002", 2));
    loyalty_task::sign_data(&RsaPrivateKey::generate_2048().unwrap(), &mut data);
    let (status, answer) = shop.raw(message("register", data).to_string()).await;
    assert_eq!(status, StatusCode::OK, "stored: its signature cannot be checked now");
    let forged = answer["TicketId"].as_str().unwrap().to_string();
    // the worker cannot check them either: they wait, retried
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let t = domain::rewards::tickets::find(shop.app.db(), &legit).await.unwrap().unwrap();
        if t.last_error.as_deref().is_some_and(|e| e.contains("could not be fetched")) {
            assert!(!t.verified && t.result.is_none());
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{t:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    keys.serve(Some(shop.key.public_key().to_pem()));
    let r = shop.settled(&legit).await;
    assert_eq!((r["ticketStatus"].as_str(), r["points"].as_i64()), (Some("success"), Some(50)));
    let r = shop.settled(&forged).await;
    assert_eq!((r["ticketStatus"].as_str(), r["reason"].as_str()), (Some("failed"), Some("BAD_SIGNATURE")));
    assert_eq!(shop.count("SELECT CAST(COUNT(*) AS BIGINT) FROM ledger_entries").await, 1, "the forged command paid nothing");
    shop.app.stop().await;
    keys.stop();
}

/// 23:59:58 of today in Jakarta (UTC+7), as Unix ms.
fn just_before_midnight_in_jakarta() -> i64 {
    const DAY: i64 = 86_400_000;
    const OFFSET: i64 = 7 * 3_600_000;
    let local = domain::now_ms() + OFFSET;
    (local.div_euclid(DAY) + 1) * DAY - 2_000 - OFFSET
}

#[tokio::test]
async fn check_ins_once_a_day_and_across_midnight_with_an_injected_clock() {
    let clock = Arc::new(ManualClock::at(just_before_midnight_in_jakarta()));
    let key = shop_key();
    let pem = key.public_key().to_pem();
    let app = TestApp::spawn_with_clock(clock.clone(), |c| configure_shop(c, Some(pem), None)).await;
    let shop = Shop { app, key };
    shop.settled(&shop.ticket("register", register("2784", "0912000001", 1)).await).await;
    let checkin = |n: i64| json!({"memberId": 2784, "trxId": n, "refference": format!("c{n}"), "data": [{"trxAmount": 0, "trxDate": ""}]});

    let first = shop.ticket("dailycheckin", checkin(1)).await;
    assert_eq!(shop.settled(&first).await["streak"], 1);
    clock.advance(1_000); // 23:59:59: the same day, so the same ticket
    assert_eq!(shop.ticket("dailycheckin", checkin(2)).await, first);
    clock.advance(2_000); // 00:00:01 the next day
    let second = shop.ticket("dailycheckin", checkin(3)).await;
    assert_ne!(second, first);
    let r = shop.settled(&second).await;
    assert_eq!((r["streak"].as_i64(), r["points"].as_i64()), (Some(2), Some(5)));
    clock.advance(2 * 86_400_000); // a day missed: the streak starts again
    let r = shop.settled(&shop.ticket("dailycheckin", checkin(4)).await).await;
    assert_eq!(r["streak"].as_i64(), Some(1));
    assert_eq!(shop.balance_of("2784").await, 50 + 5 + 5 + 5);
    assert_eq!(shop.count("SELECT CAST(COUNT(*) AS BIGINT) FROM reward_checkins").await, 3);
    shop.ledger_consistent().await;
    shop.app.stop().await;
}

#[tokio::test]
async fn a_forced_failure_is_retried_and_paid_once_and_a_lucky_draw_keeps_its_prize() {
    let shop = Shop::spawn_with(|c| {
        let rules = &mut c.rewards.clients.get_mut(CLIENT).unwrap().rules;
        rules.luckydraw.prizes = vec![domain::rewards::rules::Prize { points: 10, weight: 1 }, domain::rewards::rules::Prize { points: 20, weight: 1 }];
    })
    .await;
    shop.settled(&shop.ticket("register", register("2784", "0912000001", 1)).await).await;
    domain::rewards::testing::install_posting_failure(shop.app.db()).await.unwrap();
    domain::rewards::testing::fail_postings(shop.app.db(), true).await.unwrap();
    let buy = json!({"trxId": 2, "memberId": 2784, "data": [{"trxAmount": 300_000}]});
    let ticket = shop.ticket("transaction", buy.clone()).await;
    let draw = shop.ticket("luckydraw", json!({"trxId": 3, "memberId": 2784})).await;
    // both fail and wait for their next attempt
    for t in [&ticket, &draw] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let stored = domain::rewards::tickets::find(shop.app.db(), t).await.unwrap().unwrap();
            if stored.attempts >= 2 {
                assert!(stored.last_error.unwrap().contains("forced failure"));
                break;
            }
            assert!(tokio::time::Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let drawn: i64 = sqlx::query_scalar("SELECT points FROM reward_draws WHERE ticket_id = $1").bind(&draw).fetch_one(shop.app.db().pool()).await.unwrap();
    domain::rewards::testing::fail_postings(shop.app.db(), false).await.unwrap();
    assert_eq!(shop.settled(&ticket).await["points"].as_i64(), Some(30));
    let r = shop.settled(&draw).await;
    assert_eq!((r["ticketStatus"].as_str(), r["points"].as_i64(), r["prize"]["points"].as_i64()), (Some("success"), Some(drawn), Some(drawn)), "the prize drawn before the failures");
    // the same commands sent again: the same tickets and results, nothing paid twice
    assert_eq!(shop.ticket("transaction", buy).await, ticket);
    let again = shop.ticket("luckydraw", json!({"trxId": 3, "memberId": 2784})).await;
    assert_eq!(again, draw);
    assert_eq!(shop.request_out(&again).await.1["Result"]["prize"]["points"].as_i64(), Some(drawn));
    assert_eq!(shop.balance_of("2784").await, 50 + 30 + drawn);
    assert_eq!(shop.count("SELECT CAST(COUNT(*) AS BIGINT) FROM ledger_entries").await, 3);
    shop.ledger_consistent().await;
    shop.app.stop().await;
}

#[tokio::test]
async fn a_dead_ticket_is_replayed_by_the_cli_and_survives_a_restart_then_the_ledger_checks() {
    let shared = tempfile::tempdir().unwrap();
    let (database_url, _db) = crate::helpers::fresh_database(shared.path()).await;
    let url = database_url.clone();
    let shop = Shop::spawn_with(move |c| {
        c.database_url = url;
        c.rewards.max_attempts = 2;
    })
    .await;
    shop.settled(&shop.ticket("register", register("2784", "0912000001", 1)).await).await;
    domain::rewards::testing::install_posting_failure(shop.app.db()).await.unwrap();
    domain::rewards::testing::fail_postings(shop.app.db(), true).await.unwrap();
    let ticket = shop.ticket("transaction", json!({"trxId": 2, "memberId": 2784, "data": [{"trxAmount": 120_000}]})).await;
    let r = shop.settled(&ticket).await;
    assert_eq!(r["ticketStatus"], "dead", "{r}");
    // the ticket's result and its job's end are written one after the other: wait for the job
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let job_state = loop {
        let state: String = sqlx::query_scalar("SELECT state FROM outbox_jobs WHERE dedupe_key = $1").bind(format!("reward:{ticket}")).fetch_one(shop.app.db().pool()).await.unwrap();
        if state != "running" || std::time::Instant::now() > deadline {
            break state;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(job_state, "dead");
    domain::rewards::testing::fail_postings(shop.app.db(), false).await.unwrap();
    let Shop { app, key } = shop;
    app.stop().await;

    // an operator replays it while the server is down; the next start pays it, once
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_joygate")).args(args).env("JOYGATE_DATABASE_URL", database_url.expose()).current_dir(shared.path()).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let dead = cli(&["rewards", "list", "--state", "dead"]);
    assert!(dead.contains(&ticket) && dead.contains("transaction"), "{dead}");
    assert!(cli(&["rewards", "show", &ticket]).contains("\"state\": \"dead\""));
    assert!(cli(&["rewards", "replay", &ticket, "--attempts", "3"]).contains("queued again"));
    let url = database_url.clone();
    let app = TestApp::spawn_with(move |c| {
        configure_shop(c, Some(key.public_key().to_pem()), None);
        c.database_url = url;
    })
    .await;
    let shop = Shop { app, key: shop_key() };
    let r = shop.settled(&ticket).await;
    assert_eq!((r["ticketStatus"].as_str(), r["points"].as_i64()), (Some("success"), Some(12)));
    assert_eq!(shop.balance_of("2784").await, 62);
    shop.app.stop().await;
    assert!(cli(&["ledger", "check"]).contains("ledger consistent"));
}

#[tokio::test]
async fn the_sandbox_membership_app_registers_refers_and_shows_the_balance() {
    let app = TestApp::spawn().await;
    let members = app.server.as_ref().unwrap().membership_app_url.clone().expect("the membership app runs in sandbox mode");
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = |phone: &str, name: &str, referral: &str| vec![("phone", phone.to_string()), ("name", name.to_string()), ("referral", referral.to_string())];
    // registering signs the member in with a cookie
    let signed_in = |res: reqwest::Response| {
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string()
    };
    let a = signed_in(http.post(format!("{members}/register")).form(&form("0913000001", "Le Van A", "")).send().await.unwrap());
    let page = http.get(format!("{members}/")).header("cookie", &a).send().await.unwrap().text().await.unwrap();
    let code = page.split("data-testid=\"referral-code\">").nth(1).and_then(|s| s.split('<').next()).unwrap().to_string();
    assert_eq!(code, "1001");
    let refused = http.post(format!("{members}/register")).form(&form("0913000002", "Pham Thi B", "999")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let b = signed_in(http.post(format!("{members}/register")).form(&form("0913000002", "Pham Thi B", &code)).send().await.unwrap());
    http.post(format!("{members}/buy")).header("cookie", &b).form(&[("amount", "200.000")]).send().await.unwrap();
    http.post(format!("{members}/checkin")).header("cookie", &b).send().await.unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let log = loop {
        let log: Value = http.get(format!("{members}/sandbox/tickets")).send().await.unwrap().json().await.unwrap();
        let statuses: Vec<&str> = log.as_array().unwrap().iter().map(|s| s["result"]["ticketStatus"].as_str().unwrap_or("queued")).collect();
        if statuses.len() == 6 && statuses.iter().all(|s| *s == "success") {
            break log;
        }
        assert!(tokio::time::Instant::now() < deadline, "{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let actions: Vec<&str> = log.as_array().unwrap().iter().rev().map(|s| s["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["register", "register", "registerreferral", "transaction", "transactionreferral", "dailycheckin"]);
    // B: welcome 50 + referred 50 + purchase 20 + check-in 5; A: welcome 50 + referrer 100 + 10 % share 2
    let page = http.get(format!("{members}/")).header("cookie", &b).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<span data-testid=\"balance\">125</span>"), "{page}");
    let page = http.get(format!("{members}/")).header("cookie", &a).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<span data-testid=\"balance\">152</span>"), "{page}");
    assert!(domain::ledger::inconsistent_accounts(app.db()).await.unwrap().is_empty());
    app.stop().await;
}
