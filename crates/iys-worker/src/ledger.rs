//! The tamper-evident ledger in D1. The row format, hash chain and verifier are `iys-ledger`'s
//! (shared with `iys ledger verify`); this module appends, walks and exports rows in D1.
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

use crate::util::{iso_now, random_bytes};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;
use worker::{D1Database, Delay, Result};

pub use iys_ledger::{Row, Verdict, Verifier, GENESIS};

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
            r.hash = r.compute_hash();
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
            if !v.push(r, None) {
                return Ok(v.finish(None));
            }
        }
        after = rows.last().map(|r| r.seq).unwrap_or(after);
    }
    Ok(v.finish(None))
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
