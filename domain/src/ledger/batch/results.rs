//! The result file (README, "Batch uploads"): [`RESULT_HEADER`], then one line per row in file
//! order, RFC 4180 with CRLF line ends; a file refused as a whole gets one line, row 0.

use super::{FileError, RowCode, RowResult};
use crate::csv_file::Lines;

/// The result file's header; one line per data row follows, in file order.
pub const RESULT_HEADER: &str = "row,line,transactionId,status,code,message,bitReference,points,newBalance,replayed";

/// The result file: [`RESULT_HEADER`], then one line per row (CRLF line ends, RFC 4180).
pub fn result_csv(results: &[RowResult]) -> String {
    let mut out = Lines::with_capacity(64 * (results.len() + 1));
    out.push(RESULT_HEADER.split(','));
    let opt = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    for r in results {
        let status = r.status.as_str();
        let (row, line, points, balance) = (r.row.to_string(), r.line.to_string(), opt(r.points), opt(r.new_balance));
        let code = r.code.map(RowCode::as_str).unwrap_or_default();
        let replayed = if r.replayed { "true" } else { "false" };
        let bit_reference = r.bit_reference.as_deref().unwrap_or("");
        out.push([row.as_str(), line.as_str(), r.transaction_id.as_str(), status, code, r.message.as_str(), bit_reference, points.as_str(), balance.as_str(), replayed]);
    }
    out.into_string()
}

/// The result file of a file refused as a whole: one line, row 0, with the file's code.
pub fn refused_csv(e: &FileError) -> String {
    let mut out = Lines::with_header(RESULT_HEADER);
    out.push(["0", "0", "", "FAILED", e.code(), &e.to_string(), "", "", "", "false"]);
    out.into_string()
}
