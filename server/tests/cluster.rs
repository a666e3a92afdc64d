//! Several instances as one service: three `joygate serve` processes on one PostgreSQL behind
//! nginx (Debian's, round robin), started and stopped by this test. `make test-cluster` runs it
//! (inside `make test`); it needs `JOYGATE_TEST_POSTGRES_URL` (scripts/with-postgres sets it).
//!
//! What it proves: a sign-in begun on one instance finishes on the others; 2,000 point postings
//! with client retries spread over all instances and through nginx are each credited once and
//! never overdraw — while one instance is killed with SIGKILL mid-run and restarted — and
//! `joygate ledger check` is clean; every webhook event reaches the partner's receiver (the
//! killed instance's leased deliveries are picked up by the others after the lease), repeated at
//! most for the deliveries that instance had in flight. And kill -9 under load
//! (`kill_minus_nine_under_load_loses_nothing`): ten SIGKILLs of random instances at random
//! moments (`JOYGATE_CHAOS_KILLS`, `make chaos` for a long run) lose and double nothing: the
//! postings, the Tiki VIP IPNs (each sent up to three times) and the refunds an operator asks
//! for meanwhile, sent to the payment partner by the outbox.

use std::{
    collections::{HashMap, HashSet},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use domain::identity::clients::{self, ClientSpec};
use rand::Rng;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

const INSTANCES: usize = 3;
const POSTINGS: usize = 2_000;
const MEMBERS: usize = 20;
const CLIENT: &str = "cluster-shop";
const SECRET: &str = "cluster-shop-secret-0123456789abcdef";
const REDIRECT: &str = "http://localhost:4999/cb";
/// An instance's claim on an outbox job lasts this long (config `[worker] lease_s`).
const LEASE_S: u64 = 4;
/// Outbox jobs an instance runs at once (config `[worker] concurrency`).
const WORKER_CONCURRENCY: usize = 4;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Instance {
    port: u16,
    child: Option<Child>,
    log: PathBuf,
}

struct Cluster {
    dir: tempfile::TempDir,
    db_url: String,
    /// nginx's address: the public URL of every instance.
    url: String,
    instances: Vec<Instance>,
    nginx: Child,
}

impl Cluster {
    fn instance_url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.instances[i].port)
    }

    fn spawn_instance(dir: &Path, db_url: &str, public: &str, port: u16, log: &Path) -> Child {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        Command::new(env!("CARGO_BIN_EXE_joygate"))
            .arg("serve")
            .current_dir(dir)
            .env("JOYGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env("JOYGATE_PUBLIC_URL", public)
            .env("JOYGATE_DATABASE_URL", db_url)
            .env("JOYGATE_SANDBOX", "true") // the SMS inbox, in the database
            .env("JOYGATE_DEMO_PARTNER__ENABLED", "false")
            .env("JOYGATE_PAYMENT_PARTNER__ENABLED", "false")
            .env("JOYGATE_SUPERAPP_PLATFORM__ENABLED", "false")
            .env("JOYGATE_MEMBERSHIP_APP__ENABLED", "false")
            .env("JOYGATE_WORKER__LEASE_S", LEASE_S.to_string())
            .env("JOYGATE_WORKER__CONCURRENCY", WORKER_CONCURRENCY.to_string())
            .env("JOYGATE_WEBHOOKS__FIRST_RETRY_MS", "200")
            .env("JOYGATE_WEBHOOKS__MAX_RETRY_DELAY_MS", "1000")
            .env("JOYGATE_IDENTITY__OTP_PER_IP_PER_HOUR", "10000")
            .env("JOYGATE_LOG__FILTER", "warn")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("joygate starts")
    }

    async fn start(db_url: String) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let nginx_port = free_port();
        let url = format!("http://127.0.0.1:{nginx_port}");
        // All instances start at once on the empty database: migrations and the first signing
        // key must come out right anyway.
        let instances: Vec<Instance> = (0..INSTANCES)
            .map(|i| {
                let port = free_port();
                let log = dir.path().join(format!("instance-{i}.log"));
                let child = Self::spawn_instance(dir.path(), &db_url, &url, port, &log);
                Instance { port, child: Some(child), log }
            })
            .collect();
        let upstreams: String = instances.iter().map(|i| format!("server 127.0.0.1:{} max_fails=1 fail_timeout=1s; ", i.port)).collect();
        let template = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/nginx-cluster.conf")).unwrap();
        let conf = template
            .replace("@DIR@", &dir.path().display().to_string())
            .replace("@LISTEN@", &format!("127.0.0.1:{nginx_port}"))
            .replace("@UPSTREAMS@", &upstreams);
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let nginx = Command::new("nginx")
            .args(["-c", &dir.path().join("nginx.conf").display().to_string(), "-p", &dir.path().display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx (Debian's package) starts");
        let cluster = Cluster { dir, db_url, url, instances, nginx };
        for i in 0..INSTANCES {
            cluster.wait_ready(&cluster.instance_url(i)).await;
        }
        cluster.wait_ready(&cluster.url).await;
        cluster
    }

    async fn wait_ready(&self, url: &str) {
        let client = reqwest::Client::new();
        let start = Instant::now();
        loop {
            if let Ok(res) = client.get(format!("{url}/readyz")).send().await {
                if res.status() == StatusCode::OK {
                    return;
                }
            }
            if start.elapsed() > Duration::from_secs(60) {
                let logs: String = self.instances.iter().map(|i| std::fs::read_to_string(&i.log).unwrap_or_default()).collect();
                panic!("{url} never became ready; logs:\n{logs}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// SIGKILL: no graceful shutdown, leases and in-flight requests are simply lost.
    fn kill(&mut self, i: usize) {
        let mut child = self.instances[i].child.take().expect("running");
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
    }

    async fn restart(&mut self, i: usize) {
        let inst = &self.instances[i];
        let child = Self::spawn_instance(self.dir.path(), &self.db_url, &self.url, inst.port, &inst.log);
        self.instances[i].child = Some(child);
        self.wait_ready(&self.instance_url(i)).await;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in &mut self.instances {
            if let Some(c) = i.child.as_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        // SIGTERM, not SIGKILL: the master stops its workers (killed, it would leave them
        // listening, orphaned)
        let _ = Command::new("kill").args(["-TERM", &self.nginx.id().to_string()]).status();
        let _ = self.nginx.wait();
    }
}

type Counts = Arc<Mutex<HashMap<String, u32>>>;
/// Open (`true`) or holding every call to the receiver.
type Gate = Arc<tokio::sync::watch::Sender<bool>>;

/// The partner's side: its webhook receiver (`/hook`) and, as the Tiki payment partner, its
/// refund API (`/refunds`). Both answer 200 after a short delay (so calls are in flight when an
/// instance dies) and count every call, per event id and per refund request_id; while the gate
/// is closed (`false`) they hold every call. Returns the base URL, the deliveries, the refunds
/// and the gate.
async fn receiver() -> (String, Counts, Counts, Gate) {
    let (seen, refunds): (Counts, Counts) = Default::default();
    let gate: Gate = Arc::new(tokio::sync::watch::channel(true).0);
    let count = |counts: Counts, field: &'static str| {
        let gate = gate.clone();
        move |body: String| {
            let counts = counts.clone();
            let mut open = gate.subscribe();
            async move {
                let _ = open.wait_for(|open| *open).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
                let v: Value = serde_json::from_str(&body).unwrap_or_default();
                let id = v[field].as_str().unwrap_or_default().to_string();
                *counts.lock().unwrap().entry(id).or_default() += 1;
                StatusCode::OK
            }
        }
    };
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(count(seen.clone(), "event_id")))
        .route("/refunds", axum::routing::post(count(refunds.clone(), "request_id")));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen, refunds, gate)
}

async fn partner_token(http: &reqwest::Client, base: &str) -> String {
    let res = http.post(format!("{base}/token")).basic_auth(CLIENT, Some(SECRET)).form(&[("grant_type", "client_credentials"), ("scope", "partner")]).send().await.unwrap();
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().expect("a partner token").to_string()
}

/// Calls one of the sign-in page's server functions on `base`, as the hydrated page does.
async fn signin_fn(http: &reqwest::Client, base: &str, public: &str, name: &str, form: &[(&str, &str)]) -> reqwest::Response {
    http.post(format!("{base}/api/signin/{name}")).header(header::ORIGIN, public).form(form).send().await.unwrap()
}

/// A sign-in whose every step lands on another instance than the step before.
async fn sign_in_across_instances(c: &Cluster, http: &reqwest::Client) {
    let at = |i: usize| c.instance_url(i % INSTANCES);
    let verifier = "a-pkce-verifier-that-is-long-enough-0123456789abcdefghij";
    let challenge = {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
    };
    let authorize = format!(
        "{}/authorize?client_id={CLIENT}&redirect_uri={REDIRECT}&response_type=code&scope=openid%20phone&state=st-1&code_challenge={challenge}&code_challenge_method=S256",
        at(0)
    );
    let res = http.get(authorize).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "instance 0 starts the sign-in");
    let location = res.headers()[header::LOCATION].to_str().unwrap().to_string();
    let flow = location.trim_start_matches("/signin/").split('?').next().unwrap().to_string();
    let view: Value = signin_fn(http, &at(1), &c.url, "flow", &[("flow", &flow)]).await.json().await.unwrap();
    let csrf = view["csrf"].as_str().expect("instance 1 knows the flow").to_string();
    let phone = "0912888777";
    assert_eq!(signin_fn(http, &at(2), &c.url, "phone", &[("flow", &flow), ("csrf", &csrf), ("phone", phone)]).await.status(), StatusCode::OK);
    let inbox: Value = http.get(format!("{}/sandbox/sms?phone={phone}", at(0))).send().await.unwrap().json().await.unwrap();
    let code = inbox["messages"][0]["text"].as_str().expect("instance 0 sees the code instance 2 sent")[..6].to_string();
    assert_eq!(signin_fn(http, &at(1), &c.url, "code", &[("flow", &flow), ("csrf", &csrf), ("code", &code)]).await.status(), StatusCode::OK);
    let form = [("flow", flow.as_str()), ("csrf", &csrf), ("full_name", "Nguyễn Cụm Máy"), ("date_of_birth", "1990-01-02"), ("email", "")];
    assert_eq!(signin_fn(http, &at(2), &c.url, "profile", &form).await.status(), StatusCode::OK);
    let view: Value = signin_fn(http, &at(0), &c.url, "flow", &[("flow", &flow)]).await.json().await.unwrap();
    assert_eq!(view["screen"], "done", "{view}");
    let done = view["done_url"].as_str().unwrap();
    let code = url::Url::parse(done).unwrap().query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).expect("a code");
    let res = http
        .post(format!("{}/token", at(1)))
        .basic_auth(CLIENT, Some(SECRET))
        .form(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT), ("code_verifier", verifier)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "instance 1 redeems the code instance 2 issued");
    let tokens: Value = res.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let info: Value = http.get(format!("{}/userinfo", at(2))).bearer_auth(access).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["phone_number"], "+84912888777", "instance 2 honours the token instance 1 signed: {info}");
}

/// A request sent to a random instance or nginx until one answers: a lost connection (the
/// instance was killed) or a 5xx is sent again, as a partner would. `request` builds it anew
/// for each try (a signed request signs again). Returns the answer (a 2xx or a documented 4xx).
async fn until_answered(bases: &[String], what: &str, request: impl Fn(&str) -> reqwest::RequestBuilder) -> (StatusCode, Value) {
    for _ in 0..200 {
        let base = &bases[rand::thread_rng().gen_range(0..bases.len())];
        match request(base).send().await {
            Ok(res) if !res.status().is_server_error() => {
                let status = res.status();
                return (status, res.json().await.unwrap_or_default());
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("{what} never answered");
}

/// One posting, retried with the same transactionId until acknowledged.
async fn post_until_answered(http: &reqwest::Client, bases: &[String], token: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    until_answered(bases, path, |base| http.post(format!("{base}{path}")).bearer_auth(token).json(body)).await
}

/// The cluster with the partner, its webhook and its members: what both tests start from.
struct Setup {
    c: Cluster,
    db: domain::Db,
    db_url: String,
    _guard: domain::store::testing::TestDb,
    _scratch: tempfile::TempDir,
    http: reqwest::Client,
    token: String,
    members: Vec<String>,
    deliveries: Counts,
    /// Closed, the receiver holds every delivery: an instance killed then dies in the middle of one.
    gate: Gate,
    /// Tiki VIP: the payments waiting for their IPN (tiki_transaction_id), and the refunds the
    /// payment partner received.
    payments: Vec<String>,
    refunds: Counts,
}

async fn setup() -> Setup {
    let admin = std::env::var("JOYGATE_TEST_POSTGRES_URL").expect("JOYGATE_TEST_POSTGRES_URL: run through scripts/with-postgres (make test-cluster)");
    assert!(admin.starts_with("postgres"), "the cluster test runs on PostgreSQL");
    let scratch = tempfile::tempdir().unwrap();
    let (db_url, guard) = domain::store::testing::fresh_url(scratch.path()).await;
    let c = Cluster::start(db_url.clone()).await;
    let db = domain::Db::connect(&db_url).await.unwrap();
    let spec = ClientSpec {
        client_id: CLIENT.into(),
        name: "Cluster Shop".into(),
        confidential: true,
        redirect_uris: vec![REDIRECT.into()],
        web_origins: vec!["http://localhost:4999".into()],
        logo_uri: None,
        secret_sha256: Some(clients::secret_sha256(SECRET)),
        scopes: Vec::new(),
        id_token_signed_response_alg: Default::default(),
    };
    clients::register(&db, &spec, true, domain::now_ms()).await.unwrap();
    let (partner_api, deliveries, refunds, gate) = receiver().await;
    domain::events::webhooks::register(&db, CLIENT, &format!("{partner_api}/hook"), &["user.updated-balance".to_string()], false, domain::now_ms())
        .await
        .unwrap();
    let payments = tiki_payments(&db, &partner_api).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(30)).build().unwrap();
    // members, and the partner's token from one instance used on all
    let token = partner_token(&http, &c.url).await;
    let mut members = Vec::new();
    for m in 0..MEMBERS {
        let body = json!({"phone": format!("09130{m:05}"), "fullName": "Thành Viên Cụm"});
        let res = http.post(format!("{}/api-user/partner/v1/user/onboard", c.instance_url(m % INSTANCES))).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        members.push(res.json::<Value>().await.unwrap()["data"]["skyjoyId"].as_str().unwrap().to_string());
    }
    Setup { c, db, db_url, _guard: guard, _scratch: scratch, http, token, members, deliveries, gate, payments, refunds }
}

const TIKI_PARTNER: &str = "CLUSTERPAY";
const TIKI_CLIENT_ID: &str = "cluster-pay";
const TIKI_SECRET: &str = "cluster-pay-secret-0123456789";
const PAYMENTS: usize = 60;

/// The Tiki payment partner (its refund API is the receiver's) and [`PAYMENTS`] customers, each
/// with a PENDING payment for the one-month plan, as the webview leaves them.
async fn tiki_payments(db: &domain::Db, partner_api: &str) -> Vec<String> {
    use domain::tikivip::{customers, partners, payments, Plan};
    let partner = partners::Partner {
        partner_code: TIKI_PARTNER.into(),
        name: "Cluster Pay".into(),
        client_id: TIKI_CLIENT_ID.into(),
        client_secret: TIKI_SECRET.into(),
        api_base_url: partner_api.into(),
        open_mode: Default::default(),
    };
    partners::register(db, &partner, domain::now_ms()).await.unwrap();
    let plan = &Plan::defaults()[0];
    let mut ids = Vec::new();
    for n in 0..PAYMENTS {
        let req = customers::CustomerRequest { identify_code: format!("cluster-{n}"), phone: format!("0914{n:06}"), full_name: None };
        let link = customers::open_link(db, TIKI_PARTNER, &req, 60_000, domain::now_ms()).await.unwrap();
        let (payment, created) = payments::open_payment(db, &link.customer, plan, domain::now_ms()).await.unwrap();
        assert!(created);
        ids.push(payment.tiki_transaction_id);
    }
    ids
}

/// A signed IPN (signed again for each try) until an instance answers; Tiki's code.
async fn ipn_until_answered(http: &reqwest::Client, bases: &[String], tiki_id: &str, n: usize) -> i64 {
    use domain::signing::tikivip as sig;
    let body = json!({"reference_transaction_id": tiki_id, "transaction_amount": domain::tikivip::Plan::defaults()[0].price,
                      "transaction_id": format!("PT-{n}"), "status": "SUCCESS", "partner_banking_method": "WALLET"})
    .to_string();
    let (status, answer) = until_answered(bases, tiki_id, |base| {
        let now = domain::now_ms();
        http.post(format!("{base}/miniapp/tikivip/payment/ipn"))
            .header(sig::HEADER_CLIENT_ID, TIKI_CLIENT_ID)
            .header(sig::HEADER_TIMESTAMP, now.to_string())
            .header(sig::HEADER_SIGNATURE, sig::sign(TIKI_SECRET.as_bytes(), now, TIKI_CLIENT_ID, body.as_bytes()))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.clone())
    })
    .await;
    assert_eq!(status, StatusCode::OK, "the IPN of {tiki_id}: {answer}");
    answer["code"].as_i64().expect("Tiki's code")
}

/// IPNs for every payment (each sent 1 to 3 times, through random instances and nginx) and, as
/// each is acknowledged, a full refund of every other one requested by the operator; spread over
/// the postings (the n-th IPN once the postings have reached the n-th share), so the kills fall
/// among them. Returns the refunds asked for (request_id, tiki_transaction_id).
fn tiki_load(s: &Setup, load: &Load) -> tokio::task::JoinHandle<Vec<(String, String)>> {
    let bases: Vec<String> = (0..INSTANCES).map(|i| s.c.instance_url(i)).chain([s.c.url.clone()]).collect();
    let (http, db, payments) = (s.http.clone(), s.db.clone(), s.payments.clone());
    let (started, total) = (load.next.clone(), load.total);
    tokio::spawn(async move {
        let mut refunds = Vec::new();
        for (n, tiki_id) in payments.iter().enumerate() {
            while started.load(std::sync::atomic::Ordering::SeqCst) < n * total / payments.len() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            for _ in 0..1 + n % 3 {
                // a retry of an applied IPN answers code 0 again and changes nothing
                assert_eq!(ipn_until_answered(&http, &bases, tiki_id, n).await, 0, "IPN {n} of {tiki_id}");
            }
            if n % 2 == 0 {
                let request_id = format!("RF-{n}");
                let price = domain::tikivip::Plan::defaults()[0].price;
                domain::tikivip::refunds::request(&db, tiki_id, price, "chaos test", &request_id, domain::now_ms()).await.unwrap();
                refunds.push((request_id, tiki_id.clone()));
            }
        }
        refunds
    })
}

/// Every payment paid once (VIP granted for one month, not two), every refund asked for settled
/// once at the partner and here (the VIP time taken back), nothing refunded beyond the price.
/// Run after [`check_deliveries`] has seen the outbox empty. Returns the refunds repeated.
async fn check_payments(s: &Setup, refunds: &[(String, String)], max_repeats: usize) -> u32 {
    use domain::tikivip::{payments, refunds as tiki_refunds, Plan};
    let price = Plan::defaults()[0].price;
    let refunded: HashSet<&str> = refunds.iter().map(|(_, t)| t.as_str()).collect();
    let now = domain::now_ms();
    for tiki_id in &s.payments {
        let p = payments::find(&s.db, tiki_id).await.unwrap().unwrap();
        assert_eq!(p.status, payments::Status::Success, "{tiki_id}");
        let vip_until: Option<i64> = sqlx::query_scalar("SELECT vip_until FROM tikivip_customers WHERE id = $1").bind(&p.customer_id).fetch_one(s.db.pool()).await.unwrap();
        let vip_until = vip_until.expect("VIP was granted");
        if refunded.contains(tiki_id.as_str()) {
            assert_eq!((p.refunded_amount, p.vip_granted), (price, false), "{tiki_id}: refunded once, in full");
            assert!(vip_until <= now, "{tiki_id}: the refund took the VIP time back");
        } else {
            assert_eq!((p.refunded_amount, p.vip_granted), (0, true), "{tiki_id}");
            assert!(vip_until <= now + 32 * 86_400_000 && vip_until > now + 27 * 86_400_000, "{tiki_id}: one month of VIP, once");
        }
    }
    let received = s.refunds.lock().unwrap().clone();
    for (request_id, _) in refunds {
        let r = tiki_refunds::find(&s.db, request_id).await.unwrap().unwrap();
        assert_eq!(r.status, tiki_refunds::RefundStatus::Success, "{request_id}");
        assert!(received.contains_key(request_id), "{request_id} reached the partner");
    }
    let repeated: u32 = received.values().map(|n| n - 1).sum();
    assert!(repeated as usize <= max_repeats, "a refund call repeats only when the instance sending it died: {repeated}");
    repeated
}

type Acknowledged = Arc<Mutex<Vec<(String, StatusCode, Value)>>>;

/// `total` postings from 64 concurrent clients, each sent 1–3 times (accruals, and every fourth a
/// redemption that may find the balance short), through random instances and nginx.
struct Load {
    next: Arc<std::sync::atomic::AtomicUsize>,
    acknowledged: Acknowledged,
    clients: Vec<tokio::task::JoinHandle<()>>,
    total: usize,
}

impl Load {
    fn start(s: &Setup, total: usize) -> Load {
        let bases: Vec<String> = (0..INSTANCES).map(|i| s.c.instance_url(i)).chain([s.c.url.clone()]).collect();
        let acknowledged: Acknowledged = Arc::default();
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut clients = Vec::new();
        for _ in 0..64 {
            let (http, bases, token, members, acknowledged, next) = (s.http.clone(), bases.clone(), s.token.clone(), s.members.clone(), acknowledged.clone(), next.clone());
            clients.push(tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if n >= total {
                        return;
                    }
                    // each member gets accruals and redemptions alike
                    let sj = &members[(n / 4) % MEMBERS];
                    let txn = format!("CL-{n}");
                    let (path, body) = if n % 4 == 3 {
                        ("/api-point/partner/v1/point-redemption", json!({"skyjoyId": sj, "transactionId": txn, "transactionDate": 1_700_000_000_000i64, "transactionAmount": 0, "usedPoint": 7}))
                    } else {
                        ("/api-point/partner/v1/point-accrual", json!({"skyjoyId": sj, "transactionId": txn, "transactionDate": 1_700_000_000_000i64, "transactionAmount": 50_000}))
                    };
                    // A success is final: every retry answers the same entry. A refusal (the
                    // balance was short) left nothing, so a retry is a new try and may succeed.
                    let tries = 1 + n % 3;
                    let mut last: Option<(StatusCode, Value)> = None;
                    for _ in 0..tries {
                        let answer = post_until_answered(&http, &bases, &token, path, &body).await;
                        if let Some((s, b)) = last.as_ref().filter(|(s, _)| s.is_success()) {
                            assert_eq!(answer.0, *s, "a retry of a success gets the same answer: {b} / {}", answer.1);
                            assert_eq!(answer.1["data"]["bitReference"], b["data"]["bitReference"], "a retry is the same entry");
                        }
                        last = Some(answer);
                    }
                    let (s, b) = last.unwrap();
                    acknowledged.lock().unwrap().push((txn, s, b));
                }
            }));
        }
        Load { next, acknowledged, clients, total }
    }

    /// Waits until `n` postings have been started.
    async fn reach(&self, n: usize, deadline: Instant) {
        while self.next.load(std::sync::atomic::Ordering::SeqCst) < n {
            assert!(Instant::now() < deadline, "postings stalled before {n}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for every client, then checks that every acknowledged posting is in the ledger
    /// exactly once, every refusal left nothing, nothing is overdrawn and `joygate ledger check`
    /// is clean. Returns (credited or spent, refused).
    async fn finish_and_check(self, s: &Setup) -> (usize, usize) {
        for t in self.clients {
            t.await.unwrap();
        }
        let acknowledged = self.acknowledged.lock().unwrap().clone();
        assert_eq!(acknowledged.len(), self.total);
        let entries: Vec<(String, String)> =
            sqlx::query_as("SELECT transaction_id, bit_reference FROM ledger_entries WHERE client_id = $1").bind(CLIENT).fetch_all(s.db.pool()).await.unwrap();
        let by_txn: HashMap<&str, &str> = entries.iter().map(|(t, b)| (t.as_str(), b.as_str())).collect();
        assert_eq!(by_txn.len(), entries.len(), "one entry per transactionId");
        let (mut ok, mut refused) = (0, 0);
        for (txn, status, body) in &acknowledged {
            if status.is_success() {
                ok += 1;
                assert_eq!(by_txn.get(txn.as_str()).copied(), body["data"]["bitReference"].as_str(), "{txn} credited once, as acknowledged");
            } else {
                refused += 1;
                assert_eq!((*status, body["errors"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("INSUFFICIENT_BALANCE")), "{txn}: {body}");
                assert!(!by_txn.contains_key(txn.as_str()), "{txn} was refused and left no entry");
            }
        }
        assert_eq!(ok, entries.len());
        let negative: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ledger_accounts WHERE balance < 0 OR locked < 0").fetch_one(s.db.pool()).await.unwrap();
        assert_eq!(negative, 0, "never overdrawn");
        let check = Command::new(env!("CARGO_BIN_EXE_joygate")).args(["ledger", "check"]).env("JOYGATE_DATABASE_URL", &s.db_url).output().unwrap();
        assert!(check.status.success(), "joygate ledger check: {}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
        (ok, refused)
    }
}

/// Every balance event reaches the receiver once the dead instances' leases have run out, none
/// is given up, and a delivery repeats only when the instance running it died (at most
/// `max_repeats`). Returns (events delivered, repeats, deliveries taken over after a lease).
async fn check_deliveries(s: &Setup, max_repeats: usize) -> (usize, u32, i64) {
    let events: Vec<String> = sqlx::query_scalar("SELECT event_id FROM webhook_events WHERE event_type = 'user.updated-balance'").fetch_all(s.db.pool()).await.unwrap();
    let expected: HashSet<String> = events.into_iter().collect();
    let wait_until = Instant::now() + Duration::from_secs(120);
    loop {
        let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox_jobs WHERE state IN ('pending', 'running')").fetch_one(s.db.pool()).await.unwrap();
        let received: HashSet<String> = s.deliveries.lock().unwrap().keys().cloned().collect();
        if open == 0 && expected.is_subset(&received) {
            break;
        }
        assert!(Instant::now() < wait_until, "{open} outbox jobs still open; {} of {} events received", received.len(), expected.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let dead: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox_jobs WHERE state = 'dead'").fetch_one(s.db.pool()).await.unwrap();
    assert_eq!(dead, 0, "no delivery was given up");
    // jobs whose attempt died with an instance (claimed, never finished: no attempt logged) and
    // that another instance ran after the lease
    let taken_over: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox_jobs j WHERE j.attempts > (SELECT COUNT(*) FROM outbox_attempts a WHERE a.job_id = j.id)",
    )
    .fetch_one(s.db.pool())
    .await
    .unwrap();
    let counts = s.deliveries.lock().unwrap().clone();
    let repeated: u32 = counts.values().map(|n| n - 1).sum();
    assert!(
        repeated as usize <= max_repeats,
        "a delivery repeats only when the instance running it died: {repeated} repeats, at most {max_repeats} were in flight on the killed instances"
    );
    (expected.len(), repeated, taken_over)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_behind_nginx_behave_as_one_service() {
    let mut s = setup().await;
    // one first key per algorithm (RS256, ES256, EdDSA), however many instances raced to make it
    let mut keys: Vec<(String, i64)> = sqlx::query_as("SELECT alg, COUNT(*) FROM oidc_signing_keys GROUP BY alg").fetch_all(s.db.pool()).await.unwrap();
    keys.sort();
    assert_eq!(
        keys,
        vec![("ES256".to_string(), 1), ("EdDSA".to_string(), 1), ("RS256".to_string(), 1)],
        "three instances starting together made one first signing key per algorithm"
    );
    sign_in_across_instances(&s.c, &s.http).await;

    // 2,000 postings; instance 1 is killed after a third of them and comes back after two thirds.
    let load = Load::start(&s, POSTINGS);
    let deadline = Instant::now() + Duration::from_secs(300);
    load.reach(POSTINGS / 3, deadline).await;
    // Kill instance 1 while it runs deliveries (its lease owners carry the name /readyz gives):
    // the receiver holds every delivery until then, so one it claimed is surely still running
    // (with a 20 ms answer alone, it sometimes finished between this check and the kill).
    s.gate.send_replace(false);
    let name: Value = s.http.get(format!("{}/readyz", s.c.instance_url(1))).send().await.unwrap().json().await.unwrap();
    let owners = format!("{}:%", name["instance"].as_str().expect("the instance's name"));
    loop {
        let running: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox_jobs WHERE state = 'running' AND lease_owner LIKE $1")
            .bind(&owners)
            .fetch_one(s.db.pool())
            .await
            .unwrap();
        if running > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "instance 1 never ran a delivery");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let in_flight_when_killed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox_jobs WHERE state IN ('pending', 'running')").fetch_one(s.db.pool()).await.unwrap();
    s.c.kill(1);
    s.gate.send_replace(true);
    load.reach(2 * POSTINGS / 3, deadline).await;
    s.c.restart(1).await;
    let (ok, refused) = load.finish_and_check(&s).await;
    let (delivered, repeated, taken_over) = check_deliveries(&s, WORKER_CONCURRENCY).await;
    assert!(taken_over >= 1, "the deliveries instance 1 was running when it died were run again by the others");
    println!(
        "cluster: {POSTINGS} postings ({ok} credited or spent, {refused} refused for the balance), {delivered} events delivered ({repeated} repeated), \
         {in_flight_when_killed} outbox jobs open when instance 1 was killed, {taken_over} of its deliveries taken over after the lease"
    );
    s.db.close().await;
}

/// kill -9 under load: `JOYGATE_CHAOS_KILLS` times (10 unless set; `make chaos` asks for more),
/// at moments spread over the run with a random jitter, a random instance is SIGKILLed and
/// restarted (one down at a time, so the service stays up), while postings with client retries
/// and webhook deliveries go on. Afterwards every acknowledged posting is in the ledger once,
/// nothing is overdrawn or half-applied (`joygate ledger check`), and every event is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_minus_nine_under_load_loses_nothing() {
    let kills: usize = std::env::var("JOYGATE_CHAOS_KILLS").ok().and_then(|k| k.parse().ok()).unwrap_or(10);
    let total = (150 * (kills + 1)).max(POSTINGS / 2);
    let seed: u64 = std::env::var("JOYGATE_CHAOS_SEED").ok().and_then(|k| k.parse().ok()).unwrap_or_else(|| rand::thread_rng().gen());
    println!("chaos: seed {seed} (JOYGATE_CHAOS_SEED={seed} repeats the choice of instances and moments)");
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    let mut s = setup().await;
    let load = Load::start(&s, total);
    let tiki = tiki_load(&s, &load);
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut killed = vec![0usize; INSTANCES];
    for k in 0..kills {
        // the k-th kill somewhere in the k-th slice of the run
        let slice = total / (kills + 1);
        load.reach(slice * (k + 1) + rng.gen_range(0..slice / 2), deadline).await;
        let i = rng.gen_range(0..INSTANCES);
        s.c.kill(i);
        killed[i] += 1;
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..400))).await;
        s.c.restart(i).await;
    }
    let (ok, refused) = load.finish_and_check(&s).await;
    let refunds = tiki.await.unwrap();
    let (delivered, repeated, taken_over) = check_deliveries(&s, kills * WORKER_CONCURRENCY).await;
    let refunds_repeated = check_payments(&s, &refunds, kills * WORKER_CONCURRENCY).await;
    println!(
        "chaos: {kills} SIGKILLs (per instance {killed:?}) during {total} postings with retries: {ok} credited or spent once, {refused} refused for the balance, \
         0 lost, 0 doubled, ledger check clean; {delivered} events delivered ({repeated} repeated, {taken_over} outbox jobs taken over after a lease); \
         {PAYMENTS} IPNs (each sent 1-3 times) applied once, {} refunds settled once ({refunds_repeated} partner calls repeated)",
        refunds.len()
    );
    s.db.close().await;
}
