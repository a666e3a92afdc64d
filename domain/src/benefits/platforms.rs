//! The platforms we are an ISV of: each known by the `Client-Id` it gave us (the same id in
//! both directions, §2.5), with the base URL of its APIs (`{base}/v1/marketing/benefit/sync`, …).
//! Registering one also makes our first key for it (version 1, active), so every platform we
//! know can be answered with a signature.

use serde::Serialize;

use super::{keys, BenefitError};
use crate::store::Db;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Platform {
    pub client_id: String,
    pub name: String,
    pub base_url: String,
}

#[derive(sqlx::FromRow)]
struct PlatformRow {
    client_id: String,
    name: String,
    base_url: String,
}

impl From<PlatformRow> for Platform {
    fn from(r: PlatformRow) -> Self {
        Platform { client_id: r.client_id, name: r.name, base_url: r.base_url }
    }
}

/// A `Client-Id`: 1 to 64 characters without spaces, `@ # ?` or control characters.
pub fn check_client_id(client_id: &str) -> Result<(), BenefitError> {
    let ok = !client_id.is_empty() && client_id.len() <= 64 && client_id.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '@' | '#' | '?'));
    if !ok {
        return Err(BenefitError::Invalid("a platform's Client-Id must be 1 to 64 visible ASCII characters without @ # ?".into()));
    }
    Ok(())
}

/// Creates or updates a platform; creates our first key for it when it has none. Returns the
/// platform and whether a key was made now.
pub async fn register(db: &Db, client_id: &str, name: &str, base_url: &str, now_ms: i64) -> Result<(Platform, bool), BenefitError> {
    check_client_id(client_id)?;
    let url = url::Url::parse(base_url).map_err(|_| BenefitError::Invalid("the base URL must be an absolute http(s) URL".into()))?;
    if !matches!(url.scheme(), "http" | "https") || url.query().is_some() || url.fragment().is_some() {
        return Err(BenefitError::Invalid("the base URL must be an absolute http(s) URL without query or fragment".into()));
    }
    if name.trim().is_empty() {
        return Err(BenefitError::Invalid("the platform needs a name".into()));
    }
    sqlx::query(
        "INSERT INTO benefit_platforms (client_id, name, base_url, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (client_id) DO UPDATE SET name = excluded.name, base_url = excluded.base_url, updated_at = excluded.updated_at",
    )
    .bind(client_id)
    .bind(name.trim())
    .bind(base_url.trim_end_matches('/'))
    .bind(now_ms)
    .execute(db.pool())
    .await?;
    let made_key = if keys::list(db, client_id).await?.iter().any(|k| k.owner == keys::Owner::Isv) {
        false
    } else {
        keys::generate(db, client_id, true, now_ms).await?;
        true
    };
    let platform = find(db, client_id).await?.ok_or(BenefitError::UnknownPlatform)?;
    Ok((platform, made_key))
}

pub async fn find(db: &Db, client_id: &str) -> Result<Option<Platform>, BenefitError> {
    let row: Option<PlatformRow> = sqlx::query_as("SELECT client_id, name, base_url FROM benefit_platforms WHERE client_id = $1")
        .bind(client_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(Platform::from))
}

pub async fn list(db: &Db) -> Result<Vec<Platform>, BenefitError> {
    let rows: Vec<PlatformRow> = sqlx::query_as("SELECT client_id, name, base_url FROM benefit_platforms ORDER BY client_id").fetch_all(db.pool()).await?;
    Ok(rows.into_iter().map(Platform::from).collect())
}
