//! The outbound sweep (run by the cron): re-drives `outbound` rows whose queue message is gone.
//!
//! Queue messages only say which (iysCode, brand) has work or which IYS request to poll, so a lost
//! message strands its rows: local queues (`wrangler dev`) keep messages in memory and lose them on a
//! restart, and in production a consumer can die between claiming rows and finishing them. Every
//! row the sweep touches has been untouched for `SWEEP_STALE_S` seconds (default 1200: longer than a
//! queue consumer may run, 15 min, so no live consumer still holds it):
//!
//! - `sending` (claimed, the send may or may not have reached IYS), and `sent` without an IYS
//!   requestId: back to `queued`, due now, with `needs_check = 1`, so the consumer asks IYS for the
//!   consent's status before any resend (IYS has no idempotency key; the item may have landed);
//! - `sent` (IYS took the batch, the result poll was lost): a `Poll` of that IYS requestId and claim
//!   (their `updated_at` is set to now, and each poll refreshes it, so a live poll chain is left
//!   alone and two sweeps never poll the same request twice);
//! - `queued` and due for `SWEEP_STALE_S` without being claimed: nothing to change (such a row may
//!   also be waiting for an earlier row of its recipient key to end: the queue claims a key's oldest
//!   open row only, and the `Send` finds nothing to claim then). The sweep never ends a row: a
//!   `queued` row ends only in the consumer (a final answer, or IYS's window closing).
//!
//! Then one `Send` per (iysCode, brand) with requeued or overdue rows. Each step is one atomic D1
//! statement, so sweeps that overlap (two cron expressions firing at once) split the rows; a second
//! `Send` for the same brand is harmless (claims are atomic). Logged as counts only (no recipients).

use crate::env_f64;
use crate::queue::Job;
use crate::util::{iso_now, now_ms};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use worker::Env;

/// The cron expression that only sweeps (the other one, `*/30 * * * *`, also pulls).
pub const SWEEP_CRON: &str = "*/5 * * * *";

#[derive(Deserialize)]
struct Brand {
    iys_code: String,
    brand_code: String,
}

#[derive(Deserialize)]
struct Sent {
    iys_code: String,
    brand_code: String,
    iys_request_id: String,
    claim: String,
}

fn iso_at(ms: f64) -> String {
    String::from(js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms)).to_iso_string())
}

/// One sweep; a JSON report of counts.
pub async fn run(env: &Env) -> worker::Result<Value> {
    let db = env.d1("DB")?;
    let stale_ms = env_f64(env, "SWEEP_STALE_S", 1200.0).max(1.0) * 1000.0;
    let now = now_ms() as f64;
    let cut = iso_at(now - stale_ms);
    let stamp = iso_now();

    // Claimed but never finished (or sent with no IYS requestId to poll): status check, then resend.
    let requeued: Vec<Brand> = db
        .prepare(
            "UPDATE outbound SET state = 'queued', claim = NULL, needs_check = 1, next_at = ?1, updated_at = ?2 \
             WHERE (state = 'sending' OR (state = 'sent' AND (claim IS NULL OR iys_request_id IS NULL OR iys_request_id = ''))) \
             AND updated_at < ?3 RETURNING iys_code, brand_code",
        )
        .bind(&[now.into(), stamp.clone().into(), cut.clone().into()])?
        .all()
        .await?
        .results()?;

    // Sent, result never polled: poll IYS for it again.
    let sent: Vec<Sent> = db
        .prepare(
            "UPDATE outbound SET updated_at = ?1 WHERE state = 'sent' AND claim IS NOT NULL AND iys_request_id IS NOT NULL \
             AND iys_request_id <> '' AND updated_at < ?2 RETURNING iys_code, brand_code, iys_request_id, claim",
        )
        .bind(&[stamp.into(), cut.into()])?
        .all()
        .await?
        .results()?;

    // Queued and overdue: nobody is coming for them.
    let overdue: Vec<Brand> = db
        .prepare("SELECT DISTINCT iys_code, brand_code FROM outbound WHERE state = 'queued' AND next_at <= ?1")
        .bind(&[(now - stale_ms).into()])?
        .all()
        .await?
        .results()?;

    let q = env.queue("OUTBOUND")?;
    let mut polls = BTreeSet::new();
    for s in &sent {
        if polls.insert((s.claim.clone(), s.iys_request_id.clone())) {
            q.send(Job::Poll {
                iys: s.iys_code.clone(),
                brand: s.brand_code.clone(),
                iys_request_id: s.iys_request_id.clone(),
                claim: s.claim.clone(),
                polls: 0,
            })
            .await?;
        }
    }
    let brands: BTreeSet<(String, String)> =
        requeued.iter().chain(&overdue).map(|b| (b.iys_code.clone(), b.brand_code.clone())).collect();
    for (iys, brand) in &brands {
        q.send(Job::Send { iys: iys.clone(), brand: brand.clone() }).await?;
    }
    Ok(json!({
        "requeuedRows": requeued.len(),
        "polledRows": sent.len(),
        "polls": polls.len(),
        "overdueBrands": overdue.len(),
        "sends": brands.len(),
    }))
}
