//! `POST /demo/consents`: the sign-up page's route (`www/index.html`, contract in `www/README.md`).
//!
//! It exists only when the vars `DEMO_PROVIDER` (the id of a provider created through admin),
//! `DEMO_IYS_CODE` and `DEMO_BRAND_CODE` are set; otherwise, or while that provider does not exist
//! or is revoked, it answers 404 like any unknown path. The page has no credentials, so the route
//! acts *as* the demo provider and takes the provider path for every consent: scope (iysCode,
//! brand) → per consent one token from the provider's limiter → [`relay::add_value`] (iys-core
//! validation in the provider's mode, type scope, synchronous relay, queue on timeout). The request
//! is one ledger row (`inbound:demo`) followed by its upstream rows, like any `/sps/…` request.

use crate::auth::{provider_by_id, Provider};
use crate::http_error::{status_for, ApiError};
use crate::relay::{self, Ctx};
use crate::util::sha256_hex;
use iys_core::json::Value as JValue;
use iys_core::{Code, Diagnostic, Lang};
use serde_json::{json, Value};
use worker::{Env, Request, Response};

/// Most consents in one demo request (the same cap as an IYS batch).
pub const MAX_ITEMS: usize = 1000;

/// The configured demo provider and where its consents go, or `None` when the demo is off.
fn config(env: &Env) -> Option<(String, u64, u64)> {
    let var = |k: &str| env.var(k).ok().map(|v| v.to_string()).filter(|s| !s.trim().is_empty());
    let id = var("DEMO_PROVIDER")?;
    let iys = var("DEMO_IYS_CODE")?.trim().parse().ok()?;
    let brand = var("DEMO_BRAND_CODE")?.trim().parse().ok()?;
    Some((id.trim().to_string(), iys, brand))
}

/// `POST /demo/consents`.
pub async fn consents(
    mut req: Request,
    env: &Env,
    wc: &worker::Context,
    lang: Lang,
    request_id: String,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::code(Code::NotFound, &[], lang);
    let Some((id, iys, brand)) = config(env) else { return Err(not_found()) };
    let db = env.d1("DB")?;
    let provider = match provider_by_id(&db, &id).await? {
        Some(p) if p.revoked_at.is_none() => p,
        _ => return Err(not_found()),
    };
    let body = relay::read_body(&mut req, lang).await;
    // Its single adds are the provider path's: they run to the end even if the page goes away.
    let provider_id = provider.id.clone();
    relay::run_detached(wc, env, db, lang, request_id, provider_id, "demo", async move |ctx: &mut Ctx<'_>| match body {
        Ok(body) => (run(ctx, &req, &provider, iys, brand, &body).await, sha256_hex(&body)),
        Err(e) => (Err(e), sha256_hex(b"")),
    })
    .await
}

/// The consents of the body: `{"consents": [...]}` or a bare array.
fn items(v: &JValue) -> Result<&[JValue], Code> {
    let list = match v {
        JValue::Array(a) => a,
        JValue::Object(_) => match v.get("consents") {
            Some(JValue::Array(a)) => a,
            _ => return Err(Code::BatchNotArray),
        },
        _ => return Err(Code::BatchNotArray),
    };
    if list.is_empty() {
        return Err(Code::BatchEmpty);
    }
    Ok(list)
}

async fn run(
    ctx: &Ctx<'_>,
    req: &Request,
    p: &Provider,
    iys: u64,
    brand: u64,
    body: &[u8],
) -> Result<Response, ApiError> {
    let lang = ctx.lang;
    p.check_scope(iys, brand, &[], lang)?;
    // The wrapper's keys here; each consent's keys by iys-core's consent validation (per item).
    let v = relay::read_json(req.headers(), body, Some(&["consents"]), lang)?;
    let list = items(&v).map_err(|c| ApiError::diagnostics([&Diagnostic::new(c, "")], None, lang, false))?;
    if list.len() > MAX_ITEMS {
        let d = Diagnostic::new(Code::BatchTooLarge, "").with_number("count", list.len() as u64);
        return Err(ApiError::diagnostics([&d], None, lang, false));
    }
    let mut out = Vec::with_capacity(list.len());
    let mut ids = Vec::new();
    for (index, item) in list.iter().enumerate() {
        // One limiter token per consent, as if the provider had sent each as a single add. When
        // the first is refused nothing has happened yet: the whole request is 429.
        let admitted = match relay::admit(ctx.env, &p.id, Some(iys), Some(brand), lang).await {
            Ok((_, verdict)) => relay::rate_limited(verdict, lang),
            Err(e) => Err(e),
        };
        if let Err(e) = admitted {
            if index == 0 {
                return Err(e);
            }
            out.push(json!({"index": index, "ok": false, "status": e.status, "errors": e.errors}));
            continue;
        }
        let r = relay::add_value(ctx, p, iys, brand, item).await;
        out.push(item_json(index, r, &mut ids, lang).await);
    }
    let mut resp = Response::from_json(&json!({ "items": out }))?;
    resp.headers_mut().set("x-iys-ids", &ids.join(","))?;
    Ok(resp)
}

/// One answer item from the single-add result.
async fn item_json(index: usize, r: Result<Response, ApiError>, ids: &mut Vec<String>, lang: Lang) -> Value {
    let mut resp = match r {
        Ok(resp) => resp,
        Err(e) => return json!({"index": index, "ok": false, "status": e.status, "errors": e.errors}),
    };
    let status = resp.status_code();
    let body: Value = resp.text().await.ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null);
    match status {
        200..=201 => {
            let tx = body.get("transactionId").cloned().unwrap_or(Value::Null);
            if let Some(t) = tx.as_str() {
                ids.push(t.to_string());
            }
            let mut o = json!({"index": index, "ok": true, "status": 200, "transactionId": tx});
            if let Some(w) = body.get("iysEdgeWarnings") {
                o["warnings"] = w.clone();
            }
            o
        }
        202 => {
            let rid = body.get("requestId").cloned().unwrap_or(Value::Null);
            if let Some(t) = rid.as_str() {
                ids.push(t.to_string());
            }
            json!({"index": index, "ok": true, "status": 202, "queued": true, "requestId": rid})
        }
        _ => {
            let e = ApiError::code(Code::UpstreamRejected, &[], lang);
            json!({"index": index, "ok": false, "status": status_for(Code::UpstreamRejected),
                   "errors": e.errors, "upstream": body})
        }
    }
}
