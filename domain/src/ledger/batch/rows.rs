//! Each row of a batch, checked exactly as the point APIs check a request (`ledger::request`:
//! one conversion, the same codes) and posted with [`crate::ledger::post`]; its outcome is a
//! [`RowResult`]. A row's failure is its own result, never the others'.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{BatchError, Row};
use crate::{
    identity::{
        members::{self, MemberError},
        SkyJoyId,
    },
    ledger::{
        request::{Operation, PointError, PointRefusal, PointRequest, RawPointRequest},
        EarningRules, Posted,
    },
    store::{Db, StoreError},
};

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
    Ok(crate::ledger::post(db, &posting, now_ms).await?)
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
