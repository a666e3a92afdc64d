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
    Json, Router,
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
use serde_json::json;

use super::{success, Partner, Path, SkyJoyError};
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
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
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
    #[serde(skip_serializing_if = "Option::is_none")]
    results: Option<Vec<RowResult>>,
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
fn file_name(uri: &Uri) -> Result<Option<String>, SkyJoyError> {
    let query = uri.query().unwrap_or("");
    let Some((_, name)) = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "fileName") else {
        return Ok(None);
    };
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

/// `POST /api-point/partner/v1/batch[?fileName=…]`: the body is the file (CSV or JSON Lines). A
/// file refused as a whole (header, size, rows) is a 400 and changes nothing. Otherwise every
/// row is applied or refused on its own: `200` with the summary and each row's result when that
/// is done within [`ANSWER_WITHIN`], else `202` with the summary (PROCESSING) to poll.
pub async fn upload(State(state): State<AppState>, partner: Partner, headers: HeaderMap, uri: Uri, body: Body) -> Result<Response, SkyJoyError> {
    partner.require("point:earn")?;
    let file_name = file_name(&uri)?;
    let format = file_format(&headers, file_name.as_deref())?;
    let bytes = read_file(body).await?;
    let allow_debits = partner.require("point:redeem").is_ok();
    let upload = Upload { client_id: &partner.client_id, file_name: file_name.as_deref(), source: Source::Api, format, bytes: &bytes, allow_debits };
    let accepted = batch::accept(&state.db, upload, domain::now_ms()).await.map_err(|e| match e {
        BatchError::File(f) => SkyJoyError::bad_request(f.code(), f.to_string()),
        BatchError::Store(s) => SkyJoyError::internal(s),
    })?;
    // Its own task: the rows are applied to the end even if the partner stops waiting.
    let task = tokio::spawn(complete(state.db.clone(), state.earning.clone(), state.worker.clone(), accepted.id.clone()));
    let wait = answer_within(&headers);
    let finished = if wait.is_zero() { None } else { tokio::time::timeout(wait, task).await.ok() };
    match finished {
        Some(Ok(Some(done))) => Ok(success(summary_of(done.batch, Some(done.results)))),
        Some(Ok(None)) => Err(SkyJoyError::internal(format!("batch {} stopped part-way", accepted.id))),
        Some(Err(e)) => Err(SkyJoyError::internal(e)),
        None => {
            let body = json!({ "statusCode": 202, "message": "ACCEPTED", "data": summary_of(accepted, None) });
            Ok((StatusCode::ACCEPTED, Json(body)).into_response())
        }
    }
}

/// `GET /api-point/partner/v1/batch/{batchId}`: the summary of one of the partner's batches.
pub async fn summary(State(state): State<AppState>, partner: Partner, input::Path(batch_id, ..): Path<String>) -> Result<Response, SkyJoyError> {
    partner.require("point:read")?;
    let b = batch::find(&state.db, &partner.client_id, &batch_id).await.map_err(SkyJoyError::internal)?.ok_or_else(not_found)?;
    Ok(success(summary_of(b, None)))
}

/// `GET /api-point/partner/v1/batch/{batchId}/result.csv`: the result file, one line per row
/// (`409 BATCH_PROCESSING` until it is done).
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
