//! `POST /oauth2/token` (password and refresh grants, JSON body), the bearer check (H351), the
//! hourly token limit (H084) and the per-second request limit (H124).

use iys_core::diagnostic::{Code, Diagnostic, Lang};
use iys_core::wire::{ErrorBody, IysError, TokenResponse};

use crate::accounts::User;
use crate::http::{Request, Response};
use crate::store::TokenGrant;
use crate::Sim;

fn text(code: Code) -> String {
    Diagnostic::new(code, "").message(Lang::Tr)
}

/// A token error: IYS's `{errors:[…]}` plus the top-level `code`/`message` some clients read.
fn token_error(status: u16, code: &str, message: String) -> Response {
    Response::json(
        status,
        &ErrorBody {
            errors: vec![IysError::new(code, message.clone())],
            code: Some(code.to_string()),
            message: Some(message),
        },
    )
}

/// `POST /oauth2/token`.
pub fn token(sim: &mut Sim, req: &Request, now_ms: i64) -> Response {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&req.body) else {
        // IYS takes the grant as JSON only; the usual mistake is an OAuth form body, so say so.
        let reason = if req.body.is_empty() {
            "beklenmeyen son"
        } else if req.body.first().is_some_and(u8::is_ascii_alphabetic) {
            "form gövdesi; IYS JSON bekler"
        } else {
            "sözdizimi hatası"
        };
        return token_error(400, "H014", text(Code::InvalidJson).replace("{reason}", reason).replace("{offset}", "0"));
    };
    let field = |name: &str| body.get(name).and_then(serde_json::Value::as_str).filter(|s| !s.is_empty());
    let bad_grant = || token_error(400, "H250", text(Code::BadGrant));
    let limits = sim.accounts.limits.clone();

    let username = match field("grant_type") {
        Some("password") => {
            let (Some(username), Some(password)) = (field("username"), field("password")) else {
                return bad_grant();
            };
            if let Some(r) = over_hourly_limit(sim, username, limits.tokens_per_hour, now_ms) {
                return r;
            }
            let ok = sim.accounts.user(username).is_some_and(|u: &User| constant_time_eq(&u.password, password));
            if !ok {
                return token_error(401, "H251", text(Code::BadCredentials));
            }
            username.to_string()
        }
        Some("refresh_token") => {
            let Some(refresh) = field("refresh_token") else {
                return bad_grant();
            };
            let Some(grant) = sim.store.refresh_tokens.get(refresh).cloned() else {
                return token_error(401, "H251", text(Code::InvalidToken));
            };
            if let Some(r) = over_hourly_limit(sim, &grant.username, limits.tokens_per_hour, now_ms) {
                return r;
            }
            if grant.expires_ms <= now_ms || sim.accounts.user(&grant.username).is_none() {
                return token_error(401, "H251", text(Code::InvalidToken));
            }
            grant.username
        }
        _ => return bad_grant(),
    };

    let access = sim.rng.hex(32);
    let refresh = sim.rng.hex(32);
    let access_ms = i64::try_from(limits.access_token_ttl.saturating_mul(1000)).unwrap_or(i64::MAX / 2);
    let refresh_ms = i64::try_from(limits.refresh_token_ttl.saturating_mul(1000)).unwrap_or(i64::MAX / 2);
    sim.store.access_tokens.insert(
        access.clone(),
        TokenGrant { username: username.clone(), expires_ms: now_ms.saturating_add(access_ms) },
    );
    sim.store
        .refresh_tokens
        .insert(refresh.clone(), TokenGrant { username, expires_ms: now_ms.saturating_add(refresh_ms) });
    sim.generation += 1;
    Response::json(
        200,
        &TokenResponse {
            access_token: access,
            refresh_token: refresh,
            expires_in: limits.access_token_ttl,
            refresh_expires_in: limits.refresh_token_ttl,
            token_type: "bearer".into(),
        },
    )
}

/// Counts a token request for `username`; answers H084 once the rolling hour is full.
fn over_hourly_limit(sim: &mut Sim, username: &str, limit: u32, now_ms: i64) -> Option<Response> {
    let stamps = sim.store.token_requests.entry(username.to_string()).or_default();
    stamps.retain(|&t| t > now_ms - 3_600_000);
    if stamps.len() >= limit as usize {
        return Some(token_error(429, "H084", text(Code::TokenRateLimited)));
    }
    stamps.push(now_ms);
    sim.generation += 1;
    None
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The bearer check on every IYS route but the token one: the username, or a 401 H351.
pub fn bearer(sim: &Sim, req: &Request, now_ms: i64) -> Result<String, Response> {
    let Some(value) = req.header("authorization") else {
        return Err(crate::routes::error(401, "H351", text(Code::MissingToken), None));
    };
    let token = match value.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
        _ => return Err(crate::routes::error(401, "H351", text(Code::MissingToken), None)),
    };
    match sim.store.access_tokens.get(token) {
        Some(g) if g.expires_ms > now_ms && sim.accounts.user(&g.username).is_some() => Ok(g.username.clone()),
        _ => Err(crate::routes::error(401, "H351", text(Code::InvalidToken), None)),
    }
}

/// The per-second limit: 429 H124 once `username` has made more requests this second than allowed.
pub fn per_second(sim: &mut Sim, username: &str, now_ms: i64) -> Result<(), Response> {
    let limit = sim.accounts.limits.requests_per_second;
    let second = now_ms.div_euclid(1000);
    let slot = sim.per_second.entry(username.to_string()).or_insert((second, 0));
    if slot.0 != second {
        *slot = (second, 0);
    }
    slot.1 += 1;
    if slot.1 > limit {
        let msg = Diagnostic::new(Code::RateLimited, "").with("retry_after", "1").message(Lang::Tr);
        return Err(crate::routes::error(429, "H124", msg, None));
    }
    Ok(())
}
