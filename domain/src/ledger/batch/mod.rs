//! Batch point files: many accruals and redemptions in one CSV or JSON Lines file
//! (counterparts.md §1.8; SkyJoy's own file format and error codes were not published, ours are
//! in the README, "Batch uploads").
//!
//! Where is each rule? The file as a whole (size, row count, header) in [`parse`]; each row's
//! fields in `apply_row`, in the same order and with the same codes as the point APIs; the
//! posting itself in [`super::post`], so a row is idempotent by the partner's `transactionId`
//! exactly like an API call: uploading a file again changes nothing and reports every row it
//! already applied as `SUCCESS` with `replayed = true`. Every row stands alone: a bad row never
//! stops the others. An API upload is [`accept`]ed (stored with its file) and then
//! [`complete`]d, in the background when it is long and again after a restart; the inbound
//! folder's files are [`run`] in one go.

use crate::csv;

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{
    request::{Operation, PointError, PointRefusal, PointRequest, RawPointRequest},
    Posted,
};
use crate::{
    identity::{
        members::{self, MemberError},
        SkyJoyId,
    },
    ledger::EarningRules,
    store::{Db, StoreError},
};

/// The most data rows a file may hold.
pub const MAX_ROWS: usize = 100_000;
/// The largest file accepted, in bytes (100,000 rows of about 160 bytes).
pub const MAX_BYTES: usize = 16 * 1024 * 1024;

/// The CSV header: each column's name and whether it is required. A CSV file must name every
/// required column, in any order, and no other; JSON Lines rows use the same keys.
const COLUMNS: [(&str, bool); 8] = [
    ("type", true),
    ("skyjoyId", true),
    ("transactionId", true),
    ("transactionDate", true),
    ("transactionAmount", true),
    ("usedPoint", false),
    ("point", false),
    ("transactionCurrency", false),
];

/// The result file's header; one line per data row follows, in file order.
pub const RESULT_HEADER: &str = "row,line,transactionId,status,code,message,bitReference,points,newBalance,replayed";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// RFC 4180 CSV with a header row.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

impl Format {
    /// From a `Content-Type` such as `text/csv; charset=utf-8`.
    pub fn from_media_type(content_type: &str) -> Option<Format> {
        let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.as_str() {
            "text/csv" => Some(Format::Csv),
            "application/x-ndjson" | "application/jsonl" | "application/x-jsonlines" | "application/jsonlines" => Some(Format::JsonLines),
            _ => None,
        }
    }

    /// From a file name: `*.csv`, `*.jsonl` or `*.ndjson` (any case).
    pub fn from_file_name(name: &str) -> Option<Format> {
        let (_, ext) = name.rsplit_once('.')?;
        match ext.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" => Some(Format::JsonLines),
            _ => None,
        }
    }
}

/// Why a whole file was refused; nothing of it was applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is larger than {MAX_BYTES} bytes")]
    TooLarge,
    #[error("the file has more than {MAX_ROWS} rows")]
    TooManyRows,
    #[error("the file has no data rows")]
    Empty,
    #[error("the file is not UTF-8 text")]
    NotUtf8,
    #[error("the header row is wrong: {0}")]
    InvalidHeader(String),
    #[error("the quoted field that starts on line {0} is never closed")]
    UnclosedQuote(usize),
}

impl FileError {
    /// The UPPERCASE code a partner sees.
    pub fn code(&self) -> &'static str {
        match self {
            FileError::TooLarge => "FILE_TOO_LARGE",
            FileError::TooManyRows => "TOO_MANY_ROWS",
            FileError::Empty => "EMPTY_FILE",
            FileError::InvalidHeader(_) => "INVALID_HEADER",
            FileError::NotUtf8 | FileError::UnclosedQuote(_) => "INVALID_FILE",
        }
    }
}

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

/// One data row as read from the file, before any of its fields is checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 1-based among the data rows (the header and blank lines are not counted).
    pub row: usize,
    /// The line of the file the row starts on, 1-based (the header is line 1 of a CSV file).
    pub line: usize,
    /// The row's fields by column name, an empty CSV cell left out; `Err` says why the line is
    /// not a row at all (INVALID_ROW).
    pub fields: Result<Map<String, Value>, String>,
}

/// Reads a whole file into rows, or refuses it as a whole (size, rows, header, encoding).
pub fn parse(bytes: &[u8], format: Format) -> Result<Vec<Row>, FileError> {
    if bytes.len() > MAX_BYTES {
        return Err(FileError::TooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| FileError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text); // a spreadsheet's byte-order mark
    let rows = match format {
        Format::Csv => csv_rows(text)?,
        Format::JsonLines => json_lines_rows(text)?,
    };
    if rows.is_empty() {
        return Err(FileError::Empty);
    }
    Ok(rows)
}

fn csv_rows(text: &str) -> Result<Vec<Row>, FileError> {
    let (records, unclosed) = csv::records(text);
    if let Some(line) = unclosed {
        return Err(FileError::UnclosedQuote(line));
    }
    let mut records = records.into_iter().filter(|r| !r.blank);
    let header = records.next().ok_or(FileError::Empty)?;
    let names = header.fields.map_err(|p| FileError::InvalidHeader(format!("it is not valid CSV: {p}")))?;
    let columns = header_columns(&names)?;
    let mut rows = Vec::new();
    for record in records {
        if rows.len() == MAX_ROWS {
            return Err(FileError::TooManyRows);
        }
        let fields = record.fields.map_err(str::to_string).and_then(|cells| {
            if cells.len() != columns.len() {
                return Err(format!("the row has {} fields, the header {}", cells.len(), columns.len()));
            }
            let present = columns.iter().zip(cells).filter(|(_, cell)| !cell.trim().is_empty());
            Ok(present.map(|(name, cell)| (name.to_string(), Value::String(cell))).collect())
        });
        rows.push(Row { row: rows.len() + 1, line: record.line, fields });
    }
    Ok(rows)
}

/// The header's column names in the file's order, spelled as in [`COLUMNS`] (they match in any
/// case); refuses unknown, repeated and missing columns.
fn header_columns(names: &[String]) -> Result<Vec<&'static str>, FileError> {
    let known = || COLUMNS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
    let mut columns = Vec::new();
    for name in names {
        let name = name.trim();
        let column = COLUMNS
            .iter()
            .map(|(n, _)| *n)
            .find(|n| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| FileError::InvalidHeader(format!("unknown column \"{name}\" (the columns are {})", known())))?;
        if columns.contains(&column) {
            return Err(FileError::InvalidHeader(format!("the column \"{column}\" appears twice")));
        }
        columns.push(column);
    }
    if let Some((missing, _)) = COLUMNS.iter().find(|(n, required)| *required && !columns.contains(n)) {
        return Err(FileError::InvalidHeader(format!("the required column \"{missing}\" is missing (the columns are {})", known())));
    }
    Ok(columns)
}

fn json_lines_rows(text: &str) -> Result<Vec<Row>, FileError> {
    let mut rows = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line_text = line.strip_suffix('\r').unwrap_or(line);
        if line_text.trim().is_empty() {
            continue;
        }
        if rows.len() == MAX_ROWS {
            return Err(FileError::TooManyRows);
        }
        let fields = match serde_json::from_str::<Value>(line_text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err("the line is not a JSON object".to_string()),
            Err(e) => Err(format!("the line is not valid JSON: {e}")),
        };
        rows.push(Row { row: rows.len() + 1, line: i + 1, fields });
    }
    Ok(rows)
}

/// A row's UPPERCASE code when it failed: the point APIs' refusals (`ledger::request`), or
/// INVALID_ROW (a line that is not a row at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowCode {
    InvalidRow,
    Refused(PointRefusal),
}

impl RowCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RowCode::InvalidRow => "INVALID_ROW",
            RowCode::Refused(r) => r.code(),
        }
    }
}

impl Serialize for RowCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Success,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "SUCCESS",
            Status::Failed => "FAILED",
        }
    }
}

/// What became of one row; the JSON result and the result file's line have the same fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RowResult {
    pub row: usize,
    pub line: usize,
    /// As the row gave it (trimmed), also when it is not valid.
    pub transaction_id: String,
    pub status: Status,
    /// Set when the row failed.
    pub code: Option<RowCode>,
    pub message: String,
    pub bit_reference: Option<String>,
    /// The change to the balance: positive for an accrual, negative for a redemption.
    pub points: Option<i64>,
    /// The balance right after this transaction was applied (for a replayed row, as it was then).
    pub new_balance: Option<i64>,
    /// True when this transactionId had already been applied with the same fields (by an earlier
    /// upload, an earlier row or the point API): nothing changed now, the answer is the original.
    pub replayed: bool,
}

impl RowResult {
    fn failed(row: &Row, transaction_id: String, code: RowCode, message: String) -> RowResult {
        RowResult {
            row: row.row,
            line: row.line,
            transaction_id,
            status: Status::Failed,
            code: Some(code),
            message,
            bit_reference: None,
            points: None,
            new_balance: None,
            replayed: false,
        }
    }

    fn succeeded(row: &Row, posted: Posted) -> RowResult {
        let message = if posted.replayed { "already applied; nothing changed" } else { "applied" };
        let e = posted.entry;
        RowResult {
            row: row.row,
            line: row.line,
            transaction_id: e.transaction_id,
            status: Status::Success,
            code: None,
            message: message.to_string(),
            bit_reference: Some(e.bit_reference),
            points: Some(e.points),
            new_balance: Some(e.balance_after),
            replayed: posted.replayed,
        }
    }
}

/// The row's transactionId as given, for its result line.
fn given_transaction_id(fields: &Map<String, Value>) -> String {
    match fields.get("transactionId") {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// The members met so far in this file: SkyJoy ID → member id (`None`: no such member).
type MemberCache = HashMap<SkyJoyId, Option<String>>;

/// Checks one row exactly as the point APIs check a request (`ledger::request`), then posts it.
async fn apply_row(
    db: &Db,
    rules: &EarningRules,
    client_id: &str,
    allow_debits: bool,
    members: &mut MemberCache,
    fields: &Map<String, Value>,
    now_ms: i64,
) -> Result<Posted, PointError> {
    let operation = Operation::parse(fields.get("type"))?;
    let request = PointRequest::try_from(RawPointRequest::from_object(operation, fields))?;
    let member_id = match members.get(&request.skyjoy_id) {
        Some(known) => known.clone(),
        None => {
            let found = members::find_by_skyjoy_id(db, &request.skyjoy_id).await.map_err(|e| match e {
                MemberError::Store(s) => PointError::Store(s),
                other => PointError::Store(StoreError::Internal(other.to_string())),
            })?;
            let found = found.map(|m| m.id);
            members.insert(request.skyjoy_id.clone(), found.clone());
            found
        }
    };
    let member_id = member_id.ok_or(PointRefusal::MemberNotFound)?;
    // The same posting as the point APIs make, so a row and an API call with one transactionId
    // are one transaction.
    let posting = request.posting(client_id, &member_id, rules.for_partner(client_id), allow_debits)?;
    Ok(super::post(db, &posting, now_ms).await?)
}

/// Applies every row on its own, in file order; a row's failure is its result, never the
/// others'. Stops only when the database fails ([`BatchError::Store`]).
pub async fn apply(db: &Db, rules: &EarningRules, client_id: &str, allow_debits: bool, rows: &[Row], now_ms: i64) -> Result<Vec<RowResult>, BatchError> {
    let mut members = MemberCache::new();
    let mut results = Vec::with_capacity(rows.len());
    for row in rows {
        let fields = match &row.fields {
            Ok(fields) => fields,
            Err(why) => {
                results.push(RowResult::failed(row, String::new(), RowCode::InvalidRow, why.clone()));
                continue;
            }
        };
        let result = match apply_row(db, rules, client_id, allow_debits, &mut members, fields, now_ms).await {
            Ok(posted) => RowResult::succeeded(row, posted),
            Err(PointError::Refused(r)) => RowResult::failed(row, given_transaction_id(fields), RowCode::Refused(r), r.message().to_string()),
            Err(PointError::Store(e)) => return Err(e.into()),
        };
        results.push(result);
    }
    Ok(results)
}

/// The result file: [`RESULT_HEADER`], then one line per row (CRLF line ends, RFC 4180).
pub fn result_csv(results: &[RowResult]) -> String {
    let mut out = String::with_capacity(64 * (results.len() + 1));
    out.push_str(RESULT_HEADER);
    out.push_str("\r\n");
    let opt = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    for r in results {
        let status = r.status.as_str();
        let (row, line, points, balance) = (r.row.to_string(), r.line.to_string(), opt(r.points), opt(r.new_balance));
        let code = r.code.map(RowCode::as_str).unwrap_or_default();
        let replayed = if r.replayed { "true" } else { "false" };
        csv::line(
            &mut out,
            &[&row, &line, &r.transaction_id, status, code, &r.message, r.bit_reference.as_deref().unwrap_or(""), &points, &balance, replayed],
        );
    }
    out
}

/// The result file of a file refused as a whole: one line, row 0, with the file's code.
pub fn refused_csv(e: &FileError) -> String {
    let mut out = format!("{RESULT_HEADER}\r\n");
    csv::line(&mut out, &["0", "0", "", "FAILED", e.code(), &e.to_string(), "", "", "", "false"]);
    out
}

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

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Csv => "CSV",
        Format::JsonLines => "JSONL",
    }
}

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
    .bind(format_name(upload.format))
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
pub async fn run(db: &Db, rules: &EarningRules, upload: Upload<'_>, now_ms: i64) -> Result<Processed, BatchError> {
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

type BatchRow = (String, String, Option<String>, String, String, i64, i64, i64, i64, i64);
const BATCH_COLUMNS: &str = "id, client_id, file_name, source, status, total, succeeded, failed, replayed, created_at";

fn from_row((id, client_id, file_name, source, status, total, succeeded, failed, replayed, created_at_ms): BatchRow) -> Batch {
    Batch {
        id,
        client_id,
        file_name,
        source: if source == Source::Inbound.as_str() { Source::Inbound } else { Source::Api },
        status: if status == BatchStatus::Done.as_str() { BatchStatus::Done } else { BatchStatus::Processing },
        total,
        succeeded,
        failed,
        replayed,
        created_at_ms,
    }
}

/// Applies the rows of an accepted batch and stores its results; the stored file is then
/// dropped. Run again on a batch cut short (a restart), it finishes it: the rows applied before
/// are replays in the ledger, never second postings.
pub async fn complete(db: &Db, rules: &EarningRules, id: &str, now_ms: i64) -> Result<Processed, BatchError> {
    let row: Option<BatchRow> =
        sqlx::query_as(&format!("SELECT {BATCH_COLUMNS} FROM ledger_batches WHERE id = $1")).bind(id).fetch_optional(db.pool()).await?;
    let stored: Option<(String, Option<Vec<u8>>, crate::store::Flag)> =
        sqlx::query_as("SELECT format, file, allow_debits FROM ledger_batches WHERE id = $1").bind(id).fetch_optional(db.pool()).await?;
    let (Some(row), Some((format, Some(file), allow_debits))) = (row, stored) else {
        return Err(BatchError::Store(StoreError::NotFound(format!("batch {id} with a file to process"))));
    };
    let batch = from_row(row);
    let format = if format == format_name(Format::JsonLines) { Format::JsonLines } else { Format::Csv };
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
    Ok(row.map(from_row))
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

#[cfg(test)]
mod tests;
