//! Member notifications ("push"): SkyJoy "only pushes notifications if transactions are
//! successful" (counterparts.md §1.4), so a notification is written in the same transaction as
//! the ledger entry it tells about — a refused or rolled-back change writes none, and a retried
//! request (nothing new posted) writes none either. The outbox job [`SEND`] hands it to the
//! configured [`PushSender`] ([`LogSender`] by default) and marks it sent.

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
    /// `points.accrued`, `points.redeemed`, `points.expired`.
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
    outbox::enqueue(tx, NewJob::new(SEND, json!({ "notification_id": id })).dedupe_key(format!("push:{id}")), now_ms).await?;
    Ok(id)
}

type Row = (String, String, String, String, String, i64, Option<i64>);

fn from_row((id, member_id, kind, title, body, created_at_ms, sent_at_ms): Row) -> Notification {
    Notification { id, member_id, kind, title, body, created_at_ms, sent_at_ms }
}

const COLUMNS: &str = "id, member_id, kind, title, body, created_at, sent_at";

pub async fn find(db: &Db, id: &str) -> Result<Option<Notification>, StoreError> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM member_notifications WHERE id = $1")).bind(id).fetch_optional(db.pool()).await?;
    Ok(row.map(from_row))
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

pub async fn mark_sent(db: &Db, id: &str, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE member_notifications SET sent_at = $2 WHERE id = $1 AND sent_at IS NULL").bind(id).bind(now_ms).execute(db.pool()).await?;
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

/// The Vietnamese text of a ledger notification (members read SkyJoy in Vietnamese first):
/// `(kind, title, body)`; `available` is the available balance after the change.
pub fn ledger_text(kind: crate::ledger::Kind, points: i64, available: i64, partner: &str) -> (&'static str, String, String) {
    use crate::ledger::Kind;
    let (n, balance) = (points.abs(), available);
    match kind {
        Kind::Accrual => ("points.accrued", format!("+{n} SkyPoint"), format!("Bạn vừa nhận {n} SkyPoint từ {partner}. Số dư: {balance} SkyPoint.")),
        Kind::Redemption => ("points.redeemed", format!("-{n} SkyPoint"), format!("Bạn vừa dùng {n} SkyPoint tại {partner}. Số dư: {balance} SkyPoint.")),
        Kind::Expiry => ("points.expired", format!("-{n} SkyPoint hết hạn"), format!("{n} SkyPoint đã hết hạn. Số dư: {balance} SkyPoint.")),
        Kind::Reversal | Kind::Adjustment => ("points.adjusted", format!("{points:+} SkyPoint"), format!("Số dư SkyPoint của bạn đã được điều chỉnh: {balance} SkyPoint.")),
    }
}
