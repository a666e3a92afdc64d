//! CSV as RFC 4180 has it, both ways: reading a partner's file into records (with the line each
//! starts on, for result and mismatch files) and writing our files. Used by batch point files
//! and Tiki VIP reconciliation. Small on purpose: the files are ours to define, so a full CSV
//! crate is not needed.

/// A CSV record: the line it starts on and its fields, or why it is malformed.
#[derive(Debug)]
pub struct Record {
    pub line: usize,
    pub fields: Result<Vec<String>, &'static str>,
    /// Nothing but spaces: skipped.
    pub blank: bool,
}

/// RFC 4180 records: fields split by `,`; a field holding `,`, `"` or a line break is quoted,
/// with `"` inside doubled; records end in CRLF or LF. A problem inside one record (a stray
/// quote) spoils that record only; a quote never closed spoils the rest of the file: the records
/// before it, and `Some(line)` of that quote.
pub fn records(text: &str) -> (Vec<Record>, Option<usize>) {
    let mut records = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start = line;
        let (mut fields, mut field) = (Vec::new(), String::new());
        let mut problem = None;
        // `quoted`: the current field was quoted (and its closing quote seen when not `open`).
        let (mut quoted, mut open, mut quote_line) = (false, false, line);
        loop {
            let Some(c) = chars.next() else {
                if open {
                    return (records, Some(quote_line));
                }
                break;
            };
            if open {
                match c {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => open = false,
                    '\n' => {
                        line += 1;
                        field.push(c);
                    }
                    _ => field.push(c),
                }
                continue;
            }
            match c {
                ',' => {
                    fields.push(std::mem::take(&mut field));
                    quoted = false;
                }
                '\n' => {
                    line += 1;
                    break;
                }
                '\r' if chars.peek() == Some(&'\n') => {
                    chars.next();
                    line += 1;
                    break;
                }
                '"' if field.is_empty() && !quoted => (quoted, open, quote_line) = (true, true, line),
                _ if quoted => {
                    problem.get_or_insert("a quoted field has characters after its closing quote");
                }
                '"' => {
                    problem.get_or_insert("a field that is not quoted has a quote in it");
                }
                _ => field.push(c),
            }
        }
        let blank = fields.is_empty() && !quoted && field.trim().is_empty();
        fields.push(field);
        records.push(Record { line: start, fields: problem.map_or(Ok(fields), Err), blank });
    }
    (records, None)
}

/// One CSV field, quoted when it must be (RFC 4180).
fn field(out: &mut String, value: &str) {
    if value.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// One record, CRLF-terminated.
pub fn line(out: &mut String, fields: &[&str]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(out, f);
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn written(rows: &[Vec<String>]) -> String {
        let mut out = String::new();
        for r in rows {
            line(&mut out, &r.iter().map(String::as_str).collect::<Vec<_>>());
        }
        out
    }

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(
            written(&[vec!["a".into(), "b,c".into(), "say \"hi\"".into(), "two\nlines".into(), String::new()]]),
            "a,\"b,c\",\"say \"\"hi\"\"\",\"two\nlines\",\r\n"
        );
    }

    proptest! {
        #[test]
        fn what_is_written_reads_back(rows in proptest::collection::vec(proptest::collection::vec("[a-z,\"\r\n ]{0,6}", 2..4), 1..5)) {
            let text = written(&rows);
            let back: Vec<Vec<String>> = records(&text).0.into_iter().map(|r| r.fields.unwrap()).collect();
            prop_assert_eq!(back, rows);
        }

        #[test]
        fn reading_never_panics(text in "[a,\"\r\n]{0,40}") {
            let _ = records(&text);
        }
    }
}
