//! The `joygate` command line: `serve` (the default), `migrate`, `config`, and operator
//! subcommands such as `jobs`.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Parser, Subcommand};
use domain::outbox::{self, JobState};

use crate::{config::Config, telemetry};

#[derive(Debug, Parser)]
#[command(name = "joygate", version, about = "Self-hosted loyalty and super-app integration platform")]
pub struct Cli {
    /// TOML configuration file (default: ./joygate.toml when present).
    #[arg(long, global = true, env = "JOYGATE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// Whether this runs the server (the default command).
    pub fn serves(&self) -> bool {
        matches!(self.command, None | Some(Command::Serve))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the platform (HTTP, pages, workers). The default.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the effective configuration (secrets redacted).
    Config,
    /// Inspect and replay outbox jobs.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Register and list partner sign-in clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// List and rotate the token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// SkyPoint ledger checks and jobs.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Partner webhook endpoints and delivery logs.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Tiki VIP payments: look up, refund, reconcile.
    #[command(subcommand)]
    Tikivip(TikivipCommand),
    /// Operator access to the operator pages (`/ops/…`).
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Loyalty reward tasks: tickets, replays, API keys, the rules in force.
    #[command(subcommand)]
    Rewards(RewardsCommand),
    /// Benefits in super apps: platforms, keys, templates, syncs.
    #[command(subcommand)]
    Benefits(BenefitsCommand),
}

#[derive(Debug, Subcommand)]
pub enum RewardsCommand {
    /// Tickets, newest first.
    List {
        /// Only tickets in this state: queued, processing, success, failed, dead.
        #[arg(long)]
        state: Option<String>,
        /// Only this action: transaction, luckydraw, register, registerreferral, transactionreferral, dailycheckin.
        #[arg(long)]
        action: Option<String>,
        #[arg(long)]
        client: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// A ticket: its envelope as received, its state and result.
    Show { ticket_id: String },
    /// Put a dead (or failed) ticket back in the queue; the running server's worker takes it.
    Replay {
        ticket_id: String,
        /// How many more runs its job gets.
        #[arg(long, default_value_t = 5)]
        attempts: u32,
    },
    /// Make a new API key for a client; prints it once and the `api_key_sha256` to configure.
    ApiKey,
    /// The reward clients of the configuration and their rules.
    Rules,
}

#[derive(Debug, Subcommand)]
pub enum BenefitsCommand {
    /// Platforms we are an ISV of.
    #[command(subcommand)]
    Platforms(PlatformsCommand),
    /// Signing keys (ours and the platforms'), per platform, with versions.
    #[command(subcommand)]
    Keys(BenefitKeysCommand),
    /// Benefit templates.
    #[command(subcommand)]
    Templates(TemplatesCommand),
    /// Queue a syncBenefit of a template (the running server sends it and follows its review).
    Sync { template_id: String },
    /// Expire now every ACTIVATED benefit past its expireTime.
    Expire,
}

#[derive(Debug, Subcommand)]
pub enum PlatformsCommand {
    /// Register (or update) a platform by the Client-Id it gave us; the first time, our key
    /// version 1 is made and its public key printed (give it to the platform).
    Add {
        client_id: String,
        #[arg(long)]
        name: String,
        /// Where its APIs are: {base}/v1/marketing/benefit/sync, …
        #[arg(long)]
        base_url: String,
    },
    List,
}

#[derive(Debug, Subcommand)]
pub enum BenefitKeysCommand {
    /// Every key of a platform (public halves only).
    List {
        #[arg(long)]
        platform: String,
    },
    /// Make a new RSA-2048 key of ours; prints its public key. Without --activate it does not
    /// sign until `activate` (upload the public key to the platform first).
    Generate {
        #[arg(long)]
        platform: String,
        #[arg(long)]
        activate: bool,
    },
    /// Make our key VERSION the one that signs.
    Activate {
        #[arg(long)]
        platform: String,
        #[arg(long)]
        version: i64,
    },
    /// Print our public key (base64 X.509 DER): the active one, or --version.
    Public {
        #[arg(long)]
        platform: String,
        #[arg(long)]
        version: Option<i64>,
    },
    /// Print our PRIVATE key VERSION (base64 PKCS#8 DER). Only this command ever shows it.
    Private {
        #[arg(long)]
        platform: String,
        #[arg(long)]
        version: i64,
    },
    /// Register the platform's public key (base64 X.509 DER, as Alipay+ publishes it).
    RegisterPlatform {
        #[arg(long)]
        platform: String,
        #[arg(long)]
        public_key: String,
        /// Its keyVersion (default: the next one).
        #[arg(long)]
        version: Option<i64>,
    },
    /// Retire a key version: it neither signs nor verifies any more.
    Retire {
        #[arg(long)]
        platform: String,
        /// isv (ours) or platform (theirs).
        #[arg(long)]
        owner: String,
        #[arg(long)]
        version: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// Create a template (a draft until synced).
    Add {
        /// benefitTemplateId (at most 64 characters, no @ # ?).
        template_id: String,
        /// The platform's Client-Id.
        #[arg(long)]
        platform: String,
        /// The partner shop (a client with scope benefit:use) whose cashier uses it.
        #[arg(long)]
        partner: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        content: String,
        /// A super app it is for (repeatable), e.g. GCASH.
        #[arg(long = "client-code", required = true)]
        client_codes: Vec<String>,
        /// When collecting starts and ends (RFC 3339, e.g. 2026-12-01T00:00:00+07:00).
        #[arg(long)]
        begin: String,
        #[arg(long)]
        end: String,
        /// Total quantity (benefitBudget).
        #[arg(long)]
        budget: i64,
        /// In the currency's smallest unit.
        #[arg(long)]
        amount: i64,
        #[arg(long, default_value = "VND")]
        currency: String,
        /// code, code-pin or url.
        #[arg(long, default_value = "code")]
        credential: String,
        /// For url: the benefit's URL is this followed by its code.
        #[arg(long)]
        url_base: Option<String>,
        /// Valid this many days after collect…
        #[arg(long, conflicts_with = "valid_until")]
        valid_days: Option<i64>,
        /// …or until this moment (RFC 3339).
        #[arg(long)]
        valid_until: Option<String>,
    },
    List,
    /// A template, its syncs, its budget and its newest benefits.
    Show {
        template_id: String,
        #[arg(long, default_value_t = 20)]
        instances: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Makes a new operator token; prints it once and the `token_sha256` for `[operator]`.
    Token,
}

#[derive(Debug, Subcommand)]
pub enum TikivipCommand {
    /// A payment, its refunds and its customer's VIP status.
    Show { tiki_transaction_id: String },
    /// Refund (part of) a successful payment; sent to the partner by the outbox, retried until
    /// it answers. The same --request-id again is the same refund.
    Refund {
        tiki_transaction_id: String,
        /// VND; at most what was paid minus what is refunded or being refunded.
        #[arg(long)]
        amount: i64,
        #[arg(long)]
        reason: String,
        /// Your idempotency key (default: a new UUID).
        #[arg(long)]
        request_id: Option<String>,
    },
    /// Reconciliation of a past day: write our files to OUTBOUND now (replacing none) and compare
    /// the partner files of that day waiting in INBOUND.
    Reconcile {
        /// The day, YYYYMMDD in Vietnam time; it must be over (T+1).
        #[arg(long)]
        date: String,
        /// Only this partner (default: every partner).
        #[arg(long)]
        partner: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Prove balance == sum(entries) and locked == sum(active locks) for every member; exits
    /// non-zero and lists any member that differs.
    Check,
    /// Run the points expiry now ([points_expiry] months; idempotent within a day).
    Expire,
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Register (or update) a partner's endpoint; prints its signing secret.
    Add {
        /// The partner's client_id.
        client_id: String,
        #[arg(long)]
        url: String,
        /// An event type to send (repeatable; default: all).
        #[arg(long = "event")]
        events: Vec<String>,
        /// Keep the endpoint's current secret when it already exists.
        #[arg(long)]
        keep_secret: bool,
    },
    /// List endpoints (never their secrets).
    List {
        #[arg(long)]
        client_id: Option<String>,
    },
    /// Stop (or with --enable, resume) deliveries to an endpoint.
    Disable {
        id: String,
        #[arg(long)]
        enable: bool,
    },
    /// An event's deliveries and every attempt (replay one with `joygate jobs replay JOB`).
    Log { event_id: String },
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Create or update a client; prints a new secret once for confidential clients.
    Add {
        client_id: String,
        #[arg(long)]
        name: String,
        /// A single-page app: no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// Exact redirect URI (repeatable).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Web origin allowed to frame the sign-in page and call the token endpoint (repeatable).
        #[arg(long = "web-origin")]
        web_origins: Vec<String>,
        #[arg(long)]
        logo_uri: Option<String>,
        /// Issue a new secret even if the client already has one.
        #[arg(long)]
        new_secret: bool,
        /// A partner-API scope it may be granted (repeatable): user:read, user:write,
        /// point:read, point:earn, point:redeem, benefit:use; default `partner` (all).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// What its ID and access tokens are signed with: RS256 (default), ES256 or EdDSA.
        #[arg(long, default_value = "RS256", value_parser = parse_alg)]
        alg: domain::identity::signing_keys::Alg,
    },
    /// List clients (never their secrets).
    List,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Show the active key and the published ones.
    List,
    /// Make a new key active; the old one stays published for --publish-hours.
    Rotate {
        #[arg(long, default_value_t = 24)]
        publish_hours: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// Only jobs in this state: pending, running, done, dead.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Put a dead (or done) job back in the queue.
    Replay {
        id: i64,
        /// How many more attempts it gets.
        #[arg(long, default_value_t = 5)]
        attempts: u32,
    },
}

pub async fn run(cli: Cli) -> ExitCode {
    match execute(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("joygate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref()).context("reading configuration")?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            open_db(&config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Config => {
            println!("{config:#?}");
            Ok(())
        }
        Command::Jobs(cmd) => jobs(config, cmd).await,
        Command::Clients(cmd) => clients(config, cmd).await,
        Command::Keys(cmd) => keys(config, cmd).await,
        Command::Ledger(cmd) => ledger(config, cmd).await,
        Command::Webhooks(cmd) => webhooks(config, cmd).await,
        Command::Tikivip(cmd) => tikivip(config, cmd).await,
        Command::Rewards(cmd) => rewards(config, cmd).await,
        Command::Benefits(cmd) => benefits(config, cmd).await,
        Command::Operator(OperatorCommand::Token) => {
            let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
            println!("operator token: {token}\n(shown once; sign in at /ops/tikivip with it)");
            println!("[operator]\ntoken_sha256 = \"{}\"", domain::identity::clients::secret_sha256(&token));
            Ok(())
        }
    }
}

fn rfc3339_ms(field: &str, s: &str) -> anyhow::Result<i64> {
    domain::signing::alipay_plus::parse_time_ms(s).map_err(|_| anyhow::anyhow!("--{field} must be RFC 3339 with an offset, e.g. 2026-12-01T00:00:00+07:00"))
}

async fn benefits(config: Config, cmd: BenefitsCommand) -> anyhow::Result<()> {
    use domain::benefits::{
        instances, keys, platforms, sync,
        templates::{self, Credential, NewTemplate, Validity},
        Amount, ClientCode, TemplateId, Title,
    };
    let db = open_db(&config).await?;
    let now = domain::now_ms();
    let our_public = |list: &[keys::KeyInfo], version: Option<i64>| -> anyhow::Result<keys::KeyInfo> {
        let ours = list.iter().filter(|k| k.owner == keys::Owner::Isv && k.retired_at_ms.is_none());
        let found = match version {
            Some(v) => ours.clone().find(|k| k.key_version == v),
            None => ours.clone().filter(|k| k.activated_at_ms.is_some()).max_by_key(|k| (k.activated_at_ms, k.key_version)),
        };
        found.cloned().context("no such unretired key of ours")
    };
    match cmd {
        BenefitsCommand::Platforms(PlatformsCommand::Add { client_id, name, base_url }) => {
            let (p, made) = platforms::register(&db, &client_id, &name, &base_url, now).await?;
            println!("{}", serde_json::to_string_pretty(&p)?);
            let k = our_public(&keys::list(&db, &client_id).await?, None)?;
            println!("our public key (keyVersion {}{}): {}", k.key_version, if made { ", made now" } else { "" }, k.public_key);
            println!("(give it to the platform; register theirs with `joygate benefits keys register-platform`)");
        }
        BenefitsCommand::Platforms(PlatformsCommand::List) => {
            for p in platforms::list(&db).await? {
                println!("{}", serde_json::to_string(&p)?);
            }
        }
        BenefitsCommand::Keys(cmd) => match cmd {
            BenefitKeysCommand::List { platform } => {
                for k in keys::list(&db, &platform).await? {
                    println!("{}", serde_json::to_string(&k)?);
                }
            }
            BenefitKeysCommand::Generate { platform, activate } => {
                let v = keys::generate(&db, &platform, activate, now).await?;
                let k = our_public(&keys::list(&db, &platform).await?, Some(v))?;
                println!("our key version {v}{}", if activate { " (active: it signs from now on)" } else { " (not active yet: `joygate benefits keys activate`)" });
                println!("public key: {}", k.public_key);
            }
            BenefitKeysCommand::Activate { platform, version } => {
                keys::activate(&db, &platform, version, now).await?;
                println!("our key version {version} signs for {platform} from now on");
            }
            BenefitKeysCommand::Public { platform, version } => {
                let k = our_public(&keys::list(&db, &platform).await?, version)?;
                println!("{}", k.public_key);
            }
            BenefitKeysCommand::Private { platform, version } => {
                println!("{}", keys::private_key_base64(&db, &platform, version).await?);
            }
            BenefitKeysCommand::RegisterPlatform { platform, public_key, version } => {
                let v = keys::register_platform_key(&db, &platform, version, &public_key, now).await?;
                println!("platform key version {v} registered for {platform}");
            }
            BenefitKeysCommand::Retire { platform, owner, version } => {
                let owner = keys::Owner::parse(&owner).context("--owner must be isv or platform")?;
                keys::retire(&db, &platform, owner, version, now).await?;
                println!("{} key version {version} of {platform} retired", owner.as_str());
            }
        },
        BenefitsCommand::Templates(TemplatesCommand::Add {
            template_id,
            platform,
            partner,
            title,
            content,
            client_codes,
            begin,
            end,
            budget,
            amount,
            currency,
            credential,
            url_base,
            valid_days,
            valid_until,
        }) => {
            let validity = match (valid_days, valid_until) {
                (Some(d), None) => Validity::Days(d),
                (None, Some(at)) => Validity::Until(rfc3339_ms("valid-until", &at)?),
                _ => anyhow::bail!("give --valid-days or --valid-until"),
            };
            let t = NewTemplate {
                template_id: TemplateId::parse(&template_id)?,
                client_id: platform,
                partner_client_id: partner,
                title: Title::parse(&title)?,
                content,
                client_codes: client_codes.iter().map(|c| ClientCode::parse(c)).collect::<Result<_, _>>()?,
                begin_at_ms: rfc3339_ms("begin", &begin)?,
                end_at_ms: rfc3339_ms("end", &end)?,
                budget,
                amount: Amount::new(&currency, amount)?,
                credential: Credential::parse(&credential).context("--credential must be code, code-pin or url")?,
                url_base,
                validity,
            };
            let t = templates::create(&db, &t, now).await?;
            println!("{}", serde_json::to_string_pretty(&t)?);
        }
        BenefitsCommand::Templates(TemplatesCommand::List) => {
            for t in templates::list(&db).await? {
                let sync = t.sync.as_ref().map(|s| format!("{} {}", s.status.as_str(), s.fail_code.clone().unwrap_or_default())).unwrap_or_else(|| "not synced".into());
                println!("{}\t{}\t{}\tbudget {} used {} left {}", t.template_id, t.title, sync.trim(), t.budget_total, t.budget_used(), t.budget_left);
            }
        }
        BenefitsCommand::Templates(TemplatesCommand::Show { template_id, instances: n }) => {
            let t = templates::find(&db, &template_id).await?.with_context(|| format!("no template {template_id}"))?;
            println!("{}", serde_json::to_string_pretty(&t)?);
            println!("budget {} used {} left {}; benefits {}", t.budget_total, t.budget_used(), t.budget_left, serde_json::to_string(&templates::instance_counts(&db, &template_id).await?)?);
            for s in sync::of_template(&db, &template_id).await? {
                println!("sync {}", serde_json::to_string(&s)?);
            }
            for i in instances::of_template(&db, &template_id, n).await? {
                println!("benefit {} {} user {} {} until {} use-sync {}", i.instance_id, i.status.as_str(), i.user_id, i.client_code, i.expire_time(), i.use_sync_status.map_or("-", |s| s.as_str()));
            }
        }
        BenefitsCommand::Sync { template_id } => {
            let s = sync::request(&db, &template_id, now).await?;
            println!("{}", serde_json::to_string(&s)?);
            println!("queued: the running server sends the syncBenefit and follows its review");
        }
        BenefitsCommand::Expire => {
            let n = instances::expire_due(&db, now).await?;
            println!("{n} benefit(s) expired");
        }
    }
    Ok(())
}

async fn tikivip(config: Config, cmd: TikivipCommand) -> anyhow::Result<()> {
    use domain::tikivip::{customers, payments, refunds};
    let db = open_db(&config).await?;
    match cmd {
        TikivipCommand::Show { tiki_transaction_id } => {
            let p = payments::find(&db, &tiki_transaction_id).await?.with_context(|| format!("no payment {tiki_transaction_id}"))?;
            println!("{}", serde_json::to_string_pretty(&p)?);
            for r in refunds::of_payment(&db, &tiki_transaction_id).await? {
                println!("refund {}", serde_json::to_string(&r)?);
            }
            if let Some(c) = customers::find(&db, &p.customer_id).await? {
                println!("customer {}", serde_json::to_string(&c)?);
            }
        }
        TikivipCommand::Refund { tiki_transaction_id, amount, reason, request_id } => {
            let request_id = request_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let (r, existed) = refunds::request(&db, &tiki_transaction_id, amount, &reason, &request_id, domain::now_ms()).await?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            println!("{}", if existed { "this refund was already requested" } else { "queued: the running server sends it to the partner" });
        }
        TikivipCommand::Reconcile { date, partner } => reconcile(&db, &config, &date, partner.as_deref()).await?,
    }
    Ok(())
}

/// `joygate tikivip reconcile`: what the background task does for one day, now, for every partner
/// (or one), with partner files taken as they are (no wait for one unchanged scan).
async fn reconcile(db: &domain::Db, config: &Config, date: &str, only: Option<&str>) -> anyhow::Result<()> {
    use crate::workers::{
        folders::{self as claims, FolderKind},
        reconcile_files::{Folders, ReconcileFiles, Taken, Written},
    };
    use domain::tikivip::{partners, reconcile::Day};
    let day = Day::parse(date)?;
    anyhow::ensure!(day.is_over(domain::now_ms()), "{day} is not over in Vietnam yet: its files are made the day after (T+1)");
    let mut list = partners::list(db).await?;
    if let Some(code) = only {
        list.retain(|p| p.partner_code == code);
        anyhow::ensure!(!list.is_empty(), "no partner {code}");
    }
    let folders = Folders::new(db, config);
    let owner = format!("cli-{}", uuid::Uuid::new_v4().simple());
    for p in &list {
        match folders.write_day(&p.partner_code, day).await? {
            Written::New(files) => files.iter().for_each(|(path, rows)| println!("wrote {} ({rows} rows)", path.display())),
            Written::Kept(files) => files.iter().for_each(|path| println!("already there, kept: {}", path.display())),
        }
        for (name, path) in folders.inbound(&p.partner_code, day).await? {
            // the same claim as the running servers' scanners take: never compared twice at once
            let Some(stamp) = claims::stamp(&path).await else { continue };
            let Some(claim) = claims::Claim::take(db, ReconcileFiles::LABEL, &path, stamp, &owner, domain::now_ms()).await? else {
                println!("{name} is being compared by a running server: skipped");
                continue;
            };
            let taken = claim.renewed_while(db, folders.compare_file(&name, &path)).await;
            claim.release(db).await;
            match taken? {
                Taken::Compared { summary: s, mismatches } => println!(
                    "compared {name}: {} compared, {} matched, {} mismatched, {} invalid lines; mismatches: {}",
                    s.compared,
                    s.matched,
                    s.mismatched,
                    s.invalid,
                    mismatches.display()
                ),
                Taken::Waiting(parts) => println!("{name} is the day's last part and waits for part(s) {parts:?} in ARCHIVED"),
            }
        }
    }
    Ok(())
}

async fn rewards(config: Config, cmd: RewardsCommand) -> anyhow::Result<()> {
    use domain::rewards::{tickets, Action, TicketState};
    match cmd {
        RewardsCommand::ApiKey => {
            let (key, hash) = crate::rewards::new_api_key();
            println!("api key: {key}\n(shown once; the client sends it in the Api-Key header)");
            println!("api_key_sha256 = \"{hash}\"   # for [rewards.clients.ID]");
        }
        RewardsCommand::Rules => {
            anyhow::ensure!(!config.rewards.clients.is_empty(), "no [rewards.clients.ID] in the configuration");
            for (id, client) in &config.rewards.clients {
                let entry = crate::rewards::RewardClientEntry::new(id, client).with_context(|| format!("[rewards.clients.{id}]"))?;
                println!("{id}: time zone {}, key {}", entry.client.time_zone, entry.key_description());
                println!("{}", serde_json::to_string_pretty(&entry.client.rules)?);
            }
        }
        RewardsCommand::List { state, action, client, limit } => {
            let db = open_db(&config).await?;
            if let Some(s) = &state {
                anyhow::ensure!(TicketState::NAMES.contains(&s.as_str()), "unknown state {s:?}; one of {:?}", TicketState::NAMES);
            }
            let action = action.map(|a| Action::parse(&a).with_context(|| format!("unknown action {a:?}"))).transpose()?;
            let filter = tickets::Filter { state, action, client_id: client, member_ref: None };
            for t in tickets::list(&db, &filter, limit).await? {
                let what = match (&t.result, t.reason) {
                    (Some(r), _) => format!("{} points", r.points),
                    (None, Some(reason)) => reason.as_str().to_string(),
                    (None, None) => t.last_error.clone().unwrap_or_default(),
                };
                println!("{} {} {} {} member {} attempts {} {}", t.ticket_id, domain::clock::iso_utc(t.created_at_ms), t.client_id, t.action, t.member_ref, t.attempts, format!("{} {what}", t.state.as_str()).trim());
            }
        }
        RewardsCommand::Show { ticket_id } => {
            let db = open_db(&config).await?;
            let t = tickets::find(&db, &ticket_id).await?.with_context(|| format!("no ticket {ticket_id}"))?;
            println!("{}", serde_json::to_string_pretty(&t)?);
        }
        RewardsCommand::Replay { ticket_id, attempts } => {
            let db = open_db(&config).await?;
            tickets::replay(&db, &ticket_id, attempts, domain::now_ms()).await?;
            println!("ticket {ticket_id} queued again with {attempts} more attempts: the running server's worker takes it");
        }
    }
    Ok(())
}

async fn ledger(config: Config, cmd: LedgerCommand) -> anyhow::Result<()> {
    use domain::ledger;
    let db = open_db(&config).await?;
    match cmd {
        LedgerCommand::Check => {
            let bad = ledger::inconsistent_accounts(&db).await?;
            for (member, balance, sum) in &bad {
                println!("member {member}: balance {balance}, entries sum to {sum}");
            }
            let bad_locks = ledger::holds::inconsistent_locks(&db).await?;
            for (member, locked, held) in &bad_locks {
                println!("member {member}: locked {locked}, active locks sum to {held}");
            }
            anyhow::ensure!(bad.is_empty() && bad_locks.is_empty(), "{} member(s) are inconsistent", bad.len() + bad_locks.len());
            println!("ledger consistent: every balance equals the sum of its entries, every locked amount its active locks");
        }
        LedgerCommand::Expire => {
            let written = ledger::expiry::run(&db, config.points_expiry.months, domain::now_ms()).await?;
            for e in &written {
                println!("member {}: {} points expired, balance {}", e.member_id, -e.points, e.balance_after);
            }
            println!("{} member(s) had points expire ({} months)", written.len(), config.points_expiry.months);
        }
    }
    Ok(())
}

async fn webhooks(config: Config, cmd: WebhooksCommand) -> anyhow::Result<()> {
    use domain::events::webhooks;
    let db = open_db(&config).await?;
    match cmd {
        WebhooksCommand::Add { client_id, url, events, keep_secret } => {
            let (endpoint, secret) = webhooks::register(&db, &client_id, &url, &events, keep_secret, domain::now_ms()).await?;
            println!("{}", serde_json::to_string_pretty(&endpoint)?);
            println!("secret: {secret}\n(verify gj-signature with it: HMAC-SHA256 over \"<t>.<raw body>\")");
        }
        WebhooksCommand::List { client_id } => {
            for e in webhooks::list(&db, client_id.as_deref()).await? {
                println!("{}", serde_json::to_string(&e)?);
            }
        }
        WebhooksCommand::Disable { id, enable } => {
            anyhow::ensure!(webhooks::set_enabled(&db, &id, enable).await?, "no endpoint {id}");
            println!("endpoint {id} {}", if enable { "enabled" } else { "disabled" });
        }
        WebhooksCommand::Log { event_id } => {
            let log = webhooks::delivery_log(&db, &event_id).await?;
            anyhow::ensure!(!log.is_empty(), "no deliveries for event {event_id}");
            for line in log {
                println!("{}", serde_json::to_string(&line)?);
            }
        }
    }
    Ok(())
}

fn parse_alg(s: &str) -> Result<domain::identity::signing_keys::Alg, String> {
    domain::identity::signing_keys::Alg::parse(s).ok_or_else(|| "RS256, ES256 or EdDSA".to_string())
}

async fn open_db(config: &Config) -> anyhow::Result<domain::Db> {
    let db = domain::Db::connect_with(config.database_url.expose(), &config.database.to_domain()?).await?;
    db.migrate().await?;
    Ok(db)
}

async fn clients(config: Config, cmd: ClientsCommand) -> anyhow::Result<()> {
    use domain::identity::clients::{self, ClientSpec};
    let db = open_db(&config).await?;
    match cmd {
        ClientsCommand::Add { client_id, name, public, redirect_uris, web_origins, logo_uri, new_secret, scopes, alg } => {
            let spec = ClientSpec {
                client_id,
                name,
                confidential: !public,
                redirect_uris,
                web_origins,
                logo_uri,
                secret_sha256: None,
                scopes,
                id_token_signed_response_alg: alg,
            };
            let (client, secret) = clients::register(&db, &spec, !new_secret, domain::now_ms()).await?;
            println!("{}", serde_json::to_string_pretty(&client)?);
            if let Some(secret) = secret {
                println!("client_secret: {secret}\n(shown once; only its hash is stored)");
                println!("secret_sha256: {} (for a [[clients]] entry in the configuration file)", clients::secret_sha256(&secret));
            }
        }
        ClientsCommand::List => {
            for client in clients::list(&db).await? {
                println!("{}", serde_json::to_string(&client)?);
            }
        }
    }
    Ok(())
}

async fn keys(config: Config, cmd: KeysCommand) -> anyhow::Result<()> {
    use domain::identity::signing_keys::{self, KeyRing};
    let db = open_db(&config).await?;
    if let KeysCommand::Rotate { publish_hours } = cmd {
        let kids = signing_keys::rotate(&db, publish_hours.max(1) * 3_600_000, domain::now_ms()).await?;
        println!("new active keys: {}", kids.join(", "));
    }
    let ring = KeyRing::load_or_create(&db, domain::now_ms()).await?;
    println!("active: {}", ring.active_kids());
    println!("{}", serde_json::to_string_pretty(&ring.jwks)?);
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    telemetry::init_logging(&config.log);
    let running = crate::start(config.clone()).await?;
    let url = config.public_url(running.addr);
    println!("Joygate is serving on {url}/");
    println!("  health   {url}/healthz   readiness {url}/readyz   metrics {url}/metrics");
    println!("  sign-in  {url}/.well-known/openid-configuration");
    if config.sandbox {
        println!("  sandbox mode: counterparts run on this machine (JOYGATE_SANDBOX=false to turn off)");
        println!("  SMS codes (dev inbox)  {url}/sandbox/sms");
    }
    if let Some(demo) = &running.demo_partner_url {
        println!("  demo partner  {demo}/   (iFrame {demo}/iframe, single-page app {demo}/spa)");
    }
    if let Some(pay) = &running.payment_partner_url {
        println!("  sandbox payment partner (Tiki VIP)  {pay}/   (open the VIP webview as a customer there)");
    }
    if let Some(members) = &running.membership_app_url {
        println!("  sandbox membership app (reward tasks)  {members}/   (register, buy, draw, check in; operators: {url}/ops/rewards)");
    }
    if let Some(platform) = &running.superapp_platform_url {
        println!("  sandbox super-app platform (benefits)  {platform}/   (users collect at {platform}/app; cashier {url}/cashier)");
    }
    crate::http::shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests and jobs");
    running.stop().await;
    Ok(())
}

async fn jobs(config: Config, cmd: JobsCommand) -> anyhow::Result<()> {
    let db = open_db(&config).await?;
    match cmd {
        JobsCommand::List { state, limit } => {
            let state = match state.as_deref() {
                None => None,
                Some(s) => Some(JobState::parse(s).with_context(|| format!("unknown state {s:?}"))?),
            };
            for job in outbox::list(&db, state, limit).await? {
                println!("{}", serde_json::to_string(&job)?);
            }
        }
        JobsCommand::Replay { id, attempts } => {
            if !outbox::replay(&db, id, attempts, domain::now_ms()).await? {
                anyhow::bail!("job {id} does not exist or is not dead/done");
            }
            println!("job {id} queued again with {attempts} more attempts");
        }
    }
    Ok(())
}
