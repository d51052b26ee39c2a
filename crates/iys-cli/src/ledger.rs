//! `iys ledger verify FILE`: checks the hash chain of a ledger exported by the relay
//! (`GET /admin/ledger/export`, JSON lines). The row format and the chain are `iys-ledger`'s, the
//! same definition the relay appends and verifies with; `--head HASH` (the head hash the relay
//! reports) also catches rows cut from the end.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use iys_ledger::{Row, Verdict, Verifier};

use crate::error::CliError;
use crate::Tally;

/// Verifies an export read from `reader`, line by line (constant memory).
pub fn verify_reader(reader: impl BufRead, head: Option<&str>) -> std::io::Result<Verdict> {
    let mut v = Verifier::default();
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
pub fn run(file: &Path, head: Option<&str>, json: bool) -> Result<Tally, CliError> {
    let f = std::fs::File::open(file).map_err(|e| CliError::io(format!("cannot open {}", file.display()), &e))?;
    let v = verify_reader(BufReader::new(f), head)
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
                Some("head") => "head (the export ends before the given head: rows were removed at the end)",
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
