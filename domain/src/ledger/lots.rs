//! Lots: every credit entry is a lot of points; a debit spends the oldest lots first (FIFO),
//! in the posting's transaction, so what is left of each lot is always known. Points expiry
//! reads only lots that still hold points (`ledger_lots_due`, a partial index), which keeps its
//! cost proportional to what is due rather than to the ledger's history.
//!
//! Invariant: an account's balance equals the sum of its lots' remaining points (a debit can
//! only happen when the balance covers it, and the balance is the lots' sum).

use crate::store::{Db, StoreError, Tx};

/// How many lots a debit reads at a time while spending.
const BATCH: i64 = 100;

/// Inside the posting's transaction, after its account row was updated (which locks it):
/// a credit opens a lot; a debit spends the oldest lots.
pub(super) async fn record(tx: &mut Tx<'_>, member_id: &str, bit_reference: &str, points: i64, now_ms: i64) -> Result<(), StoreError> {
    if points > 0 {
        sqlx::query("INSERT INTO ledger_lots (bit_reference, member_id, earned_at, points, remaining) VALUES ($1, $2, $3, $4, $4)")
            .bind(bit_reference)
            .bind(member_id)
            .bind(now_ms)
            .bind(points)
            .execute(&mut **tx)
            .await?;
        return Ok(());
    }
    let mut left = points.checked_neg().ok_or_else(|| StoreError::Internal("a debit of i64::MIN points".into()))?;
    while left > 0 {
        let open: Vec<(String, i64)> = sqlx::query_as(
            "SELECT bit_reference, remaining FROM ledger_lots WHERE member_id = $1 AND remaining > 0
             ORDER BY earned_at, bit_reference LIMIT $2",
        )
        .bind(member_id)
        .bind(BATCH)
        .fetch_all(&mut **tx)
        .await?;
        if open.is_empty() {
            return Err(StoreError::corrupt("ledger_lots", format!("member {member_id}: the lots hold {left} points less than the balance")));
        }
        for (lot, remaining) in open {
            let take = remaining.min(left);
            sqlx::query("UPDATE ledger_lots SET remaining = remaining - $2 WHERE bit_reference = $1")
                .bind(&lot)
                .bind(take)
                .execute(&mut **tx)
                .await?;
            left -= take;
            if left == 0 {
                break;
            }
        }
    }
    Ok(())
}

/// Per member, the points still left in lots earned before `cutoff_ms`, with the account's
/// balance and locked points: `(member, due, balance, locked)`.
pub(super) async fn due_before(db: &Db, cutoff_ms: i64) -> Result<Vec<(String, i64, i64, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT l.member_id, CAST(SUM(l.remaining) AS BIGINT) AS due, a.balance, a.locked
         FROM ledger_lots l JOIN ledger_accounts a ON a.member_id = l.member_id
         WHERE l.remaining > 0 AND l.earned_at < $1
         GROUP BY l.member_id, a.balance, a.locked",
    )
    .bind(cutoff_ms)
    .fetch_all(db.pool())
    .await?)
}

/// Accounts whose balance is not what their lots hold: `(member, balance, lots)`.
pub(super) async fn inconsistent(db: &Db) -> Result<Vec<(String, i64, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT a.member_id, a.balance, CAST(COALESCE(SUM(l.remaining), 0) AS BIGINT) AS held
         FROM ledger_accounts a LEFT JOIN ledger_lots l ON l.member_id = a.member_id
         GROUP BY a.member_id, a.balance
         HAVING a.balance <> COALESCE(SUM(l.remaining), 0)",
    )
    .fetch_all(db.pool())
    .await?)
}
