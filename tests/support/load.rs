//! A bounded load client for the drills: a few threads per provider, each with one keep-alive
//! HTTP/1.1 connection to the relay on 127.0.0.1, sending fresh single consent adds until a request
//! count or a deadline is reached. Every request keeps its send and receive instants, its status and
//! whether a 429 carried `Retry-After`, so the limiter can be checked against a token bucket
//! afterwards ([`check_bucket`]).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One persistent connection.
pub struct Conn {
    host: String,
    stream: Option<BufReader<TcpStream>>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").field("host", &self.host).finish_non_exhaustive()
    }
}

/// An answer on a keep-alive connection.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// `Retry-After`, when present.
    pub retry_after: Option<String>,
    /// `x-iys-edge-code`, when present.
    pub edge_code: Option<String>,
    /// Body text.
    pub body: String,
}

impl Conn {
    /// A connection to `base` (`http://127.0.0.1:PORT`), opened lazily.
    pub fn new(base: &str) -> Conn {
        let host = base.trim_start_matches("http://").trim_end_matches('/').to_string();
        assert!(host.starts_with("127.0.0.1:"), "loopback only: {base}");
        Conn { host, stream: None }
    }

    /// Sends one request; reconnects once if a reused connection turns out to be closed.
    pub fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> std::io::Result<Answer> {
        let reused = self.stream.is_some();
        match self.send_once(method, path, headers, body) {
            Ok(a) => Ok(a),
            Err(_) if reused => {
                self.stream = None;
                self.send_once(method, path, headers, body)
            }
            Err(e) => Err(e),
        }
    }

    fn send_once(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> std::io::Result<Answer> {
        if self.stream.is_none() {
            let s = TcpStream::connect(&self.host)?;
            s.set_read_timeout(Some(Duration::from_secs(60)))?;
            s.set_nodelay(true)?;
            self.stream = Some(BufReader::new(s));
        }
        let r = self.exchange(method, path, headers, body);
        if r.is_err() {
            self.stream = None;
        }
        r
    }

    fn exchange(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> std::io::Result<Answer> {
        let s = self.stream.as_mut().ok_or_else(|| std::io::Error::other("no connection"))?;
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n", self.host, body.len());
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.get_mut().write_all(req.as_bytes())?;
        let mut line = String::new();
        if s.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed before the status line"));
        }
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let (mut len, mut chunked, mut close) = (None, false, false);
        let (mut retry_after, mut edge_code) = (None, None);
        loop {
            line.clear();
            if s.read_line(&mut line)? == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed in the headers"));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let Some((k, v)) = l.split_once(':') else { continue };
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
            match k.as_str() {
                "content-length" => len = v.parse::<usize>().ok(),
                "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                "connection" => close = v.eq_ignore_ascii_case("close"),
                "retry-after" => retry_after = Some(v),
                "x-iys-edge-code" => edge_code = Some(v),
                _ => {}
            }
        }
        let mut raw = Vec::new();
        if chunked {
            loop {
                line.clear();
                s.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                    .map_err(|_| std::io::Error::other("bad chunk size"))?;
                if size == 0 {
                    // Trailers, then the empty line.
                    loop {
                        line.clear();
                        if s.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                let start = raw.len();
                raw.resize(start + size, 0);
                s.read_exact(&mut raw[start..])?;
                line.clear();
                s.read_line(&mut line)?;
            }
        } else if let Some(n) = len {
            raw.resize(n, 0);
            s.read_exact(&mut raw)?;
        } else {
            s.read_to_end(&mut raw)?;
            close = true;
        }
        if close {
            self.stream = None;
        }
        Ok(Answer { status, retry_after, edge_code, body: String::from_utf8_lossy(&raw).into_owned() })
    }
}

/// Turkey's wall clock a minute ago, as IYS writes consentDate (the suite's one helper).
pub fn consent_date() -> String {
    iys_tests::consent_date()
}

/// A fresh mobile number under `prefix` (three digits after +90, e.g. `533`).
pub fn phone(prefix: u32) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("+90{prefix}{:07}", 1_000_000 + N.fetch_add(1, Ordering::SeqCst))
}

/// One provider's share of the load.
#[derive(Debug, Clone)]
pub struct Target {
    /// A label for the report.
    pub name: String,
    /// The relay access token.
    pub token: String,
    /// Service provider code.
    pub iys: u64,
    /// Brand code.
    pub brand: u64,
    /// Phone prefix for its recipients (distinct per target).
    pub prefix: u32,
    /// Limiter rate (per second).
    pub rate: f64,
    /// Limiter burst.
    pub burst: f64,
}

/// One request as the client saw it.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Seconds since the run started, when the request was written.
    pub sent: f64,
    /// Seconds since the run started, when the answer was read.
    pub recv: f64,
    /// Status (0: transport error).
    pub status: u16,
    /// A 429 from the relay's own limiter (not IYS's, passed through).
    pub limited: bool,
    /// `Retry-After` in whole seconds, if present and numeric.
    pub retry_after: Option<u64>,
    /// The recipient sent.
    pub recipient: String,
    /// For 200: the transactionId; for 202: the relay requestId.
    pub id: String,
    /// Transport error or unexpected body, for the report.
    pub note: String,
}

/// Bounds of one run.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Wall time.
    pub duration: Duration,
    /// Requests per target at most.
    pub max_requests: u64,
    /// Connections (threads) per target.
    pub threads: usize,
}

/// Runs the load: `threads` connections per target, fresh ONAY MESAJ consents, until the
/// deadline or the per-target request cap. Returns each target's samples.
pub fn run(base: &str, targets: &[Target], bounds: Bounds) -> Vec<Vec<Sample>> {
    let start = Instant::now();
    let deadline = start + bounds.duration;
    let counts: Vec<AtomicU64> = targets.iter().map(|_| AtomicU64::new(0)).collect();
    std::thread::scope(|s| {
        let handles: Vec<Vec<_>> = targets
            .iter()
            .zip(&counts)
            .map(|(t, count)| {
                (0..bounds.threads)
                    .map(|_| {
                        let t = t.clone();
                        let base = base.to_string();
                        s.spawn(move || worker(&base, &t, count, bounds.max_requests, start, deadline))
                    })
                    .collect()
            })
            .collect();
        handles
            .into_iter()
            .map(|ws| {
                let mut all: Vec<Sample> = ws.into_iter().flat_map(|w| w.join().expect("load thread")).collect();
                all.sort_by(|a, b| a.sent.total_cmp(&b.sent));
                all
            })
            .collect()
    })
}

fn worker(base: &str, t: &Target, count: &AtomicU64, max: u64, start: Instant, deadline: Instant) -> Vec<Sample> {
    let mut conn = Conn::new(base);
    let path = format!("/sps/{}/brands/{}/consents", t.iys, t.brand);
    let auth = format!("Bearer {}", t.token);
    let mut out = Vec::new();
    while Instant::now() < deadline && count.fetch_add(1, Ordering::SeqCst) < max {
        let recipient = phone(t.prefix);
        let body = format!(
            r#"{{"recipient":"{recipient}","recipientType":"BIREYSEL","type":"MESAJ","status":"ONAY","source":"HS_WEB","consentDate":"{}"}}"#,
            consent_date()
        );
        let sent = start.elapsed().as_secs_f64();
        let r = conn.send("POST", &path, &[("Authorization", &auth), ("Content-Type", "application/json")], &body);
        let recv = start.elapsed().as_secs_f64();
        let sample = match r {
            Ok(a) => {
                let v: serde_json::Value = serde_json::from_str(&a.body).unwrap_or(serde_json::Value::Null);
                let limited = a.status == 429 && v["errors"][0]["iysEdgeCode"] == "request/rate-limited";
                let id = match a.status {
                    200 => v["transactionId"].as_str().unwrap_or_default().to_string(),
                    202 => v["requestId"].as_str().unwrap_or_default().to_string(),
                    _ => String::new(),
                };
                let note = if matches!(a.status, 200 | 202 | 429) { String::new() } else { a.body.clone() };
                Sample {
                    sent,
                    recv,
                    status: a.status,
                    limited,
                    retry_after: a.retry_after.as_deref().and_then(|v| v.parse().ok()),
                    recipient,
                    id,
                    note,
                }
            }
            Err(e) => Sample {
                sent,
                recv,
                status: 0,
                limited: false,
                retry_after: None,
                recipient,
                id: String::new(),
                note: e.to_string(),
            },
        };
        out.push(sample);
    }
    out
}

/// The `q`-quantile (0..=1) of `v` (nearest rank), in the unit of `v`.
pub fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

/// What the token-bucket check found.
#[derive(Debug, Clone, Default)]
pub struct BucketCheck {
    /// Requests the limiter let through (answered 200 or 202).
    pub allowed: u64,
    /// Requests it refused.
    pub denied: u64,
    /// `burst + rate × (last answer − first send)`: the most a bucket can allow over the run.
    pub ceiling: f64,
    /// Windows in which more passed than the bucket allows (should be empty).
    pub over: Vec<String>,
    /// 429s no bucket state could explain (should be empty).
    pub unjustified: Vec<String>,
}

/// Checks a limiter's decisions against a token bucket (`rate`/s, `burst`, cost 1, full at the
/// first decision), knowing only that each decision happened between the request's send and
/// receive instants.
///
/// - **No over-admission:** for every start `t1` (an allowed request's send) and end `t2` (an
///   allowed request's receive), the allowed requests that were certainly decided in `[t1, t2]`
///   (sent at or after `t1`, answered by `t2`) number at most `burst + rate·(t2 − t1)`.
/// - **No unjustified denial:** a denial at `d` means fewer than one token was left, i.e. for some
///   `s ≤ d` more than `burst − 1 + rate·(d − s)` requests were allowed in `(s, d)`. The allowed
///   requests that may have been decided there (sent before the denial's answer, answered after
///   `s`) must be that many for some window length.
pub fn check_bucket(samples: &[Sample], rate: f64, burst: f64) -> BucketCheck {
    const EPS: f64 = 1e-6;
    // Only answers that show the limiter's decision: a 5xx may have come before or after it.
    let allowed: Vec<&Sample> = samples.iter().filter(|s| matches!(s.status, 200 | 202)).collect();
    let denied: Vec<&Sample> = samples.iter().filter(|s| s.limited).collect();
    let mut out = BucketCheck { allowed: allowed.len() as u64, denied: denied.len() as u64, ..BucketCheck::default() };
    if let (Some(first), Some(last)) =
        (samples.iter().map(|s| s.sent).min_by(f64::total_cmp), samples.iter().map(|s| s.recv).max_by(f64::total_cmp))
    {
        out.ceiling = burst + rate * (last - first);
    }
    // Over-admission, every window anchored at an allowed send.
    let mut by_send: Vec<&Sample> = allowed.clone();
    by_send.sort_by(|a, b| a.sent.total_cmp(&b.sent));
    for (i, a) in by_send.iter().enumerate() {
        let mut recvs: Vec<f64> = by_send[i..].iter().map(|s| s.recv).collect();
        recvs.sort_by(f64::total_cmp);
        for (k, r) in recvs.iter().enumerate() {
            let n = (k + 1) as f64;
            let cap = burst + rate * (r - a.sent);
            if n > cap + EPS {
                out.over.push(format!("{n} allowed within [{:.3}, {r:.3}] s, bucket allows {cap:.2}", a.sent));
                break;
            }
        }
        if out.over.len() >= 5 {
            break;
        }
    }
    // Every denial justified.
    for d in &denied {
        let mut recvs: Vec<f64> = allowed.iter().filter(|a| a.sent < d.recv).map(|a| a.recv).collect();
        let base = recvs.iter().filter(|r| **r > d.sent).count() as f64;
        recvs.retain(|r| *r <= d.sent);
        recvs.sort_by(|a, b| b.total_cmp(a));
        let mut ok = base > burst - 1.0 - EPS;
        for (k, r) in recvs.iter().enumerate() {
            if ok {
                break;
            }
            let len = d.sent - r;
            ok = base + (k + 1) as f64 > burst - 1.0 + rate * len - EPS;
        }
        if !ok {
            out.unjustified.push(format!("429 sent at {:.3} s answered at {:.3} s", d.sent, d.recv));
            if out.unjustified.len() >= 5 {
                break;
            }
        }
    }
    out
}

// ---- relay set-up shared by the drills ----

/// Creates a provider and logs it in; (id, access token).
pub fn provider(r: &crate::support::Relay, iys: u64, brand: u64, rate: f64, burst: f64) -> (String, String) {
    let c = r.admin(
        "POST",
        "/admin/providers",
        Some(&serde_json::json!({"name": "drill", "scopes": [{"iysCode": iys, "brands": [brand], "types": ["MESAJ"]}],
                     "rate": rate, "burst": burst})),
    );
    assert_eq!(c.status, 201, "{}", c.body);
    let c = c.json();
    let t = r.req(
        "POST",
        "/oauth2/token",
        &[("Content-Type", "application/json")],
        Some(
            &serde_json::json!({"username": c["username"], "password": c["password"], "grant_type": "password"})
                .to_string(),
        ),
    );
    assert_eq!(t.status, 200, "{}", t.body);
    (c["id"].as_str().unwrap_or_default().into(), t.json()["access_token"].as_str().unwrap_or_default().into())
}

/// Every request IYS (the sim) received.
pub fn sim_log(r: &crate::support::Relay) -> Vec<serde_json::Value> {
    r.sim("GET", "/__sim/requests", None).json().as_array().cloned().unwrap_or_default()
}

/// The consents the sim holds for one brand.
pub fn sim_consents(r: &crate::support::Relay, iys: u64, brand: u64) -> Vec<serde_json::Value> {
    r.sim("GET", &format!("/__sim/consents?iysCode={iys}&brandCode={brand}"), None)
        .json()
        .as_array()
        .cloned()
        .unwrap_or_default()
}
