//! Replay protection: remembers what was seen (a signature, a nonce, an event id) for as long
//! as a timestamp window could still accept it, so the same signed message is taken once.

use crate::store::{Db, StoreError};

/// The `seen_nonces` table.
#[derive(Clone, Debug)]
pub struct SeenNonces {
    db: Db,
}

impl SeenNonces {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Records `nonce` in `scope` until `now_ms + retention_ms`. Returns `true` the first time
    /// and `false` while an earlier sighting is still retained. One atomic statement, so two
    /// concurrent deliveries of the same message cannot both see "first".
    pub async fn first_sighting(&self, scope: &str, nonce: &str, retention_ms: i64, now_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO seen_nonces (scope, nonce, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (scope, nonce) DO UPDATE SET expires_at = excluded.expires_at
             WHERE seen_nonces.expires_at <= $4",
        )
        .bind(scope)
        .bind(nonce)
        .bind(now_ms.saturating_add(retention_ms))
        .bind(now_ms)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes records past their retention; run from a periodic job.
    pub async fn purge_expired(&self, now_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM seen_nonces WHERE expires_at <= $1").bind(now_ms).execute(self.db.pool()).await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_db;

    #[tokio::test]
    async fn a_nonce_is_first_once_until_it_expires() {
        let (_dir, db) = temp_db().await;
        let seen = SeenNonces::new(db);
        let now = 1_000_000;
        assert!(seen.first_sighting("tikivip", "sig-a", 600_000, now).await.unwrap());
        assert!(!seen.first_sighting("tikivip", "sig-a", 600_000, now + 1).await.unwrap());
        assert!(seen.first_sighting("skyjoy", "sig-a", 600_000, now + 1).await.unwrap(), "scopes are separate");
        assert!(seen.first_sighting("tikivip", "sig-a", 600_000, now + 600_000).await.unwrap(), "expired records don't block");
        assert_eq!(seen.purge_expired(now + 600_000).await.unwrap(), 0, "both records were renewed or are still live");
        assert_eq!(seen.purge_expired(now + 1_200_000).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn concurrent_deliveries_of_one_message_have_one_winner() {
        let (_dir, db) = temp_db().await;
        let seen = SeenNonces::new(db);
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let seen = seen.clone();
                tokio::spawn(async move { seen.first_sighting("s", "same", 60_000, 5).await.unwrap() })
            })
            .collect();
        let mut winners = 0;
        for t in tasks {
            winners += t.await.unwrap() as usize;
        }
        assert_eq!(winners, 1);
    }
}
