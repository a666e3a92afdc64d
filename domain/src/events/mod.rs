//! Who hears about a change: partner webhooks ([`webhooks`]) and member notifications
//! ([`push`]). Both are written inside the transaction of the change they tell about (outbox),
//! so a change that rolls back tells nobody, and one that commits is delivered at least once.
//!
//! Which partners get an event about a member: the partner whose call caused it, and every
//! partner the member is linked to (`partner_links`), each through its enabled endpoints that
//! subscribe to the event type.

pub mod push;
pub mod webhooks;

use serde::Serialize;
use serde_json::json;

use crate::store::{StoreError, Tx};

/// SkyJoy's webhook event types (counterparts.md §1.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EventType {
    #[serde(rename = "user.created")]
    UserCreated,
    #[serde(rename = "user.updated-profile")]
    UserUpdatedProfile,
    #[serde(rename = "user.updated-ekyc")]
    UserUpdatedEkyc,
    #[serde(rename = "user.updated-balance")]
    UserUpdatedBalance,
    #[serde(rename = "user.updated-tier")]
    UserUpdatedTier,
    #[serde(rename = "user.activated")]
    UserActivated,
    #[serde(rename = "user.deleted")]
    UserDeleted,
}

impl EventType {
    pub const ALL: [EventType; 7] = [
        EventType::UserCreated,
        EventType::UserUpdatedProfile,
        EventType::UserUpdatedEkyc,
        EventType::UserUpdatedBalance,
        EventType::UserUpdatedTier,
        EventType::UserActivated,
        EventType::UserDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::UserCreated => "user.created",
            EventType::UserUpdatedProfile => "user.updated-profile",
            EventType::UserUpdatedEkyc => "user.updated-ekyc",
            EventType::UserUpdatedBalance => "user.updated-balance",
            EventType::UserUpdatedTier => "user.updated-tier",
            EventType::UserActivated => "user.activated",
            EventType::UserDeleted => "user.deleted",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Something that happened to a member.
#[derive(Debug, Clone)]
pub struct Event {
    pub event_type: EventType,
    /// Our member id (not the SkyJoy ID; that goes in `data`).
    pub member_id: String,
    /// The partner whose call caused the change, if any.
    pub actor_client_id: Option<String>,
    pub data: serde_json::Value,
}

/// The webhook body: `{"timestamp":<s>,"event_id":…,"event_type":…,"data":…,"version":"v1"}`.
fn body(event_id: &str, e: &Event, now_ms: i64) -> String {
    json!({
        "timestamp": now_ms / 1000,
        "event_id": event_id,
        "event_type": e.event_type.as_str(),
        "data": e.data,
        "version": "v1",
    })
    .to_string()
}

/// Records `event` and queues one delivery per subscribed endpoint, inside `tx`. Returns the
/// event id (a UUID, the receivers' dedupe key).
pub async fn publish(tx: &mut Tx<'_>, event: &Event, now_ms: i64) -> Result<String, StoreError> {
    let event_id = uuid::Uuid::new_v4().to_string();
    sqlx::query("INSERT INTO webhook_events (event_id, event_type, member_id, body, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&event_id)
        .bind(event.event_type.as_str())
        .bind(&event.member_id)
        .bind(body(&event_id, event, now_ms))
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    for endpoint in webhooks::subscribers(tx, event).await? {
        webhooks::queue_delivery(tx, &event_id, &endpoint, now_ms).await?;
    }
    Ok(event_id)
}

