//! Batch point files: many accruals and redemptions in one CSV or JSON Lines file
//! (counterparts.md §1.8; SkyJoy's own file format and error codes were not published, ours are
//! in the README, "Batch uploads").
//!
//! Where is each rule?
//! - the file as a whole (size, row count, header, encoding, a quote never closed) and each line
//!   read into a [`Row`]: [`file`] ([`parse`]);
//! - each row: [`rows`] ([`apply`]), thin over `ledger::request`, which checks a row exactly as
//!   it checks a point API call (same order, same codes); the posting is [`super::post`], so a
//!   row is idempotent by the partner's `transactionId` like an API call: uploading a file again
//!   changes nothing and reports every row it already applied as `SUCCESS` with
//!   `replayed = true`. Every row stands alone: a bad row never stops the others;
//! - the result file and a refused file's one line: [`results`];
//! - the batch's life: [`lifecycle`] — an API upload is [`accept`]ed (stored with its file) and
//!   then [`complete`]d, in the background when it is long and again after a restart; the
//!   inbound folder's files are [`run`] in one go.

mod file;
mod lifecycle;
mod results;
mod rows;

pub use file::{parse, FileError, Format, Row};
pub use lifecycle::{accept, complete, find, result_file, run, unfinished, Batch, BatchStatus, Processed, Source, Upload};
pub use results::{refused_csv, result_csv, RESULT_HEADER};
pub use rows::{apply, RowCode, RowResult, Status};

use crate::store::StoreError;

/// The most data rows a file may hold.
pub const MAX_ROWS: usize = 100_000;
/// The largest file accepted, in bytes (100,000 rows of about 160 bytes).
pub const MAX_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Refused as a whole: nothing was applied.
    #[error(transparent)]
    File(#[from] FileError),
    /// The database failed part-way: the rows before stay applied, and processing the same file
    /// again is safe (they are replayed, not applied twice).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for BatchError {
    fn from(e: sqlx::Error) -> Self {
        BatchError::Store(e.into())
    }
}

#[cfg(test)]
mod tests;
