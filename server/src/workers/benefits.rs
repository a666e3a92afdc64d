//! The benefit jobs: the outbox handlers that call the platform (syncBenefit, the
//! inquireBenefitSync polling, syncUsedBenefit — the rules are in
//! `domain::benefits::platform_api`) and the expiry of benefits past their expireTime (run by
//! `workers::spawn` under a lease, on one instance at a time).

use std::sync::Arc;

use domain::{
    benefits::{
        instances,
        platform_api::{self, Outcome, PlatformApi},
        sync, usage, BenefitError,
    },
    outbox::{HandlerFuture, Job, JobError, JobHandler, RetryPolicy},
    Db,
};

use crate::config::BenefitsSettings;

fn payload<'a>(job: &'a Job, key: &str) -> Result<&'a str, JobError> {
    job.payload[key].as_str().ok_or_else(|| JobError::Permanent(format!("the job has no {key}")))
}

fn outcome(r: Result<Outcome, BenefitError>) -> Result<(), JobError> {
    match r {
        Ok(Outcome::Done) => Ok(()),
        Ok(Outcome::Retry(why)) => Err(JobError::Retry(why)),
        Err(BenefitError::Store(e)) => Err(JobError::Retry(e.to_string())),
        Err(e) => Err(JobError::Permanent(e.to_string())),
    }
}

/// The benefit handlers, sharing one platform client.
pub fn handlers(db: &Db, api: Arc<dyn PlatformApi>, settings: &BenefitsSettings) -> Vec<Arc<dyn JobHandler>> {
    let retry = RetryPolicy { base_ms: settings.retry_first_ms.max(1), max_delay_ms: settings.retry_max_ms.max(1) };
    let poll = RetryPolicy { base_ms: settings.sync_poll_after_s.max(1) * 1000, max_delay_ms: settings.sync_poll_max_s.max(1) * 1000 };
    let poll_after_ms = settings.sync_poll_after_s.saturating_mul(1000);
    vec![
        Arc::new(SendSync { db: db.clone(), api: api.clone(), retry, poll_after_ms }),
        Arc::new(PollSync { db: db.clone(), api: api.clone(), retry: poll }),
        Arc::new(SendUsed { db: db.clone(), api, retry }),
    ]
}

/// Job `benefits.sync`: sends a syncBenefit.
pub struct SendSync {
    db: Db,
    api: Arc<dyn PlatformApi>,
    retry: RetryPolicy,
    poll_after_ms: i64,
}

impl JobHandler for SendSync {
    fn kind(&self) -> &'static str {
        sync::SEND
    }
    fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }
    fn handle<'a>(&'a self, job: &'a Job) -> HandlerFuture<'a> {
        Box::pin(async move {
            let id = payload(job, "sync_request_id")?;
            outcome(platform_api::send_sync(&self.db, self.api.as_ref(), id, self.poll_after_ms, domain::now_ms()).await)
        })
    }
}

/// Job `benefits.inquire_sync`: asks inquireBenefitSync until the sync ends.
pub struct PollSync {
    db: Db,
    api: Arc<dyn PlatformApi>,
    retry: RetryPolicy,
}

impl JobHandler for PollSync {
    fn kind(&self) -> &'static str {
        sync::POLL
    }
    fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }
    fn handle<'a>(&'a self, job: &'a Job) -> HandlerFuture<'a> {
        Box::pin(async move {
            let id = payload(job, "sync_request_id")?;
            outcome(platform_api::poll_sync(&self.db, self.api.as_ref(), id, domain::now_ms()).await)
        })
    }
}

/// Job `benefits.sync_used`: sends a used benefit's syncUsedBenefit.
pub struct SendUsed {
    db: Db,
    api: Arc<dyn PlatformApi>,
    retry: RetryPolicy,
}

impl JobHandler for SendUsed {
    fn kind(&self) -> &'static str {
        usage::SYNC_USED
    }
    fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }
    fn handle<'a>(&'a self, job: &'a Job) -> HandlerFuture<'a> {
        Box::pin(async move {
            let id = payload(job, "instance_id")?;
            outcome(platform_api::send_used(&self.db, self.api.as_ref(), id).await)
        })
    }
}

/// One run of the expiry (every `[benefits] expiry_check_every_s`, on the instance holding the
/// lease): ACTIVATED benefits past their expireTime become EXPIRED.
pub async fn expire(db: Db) {
    match instances::expire_due(&db, domain::now_ms()).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(benefits = n, "benefits expired"),
        Err(e) => tracing::warn!(error = %e, "benefit expiry failed"),
    }
}
