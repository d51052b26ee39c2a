//! Admin routes (all need `Authorization: Bearer <ADMIN_SECRET>`).
//!
//! | route | what |
//! |---|---|
//! | `POST /admin/providers` `{id?, name, scopes, mode?, rate?, burst?}` | create; answers the username and password once |
//! | `GET /admin/providers` | list (no secrets) |
//! | `GET /admin/providers/{id}` | one |
//! | `PATCH /admin/providers/{id}` `{name?, scopes?, mode?}` | change them (applies to the next request) |
//! | `POST /admin/providers/{id}/rotate` | new password (answered once); every token issued before ends |
//! | `POST /admin/providers/{id}/revoke` | revoke credentials and every token |
//! | `PUT /admin/providers/{id}/limits` `{rate, burst}` | set limits (applies to the next request) |
//! | `GET /admin/providers/{id}/usage` | ledger counts and limiter totals |
//! | `GET /admin/ledger/verify` | walk the hash chain, against the writer's recorded head |
//! | `POST /admin/ledger/accept-head` `{headSeq, headHash}` | after a restore: accept D1's head |
//! | `GET /admin/ledger/export?after=0&limit=1000` | JSON lines for `iys ledger verify` |
//! | `GET /admin/iys-token`, `POST /admin/iys-token/reset` | token holder state; clear the breaker |
//! | `GET /admin/governor` | upstream governor totals |
//! | `POST /admin/pull` | run the pull now (what the cron does) |

use crate::auth::{hash_password, provider_by_id, Provider, Scope};
use crate::http_error::{to_serde, ApiError};
use crate::ledger::{self, Entry};
use crate::util::{hex, iso_now, random_bytes, sha256_hex};
use crate::{do_get, env_f64};
use iys_core::consent::ConsentType;
use iys_core::{Code, Lang};
use serde::Deserialize;
use serde_json::json;
use worker::{D1Database, Env, Method, Request, Response};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewProvider {
    /// A chosen id (`prv_` + 1..48 of `[a-z0-9_-]`), e.g. one a var such as `DEMO_PROVIDER` names
    /// before the provider exists; generated when absent.
    #[serde(default)]
    id: Option<String>,
    name: String,
    scopes: Vec<Scope>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    rate: Option<f64>,
    #[serde(default)]
    burst: Option<f64>,
}

/// `PATCH /admin/providers/{id}`: what to change (at least one).
#[derive(Deserialize)]
struct ProviderChange {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<Scope>>,
    #[serde(default)]
    mode: Option<String>,
}

#[derive(Deserialize)]
struct Limits {
    rate: f64,
    burst: f64,
}

fn bad(msg: &str) -> ApiError {
    ApiError {
        status: 400,
        errors: vec![json!({"code": "IYSEDGE", "message": msg, "iysEdgeCode": "admin/bad-request"})],
        retry_after: None,
        allow: None,
    }
}

fn check_scopes(scopes: &[Scope]) -> Result<(), ApiError> {
    if scopes.is_empty() {
        return Err(bad("scopes must not be empty"));
    }
    for s in scopes {
        if s.brands.is_empty() || s.types.is_empty() {
            return Err(bad("each scope needs brands and types"));
        }
        if s.types.iter().any(|t| ConsentType::from_wire(t).is_none()) {
            return Err(bad("types must be ARAMA, MESAJ or EPOSTA"));
        }
    }
    Ok(())
}

/// A JSON body with these keys (read by `relay::read_json`), as `T`.
fn body<T: serde::de::DeserializeOwned>(req: &Request, bytes: &[u8], keys: &[&str], lang: Lang) -> Result<T, ApiError> {
    let v = crate::relay::read_json(req.headers(), bytes, Some(keys), lang)?;
    serde_json::from_value(to_serde(&v)).map_err(|e| bad(&format!("body: {e}")))
}

/// Handles `/admin/…`; the caller has checked the admin secret. `request_id` is the answer's
/// (`x-iys-edge-request-id`) and names the ledger rows of admin actions.
pub async fn handle(
    mut req: Request,
    env: &Env,
    path: &str,
    lang: Lang,
    request_id: String,
) -> Result<Response, ApiError> {
    let db = env.d1("DB")?;
    let parts: Vec<&str> = path.trim_start_matches("/admin/").split('/').collect();
    let method = req.method();
    match (method, parts.as_slice()) {
        (Method::Post, ["providers"]) => {
            let bytes = req.bytes().await?;
            let np: NewProvider = body(&req, &bytes, &["id", "name", "scopes", "mode", "rate", "burst"], lang)?;
            check_scopes(&np.scopes)?;
            let mode = np.mode.unwrap_or_else(|| "strict".into());
            if mode != "strict" && mode != "normalize" {
                return Err(bad("mode must be strict or normalize"));
            }
            let id = match np.id {
                Some(id) => {
                    let rest = id.strip_prefix("prv_").unwrap_or("");
                    let ok = (1..=48).contains(&rest.len())
                        && rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
                    if !ok {
                        return Err(bad("id must be prv_ followed by 1 to 48 of a-z, 0-9, _ and -"));
                    }
                    if provider_by_id(&db, &id).await?.is_some() {
                        let mut e = bad("a provider with this id exists");
                        e.status = 409;
                        return Err(e);
                    }
                    id
                }
                None => format!("prv_{}", hex(&random_bytes(8).map_err(|e| ApiError::internal(&e))?)),
            };
            let username = format!("relay_{}", hex(&random_bytes(6).map_err(|e| ApiError::internal(&e))?));
            let password = hex(&random_bytes(24).map_err(|e| ApiError::internal(&e))?);
            let hash = hash_password(&password).map_err(|e| ApiError::internal(&e))?;
            let rate = np.rate.unwrap_or_else(|| env_f64(env, "DEFAULT_RATE", 10.0));
            let burst = np.burst.unwrap_or_else(|| env_f64(env, "DEFAULT_BURST", 20.0));
            if !(rate >= 0.0 && burst >= 1.0) {
                return Err(bad("rate must be ≥ 0 and burst ≥ 1"));
            }
            let scopes = serde_json::to_string(&np.scopes).unwrap_or_default();
            db.prepare(
                "INSERT INTO providers (id, name, username, password_hash, scopes, mode, rate, burst, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .bind(&[
                id.clone().into(),
                np.name.into(),
                username.clone().into(),
                hash.into(),
                scopes.into(),
                mode.into(),
                rate.into(),
                burst.into(),
                iso_now().into(),
            ])?
            .run()
            .await?;
            let p = provider_by_id(&db, &id).await?.ok_or_else(|| ApiError::internal("provider vanished"))?;
            record(env, &request_id, "admin:create-provider", &id, "201").await?;
            let mut v = p.public();
            v["password"] = json!(password);
            Ok(Response::from_json(&v)?.with_status(201))
        }
        (Method::Get, ["providers"]) => {
            let rows: Vec<Provider> =
                db.prepare("SELECT * FROM providers ORDER BY created_at, id").all().await?.results()?;
            Ok(Response::from_json(&json!({"providers": rows.iter().map(Provider::public).collect::<Vec<_>>()}))?)
        }
        (Method::Get, ["providers", id]) => match provider_by_id(&db, id).await? {
            Some(p) => Ok(Response::from_json(&p.public())?),
            None => Err(ApiError::code(Code::NotFound, &[], lang)),
        },
        (Method::Patch, ["providers", id]) => {
            let bytes = req.bytes().await?;
            let c: ProviderChange = body(&req, &bytes, &["name", "scopes", "mode"], lang)?;
            if c.name.is_none() && c.scopes.is_none() && c.mode.is_none() {
                return Err(bad("give at least one of name, scopes and mode"));
            }
            if let Some(scopes) = &c.scopes {
                check_scopes(scopes)?;
            }
            if c.mode.as_deref().is_some_and(|m| m != "strict" && m != "normalize") {
                return Err(bad("mode must be strict or normalize"));
            }
            let Some(p) = provider_by_id(&db, id).await? else { return Err(ApiError::code(Code::NotFound, &[], lang)) };
            let scopes = match &c.scopes {
                Some(s) => serde_json::to_string(s).unwrap_or_default(),
                None => p.scopes.clone(),
            };
            db.prepare("UPDATE providers SET name = ?2, scopes = ?3, mode = ?4 WHERE id = ?1")
                .bind(&[(*id).into(), c.name.unwrap_or(p.name).into(), scopes.into(), c.mode.unwrap_or(p.mode).into()])?
                .run()
                .await?;
            let p = settle(env, &db, &request_id, id, "admin:update-provider").await?;
            Ok(Response::from_json(&p.public())?)
        }
        (Method::Post, ["providers", id, "rotate"]) => {
            match provider_by_id(&db, id).await? {
                None => return Err(ApiError::code(Code::NotFound, &[], lang)),
                Some(p) if p.revoked_at.is_some() => {
                    let mut e = bad("the provider is revoked; create a new one");
                    e.status = 409;
                    return Err(e);
                }
                Some(_) => {}
            }
            let password = hex(&random_bytes(24).map_err(|e| ApiError::internal(&e))?);
            let hash = hash_password(&password).map_err(|e| ApiError::internal(&e))?;
            // The refresh tokens go with the old password; the access tokens are signed, not stored,
            // so they end by their issue time (`Provider::token_stands`), checked on every request
            // against the row the limiter holds (pushed below, before the answer).
            db.batch(vec![
                db.prepare(
                    "UPDATE providers SET password_hash = ?2, rotated_at = ?3 WHERE id = ?1 AND revoked_at IS NULL",
                )
                .bind(&[(*id).into(), hash.into(), (crate::util::now_ms() as f64).into()])?,
                db.prepare("DELETE FROM tokens WHERE provider_id = ?1").bind(&[(*id).into()])?,
            ])
            .await?;
            let p = settle(env, &db, &request_id, id, "admin:rotate-credentials").await?;
            let mut v = p.public();
            v["password"] = json!(password);
            Ok(Response::from_json(&v)?)
        }
        (Method::Post, ["providers", id, "revoke"]) => {
            if provider_by_id(&db, id).await?.is_none() {
                return Err(ApiError::code(Code::NotFound, &[], lang));
            }
            db.batch(vec![
                db.prepare("UPDATE providers SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")
                    .bind(&[(*id).into(), iso_now().into()])?,
                db.prepare("DELETE FROM tokens WHERE provider_id = ?1").bind(&[(*id).into()])?,
            ])
            .await?;
            let p = settle(env, &db, &request_id, id, "admin:revoke-provider").await?;
            Ok(Response::from_json(&p.public())?)
        }
        (Method::Put, ["providers", id, "limits"]) => {
            let bytes = req.bytes().await?;
            let l: Limits = body(&req, &bytes, &["rate", "burst"], lang)?;
            if !(l.rate >= 0.0 && l.burst >= 1.0) {
                return Err(bad("rate must be ≥ 0 and burst ≥ 1"));
            }
            let r = db
                .prepare("UPDATE providers SET rate = ?2, burst = ?3 WHERE id = ?1")
                .bind(&[(*id).into(), l.rate.into(), l.burst.into()])?
                .run()
                .await?;
            if r.meta()?.and_then(|m| m.changes).unwrap_or(0) == 0 {
                return Err(ApiError::code(Code::NotFound, &[], lang));
            }
            let p = settle(env, &db, &request_id, id, "admin:set-limits").await?;
            Ok(Response::from_json(&p.public())?)
        }
        (Method::Get, ["providers", id, "usage"]) => {
            if provider_by_id(&db, id).await?.is_none() {
                return Err(ApiError::code(Code::NotFound, &[], lang));
            }
            ledger::flush(env).await?;
            let usage = ledger::usage(&db, id).await?;
            let limiter = do_get(env, "LIMITER", id, "/stats").await?;
            #[derive(Deserialize)]
            struct N {
                n: f64,
            }
            let out: Vec<N> = db
                .prepare("SELECT state AS s, COUNT(*) AS n FROM outbound WHERE provider_id = ?1 GROUP BY state")
                .bind(&[(*id).into()])?
                .all()
                .await?
                .results()?;
            let queued: f64 = out.iter().map(|n| n.n).sum();
            Ok(Response::from_json(
                &json!({"provider": id, "ledger": usage, "limiter": limiter, "outboundItems": queued}),
            )?)
        }
        (Method::Get, ["ledger", "verify"]) => {
            // D1's chain must verify and reach the head the writer recorded with its last commit
            // (read after the flush, so D1 holds at least that far unless rows were deleted).
            ledger::flush(env).await?;
            let recorded = ledger::recorded_head(env).await?;
            let verdict = ledger::verify(&db, recorded.clone()).await?;
            let mut out = serde_json::to_value(&verdict).map_err(|e| ApiError::internal(&e.to_string()))?;
            if let (Some(h), Some(o)) = (recorded, out.as_object_mut()) {
                o.insert("recordedHeadSeq".into(), json!(h.seq));
                o.insert("recordedHeadHash".into(), json!(h.hash));
            }
            Ok(Response::from_json(&out)?)
        }
        (Method::Post, ["ledger", "accept-head"]) => {
            // After a restore that legitimately rewound D1 (section 2 of docs/operations.md), the
            // writer refuses to append until D1 reaches its recorded head again; this makes D1's
            // head, which the operator names, the recorded one. D1's chain must verify on its own.
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Accept {
                head_seq: i64,
                head_hash: String,
            }
            let bytes = req.bytes().await?;
            let a: Accept = body(&req, &bytes, &["headSeq", "headHash"], lang)?;
            let conflict = |msg: String| {
                let mut e = bad(&msg);
                e.status = 409;
                e
            };
            ledger::flush(env).await?;
            let v = ledger::verify(&db, None).await?;
            if !v.ok {
                return Err(conflict(format!(
                    "D1's ledger is broken at seq {} ({}): repair or restore it first",
                    v.first_broken.unwrap_or_default(),
                    v.reason.unwrap_or_default()
                )));
            }
            if v.head_seq != a.head_seq || !v.head_hash.eq_ignore_ascii_case(a.head_hash.trim()) {
                return Err(conflict(format!("D1's head is seq {} hash {}", v.head_seq, v.head_hash)));
            }
            let want = ledger::Head { seq: v.head_seq, hash: v.head_hash };
            match ledger::accept_head(env, &want).await? {
                Ok(answer) => {
                    let before = &answer["before"];
                    let subject = format!("{}:{}->{}:{}", before["seq"], before["hash"], want.seq, want.hash);
                    record(env, &request_id, "admin:ledger-accept-head", &subject, "200").await?;
                    Ok(Response::from_json(&json!({"accepted": true, "head": want, "before": before}))?)
                }
                Err(d1) => Err(conflict(format!("D1's head moved: {d1}"))),
            }
        }
        (Method::Get, ["ledger", "export"]) => {
            let url = req.url()?;
            let q = |k: &str| url.query_pairs().find(|(kk, _)| kk == k).and_then(|(_, v)| v.parse::<i64>().ok());
            ledger::flush(env).await?;
            let text =
                ledger::export(&db, q("after").unwrap_or(0), q("limit").unwrap_or(1000).clamp(1, 5000) as u32).await?;
            let mut r = Response::ok(text)?;
            r.headers_mut().set("Content-Type", "application/x-ndjson")?;
            Ok(r)
        }
        (Method::Get, ["iys-token"]) => {
            let user = env.secret("IYS_USERNAME")?.to_string();
            Ok(Response::from_json(&do_get(env, "IYS_TOKEN", &user, "/stats").await?)?)
        }
        (Method::Post, ["iys-token", "reset"]) => {
            let user = env.secret("IYS_USERNAME")?.to_string();
            do_get(env, "IYS_TOKEN", &user, "/reset").await.ok();
            crate::relay::forget_iys_token();
            record(env, &request_id, "admin:reset-iys-token", "-", "200").await?;
            Ok(Response::from_json(&json!({"reset": true}))?)
        }
        (Method::Get, ["governor"]) => {
            let user = env.secret("IYS_USERNAME")?.to_string();
            Ok(Response::from_json(&do_get(env, "GOVERNOR", &user, "/stats").await?)?)
        }
        (Method::Post, ["pull"]) => {
            let report = crate::pull::run(env, ("admin", &request_id)).await?;
            Ok(Response::from_json(&report)?)
        }
        (_, parts) => Err(ApiError::wrong_method_or_not_found(allowed(parts), lang)),
    }
}

/// The methods an admin path takes (`None`: no such path), for the 405's `Allow`; in step with the
/// routes of [`handle`].
fn allowed(parts: &[&str]) -> Option<&'static str> {
    Some(match parts {
        ["providers"] => "GET, POST",
        ["providers", _] => "GET, PATCH",
        ["providers", _, "rotate" | "revoke"] => "POST",
        ["providers", _, "limits"] => "PUT",
        ["providers", _, "usage"] => "GET",
        ["ledger", "verify" | "export"] => "GET",
        ["ledger", "accept-head"] => "POST",
        ["iys-token"] | ["governor"] => "GET",
        ["iys-token", "reset"] | ["pull"] => "POST",
        _ => return None,
    })
}

/// Hands a provider's new row to its limiter object, which authorises each of its requests, so a
/// revocation or a limit change applies to the next request. D1 is written first (a limiter that
/// restarts reads the row from there); the admin answer waits for this, and a failure is an error
/// (the change is in D1: repeating the admin call pushes it again).
async fn push(env: &Env, p: &Provider) -> Result<(), ApiError> {
    let body = serde_json::to_value(p).map_err(|e| ApiError::internal(&e.to_string()))?;
    let (status, _) = crate::do_post(env, "LIMITER", &p.id, "/config", &body).await?;
    if status != 200 {
        return Err(ApiError::internal(&format!("limiter answered {status} to /config")));
    }
    Ok(())
}

/// After a change to provider `id` in D1: its row as now stored, pushed to its limiter object (so the
/// change applies to the next request) and recorded in the ledger as `kind`.
async fn settle(env: &Env, db: &D1Database, request_id: &str, id: &str, kind: &str) -> Result<Provider, ApiError> {
    let p = provider_by_id(db, id).await?.ok_or_else(|| ApiError::internal("provider vanished"))?;
    push(env, &p).await?;
    record(env, request_id, kind, id, "200").await?;
    Ok(p)
}

async fn record(env: &Env, request_id: &str, kind: &str, subject: &str, outcome: &str) -> worker::Result<()> {
    ledger::append(
        env,
        &[Entry {
            provider: "admin".into(),
            request_id: request_id.into(),
            kind: kind.into(),
            payload_sha256: sha256_hex(subject.as_bytes()),
            outcome: outcome.into(),
            iys_ids: String::new(),
        }],
    )
    .await
    .map(|_| ())
}
