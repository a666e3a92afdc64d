//! Leases for scheduled jobs (pending checks, expiry, reconciliation, purges): with several
//! instances on one database, each run happens on one instance only.
//!
//! A lease is a row `(name, owner, lease_until)`. [`acquire`] takes it when it is free, expired,
//! or already ours (renewal) — one `INSERT … ON CONFLICT DO UPDATE … WHERE` statement, so two
//! instances racing for it cannot both win on either database. An instance killed while
//! holding a lease loses it when `lease_until` passes, and another instance takes it.

use super::{Db, StoreError};

/// Takes (or renews) the lease `name` for `owner` until `now_ms + ttl_ms`. True when `owner`
/// now holds it.
pub async fn acquire(db: &Db, name: &str, owner: &str, ttl_ms: i64, now_ms: i64) -> Result<bool, StoreError> {
    let held = sqlx::query(
        "INSERT INTO job_leases (name, owner, lease_until) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
         WHERE job_leases.lease_until < $4 OR job_leases.owner = excluded.owner",
    )
    .bind(name)
    .bind(owner)
    .bind(now_ms.saturating_add(ttl_ms))
    .bind(now_ms)
    .execute(db.pool())
    .await?;
    Ok(held.rows_affected() == 1)
}

/// Gives the lease back early (a clean shutdown), so another instance need not wait it out.
pub async fn release(db: &Db, name: &str, owner: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM job_leases WHERE name = $1 AND owner = $2").bind(name).bind(owner).execute(db.pool()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_db;

    #[tokio::test]
    async fn one_holder_at_a_time_and_a_dead_holders_lease_runs_out() {
        let (_g, db) = temp_db().await;
        assert!(acquire(&db, "expiry", "a", 1_000, 10_000).await.unwrap());
        assert!(!acquire(&db, "expiry", "b", 1_000, 10_500).await.unwrap(), "held by a");
        assert!(acquire(&db, "expiry", "a", 1_000, 10_900).await.unwrap(), "a renews its own");
        assert!(!acquire(&db, "expiry", "b", 1_000, 11_800).await.unwrap(), "the renewal moved the end");
        assert!(acquire(&db, "expiry", "b", 1_000, 12_000).await.unwrap(), "a stopped renewing: b takes it");
        assert!(acquire(&db, "other", "a", 1_000, 12_000).await.unwrap(), "leases are per name");
        release(&db, "expiry", "a").await.unwrap();
        assert!(!acquire(&db, "expiry", "a", 1_000, 12_100).await.unwrap(), "a cannot release b's lease");
        release(&db, "expiry", "b").await.unwrap();
        assert!(acquire(&db, "expiry", "a", 1_000, 12_100).await.unwrap());
    }
}
