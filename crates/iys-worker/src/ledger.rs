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
//! transaction), so the rows of one append stay adjacent and the chain is linear. The head is read
//! from D1 when the object starts. `seq` is still the primary key and the insert still reads "head +
//! 1": should anything else write (the fallback below, a restore), the insert fails on the key, the
//! writer re-reads the head and tries again, so the chain stays linear even then.
//!
//! The relay hands its rows to the writer from `ctx.waitUntil` (see `relay::finish`): the answer does
//! not wait for D1, and the isolate is not released before the rows are committed. A failed hand-over
//! is retried (marked `dedup`, so rows that did land are not written twice) and, as a last resort,
//! written to D1 directly; only if that fails too is `ledger/append-failed` logged with the request id.
//!
//! Rows hold no recipients or tokens: payloads are represented by their SHA-256 only.

use crate::util::{iso_now, random_bytes};
use futures_util::future::{FutureExt, LocalBoxFuture, Shared};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use worker::{durable_object, D1Database, Delay, DurableObject, Env, Request, Response, Result, State};

pub use iys_ledger::{Row, Verdict, Verifier, GENESIS};

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

/// The chain's head.
#[derive(Debug, Clone, Deserialize)]
pub struct Head {
    seq: i64,
    hash: String,
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

/// Writes rows (adjacent, in order) after `hint` (or the head read from D1) in one D1 batch; when
/// the key says someone else took that seq, re-reads the head and tries again (bounded, with
/// jitter). Returns the first seq and the new head.
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
        let (mut seq, mut prev) = (head.seq, head.hash);
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
                prev_hash: prev.clone(),
                hash: String::new(),
            };
            r.hash = r.compute_hash();
            prev = r.hash.clone();
            rows.push(r);
        }
        // One multi-row INSERT per ROWS_PER_INSERT rows (D1 binds at most 100 parameters per
        // statement; a row has 10), all in one D1 batch (a transaction).
        let mut stmts = Vec::with_capacity(rows.len().div_ceil(ROWS_PER_INSERT));
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let mut sql = String::from(
                "INSERT INTO ledger (seq, at, provider, request_id, kind, payload_sha256, outcome, iys_ids, prev_hash, hash) VALUES ",
            );
            let mut binds: Vec<wasm_bindgen::JsValue> = Vec::with_capacity(chunk.len() * 10);
            for (i, r) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                let b = i * 10;
                sql.push_str(&format!(
                    "(?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?{})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8,
                    b + 9,
                    b + 10
                ));
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
            stmts.push(db.prepare(&sql).bind(&binds)?);
        }
        match db.batch(stmts).await {
            Ok(_) => return Ok((first, Head { seq, hash: prev })),
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

/// Ledger rows per INSERT statement (10 bound parameters each; D1 allows 100 per statement).
const ROWS_PER_INSERT: usize = 10;

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

/// Appends rows (adjacent, in order) through the writer and returns the first seq (0 when a retried
/// append found its rows already there). The first hand-over shares one call to the writer with the
/// isolate's other pending appends; a failed one is retried alone twice (marked `dedup`), then the
/// rows are written directly.
pub async fn append(env: &Env, entries: &[Entry]) -> Result<i64> {
    if entries.is_empty() {
        return Ok(0);
    }
    let mut last = match hand_over(env, entries.to_vec()).await {
        Ok(first) => return Ok(first),
        Err(e) => e,
    };
    for attempt in 0..3u32 {
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
        match via_writer(env, &[AppendReq { entries: entries.to_vec(), dedup: true }]).await {
            Ok(mut r) => match r.pop() {
                Some(Ok(first)) => return Ok(first),
                Some(Err(e)) => last = e,
                None => last = "no result".into(),
            },
            Err(e) => last = e.to_string(),
        }
    }
    // Last resort: straight into D1. The key check keeps the chain linear next to the writer.
    let db = env.d1("DB")?;
    let head = read_head(&db).await?;
    if already_in(&db, head.seq, &entries[0]).await? {
        return Ok(0);
    }
    append_direct(&db, entries, Some(head))
        .await
        .map(|(first, _)| first)
        .map_err(|e| worker::Error::RustError(format!("{e} (writer: {last})")))
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
    head: Rc<RefCell<Option<Head>>>,
    /// The batch still taking appends, and its flight.
    open: RefCell<Option<(Batch, Flight)>>,
    /// The newest flight (every earlier one is done before it starts).
    last: RefCell<Option<Flight>>,
    /// Appends received whose body is still being read.
    receiving: Cell<u32>,
}

/// Writes one batch of appends, in order; one result per append.
async fn write(env: Env, head: Rc<RefCell<Option<Head>>>, jobs: Vec<Job>) -> Outcome {
    let fail = |n: usize, e: String| Rc::new(vec![Err(e); n]);
    let db = match env.d1("DB") {
        Ok(db) => db,
        Err(e) => return fail(jobs.len(), e.to_string()),
    };
    let mut out: Vec<std::result::Result<i64, String>> = Vec::with_capacity(jobs.len());
    let mut i = 0;
    while i < jobs.len() {
        // A chunk of whole appends, at most MAX_ROWS rows (one append may exceed it alone).
        let mut rows: Vec<Entry> = Vec::new();
        let mut chunk: Vec<(usize, Option<usize>)> = Vec::new(); // (job, offset of its rows or None: already in)
        let known = head.borrow().clone();
        let mut h = match known {
            Some(h) => h,
            None => match read_head(&db).await {
                Ok(h) => h,
                Err(e) => return fail(jobs.len(), e.to_string()),
            },
        };
        while i < jobs.len() && (rows.is_empty() || rows.len() + jobs[i].entries.len() <= MAX_ROWS) {
            let j = &jobs[i];
            let dup = if j.dedup && !j.entries.is_empty() {
                match already_in(&db, h.seq, &j.entries[0]).await {
                    Ok(d) => d,
                    Err(e) => return fail(jobs.len(), e.to_string()),
                }
            } else {
                false
            };
            if dup || j.entries.is_empty() {
                chunk.push((i, None));
            } else {
                chunk.push((i, Some(rows.len())));
                rows.extend(j.entries.iter().cloned());
            }
            i += 1;
        }
        match append_direct(&db, &rows, Some(h.clone())).await {
            Ok((first, new_head)) => {
                h = new_head;
                *head.borrow_mut() = Some(h.clone());
                for (_, off) in chunk {
                    out.push(Ok(off.map_or(0, |o| first + o as i64)));
                }
            }
            Err(e) => {
                // The head is unknown now: read it again next time.
                *head.borrow_mut() = None;
                let msg = e.to_string();
                for _ in chunk {
                    out.push(Err(msg.clone()));
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
                let (env, head, b) = (self.env.clone(), self.head.clone(), batch.clone());
                let fut = async move {
                    if let Some(p) = prev {
                        let _ = p.await;
                    }
                    let jobs = b.borrow_mut().take().unwrap_or_default();
                    write(env, head, jobs).await
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
    fn new(_state: State, env: Env) -> Self {
        Self {
            env,
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
