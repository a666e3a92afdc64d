//! The worker loop: claim, run the kind's handler, record the attempt, back off or dead-letter.

use std::{collections::HashMap, future::Future, pin::Pin, sync::Arc, time::Duration};

use rand::Rng;
use tokio::sync::{watch, Notify};

use super::queue::{self, Job, Outcome};
use crate::{clock::now_ms, store::Db};

/// Why a handler did not finish a job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth trying again later (the receiver was down, timed out, answered 5xx…).
    #[error("{0}")]
    Retry(String),
    /// Trying again cannot help (the receiver refused the message for good); dead-letter now.
    #[error("{0}")]
    Permanent(String),
}

/// Exponential backoff with jitter: the n-th retry waits a random time in
/// `[d/2, d]` where `d = min(base * 2^(n-1), max_delay)` ("equal jitter").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base_ms: i64,
    pub max_delay_ms: i64,
}

impl RetryPolicy {
    pub const DEFAULT: RetryPolicy = RetryPolicy { base_ms: 1_000, max_delay_ms: 3_600_000 };

    /// The delay before the retry that follows attempt number `attempt` (1-based).
    pub fn delay_ms(&self, attempt: u32, rng: &mut impl Rng) -> i64 {
        let exp = attempt.saturating_sub(1).min(40);
        let d = self.base_ms.saturating_mul(1i64 << exp).min(self.max_delay_ms).max(1);
        rng.gen_range(d / 2..=d)
    }
}

pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send + 'a>>;

/// Runs the jobs of one kind. Must be idempotent: a job can run more than once.
pub trait JobHandler: Send + Sync + 'static {
    fn kind(&self) -> &'static str;
    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::DEFAULT
    }
    fn handle<'a>(&'a self, job: &'a Job) -> HandlerFuture<'a>;
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Jobs run at once.
    pub concurrency: usize,
    /// How long a claimed job is ours before another worker may take it over.
    pub lease_ms: i64,
    /// Longest sleep between polls when idle ([`Worker::wake`] cuts it short).
    pub poll_interval: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self { concurrency: 4, lease_ms: 300_000, poll_interval: Duration::from_millis(500) }
    }
}

/// Runs registered handlers over the outbox until told to stop.
#[derive(Clone)]
pub struct Worker {
    db: Db,
    config: WorkerConfig,
    handlers: Arc<HashMap<&'static str, Arc<dyn JobHandler>>>,
    wake: Arc<Notify>,
    /// This instance's name, the first part of every lease it takes (`{instance}:{claim}`), so
    /// operators see which instance runs a job.
    instance: Arc<str>,
}

impl Worker {
    pub fn new(db: Db, config: WorkerConfig, handlers: Vec<Arc<dyn JobHandler>>) -> Self {
        let handlers = handlers.into_iter().map(|h| (h.kind(), h)).collect();
        Self { db, config, handlers: Arc::new(handlers), wake: Arc::new(Notify::new()), instance: "worker".into() }
    }

    /// Names the instance these workers run in (see [`Worker::run_one`]'s lease owners).
    pub fn for_instance(mut self, instance: &str) -> Self {
        self.instance = instance.into();
        self
    }

    /// Tells idle workers that a job was committed, so they don't wait for the next poll.
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }

    /// Runs `concurrency` loops; returns when `shutdown` turns true and the jobs in hand are finished.
    /// On PostgreSQL it also listens for enqueues committed by any instance.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let mut loops: Vec<_> = (0..self.config.concurrency.max(1))
            .map(|_| tokio::spawn(self.clone().run_loop(shutdown.clone())))
            .collect();
        if self.db.backend() == crate::store::Backend::Postgres {
            loops.push(tokio::spawn(self.clone().listen(shutdown.clone())));
        }
        for l in loops {
            let _ = l.await;
        }
    }

    /// Wakes this instance's idle workers when any instance enqueues (PostgreSQL `LISTEN`).
    /// A lost connection is retried with backoff; meanwhile polling finds the jobs.
    async fn listen(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(200);
        while !*shutdown.borrow() {
            let listened = async {
                let mut listener = sqlx::postgres::PgListener::connect(self.db.url()).await?;
                listener.listen(queue::WAKE_CHANNEL).await?;
                loop {
                    listener.recv().await?;
                    self.wake();
                }
                #[allow(unreachable_code)]
                Ok::<(), sqlx::Error>(())
            };
            tokio::select! {
                Err(e) = listened => {
                    tracing::warn!(error = %e, "outbox: LISTEN connection lost; polling until it is back");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
                _ = shutdown.changed() => {}
            }
        }
    }

    async fn run_loop(self, mut shutdown: watch::Receiver<bool>) {
        let kinds: Vec<&str> = self.handlers.keys().copied().collect();
        while !*shutdown.borrow() {
            match self.run_one(&kinds).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "outbox: claiming a job failed"),
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Claims and runs one due job; `Ok(false)` when none was due.
    pub async fn run_one(&self, kinds: &[&str]) -> Result<bool, crate::StoreError> {
        let owner = format!("{}:{}", self.instance, uuid::Uuid::new_v4().simple());
        let Some(job) = queue::claim(&self.db, kinds, &owner, self.config.lease_ms, now_ms()).await? else {
            return Ok(false);
        };
        let handler = self.handlers[job.kind.as_str()].clone();
        let policy = handler.retry_policy();
        let started = now_ms();
        let span = tracing::info_span!("job", id = job.id, kind = %job.kind, attempt = job.attempt);
        // Its own task, so that a panicking handler costs one attempt, not the worker loop.
        let task_job = job.clone();
        let run = tokio::spawn(tracing::Instrument::instrument(async move { handler.handle(&task_job).await }, span));
        let result = run.await.unwrap_or_else(|e| Err(JobError::Retry(format!("handler panicked: {e}"))));
        let outcome = match &result {
            Ok(()) => Outcome::Done,
            Err(JobError::Retry(e)) if job.attempt < job.max_attempts => {
                Outcome::Retry { at_ms: now_ms() + policy.delay_ms(job.attempt, &mut rand::thread_rng()), error: e }
            }
            Err(JobError::Retry(e)) | Err(JobError::Permanent(e)) => Outcome::Dead { error: e },
        };
        let label = match outcome {
            Outcome::Done => "done",
            Outcome::Retry { .. } => "retry",
            Outcome::Dead { .. } => "dead",
        };
        match &result {
            Ok(()) => tracing::debug!(job = job.id, kind = %job.kind, "outbox: job done"),
            Err(e) => tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempt, error = %e, outcome = label, "outbox: job failed"),
        }
        metrics::counter!("joygate_outbox_jobs_total", "kind" => job.kind.clone(), "outcome" => label).increment(1);
        if !queue::finish(&self.db, &job, started, outcome, now_ms()).await? {
            tracing::warn!(job = job.id, "outbox: lease was lost before the job finished; another worker owns it");
        }
        Ok(true)
    }
}
