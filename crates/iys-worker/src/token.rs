//! The IYS token holder: one Durable Object per integrator account (keyed by the IYS username).
//!
//! - The token is cached (in memory and in the object's storage) and refreshed before it expires:
//!   `min(300 s, lifetime / 4)` ahead, with the refresh grant while the refresh token is valid and the
//!   password grant otherwise.
//! - Single flight: the object is one instance across all isolates, and while a token request is in
//!   flight every other caller awaits the same future, so IYS sees one token request at a time.
//! - Breaker: an H084 answer (hourly token-request limit) stops all token requests for one hour; the
//!   breaker is kept in storage so it survives eviction. It stops token *requests*, not relaying: a
//!   cached token that is still fresh goes on being served.
//! - Backoff: after a token request that failed any other way (timeout, network, 5xx, a refusal), the
//!   next one waits `BACKOFF_FIRST_MS`, doubling per consecutive failure up to `BACKOFF_MAX_MS`, with
//!   jitter; meanwhile callers get 503 with `retryAfterS`. Without it every relayed request during a
//!   token-endpoint outage would ask again, and the hourly cap (H084) would turn a short outage into
//!   an hour without tokens.
//! - `GET /token?stale=<sha256>`: a caller that got 401 from IYS names the token it used; the holder
//!   refreshes only if that is still the cached one (so a burst of 401s causes one refresh), and at
//!   most once per `STALE_GAP_MS` after a grant (so an IYS that rejects every token cannot make each
//!   request cost a token request).
//! - Every token request is an upstream exchange and gets its ledger row (`upstream:token`, outcome
//!   and grant type; never the credentials or the token).

use crate::ledger::{self, Entry};
use crate::upstream::{self, UpErr, UpResp};
use crate::util::{now_ms, sha256_hex};
use futures_util::future::{FutureExt, LocalBoxFuture, Shared};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

/// How long the breaker stays open after H084.
pub const BREAKER_MS: f64 = 3_600_000.0;
/// The wait after the first failed token request; it doubles per further failure in a row.
const BACKOFF_FIRST_MS: f64 = 5_000.0;
/// The longest wait between failed token requests (about a dozen an hour at most, under IYS's cap).
const BACKOFF_MAX_MS: f64 = 600_000.0;
/// A 401 from IYS forces a new token at most this long after the last grant.
const STALE_GAP_MS: f64 = 60_000.0;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Tok {
    access: String,
    access_exp_ms: f64,
    refresh: String,
    refresh_exp_ms: f64,
    lifetime_s: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Meta {
    breaker_until_ms: f64,
    password_grants: u64,
    refresh_grants: u64,
    failures: u64,
    served: u64,
    /// No token request before this (after a failed one); 0 when the last one succeeded.
    retry_at_ms: f64,
    /// Failed token requests in a row.
    streak: u32,
    /// When the cached token was granted.
    granted_at_ms: f64,
}

/// The wait before the next token request after `streak` failures in a row, jittered by ±25 % so
/// that holders of several accounts do not ask in step.
fn backoff_ms(streak: u32) -> f64 {
    let exp = (BACKOFF_FIRST_MS * 2f64.powi(streak.saturating_sub(1).min(16) as i32)).min(BACKOFF_MAX_MS);
    let jitter = crate::util::jitter01();
    exp * (0.75 + jitter / 2.0)
}

#[derive(Debug, Clone)]
enum TokErr {
    Breaker(f64),
    Rejected(UpResp),
    Up(String),
}

type Flight = Shared<LocalBoxFuture<'static, std::result::Result<(Tok, bool), TokErr>>>;

/// The IYS token holder.
#[durable_object]
pub struct IysTokenHolder {
    state: State,
    env: Env,
    loaded: Cell<bool>,
    tok: RefCell<Option<Tok>>,
    meta: RefCell<Meta>,
    flight: RefCell<Option<Flight>>,
}

fn margin_ms(t: &Tok) -> f64 {
    (300.0f64).min(t.lifetime_s / 4.0) * 1000.0
}

fn fresh(t: &Tok, now: f64) -> bool {
    !t.access.is_empty() && now < t.access_exp_ms - margin_ms(t)
}

/// Still good for a call, if no longer fresh: what is served when a new token cannot be had (breaker,
/// backoff, a failed refresh) rather than nothing.
fn usable(t: &Tok, now: f64) -> bool {
    !t.access.is_empty() && now < t.access_exp_ms - 10_000.0
}

/// One token request, with its ledger row pushed to `rows`.
async fn grant(base: String, body: Value, now: f64, rows: &RefCell<Vec<Entry>>) -> std::result::Result<Tok, TokErr> {
    let kind = body.get("grant_type").and_then(Value::as_str).unwrap_or_default().to_string();
    let record = |outcome: String| {
        rows.borrow_mut().push(Entry {
            provider: "-".into(),
            request_id: crate::util::uuid().unwrap_or_default(),
            kind: "upstream:token".into(),
            // (The grant type only: the body holds the integrator's password or refresh token.)
            payload_sha256: sha256_hex(format!("grant_type={kind}").as_bytes()),
            outcome,
            iys_ids: String::new(),
        })
    };
    let url = format!("{}/oauth2/token", base.trim_end_matches('/'));
    let r = upstream::http(Method::Post, &url, None, Some(body.to_string()), 15_000).await;
    let r = match r {
        Ok(r) => r,
        Err(UpErr::Timeout) => {
            record("timeout".into());
            return Err(TokErr::Up("timeout".into()));
        }
        Err(UpErr::Network(e)) => {
            record("network".into());
            return Err(TokErr::Up(e));
        }
        Err(UpErr::NotSent { detail, .. }) => {
            record("not-sent".into());
            return Err(TokErr::Up(detail));
        }
    };
    record(format!("{} {}", r.status, r.first_code().unwrap_or_default()).trim_end().to_string());
    if r.first_code().as_deref() == Some("H084") {
        return Err(TokErr::Breaker(now + BREAKER_MS));
    }
    if !r.ok() {
        return Err(TokErr::Rejected(r));
    }
    let v = r.json().unwrap_or(Value::Null);
    let access = v.get("access_token").and_then(Value::as_str).unwrap_or_default().to_string();
    if access.is_empty() {
        return Err(TokErr::Up("token answer without access_token".into()));
    }
    let exp = v.get("expires_in").and_then(Value::as_f64).unwrap_or(7200.0);
    let rexp = v.get("refresh_expires_in").and_then(Value::as_f64).unwrap_or(0.0);
    Ok(Tok {
        access,
        access_exp_ms: now + exp * 1000.0,
        refresh: v.get("refresh_token").and_then(Value::as_str).unwrap_or_default().to_string(),
        refresh_exp_ms: now + rexp * 1000.0,
        lifetime_s: exp,
    })
}

impl IysTokenHolder {
    async fn load(&self) -> Result<()> {
        if self.loaded.get() {
            return Ok(());
        }
        let tok: Option<Tok> = self.state.storage().get("tok").await?;
        let meta: Option<Meta> = self.state.storage().get("meta").await?;
        if !self.loaded.get() {
            *self.tok.borrow_mut() = tok;
            *self.meta.borrow_mut() = meta.unwrap_or_default();
            self.loaded.set(true);
        }
        Ok(())
    }

    fn start_flight(&self, now: f64) -> Result<Flight> {
        let base = self.env.var("IYS_BASE_URL")?.to_string();
        let user = self.env.secret("IYS_USERNAME")?.to_string();
        let pass = self.env.secret("IYS_PASSWORD")?.to_string();
        let old = self.tok.borrow().clone();
        let env = self.env.clone();
        let fut = async move {
            let rows = RefCell::new(Vec::new());
            let result = async {
                if let Some(t) = old.filter(|t| !t.refresh.is_empty() && now < t.refresh_exp_ms - 60_000.0) {
                    let body = json!({"refresh_token": t.refresh, "grant_type": "refresh_token"});
                    match grant(base.clone(), body, now, &rows).await {
                        Ok(t) => return Ok((t, true)),
                        // The password grant follows only a refusal of the refresh token: after a
                        // timeout or a network error it would most likely fail the same way.
                        Err(TokErr::Rejected(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                let body = json!({"username": user, "password": pass, "grant_type": "password"});
                grant(base, body, now, &rows).await.map(|t| (t, false))
            }
            .await;
            // The exchanges are on record before any caller gets their outcome.
            if let Err(e) = ledger::append(&env, &rows.into_inner()).await {
                worker::console_error!("ledger/append-failed kind=upstream:token: {e}");
            }
            result
        };
        Ok(fut.boxed_local().shared())
    }

    fn token_answer(&self, t: &Tok) -> Result<Response> {
        self.meta.borrow_mut().served += 1;
        Response::from_json(
            &json!({"accessToken": t.access, "expiresAtMs": t.access_exp_ms, "refreshAtMs": t.access_exp_ms - margin_ms(t)}),
        )
    }

    async fn token(&self, stale: Option<String>) -> Result<Response> {
        self.load().await?;
        let now = now_ms() as f64;
        let (until, retry_at, granted_at) = {
            let m = self.meta.borrow();
            (m.breaker_until_ms, m.retry_at_ms, m.granted_at_ms)
        };
        // The cached token, unless a caller has just had it refused by IYS (named as stale) and the
        // last grant is old enough for that to force a new one.
        let cached = self.tok.borrow().clone().filter(|t| {
            let is_stale = stale.as_deref().is_some_and(|s| s == sha256_hex(t.access.as_bytes()));
            !is_stale || now < granted_at + STALE_GAP_MS
        });
        if let Some(t) = cached.as_ref().filter(|t| fresh(t, now)) {
            return self.token_answer(t);
        }
        // The breaker and the backoff stop token requests, not relaying: a token that still works
        // is served until it expires.
        let blocked = now < until || (now < retry_at && self.flight.borrow().is_none());
        if blocked {
            if let Some(t) = cached.as_ref().filter(|t| usable(t, now)) {
                return self.token_answer(t);
            }
            if now < until {
                return breaker_response(until, now);
            }
            return unavailable("backoff after a failed token request", retry_at, now);
        }
        let existing = self.flight.borrow().clone();
        let (flight, leader) = match existing {
            Some(f) => (f, false),
            None => {
                let f = self.start_flight(now)?;
                *self.flight.borrow_mut() = Some(f.clone());
                (f, true)
            }
        };
        let result = flight.await;
        if leader {
            *self.flight.borrow_mut() = None;
            match &result {
                Ok((t, refreshed)) => {
                    *self.tok.borrow_mut() = Some(t.clone());
                    let mut m = self.meta.borrow_mut();
                    if *refreshed {
                        m.refresh_grants += 1;
                    } else {
                        m.password_grants += 1;
                    }
                    m.granted_at_ms = now;
                    m.streak = 0;
                    m.retry_at_ms = 0.0;
                }
                Err(TokErr::Breaker(u)) => {
                    // (The cached token stays: while it is fresh it is still served.)
                    let mut m = self.meta.borrow_mut();
                    m.breaker_until_ms = *u;
                    m.failures += 1;
                }
                Err(_) => {
                    let mut m = self.meta.borrow_mut();
                    m.failures += 1;
                    m.streak = m.streak.saturating_add(1);
                    m.retry_at_ms = now + backoff_ms(m.streak);
                }
            }
            let tok = self.tok.borrow().clone();
            let meta = self.meta.borrow().clone();
            if let Some(t) = tok {
                self.state.storage().put("tok", t).await?;
            } else {
                self.state.storage().delete("tok").await?;
            }
            self.state.storage().put("meta", meta).await?;
        }
        let retry_at = self.meta.borrow().retry_at_ms;
        if result.is_err() {
            // A failed refresh ahead of expiry: the old token still works.
            if let Some(t) = cached.as_ref().filter(|t| usable(t, now)) {
                return self.token_answer(t);
            }
        }
        match result {
            Ok((t, _)) => self.token_answer(&t),
            Err(TokErr::Breaker(u)) => breaker_response(u, now),
            Err(TokErr::Rejected(r)) => Ok(Response::from_json(&json!({
                "error": "rejected",
                "status": r.status,
                "body": r.json().unwrap_or(Value::Null),
                "retryAfterS": retry_after_s(retry_at, now),
            }))?
            .with_status(502)),
            Err(TokErr::Up(e)) => unavailable(&e, retry_at, now),
        }
    }
}

/// Whole seconds from `now` to `until`, at least 1.
fn retry_after_s(until: f64, now: f64) -> u64 {
    ((until - now) / 1000.0).ceil().max(1.0) as u64
}

fn breaker_response(until: f64, now: f64) -> Result<Response> {
    Ok(Response::from_json(&json!({"error": "breaker", "retryAfterS": retry_after_s(until, now)}))?.with_status(503))
}

fn unavailable(detail: &str, retry_at: f64, now: f64) -> Result<Response> {
    Ok(Response::from_json(
        &json!({"error": "unavailable", "detail": detail, "retryAfterS": retry_after_s(retry_at, now)}),
    )?
    .with_status(503))
}

impl DurableObject for IysTokenHolder {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            loaded: Cell::new(false),
            tok: RefCell::new(None),
            meta: RefCell::new(Meta::default()),
            flight: RefCell::new(None),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let url = req.url()?;
        match url.path() {
            "/token" => {
                let stale = url.query_pairs().find(|(k, _)| k == "stale").map(|(_, v)| v.to_string());
                self.token(stale).await
            }
            "/stats" => {
                self.load().await?;
                let m = self.meta.borrow().clone();
                let t = self.tok.borrow().clone();
                let now = now_ms() as f64;
                Response::from_json(&json!({
                    "passwordGrants": m.password_grants,
                    "refreshGrants": m.refresh_grants,
                    "failures": m.failures,
                    "served": m.served,
                    "breakerOpen": now < m.breaker_until_ms,
                    "breakerUntilMs": m.breaker_until_ms,
                    "failedInARow": m.streak,
                    "nextRequestNotBeforeMs": m.retry_at_ms,
                    "hasToken": t.is_some(),
                    "accessExpiresAtMs": t.as_ref().map(|t| t.access_exp_ms),
                }))
            }
            "/reset" => {
                self.load().await?;
                *self.meta.borrow_mut() = Meta::default();
                *self.tok.borrow_mut() = None;
                self.state.storage().delete("tok").await?;
                self.state.storage().put("meta", Meta::default()).await?;
                Response::ok("reset")
            }
            _ => Response::error("not found", 404),
        }
    }
}

impl std::fmt::Debug for IysTokenHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token itself.
        f.debug_struct("IysTokenHolder").field("meta", &self.meta).finish_non_exhaustive()
    }
}
