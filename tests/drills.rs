//! The fault drill on real workerd (`wrangler dev`) with iys-sim as IYS, on its own relay: each
//! sim fault kind (500, 503, 429, hold, reset) at 30 % on the single-add and batch routes in turn,
//! and `wrangler dev` killed and restarted while work is queued. Afterwards every accepted consent is
//! final, held by the sim exactly once (a second write can only be an H174 refusal), with the
//! transactionId the relay reported; refused ones are not in the sim; the ledger verifies and has a
//! row for every answered request. (The load drill is `tests/load.rs`, run by `cargo xtask load`.)
//!
//! Local queue messages die with `wrangler dev`, so rows left `queued`, `sending` or `sent` (awaiting
//! a poll) by the kill are re-driven by the cron's sweep (`crates/iys-worker/src/sweep.rs`), which
//! the drill fires through `/__scheduled` (wrangler dev runs with `--test-scheduled`) while it waits
//! for the items to settle, with `SWEEP_STALE_S` at 10 s. See docs/reliability.md, "Fault drill".

#[path = "support/worker.rs"]
mod support;

#[path = "support/load.rs"]
mod load;

use load::{provider, sim_consents, sim_log, Conn};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use support::{wait_for, Opts, Relay};

/// What the drill's client was told about one consent.
#[derive(Debug, Clone)]
struct Sent {
    recipient: String,
    /// `add` or `batch`.
    route: &'static str,
    /// HTTP status of the request that carried it.
    status: u16,
    /// For a direct 200: IYS's transactionId.
    txid: Option<String>,
    /// For a 202 or a batch: the relay requestId to poll, and the item's index.
    request: Option<(String, usize)>,
}

const ADD: (u64, u64) = (600001, 600001);
const BATCH: (u64, u64) = (600100, 600100);

fn consent(recipient: &str) -> Value {
    json!({"recipient": recipient, "recipientType": "BIREYSEL", "type": "MESAJ", "status": "ONAY",
           "source": "HS_WEB", "consentDate": load::consent_date()})
}

/// One phase of traffic: two connections of single adds and one of 5-item batches, for `secs`.
fn traffic(base: &str, add_token: &str, batch_token: &str, secs: f64) -> Vec<Sent> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    std::thread::scope(|s| {
        let mut hs = Vec::new();
        for _ in 0..2 {
            hs.push(s.spawn(move || {
                let mut c = Conn::new(base);
                let auth = format!("Bearer {add_token}");
                let path = format!("/sps/{}/brands/{}/consents", ADD.0, ADD.1);
                let mut out = Vec::new();
                for _ in 0..200 {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let ph = load::phone(536);
                    let a = c
                        .send(
                            "POST",
                            &path,
                            &[("Authorization", &auth), ("Content-Type", "application/json")],
                            &consent(&ph).to_string(),
                        )
                        .unwrap_or_else(|e| panic!("add: {e}"));
                    let v: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
                    out.push(Sent {
                        recipient: ph,
                        route: "add",
                        status: a.status,
                        txid: (a.status == 200).then(|| v["transactionId"].as_str().unwrap_or_default().to_string()),
                        request: (a.status == 202)
                            .then(|| (v["requestId"].as_str().unwrap_or_default().to_string(), 0)),
                    });
                }
                out
            }));
        }
        hs.push(s.spawn(move || {
            let mut c = Conn::new(base);
            let auth = format!("Bearer {batch_token}");
            let path = format!("/sps/{}/brands/{}/consents/request", BATCH.0, BATCH.1);
            let mut out = Vec::new();
            for _ in 0..100 {
                if Instant::now() >= deadline {
                    break;
                }
                let phones: Vec<String> = (0..5).map(|_| load::phone(537)).collect();
                let body = Value::Array(phones.iter().map(|p| consent(p)).collect()).to_string();
                let a = c
                    .send("POST", &path, &[("Authorization", &auth), ("Content-Type", "application/json")], &body)
                    .unwrap_or_else(|e| panic!("batch: {e}"));
                let v: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
                let rid = v["requestId"].as_str().unwrap_or_default().to_string();
                for (i, ph) in phones.into_iter().enumerate() {
                    out.push(Sent {
                        recipient: ph,
                        route: "batch",
                        status: a.status,
                        txid: None,
                        request: (a.status == 200).then(|| (rid.clone(), i)),
                    });
                }
                std::thread::sleep(Duration::from_millis(150));
            }
            out
        }));
        hs.into_iter().flat_map(|h| h.join().expect("traffic thread")).collect()
    })
}

fn set_fault(r: &Relay, kind: &str) {
    assert_eq!(r.sim("DELETE", "/__sim/faults", None).status, 200);
    for route in ["add", "batch"] {
        let f = r.sim(
            "POST",
            "/__sim/faults",
            Some(&json!({"kind": kind, "fraction": 0.3, "route": route, "holdMs": 4000})),
        );
        assert_eq!(f.status, 200, "{}", f.body);
    }
}

#[test]
fn fault_drill() {
    let mut opts = Opts {
        vars: vec![
            ("SYNC_TIMEOUT_MS", "2000".into()),
            ("POLL_DELAY_S", "1".into()),
            ("RETRY_BASE_S", "1".into()),
            ("IYS_MAX_RPS", "50".into()),
            ("SWEEP_STALE_S", "10".into()),
        ],
        ..Opts::default()
    };
    opts.sim_args.extend(["--seed".to_string(), "7".to_string()]);
    let mut r = Relay::start(opts);
    let (add_id, add_token) = provider(&r, ADD.0, ADD.1, 1000.0, 1000.0);
    let (batch_id, batch_token) = provider(&r, BATCH.0, BATCH.1, 1000.0, 1000.0);
    let started = Instant::now();
    let mut sent: Vec<Sent> = Vec::new();
    let mut phases = Vec::new();
    let mut down = BTreeMap::new();
    for (i, kind) in ["500", "503", "429", "hold", "reset"].iter().enumerate() {
        set_fault(&r, kind);
        let got = traffic(&r.base.clone(), &add_token, &batch_token, 2.5);
        phases.push(format!("{kind}: {} consents", got.len()));
        sent.extend(got);
        if i == 2 {
            // Kill wrangler dev with work queued (faulted sends waiting for their retry), look at the
            // state it left, and start it again on the same D1/DO state. The relay answers before
            // its ledger rows are committed (they are handed over from `waitUntil` after a 5 ms
            // gather), so a crash within those few ms loses the rows of the last answers; the kill
            // waits 250 ms for them, and the check below holds the relay to that bound.
            std::thread::sleep(Duration::from_millis(250));
            r.kill_wrangler();
            for row in r.d1("SELECT state, COUNT(*) AS n FROM outbound GROUP BY state")[0]["results"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                down.insert(row["state"].as_str().unwrap_or_default().to_string(), row["n"].as_u64().unwrap_or(0));
            }
            r.start_wrangler();
        }
    }
    assert_eq!(r.sim("DELETE", "/__sim/faults", None).status, 200);
    let open: u64 = down.iter().filter(|(k, _)| !matches!(k.as_str(), "success" | "failure")).map(|(_, n)| n).sum();
    eprintln!("fault drill phases: {phases:?}; outbound when wrangler dev was killed: {down:?}");
    assert!(open > 0, "the restart should find work still queued: {down:?}");

    // Every accepted item reaches a final state.
    let accepted: Vec<&Sent> = sent
        .iter()
        .filter(|s| s.status == 200 && (s.txid.is_some() || s.request.is_some()) || s.status == 202)
        .collect();
    let mut requests: BTreeMap<(String, &'static str), Vec<usize>> = BTreeMap::new();
    for s in &accepted {
        if let Some((rid, i)) = &s.request {
            requests.entry((rid.clone(), s.route)).or_default().push(*i);
        }
    }
    let token_of = |route: &str| if route == "add" { add_token.clone() } else { batch_token.clone() };
    let mut finals: HashMap<(String, usize), Value> = HashMap::new();
    let mut open_rows = BTreeMap::new();
    for row in r.d1("SELECT state, COUNT(*) AS n FROM outbound GROUP BY state")[0]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        open_rows.insert(row["state"].as_str().unwrap_or_default().to_string(), row["n"].as_u64().unwrap_or(0));
    }
    eprintln!("fault drill: outbound when the faults were cleared: {open_rows:?}");
    let settle = Instant::now();
    let mut swept = Instant::now() - Duration::from_secs(10);
    wait_for(60, "every accepted item final", || {
        // The cron, as Cloudflare would fire it (the sweep-only expression), every 2 s here.
        if swept.elapsed() >= Duration::from_secs(2) {
            swept = Instant::now();
            let s = r.req("GET", "/__scheduled?cron=*%2F5+*+*+*+*", &[], None);
            assert_eq!(s.status, 200, "{}", s.body);
        }
        for (rid, route) in requests.keys() {
            if finals.contains_key(&(rid.clone(), 0)) {
                continue;
            }
            let (iys, brand) = if *route == "add" { ADD } else { BATCH };
            let a = r.req(
                "GET",
                &format!("/sps/{iys}/brands/{brand}/consents/request/{rid}"),
                &[("Authorization", &format!("Bearer {}", token_of(route)))],
                None,
            );
            assert_eq!(a.status, 200, "{}", a.body);
            let items = a.json().as_array().cloned().unwrap_or_default();
            if !items.is_empty() && items.iter().all(|i| i["status"] != "enqueue") {
                for (i, item) in items.into_iter().enumerate() {
                    finals.insert((rid.clone(), i), item);
                }
            }
        }
        let pending = requests.keys().filter(|(rid, _)| !finals.contains_key(&(rid.clone(), 0))).count();
        (pending == 0).then_some(())
    });
    let settle_s = settle.elapsed().as_secs_f64();

    // The sim's view: records, successful writes, and H174 refusals of a second write.
    let mut held: HashMap<String, Value> = HashMap::new();
    for (iys, brand) in [ADD, BATCH] {
        for c in sim_consents(&r, iys, brand) {
            let k = c["recipient"].as_str().unwrap_or_default().to_string();
            assert!(held.insert(k.clone(), c).is_none(), "two records for {k}");
        }
    }
    let log = sim_log(&r);
    let add_path = format!("/sps/{}/brands/{}/consents", ADD.0, ADD.1);
    let add_writes =
        log.iter().filter(|e| e["route"] == "add" && e["path"] == add_path.as_str() && e["status"] == 200).count();
    let add_h174 = log
        .iter()
        .filter(|e| e["route"] == "add" && e["path"] == add_path.as_str() && e["codes"] == json!(["H174"]))
        .count();
    // The queue resends a queued single add as a one-item batch, so writes are counted per brand.
    let batches = r.sim("GET", "/__sim/batches", None).json();
    let (mut batch_writes, mut batch_h174) = (HashMap::<u64, usize>::new(), 0usize);
    for b in batches.as_array().into_iter().flatten() {
        let brand = b["brandCode"].as_u64().unwrap_or(0);
        for item in b["items"].as_array().into_iter().flatten() {
            match (item["status"].as_str(), item["error"][0].as_str()) {
                (Some("success"), _) => *batch_writes.entry(brand).or_default() += 1,
                (Some("failure"), Some("H174")) => batch_h174 += 1,
                _ => {}
            }
        }
    }
    let add_held = held.keys().filter(|k| k.starts_with("+90536")).count();
    let batch_held = held.keys().filter(|k| k.starts_with("+90537")).count();
    let add_brand_writes = add_writes + batch_writes.get(&ADD.1).copied().unwrap_or(0);
    let batch_brand_writes = batch_writes.get(&BATCH.1).copied().unwrap_or(0);

    let mut problems = Vec::new();
    // Exactly once: each record was written by exactly one successful write.
    if add_brand_writes != add_held || batch_brand_writes != batch_held {
        problems.push(format!(
            "successful writes vs records: brand {} {add_brand_writes}/{add_held}, brand {} {batch_brand_writes}/{batch_held}",
            ADD.1, BATCH.1
        ));
    }
    let (mut ok, mut failed) = (0usize, Vec::new());
    for s in &accepted {
        let txid = match (&s.txid, &s.request) {
            (Some(t), _) => Some(t.clone()),
            (None, Some((rid, i))) => {
                let f = &finals[&(rid.clone(), *i)];
                if f["status"] == "success" {
                    f["transactionId"].as_str().map(str::to_string)
                } else {
                    failed.push(format!("{} {}: {f}", s.route, s.recipient));
                    None
                }
            }
            _ => None,
        };
        match (txid, held.get(&s.recipient)) {
            (Some(t), Some(c)) if c["transactionId"] == t.as_str() => ok += 1,
            (t, c) => problems
                .push(format!("{} {} (HTTP {}): relay says {t:?}, IYS holds {c:?}", s.route, s.recipient, s.status)),
        }
    }
    if !failed.is_empty() {
        problems.push(format!("{} accepted items failed: {:?}", failed.len(), &failed[..failed.len().min(5)]));
    }
    let refused: Vec<&Sent> = sent.iter().filter(|s| !accepted.iter().any(|a| a.recipient == s.recipient)).collect();
    let refused_held: Vec<&&Sent> = refused.iter().filter(|s| held.contains_key(&s.recipient)).collect();
    if !refused_held.is_empty() {
        problems.push(format!("refused but held by IYS: {:?}", &refused_held[..refused_held.len().min(5)]));
    }
    let server_errors = sent.iter().filter(|s| s.status >= 500).count();

    // The ledger verifies and has an inbound row for every answered request.
    let v = r.admin("GET", "/admin/ledger/verify", None).json();
    if v["ok"] != true {
        problems.push(format!("ledger verify: {v}"));
    }
    let answered = |route: &str, n: usize| if route == "add" { n } else { n / 5 };
    for (id, route, kind) in [(&add_id, "add", "inbound:add"), (&batch_id, "batch", "inbound:batch")] {
        let u = r.admin("GET", &format!("/admin/providers/{id}/usage"), None).json();
        let rows: u64 = u["ledger"][kind].as_object().map(|m| m.values().filter_map(Value::as_u64).sum()).unwrap_or(0);
        let want = answered(route, sent.iter().filter(|s| s.route == route).count());
        if rows as usize != want {
            problems.push(format!("ledger has {rows} {kind} rows for {want} answered requests: {u}"));
        }
    }
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for s in &sent {
        *statuses.entry(format!("{} {}", s.route, s.status)).or_default() += 1;
    }
    eprintln!(
        "fault drill: {} consents sent ({statuses:?}), {} accepted, {ok} held exactly once with the relay's transactionId \
         ({add_brand_writes} + {batch_brand_writes} successful writes for {add_held} + {batch_held} records); \
         5xx passed through from IYS: {server_errors}; second writes refused H174: adds {add_h174}, batch items {batch_h174}; \
         settled {settle_s:.1} s after the last phase; ledger ok={} rows={}; total {:.1} s",
        sent.len(),
        accepted.len(),
        v["ok"],
        v["rows"],
        started.elapsed().as_secs_f64()
    );
    assert!(problems.is_empty(), "fault drill:\n{}", problems.join("\n"));
}
