//! The SkyPoint ledger: balances derived from immutable entries.
//!
//! Where is each rule? A partner's request, checked into a posting: [`request`] (one place for
//! the API, batch rows, the redemption page and reward tasks). Entries: [`post`] — one database
//! transaction inserts the entry
//! (idempotent by the partner's `transactionId`) and moves the balance with one conditional
//! `UPDATE`, so a debit can never overdraw, even under concurrency, and a failed debit leaves
//! no entry; the webhook and member notification are written in that transaction too.
//! Locked points: [`holds`]. Which points a debit spends (FIFO lots): [`lots`]. Points expiry
//! (N months, by the lots): [`expiry`]. [`inconsistent_accounts`] proves balance ==
//! sum(entries) == sum(lots' remaining) for every member.

pub mod batch;
mod bit_reference;
mod earning;
pub mod expiry;
pub mod holds;
mod lots;
pub mod request;
pub mod sign;

pub use bit_reference::BitReference;
pub use earning::{EarningRule, EarningRules, Rounding};
pub use request::{PointError, PointRefusal, PointRequest, RawPointRequest};

use sha2::{Digest, Sha256};

use crate::{
    events::{self, push, Event, EventType},
    store::{Db, StoreError, Tx},
};

/// The `client_id` of entries the platform itself writes (expiry, operator adjustments).
pub const PLATFORM: &str = "skyjoy";

/// What kind of change an entry is; the sign of its points follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Accrual,
    Redemption,
    Reversal,
    Adjustment,
    Expiry,
    /// A loyalty reward task paid a member (`rewards::`): a credit, told apart from purchases.
    Reward,
}

impl Kind {
    pub const ALL: [Kind; 6] = [Kind::Accrual, Kind::Redemption, Kind::Reversal, Kind::Adjustment, Kind::Expiry, Kind::Reward];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Accrual => "ACCRUAL",
            Kind::Redemption => "REDEMPTION",
            Kind::Reversal => "REVERSAL",
            Kind::Adjustment => "ADJUSTMENT",
            Kind::Expiry => "EXPIRY",
            Kind::Reward => "REWARD",
        }
    }

    /// The stored text; anything else is a corrupt row.
    pub fn parse(s: &str) -> Result<Kind, StoreError> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| StoreError::corrupt("ledger_entries", format!("unknown kind {s:?}")))
    }
}

/// A partner's request to change a member's points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub client_id: String,
    pub transaction_id: String,
    pub member_id: String,
    pub kind: Kind,
    /// Signed: credits are positive, debits negative (accruals and rewards credit, redemptions and expiries
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
    pub kind: Kind,
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
    /// The request cannot be applied (overdraft, a reused transactionId, a lock that is gone…).
    #[error("{}", .0.message())]
    Refused(PointRefusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PointRefusal> for LedgerError {
    fn from(r: PointRefusal) -> Self {
        LedgerError::Refused(r)
    }
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

/// What every posting must be, whoever built it: points within range and of the kind's sign, a
/// valid transactionId (a [`PointRequest`] always passes; a job that computed 0 points does not).
fn check(p: &Posting) -> Result<(), LedgerError> {
    let ok = match p.kind {
        Kind::Accrual | Kind::Reward => p.points > 0,
        Kind::Redemption | Kind::Expiry => p.points < 0,
        Kind::Reversal | Kind::Adjustment => p.points != 0,
    };
    if !ok || p.points.unsigned_abs() > request::MAX_POINTS as u64 {
        return Err(PointRefusal::InvalidPoint.into());
    }
    request::TransactionId::parse(&p.transaction_id)?;
    if p.amount.is_some_and(|a| request::Amount::new(a).is_none()) {
        return Err(PointRefusal::InvalidTransactionAmount.into());
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
    fn split(self) -> Result<(Entry, Vec<u8>), StoreError> {
        let entry = Entry {
            bit_reference: self.bit_reference,
            member_id: self.member_id,
            client_id: self.client_id,
            transaction_id: self.transaction_id,
            kind: Kind::parse(&self.kind)?,
            points: self.points,
            balance_after: self.balance_after,
            amount: self.amount,
            created_at_ms: self.created_at,
        };
        Ok((entry, self.request_hash))
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
    Ok(row.map(EntryRow::split).transpose()?)
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
    Ok(row.map(EntryRow::split).transpose()?.map(|(e, _)| e))
}

/// Posts `p` once: a retry with the same fields returns the original entry; the same
/// transactionId with other fields is refused `DuplicateTransaction`; a debit above the
/// available points is refused `InsufficientBalance` and leaves nothing behind. The
/// partner webhook and the member notification are written in the same transaction.
pub async fn post(db: &Db, p: &Posting, now_ms: i64) -> Result<Posted, LedgerError> {
    let p = p.clone();
    db.write(move |tx| Box::pin(async move { post_in(tx, &p, now_ms).await })).await
}

/// [`post`] inside the caller's transaction, for a change that must commit together with the
/// posting (a reward task's result, say). On an error the caller must drop `tx`.
pub async fn post_in(tx: &mut Tx<'_>, p: &Posting, now_ms: i64) -> Result<Posted, LedgerError> {
    check(p)?;
    let hash = request_hash(p);
    if let Some(entry) = write_entry(tx, p, &hash, 0, now_ms).await? {
        return Ok(Posted { entry, replayed: false });
    }
    let row: Option<EntryRow> =
        sqlx::query_as(&format!("SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE client_id = $1 AND transaction_id = $2"))
            .bind(&p.client_id)
            .bind(&p.transaction_id)
            .fetch_optional(&mut **tx)
            .await?;
    let (entry, stored) = row.map(EntryRow::split).transpose()?.ok_or(PointRefusal::DuplicateTransaction)?;
    if stored != hash {
        return Err(PointRefusal::DuplicateTransaction.into());
    }
    Ok(Posted { entry, replayed: true })
}

/// Inside `tx`: inserts `p`'s entry, moves the balance (releasing `unlock` locked points at the
/// same time, for a captured hold) and announces the change. `Ok(None)` when the partner's
/// transactionId already has an entry (nothing written); an uncovered debit is
/// `InsufficientBalance`, a credit past [`request::MAX_BALANCE`] is `BalanceLimit`, and the
/// caller must drop `tx`.
async fn write_entry(tx: &mut Tx<'_>, p: &Posting, hash: &[u8], unlock: i64, now_ms: i64) -> Result<Option<Entry>, LedgerError> {
    let bit = BitReference::new(now_ms);
    // The first statement writes, so concurrent postings queue for SQLite's write lock here.
    // `balance_after` is what the balance will be if the update below applies; the update's
    // answer is checked against it (on PostgreSQL another posting may commit in between).
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO ledger_entries (bit_reference, member_id, client_id, transaction_id, kind, points, balance_after,
             amount, currency, request_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, COALESCE((SELECT balance FROM ledger_accounts WHERE member_id = $2), 0) + $6,
             $7, $8, $9, $10)
         ON CONFLICT (client_id, transaction_id) DO NOTHING
         RETURNING balance_after",
    )
    .bind(bit.as_str())
    .bind(&p.member_id)
    .bind(&p.client_id)
    .bind(&p.transaction_id)
    .bind(p.kind.as_str())
    .bind(p.points)
    .bind(p.amount)
    .bind(&p.currency)
    .bind(hash)
    .bind(now_ms)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(expected) = inserted else {
        return Ok(None);
    };
    let moved = match move_balance(tx, p, unlock, now_ms).await? {
        Some(moved) => Some(moved),
        // Refused, or no account yet: the member's first entry, or (PostgreSQL) one a concurrent
        // posting is opening — whose insert this one waits for. Open it if needed, try once more.
        None => {
            open_account(tx, &p.member_id, now_ms).await?;
            move_balance(tx, p, unlock, now_ms).await?
        }
    };
    let Some((balance, locked)) = moved else {
        return Err(if p.points > 0 { PointRefusal::BalanceLimit } else { PointRefusal::InsufficientBalance }.into());
    };
    if balance != expected {
        sqlx::query("UPDATE ledger_entries SET balance_after = $2 WHERE bit_reference = $1")
            .bind(bit.as_str())
            .bind(balance)
            .execute(&mut **tx)
            .await?;
    }
    // The account row is locked by the update above, so this member's lots move in turn.
    lots::record(tx, &p.member_id, bit.as_str(), p.points, now_ms).await?;
    let entry = Entry {
        bit_reference: bit.as_str().to_string(),
        member_id: p.member_id.clone(),
        client_id: p.client_id.clone(),
        transaction_id: p.transaction_id.clone(),
        kind: p.kind,
        points: p.points,
        balance_after: balance,
        amount: p.amount,
        created_at_ms: now_ms,
    };
    let change = Change {
        member_id: &p.member_id,
        client_id: &p.client_id,
        transaction_type: p.kind.as_str(),
        points: p.points,
        reference: &entry.bit_reference,
        transaction_id: &p.transaction_id,
        balance,
        locked,
    };
    announce(tx, &change, Some(p.kind), now_ms).await?;
    Ok(Some(entry))
}

/// One conditional update: a debit applies only if the available points cover it, a credit only
/// below the ceiling (so the sum never leaves i64, and SQLite never turns it into REAL).
/// `(balance, locked)` after it, or `None` when refused or when the member has no account yet.
async fn move_balance(tx: &mut Tx<'_>, p: &Posting, unlock: i64, now_ms: i64) -> Result<Option<(i64, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "UPDATE ledger_accounts SET balance = balance + $2, locked = locked - $4, updated_at = $3
         WHERE member_id = $1 AND ($2 >= 0 OR balance - (locked - $4) >= -$2) AND balance + $2 <= $5
         RETURNING balance, locked",
    )
    .bind(&p.member_id)
    .bind(p.points)
    .bind(now_ms)
    .bind(unlock)
    .bind(request::MAX_BALANCE)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Opens `member_id`'s account at zero if it has none.
async fn open_account(tx: &mut Tx<'_>, member_id: &str, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO ledger_accounts (member_id, balance, locked, updated_at) VALUES ($1, 0, 0, $2) ON CONFLICT (member_id) DO NOTHING")
        .bind(member_id)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A committed change of a member's points, as partners and the member hear of it.
struct Change<'a> {
    member_id: &'a str,
    client_id: &'a str,
    /// ACCRUAL, REDEMPTION, … or LOCK, RELEASE, LOCK_EXPIRED for holds.
    transaction_type: &'a str,
    /// Signed change of the balance (holds: of the locked points).
    points: i64,
    reference: &'a str,
    transaction_id: &'a str,
    balance: i64,
    locked: i64,
}

/// Inside the change's transaction: `user.updated-balance` to the partners, and — for entries,
/// which only exist when the change succeeded — a notification to the member.
async fn announce(tx: &mut Tx<'_>, c: &Change<'_>, notify: Option<Kind>, now_ms: i64) -> Result<(), StoreError> {
    let (skyjoy_id, partner_name): (String, Option<String>) =
        sqlx::query_as("SELECT skyjoy_id, (SELECT name FROM oidc_clients WHERE client_id = $2) FROM members WHERE id = $1")
            .bind(c.member_id)
            .bind(c.client_id)
            .fetch_one(&mut **tx)
            .await?;
    let data = serde_json::json!({
        "id": c.member_id,
        "member_id": skyjoy_id,
        "partner": c.client_id,
        "point_balance": c.balance,
        "locked_point": c.locked,
        "available_point": c.balance - c.locked,
        "transaction": {
            "transactionType": c.transaction_type,
            "point": c.points,
            "bitReference": c.reference,
            "transactionId": c.transaction_id,
            "transactionTime": crate::clock::vietnam_rfc3339(now_ms),
        },
    });
    let event = Event { event_type: EventType::UserUpdatedBalance, member_id: c.member_id.to_string(), actor_client_id: Some(c.client_id.to_string()), data };
    events::publish(tx, &event, now_ms).await?;
    if let Some(kind) = notify {
        let partner = partner_name.as_deref().unwrap_or(if c.client_id == PLATFORM { "SkyJoy" } else { c.client_id });
        let (what, title, body) = notification_text(kind, c.points, c.balance - c.locked, partner);
        push::notify(tx, c.member_id, what, &title, &body, now_ms).await?;
    }
    Ok(())
}

/// The Vietnamese text of a ledger notification (members read SkyJoy in Vietnamese first):
/// `(kind, title, body)`; `available` is the available balance after the change.
fn notification_text(kind: Kind, points: i64, available: i64, partner: &str) -> (&'static str, String, String) {
    let (n, balance) = (points.abs(), available);
    match kind {
        Kind::Accrual => ("points.accrued", format!("+{n} SkyPoint"), format!("Bạn vừa nhận {n} SkyPoint từ {partner}. Số dư: {balance} SkyPoint.")),
        Kind::Reward => ("points.rewarded", format!("+{n} SkyPoint"), format!("Bạn vừa được thưởng {n} SkyPoint từ {partner}. Số dư: {balance} SkyPoint.")),
        Kind::Redemption => ("points.redeemed", format!("-{n} SkyPoint"), format!("Bạn vừa dùng {n} SkyPoint tại {partner}. Số dư: {balance} SkyPoint.")),
        Kind::Expiry => ("points.expired", format!("-{n} SkyPoint hết hạn"), format!("{n} SkyPoint đã hết hạn. Số dư: {balance} SkyPoint.")),
        Kind::Reversal | Kind::Adjustment => ("points.adjusted", format!("{points:+} SkyPoint"), format!("Số dư SkyPoint của bạn đã được điều chỉnh: {balance} SkyPoint.")),
    }
}

/// A member's balance: `(balance, locked)`; zero for a member with no entries.
pub async fn balance(db: &Db, member_id: &str) -> Result<(i64, i64), LedgerError> {
    let row: Option<(i64, i64)> = sqlx::query_as("SELECT balance, locked FROM ledger_accounts WHERE member_id = $1")
        .bind(member_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.unwrap_or((0, 0)))
}

/// Whether `points` can be spent from the member's available (unlocked) balance right now —
/// what the member's confirmation page shows before the partner redeems; the posting itself
/// decides again, atomically, in [`post`].
pub async fn can_spend(db: &Db, member_id: &str, points: i64) -> Result<(), LedgerError> {
    let (balance, locked) = balance(db, member_id).await?;
    if balance.saturating_sub(locked) >= points {
        Ok(())
    } else {
        Err(PointRefusal::InsufficientBalance.into())
    }
}

/// One line of a member's history, with the partner's display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryLine {
    pub entry: Entry,
    pub partner_name: String,
}

/// A member's entries, newest first: page `page` (0-based) of `per_page`, and whether there are
/// more after it.
pub async fn history(db: &Db, member_id: &str, page: u32, per_page: u32) -> Result<(Vec<HistoryLine>, bool), LedgerError> {
    #[derive(sqlx::FromRow)]
    struct Line {
        #[sqlx(flatten)]
        entry: EntryRow,
        partner_name: Option<String>,
    }
    let per_page = per_page.clamp(1, 100);
    let columns = ENTRY_COLUMNS.split(", ").map(|c| format!("e.{c}")).collect::<Vec<_>>().join(", ");
    let rows: Vec<Line> = sqlx::query_as(&format!(
        "SELECT {columns}, c.name AS partner_name FROM ledger_entries e LEFT JOIN oidc_clients c ON c.client_id = e.client_id
         WHERE e.member_id = $1 ORDER BY e.created_at DESC, e.bit_reference DESC LIMIT $2 OFFSET $3"
    ))
    .bind(member_id)
    .bind(i64::from(per_page) + 1)
    .bind(i64::from(page) * i64::from(per_page))
    .fetch_all(db.pool())
    .await?;
    let more = rows.len() > per_page as usize;
    let mut lines = Vec::with_capacity(per_page as usize);
    for line in rows.into_iter().take(per_page as usize) {
        let (entry, _) = line.entry.split()?;
        let partner_name = line.partner_name.unwrap_or_else(|| if entry.client_id == PLATFORM { "SkyJoy".into() } else { entry.client_id.clone() });
        lines.push(HistoryLine { entry, partner_name });
    }
    Ok((lines, more))
}

/// Members whose stored balance differs from the sum of their entries, or from what their lots
/// still hold: `(member, balance, sum)` with the first sum that differs. Empty on a healthy
/// ledger.
pub async fn inconsistent_accounts(db: &Db) -> Result<Vec<(String, i64, i64)>, LedgerError> {
    let mut bad: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT a.member_id, a.balance, CAST(COALESCE(SUM(e.points), 0) AS BIGINT) AS total
         FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.member_id = a.member_id
         GROUP BY a.member_id, a.balance
         HAVING a.balance <> COALESCE(SUM(e.points), 0)",
    )
    .fetch_all(db.pool())
    .await?;
    for lot in lots::inconsistent(db).await? {
        if !bad.iter().any(|(m, _, _)| *m == lot.0) {
            bad.push(lot);
        }
    }
    Ok(bad)
}

#[cfg(test)]
mod tests;
