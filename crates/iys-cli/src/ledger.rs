//! `iys ledger verify FILE`: checks the hash chain of a ledger exported by the relay
//! (`GET /admin/ledger/export`, JSON lines). The row format and the chain are `iys-ledger`'s, the
//! same definition the relay appends and verifies with. Rows cut from the end leave a valid shorter
//! chain; a head recorded elsewhere catches that: `--head HASH` (the export must end at it) or
//! `--head-seq N --head-hash HEX` (the export must reach it, and may extend past it).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use iys_ledger::{Head, Row, Verdict, Verifier};

use crate::error::CliError;
use crate::Tally;

/// `--head-hash`: 64 hex digits (SHA-256), kept as given (compared without regard to case).
pub fn parse_head_hash(s: &str) -> Result<String, String> {
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s.to_string())
    } else {
        Err("expected 64 hex digits (the headHash of /admin/ledger/verify)".into())
    }
}

/// Verifies an export read from `reader`, line by line (constant memory): with `head`, the last
/// row's hash must equal it; with `expected`, the export must reach that head.
pub fn verify_reader(reader: impl BufRead, head: Option<&str>, expected: Option<Head>) -> std::io::Result<Verdict> {
    let mut v = expected.map_or_else(Verifier::default, Verifier::expecting);
    for (i, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let n = Some(i as u64 + 1);
        let ok = match serde_json::from_str::<Row>(&line) {
            Ok(r) => v.push(&r, n),
            Err(_) => {
                v.unreadable(n);
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
                Some("seq-gap") => "seq-gap (a row is missing or out of order)",
                Some("prev-hash") => "prev-hash (the row does not follow the one before it)",
                Some("hash") => "hash (the row was changed)",
                Some("unreadable-row") => "unreadable-row (not a ledger row)",
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
