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
use crate::relay::{iys_call, up_error, Ctx, Wait};
use crate::util::iso_now;
use iys_core::consent::ConsentType;
use iys_core::Code;
use serde::Deserialize;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::BTreeSet;
use worker::{Env, Method, Request, Response};

/// Most pages fetched per brand per run.
const MAX_PAGES: usize = 20;
/// Most IYS pages one `source=HS` read goes through looking for a change the provider may read.
const MAX_HS_PAGES: usize = 5;

/// Runs one pull over every scoped brand; a JSON report. `by` is who asked and the request id their
/// ledger row carries: `("cron", <fresh id>)` or `("admin", <the admin request's id>)`.
///
/// A brand that fails (IYS refuses, D1 errs) is reported and the run goes on with the next one; the
/// run's row (`cron:pull` / `admin:pull`, status 200, or 502 with how many brands failed) and every
/// IYS exchange it made are appended to the ledger whatever happened.
pub async fn run(env: &Env, by: (&str, &str)) -> worker::Result<Value> {
    let (who, run_id) = by;
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
    let mut report = Vec::new();
    let mut failed = 0usize;
    for (iys, brand) in brands {
        let mut stored = 0usize;
        let error = match pull_brand(env, &db, &rows, (who, run_id), (iys, brand), &mut stored).await {
            Ok(e) => e,
            Err(e) => Some(format!("d1: {e}")),
        };
        failed += usize::from(error.is_some());
        report.push(json!({"iysCode": iys, "brandCode": brand, "stored": stored, "error": error}));
    }
    let mut entries: Vec<Entry> = rows.borrow_mut().drain(..).collect();
    entries.insert(
        0,
        Entry {
            provider: who.into(),
            request_id: run_id.into(),
            kind: format!("{who}:pull"),
            payload_sha256: crate::util::sha256_hex(run_id.as_bytes()),
            outcome: if failed == 0 { "200".into() } else { format!("502 {failed}/{} brands failed", report.len()) },
            iys_ids: String::new(),
        },
    );
    ledger::append(env, &entries).await?;
    Ok(json!({"brands": report}))
}

/// Pulls one brand's pages into D1, counting what it stored in `stored`; `Ok(Some(..))` names an
/// IYS refusal or a failed call (the pages before it are kept), `Err` a D1 failure.
async fn pull_brand(
    env: &Env,
    db: &worker::D1Database,
    rows: &RefCell<Vec<Entry>>,
    by: (&str, &str),
    (iys, brand): (u64, u64),
    stored: &mut usize,
) -> worker::Result<Option<String>> {
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
    for _ in 0..MAX_PAGES {
        let mut path = format!("/sps/{iys}/brands/{brand}/consents/changes?source=IYS&limit=999");
        if let Some(a) = &after {
            path.push_str("&after=");
            path.push_str(&url_encode(a));
        }
        let v = match iys_call(env, rows, by, "changes", Method::Get, &path, None, Wait::Exchange(30_000)).await {
            Ok(r) if r.ok() => r.json().unwrap_or(Value::Null),
            Ok(r) => return Ok(Some(format!("{} {}", r.status, r.first_code().unwrap_or_default()))),
            Err(e) => return Ok(Some(format!("{e:?}"))),
        };
        let list = v.get("list").and_then(Value::as_array).cloned().unwrap_or_default();
        if list.is_empty() {
            return Ok(None);
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
        let next = v.get("after").and_then(Value::as_str).map(str::to_string);
        // (A page without `after` keeps the cursor it had: NULL would make the next run read IYS's
        // whole window again.)
        stmts.push(
            db.prepare(
                "INSERT INTO pull_cursors (iys_code, brand_code, source, after, pulled_at) VALUES (?1, ?2, 'IYS', ?3, ?4) \
                 ON CONFLICT (iys_code, brand_code, source) DO UPDATE SET \
                 after = COALESCE(excluded.after, pull_cursors.after), pulled_at = excluded.pulled_at",
            )
            .bind(&[
                iys.to_string().into(),
                brand.to_string().into(),
                next.clone().map(Into::into).unwrap_or(wasm_bindgen::JsValue::NULL),
                iso_now().into(),
            ])?,
        );
        db.batch(stmts).await?;
        *stored += list.len();
        if next.is_none() || next == after {
            return Ok(None);
        }
        after = next;
    }
    Ok(None)
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

/// An `errors[]` answer for a bad query parameter of `/changes`: `request/invalid-query-param`, with
/// IYS's own H-code for that parameter and IYS's status for it (iys-api.md §7, as iys-sim answers):
/// H098 (a bad `source` or `after`: the change query is invalid) is 400, H183 (a bad `limit`) and
/// H187 (`limit=0`) are 422.
fn bad_query(param: &str, iys_code: &str, value: &str, lang: iys_core::Lang) -> ApiError {
    let mut e = ApiError::code(Code::InvalidQueryParam, &[("param", param.to_string())], lang);
    e.status = if iys_code == "H098" { 400 } else { 422 };
    if let Some(f) = e.errors.first_mut() {
        f["code"] = json!(iys_code);
        f["location"] = json!([param]);
        f["value"] = json!(value);
    }
    e
}

/// `limit`: absent is 999 (IYS's default page); above 999 it is cut to 999; zero, a negative number
/// or anything that is not a whole number is refused, never replaced (a silent default would change
/// what the caller pages through).
fn page_limit(raw: Option<&str>, lang: iys_core::Lang) -> Result<u32, ApiError> {
    let Some(raw) = raw else { return Ok(999) };
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_query("limit", "H183", raw, lang));
    }
    match raw.trim_start_matches('0') {
        "" => Err(bad_query("limit", "H187", raw, lang)),
        n => Ok(n.parse::<u32>().map_or(999, |n| n.min(999))),
    }
}

/// Whether a change item (IYS's shape) is of one of `types`; an item without a known `type` is not.
fn of_types(item: &Value, types: &[ConsentType]) -> bool {
    item.get("type").and_then(Value::as_str).and_then(ConsentType::from_wire).is_some_and(|t| types.contains(&t))
}

/// `GET …/consents/changes?source=IYS|HS&after=&limit=` for a provider: only the changes of the
/// consent types its scope holds on this brand (`Provider::types_for`), whichever side they come from.
/// A brand's changes carry recipients of every type, and several providers may share a brand, each
/// with its own types; without the filter any of them would read the others' recipients.
pub async fn changes(ctx: &Ctx<'_>, req: &Request, p: &Provider, iys: u64, brand: u64) -> Result<Response, ApiError> {
    let lang = ctx.lang;
    let url = req.url()?;
    let q = |k: &str| url.query_pairs().find(|(kk, _)| kk == k).map(|(_, v)| v.to_string());
    let source = q("source").unwrap_or_else(|| "IYS".into());
    let types = p.types_for(iys, brand);
    if types.is_empty() {
        // (`sps_inner` has checked the brand already; no type means nothing to read.)
        return Err(ApiError::code(Code::OutOfScope, &[("scope", format!("brandCode {brand}"))], lang));
    }
    match source.as_str() {
        "IYS" => {
            let limit = page_limit(q("limit").as_deref(), lang)?;
            // The relay's cursor: the id of the last stored row returned (0 or empty: from the
            // start). Anything else is refused rather than read as 0, which would replay the feed.
            let after = match q("after").filter(|a| !a.is_empty()) {
                None => 0,
                Some(a) => match a.parse::<i64>() {
                    Ok(n) if n >= 0 && a.bytes().all(|b| b.is_ascii_digit()) => n,
                    _ => return Err(bad_query("after", "H098", &a, lang)),
                },
            };
            #[derive(Deserialize)]
            struct R {
                id: f64,
                body: String,
            }
            // Filtered in the query, before LIMIT: a page holds up to `limit` changes of the
            // provider's types, and the cursor is the last of them, so the next page starts right
            // after it and no change of these types is skipped. (The stored body is IYS's item;
            // `type` is one of the three wire names or the row does not match.)
            let wanted: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
            let wanted = serde_json::to_string(&wanted).map_err(|e| ApiError::internal(&e.to_string()))?;
            let rows: Vec<R> = ctx
                .db
                .prepare(
                    "SELECT id, body FROM changes WHERE iys_code = ?1 AND brand_code = ?2 AND id > ?3 \
                     AND json_extract(body, '$.type') IN (SELECT value FROM json_each(?5)) ORDER BY id LIMIT ?4",
                )
                .bind(&[
                    iys.to_string().into(),
                    brand.to_string().into(),
                    (after as f64).into(),
                    f64::from(limit).into(),
                    wanted.into(),
                ])?
                .all()
                .await?
                .results()?;
            let next = rows.last().map(|r| (r.id as i64).to_string()).unwrap_or_else(|| after.to_string());
            let list: Vec<Value> = rows.iter().filter_map(|r| serde_json::from_str::<Value>(&r.body).ok()).collect();
            Ok(Response::from_json(&json!({"after": next, "list": list}))?)
        }
        "HS" => {
            // The service provider's side, asked of IYS live. IYS answers for the whole brand (the
            // integrator's account reads every type), so its list is filtered to the provider's types
            // before it is passed on. Filtering rather than refusing every provider that does not
            // hold all three types on the brand: a provider of the phone types (ARAMA, MESAJ) keeps
            // its own side's feed. IYS's `after` is passed on as IYS gave it: it points past the last
            // item IYS returned, so the items left out are ones this provider may not read anyway and
            // paging on skips nothing of its own. A page whose changes were all left out is read past
            // (up to `MAX_HS_PAGES` IYS pages per request), so an empty `list` means the end of the
            // feed, as from IYS itself: clients that stop at an empty page miss nothing.
            let limit = page_limit(q("limit").as_deref(), lang)?;
            let mut after = q("after");
            let mut page = 0;
            loop {
                page += 1;
                let mut path = format!("/sps/{iys}/brands/{brand}/consents/changes?source=HS&limit={limit}");
                if let Some(a) = &after {
                    path.push_str("&after=");
                    path.push_str(&url_encode(a));
                }
                let r = iys_call(
                    ctx.env,
                    &ctx.upstream,
                    (&ctx.provider_id, &ctx.request_id),
                    "changes",
                    Method::Get,
                    &path,
                    None,
                    Wait::Exchange(15_000),
                )
                .await
                .map_err(|e| up_error(&e, ctx.env, lang))?;
                // IYS's refusals verbatim (they carry no changes).
                if !r.ok() {
                    return crate::relay::passthrough(&r);
                }
                // A success without a list is not passed on: what it holds cannot be filtered.
                let Some(mut v) = r.json().filter(|v| v.get("list").is_some_and(Value::is_array)) else {
                    return Err(ApiError::internal("IYS answered a change query without a list"));
                };
                let next = v.get("after").and_then(Value::as_str).map(str::to_string);
                let mut read_past = false;
                if let Some(list) = v.get_mut("list").and_then(Value::as_array_mut) {
                    let had = list.len();
                    list.retain(|item| of_types(item, &types));
                    read_past = had > 0 && list.is_empty();
                }
                if !read_past || page == MAX_HS_PAGES || next.is_none() || next == after {
                    let mut resp = Response::from_json(&v)?;
                    resp.headers_mut().set("x-iys-ids", &crate::relay::iys_ids(&r))?;
                    return Ok(resp);
                }
                after = next;
            }
        }
        _ => Err(bad_query("source", "H098", &source, lang)),
    }
}

#[cfg(test)]
mod tests {
    use super::{of_types, page_limit};
    use iys_core::consent::ConsentType;
    use iys_core::Lang;
    use serde_json::json;

    #[test]
    fn a_page_limit_is_read_or_refused_never_replaced() {
        let ok = |raw: Option<&str>| page_limit(raw, Lang::En).ok();
        assert_eq!(ok(None), Some(999));
        assert_eq!(ok(Some("1")), Some(1));
        assert_eq!(ok(Some("0050")), Some(50));
        assert_eq!(ok(Some("999")), Some(999));
        assert_eq!(ok(Some("1000")), Some(999));
        assert_eq!(ok(Some("99999999999999999999999")), Some(999));
        for (raw, h) in [
            ("0", "H187"),
            ("000", "H187"),
            ("", "H183"),
            ("-1", "H183"),
            ("+5", "H183"),
            ("1.5", "H183"),
            ("ten", "H183"),
        ] {
            let e = page_limit(Some(raw), Lang::En)
                .err()
                .map(|e| (e.status, e.errors[0]["code"].clone(), e.errors[0]["iysEdgeCode"].clone()));
            assert_eq!(e, Some((422, json!(h), json!("request/invalid-query-param"))), "{raw:?}");
        }
    }

    #[test]
    fn only_changes_of_the_given_types_pass() {
        let types = [ConsentType::Mesaj];
        assert!(of_types(&json!({"type": "MESAJ"}), &types));
        for other in [json!({"type": "EPOSTA"}), json!({"type": "mesaj"}), json!({"type": 1}), json!({})] {
            assert!(!of_types(&other, &types), "{other}");
        }
    }
}
