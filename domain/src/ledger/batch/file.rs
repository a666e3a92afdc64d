//! A batch file read into rows: CSV (RFC 4180, `crate::csv_file`) or JSON Lines. The file as a
//! whole is refused here (size, rows, header, encoding, a quote never closed — nothing of it is
//! applied); a line that is not a row is kept as a row whose fields say why (INVALID_ROW).

use serde_json::{Map, Value};

use super::{MAX_BYTES, MAX_ROWS};
use crate::csv_file::{self, Malformed};

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

    /// As stored with an accepted batch.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "CSV",
            Format::JsonLines => "JSONL",
        }
    }

    pub(super) fn parse_stored(s: &str) -> Option<Format> {
        [Format::Csv, Format::JsonLines].into_iter().find(|f| f.as_str() == s)
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
    // reading from memory: neither the buffer nor the reader can fail
    let Ok(records) = csv_file::records(text.as_bytes()) else { return Err(FileError::NotUtf8) };
    let mut records = records.map_while(Result::ok);
    let header = records.next().ok_or(FileError::Empty)?;
    let names = match header.fields {
        Ok(names) => names,
        Err(Malformed::Unclosed { line }) => return Err(FileError::UnclosedQuote(line)),
        Err(p) => return Err(FileError::InvalidHeader(format!("it is not valid CSV: {p}"))),
    };
    let columns = header_columns(&names)?;
    let mut rows = Vec::new();
    for record in records {
        let fields = match record.fields {
            Err(Malformed::Unclosed { line }) => return Err(FileError::UnclosedQuote(line)),
            Err(Malformed::NotUtf8 { .. }) => return Err(FileError::NotUtf8),
            Err(p) => Err(p.to_string()),
            Ok(cells) if cells.len() != columns.len() => Err(format!("the row has {} fields, the header {}", cells.len(), columns.len())),
            Ok(cells) => {
                let present = columns.iter().zip(cells).filter(|(_, cell)| !cell.trim().is_empty());
                Ok(present.map(|(name, cell)| (name.to_string(), Value::String(cell))).collect())
            }
        };
        if rows.len() == MAX_ROWS {
            return Err(FileError::TooManyRows);
        }
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
