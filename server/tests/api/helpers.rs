use joygate::{
    config::{
        BatchSettings, DemoPartnerSettings, MembershipAppSettings, PaymentPartnerSettings, Secret, SuperappPlatformSettings, TikiVipSettings,
    },
    Config, Running,
};
use domain::store::testing::TestDb;
use reqwest::{header, Client, Response};

/// A running server with its own database in a temp folder.
pub struct TestApp {
    pub server: Option<Running>,
    pub url: String,
    pub client: Client,
    _dir: tempfile::TempDir,
    _db: TestDb,
}

/// A fresh database for a test that restarts the server on it: SQLite in `dir`, or a new
/// database on `JOYGATE_TEST_POSTGRES_URL`'s server (dropped with the guard).
pub async fn fresh_database(dir: &std::path::Path) -> (Secret, TestDb) {
    let (url, guard) = domain::store::testing::fresh_url(dir).await;
    (Secret::new(url), guard)
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Like [`TestApp::spawn`], with changes to the configuration.
    pub async fn spawn_with(change: impl FnOnce(&mut Config)) -> TestApp {
        Self::spawn_with_clock(std::sync::Arc::new(domain::clock::SystemClock), change).await
    }

    /// Like [`TestApp::spawn_with`], with the clock the calendar rules read (reward check-ins).
    pub async fn spawn_with_clock(clock: std::sync::Arc<dyn domain::clock::Clock>, change: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let (database_url, db_guard) = fresh_database(dir.path()).await;
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url,
            site_root: dir.path().join("site"),
            demo_partner: DemoPartnerSettings { listen: "127.0.0.1:0".parse().unwrap(), ..DemoPartnerSettings::default() },
            payment_partner: PaymentPartnerSettings { listen: "127.0.0.1:0".parse().unwrap(), ipn_retry_ms: vec![100, 200, 400], ..PaymentPartnerSettings::default() },
            batch: BatchSettings { dir: dir.path().join("batch"), poll_s: 1 },
            tikivip: TikiVipSettings { reconcile_dir: dir.path().join("tikivip"), ..TikiVipSettings::default() },
            membership_app: MembershipAppSettings { listen: "127.0.0.1:0".parse().unwrap(), ..MembershipAppSettings::default() },
            // off unless a test turns it on (it makes two RSA keys at every start)
            superapp_platform: SuperappPlatformSettings { enabled: false, listen: "127.0.0.1:0".parse().unwrap(), ..SuperappPlatformSettings::default() },
            ..Config::default()
        };
        change(&mut config);
        let server = joygate::start_with_clock(config, clock).await.expect("server starts");
        let url = server.url();
        let client = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        TestApp { server: Some(server), url, client, _dir: dir, _db: db_guard }
    }

    pub async fn get(&self, path: &str, accept: &str) -> Response {
        self.client.get(format!("{}{path}", self.url)).header(header::ACCEPT, accept).send().await.expect("request")
    }

    pub async fn page(&self, path: &str) -> Response {
        self.get(path, "text/html,application/xhtml+xml").await
    }

    /// The inbound batch folder's root (unless the configuration was changed).
    pub fn batch_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("batch")
    }

    pub fn db(&self) -> &domain::Db {
        &self.server.as_ref().expect("running").db
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
    }
}

/// The `name=value` part of a response's Set-Cookie for `name`, with its attributes.
pub fn set_cookie(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

/// A partner of the SkyJoy APIs: the confidential client `client_id` (registered, or its secret
/// rotated) and a client_credentials token with every partner scope. Returns (secret, token).
pub async fn partner(app: &TestApp, client_id: &str) -> (String, String) {
    let secret = crate::oidc::register(app, client_id, true).await.expect("a confidential client has a secret");
    let token = crate::skyjoy::partner_token(app, client_id, &secret).await;
    (secret, token)
}

/// A member onboarded by the partner holding `token`; its SkyJoy ID.
pub async fn member(app: &TestApp, token: &str, phone: &str, full_name: &str) -> String {
    let (status, body) = crate::skyjoy::post(app, token, crate::skyjoy::ONBOARD, serde_json::json!({"phone": phone, "fullName": full_name})).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    body["data"]["skyjoyId"].as_str().expect("a SkyJoy ID").to_string()
}

/// A Tiki VIP payment partner, registered in the database (its API is not reached).
pub async fn tiki_partner(db: &domain::Db, code: &str, client_id: &str, secret: &str) {
    use domain::tikivip::partners::{self, OpenMode, Partner};
    let p = Partner {
        partner_code: code.into(),
        name: code.into(),
        client_id: client_id.into(),
        client_secret: secret.into(),
        api_base_url: "http://127.0.0.1:9/partner/v1".into(),
        open_mode: OpenMode::Url,
    };
    partners::register(db, &p, domain::now_ms()).await.expect("partner registered");
}

/// Reads a file the server's background work writes, once it is there (at most 20 s).
pub async fn wait_for_file(path: &std::path::Path) -> String {
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{} never appeared", path.display());
}
