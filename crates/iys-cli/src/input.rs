//! Input readers: CSV (`;` or `,`, Excel's BOM), NDJSON and JSON arrays, all streamed.
//!
//! A reader only splits the input into records and turns each into a [`json::Value`]; it never
//! judges a value (that is the core's job). The splitting runs on the reader thread, the turning
//! into values ([`RawRecord::into_value`]) runs on the worker threads.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use iys_core::diagnostic::{pointer_token, Code, Diagnostic};
use iys_core::json::{self, Value};

use crate::error::CliError;

/// Longest single record (a JSON item, an NDJSON line) we hold in memory; longer ones are reported.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

const BUF_CAPACITY: usize = 1 << 18;

/// How the input is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A header line of IYS field names, then one consent per row.
    Csv,
    /// One JSON array of consent objects.
    Json,
    /// One consent object per line.
    Ndjson,
}

/// One record as split from the input, not yet turned into a value.
#[derive(Debug)]
pub struct RawRecord {
    /// 0-based position among the records of the input.
    pub index: u64,
    /// 1-based line in the input where the record starts.
    pub line: u64,
    /// What was read.
    pub body: RawBody,
}

/// The unparsed body of a record.
#[derive(Debug)]
pub enum RawBody {
    /// The text of one JSON value (an array item or an NDJSON line).
    Json(Vec<u8>),
    /// One CSV row; field names come from the header.
    Csv(CsvCells, Arc<Header>),
    /// A record larger than [`MAX_RECORD_BYTES`]; only its size is kept.
    TooLarge,
}

/// One CSV row as read: its cells back to back, and where each ends (from the row's start).
#[derive(Debug, Default)]
pub struct CsvCells {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

/// The CSV header: the field name of each column.
#[derive(Debug)]
pub struct Header {
    names: Vec<String>,
}

impl RawRecord {
    /// Turns the record into a JSON value, or the diagnostic that says why it cannot be one.
    pub fn into_value(self) -> Result<Value, Diagnostic> {
        match self.body {
            RawBody::Json(bytes) => json::parse_bytes(&bytes),
            RawBody::Csv(row, header) => csv_row_to_value(&row, &header),
            RawBody::TooLarge => Err(too_large()),
        }
    }

    /// As [`RawRecord::into_value`], but a CSV row is written into `scratch`, whose strings are
    /// reused from the previous record (no allocation per cell once they are long enough). The
    /// value is handed to `judge`; `scratch` gets its entries back afterwards.
    pub fn with_value<R>(
        &self,
        scratch: &mut Vec<(String, Value)>,
        judge: impl FnOnce(Result<&Value, Diagnostic>) -> R,
    ) -> R {
        match &self.body {
            RawBody::Json(bytes) => match json::parse_bytes(bytes) {
                Ok(v) => judge(Ok(&v)),
                Err(d) => judge(Err(d)),
            },
            RawBody::Csv(row, header) => with_row_value(RowView::of(row), header, scratch, judge),
            RawBody::TooLarge => judge(Err(too_large())),
        }
    }
}

/// The value of `row` (built in `scratch`, whose entries are reused) handed to `judge`.
fn with_row_value<R>(
    row: RowView<'_>,
    header: &Header,
    scratch: &mut Vec<(String, Value)>,
    judge: impl FnOnce(Result<&Value, Diagnostic>) -> R,
) -> R {
    with_row_text_value(row, std::str::from_utf8(row.bytes).ok(), header, scratch, judge)
}

/// [`with_row_value`] with the row's text, when it is valid UTF-8, already at hand.
fn with_row_text_value<R>(
    row: RowView<'_>,
    whole: Option<&str>,
    header: &Header,
    scratch: &mut Vec<(String, Value)>,
    judge: impl FnOnce(Result<&Value, Diagnostic>) -> R,
) -> R {
    match csv_row_into_text(row, whole, header, scratch) {
        Ok(()) => {
            let value = Value::Object(std::mem::take(scratch));
            let r = judge(Ok(&value));
            if let Value::Object(entries) = value {
                *scratch = entries;
            }
            r
        }
        Err(d) => judge(Err(d)),
    }
}

fn too_large() -> Diagnostic {
    Diagnostic::new(Code::BodyTooLarge, "").with("limit", MAX_RECORD_BYTES.to_string())
}

/// One CSV row: its cells back to back, and where each cell ends (relative to the row's start).
#[derive(Clone, Copy)]
struct RowView<'a> {
    bytes: &'a [u8],
    ends: &'a [usize],
}

impl<'a> RowView<'a> {
    /// The view of a row read on its own.
    fn of(row: &'a CsvCells) -> Self {
        RowView { bytes: &row.bytes, ends: &row.ends }
    }

    /// The cells, in order.
    fn cells(self) -> impl Iterator<Item = &'a [u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter().copied()).map(move |(a, b)| &self.bytes[a..b])
    }
}

/// [`csv_row_to_value`] into `fields`, reusing the entries (and their strings) already there.
fn csv_row_into(row: RowView<'_>, header: &Header, fields: &mut Vec<(String, Value)>) -> Result<(), Diagnostic> {
    // One UTF-8 check for the row; a cell is then a slice of it on char boundaries (a cell that is
    // not, or a row that fails, is checked on its own below, which finds the cell to report).
    csv_row_into_text(row, std::str::from_utf8(row.bytes).ok(), header, fields)
}

/// [`csv_row_into`] with the row's text, when it is valid UTF-8, already at hand.
fn csv_row_into_text(
    row: RowView<'_>,
    whole: Option<&str>,
    header: &Header,
    fields: &mut Vec<(String, Value)>,
) -> Result<(), Diagnostic> {
    let mut n = 0;
    let last = row.ends.len().saturating_sub(1);
    let mut start = 0;
    for (i, &end) in row.ends.iter().enumerate() {
        let cell_start = start;
        let cell = &row.bytes[start..end];
        start = end;
        let cell = if i == last { cell.strip_suffix(b"\r").unwrap_or(cell) } else { cell };
        if cell.is_empty() {
            continue;
        }
        let in_whole = whole.and_then(|w| w.get(cell_start..cell_start + cell.len()));
        let extra;
        let name = match header.names.get(i) {
            Some(n) => n.as_str(),
            None => {
                extra = format!("column{}", i + 1);
                extra.as_str()
            }
        };
        let Some(text) = in_whole.or_else(|| std::str::from_utf8(cell).ok()) else {
            return Err(Diagnostic::new(Code::InvalidUtf8, format!("/{}", pointer_token(name))));
        };
        let plain = !matches!(name, "retailerCode" | "retailerAccess");
        match fields.get_mut(n) {
            Some((key, value)) => {
                if key != name {
                    key.clear();
                    key.push_str(name);
                }
                match value {
                    Value::String(s) if plain => {
                        s.clear();
                        s.push_str(text);
                    }
                    _ => *value = cell_value(name, text),
                }
            }
            None => fields.push((name.to_owned(), cell_value(name, text))),
        }
        n += 1;
    }
    fields.truncate(n);
    Ok(())
}

/// The value of one non-empty CSV cell of column `name`.
fn cell_value(name: &str, text: &str) -> Value {
    match name {
        "retailerCode" => number_or_string(text),
        "retailerAccess" => Value::Array(
            text.split(|c: char| c == '|' || c == ',' || c == ';' || c.is_whitespace())
                .filter(|p| !p.is_empty())
                .map(number_or_string)
                .collect(),
        ),
        _ => Value::String(text.to_owned()),
    }
}

/// A CSV row as a consent object. Empty cells are absent fields; `retailerCode` is a number when
/// it is all digits; `retailerAccess` is a list of the pieces between `|`, `,`, `;` or blanks.
/// Cells past the header's last column, when not empty, become fields named `column<N>` (1-based),
/// which the core reports as unknown fields.
fn csv_row_to_value(row: &CsvCells, header: &Header) -> Result<Value, Diagnostic> {
    let mut fields = Vec::with_capacity(row.ends.len());
    csv_row_into(RowView::of(row), header, &mut fields)?;
    Ok(Value::Object(fields))
}

/// `123` → a JSON number; anything else (`12a`, `007`, `-1`) stays a string for the core to report.
fn number_or_string(text: &str) -> Value {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if digits && (text == "0" || !text.starts_with('0')) {
        Value::Number(text.to_owned())
    } else {
        Value::String(text.to_owned())
    }
}

/// Counts the bytes read through it, for the progress bar.
pub struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// An opened input: a buffered byte stream, its size when known, and a counter of bytes read.
pub struct Opened {
    /// The bytes, buffered (after [`detect_format`]: the bytes it read first, then the rest).
    pub reader: Box<dyn BufRead + Send>,
    /// The size in bytes, for a regular file.
    pub len: Option<u64>,
    /// Bytes read so far.
    pub read: Arc<AtomicU64>,
    /// The name to use in messages (`-` is `standard input`).
    pub name: String,
}

impl Opened {
    /// `inner` as an input named `name` (`len` bytes long when known).
    pub fn new(inner: Box<dyn Read + Send>, len: Option<u64>, name: String) -> Self {
        let read = Arc::new(AtomicU64::new(0));
        let counting = Counting { inner, count: Arc::clone(&read) };
        Opened { reader: Box::new(BufReader::with_capacity(BUF_CAPACITY, counting)), len, read, name }
    }
}

/// How messages name the input at `path`.
pub fn display_name(path: &Path) -> String {
    if path == Path::new("-") {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    }
}

/// Opens a file, or standard input for `-`.
pub fn open(path: &Path) -> Result<Opened, CliError> {
    let (inner, len, name): (Box<dyn Read + Send>, _, _) = if path == Path::new("-") {
        (Box::new(io::stdin()), None, display_name(path))
    } else {
        let name = display_name(path);
        let file = File::open(path).map_err(|e| CliError::io(format!("cannot open {name}"), &e))?;
        let meta = file.metadata().map_err(|e| CliError::io(format!("cannot read {name}"), &e))?;
        if meta.is_dir() {
            return Err(CliError::usage(format!("{name} is a directory, not a file")));
        }
        let len = meta.is_file().then_some(meta.len());
        (Box::new(file), len, name)
    };
    Ok(Opened::new(inner, len, name))
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened").field("name", &self.name).field("len", &self.len).finish_non_exhaustive()
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Most bytes detection reads before it decides on what it has.
const SNIFF_CAP: usize = 64 * 1024;

/// Whether `prefix` holds all that detection looks at: the 3 bytes of a BOM, the first byte that
/// is not blank, and the end of the line it starts (a `\n`, or a `\r` with the byte after it, so
/// that a CR-only line end can be told from CRLF).
fn sniffed_enough(prefix: &[u8]) -> bool {
    if prefix.len() < UTF8_BOM.len() {
        return false;
    }
    let body = prefix.strip_prefix(UTF8_BOM).unwrap_or(prefix);
    let Some(start) = body.iter().position(|b| !b.is_ascii_whitespace()) else {
        return false;
    };
    body[start..].iter().enumerate().any(|(i, &b)| b == b'\n' || (b == b'\r' && start + i + 1 < body.len()))
}

/// Reads the start of the input until [`sniffed_enough`], the end of the input or [`SNIFF_CAP`]
/// bytes. A pipe may hand over a few bytes at a time, so one `fill_buf` is not enough: a BOM or
/// a header line split across reads would be judged on a piece of it.
fn sniff<R: BufRead + ?Sized>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut prefix = Vec::new();
    while prefix.len() < SNIFF_CAP && !sniffed_enough(&prefix) {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len().min(SNIFF_CAP - prefix.len());
        prefix.extend_from_slice(&buf[..n]);
        r.consume(n);
    }
    Ok(prefix)
}

/// Skips a UTF-8 byte-order mark and finds the format: from `--format`, else from the file
/// extension, else from the first byte that is not blank: `[` is JSON, `{` is NDJSON, anything
/// else CSV. The bytes read to decide are handed back first by `opened.reader` afterwards (the
/// CSV reader finds its header line there).
pub fn detect_format(mut opened: Opened, path: &Path, given: Option<Format>) -> Result<(Opened, Format), CliError> {
    let mut prefix = sniff(&mut opened.reader).map_err(|e| CliError::io(format!("cannot read {}", opened.name), &e))?;
    // Excel's "Unicode Text" and Notepad's "Unicode" are UTF-16 with a BOM: every other byte is 0,
    // which no reader here would make sense of (the CSV header would be one garbled column).
    if prefix.starts_with(b"\xFF\xFE") || prefix.starts_with(b"\xFE\xFF") {
        return Err(CliError::usage(format!(
            "{}: the input is UTF-16 (Excel 'Unicode Text'); save it as CSV UTF-8 (or write JSON in UTF-8)",
            opened.name
        )));
    }
    if prefix.starts_with(UTF8_BOM) {
        prefix.drain(..UTF8_BOM.len());
    }
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let format = match (given, ext.as_deref()) {
        (Some(f), _) => f,
        (None, Some("csv" | "txt")) => Format::Csv,
        (None, Some("json")) => Format::Json,
        (None, Some("ndjson" | "jsonl")) => Format::Ndjson,
        (None, _) => match prefix.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => Format::Json,
            Some(b'{') => Format::Ndjson,
            _ => Format::Csv,
        },
    };
    opened.reader = Box::new(io::Cursor::new(prefix).chain(opened.reader));
    Ok((opened, format))
}

/// A stream of records in input order; an `Err` ends it.
pub type Records = Box<dyn Iterator<Item = Result<RawRecord, CliError>> + Send>;

/// The record stream for `format` (the BOM has already been skipped by [`detect_format`]).
pub fn records(opened: Opened, format: Format) -> Result<Records, CliError> {
    let name = opened.name;
    let reader = opened.reader;
    Ok(match format {
        Format::Csv => Box::new(CsvRecordIter { inner: CsvRecords::new(reader, &name)?, name }),
        Format::Ndjson => Box::new(NdjsonRecords { reader, name, index: 0, line: 0, done: false }),
        Format::Json => Box::new(JsonArrayRecords::new(reader, name)),
    })
}

// ---- CSV ----------------------------------------------------------------------------------------

/// Splits CSV rows with `csv_core` directly (not `csv::Reader`, which holds a whole row however
/// long: a stray `"` would make the rest of the file one cell in memory). A row whose cells pass
/// [`MAX_RECORD_BYTES`] is read on to its end as the CSV rules see it, into a scratch buffer that
/// is overwritten, and reported as too large.
struct CsvRecords {
    input: Box<dyn BufRead + Send>,
    core: csv_core::Reader,
    header: Arc<Header>,
    index: u64,
    done: bool,
    /// Line ends consumed outside `core` (blank lines before a record), which `core.line()` lacks.
    skipped_lines: u64,
    /// Where the cells of a too-large row go, overwritten call after call.
    discard: Vec<u8>,
    discard_ends: Vec<usize>,
    /// The longest row so far (bytes, fields), capped at [`ROW_CAPACITY_CAP`]: each row's buffer
    /// starts this large.
    row_bytes: usize,
    row_fields: usize,
}

/// The field names of an IYS consent, which a CSV header must use.
const CONSENT_FIELDS: [&str; 8] =
    ["recipient", "recipientType", "type", "status", "source", "consentDate", "retailerCode", "retailerAccess"];

/// The IYS field that `name` (not one) means, if it differs only in case, blanks, `_` or `-`.
fn meant_field(name: &str) -> Option<&'static str> {
    let squeezed: String =
        name.chars().filter(|c| !(c.is_whitespace() || *c == '_' || *c == '-')).collect::<String>().to_lowercase();
    CONSENT_FIELDS.into_iter().find(|f| f.to_ascii_lowercase() == squeezed)
}

/// Reads `R` with every `\r` turned into `\n` (for CR-only line ends).
struct CrToLf<R>(R);

impl<R: Read> Read for CrToLf<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        for b in &mut buf[..n] {
            if *b == b'\r' {
                *b = b'\n';
            }
        }
        Ok(n)
    }
}

/// Largest buffer a CSV row starts with; longer rows grow theirs as they are read.
const ROW_CAPACITY_CAP: usize = 4096;

/// Where a row starts, and whether it fit in [`MAX_RECORD_BYTES`].
struct RowAt {
    line: u64,
    fits: bool,
}

/// Consumes the blank bytes at the start of `r`; returns how many lines they end.
fn skip_blank<R: BufRead + ?Sized>(r: &mut R, blank: impl Fn(u8) -> bool) -> io::Result<u64> {
    let mut lines = 0;
    loop {
        let buf = r.fill_buf()?;
        let len = buf.len();
        let n = buf.iter().position(|&b| !blank(b)).unwrap_or(len);
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        r.consume(n);
        if n < len || len == 0 {
            return Ok(lines);
        }
    }
}

impl CsvRecords {
    fn new(mut r: Box<dyn BufRead + Send>, name: &str) -> Result<Self, CliError> {
        let read_err = |e: &io::Error| CliError::io(format!("cannot read {name}"), e);
        // Blank lines before the header (a CRLF one would otherwise be read as a header of one
        // `\r` column) are skipped here; they still count for `line`.
        let mut skipped_lines = skip_blank(&mut r, |b| b.is_ascii_whitespace()).map_err(|e| read_err(&e))?;
        // The buffer starts with what `detect_format` read: at least the first line that is not
        // blank and the byte after its end, unless that line is longer than its cap.
        let buf = r.fill_buf().map_err(|e| read_err(&e))?;
        let first_end = buf.iter().position(|&b| b == b'\n' || b == b'\r').unwrap_or(buf.len());
        let first = &buf[..first_end];
        // Excel writes (and reads) a first line `sep=;` that names the separator.
        let sep_line = match first.strip_prefix(b"sep=") {
            Some(&[d]) => Some(d),
            _ => None,
        };
        // Whichever separator the header holds most: `;` (Turkish Excel's CSV), `,`, or a tab (Excel's
        // "Text (Tab delimited)"); `;` wins a tie with `,`, and a tab must beat both.
        let delimiter = sep_line.unwrap_or_else(|| {
            let count = |d: u8| first.iter().filter(|&&b| b == d).count();
            let (semis, commas, tabs) = (count(b';'), count(b','), count(b'\t'));
            if tabs > semis && tabs > commas {
                b'\t'
            } else if semis >= commas && semis > 0 {
                b';'
            } else {
                b','
            }
        });
        let looks_json = matches!(first.first(), Some(b'[' | b'{'));
        // Old Excel for Mac ("Macintosh CSV") ends lines with a lone `\r`: read as is, the whole
        // file would be one header line and no records. Such a file is read with every `\r` made a
        // `\n` (a line break inside a quoted cell is a `\r` there too).
        let cr_only = buf.get(first_end) == Some(&b'\r') && buf.get(first_end + 1).is_some_and(|&b| b != b'\n');
        if sep_line.is_some() {
            let crlf = buf.get(first_end..first_end + 2) == Some(b"\r\n");
            let line_end = if crlf { 2 } else { usize::from(first_end < buf.len()) };
            r.consume(first_end + line_end);
        }
        if cr_only {
            r = Box::new(BufReader::with_capacity(BUF_CAPACITY, CrToLf(r)));
        }
        if sep_line.is_some() {
            skipped_lines += 1 + skip_blank(&mut r, |b| b.is_ascii_whitespace()).map_err(|e| read_err(&e))?;
        }
        // Rows end at `\n` only, so that line numbers stay right with CRLF (csv's CRLF mode
        // reports a record's start one line early); the `\r` of CRLF is cut off the last cell.
        let core =
            csv_core::ReaderBuilder::new().delimiter(delimiter).terminator(csv_core::Terminator::Any(b'\n')).build();
        let mut csv = CsvRecords {
            input: r,
            core,
            header: Arc::new(Header { names: Vec::new() }),
            index: 0,
            done: false,
            skipped_lines,
            discard: Vec::new(),
            discard_ends: Vec::new(),
            row_bytes: 64,
            row_fields: 8,
        };
        let mut raw = CsvCells::default();
        let fits = match csv.read_row(&mut raw.bytes, &mut raw.ends).map_err(|e| read_err(&e))? {
            Some(at) => at.fits,
            None => true,
        };
        if !fits {
            return Err(CliError::usage(format!(
                "{name}: the CSV header line is longer than {MAX_RECORD_BYTES} bytes (a stray `\"`?)"
            )));
        }
        let cells: Vec<&[u8]> = RowView::of(&raw).cells().collect();
        if cells.iter().all(|c| c.iter().all(u8::is_ascii_whitespace)) {
            return Err(CliError::usage(format!(
                "{name}: the CSV has no header line; the first line must name the IYS fields (recipient;type;…)"
            )));
        }
        let mut names = Vec::with_capacity(cells.len());
        for (i, cell) in cells.iter().enumerate() {
            let cell = cell.strip_suffix(b"\r").unwrap_or(cell);
            let Ok(s) = std::str::from_utf8(cell) else {
                return Err(CliError::usage(format!(
                    "{name}: header column {} is not valid UTF-8; save the sheet as CSV UTF-8",
                    i + 1
                )));
            };
            let s = s.trim_start_matches('\u{FEFF}').trim();
            names.push(if s.is_empty() { format!("column{}", i + 1) } else { s.to_owned() });
        }
        // A field name in the wrong case (`RECIPIENT`) or spelt with a blank or `_` would be an
        // unknown field, and the real one missing, in every record: say it once, here.
        let misspelt: Vec<String> = names
            .iter()
            .filter(|n| !CONSENT_FIELDS.contains(&n.as_str()))
            .filter_map(|n| meant_field(n).map(|f| format!("`{}` (did you mean `{f}`?)", crate::report::shown(n))))
            .collect();
        if !misspelt.is_empty() {
            return Err(CliError::usage(format!(
                "{name}: the CSV header has {}; field names are written exactly as IYS spells them ({})",
                misspelt.join(", "),
                CONSENT_FIELDS.join(", ")
            )));
        }
        if !names.iter().any(|n| CONSENT_FIELDS.contains(&n.as_str())) {
            let hint = if looks_json {
                " It looks like JSON: give --format json (an array) or --format ndjson, or name the file .json."
            } else {
                ""
            };
            return Err(CliError::usage(format!(
                "{name}: the CSV header names no IYS consent field ({}); is the header missing, or is this not CSV?{hint}",
                CONSENT_FIELDS.join(", ")
            )));
        }
        csv.header = Arc::new(Header { names });
        Ok(csv)
    }

    /// Reads one row, appending its cells to `bytes` and their ends (from the row's start) to
    /// `ends`; `None` at the end of the input. A row that does not fit leaves both as they were.
    fn read_row(&mut self, bytes: &mut Vec<u8>, ends: &mut Vec<usize>) -> io::Result<Option<RowAt>> {
        // `core` skips empty lines itself, but then the record's first line is not known: skip
        // them here and count them.
        self.skipped_lines += skip_blank(&mut *self.input, |b| b == b'\n')?;
        // `core.line()` is 1-based: the line it is on.
        let line = self.core.line() + self.skipped_lines;
        let (base, ends_base) = (bytes.len(), ends.len());
        let (mut out, mut nends) = (base, ends_base);
        let mut fits = true;
        loop {
            if fits {
                if out == bytes.len() {
                    bytes.resize(bytes.len() + (out - base).max(self.row_bytes), 0);
                }
                if nends == ends.len() {
                    ends.resize(ends.len() + (nends - ends_base).max(self.row_fields), 0);
                }
            }
            let input = self.input.fill_buf()?;
            let (res, nin, nout, nend) = if fits {
                self.core.read_record(input, &mut bytes[out..], &mut ends[nends..])
            } else {
                if self.discard.is_empty() {
                    self.discard = vec![0; 1 << 16];
                    self.discard_ends = vec![0; 1 << 10];
                }
                self.core.read_record(input, &mut self.discard, &mut self.discard_ends)
            };
            self.input.consume(nin);
            if fits {
                out += nout;
                nends += nend;
                if out - base > MAX_RECORD_BYTES {
                    fits = false;
                    bytes.truncate(base);
                    ends.truncate(ends_base);
                }
            }
            match res {
                csv_core::ReadRecordResult::InputEmpty
                | csv_core::ReadRecordResult::OutputFull
                | csv_core::ReadRecordResult::OutputEndsFull => {}
                csv_core::ReadRecordResult::Record => break,
                csv_core::ReadRecordResult::End => {
                    bytes.truncate(base);
                    ends.truncate(ends_base);
                    return Ok(None);
                }
            }
        }
        if fits {
            bytes.truncate(out);
            ends.truncate(nends);
            self.row_bytes = self.row_bytes.max(out - base).min(ROW_CAPACITY_CAP);
            self.row_fields = self.row_fields.max(nends - ends_base).min(ROW_CAPACITY_CAP / 8);
        }
        Ok(Some(RowAt { line, fits }))
    }

    /// Reads the next row that is not blank (appended as in [`CsvRecords::read_row`]); returns its
    /// index, line, and whether it fit.
    fn next_row(
        &mut self,
        bytes: &mut Vec<u8>,
        ends: &mut Vec<usize>,
        name: &str,
    ) -> Option<Result<(u64, RowAt), CliError>> {
        if self.done {
            return None;
        }
        let (base, ends_base) = (bytes.len(), ends.len());
        loop {
            match self.read_row(bytes, ends) {
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Ok(Some(at)) => {
                    // Excel leaves rows of bare separators at the end of a sheet: skip blank rows.
                    if at.fits && bytes[base..].iter().all(u8::is_ascii_whitespace) {
                        bytes.truncate(base);
                        ends.truncate(ends_base);
                        continue;
                    }
                    let index = self.index;
                    self.index += 1;
                    return Some(Ok((index, at)));
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(CliError::io(format!("cannot read {name}"), &e)));
                }
            }
        }
    }
}

/// [`CsvRecords`] as records, each row in its own buffers.
struct CsvRecordIter {
    inner: CsvRecords,
    name: String,
}

impl Iterator for CsvRecordIter {
    type Item = Result<RawRecord, CliError>;

    fn next(&mut self) -> Option<Self::Item> {
        // Sized like the rows so far, so that reading one does not grow it piece by piece.
        let mut row = CsvCells {
            bytes: Vec::with_capacity(self.inner.row_bytes),
            ends: Vec::with_capacity(self.inner.row_fields),
        };
        let (index, at) = match self.inner.next_row(&mut row.bytes, &mut row.ends, &self.name)? {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        let body = if at.fits { RawBody::Csv(row, Arc::clone(&self.inner.header)) } else { RawBody::TooLarge };
        Some(Ok(RawRecord { index, line: at.line, body }))
    }
}

// ---- Slices: records in groups, CSV rows in one buffer per group --------------------------------

/// Up to `per_slice` CSV rows read into one buffer: every row's cells back to back, the end of
/// each cell, and each row's position. One slice is three allocations, not three per row.
#[derive(Debug)]
pub struct CsvSlice {
    header: Arc<Header>,
    bytes: Vec<u8>,
    ends: Vec<usize>,
    rows: Vec<CsvRow>,
}

#[derive(Debug, Clone, Copy)]
struct CsvRow {
    index: u64,
    line: u64,
    /// Where the row's cells start in `bytes`, and its first and past-last entry in `ends`.
    start: usize,
    first_end: usize,
    last_end: usize,
    /// False for a row over [`MAX_RECORD_BYTES`], which holds no cells.
    fits: bool,
}

impl CsvSlice {
    /// Calls `judge` with each row's index, line and value (as [`RawRecord::with_value`] does, in
    /// `scratch`), in order.
    pub fn for_each_value(
        &self,
        scratch: &mut Vec<(String, Value)>,
        mut judge: impl FnMut(u64, u64, Result<&Value, Diagnostic>),
    ) {
        // One UTF-8 check for the slice; a row is then a slice of it (checked on its own when
        // the slice is not valid UTF-8 or the row does not start or end on a char boundary).
        let all = std::str::from_utf8(&self.bytes).ok();
        for (k, r) in self.rows.iter().enumerate() {
            if !r.fits {
                judge(r.index, r.line, Err(too_large()));
                continue;
            }
            let end = self.rows.get(k + 1).map_or(self.bytes.len(), |n| n.start);
            let row = RowView { bytes: &self.bytes[r.start..end], ends: &self.ends[r.first_end..r.last_end] };
            let whole = all.and_then(|a| a.get(r.start..end)).or_else(|| std::str::from_utf8(row.bytes).ok());
            with_row_text_value(row, whole, &self.header, scratch, |v| judge(r.index, r.line, v));
        }
    }
}

/// A group of consecutive records.
#[derive(Debug)]
pub enum Slice {
    /// CSV rows, in one buffer.
    Csv(CsvSlice),
    /// Records of any other format.
    Records(Vec<RawRecord>),
}

/// A stream of record groups in input order; an `Err` ends it (after the group read before it).
pub type Slices = Box<dyn Iterator<Item = Result<Slice, CliError>> + Send>;

/// As [`records`], but in groups of up to `per_slice` records; CSV rows are read into one buffer
/// per group.
pub fn slices(opened: Opened, format: Format, per_slice: usize) -> Result<Slices, CliError> {
    let per_slice = per_slice.max(1);
    Ok(match format {
        Format::Csv => Box::new(CsvSlices {
            inner: CsvRecords::new(opened.reader, &opened.name)?,
            name: opened.name,
            per_slice,
            pending: None,
            bytes_cap: 0,
            ends_cap: 0,
        }),
        _ => Box::new(Grouped { inner: records(opened, format)?, per_slice, pending: None }),
    })
}

struct Grouped {
    inner: Records,
    per_slice: usize,
    pending: Option<CliError>,
}

impl Iterator for Grouped {
    type Item = Result<Slice, CliError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.pending.take() {
            return Some(Err(e));
        }
        let mut group = Vec::with_capacity(self.per_slice);
        while group.len() < self.per_slice {
            match self.inner.next() {
                Some(Ok(r)) => group.push(r),
                Some(Err(e)) => {
                    if group.is_empty() {
                        return Some(Err(e));
                    }
                    self.pending = Some(e);
                    break;
                }
                None => break,
            }
        }
        (!group.is_empty()).then_some(Ok(Slice::Records(group)))
    }
}

struct CsvSlices {
    inner: CsvRecords,
    name: String,
    per_slice: usize,
    pending: Option<CliError>,
    /// The largest slice buffers so far, so that the next ones start that large.
    bytes_cap: usize,
    ends_cap: usize,
}

impl Iterator for CsvSlices {
    type Item = Result<Slice, CliError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.pending.take() {
            return Some(Err(e));
        }
        let mut slice = CsvSlice {
            header: Arc::clone(&self.inner.header),
            // Room for one more row than the largest slice so far: a row is read into spare room
            // made ahead of it, and that must not double the buffer at the slice's last row.
            bytes: Vec::with_capacity(self.bytes_cap + self.inner.row_bytes),
            ends: Vec::with_capacity(self.ends_cap + self.inner.row_fields),
            rows: Vec::with_capacity(self.per_slice),
        };
        while slice.rows.len() < self.per_slice {
            let (start, first_end) = (slice.bytes.len(), slice.ends.len());
            match self.inner.next_row(&mut slice.bytes, &mut slice.ends, &self.name) {
                Some(Ok((index, at))) => {
                    let (line, fits) = (at.line, at.fits);
                    slice.rows.push(CsvRow { index, line, start, first_end, last_end: slice.ends.len(), fits });
                }
                Some(Err(e)) => {
                    if slice.rows.is_empty() {
                        return Some(Err(e));
                    }
                    self.pending = Some(e);
                    break;
                }
                None => break,
            }
        }
        self.bytes_cap = self.bytes_cap.max(slice.bytes.len());
        self.ends_cap = self.ends_cap.max(slice.ends.len());
        (!slice.rows.is_empty()).then_some(Ok(Slice::Csv(slice)))
    }
}

// ---- NDJSON -------------------------------------------------------------------------------------

struct NdjsonRecords<R> {
    reader: R,
    name: String,
    index: u64,
    line: u64,
    done: bool,
}

/// Reads one line (without its `\n`) into `out`, keeping at most `limit` bytes.
/// Returns `None` at end of input, else whether the line fit.
pub fn read_line_capped<R: BufRead>(r: &mut R, out: &mut Vec<u8>, limit: usize) -> io::Result<Option<bool>> {
    out.clear();
    let mut any = false;
    let mut fits = true;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(any.then_some(fits));
        }
        any = true;
        let (chunk, found) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if fits {
            if out.len() + chunk.len() <= limit {
                out.extend_from_slice(chunk);
            } else {
                fits = false;
                out.clear();
            }
        }
        let used = found.unwrap_or(buf.len());
        r.consume(used);
        if found.is_some() {
            return Ok(Some(fits));
        }
    }
}

impl<R: BufRead> Iterator for NdjsonRecords<R> {
    type Item = Result<RawRecord, CliError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut text = Vec::new();
        loop {
            let fits = match read_line_capped(&mut self.reader, &mut text, MAX_RECORD_BYTES) {
                Ok(Some(fits)) => fits,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(CliError::io(format!("cannot read {}", self.name), &e)));
                }
            };
            self.line += 1;
            if fits && text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if text.last() == Some(&b'\r') {
                text.pop();
            }
            let index = self.index;
            self.index += 1;
            let body = if fits { RawBody::Json(text) } else { RawBody::TooLarge };
            return Some(Ok(RawRecord { index, line: self.line, body }));
        }
    }
}

// ---- JSON array ---------------------------------------------------------------------------------

/// Splits a top-level JSON array into the text of its items without parsing them: it tracks only
/// strings, escapes and bracket depth, so memory stays at one item whatever the array's size.
struct JsonArrayRecords<R> {
    reader: R,
    name: String,
    state: ArrayState,
    index: u64,
    line: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ArrayState {
    Start,
    Items,
    Closed,
    Unclosed,
    Done,
}

impl<R: BufRead> JsonArrayRecords<R> {
    fn new(reader: R, name: String) -> Self {
        JsonArrayRecords { reader, name, state: ArrayState::Start, index: 0, line: 1 }
    }

    fn io_err(&self, e: &io::Error) -> CliError {
        CliError::io(format!("cannot read {}", self.name), e)
    }

    /// Skips blanks; returns the next byte without consuming it, or `None` at end of input.
    fn peek_non_blank(&mut self) -> io::Result<Option<u8>> {
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => {
                    self.line += buf[..i].iter().filter(|&&b| b == b'\n').count() as u64;
                    let b = buf[i];
                    self.reader.consume(i);
                    return Ok(Some(b));
                }
                None => {
                    let n = buf.len();
                    self.line += buf.iter().filter(|&&b| b == b'\n').count() as u64;
                    self.reader.consume(n);
                }
            }
        }
    }

    /// Reads one item up to (not including) the `,` or `]` that ends it, which is consumed.
    /// Returns the item text (or `None` when too large), and whether the array closed.
    fn read_item(&mut self) -> io::Result<(Option<Vec<u8>>, Option<bool>)> {
        let mut out = Vec::new();
        let mut fits = true;
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escape = false;
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                // End of input inside the array.
                return Ok((fits.then_some(out), None));
            }
            let mut end = None;
            for (i, &b) in buf.iter().enumerate() {
                if b == b'\n' {
                    self.line += 1;
                }
                if in_string {
                    if escape {
                        escape = false;
                    } else if b == b'\\' {
                        escape = true;
                    } else if b == b'"' {
                        in_string = false;
                    }
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'[' | b'{' => depth += 1,
                    b']' | b'}' if depth > 0 => depth -= 1,
                    b']' => {
                        end = Some((i, true));
                        break;
                    }
                    b',' if depth == 0 => {
                        end = Some((i, false));
                        break;
                    }
                    _ => {}
                }
            }
            let (take, consumed, closed) = match end {
                Some((i, closed)) => (i, i + 1, Some(closed)),
                None => (buf.len(), buf.len(), None),
            };
            if fits {
                if out.len() + take <= MAX_RECORD_BYTES {
                    out.extend_from_slice(&buf[..take]);
                } else {
                    fits = false;
                    out = Vec::new();
                }
            }
            self.reader.consume(consumed);
            if let Some(closed) = closed {
                return Ok((fits.then_some(out), Some(closed)));
            }
        }
    }
}

impl<R: BufRead> Iterator for JsonArrayRecords<R> {
    type Item = Result<RawRecord, CliError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.state {
                ArrayState::Done => return None,
                ArrayState::Unclosed => {
                    self.state = ArrayState::Done;
                    return Some(Err(self.unclosed()));
                }
                ArrayState::Start => match self.peek_non_blank() {
                    Err(e) => {
                        self.state = ArrayState::Done;
                        return Some(Err(self.io_err(&e)));
                    }
                    Ok(Some(b'[')) => {
                        self.reader.consume(1);
                        // `[]` holds no record.
                        match self.peek_non_blank() {
                            Ok(Some(b']')) => {
                                self.reader.consume(1);
                                self.state = ArrayState::Closed;
                            }
                            Ok(_) => self.state = ArrayState::Items,
                            Err(e) => {
                                self.state = ArrayState::Done;
                                return Some(Err(self.io_err(&e)));
                            }
                        }
                    }
                    Ok(_) => {
                        self.state = ArrayState::Done;
                        return Some(Err(CliError::usage(format!(
                            "{}: expected a JSON array of consents (starting with `[`); use --format ndjson for one object per line",
                            self.name
                        ))));
                    }
                },
                ArrayState::Items => {
                    let line = match self.peek_non_blank() {
                        Ok(_) => self.line,
                        Err(e) => {
                            self.state = ArrayState::Done;
                            return Some(Err(self.io_err(&e)));
                        }
                    };
                    let (text, closed) = match self.read_item() {
                        Ok(r) => r,
                        Err(e) => {
                            self.state = ArrayState::Done;
                            return Some(Err(self.io_err(&e)));
                        }
                    };
                    match closed {
                        Some(true) => self.state = ArrayState::Closed,
                        Some(false) => {}
                        None => {
                            if text.as_ref().is_some_and(|t| t.iter().all(u8::is_ascii_whitespace)) {
                                self.state = ArrayState::Done;
                                return Some(Err(self.unclosed()));
                            }
                            // Hand out the cut-off item (the core reports it), then the error.
                            self.state = ArrayState::Unclosed;
                        }
                    }
                    let index = self.index;
                    self.index += 1;
                    let body = match text {
                        Some(t) => RawBody::Json(t),
                        None => RawBody::TooLarge,
                    };
                    return Some(Ok(RawRecord { index, line, body }));
                }
                ArrayState::Closed => {
                    self.state = ArrayState::Done;
                    return match self.peek_non_blank() {
                        Ok(None) => None,
                        Ok(Some(_)) => Some(Err(CliError::usage(format!(
                            "{}: unexpected data after the end of the JSON array (line {})",
                            self.name, self.line
                        )))),
                        Err(e) => Some(Err(self.io_err(&e))),
                    };
                }
            }
        }
    }
}

impl<R> JsonArrayRecords<R> {
    fn unclosed(&self) -> CliError {
        CliError::usage(format!("{}: the JSON array is not closed (no `]` before the end of the input)", self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its bytes one per read, as a slow pipe may.
    struct OneByte(Vec<u8>, usize);

    impl Read for OneByte {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.get(self.1), buf.first_mut()) {
                (Some(&b), Some(slot)) => {
                    *slot = b;
                    self.1 += 1;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    fn slow(bytes: &[u8]) -> Opened {
        Opened::new(Box::new(OneByte(bytes.to_vec(), 0)), None, "test".to_owned())
    }

    /// The records of `bytes` read one byte at a time, as JSON values (or the diagnostic's code).
    type Record = Result<Value, &'static str>;

    fn read_all(bytes: &[u8]) -> Result<(Format, Vec<Record>), String> {
        let (opened, format) = detect_format(slow(bytes), Path::new("-"), None).map_err(|e| e.to_string())?;
        let list = records(opened, format).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for r in list {
            out.push(r.map_err(|e| e.to_string())?.into_value().map_err(|d| d.code.as_str()));
        }
        Ok((format, out))
    }

    fn field<'v>(v: &'v Value, name: &str) -> Option<&'v str> {
        match v {
            Value::Object(fields) => fields.iter().find(|(k, _)| k == name).and_then(|(_, v)| match v {
                Value::String(s) => Some(s.as_str()),
                _ => None,
            }),
            _ => None,
        }
    }

    #[test]
    fn a_csv_header_line_over_1_mib_is_refused() {
        let mut text = format!("recipient;\"{}\";type\n", "x".repeat(MAX_RECORD_BYTES + 1)).into_bytes();
        text.extend_from_slice(b"+905321234567;;MESAJ\n");
        let opened = Opened::new(Box::new(io::Cursor::new(text)), None, "big".to_owned());
        let (opened, format) = detect_format(opened, Path::new("-"), None).expect("detected");
        let err = records(opened, format).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("the CSV header line is longer than 1048576 bytes"), "{err}");
    }

    #[test]
    fn detection_reads_past_a_first_read_that_splits_the_bom_or_the_header() {
        // BOM split across reads, `;` header: one byte per read.
        let (format, recs) = read_all(b"\xEF\xBB\xBFrecipient;type\n+905321234567;MESAJ\n").expect("reads");
        assert_eq!(format, Format::Csv);
        assert_eq!(recs.len(), 1);
        let v = recs[0].as_ref().expect("a value");
        assert_eq!(field(v, "recipient"), Some("+905321234567"));
        assert_eq!(field(v, "type"), Some("MESAJ"));
        // A leading blank line: the delimiter comes from the header line, not the blank one.
        let (_, recs) = read_all(b"\n\r\nrecipient;type\nali@example.com;EPOSTA\n").expect("reads");
        assert_eq!(field(recs[0].as_ref().expect("a value"), "type"), Some("EPOSTA"));
        // JSON and NDJSON after blanks and a BOM.
        let (format, recs) = read_all(b"\xEF\xBB\xBF \n [{\"type\":\"MESAJ\"}]").expect("reads");
        assert_eq!((format, recs.len()), (Format::Json, 1));
        let (format, _) = read_all(b"\n\n{\"type\":\"MESAJ\"}\n").expect("reads");
        assert_eq!(format, Format::Ndjson);
    }
}
