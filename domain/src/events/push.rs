//! Member notifications ("push"): SkyJoy "only pushes notifications if transactions are
//! successful" (counterparts.md §1.4), so a notification is written in the same transaction as
//! the ledger entry it tells about — a refused or rolled-back change writes none, and a retried
//! request (nothing new posted) writes none either.
//!
//! Sending is batched: the notifications of one second queue one outbox job [`SEND`], due when
//! that second is over, and that job hands every unsent notification, oldest first, to the
//! configured [`PushSender`] ([`LogSender`] by default) and marks them sent. A failed send
//! leaves the rest unsent and the job retries with backoff. [`sweep`] (every minute) queues a
//! job for any notification still unsent after a while — one committed just after its second's
//! job ran — so each is sent at least once, never lost.

use std::{future::Future, pin::Pin};

use serde::Serialize;
use serde_json::json;

use crate::{
    outbox::{self, NewJob},
    store::{Db, StoreError, Tx},
};

/// The outbox job kind that sends one notification.
pub const SEND: &str = "push.member";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub id: String,
    pub member_id: String,
    /// `points.accrued`, `points.rewarded`, `points.redeemed`, `points.expired`, `points.adjusted`.
    pub kind: String,
    pub title: String,
    pub body: String,
    pub created_at_ms: i64,
    pub sent_at_ms: Option<i64>,
}

/// Writes a notification and queues its sending, inside the caller's transaction.
pub async fn notify(tx: &mut Tx<'_>, member_id: &str, kind: &str, title: &str, body: &str, now_ms: i64) -> Result<String, StoreError> {
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query("INSERT INTO member_notifications (id, member_id, kind, title, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&id)
        .bind(member_id)
        .bind(kind)
        .bind(title)
        .bind(body)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    queue_flush(tx, now_ms).await?;
    Ok(id)
}

/// One flush job per second, whatever the number of notifications, due when the second ends.
async fn queue_flush(tx: &mut Tx<'_>, now_ms: i64) -> Result<(), StoreError> {
    let second = now_ms.div_euclid(1000);
    let job = NewJob::new(SEND, json!({})).dedupe_key(format!("push:{second}")).run_at_ms((second + 1) * 1000);
    outbox::enqueue(tx, job, now_ms).await?;
    Ok(())
}

/// Queues a flush when a notification has waited more than 10 s; returns whether it did.
pub async fn sweep(db: &Db, now_ms: i64) -> Result<bool, StoreError> {
    let waiting: Option<i32> = sqlx::query_scalar("SELECT 1 FROM member_notifications WHERE sent_at IS NULL AND created_at < $1 LIMIT 1")
        .bind(now_ms - 10_000)
        .fetch_optional(db.pool())
        .await?;
    if waiting.is_none() {
        return Ok(false);
    }
    let mut tx = db.begin().await?;
    queue_flush(&mut tx, now_ms).await?;
    tx.commit().await?;
    Ok(true)
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    member_id: String,
    kind: String,
    title: String,
    body: String,
    created_at: i64,
    sent_at: Option<i64>,
}

fn from_row(r: Row) -> Notification {
    Notification { id: r.id, member_id: r.member_id, kind: r.kind, title: r.title, body: r.body, created_at_ms: r.created_at, sent_at_ms: r.sent_at }
}

const COLUMNS: &str = "id, member_id, kind, title, body, created_at, sent_at";

/// The oldest `limit` notifications not sent yet.
pub async fn unsent(db: &Db, limit: i64) -> Result<Vec<Notification>, StoreError> {
    let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM member_notifications WHERE sent_at IS NULL ORDER BY created_at, id LIMIT $1"))
        .bind(limit)
        .fetch_all(db.pool())
        .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// A member's notifications, newest first.
pub async fn of_member(db: &Db, member_id: &str, limit: i64) -> Result<Vec<Notification>, StoreError> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM member_notifications WHERE member_id = $1 ORDER BY created_at DESC, id LIMIT $2"
    ))
    .bind(member_id)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// Marks notifications sent, in one transaction.
pub async fn mark_sent(db: &Db, ids: &[String], now_ms: i64) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    for id in ids {
        sqlx::query("UPDATE member_notifications SET sent_at = $2 WHERE id = $1 AND sent_at IS NULL").bind(id).bind(now_ms).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
#[error("the notification could not be sent: {0}")]
pub struct PushError(pub String);

pub type PushFuture<'a> = Pin<Box<dyn Future<Output = Result<(), PushError>> + Send + 'a>>;

/// Where notifications go (a push provider in production; the log by default).
pub trait PushSender: Send + Sync {
    fn send<'a>(&'a self, n: &'a Notification) -> PushFuture<'a>;
}

/// Writes each notification to the log.
#[derive(Debug, Clone, Default)]
pub struct LogSender;

impl PushSender for LogSender {
    fn send<'a>(&'a self, n: &'a Notification) -> PushFuture<'a> {
        Box::pin(async move {
            tracing::info!(member = %n.member_id, kind = %n.kind, title = %n.title, "push notification (log sender)");
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{members, FullName, PhoneNumber};

    #[tokio::test]
    async fn one_flush_job_per_second_and_the_sweep_catches_stragglers() {
        let (_d, db) = crate::store::testing::temp_db().await;
        let new = members::NewMember { phone: PhoneNumber::parse("0912121212").unwrap(), full_name: FullName::parse("Push").unwrap(), date_of_birth: None, email: None };
        let m = members::create(&db, new, None, 0).await.unwrap();
        let t0 = 1_763_800_000_000;
        for at in [t0, t0 + 300, t0 + 999, t0 + 1_000] {
            let mut tx = db.begin().await.unwrap();
            notify(&mut tx, &m.id, "points.accrued", "+1", "…", at).await.unwrap();
            tx.commit().await.unwrap();
        }
        let jobs = crate::outbox::list(&db, None, 10).await.unwrap();
        let mut keys: Vec<_> = jobs.iter().filter_map(|j| j.dedupe_key.clone()).collect();
        keys.sort();
        assert_eq!(keys, ["push:1763800000", "push:1763800001"]);
        assert!(jobs.iter().any(|j| j.run_at == t0 + 1_000), "due when its second is over");
        assert_eq!(unsent(&db, 10).await.unwrap().len(), 4);

        assert!(!sweep(&db, t0 + 5_000).await.unwrap(), "not waiting long enough yet");
        assert!(sweep(&db, t0 + 20_000).await.unwrap());
        assert_eq!(crate::outbox::list(&db, None, 10).await.unwrap().len(), 3);
        let ids: Vec<String> = unsent(&db, 10).await.unwrap().into_iter().map(|n| n.id).collect();
        mark_sent(&db, &ids, t0 + 21_000).await.unwrap();
        assert!(unsent(&db, 10).await.unwrap().is_empty() && !sweep(&db, t0 + 40_000).await.unwrap());
    }
}
