//! The pull: IYS-side changes (`source=IYS`) for every brand a provider is scoped to.
//!
//! The cron (and `POST /admin/pull`) asks IYS `GET …/consents/changes?source=IYS&after=<cursor>&limit=999`
//! per (iysCode, brand), stores every change in D1 (`changes`, deduplicated by transactionId) and
//! keeps IYS's `after` cursor, saved only when a page is non-empty (IYS's cursor is opaque). Providers
//! read `GET /sps/{iysCode}/brands/{brandCode}/consents/changes?source=IYS&after=<relay cursor>` from
//! the relay in IYS's shape `{after, list}`; the relay cursor is the stored row id.

use crate::auth::Provider;
use crate::http_error::ApiError;
use crate::ledger::{self, Entry};
use crate::relay::{iys_call, up_error, Ctx};
use crate::util::iso_now;
use iys_core::Code;
use serde::Deserialize;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::BTreeSet;
use worker::{Env, Method, Request, Response};

/// Most pages fetched per brand per run.
const MAX_PAGES: usize = 20;

/// Runs one pull over every scoped brand; a JSON report.
pub async fn run(env: &Env) -> worker::Result<Value> {
    let db = env.d1("DB")?;
    let providers: Vec<Provider> =
        db.prepare("SELECT * FROM providers WHERE revoked_at IS NULL").all().await?.results()?;
    let mut brands = BTreeSet::new();
    for p in &providers {
        for s in p.scope_list() {
            for b in s.brands {
                brands.insert((s.iys_code, b));
            }
        }
    }
    let rows = RefCell::new(Vec::new());
    let run_id = crate::util::uuid().map_err(worker::Error::RustError)?;
    let mut report = Vec::new();
    for (iys, brand) in brands {
        #[derive(Deserialize)]
        struct C {
            after: Option<String>,
        }
        let cur: Option<C> = db
            .prepare("SELECT after FROM pull_cursors WHERE iys_code = ?1 AND brand_code = ?2 AND source = 'IYS'")
            .bind(&[iys.to_string().into(), brand.to_string().into()])?
            .first(None)
            .await?;
        let mut after = cur.and_then(|c| c.after);
        let mut stored = 0usize;
        let mut error = None;
        for _ in 0..MAX_PAGES {
            let mut path = format!("/sps/{iys}/brands/{brand}/consents/changes?source=IYS&limit=999");
            if let Some(a) = &after {
                path.push_str("&after=");
                path.push_str(&url_encode(a));
            }
            let r = iys_call(env, &rows, ("cron", &run_id), "changes", Method::Get, &path, None, 30_000).await;
            let v = match r {
                Ok(r) if r.ok() => r.json().unwrap_or(Value::Null),
                Ok(r) => {
                    error = Some(format!("{} {}", r.status, r.first_code().unwrap_or_default()));
                    break;
                }
                Err(e) => {
                    error = Some(format!("{e:?}"));
                    break;
                }
            };
            let list = v.get("list").and_then(Value::as_array).cloned().unwrap_or_default();
            if list.is_empty() {
                break;
            }
            let mut stmts = Vec::new();
            for item in &list {
                let tx = item.get("transactionId").and_then(Value::as_str).map(str::to_string);
                stmts.push(
                    db.prepare(
                        "INSERT OR IGNORE INTO changes (iys_code, brand_code, source, transaction_id, body, pulled_at) \
                         VALUES (?1, ?2, 'IYS', ?3, ?4, ?5)",
                    )
                    .bind(&[
                        iys.to_string().into(),
                        brand.to_string().into(),
                        tx.map(Into::into).unwrap_or(wasm_bindgen::JsValue::NULL),
                        item.to_string().into(),
                        iso_now().into(),
                    ])?,
                );
            }
            stored += list.len();
            let next = v.get("after").and_then(Value::as_str).map(str::to_string);
            stmts.push(
                db.prepare(
                    "INSERT INTO pull_cursors (iys_code, brand_code, source, after, pulled_at) VALUES (?1, ?2, 'IYS', ?3, ?4) \
                     ON CONFLICT (iys_code, brand_code, source) DO UPDATE SET after = excluded.after, pulled_at = excluded.pulled_at",
                )
                .bind(&[
                    iys.to_string().into(),
                    brand.to_string().into(),
                    next.clone().map(Into::into).unwrap_or(wasm_bindgen::JsValue::NULL),
                    iso_now().into(),
                ])?,
            );
            db.batch(stmts).await?;
            if next.is_none() || next == after {
                break;
            }
            after = next;
        }
        report.push(json!({"iysCode": iys, "brandCode": brand, "stored": stored, "error": error}));
    }
    let mut entries: Vec<Entry> = rows.borrow_mut().drain(..).collect();
    entries.insert(
        0,
        Entry {
            provider: "cron".into(),
            request_id: run_id.clone(),
            kind: "cron:pull".into(),
            payload_sha256: crate::util::sha256_hex(run_id.as_bytes()),
            outcome: "200".into(),
            iys_ids: String::new(),
        },
    );
    ledger::append(env, &entries).await?;
    Ok(json!({"brands": report}))
}

fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `GET …/consents/changes?source=IYS|HS&after=&limit=` for a provider.
pub async fn changes(ctx: &Ctx<'_>, req: &Request, iys: u64, brand: u64) -> Result<Response, ApiError> {
    let url = req.url()?;
    let q = |k: &str| url.query_pairs().find(|(kk, _)| kk == k).map(|(_, v)| v.to_string());
    let source = q("source").unwrap_or_else(|| "IYS".into());
    let limit = q("limit").and_then(|l| l.parse::<u32>().ok()).unwrap_or(999).clamp(1, 999);
    match source.as_str() {
        "IYS" => {
            let after = q("after").and_then(|a| a.parse::<i64>().ok()).unwrap_or(0);
            #[derive(Deserialize)]
            struct R {
                id: f64,
                body: String,
            }
            let rows: Vec<R> = ctx
                .db
                .prepare("SELECT id, body FROM changes WHERE iys_code = ?1 AND brand_code = ?2 AND id > ?3 ORDER BY id LIMIT ?4")
                .bind(&[iys.to_string().into(), brand.to_string().into(), (after as f64).into(), f64::from(limit).into()])?
                .all()
                .await?
                .results()?;
            let next = rows.last().map(|r| (r.id as i64).to_string()).unwrap_or_else(|| after.to_string());
            let list: Vec<Value> = rows.iter().filter_map(|r| serde_json::from_str(&r.body).ok()).collect();
            Ok(Response::from_json(&json!({"after": next, "list": list}))?)
        }
        "HS" => {
            // The provider's own side: asked of IYS live.
            let mut path = format!("/sps/{iys}/brands/{brand}/consents/changes?source=HS&limit={limit}");
            if let Some(a) = q("after") {
                path.push_str("&after=");
                path.push_str(&url_encode(&a));
            }
            let r = iys_call(
                ctx.env,
                &ctx.upstream,
                (&ctx.provider_id, &ctx.request_id),
                "changes",
                Method::Get,
                &path,
                None,
                15_000,
            )
            .await
            .map_err(|e| up_error(&e, ctx.lang))?;
            crate::relay::passthrough(&r)
        }
        _ => {
            let mut e = ApiError::code(Code::InvalidPathParam, &[("param", "source".to_string())], ctx.lang);
            if let Some(f) = e.errors.first_mut() {
                f["code"] = json!("H098");
                f["location"] = json!(["source"]);
                f["value"] = json!(source);
            }
            Err(e)
        }
    }
}
