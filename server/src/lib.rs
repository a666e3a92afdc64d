//! How the world reaches Joygate: configuration, the HTTP router and its middleware, background
//! workers and the command line. Business rules live in `domain`, pages in `app`.

pub mod benefit_platform;
pub mod cli;
pub mod config;
pub mod deliveries;
pub mod http;
pub mod rewards;
pub mod sandbox;
pub mod sms;
pub mod telemetry;
pub mod tikivip_partner;
pub mod workers;

use std::net::SocketAddr;

use anyhow::Context;
use tokio::{sync::watch, task::JoinHandle};

pub use config::Config;

/// A started server: its address, and a way to stop it gracefully.
pub struct Running {
    pub addr: SocketAddr,
    pub db: domain::Db,
    /// The demo partner's URL when it runs (sandbox mode).
    pub demo_partner_url: Option<String>,
    /// The sandbox payment partner's URL when it runs (sandbox mode).
    pub payment_partner_url: Option<String>,
    /// The sandbox membership app's URL when it runs (sandbox mode).
    pub membership_app_url: Option<String>,
    /// The sandbox super-app platform's URL when it runs (sandbox mode).
    pub superapp_platform_url: Option<String>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Asks every part to stop, then waits for in-flight requests and jobs to finish.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.db.close().await;
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Opens the database (applying migrations), binds the listener and starts the HTTP server
/// and the background workers. `config.listen` may use port 0 (tests).
pub async fn start(config: Config) -> anyhow::Result<Running> {
    start_with_clock(config, std::sync::Arc::new(domain::clock::SystemClock)).await
}

/// [`start`] with another clock for the rules that follow the calendar (reward check-ins and
/// draws); tests cross midnight with a `domain::clock::ManualClock`.
pub async fn start_with_clock(config: Config, clock: std::sync::Arc<dyn domain::clock::Clock>) -> anyhow::Result<Running> {
    telemetry::metrics_handle(); // install the recorder before the first request is counted
    let db = domain::Db::connect_with(config.database_url.expose(), &config.database.to_domain()?).await.context("opening the database")?;
    db.migrate().await.context("applying database migrations")?;
    for spec in &config.clients {
        if spec.confidential && spec.secret_sha256.is_none() {
            anyhow::bail!("[[clients]] {}: a confidential client in the configuration needs secret_sha256", spec.client_id);
        }
        domain::identity::clients::register(&db, spec, true, domain::now_ms())
            .await
            .with_context(|| format!("registering client {} from the configuration", spec.client_id))?;
    }
    let (shutdown, shutdown_rx) = watch::channel(false);

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;

    let idp = identity_provider(&config, &db, addr).await?;
    domain::identity::clients::register(&db, &http::account::client_spec(&idp.issuer), true, domain::now_ms())
        .await
        .context("registering the member pages' own sign-in client")?;
    let tikivip = tikivip(&config, &db, &idp.issuer).await?;
    let mut rewards = rewards::Rewards::from_settings(&config.rewards, &db, clock).await.context("[rewards]")?;
    let mut membership_app_url = None;
    let mut membership_task = None;
    if config.sandbox && config.membership_app.enabled {
        let (url, task) = sandbox_membership_app(&config, &db, &idp.issuer, &mut rewards, shutdown_rx.clone()).await.context("starting the sandbox membership app")?;
        tracing::info!(%url, "sandbox membership app listening");
        membership_app_url = Some(url);
        membership_task = Some(task);
    }
    let rewards = std::sync::Arc::new(rewards);
    config.benefits.check().map_err(anyhow::Error::msg)?;
    let benefit_keys = domain::benefits::keys::KeyStore::new(db.clone());
    let sandbox_platform = config.sandbox && config.superapp_platform.enabled;
    let benefit_context = http::benefits::BenefitsContext {
        keys: benefit_keys.clone(),
        window: config.benefits.window(),
        poll_after_ms: config.benefits.sync_poll_after_s.saturating_mul(1000),
        sandbox_cashier: if sandbox_platform { Some(sandbox_shop(&db).await.context("registering the sandbox shop")?) } else { None },
    };
    let platform_api = std::sync::Arc::new(benefit_platform::HttpPlatformApi::new(
        benefit_keys,
        std::time::Duration::from_millis(config.benefits.call_timeout_ms),
        config.benefits.window(),
    )?);
    // This process among the instances sharing the database: named in its leases and /readyz.
    let instance = format!("instance-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let (worker, mut tasks) = workers::spawn(&db, &idp, &config, &tikivip, &rewards, platform_api, &instance, shutdown_rx.clone())?;
    tasks.extend(membership_task);
    let router = http::router(&config, db.clone(), idp.clone(), worker, tikivip, rewards, benefit_context, addr, instance).await?;
    tasks.push(tokio::spawn(http::serve(listener, router, shutdown_rx.clone())));
    tracing::info!(%addr, "joygate listening");

    let mut demo_partner_url = None;
    if config.sandbox && config.demo_partner.enabled {
        let d = &config.demo_partner;
        let (url, task) = sandbox::demo_partner::start(&db, idp.issuer.clone(), d.listen, d.public_url.as_deref(), shutdown_rx.clone())
            .await
            .context("starting the demo partner")?;
        tracing::info!(%url, "demo partner listening");
        demo_partner_url = Some(url);
        tasks.push(task);
    }
    let mut payment_partner_url = None;
    if config.sandbox && config.payment_partner.enabled {
        let (url, task) = sandbox_payment_partner(&config, &db, &idp.issuer, shutdown_rx.clone()).await.context("starting the sandbox payment partner")?;
        tracing::info!(%url, "sandbox payment partner listening");
        payment_partner_url = Some(url);
        tasks.push(task);
    }
    let mut superapp_platform_url = None;
    if sandbox_platform {
        let (url, task) = sandbox_superapp_platform(&config, &db, &idp.issuer, shutdown_rx.clone()).await.context("starting the sandbox super-app platform")?;
        tracing::info!(%url, "sandbox super-app platform listening");
        superapp_platform_url = Some(url);
        tasks.push(task);
    }
    Ok(Running { addr, db, demo_partner_url, payment_partner_url, membership_app_url, superapp_platform_url, shutdown, tasks })
}

/// The sandbox membership app: registered as partner `sandbox-membership` (a sign-in client with
/// a fresh secret, to read its members' balances) and as a reward client with a fresh API key
/// and signing key, at every start.
async fn sandbox_membership_app(
    config: &Config,
    db: &domain::Db,
    platform_url: &str,
    rewards: &mut rewards::Rewards,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(String, JoinHandle<()>)> {
    use domain::identity::clients::{self, ClientSpec};
    use sandbox::membership_app::{self, MembershipAppConfig};
    let settings = &config.membership_app;
    let listener = tokio::net::TcpListener::bind(settings.listen).await.with_context(|| format!("binding {}", settings.listen))?;
    let own_url = match &settings.public_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => format!("http://localhost:{}", listener.local_addr()?.port()),
    };
    let signing_key = domain::signing::RsaPrivateKey::generate_2048()?;
    let (api_key, api_key_sha256) = rewards::new_api_key();
    let (client_secret, secret_sha256) = rewards::new_api_key();
    let spec = ClientSpec {
        client_id: membership_app::CLIENT_ID.into(),
        name: membership_app::NAME.into(),
        confidential: true,
        redirect_uris: vec![format!("{own_url}/callback")],
        web_origins: Vec::new(),
        logo_uri: None,
        secret_sha256: Some(secret_sha256),
        scopes: vec!["user:read".into()],
        id_token_signed_response_alg: Default::default(),
    };
    clients::register(db, &spec, false, domain::now_ms()).await?;
    let reward_settings = config::RewardClientSettings {
        api_key_sha256,
        public_key_pem: Some(signing_key.public_key().to_pem()),
        public_key_url: None,
        time_zone: Default::default(),
        rules: Default::default(),
    };
    rewards.insert(rewards::RewardClientEntry::new(membership_app::CLIENT_ID, &reward_settings)?);
    let app = MembershipAppConfig { platform_url: platform_url.trim_end_matches('/').to_string(), own_url: own_url.clone(), api_key, client_secret, signing_key };
    let task = membership_app::start(app, listener, shutdown)?;
    Ok((own_url, task))
}

/// The sandbox shop, whose cashier spends the sandbox platform's vouchers: a partner client with
/// scope `benefit:use` and a fresh secret at every start (shown at `/sandbox/cashier`).
async fn sandbox_shop(db: &domain::Db) -> anyhow::Result<(String, config::Secret)> {
    use domain::identity::clients::{self, ClientSpec};
    let spec = ClientSpec {
        client_id: sandbox::superapp_platform::SANDBOX_SHOP.into(),
        name: "Sandbox Shop".into(),
        confidential: true,
        redirect_uris: vec!["http://localhost/sandbox-shop".into()],
        scopes: vec![http::benefits::partner::SCOPE.into()],
        id_token_signed_response_alg: Default::default(),
        ..ClientSpec::default()
    };
    let (_, secret) = clients::register(db, &spec, false, domain::now_ms()).await?;
    Ok((spec.client_id, config::Secret::new(secret.unwrap_or_default())))
}

/// The sandbox super-app platform, registered as benefit platform `SANDBOX_5Y00000000000001`:
/// its own RSA key made at every start (registered as its next key version, the older ones
/// retired), our keys for it made once and kept.
async fn sandbox_superapp_platform(config: &Config, db: &domain::Db, isv_url: &str, shutdown: watch::Receiver<bool>) -> anyhow::Result<(String, JoinHandle<()>)> {
    use domain::{
        benefits::{keys, platforms},
        signing::{RsaPrivateKey, RsaPublicKey},
    };
    use sandbox::superapp_platform::{self as sp, IsvEndpoints, SuperappConfig};
    let s = &config.superapp_platform;
    let (listener, url) = sp::bind(s.listen, s.public_url.as_deref()).await?;
    let now = domain::now_ms();
    platforms::register(db, sp::CLIENT_ID, "Sandbox super-app platform", &url, now).await?;
    let key = tokio::task::spawn_blocking(RsaPrivateKey::generate_2048).await??;
    let version = keys::register_platform_key(db, sp::CLIENT_ID, None, &key.public_key().to_spki_base64(), now).await?;
    let mut isv_keys = Vec::new();
    for k in keys::list(db, sp::CLIENT_ID).await? {
        match k.owner {
            keys::Owner::Platform if k.key_version != version && k.retired_at_ms.is_none() => keys::retire(db, sp::CLIENT_ID, k.owner, k.key_version, now).await?,
            keys::Owner::Isv if k.retired_at_ms.is_none() => isv_keys.push((k.key_version, RsaPublicKey::from_spki_base64(&k.public_key)?)),
            _ => {}
        }
    }
    let b = &config.benefits;
    let platform = SuperappConfig {
        client_id: sp::CLIENT_ID.into(),
        isv: IsvEndpoints {
            base_url: isv_url.to_string(),
            notify_path: b.notify_path.clone(),
            issue_path: b.issue_path.clone(),
            reverse_path: b.reverse_path.clone(),
            query_path: b.query_path.clone(),
        },
        key,
        key_version: version,
        isv_keys,
        issue_timeout_ms: s.issue_timeout_ms,
        issue_retries: s.issue_retries,
        retry_wait_ms: s.retry_wait_ms,
        review_ms: s.review_ms,
    };
    Ok((url, sp::spawn(platform, listener, shutdown)?))
}

/// The sandbox payment partner, registered as Tiki VIP partner `SANDBOXPAY` with fresh
/// credentials at every start.
async fn sandbox_payment_partner(config: &Config, db: &domain::Db, tiki_url: &str, shutdown: watch::Receiver<bool>) -> anyhow::Result<(String, JoinHandle<()>)> {
    use domain::tikivip::partners::{self, OpenMode, Partner};
    use sandbox::payment_partner::{self, PaymentPartnerConfig};
    let pp = &config.payment_partner;
    let (client_id, client_secret) = (uuid::Uuid::new_v4().to_string(), format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple()));
    let sandbox = PaymentPartnerConfig {
        tiki_url: tiki_url.to_string(),
        partner_code: payment_partner::PARTNER_CODE.into(),
        client_id: client_id.clone(),
        client_secret: client_secret.clone(),
        ipn_retry_ms: pp.ipn_retry_ms.clone(),
    };
    let (url, task) = payment_partner::start(sandbox, pp.listen, pp.public_url.as_deref(), shutdown).await?;
    let partner = Partner {
        partner_code: payment_partner::PARTNER_CODE.into(),
        name: "Sandbox Pay".into(),
        client_id,
        client_secret,
        api_base_url: format!("{url}/partner/v1"),
        open_mode: OpenMode::Url,
    };
    partners::register(db, &partner, domain::now_ms()).await?;
    Ok((url, task))
}

/// Tiki VIP: the partners from the configuration registered, and what the APIs, pages and jobs share.
async fn tikivip(config: &Config, db: &domain::Db, public_url: &str) -> anyhow::Result<domain::tikivip::TikiVip> {
    use domain::tikivip::{partners, TikiVip};
    let settings = &config.tikivip;
    anyhow::ensure!(!settings.plans.is_empty(), "[tikivip] needs at least one plan");
    for p in &settings.partners {
        let partner = partners::Partner {
            partner_code: p.partner_code.clone(),
            name: p.name.clone(),
            client_id: p.client_id.clone(),
            client_secret: p.client_secret.expose().to_string(),
            api_base_url: p.api_base_url.clone(),
            open_mode: p.open_mode,
        };
        partners::register(db, &partner, domain::now_ms()).await.with_context(|| format!("[[tikivip.partners]] {}", p.partner_code))?;
    }
    Ok(TikiVip {
        db: db.clone(),
        plans: std::sync::Arc::new(settings.plans.clone()),
        api: std::sync::Arc::new(tikivip_partner::HttpPartnerApi::new()?),
        policy: settings.pending_policy(),
        link_ttl_ms: settings.open_link_ttl_s * 1000,
        public_url: public_url.to_string(),
    })
}

/// The sign-in provider: its policies from the configuration, its SMS sender, its keys.
async fn identity_provider(config: &Config, db: &domain::Db, addr: SocketAddr) -> anyhow::Result<domain::identity::Idp> {
    use std::sync::Arc;

    use domain::identity::{
        grants::GrantPolicy,
        otp::OtpPolicy,
        sms::{DevInbox, LogSender, SmsSender},
        tokens::TokenPolicy,
        Idp,
    };
    let inbox = config.sandbox.then(|| DevInbox::new(db.clone()));
    let sms: Arc<dyn SmsSender> = match &config.sms.url {
        Some(url) => Arc::new(sms::WebhookSender::new(url.clone(), config.sms.token.expose().to_string())?),
        None => Arc::new(LogSender { inbox: inbox.clone() }),
    };
    let ids = &config.identity;
    let tokens = TokenPolicy { access_ttl_s: ids.access_token_ttl_s, id_ttl_s: ids.id_token_ttl_s };
    let grants = GrantPolicy {
        code_ttl_ms: ids.code_ttl_s * 1000,
        refresh_ttl_ms: ids.refresh_token_ttl_days * 86_400_000,
        public_refresh_ttl_ms: ids.public_refresh_token_ttl_hours * 3_600_000,
    };
    let otp = OtpPolicy {
        per_phone_per_hour: ids.otp_per_phone_per_hour,
        per_ip_per_hour: ids.otp_per_ip_per_hour,
        resend_after_ms: ids.otp_resend_after_s * 1000,
        ..OtpPolicy::default()
    };
    anyhow::ensure!(ids.client_cache_ms <= 60_000, "[identity] client_cache_ms must be 0 to 60000");
    let clients = domain::identity::clients::ClientCache::new(ids.client_cache_ms);
    let idp = Idp::new(db.clone(), config.public_url(addr), otp, grants, tokens, clients, sms, inbox, domain::now_ms())
        .await
        .context("loading the token signing keys")?;
    Ok(idp)
}
