//! Outbound work through Cloudflare Queues.
//!
//! Consents to send live in the D1 table `outbound` (one row per consent, state `queued` → `sending` →
//! `sent` → `success`/`failure`); queue messages only say *which* (iysCode, brand) has work or which
//! IYS request to poll. The consumer:
//!
//! 1. `Send`: claims up to 1000 due `queued` rows of one (iysCode, brand) (an atomic `UPDATE … WHERE id
//!    IN (SELECT … LIMIT 1000)` with a claim id, so two consumers never send the same row). Rows that
//!    may already have reached IYS (a timed-out send) are first checked with the status query: if IYS
//!    already holds exactly that consent, the row is a success without resending (IYS has no
//!    idempotency key). The rest go as one IYS batch; then a `Poll` is scheduled.
//! 2. `Poll`: reads IYS's request status; `success` and permanent `failure` are final; a failure IYS
//!    marks as worth resending (H015, H101–H103, H123, H124, H179, H192, H412, H470, 5xx) goes back
//!    to `queued` with exponential backoff and jitter; `enqueue` is polled again. An H174/H178 on a
//!    resent row is checked against the status query before it is called a failure.
//! 3. Network errors and timeouts on send requeue the rows with `needs_check`; 429/5xx without an
//!    answer body requeue them without it. After `MAX_ATTEMPTS` a row fails with its last error.

use crate::env_f64;
use crate::http_error::ApiError;
use crate::ledger::{self, Entry};
use crate::relay::iys_call;
use crate::upstream::{first_code_of, is_retryable, UpErr};
use crate::util::{iso_now, now_ms, random_bytes, uuid};
use iys_core::Lang;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::cell::RefCell;
use worker::{D1Database, Env, MessageBuilder, MessageExt, Method, Response};

/// Polls of one IYS request before its open items are status-checked and resent instead.
pub const MAX_POLLS: u32 = 120;

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
}

async fn send_job(env: &Env, job: Job, delay_s: u32) -> worker::Result<()> {
    let q = env.queue("OUTBOUND")?;
    if delay_s == 0 {
        q.send(job).await
    } else {
        q.send(MessageBuilder::new(job).delay_seconds(delay_s).build()).await
    }
}

/// Stores consents (wire JSON) as outbound rows of relay request `request_id` and schedules a send.
/// Returns the relay subrequest ids, in order.
#[allow(clippy::too_many_arguments)]
pub async fn enqueue(
    env: &Env,
    db: &D1Database,
    provider: &str,
    iys: u64,
    brand: u64,
    request_id: &str,
    wires: &[String],
    needs_check: bool,
    delay_s: Option<u64>,
) -> Result<Vec<String>, ApiError> {
    let now = iso_now();
    let next_at = now_ms() + delay_s.unwrap_or(0) * 1000;
    let mut ids = Vec::with_capacity(wires.len());
    let mut stmts = Vec::new();
    for (i, w) in wires.iter().enumerate() {
        let id = uuid().map_err(|e| ApiError::internal(&e))?;
        stmts.push(
            db.prepare(
                "INSERT INTO outbound (id, request_id, idx, provider_id, iys_code, brand_code, consent, state, needs_check, \
                 attempts, next_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8, ?9, ?10, ?11, ?11)",
            )
            .bind(&[
                id.clone().into(),
                request_id.into(),
                (i as f64).into(),
                provider.into(),
                iys.to_string().into(),
                brand.to_string().into(),
                w.clone().into(),
                (if needs_check { 1.0 } else { 0.0 }).into(),
                (if needs_check { 1.0 } else { 0.0 }).into(),
                (next_at as f64).into(),
                now.clone().into(),
            ])?,
        );
        ids.push(id);
        if stmts.len() == 100 {
            db.batch(std::mem::take(&mut stmts)).await?;
        }
    }
    if !stmts.is_empty() {
        db.batch(stmts).await?;
    }
    send_job(
        env,
        Job::Send { iys: iys.to_string(), brand: brand.to_string() },
        delay_s.unwrap_or(0).min(43_200) as u32,
    )
    .await?;
    Ok(ids)
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
        return Err(ApiError {
            status: 422,
            errors: vec![
                json!({"code": "H093", "message": msg, "location": ["requestId"], "value": id, "iysEdgeCode": "request/not-found"}),
            ],
            retry_after: None,
        });
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
        v["error"] = json!({"code": r.error_code.clone().unwrap_or_default(), "message": r.error_message.clone().unwrap_or_default()});
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

fn backoff_s(env: &Env, attempts: u32) -> u64 {
    let base = env_f64(env, "RETRY_BASE_S", 4.0).max(1.0);
    let exp = base * 2f64.powi(attempts.saturating_sub(1).min(10) as i32);
    let jitter = random_bytes(1).map(|b| b[0] as f64 / 255.0).unwrap_or(0.5); // 0..1
    (exp * (0.5 + jitter)).clamp(1.0, 600.0).round() as u64
}

async fn record(env: &Env, rows: &RefCell<Vec<Entry>>) -> worker::Result<()> {
    let rows: Vec<Entry> = rows.borrow_mut().drain(..).collect();
    ledger::append(env, &rows).await.map(|_| ())
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

/// Whether IYS already holds exactly this consent (status, consentDate, source).
async fn already_recorded(
    env: &Env,
    rows: &RefCell<Vec<Entry>>,
    who: (&str, &str),
    iys: &str,
    brand: &str,
    consent: &Value,
) -> Option<StatusRecord> {
    let q =
        json!({"recipient": consent["recipient"], "recipientType": consent["recipientType"], "type": consent["type"]});
    let path = format!("/sps/{iys}/brands/{brand}/consents/status");
    let r = iys_call(env, rows, who, "status-check", Method::Post, &path, Some(q.to_string()), 15_000).await.ok()?;
    if !r.ok() {
        return None;
    }
    let s: StatusRecord = serde_json::from_value(r.json()?).ok()?;
    let same = s.status.as_deref() == consent["status"].as_str()
        && s.consent_date.as_deref() == consent["consentDate"].as_str()
        && (consent["source"].is_null() || s.source.as_deref() == consent["source"].as_str());
    same.then_some(s)
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

/// Puts a row back to `queued` (or fails it after MAX_ATTEMPTS); returns the delay used, if requeued.
async fn requeue(
    env: &Env,
    db: &D1Database,
    row: &Row,
    needs_check: bool,
    code: &str,
    msg: &str,
) -> worker::Result<Option<u64>> {
    let max = env_f64(env, "MAX_ATTEMPTS", 6.0) as u32;
    let attempts = row.attempts as u32;
    if attempts >= max {
        finalize(db, &row.id, false, None, None, code, msg).await?;
        return Ok(None);
    }
    let delay = backoff_s(env, attempts);
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

async fn send(env: &Env, iys: &str, brand: &str) -> worker::Result<()> {
    let db = env.d1("DB")?;
    let claim = uuid().map_err(worker::Error::RustError)?;
    db.prepare(
        "UPDATE outbound SET state = 'sending', claim = ?1, attempts = attempts + 1, updated_at = ?5 WHERE id IN (\
         SELECT id FROM outbound WHERE iys_code = ?2 AND brand_code = ?3 AND state = 'queued' AND next_at <= ?4 \
         ORDER BY created_at, idx LIMIT 1000)",
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
    let mut to_send: Vec<(Row, Value)> = Vec::new();
    for row in rows {
        let consent: Value = serde_json::from_str(&row.consent).unwrap_or(Value::Null);
        if row.needs_check > 0.0 {
            if let Some(s) = already_recorded(env, &ledger_rows, who, iys, brand, &consent).await {
                finalize(&db, &row.id, true, s.transaction_id.as_deref(), s.creation_date.as_deref(), "", "").await?;
                continue;
            }
        }
        to_send.push((row, consent));
    }
    if to_send.is_empty() {
        return record(env, &ledger_rows).await;
    }
    let body = Value::Array(to_send.iter().map(|(_, c)| c.clone()).collect()).to_string();
    let path = format!("/sps/{iys}/brands/{brand}/consents/request");
    let r = iys_call(env, &ledger_rows, who, "batch", Method::Post, &path, Some(body), 30_000).await;
    let mut min_delay: Option<u64> = None;
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
            let delay = env_f64(env, "POLL_DELAY_S", 30.0) as u32;
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
                for (row, _) in &to_send {
                    note(requeue(env, &db, row, false, &code, &msg).await?);
                }
            } else {
                // A permanent refusal of the whole batch: per-item errors when IYS names the index.
                let errs = v.get("errors").and_then(Value::as_array).cloned().unwrap_or_default();
                for (i, (row, _)) in to_send.iter().enumerate() {
                    let mine = errs.iter().find(|e| {
                        e.get("index").and_then(Value::as_u64) == Some(i as u64)
                            || e.get("location").and_then(|l| l.get(0)).and_then(Value::as_u64) == Some(i as u64)
                    });
                    let (c, m) = match mine {
                        Some(e) => (
                            e.get("code").and_then(Value::as_str).unwrap_or(&code).to_string(),
                            e.get("message").and_then(Value::as_str).unwrap_or(&msg).to_string(),
                        ),
                        None => (code.clone(), msg.clone()),
                    };
                    finalize(&db, &row.id, false, None, None, &c, &m).await?;
                }
            }
        }
        Err(e) => {
            let may_have_arrived = matches!(e, UpErr::Timeout | UpErr::Network(_));
            let code = match &e {
                UpErr::Timeout => "H192",
                UpErr::Network(_) => "network",
                UpErr::NotSent { code, .. } => code,
            };
            for (row, _) in &to_send {
                note(requeue(env, &db, row, may_have_arrived || row.needs_check > 0.0, code, "").await?);
            }
        }
    }
    record(env, &ledger_rows).await?;
    if let Some(d) = min_delay {
        send_job(env, Job::Send { iys: iys.into(), brand: brand.into() }, d as u32).await?;
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
            requeue(env, &db, row, true, "H192", "no final result from IYS").await?;
        }
        return send_job(env, Job::Send { iys: iys.into(), brand: brand.into() }, 1).await;
    }
    let ledger_rows = RefCell::new(Vec::new());
    let who = ("queue", claim);
    let path = format!("/sps/{iys}/brands/{brand}/consents/request/{iys_rid}");
    let poll_delay = env_f64(env, "POLL_DELAY_S", 30.0) as u32;
    let r = iys_call(env, &ledger_rows, who, "batch-status", Method::Get, &path, None, 30_000).await;
    let again = Job::Poll {
        iys: iys.into(),
        brand: brand.into(),
        iys_request_id: iys_rid.into(),
        claim: claim.into(),
        polls: polls + 1,
    };
    let results = match r {
        Ok(resp) if resp.ok() => resp.json().and_then(|v| v.as_array().cloned()).unwrap_or_default(),
        Ok(resp) if resp.status == 422 && resp.first_code().as_deref() == Some("H093") => {
            // IYS does not know the request: the send may not have landed; check and resend.
            for row in &rows {
                requeue(env, &db, row, true, "H093", "").await?;
            }
            record(env, &ledger_rows).await?;
            return send_job(env, Job::Send { iys: iys.into(), brand: brand.into() }, 1).await;
        }
        _ => {
            record(env, &ledger_rows).await?;
            return send_job(env, again, poll_delay.max(1)).await;
        }
    };
    let mut pending = false;
    let mut min_delay: Option<u64> = None;
    for row in &rows {
        let sub: Option<String> = db
            .prepare("SELECT iys_subrequest_id AS s FROM outbound WHERE id = ?1")
            .bind(&[row.id.clone().into()])?
            .first(Some("s"))
            .await?;
        let item = results.iter().find(|x| Some(sub_id(x)) == sub && !sub_id(x).is_empty());
        let Some(item) = item else {
            pending = true;
            continue;
        };
        let st = item.get("status").and_then(Value::as_str).unwrap_or("");
        let txid = item.get("transactionId").and_then(Value::as_str);
        let created = item.get("creationDate").and_then(Value::as_str);
        match st {
            "success" => finalize(&db, &row.id, true, txid, created, "", "").await?,
            "failure" => {
                let code =
                    item.get("error").and_then(|e| e.get("code")).and_then(Value::as_str).unwrap_or("").to_string();
                let msg =
                    item.get("error").and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or("").to_string();
                if is_retryable(0, Some(&code)) {
                    if let Some(d) = requeue(env, &db, row, false, &code, &msg).await? {
                        min_delay = Some(min_delay.map_or(d, |m| m.min(d)));
                    }
                } else if (code == "H174" || code == "H178") && row.attempts > 1.0 {
                    // A replay of something that may already have landed: ask IYS what it holds.
                    let consent: Value = serde_json::from_str(&row.consent).unwrap_or(Value::Null);
                    match already_recorded(env, &ledger_rows, who, iys, brand, &consent).await {
                        Some(s) => {
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
                        None => finalize(&db, &row.id, false, txid, created, &code, &msg).await?,
                    }
                } else {
                    let consent: Value = serde_json::from_str(&row.consent).unwrap_or(Value::Null);
                    let who = crate::util::mask_recipient(consent["recipient"].as_str().unwrap_or(""));
                    worker::console_log!("iys refused {who} with {code} (relay request {})", row.request_id);
                    finalize(&db, &row.id, false, txid, created, &code, &msg).await?;
                }
            }
            _ => pending = true,
        }
    }
    record(env, &ledger_rows).await?;
    if pending {
        send_job(env, again, poll_delay.max(1)).await?;
    }
    if let Some(d) = min_delay {
        send_job(env, Job::Send { iys: iys.into(), brand: brand.into() }, d as u32).await?;
    }
    Ok(())
}
