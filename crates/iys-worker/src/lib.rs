//! # iys-worker
//!
//! The IYS integrator relay as a Cloudflare Worker (workers-rs). Providers point their existing IYS
//! client at the relay; it authenticates them with relay-issued credentials, checks their scope and
//! rate limit, validates every consent with `iys-core` at the edge, relays to IYS with the
//! integrator's own token, and records every step in a hash-chained ledger in D1.
//!
//! Modules: [`auth`] (credentials, tokens, scopes), [`demo`] (the sign-up page's route), [`limit`] (per-provider limiter and upstream
//! governor Durable Objects), [`token`] (the IYS token holder Durable Object), [`relay`] (the IYS
//! paths), [`queue`] (batches, retries, outcomes), [`ledger`] (the chain), [`admin`], [`pull`]
//! (the cron), [`sweep`] (the cron's re-drive of stranded outbound rows), [`throttle`] (attempts at
//! the token endpoint per client address), [`http_error`] (the one error shape and status map).
//!
//! **Invariant:** nothing that fails validation, scope or the limiter is sent to IYS; no token,
//! secret or raw recipient is logged (payloads appear only as SHA-256).

pub mod admin;
pub mod auth;
pub mod demo;
pub mod http_error;
pub mod ledger;
pub mod limit;
pub mod pull;
pub mod queue;
pub mod raw;
pub mod relay;
pub mod sweep;
pub mod throttle;
pub mod token;
pub mod upstream;
pub mod util;

use http_error::{lang_of, ApiError};
use iys_core::Code;
use serde_json::Value;
use worker::{event, Context, Env, Method, Request, Response, Result};

pub use ledger::LedgerWriter;
pub use limit::{ProviderLimiter, UpstreamGovernor};
pub use token::IysTokenHolder;

/// A numeric var (or `default`).
pub fn env_f64(env: &Env, name: &str, default: f64) -> f64 {
    env.var(name).ok().and_then(|v| v.to_string().parse().ok()).unwrap_or(default)
}

/// `RETRY_BASE_S` in whole seconds, at least 1: the first wait after IYS could not be reached or
/// did not answer in time (the queue's backoff starts from it; answers say it as `Retry-After`).
pub fn retry_base_s(env: &Env) -> u64 {
    env_f64(env, "RETRY_BASE_S", 4.0).max(1.0) as u64
}

/// GET `path` on the Durable Object `name` of namespace `binding`; the JSON answer.
pub async fn do_get(env: &Env, binding: &str, name: &str, path: &str) -> Result<Value> {
    let (_, text) = raw::durable(env, binding, name, "GET", path, None).await?;
    Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// POST JSON to a Durable Object; (status, JSON answer).
pub async fn do_post(env: &Env, binding: &str, name: &str, path: &str, body: &Value) -> Result<(u16, Value)> {
    let (status, text) = raw::durable(env, binding, name, "POST", path, Some(&body.to_string())).await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let lang = lang_of(req.headers());
    // The request's id: the ledger rows of a ledgered request carry it, and so does every answer
    // (`x-iys-edge-request-id`, refusals included), set below in the one place answers are finished.
    let request_id = match util::uuid() {
        Ok(id) => id,
        Err(e) => return ApiError::internal(&e).into_response(),
    };
    let rid = request_id.clone();
    let path = req.path();
    let method = req.method();
    let answer = match (method.clone(), path.as_str()) {
        (Method::Get, "/health") => {
            Response::from_json(&serde_json::json!({"ok": true, "service": "iys-worker"})).map_err(ApiError::from)
        }
        (Method::Post, "/oauth2/token") => relay::token(req, &env, &ctx, lang, rid).await,
        (Method::Post, "/demo/consents") => demo::consents(req, &env, &ctx, lang, rid).await,
        (_, p) if p.starts_with("/admin/") => {
            if !auth::is_admin(&env, &req) {
                let refused = ApiError::code(Code::AdminRequired, &[], lang);
                admin_refused(&env, &ctx, &rid, &method, p, &refused);
                Err(refused)
            } else {
                admin::handle(req, &env, &path, lang, rid).await
            }
        }
        (_, p) if p.starts_with("/sps/") => relay::sps(req, &env, &ctx, lang, rid).await,
        // The one rule on every route: a known path with a method it does not take is 405 with
        // `Allow`, an unknown path 404. The demo route's path is known whether or not the demo is
        // configured (unconfigured, its POST is 404).
        (_, "/health") => Err(ApiError::method_not_allowed("GET", lang)),
        (_, "/oauth2/token" | "/demo/consents") => Err(ApiError::method_not_allowed("POST", lang)),
        _ => Err(ApiError::code(Code::NotFound, &[], lang)),
    };
    let mut resp = match answer {
        Ok(r) => r,
        Err(e) => e.into_response()?,
    };
    let _ = resp.headers_mut().set("x-iys-edge-request-id", &request_id);
    Ok(resp)
}

/// Records a refused admin request in the ledger (handed over from `waitUntil`, like every inbound
/// row): who tried is unknown, so the row names the method and path, never what was sent as the
/// secret.
fn admin_refused(env: &Env, ctx: &Context, request_id: &str, method: &Method, path: &str, refused: &ApiError) {
    let row = ledger::Entry {
        provider: "-".into(),
        request_id: request_id.into(),
        kind: "inbound:admin".into(),
        payload_sha256: util::sha256_hex(format!("{method:?} {path}").as_bytes()),
        outcome: relay::outcome_of_error(refused),
        iys_ids: String::new(),
    };
    let env = env.clone();
    ctx.wait_until(async move {
        if let Err(e) = ledger::append(&env, &[row]).await {
            worker::console_error!("ledger/append-failed kind=inbound:admin: {e}");
        }
    });
}

#[event(queue)]
async fn queue(batch: worker::MessageBatch<queue::Job>, env: Env, _ctx: Context) -> Result<()> {
    queue::consume(batch, &env).await;
    Ok(())
}

#[event(scheduled)]
async fn scheduled(ev: worker::ScheduledEvent, env: Env, _ctx: worker::ScheduleContext) {
    // Every cron sweeps stranded outbound rows back into the queue; all but the sweep-only one pull.
    match sweep::run(&env).await {
        Ok(r) => worker::console_log!("sweep: {r}"),
        Err(e) => worker::console_error!("outbound/sweep-failed: {e}"),
    }
    if ev.cron() == sweep::SWEEP_CRON {
        return;
    }
    let run_id = match util::uuid() {
        Ok(id) => id,
        Err(e) => {
            worker::console_error!("pull failed: {e}");
            return;
        }
    };
    match pull::run(&env, ("cron", &run_id)).await {
        Ok(r) => worker::console_log!("pull: {r}"),
        Err(e) => worker::console_error!("pull failed: {e}"),
    }
}
