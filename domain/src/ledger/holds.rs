//! Locked points: a hold takes points out of the member's *available* balance
//! (`balance - locked`) without removing them — for a pending order or a redemption event —
//! until the partner releases it, captures it (a REDEMPTION entry for up to the held points, the
//! rest released) or it expires ([`expire_due`], run every minute).
//!
//! Each hold is one partner transaction (client_id, transactionId): a retried lock returns the
//! same hold; release and capture are idempotent too (a second capture returns the first entry).
//! Every state change is one conditional `UPDATE … WHERE state = 'HELD'`, so concurrent calls
//! cannot both win, and the account's `locked` moves in the same transaction.

use sha2::{Digest, Sha256};

use super::{announce, check, find, write_entry, BitReference, Change, Entry, Kind, LedgerError, PointRefusal, Posting};
use crate::store::{Db, StoreError};

/// Longest a hold may last; the default when the partner gives none.
pub const MAX_TTL_MS: i64 = 7 * 86_400_000;
pub const DEFAULT_TTL_MS: i64 = 15 * 60_000;

/// Where a hold is: HELD until it is RELEASED, CAPTURED or EXPIRED (once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldState {
    Held,
    Released,
    Captured,
    Expired,
}

impl HoldState {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldState::Held => "HELD",
            HoldState::Released => "RELEASED",
            HoldState::Captured => "CAPTURED",
            HoldState::Expired => "EXPIRED",
        }
    }

    fn parse(s: &str) -> Result<HoldState, StoreError> {
        [HoldState::Held, HoldState::Released, HoldState::Captured, HoldState::Expired]
            .into_iter()
            .find(|h| h.as_str() == s)
            .ok_or_else(|| StoreError::corrupt("ledger_holds", format!("unknown state {s:?}")))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// Our id for the hold (26 characters, like a bitReference).
    pub reference: String,
    pub client_id: String,
    pub transaction_id: String,
    pub member_id: String,
    pub points: i64,
    pub state: HoldState,
    pub expires_at_ms: i64,
    /// The REDEMPTION entry of a captured hold.
    pub captured_reference: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// What a hold call did: the hold, the account after it, and whether it was a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldResult {
    pub hold: Hold,
    pub balance: i64,
    pub locked: i64,
    pub replayed: bool,
}

/// A partner's request to lock points.
#[derive(Debug, Clone)]
pub struct NewHold {
    pub client_id: String,
    pub transaction_id: String,
    pub member_id: String,
    pub points: i64,
    pub ttl_ms: i64,
}

#[derive(sqlx::FromRow)]
struct HoldRow {
    reference: String,
    client_id: String,
    transaction_id: String,
    member_id: String,
    points: i64,
    state: String,
    expires_at: i64,
    captured_reference: Option<String>,
    created_at: i64,
    updated_at: i64,
    request_hash: Vec<u8>,
}

impl HoldRow {
    fn split(self) -> Result<(Hold, Vec<u8>), StoreError> {
        let hold = Hold {
            reference: self.reference,
            client_id: self.client_id,
            transaction_id: self.transaction_id,
            member_id: self.member_id,
            points: self.points,
            state: HoldState::parse(&self.state)?,
            expires_at_ms: self.expires_at,
            captured_reference: self.captured_reference,
            created_at_ms: self.created_at,
            updated_at_ms: self.updated_at,
        };
        Ok((hold, self.request_hash))
    }
}

const COLUMNS: &str = "reference, client_id, transaction_id, member_id, points, state, expires_at, captured_reference, created_at, updated_at, request_hash";

fn hold_hash(member_id: &str, points: i64) -> Vec<u8> {
    Sha256::digest(serde_json::json!(["HOLD", member_id, points]).to_string().as_bytes()).to_vec()
}

/// `client_id`'s hold for `transaction_id` on `member_id`.
pub async fn find_hold(db: &Db, client_id: &str, member_id: &str, transaction_id: &str) -> Result<Option<Hold>, LedgerError> {
    Ok(find_row(db, client_id, transaction_id).await?.map(|(h, _)| h).filter(|h| h.member_id == member_id))
}

async fn find_row(db: &Db, client_id: &str, transaction_id: &str) -> Result<Option<(Hold, Vec<u8>)>, LedgerError> {
    let row: Option<HoldRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM ledger_holds WHERE client_id = $1 AND transaction_id = $2"))
        .bind(client_id)
        .bind(transaction_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(HoldRow::split).transpose()?)
}

/// Locks `points` of the member's available balance until released, captured or expired.
pub async fn lock(db: &Db, req: &NewHold, now_ms: i64) -> Result<HoldResult, LedgerError> {
    if !(1..=MAX_TTL_MS).contains(&req.ttl_ms) {
        return Err(PointRefusal::InvalidLockTime.into());
    }
    check(&Posting {
        client_id: req.client_id.clone(),
        transaction_id: req.transaction_id.clone(),
        member_id: req.member_id.clone(),
        kind: Kind::Redemption,
        points: -req.points,
        amount: None,
        currency: None,
    })?;
    let hash = hold_hash(&req.member_id, req.points);
    let reference = BitReference::new(now_ms);
    let mut tx = db.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO ledger_holds (reference, client_id, transaction_id, member_id, points, state, request_hash, expires_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'HELD', $6, $7, $8, $8)
         ON CONFLICT (client_id, transaction_id) DO NOTHING",
    )
    .bind(reference.as_str())
    .bind(&req.client_id)
    .bind(&req.transaction_id)
    .bind(&req.member_id)
    .bind(req.points)
    .bind(&hash)
    .bind(now_ms + req.ttl_ms)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        tx.rollback().await?;
        let (hold, stored) = find_row(db, &req.client_id, &req.transaction_id).await?.ok_or(PointRefusal::DuplicateTransaction)?;
        if stored != hash {
            return Err(PointRefusal::DuplicateTransaction.into());
        }
        let (balance, locked) = super::balance(db, &req.member_id).await?;
        return Ok(HoldResult { hold, balance, locked, replayed: true });
    }
    // A member without an account has nothing to lock: no row matches, and the lock is refused.
    let moved: Option<(i64, i64)> = sqlx::query_as(
        "UPDATE ledger_accounts SET locked = locked + $2, updated_at = $3
         WHERE member_id = $1 AND balance - locked >= $2 RETURNING balance, locked",
    )
    .bind(&req.member_id)
    .bind(req.points)
    .bind(now_ms)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((balance, locked)) = moved else {
        tx.rollback().await?;
        return Err(PointRefusal::InsufficientBalance.into());
    };
    let change = Change {
        member_id: &req.member_id,
        client_id: &req.client_id,
        transaction_type: "LOCK",
        points: req.points,
        reference: reference.as_str(),
        transaction_id: &req.transaction_id,
        balance,
        locked,
    };
    announce(&mut tx, &change, None, now_ms).await?;
    tx.commit().await?;
    let hold = find_hold(db, &req.client_id, &req.member_id, &req.transaction_id).await?.ok_or(PointRefusal::LockNotFound)?;
    Ok(HoldResult { hold, balance, locked, replayed: false })
}

/// Gives the held points back to the available balance. Releasing a released hold is a retry
/// (same answer); a captured or expired hold is refused `LockNotActive`.
pub async fn release(db: &Db, client_id: &str, member_id: &str, transaction_id: &str, now_ms: i64) -> Result<HoldResult, LedgerError> {
    end_hold(db, client_id, member_id, transaction_id, HoldState::Released, "RELEASE", now_ms).await
}

/// Moves a HELD hold to `state` and unlocks its points, in one transaction.
async fn end_hold(db: &Db, client_id: &str, member_id: &str, transaction_id: &str, state: HoldState, label: &str, now_ms: i64) -> Result<HoldResult, LedgerError> {
    let mut tx = db.begin().await?;
    let ended: Option<(String, i64)> = sqlx::query_as(
        "UPDATE ledger_holds SET state = $4, updated_at = $5
         WHERE client_id = $1 AND transaction_id = $2 AND member_id = $3 AND state = 'HELD'
         RETURNING reference, points",
    )
    .bind(client_id)
    .bind(transaction_id)
    .bind(member_id)
    .bind(state.as_str())
    .bind(now_ms)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((reference, points)) = ended else {
        tx.rollback().await?;
        let hold = find_hold(db, client_id, member_id, transaction_id).await?.ok_or(PointRefusal::LockNotFound)?;
        if hold.state == state {
            let (balance, locked) = super::balance(db, member_id).await?;
            return Ok(HoldResult { hold, balance, locked, replayed: true });
        }
        return Err(PointRefusal::LockNotActive(hold.state).into());
    };
    let (balance, locked): (i64, i64) = sqlx::query_as(
        "UPDATE ledger_accounts SET locked = locked - $2, updated_at = $3 WHERE member_id = $1 RETURNING balance, locked",
    )
    .bind(member_id)
    .bind(points)
    .bind(now_ms)
    .fetch_one(&mut *tx)
    .await?;
    let change = Change { member_id, client_id, transaction_type: label, points: -points, reference: &reference, transaction_id, balance, locked };
    announce(&mut tx, &change, None, now_ms).await?;
    tx.commit().await?;
    let hold = find_hold(db, client_id, member_id, transaction_id).await?.ok_or(PointRefusal::LockNotFound)?;
    Ok(HoldResult { hold, balance, locked, replayed: false })
}

/// Spends `used` of the held points (all of them when `None`) as a REDEMPTION entry with the
/// hold's transactionId, and releases the rest — one transaction. A second capture returns the
/// first entry; a released or expired hold is refused `LockNotActive`.
pub async fn capture(db: &Db, client_id: &str, member_id: &str, transaction_id: &str, used: Option<i64>, amount: Option<i64>, now_ms: i64) -> Result<(Entry, bool), LedgerError> {
    let mut tx = db.begin().await?;
    let held: Option<(String, i64)> = sqlx::query_as(
        "UPDATE ledger_holds SET state = 'CAPTURED', updated_at = $4
         WHERE client_id = $1 AND transaction_id = $2 AND member_id = $3 AND state = 'HELD' AND expires_at > $4
         RETURNING reference, points",
    )
    .bind(client_id)
    .bind(transaction_id)
    .bind(member_id)
    .bind(now_ms)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((reference, points)) = held else {
        tx.rollback().await?;
        let hold = find_hold(db, client_id, member_id, transaction_id).await?.ok_or(PointRefusal::LockNotFound)?;
        if let (Some(captured), HoldState::Captured) = (&hold.captured_reference, hold.state) {
            let (entry, _) = find(db, client_id, transaction_id).await?.filter(|(e, _)| &e.bit_reference == captured).ok_or(PointRefusal::LockNotFound)?;
            if used.is_some_and(|u| u != -entry.points) {
                return Err(PointRefusal::DuplicateTransaction.into());
            }
            return Ok((entry, true));
        }
        // released, expired, or still HELD past its time (the expiry job has not run yet)
        let state = if hold.state == HoldState::Held { HoldState::Expired } else { hold.state };
        return Err(PointRefusal::LockNotActive(state).into());
    };
    let used = used.unwrap_or(points);
    if used <= 0 || used > points {
        tx.rollback().await?;
        return Err(PointRefusal::InvalidUsedPoint.into());
    }
    let posting = Posting {
        client_id: client_id.to_string(),
        transaction_id: transaction_id.to_string(),
        member_id: member_id.to_string(),
        kind: Kind::Redemption,
        points: -used,
        amount,
        currency: amount.map(|_| "VND".to_string()),
    };
    let hash = super::request_hash(&posting);
    let Some(entry) = write_entry(&mut tx, &posting, &hash, points, now_ms).await? else {
        // the partner already used this transactionId for a plain redemption
        tx.rollback().await?;
        return Err(PointRefusal::DuplicateTransaction.into());
    };
    sqlx::query("UPDATE ledger_holds SET captured_reference = $2 WHERE reference = $1")
        .bind(&reference)
        .bind(&entry.bit_reference)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((entry, false))
}

/// Expires the holds whose time is up (a few hundred per call); returns how many.
pub async fn expire_due(db: &Db, now_ms: i64) -> Result<usize, LedgerError> {
    let due: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT client_id, member_id, transaction_id FROM ledger_holds WHERE state = 'HELD' AND expires_at <= $1 ORDER BY expires_at LIMIT 500",
    )
    .bind(now_ms)
    .fetch_all(db.pool())
    .await?;
    let mut n = 0;
    for (client_id, member_id, transaction_id) in due {
        match end_hold(db, &client_id, &member_id, &transaction_id, HoldState::Expired, "LOCK_EXPIRED", now_ms).await {
            Ok(r) if !r.replayed => n += 1,
            Ok(_) | Err(LedgerError::Refused(PointRefusal::LockNotActive(_))) => {} // released or captured meanwhile
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The account's locked points as the sum of its HELD holds (the check's other half).
pub async fn inconsistent_locks(db: &Db) -> Result<Vec<(String, i64, i64)>, LedgerError> {
    Ok(sqlx::query_as(
        "SELECT a.member_id, a.locked, CAST(COALESCE(SUM(h.points), 0) AS BIGINT) AS held
         FROM ledger_accounts a LEFT JOIN ledger_holds h ON h.member_id = a.member_id AND h.state = 'HELD'
         GROUP BY a.member_id, a.locked
         HAVING a.locked <> COALESCE(SUM(h.points), 0)",
    )
    .fetch_all(db.pool())
    .await?)
}
