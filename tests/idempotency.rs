//! `Idempotency-Key` on the relay's `POST …/consents/request`, on real workerd (`wrangler dev`) with
//! iys-sim as IYS: a batch sent again with its key is answered with the stored answer and queued
//! once; the key with another batch is refused; a malformed key is refused; no key is as before.

#[path = "support/worker.rs"]
mod support;

#[path = "support/load.rs"]
mod load;

use load::provider;
use serde_json::{json, Value};
use support::{wait_for, Opts, Relay};

const IYS: u64 = 600001;
const BRAND: u64 = 600001;

fn consent(recipient: &str) -> Value {
    json!({"recipient": recipient, "recipientType": "BIREYSEL", "type": "MESAJ", "status": "ONAY",
           "source": "HS_WEB", "consentDate": load::consent_date()})
}

fn post(r: &Relay, token: &str, key: Option<&str>, body: &str) -> support::Resp {
    let auth = format!("Bearer {token}");
    let mut h = vec![("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    if let Some(k) = key {
        h.push(("Idempotency-Key", k));
    }
    r.req("POST", &format!("/sps/{IYS}/brands/{BRAND}/consents/request"), &h, Some(body))
}

/// Outbound rows the relay holds for `provider`.
fn queued(r: &Relay, provider: &str) -> u64 {
    let v = r.d1(&format!("SELECT COUNT(*) AS n FROM outbound WHERE provider_id = '{provider}'"));
    v[0]["results"][0]["n"].as_u64().unwrap_or(u64::MAX)
}

/// How many batch items the sim received for `recipient`.
fn sent_to_iys(r: &Relay, recipient: &str) -> usize {
    let batches = r.sim("GET", "/__sim/batches", None).json();
    batches
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|b| b["items"].as_array().cloned().unwrap_or_default())
        .filter(|i| i["consent"]["recipient"] == recipient)
        .count()
}

#[test]
fn a_batch_sent_again_with_its_key_gets_the_same_answer_and_is_queued_once() {
    let r = Relay::start(Opts::default());
    let (pid, token) = provider(&r, IYS, BRAND, 1000.0, 1000.0);
    let a: Vec<Value> = (0..3).map(|i| consent(&format!("+90534{:07}", 1_000_000 + i))).collect();
    let body = Value::Array(a.clone()).to_string();

    let first = post(&r, &token, Some("upload-run-1/batch-0"), &body);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.header("x-iys-edge-idempotent-replay"), None);
    let answer = first.json();
    assert_eq!(answer["subRequests"].as_array().map(Vec::len), Some(3), "{answer}");

    // The same batch with the same key, compact and pretty-printed: the stored answer, nothing queued.
    for again in [body.clone(), serde_json::to_string_pretty(&a).expect("json")] {
        let replay = post(&r, &token, Some("upload-run-1/batch-0"), &again);
        assert_eq!(replay.status, 200, "{}", replay.body);
        assert_eq!(replay.header("x-iys-edge-idempotent-replay"), Some("true"));
        assert_eq!(replay.json(), answer);
    }
    assert_eq!(queued(&r, &pid), 3);

    // The key with another batch: refused, nothing queued; its own answer is untouched.
    let mut other = a.clone();
    other[2] = consent("+905349999999");
    let refused = post(&r, &token, Some("upload-run-1/batch-0"), &Value::Array(other).to_string());
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.json()["errors"][0]["iysEdgeCode"], json!("request/idempotency-key"), "{}", refused.body);
    assert_eq!(queued(&r, &pid), 3);

    // Malformed keys: 400 with the same code, nothing queued.
    let long = "k".repeat(201);
    for bad in [long.as_str(), "anahtar-\u{e7}"] {
        let refused = post(&r, &token, Some(bad), &body);
        assert_eq!(refused.status, 400, "{bad}: {}", refused.body);
        assert_eq!(refused.json()["errors"][0]["iysEdgeCode"], json!("request/idempotency-key"));
    }
    let longest = post(&r, &token, Some(&"k".repeat(200)), &Value::Array(vec![consent("+905348888888")]).to_string());
    assert_eq!(longest.status, 200, "a 200-character key is accepted: {}", longest.body);
    assert_eq!(queued(&r, &pid), 4);

    // Without a key, as before: the same batch twice is two requests, queued twice.
    let b = Value::Array(vec![consent("+905347777777")]).to_string();
    let (x, y) = (post(&r, &token, None, &b), post(&r, &token, None, &b));
    assert_eq!((x.status, y.status), (200, 200), "{} {}", x.body, y.body);
    assert_ne!(x.json()["requestId"], y.json()["requestId"]);
    assert_eq!(y.header("x-iys-edge-idempotent-replay"), None);
    assert_eq!(queued(&r, &pid), 6);

    // IYS got each item of the keyed batch exactly once, once the queue has sent them all.
    let rid = answer["requestId"].as_str().unwrap_or_default().to_string();
    wait_for(60, "the keyed batch's outcomes", || {
        let s = r.req(
            "GET",
            &format!("/sps/{IYS}/brands/{BRAND}/consents/request/{rid}"),
            &[("Authorization", &format!("Bearer {token}"))],
            None,
        );
        let items = s.json().as_array().cloned().unwrap_or_default();
        (items.len() == 3 && items.iter().all(|i| i["status"] == "success")).then_some(())
    });
    for c in &a {
        assert_eq!(sent_to_iys(&r, c["recipient"].as_str().unwrap_or_default()), 1, "{c}");
    }

    // Every request, replays and refusals included, is an inbound ledger row; the chain holds.
    let n = r.d1(&format!("SELECT COUNT(*) AS n FROM ledger WHERE provider = '{pid}' AND kind = 'inbound:batch'"));
    assert_eq!(n[0]["results"][0]["n"], json!(9), "{n}");
    let verify = r.admin("GET", "/admin/ledger/verify", None);
    assert_eq!(verify.json()["ok"], json!(true), "{}", verify.body);

    // A claim without an answer (a request that died between claiming and queueing, planted here):
    // while fresh, the key is "in progress" (409, Retry-After) and nothing is queued; once stale
    // (over a minute), the next request takes it over and queues.
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let plant = |key: &str, at: u128| {
        r.d1(&format!(
            "INSERT INTO idempotency (provider_id, key, body_sha256, claim, answer, created_at) SELECT provider_id, \
             '{key}', body_sha256, 'planted', NULL, {at} FROM idempotency WHERE key = 'upload-run-1/batch-0'"
        ));
    };
    plant("fresh", now_ms);
    let busy = post(&r, &token, Some("fresh"), &body);
    assert_eq!((busy.status, busy.header("retry-after")), (409, Some("1")), "{}", busy.body);
    assert_eq!(busy.json()["errors"][0]["iysEdgeCode"], json!("request/idempotency-key"));
    assert_eq!(queued(&r, &pid), 6);
    plant("stale", now_ms - 120_000);
    let taken = post(&r, &token, Some("stale"), &body);
    assert_eq!(taken.status, 200, "{}", taken.body);
    assert_eq!(taken.header("x-iys-edge-idempotent-replay"), None);
    assert_ne!(taken.json()["requestId"], answer["requestId"]);
    assert_eq!(queued(&r, &pid), 9);

    // A resend is judged as of its key's first request. A consent 3 s inside the window's edge is
    // queued; 5 s later the same batch without a key is refused (its date has left the window), but
    // with its key it still gets its stored answer instead of a refusal of what was queued.
    use iys_core::time::{business_day_cutoff, BusinessDays, LocalDateTime};
    let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let edge = business_day_cutoff(LocalDateTime::from_unix(unix), BusinessDays::default()).to_unix().unwrap_or(0) + 3;
    let mut late = consent("+905346666666");
    late["consentDate"] = json!(LocalDateTime::from_unix(edge).to_string());
    let late = Value::Array(vec![late]).to_string();
    let first = post(&r, &token, Some("edge"), &late);
    assert_eq!(first.status, 200, "{}", first.body);
    std::thread::sleep(std::time::Duration::from_secs(5));
    let fresh = post(&r, &token, None, &late);
    assert_eq!((fresh.status, fresh.json()["errors"][0]["iysEdgeCode"].clone()), (422, json!("consent/date-too-old")));
    let again = post(&r, &token, Some("edge"), &late);
    assert_eq!((again.status, again.header("x-iys-edge-idempotent-replay")), (200, Some("true")), "{}", again.body);
    assert_eq!(again.json(), first.json());
    assert_eq!(queued(&r, &pid), 10);
}

/// A one-request-per-connection HTTP proxy in front of the relay that forwards everything but
/// withholds the answer to the first keyed batch POST (the relay has queued it; the client sees
/// the connection close without an answer). Records each batch POST's `Idempotency-Key`. With a
/// `refuse_resend` gate, a batch POST with a key seen before is not forwarded: once the gate
/// opens it is answered with a 422 naming item 0, as a relay that judges a resend again before
/// replaying would answer for an item that left the window meanwhile.
struct Proxy {
    base: String,
    keys: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(upstream: &str) -> Proxy {
        Proxy::start_with(upstream, None)
    }

    fn start_with(upstream: &str, refuse_resend: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>) -> Proxy {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let up = upstream.trim_start_matches("http://").to_string();
        let keys = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (k, s) = (keys.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut dropped = false;
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let _ = Proxy::serve(client, &up, &k, &mut dropped, refuse_resend.as_deref());
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                }
            }
        });
        Proxy { base, keys, stop, thread: Some(thread) }
    }

    fn serve(
        mut client: std::net::TcpStream,
        up: &str,
        keys: &std::sync::Mutex<Vec<String>>,
        dropped: &mut bool,
        refuse_resend: Option<&std::sync::atomic::AtomicBool>,
    ) -> std::io::Result<()> {
        use std::io::{Read, Write};
        client.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let n = client.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        let len: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        while buf.len() < head_end + len {
            let n = client.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let batch_post =
            head.starts_with("POST ") && head.lines().next().is_some_and(|l| l.contains("/consents/request "));
        if let (true, Some(key), Some(gate)) = (batch_post, header("idempotency-key"), refuse_resend) {
            let mut seen = keys.lock().expect("keys");
            if seen.contains(&key) {
                seen.push(key);
                drop(seen);
                let until = std::time::Instant::now() + std::time::Duration::from_secs(90);
                while !gate.load(std::sync::atomic::Ordering::Relaxed) && std::time::Instant::now() < until {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                let body = json!({"errors": [{"code": "IYSEDGE", "message": "too old", "index": 0,
                    "location": [0, "consentDate"], "iysEdgeCode": "consent/date-too-old"}]})
                .to_string();
                let answer = format!(
                    "HTTP/1.1 422 Unprocessable Entity\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                return client.write_all(answer.as_bytes());
            }
        }
        // One request per upstream connection: the relay closes it after answering.
        let mut forwarded: Vec<u8> = Vec::new();
        for line in head.split("\r\n").filter(|l| !l.is_empty()) {
            if !line.to_ascii_lowercase().starts_with("connection:") {
                forwarded.extend_from_slice(line.as_bytes());
                forwarded.extend_from_slice(b"\r\n");
            }
        }
        forwarded.extend_from_slice(b"Connection: close\r\n\r\n");
        forwarded.extend_from_slice(&buf[head_end..]);
        let mut upstream = std::net::TcpStream::connect(up)?;
        upstream.write_all(&forwarded)?;
        let mut answer = Vec::new();
        upstream.read_to_end(&mut answer)?;
        if let (true, Some(key)) = (batch_post, header("idempotency-key")) {
            if key.len() <= 200 {
                keys.lock().expect("keys").push(key);
                if !*dropped {
                    // The relay answered (and queued); the client never hears of it.
                    *dropped = true;
                    return Ok(());
                }
            }
        }
        client.write_all(&answer)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn iys_upload_whose_batch_answer_is_lost_sends_it_again_with_its_key_and_iys_gets_it_once() {
    let r = Relay::start(Opts::default());
    let (pid, user, password) = r.create_provider(&json!({"name": "lost answer", "rate": 50, "burst": 100,
                     "scopes": [{"iysCode": IYS, "brands": [BRAND], "types": ["MESAJ"]}]}));
    let (user, password) = (user.as_str(), password.as_str());

    // Two planned batches (an `iys batch` directory), 10 consents each.
    let dir = r.state.join("lost-answer");
    let input = dir.join("in");
    let batches: Vec<Vec<Value>> =
        (1..=2).map(|b| (0..10).map(|i| consent(&format!("+90535{:07}", 3_000_000 + b * 100 + i))).collect()).collect();
    iys_tests::write_batch_dir(&input, &batches).expect("write");
    let records: Vec<Value> = batches.concat();
    let out = dir.join("out");
    let proxy = Proxy::start(&r.base);
    let (iys, brand) = (IYS.to_string(), BRAND.to_string());
    let extra = ["--iys-code", &iys, "--brand-code", &brand, "--wait-max", "120", "--timeout", "20"];
    let (code, stdout, stderr) = support::upload(&proxy.base, user, password, &extra, &out, &input);
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");

    // The first batch went twice with the same key (the second got the stored answer), the
    // second once with its own key.
    let keys = proxy.keys.lock().expect("keys").clone();
    assert_eq!(keys.len(), 3, "{keys:?}\n{stderr}");
    assert_eq!(keys.iter().filter(|k| **k == keys[0]).count(), 2, "{keys:?}");
    let journal = std::fs::read_to_string(out.join("upload.journal")).expect("journal");
    let sends: Vec<Value> =
        journal.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter(|e| e["e"] == "send").collect();
    assert_eq!(sends.len(), 2, "one attempt per batch: {journal}");
    assert_eq!(sends[0]["key"], json!(keys[0]), "the journaled key of batch 1 is the one sent twice");
    assert!(
        keys.contains(&sends[1]["key"].as_str().unwrap_or_default().to_string()) && sends[1]["key"] != sends[0]["key"]
    );

    // Every item accepted, in the report and the summary.
    let summary: Value = serde_json::from_str(stdout.trim().lines().last().unwrap_or("")).unwrap_or(Value::Null);
    assert_eq!((summary["summary"]["accepted"].clone(), summary["summary"]["refused"].clone()), (json!(20), json!(0)));
    let report = std::fs::read_to_string(out.join("report.ndjson")).expect("report.ndjson");
    let lines: Vec<Value> = report.lines().map(|l| serde_json::from_str(l).unwrap_or(Value::Null)).collect();
    assert_eq!(lines.len(), 20);
    assert!(lines.iter().all(|l| l["state"] == "accepted"), "{report}");

    // The relay holds one request per planned batch and each item once (its queue may send both
    // to IYS as one list); IYS received each item once and holds each consent once.
    assert_eq!(queued(&r, &pid), 20);
    let requests = r.d1(&format!("SELECT COUNT(DISTINCT request_id) AS n FROM outbound WHERE provider_id = '{pid}'"));
    assert_eq!(requests[0]["results"][0]["n"], json!(2), "{requests}");
    let batches = r.sim("GET", "/__sim/batches", None).json();
    let items: usize =
        batches.as_array().into_iter().flatten().map(|b| b["items"].as_array().map_or(0, Vec::len)).sum();
    assert_eq!(items, 20, "{batches}");
    let stored = load::sim_consents(&r, IYS, BRAND);
    for c in &records {
        let n = stored.iter().filter(|s| s["recipient"] == c["recipient"]).count();
        assert_eq!(n, 1, "{c}");
        assert_eq!(sent_to_iys(&r, c["recipient"].as_str().unwrap_or_default()), 1, "{c}");
    }
}

/// One planned batch of five MESAJ consents for `iys upload` (an `iys batch` directory), for a new
/// provider: (provider id, user, password, the consents, the input dir, the output dir).
struct OneBatch {
    pid: String,
    user: String,
    password: String,
    batch: Vec<Value>,
    input: std::path::PathBuf,
    out: std::path::PathBuf,
}

fn one_batch(r: &Relay, name: &str, first_phone: u64) -> OneBatch {
    let (pid, user, password) = r.create_provider(&json!({"name": name, "rate": 50, "burst": 100,
                     "scopes": [{"iysCode": IYS, "brands": [BRAND], "types": ["MESAJ"]}]}));
    let dir = r.state.join(name.replace(' ', "-"));
    let input = dir.join("in");
    let batch: Vec<Value> = (0..5).map(|i| consent(&format!("+90{}", first_phone + i))).collect();
    iys_tests::write_batch_dir(&input, std::slice::from_ref(&batch)).expect("write");
    OneBatch { pid, user, password, batch, input, out: dir.join("out") }
}

/// `iys upload` of `b` through `relay`, looking items up at once when it must: (exit code, stdout, stderr).
fn upload_one(relay: &str, b: &OneBatch) -> (Option<i32>, String, String) {
    let (iys, brand) = (IYS.to_string(), BRAND.to_string());
    let extra =
        ["--iys-code", &iys, "--brand-code", &brand, "--wait-max", "120", "--timeout", "20", "--reconcile-after", "0"];
    support::upload(relay, &b.user, &b.password, &extra, &b.out, &b.input)
}

/// Runs `then` once `cond` holds (looked at every 100 ms for up to 90 s) on its own thread; the
/// handle says whether it ran.
fn when(
    cond: impl Fn() -> bool + Send + 'static,
    then: impl FnOnce() + Send + 'static,
) -> std::thread::JoinHandle<bool> {
    std::thread::spawn(move || {
        for _ in 0..900 {
            if cond() {
                then();
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        false
    })
}

/// The kinds of the journal's entries, in order.
fn journal_kinds(out: &std::path::Path) -> Vec<String> {
    let journal = std::fs::read_to_string(out.join("upload.journal")).expect("journal");
    journal
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|e| e["e"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Every item of `b`: in the report with `state`, received by IYS once and held once.
fn assert_each_once(r: &Relay, b: &OneBatch, state: &str) {
    let report = std::fs::read_to_string(b.out.join("report.ndjson")).expect("report.ndjson");
    let lines: Vec<Value> = report.lines().map(|l| serde_json::from_str(l).unwrap_or(Value::Null)).collect();
    assert_eq!(lines.len(), b.batch.len(), "{report}");
    assert!(lines.iter().all(|l| l["state"] == state && l["ok"] == true), "{report}");
    let stored = load::sim_consents(r, IYS, BRAND);
    for c in &b.batch {
        let rec = c["recipient"].as_str().unwrap_or_default();
        assert_eq!(stored.iter().filter(|s| s["recipient"] == rec).count(), 1, "{c}");
        assert_eq!(sent_to_iys(r, rec), 1, "{c}");
    }
}

/// The first POST of a batch is queued but its answer lost; the resend with its key is refused
/// (422 naming item 0). The items may be queued, so the CLI records none as refused: it looks them
/// up (here once IYS holds them all), finds them, and sends nothing again.
#[test]
fn iys_upload_whose_resend_is_refused_looks_the_items_up_instead_of_calling_them_refused() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let r = Relay::start(Opts::default());
    let b = one_batch(&r, "refused resend", 5_375_000_000);
    // The gate opens once IYS holds the first POST's items, so the look-up finds every one.
    let gate = std::sync::Arc::new(AtomicBool::new(false));
    let proxy = Proxy::start_with(&r.base, Some(gate.clone()));
    let url = format!("{}/__sim/consents?iysCode={IYS}&brandCode={BRAND}", r.sim);
    let held = move || {
        support::try_request("GET", &url, &[], None).ok().and_then(|r| r.json().as_array().map(Vec::len)).unwrap_or(0)
            >= 5
    };
    let opener = gate.clone();
    let watcher = when(held, move || opener.store(true, Ordering::Relaxed));
    let (code, stdout, stderr) = upload_one(&proxy.base, &b);
    assert!(watcher.join().unwrap_or(false), "IYS never held the first POST's items");
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    // Every item found (none refused), one attempt, posted twice with its key and never again.
    let keys = proxy.keys.lock().expect("keys").clone();
    assert_eq!(keys.len(), 2, "{keys:?}\n{stderr}");
    assert_eq!(journal_kinds(&b.out), ["send", "found"]);
    assert_each_once(&r, &b, "found");
}

/// As above, but IYS is down for batches, so the first POST's items are still in the relay's queue
/// when the CLI looks them up: the status answers say so (`x-iys-edge-queued`), the CLI adopts that
/// request as its lost answer and follows it, and nothing is posted a third time. (Before, the items
/// read as "not held by IYS" and went again as a new request: IYS got each twice.)
#[test]
fn iys_upload_follows_items_the_relay_still_holds_instead_of_sending_them_again() {
    use std::sync::atomic::AtomicBool;
    let r = Relay::start(Opts::default());
    let b = one_batch(&r, "queued look-up", 5_386_000_000);
    let f = r.sim("POST", "/__sim/faults", Some(&json!({"kind": "503", "route": "batch"})));
    assert_eq!(f.status, 200, "{}", f.body);
    // The resend is refused at once; IYS comes back once the CLI has adopted the queued request.
    let proxy = Proxy::start_with(&r.base, Some(std::sync::Arc::new(AtomicBool::new(true))));
    let (sim, journal) = (r.sim.clone(), b.out.join("upload.journal"));
    let adopted =
        move || std::fs::read_to_string(&journal).unwrap_or_default().lines().any(|l| l.contains(r#""e":"sent""#));
    let watcher = when(adopted, move || {
        let _ = support::try_request("DELETE", &format!("{sim}/__sim/faults"), &[], None);
    });
    let (code, stdout, stderr) = upload_one(&proxy.base, &b);
    assert!(watcher.join().unwrap_or(false), "the CLI never followed the queued request\n{stderr}");
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(journal_kinds(&b.out), ["send", "found", "sent", "done"]);
    assert_eq!(proxy.keys.lock().expect("keys").len(), 2, "the first POST and its refused resend only");
    let requests =
        r.d1(&format!("SELECT COUNT(DISTINCT request_id) AS n FROM outbound WHERE provider_id = '{}'", b.pid));
    assert_eq!(requests[0]["results"][0]["n"], json!(1), "{requests}");
    assert_each_once(&r, &b, "accepted");
}
