//! CSV files as RFC 4180 has them, on the `csv` crate: reading a partner's file record by record
//! from any `Read` (a 256 MiB reconciliation file is never held whole), each record with the
//! line it starts on (for result and mismatch files), and writing our files (CRLF).
//!
//! Where is each rule?
//! - splitting and unquoting: the `csv` crate (fields split by `,`, a field holding `,`, `"` or a
//!   line break quoted with `"` doubled inside, records ending in CRLF, LF or CR, empty lines
//!   skipped);
//! - strictness, which the crate leaves out on purpose (it reads `a"b` and `"a"b` as best it
//!   can): [`strict`] checks each record's own bytes, so a stray quote spoils that record only
//!   ([`Malformed::QuoteInUnquotedField`], [`Malformed::TextAfterClosingQuote`]) and a quote never
//!   closed spoils the rest of the file ([`Malformed::Unclosed`], always the last record);
//! - a line of nothing but spaces is blank and skipped like an empty one; a leading byte-order
//!   mark is dropped; text that is not UTF-8 is [`Malformed::NotUtf8`] with its line;
//! - writing: [`Lines`], quoting only what must be (`,`, `"`, CR, LF), CRLF line ends.

use std::{
    cell::RefCell,
    io::{BufRead, BufReader, Read},
    rc::Rc,
};

/// Why a record is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("a field that is not quoted has a quote in it")]
    QuoteInUnquotedField,
    #[error("a quoted field has characters after its closing quote")]
    TextAfterClosingQuote,
    /// The quote opened on `line` is never closed: the rest of the file cannot be read.
    #[error("a quote is never closed: the rest of the file cannot be read")]
    Unclosed { line: usize },
    /// The first byte that is not UTF-8 is on `line`.
    #[error("the file is not UTF-8 text")]
    NotUtf8 { line: usize },
}

/// A CSV record: the line it starts on and its fields, or why it is not a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: usize,
    pub fields: Result<Vec<String>, Malformed>,
}

/// The records of a file, blank lines left out; ends after a [`Malformed::Unclosed`] record.
pub struct Records<R: Read> {
    reader: ::csv::Reader<Tap<BufReader<R>>>,
    /// The bytes the reader has taken from the file and not yet attributed to a record.
    tapped: Rc<RefCell<Vec<u8>>>,
    /// The file offset (after a byte-order mark) of `tapped[0]`.
    base: u64,
    record: ::csv::ByteRecord,
    /// Line ends before `base`.
    lines: LineCount,
    done: bool,
}

/// Counts line ends as an editor does: CRLF, LF and a lone CR are one each (the `csv` crate ends
/// records at all three but numbers lines by LF only).
#[derive(Debug, Clone, Copy, Default)]
struct LineCount {
    ends: usize,
    after_cr: bool,
}

impl LineCount {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\r' || (b == b'\n' && !self.after_cr) {
                self.ends += 1;
            }
            self.after_cr = b == b'\r';
        }
    }

    /// The 1-based line of the next byte.
    fn line(&self) -> usize {
        self.ends + 1
    }
}

/// Reads records from `input`, record by record.
pub fn records<R: Read>(input: R) -> std::io::Result<Records<R>> {
    let mut input = BufReader::new(input);
    if input.fill_buf()?.starts_with("\u{feff}".as_bytes()) {
        input.consume(3); // a spreadsheet's byte-order mark
    }
    let tapped = Rc::new(RefCell::new(Vec::new()));
    let reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(Tap { inner: input, tapped: Rc::clone(&tapped) });
    Ok(Records { reader, tapped, base: 0, record: ::csv::ByteRecord::new(), lines: LineCount::default(), done: false })
}

impl<R: Read> Iterator for Records<R> {
    type Item = std::io::Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let start = self.reader.position().clone();
            match self.reader.read_byte_record(&mut self.record) {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => {
                    self.done = true;
                    return Some(Err(std::io::Error::other(e)));
                }
            }
            let end = self.reader.position().byte();
            let mut tapped = self.tapped.borrow_mut();
            let from = usize::try_from(start.byte() - self.base).unwrap_or(usize::MAX).min(tapped.len());
            let to = usize::try_from(end - self.base).unwrap_or(usize::MAX).min(tapped.len());
            self.lines.feed(&tapped[..from]);
            let raw = &tapped[from..to];
            // the record's own bytes, after the line ends and empty lines before it
            let skipped = raw.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
            self.lines.feed(&raw[..skipped]);
            let line = self.lines.line();
            let raw = &raw[skipped..];
            let blank = self.record.len() == 1 && !raw.contains(&b'"') && self.record[0].iter().all(u8::is_ascii_whitespace);
            let lines = self.lines;
            let fields = strict(raw, line).and_then(|()| {
                std::str::from_utf8(raw).map_err(|e| {
                    let mut at = lines;
                    at.feed(&raw[..e.valid_up_to()]);
                    Malformed::NotUtf8 { line: at.line() }
                })?;
                // fields are the record's bytes less some quotes: UTF-8 as it is
                Ok(self.record.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect())
            });
            self.lines.feed(raw);
            tapped.drain(..to);
            self.base = end;
            if matches!(fields, Err(Malformed::Unclosed { .. })) {
                self.done = true;
            } else if blank {
                continue;
            }
            return Some(Ok(Record { line, fields }));
        }
        None
    }
}

/// What the `csv` crate accepts and RFC 4180 does not, in one record's bytes (from its first
/// byte, starting on `line`, to its line end or the end of the file): a quote inside a field that
/// is not quoted, characters after a closing quote, a quote never closed.
fn strict(raw: &[u8], line: usize) -> Result<(), Malformed> {
    let mut lines = LineCount { ends: line.saturating_sub(1), after_cr: false };
    let (mut at_field_start, mut closed, mut quote_line) = (true, false, None);
    let mut problem = None;
    let mut bytes = raw.iter().peekable();
    while let Some(&b) = bytes.next() {
        if quote_line.is_some() {
            lines.feed(&[b]);
            match b {
                b'"' if bytes.peek() == Some(&&b'"') => {
                    bytes.next();
                }
                b'"' => (quote_line, closed) = (None, true),
                _ => {}
            }
            continue;
        }
        match b {
            b',' => (at_field_start, closed) = (true, false),
            b'\r' | b'\n' => break,
            b'"' if at_field_start => (quote_line, at_field_start) = (Some(lines.line()), false),
            _ if closed => {
                problem.get_or_insert(Malformed::TextAfterClosingQuote);
            }
            b'"' => {
                problem.get_or_insert(Malformed::QuoteInUnquotedField);
            }
            _ => at_field_start = false,
        }
    }
    match (quote_line, problem) {
        (Some(line), _) => Err(Malformed::Unclosed { line }),
        (None, Some(problem)) => Err(problem),
        (None, None) => Ok(()),
    }
}

/// Keeps a copy of what the CSV reader reads, so each record's own bytes can be checked.
struct Tap<R> {
    inner: R,
    tapped: Rc<RefCell<Vec<u8>>>,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.tapped.borrow_mut().extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// A CSV file being written: one record a call, fields quoted only when they must be, CRLF.
pub struct Lines(::csv::Writer<Vec<u8>>);

impl Lines {
    /// A file whose first line is `header` (column names that need no quoting, `,`-separated).
    pub fn with_header(header: &str) -> Lines {
        let mut lines = Lines::with_capacity(header.len() + 2);
        lines.push(header.split(','));
        lines
    }

    pub fn with_capacity(bytes: usize) -> Lines {
        let writer = ::csv::WriterBuilder::new()
            .terminator(::csv::Terminator::CRLF)
            .quote_style(::csv::QuoteStyle::Necessary)
            .flexible(true)
            .from_writer(Vec::with_capacity(bytes));
        Lines(writer)
    }

    /// One record.
    pub fn push<'a>(&mut self, fields: impl IntoIterator<Item = &'a str>) {
        // into memory: the only failure a `Write` may report cannot happen
        self.0.write_record(fields).expect("writing CSV into memory");
    }

    pub fn into_string(self) -> String {
        let bytes = self.0.into_inner().map_err(|e| e.into_error()).expect("flushing CSV into memory");
        // every field was a `&str`
        String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn written(rows: &[Vec<String>]) -> String {
        let mut out = Lines::with_capacity(0);
        for r in rows {
            out.push(r.iter().map(String::as_str));
        }
        out.into_string()
    }

    fn read(text: &str) -> Vec<Record> {
        records(text.as_bytes()).unwrap().map(Result::unwrap).collect()
    }

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(
            written(&[vec!["a".into(), "b,c".into(), "say \"hi\"".into(), "two\nlines".into(), String::new()]]),
            "a,\"b,c\",\"say \"\"hi\"\"\",\"two\nlines\",\r\n"
        );
        assert_eq!(Lines::with_header("a,b").into_string(), "a,b\r\n");
    }

    /// Found by the batch-file fuzzer: records ended by a lone CR all said line 1.
    #[test]
    fn a_lone_cr_ends_a_line_as_lf_and_crlf_do() {
        let lines = |text: &str| read(text).into_iter().map(|r| r.line).collect::<Vec<_>>();
        assert_eq!(lines("h\ra\rb\r"), [1, 2, 3]);
        assert_eq!(lines("h\r\na\r\rb\n\nc"), [1, 2, 4, 6]);
        assert_eq!(lines("h\r\"x\ry\"\rz"), [1, 2, 4]);
        assert_eq!(read("h\r\"a\r\nb\r\n")[1].fields, Err(Malformed::Unclosed { line: 2 }));
    }

    #[test]
    fn records_carry_their_first_line_and_what_spoils_them() {
        let text = "\u{feff}h1,h2\r\n\r\n   \n\"a\nb\",c\nd\"e,f\n\"g\"h,i\n\"\",\"\"\"\"\n\"never\nclosed\nj,k\n";
        let got: Vec<(usize, Result<Vec<String>, Malformed>)> = read(text).into_iter().map(|r| (r.line, r.fields)).collect();
        let ok = |f: &[&str]| Ok(f.iter().map(|s| s.to_string()).collect());
        assert_eq!(
            got,
            [
                (1, ok(&["h1", "h2"])),
                (4, ok(&["a\nb", "c"])),
                (6, Err(Malformed::QuoteInUnquotedField)),
                (7, Err(Malformed::TextAfterClosingQuote)),
                (8, ok(&["", "\""])),
                (9, Err(Malformed::Unclosed { line: 9 })),
            ]
        );
        let latin1 = read_bytes(b"a,b\nc,Nguy\xe9n\n");
        assert_eq!(latin1[1].fields, Err(Malformed::NotUtf8 { line: 2 }));
    }

    fn read_bytes(bytes: &[u8]) -> Vec<Record> {
        records(bytes).unwrap().map(Result::unwrap).collect()
    }

    #[test]
    fn a_file_larger_than_the_readers_buffer_keeps_its_lines() {
        let text: String = (1..=20_000).map(|i| format!("{i},\"x\ny\",z\r\n")).collect();
        let records = read(&text);
        assert_eq!(records.len(), 20_000);
        assert!(records.iter().enumerate().all(|(i, r)| r.line == 2 * i + 1 && r.fields.as_ref().unwrap()[1] == "x\ny"));
    }

    /// A reader that hands out at most `step` bytes a call: records and quotes cut anywhere.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    proptest! {
        #[test]
        fn a_file_read_a_few_bytes_at_a_time_reads_as_a_whole(text in "[a,\"\r\n ]{0,60}", step in 1usize..5) {
            let whole = read(&text);
            let trickled: Vec<Record> = records(Trickle { bytes: text.as_bytes(), step }).unwrap().map(Result::unwrap).collect();
            prop_assert_eq!(trickled, whole);
        }

        #[test]
        fn what_is_written_reads_back(rows in proptest::collection::vec(proptest::collection::vec("[a-z,\"\r\n ]{0,6}", 2..4), 1..5)) {
            let text = written(&rows);
            let back: Vec<Vec<String>> = read(&text).into_iter().map(|r| r.fields.unwrap()).collect();
            prop_assert_eq!(back, rows);
        }

        #[test]
        fn reading_never_panics(text in "[a,\"\r\n]{0,40}") {
            let _ = read(&text);
        }
    }
}
