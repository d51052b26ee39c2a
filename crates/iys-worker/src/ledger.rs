//! The tamper-evident ledger in D1. The row format, hash chain and verifier are `iys-ledger`'s
//! (shared with `iys ledger verify`); this module appends, walks and exports rows in D1.
//!
//! Each row is `(seq, at, provider, request_id, kind, payload_sha256, outcome, iys_ids, prev_hash,
//! hash)` with `hash = SHA-256(prev_hash || canonical(row))`, where `canonical` is the JSON array of
//! the eight content fields (`seq` as a string first), so no field can bleed into another. The first
//! row's `prev_hash` is 64 zeros. An edited row breaks its own hash; a deleted row leaves a gap in
//! `seq` and breaks the next row's `prev_hash`.
//!
//! **One writer, group commit** ([`LedgerWriter`], one Durable Object for the whole ledger). Every
//! append goes to that object; it keeps the head `(seq, hash)` in memory, gathers the appends that
//! arrive while a D1 write is in flight into the next batch, and writes each batch as one D1 batch (a
//! transaction), so the rows of one append stay adjacent and the chain is linear. `seq` is still the
//! primary key and the insert still reads "head + 1": should anything else write (the fallback
//! below), the insert fails on the key, the writer re-reads the head and tries again.
//!
//! **The end of the chain.** Rows deleted at the end leave a valid, shorter chain, so the writer
//! also records the head in its own SQLite storage, in the same turn as each D1 commit and after it
//! (the record never runs ahead of D1: a failed, lost or retried write leaves it behind, never
//! ahead, so it makes no false alarm). Whenever the head is not known (at start, after any failed
//! write), D1 must still hold the recorded head's row with its hash ([`resume`]); and every insert
//! is guarded in SQL to chain only onto a row that is in D1 as written. If D1 ends before the
//! recorded head, the writer refuses to append ([`Refusal`]: `ledger/truncated`, or
//! `ledger/head-mismatch` when the chain was cut and written again) rather than chain onto the
//! shortened end, and `/admin/ledger/verify` fails with reason `tail` (or `head`). Putting the rows
//! back ends the refusal; after a restore that legitimately rewound D1, an operator accepts D1's
//! head (`POST /admin/ledger/accept-head`, itself a row of the chain).
//!
//! The relay hands its rows to the writer from `ctx.waitUntil` (see `relay::finish`): the answer does
//! not wait for D1, and the isolate is not released before the rows are committed. A failed hand-over
//! is retried (marked `dedup`, so rows that did land are not written twice) and, as a last resort,
//! written to D1 directly; only if that fails too is `ledger/append-failed` logged with the request id.
//! A refusal is neither retried nor written around. The direct write cannot see the recorded head:
//! should it chain onto a cut end, the writer's next check finds the recorded head missing or
//! changed.
//!
//! Rows hold no recipients or tokens: payloads are represented by their SHA-256 only.

use crate::util::{iso_now, random_bytes};
use futures_util::future::{FutureExt, LocalBoxFuture, Shared};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use worker::{durable_object, D1Database, Delay, DurableObject, Env, Request, Response, Result, SqlStorage, State};

pub use iys_ledger::{Head, Row, Verdict, Verifier, GENESIS};

/// What a caller records (the ledger adds seq, time and the chain).
#[derive(Debug, Clone, Serialize, Deserialize)]
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

async fn read_head(db: &D1Database) -> Result<Head> {
    let head: Option<Head> = db.prepare("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").first(None).await?;
    Ok(head.unwrap_or(Head { seq: 0, hash: GENESIS.to_string() }))
}

/// How far back (rows) a retried append looks for itself.
const DEDUP_WINDOW: i64 = 100_000;

/// Whether the append `e` (its first row) is already among the last [`DEDUP_WINDOW`] rows: a retried
/// hand-over whose first attempt did land. A bounded range scan on the primary key.
async fn already_in(db: &D1Database, head: i64, e: &Entry) -> Result<bool> {
    #[derive(Deserialize)]
    struct N {
        n: f64,
    }
    let n: Option<N> = db
        .prepare(
            "SELECT COUNT(*) AS n FROM ledger WHERE seq > ?1 AND request_id = ?2 AND kind = ?3 AND payload_sha256 = ?4",
        )
        .bind(&[
            ((head - DEDUP_WINDOW).max(0) as f64).into(),
            e.request_id.as_str().into(),
            e.kind.as_str().into(),
            e.payload_sha256.as_str().into(),
        ])?
        .first(None)
        .await?;
    Ok(n.is_some_and(|n| n.n > 0.0))
}

/// What one guarded insert did.
enum Insert {
    /// Committed: the first seq and the new head.
    Done(i64, Head),
    /// Another row holds one of the seqs (someone else wrote after `prev`): the D1 error.
    Taken(String),
    /// `prev` is not in D1 as given (deleted, or replaced): nothing was written.
    Gone,
}

/// Writes `entries` (adjacent, in order) after `prev` in one D1 batch (a transaction). Every
/// statement is guarded: it inserts only if the row it chains onto is in D1 with that hash (for
/// the first, `prev`; for the others, the last row of the statement before, written in the same
/// transaction), so a batch never chains onto a row that is gone, and a missing `prev` makes the
/// whole batch insert nothing. `prev.seq` 0 (the empty chain) needs an empty table.
async fn insert(db: &D1Database, entries: &[Entry], prev: &Head) -> Result<Insert> {
    let (mut seq, mut prev_hash) = (prev.seq, prev.hash.clone());
    let first = seq + 1;
    let at = iso_now();
    let mut rows = Vec::with_capacity(entries.len());
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
            prev_hash: prev_hash.clone(),
            hash: String::new(),
        };
        r.hash = r.compute_hash();
        prev_hash = r.hash.clone();
        rows.push(r);
    }
    // One multi-row INSERT … SELECT per ROWS_PER_INSERT rows (D1 binds at most 100 parameters per
    // statement: a row has 10, the guard 2), all in one D1 batch.
    let mut stmts = Vec::with_capacity(rows.len().div_ceil(ROWS_PER_INSERT));
    let (mut guard_seq, mut guard_hash) = (prev.seq, prev.hash.clone());
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO ledger (seq, at, provider, request_id, kind, payload_sha256, outcome, iys_ids, prev_hash, hash) \
             SELECT * FROM (VALUES ",
        );
        let mut binds: Vec<wasm_bindgen::JsValue> = Vec::with_capacity(chunk.len() * 10 + 2);
        for (i, r) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let b = i * 10;
            sql.push('(');
            sql.push_str(&(1..=10).map(|k| format!("?{}", b + k)).collect::<Vec<_>>().join(", "));
            sql.push(')');
            binds.extend([
                (r.seq as f64).into(),
                r.at.as_str().into(),
                r.provider.as_str().into(),
                r.request_id.as_str().into(),
                r.kind.as_str().into(),
                r.payload_sha256.as_str().into(),
                r.outcome.as_str().into(),
                r.iys_ids.as_str().into(),
                r.prev_hash.as_str().into(),
                r.hash.as_str().into(),
            ]);
        }
        let (ps, ph) = (chunk.len() * 10 + 1, chunk.len() * 10 + 2);
        sql.push_str(&format!(
            ") WHERE (?{ps} = 0 AND NOT EXISTS (SELECT 1 FROM ledger)) \
             OR EXISTS (SELECT 1 FROM ledger WHERE seq = ?{ps} AND hash = ?{ph})"
        ));
        binds.extend([(guard_seq as f64).into(), guard_hash.as_str().into()]);
        if let Some(last) = chunk.last() {
            (guard_seq, guard_hash) = (last.seq, last.hash.clone());
        }
        stmts.push(db.prepare(&sql).bind(&binds)?);
    }
    match db.batch(stmts).await {
        Ok(results) => {
            // D1 reports each statement's changes; all or nothing, as it is one transaction.
            let mut written = 0usize;
            for r in &results {
                match r.meta()?.and_then(|m| m.changes) {
                    Some(n) => written += n,
                    None => {
                        return Err(worker::Error::RustError("ledger insert: D1 did not report its changes".into()))
                    }
                }
            }
            if written == rows.len() {
                Ok(Insert::Done(first, Head { seq, hash: prev_hash }))
            } else if written == 0 {
                Ok(Insert::Gone)
            } else {
                Err(worker::Error::RustError(format!("ledger insert wrote {written} of {} rows", rows.len())))
            }
        }
        Err(e) => {
            let msg = e.to_string();
            if msg.contains("UNIQUE") || msg.contains("constraint") {
                Ok(Insert::Taken(msg))
            } else {
                Err(e)
            }
        }
    }
}

/// A short pause (with jitter) before trying again after losing the race for a seq.
async fn backoff(attempt: u32) {
    let j = random_bytes(1).map(|b| b[0] as u64).unwrap_or(0) % 8;
    Delay::from(Duration::from_millis(1 + j + u64::from(attempt.min(10)))).await;
}

/// Writes rows (adjacent, in order) onto D1's chain as it is (the relay's last resort when the
/// writer cannot be reached; it cannot ask for the writer's recorded head, so a truncation it
/// chains onto is caught afterwards: see [`Refusal`]). Starts after `hint` (or the head read from
/// D1); when the seq is taken or the row it chains onto moved, re-reads the head and tries again
/// (bounded, with jitter). Returns the first seq and the new head.
pub async fn append_direct(db: &D1Database, entries: &[Entry], hint: Option<Head>) -> Result<(i64, Head)> {
    let mut hint = hint;
    let mut last_err = String::new();
    for attempt in 0..40u32 {
        let head = match hint.take() {
            Some(h) => h,
            None => read_head(db).await?,
        };
        if entries.is_empty() {
            return Ok((head.seq + 1, head));
        }
        match insert(db, entries, &head).await? {
            Insert::Done(first, h) => return Ok((first, h)),
            Insert::Taken(e) => last_err = e,
            Insert::Gone => last_err = format!("the head (seq {}) moved", head.seq),
        }
        backoff(attempt).await;
    }
    Err(worker::Error::RustError(format!("ledger append gave up: {last_err}")))
}

/// Why the writer refuses to append: D1's chain does not reach the head the writer recorded (in its
/// own storage, with every batch it committed). Appending would chain onto the shortened end and
/// hide the deletion, so the writer appends nothing until D1 reaches the head again (the rows are
/// restored) or an operator accepts D1's head (`POST /admin/ledger/accept-head`). The codes are
/// stable: `ledger/truncated` (D1 ends before the recorded head: rows deleted at the end) and
/// `ledger/head-mismatch` (D1's row at the recorded head's seq has another hash: cut and grown
/// again, e.g. by the direct fallback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// D1's last seq, the recorded head's seq.
    Truncated { d1_seq: i64, head_seq: i64 },
    /// The recorded head's seq.
    HeadMismatch { head_seq: i64 },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Truncated { d1_seq, head_seq } => write!(
                f,
                "ledger/truncated: D1's ledger ends at seq {d1_seq}, before the writer's recorded head seq {head_seq} \
                 (rows were deleted at the end); refusing to append"
            ),
            Refusal::HeadMismatch { head_seq } => write!(
                f,
                "ledger/head-mismatch: D1's row at the writer's recorded head seq {head_seq} has another hash \
                 (the chain was cut and written again); refusing to append"
            ),
        }
    }
}

/// Whether an append's error is the writer's refusal (not worth retrying or writing around).
pub fn is_refusal(e: &str) -> bool {
    e.contains("ledger/truncated") || e.contains("ledger/head-mismatch")
}

/// The writer's record of the head, in its own SQLite storage (survives eviction and restarts).
fn recorded(sql: &SqlStorage) -> Result<Option<Head>> {
    #[derive(Deserialize)]
    struct R {
        seq: f64,
        hash: String,
    }
    sql.exec(
        "CREATE TABLE IF NOT EXISTS head (id INTEGER PRIMARY KEY CHECK (id = 1), seq REAL NOT NULL, hash TEXT NOT NULL)",
        None,
    )?;
    let rows: Vec<R> = sql.exec("SELECT seq, hash FROM head WHERE id = 1", None)?.to_array()?;
    Ok(rows.into_iter().next().map(|r| Head { seq: r.seq as i64, hash: r.hash }))
}

/// Records `h` as the head (synchronous; the object's answer waits until it is durable).
fn keep(sql: &SqlStorage, h: &Head) -> Result<()> {
    sql.exec_raw(
        "INSERT OR REPLACE INTO head (id, seq, hash) VALUES (1, ?, ?)",
        vec![(h.seq as f64).into(), h.hash.as_str().into()],
    )?;
    Ok(())
}

/// The head to append after, checked against the recorded one: D1 must still hold the recorded
/// head's row with its hash (rows after it are fine: the direct fallback, or a batch committed just
/// before a crash, wrote them). D1's head becomes the recorded one. With nothing recorded yet (the
/// first start with this check, or storage lost), D1's head is taken as it is.
async fn resume(db: &D1Database, sql: &SqlStorage) -> Result<std::result::Result<Head, Refusal>> {
    let rec = recorded(sql)?;
    let d1 = read_head(db).await?;
    if let Some(r) = rec.as_ref().filter(|r| r.seq > 0) {
        if d1.seq < r.seq {
            return Ok(Err(Refusal::Truncated { d1_seq: d1.seq, head_seq: r.seq }));
        }
        #[derive(Deserialize)]
        struct H {
            hash: String,
        }
        let at: Option<H> =
            db.prepare("SELECT hash FROM ledger WHERE seq = ?1").bind(&[(r.seq as f64).into()])?.first(None).await?;
        if at.is_none_or(|h| !h.hash.eq_ignore_ascii_case(&r.hash)) {
            return Ok(Err(Refusal::HeadMismatch { head_seq: r.seq }));
        }
    }
    if rec.as_ref() != Some(&d1) {
        if rec.is_none() {
            worker::console_log!("ledger/head-adopted seq={}: no recorded head, D1's is taken", d1.seq);
        }
        keep(sql, &d1)?;
    }
    Ok(Ok(d1))
}

/// Ledger rows per INSERT statement (10 bound parameters each and 2 for the guard; D1 allows 100
/// per statement).
const ROWS_PER_INSERT: usize = 9;

/// The writer object's name (there is one).
const WRITER: &str = "ledger";

#[derive(Serialize, Deserialize)]
struct AppendReq {
    entries: Vec<Entry>,
    dedup: bool,
}

#[derive(Deserialize)]
struct AppendMany {
    appends: Vec<AppendReq>,
}

/// The writer's answer for one append: its first seq, or why it failed.
#[derive(Serialize, Deserialize)]
struct AppendResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Hands several appends to the writer in one call; one result per append, in order.
async fn via_writer(env: &Env, appends: &[AppendReq]) -> Result<Vec<std::result::Result<i64, String>>> {
    #[derive(Serialize)]
    struct Body<'a> {
        appends: &'a [AppendReq],
    }
    #[derive(Deserialize)]
    struct Answer {
        results: Vec<AppendResult>,
    }
    let body = serde_json::to_string(&Body { appends })?;
    let (status, text) = crate::raw::durable_h(env, "LEDGER", WRITER, "POST", "/append?h=1", Some(&body)).await?;
    let results = serde_json::from_str::<Answer>(&text).ok().map(|a| a.results).filter(|r| r.len() == appends.len());
    match results {
        Some(rs) if status == 200 => Ok(rs
            .into_iter()
            .map(|r| match (r.first, r.error) {
                (Some(first), None) => Ok(first),
                (_, e) => Err(e.unwrap_or_else(|| "no result".into())),
            })
            .collect()),
        _ => Err(worker::Error::RustError(format!("ledger writer answered {status}: {text}"))),
    }
}

/// Where one append's result lands.
type Slot = Rc<RefCell<Option<std::result::Result<i64, String>>>>;

/// This isolate's outbox: appends waiting for the next call to the writer, and when the call in
/// flight (if any) started.
#[derive(Default)]
struct Outbox {
    waiting: Vec<(Vec<Entry>, Slot)>,
    in_flight_since: Option<u64>,
}

thread_local! {
    static OUTBOX: RefCell<Outbox> = RefCell::new(Outbox::default());
}

/// How often an append waiting for another request's call looks again (its own timer).
const POLL_MS: u64 = 10;
/// How long the request that sends gathers the isolate's appends before its call (off the response
/// path: the answer has left already). Fewer, fuller calls to the writer, and fewer D1 writes. Kept
/// short because until the writer has them an answered request's rows are only in this isolate's
/// memory: a hard crash of the runtime in that window loses them (`cargo xtask bench worker`, one
/// run each: relay/proxy 0.26–0.28× with no gather, 0.36× at 5 ms, 0.38× at 25 ms, which lost 2 of
/// 442 rows to the fault drill's SIGKILL right after traffic).
const GATHER_MS: u64 = 5;
/// A call in flight longer than this is not waited for (its sender may be gone); the append is then
/// handed over again on its own, marked `dedup`.
const STALE_MS: u64 = 10_000;

/// Hands one append to the writer, sharing the call with this isolate's other pending appends:
/// when no call is in flight, this request sends everything waiting (its own append included) in
/// one call and fills in every result; otherwise it waits, on its own timer, for a request that
/// does. Nothing waits on another request's I/O (the runtime would cancel a request that only
/// waits on another's), and every request does its own retries.
async fn hand_over(env: &Env, entries: Vec<Entry>) -> std::result::Result<i64, String> {
    let mine: Slot = Rc::new(RefCell::new(None));
    let started = crate::util::now_ms();
    OUTBOX.with(|o| o.borrow_mut().waiting.push((entries, mine.clone())));
    loop {
        if let Some(r) = mine.borrow_mut().take() {
            return r;
        }
        let now = crate::util::now_ms();
        let batch = OUTBOX.with(|o| {
            let mut o = o.borrow_mut();
            let free = o.in_flight_since.is_none_or(|t| now.saturating_sub(t) > STALE_MS);
            if free && !o.waiting.is_empty() {
                o.in_flight_since = Some(now);
                Some(std::mem::take(&mut o.waiting))
            } else {
                None
            }
        });
        let Some(mut batch) = batch else {
            if now.saturating_sub(started) > STALE_MS {
                // Our rows may be in a call that never came back: the caller retries with dedup.
                OUTBOX.with(|o| o.borrow_mut().waiting.retain(|(_, s)| !Rc::ptr_eq(s, &mine)));
                return Err("ledger hand-over: the shared call did not answer".into());
            }
            Delay::from(Duration::from_millis(POLL_MS)).await;
            continue;
        };
        // Let the appends of requests finishing around now join this call.
        Delay::from(Duration::from_millis(GATHER_MS)).await;
        OUTBOX.with(|o| batch.append(&mut o.borrow_mut().waiting));
        let (appends, slots): (Vec<AppendReq>, Vec<Slot>) =
            batch.into_iter().map(|(entries, slot)| (AppendReq { entries, dedup: false }, slot)).unzip();
        let results = via_writer(env, &appends).await;
        OUTBOX.with(|o| o.borrow_mut().in_flight_since = None);
        match results {
            Ok(rs) => {
                for (slot, r) in slots.iter().zip(rs) {
                    *slot.borrow_mut() = Some(r);
                }
            }
            Err(e) => {
                for slot in &slots {
                    *slot.borrow_mut() = Some(Err(e.to_string()));
                }
            }
        }
    }
}

/// The longest one [`append`] may take. Appends run from `waitUntil`, which the runtime cancels
/// 30 s after the answer, silently; past this budget the append gives up with an error instead, which
/// its caller logs (`ledger/append-failed`), so a lost row is never a silent one.
const APPEND_BUDGET_MS: u64 = 25_000;

/// Appends rows (adjacent, in order) through the writer and returns the first seq (0 when a retried
/// append found its rows already there). The first hand-over shares one call to the writer with the
/// isolate's other pending appends; a failed one is retried alone twice (marked `dedup`), then the
/// rows are written directly; all within `APPEND_BUDGET_MS`.
pub async fn append(env: &Env, entries: &[Entry]) -> Result<i64> {
    if entries.is_empty() {
        return Ok(0);
    }
    let deadline = crate::util::now_ms() + APPEND_BUDGET_MS;
    let out_of_time = |last: &str| {
        worker::Error::RustError(format!(
            "ledger/append-out-of-time request={} rows={}: no commit within {APPEND_BUDGET_MS} ms (last: {last})",
            entries[0].request_id,
            entries.len()
        ))
    };
    let mut last = match hand_over(env, entries.to_vec()).await {
        Ok(first) => return Ok(first),
        Err(e) => e,
    };
    for attempt in 0..3u32 {
        if is_refusal(&last) {
            // The writer answered: D1 does not reach its recorded head. Retrying changes nothing,
            // and writing around it would chain onto the shortened end and hide the deletion.
            return Err(worker::Error::RustError(last));
        }
        worker::console_error!(
            "ledger/append-retry request={} attempt={} rows={}: {last}",
            entries[0].request_id,
            attempt + 1,
            entries.len()
        );
        Delay::from(Duration::from_millis(50 << attempt)).await;
        if attempt == 2 {
            break;
        }
        let Some(sent) = crate::util::within(
            Some(deadline),
            via_writer(env, &[AppendReq { entries: entries.to_vec(), dedup: true }]),
        )
        .await
        else {
            return Err(out_of_time(&last));
        };
        match sent {
            Ok(mut r) => match r.pop() {
                Some(Ok(first)) => return Ok(first),
                Some(Err(e)) => last = e,
                None => last = "no result".into(),
            },
            Err(e) => last = e.to_string(),
        }
    }
    // Last resort (the writer could not be reached): straight into D1. The guarded insert keeps
    // the chain linear next to the writer; it cannot see the writer's recorded head, but a
    // truncation it chains onto is caught by the writer's next check and by `/admin/ledger/verify`.
    let db = env.d1("DB")?;
    let direct = async {
        let head = read_head(&db).await?;
        if already_in(&db, head.seq, &entries[0]).await? {
            return Ok(0);
        }
        append_direct(&db, entries, Some(head))
            .await
            .map(|(first, _)| first)
            .map_err(|e| worker::Error::RustError(format!("{e} (writer: {last})")))
    };
    crate::util::within(Some(deadline), direct).await.unwrap_or_else(|| Err(out_of_time(&last)))
}

/// Waits until every append the writer has received is committed (admin reads of the ledger call
/// this first, so they see what this isolate's requests recorded from `waitUntil`).
pub async fn flush(env: &Env) -> Result<()> {
    // This isolate's outbox first: wait (on this request's own timer) until it is empty and no call
    // is in flight, so the writer has received what this isolate answered.
    let started = crate::util::now_ms();
    while OUTBOX.with(|o| {
        let o = o.borrow();
        !o.waiting.is_empty() || o.in_flight_since.is_some()
    }) && crate::util::now_ms().saturating_sub(started) < STALE_MS
    {
        Delay::from(Duration::from_millis(POLL_MS)).await;
    }
    crate::do_get(env, "LEDGER", WRITER, "/flush").await.map(|_| ())
}

/// One append waiting in a batch.
struct Job {
    entries: Vec<Entry>,
    dedup: bool,
}

type Outcome = Rc<Vec<std::result::Result<i64, String>>>;
type Flight = Shared<LocalBoxFuture<'static, Outcome>>;
type Batch = Rc<RefCell<Option<Vec<Job>>>>;

/// Most rows in one D1 batch.
const MAX_ROWS: usize = 200;

/// The ledger's single writer (one object, [`WRITER`]).
#[durable_object]
pub struct LedgerWriter {
    env: Env,
    /// The object's own SQLite storage: the recorded head.
    sql: SqlStorage,
    /// The head to append after; `None` until checked against the recorded one (at start, and
    /// after any failed or refused write).
    head: Rc<RefCell<Option<Head>>>,
    /// The batch still taking appends, and its flight.
    open: RefCell<Option<(Batch, Flight)>>,
    /// The newest flight (every earlier one is done before it starts).
    last: RefCell<Option<Flight>>,
    /// Appends received whose body is still being read.
    receiving: Cell<u32>,
}

/// How many times one chunk is tried when its seq is taken (someone else wrote after the head).
const TRIES: u32 = 40;

/// Writes one batch of appends, in order; one result per append. Each chunk goes after the head
/// (checked against the recorded one by [`resume`] whenever it is not known), and a committed
/// chunk's head is recorded in the object's storage in the same turn, after D1's commit: the
/// record never runs ahead of D1, so a failed or retried write cannot make a false alarm, and a
/// write that landed without being recorded only leaves the record behind (the next [`resume`]
/// catches up).
async fn write(env: Env, sql: SqlStorage, head: Rc<RefCell<Option<Head>>>, jobs: Vec<Job>) -> Outcome {
    let fail = |n: usize, e: String| Rc::new(vec![Err(e); n]);
    let db = match env.d1("DB") {
        Ok(db) => db,
        Err(e) => return fail(jobs.len(), e.to_string()),
    };
    let mut out: Vec<std::result::Result<i64, String>> = Vec::with_capacity(jobs.len());
    let mut i = 0;
    while i < jobs.len() {
        let mut attempt = 0u32;
        // The head, known or checked; a refusal or a failed read fails every append left.
        let known = head.borrow().clone();
        let mut h = match known {
            Some(h) => h,
            None => match resume(&db, &sql).await {
                Ok(Ok(h)) => {
                    *head.borrow_mut() = Some(h.clone());
                    h
                }
                Ok(Err(refusal)) => {
                    worker::console_error!("{refusal} (appends={})", jobs.len() - i);
                    out.extend(std::iter::repeat_n(Err(refusal.to_string()), jobs.len() - i));
                    return Rc::new(out);
                }
                Err(e) => {
                    out.extend(std::iter::repeat_n(Err(e.to_string()), jobs.len() - i));
                    return Rc::new(out);
                }
            },
        };
        // A chunk of whole appends, at most MAX_ROWS rows (one append may exceed it alone).
        let mut rows: Vec<Entry> = Vec::new();
        let mut chunk: Vec<Option<usize>> = Vec::new(); // offset of each job's rows, or None: already in
        while i < jobs.len() && (rows.is_empty() || rows.len() + jobs[i].entries.len() <= MAX_ROWS) {
            let j = &jobs[i];
            let dup = if j.dedup && !j.entries.is_empty() {
                match already_in(&db, h.seq, &j.entries[0]).await {
                    Ok(d) => d,
                    Err(e) => {
                        out.extend(std::iter::repeat_n(Err(e.to_string()), jobs.len() - out.len()));
                        return Rc::new(out);
                    }
                }
            } else {
                false
            };
            if dup || j.entries.is_empty() {
                chunk.push(None);
            } else {
                chunk.push(Some(rows.len()));
                rows.extend(j.entries.iter().cloned());
            }
            i += 1;
        }
        let done = loop {
            if rows.is_empty() {
                break Ok(h.seq + 1);
            }
            match insert(&db, &rows, &h).await {
                Ok(Insert::Done(first, new_head)) => {
                    // D1 has the rows: record the head now, in this turn. Should the record fail,
                    // the rows are still committed; the record stays behind (safe) and the head
                    // is checked again next time.
                    match keep(&sql, &new_head) {
                        Ok(()) => *head.borrow_mut() = Some(new_head),
                        Err(e) => {
                            worker::console_error!("ledger/head-record-failed seq={}: {e}", new_head.seq);
                            *head.borrow_mut() = None;
                        }
                    }
                    break Ok(first);
                }
                Ok(outcome) => {
                    // The seq is taken, or the row we chain onto is gone: check D1 against the
                    // recorded head again (a refusal names which), then try after D1's head.
                    *head.borrow_mut() = None;
                    attempt += 1;
                    let why = match outcome {
                        Insert::Taken(e) => e,
                        _ => format!("the row at seq {} is not in D1 as written", h.seq),
                    };
                    if attempt >= TRIES {
                        break Err(format!("ledger append gave up: {why}"));
                    }
                    match resume(&db, &sql).await {
                        Ok(Ok(nh)) => {
                            *head.borrow_mut() = Some(nh.clone());
                            h = nh;
                        }
                        Ok(Err(refusal)) => {
                            worker::console_error!("{refusal} (appends={})", jobs.len() - out.len());
                            break Err(refusal.to_string());
                        }
                        Err(e) => break Err(e.to_string()),
                    }
                    backoff(attempt).await;
                }
                Err(e) => {
                    // The head is unknown now: check it again next time.
                    *head.borrow_mut() = None;
                    break Err(e.to_string());
                }
            }
        };
        match done {
            Ok(first) => out.extend(chunk.iter().map(|off| Ok(off.map_or(0, |o| first + o as i64)))),
            Err(msg) => {
                let refused = is_refusal(&msg);
                out.extend(chunk.iter().map(|_| Err(msg.clone())));
                if refused {
                    // Nothing after a refusal is written either.
                    out.extend(std::iter::repeat_n(Err(msg.clone()), jobs.len() - i));
                    return Rc::new(out);
                }
            }
        }
    }
    Rc::new(out)
}

impl LedgerWriter {
    /// Puts `jobs` (adjacent, in order) in the open batch (or opens one after the newest flight);
    /// one result per job.
    async fn append(&self, jobs: Vec<Job>) -> Vec<std::result::Result<i64, String>> {
        let n = jobs.len();
        let mut jobs = Some(jobs);
        let joined = {
            let open = self.open.borrow();
            match open.as_ref() {
                Some((b, f)) => {
                    let mut slot = b.borrow_mut();
                    match (slot.as_mut(), jobs.take()) {
                        (Some(open_jobs), Some(js)) => {
                            let at = open_jobs.len();
                            open_jobs.extend(js);
                            Some((f.clone(), at))
                        }
                        (_, js) => {
                            jobs = js;
                            None
                        }
                    }
                }
                None => None,
            }
        };
        let (flight, at) = match joined {
            Some(x) => x,
            None => {
                let batch: Batch = Rc::new(RefCell::new(Some(jobs.take().unwrap_or_default())));
                let prev = self.last.borrow().clone();
                let (env, sql, head, b) = (self.env.clone(), self.sql.clone(), self.head.clone(), batch.clone());
                let fut = async move {
                    if let Some(p) = prev {
                        let _ = p.await;
                    }
                    let jobs = b.borrow_mut().take().unwrap_or_default();
                    write(env, sql, head, jobs).await
                }
                .boxed_local()
                .shared();
                *self.open.borrow_mut() = Some((batch, fut.clone()));
                *self.last.borrow_mut() = Some(fut.clone());
                (fut, 0)
            }
        };
        let out = flight.await;
        (at..at + n)
            .map(|i| out.get(i).cloned().unwrap_or_else(|| Err("ledger writer lost an append".into())))
            .collect()
    }
}

impl DurableObject for LedgerWriter {
    fn new(state: State, env: Env) -> Self {
        Self {
            env,
            sql: state.storage().sql(),
            head: Rc::new(RefCell::new(None)),
            open: RefCell::new(None),
            last: RefCell::new(None),
            receiving: Cell::new(0),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let in_header = crate::raw::wants_header(&req);
        match req.path().as_str() {
            "/append" => {
                // `{appends: [{entries, dedup}, …]}`: one result per append, `{first}` or `{error}`.
                self.receiving.set(self.receiving.get() + 1);
                let body = req.text().await;
                self.receiving.set(self.receiving.get().saturating_sub(1));
                let many: AppendMany = serde_json::from_str(&body?)?;
                let jobs = many.appends.into_iter().map(|a| Job { entries: a.entries, dedup: a.dedup }).collect();
                let results: Vec<AppendResult> = self
                    .append(jobs)
                    .await
                    .into_iter()
                    .map(|r| match r {
                        Ok(first) => AppendResult { first: Some(first), error: None },
                        Err(e) => AppendResult { first: None, error: Some(e) },
                    })
                    .collect();
                // With `h=1` (the relay's hand-over) in a header: no body to stream back and read.
                crate::raw::answer_in_header(in_header, serde_json::to_string(&json!({ "results": results }))?)
            }
            "/head" => {
                // The recorded head (`null` before the first append with this check).
                let h = recorded(&self.sql)?;
                Response::from_json(&json!({ "head": h }))
            }
            "/accept" => {
                // `{seq, hash}`: an operator accepts D1's head (after a restore that legitimately
                // rewound D1, see `POST /admin/ledger/accept-head`). Only D1's current head is
                // accepted, after every write in flight; 409 otherwise.
                let want: Head = serde_json::from_str(&req.text().await?)?;
                let last = self.last.borrow().clone();
                if let Some(f) = last {
                    let _ = f.await;
                }
                let db = self.env.d1("DB")?;
                let d1 = read_head(&db).await?;
                if d1.seq != want.seq || !d1.hash.eq_ignore_ascii_case(want.hash.trim()) {
                    return Ok(Response::from_json(&json!({ "accepted": false, "d1Head": d1 }))?.with_status(409));
                }
                let before = recorded(&self.sql)?;
                keep(&self.sql, &d1)?;
                *self.head.borrow_mut() = Some(d1.clone());
                worker::console_log!(
                    "ledger/head-accepted seq={} (recorded before: {})",
                    d1.seq,
                    before.as_ref().map_or_else(|| "none".into(), |b| b.seq.to_string())
                );
                Response::from_json(&json!({ "accepted": true, "head": d1, "before": before }))
            }
            "/flush" => {
                while self.receiving.get() > 0 {
                    Delay::from(Duration::from_millis(1)).await;
                }
                let last = self.last.borrow().clone();
                if let Some(f) = last {
                    let _ = f.await;
                }
                Response::from_json(&json!({"ok": true}))
            }
            _ => Response::error("not found", 404),
        }
    }
}

impl std::fmt::Debug for LedgerWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerWriter").field("head", &self.head).finish_non_exhaustive()
    }
}

/// The head the writer recorded (`None` before its first append with this check).
pub async fn recorded_head(env: &Env) -> Result<Option<Head>> {
    #[derive(Deserialize)]
    struct A {
        head: Option<Head>,
    }
    let (status, text) = crate::raw::durable(env, "LEDGER", WRITER, "GET", "/head", None).await?;
    match serde_json::from_str::<A>(&text) {
        Ok(a) if status == 200 => Ok(a.head),
        _ => Err(worker::Error::RustError(format!("ledger writer answered {status} to /head: {text}"))),
    }
}

/// Asks the writer to accept D1's head `h` as its recorded head: `Ok(Ok(answer))`, or
/// `Ok(Err(D1's head))` when `h` is not D1's head.
pub async fn accept_head(env: &Env, h: &Head) -> Result<std::result::Result<Value, Value>> {
    let body = json!({ "seq": h.seq, "hash": h.hash }).to_string();
    let (status, text) = crate::raw::durable(env, "LEDGER", WRITER, "POST", "/accept", Some(&body)).await?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    match status {
        200 => Ok(Ok(v)),
        409 => Ok(Err(v["d1Head"].clone())),
        _ => Err(worker::Error::RustError(format!("ledger writer answered {status} to /accept: {v}"))),
    }
}

/// Walks the whole chain in D1; with `expected` (the writer's recorded head), D1 must reach it
/// (`tail` when it ends before it, `head` when its row there has another hash).
pub async fn verify(db: &D1Database, expected: Option<Head>) -> Result<Verdict> {
    let mut v = expected.map_or_else(Verifier::default, Verifier::expecting);
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
