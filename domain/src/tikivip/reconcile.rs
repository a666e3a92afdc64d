//! Reconciliation (counterparts.md §4.6, issue 5): our daily file of a partner's payments, and the
//! comparison of the partner's file with our payments. The folders, the schedule, the API and the
//! command live in the server (`workers/reconcile_files.rs`, `http/tikivip/reconcile.rs`,
//! `joygate tikivip reconcile`); the rules live here.
//!
//! Where is each rule?
//! - the day: a calendar day in Vietnam (UTC+7), written `YYYYMMDD`; its payments are the ones
//!   *created* in it, whatever their status now ([`Day`], [`payments_of_day`]); a day's files are
//!   made once it is over (T+1);
//! - the names, `tikivip_{PARTNERCODE}_{YYYYMMDD}_{n}.csv` with n from 1 ([`FileName`]);
//! - our file ([`daily_files`]): [`HEADER`], then one row per payment, oldest first; RFC 4180 CSV,
//!   UTF-8 without BOM, CRLF line ends; `transaction_id` is the partner's, empty when it never
//!   gave one; times RFC 3339 in +07:00; at most `max_rows` ([`MAX_ROWS`]) rows per file;
//! - which part is a day's last ([`parts`]): the one with fewer than `max_rows` rows, so a day
//!   whose rows fill its parts exactly ends with a header-only part (and a day without payments
//!   is one header-only file). Partners' files follow the same rule;
//! - the partner's file ([`read_partner`], read record by record from the file, never whole;
//!   RFC 4180 by `crate::csv_file`): the six columns of [`HEADER`] named in a header row, in any
//!   order (other columns are ignored); CRLF or LF; each line that is not a row is an
//!   `INVALID_ROW` with its line number;
//! - the comparison and its issue codes ([`compare`], [`Issue`]); the mismatch file
//!   ([`Comparison::csv`], [`MISMATCH_HEADER`]).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::Read;

use serde::Serialize;
use time::{macros::offset, Date, Month, OffsetDateTime, UtcOffset};

use super::{
    payments::{self, Payment, Status},
    TikiError,
};
use crate::{
    clock::vietnam_rfc3339,
    csv_file::{self, Lines, Malformed},
    store::Db,
};

/// Tiki's limit: at most this many rows per file.
pub const MAX_ROWS: usize = 500_000;

/// The columns of our file, and the ones a partner's file must name.
pub const HEADER: &str = "tiki_transaction_id,transaction_id,transaction_amount,status,created_at,updated_at";

/// The mismatch file's columns.
pub const MISMATCH_HEADER: &str = "tiki_transaction_id,issue,ours,theirs,line";

const COLUMNS: [&str; 6] = ["tiki_transaction_id", "transaction_id", "transaction_amount", "status", "created_at", "updated_at"];

const VIETNAM: UtcOffset = offset!(+7);

/// A calendar day in Vietnam (UTC+7, no daylight saving): `[start_ms, end_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(Date);

impl Day {
    /// `YYYYMMDD`, a real date.
    pub fn parse(s: &str) -> Result<Day, TikiError> {
        let bad = || TikiError::Invalid("date must be a day written YYYYMMDD (Vietnam time)".into());
        if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let number = |range: std::ops::Range<usize>| s[range].parse::<i32>().map_err(|_| bad());
        let month = Month::try_from(u8::try_from(number(4..6)?).map_err(|_| bad())?).map_err(|_| bad())?;
        let day = u8::try_from(number(6..8)?).map_err(|_| bad())?;
        Date::from_calendar_date(number(0..4)?, month, day).map(Day).map_err(|_| bad())
    }

    /// The day (in Vietnam) of a moment in Unix ms.
    pub fn of(ms: i64) -> Day {
        let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Day(at.to_offset(VIETNAM).date())
    }

    /// 00:00 +07:00, in Unix ms.
    pub fn start_ms(self) -> i64 {
        self.0.midnight().assume_offset(VIETNAM).unix_timestamp() * 1000
    }

    /// The next day's 00:00 +07:00, in Unix ms (not part of this day).
    pub fn end_ms(self) -> i64 {
        self.start_ms() + 86_400_000
    }

    pub fn previous(self) -> Day {
        self.0.previous_day().map(Day).unwrap_or(self)
    }

    /// T+1: a day's files exist once it is over.
    pub fn is_over(self, now_ms: i64) -> bool {
        self.end_ms() <= now_ms
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}{:02}{:02}", self.0.year(), u8::from(self.0.month()), self.0.day())
    }
}

/// `tikivip_{PARTNERCODE}_{YYYYMMDD}_{n}.csv`: a partner's file of a day, part n (from 1).
/// Ordered by partner, then day, then part.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileName {
    pub partner_code: String,
    pub day: Day,
    pub part: u32,
}

impl FileName {
    pub fn new(partner_code: &str, day: Day, part: u32) -> FileName {
        FileName { partner_code: partner_code.to_string(), day, part }
    }

    /// The partner code may itself hold `_` (partner codes are letters, digits and `_`).
    pub fn parse(name: &str) -> Option<FileName> {
        let rest = name.strip_prefix("tikivip_")?.strip_suffix(".csv")?;
        let (rest, part) = rest.rsplit_once('_')?;
        let (partner_code, day) = rest.rsplit_once('_')?;
        let code_ok = !partner_code.is_empty() && partner_code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let part_ok = (1..=9).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit()) && !part.starts_with('0');
        if !code_ok || !part_ok {
            return None;
        }
        Some(FileName { partner_code: partner_code.to_string(), day: Day::parse(day).ok()?, part: part.parse().ok()? })
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tikivip_{}_{}_{}.csv", self.partner_code, self.day, self.part)
    }
}

/// A partner's payments created on `day`, oldest first.
pub async fn payments_of_day(db: &Db, partner_code: &str, day: Day) -> Result<Vec<Payment>, TikiError> {
    payments::created_between(db, partner_code, day.start_ms(), day.end_ms()).await
}

/// How many files a day of `rows` payments takes: the last one always has fewer than `max_rows`.
pub fn parts(rows: usize, max_rows: usize) -> u32 {
    u32::try_from(rows / max_rows.max(1) + 1).unwrap_or(u32::MAX)
}

/// One of our files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyFile {
    pub name: FileName,
    /// Data rows (the header not counted).
    pub rows: usize,
    pub csv: String,
}

/// Part `part` of our file of `day` (`None` beyond the last); `payments`: the partner's
/// payments of the day, oldest first ([`payments_of_day`]).
pub fn daily_file(partner_code: &str, day: Day, payments: &[Payment], max_rows: usize, part: u32) -> Option<DailyFile> {
    let max_rows = max_rows.max(1);
    if part == 0 || part > parts(payments.len(), max_rows) {
        return None;
    }
    let from = (part as usize - 1).saturating_mul(max_rows).min(payments.len());
    let rows = &payments[from..from.saturating_add(max_rows).min(payments.len())];
    let mut csv = Lines::with_capacity(HEADER.len() + 2 + rows.len() * 120);
    csv.push(HEADER.split(','));
    for p in rows {
        let (amount, created, updated) = (p.amount.to_string(), vietnam_rfc3339(p.created_at_ms), vietnam_rfc3339(p.updated_at_ms));
        let transaction_id = p.partner_transaction_id.as_deref().unwrap_or("");
        csv.push([p.tiki_transaction_id.as_str(), transaction_id, &amount, p.status.as_str(), &created, &updated]);
    }
    let csv = csv.into_string();
    Some(DailyFile { name: FileName::new(partner_code, day, part), rows: rows.len(), csv })
}

/// Every part of our file of `day`: at least one.
pub fn daily_files(partner_code: &str, day: Day, payments: &[Payment], max_rows: usize) -> Vec<DailyFile> {
    (1..=parts(payments.len(), max_rows)).filter_map(|part| daily_file(partner_code, day, payments, max_rows, part)).collect()
}

/// A row of the partner's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerRow {
    pub line: usize,
    pub tiki_transaction_id: String,
    pub transaction_id: Option<String>,
    pub amount: i64,
    pub status: Status,
}

/// A line of the partner's file that is not a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRow {
    pub line: usize,
    /// When it could be read.
    pub tiki_transaction_id: String,
    pub reason: String,
}

/// The partner's file, read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartnerFile {
    pub rows: Vec<PartnerRow>,
    pub invalid: Vec<InvalidRow>,
    /// Lines after the header that are not blank, rows or not.
    pub data_lines: usize,
    /// The header is right and every line could be split into fields (no quote left open):
    /// only such a file can be a day's last part.
    pub whole: bool,
}

impl PartnerFile {
    /// A file none of which can be read, for `reason` (e.g. too large to read).
    pub fn unreadable(line: usize, reason: impl Into<String>) -> PartnerFile {
        PartnerFile { invalid: vec![InvalidRow { line, tiki_transaction_id: String::new(), reason: reason.into() }], ..PartnerFile::default() }
    }

    /// The day's last part has fewer than `max_rows` rows ([`parts`]).
    pub fn is_last_part(&self, max_rows: usize) -> bool {
        self.whole && self.data_lines < max_rows.max(1)
    }

    /// The Tiki transaction ids it names, in rows and in readable invalid lines.
    pub fn tiki_transaction_ids(&self) -> impl Iterator<Item = &str> {
        let invalid = self.invalid.iter().map(|i| i.tiki_transaction_id.as_str()).filter(|id| !id.is_empty());
        self.rows.iter().map(|r| r.tiki_transaction_id.as_str()).chain(invalid)
    }
}

/// Reads a partner's file held in memory ([`read_partner`]).
pub fn read_partner_file(bytes: &[u8]) -> PartnerFile {
    // reading from memory cannot fail
    read_partner(bytes).unwrap_or_else(|e| PartnerFile::unreadable(1, format!("the file cannot be read: {e}")))
}

/// Reads a partner's file record by record (a file is never held whole, only its rows); fails
/// only when `input` does: what cannot be read is an [`InvalidRow`]. A file that is not UTF-8
/// or whose header is wrong is one invalid line and nothing else.
pub fn read_partner(input: impl Read) -> std::io::Result<PartnerFile> {
    let mut records = csv_file::records(input)?;
    let Some(header) = records.next().transpose()? else {
        return Ok(PartnerFile::unreadable(1, format!("the file is empty: the header {HEADER} is required")));
    };
    let names = match header.fields {
        Ok(names) => names,
        Err(Malformed::NotUtf8 { line }) => return Ok(PartnerFile::unreadable(line, NOT_UTF8)),
        Err(reason) => return Ok(PartnerFile::unreadable(header.line, format!("the header is not right: {reason}"))),
    };
    let positions = match header_positions(&names) {
        Ok(positions) => positions,
        Err(reason) => return Ok(PartnerFile::unreadable(header.line, format!("the header is not right: {reason}"))),
    };
    let mut file = PartnerFile { whole: true, ..PartnerFile::default() };
    let mut first_line: HashMap<String, usize> = HashMap::new();
    for record in records {
        let record = record?;
        file.data_lines += 1;
        let line = record.line;
        let cells = match record.fields {
            Ok(cells) => cells,
            Err(Malformed::NotUtf8 { line }) => return Ok(PartnerFile::unreadable(line, NOT_UTF8)),
            Err(reason) => {
                let unclosed = matches!(reason, Malformed::Unclosed { .. });
                file.whole &= !unclosed;
                let reason = if unclosed { UNCLOSED.to_string() } else { reason.to_string() };
                file.invalid.push(InvalidRow { line, tiki_transaction_id: String::new(), reason });
                continue;
            }
        };
        let id = cells.get(positions[0]).map(|c| c.trim().to_string()).unwrap_or_default();
        let invalid = |reason: String| InvalidRow { line, tiki_transaction_id: id.clone(), reason };
        if cells.len() != names.len() {
            file.invalid.push(invalid(format!("the row has {} fields, the header {}", cells.len(), names.len())));
            continue;
        }
        let cell = |column: usize| cells[positions[column]].trim();
        if id.is_empty() {
            file.invalid.push(invalid("tiki_transaction_id is empty".into()));
            continue;
        }
        let Some(amount) = cell(2).parse::<i64>().ok().filter(|a| *a >= 0) else {
            file.invalid.push(invalid(format!("transaction_amount must be a whole number of VND, not \"{}\"", shown(cell(2)))));
            continue;
        };
        let Some(status) = Status::parse(cell(3)) else {
            file.invalid.push(invalid(format!("status must be SUCCESS, FAILURE, PENDING or CANCELLED, not \"{}\"", shown(cell(3)))));
            continue;
        };
        if let Some(first) = first_line.get(&id) {
            file.invalid.push(invalid(format!("tiki_transaction_id already on line {first}")));
            continue;
        }
        first_line.insert(id.clone(), line);
        let transaction_id = Some(cell(1).to_string()).filter(|t| !t.is_empty());
        file.rows.push(PartnerRow { line, tiki_transaction_id: id, transaction_id, amount, status });
    }
    Ok(file)
}

const NOT_UTF8: &str = "the file is not UTF-8 text";

/// Each of [`COLUMNS`]' place in the partner's header (names in any case; others ignored).
fn header_positions(names: &[String]) -> Result<Vec<usize>, String> {
    let mut positions = Vec::with_capacity(COLUMNS.len());
    for column in COLUMNS {
        let mut found = names.iter().enumerate().filter(|(_, n)| n.trim().eq_ignore_ascii_case(column)).map(|(i, _)| i);
        match (found.next(), found.next()) {
            (Some(i), None) => positions.push(i),
            (Some(_), Some(_)) => return Err(format!("the column {column} appears twice")),
            (None, _) => return Err(format!("the column {column} is missing (the columns are {HEADER})")),
        }
    }
    Ok(positions)
}

/// A value of theirs as it may appear in a reason: at most 40 characters.
fn shown(value: &str) -> String {
    value.chars().take(40).collect()
}

/// What differs for one Tiki transaction id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issue {
    /// Ours only (reported by the day's last part: in none of the day's parts).
    MissingAtPartner,
    /// Theirs only: no payment of this partner with this id was created on the file's day.
    MissingAtTiki,
    Status,
    Amount,
    /// The partner's transaction id differs (ours empty: it never told us one).
    TransactionId,
    /// A line of their file that is not a row; `theirs` says why.
    InvalidRow,
}

impl Issue {
    pub fn as_str(self) -> &'static str {
        match self {
            Issue::MissingAtPartner => "MISSING_AT_PARTNER",
            Issue::MissingAtTiki => "MISSING_AT_TIKI",
            Issue::Status => "STATUS",
            Issue::Amount => "AMOUNT",
            Issue::TransactionId => "TRANSACTION_ID",
            Issue::InvalidRow => "INVALID_ROW",
        }
    }
}

/// One line of the mismatch file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub tiki_transaction_id: String,
    pub issue: Issue,
    /// The status for `MISSING_*`, the differing value otherwise; empty for what we lack.
    pub ours: String,
    pub theirs: String,
    /// The line in their file (none for `MISSING_AT_PARTNER`).
    pub line: Option<usize>,
}

/// Transactions looked at (`compared` = `matched` + `mismatched`), and their lines that are not rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub compared: usize,
    pub matched: usize,
    pub mismatched: usize,
    pub invalid: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// In their file's line order, then `MISSING_AT_PARTNER` in our order.
    pub mismatches: Vec<Mismatch>,
    pub summary: Summary,
}

impl Comparison {
    /// [`MISMATCH_HEADER`], then one line per mismatch (CRLF, RFC 4180); only the header when
    /// everything matched.
    pub fn csv(&self) -> String {
        let mut out = Lines::with_header(MISMATCH_HEADER);
        for m in &self.mismatches {
            let line = m.line.map(|l| l.to_string()).unwrap_or_default();
            out.push([m.tiki_transaction_id.as_str(), m.issue.as_str(), &m.ours, &m.theirs, &line]);
        }
        out.into_string()
    }
}

/// Compares one part of the partner's file of a day with `ours`, our payments of that day.
/// Every row of `theirs` is checked against our payment with its id (status, amount, partner
/// transaction id — one line each — or `MISSING_AT_TIKI`). `earlier_parts`: `Some(the ids in the
/// day's parts before this one)` when `theirs` is the day's last part
/// ([`PartnerFile::is_last_part`]; an empty set for part 1); then our payments in none of the
/// parts are `MISSING_AT_PARTNER`. `None` for a part that is not the last.
pub fn compare(ours: &[Payment], theirs: &PartnerFile, earlier_parts: Option<&HashSet<String>>) -> Comparison {
    let by_id: HashMap<&str, &Payment> = ours.iter().map(|p| (p.tiki_transaction_id.as_str(), p)).collect();
    let mut c = Comparison::default();
    let mut at_lines = Vec::new();
    for row in &theirs.rows {
        c.summary.compared += 1;
        let mismatch = |issue, ours: String, theirs: String| Mismatch {
            tiki_transaction_id: row.tiki_transaction_id.clone(),
            issue,
            ours,
            theirs,
            line: Some(row.line),
        };
        let Some(p) = by_id.get(row.tiki_transaction_id.as_str()) else {
            c.summary.mismatched += 1;
            at_lines.push(mismatch(Issue::MissingAtTiki, String::new(), row.status.as_str().into()));
            continue;
        };
        let before = at_lines.len();
        if p.status != row.status {
            at_lines.push(mismatch(Issue::Status, p.status.as_str().into(), row.status.as_str().into()));
        }
        if p.amount != row.amount {
            at_lines.push(mismatch(Issue::Amount, p.amount.to_string(), row.amount.to_string()));
        }
        if p.partner_transaction_id != row.transaction_id {
            at_lines.push(mismatch(
                Issue::TransactionId,
                p.partner_transaction_id.clone().unwrap_or_default(),
                row.transaction_id.clone().unwrap_or_default(),
            ));
        }
        if at_lines.len() == before {
            c.summary.matched += 1;
        } else {
            c.summary.mismatched += 1;
        }
    }
    for bad in &theirs.invalid {
        c.summary.invalid += 1;
        at_lines.push(Mismatch {
            tiki_transaction_id: bad.tiki_transaction_id.clone(),
            issue: Issue::InvalidRow,
            ours: String::new(),
            theirs: bad.reason.clone(),
            line: Some(bad.line),
        });
    }
    at_lines.sort_by_key(|m| m.line); // stable: a row's issues keep their order
    c.mismatches = at_lines;
    if let Some(earlier) = earlier_parts {
        let in_file: HashSet<&str> = theirs.tiki_transaction_ids().collect();
        for p in ours.iter().filter(|p| !in_file.contains(p.tiki_transaction_id.as_str()) && !earlier.contains(&p.tiki_transaction_id)) {
            c.summary.compared += 1;
            c.summary.mismatched += 1;
            c.mismatches.push(Mismatch {
                tiki_transaction_id: p.tiki_transaction_id.clone(),
                issue: Issue::MissingAtPartner,
                ours: p.status.as_str().into(),
                theirs: String::new(),
                line: None,
            });
        }
    }
    c
}

const UNCLOSED: &str = "a quote is never closed: the rest of the file cannot be read";

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{
        store::testing::temp_db,
        tikivip::{
            customers::{self, CustomerRequest},
            Plan,
        },
    };

    /// 2026-11-23T00:00:00+07:00.
    const D0: i64 = 1_795_366_800_000;

    fn day() -> Day {
        Day::parse("20261123").unwrap()
    }

    fn payment(id: &str, partner_id: Option<&str>, amount: i64, status: Status, created_at_ms: i64) -> Payment {
        Payment {
            tiki_transaction_id: id.into(),
            partner_code: "walletx".into(),
            customer_id: "c".into(),
            plan_code: "VIP1M".into(),
            amount,
            status,
            partner_transaction_id: partner_id.map(str::to_string),
            payment_url: None,
            partner_banking_method: None,
            refunded_amount: 0,
            vip_granted: false,
            created_at_ms,
            updated_at_ms: created_at_ms + 60_000,
        }
    }

    fn lines(csv: &str) -> Vec<&str> {
        csv.strip_suffix("\r\n").unwrap_or(csv).split("\r\n").collect()
    }

    #[test]
    fn days_are_vietnam_calendar_days() {
        let d = day();
        assert_eq!((d.start_ms(), d.end_ms(), d.to_string()), (D0, D0 + 86_400_000, "20261123".to_string()));
        assert_eq!(Day::of(D0), d);
        assert_eq!(Day::of(D0 - 1).to_string(), "20261122", "23:59:59.999 +07 is the day before");
        assert_eq!(Day::of(D0 + 86_400_000 - 1), d);
        assert_eq!(d.previous().to_string(), "20261122");
        assert_eq!(Day::parse("20260301").unwrap().previous().to_string(), "20260228");
        assert!(!d.is_over(D0 + 86_400_000 - 1) && d.is_over(D0 + 86_400_000), "T+1");
        for bad in ["2026-11-23", "20261323", "20260230", "2026112", "202611230", "+2026112", ""] {
            assert!(matches!(Day::parse(bad), Err(TikiError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn file_names_read_back_and_the_partner_code_may_hold_underscores() {
        let name = FileName::new("vnpt_money", day(), 12);
        assert_eq!(name.to_string(), "tikivip_vnpt_money_20261123_12.csv");
        assert_eq!(FileName::parse("tikivip_vnpt_money_20261123_12.csv"), Some(name));
        for bad in [
            "tikivip_vnpt_20261123_1",
            "tikivip_vnpt_20261123_0.csv",
            "tikivip_vnpt_20261123_01.csv",
            "tikivip_vnpt_20261323_1.csv",
            "tikivip__20261123_1.csv",
            "tikivip_20261123_1.csv",
            "tikivip_vn-pt_20261123_1.csv",
            "tikivip_vnpt_20261123_1.csv.tmp",
            "tikivip_vnpt_20261123_1.csv.mismatches.csv",
            "TIKIVIP_vnpt_20261123_1.csv",
        ] {
            assert_eq!(FileName::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn our_file_has_one_row_per_payment_in_vietnam_time_with_rfc_4180_quoting() {
        let payments = [
            payment("261123TIKIVIP-1-1795417509", Some("P-1"), 99_000, Status::Success, 1_795_417_509_000),
            payment("261123TIKIVIP-2-1795417510", Some("P,\"2\""), 269_000, Status::Failure, 1_795_417_510_000),
            payment("261123TIKIVIP-3-1795417511", None, 899_000, Status::Pending, 1_795_417_511_000),
        ];
        let files = daily_files("walletx", day(), &payments, MAX_ROWS);
        assert_eq!(files.len(), 1);
        let f = &files[0];
        assert_eq!((f.name.to_string(), f.rows), ("tikivip_walletx_20261123_1.csv".to_string(), 3));
        assert_eq!(
            lines(&f.csv),
            [
                HEADER,
                "261123TIKIVIP-1-1795417509,P-1,99000,SUCCESS,2026-11-23T14:05:09+07:00,2026-11-23T14:06:09+07:00",
                "261123TIKIVIP-2-1795417510,\"P,\"\"2\"\"\",269000,FAILURE,2026-11-23T14:05:10+07:00,2026-11-23T14:06:10+07:00",
                "261123TIKIVIP-3-1795417511,,899000,PENDING,2026-11-23T14:05:11+07:00,2026-11-23T14:06:11+07:00",
            ]
        );
        assert!(f.csv.ends_with("\r\n") && !f.csv.starts_with('\u{feff}'));
        // our file, read as a partner's, matches itself
        let read = read_partner_file(f.csv.as_bytes());
        assert_eq!(read.rows[1].transaction_id.as_deref(), Some("P,\"2\""));
        assert_eq!(compare(&payments, &read, Some(&HashSet::new())).summary, Summary { compared: 3, matched: 3, mismatched: 0, invalid: 0 });
    }

    #[test]
    fn files_split_at_max_rows_and_the_last_part_is_never_full() {
        let payments: Vec<Payment> = (0..5).map(|i| payment(&format!("T-{i}"), None, 99_000, Status::Success, D0 + i)).collect();
        let rows = |n: usize| daily_files("walletx", day(), &payments[..n], 2).iter().map(|f| f.rows).collect::<Vec<_>>();
        assert_eq!(rows(5), [2, 2, 1]);
        assert_eq!(rows(4), [2, 2, 0], "full parts end with a header-only part");
        assert_eq!(rows(1), [1]);
        assert_eq!(rows(0), [0], "a day without payments: one header-only file");
        let files = daily_files("walletx", day(), &payments, 2);
        assert_eq!(files.iter().map(|f| f.name.part).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(lines(&files[1].csv)[1..].iter().map(|l| &l[..3]).collect::<Vec<_>>(), ["T-2", "T-3"]);
        assert_eq!(lines(&daily_file("walletx", day(), &[], 2, 1).unwrap().csv), [HEADER]);
        assert!(daily_file("walletx", day(), &payments, 2, 4).is_none() && daily_file("walletx", day(), &payments, 2, 0).is_none());
        assert_eq!((parts(0, MAX_ROWS), parts(MAX_ROWS - 1, MAX_ROWS), parts(MAX_ROWS, MAX_ROWS)), (1, 1, 2));
        let part = |csv: &str| read_partner_file(csv.as_bytes()).is_last_part(2);
        assert_eq!(files.iter().map(|f| part(&f.csv)).collect::<Vec<_>>(), [false, false, true]);
    }

    #[tokio::test]
    async fn a_day_holds_the_payments_created_from_midnight_to_midnight_in_vietnam() {
        let (_d, db) = temp_db().await;
        crate::tikivip::tests::two_partners(&db, D0).await;
        let mut ids = Vec::new();
        for (i, (partner, at)) in
            [("walletx", D0 - 1), ("walletx", D0), ("othery", D0 + 5), ("walletx", D0 + 86_400_000 - 1), ("walletx", D0 + 86_400_000)]
                .into_iter()
                .enumerate()
        {
            let req = CustomerRequest { identify_code: format!("C-{i}"), phone: "0912345678".into(), full_name: None };
            let c = customers::open_link(&db, partner, &req, 60_000, at).await.unwrap().customer;
            ids.push(payments::open_payment(&db, &c, &Plan::defaults()[0], at).await.unwrap().0.tiki_transaction_id);
        }
        let of_day = payments_of_day(&db, "walletx", day()).await.unwrap();
        assert_eq!(of_day.iter().map(|p| p.tiki_transaction_id.clone()).collect::<Vec<_>>(), [ids[1].clone(), ids[3].clone()]);
        let csv = &daily_files("walletx", day(), &of_day, MAX_ROWS)[0].csv;
        assert!(lines(csv)[1].ends_with(",PENDING,2026-11-23T00:00:00+07:00,2026-11-23T00:00:00+07:00"), "{csv}");
        assert!(lines(csv)[2].contains(",2026-11-23T23:59:59+07:00,"), "{csv}");
    }

    fn ours() -> Vec<Payment> {
        vec![
            payment("A", Some("P-A"), 99_000, Status::Success, D0 + 1),
            payment("B", Some("P-B"), 99_000, Status::Success, D0 + 2),
            payment("C", Some("P-C"), 99_000, Status::Success, D0 + 3),
            payment("E", Some("P-E"), 99_000, Status::Success, D0 + 4),
            payment("F", None, 99_000, Status::Pending, D0 + 5),
            payment("H", Some("P-H"), 269_000, Status::Failure, D0 + 6),
        ]
    }

    /// Their file: columns in another order, LF line ends, one mismatch of each kind.
    const THEIRS: &str = "status,tiki_transaction_id,transaction_amount,transaction_id,updated_at,created_at\n\
        SUCCESS,A,99000,P-A,2026-11-23T10:00:00+07:00,2026-11-23T10:00:00+07:00\n\
        FAILURE,B,99000,P-B,x,x\n\
        SUCCESS,C,98000,P-C,,\n\
        SUCCESS,E,99000,P-X,,\n\
        SUCCESS,G,99000,P-G,,\n\
        \n\
        SUCCESS,H,abc,P-H,,\n\
        CANCELLED,\"H2\",269000,,,\n";

    #[test]
    fn each_kind_of_mismatch_is_reported_with_both_values() {
        let theirs = read_partner_file(THEIRS.as_bytes());
        assert!(theirs.whole && theirs.data_lines == 7 && theirs.is_last_part(MAX_ROWS));
        let c = compare(&ours(), &theirs, Some(&HashSet::new()));
        let got: Vec<(&str, &str, &str, &str, Option<usize>)> =
            c.mismatches.iter().map(|m| (m.tiki_transaction_id.as_str(), m.issue.as_str(), m.ours.as_str(), m.theirs.as_str(), m.line)).collect();
        assert_eq!(
            got,
            [
                ("B", "STATUS", "SUCCESS", "FAILURE", Some(3)),
                ("C", "AMOUNT", "99000", "98000", Some(4)),
                ("E", "TRANSACTION_ID", "P-E", "P-X", Some(5)),
                ("G", "MISSING_AT_TIKI", "", "SUCCESS", Some(6)),
                ("H", "INVALID_ROW", "", "transaction_amount must be a whole number of VND, not \"abc\"", Some(8)),
                ("H2", "MISSING_AT_TIKI", "", "CANCELLED", Some(9)),
                ("F", "MISSING_AT_PARTNER", "PENDING", "", None),
            ]
        );
        // H is in their file, if unreadable: not missing at the partner
        assert_eq!(c.summary, Summary { compared: 7, matched: 1, mismatched: 6, invalid: 1 });
        assert_eq!(
            lines(&c.csv()),
            [
                MISMATCH_HEADER,
                "B,STATUS,SUCCESS,FAILURE,3",
                "C,AMOUNT,99000,98000,4",
                "E,TRANSACTION_ID,P-E,P-X,5",
                "G,MISSING_AT_TIKI,,SUCCESS,6",
                "H,INVALID_ROW,,\"transaction_amount must be a whole number of VND, not \"\"abc\"\"\",8",
                "H2,MISSING_AT_TIKI,,CANCELLED,9",
                "F,MISSING_AT_PARTNER,PENDING,,",
            ]
        );

        // one row, three differences: three lines, one mismatched transaction
        let all = read_partner_file(format!("{HEADER}\r\nA,,1,FAILURE,,\r\n").as_bytes());
        let c = compare(&ours()[..1], &all, None);
        assert_eq!(c.mismatches.iter().map(|m| m.issue).collect::<Vec<_>>(), [Issue::Status, Issue::Amount, Issue::TransactionId]);
        assert_eq!((c.summary.compared, c.summary.mismatched), (1, 1));
        assert_eq!(c.mismatches[2].theirs, "", "they gave no transaction id");
    }

    #[test]
    fn missing_at_partner_waits_for_the_days_last_part_and_counts_every_part() {
        let first = read_partner_file(format!("{HEADER}\nA,P-A,99000,SUCCESS,,\nB,P-B,99000,SUCCESS,,\n").as_bytes());
        assert!(!first.is_last_part(2), "a full part: more follow");
        assert!(compare(&ours(), &first, None).mismatches.is_empty());
        let last = read_partner_file(format!("{HEADER}\nC,P-C,99000,SUCCESS,,\n").as_bytes());
        assert!(last.is_last_part(2));
        let earlier: HashSet<String> = first.tiki_transaction_ids().map(str::to_string).collect();
        let c = compare(&ours(), &last, Some(&earlier));
        assert_eq!(
            c.mismatches.iter().map(|m| (m.tiki_transaction_id.as_str(), m.issue)).collect::<Vec<_>>(),
            [("E", Issue::MissingAtPartner), ("F", Issue::MissingAtPartner), ("H", Issue::MissingAtPartner)]
        );
        assert_eq!(c.summary, Summary { compared: 4, matched: 1, mismatched: 3, invalid: 0 });
        let empty_last = read_partner_file(format!("{HEADER}\r\n").as_bytes());
        assert!(empty_last.is_last_part(2) && empty_last.whole);
    }

    #[test]
    fn bad_lines_are_invalid_rows_with_their_line_numbers() {
        let file = format!(
            "\u{feff}{HEADER}\r\n\
             A,P-A,99000,SUCCESS,,\r\n\
             B,P-B,99000,SUCCESS\r\n\
             ,P-X,99000,SUCCESS,,\r\n\
             C,P-C,99000,PAID,,\r\n\
             C2,P-C,-5,SUCCESS,,\r\n\
             C3,P-C,99000.0,SUCCESS,,\r\n\
             A,P-A,99000,SUCCESS,,\r\n\
             E,P\"E,99000,SUCCESS,,\r\n\
             \"F\"x,P-F,99000,SUCCESS,,\r\n\
             \"G\nstill G\",P-G,99000,SUCCESS,,,\r\n\
             H,\"P-H\",99000,SUCCESS,,\r\n\
             I,P-I,99000,SUCCESS,\"never closed\r\n\
             J,P-J,99000,SUCCESS,,\r\n"
        );
        let read = read_partner_file(file.as_bytes());
        let invalid: Vec<(usize, &str, &str)> = read.invalid.iter().map(|i| (i.line, i.tiki_transaction_id.as_str(), i.reason.as_str())).collect();
        assert_eq!(
            invalid,
            [
                (3, "B", "the row has 4 fields, the header 6"),
                (4, "", "tiki_transaction_id is empty"),
                (5, "C", "status must be SUCCESS, FAILURE, PENDING or CANCELLED, not \"PAID\""),
                (6, "C2", "transaction_amount must be a whole number of VND, not \"-5\""),
                (7, "C3", "transaction_amount must be a whole number of VND, not \"99000.0\""),
                (8, "A", "tiki_transaction_id already on line 2"),
                (9, "", "a field that is not quoted has a quote in it"),
                (10, "", "a quoted field has characters after its closing quote"),
                (11, "G\nstill G", "the row has 7 fields, the header 6"),
                (14, "", UNCLOSED),
            ]
        );
        assert_eq!(read.rows.iter().map(|r| (r.line, r.tiki_transaction_id.as_str())).collect::<Vec<_>>(), [(2, "A"), (13, "H")]);
        assert!(!read.whole && !read.is_last_part(MAX_ROWS), "a quote never closed: the rest is unknown");
        let c = compare(&ours(), &read, None);
        assert_eq!(c.summary.invalid, 10);
        assert!(c.csv().contains("\r\nB,INVALID_ROW,,\"the row has 4 fields, the header 6\",3\r\n"), "{}", c.csv());
    }

    #[test]
    fn a_file_without_a_right_header_is_one_invalid_line() {
        for (file, line, reason) in [
            ("", 1, "the file is empty"),
            ("\r\n\r\n", 1, "the file is empty"),
            ("A,P-A,99000,SUCCESS,,\n", 1, "the header is not right: the column tiki_transaction_id is missing"),
            (
                "\ntiki_transaction_id,transaction_id,transaction_amount,status,created_at\n",
                2,
                "the header is not right: the column updated_at is missing",
            ),
            (
                "tiki_transaction_id,TIKI_TRANSACTION_ID,transaction_id,transaction_amount,status,created_at,updated_at\n",
                1,
                "the header is not right: the column tiki_transaction_id appears twice",
            ),
            ("tiki_transaction_id,\"transaction_id\n", 1, "the header is not right: a quote is never closed"),
        ] {
            let read = read_partner_file(file.as_bytes());
            assert!(read.rows.is_empty() && !read.whole && read.invalid.len() == 1, "{file:?}");
            assert_eq!(read.invalid[0].line, line, "{file:?}");
            assert!(read.invalid[0].reason.starts_with(reason), "{file:?}: {}", read.invalid[0].reason);
            assert!(compare(&ours(), &read, None).mismatches.len() == 1);
        }
        let latin1 = b"tiki_transaction_id,transaction_id,transaction_amount,status,created_at,updated_at\nA,Nguy\xe9n,1,SUCCESS,,\n";
        assert_eq!(read_partner_file(latin1).invalid[0].line, 2);
        // other columns are ignored, names match in any case
        let extra = read_partner_file(b"Partner_Banking_Method,TIKI_TRANSACTION_ID,transaction_id,transaction_amount,status,created_at,updated_at\nWALLET,A,P-A,99000,SUCCESS,,\n");
        assert_eq!(extra.rows.len(), 1);
        assert!(compare(&ours()[..1], &extra, Some(&HashSet::new())).mismatches.is_empty());
    }

    proptest! {
        #[test]
        fn reading_a_partner_file_never_panics(body in proptest::collection::vec(proptest::sample::select(vec![b'a', b',', b'"', b'\r', b'\n', b'1', b'S', 0xff]), 0..80)) {
            let mut file = format!("{HEADER}\n").into_bytes();
            file.extend(body);
            let read = read_partner_file(&file);
            let _ = compare(&ours(), &read, Some(&HashSet::new())).csv();
        }
    }
}
