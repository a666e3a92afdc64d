//! The SkyPoint ledger: balances derived from immutable entries.
//!
//! Where is each rule? All in [`post`]: one database transaction inserts the entry (idempotent
//! by the partner's `transactionId`) and moves the balance with one conditional `UPDATE`, so a
//! debit can never overdraw, even under concurrency, and a failed debit leaves no entry.
//! [`inconsistent_accounts`] proves balance == sum(entries) for every member.

pub mod batch;
mod bit_reference;
mod earning;

pub use bit_reference::BitReference;
pub use earning::{EarningRule, EarningRules, Rounding};

use sha2::{Digest, Sha256};

use crate::store::{Db, StoreError};

/// What kind of change an entry is; the sign of its points follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Accrual,
    Redemption,
    Reversal,
    Adjustment,
    Expiry,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Accrual => "ACCRUAL",
            Kind::Redemption => "REDEMPTION",
            Kind::Reversal => "REVERSAL",
            Kind::Adjustment => "ADJUSTMENT",
            Kind::Expiry => "EXPIRY",
        }
    }
}

/// A partner's request to change a member's points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub client_id: String,
    pub transaction_id: String,
    pub member_id: String,
    pub kind: Kind,
    /// Signed: credits are positive, debits negative (accruals credit, redemptions and expiries
    /// debit; reversals and adjustments may go either way).
    pub points: i64,
    /// The purchase or redemption amount in minor units, and its currency, when there is one.
    pub amount: Option<i64>,
    pub currency: Option<String>,
}

/// A posted entry, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub bit_reference: String,
    pub member_id: String,
    pub client_id: String,
    pub transaction_id: String,
    pub kind: String,
    pub points: i64,
    pub balance_after: i64,
    pub amount: Option<i64>,
    pub created_at_ms: i64,
}

/// What [`post`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub entry: Entry,
    /// True when this request was a retry of one already posted (nothing changed now).
    pub replayed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// INSUFFICIENT_BALANCE: the debit is larger than the available (unlocked) points.
    #[error("the available balance is lower than the points requested")]
    InsufficientBalance,
    /// DUPLICATE_TRANSACTION: this transactionId was posted with other fields.
    #[error("this transactionId was already used for a different request")]
    DuplicateTransaction,
    /// A posting whose sign contradicts its kind, or zero points.
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for LedgerError {
    fn from(e: sqlx::Error) -> Self {
        LedgerError::Store(e.into())
    }
}

fn request_hash(p: &Posting) -> Vec<u8> {
    let canonical = serde_json::json!([p.member_id, p.kind.as_str(), p.points, p.amount, p.currency]);
    Sha256::digest(canonical.to_string().as_bytes()).to_vec()
}

fn check(p: &Posting) -> Result<(), LedgerError> {
    let ok = match p.kind {
        Kind::Accrual => p.points > 0,
        Kind::Redemption | Kind::Expiry => p.points < 0,
        Kind::Reversal | Kind::Adjustment => p.points != 0,
    };
    if !ok {
        return Err(LedgerError::Invalid("points must be non-zero, positive for accruals and negative for redemptions and expiries"));
    }
    if p.transaction_id.is_empty() || p.transaction_id.len() > 64 {
        return Err(LedgerError::Invalid("transactionId must be 1 to 64 characters"));
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    bit_reference: String,
    member_id: String,
    client_id: String,
    transaction_id: String,
    kind: String,
    points: i64,
    balance_after: i64,
    amount: Option<i64>,
    created_at: i64,
    request_hash: Vec<u8>,
}

impl EntryRow {
    fn split(self) -> (Entry, Vec<u8>) {
        let entry = Entry {
            bit_reference: self.bit_reference,
            member_id: self.member_id,
            client_id: self.client_id,
            transaction_id: self.transaction_id,
            kind: self.kind,
            points: self.points,
            balance_after: self.balance_after,
            amount: self.amount,
            created_at_ms: self.created_at,
        };
        (entry, self.request_hash)
    }
}

const ENTRY_COLUMNS: &str =
    "bit_reference, member_id, client_id, transaction_id, kind, points, balance_after, amount, created_at, request_hash";

async fn find(db: &Db, client_id: &str, transaction_id: &str) -> Result<Option<(Entry, Vec<u8>)>, LedgerError> {
    let row: Option<EntryRow> =
        sqlx::query_as(&format!("SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE client_id = $1 AND transaction_id = $2"))
            .bind(client_id)
            .bind(transaction_id)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(EntryRow::split))
}

/// How a partner names one of its transactions.
#[derive(Debug, Clone, Copy)]
pub enum Reference<'a> {
    BitReference(&'a str),
    TransactionId(&'a str),
}

/// One of `client_id`'s entries for `member_id` (a partner sees only its own).
pub async fn lookup(db: &Db, client_id: &str, member_id: &str, by: Reference<'_>) -> Result<Option<Entry>, LedgerError> {
    let (column, value) = match by {
        Reference::BitReference(b) => ("bit_reference", b),
        Reference::TransactionId(t) => ("transaction_id", t),
    };
    let row: Option<EntryRow> = sqlx::query_as(&format!(
        "SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE client_id = $1 AND member_id = $2 AND {column} = $3"
    ))
    .bind(client_id)
    .bind(member_id)
    .bind(value)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| r.split().0))
}

/// Posts `p` once: a retry with the same fields returns the original entry; the same
/// transactionId with other fields is [`LedgerError::DuplicateTransaction`]; a debit above the
/// available points is [`LedgerError::InsufficientBalance`] and leaves nothing behind.
pub async fn post(db: &Db, p: &Posting, now_ms: i64) -> Result<Posted, LedgerError> {
    check(p)?;
    let hash = request_hash(p);
    let bit = BitReference::new(now_ms);
    let mut tx = db.pool().begin().await?;
    // The first statement writes, so concurrent postings queue for SQLite's write lock here.
    let inserted = sqlx::query(
        "INSERT INTO ledger_entries (bit_reference, member_id, client_id, transaction_id, kind, points, balance_after,
             amount, currency, request_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9, $10)
         ON CONFLICT (client_id, transaction_id) DO NOTHING",
    )
    .bind(bit.as_str())
    .bind(&p.member_id)
    .bind(&p.client_id)
    .bind(&p.transaction_id)
    .bind(p.kind.as_str())
    .bind(p.points)
    .bind(p.amount)
    .bind(&p.currency)
    .bind(&hash)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        tx.rollback().await?;
        let (entry, stored) = find(db, &p.client_id, &p.transaction_id).await?.ok_or(LedgerError::DuplicateTransaction)?;
        if stored != hash {
            return Err(LedgerError::DuplicateTransaction);
        }
        return Ok(Posted { entry, replayed: true });
    }
    sqlx::query("INSERT INTO ledger_accounts (member_id, balance, locked, updated_at) VALUES ($1, 0, 0, $2) ON CONFLICT (member_id) DO NOTHING")
        .bind(&p.member_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
    // One conditional update: a debit applies only if the available points cover it.
    let balance: Option<i64> = sqlx::query_scalar(
        "UPDATE ledger_accounts SET balance = balance + $2, updated_at = $3
         WHERE member_id = $1 AND ($2 >= 0 OR balance - locked >= -$2)
         RETURNING balance",
    )
    .bind(&p.member_id)
    .bind(p.points)
    .bind(now_ms)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(balance) = balance else {
        tx.rollback().await?;
        return Err(LedgerError::InsufficientBalance);
    };
    sqlx::query("UPDATE ledger_entries SET balance_after = $2 WHERE bit_reference = $1")
        .bind(bit.as_str())
        .bind(balance)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let entry = Entry {
        bit_reference: bit.as_str().to_string(),
        member_id: p.member_id.clone(),
        client_id: p.client_id.clone(),
        transaction_id: p.transaction_id.clone(),
        kind: p.kind.as_str().to_string(),
        points: p.points,
        balance_after: balance,
        amount: p.amount,
        created_at_ms: now_ms,
    };
    Ok(Posted { entry, replayed: false })
}

/// A member's balance: `(balance, locked)`; zero for a member with no entries.
pub async fn balance(db: &Db, member_id: &str) -> Result<(i64, i64), LedgerError> {
    let row: Option<(i64, i64)> = sqlx::query_as("SELECT balance, locked FROM ledger_accounts WHERE member_id = $1")
        .bind(member_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.unwrap_or((0, 0)))
}

/// Members whose stored balance differs from the sum of their entries: `(member, balance, sum)`.
/// Empty on a healthy ledger.
pub async fn inconsistent_accounts(db: &Db) -> Result<Vec<(String, i64, i64)>, LedgerError> {
    Ok(sqlx::query_as(
        "SELECT a.member_id, a.balance, COALESCE(SUM(e.points), 0) AS total
         FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.member_id = a.member_id
         GROUP BY a.member_id, a.balance
         HAVING a.balance <> COALESCE(SUM(e.points), 0)",
    )
    .fetch_all(db.pool())
    .await?)
}

#[cfg(test)]
mod tests;
