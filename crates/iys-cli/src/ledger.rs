//! `iys ledger verify FILE`: checks the hash chain of a ledger exported by the relay
//! (`GET /admin/ledger/export`, JSON lines). The row format and the chain are `iys-ledger`'s, the
//! same definition the relay appends and verifies with. Rows cut from the end leave a valid shorter
//! chain; a head recorded elsewhere catches that: `--head HASH` (the export must end at it) or
//! `--head-seq N --head-hash HEX` (the export must reach it, and may extend past it).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use iys_ledger::{parse_export_line, Head, Verdict, Verifier};

use crate::error::CliError;
use crate::Tally;

/// `--head` and `--head-hash`: 64 hex digits (SHA-256), kept lowercase (the relay's hashes are
/// lowercase; an upper-case copy of one is the same hash).
pub fn parse_head_hash(s: &str) -> Result<String, String> {
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err("expected 64 hex digits (a headHash of the relay's /admin/ledger/verify)".into())
    }
}

/// Verifies an export read from `reader`, line by line (constant memory): with `head`, the last
/// row's hash must equal it; with `expected`, the export must reach that head.
///
/// Lines are read as bytes, so a line that is not UTF-8 is an `unreadable-row` at its line (not a
/// failure of the whole read); a UTF-8 BOM before the first row (an export saved by an editor) is
/// skipped.
pub fn verify_reader(mut reader: impl BufRead, head: Option<&str>, expected: Option<Head>) -> std::io::Result<Verdict> {
    let mut v = expected.map_or_else(Verifier::default, Verifier::expecting);
    let mut buf = Vec::new();
    let mut n = 0u64;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        n += 1;
        let bytes = if n == 1 { buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&buf) } else { &buf[..] };
        let row = match std::str::from_utf8(bytes) {
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => parse_export_line(line.trim_end_matches(['\n', '\r'])),
            Err(_) => None,
        };
        let ok = match row {
            Some(r) => v.push(&r, Some(n)),
            None => {
                v.unreadable(Some(n));
                false
            }
        };
        if !ok {
            return Ok(v.finish(None));
        }
    }
    Ok(v.finish(head))
}

/// Runs `iys ledger verify`.
pub fn run(file: &Path, head: Option<&str>, expected: Option<Head>, json: bool) -> Result<Tally, CliError> {
    let f = std::fs::File::open(file).map_err(|e| CliError::io(format!("cannot open {}", file.display()), &e))?;
    let v = verify_reader(BufReader::new(f), head, expected)
        .map_err(|e| CliError::io(format!("cannot read {}", file.display()), &e))?;
    let text = if json {
        let mut buf = Vec::new();
        crate::report::json_line(&mut buf, &v);
        buf
    } else if v.ok {
        format!("ok: {} rows, head seq {} hash {}\n", v.rows, v.head_seq, v.head_hash).into_bytes()
    } else {
        format!(
            "broken at seq {}{}: {}; the {} rows before it check (head seq {})\n",
            v.first_broken.unwrap_or_default(),
            v.line.map(|l| format!(" (line {l})")).unwrap_or_default(),
            match v.reason.as_deref() {
                Some("seq-gap") => "seq-gap (a row is missing, repeated or out of order)",
                Some("prev-hash") => "prev-hash (the row does not follow the one before it)",
                Some("hash") => "hash (the row was changed)",
                Some("unreadable-row") => {
                    "unreadable-row (not a ledger row: not UTF-8 or JSON, a field missing or of the wrong type, or a key a row does not have)"
                }
                Some("head") => {
                    "head (the row at the given head has another hash, or the export does not end at --head: rows were removed at the end)"
                }
                Some("tail") => "tail (the export ends before the given head seq: rows were removed at the end)",
                _ => "unknown",
            },
            v.head_seq,
            v.head_seq
        )
        .into_bytes()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(&text).and_then(|()| out.flush()).map_err(|e| CliError::output(&e))?;
    Ok(Tally { valid: v.rows, invalid: u64::from(!v.ok) })
}
