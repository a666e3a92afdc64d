//! Partner webhooks ("GalaxyJoy Webhook", counterparts.md §1.9): endpoints, their deliveries
//! through the outbox, and the delivery log.
//!
//! A delivery is an outbox job of kind [`DELIVER`] for one (event, endpoint); the server's
//! handler POSTs the stored body with `gj-signature: t=<ms>,v1=<hex>` (see
//! [`crate::signing::skyjoy_webhook`]: `HMAC_SHA256(secret, t + "." + body)`), 2xx is
//! delivered, anything else retries with [`RETRY`] for [`ATTEMPTS`] tries (more than three
//! days), then the job is dead-lettered and `joygate jobs replay` sends it again.

use rand::RngCore;
use serde::Serialize;
use serde_json::json;

use super::{Event, EventType};
use crate::{
    outbox::{self, NewJob, RetryPolicy},
    store::{Db, StoreError, Tx},
};

/// The outbox job kind of a delivery.
pub const DELIVER: &str = "webhook.deliver";

/// 30 s, 1 min, 2 min … doubling up to 8 h between tries, each with equal jitter.
pub const RETRY: RetryPolicy = RetryPolicy { base_ms: 30_000, max_delay_ms: 8 * 3_600_000 };
/// With [`RETRY`], even the shortest jitter draws keep trying for more than 3 days (a test
/// proves it); the longest draws stop after about a week.
pub const ATTEMPTS: u32 = 30;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub id: String,
    pub client_id: String,
    pub url: String,
    /// `*` or space-separated event types.
    pub event_types: String,
    pub enabled: bool,
    pub created_at_ms: i64,
}

impl Endpoint {
    pub fn wants(&self, t: EventType) -> bool {
        self.event_types.trim() == "*" || self.event_types.split_whitespace().any(|s| s == t.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("the URL must be an absolute http:// or https:// URL")]
    BadUrl,
    #[error("unknown event type {0:?}; known: user.created, user.updated-profile, user.updated-ekyc, user.updated-balance, user.updated-tier, user.activated, user.deleted")]
    UnknownEventType(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for EndpointError {
    fn from(e: sqlx::Error) -> Self {
        EndpointError::Store(e.into())
    }
}

/// Registers (or updates) `client_id`'s endpoint at `url`; returns it and its secret, new
/// unless `keep_secret` and the endpoint already had one.
pub async fn register(db: &Db, client_id: &str, url: &str, event_types: &[String], keep_secret: bool, now_ms: i64) -> Result<(Endpoint, String), EndpointError> {
    let parsed = url::Url::parse(url).map_err(|_| EndpointError::BadUrl)?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(EndpointError::BadUrl);
    }
    for t in event_types {
        if t != "*" && EventType::parse(t).is_none() {
            return Err(EndpointError::UnknownEventType(t.clone()));
        }
    }
    let types = if event_types.is_empty() { "*".to_string() } else { event_types.join(" ") };
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let new_secret = format!("whsec_{}", hex::encode(raw));
    let id = format!("we_{}", uuid::Uuid::new_v4().simple());
    let (id, secret): (String, String) = sqlx::query_as(
        "INSERT INTO webhook_endpoints (id, client_id, url, secret, event_types, enabled, created_at)
         VALUES ($1, $2, $3, $4, $5, TRUE, $6)
         ON CONFLICT (client_id, url) DO UPDATE SET event_types = excluded.event_types, enabled = TRUE,
             secret = CASE WHEN $7 THEN webhook_endpoints.secret ELSE excluded.secret END
         RETURNING id, secret",
    )
    .bind(&id)
    .bind(client_id)
    .bind(url)
    .bind(&new_secret)
    .bind(&types)
    .bind(now_ms)
    .bind(keep_secret)
    .fetch_one(db.pool())
    .await?;
    let endpoint = list(db, Some(client_id)).await?.into_iter().find(|e| e.id == id).ok_or(StoreError::NotFound(format!("webhook endpoint {id} just registered")))?;
    Ok((endpoint, secret))
}

/// Turns an endpoint off (its queued deliveries fail permanently) or on again.
pub async fn set_enabled(db: &Db, id: &str, enabled: bool) -> Result<bool, StoreError> {
    let r = sqlx::query("UPDATE webhook_endpoints SET enabled = $2 WHERE id = $1").bind(id).bind(enabled).execute(db.pool()).await?;
    Ok(r.rows_affected() == 1)
}

#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: String,
    client_id: String,
    url: String,
    event_types: String,
    enabled: crate::store::Flag,
    created_at: i64,
}

fn endpoint(r: EndpointRow) -> Endpoint {
    Endpoint { id: r.id, client_id: r.client_id, url: r.url, event_types: r.event_types, enabled: r.enabled.0, created_at_ms: r.created_at }
}

/// Endpoints, of one partner or all.
pub async fn list(db: &Db, client_id: Option<&str>) -> Result<Vec<Endpoint>, StoreError> {
    let rows: Vec<EndpointRow> = sqlx::query_as(
        "SELECT id, client_id, url, event_types, enabled, created_at FROM webhook_endpoints
         WHERE ($1 IS NULL OR client_id = $1) ORDER BY client_id, created_at",
    )
    .bind(client_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(endpoint).collect())
}

/// The enabled endpoints that get `event`: the acting partner's and those of every partner the
/// member is linked to, filtered by subscribed type.
pub(super) async fn subscribers(tx: &mut Tx<'_>, event: &Event) -> Result<Vec<Endpoint>, StoreError> {
    let rows: Vec<EndpointRow> = sqlx::query_as(
        "SELECT id, client_id, url, event_types, enabled, created_at FROM webhook_endpoints
         WHERE enabled = TRUE
           AND (client_id = $1 OR client_id IN (SELECT client_id FROM partner_links WHERE member_id = $2))",
    )
    .bind(&event.actor_client_id)
    .bind(&event.member_id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(endpoint).filter(|e| e.wants(event.event_type)).collect())
}

pub(super) async fn queue_delivery(tx: &mut Tx<'_>, event_id: &str, endpoint: &Endpoint, now_ms: i64) -> Result<(), StoreError> {
    let job = NewJob::new(DELIVER, json!({ "event_id": event_id, "endpoint_id": endpoint.id }))
        .dedupe_key(format!("webhook:{event_id}:{}", endpoint.id))
        .max_attempts(ATTEMPTS);
    outbox::enqueue(tx, job, now_ms).await?;
    Ok(())
}

/// What a delivery job sends: where, with which secret, which bytes.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event_id: String,
    pub url: String,
    pub secret: String,
    pub enabled: bool,
    pub body: String,
}

/// Loads the delivery a [`DELIVER`] job's payload names; `None` if the event or endpoint is gone.
pub async fn delivery(db: &Db, payload: &serde_json::Value) -> Result<Option<Delivery>, StoreError> {
    let (Some(event_id), Some(endpoint_id)) = (payload["event_id"].as_str(), payload["endpoint_id"].as_str()) else {
        return Ok(None);
    };
    let row: Option<(String, String, crate::store::Flag, String)> = sqlx::query_as(
        "SELECT e.url, e.secret, e.enabled, ev.body FROM webhook_endpoints e, webhook_events ev WHERE e.id = $1 AND ev.event_id = $2",
    )
    .bind(endpoint_id)
    .bind(event_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|(url, secret, enabled, body)| Delivery { event_id: event_id.to_string(), url, secret, enabled: enabled.0, body }))
}

/// One line of an event's delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub job_id: i64,
    pub endpoint_id: String,
    pub state: String,
    pub attempt: Option<i64>,
    pub at_ms: Option<i64>,
    pub outcome: Option<String>,
    pub error: Option<String>,
}

/// Every delivery of `event_id` and each of its attempts, oldest first.
pub async fn delivery_log(db: &Db, event_id: &str) -> Result<Vec<LogLine>, StoreError> {
    let rows: Vec<(i64, String, String, Option<i64>, Option<i64>, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT j.id, j.dedupe_key, j.state, a.attempt, a.finished_at, a.outcome, a.error
         FROM outbox_jobs j LEFT JOIN outbox_attempts a ON a.job_id = j.id
         WHERE j.kind = $1 AND j.dedupe_key LIKE $2
         ORDER BY j.id, a.attempt",
    )
    .bind(DELIVER)
    .bind(format!("webhook:{event_id}:%"))
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(job_id, key, state, attempt, at_ms, outcome, error)| LogLine {
            job_id,
            endpoint_id: key.rsplit(':').next().unwrap_or_default().to_string(),
            state,
            attempt,
            at_ms,
            outcome,
            error,
        })
        .collect())
}

/// How long an event's body is kept for replays and the delivery log.
pub const KEEP_EVENTS_MS: i64 = 30 * 86_400_000;

/// Deletes events older than [`KEEP_EVENTS_MS`] whose deliveries are all finished (done or dead
/// long ago); returns how many.
pub async fn purge_old(db: &Db, now_ms: i64) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "DELETE FROM webhook_events WHERE created_at < $1
           AND NOT EXISTS (SELECT 1 FROM outbox_jobs j WHERE j.kind = $2 AND j.state IN ('pending', 'running')
                           AND j.dedupe_key LIKE 'webhook:' || webhook_events.event_id || ':%')",
    )
    .bind(now_ms - KEEP_EVENTS_MS)
    .bind(DELIVER)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected())
}

/// Recent events about a member (newest first): `(event_id, event_type, created_at_ms)`.
pub async fn events_of_member(db: &Db, member_id: &str, limit: i64) -> Result<Vec<(String, String, i64)>, StoreError> {
    Ok(sqlx::query_as("SELECT event_id, event_type, created_at FROM webhook_events WHERE member_id = $1 ORDER BY created_at DESC, event_id LIMIT $2")
        .bind(member_id)
        .bind(limit)
        .fetch_all(db.pool())
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_schedule_lasts_more_than_three_days_and_less_than_two_weeks() {
        // Shortest possible schedule: every jitter draw at d/2; longest: at d.
        let (mut shortest, mut longest) = (0i64, 0i64);
        for attempt in 1..ATTEMPTS {
            let d = RETRY.base_ms.saturating_mul(1 << (attempt - 1).min(40)).min(RETRY.max_delay_ms);
            shortest += d / 2;
            longest += d;
        }
        let day = 86_400_000;
        assert!(shortest > 3 * day, "{} h", shortest / 3_600_000);
        assert!(longest < 14 * day, "{} h", longest / 3_600_000);
    }

    #[test]
    fn endpoints_filter_event_types() {
        let mut e = Endpoint { id: "we".into(), client_id: "c".into(), url: "http://x".into(), event_types: "*".into(), enabled: true, created_at_ms: 0 };
        assert!(e.wants(EventType::UserDeleted));
        e.event_types = "user.created user.updated-balance".into();
        assert!(e.wants(EventType::UserUpdatedBalance) && !e.wants(EventType::UserDeleted));
    }
}
