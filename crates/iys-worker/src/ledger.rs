//! The tamper-evident ledger in D1.
//!
//! Each row is `(seq, at, provider, request_id, kind, payload_sha256, outcome, iys_ids, prev_hash,
//! hash)` with `hash = SHA-256(prev_hash || canonical(row))`, where `canonical` is the JSON array of
//! the eight content fields (`seq` as a string first), so no field can bleed into another. The first
//! row's `prev_hash` is 64 zeros. An edited row breaks its own hash; a deleted row leaves a gap in
//! `seq` and breaks the next row's `prev_hash`.
//!
//! **Single writer, by construction.** An append reads the head `(seq, hash)` and inserts `seq + 1`;
//! `seq` is the primary key, so of two concurrent appends on the same head exactly one succeeds and the
//! other re-reads the head and tries again (optimistic concurrency, bounded retries with jitter). The
//! chain is therefore linear without a lock or a central object; D1 runs each statement atomically.
//! Several rows of one request go in one D1 batch (a transaction), so they stay adjacent.
//!
//! Rows hold no recipients or tokens: payloads are represented by their SHA-256 only.

use crate::util::{iso_now, random_bytes, sha256_hex};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;
use worker::{D1Database, Delay, Result};

/// The previous hash of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a caller records (the ledger adds seq, time and the chain).
#[derive(Debug, Clone)]
pub struct Entry {
    /// Provider id (or `admin`, `cron`, `queue`).
    pub provider: String,
    /// The relay's id for the request this row belongs to.
    pub request_id: String,
    /// `inbound:<route>` or `upstream:<route>`.
    pub kind: String,
    /// SHA-256 (hex) of the payload.
    pub payload_sha256: String,
    /// `<status>` or `<status> <code>`, e.g. `200`, `422 recipient/phone-not-wire-form`, `timeout`.
    pub outcome: String,
    /// IYS ids (transactionId, requestId, …), comma-separated.
    pub iys_ids: String,
}

/// A stored row (also the export format, one JSON object per line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// ISO-8601 UTC time.
    pub at: String,
    /// Provider id.
    pub provider: String,
    /// Relay request id.
    pub request_id: String,
    /// Kind.
    pub kind: String,
    /// Payload hash.
    pub payload_sha256: String,
    /// Outcome.
    pub outcome: String,
    /// IYS ids.
    pub iys_ids: String,
    /// The previous row's hash.
    pub prev_hash: String,
    /// This row's hash.
    pub hash: String,
}

/// The canonical text of a row's content (everything but the hashes).
pub fn canonical(r: &Row) -> String {
    json!([r.seq.to_string(), r.at, r.provider, r.request_id, r.kind, r.payload_sha256, r.outcome, r.iys_ids])
        .to_string()
}

/// `SHA-256(prev_hash || canonical(row))`.
pub fn row_hash(r: &Row) -> String {
    let mut s = r.prev_hash.clone();
    s.push_str(&canonical(r));
    sha256_hex(s.as_bytes())
}

/// The result of walking a chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// True when every row checks.
    pub ok: bool,
    /// Rows read.
    pub rows: u64,
    /// Last seq read.
    pub head_seq: i64,
    /// Last hash read.
    pub head_hash: String,
    /// The first row that does not check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_broken: Option<i64>,
    /// Why (`seq-gap`, `prev-hash`, `hash`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Incremental verifier: feed rows in seq order.
#[derive(Debug, Clone)]
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
    /// Checks the next row; returns false once the chain is broken.
    pub fn push(&mut self, r: &Row) -> bool {
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
            self.v.ok = false;
            // For a gap the first missing seq is what broke.
            self.v.first_broken = Some(if why == "seq-gap" { self.expect_seq.min(r.seq) } else { r.seq });
            self.v.reason = Some(why.to_string());
            return false;
        }
        self.expect_seq = r.seq + 1;
        self.prev_hash = r.hash.clone();
        self.v.head_seq = r.seq;
        self.v.head_hash = r.hash.clone();
        true
    }

    /// The verdict so far.
    pub fn finish(self) -> Verdict {
        self.v
    }
}

/// Verifies an export (JSON lines, one [`Row`] per line), e.g. for `iys ledger verify`.
pub fn verify_export(text: &str) -> Verdict {
    let mut v = Verifier::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Row>(line) {
            Ok(r) => {
                if !v.push(&r) {
                    break;
                }
            }
            Err(_) => {
                let mut out = v.finish();
                out.ok = false;
                out.reason = Some("unreadable-row".into());
                out.first_broken = Some(out.head_seq + 1);
                return out;
            }
        }
    }
    v.finish()
}

#[derive(Deserialize)]
struct Head {
    seq: i64,
    hash: String,
}

/// Appends rows (adjacent, in order) and returns the first seq.
pub async fn append(db: &D1Database, entries: &[Entry]) -> Result<i64> {
    if entries.is_empty() {
        return Ok(0);
    }
    let mut last_err = String::new();
    for attempt in 0..40u32 {
        let head: Option<Head> =
            db.prepare("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").first(None).await?;
        let (mut seq, mut prev) = head.map(|h| (h.seq, h.hash)).unwrap_or((0, GENESIS.to_string()));
        let first = seq + 1;
        let at = iso_now();
        let mut stmts = Vec::with_capacity(entries.len());
        for e in entries {
            seq += 1;
            let mut r = Row {
                seq,
                at: at.clone(),
                provider: e.provider.clone(),
                request_id: e.request_id.clone(),
                kind: e.kind.clone(),
                payload_sha256: e.payload_sha256.clone(),
                outcome: e.outcome.clone(),
                iys_ids: e.iys_ids.clone(),
                prev_hash: prev.clone(),
                hash: String::new(),
            };
            r.hash = row_hash(&r);
            prev = r.hash.clone();
            stmts.push(
                db.prepare(
                    "INSERT INTO ledger (seq, at, provider, request_id, kind, payload_sha256, outcome, iys_ids, prev_hash, hash) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .bind(&[
                    (r.seq as f64).into(),
                    r.at.into(),
                    r.provider.into(),
                    r.request_id.into(),
                    r.kind.into(),
                    r.payload_sha256.into(),
                    r.outcome.into(),
                    r.iys_ids.into(),
                    r.prev_hash.into(),
                    r.hash.into(),
                ])?,
            );
        }
        match db.batch(stmts).await {
            Ok(_) => return Ok(first),
            Err(e) => {
                last_err = e.to_string();
                if !last_err.contains("UNIQUE") && !last_err.contains("constraint") {
                    return Err(e);
                }
                // Lost the race for this seq: back off a little (with jitter) and re-read the head.
                let j = random_bytes(1).map(|b| b[0] as u64).unwrap_or(0) % 8;
                Delay::from(Duration::from_millis(1 + j + u64::from(attempt.min(10)))).await;
            }
        }
    }
    Err(worker::Error::RustError(format!("ledger append gave up: {last_err}")))
}

/// Walks the whole chain in D1.
pub async fn verify(db: &D1Database) -> Result<Verdict> {
    let mut v = Verifier::default();
    let mut after = 0i64;
    loop {
        let rows: Vec<Row> = db
            .prepare("SELECT * FROM ledger WHERE seq > ?1 ORDER BY seq LIMIT 500")
            .bind(&[(after as f64).into()])?
            .all()
            .await?
            .results()?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            if !v.push(r) {
                return Ok(v.finish());
            }
        }
        after = rows.last().map(|r| r.seq).unwrap_or(after);
    }
    Ok(v.finish())
}

/// The chain as JSON lines (for `iys ledger verify`), rows with `seq > after`, at most `limit`.
pub async fn export(db: &D1Database, after: i64, limit: u32) -> Result<String> {
    let rows: Vec<Row> = db
        .prepare("SELECT * FROM ledger WHERE seq > ?1 ORDER BY seq LIMIT ?2")
        .bind(&[(after as f64).into(), f64::from(limit).into()])?
        .all()
        .await?
        .results()?;
    let mut out = String::new();
    for r in rows {
        out.push_str(&serde_json::to_string(&r).unwrap_or_default());
        out.push('\n');
    }
    Ok(out)
}

/// Usage counts for a provider: `{kind: {outcome-status: n}}`.
pub async fn usage(db: &D1Database, provider: &str) -> Result<Value> {
    #[derive(Deserialize)]
    struct C {
        kind: String,
        outcome: String,
        n: f64,
    }
    let rows: Vec<C> = db
        .prepare("SELECT kind, outcome, COUNT(*) AS n FROM ledger WHERE provider = ?1 GROUP BY kind, outcome")
        .bind(&[provider.into()])?
        .all()
        .await?
        .results()?;
    let mut m = serde_json::Map::new();
    for c in rows {
        let status = c.outcome.split(' ').next().unwrap_or("").to_string();
        let e = m.entry(c.kind).or_insert_with(|| json!({}));
        if let Some(o) = e.as_object_mut() {
            let cur = o.get(&status).and_then(Value::as_u64).unwrap_or(0);
            o.insert(status, json!(cur + c.n as u64));
        }
    }
    Ok(Value::Object(m))
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
                    provider: "p".into(),
                    request_id: format!("r{seq}"),
                    kind: "inbound:add".into(),
                    payload_sha256: "00".into(),
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

    fn export_of(rows: &[Row]) -> String {
        rows.iter().map(|r| serde_json::to_string(r).unwrap_or_default() + "\n").collect()
    }

    #[test]
    fn intact_edited_and_deleted() {
        let rows = chain(5);
        assert!(verify_export(&export_of(&rows)).ok);
        let mut edited = rows.clone();
        edited[2].outcome = "500".into();
        let v = verify_export(&export_of(&edited));
        assert_eq!((v.ok, v.first_broken, v.reason.as_deref()), (false, Some(3), Some("hash")));
        let mut deleted = rows.clone();
        deleted.remove(1);
        let v = verify_export(&export_of(&deleted));
        assert_eq!((v.ok, v.first_broken, v.reason.as_deref()), (false, Some(2), Some("seq-gap")));
    }
}
