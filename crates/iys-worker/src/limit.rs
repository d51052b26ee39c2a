//! Exact limits, each in a Durable Object that never awaits IYS.
//!
//! - [`ProviderLimiter`]: one object per provider, a token bucket (rate per second, burst). Each
//!   decision is made synchronously on the object's single thread, so concurrent requests are counted
//!   exactly: with burst 3, five simultaneous requests give exactly three "allowed". It also holds
//!   the provider's row (revocation, scopes, mode, limits), so one call per request both authorises
//!   and admits (`/admit`): the relay's access tokens are signed, and this object says whether their
//!   provider is still active.
//! - [`UpstreamGovernor`]: one object per integrator account. It hands out send slots spaced
//!   `1000 / IYS_MAX_RPS` ms apart, so the total sent to IYS stays under its per-second limit; the
//!   caller waits for its slot and sends itself. Slots are handed out in runs (leases, `?n=`) that
//!   an isolate's requests use one each (`relay::slot`).

use crate::auth::{provider_by_id, Provider};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

/// `GET /admit?provider=&iysCode=&brandCode=`: may this provider's request for (iysCode,
/// brandCode) pass? `None` codes (absent): the path parameters did not parse (nothing is taken; the
/// relay answers H190/H191).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Admit {
    /// The provider the access token names (this object's name).
    pub provider: String,
    /// The path's iysCode.
    #[serde(default)]
    pub iys_code: Option<u64>,
    /// The path's brandCode.
    #[serde(default)]
    pub brand_code: Option<u64>,
}

/// The answer to [`Admit`]: the provider's row (`None`: no such provider), and the limiter's verdict
/// when one token was asked for: only for an active provider, in scope for (iysCode, brandCode).
#[derive(Debug, Serialize, Deserialize)]
pub struct Admission {
    /// The provider's row as this object holds it.
    pub provider: Option<Provider>,
    /// The bucket's decision (`None`: nothing was taken).
    pub verdict: Option<Verdict>,
}

/// [`Admission`] as the object writes it, from the row it holds (same JSON).
#[derive(Serialize)]
struct AdmissionOf<'a> {
    provider: Option<&'a Provider>,
    verdict: Option<Verdict>,
}

/// A limiter question: may one request (of `cost`) pass under (`rate`, `burst`)?
#[derive(Debug, Serialize, Deserialize)]
pub struct Take {
    /// Tokens per second.
    pub rate: f64,
    /// Bucket size.
    pub burst: f64,
    /// Tokens this request costs.
    pub cost: f64,
}

/// The limiter's answer.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// Whether the request may pass.
    pub allowed: bool,
    /// When denied: milliseconds until it would pass.
    pub retry_after_ms: u64,
    /// Tokens left after this decision.
    pub remaining: f64,
    /// Requests allowed so far (lifetime of the object).
    pub allowed_total: u64,
    /// Requests denied so far.
    pub denied_total: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Bucket {
    tokens: f64,
    last_ms: f64,
    allowed_total: u64,
    denied_total: u64,
    started: bool,
}

/// Pure token-bucket step: refill since `last_ms`, then take `cost` if there is enough.
fn decide(b: &mut Bucket, now_ms: f64, t: &Take) -> Verdict {
    let burst = t.burst.max(1.0);
    let rate = t.rate.max(0.0);
    if !b.started {
        b.tokens = burst;
        b.last_ms = now_ms;
        b.started = true;
    }
    let elapsed = (now_ms - b.last_ms).max(0.0) / 1000.0;
    b.tokens = (b.tokens + elapsed * rate).min(burst);
    b.last_ms = now_ms.max(b.last_ms);
    if b.tokens >= t.cost {
        b.tokens -= t.cost;
        b.allowed_total += 1;
        Verdict {
            allowed: true,
            retry_after_ms: 0,
            remaining: b.tokens,
            allowed_total: b.allowed_total,
            denied_total: b.denied_total,
        }
    } else {
        b.denied_total += 1;
        let missing = t.cost - b.tokens;
        let retry = if rate > 0.0 { (missing / rate * 1000.0).ceil() as u64 } else { 3_600_000 };
        Verdict {
            allowed: false,
            retry_after_ms: retry.max(1),
            remaining: b.tokens,
            allowed_total: b.allowed_total,
            denied_total: b.denied_total,
        }
    }
}

/// The per-provider limiter, and the provider's row.
///
/// The row is read from D1 the first time the object needs it and kept in memory; admin pushes
/// every change (`/config`: revocation, limits) before answering, so the next request sees it. A
/// read from D1 that started before a push is not applied over it (`epoch`).
///
/// The bucket lives in memory and in the object's own SQLite (`ctx.storage.sql`), written
/// **synchronously** in the same turn as the decision: no `await` between deciding and recording, so
/// the input gate never stalls the next request behind a storage round trip, and the output gate
/// holds each answer until its write is durable. A restart therefore reloads exactly the state of the
/// last answered request (never a fuller bucket), and concurrent requests are still counted exactly.
#[durable_object]
pub struct ProviderLimiter {
    state: State,
    env: Env,
    bucket: RefCell<Option<Bucket>>,
    provider: RefCell<Option<Provider>>,
    /// Bumped by every `/config`.
    epoch: Cell<u64>,
}

#[derive(Deserialize)]
struct BucketRow {
    tokens: f64,
    last_ms: f64,
    allowed_total: f64,
    denied_total: f64,
    started: f64,
}

impl ProviderLimiter {
    fn save(&self, b: &Bucket) -> Result<()> {
        self.state.storage().sql().exec_raw(
            "INSERT OR REPLACE INTO bucket (id, tokens, last_ms, allowed_total, denied_total, started) VALUES (1, ?, ?, ?, ?, ?)",
            vec![
                b.tokens.into(),
                b.last_ms.into(),
                (b.allowed_total as f64).into(),
                (b.denied_total as f64).into(),
                f64::from(u8::from(b.started)).into(),
            ],
        )?;
        Ok(())
    }

    /// The bucket from SQL (or, once, from the key-value copy an older version kept).
    async fn load(&self) -> Result<()> {
        if self.bucket.borrow().is_some() {
            return Ok(());
        }
        let sql = self.state.storage().sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS bucket (id INTEGER PRIMARY KEY CHECK (id = 1), tokens REAL NOT NULL, \
             last_ms REAL NOT NULL, allowed_total REAL NOT NULL, denied_total REAL NOT NULL, started REAL NOT NULL)",
            None,
        )?;
        let rows: Vec<BucketRow> = sql.exec("SELECT * FROM bucket WHERE id = 1", None)?.to_array()?;
        let found = rows.into_iter().next().map(|r| Bucket {
            tokens: r.tokens,
            last_ms: r.last_ms,
            allowed_total: r.allowed_total as u64,
            denied_total: r.denied_total as u64,
            started: r.started != 0.0,
        });
        let b = match found {
            Some(b) => b,
            None => {
                // Storage reads hold the input gate: no other request runs before this one finishes.
                let old: Option<Bucket> = self.state.storage().get("bucket").await?;
                old.unwrap_or_default()
            }
        };
        let mut slot = self.bucket.borrow_mut();
        if slot.is_none() {
            *slot = Some(b);
        }
        Ok(())
    }
}

impl DurableObject for ProviderLimiter {
    fn new(state: State, env: Env) -> Self {
        Self { state, env, bucket: RefCell::new(None), provider: RefCell::new(None), epoch: Cell::new(0) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        self.load().await?;
        let path = req.path();
        if path == "/stats" {
            let b = self.bucket.borrow().clone().unwrap_or_default();
            return Response::from_json(&Verdict {
                allowed: true,
                retry_after_ms: 0,
                remaining: b.tokens,
                allowed_total: b.allowed_total,
                denied_total: b.denied_total,
            });
        }
        if path == "/reset" {
            *self.bucket.borrow_mut() = Some(Bucket::default());
            self.save(&Bucket::default())?;
            return Response::ok("reset");
        }
        if path == "/config" {
            let p: Provider = serde_json::from_str(&req.text().await?)?;
            self.epoch.set(self.epoch.get() + 1);
            *self.provider.borrow_mut() = Some(p);
            return Response::ok("ok");
        }
        if path == "/admit" {
            // GET with the question in the query: no request body to stream and read. The relay
            // writes the query itself (`relay::admit`: a provider id of [A-Za-z0-9_-], decimal
            // codes), so it is split as it is, with no URL parser; anything else names no provider.
            let url = req.inner().url();
            let query = url.split_once('?').map_or("", |(_, q)| q);
            let q =
                |k: &str| query.split('&').find_map(|kv| kv.split_once('=').filter(|(kk, _)| *kk == k).map(|(_, v)| v));
            let a = Admit {
                provider: q("provider").unwrap_or_default().to_string(),
                iys_code: q("iysCode").and_then(|v| v.parse().ok()),
                brand_code: q("brandCode").and_then(|v| v.parse().ok()),
            };
            if self.provider.borrow().is_none() {
                let epoch = self.epoch.get();
                let found = provider_by_id(&self.env.d1("DB")?, &a.provider).await?;
                // Not over a push that arrived while D1 was read; an unknown id is not kept.
                if self.epoch.get() == epoch && self.provider.borrow().is_none() {
                    *self.provider.borrow_mut() = found;
                }
            }
            // From here to the answer nothing awaits: the row read, the decision and its write are
            // one turn of this object.
            // The row is checked and answered as it is held (no copy), so its scopes are parsed
            // once, the first time, not on every request.
            let row = self.provider.borrow();
            let Some(p) = row.as_ref().filter(|p| p.id == a.provider) else {
                let none = serde_json::to_string(&Admission { provider: None, verdict: None })?;
                return crate::raw::answer_in_header(q("h") == Some("1"), none);
            };
            let in_scope = match (a.iys_code, a.brand_code) {
                (Some(i), Some(b)) => p.check_scope(i, b, &[], iys_core::Lang::En).is_ok(),
                _ => false,
            };
            let verdict = if p.revoked_at.is_none() && in_scope {
                let mut slot = self.bucket.borrow_mut();
                let b = slot.get_or_insert_with(Bucket::default);
                let v = decide(
                    b,
                    worker::Date::now().as_millis() as f64,
                    &Take { rate: p.rate, burst: p.burst, cost: 1.0 },
                );
                self.save(b)?;
                Some(v)
            } else {
                None
            };
            // With `h=1` in a header: no body to stream across to the caller and read there.
            let answer = serde_json::to_string(&AdmissionOf { provider: Some(p), verdict })?;
            return crate::raw::answer_in_header(q("h") == Some("1"), answer);
        }
        let take: Take = serde_json::from_str(&req.text().await?)?;
        // The decision, the state change and its write happen with no await in between: exact under
        // concurrency, and durable before the answer leaves (output gate).
        let verdict = {
            let mut slot = self.bucket.borrow_mut();
            let b = slot.get_or_insert_with(Bucket::default);
            let v = decide(b, worker::Date::now().as_millis() as f64, &take);
            self.save(b)?;
            v
        };
        Response::from_json(&verdict)
    }
}

/// Most slots in one lease.
const MAX_LEASE: u64 = 100_000;

/// Slots from the governor (a lease): the first is `wait_ms` from now, then one every `step_ms`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Slot {
    /// Milliseconds to wait before the first slot.
    pub wait_ms: f64,
    /// Milliseconds between slots (`1000 / rps`).
    pub step_ms: f64,
    /// Slots in this lease.
    pub count: u64,
    /// Slots handed out so far.
    pub granted_total: u64,
    /// The most slots that fell in one wall-clock second.
    pub max_per_second: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Schedule {
    next_free_ms: f64,
    granted_total: u64,
    second: u64,
    in_second: u64,
    max_per_second: u64,
}

/// Grants `n` consecutive slots `step` ms apart from the first free one (never before `now`), and
/// counts them per wall-clock second for the stats. The first slot's time.
fn grant(s: &mut Schedule, now: f64, step: f64, n: u64) -> f64 {
    let at = s.next_free_ms.max(now);
    s.next_free_ms = at + n as f64 * step;
    s.granted_total += n;
    let mut i = 0u64;
    while i < n {
        let second = ((at + i as f64 * step) / 1000.0) as u64;
        let end = (((second + 1) as f64 * 1000.0 - at) / step).ceil().max(0.0) as u64;
        let k = end.clamp(i + 1, n) - i;
        if second == s.second {
            s.in_second += k;
        } else {
            s.second = second;
            s.in_second = k;
        }
        s.max_per_second = s.max_per_second.max(s.in_second);
        i += k;
    }
    at
}

/// The upstream governor (one per integrator account).
#[durable_object]
pub struct UpstreamGovernor {
    schedule: RefCell<Schedule>,
}

impl DurableObject for UpstreamGovernor {
    fn new(_state: State, _env: Env) -> Self {
        Self { schedule: RefCell::new(Schedule::default()) }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let url = req.url()?;
        let rps: f64 = url
            .query_pairs()
            .find(|(k, _)| k == "rps")
            .and_then(|(_, v)| v.parse().ok())
            .filter(|r: &f64| *r > 0.0)
            .unwrap_or(10.0);
        if req.path() == "/stats" {
            let s = self.schedule.borrow();
            return Response::from_json(&Slot {
                wait_ms: 0.0,
                step_ms: 1000.0 / rps,
                count: 0,
                granted_total: s.granted_total,
                max_per_second: s.max_per_second,
            });
        }
        // `n` consecutive slots (a lease), `1000 / rps` ms apart, from the first free one.
        let n: u64 = url
            .query_pairs()
            .find(|(k, _)| k == "n")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(1)
            .clamp(1, MAX_LEASE);
        // `within=MS`: only if the first slot is at most that far off (a synchronous request's
        // budget); else nothing is booked and the answer has `count` 0, so a send that will not
        // happen takes no slot from those that will.
        let within: Option<f64> = url.query_pairs().find(|(k, _)| k == "within").and_then(|(_, v)| v.parse().ok());
        let step = 1000.0 / rps;
        let now = worker::Date::now().as_millis() as f64;
        let mut s = self.schedule.borrow_mut();
        let first = s.next_free_ms.max(now);
        let (at, count) = match within {
            Some(w) if first - now > w => (first, 0),
            _ => (grant(&mut s, now, step, n), n),
        };
        let slot = Slot {
            wait_ms: (at - now).max(0.0),
            step_ms: step,
            count,
            granted_total: s.granted_total,
            max_per_second: s.max_per_second,
        };
        crate::raw::answer_in_header(crate::raw::wants_header(&req), serde_json::to_string(&slot)?)
    }
}

impl std::fmt::Debug for ProviderLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderLimiter").field("bucket", &self.bucket).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for UpstreamGovernor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamGovernor").field("schedule", &self.schedule).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_exactly_burst_then_refills() {
        let mut b = Bucket::default();
        let t = Take { rate: 1.0, burst: 3.0, cost: 1.0 };
        let got: Vec<bool> = (0..5).map(|_| decide(&mut b, 1000.0, &t).allowed).collect();
        assert_eq!(got, [true, true, true, false, false]);
        let v = decide(&mut b, 1000.0, &t);
        assert_eq!(v.retry_after_ms, 1000);
        assert!(decide(&mut b, 2000.0, &t).allowed);
        assert!(!decide(&mut b, 2000.0, &t).allowed);
        assert_eq!((b.allowed_total, b.denied_total), (4, 4));
    }

    #[test]
    fn leases_never_put_more_than_rps_slots_in_a_second() {
        // Leases of different sizes asked at various times by several isolates: every slot is its
        // own, spaced a step apart, and no wall-clock second holds more than rps of them.
        for rps in [2.0, 10.0, 25.0, 1000.0] {
            let step = 1000.0 / rps;
            let mut s = Schedule::default();
            let mut slots = Vec::new();
            let mut now = 1_000_000.0;
            for (i, n) in [1u64, 5, 3, 40, 1, 2, 64, 7].iter().cycle().take(200).enumerate() {
                let at = grant(&mut s, now, step, *n);
                slots.extend((0..*n).map(|k| at + k as f64 * step));
                now += [0.0, 3.0, 170.0, 1.0, 900.0][i % 5];
            }
            for w in slots.windows(2) {
                assert!(w[1] - w[0] >= step - 1e-6, "rps {rps}: {} then {}", w[0], w[1]);
            }
            let mut per_second = std::collections::BTreeMap::new();
            for t in &slots {
                *per_second.entry((t / 1000.0) as u64).or_insert(0u64) += 1;
            }
            let most = per_second.values().copied().max().unwrap_or(0);
            assert!(most as f64 <= rps, "rps {rps}: {most} slots in one second");
            assert_eq!(s.max_per_second, most, "rps {rps}: the stats count the same");
            assert_eq!(s.granted_total, slots.len() as u64);
        }
    }
}
