//! A batch's life, as stored in `ledger_batches`: [`run`] (the inbound folder: parse, apply,
//! store, in one go), or [`accept`] then [`complete`] (the API: the file is checked as a whole
//! and stored, its rows applied in the background and again after a restart — the rows applied
//! before are replays in the ledger, never second postings); [`find`] and [`result_file`] for
//! the partner who uploaded it. A stored value none of these could have written is
//! `StoreError::Corrupt`, never defaulted.

use super::{apply, parse, result_csv, BatchError, Format, RowResult, Status};
use crate::store::{Db, Flag, StoreError};

/// How a batch reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `POST /api-point/partner/v1/batch`.
    Api,
    /// The inbound folder.
    Inbound,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Api => "API",
            Source::Inbound => "INBOUND",
        }
    }

    fn parse(s: &str) -> Result<Source, StoreError> {
        [Source::Api, Source::Inbound].into_iter().find(|v| v.as_str() == s).ok_or_else(|| StoreError::corrupt(TABLE, format!("source {s:?}")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchStatus {
    /// Accepted, rows being applied ([`accept`]); finished by [`complete`], also after a restart.
    Processing,
    /// Every row applied or refused; the counts and the result file are final.
    Done,
}

impl BatchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Processing => "PROCESSING",
            BatchStatus::Done => "DONE",
        }
    }

    fn parse(s: &str) -> Result<BatchStatus, StoreError> {
        [BatchStatus::Processing, BatchStatus::Done]
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| StoreError::corrupt(TABLE, format!("status {s:?}")))
    }
}

/// A batch, as stored (its result file beside it: [`result_file`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub id: String,
    pub client_id: String,
    pub file_name: Option<String>,
    pub source: Source,
    pub status: BatchStatus,
    /// Data rows in the file.
    pub total: i64,
    /// Once done: rows applied now or before (`replayed`), and rows refused.
    pub succeeded: i64,
    pub failed: i64,
    pub replayed: i64,
    pub created_at_ms: i64,
}

/// A file to process.
#[derive(Debug, Clone, Copy)]
pub struct Upload<'a> {
    pub client_id: &'a str,
    pub file_name: Option<&'a str>,
    pub source: Source,
    pub format: Format,
    pub bytes: &'a [u8],
    /// Whether rows may take points away (REDEMPTION, negative ADJUSTMENT): the uploader has
    /// the `point:redeem` scope. Rows that would are refused with FORBIDDEN otherwise.
    pub allow_debits: bool,
}

/// A finished batch: each row's result, and the result file.
#[derive(Debug, Clone)]
pub struct Processed {
    pub batch: Batch,
    pub results: Vec<RowResult>,
    pub result_csv: String,
}

const TABLE: &str = "ledger_batches";

fn new_batch(upload: &Upload<'_>, status: BatchStatus, total: usize, now_ms: i64) -> Batch {
    Batch {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: upload.client_id.to_string(),
        file_name: upload.file_name.map(str::to_string),
        source: upload.source,
        status,
        total: total as i64,
        succeeded: 0,
        failed: 0,
        replayed: 0,
        created_at_ms: now_ms,
    }
}

/// Counts the results into `batch`, marks it done and renders its result file.
fn finish(mut batch: Batch, results: Vec<RowResult>) -> Processed {
    batch.status = BatchStatus::Done;
    batch.total = results.len() as i64;
    batch.succeeded = results.iter().filter(|r| r.status == Status::Success).count() as i64;
    batch.failed = batch.total - batch.succeeded;
    batch.replayed = results.iter().filter(|r| r.replayed).count() as i64;
    let result_csv = result_csv(&results);
    Processed { batch, results, result_csv }
}

async fn insert(db: &Db, b: &Batch, upload: &Upload<'_>, file: Option<&[u8]>, result_csv: Option<&str>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ledger_batches (id, client_id, file_name, source, format, status, file, total, succeeded, failed, replayed,
             result_csv, created_at, allow_debits)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&b.id)
    .bind(&b.client_id)
    .bind(&b.file_name)
    .bind(b.source.as_str())
    .bind(upload.format.as_str())
    .bind(b.status.as_str())
    .bind(file)
    .bind(b.total)
    .bind(b.succeeded)
    .bind(b.failed)
    .bind(b.replayed)
    .bind(result_csv)
    .bind(b.created_at_ms)
    .bind(upload.allow_debits)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Parses, applies every row and stores the finished batch with its result file, in one go
/// (the inbound folder: its file stays in place until this returns). Safe to run again on the
/// same file, also after a crash part-way: the rows already applied are replayed.
pub async fn run(db: &Db, rules: &crate::ledger::EarningRules, upload: Upload<'_>, now_ms: i64) -> Result<Processed, BatchError> {
    let rows = parse(upload.bytes, upload.format)?;
    let results = apply(db, rules, upload.client_id, upload.allow_debits, &rows, now_ms).await?;
    let done = finish(new_batch(&upload, BatchStatus::Processing, rows.len(), now_ms), results);
    insert(db, &done.batch, &upload, None, Some(&done.result_csv)).await?;
    Ok(done)
}

/// Checks the file as a whole (a refused file changes nothing) and stores it as a
/// [`BatchStatus::Processing`] batch; [`complete`] applies its rows.
pub async fn accept(db: &Db, upload: Upload<'_>, now_ms: i64) -> Result<Batch, BatchError> {
    let rows = parse(upload.bytes, upload.format)?;
    let batch = new_batch(&upload, BatchStatus::Processing, rows.len(), now_ms);
    insert(db, &batch, &upload, Some(upload.bytes), None).await?;
    Ok(batch)
}

#[derive(sqlx::FromRow)]
struct BatchRow {
    id: String,
    client_id: String,
    file_name: Option<String>,
    source: String,
    status: String,
    total: i64,
    succeeded: i64,
    failed: i64,
    replayed: i64,
    created_at: i64,
}
const BATCH_COLUMNS: &str = "id, client_id, file_name, source, status, total, succeeded, failed, replayed, created_at";

impl TryFrom<BatchRow> for Batch {
    type Error = StoreError;

    fn try_from(r: BatchRow) -> Result<Batch, StoreError> {
        Ok(Batch {
            id: r.id,
            client_id: r.client_id,
            file_name: r.file_name,
            source: Source::parse(&r.source)?,
            status: BatchStatus::parse(&r.status)?,
            total: r.total,
            succeeded: r.succeeded,
            failed: r.failed,
            replayed: r.replayed,
            created_at_ms: r.created_at,
        })
    }
}

/// What an accepted batch keeps until it is done.
#[derive(sqlx::FromRow)]
struct StoredFile {
    format: String,
    file: Option<Vec<u8>>,
    allow_debits: Flag,
}

/// Applies the rows of an accepted batch and stores its results; the stored file is then
/// dropped. Run again on a batch cut short (a restart), it finishes it: the rows applied before
/// are replays in the ledger, never second postings.
pub async fn complete(db: &Db, rules: &crate::ledger::EarningRules, id: &str, now_ms: i64) -> Result<Processed, BatchError> {
    let row: Option<BatchRow> =
        sqlx::query_as(&format!("SELECT {BATCH_COLUMNS} FROM ledger_batches WHERE id = $1")).bind(id).fetch_optional(db.pool()).await?;
    let stored: Option<StoredFile> =
        sqlx::query_as("SELECT format, file, allow_debits FROM ledger_batches WHERE id = $1").bind(id).fetch_optional(db.pool()).await?;
    let (Some(row), Some(StoredFile { format, file: Some(file), allow_debits })) = (row, stored) else {
        return Err(BatchError::Store(StoreError::NotFound(format!("batch {id} with a file to process"))));
    };
    let batch = Batch::try_from(row)?;
    let format = Format::parse_stored(&format).ok_or_else(|| StoreError::corrupt(TABLE, format!("format {format:?}")))?;
    let rows = parse(&file, format)?;
    let done = finish(batch.clone(), apply(db, rules, &batch.client_id, allow_debits.0, &rows, now_ms).await?);
    let b = &done.batch;
    sqlx::query(
        "UPDATE ledger_batches SET status = $2, file = NULL, total = $3, succeeded = $4, failed = $5, replayed = $6, result_csv = $7
         WHERE id = $1",
    )
    .bind(&b.id)
    .bind(b.status.as_str())
    .bind(b.total)
    .bind(b.succeeded)
    .bind(b.failed)
    .bind(b.replayed)
    .bind(&done.result_csv)
    .execute(db.pool())
    .await?;
    Ok(done)
}

/// Batches accepted before `before_ms` and not finished (the server stopped part-way).
pub async fn unfinished(db: &Db, before_ms: i64) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT id FROM ledger_batches WHERE status = 'PROCESSING' AND created_at < $1 ORDER BY created_at")
        .bind(before_ms)
        .fetch_all(db.pool())
        .await?)
}

/// One of `client_id`'s batches (a partner sees only its own).
pub async fn find(db: &Db, client_id: &str, id: &str) -> Result<Option<Batch>, StoreError> {
    let row: Option<BatchRow> = sqlx::query_as(&format!("SELECT {BATCH_COLUMNS} FROM ledger_batches WHERE client_id = $1 AND id = $2"))
        .bind(client_id)
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.map(Batch::try_from).transpose()
}

/// The result file of one of `client_id`'s batches, once it is done.
pub async fn result_file(db: &Db, client_id: &str, id: &str) -> Result<Option<String>, StoreError> {
    let file: Option<Option<String>> = sqlx::query_scalar("SELECT result_csv FROM ledger_batches WHERE client_id = $1 AND id = $2")
        .bind(client_id)
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    Ok(file.flatten())
}
