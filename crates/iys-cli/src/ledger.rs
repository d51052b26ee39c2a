//! `iys ledger verify FILE`: checks the hash chain of a ledger exported by the relay
//! (`GET /admin/ledger/export`, JSON lines), as defined in `crates/iys-worker/src/ledger.rs`.
//!
//! Each line is one row `{seq, at, provider, request_id, kind, payload_sha256, outcome, iys_ids,
//! prev_hash, hash}` (`seq` a JSON integer, every other field a string). The chain:
//!
//! - `canonical(row)` = the compact JSON array (serde_json's writer) of the eight content fields
//!   `[seq as a decimal string, at, provider, request_id, kind, payload_sha256, outcome, iys_ids]`;
//! - `hash = lowercase hex(SHA-256(prev_hash + canonical(row)))`, the two strings concatenated
//!   with nothing between them;
//! - the first row has `seq` 1 and `prev_hash` 64 zeros; each later row has `seq` one more than
//!   the row before and that row's `hash` as its `prev_hash`.
//!
//! An edited row breaks its own `hash` (reason `hash`); a deleted row leaves a gap in `seq`
//! (`seq-gap`, reported at the first missing seq); a row moved or re-chained breaks `prev-hash`.
//! Deleting rows at the end leaves a valid shorter chain: `--head HASH` (the head hash the relay
//! reports) catches that (`head`).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::CliError;
use crate::Tally;

/// The `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One exported row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// ISO-8601 UTC time.
    pub at: String,
    /// Provider id (or `admin`, `cron`, `queue`).
    pub provider: String,
    /// The relay's request id.
    pub request_id: String,
    /// `inbound:<route>` or `upstream:<route>`.
    pub kind: String,
    /// SHA-256 (hex) of the payload.
    pub payload_sha256: String,
    /// `<status>` or `<status> <code>`.
    pub outcome: String,
    /// IYS ids, comma-separated.
    pub iys_ids: String,
    /// The previous row's hash.
    pub prev_hash: String,
    /// This row's hash.
    pub hash: String,
}

/// The canonical text of a row's content.
pub fn canonical(r: &Row) -> String {
    let fields = [
        r.seq.to_string(),
        r.at.clone(),
        r.provider.clone(),
        r.request_id.clone(),
        r.kind.clone(),
        r.payload_sha256.clone(),
        r.outcome.clone(),
        r.iys_ids.clone(),
    ];
    serde_json::to_string(&fields).unwrap_or_default()
}

/// `hex(SHA-256(prev_hash + canonical(row)))`.
pub fn row_hash(r: &Row) -> String {
    let mut h = Sha256::new();
    h.update(r.prev_hash.as_bytes());
    h.update(canonical(r).as_bytes());
    hex(&h.finalize())
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// The result of walking an export (same shape as the relay's `/admin/ledger/verify`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// Every row checks.
    pub ok: bool,
    /// Rows read.
    pub rows: u64,
    /// The last good row's seq.
    pub head_seq: i64,
    /// The last good row's hash.
    pub head_hash: String,
    /// The first seq that does not check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_broken: Option<i64>,
    /// `seq-gap`, `prev-hash`, `hash`, `unreadable-row` or `head`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The 1-based line of the file where the break was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}

/// Walks rows in file order; stops at the first break.
#[derive(Debug)]
pub struct Verifier {
    expect_seq: i64,
    prev_hash: String,
    v: Verdict,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier { expect_seq: 1, prev_hash: GENESIS.to_string(), v: Verdict { ok: true, ..Verdict::default() } }
    }
}

impl Verifier {
    /// Checks the next row (from file line `line`); false once the chain is broken.
    pub fn push(&mut self, r: &Row, line: u64) -> bool {
        if !self.v.ok {
            return false;
        }
        self.v.rows += 1;
        let reason = if r.seq != self.expect_seq {
            Some("seq-gap")
        } else if r.prev_hash != self.prev_hash {
            Some("prev-hash")
        } else if row_hash(r) != r.hash {
            Some("hash")
        } else {
            None
        };
        if let Some(why) = reason {
            let at = if why == "seq-gap" { self.expect_seq.min(r.seq) } else { r.seq };
            self.broken(why, at, line);
            return false;
        }
        self.expect_seq = r.seq + 1;
        self.prev_hash.clone_from(&r.hash);
        self.v.head_seq = r.seq;
        self.v.head_hash.clone_from(&r.hash);
        true
    }

    fn broken(&mut self, why: &str, seq: i64, line: u64) {
        self.v.ok = false;
        self.v.first_broken = Some(seq);
        self.v.reason = Some(why.to_string());
        self.v.line = Some(line);
    }

    /// The verdict, checking the head against `head` when given.
    pub fn finish(mut self, head: Option<&str>, lines: u64) -> Verdict {
        if let Some(h) = head {
            if self.v.ok && !self.v.head_hash.eq_ignore_ascii_case(h.trim()) {
                let next = self.expect_seq;
                self.broken("head", next, lines + 1);
            }
        }
        self.v
    }
}

/// Verifies an export read from `reader`.
pub fn verify_reader(reader: impl BufRead, head: Option<&str>) -> std::io::Result<Verdict> {
    let mut v = Verifier::default();
    let mut n = 0u64;
    for line in reader.lines() {
        let line = line?;
        n += 1;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Row>(&line) {
            Ok(r) => {
                if !v.push(&r, n) {
                    return Ok(v.finish(None, n));
                }
            }
            Err(_) => {
                let next = v.expect_seq;
                v.v.rows += 1;
                v.broken("unreadable-row", next, n);
                return Ok(v.finish(None, n));
            }
        }
    }
    Ok(v.finish(head, n))
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
            "broken at seq {} (line {}): {}; the {} rows before it check (head seq {})\n",
            v.first_broken.unwrap_or_default(),
            v.line.unwrap_or_default(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<Row> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let mut r = Row {
                    seq,
                    at: "2026-11-28T00:00:00.000Z".into(),
                    provider: "p\"ş".into(),
                    request_id: format!("r{seq}"),
                    kind: "inbound:batch".into(),
                    payload_sha256: "ab".into(),
                    outcome: "200".into(),
                    iys_ids: String::new(),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                r.hash = row_hash(&r);
                prev = r.hash.clone();
                r
            })
            .collect()
    }

    fn verify(rows: &[Row], head: Option<&str>) -> Verdict {
        let text: String = rows.iter().map(|r| serde_json::to_string(r).unwrap_or_default() + "\n").collect();
        verify_reader(text.as_bytes(), head).unwrap_or_default()
    }

    #[test]
    fn canonical_form_is_the_array_of_the_eight_fields() {
        let r = &chain(1)[0];
        assert_eq!(canonical(r), r#"["1","2026-11-28T00:00:00.000Z","p\"ş","r1","inbound:batch","ab","200",""]"#);
        let mut h = Sha256::new();
        h.update(format!("{GENESIS}{}", canonical(r)));
        assert_eq!(r.hash, hex(&h.finalize()));
    }

    #[test]
    fn intact_edited_deleted_and_truncated() {
        let rows = chain(5);
        let v = verify(&rows, Some(&rows[4].hash));
        assert!(v.ok, "{v:?}");
        assert_eq!((v.rows, v.head_seq), (5, 5));
        let mut edited = rows.clone();
        edited[2].outcome = "500".into();
        let v = verify(&edited, None);
        assert_eq!((v.ok, v.first_broken, v.reason.as_deref()), (false, Some(3), Some("hash")));
        let mut deleted = rows.clone();
        deleted.remove(1);
        let v = verify(&deleted, None);
        assert_eq!((v.ok, v.first_broken, v.reason.as_deref()), (false, Some(2), Some("seq-gap")));
        let v = verify(&rows[..4], Some(&rows[4].hash));
        assert_eq!((v.ok, v.first_broken, v.reason.as_deref()), (false, Some(5), Some("head")));
    }
}
