//! Attempts at the relay's doors that need no credentials yet, counted per client address.
//!
//! `POST /oauth2/token` runs a PBKDF2 for every attempt (known user or not, so that timing tells
//! nothing), which makes it the cheapest way to spend the relay's CPU. Every attempt first takes one
//! count from Cloudflare's rate limiting binding (`AUTH_ATTEMPTS` in `wrangler.toml`), keyed by the
//! client's address; past the limit the answer is 429 with `Retry-After`, before any password work.
//! The binding counts per Cloudflare location and is not exact: it is a guard against floods and
//! guessing, not a quota (the per-provider limiter is the exact one).

use worker::{Env, Headers};

/// The rate limiting binding.
const BINDING: &str = "AUTH_ATTEMPTS";
/// Its period in seconds (`simple.period` in `wrangler.toml`): the `Retry-After` of a refusal.
pub const PERIOD_S: u64 = 60;

/// The client's address as Cloudflare's edge reports it (`CF-Connecting-IP`, which a client cannot
/// set: the edge overwrites it); `-` when there is none (a local run without the edge in front).
fn client(headers: &Headers) -> String {
    headers.get("CF-Connecting-IP").ok().flatten().unwrap_or_else(|| "-".into())
}

/// Takes one attempt at `door` for this request's client: whether it is within the limit. A missing
/// or failing binding lets the attempt through (logged; the doors stay usable) rather than locking
/// every provider out.
pub async fn allow(env: &Env, headers: &Headers, door: &str) -> bool {
    let limiter = match env.rate_limiter(BINDING) {
        Ok(l) => l,
        Err(e) => {
            worker::console_error!("throttle/unavailable door={door}: {e}");
            return true;
        }
    };
    match limiter.limit(format!("{door}:{}", client(headers))).await {
        Ok(outcome) => outcome.success,
        Err(e) => {
            worker::console_error!("throttle/unavailable door={door}: {e}");
            true
        }
    }
}
