//! `GET /miniapp/tikivip/reconciliation?date=YYYYMMDD&part=n`: the partner's reconciliation file
//! of a past day, made from the database when asked (the same rows and form as the file written to
//! OUTBOUND; statuses as they are now). The rules live in `domain::tikivip::reconcile`.

use axum::{
    extract::State,
    http::{header, HeaderMap},
    response::{IntoResponse, Response},
};
use domain::tikivip::{
    reconcile::{self, Day, MAX_ROWS},
    TikiError,
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::api::{signed_by, Query, TikiAnswer, TikiFailure};
use crate::http::{input, AppState};

/// The day and part to read.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReconciliationQuery {
    /// A past day in Vietnam time, `YYYYMMDD`.
    #[param(required = true, pattern = "^[0-9]{8}$")]
    date: Option<String>,
    /// The part, from 1 (a file holds at most 500,000 rows).
    #[param(pattern = "^[1-9][0-9]{0,8}$")]
    part: Option<String>,
}

/// A past day's reconciliation file.
///
/// Signed by the payment partner (the empty body). The CSV (`text/csv`, named by
/// `Content-Disposition`), or `{"code":1}` for a bad date or part and for a day not over yet in
/// Vietnam (T+1), `{"code":3}` for a part beyond the day's last.
#[utoipa::path(
    get, path = "/miniapp/tikivip/reconciliation", tag = "Tiki VIP", operation_id = "tikivipReconciliation",
    security(("tikivipClientId" = [], "tikivipTimestamp" = [], "tikivipSignature" = [])),
    params(ReconciliationQuery),
    responses(
        (status = 200, description = "The file, or a refusal's code", content((TikiFailure = "application/json"), (String = "text/csv"))),
        (status = 401, description = "Not signed right (code 1)", body = TikiFailure),
    )
)]
pub async fn reconciliation(State(state): State<AppState>, headers: HeaderMap, input::Query(q, ..): Query<ReconciliationQuery>) -> Result<Response, TikiAnswer> {
    let partner = signed_by(&state, &headers, b"").await?;
    let day = Day::parse(q.date.as_deref().unwrap_or_default())?;
    if !day.is_over(domain::now_ms()) {
        return Err(TikiError::Invalid(format!("the file of {day} is made once the day is over in Vietnam (T+1)")).into());
    }
    let part = match q.part.as_deref() {
        None => 1,
        Some(p) => p.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| TikiError::Invalid("part must be a whole number from 1".into()))?,
    };
    let payments = reconcile::payments_of_day(&state.db, &partner.partner_code, day).await?;
    let Some(file) = reconcile::daily_file(&partner.partner_code, day, &payments, MAX_ROWS, part) else {
        let parts = reconcile::parts(payments.len(), MAX_ROWS);
        return Err(TikiAnswer::failure(3, format!("no part {part}: the file of {day} has {parts} part(s)")));
    };
    let disposition = format!("attachment; filename=\"{}\"", file.name);
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)], file.csv).into_response())
}
