//! Points expiry: points expire `months` calendar months after they were earned, oldest first
//! (FIFO). Every debit (redemption, earlier expiry, negative adjustment) spent the oldest lots
//! first (`lots.rs`), so what is due is simply what is left in the lots earned before the
//! cut-off. That much expires as one EXPIRY entry per member (never more than the available
//! balance: locked points wait until their hold ends), with the transactionId
//! `EXPIRY-{cut-off day}-{member}`, so running the job twice a day changes nothing. The scheduled
//! job runs hourly; `joygate ledger expire` runs it now. It reads only the lots still holding
//! points and old enough (a partial index), not the ledger's history.

use chrono::{DateTime, Months, Utc};

use super::{lots, post, Entry, Kind, LedgerError, PointRefusal, Posting, PLATFORM};
use crate::store::Db;

/// The moment `months` calendar months before `now_ms` (Unix ms).
pub fn cutoff_ms(now_ms: i64, months: u32) -> i64 {
    let now = DateTime::<Utc>::from_timestamp_millis(now_ms).unwrap_or_default();
    now.checked_sub_months(Months::new(months)).unwrap_or(DateTime::<Utc>::MIN_UTC).timestamp_millis()
}

/// Expires what is due for every member; returns the EXPIRY entries written now.
pub async fn run(db: &Db, months: u32, now_ms: i64) -> Result<Vec<Entry>, LedgerError> {
    if months == 0 {
        return Ok(Vec::new());
    }
    let cutoff = cutoff_ms(now_ms, months);
    let due = lots::due_before(db, cutoff).await?;
    let day = DateTime::<Utc>::from_timestamp_millis(cutoff).unwrap_or_default().format("%Y%m%d").to_string();
    let mut written = Vec::new();
    for (member_id, unspent, balance, locked) in due {
        let points = unspent.min(balance - locked);
        if points <= 0 {
            continue;
        }
        let posting = Posting {
            client_id: PLATFORM.to_string(),
            transaction_id: format!("EXPIRY-{day}-{member_id}"),
            member_id,
            kind: Kind::Expiry,
            points: -points,
            amount: None,
            currency: None,
        };
        match post(db, &posting, now_ms).await {
            Ok(p) if !p.replayed => written.push(p.entry),
            Ok(_) => {}
            // spent or locked between the scan and the posting: the next run sees the new state
            Err(LedgerError::Refused(PointRefusal::InsufficientBalance) | LedgerError::Refused(PointRefusal::DuplicateTransaction)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}
