//! Background work started with the server: the outbox worker and periodic housekeeping.
//! Each stops when the shutdown signal turns true.

mod batch_files;
pub mod benefits;
mod folders;
pub(crate) mod reconcile_files;

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
    Db,
};
use tokio::{sync::watch, task::JoinHandle};

use crate::{
    config::{Config, PointsExpirySettings},
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
    benefit_platforms: Arc<dyn domain::benefits::platform_api::PlatformApi>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(Worker, Vec<JoinHandle<()>>)> {
    let mut handlers = job_handlers(db, config)?;
    handlers.push(Arc::new(RefundDelivery(tikivip.clone())));
    handlers.extend(benefits::handlers(db, benefit_platforms, &config.benefits));
    let worker = Worker::new(db.clone(), WorkerConfig { concurrency: config.worker.concurrency, ..WorkerConfig::default() }, handlers);
    let tasks = vec![
        tokio::spawn(worker.clone().run(shutdown.clone())),
        batch_files::spawn(db, config, worker.clone(), shutdown.clone()),
        reconcile_files::spawn(db, config, shutdown.clone()),
        tokio::spawn(housekeeping(db.clone(), shutdown.clone())),
        tokio::spawn(expire_points(db.clone(), config.points_expiry.clone(), shutdown.clone())),
        tokio::spawn(check_pending_payments(tikivip.clone(), shutdown.clone())),
        tokio::spawn(benefits::expire(db.clone(), config.benefits.expiry_check_every_s, shutdown.clone())),
        tokio::spawn(reload_signing_keys(idp.clone(), shutdown)),
    ];
    Ok((worker, tasks))
}

/// Tiki VIP payments still PENDING: asked about at the partner (no payment is lost when the
/// IPN never comes). Every 5 s; each payment at most every `pending_check_every_s`.
async fn check_pending_payments(vip: TikiVip, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tick.tick() => match gateway::check_pending(&vip.db, vip.api.as_ref(), &vip.plans, &vip.policy, domain::now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(payments = n, "pending check: payments settled at the partner"),
                Err(e) => tracing::warn!(error = %e, "pending check failed"),
            },
            _ = shutdown.changed() => return,
        }
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
async fn expire_points(db: Db, settings: PointsExpirySettings, mut shutdown: watch::Receiver<bool>) {
    if settings.months == 0 {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(settings.check_every_s.max(1)));
    loop {
        tokio::select! {
            _ = tick.tick() => match domain::ledger::expiry::run(&db, settings.months, domain::now_ms()).await {
                Ok(written) if !written.is_empty() => tracing::info!(members = written.len(), "points expired"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "points expiry failed"),
            },
            _ = shutdown.changed() => return,
        }
    }
}

/// Once a minute: ends expired point locks, queues member notifications still waiting, deletes
/// webhook events older than 30 days and used webview links, replay-protection records past their
/// retention, expired sign-in flows and expired link tokens.
async fn housekeeping(db: Db, mut shutdown: watch::Receiver<bool>) {
    let seen = SeenNonces::new(db.clone());
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                match domain::ledger::holds::expire_due(&db, domain::now_ms()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(locks = n, "expired point locks released"),
                    Err(e) => tracing::warn!(error = %e, "housekeeping: expiring point locks failed"),
                }
                if let Err(e) = domain::events::webhooks::purge_old(&db, domain::now_ms()).await {
                    tracing::warn!(error = %e, "housekeeping: purging old webhook events failed");
                }
                if let Err(e) = domain::tikivip::customers::purge_expired_links(&db, domain::now_ms()).await {
                    tracing::warn!(error = %e, "housekeeping: purging webview links failed");
                }
                if let Err(e) = domain::events::push::sweep(&db, domain::now_ms()).await {
                    tracing::warn!(error = %e, "housekeeping: queueing waiting notifications failed");
                }
                if let Err(e) = seen.purge_expired(domain::now_ms()).await {
                    tracing::warn!(error = %e, "housekeeping: purging seen nonces failed");
                }
                if let Err(e) = domain::identity::flows::purge_expired(&db, domain::now_ms()).await {
                    tracing::warn!(error = %e, "housekeeping: purging sign-in flows failed");
                }
                if let Err(e) = domain::identity::link_requests::purge_expired(&db, domain::now_ms()).await {
                    tracing::warn!(error = %e, "housekeeping: purging link tokens failed");
                }
                if let Err(e) = domain::store::sessions::purge_expired(&db, domain::now_ms()).await {
                    tracing::warn!(error = %e, "housekeeping: purging expired sessions failed");
                }
            }
            _ = shutdown.changed() => return,
        }
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
                Ok(true) => tracing::info!(active = %idp.keys().active.kid, "token signing keys reloaded"),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "reloading the token signing keys failed"),
            },
            _ = shutdown.changed() => return,
        }
    }
}
