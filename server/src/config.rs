//! Configuration: zero-config defaults, then an optional TOML file, then `JOYGATE_*`
//! environment variables (nested keys with `__`, e.g. `JOYGATE_LOG__FORMAT=json`).

use std::{fmt, net::SocketAddr, path::PathBuf};

use figment::{
    providers::{Env, Format, Serialized, Toml},
    Figment,
};
use serde::{Deserialize, Serialize};

/// A value that must never reach a log line: `Debug` prints `[redacted]`. (It serialises as
/// itself, because the configuration layers are merged through serde.)
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// The address partners and browsers use to reach us (issuer, links). Defaults to `http://{listen}`.
    pub public_url: Option<String>,
    /// `sqlite://…` (embedded default) or `postgres://user:password@host/db` (several instances).
    /// May carry credentials, hence secret.
    pub database_url: Secret,
    /// Connection pool and timeouts (`[database]`).
    pub database: DatabaseSettings,
    /// Where the built site lives (`cargo leptos build` writes `target/site`).
    pub site_root: PathBuf,
    /// Load balancers whose `X-Forwarded-For` names the client (their exact IP addresses);
    /// everyone else's is ignored. `make cluster` trusts its nginx (127.0.0.1).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Sandbox mode: demo partner and sandbox counterparts on, dev inboxes visible.
    pub sandbox: bool,
    pub log: LogConfig,
    pub worker: WorkerSettings,
    /// The sign-in provider's token lifetimes.
    pub identity: IdentitySettings,
    /// Where one-time codes go: the log (default) or an HTTP SMS gateway.
    pub sms: SmsSettings,
    /// The demo partner site (sandbox mode only), on another origin than the platform.
    pub demo_partner: DemoPartnerSettings,
    /// Partner sign-in clients declared here (`[[clients]]`) are registered (or updated) at
    /// every start; `joygate clients add` is the other way in.
    pub clients: Vec<domain::identity::clients::ClientSpec>,
    /// SkyPoints earned per purchase (`[earning]`), and per partner (`[earning_by_partner.ID]`).
    pub earning: domain::ledger::EarningRule,
    pub earning_by_partner: std::collections::BTreeMap<String, domain::ledger::EarningRule>,
    /// When earned points expire (FIFO).
    pub points_expiry: PointsExpirySettings,
    /// Partner webhook retries.
    pub webhooks: WebhookSettings,
    /// Where member notifications go: the log (default) or an HTTP push gateway.
    pub push: PushSettings,
    /// The inbound folder for batch point files (`[batch]`).
    pub batch: BatchSettings,
    /// Tiki VIP webview payments: plans, payment partners, timings.
    pub tikivip: TikiVipSettings,
    /// The sandbox payment partner (sandbox mode only), on its own port.
    pub payment_partner: PaymentPartnerSettings,
    /// Who may use the operator pages.
    pub operator: OperatorSettings,
    /// Loyalty reward tasks: the clients that send them, their keys and rules, the worker's retries.
    pub rewards: RewardsSettings,
    /// The sandbox membership app (sandbox mode only), on its own port.
    pub membership_app: MembershipAppSettings,
    /// Benefits in super apps: our ISV API paths, signature window, calls to the platforms.
    pub benefits: BenefitsSettings,
    /// The sandbox super-app platform (sandbox mode only), on its own port.
    pub superapp_platform: SuperappPlatformSettings,
}

/// `[rewards]`: how the reward worker retries, and `[rewards.clients.ID]` per client.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RewardsSettings {
    /// Runs of a ticket's job before the ticket is dead (then an operator replays it).
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles (with jitter) up to the maximum.
    pub first_retry_ms: i64,
    pub max_retry_delay_ms: i64,
    /// The clients that may send reward tasks, by their sign-in `client_id`.
    pub clients: std::collections::BTreeMap<String, RewardClientSettings>,
}

impl Default for RewardsSettings {
    fn default() -> Self {
        Self { max_attempts: 8, first_retry_ms: 2_000, max_retry_delay_ms: 600_000, clients: Default::default() }
    }
}

/// A client of the reward task service: a registered partner (`[[clients]]` or `joygate
/// clients add`) with its API key, its signing key and its rules.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RewardClientSettings {
    /// Hex SHA-256 of the client's API key (`joygate rewards api-key` makes one).
    pub api_key_sha256: String,
    /// The client's RSA public key (≥ 1024 bits), PEM `-----BEGIN PUBLIC KEY-----`; or
    pub public_key_pem: Option<String>,
    /// where the client publishes it (fetched and cached; fetched again once when a signature
    /// does not verify).
    pub public_key_url: Option<String>,
    /// The members' calendar (check-in days, draw limits): a zone without daylight saving time
    /// or an offset like `+07:00`.
    #[serde(default)]
    pub time_zone: domain::rewards::TimeZone,
    /// `[rewards.clients.ID.rules.ACTION]`: each action's rule (defaults otherwise).
    #[serde(default)]
    pub rules: domain::rewards::Rules,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MembershipAppSettings {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// How browsers reach it; defaults to `http://localhost:{port}`.
    pub public_url: Option<String>,
}

impl Default for MembershipAppSettings {
    fn default() -> Self {
        Self { enabled: true, listen: SocketAddr::from(([127, 0, 0, 1], 3301)), public_url: None }
    }
}


/// `[benefits]`: the ISV side of the Alipay Connect benefit APIs (README, "Benefits").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BenefitsSettings {
    /// Where the platform calls us (given to the platform when we register with it).
    pub notify_path: String,
    pub issue_path: String,
    pub reverse_path: String,
    pub query_path: String,
    /// How far `Request-Time` / `Response-Time` may be from our clock.
    pub time_window_s: i64,
    /// How long a call to a platform may take (Alipay+: 5 s for notify and inquiry APIs).
    pub call_timeout_ms: u64,
    /// A sync the platform accepted is asked about (inquireBenefitSync) after this, then
    /// with backoff up to `sync_poll_max_s`, until it ends.
    pub sync_poll_after_s: i64,
    pub sync_poll_max_s: i64,
    /// Retries of syncBenefit and syncUsedBenefit (U, timeouts, network errors, bad signatures):
    /// the first after this, doubling (with jitter) up to `retry_max_ms`.
    pub retry_first_ms: i64,
    pub retry_max_ms: i64,
    /// How often ACTIVATED benefits past their expireTime are expired.
    pub expiry_check_every_s: u64,
}

impl Default for BenefitsSettings {
    fn default() -> Self {
        Self {
            notify_path: "/isv/benefit/sync/notify".into(),
            issue_path: "/isv/benefit/issue".into(),
            reverse_path: "/isv/benefit/reverse".into(),
            query_path: "/isv/benefit/query".into(),
            time_window_s: 300,
            call_timeout_ms: 5_000,
            sync_poll_after_s: 30,
            sync_poll_max_s: 900,
            retry_first_ms: 2_000,
            retry_max_ms: 600_000,
            expiry_check_every_s: 60,
        }
    }
}

impl BenefitsSettings {
    /// The four ISV paths: absolute, distinct, made of letters, digits and `/ - _ .`.
    pub fn check(&self) -> Result<(), String> {
        let paths = [&self.notify_path, &self.issue_path, &self.reverse_path, &self.query_path];
        for p in paths {
            let ok = p.starts_with('/') && p.len() > 1 && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b)) && !p.contains("//");
            if !ok {
                return Err(format!("[benefits] path {p:?} must start with / and hold only letters, digits and / - _ ."));
            }
        }
        let distinct: std::collections::HashSet<&String> = paths.into_iter().collect();
        if distinct.len() != 4 {
            return Err("[benefits] the four ISV paths must differ".into());
        }
        if self.time_window_s < 1 || self.call_timeout_ms < 100 || self.sync_poll_after_s < 0 || self.sync_poll_max_s < 1 || self.retry_first_ms < 1 || self.retry_max_ms < self.retry_first_ms {
            return Err("[benefits] time_window_s ≥ 1, call_timeout_ms ≥ 100, sync_poll_max_s ≥ 1, 1 ≤ retry_first_ms ≤ retry_max_ms".into());
        }
        Ok(())
    }

    pub fn window(&self) -> domain::signing::TimestampWindow {
        let ms = self.time_window_s.saturating_mul(1000);
        domain::signing::TimestampWindow { max_age_ms: ms, max_future_ms: ms }
    }
}

/// `[superapp_platform]`: the sandbox super-app platform (README, "Benefits: the sandbox platform").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SuperappPlatformSettings {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// How browsers reach it; defaults to `http://localhost:{port}`.
    pub public_url: Option<String>,
    /// How long it waits for our answer to issueBenefit before it counts as a timeout (5 s, as
    /// Alipay+ notify APIs), and how many times it retries an issue before it reverses.
    pub issue_timeout_ms: u64,
    pub issue_retries: u32,
    /// The wait before each retry of an issue or a notify.
    pub retry_wait_ms: u64,
    /// How long the review of a synced benefit takes.
    pub review_ms: u64,
}

impl Default for SuperappPlatformSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 3300)),
            public_url: None,
            issue_timeout_ms: 5_000,
            issue_retries: 3,
            retry_wait_ms: 500,
            review_ms: 1_000,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OperatorSettings {
    /// Hex SHA-256 of the operator token (`joygate operator token` makes one); unset, the
    /// operator pages refuse everyone.
    pub token_sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TikiVipSettings {
    /// The VIP plans on sale (`[[tikivip.plans]]`: code, name_vi, name_en, months, price in VND).
    pub plans: Vec<domain::tikivip::Plan>,
    /// Payment partners (`[[tikivip.partners]]`), registered (or updated) at every start.
    pub partners: Vec<TikiPartnerSettings>,
    /// How long a `url_open` link may wait to be opened.
    pub open_link_ttl_s: i64,
    /// A PENDING payment is checked at the partner once this old, then at most this often.
    pub pending_check_after_s: i64,
    pub pending_check_every_s: i64,
    /// Unknown at the partner this long after creation: cancelled.
    pub unknown_cancel_after_min: i64,
    /// Still PENDING at the partner this long after creation: cancelled.
    pub pending_cancel_after_h: i64,
    /// Reconciliation files: `{dir}/OUTBOUND/{partner}/tikivip_{Partner}_{YYYYMMDD}_{n}.csv`,
    /// partner files in `{dir}/INBOUND/{partner}/`.
    pub reconcile_dir: PathBuf,
    /// Seconds between reconciliation scans; a partner file is taken once unchanged for one.
    pub reconcile_poll_s: u64,
}

impl Default for TikiVipSettings {
    fn default() -> Self {
        Self {
            plans: domain::tikivip::Plan::defaults(),
            partners: Vec::new(),
            open_link_ttl_s: 300,
            pending_check_after_s: 60,
            pending_check_every_s: 30,
            unknown_cancel_after_min: 30,
            pending_cancel_after_h: 24,
            reconcile_dir: PathBuf::from("data/tikivip"),
            reconcile_poll_s: 60,
        }
    }
}

impl TikiVipSettings {
    pub fn pending_policy(&self) -> domain::tikivip::gateway::PendingPolicy {
        domain::tikivip::gateway::PendingPolicy {
            check_after_ms: self.pending_check_after_s * 1000,
            check_every_ms: self.pending_check_every_s.max(1) * 1000,
            unknown_cancel_after_ms: self.unknown_cancel_after_min * 60_000,
            pending_cancel_after_ms: self.pending_cancel_after_h * 3_600_000,
        }
    }
}

/// A payment partner, with the credentials Tiki issued it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TikiPartnerSettings {
    pub partner_code: String,
    pub name: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Its side of the contract (`…/transactions`, `…/refunds`).
    pub api_base_url: String,
    #[serde(default)]
    pub open_mode: domain::tikivip::partners::OpenMode,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentPartnerSettings {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// How browsers reach it; defaults to `http://localhost:{port}`.
    pub public_url: Option<String>,
    /// Waits before each IPN retry (at least three, then it relies on check-transaction).
    pub ipn_retry_ms: Vec<u64>,
}

impl Default for PaymentPartnerSettings {
    fn default() -> Self {
        Self { enabled: true, listen: SocketAddr::from(([127, 0, 0, 1], 3200)), public_url: None, ipn_retry_ms: vec![1_000, 5_000, 30_000] }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PointsExpirySettings {
    /// Points expire this many calendar months after they were earned; 0: never.
    pub months: u32,
    /// How often the expiry job looks (it is idempotent within a day).
    pub check_every_s: u64,
}

impl Default for PointsExpirySettings {
    fn default() -> Self {
        Self { months: 24, check_every_s: 3600 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// The wait before the first retry; it doubles each time (with jitter) up to the maximum.
    /// 30 attempts with the defaults keep trying for 3.5 to 7 days.
    pub first_retry_ms: i64,
    pub max_retry_delay_ms: i64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        let r = domain::events::webhooks::RETRY;
        Self { first_retry_ms: r.base_ms, max_retry_delay_ms: r.max_delay_ms }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PushSettings {
    /// An HTTP push gateway: each notification is POSTed as JSON with `Authorization: Bearer
    /// {token}`. Unset: the log sender.
    pub url: Option<String>,
    pub token: Secret,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IdentitySettings {
    pub access_token_ttl_s: i64,
    pub id_token_ttl_s: i64,
    pub refresh_token_ttl_days: i64,
    /// A public client's (single-page app's) refresh tokens: shorter, rotated at each use.
    pub public_refresh_token_ttl_hours: i64,
    /// Authorization codes.
    pub code_ttl_s: i64,
    /// One-time sign-in codes sent per phone number, and per client address, per hour.
    pub otp_per_phone_per_hour: i64,
    pub otp_per_ip_per_hour: i64,
    /// How long before another code may be sent to the same phone.
    pub otp_resend_after_s: i64,
    /// How long an instance may use a partner client it read (0 to 60,000; 0: read it for every
    /// request). A new client and a new secret count at once; other changes to a client, and an
    /// old secret stopping to work, within this time (`domain::identity::clients::ClientCache`).
    pub client_cache_ms: u64,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        Self {
            access_token_ttl_s: 600,
            id_token_ttl_s: 600,
            refresh_token_ttl_days: 30,
            public_refresh_token_ttl_hours: 24,
            code_ttl_s: 60,
            otp_per_phone_per_hour: 5,
            otp_per_ip_per_hour: 20,
            otp_resend_after_s: 60,
            client_cache_ms: 1_000,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SmsSettings {
    /// An HTTP gateway: each message is POSTed as JSON `{"to":"+84…","text":"…"}` with
    /// `Authorization: Bearer {token}`; any 2xx is success. Unset: the log sender.
    pub url: Option<String>,
    pub token: Secret,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DemoPartnerSettings {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// How browsers reach it; defaults to `http://localhost:{port}` — another site than the
    /// platform's `127.0.0.1`, so embedding and cookies behave as they do between real sites.
    pub public_url: Option<String>,
}

impl Default for DemoPartnerSettings {
    fn default() -> Self {
        Self { enabled: true, listen: SocketAddr::from(([127, 0, 0, 1], 3100)), public_url: None }
    }
}

impl DemoPartnerSettings {
    pub fn public_url(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://localhost:{}", bound.port()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `tracing` filter directives, e.g. `info,joygate=debug`; `RUST_LOG` wins when set.
    pub filter: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// `[database]`: how many connections an instance keeps and how long it waits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Connections this instance opens at most (1 to 1000). On PostgreSQL, instances × this must
    /// stay under the server's `max_connections`.
    pub max_connections: u32,
    /// How long a request waits for a free connection before it fails (503 / the API's
    /// internal error), in ms.
    pub acquire_timeout_ms: u64,
    /// PostgreSQL `statement_timeout` and `lock_timeout` in ms (0: none); on SQLite, how long a
    /// write waits for the database's one writer.
    pub statement_timeout_ms: u64,
    /// SQLite's page cache per connection in KiB (16 to 1,048,576); the operating system's file
    /// cache is behind it.
    pub sqlite_cache_kib: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        let d = domain::store::DbSettings::default();
        Self {
            max_connections: d.max_connections,
            acquire_timeout_ms: d.acquire_timeout_ms,
            statement_timeout_ms: d.statement_timeout_ms,
            sqlite_cache_kib: d.sqlite_cache_kib,
        }
    }
}

impl DatabaseSettings {
    pub fn to_domain(&self) -> anyhow::Result<domain::store::DbSettings> {
        anyhow::ensure!((1..=1000).contains(&self.max_connections), "[database] max_connections must be 1 to 1000");
        anyhow::ensure!(self.acquire_timeout_ms >= 1, "[database] acquire_timeout_ms must be at least 1");
        anyhow::ensure!((16..=1_048_576).contains(&self.sqlite_cache_kib), "[database] sqlite_cache_kib must be 16 to 1048576");
        Ok(domain::store::DbSettings {
            max_connections: self.max_connections,
            acquire_timeout_ms: self.acquire_timeout_ms,
            statement_timeout_ms: self.statement_timeout_ms,
            sqlite_cache_kib: self.sqlite_cache_kib,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerSettings {
    /// Outbox jobs run at once (per instance).
    pub concurrency: usize,
    /// How long a claimed job stays this instance's (s): an instance that dies mid-job loses it
    /// after this long and another instance runs it again. Longer than any job takes.
    pub lease_s: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BatchSettings {
    /// Partners drop files in `{dir}/INBOUND/{client_id}/`; results go to `OUTBOUND/`, the
    /// processed files to `ARCHIVED/` (README, "Batch uploads").
    pub dir: PathBuf,
    /// Seconds between scans; a file is taken once it has not changed for one interval.
    pub poll_s: u64,
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self { dir: PathBuf::from("data/batch"), poll_s: 5 }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            public_url: None,
            database_url: Secret::new("sqlite://data/joygate.db"),
            database: DatabaseSettings::default(),
            trusted_proxies: Vec::new(),
            site_root: PathBuf::from("target/site"),
            sandbox: true,
            log: LogConfig::default(),
            worker: WorkerSettings::default(),
            identity: IdentitySettings::default(),
            sms: SmsSettings::default(),
            demo_partner: DemoPartnerSettings::default(),
            clients: Vec::new(),
            earning: domain::ledger::EarningRule::default(),
            earning_by_partner: Default::default(),
            points_expiry: PointsExpirySettings::default(),
            webhooks: WebhookSettings::default(),
            push: PushSettings::default(),
            batch: BatchSettings::default(),
            tikivip: TikiVipSettings::default(),
            payment_partner: PaymentPartnerSettings::default(),
            operator: OperatorSettings::default(),
            rewards: RewardsSettings::default(),
            membership_app: MembershipAppSettings::default(),
            benefits: BenefitsSettings::default(),
            superapp_platform: SuperappPlatformSettings::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { filter: "info".into(), format: LogFormat::Text }
    }
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self { concurrency: 4, lease_s: 300 }
    }
}

impl Config {
    /// Defaults ← `file` (if given, it must exist; else `joygate.toml` if present) ← `JOYGATE_*`.
    pub fn load(file: Option<&std::path::Path>) -> Result<Config, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        fig = match file {
            Some(path) => fig.merge(Toml::file_exact(path)),
            None => fig.merge(Toml::file("joygate.toml")),
        };
        // The file is strict (a typo is an error); the environment is shared with other tools
        // (JOYGATE_CONFIG, build scripts), so only variables naming a known key are read — the
        // keys are the configuration's own fields, so a new section needs no list kept by hand.
        let keys: Vec<String> = match serde_json::to_value(Config::default()) {
            Ok(serde_json::Value::Object(fields)) => fields.keys().cloned().collect(),
            _ => Vec::new(),
        };
        let env = Env::prefixed("JOYGATE_").filter(move |key| {
            let top = key.as_str().split("__").next().unwrap_or("").to_ascii_lowercase();
            keys.contains(&top)
        });
        let env = env.split("__");
        fig.merge(env).extract().map_err(Box::new)
    }

    /// The externally visible base URL, without a trailing slash.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{bound}"),
        }
    }

    pub fn served_over_https(&self) -> bool {
        self.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("j.toml", "sandbox = false\n[log]\nformat = \"json\"\n")?;
            jail.set_env("JOYGATE_LISTEN", "0.0.0.0:8080");
            jail.set_env("JOYGATE_WORKER__CONCURRENCY", "9");
            jail.set_env("JOYGATE_CONFIG", "j.toml");
            jail.set_env("JOYGATE_SOMETHING_ELSE", "is not ours");
            let c = Config::load(Some(std::path::Path::new("j.toml"))).map_err(|e| e.to_string())?;
            assert!(!c.sandbox);
            assert_eq!(c.log.format, LogFormat::Json);
            assert_eq!(c.listen.port(), 8080);
            assert_eq!(c.worker.concurrency, 9);
            assert_eq!(c.database_url.expose(), "sqlite://data/joygate.db");
            Ok(())
        });
    }

    #[test]
    fn the_batch_folder_comes_from_the_file_or_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("b.toml", "[batch]\npoll_s = 2\n")?;
            jail.set_env("JOYGATE_BATCH__DIR", "/srv/joygate/batch");
            let c = Config::load(Some(std::path::Path::new("b.toml"))).map_err(|e| e.to_string())?;
            assert_eq!((c.batch.dir, c.batch.poll_s), (PathBuf::from("/srv/joygate/batch"), 2));
            jail.create_file("typo.toml", "[batch]\npoll = 2\n")?;
            assert!(Config::load(Some(std::path::Path::new("typo.toml"))).is_err());
            Ok(())
        });
    }

    #[test]
    fn benefit_paths_come_from_the_file_and_are_checked() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("p.toml", "[benefits]\nissue_path = \"/api/isv/issue\"\n")?;
            jail.set_env("JOYGATE_BENEFITS__TIME_WINDOW_S", "60");
            let c = Config::load(Some(std::path::Path::new("p.toml"))).map_err(|e| e.to_string())?;
            assert_eq!((c.benefits.issue_path.as_str(), c.benefits.time_window_s), ("/api/isv/issue", 60));
            assert_eq!(c.benefits.check(), Ok(()));
            Ok(())
        });
        let mut b = BenefitsSettings::default();
        assert!(b.check().is_ok());
        b.reverse_path = b.issue_path.clone();
        assert!(b.check().is_err());
        for bad in ["isv/issue", "/isv/{id}", "/isv//x", "/"] {
            let b = BenefitsSettings { issue_path: bad.into(), ..BenefitsSettings::default() };
            assert!(b.check().is_err(), "{bad}");
        }
    }

    #[test]
    fn several_instances_are_configured_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("JOYGATE_DATABASE_URL", "postgres://joygate@db.internal/joygate");
            jail.set_env("JOYGATE_DATABASE__MAX_CONNECTIONS", "32");
            jail.set_env("JOYGATE_DATABASE__STATEMENT_TIMEOUT_MS", "5000");
            jail.set_env("JOYGATE_TRUSTED_PROXIES", r#"["127.0.0.1", "10.0.0.2"]"#);
            jail.set_env("JOYGATE_WORKER__LEASE_S", "30");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!((c.database.max_connections, c.database.statement_timeout_ms, c.worker.lease_s), (32, 5000, 30));
            assert_eq!(c.trusted_proxies, vec!["127.0.0.1".parse::<std::net::IpAddr>().unwrap(), "10.0.0.2".parse().unwrap()]);
            assert!(c.database.to_domain().is_ok());
            jail.set_env("JOYGATE_DATABASE__MAX_CONNECTIONS", "0");
            assert!(Config::load(None).map_err(|e| e.to_string())?.database.to_domain().is_err(), "a pool of none is refused");
            Ok(())
        });
    }

    #[test]
    fn reward_clients_come_from_the_file_with_their_rules() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file(
                "r.toml",
                r#"
                [rewards]
                max_attempts = 3
                [rewards.clients.shop-web]
                api_key_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
                public_key_url = "https://shop.example/loyalty.pem"
                time_zone = "Asia/Makassar"
                [rewards.clients.shop-web.rules.luckydraw]
                daily_limit = 1
                prizes = [{ points = 0, weight = 1 }, { points = 25, weight = 1 }]
                "#,
            )?;
            jail.set_env("JOYGATE_REWARDS__FIRST_RETRY_MS", "50");
            let c = Config::load(Some(std::path::Path::new("r.toml"))).map_err(|e| e.to_string())?;
            assert_eq!((c.rewards.max_attempts, c.rewards.first_retry_ms), (3, 50));
            let shop = &c.rewards.clients["shop-web"];
            assert_eq!((shop.time_zone.name(), shop.rules.luckydraw.daily_limit, shop.rules.register.points), ("Asia/Makassar", 1, 50));
            jail.create_file("typo.toml", "[rewards.clients.x]\napi_key_sha256 = \"00\"\n[rewards.clients.x.rules.luckydraw]\nlimit = 1\n")?;
            assert!(Config::load(Some(std::path::Path::new("typo.toml"))).is_err());
            jail.create_file("zone.toml", "[rewards.clients.x]\napi_key_sha256 = \"00\"\ntime_zone = \"Europe/Paris\"\n")?;
            assert!(Config::load(Some(std::path::Path::new("zone.toml"))).is_err());
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_an_error_and_secrets_never_print() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "listn = \"1.2.3.4:5\"\n")?;
            assert!(Config::load(Some(std::path::Path::new("bad.toml"))).is_err());
            Ok(())
        });
        let c = Config {
            database_url: Secret::new("postgres://u:hunter2@db/j"),
            sms: SmsSettings { url: Some("https://sms.example".into()), token: Secret::new("hunter3") },
            ..Config::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{c:#?}").contains("hunter2") && !format!("{c:?}").contains("hunter3"));
    }
}
