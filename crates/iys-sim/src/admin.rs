//! `/__sim/…`: routes real IYS does not have. Faults, a citizen's change on an IYS channel,
//! inspection (stored consents, every request received), the clock, limits, reset. No auth.

use iys_core::consent::{Consent, ConsentType, RecipientType, Status};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::faults::Fault;
use crate::http::{Request, Response};
use crate::store::Store;
use crate::App;

fn bad(msg: impl Into<String>) -> Response {
    Response::json(400, &json!({ "error": msg.into() }))
}

fn body<T: for<'de> Deserialize<'de>>(req: &Request) -> Result<T, Response> {
    serde_json::from_slice(&req.body).map_err(|e| bad(format!("body: {e}")))
}

/// A citizen's change, as `POST /__sim/citizen` takes it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Citizen {
    iys_code: u64,
    brand_code: u64,
    recipient: String,
    recipient_type: RecipientType,
    #[serde(rename = "type")]
    kind: ConsentType,
    status: Status,
    source: String,
    #[serde(default)]
    consent_date: Option<String>,
    #[serde(default)]
    citizen_name: Option<String>,
}

/// Partial update of the limits: each key in camelCase, or in snake_case as `GET /__sim/limits`
/// answers and the accounts file spells it (so what GET returned can be posted back).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LimitsPatch {
    #[serde(alias = "tokens_per_hour")]
    tokens_per_hour: Option<u32>,
    #[serde(alias = "requests_per_second")]
    requests_per_second: Option<u32>,
    #[serde(alias = "access_token_ttl")]
    access_token_ttl: Option<u64>,
    #[serde(alias = "refresh_token_ttl")]
    refresh_token_ttl: Option<u64>,
    #[serde(alias = "batch_delay_ms")]
    batch_delay_ms: Option<u64>,
    #[serde(alias = "pull_window_days")]
    pull_window_days: Option<u64>,
    #[serde(alias = "pull_exclude_recent_secs")]
    pull_exclude_recent_secs: Option<u64>,
    #[serde(alias = "business_day_window")]
    business_day_window: Option<bool>,
}

/// Handles `/__sim/…`.
pub fn handle(app: &App, req: &Request) -> Response {
    let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    match (req.method.as_str(), segs.get(1..).unwrap_or(&[])) {
        ("GET", ["health"]) => Response::json(200, &json!({ "ok": true })),
        ("GET", ["consents"]) => {
            app.tick();
            let sim = app.lock();
            let iys = req.query_param("iysCode").and_then(|v| v.parse::<u64>().ok());
            let brand = req.query_param("brandCode").and_then(|v| v.parse::<u64>().ok());
            let list: Vec<_> = sim
                .store
                .consents
                .values()
                .filter(|c| iys.is_none_or(|i| c.iys_code == i) && brand.is_none_or(|b| c.brand_code == b))
                .collect();
            Response::json(200, &list)
        }
        ("GET", ["batches"]) => {
            app.tick();
            let sim = app.lock();
            Response::json(200, &sim.store.batches.values().collect::<Vec<_>>())
        }
        ("GET", ["requests"]) => {
            let sim = app.lock();
            let since = req.query_param("since").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            Response::json(200, &sim.log.iter().filter(|e| e.seq >= since).collect::<Vec<_>>())
        }
        ("DELETE", ["requests"]) => {
            app.lock().log.clear();
            Response::json(200, &json!({ "ok": true }))
        }
        ("GET", ["faults"]) => Response::json(200, &app.lock().faults.rules),
        ("POST", ["faults"]) => {
            let fault: Fault = match body(req) {
                Ok(f) => f,
                Err(r) => return r,
            };
            if let Err(e) = fault.check() {
                return bad(e);
            }
            let mut sim = app.lock();
            sim.faults.rules.push(fault);
            Response::json(200, &sim.faults.rules)
        }
        ("DELETE", ["faults"]) => {
            app.lock().faults.rules.clear();
            Response::json(200, &json!([]))
        }
        ("POST", ["citizen"]) => citizen(app, req),
        ("GET", ["clock"]) => clock(app),
        ("POST", ["clock"]) => {
            let v: Value = match body(req) {
                Ok(v) => v,
                Err(r) => return r,
            };
            let Some(secs) = v.get("advanceSeconds").and_then(Value::as_i64) else {
                return bad("expected {\"advanceSeconds\": <integer>}");
            };
            app.clock.advance_ms(secs.saturating_mul(1000));
            app.tick();
            clock(app)
        }
        ("GET", ["limits"]) => Response::json(200, &app.lock().accounts.limits),
        ("POST", ["limits"]) => {
            let p: LimitsPatch = match body(req) {
                Ok(p) => p,
                Err(r) => return r,
            };
            let mut sim = app.lock();
            let l = &mut sim.accounts.limits;
            if let Some(v) = p.tokens_per_hour {
                l.tokens_per_hour = v;
            }
            if let Some(v) = p.requests_per_second {
                l.requests_per_second = v;
            }
            if let Some(v) = p.access_token_ttl {
                l.access_token_ttl = v;
            }
            if let Some(v) = p.refresh_token_ttl {
                l.refresh_token_ttl = v;
            }
            if let Some(v) = p.batch_delay_ms {
                l.batch_delay_ms = v;
            }
            if let Some(v) = p.pull_window_days {
                l.pull_window_days = v;
            }
            if let Some(v) = p.pull_exclude_recent_secs {
                l.pull_exclude_recent_secs = v;
            }
            if let Some(v) = p.business_day_window {
                l.business_day_window = v;
            }
            Response::json(200, &sim.accounts.limits)
        }
        ("GET", ["accounts"]) => {
            // Credentials stay out: usernames only.
            let sim = app.lock();
            let a = &sim.accounts;
            Response::json(
                200,
                &json!({
                    "integrator": a.integrator,
                    "users": a.users.iter().map(|u| json!({ "username": u.username, "iysCode": u.iys_code })).collect::<Vec<_>>(),
                    "sps": a.sps,
                    "limits": a.limits,
                }),
            )
        }
        ("POST", ["reset"]) => {
            {
                let mut sim = app.lock();
                sim.store = Store::default();
                sim.log.clear();
                sim.faults.rules.clear();
                sim.per_second.clear();
                sim.generation += 1;
            }
            app.save();
            Response::json(200, &json!({ "ok": true }))
        }
        _ => Response::json(404, &json!({ "error": "no such /__sim route" })),
    }
}

fn clock(app: &App) -> Response {
    let now = app.clock.now_ms();
    Response::json(
        200,
        &json!({ "nowMs": now, "now": crate::clock::turkey_time(now), "offsetMs": app.clock.offset_ms() }),
    )
}

fn citizen(app: &App, req: &Request) -> Response {
    let c: Citizen = match body(req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !c.source.starts_with("IYS_") {
        return bad("source must be an IYS channel (IYS_MOBIL, IYS_WEB, IYS_CM, IYS_3338, IYS_KISA_LINK, …)");
    }
    let now = app.clock.now_ms();
    let result = {
        let mut guard = app.lock();
        let sim = &mut *guard;
        if sim.accounts.sp(c.iys_code).and_then(|sp| sp.brand(c.brand_code)).is_none() {
            return bad("unknown iysCode/brandCode");
        }
        let consent = Consent {
            recipient: c.recipient,
            recipient_type: c.recipient_type,
            kind: c.kind,
            status: c.status,
            source: None,
            consent_date: Some(c.consent_date.unwrap_or_else(|| crate::clock::turkey_time(now))),
            retailer_code: None,
            retailer_access: None,
        };
        let (tx, created) =
            sim.store.apply_citizen(c.iys_code, c.brand_code, &consent, c.source, c.citizen_name, now, &mut sim.rng);
        sim.generation += 1;
        json!({ "transactionId": tx, "creationDate": created })
    };
    app.save();
    Response::json(200, &result)
}
