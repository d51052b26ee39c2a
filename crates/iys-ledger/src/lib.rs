//! # iys-ledger
//!
//! The relay's tamper-evident ledger, as one definition shared by the Worker (which appends and
//! verifies rows in D1) and the CLI (`iys ledger verify`, which checks an export).
//!
//! Each row is `{seq, at, provider, request_id, kind, payload_sha256, outcome, iys_ids, prev_hash,
//! hash}` (`seq` a JSON integer, every other field a string), one JSON object per line in an export.
//!
//! - `canonical(row)` is the compact JSON array of the eight content fields
//!   `[seq as a decimal string, at, provider, request_id, kind, payload_sha256, outcome, iys_ids]`,
//!   so no field can bleed into another;
//! - `hash = lowercase hex(SHA-256(prev_hash + canonical(row)))`, the two strings concatenated;
//! - the first row has `seq` 1 and `prev_hash` [`GENESIS`]; each later row has `seq` one more than
//!   the row before and that row's `hash` as its `prev_hash`.
//!
//! An edited row breaks its own `hash` (reason `hash`); a deleted row leaves a gap in `seq`
//! (`seq-gap`, reported at the first missing seq); a row moved or re-chained breaks `prev-hash`.
//! Deleting rows at the end leaves a valid shorter chain, so the chain alone cannot show it: a head
//! `(seq, hash)` kept elsewhere (the relay's ledger writer keeps one in its own storage) can.
//! [`Verifier::expecting`] checks a chain against such a head: a chain that ends before its seq is
//! broken with reason `tail` (reported at the first missing seq), and a chain whose row at that seq
//! has another hash (cut and grown again) with reason `head`. Rows after the head are fine: the
//! chain has grown since it was recorded.
//!
//! Rows hold no recipients or tokens: payloads are represented by their SHA-256 only.
//!
//! ```
//! use iys_ledger::{Row, Verifier, GENESIS};
//! let mut row = Row { seq: 1, at: "2026-11-28T12:00:00Z".into(), provider: "p1".into(),
//!     request_id: "r1".into(), kind: "inbound:consents".into(), payload_sha256: "00".into(),
//!     outcome: "200".into(), iys_ids: String::new(), prev_hash: GENESIS.into(), hash: String::new() };
//! row.hash = row.compute_hash();
//! let mut v = Verifier::default();
//! assert!(v.push(&row, None));
//! row.outcome = "422".into(); // an edit
//! let mut v = Verifier::default();
//! assert!(!v.push(&row, None));
//! assert_eq!(v.finish(None).reason.as_deref(), Some("hash"));
//! ```

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One ledger row (also the export format).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// `<status>` or `<status> <code>`, e.g. `200`, `422 recipient/phone-not-wire-form`, `timeout`.
    pub outcome: String,
    /// IYS ids (transactionId, requestId, …), comma-separated.
    pub iys_ids: String,
    /// The previous row's hash.
    pub prev_hash: String,
    /// This row's hash.
    pub hash: String,
}

/// The keys of a row in an export, exactly: [`Row`]'s fields.
pub const FIELDS: [&str; 10] =
    ["seq", "at", "provider", "request_id", "kind", "payload_sha256", "outcome", "iys_ids", "prev_hash", "hash"];

/// One line of an export as a row, or `None` when it is not exactly one: not JSON, a field
/// missing, of the wrong type or given twice, or a key that is not one of [`FIELDS`]. An extra
/// key is refused because the hash covers only the eight content fields: `"note":"forged"` added
/// to a row would otherwise pass as part of an intact chain. ([`Row`] itself ignores unknown keys:
/// the Worker reads rows into it from `SELECT *`.)
pub fn parse_export_line(line: &str) -> Option<Row> {
    let keys: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).ok()?;
    if keys.len() != FIELDS.len() || !FIELDS.iter().all(|f| keys.contains_key(*f)) {
        return None;
    }
    // Parsed again as a Row, which refuses a key given twice (the map above keeps the last).
    serde_json::from_str(line).ok()
}

impl Row {
    /// The canonical text of the row's content (everything but the hashes).
    pub fn canonical(&self) -> String {
        let seq = self.seq.to_string();
        let fields = [
            seq.as_str(),
            &self.at,
            &self.provider,
            &self.request_id,
            &self.kind,
            &self.payload_sha256,
            &self.outcome,
            &self.iys_ids,
        ];
        serde_json::to_string(&fields).unwrap_or_default()
    }

    /// `hex(SHA-256(prev_hash + canonical))`: what `hash` must be.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.prev_hash.as_bytes());
        h.update(self.canonical().as_bytes());
        hex(&h.finalize())
    }
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

/// Lowercase hex of SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// The result of walking a chain (the shape of the relay's `/admin/ledger/verify`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// True when every row checks.
    pub ok: bool,
    /// Rows read.
    pub rows: u64,
    /// The last good row's seq.
    pub head_seq: i64,
    /// The last good row's hash.
    pub head_hash: String,
    /// The first seq that does not check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_broken: Option<i64>,
    /// `seq-gap`, `prev-hash`, `hash`, `unreadable-row`, `tail` (the chain ends before the expected
    /// head) or `head` (the row at the expected head's seq, or the last row, has another hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The 1-based line of an export where the break was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}

/// A head recorded elsewhere: the chain must reach `seq`, and its row `seq` must have `hash`.
/// `seq` 0 (with any hash) is the empty chain's head and expects nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The head row's seq.
    pub seq: i64,
    /// The head row's hash (hex; compared without regard to case).
    pub hash: String,
}

/// Incremental verifier: feed rows in order; it stops at the first break.
#[derive(Debug, Clone)]
pub struct Verifier {
    expect_seq: i64,
    prev_hash: String,
    /// The head the chain must reach, if any.
    head: Option<Head>,
    v: Verdict,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            expect_seq: 1,
            prev_hash: GENESIS.to_string(),
            head: None,
            v: Verdict { ok: true, ..Verdict::default() },
        }
    }
}

impl Verifier {
    /// A verifier that also checks the chain against `head` (see [`Head`]): reason `tail` when the
    /// chain ends before it, `head` when its row at `head.seq` has another hash.
    pub fn expecting(head: Head) -> Self {
        Verifier { head: Some(head).filter(|h| h.seq > 0), ..Verifier::default() }
    }

    /// Checks the next row (from export line `line`, when read from a file); false once broken.
    pub fn push(&mut self, r: &Row, line: Option<u64>) -> bool {
        if !self.v.ok {
            return false;
        }
        self.v.rows += 1;
        let reason = if r.seq != self.expect_seq {
            Some("seq-gap")
        } else if r.prev_hash != self.prev_hash {
            Some("prev-hash")
        } else if r.compute_hash() != r.hash {
            Some("hash")
        } else if self.head.as_ref().is_some_and(|h| h.seq == r.seq && !h.hash.trim().eq_ignore_ascii_case(&r.hash)) {
            // A valid chain, but not the one the head was recorded from: cut, then grown again.
            Some("head")
        } else {
            None
        };
        if let Some(why) = reason {
            // For a seq out of line, the seq that should have come is what broke: the first missing
            // one of a gap, and, for a row repeated or moved back, the one after the last good
            // row (its own seq checked already: reporting it would contradict the count of rows
            // that check).
            let at = if why == "seq-gap" { self.expect_seq } else { r.seq };
            self.broken(why, at, line);
            return false;
        }
        self.expect_seq = r.seq + 1;
        self.prev_hash.clone_from(&r.hash);
        self.v.head_seq = r.seq;
        self.v.head_hash.clone_from(&r.hash);
        true
    }

    /// Records a line that is not a row at all.
    pub fn unreadable(&mut self, line: Option<u64>) {
        if self.v.ok {
            self.v.rows += 1;
            let next = self.expect_seq;
            self.broken("unreadable-row", next, line);
        }
    }

    fn broken(&mut self, why: &str, seq: i64, line: Option<u64>) {
        self.v.ok = false;
        self.v.first_broken = Some(seq);
        self.v.reason = Some(why.to_string());
        self.v.line = line;
    }

    /// The verdict; with `head`, the last row's hash must also equal it (catches a cut tail). A
    /// verifier made by [`Verifier::expecting`] also fails (`tail`) when the chain ended before
    /// the expected head's seq.
    pub fn finish(mut self, head: Option<&str>) -> Verdict {
        if let Some(h) = self.head.take() {
            if self.v.ok && self.v.head_seq < h.seq {
                let next = self.expect_seq;
                self.broken("tail", next, None);
            }
        }
        if let Some(h) = head {
            if self.v.ok && !self.v.head_hash.eq_ignore_ascii_case(h.trim()) {
                let next = self.expect_seq;
                self.broken("head", next, None);
            }
        }
        self.v
    }
}

/// Verifies an export held in memory (one row per line); with `head`, its last row's hash must
/// equal it.
pub fn verify_export(text: &str, head: Option<&str>) -> Verdict {
    verify_export_with(Verifier::default(), text, head)
}

/// [`verify_export`] with a verifier of the caller's (e.g. [`Verifier::expecting`] a head).
pub fn verify_export_with(mut v: Verifier, text: &str, head: Option<&str>) -> Verdict {
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let n = Some(i as u64 + 1);
        let ok = match parse_export_line(line) {
            Some(r) => v.push(&r, n),
            None => {
                v.unreadable(n);
                false
            }
        };
        if !ok {
            return v.finish(None);
        }
    }
    v.finish(head)
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
                    at: format!("2026-11-28T12:00:{seq:02}Z"),
                    provider: "p1".into(),
                    request_id: format!("r{seq}"),
                    kind: "inbound:consents".into(),
                    payload_sha256: sha256_hex(seq.to_string().as_bytes()),
                    outcome: "200".into(),
                    iys_ids: String::new(),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                r.hash = r.compute_hash();
                prev.clone_from(&r.hash);
                r
            })
            .collect()
    }

    fn export(rows: &[Row]) -> String {
        rows.iter().map(|r| serde_json::to_string(r).unwrap() + "\n").collect()
    }

    #[test]
    fn the_canonical_form_is_pinned() {
        let r = &chain(1)[0];
        assert_eq!(
            r.canonical(),
            format!(r#"["1","2026-11-28T12:00:01Z","p1","r1","inbound:consents","{}","200",""]"#, r.payload_sha256)
        );
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn an_intact_chain_verifies_and_reports_its_head() {
        let rows = chain(5);
        let v = verify_export(&export(&rows), Some(&rows[4].hash));
        assert!(v.ok, "{v:?}");
        assert_eq!((v.rows, v.head_seq), (5, 5));
    }

    #[test]
    fn edits_deletions_reorders_garbage_and_cut_tails_are_found() {
        let rows = chain(5);
        let mut edited = rows.clone();
        edited[2].outcome = "422".into();
        let v = verify_export(&export(&edited), None);
        assert_eq!((v.first_broken, v.reason.as_deref(), v.line), (Some(3), Some("hash"), Some(3)));

        let mut deleted = rows.clone();
        deleted.remove(1);
        let v = verify_export(&export(&deleted), None);
        assert_eq!((v.first_broken, v.reason.as_deref()), (Some(2), Some("seq-gap")));

        let mut rechained = rows.clone();
        rechained[3].prev_hash = GENESIS.into();
        rechained[3].hash = rechained[3].compute_hash();
        let v = verify_export(&export(&rechained), None);
        assert_eq!((v.first_broken, v.reason.as_deref()), (Some(4), Some("prev-hash")));

        let v = verify_export(&(export(&rows[..2]) + "not json\n"), None);
        assert_eq!((v.first_broken, v.reason.as_deref(), v.line), (Some(3), Some("unreadable-row"), Some(3)));

        let v = verify_export(&export(&rows[..3]), Some(&rows[4].hash));
        assert_eq!((v.ok, v.reason.as_deref()), (false, Some("head")));
    }

    #[test]
    fn fields_are_the_rows_keys_and_an_extra_key_makes_a_line_unreadable() {
        let r = &chain(1)[0];
        let v = serde_json::to_value(r).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut fields = FIELDS.to_vec();
        keys.sort_unstable();
        fields.sort_unstable();
        assert_eq!(keys, fields);
        let line = serde_json::to_string(r).unwrap();
        assert_eq!(parse_export_line(&line).as_ref(), Some(r));
        let forged = line.replacen('{', r#"{"note":"forged","#, 1);
        assert_eq!(parse_export_line(&forged), None);
        let twice = line.replacen('{', r#"{"outcome":"500","#, 1);
        assert_eq!(parse_export_line(&twice), None);
        let v = verify_export(&forged, None);
        assert_eq!((v.ok, v.reason.as_deref(), v.line), (false, Some("unreadable-row"), Some(1)));
    }

    #[test]
    fn a_repeated_row_breaks_at_the_seq_that_should_have_come() {
        let rows = chain(5);
        let mut repeated = rows[..3].to_vec();
        repeated.push(rows[2].clone());
        repeated.extend_from_slice(&rows[3..]);
        let v = verify_export(&export(&repeated), None);
        assert_eq!((v.first_broken, v.reason.as_deref(), v.line, v.head_seq), (Some(4), Some("seq-gap"), Some(4), 3));
    }

    fn head_of(r: &Row) -> Head {
        Head { seq: r.seq, hash: r.hash.to_uppercase() }
    }

    #[test]
    fn an_expected_head_passes_when_reached_or_extended_and_fails_on_a_cut_or_regrown_tail() {
        let rows = chain(6);
        let check = |rows: &[Row], head: Head| verify_export_with(Verifier::expecting(head), &export(rows), None);

        // Reached exactly, or extended past it (rows appended since the head was recorded).
        let v = check(&rows, head_of(&rows[5]));
        assert!(v.ok, "{v:?}");
        let v = check(&rows, head_of(&rows[3]));
        assert!(v.ok, "{v:?}");
        assert_eq!(v.head_seq, 6);
        // The empty chain's head expects nothing.
        assert!(check(&[], Head { seq: 0, hash: GENESIS.into() }).ok);

        // The last row, then the last three, deleted: `tail` at the first missing seq.
        let v = check(&rows[..5], head_of(&rows[5]));
        assert_eq!((v.ok, v.reason.as_deref(), v.first_broken, v.head_seq), (false, Some("tail"), Some(6), 5));
        let v = check(&rows[..3], head_of(&rows[5]));
        assert_eq!((v.reason.as_deref(), v.first_broken, v.rows), (Some("tail"), Some(4), 3));
        let v = check(&[], head_of(&rows[5]));
        assert_eq!((v.reason.as_deref(), v.first_broken), (Some("tail"), Some(1)));

        // Cut after row 3, then grown again with other rows: a valid chain, but not the recorded one.
        let mut regrown = rows[..3].to_vec();
        let mut prev = regrown[2].hash.clone();
        for seq in 4..=7 {
            let mut r = rows[0].clone();
            r.seq = seq;
            r.request_id = format!("other{seq}");
            r.prev_hash = prev.clone();
            r.hash = r.compute_hash();
            prev.clone_from(&r.hash);
            regrown.push(r);
        }
        assert!(verify_export(&export(&regrown), None).ok, "valid on its own");
        let v = check(&regrown, head_of(&rows[5]));
        assert_eq!((v.reason.as_deref(), v.first_broken, v.head_seq), (Some("head"), Some(6), 5));

        // A break inside the chain is still reported as itself.
        let mut edited = rows[..5].to_vec();
        edited[1].outcome = "500".into();
        let v = check(&edited, head_of(&rows[5]));
        assert_eq!((v.reason.as_deref(), v.first_broken), (Some("hash"), Some(2)));
    }
}
