//! Background work started with the server: the outbox worker, the scheduled jobs (pending
//! payment checks, points expiry, housekeeping) and the folder scanners (`workers/folders.rs`:
//! batch files, reconciliation files). Each stops when the shutdown signal turns true.
//!
//! With several instances on one database, a scheduled job runs on one instance at a time: each
//! run takes the job's lease (`domain::store::lease`) first, and an instance that dies holding it
//! loses it after `lease_ttl` — another takes the next run. The outbox needs no lease: its
//! workers claim jobs row by row.

mod batch_files;
pub mod benefits;
pub(crate) mod folders;
pub(crate) mod reconcile_files;
mod reward_tasks;

use std::{sync::Arc, time::Duration};

use domain::{
    events::push::{self, PushSender},
    identity::Idp,
    outbox::{HandlerFuture, Job, JobError, JobHandler, RetryPolicy, Worker, WorkerConfig},
    tikivip::{
        gateway::{self, RefundOutcome},
        refunds, TikiVip,
    },
    signing::replay::SeenNonces,
    store::lease,
    Db,
};
use tokio::{sync::watch, task::JoinHandle};

use crate::{
    config::Config,
    deliveries::{HttpPushSender, PushDelivery, WebhookDelivery},
};

/// The handlers the outbox worker runs, one per job kind. Integrations add theirs here.
fn job_handlers(db: &Db, config: &Config) -> anyhow::Result<Vec<Arc<dyn JobHandler>>> {
    let retry = RetryPolicy { base_ms: config.webhooks.first_retry_ms.max(1), max_delay_ms: config.webhooks.max_retry_delay_ms.max(1) };
    let push: Arc<dyn PushSender> = match &config.push.url {
        Some(url) => Arc::new(HttpPushSender::new(url.clone(), config.push.token.expose().to_string())?),
        None => Arc::new(push::LogSender),
    };
    Ok(vec![Arc::new(WebhookDelivery::new(db.clone(), retry)?), Arc::new(PushDelivery { db: db.clone(), sender: push })])
}

pub fn spawn(
    db: &Db,
    idp: &Idp,
    config: &Config,
    tikivip: &TikiVip,
    rewards: &Arc<crate::rewards::Rewards>,
    benefit_platforms: Arc<dyn domain::benefits::platform_api::PlatformApi>,
    instance_name: &str,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(Worker, Vec<JoinHandle<()>>)> {
    let mut handlers = job_handlers(db, config)?;
    handlers.push(Arc::new(RefundDelivery(tikivip.clone())));
    handlers.push(Arc::new(reward_tasks::RewardTasks { db: db.clone(), rewards: rewards.clone() }));
    handlers.extend(benefits::handlers(db, benefit_platforms, &config.benefits));
    let worker_config = WorkerConfig {
        concurrency: config.worker.concurrency,
        lease_ms: i64::try_from(config.worker.lease_s.clamp(1, 86_400) * 1000).unwrap_or(300_000),
        ..WorkerConfig::default()
    };
    let worker = Worker::new(db.clone(), worker_config, handlers).for_instance(instance_name);
    let instance = Instance { db: db.clone(), owner: instance_name.to_string() };
    let mut tasks = vec![
        tokio::spawn(worker.clone().run(shutdown.clone())),
        batch_files::spawn(db, config, worker.clone(), &instance.owner, shutdown.clone()),
        reconcile_files::spawn(db, config, &instance.owner, shutdown.clone()),
        tokio::spawn(reload_signing_keys(idp.clone(), shutdown.clone())),
    ];
    tasks.push(tokio::spawn(instance.clone().every("housekeeping", Duration::from_secs(60), shutdown.clone(), {
        let db = db.clone();
        move || housekeeping(db.clone())
    })));
    if config.points_expiry.months > 0 {
        let (db, settings) = (db.clone(), config.points_expiry.clone());
        let every = Duration::from_secs(settings.check_every_s.max(1));
        tasks.push(tokio::spawn(instance.clone().every("points-expiry", every, shutdown.clone(), move || expire_points(db.clone(), settings.months))));
    }
    let (expiry_db, every) = (db.clone(), Duration::from_secs(config.benefits.expiry_check_every_s.max(1)));
    tasks.push(tokio::spawn(instance.clone().every("benefits-expiry", every, shutdown.clone(), move || benefits::expire(expiry_db.clone()))));
    let vip = tikivip.clone();
    tasks.push(tokio::spawn(instance.every("tikivip-pending-check", Duration::from_secs(5), shutdown, move || check_pending_payments(vip.clone()))));
    Ok((worker, tasks))
}

/// This process, as the holder of scheduled jobs' leases.
#[derive(Clone)]
struct Instance {
    db: Db,
    owner: String,
}

impl Instance {
    /// Runs `job` every `every` while this instance holds the lease `name`; the lease lasts three
    /// periods (at least 30 s) from each run's start, and is given back at shutdown.
    async fn every<F, Fut>(self, name: &'static str, every: Duration, mut shutdown: watch::Receiver<bool>, mut job: F)
    where
        F: FnMut() -> Fut + Send,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let ttl_ms = i64::try_from((every * 3).max(Duration::from_secs(30)).as_millis()).unwrap_or(i64::MAX);
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tick.tick() => match lease::acquire(&self.db, name, &self.owner, ttl_ms, domain::now_ms()).await {
                    Ok(true) => job().await,
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, job = name, "scheduled job: taking its lease failed"),
                },
                _ = shutdown.changed() => {
                    if let Err(e) = lease::release(&self.db, name, &self.owner).await {
                        tracing::debug!(error = %e, job = name, "scheduled job: lease not released");
                    }
                    return;
                }
            }
        }
    }
}

/// Tiki VIP payments still PENDING: asked about at the partner (no payment is lost when the
/// IPN never comes). Every 5 s; each payment at most every `pending_check_every_s`.
async fn check_pending_payments(vip: TikiVip) {
    match gateway::check_pending(&vip.db, vip.api.as_ref(), &vip.plans, &vip.policy, domain::now_ms()).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(payments = n, "pending check: payments settled at the partner"),
        Err(e) => tracing::warn!(error = %e, "pending check failed"),
    }
}

/// Sends Tiki VIP refunds to the partner (`domain::tikivip::gateway::send_refund`).
struct RefundDelivery(TikiVip);

impl JobHandler for RefundDelivery {
    fn kind(&self) -> &'static str {
        refunds::SEND
    }
    fn handle<'a>(&'a self, job: &'a Job) -> HandlerFuture<'a> {
        Box::pin(async move {
            let vip = &self.0;
            let id = job.payload["request_id"].as_str().ok_or_else(|| JobError::Permanent("no request_id".into()))?;
            let last = job.attempt >= job.max_attempts;
            match gateway::send_refund(&vip.db, vip.api.as_ref(), &vip.plans, id, last, domain::now_ms()).await {
                Ok(RefundOutcome::Done) => Ok(()),
                Ok(RefundOutcome::Retry(why)) => Err(JobError::Retry(why)),
                Err(e) => Err(JobError::Retry(e.to_string())),
            }
        })
    }
}

/// Every `check_every_s`: expires points earned more than `months` ago (FIFO; see
/// `domain::ledger::expiry`).
async fn expire_points(db: Db, months: u32) {
    match domain::ledger::expiry::run(&db, months, domain::now_ms()).await {
        Ok(written) if !written.is_empty() => tracing::info!(members = written.len(), "points expired"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "points expiry failed"),
    }
}

/// Once a minute: ends expired point locks, queues member notifications still waiting, deletes
/// webhook events older than 30 days and used webview links, replay-protection records past their
/// retention, expired sign-in flows, link tokens and sessions.
async fn housekeeping(db: Db) {
    let now = domain::now_ms();
    match domain::ledger::holds::expire_due(&db, now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(locks = n, "expired point locks released"),
        Err(e) => tracing::warn!(error = %e, "housekeeping: expiring point locks failed"),
    }
    let warn = |what: &str, e: &dyn std::fmt::Display| tracing::warn!(error = %e, "housekeeping: {what} failed");
    if let Err(e) = domain::events::webhooks::purge_old(&db, now).await {
        warn("purging old webhook events", &e);
    }
    if let Err(e) = domain::tikivip::customers::purge_expired_links(&db, now).await {
        warn("purging webview links", &e);
    }
    if let Err(e) = domain::events::push::sweep(&db, now).await {
        warn("queueing waiting notifications", &e);
    }
    if let Err(e) = SeenNonces::new(db.clone()).purge_expired(now).await {
        warn("purging seen nonces", &e);
    }
    if let Err(e) = domain::identity::flows::purge_expired(&db, now).await {
        warn("purging sign-in flows", &e);
    }
    if let Err(e) = domain::identity::link_requests::purge_expired(&db, now).await {
        warn("purging link tokens", &e);
    }
    if let Err(e) = domain::store::sessions::purge_expired(&db, now).await {
        warn("purging expired sessions", &e);
    }
    if let Err(e) = domain::identity::sms::DevInbox::new(db.clone()).purge(now).await {
        warn("purging the sandbox SMS inbox", &e);
    }
}

/// Picks up `joygate keys rotate` (run by an operator against the same database) within 30 s,
/// and drops retired keys from the JWKS once their tokens have expired.
async fn reload_signing_keys(idp: Idp, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => match idp.reload_keys(domain::now_ms()).await {
                Ok(true) => tracing::info!(active = %idp.keys().active_kids(), "token signing keys reloaded"),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "reloading the token signing keys failed"),
            },
            _ = shutdown.changed() => return,
        }
    }
}
