//! The `sessions` table behind tower-sessions (`server::http::sessions` adapts it): a
//! session is an opaque id, its data as JSON text and its expiry (Unix ms), in the database so
//! every instance sees every session.

use super::{Db, StoreError};

/// Inserts a new session; false when the id is already taken (nothing is overwritten).
pub async fn create(db: &Db, id: &str, data: &str, expires_at_ms: i64) -> Result<bool, StoreError> {
    let inserted = sqlx::query("INSERT INTO sessions (id, data, expires_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
        .bind(id)
        .bind(data)
        .bind(expires_at_ms)
        .execute(db.pool())
        .await?;
    Ok(inserted.rows_affected() == 1)
}

pub async fn save(db: &Db, id: &str, data: &str, expires_at_ms: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (id, data, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
    )
    .bind(id)
    .bind(data)
    .bind(expires_at_ms)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The session's data and expiry, unless it is unknown or expired at `now_ms`.
pub async fn load(db: &Db, id: &str, now_ms: i64) -> Result<Option<(String, i64)>, StoreError> {
    Ok(sqlx::query_as("SELECT data, expires_at FROM sessions WHERE id = $1 AND expires_at > $2")
        .bind(id)
        .bind(now_ms)
        .fetch_optional(db.pool())
        .await?)
}

pub async fn delete(db: &Db, id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sessions WHERE id = $1").bind(id).execute(db.pool()).await?;
    Ok(())
}

pub async fn purge_expired(db: &Db, now_ms: i64) -> Result<u64, StoreError> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now_ms).execute(db.pool()).await?.rows_affected())
}
