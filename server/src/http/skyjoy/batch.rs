//! Batch point files over HTTP (counterparts.md §1.8: SkyJoy's file format and error codes were
//! not published; ours are in the README, "Batch uploads"). The rules — the file format, each
//! row's checks and codes, idempotency — are in `domain::ledger::batch`. Here a file is
//! accepted (or refused as a whole), its rows are applied in a task of their own, and the
//! partner gets the results at once when that takes less than [`ANSWER_WITHIN`], else a `202`
//! with the batch id to poll; a batch is read back only by the partner that sent it (any other
//! gets BATCH_NOT_FOUND). A batch cut short by a restart is finished by `workers::batch_files`.

use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};
use domain::{
    ledger::{
        batch::{self, Batch, BatchError, BatchStatus, Format, Processed, RowResult, Source, Upload},
        EarningRules,
    },
    Db,
};
use futures_util::StreamExt;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::{accepted, success, ErrorBody, Partner, Path, Refusals, SkyJoyError, Success};
use crate::http::{input, AppState};

const BATCH: &str = "/api-point/partner/v1/batch";

/// How long an upload waits for its rows before answering `202` (well inside SkyJoy's 30 s
/// gateway timeout, counterparts.md §1.1); `Prefer: respond-async` or `wait=N` (RFC 7240) asks
/// for less.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(BATCH, post(upload))
        .route(&format!("{BATCH}/{{batch_id}}"), get(summary))
        .route(&format!("{BATCH}/{{batch_id}}/result.csv"), get(result_file))
}

fn not_found() -> SkyJoyError {
    SkyJoyError::new(StatusCode::NOT_FOUND, "BATCH_NOT_FOUND", "No batch of yours has this id.")
}

/// A batch's summary; the upload's answer adds each row's result.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    batch_id: String,
    file_name: Option<String>,
    source: &'static str,
    /// PROCESSING, then DONE.
    status: &'static str,
    total: i64,
    succeeded: i64,
    failed: i64,
    replayed: i64,
    created_at: String,
    result_file: String,
    /// Each row's result, in file order (README "Batch uploads" names the fields and codes).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    results: Option<Vec<RowResult>>,
}

/// The upload's query string.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // the wire shape, for the document; read by `file_name`
pub struct UploadQuery {
    /// The file's name, kept with the batch: 1 to 255 characters, no path, no control characters.
    #[param(rename = "fileName", min_length = 1, max_length = 255, pattern = r"^[^/\\\u0000-\u001F\u007F-\u009F]+$")]
    file_name: Option<String>,
}

fn summary_of(b: Batch, results: Option<Vec<RowResult>>) -> Summary {
    Summary {
        result_file: format!("{BATCH}/{}/result.csv", b.id),
        batch_id: b.id,
        file_name: b.file_name,
        source: b.source.as_str(),
        status: b.status.as_str(),
        total: b.total,
        succeeded: b.succeeded,
        failed: b.failed,
        replayed: b.replayed,
        created_at: domain::clock::iso_utc(b.created_at_ms),
        results,
    }
}

/// `fileName` from the query string: 1 to 255 characters, no path and no control characters.
/// Any other parameter (a typo such as `filename`), or `fileName` twice, is refused.
fn file_name(uri: &Uri) -> Result<Option<String>, SkyJoyError> {
    let query = uri.query().unwrap_or("");
    let mut name = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if key != "fileName" {
            return Err(SkyJoyError::bad_request("BAD_REQUEST", format!("unknown query parameter {key:?}: the upload takes fileName only")));
        }
        if name.replace(value).is_some() {
            return Err(SkyJoyError::bad_request("BAD_REQUEST", "fileName is given twice"));
        }
    }
    let Some(name) = name else { return Ok(None) };
    let ok = !name.is_empty() && name.chars().count() <= 255 && !name.chars().any(|c| c.is_control() || c == '/' || c == '\\');
    if !ok {
        return Err(SkyJoyError::bad_request("INVALID_FILE_NAME", "fileName must be 1 to 255 characters, without a path"));
    }
    Ok(Some(name.into_owned()))
}

/// The file's format from its `Content-Type`, else (none, or `application/octet-stream`) from
/// the extension of `fileName`.
fn file_format(headers: &HeaderMap, file_name: Option<&str>) -> Result<Format, SkyJoyError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let generic = content_type.is_empty() || content_type.starts_with("application/octet-stream");
    let by_type = Format::from_media_type(content_type);
    let by_name = file_name.and_then(Format::from_file_name).filter(|_| generic);
    by_type.or(by_name).ok_or_else(|| {
        SkyJoyError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_FILE_TYPE",
            "Send the file as Content-Type text/csv or application/x-ndjson (JSON Lines).",
        )
    })
}

/// The request body, refused once it passes [`batch::MAX_BYTES`] (without reading the rest).
async fn read_file(body: Body) -> Result<Vec<u8>, SkyJoyError> {
    let too_large =
        || SkyJoyError::new(StatusCode::PAYLOAD_TOO_LARGE, "FILE_TOO_LARGE", format!("The file is larger than {} bytes.", batch::MAX_BYTES));
    let mut bytes = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| SkyJoyError::bad_request("BAD_REQUEST", format!("the file could not be read: {e}")))?;
        if bytes.len() + chunk.len() > batch::MAX_BYTES {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// How long the partner will wait: `Prefer: respond-async` is not at all, `Prefer: wait=N` is N
/// seconds, both capped at [`ANSWER_WITHIN`].
fn answer_within(headers: &HeaderMap) -> Duration {
    let prefer = headers.get_all("prefer").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim);
    let (mut respond_async, mut wait) = (false, None);
    for p in prefer {
        if p.eq_ignore_ascii_case("respond-async") {
            respond_async = true;
        } else if let Some(n) = p.strip_prefix("wait=").and_then(|n| n.parse::<u64>().ok()) {
            wait = Some(Duration::from_secs(n));
        }
    }
    let wait = wait.unwrap_or(if respond_async { Duration::ZERO } else { ANSWER_WITHIN });
    wait.min(ANSWER_WITHIN)
}

/// Applies an accepted batch's rows; `None` (logged) when the database failed, in which case the
/// batch stays PROCESSING and is finished after the next start.
async fn complete(db: Db, rules: Arc<EarningRules>, worker: domain::outbox::Worker, id: String) -> Option<Processed> {
    let done = batch::complete(&db, &rules, &id, domain::now_ms()).await;
    worker.wake(); // the rows' webhooks and notifications
    match done {
        Ok(done) => {
            let b = &done.batch;
            tracing::info!(batch = %b.id, client_id = %b.client_id, total = b.total, succeeded = b.succeeded, failed = b.failed, "batch file processed");
            Some(done)
        }
        Err(e) => {
            tracing::error!(batch = %id, error = %e, "a batch file stopped part-way; it is finished after the next start");
            None
        }
    }
}

/// A batch file of postings (CSV or JSON Lines).
///
/// Scope `point:earn` (and `point:redeem` for debit rows). The body is the file. A file refused
/// as a whole (header, size, rows) is a 400 and changes nothing. Otherwise every row is applied
/// or refused on its own: `200` with the summary and each row's result when that is done within
/// 10 seconds (`Prefer: wait=N` or `respond-async` asks for less), else `202` with the summary
/// (PROCESSING) to poll.
#[utoipa::path(
    post, path = "/api-point/partner/v1/batch", tag = "SkyJoy batch", operation_id = "batchUpload",
    security(("bearer" = ["point:earn"])),
    params(UploadQuery),
    request_body(content((String = "text/csv"), (String = "application/x-ndjson")), description = "The file, at most 8 MiB"),
    responses(
        (status = 200, description = "Done: the summary and each row's result", body = Success<Summary>),
        (status = 202, description = "Accepted, still being processed (`ACCEPTED`)", body = Success<Summary>),
        (status = 415, description = "Not CSV or JSON Lines (`UNSUPPORTED_FILE_TYPE`)", body = ErrorBody),
        Refusals,
    )
)]
pub async fn upload(State(state): State<AppState>, partner: Partner, headers: HeaderMap, uri: Uri, body: Body) -> Result<Response, SkyJoyError> {
    partner.require("point:earn")?;
    let file_name = file_name(&uri)?;
    let format = file_format(&headers, file_name.as_deref())?;
    let bytes = read_file(body).await?;
    let allow_debits = partner.require("point:redeem").is_ok();
    let upload = Upload { client_id: &partner.client_id, file_name: file_name.as_deref(), source: Source::Api, format, bytes: &bytes, allow_debits };
    let accepted_batch = batch::accept(&state.db, upload, domain::now_ms()).await.map_err(|e| match e {
        BatchError::File(f) => SkyJoyError::bad_request(f.code(), f.to_string()),
        BatchError::Store(s) => SkyJoyError::internal(s),
    })?;
    // Its own task: the rows are applied to the end even if the partner stops waiting.
    let task = tokio::spawn(complete(state.db.clone(), state.earning.clone(), state.worker.clone(), accepted_batch.id.clone()));
    let wait = answer_within(&headers);
    let finished = if wait.is_zero() { None } else { tokio::time::timeout(wait, task).await.ok() };
    match finished {
        Some(Ok(Some(done))) => Ok(success(summary_of(done.batch, Some(done.results)))),
        Some(Ok(None)) => Err(SkyJoyError::internal(format!("batch {} stopped part-way", accepted_batch.id))),
        Some(Err(e)) => Err(SkyJoyError::internal(e)),
        None => {
            Ok(accepted(summary_of(accepted_batch, None)))
        }
    }
}

/// A batch's summary.
///
/// Scope `point:read`. One of the calling partner's batches (any other is `BATCH_NOT_FOUND`).
#[utoipa::path(
    get, path = "/api-point/partner/v1/batch/{batchId}", tag = "SkyJoy batch", operation_id = "batchSummary",
    security(("bearer" = ["point:read"])),
    params(("batchId" = String, Path, description = "The id the upload answered")),
    responses(
        (status = 200, description = "The summary", body = Success<Summary>),
        (status = 404, description = "No batch of yours has this id (`BATCH_NOT_FOUND`)", body = ErrorBody),
        Refusals,
    )
)]
pub async fn summary(State(state): State<AppState>, partner: Partner, input::Path(batch_id, ..): Path<String>) -> Result<Response, SkyJoyError> {
    partner.require("point:read")?;
    let b = batch::find(&state.db, &partner.client_id, &batch_id).await.map_err(SkyJoyError::internal)?.ok_or_else(not_found)?;
    Ok(success(summary_of(b, None)))
}

/// A batch's result file.
///
/// Scope `point:read`. One CSV line per row, in file order (`409 BATCH_PROCESSING` until the
/// batch is done).
#[utoipa::path(
    get, path = "/api-point/partner/v1/batch/{batchId}/result.csv", tag = "SkyJoy batch", operation_id = "batchResultFile",
    security(("bearer" = ["point:read"])),
    params(("batchId" = String, Path, description = "The id the upload answered")),
    responses(
        (status = 200, description = "The result file", content_type = "text/csv", body = String),
        (status = 404, description = "No batch of yours has this id (`BATCH_NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "Still being processed (`BATCH_PROCESSING`)", body = ErrorBody),
        Refusals,
    )
)]
pub async fn result_file(State(state): State<AppState>, partner: Partner, input::Path(batch_id, ..): Path<String>) -> Result<Response, SkyJoyError> {
    partner.require("point:read")?;
    let db = &state.db;
    let b = batch::find(db, &partner.client_id, &batch_id).await.map_err(SkyJoyError::internal)?.ok_or_else(not_found)?;
    if b.status == BatchStatus::Processing {
        return Err(SkyJoyError::new(
            StatusCode::CONFLICT,
            "BATCH_PROCESSING",
            "The batch is still being processed; its summary says when it is done.",
        ));
    }
    let csv = batch::result_file(db, &partner.client_id, &b.id).await.map_err(SkyJoyError::internal)?.ok_or_else(not_found)?;
    let disposition = format!("attachment; filename=\"{}.result.csv\"", b.id); // our uuid: nothing to escape
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)], csv).into_response())
}
