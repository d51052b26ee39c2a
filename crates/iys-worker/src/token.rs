//! The IYS token holder: one Durable Object per integrator account (keyed by the IYS username).
//!
//! - The token is cached (in memory and in the object's storage) and refreshed before it expires:
//!   `min(300 s, lifetime / 4)` ahead, with the refresh grant while the refresh token is valid and the
//!   password grant otherwise.
//! - Single flight: the object is one instance across all isolates, and while a token request is in
//!   flight every other caller awaits the same future, so IYS sees one token request at a time.
//! - Breaker: an H084 answer (hourly token-request limit) stops all token requests for one hour; the
//!   breaker is kept in storage so it survives eviction.
//! - `GET /token?stale=<sha256>`: a caller that got 401 from IYS names the token it used; the holder
//!   refreshes only if that is still the cached one (so a burst of 401s causes one refresh).

use crate::upstream::{self, UpErr, UpResp};
use crate::util::{now_ms, sha256_hex};
use futures_util::future::{FutureExt, LocalBoxFuture, Shared};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

/// How long the breaker stays open after H084.
pub const BREAKER_MS: f64 = 3_600_000.0;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Tok {
    access: String,
    access_exp_ms: f64,
    refresh: String,
    refresh_exp_ms: f64,
    lifetime_s: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    breaker_until_ms: f64,
    password_grants: u64,
    refresh_grants: u64,
    failures: u64,
    served: u64,
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

async fn grant(base: String, body: Value, now: f64) -> std::result::Result<Tok, TokErr> {
    let url = format!("{}/oauth2/token", base.trim_end_matches('/'));
    let r = upstream::http(Method::Post, &url, None, Some(body.to_string()), 15_000).await;
    let r = match r {
        Ok(r) => r,
        Err(UpErr::Timeout) => return Err(TokErr::Up("timeout".into())),
        Err(UpErr::Network(e)) => return Err(TokErr::Up(e)),
        Err(UpErr::NotSent { detail, .. }) => return Err(TokErr::Up(detail)),
    };
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
        let fut = async move {
            if let Some(t) = old.filter(|t| !t.refresh.is_empty() && now < t.refresh_exp_ms - 60_000.0) {
                let body = json!({"refresh_token": t.refresh, "grant_type": "refresh_token"});
                match grant(base.clone(), body, now).await {
                    Ok(t) => return Ok((t, true)),
                    Err(TokErr::Breaker(u)) => return Err(TokErr::Breaker(u)),
                    Err(_) => {} // fall back to the password grant
                }
            }
            let body = json!({"username": user, "password": pass, "grant_type": "password"});
            grant(base, body, now).await.map(|t| (t, false))
        };
        Ok(fut.boxed_local().shared())
    }

    async fn token(&self, stale: Option<String>) -> Result<Response> {
        self.load().await?;
        let now = now_ms() as f64;
        let until = self.meta.borrow().breaker_until_ms;
        if now < until {
            return breaker_response(until, now);
        }
        if let Some(t) = self.tok.borrow().as_ref() {
            let is_stale = stale.as_deref().is_some_and(|s| s == sha256_hex(t.access.as_bytes()));
            if fresh(t, now) && !is_stale {
                self.meta.borrow_mut().served += 1;
                return Response::from_json(
                    &json!({"accessToken": t.access, "expiresAtMs": t.access_exp_ms, "refreshAtMs": t.access_exp_ms - margin_ms(t)}),
                );
            }
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
                }
                Err(TokErr::Breaker(u)) => {
                    let mut m = self.meta.borrow_mut();
                    m.breaker_until_ms = *u;
                    m.failures += 1;
                    *self.tok.borrow_mut() = None;
                }
                Err(_) => self.meta.borrow_mut().failures += 1,
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
        match result {
            Ok((t, _)) => {
                self.meta.borrow_mut().served += 1;
                Response::from_json(
                    &json!({"accessToken": t.access, "expiresAtMs": t.access_exp_ms, "refreshAtMs": t.access_exp_ms - margin_ms(&t)}),
                )
            }
            Err(TokErr::Breaker(u)) => breaker_response(u, now),
            Err(TokErr::Rejected(r)) => Ok(Response::from_json(
                &json!({"error": "rejected", "status": r.status, "body": r.json().unwrap_or(Value::Null)}),
            )?
            .with_status(502)),
            Err(TokErr::Up(e)) => {
                Ok(Response::from_json(&json!({"error": "unavailable", "detail": e}))?.with_status(503))
            }
        }
    }
}

fn breaker_response(until: f64, now: f64) -> Result<Response> {
    let secs = ((until - now) / 1000.0).ceil().max(1.0) as u64;
    Ok(Response::from_json(&json!({"error": "breaker", "retryAfterS": secs}))?.with_status(503))
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
