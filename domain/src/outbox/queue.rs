//! Queries on `outbox_jobs` / `outbox_attempts`. Every state change is one conditional statement.

use serde::Serialize;

use crate::store::{Db, StoreError, Tx};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Pending,
    Running,
    Done,
    Dead,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "pending" => JobState::Pending,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "dead" => JobState::Dead,
            _ => return None,
        })
    }
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub payload: serde_json::Value,
    /// When set, a second job with the same key is not created (idempotent enqueue).
    pub dedupe_key: Option<String>,
    pub max_attempts: u32,
    /// Earliest run time (Unix ms); `None` means now.
    pub run_at_ms: Option<i64>,
}

impl NewJob {
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        Self { kind: kind.into(), payload, dedupe_key: None, max_attempts: 10, run_at_ms: None }
    }

    pub fn dedupe_key(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }

    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    pub fn run_at_ms(mut self, at: i64) -> Self {
        self.run_at_ms = Some(at);
        self
    }
}

/// The PostgreSQL channel on which enqueues wake idle workers of every instance (`NOTIFY` is
/// delivered when the enqueuing transaction commits; polling stays as the fallback).
pub const WAKE_CHANNEL: &str = "joygate_outbox";

/// Adds a job inside the caller's transaction. Returns the new id, or `None` when a job with
/// the same `dedupe_key` already exists.
pub async fn enqueue(tx: &mut Tx<'_>, job: NewJob, now_ms: i64) -> Result<Option<i64>, StoreError> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO outbox_jobs (kind, dedupe_key, payload, max_attempts, run_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (dedupe_key) DO NOTHING
         RETURNING id",
    )
    .bind(&job.kind)
    .bind(&job.dedupe_key)
    .bind(job.payload.to_string())
    .bind(job.max_attempts as i64)
    .bind(job.run_at_ms.unwrap_or(now_ms))
    .bind(now_ms)
    .fetch_optional(&mut **tx)
    .await?;
    if id.is_some() && tx.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_notify($1, '')").bind(WAKE_CHANNEL).execute(&mut **tx).await?;
    }
    Ok(id)
}

/// A claimed job, as handed to a handler.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    /// 1 on the first run.
    pub attempt: u32,
    pub max_attempts: u32,
    pub(crate) lease_owner: String,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: i64,
    kind: String,
    payload: String,
    attempts: i64,
    max_attempts: i64,
}

/// Claims the next due job of one of `kinds` (or a running one whose lease expired).
pub(crate) async fn claim(db: &Db, kinds: &[&str], lease_owner: &str, lease_ms: i64, now_ms: i64) -> Result<Option<Job>, StoreError> {
    if kinds.is_empty() {
        return Ok(None);
    }
    // `$first, $first+1, …` for the kinds, and the due condition against the time parameter `now`.
    let kind_list = |first: usize| (0..kinds.len()).map(|i| format!("${}", i + first)).collect::<Vec<_>>().join(", ");
    let due = |now: &str| format!("((state = 'pending' AND run_at <= {now}) OR (state = 'running' AND lease_until < {now}))");
    // Look first with a read (which never waits for SQLite's single writer); only a worker that
    // saw a due job takes the write lock to claim it, so idle polls and wake-ups stay cheap.
    let peek = format!("SELECT 1 FROM outbox_jobs WHERE {} AND kind IN ({}) LIMIT 1", due("$1"), kind_list(2));
    let mut look = sqlx::query_scalar::<_, i32>(&peek).bind(now_ms);
    for k in kinds {
        look = look.bind(*k);
    }
    if look.fetch_optional(db.pool()).await?.is_none() {
        return Ok(None);
    }
    // The outer WHERE re-checks the condition, so two workers racing for one row cannot both
    // win; on PostgreSQL the inner SELECT also skips rows another worker is claiming right now
    // (`SKIP LOCKED`), so workers of several instances take different jobs instead of queueing.
    let (due3, kinds4, skip) = (due("$3"), kind_list(4), db.skip_locked());
    let sql = format!(
        "UPDATE outbox_jobs
         SET state = 'running', attempts = attempts + 1, lease_owner = $1, lease_until = $2, updated_at = $3
         WHERE id = (SELECT id FROM outbox_jobs WHERE {due3} AND kind IN ({kinds4}) ORDER BY run_at, id LIMIT 1{skip})
           AND {due3}
         RETURNING id, kind, payload, attempts, max_attempts"
    );
    let mut q = sqlx::query_as::<_, JobRow>(&sql).bind(lease_owner).bind(now_ms + lease_ms).bind(now_ms);
    for k in kinds {
        q = q.bind(*k);
    }
    let Some(JobRow { id, kind, payload, attempts, max_attempts }) = q.fetch_optional(db.pool()).await? else {
        return Ok(None);
    };
    let mut job = Job { id, kind, payload: serde_json::Value::Null, attempt: attempts as u32, max_attempts: max_attempts as u32, lease_owner: lease_owner.to_string() };
    match serde_json::from_str(&payload) {
        Ok(p) => job.payload = p,
        Err(e) => {
            // We always write valid JSON: a payload that is not is a corrupt row. Dead-letter it
            // (loudly) rather than hand a handler something else.
            let error = format!("corrupt payload: {e}");
            tracing::error!(job = id, kind = %job.kind, %error, "outbox job dead-lettered");
            finish(db, &job, now_ms, Outcome::Dead { error: &error }, now_ms).await?;
            return Ok(None);
        }
    }
    Ok(Some(job))
}

/// How an attempt ended.
pub(crate) enum Outcome<'a> {
    Done,
    Retry { at_ms: i64, error: &'a str },
    Dead { error: &'a str },
}

/// Records the attempt and moves the job on, fenced by the lease: if the lease expired and
/// another worker took the job, this attempt's result is logged but changes nothing.
pub(crate) async fn finish(db: &Db, job: &Job, started_ms: i64, outcome: Outcome<'_>, now_ms: i64) -> Result<bool, StoreError> {
    let (state, run_at, error, label) = match outcome {
        Outcome::Done => (JobState::Done, None, None, "ok"),
        Outcome::Retry { at_ms, error } => (JobState::Pending, Some(at_ms), Some(error), "retry"),
        Outcome::Dead { error } => (JobState::Dead, None, Some(error), "dead"),
    };
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO outbox_attempts (job_id, attempt, started_at, finished_at, outcome, error)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (job_id, attempt) DO NOTHING",
    )
    .bind(job.id)
    .bind(job.attempt as i64)
    .bind(started_ms)
    .bind(now_ms)
    .bind(label)
    .bind(error)
    .execute(&mut *tx)
    .await?;
    let moved = sqlx::query(
        "UPDATE outbox_jobs
         SET state = $1, run_at = COALESCE($2, run_at), last_error = COALESCE($3, last_error),
             lease_owner = NULL, lease_until = NULL, updated_at = $4
         WHERE id = $5 AND state = 'running' AND lease_owner = $6",
    )
    .bind(state.as_str())
    .bind(run_at)
    .bind(error)
    .bind(now_ms)
    .bind(job.id)
    .bind(&job.lease_owner)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    tx.commit().await?;
    Ok(moved)
}

/// What operators see of a job.
#[derive(Debug, Clone, Serialize)]
pub struct JobSummary {
    pub id: i64,
    pub kind: String,
    pub state: JobState,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: i64,
    pub last_error: Option<String>,
    pub dedupe_key: Option<String>,
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: i64,
    kind: String,
    state: String,
    attempts: i64,
    max_attempts: i64,
    run_at: i64,
    last_error: Option<String>,
    dedupe_key: Option<String>,
}

/// Lists jobs, newest first, optionally in one state.
pub async fn list(db: &Db, state: Option<JobState>, limit: i64) -> Result<Vec<JobSummary>, StoreError> {
    let rows: Vec<SummaryRow> = sqlx::query_as(
        "SELECT id, kind, state, attempts, max_attempts, run_at, last_error, dedupe_key FROM outbox_jobs
         WHERE ($1 IS NULL OR state = $1) ORDER BY id DESC LIMIT $2",
    )
    .bind(state.map(JobState::as_str))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter()
        .map(|r| {
            let state = JobState::parse(&r.state).ok_or_else(|| StoreError::corrupt("outbox_jobs", format!("job {}: unknown state {:?}", r.id, r.state)))?;
            Ok(JobSummary { id: r.id, kind: r.kind, state, attempts: r.attempts, max_attempts: r.max_attempts, run_at: r.run_at, last_error: r.last_error, dedupe_key: r.dedupe_key })
        })
        .collect()
}

/// Manual replay: puts a dead (or done) job back in the queue for `extra_attempts` more tries.
/// The attempt counter keeps counting, so the delivery log stays complete. Returns false when
/// the job does not exist or is still pending/running.
pub async fn replay(db: &Db, id: i64, extra_attempts: u32, now_ms: i64) -> Result<bool, StoreError> {
    let mut tx = db.begin().await?;
    let replayed = replay_in(&mut tx, id, extra_attempts, now_ms).await?;
    tx.commit().await?;
    Ok(replayed)
}

/// [`replay`] inside the caller's transaction (a business record replayed with its job).
pub async fn replay_in(tx: &mut Tx<'_>, id: i64, extra_attempts: u32, now_ms: i64) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE outbox_jobs SET state = 'pending', max_attempts = attempts + $1, run_at = $2, updated_at = $2
         WHERE id = $3 AND state IN ('dead', 'done')",
    )
    .bind(extra_attempts.max(1) as i64)
    .bind(now_ms)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
