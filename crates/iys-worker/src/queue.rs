//! Outbound work through Cloudflare Queues.
//!
//! Consents to send live in the D1 table `outbound` (one row per consent, state `queued` → `sending` →
//! `sent` → `success`/`failure`); queue messages only say *which* (iysCode, brand) has work or which
//! IYS request to poll. The consumer:
//!
//! 1. `Send`: claims up to 1000 due `queued` rows of one (iysCode, brand) (an atomic `UPDATE … WHERE id
//!    IN (SELECT … LIMIT 1000)` with a claim id, so two consumers never send the same row). Only the
//!    oldest open row of each recipient key (recipientType, type, recipient: column `rkey`) can be
//!    claimed: IYS refuses a whole list holding one key twice (H194), and a later row of a key waits
//!    until the earlier one is final, so IYS sees them in the order the relay accepted them. Rows
//!    that may already have reached IYS (a timed-out send) are first checked with the status query:
//!    if IYS already holds exactly that consent, the row is a success without resending (IYS has no
//!    idempotency key). The rest go as one IYS batch; then a `Poll` is scheduled.
//! 2. `Poll`: reads IYS's request status; `success` and permanent `failure` are final; a failure IYS
//!    marks as worth resending (H015, H101–H103, H123, H124, H179, H192, H412, H470, 5xx) goes back
//!    to `queued` with exponential backoff and jitter; `enqueue` is polled again. An H174/H178 on a
//!    resent row is checked against the status query before it is called a failure.
//! 3. Network errors and timeouts on send requeue the rows with `needs_check`; 429/5xx without an
//!    answer body requeue them without it. A refusal of the whole list fails only the rows IYS names
//!    (and every row for a code about the account or brand, [`FINAL_FOR_LIST`]); the others go back.
//!    A refusal that names no row with an H-code off the resend list (not H194, not a 401) fails
//!    every row with it: the same list would be refused again (iys-api.md §4: not on the resend
//!    list is permanent).
//! 4. Nothing was sent (the H084 token breaker is open, no token, no config): the rows wait the
//!    retry-after they were given (at most `RETRY_MAX_S`: looking again sends nothing while the
//!    breaker is open), and the claim does not count as an attempt.
//!
//! Retries have no attempt cap: the backoff doubles from `RETRY_BASE_S` up to `RETRY_MAX_S` and a
//! row is retried until IYS could no longer accept it anyway ([`expired`]): its consentDate has left
//! the 3-business-day window (iys-core's rule; `consent/date-too-old`), or, for a consent the window
//! does not apply to (HS_2015, a TACIR record without a date), 3 business days have passed since the
//! relay accepted it (`upstream/expired`). Until then the provider sees the item as `enqueue`.

use crate::env_f64;
use crate::http_error::ApiError;
use crate::ledger::{self, Entry};
use crate::relay::{iys_call, Wait};
use crate::upstream::{first_code_of, is_retryable, UpErr};
use crate::util::{iso_now, now_ms, uuid};
use iys_core::consent::{Consent, ConsentType, RecipientType};
use iys_core::time::{business_day_cutoff, BusinessDays, LocalDateTime};
use iys_core::{Code, Diagnostic, Lang};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::cell::RefCell;
use worker::{D1Database, Env, MessageBuilder, MessageExt, Method, Response};

/// Polls of one IYS request before its open items are status-checked and resent instead.
pub const MAX_POLLS: u32 = 120;

/// Codes of a whole-list refusal that are final for every row of the list: they are about the
/// account, the iysCode or the brand the list was sent for (iys-api.md §2, §4), so no resend can
/// succeed. Any other list-level code fails only the rows IYS names, and the rest are sent again,
/// when IYS names any ([`list_refusal_verdict`]).
pub const FINAL_FOR_LIST: [&str; 9] = ["H129", "H190", "H191", "H195", "H196", "H245", "H266", "H267", "H268"];

/// A queue message.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "camelCase")]
pub enum Job {
    /// Send due rows of (iysCode, brand).
    Send {
        /// Service provider code.
        iys: String,
        /// Brand code.
        brand: String,
    },
    /// Poll IYS for a batch's results.
    Poll {
        /// Service provider code.
        iys: String,
        /// Brand code.
        brand: String,
        /// IYS's requestId.
        iys_request_id: String,
        /// The claim the rows were sent under.
        claim: String,
        /// Polls so far.
        polls: u32,
    },
}

/// An outbound row.
#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)] // every column is read, not every one is used
pub struct Row {
    id: String,
    request_id: String,
    idx: f64,
    provider_id: String,
    consent: String,
    state: String,
    needs_check: f64,
    attempts: f64,
    transaction_id: Option<String>,
    creation_date: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
    created_at: String,
    /// `recipientType type recipient` (migration 0003; NULL only for a row whose consent lacks them).
    rkey: Option<String>,
    /// IYS's subrequestId, once the row was sent (read with the row, so a poll asks D1 nothing more
    /// per row).
    iys_subrequest_id: Option<String>,
}

impl Row {
    /// The row's consent, parsed (`null` if it is not JSON, which the relay never stores).
    fn parsed(&self) -> Value {
        serde_json::from_str(&self.consent).unwrap_or(Value::Null)
    }
}

/// The key IYS refuses twice in one list (H194), column `rkey`: `recipientType type recipient`, as
/// sent. The one place its form is written: the queue stores it with each row, and a status query
/// looks the provider's open rows up by it ([`open_request_of`]).
pub fn rkey(recipient_type: RecipientType, kind: ConsentType, recipient: &str) -> String {
    format!("{} {} {}", recipient_type.as_str(), kind.as_str(), recipient)
}

/// A consent as the queue stores it: its wire JSON (what IYS is sent) and its [`rkey`], each made
/// once from the validated consent (nothing parses the JSON again to find the key).
#[derive(Debug, Clone)]
pub struct Queued {
    wire: String,
    rkey: String,
}

impl Queued {
    /// The consent's wire JSON and key.
    pub fn of(c: &Consent) -> Result<Self, ApiError> {
        let wire = serde_json::to_string(c).map_err(|e| ApiError::internal(&e.to_string()))?;
        Ok(Queued { wire, rkey: rkey(c.recipient_type, c.kind, &c.recipient) })
    }

    /// The wire JSON.
    pub fn wire(&self) -> &str {
        &self.wire
    }
}

/// Queues `job` after `delay_s` seconds, at most 12 hours (the longest delay a queue message takes).
async fn send_job(env: &Env, job: Job, delay_s: u64) -> worker::Result<()> {
    let q = env.queue("OUTBOUND")?;
    match delay_s.min(43_200) as u32 {
        0 => q.send(job).await,
        d => q.send(MessageBuilder::new(job).delay_seconds(d).build()).await,
    }
}

/// Whose consents are queued, and where they go: the provider, its relay request, and the
/// (iysCode, brandCode) of the path.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The provider's id.
    pub provider: &'a str,
    /// The relay request the rows belong to.
    pub request_id: &'a str,
    /// The path's iysCode.
    pub iys: u64,
    /// The path's brandCode.
    pub brand: u64,
}

/// Stores consents as outbound rows of relay request `o.request_id` and schedules a
/// send. Returns the relay subrequest ids, in order.
pub async fn enqueue(
    env: &Env,
    db: &D1Database,
    o: Origin<'_>,
    consents: &[Queued],
    needs_check: bool,
    delay_s: Option<u64>,
) -> Result<Vec<String>, ApiError> {
    let ids = new_ids(consents.len())?;
    let stmts = row_statements(db, o, consents, &ids, needs_check, delay_s, None)?;
    // Chunks of 100 statements (an unkeyed batch is not atomic as a whole; see `enqueue_keyed`).
    let mut stmts = stmts.into_iter().peekable();
    while stmts.peek().is_some() {
        db.batch(stmts.by_ref().take(100).collect()).await?;
    }
    schedule(env, o.iys, o.brand, delay_s).await?;
    Ok(ids)
}

/// A claimed idempotency key (migration 0005): the rows are inserted only while `claim` holds it.
#[derive(Debug)]
pub struct KeyClaim<'a> {
    /// The provider's `Idempotency-Key`.
    pub key: &'a str,
    /// The claim id this request holds the key under.
    pub claim: &'a str,
}

/// [`enqueue`] for a batch sent with an idempotency key: the key's answer (`answer(ids)`, the
/// answer body) and the rows are written in one D1 batch (one transaction), and every row only if
/// the claim still holds, so a crash leaves either both or neither. `Ok(None)`: the claim was
/// lost (taken over as stale), nothing was queued.
pub async fn enqueue_keyed(
    env: &Env,
    db: &D1Database,
    o: Origin<'_>,
    consents: &[Queued],
    claim: &KeyClaim<'_>,
    answer: impl FnOnce(&[String]) -> String,
) -> Result<Option<Vec<String>>, ApiError> {
    let ids = new_ids(consents.len())?;
    let mut stmts = vec![db
        .prepare(
            "UPDATE idempotency SET answer = ?1 WHERE provider_id = ?2 AND key = ?3 AND claim = ?4 AND answer IS NULL",
        )
        .bind(&[answer(&ids).into(), o.provider.into(), claim.key.into(), claim.claim.into()])?];
    stmts.extend(row_statements(db, o, consents, &ids, false, None, Some(claim))?);
    let results = db.batch(stmts).await?;
    let won = results.first().and_then(|r| r.meta().ok().flatten()).and_then(|m| m.changes).unwrap_or(0) == 1;
    if !won {
        return Ok(None);
    }
    schedule(env, o.iys, o.brand, None).await?;
    Ok(Some(ids))
}

fn new_ids(n: usize) -> Result<Vec<String>, ApiError> {
    (0..n).map(|_| uuid().map_err(|e| ApiError::internal(&e))).collect()
}

async fn schedule(env: &Env, iys: u64, brand: u64, delay_s: Option<u64>) -> Result<(), ApiError> {
    send_job(env, Job::Send { iys: iys.to_string(), brand: brand.to_string() }, delay_s.unwrap_or(0)).await?;
    Ok(())
}

/// One `INSERT` per consent; with a claim, each inserts only while the claim holds the key with
/// its answer written (the `UPDATE` that writes it runs first in the same batch).
fn row_statements(
    db: &D1Database,
    o: Origin<'_>,
    consents: &[Queued],
    ids: &[String],
    needs_check: bool,
    delay_s: Option<u64>,
    claim: Option<&KeyClaim<'_>>,
) -> Result<Vec<worker::D1PreparedStatement>, ApiError> {
    let now = iso_now();
    let next_at = now_ms() + delay_s.unwrap_or(0) * 1000;
    let sql = match claim {
        None => {
            "INSERT INTO outbound (id, request_id, idx, provider_id, iys_code, brand_code, consent, state, needs_check, \
             attempts, next_at, created_at, updated_at, rkey) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8, ?9, ?10, ?11, ?11, ?12)"
        }
        Some(_) => {
            "INSERT INTO outbound (id, request_id, idx, provider_id, iys_code, brand_code, consent, state, needs_check, \
             attempts, next_at, created_at, updated_at, rkey) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8, ?9, ?10, ?11, ?11, ?12 \
             WHERE EXISTS (SELECT 1 FROM idempotency WHERE provider_id = ?4 AND key = ?13 AND claim = ?14 AND answer IS NOT NULL)"
        }
    };
    let mut stmts = Vec::with_capacity(consents.len());
    for (i, (q, id)) in consents.iter().zip(ids).enumerate() {
        let mut args: Vec<wasm_bindgen::JsValue> = vec![
            id.into(),
            o.request_id.into(),
            (i as f64).into(),
            o.provider.into(),
            o.iys.to_string().into(),
            o.brand.to_string().into(),
            q.wire.as_str().into(),
            (if needs_check { 1.0 } else { 0.0 }).into(),
            (if needs_check { 1.0 } else { 0.0 }).into(),
            (next_at as f64).into(),
            now.clone().into(),
            q.rkey.as_str().into(),
        ];
        if let Some(c) = claim {
            args.push(c.key.into());
            args.push(c.claim.into());
        }
        stmts.push(db.prepare(sql).bind(&args)?);
    }
    Ok(stmts)
}

/// `GET …/consents/request/{id}`: IYS's request-status shape for a relay request of this provider.
pub async fn request_status(
    db: &D1Database,
    provider: &str,
    iys: u64,
    brand: u64,
    id: &str,
    lang: Lang,
) -> Result<Response, ApiError> {
    let rows: Vec<Row> = db
        .prepare(
            "SELECT * FROM outbound WHERE request_id = ?1 AND provider_id = ?2 AND iys_code = ?3 AND brand_code = ?4 ORDER BY idx",
        )
        .bind(&[id.into(), provider.into(), iys.to_string().into(), brand.to_string().into()])?
        .all()
        .await?
        .results()?;
    if rows.is_empty() {
        let msg = if lang == Lang::En { "No request with this id." } else { "Bu numarayla bir istek bulunamadı." };
        return Err(ApiError::unprocessable(vec![
            json!({"code": "H093", "message": msg, "location": ["requestId"], "value": id, "iysEdgeCode": "request/not-found"}),
        ]));
    }
    let out: Vec<Value> = rows.iter().map(item_status).collect();
    let mut r = Response::from_json(&out)?;
    r.headers_mut().set("x-iys-ids", id)?;
    Ok(r)
}

fn item_status(r: &Row) -> Value {
    let status = match r.state.as_str() {
        "success" => "success",
        "failure" => "failure",
        _ => "enqueue",
    };
    let mut v = json!({"index": r.idx as u64, "status": status, "subrequestId": r.id, "requestId": r.request_id});
    if let Some(t) = &r.transaction_id {
        v["transactionId"] = json!(t);
    }
    if let Some(c) = &r.creation_date {
        v["creationDate"] = json!(c);
    }
    if status == "failure" {
        let code = r.error_code.clone().unwrap_or_default();
        let message = r.error_message.clone().unwrap_or_default();
        // A relay code (a row that ran out of its window): its H-code, or IYSEDGE, as every relay error.
        v["error"] = match code.parse::<Code>() {
            Ok(c) => json!({"code": c.iys_code().unwrap_or("IYSEDGE"), "iysEdgeCode": c.as_str(), "message": message}),
            Err(_) => json!({"code": code, "message": message}),
        };
    }
    v
}

/// The queue consumer.
pub async fn consume(batch: worker::MessageBatch<Job>, env: &Env) {
    let msgs = match batch.messages() {
        Ok(m) => m,
        Err(e) => {
            worker::console_error!("queue: unreadable batch: {e}");
            batch.retry_all();
            return;
        }
    };
    for m in msgs {
        let r = match m.body().clone() {
            Job::Send { iys, brand } => send(env, &iys, &brand).await,
            Job::Poll { iys, brand, iys_request_id, claim, polls } => {
                poll(env, &iys, &brand, &iys_request_id, &claim, polls).await
            }
        };
        match r {
            Ok(()) => m.ack(),
            Err(e) => {
                worker::console_error!("queue job failed: {e}");
                m.retry();
            }
        }
    }
}

/// `RETRY_BASE_S · 2^(attempts−1)`, at most `RETRY_MAX_S` (300), times a jitter of 0.5–1.5. The
/// cap keeps a row that waited out a long outage from waiting much longer once IYS is back.
fn backoff_s(env: &Env, attempts: u32) -> u64 {
    let base = env_f64(env, "RETRY_BASE_S", 4.0).max(1.0);
    let cap = env_f64(env, "RETRY_MAX_S", 300.0).max(base);
    let exp = (base * 2f64.powi(attempts.saturating_sub(1).min(20) as i32)).min(cap);
    let jitter = crate::util::jitter01();
    (exp * (0.5 + jitter)).max(1.0).round() as u64
}

/// Whether IYS can no longer accept this consent, so retrying it is pointless: the stable code and
/// message to end the row with. `now` and `accepted` (when the relay took it) are Unix seconds.
///
/// A consent with a consentDate (any source but HS_2015) expires when the date leaves the
/// 3-business-day window, by iys-core's rule (the relay validates with the same window, so every
/// accepted consent starts inside it); IYS would refuse it from then on. A consent the window does
/// not apply to (HS_2015's fixed date, a TACIR record without one) gets the same window counted
/// from its acceptance: the time the law gives to record a consent.
fn expired(consent: &Value, accepted: i64, now: i64) -> Option<(Code, String)> {
    let rule = BusinessDays::default();
    let cutoff = business_day_cutoff(LocalDateTime::from_unix(now), rule);
    let date = consent.get("consentDate").and_then(Value::as_str);
    if let (Some(d), false) = (date, consent.get("source").and_then(Value::as_str) == Some("HS_2015")) {
        let parsed = LocalDateTime::parse(d).ok()?;
        if parsed >= cutoff {
            return None;
        }
        let diag = Diagnostic::new(Code::DateTooOld, "/consentDate")
            .with("value", d)
            .with_number("days", u64::from(rule.days))
            .with("cutoff", cutoff.to_wire());
        return Some((Code::DateTooOld, diag.message(Lang::Tr)));
    }
    if LocalDateTime::from_unix(accepted) >= cutoff {
        return None;
    }
    // Not `upstream/unavailable`: that says IYS is down right now and a retry may help; this row
    // is final and no retry will send it.
    let diag = Diagnostic::new(Code::UpstreamExpired, "").with_number("days", u64::from(rule.days));
    Some((Code::UpstreamExpired, diag.message(Lang::Tr)))
}

fn row_expired(row: &Row, consent: &Value) -> Option<(Code, String)> {
    let accepted = js_sys::Date::parse(&row.created_at);
    let accepted = if accepted.is_finite() { (accepted / 1000.0) as i64 } else { crate::util::now_s() };
    expired(consent, accepted, crate::util::now_s())
}

/// After a whole-list refusal (not worth resending as a whole): `Some((code, message))` ends row `i`
/// with IYS's error naming it, or with the list's code when that is final for every row
/// ([`FINAL_FOR_LIST`]); `None` sends it again. H194 (a repeat in the list) is about the list the
/// relay put together, never about a row, so it ends none.
///
/// A refusal naming no row at all, with an IYS H-code (the caller has checked it is not on the
/// resend list), ends every row with it: IYS refused the list as such and would refuse the same
/// list again, so resending it would only repeat the refusal until the rows expire (and hide
/// IYS's code behind `upstream/expired`). Not ended: a 401 (iys_call already renewed the token
/// once; the relay's credentials are at fault, not the consents) and an answer without an H-code
/// (a gateway's or a misconfigured base URL's 4xx says nothing about the consents).
fn list_refusal_verdict(errs: &[Value], i: usize, status: u16, code: &str, msg: &str) -> Option<(String, String)> {
    let row_of = |e: &Value| {
        e.get("index")
            .and_then(Value::as_u64)
            .or_else(|| e.get("location").and_then(|l| l.get(0)).and_then(Value::as_u64))
    };
    let mine = errs.iter().find(|e| row_of(e) == Some(i as u64));
    let end = || Some((code.to_string(), msg.to_string()));
    match mine {
        Some(e) => {
            let c = e.get("code").and_then(Value::as_str).unwrap_or(code);
            let m = e.get("message").and_then(Value::as_str).unwrap_or(msg);
            (c != "H194").then(|| (c.to_string(), m.to_string()))
        }
        None if FINAL_FOR_LIST.contains(&code) => end(),
        None => {
            let names_a_row = errs.iter().any(|e| row_of(e).is_some());
            if names_a_row || !iys_core::diagnostic::is_iys_code(code) || code == "H194" || status == 401 {
                None
            } else {
                end()
            }
        }
    }
}

/// The relay requestId of the provider's newest consent for recipient key `rkey` (`recipientType
/// type recipient`) on (iysCode, brand) that is still in the queue (not yet final), if any.
pub async fn open_request_of(
    db: &D1Database,
    provider: &str,
    iys: u64,
    brand: u64,
    rkey: &str,
) -> worker::Result<Option<String>> {
    #[derive(Deserialize)]
    struct R {
        request_id: String,
    }
    let row: Option<R> = db
        .prepare(
            "SELECT request_id FROM outbound WHERE iys_code = ?1 AND brand_code = ?2 AND rkey = ?3 AND provider_id = ?4 \
             AND state IN ('queued', 'sending', 'sent') ORDER BY created_at DESC LIMIT 1",
        )
        .bind(&[iys.to_string().into(), brand.to_string().into(), rkey.into(), provider.into()])?
        .first(None)
        .await?;
    Ok(row.map(|r| r.request_id))
}

async fn record(env: &Env, rows: &RefCell<Vec<Entry>>) -> worker::Result<()> {
    let rows: Vec<Entry> = rows.borrow_mut().drain(..).collect();
    ledger::append(env, &rows).await.map(|_| ())
}

/// Runs `work`, then appends the ledger rows it pushed to `rows` whether it succeeded or not: an
/// exchange with IYS is on record even when a D1 write after it failed (the job is retried, and its
/// exchanges would otherwise be missing from the ledger). `work`'s error comes first.
async fn recorded<T>(
    env: &Env,
    rows: &RefCell<Vec<Entry>>,
    work: impl std::future::Future<Output = worker::Result<T>>,
) -> worker::Result<T> {
    let out = work.await;
    let kept = record(env, rows).await;
    let out = out?;
    kept.map(|()| out)
}

#[derive(Deserialize)]
struct StatusRecord {
    status: Option<String>,
    #[serde(rename = "consentDate")]
    consent_date: Option<String>,
    source: Option<String>,
    #[serde(rename = "transactionId")]
    transaction_id: Option<String>,
    #[serde(rename = "creationDate")]
    creation_date: Option<String>,
}

/// What IYS said of a consent the relay may already have delivered.
enum Check {
    /// IYS holds it in the same state: it landed.
    Held(StatusRecord),
    /// IYS holds no such record, or one in another state: it did not land.
    Absent,
    /// IYS could not be asked (not sent, network, timeout, 5xx, 429, …): nothing is known, so the
    /// row neither goes again nor ends; it is checked again later.
    Unknown,
}

/// Whether IYS already holds exactly this consent (status, consentDate, source).
async fn already_recorded(
    env: &Env,
    rows: &RefCell<Vec<Entry>>,
    who: (&str, &str),
    iys: &str,
    brand: &str,
    consent: &Value,
) -> Check {
    let q =
        json!({"recipient": consent["recipient"], "recipientType": consent["recipientType"], "type": consent["type"]});
    let path = format!("/sps/{iys}/brands/{brand}/consents/status");
    let Ok(r) =
        iys_call(env, rows, who, "status-check", Method::Post, &path, Some(q.to_string()), Wait::Exchange(15_000))
            .await
    else {
        return Check::Unknown;
    };
    if r.status == 404 {
        return Check::Absent;
    }
    if !r.ok() {
        return Check::Unknown;
    }
    let Some(s) = r.json().and_then(|v| serde_json::from_value::<StatusRecord>(v).ok()) else { return Check::Unknown };
    let same = s.status.as_deref() == consent["status"].as_str()
        && s.consent_date.as_deref() == consent["consentDate"].as_str()
        && (consent["source"].is_null() || s.source.as_deref() == consent["source"].as_str());
    if same {
        Check::Held(s)
    } else {
        Check::Absent
    }
}

async fn finalize(
    db: &D1Database,
    id: &str,
    ok: bool,
    txid: Option<&str>,
    created: Option<&str>,
    code: &str,
    msg: &str,
) -> worker::Result<()> {
    db.prepare(
        "UPDATE outbound SET state = ?2, transaction_id = COALESCE(?3, transaction_id), creation_date = COALESCE(?4, creation_date), \
         error_code = ?5, error_message = ?6, claim = NULL, updated_at = ?7 WHERE id = ?1",
    )
    .bind(&[
        id.into(),
        (if ok { "success" } else { "failure" }).into(),
        txid.map(Into::into).unwrap_or(wasm_bindgen::JsValue::NULL),
        created.map(Into::into).unwrap_or(wasm_bindgen::JsValue::NULL),
        (if ok { wasm_bindgen::JsValue::NULL } else { code.into() }),
        (if ok { wasm_bindgen::JsValue::NULL } else { msg.into() }),
        iso_now().into(),
    ])?
    .run()
    .await
    .map(|_| ())
}

/// Puts a row back to `queued` with the backoff of its attempts, or ends it when IYS could no longer
/// accept it ([`expired`]); returns the delay used, if requeued. `consent` is the row's, parsed
/// ([`Row::parsed`]).
async fn requeue(
    env: &Env,
    db: &D1Database,
    row: &Row,
    consent: &Value,
    needs_check: bool,
    code: &str,
    msg: &str,
) -> worker::Result<Option<u64>> {
    if let Some((c, m)) = row_expired(row, consent) {
        // The last error stays in the message: what kept it from IYS.
        let m = format!("{m} ({code})");
        finalize(db, &row.id, false, None, None, c.as_str(), &m).await?;
        return Ok(None);
    }
    let delay = backoff_s(env, row.attempts as u32);
    db.prepare(
        "UPDATE outbound SET state = 'queued', claim = NULL, needs_check = ?2, next_at = ?3, error_code = ?4, error_message = ?5, \
         updated_at = ?6 WHERE id = ?1",
    )
    .bind(&[
        row.id.clone().into(),
        (if needs_check { 1.0 } else { 0.0 }).into(),
        ((now_ms() + delay * 1000) as f64).into(),
        code.into(),
        msg.into(),
        iso_now().into(),
    ])?
    .run()
    .await?;
    Ok(Some(delay))
}

/// Nothing was sent (`code`: the token breaker, no token, no config): back to `queued` for
/// `retry_after` seconds, and the claim's attempt is given back, so the backoff stays where IYS's
/// own answers left it.
async fn wait_not_sent(
    db: &D1Database,
    row: &Row,
    needs_check: bool,
    code: &str,
    retry_after: u64,
) -> worker::Result<()> {
    db.prepare(
        "UPDATE outbound SET state = 'queued', claim = NULL, attempts = MAX(attempts - 1, 0), needs_check = ?2, next_at = ?3, \
         error_code = ?4, error_message = '', updated_at = ?5 WHERE id = ?1",
    )
    .bind(&[
        row.id.clone().into(),
        (if needs_check { 1.0 } else { 0.0 }).into(),
        ((now_ms() + retry_after.max(1) * 1000) as f64).into(),
        code.into(),
        iso_now().into(),
    ])?
    .run()
    .await
    .map(|_| ())
}

/// Schedules a `Send` for (iysCode, brand) when it has due `queued` rows: a row ended (so a later
/// row of the same recipient key may go now), or a claim was full.
async fn kick(env: &Env, db: &D1Database, iys: &str, brand: &str) -> worker::Result<()> {
    let due: Option<f64> = db
        .prepare("SELECT 1 AS n FROM outbound WHERE iys_code = ?1 AND brand_code = ?2 AND state = 'queued' AND next_at <= ?3 LIMIT 1")
        .bind(&[iys.into(), brand.into(), (now_ms() as f64).into()])?
        .first(Some("n"))
        .await?;
    if due.is_some() {
        send_job(env, Job::Send { iys: iys.into(), brand: brand.into() }, 0).await?;
    }
    Ok(())
}

async fn send(env: &Env, iys: &str, brand: &str) -> worker::Result<()> {
    let db = env.d1("DB")?;
    let claim = uuid().map_err(worker::Error::RustError)?;
    // Only a key's oldest open row is claimable: one row per key per list (IYS refuses a repeat
    // with H194 for the whole list), and a key's rows reach IYS in the order they were accepted.
    db.prepare(
        "UPDATE outbound SET state = 'sending', claim = ?1, attempts = attempts + 1, updated_at = ?5 WHERE id IN (\
         SELECT r.id FROM outbound r WHERE r.iys_code = ?2 AND r.brand_code = ?3 AND r.state = 'queued' AND r.next_at <= ?4 \
         AND NOT EXISTS (SELECT 1 FROM outbound o WHERE o.iys_code = r.iys_code AND o.brand_code = r.brand_code \
         AND o.rkey = r.rkey AND o.state IN ('queued', 'sending', 'sent') \
         AND (o.created_at < r.created_at OR (o.created_at = r.created_at AND o.id < r.id))) \
         ORDER BY r.created_at, r.idx LIMIT 1000)",
    )
    .bind(&[claim.clone().into(), iys.into(), brand.into(), (now_ms() as f64).into(), iso_now().into()])?
    .run()
    .await?;
    let rows: Vec<Row> = db
        .prepare("SELECT * FROM outbound WHERE claim = ?1 ORDER BY created_at, idx")
        .bind(&[claim.clone().into()])?
        .all()
        .await?
        .results()?;
    if rows.is_empty() {
        return Ok(());
    }
    let ledger_rows = RefCell::new(Vec::new());
    let who = ("queue", claim.as_str());
    let work = async {
        // A full claim may have left due rows behind; an ended row may unblock a later one of its key.
        let mut more = rows.len() >= 1000;
        let mut to_send: Vec<(Row, Value)> = Vec::new();
        // Rows whose check could not be made wait this long (no attempt used) and are checked again.
        let mut unchecked: Option<u64> = None;
        for row in rows {
            let consent = row.parsed();
            if row.needs_check > 0.0 {
                match already_recorded(env, &ledger_rows, who, iys, brand, &consent).await {
                    Check::Held(s) => {
                        finalize(&db, &row.id, true, s.transaction_id.as_deref(), s.creation_date.as_deref(), "", "")
                            .await?;
                        more = true;
                        continue;
                    }
                    Check::Unknown => {
                        // Sending now could deliver it twice; ending it could lose it.
                        let wait = crate::retry_base_s(env);
                        wait_not_sent(&db, &row, true, "upstream/unavailable", wait).await?;
                        unchecked = Some(wait);
                        continue;
                    }
                    Check::Absent => {}
                }
            }
            if let Some((c, m)) = row_expired(&row, &consent) {
                let m = format!("{m} ({})", row.error_code.as_deref().unwrap_or(""));
                finalize(&db, &row.id, false, None, None, c.as_str(), &m).await?;
                more = true;
                continue;
            }
            to_send.push((row, consent));
        }
        if to_send.is_empty() {
            return Ok((unchecked, more));
        }
        let body = Value::Array(to_send.iter().map(|(_, c)| c.clone()).collect()).to_string();
        let path = format!("/sps/{iys}/brands/{brand}/consents/request");
        let r =
            iys_call(env, &ledger_rows, who, "batch", Method::Post, &path, Some(body), Wait::Exchange(30_000)).await;
        let mut min_delay: Option<u64> = unchecked;
        let mut note = |d: Option<u64>| {
            if let Some(d) = d {
                min_delay = Some(min_delay.map_or(d, |m: u64| m.min(d)));
            }
        };
        match r {
            Ok(resp) if resp.ok() => {
                let v = resp.json().unwrap_or(Value::Null);
                let iys_rid = v.get("requestId").and_then(Value::as_str).unwrap_or_default().to_string();
                let subs = v
                    .get("subRequests")
                    .or_else(|| v.get("subrequests"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let mut stmts = Vec::new();
                for (i, (row, _)) in to_send.iter().enumerate() {
                    let sub = subs.get(i).map(sub_id).unwrap_or_default();
                    stmts.push(
                    db.prepare("UPDATE outbound SET state = 'sent', iys_request_id = ?2, iys_subrequest_id = ?3, updated_at = ?4 WHERE id = ?1")
                        .bind(&[row.id.clone().into(), iys_rid.clone().into(), sub.into(), iso_now().into()])?,
                );
                    if stmts.len() == 100 {
                        db.batch(std::mem::take(&mut stmts)).await?;
                    }
                }
                if !stmts.is_empty() {
                    db.batch(stmts).await?;
                }
                let delay = env_f64(env, "POLL_DELAY_S", 30.0) as u64;
                send_job(
                    env,
                    Job::Poll {
                        iys: iys.into(),
                        brand: brand.into(),
                        iys_request_id: iys_rid,
                        claim: claim.clone(),
                        polls: 0,
                    },
                    delay,
                )
                .await?;
            }
            Ok(resp) => {
                let v = resp.json().unwrap_or(Value::Null);
                let code = first_code_of(&v).unwrap_or_else(|| resp.status.to_string());
                let msg = v
                    .get("errors")
                    .and_then(|e| e.get(0))
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                if is_retryable(resp.status, Some(&code)) {
                    for (row, consent) in &to_send {
                        let d = requeue(env, &db, row, consent, row.needs_check > 0.0, &code, &msg).await?;
                        more |= d.is_none();
                        note(d);
                    }
                } else {
                    // IYS refused the whole list: the rows it names (or every row, for a code about the
                    // account or brand) end; the others were refused for the list's sake and go again.
                    let errs = v.get("errors").and_then(Value::as_array).cloned().unwrap_or_default();
                    for (i, (row, consent)) in to_send.iter().enumerate() {
                        match list_refusal_verdict(&errs, i, resp.status, &code, &msg) {
                            Some((c, m)) => {
                                finalize(&db, &row.id, false, None, None, &c, &m).await?;
                                more = true;
                            }
                            None => {
                                let d = requeue(env, &db, row, consent, row.needs_check > 0.0, &code, &msg).await?;
                                more |= d.is_none();
                                note(d);
                            }
                        }
                    }
                }
            }
            Err(UpErr::NotSent { code, retry_after, .. }) => {
                // Looked at again after the retry-after, or `RETRY_MAX_S` if sooner: while the breaker is
                // open a look costs no IYS call (the holder refuses from its own state), and an
                // operator's reset of the breaker (operations.md §4) takes effect within that time.
                let wait = retry_after.min(env_f64(env, "RETRY_MAX_S", 300.0).max(1.0) as u64).max(1);
                for (row, _) in &to_send {
                    wait_not_sent(&db, row, row.needs_check > 0.0, code, wait).await?;
                }
                note(Some(wait));
            }
            Err(e) => {
                let code = if matches!(e, UpErr::Timeout) { "H192" } else { "network" };
                // The request may have reached IYS: status check before the next send.
                for (row, consent) in &to_send {
                    let d = requeue(env, &db, row, consent, true, code, "").await?;
                    more |= d.is_none();
                    note(d);
                }
            }
        }
        Ok((min_delay, more))
    };
    let (min_delay, more) = recorded(env, &ledger_rows, work).await?;
    if let Some(d) = min_delay {
        send_job(env, Job::Send { iys: iys.into(), brand: brand.into() }, d).await?;
    }
    if more {
        kick(env, &db, iys, brand).await?;
    }
    Ok(())
}

fn sub_id(v: &Value) -> String {
    for k in ["subrequestId", "subRequestId", "subRequestID", "subrequestid"] {
        if let Some(s) = v.get(k).and_then(Value::as_str) {
            return s.to_string();
        }
    }
    String::new()
}

async fn poll(env: &Env, iys: &str, brand: &str, iys_rid: &str, claim: &str, polls: u32) -> worker::Result<()> {
    let db = env.d1("DB")?;
    // Reading the rows also marks them as polled now (`updated_at`), so the cron's sweep
    // (`sweep.rs`) leaves a live poll chain alone.
    let rows: Vec<Row> = db
        .prepare("UPDATE outbound SET updated_at = ?2 WHERE claim = ?1 AND state = 'sent' RETURNING *")
        .bind(&[claim.into(), iso_now().into()])?
        .all()
        .await?
        .results()?;
    if rows.is_empty() {
        return Ok(());
    }
    if polls >= MAX_POLLS {
        // IYS never gave a final answer for these: check each one's status, and resend if absent.
        for row in &rows {
            requeue(env, &db, row, &row.parsed(), true, "H192", "no final result from IYS").await?;
        }
        return send_job(env, Job::Send { iys: iys.into(), brand: brand.into() }, 1).await;
    }
    let ledger_rows = RefCell::new(Vec::new());
    let who = ("queue", claim);
    let path = format!("/sps/{iys}/brands/{brand}/consents/request/{iys_rid}");
    let poll_delay = env_f64(env, "POLL_DELAY_S", 30.0) as u64;
    let again = Job::Poll {
        iys: iys.into(),
        brand: brand.into(),
        iys_request_id: iys_rid.into(),
        claim: claim.into(),
        polls: polls + 1,
    };
    /// What a poll leads to.
    enum Next {
        /// IYS does not know the request: resend (after a status check).
        Resend,
        /// No answer this time: poll again.
        Again,
        /// Read: poll again if some rows are pending, send again after `min_delay` if some were
        /// requeued, and kick the brand if some ended.
        Read { pending: bool, min_delay: Option<u64>, ended: bool },
    }
    let work = async {
        let r =
            iys_call(env, &ledger_rows, who, "batch-status", Method::Get, &path, None, Wait::Exchange(30_000)).await;
        let results = match r {
            Ok(resp) if resp.ok() => resp.json().and_then(|v| v.as_array().cloned()).unwrap_or_default(),
            Ok(resp) if resp.status == 422 && resp.first_code().as_deref() == Some("H093") => {
                // IYS does not know the request: the send may not have landed; check and resend.
                for row in &rows {
                    requeue(env, &db, row, &row.parsed(), true, "H093", "").await?;
                }
                return Ok(Next::Resend);
            }
            _ => return Ok(Next::Again),
        };
        let mut pending = false;
        let mut ended = false;
        let mut min_delay: Option<u64> = None;
        for row in &rows {
            // (The poll read the rows with `RETURNING *`: their subrequestIds are in them.)
            let sub = row.iys_subrequest_id.as_deref();
            let item = results.iter().find(|x| Some(sub_id(x).as_str()) == sub && !sub_id(x).is_empty());
            let Some(item) = item else {
                pending = true;
                continue;
            };
            let st = item.get("status").and_then(Value::as_str).unwrap_or("");
            let txid = item.get("transactionId").and_then(Value::as_str);
            let created = item.get("creationDate").and_then(Value::as_str);
            ended |= st == "success" || st == "failure";
            match st {
                "success" => finalize(&db, &row.id, true, txid, created, "", "").await?,
                "failure" => {
                    let code =
                        item.get("error").and_then(|e| e.get("code")).and_then(Value::as_str).unwrap_or("").to_string();
                    let msg = item
                        .get("error")
                        .and_then(|e| e.get("message"))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    // Parsed once for whatever follows (a requeue, a status check, the log line).
                    let consent = row.parsed();
                    if is_retryable(0, Some(&code)) {
                        if let Some(d) = requeue(env, &db, row, &consent, false, &code, &msg).await? {
                            min_delay = Some(min_delay.map_or(d, |m| m.min(d)));
                        }
                    } else if (code == "H174" || code == "H178") && row.attempts > 1.0 {
                        // A replay of something that may already have landed: ask IYS what it holds.
                        match already_recorded(env, &ledger_rows, who, iys, brand, &consent).await {
                            Check::Held(s) => {
                                finalize(
                                    &db,
                                    &row.id,
                                    true,
                                    s.transaction_id.as_deref(),
                                    s.creation_date.as_deref(),
                                    "",
                                    "",
                                )
                                .await?
                            }
                            Check::Absent => finalize(&db, &row.id, false, txid, created, &code, &msg).await?,
                            // Not known whether it landed: checked again before anything else.
                            Check::Unknown => {
                                if let Some(d) = requeue(env, &db, row, &consent, true, &code, &msg).await? {
                                    min_delay = Some(min_delay.map_or(d, |m| m.min(d)));
                                }
                            }
                        }
                    } else {
                        let who = crate::util::mask_recipient(consent["recipient"].as_str().unwrap_or(""));
                        worker::console_log!("iys refused {who} with {code} (relay request {})", row.request_id);
                        finalize(&db, &row.id, false, txid, created, &code, &msg).await?;
                    }
                }
                _ => pending = true,
            }
        }
        Ok(Next::Read { pending, min_delay, ended })
    };
    let (pending, min_delay, ended) = match recorded(env, &ledger_rows, work).await? {
        Next::Resend => return send_job(env, Job::Send { iys: iys.into(), brand: brand.into() }, 1).await,
        Next::Again => return send_job(env, again, poll_delay.max(1)).await,
        Next::Read { pending, min_delay, ended } => (pending, min_delay, ended),
    };
    if pending {
        send_job(env, again, poll_delay.max(1)).await?;
    }
    if let Some(d) = min_delay {
        send_job(env, Job::Send { iys: iys.into(), brand: brand.into() }, d).await?;
    }
    if ended {
        // A later row of an ended row's recipient key can go now.
        kick(env, &db, iys, brand).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{expired, list_refusal_verdict};
    use iys_core::time::LocalDateTime;
    use iys_core::Code;
    use serde_json::json;

    fn unix(local: &str) -> i64 {
        LocalDateTime::parse(local).ok().and_then(LocalDateTime::to_unix).unwrap_or(0)
    }

    #[test]
    fn a_consent_expires_when_its_date_leaves_the_business_day_window() {
        // Monday 2024-03-11 10:00 (Turkey): the oldest accepted consentDate is Wed 2024-03-06 10:00.
        let now = unix("2024-03-11 10:00:00");
        let c = |d: &str| json!({"recipient": "+905321234567", "recipientType": "BIREYSEL", "type": "MESAJ", "status": "ONAY", "source": "HS_WEB", "consentDate": d});
        assert_eq!(expired(&c("2024-03-06 10:00:00"), now, now), None);
        assert_eq!(expired(&c("2024-03-08 09:00:00"), now, now), None);
        let (code, msg) = expired(&c("2024-03-06 09:59:59"), now, now).expect("expired");
        assert_eq!(code, Code::DateTooOld);
        assert!(msg.contains("2024-03-06 10:00:00"), "{msg}");
        // Acceptance does not matter when the consent has a date of its own.
        assert_eq!(expired(&c("2024-03-08 09:00:00"), unix("2024-01-01 00:00:00"), now), None);
    }

    #[test]
    fn a_consent_without_a_window_expires_three_business_days_after_acceptance() {
        let now = unix("2024-03-11 10:00:00");
        let hs2015 = json!({"recipient": "+905321234567", "recipientType": "BIREYSEL", "type": "MESAJ", "status": "ONAY", "source": "HS_2015", "consentDate": "2015-05-01 00:00:00"});
        let tacir = json!({"recipient": "+905321234567", "recipientType": "TACIR", "type": "MESAJ", "status": "ONAY"});
        for c in [&hs2015, &tacir] {
            assert_eq!(expired(c, unix("2024-03-06 10:00:00"), now), None);
            assert_eq!(expired(c, unix("2024-03-06 09:00:00"), now).map(|x| x.0), Some(Code::UpstreamExpired));
        }
    }

    #[test]
    fn a_list_refusal_ends_only_the_rows_it_is_about() {
        let dup = [json!({"code": "H194", "message": "tekrar", "index": 1})];
        // A repeat in the list is the relay's list, not the rows: nobody ends.
        assert_eq!(list_refusal_verdict(&dup, 0, 422, "H194", "tekrar"), None);
        assert_eq!(list_refusal_verdict(&dup, 1, 422, "H194", "tekrar"), None);
        // A row IYS names with its own code ends with it; the others go again.
        let named = [json!({"code": "H111", "message": "alıcı", "location": [2, "recipient"]})];
        assert_eq!(list_refusal_verdict(&named, 2, 422, "H111", "alıcı"), Some(("H111".into(), "alıcı".into())));
        assert_eq!(list_refusal_verdict(&named, 0, 422, "H111", "alıcı"), None);
        // A code about the brand or account ends every row.
        let brand = [json!({"code": "H195", "message": "marka"})];
        assert_eq!(list_refusal_verdict(&brand, 5, 403, "H195", "marka"), Some(("H195".into(), "marka".into())));
        // A refusal of the list as such (no row named) with an H-code off the resend list ends
        // every row: the same list would be refused again.
        let whole = [json!({"code": "H085", "message": "geçersiz"})];
        for i in [0, 7] {
            assert_eq!(
                list_refusal_verdict(&whole, i, 400, "H085", "geçersiz"),
                Some(("H085".into(), "geçersiz".into()))
            );
        }
        // Not about the consents: no H-code (a gateway's 4xx), a 401 after the token was renewed,
        // and H194 without an index (the relay's list) send the rows again.
        assert_eq!(list_refusal_verdict(&[], 0, 400, "400", ""), None);
        assert_eq!(list_refusal_verdict(&[json!({"code": "NOT_FOUND"})], 0, 404, "NOT_FOUND", ""), None);
        assert_eq!(list_refusal_verdict(&[json!({"code": "H351"})], 0, 401, "H351", ""), None);
        assert_eq!(list_refusal_verdict(&[json!({"code": "H194"})], 0, 422, "H194", ""), None);
    }
}
