//! The load drill on real workerd (`wrangler dev`) with iys-sim as IYS: three providers with
//! different limits send fresh single adds over keep-alive loopback connections for
//! `IYS_LOAD_SECONDS` (default 5; `cargo xtask load` runs 60). No 5xx, every 429 carries
//! `Retry-After`, the limiter's counters equal what the clients saw, its decisions fit a token
//! bucket given the request times, the ledger has the same split, and nothing the limiter refused
//! reached IYS. Throughput and latency are reported, not asserted.
//!
//! It found the optimistic ledger append giving up under this load (`UNIQUE constraint failed:
//! ledger.seq`, answered 500 after IYS stored the consent, or instead of a 429); the ledger now has
//! one writer (`LedgerWriter`) and is written off the response path. See docs/reliability.md, "Load drill".

#[path = "support/worker.rs"]
mod support;

#[path = "support/load.rs"]
mod load;

use load::{check_bucket, provider, quantile, sim_consents, sim_log, Bounds, Sample, Target};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use support::{Opts, Relay};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn load_drill() {
    let seconds = env_u64("IYS_LOAD_SECONDS", 5).clamp(1, 600);
    let threads = env_u64("IYS_LOAD_THREADS", 4).clamp(1, 16) as usize;
    let mut opts = Opts::default();
    opts.vars.retain(|(k, _)| *k != "SYNC_TIMEOUT_MS");
    opts.vars.push(("SYNC_TIMEOUT_MS", "10000".into()));
    let r = Relay::start(opts);
    // (iysCode, brand, rate/s, burst, phone prefix): different shapes of bucket.
    let shapes = [(600001, 600001, 6.0, 12.0, 533), (600100, 600100, 3.0, 6.0, 534), (600100, 600101, 1.5, 20.0, 535)];
    let mut targets = Vec::new();
    let mut ids = Vec::new();
    for (i, (iys, brand, rate, burst, prefix)) in shapes.iter().enumerate() {
        let (id, token) = provider(&r, *iys, *brand, *rate, *burst);
        ids.push(id);
        targets.push(Target {
            name: format!("P{} ({rate}/s, burst {burst})", i + 1),
            token,
            iys: *iys,
            brand: *brand,
            prefix: *prefix,
            rate: *rate,
            burst: *burst,
        });
    }
    let log_before = sim_log(&r).len();
    let bounds = Bounds { duration: Duration::from_secs(seconds), max_requests: 200 * seconds + 500, threads };
    let started = Instant::now();
    let runs = load::run(&r.base, &targets, bounds);
    let wall = started.elapsed().as_secs_f64();

    let mut report = String::new();
    report.push_str(&format!(
        "load: {seconds} s, {} providers x {threads} keep-alive connections, fresh single adds\n\n",
        targets.len()
    ));
    report.push_str("| provider | requests | req/s | relayed (200/202) | 429 | 5xx | other | p50 ms | p99 ms | p50 ms (relayed) | p99 ms (relayed) | limiter allowed/denied | bucket ceiling | bucket check |\n");
    report.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    let mut failures = Vec::new();
    let (mut total, mut total_5xx, mut all_lat) = (0usize, 0usize, Vec::new());
    for ((t, samples), id) in targets.iter().zip(&runs).zip(&ids) {
        let lat: Vec<f64> = samples.iter().map(|s| (s.recv - s.sent) * 1000.0).collect();
        let relayed: Vec<&Sample> = samples.iter().filter(|s| matches!(s.status, 200 | 202)).collect();
        let lat_relayed: Vec<f64> = relayed.iter().map(|s| (s.recv - s.sent) * 1000.0).collect();
        let limited = samples.iter().filter(|s| s.limited).count();
        let e5 = samples.iter().filter(|s| s.status >= 500).count();
        let other: Vec<&Sample> =
            samples.iter().filter(|s| !matches!(s.status, 200 | 202) && !s.limited && s.status < 500).collect();
        total += samples.len();
        total_5xx += e5;
        all_lat.extend_from_slice(&lat);
        let check = check_bucket(samples, t.rate, t.burst);
        let u = r.admin("GET", &format!("/admin/providers/{id}/usage"), None).json();
        let (la, ld) =
            (u["limiter"]["allowedTotal"].as_u64().unwrap_or(0), u["limiter"]["deniedTotal"].as_u64().unwrap_or(0));
        let exact = la == check.allowed && ld == check.denied && check.over.is_empty() && check.unjustified.is_empty();
        report.push_str(&format!(
            "| {} | {} | {:.1} | {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {la}/{ld} | {:.1} | {} |\n",
            t.name,
            samples.len(),
            samples.len() as f64 / wall,
            relayed.len(),
            limited,
            e5,
            other.len(),
            quantile(&lat, 0.5),
            quantile(&lat, 0.99),
            quantile(&lat_relayed, 0.5),
            quantile(&lat_relayed, 0.99),
            check.ceiling,
            if exact { "exact" } else { "MISMATCH" },
        ));
        // Exact accounting: the limiter counted every request once, as the client saw it.
        if (la, ld) != (check.allowed, check.denied) {
            failures.push(format!("{}: limiter {la}/{ld}, client saw {}/{}", t.name, check.allowed, check.denied));
        }
        if !check.over.is_empty() || !check.unjustified.is_empty() {
            failures.push(format!("{}: bucket {:?} {:?}", t.name, check.over, check.unjustified));
        }
        if check.allowed as f64 > check.ceiling + 1e-6 {
            failures.push(format!("{}: {} allowed over a ceiling of {:.2}", t.name, check.allowed, check.ceiling));
        }
        let no_ra = samples.iter().filter(|s| s.limited && s.retry_after.unwrap_or(0) < 1).count();
        if no_ra > 0 {
            failures.push(format!("{}: {no_ra} 429s without Retry-After", t.name));
        }
        // The ledger recorded every request with the same split.
        let add = &u["ledger"]["inbound:add"];
        let led = |k: &str| add[k].as_u64().unwrap_or(0);
        if led("429") != ld || led("200") + led("202") != la {
            failures.push(format!("{}: ledger inbound:add {add} vs limiter {la}/{ld}", t.name));
        }
        if e5 > 0 || !other.is_empty() {
            let first = samples.iter().find(|s| s.status >= 500 || (!matches!(s.status, 200 | 202) && !s.limited));
            failures.push(format!("{}: {e5} 5xx, {} other answers, e.g. {first:?}", t.name, other.len()));
        }
        // Nothing the limiter refused reached IYS; every relayed add is stored once.
        let prefix = format!("/sps/{}/brands/{}/consents", t.iys, t.brand);
        let sent = sim_log(&r)[log_before..]
            .iter()
            .filter(|e| e["route"] == "add" && e["path"].as_str() == Some(prefix.as_str()))
            .count();
        if sent as u64 != check.allowed {
            failures.push(format!("{}: IYS saw {sent} adds, the limiter allowed {}", t.name, check.allowed));
        }
        let stored = sim_consents(&r, t.iys, t.brand);
        let mut held: HashMap<String, usize> = HashMap::new();
        for c in &stored {
            *held.entry(c["recipient"].as_str().unwrap_or_default().to_string()).or_default() += 1;
        }
        let missing = relayed.iter().filter(|s| held.get(&s.recipient) != Some(&1)).count();
        let refused_stored = samples.iter().filter(|s| s.limited && held.contains_key(&s.recipient)).count();
        if missing > 0 || refused_stored > 0 {
            failures
                .push(format!("{}: {missing} relayed adds not held once, {refused_stored} refused ones held", t.name));
        }
    }
    let v = r.admin("GET", "/admin/ledger/verify", None).json();
    report.push_str(&format!(
        "\nall: {total} requests in {wall:.1} s = {:.1} req/s, p50 {:.0} ms, p99 {:.0} ms, 5xx {total_5xx}; ledger verify ok={} rows={}\n",
        total as f64 / wall,
        quantile(&all_lat, 0.5),
        quantile(&all_lat, 0.99),
        v["ok"],
        v["rows"]
    ));
    eprintln!("{report}");
    if let Ok(path) = std::env::var("IYS_LOAD_REPORT") {
        std::fs::write(&path, &report).unwrap_or_else(|e| panic!("write {path}: {e}"));
    }
    if v["ok"] != true {
        failures.push(format!("ledger verify: {v}"));
    }
    if !failures.is_empty() {
        // The Worker's own account of what went wrong (error lines of the wrangler dev log).
        let log = r.log();
        let errors: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("rror") || l.contains("gave up") || l.contains("panic"))
            .take(12)
            .collect();
        failures.push(format!("wrangler dev log, first error lines:\n{}", errors.join("\n")));
    }
    assert!(failures.is_empty(), "load drill:\n{}\n{report}", failures.join("\n"));
}
