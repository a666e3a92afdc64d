use std::sync::{
    atomic::{AtomicU32, Ordering},
    Arc,
};

use serde_json::json;

use super::*;
use crate::{clock::now_ms, store::testing::temp_db, Db};

/// Fails `fail_times` times, then succeeds; counts every run.
struct Flaky {
    kind: &'static str,
    fail_times: u32,
    permanent: bool,
    runs: AtomicU32,
}

impl Flaky {
    fn new(kind: &'static str, fail_times: u32) -> Arc<Self> {
        Arc::new(Self { kind, fail_times, permanent: false, runs: AtomicU32::new(0) })
    }
}

impl JobHandler for Flaky {
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy { base_ms: 1, max_delay_ms: 2 }
    }
    fn handle<'a>(&'a self, _job: &'a Job) -> HandlerFuture<'a> {
        Box::pin(async move {
            let n = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
            if n <= self.fail_times {
                if self.permanent {
                    return Err(JobError::Permanent("refused".into()));
                }
                return Err(JobError::Retry(format!("receiver down (run {n})")));
            }
            Ok(())
        })
    }
}

fn worker(db: &Db, handlers: Vec<Arc<dyn JobHandler>>) -> Worker {
    Worker::new(db.clone(), WorkerConfig { concurrency: 1, lease_ms: 60_000, poll_interval: std::time::Duration::from_millis(5) }, handlers)
}

async fn add(db: &Db, job: NewJob) -> Option<i64> {
    let mut tx = db.begin().await.unwrap();
    let id = enqueue(&mut tx, job, now_ms()).await.unwrap();
    tx.commit().await.unwrap();
    id
}

/// Runs due jobs until none is left due (retries are due within milliseconds here).
async fn drain(w: &Worker, kinds: &[&str]) {
    for _ in 0..200 {
        if !w.run_one(kinds).await.unwrap() {
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
            if !w.run_one(kinds).await.unwrap() {
                return;
            }
        }
    }
}

async fn attempts_log(db: &Db, id: i64) -> Vec<(i64, String)> {
    sqlx::query_as("SELECT attempt, outcome FROM outbox_attempts WHERE job_id = $1 ORDER BY attempt").bind(id).fetch_all(db.pool()).await.unwrap()
}

#[tokio::test]
async fn a_rolled_back_transaction_leaves_no_job() {
    let (_d, db) = temp_db().await;
    let mut tx = db.begin().await.unwrap();
    enqueue(&mut tx, NewJob::new("webhook", json!({"a": 1})), now_ms()).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(list(&db, None, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn dedupe_key_makes_enqueue_idempotent() {
    let (_d, db) = temp_db().await;
    assert!(add(&db, NewJob::new("ipn", json!({})).dedupe_key("ipn:T1")).await.is_some());
    assert!(add(&db, NewJob::new("ipn", json!({})).dedupe_key("ipn:T1")).await.is_none());
    assert_eq!(list(&db, None, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn retries_with_backoff_until_success_and_logs_every_attempt() {
    let (_d, db) = temp_db().await;
    let h = Flaky::new("webhook", 2);
    let w = worker(&db, vec![h.clone()]);
    let id = add(&db, NewJob::new("webhook", json!({"event_id": "e1"})).max_attempts(5)).await.unwrap();
    drain(&w, &["webhook"]).await;
    assert_eq!(h.runs.load(Ordering::SeqCst), 3);
    let job = &list(&db, None, 10).await.unwrap()[0];
    assert_eq!((job.state.as_str(), job.attempts), ("done", 3));
    assert_eq!(attempts_log(&db, id).await, vec![(1, "retry".into()), (2, "retry".into()), (3, "ok".into())]);
}

#[tokio::test]
async fn dead_letters_after_the_last_attempt_and_replays_on_request() {
    let (_d, db) = temp_db().await;
    let h = Flaky::new("webhook", 5);
    let w = worker(&db, vec![h.clone()]);
    let id = add(&db, NewJob::new("webhook", json!({})).max_attempts(3)).await.unwrap();
    drain(&w, &["webhook"]).await;
    assert_eq!(list(&db, Some(JobState::Dead), 10).await.unwrap().len(), 1);
    assert_eq!(h.runs.load(Ordering::SeqCst), 3);

    assert!(replay(&db, id, 5, now_ms()).await.unwrap());
    assert!(!replay(&db, id, 5, now_ms()).await.unwrap(), "a pending job is not replayed again");
    drain(&w, &["webhook"]).await;
    let job = &list(&db, None, 10).await.unwrap()[0];
    assert_eq!((job.state.as_str(), job.attempts), ("done", 6));
    assert_eq!(attempts_log(&db, id).await.len(), 6);
}

#[tokio::test]
async fn a_permanent_error_dead_letters_at_once() {
    let (_d, db) = temp_db().await;
    let h = Arc::new(Flaky { kind: "refund", fail_times: 1, permanent: true, runs: AtomicU32::new(0) });
    let w = worker(&db, vec![h.clone()]);
    add(&db, NewJob::new("refund", json!({})).max_attempts(10)).await.unwrap();
    drain(&w, &["refund"]).await;
    assert_eq!(h.runs.load(Ordering::SeqCst), 1);
    assert_eq!(list(&db, Some(JobState::Dead), 10).await.unwrap()[0].last_error.as_deref(), Some("refused"));
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_the_late_finisher_changes_nothing() {
    let (_d, db) = temp_db().await;
    add(&db, NewJob::new("ipn", json!({}))).await.unwrap();
    let t0 = now_ms();
    let first = queue::claim(&db, &["ipn"], "worker-a", 1_000, t0).await.unwrap().unwrap();
    assert!(queue::claim(&db, &["ipn"], "worker-b", 1_000, t0 + 500).await.unwrap().is_none(), "lease still held");
    let second = queue::claim(&db, &["ipn"], "worker-b", 1_000, t0 + 1_001).await.unwrap().unwrap();
    assert_eq!((second.id, second.attempt), (first.id, 2));
    assert!(!queue::finish(&db, &first, t0, queue::Outcome::Done, t0 + 1_100).await.unwrap());
    assert!(queue::finish(&db, &second, t0, queue::Outcome::Done, t0 + 1_200).await.unwrap());
}

#[tokio::test]
async fn jobs_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("j.db").display());
    {
        let db = Db::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        add(&db, NewJob::new("notify", json!({"n": 1}))).await.unwrap();
        // a worker claimed it and then the process died (lease in the past by the time we restart)
        queue::claim(&db, &["notify"], "dead-worker", -1, now_ms()).await.unwrap().unwrap();
        db.close().await;
    }
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    let h = Flaky::new("notify", 0);
    drain(&worker(&db, vec![h.clone()]), &["notify"]).await;
    assert_eq!(h.runs.load(Ordering::SeqCst), 1);
    assert_eq!(list(&db, Some(JobState::Done), 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_workers_run_each_job_once() {
    let (_d, db) = temp_db().await;
    for i in 0..40 {
        add(&db, NewJob::new("webhook", json!({ "i": i }))).await.unwrap();
    }
    let h = Flaky::new("webhook", 0);
    let w = Worker::new(db.clone(), WorkerConfig { concurrency: 4, lease_ms: 60_000, poll_interval: std::time::Duration::from_millis(5) }, vec![h.clone()]);
    let (stop, rx) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(w.run(rx));
    for _ in 0..400 {
        if list(&db, Some(JobState::Done), 100).await.unwrap().len() == 40 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop.send(true).unwrap();
    run.await.unwrap();
    assert_eq!(h.runs.load(Ordering::SeqCst), 40);
}

#[test]
fn backoff_grows_exponentially_with_jitter_and_a_cap() {
    let p = RetryPolicy { base_ms: 1_000, max_delay_ms: 60_000 };
    let mut rng = rand::thread_rng();
    for _ in 0..100 {
        assert!((500..=1_000).contains(&p.delay_ms(1, &mut rng)));
        assert!((4_000..=8_000).contains(&p.delay_ms(4, &mut rng)));
        assert!((30_000..=60_000).contains(&p.delay_ms(30, &mut rng)));
        assert!((30_000..=60_000).contains(&p.delay_ms(u32::MAX, &mut rng)));
    }
}

/// Another instance (its own pool on the same database) commits a job: on PostgreSQL an idle
/// worker here hears of it through `LISTEN/NOTIFY` at once, though its next poll is a minute
/// away; on SQLite (one machine) it waits for its poll, which the control shows.
#[tokio::test]
async fn a_job_committed_by_another_instance_wakes_an_idle_worker_on_postgresql() {
    let (_g, db) = temp_db().await;
    let other_instance = Db::connect(db.url()).await.unwrap();
    let handler = Flaky::new("wake.test", 0);
    let poll = if db.backend() == crate::store::Backend::Postgres { 60_000 } else { 300 };
    let w = Worker::new(db.clone(), WorkerConfig { concurrency: 1, lease_ms: 60_000, poll_interval: std::time::Duration::from_millis(poll) }, vec![handler.clone()]);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(w.run(stopped));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // the worker is idle, and (PostgreSQL) listening
    let sent = std::time::Instant::now();
    add(&other_instance, NewJob::new("wake.test", json!({}))).await.unwrap();
    while handler.runs.load(Ordering::SeqCst) == 0 {
        assert!(sent.elapsed() < std::time::Duration::from_secs(10), "the job never ran");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let waited = sent.elapsed();
    assert!(waited < std::time::Duration::from_secs(5), "woken by NOTIFY or the short poll, not a minute later: {waited:?}");
    stop.send(true).unwrap();
    running.await.unwrap();
    other_instance.close().await;
}
