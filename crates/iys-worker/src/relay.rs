//! The drop-in IYS paths: `/oauth2/token` and `/sps/{iysCode}/brands/{brandCode}/consents…`.
//!
//! Order for every `/sps/…` request: body size (`read_body`) → authenticate → path parameters →
//! scope (iysCode, brand) → per-provider limiter → parse and validate with iys-core → scope
//! (consent types) → relay.
//! Anything refused on the way is answered here and never reaches IYS. Each inbound request and each
//! upstream exchange is one ledger row.

use crate::auth::{self, Provider};
use crate::http_error::{diagnostic_json, status_for, to_serde, ApiError};
use crate::ledger::{self, Entry};
use crate::limit::{Admission, Verdict};
use crate::upstream::{self, UpErr, UpResp};
use crate::util::{now_ms, now_s, sha256_hex, uuid};
use crate::{do_get, env_f64, queue};
use iys_core::consent::{self, ConsentType, Given, Options, RecipientType};
use iys_core::json::Value as JValue;
use iys_core::recipient::Recipient;
use iys_core::time::BusinessDays;
use iys_core::{Code, Diagnostic, Lang};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;
use worker::{D1Database, Delay, Env, Headers, Method, Request, Response};

/// Largest body accepted (a 1000-item batch of long e-mail consents is well under 1 MB).
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// Reads a request body of at most [`MAX_BODY`] bytes, else 413 `request/body-too-large`. A
/// `Content-Length` over the limit is refused before a byte is read (a client that declares
/// 100 MB and sends 10 bytes gets its answer at once, not after the runtime's read timeout). A
/// body without one (chunked) is read as a stream and refused as soon as it passes the limit.
pub(crate) async fn read_body(req: &mut Request, lang: Lang) -> Result<Vec<u8>, ApiError> {
    let too_large = || ApiError::code(Code::BodyTooLarge, &[("limit", MAX_BODY.to_string())], lang);
    match req.headers().get("Content-Length").ok().flatten().map(|v| v.trim().parse::<u64>()) {
        Some(Ok(n)) if n > MAX_BODY as u64 => return Err(too_large()),
        // Declared and within the limit: the runtime delivers no more than it declares.
        Some(Ok(_)) => return Ok(req.bytes().await?),
        _ => {}
    }
    let Ok(mut stream) = req.stream() else { return Ok(Vec::new()) };
    let mut body = Vec::new();
    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
        let chunk = chunk?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Per-request state: who, which request, and the upstream exchanges to record.
pub struct Ctx<'a> {
    /// Bindings.
    pub env: &'a Env,
    /// D1.
    pub db: D1Database,
    /// Message language.
    pub lang: Lang,
    /// The relay's id for this request.
    pub request_id: String,
    /// Who is asking (`-` before authentication).
    pub provider_id: String,
    /// Upstream ledger rows, appended after the inbound row.
    pub upstream: RefCell<Vec<Entry>>,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("request_id", &self.request_id).field("provider_id", &self.provider_id).finish()
    }
}

fn outcome_of(r: &Result<Response, ApiError>) -> String {
    match r {
        Ok(resp) => {
            let code = resp.headers().get("x-iys-edge-code").ok().flatten();
            match code {
                Some(c) => format!("{} {c}", resp.status_code()),
                None => resp.status_code().to_string(),
            }
        }
        Err(e) => outcome_of_error(e),
    }
}

/// A refusal's ledger outcome: its status and the relay's code (`429 request/rate-limited`).
pub(crate) fn outcome_of_error(e: &ApiError) -> String {
    let code = e.errors.first().and_then(|x| x.get("iysEdgeCode")).and_then(Value::as_str).unwrap_or("");
    format!("{} {code}", e.status).trim_end().to_string()
}

fn ids_of(r: &Result<Response, ApiError>) -> String {
    r.as_ref().ok().and_then(|resp| resp.headers().get("x-iys-ids").ok().flatten()).unwrap_or_default()
}

/// The ledger rows of a finished request: its inbound row (the request id `fetch` puts on the
/// answer, `x-iys-edge-request-id`, refusals included), then its upstream rows; and the answer with
/// the relay's internal `x-iys-ids` header taken off.
fn rows_of(
    ctx: &Ctx<'_>,
    kind: &str,
    payload_sha: String,
    r: Result<Response, ApiError>,
) -> (Result<Response, ApiError>, Vec<Entry>) {
    let mut rows = vec![Entry {
        provider: ctx.provider_id.clone(),
        request_id: ctx.request_id.clone(),
        kind: format!("inbound:{kind}"),
        payload_sha256: payload_sha,
        outcome: outcome_of(&r),
        iys_ids: ids_of(&r),
    }];
    rows.extend(ctx.upstream.borrow_mut().drain(..));
    let mut r = r;
    if let Ok(resp) = r.as_mut() {
        let _ = resp.headers_mut().delete("x-iys-ids");
    }
    (r, rows)
}

async fn append_rows(env: &Env, rows: &[Entry]) {
    if let Err(e) = ledger::append(env, rows).await {
        let rid = rows.first().map(|r| r.request_id.as_str()).unwrap_or("-");
        worker::console_error!("ledger/append-failed request={rid} rows={}: {e}", rows.len());
    }
}

/// Records the inbound row (and the upstream rows) for a finished request: handed to the ledger
/// writer from `waitUntil`, so the answer does not wait for D1 but the isolate is held until the
/// rows are committed (see `ledger::append` for retries and the fallback).
pub(crate) async fn finish(
    ctx: &Ctx<'_>,
    wc: &worker::Context,
    kind: &str,
    payload_sha: String,
    r: Result<Response, ApiError>,
) -> Result<Response, ApiError> {
    let (r, rows) = rows_of(ctx, kind, payload_sha, r);
    let env = ctx.env.clone();
    wc.wait_until(async move { append_rows(&env, &rows).await });
    r
}

/// Runs a request's work to the end even if its client goes away. The runtime cancels what a
/// request's handler is awaiting when the client disconnects; only `waitUntil` work survives. A
/// single add that has reached IYS must still get its upstream row, its queueing on timeout and
/// its inbound row, or the provider's retry meets H174 for a consent nobody recorded. So `work`
/// (which answers and says which ledger rows to write) runs under `waitUntil`; the handler only
/// awaits its answer through a oneshot. The answer is handed over before the rows are written, so
/// it does not wait for D1; a receiver dropped by a cancelled handler changes nothing for the work.
async fn detached<F>(wc: &worker::Context, env: &Env, work: F) -> Result<Response, ApiError>
where
    F: std::future::Future<Output = (Result<Response, ApiError>, Vec<Entry>)> + 'static,
{
    let (tx, rx) = futures_channel::oneshot::channel();
    let env = env.clone();
    wc.wait_until(async move {
        let (r, rows) = work.await;
        let _ = tx.send(r);
        if !rows.is_empty() {
            append_rows(&env, &rows).await;
        }
    });
    rx.await.unwrap_or_else(|_| Err(ApiError::internal("the request's work ended without an answer")))
}

/// A route's work run [`detached`], with the set-up every such route shares: a [`Ctx`] of its own
/// (no upstream rows yet) for `work`, which answers with the payload hash of the inbound row; the
/// request's rows are `kind`'s ([`rows_of`]).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_detached<W>(
    wc: &worker::Context,
    env: &Env,
    db: D1Database,
    lang: Lang,
    request_id: String,
    provider_id: String,
    kind: &'static str,
    work: W,
) -> Result<Response, ApiError>
where
    W: AsyncFnOnce(&mut Ctx<'_>) -> (Result<Response, ApiError>, String) + 'static,
{
    let owned = env.clone();
    detached(wc, env, async move {
        let env = owned;
        let mut ctx = Ctx { env: &env, db, lang, request_id, provider_id, upstream: RefCell::new(Vec::new()) };
        let (r, payload_sha) = work(&mut ctx).await;
        rows_of(&ctx, kind, payload_sha, r)
    })
    .await
}

/// The keys of a token request (IYS's grant body).
/// IYS's grant keys, plus the OAuth 2 client keys general-purpose clients add (accepted, ignored), so
/// an existing IYS client works unchanged.
const GRANT_KEYS: &[&str] =
    &["grant_type", "username", "password", "refresh_token", "client_id", "client_secret", "scope"];
/// The keys of `POST …/consents/status`.
const STATUS_KEYS: &[&str] = &["recipient", "recipientType", "type"];
/// The keys of `POST …/consents/{recipientType}/status/{type}`.
const MULTI_STATUS_KEYS: &[&str] = &["recipients"];

/// `POST /oauth2/token`.
pub async fn token(
    mut req: Request,
    env: &Env,
    wc: &worker::Context,
    lang: Lang,
    request_id: String,
) -> Result<Response, ApiError> {
    let db = env.d1("DB")?;
    // Counted before the body is read or any password is hashed (`throttle`).
    let allowed = crate::throttle::allow(env, req.headers(), "token").await;
    let body = if allowed { read_body(&mut req, lang).await } else { Ok(Vec::new()) };
    let read = body.and_then(|b| read_json(req.headers(), &b, Some(GRANT_KEYS), lang));
    let (grant, provider_id, answer) = match read {
        _ if !allowed => {
            let retry = crate::throttle::PERIOD_S.to_string();
            (Value::Null, String::new(), Err(ApiError::code(Code::RateLimited, &[("retry_after", retry)], lang)))
        }
        Ok(v) => {
            let grant = to_serde(&v);
            let (provider_id, answer) = auth::token_endpoint(&db, env, &grant, lang).await;
            (grant, provider_id, answer)
        }
        Err(e) => (Value::Null, String::new(), Err(e)),
    };
    // Never hash the password or refresh token into the ledger: only the grant type and username.
    let what = format!(
        "{}:{}",
        grant.get("grant_type").and_then(Value::as_str).unwrap_or(""),
        grant.get("username").and_then(Value::as_str).unwrap_or("")
    );
    let ctx = Ctx {
        env,
        db,
        lang,
        request_id,
        provider_id: if provider_id.is_empty() { "-".into() } else { provider_id },
        upstream: RefCell::new(Vec::new()),
    };
    let r = match answer {
        Ok(v) => Response::from_json(&v).map_err(ApiError::from),
        Err(e) => Err(e),
    };
    finish(&ctx, wc, "token", sha256_hex(what.as_bytes()), r).await
}

/// Every `/sps/…` route. Once the body is read, the rest runs [`detached`]: a client that
/// disconnects does not cancel it.
pub async fn sps(
    mut req: Request,
    env: &Env,
    wc: &worker::Context,
    lang: Lang,
    request_id: String,
) -> Result<Response, ApiError> {
    let path = req.path();
    let method = req.method();
    // The size first, before authentication: a body over the limit is refused unread (from its
    // `Content-Length`), whoever sends it.
    let body = if method == Method::Post { read_body(&mut req, lang).await } else { Ok(Vec::new()) };
    let segs: Vec<String> = path.trim_start_matches("/sps/").split('/').map(str::to_string).collect();
    let kind = route_kind(&method, &segs);
    let payload_sha = sha256_hex(match &body {
        Ok(b) if !b.is_empty() => b,
        _ => path.as_bytes(),
    });
    let db = env.d1("DB")?;
    run_detached(wc, env, db, lang, request_id, "-".into(), kind, async move |ctx: &mut Ctx<'_>| {
        let r = match body {
            Ok(body) => sps_inner(&req, ctx, &method, &segs, &body).await,
            Err(e) => Err(e),
        };
        (r, payload_sha)
    })
    .await
}

fn route_kind(method: &Method, segs: &[String]) -> &'static str {
    let rest: Vec<&str> = segs.iter().skip(4).map(String::as_str).collect();
    match (method, rest.as_slice()) {
        (Method::Post, []) => "add",
        (Method::Post, ["request"]) => "batch",
        (Method::Get, ["request", _]) => "batch-status",
        (Method::Post, ["status"]) => "status",
        (Method::Post, [_, "status", _]) => "multi-status",
        (Method::Get, ["changes"]) => "changes",
        _ => "unknown",
    }
}

fn path_param(raw: &str, name: &str, iys: &str, lang: Lang) -> Result<u64, ApiError> {
    match raw.parse::<u64>() {
        Ok(n) if !raw.starts_with('+') => Ok(n),
        _ => {
            let mut e = ApiError::code(Code::InvalidPathParam, &[("param", name.to_string())], lang);
            if let Some(first) = e.errors.first_mut() {
                first["code"] = json!(iys);
                first["location"] = json!([name]);
                first["value"] = json!(raw);
            }
            Err(e)
        }
    }
}

async fn sps_inner(
    req: &Request,
    ctx: &mut Ctx<'_>,
    method: &Method,
    segs: &[String],
    body: &[u8],
) -> Result<Response, ApiError> {
    let lang = ctx.lang;
    if segs.len() < 4 || segs[1] != "brands" || segs[3] != "consents" {
        return Err(ApiError::code(Code::NotFound, &[], lang));
    }
    // The signature and expiry of the token here; the provider's state (active, scope, limits) and
    // one token of its bucket from its limiter object, in one call.
    let (id, issued) = auth::authenticate(ctx.env, req, lang)?;
    let iys = path_param(&segs[0], "iysCode", "H190", lang);
    let brand = path_param(&segs[2], "brandCode", "H191", lang);
    let (provider, verdict) =
        admit(ctx.env, &id, iys.as_ref().ok().copied(), brand.as_ref().ok().copied(), lang).await?;
    ctx.provider_id = provider.id.clone();
    if !provider.token_stands(issued) {
        // Issued before the provider's credentials were rotated.
        return Err(ApiError::code(Code::InvalidToken, &[], lang));
    }
    let (iys, brand) = (iys?, brand?);
    provider.check_scope(iys, brand, &[], lang)?;
    rate_limited(verdict, lang)?;
    let rest: Vec<&str> = segs.iter().skip(4).map(String::as_str).collect();
    // Every body is read by `read_json` (Content-Type, iys-core's reader, keys) before it is used.
    let json = |keys| read_json(req.headers(), body, keys, lang);
    match (method, rest.as_slice()) {
        // A consent's (and a batch item's) keys are judged by iys-core's consent validation.
        (Method::Post, []) => add_value(ctx, &provider, iys, brand, &json(None)?).await,
        (Method::Post, ["request"]) => {
            let key = idempotency_key(req.headers(), lang)?;
            batch(ctx, &provider, iys, brand, &json(None)?, key.as_deref()).await
        }
        (Method::Get, ["request", id]) => queue::request_status(&ctx.db, &provider.id, iys, brand, id, lang).await,
        (Method::Post, ["status"]) => status(ctx, &provider, iys, brand, &json(Some(STATUS_KEYS))?).await,
        (Method::Post, [rt, "status", ty]) => {
            multi_status(ctx, &provider, iys, brand, rt, ty, &json(Some(MULTI_STATUS_KEYS))?).await
        }
        (Method::Get, ["changes"]) => crate::pull::changes(ctx, req, &provider, iys, brand).await,
        (_, rest) => Err(ApiError::wrong_method_or_not_found(allowed(rest), lang)),
    }
}

/// The method a consent path (after `/sps/{iysCode}/brands/{brandCode}/consents`) takes (`None`: no
/// such path), for the 405's `Allow`; in step with the routes of [`sps_inner`].
fn allowed(rest: &[&str]) -> Option<&'static str> {
    match rest {
        [] | ["request"] | ["status"] | [_, "status", _] => Some("POST"),
        ["request", _] | ["changes"] => Some("GET"),
        _ => None,
    }
}

/// Authorises and admits one request in one call to the provider's limiter object: the provider's
/// row as the object holds it (so a revocation or a limit change applies to the next request), and,
/// for an active provider in scope for (`iys`, `brand`), the bucket's verdict on one token. A
/// token whose provider does not exist or is revoked is 401 `auth/invalid-token` (as when revocation
/// deleted the stored tokens).
pub async fn admit(
    env: &Env,
    provider_id: &str,
    iys: Option<u64>,
    brand: Option<u64>,
    lang: Lang,
) -> Result<(Provider, Option<Verdict>), ApiError> {
    // Provider ids are `prv_` + [a-z0-9_-] (admin checks), so they go in a query as they are; a
    // signed token names no other kind (anything else is refused like an unknown provider).
    if !provider_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(ApiError::code(Code::InvalidToken, &[], lang));
    }
    // `h=1`: the answer comes in a header, with no body (`raw::ANSWER_HEADER`).
    let mut path = format!("/admit?h=1&provider={provider_id}");
    if let Some(i) = iys {
        path.push_str(&format!("&iysCode={i}"));
    }
    if let Some(b) = brand {
        path.push_str(&format!("&brandCode={b}"));
    }
    let (status, text) = crate::raw::durable_h(env, "LIMITER", provider_id, "GET", &path, None).await?;
    let a: Admission = match serde_json::from_str(&text) {
        Ok(a) if status == 200 => a,
        _ => return Err(ApiError::internal(&format!("limiter answered {status}"))),
    };
    match a.provider {
        Some(p) if p.revoked_at.is_none() => Ok((p, a.verdict)),
        _ => Err(ApiError::code(Code::InvalidToken, &[], lang)),
    }
}

/// 429 with Retry-After unless the limiter allowed the request.
pub fn rate_limited(verdict: Option<Verdict>, lang: Lang) -> Result<(), ApiError> {
    let Some(v) = verdict else { return Err(ApiError::internal("the limiter took no token")) };
    if v.allowed {
        return Ok(());
    }
    let secs = v.retry_after_ms.div_ceil(1000).max(1);
    Err(ApiError::code(Code::RateLimited, &[("retry_after", secs.to_string())], lang))
}

fn options(p: &Provider) -> Options {
    Options { mode: p.mode(), now: now_s(), window: Some(BusinessDays::default()) }
}

/// Whether a `Content-Type` value names JSON: the media type `application/json`, any case, with or
/// without parameters (`; charset=utf-8`). One header only: a repeated header arrives joined by `, `.
pub fn is_json_media_type(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|v| v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json"))
}

/// Most key errors reported for one body (an object of a million keys gets the first ones).
const MAX_KEY_ERRORS: usize = 100;

/// The one reader of inbound JSON bodies, for every route that takes one (`/oauth2/token`, the
/// `/sps/…` POSTs, `/demo/consents`, the admin bodies), before anything in the body is used:
///
/// 1. `Content-Type` must be `application/json` (parameters allowed, any case): else 415
///    `request/unsupported-media-type`, and the body is not looked at;
/// 2. at most [`MAX_BODY`] bytes (413);
/// 3. iys-core's reader (`request/invalid-utf8`, `request/invalid-json`, `request/json-too-deep`: 400);
/// 4. with `keys`, a top-level object may hold only those keys, each once: 422
///    `consent/duplicate-field` / `consent/unknown-field`, as consent validation judges a consent's
///    keys (so no key is read one way here and another way upstream). `None` where iys-core's consent
///    validation judges the keys itself (a consent, a batch).
pub(crate) fn read_json(headers: &Headers, body: &[u8], keys: Option<&[&str]>, lang: Lang) -> Result<JValue, ApiError> {
    let content_type = headers.get("Content-Type").ok().flatten();
    if !is_json_media_type(content_type.as_deref()) {
        return Err(ApiError::code(Code::UnsupportedMediaType, &[], lang));
    }
    if body.len() > MAX_BODY {
        return Err(ApiError::code(Code::BodyTooLarge, &[("limit", MAX_BODY.to_string())], lang));
    }
    let v = iys_core::json::parse_bytes(body).map_err(|d| {
        let mut e = ApiError::diagnostics([&d], None, lang, false);
        e.status = status_for(d.code);
        e
    })?;
    let (Some(allowed), JValue::Object(entries)) = (keys, &v) else { return Ok(v) };
    let mut seen = BTreeSet::new();
    let mut errors = Vec::new();
    for (key, _) in entries {
        let code = if !seen.insert(key.as_str()) {
            Code::ConsentDuplicateField
        } else if !allowed.contains(&key.as_str()) {
            Code::ConsentUnknownField
        } else {
            continue;
        };
        if errors.len() == MAX_KEY_ERRORS {
            break;
        }
        let d =
            Diagnostic::new(code, format!("/{}", iys_core::diagnostic::pointer_token(key))).with("field", key.as_str());
        let mut e = diagnostic_json(&d, Some(&v), lang, false);
        if code == Code::ConsentUnknownField {
            // iys-core's message lists a consent's keys; name this body's.
            e["message"] = json!(match lang {
                Lang::En => format!("Unknown field {key}; allowed fields are {}.", allowed.join(", ")),
                _ => format!("Bilinmeyen alan {key}; izin verilen alanlar {}.", allowed.join(", ")),
            });
        }
        errors.push(e);
    }
    if errors.is_empty() {
        Ok(v)
    } else {
        Err(ApiError { status: status_for(Code::ConsentDuplicateField), errors, retry_after: None, allow: None })
    }
}

thread_local! {
    /// This isolate's copy of the IYS token: (username, token, use until ms). The holder object stays
    /// the only one that asks IYS for tokens; this only saves asking the holder on every request.
    static IYS_TOKEN: RefCell<Option<(String, String, f64)>> = const { RefCell::new(None) };
}

/// Drops this isolate's copy of the IYS token (admin reset; a 401 from IYS does it per token).
pub fn forget_iys_token() {
    IYS_TOKEN.with(|c| *c.borrow_mut() = None);
}

/// The IYS token for the integrator account: this isolate's copy while it is before the holder's
/// refresh point, else from the holder object (which refreshes it, single flight).
async fn iys_token(env: &Env, stale: Option<&str>) -> Result<String, UpErr> {
    let user = env.secret("IYS_USERNAME").map(|s| s.to_string()).map_err(|e| not_sent("config", 60, &e.to_string()))?;
    let now = crate::util::now_ms() as f64;
    let cached = IYS_TOKEN.with(|c| {
        let mut c = c.borrow_mut();
        match c.as_ref() {
            Some((u, t, until)) if *u == user && now < *until && stale != Some(t.as_str()) => Some(t.clone()),
            Some(_) => {
                *c = None;
                None
            }
            None => None,
        }
    });
    if let Some(t) = cached {
        return Ok(t);
    }
    let path = match stale {
        Some(t) => format!("/token?stale={}", sha256_hex(t.as_bytes())),
        None => "/token".to_string(),
    };
    let v = do_get(env, "IYS_TOKEN", &user, &path).await.map_err(|e| not_sent("token", 30, &e.to_string()))?;
    if let Some(t) = v.get("accessToken").and_then(Value::as_str) {
        if let Some(until) = v.get("refreshAtMs").and_then(Value::as_f64) {
            IYS_TOKEN.with(|c| *c.borrow_mut() = Some((user, t.to_string(), until)));
        }
        return Ok(t.to_string());
    }
    match v.get("error").and_then(Value::as_str) {
        Some("breaker") => Err(UpErr::NotSent {
            code: "auth/token-rate-limited",
            retry_after: v.get("retryAfterS").and_then(Value::as_u64).unwrap_or(3600),
            detail: "IYS token breaker open (H084)".into(),
        }),
        // (The holder's backoff after a failed token request says how long to wait.)
        _ => Err(not_sent("token", v.get("retryAfterS").and_then(Value::as_u64).unwrap_or(30), "no IYS token")),
    }
}

fn not_sent(what: &str, retry_after: u64, detail: &str) -> UpErr {
    worker::console_error!("iys {what}: {detail}");
    UpErr::NotSent { code: "upstream/unavailable", retry_after, detail: detail.to_string() }
}

/// How much send time one lease from the governor covers (ms): `max(1, ⌊LEASE_MS / step⌋)` slots.
const LEASE_MS: f64 = 50.0;
/// A request waiting for another request's lease call looks again this often (its own timer).
const LEASE_POLL_MS: u64 = 1;
/// A lease call in flight longer than this is not waited for.
const LEASE_STALE_MS: u64 = 5_000;

/// A run of consecutive send slots the governor handed this isolate: slot `i` is at
/// `first + i·step` (this isolate's clock), `next` is the first not yet used.
#[derive(Debug)]
struct Lease {
    user: String,
    step: f64,
    first: f64,
    count: u64,
    next: u64,
}

thread_local! {
    /// This isolate's lease, and when its lease call started (if one is in flight).
    static LEASE: RefCell<(Option<Lease>, Option<u64>)> = const { RefCell::new((None, None)) };
}

/// Takes this isolate's next slot that is not in the past and not after `latest`: how long to wait
/// for it (ms), or `None`. Slots whose time has passed are dropped, never used late in a bunch; a
/// slot after `latest` is left for a request that can use it.
fn take_slot(user: &str, step: f64, now: f64, latest: f64) -> Option<f64> {
    LEASE.with(|l| {
        let mut l = l.borrow_mut();
        let lease = l.0.as_mut().filter(|x| x.user == user && x.step == step)?;
        let due = ((now - lease.first) / step).ceil().max(0.0) as u64;
        let i = lease.next.max(due);
        let at = lease.first + i as f64 * step;
        if i >= lease.count || at > latest {
            return None;
        }
        lease.next = i + 1;
        Some((at - now).max(0.0))
    })
}

/// Clears this isolate's "lease call in flight" mark when the call ends, also when a request that
/// ran out of time drops it midway (else the isolate's other requests would wait `LEASE_STALE_MS`).
struct LeaseCall;

impl Drop for LeaseCall {
    fn drop(&mut self) {
        LEASE.with(|l| l.borrow_mut().1 = None);
    }
}

/// What a synchronous request that ran out of its time budget before sending gets: not sent, to
/// be sent later (a single add is queued; `Retry-After` is `RETRY_BASE_S`).
fn out_of_time(env: &Env) -> UpErr {
    UpErr::NotSent {
        code: "upstream/timeout",
        retry_after: crate::retry_base_s(env),
        detail: "the synchronous time budget ran out before the send".into(),
    }
}

/// Waits for a send slot of the upstream governor. Slots come in leases: the governor hands an
/// isolate `n = max(1, ⌊LEASE_MS / step⌋)` consecutive slots of its schedule (`step = 1000 /
/// IYS_MAX_RPS` ms), and the isolate's requests use them one each, in order, each waiting for its own
/// slot's time; slots already past are dropped. So every send still has a slot of its own, no send
/// goes before its slot, and the slots are spaced as before: the total sent per second never exceeds
/// `IYS_MAX_RPS`. At most `LEASE_MS` of sending time per lease can go unused (fewer sends, never
/// more). With `IYS_MAX_RPS` ≤ 20 a lease is one slot: exactly the old one-call-per-send.
///
/// With a `deadline` (a synchronous request's budget), a slot after it is not taken and the
/// governor is asked only for a first slot before it (`within`; it books nothing otherwise): the
/// request is then not sent ([`out_of_time`]). Without an answer from the governor nothing is sent
/// either (fails closed: a send without a slot could break IYS's per-second limit exactly under
/// load); the caller queues or retries it.
async fn slot(env: &Env, deadline: Option<u64>) -> Result<(), UpErr> {
    let user = env.secret("IYS_USERNAME").map(|s| s.to_string()).map_err(|e| not_sent("config", 60, &e.to_string()))?;
    let rps = env_f64(env, "IYS_MAX_RPS", 10.0);
    let rps = if rps > 0.0 { rps } else { 10.0 };
    let step = 1000.0 / rps;
    let latest = deadline.map_or(f64::INFINITY, |d| d as f64);
    loop {
        let now = crate::util::now_ms();
        if let Some(wait) = take_slot(&user, step, now as f64, latest) {
            if wait > 0.0 {
                Delay::from(Duration::from_micros((wait * 1000.0).ceil() as u64)).await;
            }
            return Ok(());
        }
        if now as f64 >= latest {
            return Err(out_of_time(env));
        }
        // One lease call at a time per isolate; the others wait on their own timers (no request
        // waits on another request's I/O).
        let mine = LEASE.with(|l| {
            let mut l = l.borrow_mut();
            if l.1.is_none_or(|t| now.saturating_sub(t) > LEASE_STALE_MS) {
                l.1 = Some(now);
                true
            } else {
                false
            }
        });
        if !mine {
            Delay::from(Duration::from_millis(LEASE_POLL_MS)).await;
            continue;
        }
        let call = LeaseCall;
        let n = ((LEASE_MS / step).floor() as u64).max(1);
        let mut path = format!("/slot?h=1&rps={rps}&n={n}");
        if let Some(d) = deadline {
            path.push_str(&format!("&within={}", d.saturating_sub(now)));
        }
        let Some(got) =
            crate::util::within(deadline, crate::raw::durable_h(env, "GOVERNOR", &user, "GET", &path, None)).await
        else {
            return Err(out_of_time(env));
        };
        let at = crate::util::now_ms() as f64;
        drop(call);
        let v = match got {
            Ok((200, text)) => serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
            Ok((status, _)) => return Err(not_sent("governor", 1, &format!("the governor answered {status}"))),
            Err(e) => return Err(not_sent("governor", 1, &e.to_string())),
        };
        let Some(count) = v.get("count").and_then(Value::as_u64) else {
            return Err(not_sent("governor", 1, "the governor's answer has no count"));
        };
        if count == 0 {
            // No first slot within the budget (`within`): nothing was booked.
            return Err(out_of_time(env));
        }
        let wait = v.get("waitMs").and_then(Value::as_f64).unwrap_or(0.0).max(0.0);
        // Counted from when the answer arrived: the slots only move later, never earlier.
        LEASE.with(|l| l.borrow_mut().0 = Some(Lease { user: user.clone(), step, first: at + wait, count, next: 0 }));
        if at + wait > latest {
            // A lease that starts past the budget (the governor should have answered `count: 0` to
            // `within`; its clock and ours differ by the call's latency): it stays for this
            // isolate's later requests, and this one stops here instead of booking lease after
            // lease until its deadline.
            return Err(out_of_time(env));
        }
    }
}

/// How long one exchange with IYS may take.
#[derive(Clone, Copy, Debug)]
pub enum Wait {
    /// The HTTP exchange gets this many ms; the IYS token and the governor's slot take what they
    /// take (the queue and the cron: nobody is waiting on the answer).
    Exchange(u64),
    /// All of it (the IYS token, the governor's slot, the exchange) is over by this time (ms since
    /// the epoch): a synchronous route's caller is waiting. What could not be sent by then is not
    /// sent ([`out_of_time`]).
    Until(u64),
}

impl Wait {
    /// A synchronous route's budget: `SYNC_TIMEOUT_MS` from now, end to end.
    pub fn sync(env: &Env) -> Wait {
        Wait::Until(now_ms() + env_f64(env, "SYNC_TIMEOUT_MS", 8000.0) as u64)
    }

    fn deadline(self) -> Option<u64> {
        match self {
            Wait::Exchange(_) => None,
            Wait::Until(d) => Some(d),
        }
    }
}

#[allow(clippy::too_many_arguments)]
/// One exchange with IYS under the integrator's token and the governor, within `wait`; a 401
/// refreshes the token once and retries once. Records one ledger row per exchange in `rows` (and
/// one `not-sent …` row when nothing was sent).
pub async fn iys_call(
    env: &Env,
    rows: &RefCell<Vec<Entry>>,
    who: (&str, &str),
    kind: &str,
    method: Method,
    path: &str,
    body: Option<String>,
    wait: Wait,
) -> Result<UpResp, UpErr> {
    let base = env.var("IYS_BASE_URL").map(|v| v.to_string()).unwrap_or_default();
    let url = format!("{}{}", base.trim_end_matches('/'), path);
    let payload_sha = sha256_hex(body.as_deref().unwrap_or(path).as_bytes());
    let record = |outcome: String, ids: String| {
        rows.borrow_mut().push(Entry {
            provider: who.0.to_string(),
            request_id: who.1.to_string(),
            kind: format!("upstream:{kind}"),
            payload_sha256: payload_sha.clone(),
            outcome,
            iys_ids: ids,
        });
    };
    let not_sent_row = |e: UpErr| {
        record(format!("not-sent {}", err_code(&e)), String::new());
        e
    };
    let deadline = wait.deadline();
    // The token within the budget too: the holder's own request to IYS can take up to 2 × 15 s.
    let get_token = |stale: Option<String>| async move {
        crate::util::within(deadline, iys_token(env, stale.as_deref())).await.unwrap_or_else(|| Err(out_of_time(env)))
    };
    let mut token = get_token(None).await.map_err(not_sent_row)?;
    for attempt in 0..2 {
        slot(env, deadline).await.map_err(not_sent_row)?;
        let timeout_ms = match wait {
            Wait::Exchange(ms) => ms,
            Wait::Until(d) => match d.saturating_sub(now_ms()) {
                0 => return Err(not_sent_row(out_of_time(env))),
                left => left,
            },
        };
        let r = upstream::http(method.clone(), &url, Some(&token), body.clone(), timeout_ms).await;
        match r {
            Ok(r) if r.status == 401 && attempt == 0 => {
                record(format!("401 {}", r.first_code().unwrap_or_default()), String::new());
                token = get_token(Some(token)).await.map_err(not_sent_row)?;
            }
            Ok(r) => {
                let code = if r.ok() { String::new() } else { r.first_code().unwrap_or_default() };
                record(format!("{} {code}", r.status).trim_end().to_string(), iys_ids(&r));
                return Ok(r);
            }
            Err(e) => {
                record(err_code(&e).to_string(), String::new());
                return Err(e);
            }
        }
    }
    Err(UpErr::Network("unreachable".into()))
}

fn err_code(e: &UpErr) -> &'static str {
    match e {
        UpErr::Timeout => "timeout",
        UpErr::Network(_) => "network",
        UpErr::NotSent { code, .. } => code,
    }
}

/// IYS ids found in an answer (transactionId, requestId, subrequest ids are left out).
pub fn iys_ids(r: &UpResp) -> String {
    let Some(v) = r.json() else { return String::new() };
    let mut ids = Vec::new();
    for k in ["transactionId", "requestId"] {
        if let Some(s) = v.get(k).and_then(Value::as_str) {
            ids.push(s.to_string());
        }
    }
    ids.join(",")
}

/// IYS's answer, verbatim.
pub fn passthrough(r: &UpResp) -> Result<Response, ApiError> {
    let mut resp = Response::ok(r.text.clone())?.with_status(r.status);
    resp.headers_mut().set("Content-Type", "application/json")?;
    if !r.ok() {
        resp.headers_mut().set("x-iys-edge-code", "upstream/rejected")?;
    }
    resp.headers_mut().set("x-iys-ids", &iys_ids(r))?;
    Ok(resp)
}

fn warnings(diags: &[Diagnostic], lang: Lang) -> Vec<Value> {
    diags.iter().filter(|d| !d.is_error()).map(|d| crate::http_error::diagnostic_json(d, None, lang, false)).collect()
}

/// One parsed consent: validated (the provider's mode), type-scoped, relayed synchronously, queued
/// on timeout. The single-add path, shared by `POST …/consents` and `POST /demo/consents`.
pub(crate) async fn add_value(
    ctx: &Ctx<'_>,
    p: &Provider,
    iys: u64,
    brand: u64,
    v: &JValue,
) -> Result<Response, ApiError> {
    let lang = ctx.lang;
    let rep = iys_core::consent::validate_consent_value(v, &options(p));
    if rep.errors().next().is_some() {
        return Err(ApiError::diagnostics(&rep.diagnostics, Some(v), lang, false));
    }
    let Some(valid) = rep.value else { return Err(ApiError::internal("validator gave neither value nor error")) };
    p.check_scope(iys, brand, &[valid.consent().kind], lang)?;
    let queued = queue::Queued::of(valid.consent())?;
    let path = format!("/sps/{iys}/brands/{brand}/consents");
    // One budget for the whole attempt (token, governor slot, exchange): what cannot be sent
    // within it is queued (202) like a timeout, unsent.
    let r = iys_call(
        ctx.env,
        &ctx.upstream,
        (&p.id, &ctx.request_id),
        "add",
        Method::Post,
        &path,
        Some(queued.wire().to_owned()),
        Wait::sync(ctx.env),
    )
    .await;
    match r {
        Ok(r) => {
            let mut resp = passthrough(&r)?;
            let w = warnings(&rep.diagnostics, lang);
            if r.ok() && !w.is_empty() {
                let mut body = r.json().unwrap_or(json!({}));
                body["iysEdgeWarnings"] = Value::Array(w);
                let ids = iys_ids(&r);
                resp = Response::from_json(&body)?;
                resp.headers_mut().set("x-iys-ids", &ids)?;
            }
            Ok(resp)
        }
        Err(e) => {
            // Not answered: queue it. After a timeout or network error the consent may have reached
            // IYS, so the queue checks its status before sending it again.
            let may_have_arrived = !matches!(e, UpErr::NotSent { .. });
            let (code, retry_after) = match &e {
                // Give the request that may still be in flight a moment to land before the
                // status check.
                UpErr::Timeout => (Code::UpstreamTimeout, Some(crate::retry_base_s(ctx.env))),
                UpErr::Network(_) => (Code::UpstreamUnavailable, Some(crate::retry_base_s(ctx.env))),
                UpErr::NotSent { code, retry_after, .. } => {
                    (code.parse().unwrap_or(Code::UpstreamUnavailable), Some(*retry_after))
                }
            };
            let rid = uuid().map_err(|e| ApiError::internal(&e))?;
            let subs = queue::enqueue(
                ctx.env,
                &ctx.db,
                queue::Origin { provider: &p.id, request_id: &rid, iys, brand },
                &[queued],
                may_have_arrived,
                retry_after,
            )
            .await?;
            let notice = ApiError::code(code, &[], lang);
            let mut resp = Response::from_json(&json!({
                "requestId": rid,
                "subRequests": [sub_request_json(&subs[0], valid.consent())],
                "queued": true,
                "errors": notice.errors,
            }))?
            .with_status(202);
            resp.headers_mut().set("x-iys-edge-code", code.as_str())?;
            resp.headers_mut().set("x-iys-ids", &rid)?;
            Ok(resp)
        }
    }
}

fn sub_request_json(id: &str, c: &iys_core::consent::Consent) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(json!({}));
    v["subrequestId"] = json!(id);
    v
}

/// `POST …/consents/request`: a batch, validated whole, then queued; IYS's answer shape. With an
/// `Idempotency-Key`, see [`batch_keyed`].
async fn batch(
    ctx: &Ctx<'_>,
    p: &Provider,
    iys: u64,
    brand: u64,
    v: &JValue,
    key: Option<&str>,
) -> Result<Response, ApiError> {
    let lang = ctx.lang;
    // A batch sent again with its key is judged as of the key's first request: what was valid then
    // (and queued) must not be refused now because time moved on (a consentDate that has left the
    // window since), or the stored answer could never be given back and a client that lost it would
    // have to guess.
    let mut opts = options(p);
    if let Some(k) = key {
        if let Some(then) = answered_at(&ctx.db, &p.id, k).await? {
            opts.now = then;
        }
    }
    let rep = iys_core::batch::validate_batch_value(v, &opts);
    let mut all: Vec<Diagnostic> = rep.diagnostics.clone();
    for item in &rep.items {
        all.extend(item.diagnostics.iter().cloned());
    }
    if all.iter().any(Diagnostic::is_error) || rep.items.is_empty() {
        if !all.iter().any(Diagnostic::is_error) {
            return Err(ApiError::internal("batch validator gave no items"));
        }
        return Err(ApiError::diagnostics(&all, Some(v), lang, true));
    }
    let valid: Vec<_> = rep.items.iter().filter_map(|r| r.value.as_ref()).collect();
    let mut types: Vec<ConsentType> = valid.iter().map(|c| c.consent().kind).collect();
    types.sort();
    types.dedup();
    p.check_scope(iys, brand, &types, lang)?;
    let queued = valid.iter().map(|c| queue::Queued::of(c.consent())).collect::<Result<Vec<_>, _>>()?;
    let rid = uuid().map_err(|e| ApiError::internal(&e))?;
    let answer = |ids: &[String]| {
        let sub_json: Vec<Value> = ids.iter().zip(&valid).map(|(id, c)| sub_request_json(id, c.consent())).collect();
        json!({"requestId": rid, "subRequests": sub_json})
    };
    let body = match key {
        None => answer(
            &queue::enqueue(
                ctx.env,
                &ctx.db,
                queue::Origin { provider: &p.id, request_id: &rid, iys, brand },
                &queued,
                false,
                None,
            )
            .await?,
        ),
        Some(key) => match batch_keyed(ctx, p, iys, brand, key, &rid, &queued, &answer).await? {
            Keyed::Queued(body) => body,
            Keyed::Replay(body) => {
                let rid = body["requestId"].as_str().unwrap_or_default().to_string();
                let mut resp = Response::from_json(&body)?;
                resp.headers_mut().set("x-iys-ids", &rid)?;
                resp.headers_mut().set(REPLAY_HEADER, "true")?;
                return Ok(resp);
            }
        },
    };
    let mut resp = Response::from_json(&body)?;
    resp.headers_mut().set("x-iys-ids", &rid)?;
    Ok(resp)
}

/// When the provider's `key` was answered (Unix seconds), if it has been and is still remembered.
/// Keys past their time are forgotten first (every provider's: see `IDEMPOTENCY_TTL_MS`), so an
/// expired key is never taken for a remembered one; [`batch_keyed`] then claims it afresh.
async fn answered_at(db: &D1Database, provider: &str, key: &str) -> Result<Option<i64>, ApiError> {
    db.prepare(
        "DELETE FROM idempotency WHERE created_at < ?1 AND NOT EXISTS (SELECT 1 FROM outbound o \
         WHERE o.provider_id = idempotency.provider_id AND o.request_id = json_extract(idempotency.answer, '$.requestId') \
         AND o.state IN ('queued', 'sending', 'sent'))",
    )
    .bind(&[(now_ms().saturating_sub(IDEMPOTENCY_TTL_MS) as f64).into()])?
    .run()
    .await?;
    #[derive(serde::Deserialize)]
    struct At {
        created_at: f64,
    }
    let row: Option<At> = db
        .prepare("SELECT created_at FROM idempotency WHERE provider_id = ?1 AND key = ?2 AND answer IS NOT NULL")
        .bind(&[provider.into(), key.into()])?
        .first(None)
        .await?;
    Ok(row.map(|r| (r.created_at / 1000.0) as i64))
}

/// The header on an answer that repeats a stored one (a batch sent again with its `Idempotency-Key`).
pub const REPLAY_HEADER: &str = "x-iys-edge-idempotent-replay";
/// How long a batch's `Idempotency-Key` is remembered at least (24 h), and after that for as long as
/// any consent of its batch is still in the relay's queue: a repeat while the relay may still send
/// the batch is always its stored answer, never a second batch.
const IDEMPOTENCY_TTL_MS: u64 = 24 * 3600 * 1000;
/// A claim without an answer this old belongs to a request that died between claiming the key and
/// queueing (a Worker request cannot run this long), so another request may take it over.
const STALE_CLAIM_MS: u64 = 60_000;

/// The `Idempotency-Key` header, if any: 1–200 printable ASCII characters, else 400
/// `request/idempotency-key`.
fn idempotency_key(headers: &Headers, lang: Lang) -> Result<Option<String>, ApiError> {
    let Some(k) = headers.get("Idempotency-Key").ok().flatten() else { return Ok(None) };
    if (1..=200).contains(&k.len()) && k.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Ok(Some(k));
    }
    Err(key_error(
        400,
        lang,
        "it must be 1 to 200 printable ASCII characters",
        "1-200 yazdırılabilir ASCII karakterden oluşmalı",
        None,
    ))
}

fn key_error(status: u16, lang: Lang, en: &str, tr: &str, retry_after: Option<u64>) -> ApiError {
    let reason = if lang == Lang::En { en } else { tr };
    let mut e = ApiError::code(Code::IdempotencyKey, &[("reason", reason.to_string())], lang);
    if let Some(first) = e.errors.first_mut() {
        first["location"] = json!(["Idempotency-Key"]);
    }
    e.status = status;
    e.retry_after = retry_after;
    e
}

fn key_in_progress(lang: Lang) -> ApiError {
    key_error(
        409,
        lang,
        "another request with this key is still being processed",
        "bu anahtarla gönderilen başka bir istek hâlâ işleniyor",
        Some(1),
    )
}

enum Keyed {
    /// Queued now; the answer body.
    Queued(Value),
    /// The key's stored answer body; nothing queued.
    Replay(Value),
}

#[derive(serde::Deserialize)]
struct KeyRow {
    body_sha256: String,
    claim: String,
    answer: Option<String>,
    created_at: f64,
}

/// A keyed batch: claim (provider, key) first, so of two concurrent requests only one queues; then
/// queue the rows and write the answer in one D1 batch ([`queue::enqueue_keyed`]). A key already
/// answered gives its stored answer if the batch is the same (SHA-256 of the path's codes and the
/// validated consents, so whitespace or key order do not matter) and 422 if not; a key whose first
/// request is still running is waited for briefly, then 409 with Retry-After.
#[allow(clippy::too_many_arguments)]
async fn batch_keyed(
    ctx: &Ctx<'_>,
    p: &Provider,
    iys: u64,
    brand: u64,
    key: &str,
    rid: &str,
    queued: &[queue::Queued],
    answer: &dyn Fn(&[String]) -> Value,
) -> Result<Keyed, ApiError> {
    let lang = ctx.lang;
    let db = &ctx.db;
    let wires: Vec<&str> = queued.iter().map(queue::Queued::wire).collect();
    let sha = sha256_hex(format!("{iys}/{brand}\n{}", wires.join("\n")).as_bytes());
    let claim = uuid().map_err(|e| ApiError::internal(&e))?;
    // (Expired keys were forgotten by `answered_at`, which `batch` calls first.)
    let now = now_ms();
    let changes = |r: &worker::D1Result| r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0);
    let mut claimed = false;
    for _ in 0..12 {
        let r = db
            .prepare(
                "INSERT INTO idempotency (provider_id, key, body_sha256, claim, answer, created_at) \
                 VALUES (?1, ?2, ?3, ?4, NULL, ?5) ON CONFLICT DO NOTHING",
            )
            .bind(&[p.id.as_str().into(), key.into(), sha.as_str().into(), claim.as_str().into(), (now as f64).into()])?
            .run()
            .await?;
        if changes(&r) == 1 {
            claimed = true;
            break;
        }
        let row: Option<KeyRow> = db
            .prepare(
                "SELECT body_sha256, claim, answer, created_at FROM idempotency WHERE provider_id = ?1 AND key = ?2",
            )
            .bind(&[p.id.as_str().into(), key.into()])?
            .first(None)
            .await?;
        let Some(row) = row else { continue };
        if row.body_sha256 != sha {
            return Err(key_error(
                422,
                lang,
                "it was already used with a different batch",
                "farklı bir toplu istekle zaten kullanılmış",
                None,
            ));
        }
        if let Some(a) = row.answer {
            let body: Value = serde_json::from_str(&a).map_err(|e| ApiError::internal(&e.to_string()))?;
            return Ok(Keyed::Replay(body));
        }
        if now_ms().saturating_sub(row.created_at as u64) > STALE_CLAIM_MS {
            let r = db
                .prepare(
                    "UPDATE idempotency SET claim = ?1, created_at = ?2 \
                     WHERE provider_id = ?3 AND key = ?4 AND claim = ?5 AND answer IS NULL",
                )
                .bind(&[
                    claim.as_str().into(),
                    (now_ms() as f64).into(),
                    p.id.as_str().into(),
                    key.into(),
                    row.claim.as_str().into(),
                ])?
                .run()
                .await?;
            if changes(&r) == 1 {
                claimed = true;
                break;
            }
            continue;
        }
        // The first request is queueing right now (a few D1 round trips): wait for its answer.
        Delay::from(Duration::from_millis(250)).await;
    }
    if !claimed {
        return Err(key_in_progress(lang));
    }
    let mut body = Value::Null;
    let kc = queue::KeyClaim { key, claim: &claim };
    let r = queue::enqueue_keyed(
        ctx.env,
        db,
        queue::Origin { provider: &p.id, request_id: rid, iys, brand },
        queued,
        &kc,
        |ids| {
            body = answer(ids);
            body.to_string()
        },
    )
    .await;
    match r {
        Ok(Some(_)) => Ok(Keyed::Queued(body)),
        // Taken over as stale meanwhile: nothing of this request was queued.
        Ok(None) => Err(key_in_progress(lang)),
        Err(e) => {
            // Nothing was queued (one transaction): free the key so a retry need not wait.
            if let Ok(s) = db
                .prepare(
                    "DELETE FROM idempotency WHERE provider_id = ?1 AND key = ?2 AND claim = ?3 AND answer IS NULL",
                )
                .bind(&[p.id.as_str().into(), key.into(), claim.as_str().into()])
            {
                let _ = s.run().await;
            }
            Err(e)
        }
    }
}

/// One diagnostic as an `errors[]` item at `location` (IYS's form), with the offending `value`.
fn item(d: Diagnostic, location: Value, value: Option<&Value>, lang: Lang) -> Value {
    let mut e = crate::http_error::diagnostic_json(&d, None, lang, false);
    e["location"] = location;
    if let Some(v) = value {
        e["value"] = v.clone();
    }
    e
}

/// A body field as iys-core's rules see it (absent and null are the same).
fn given(raw: Option<&Value>) -> Given<'_> {
    match raw {
        None | Some(Value::Null) => Given::Absent,
        Some(Value::String(s)) => Given::Text(s),
        Some(_) => Given::Other,
    }
}

/// `recipientType` / `type` of a status query, judged by iys-core's rule for a consent's enum
/// fields ([`consent::enum_value`]); its error goes into `out` at `/{field}`.
fn enum_of<T>(
    raw: Option<&Value>,
    field: &'static str,
    missing: Code,
    invalid: Code,
    from_wire: fn(&str) -> Option<T>,
    lang: Lang,
    out: &mut Vec<Value>,
) -> Option<T> {
    let path = format!("/{field}");
    consent::enum_value(given(raw), field, Some(missing), invalid, from_wire, |code, params| {
        out.push(item(at(&path, code, params), json!([field]), raw.filter(|v| !v.is_null()), lang));
    })
}

/// A problem iys-core's rules reported (a code and its parameters) as a diagnostic at `path`.
fn at(path: &str, code: Code, params: &[(&'static str, &str)]) -> Diagnostic {
    params.iter().fold(Diagnostic::new(code, path), |d, (name, value)| d.with(name, *value))
}

/// A path segment that must be one of an enum's wire names (`…/consents/{recipientType}/status/{type}`).
fn enum_in_path<T>(
    raw: &str,
    field: &'static str,
    invalid: Code,
    from_wire: fn(&str) -> Option<T>,
    lang: Lang,
    out: &mut Vec<Value>,
) -> Option<T> {
    // Not in the body: no JSON Pointer, the location names the path parameter (as `path_param`
    // does).
    consent::enum_value(Given::Text(raw), field, None, invalid, from_wire, |code, params| {
        out.push(item(at("", code, params), json!([field]), Some(&json!(raw)), lang));
    })
}

/// Validates one recipient (by the provider's mode); the recipient or errors at `location`. Absent
/// or null is `consent/recipient-missing`, a value that is not a string `consent/wrong-field-type`
/// (iys-core's rule for a consent's string fields, [`consent::string_value`]).
fn check_recipient(
    raw: Option<&Value>,
    location: Value,
    path: &str,
    p: &Provider,
    lang: Lang,
    out: &mut Vec<Value>,
) -> Option<Recipient> {
    let s = consent::string_value(given(raw), "recipient", Some(Code::RecipientMissing), |code, params| {
        out.push(item(at(path, code, params), location.clone(), raw.filter(|v| !v.is_null()), lang));
    })?;
    let rep = iys_core::recipient::validate_recipient(s, p.mode());
    if rep.errors().next().is_some() {
        for d in rep.errors() {
            out.push(item(d.clone().under(path), location.clone(), Some(&json!(s)), lang));
        }
        return None;
    }
    rep.value
}

/// `POST …/consents/status`: `{recipient, recipientType, type}` (read by [`read_json`]), relayed
/// synchronously.
async fn status(ctx: &Ctx<'_>, p: &Provider, iys: u64, brand: u64, body: &JValue) -> Result<Response, ApiError> {
    let lang = ctx.lang;
    let v = to_serde(body);
    let mut errors = Vec::new();
    let recipient = check_recipient(v.get("recipient"), json!(["recipient"]), "/recipient", p, lang, &mut errors);
    let rt = enum_of(
        v.get("recipientType"),
        "recipientType",
        Code::RecipientTypeMissing,
        Code::InvalidRecipientType,
        RecipientType::from_wire,
        lang,
        &mut errors,
    );
    let ty =
        enum_of(v.get("type"), "type", Code::TypeMissing, Code::InvalidType, ConsentType::from_wire, lang, &mut errors);
    if let (Some(r), Some(t)) = (&recipient, ty) {
        // Checked here so IYS is never asked a question it can only refuse (and its status quota
        // is not spent on one).
        consent::kind_mismatch(r, t, |code, params| {
            errors.push(item(at("/type", code, params), json!(["type"]), v.get("type"), lang));
        });
    }
    let (Some(recipient), Some(rt), Some(ty), true) = (recipient, rt, ty, errors.is_empty()) else {
        return Err(ApiError::unprocessable(errors));
    };
    p.check_scope(iys, brand, &[ty], lang)?;
    let out = json!({"recipient": recipient.wire(), "recipientType": rt.as_str(), "type": ty.as_str()}).to_string();
    let path = format!("/sps/{iys}/brands/{brand}/consents/status");
    // The caller is waiting: the token, the send slot and the exchange share `SYNC_TIMEOUT_MS`, as a
    // single add's do. A query that cannot be sent in time is not sent at all (503
    // `upstream/timeout` with Retry-After) rather than spent on IYS's status quota after the client
    // has given up.
    let wait = Wait::sync(ctx.env);
    let mut resp = match iys_call(
        ctx.env,
        &ctx.upstream,
        (&p.id, &ctx.request_id),
        "status",
        Method::Post,
        &path,
        Some(out),
        wait,
    )
    .await
    {
        Ok(r) => passthrough(&r)?,
        Err(e) => return Err(up_error(&e, ctx.env, lang)),
    };
    // IYS answers for what it holds; a consent of this provider still in the relay's queue is not
    // there yet, and a client that took "not held" for "never sent" would send it again. The header
    // names the relay request that holds it (`GET …/consents/request/{id}` follows it).
    let rkey = queue::rkey(rt, ty, recipient.wire());
    if let Some(rid) = queue::open_request_of(&ctx.db, &p.id, iys, brand, &rkey).await? {
        resp.headers_mut().set(QUEUED_HEADER, &rid)?;
    }
    Ok(resp)
}

/// The header on a status answer when a consent of the provider for that recipient and type is
/// still in the relay's queue: the relay requestId holding it (the newest).
pub const QUEUED_HEADER: &str = "x-iys-edge-queued";

/// The error answer when IYS could not be asked. Every 503 and 504 says when to come back: a network
/// error or a timeout after `RETRY_BASE_S` (the wait the queue gives a single add that met the same
/// error before it tries again), a request that was not sent the wait it was given.
pub fn up_error(e: &UpErr, env: &Env, lang: Lang) -> ApiError {
    match e {
        // (A timeout gets the same wait: IYS was slow, and asking again at once only adds load.)
        UpErr::Timeout | UpErr::Network(_) => {
            let code = if matches!(e, UpErr::Timeout) { Code::UpstreamTimeout } else { Code::UpstreamUnavailable };
            let mut a = ApiError::code(code, &[], lang);
            a.retry_after = Some(crate::retry_base_s(env));
            a
        }
        UpErr::NotSent { code, retry_after, .. } => {
            let c: Code = code.parse().unwrap_or(Code::UpstreamUnavailable);
            let mut a = ApiError::code(c, &[], lang);
            a.status = 503;
            a.retry_after = Some(*retry_after);
            a
        }
    }
}

/// The most recipients one `…/consents/{recipientType}/status/{type}` query takes.
const MAX_RECIPIENTS: usize = 1000;

/// `POST …/consents/{recipientType}/status/{type}`: `{recipients: [...]}` (≤ 1000, read by
/// [`read_json`]).
#[allow(clippy::too_many_arguments)]
async fn multi_status(
    ctx: &Ctx<'_>,
    p: &Provider,
    iys: u64,
    brand: u64,
    rt: &str,
    ty: &str,
    body: &JValue,
) -> Result<Response, ApiError> {
    let lang = ctx.lang;
    let mut errors = Vec::new();
    let rtv =
        enum_in_path(rt, "recipientType", Code::InvalidRecipientType, RecipientType::from_wire, lang, &mut errors);
    let tyv = enum_in_path(ty, "type", Code::InvalidType, ConsentType::from_wire, lang, &mut errors);
    if let Some(t) = tyv {
        p.check_scope(iys, brand, &[t], lang)?;
    }
    let v = to_serde(body);
    let mut wires = Vec::new();
    // A missing, empty or overlong list: IYS's H168/H164/H127, at `recipients`.
    let whole = |d: Diagnostic, raw: Option<&Value>| item(d, json!(["recipients"]), raw, lang);
    match v.get("recipients") {
        None | Some(Value::Null) => errors.push(whole(Diagnostic::new(Code::RecipientsMissing, "/recipients"), None)),
        Some(Value::Array(l)) if l.is_empty() => {
            errors.push(whole(Diagnostic::new(Code::RecipientsEmpty, "/recipients"), None))
        }
        Some(Value::Array(l)) if l.len() > MAX_RECIPIENTS => {
            let d = Diagnostic::new(Code::RecipientsTooMany, "/recipients")
                .with_number("limit", MAX_RECIPIENTS as u64)
                .with_number("count", l.len() as u64);
            errors.push(whole(d, None))
        }
        Some(Value::Array(l)) => {
            for (i, r) in l.iter().enumerate() {
                let path = format!("/recipients/{i}");
                let Some(rec) = check_recipient(Some(r), json!(["recipients", i]), &path, p, lang, &mut errors) else {
                    continue;
                };
                if let Some(t) = tyv {
                    consent::kind_mismatch(&rec, t, |code, params| {
                        errors.push(item(at(&path, code, params), json!(["recipients", i]), Some(r), lang));
                    });
                }
                wires.push(rec.wire().to_string());
            }
        }
        Some(other) => {
            let d = Diagnostic::new(Code::ConsentWrongFieldType, "/recipients")
                .with("field", "recipients")
                .with("expected", "array");
            errors.push(item(d, json!(["recipients"]), Some(other), lang));
        }
    }
    let (Some(rt), Some(ty), true) = (rtv, tyv, errors.is_empty()) else {
        return Err(ApiError::unprocessable(errors));
    };
    let path = format!("/sps/{iys}/brands/{brand}/consents/{}/status/{}", rt.as_str(), ty.as_str());
    let out = json!({"recipients": wires}).to_string();
    match iys_call(
        ctx.env,
        &ctx.upstream,
        (&p.id, &ctx.request_id),
        "multi-status",
        Method::Post,
        &path,
        Some(out),
        // The caller is waiting: one budget for the token, the slot and the exchange (see `status`).
        Wait::sync(ctx.env),
    )
    .await
    {
        Ok(r) => passthrough(&r),
        Err(e) => Err(up_error(&e, ctx.env, lang)),
    }
}

#[cfg(test)]
mod tests {
    use super::is_json_media_type;

    #[test]
    fn a_lease_gives_each_slot_once_never_early_and_drops_past_ones() {
        use super::{take_slot, Lease, LEASE};
        LEASE.with(|l| {
            l.borrow_mut().0 = Some(Lease { user: "u".into(), step: 100.0, first: 1000.0, count: 5, next: 0 })
        });
        // Before the first slot: wait for it.
        assert_eq!(take_slot("u", 100.0, 950.0, f64::INFINITY), Some(50.0));
        // Slot 1 (1100) is next; slot 2 is taken by a request at the same moment.
        assert_eq!(take_slot("u", 100.0, 1050.0, f64::INFINITY), Some(50.0));
        assert_eq!(take_slot("u", 100.0, 1050.0, f64::INFINITY), Some(150.0));
        // Later: slot 3 (1300) has passed and is dropped, slot 4 (1400) is used.
        assert_eq!(take_slot("u", 100.0, 1350.0, f64::INFINITY), Some(50.0));
        // All used (or past): none left.
        assert_eq!(take_slot("u", 100.0, 1350.0, f64::INFINITY), None);
        // Another account or another rate never uses this lease.
        LEASE.with(|l| {
            l.borrow_mut().0 = Some(Lease { user: "u".into(), step: 100.0, first: 1000.0, count: 5, next: 0 })
        });
        assert_eq!(take_slot("v", 100.0, 1000.0, f64::INFINITY), None);
        assert_eq!(take_slot("u", 50.0, 1000.0, f64::INFINITY), None);
        // A slot after the caller's deadline is not taken: it stays for a caller that can use it.
        assert_eq!(take_slot("u", 100.0, 1000.0, 1099.0), Some(0.0));
        assert_eq!(take_slot("u", 100.0, 1000.0, 1099.0), None);
        assert_eq!(take_slot("u", 100.0, 1000.0, f64::INFINITY), Some(100.0));
    }

    #[test]
    fn only_application_json_is_json() {
        for ok in ["application/json", "Application/JSON", "application/json; charset=utf-8", " application/json ;x=y"]
        {
            assert!(is_json_media_type(Some(ok)), "{ok}");
        }
        for no in [
            "",
            "text/plain",
            "text/html",
            "text/json",
            "application/jsonp",
            "application/json-seq",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json, text/plain",
            "text/plain; application/json",
        ] {
            assert!(!is_json_media_type(Some(no)), "{no}");
        }
        assert!(!is_json_media_type(None));
    }
}
