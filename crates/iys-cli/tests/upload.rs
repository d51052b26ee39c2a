//! `iys upload` against iys-sim, the faithful local IYS (the relay speaks the same protocol).
//!
//! The sim runs in this test process through its library (`iys_sim::server`), on 127.0.0.1 and a
//! free port; `iys` runs as the built binary, so a test can kill it mid-run. What the sim received
//! is read back from its inspection routes (`/__sim/batches`, `/__sim/consents`, `/__sim/requests`).
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use iys_sim::accounts::Accounts;
use iys_sim::faults::Fault;
use iys_sim::{server, App, Config};
use serde_json::{json, Value};

const NOW: &str = "2025-11-19 12:00:00";
const DATE: &str = "2025-11-18 10:00:00";
const HEADER: &str = "recipientType;type;source;recipient;status;consentDate";

struct Sim {
    addr: String,
}

impl Sim {
    /// A sim on a free port, with the default accounts, `faults` (as `--fault` flags), a short
    /// batch delay, no business-day window (the CLI pins "now" instead) and a high request rate.
    fn start(faults: &[&str]) -> Sim {
        let mut accounts = Accounts::builtin();
        accounts.limits.batch_delay_ms = 50;
        accounts.limits.business_day_window = false;
        accounts.limits.requests_per_second = 100_000;
        let config = Config {
            port: 0,
            state: None,
            accounts: Some(accounts),
            faults: faults.iter().map(|f| Fault::parse_flag(f).unwrap()).collect::<Vec<_>>(),
            seed: Some(7),
            quiet: true,
        };
        let app = Arc::new(App::new(&config).unwrap());
        let listener = server::bind(0).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || server::serve(app, listener));
        Sim { addr }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let body = body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&body).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let status = String::from_utf8_lossy(&out[9..12]).to_string();
        assert_eq!(status, "200", "{method} {path}: {}", String::from_utf8_lossy(&out));
        serde_json::from_slice(&out[end..]).unwrap()
    }

    fn get(&self, path: &str) -> Value {
        self.call("GET", path, None)
    }

    /// Every consent item the sim received in a batch, by recipient: how many times.
    fn received(&self) -> HashMap<String, usize> {
        let mut seen = HashMap::new();
        for b in self.get("/__sim/batches").as_array().unwrap() {
            for it in b["items"].as_array().unwrap() {
                let r = it["consent"]["recipient"].as_str().unwrap().to_string();
                *seen.entry(r).or_insert(0) += 1;
            }
        }
        seen
    }

    fn stored(&self) -> Vec<Value> {
        self.get("/__sim/consents").as_array().unwrap().clone()
    }

    /// Requests the sim answered on `route`.
    fn requests(&self, route: &str) -> Vec<Value> {
        self.get("/__sim/requests").as_array().unwrap().iter().filter(|r| r["route"] == route).cloned().collect()
    }

    fn wait_for(&self, what: &str, mut done: impl FnMut(&Sim) -> bool) {
        let start = Instant::now();
        while !done(self) {
            assert!(start.elapsed() < Duration::from_secs(15), "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn phone(i: usize) -> String {
    format!("+90532{:07}", 1_000_000 + i)
}

/// `n` valid MESAJ consents (ONAY) as CSV.
fn csv(n: usize) -> String {
    let mut s = format!("{HEADER}\n");
    for i in 0..n {
        s.push_str(&format!("BIREYSEL;MESAJ;HS_WEB;{};ONAY;{DATE}\n", phone(i)));
    }
    s
}

fn upload_cmd(sim: &Sim, input: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_iys"));
    c.args(["upload", "--relay", &sim.url(), "--user", "sp600001", "--iys-code", "600001", "--brand-code", "600001"])
        .env("IYS_PASSWORD", "sp600001-pass")
        .args(["--now", NOW, "--json", "--timeout", "10", "--out"])
        .arg(out)
        .args(extra)
        .arg(input)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn upload(sim: &Sim, input: &Path, out: &Path, extra: &[&str]) -> (i32, Output) {
    let o = upload_cmd(sim, input, out, extra).output().unwrap();
    (o.status.code().unwrap(), o)
}

fn text(o: &Output) -> String {
    format!("stdout: {}\nstderr: {}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn report(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out.join("report.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn journal(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out.join("upload.journal"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn states(rep: &[Value]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for l in rep {
        *m.entry(l["state"].as_str().unwrap().to_string()).or_insert(0) += 1;
    }
    m
}

fn assert_each_once(sim: &Sim, n: usize) {
    let received = sim.received();
    assert_eq!(received.len(), n, "distinct consents received");
    let twice: Vec<_> = received.iter().filter(|(_, &c)| c > 1).collect();
    assert!(twice.is_empty(), "consents received more than once: {}", twice.len());
    let stored = sim.stored();
    assert_eq!(stored.len(), n);
}

#[test]
fn upload_of_500_records_is_one_batch_all_accepted_and_reported() {
    let sim = Sim::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("consents.csv");
    std::fs::write(&input, csv(500)).unwrap();
    let out = dir.path().join("up");
    let (code, o) = upload(&sim, &input, &out, &[]);
    assert_eq!(code, 0, "{}", text(&o));
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["summary"]["records"], 500);
    assert_eq!(summary["summary"]["accepted"], 500);
    assert_eq!(summary["summary"]["batches"], 1);

    let rep = report(&out);
    assert_eq!(rep.len(), 500);
    for (i, l) in rep.iter().enumerate() {
        assert_eq!(l["index"], i);
        assert_eq!(l["ok"], true);
        assert_eq!(l["state"], "accepted");
        assert_eq!(l["recipient"], phone(i));
        assert!(l["transactionId"].as_str().is_some_and(|t| !t.is_empty()), "{l}");
        assert!(l["requestId"].is_string());
    }
    assert_each_once(&sim, 500);
    assert_eq!(sim.requests("batch").len(), 1);
    let kinds: Vec<_> = journal(&out).iter().map(|e| e["e"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds, ["send", "sent", "done"]);
    // Nothing secret or personal on stderr.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("sp600001-pass") && !err.contains(&phone(0)), "{err}");

    // A rerun with the same input and --out has nothing to send.
    let (code, o) = upload(&sim, &input, &out, &[]);
    assert_eq!(code, 0, "{}", text(&o));
    assert_eq!(sim.requests("batch").len(), 1);
    assert_eq!(report(&out).len(), 500);
}

#[test]
fn upload_stopped_early_resumes_by_polling_and_never_posts_a_consent_twice() {
    let sim = Sim::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("consents.csv");
    std::fs::write(&input, csv(2500)).unwrap();
    let out = dir.path().join("up");

    // Run 1 posts the first batch and stops without waiting: it has a requestId, no outcome.
    let (code, o) = upload(&sim, &input, &out, &["--max-batches", "1", "--no-wait"]);
    assert_eq!(code, 2, "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("rerun the same command"), "{}", text(&o));
    assert_eq!(states(&report(&out)).get("pending"), Some(&2500));
    let j = journal(&out);
    assert_eq!(j.len(), 2);
    assert_eq!((j[0]["e"].as_str(), j[0]["range"].clone()), (Some("send"), json!([0, 1000])));
    assert_eq!(j[1]["e"], "sent");
    assert_eq!(sim.requests("batch").len(), 1);

    // Run 2 only polls batch 1 and posts batches 2 and 3.
    let (code, o) = upload(&sim, &input, &out, &[]);
    assert_eq!(code, 0, "{}", text(&o));
    assert_eq!(sim.requests("batch").len(), 3);
    let first_request = j[1]["requestId"].as_str().unwrap();
    assert!(sim.requests("batch-status").iter().any(|r| r["path"].as_str().unwrap().ends_with(first_request)));
    assert_each_once(&sim, 2500);
    let rep = report(&out);
    assert_eq!(rep.len(), 2500);
    assert_eq!(states(&rep).get("accepted"), Some(&2500));
    assert!(rep.iter().enumerate().all(|(i, l)| l["index"] == i));
}

#[test]
fn upload_killed_while_its_post_is_in_flight_looks_items_up_instead_of_resending() {
    // The first batch POST is held by the sim for 1.5 s, then processed as if nothing happened.
    let sim = Sim::start(&["hold=1500@batch#1"]);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("consents.csv");
    std::fs::write(&input, csv(1200)).unwrap();
    let out = dir.path().join("up");

    let mut child = upload_cmd(&sim, &input, &out, &[]).spawn().unwrap();
    // The sim has read the whole POST once the counted hold rule is spent.
    sim.wait_for("the held POST", |s| s.get("/__sim/faults").as_array().is_some_and(Vec::is_empty));
    child.kill().unwrap();
    let _ = child.wait();
    let j = journal(&out);
    assert_eq!(j.len(), 1, "only `send` was journaled: {j:?}");
    assert_eq!(j[0]["e"], "send");

    // IYS took the batch after all (the client was gone): wait until its items are stored.
    sim.wait_for("the held batch to settle", |s| s.stored().len() == 1000);

    let (code, o) = upload(&sim, &input, &out, &["--reconcile-after", "0"]);
    assert_eq!(code, 0, "{}", text(&o));
    assert_eq!(sim.requests("status").len(), 1000, "every item of the unanswered batch was looked up");
    // Besides them, one POST of `[]` with an over-long Idempotency-Key: the check whether the
    // server honours keys (IYS does not, so the unanswered batch is looked up); IYS refuses it.
    let (probes, posts): (Vec<Value>, Vec<Value>) =
        sim.requests("batch").into_iter().partition(|r| r["status"].as_u64().is_some_and(|s| (400..500).contains(&s)));
    assert_eq!(probes.len(), 1, "{probes:?}");
    assert_eq!(posts.len(), 2, "the held batch and batch 2; batch 1 not again");
    assert_each_once(&sim, 1200);
    let rep = report(&out);
    let st = states(&rep);
    assert_eq!((st.get("found"), st.get("accepted")), (Some(&1000), Some(&200)), "{st:?}");
    assert!(rep[..1000].iter().all(|l| l["ok"] == true && l["transactionId"].is_string()));
}

#[test]
fn upload_retries_429_and_5xx_and_reports_what_iys_refused() {
    // Token 503 once; batch POST: 500 once (unanswered → looked up, then re-sent), then 429 twice;
    // batch result: 500 twice.
    let sim = Sim::start(&["503@token#1", "500@batch#1", "429@batch#2", "500@batch-status#2"]);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("consents.csv");
    let mut data = csv(300);
    // The first record of a recipient cannot be RET: IYS refuses it (H175) when the item settles.
    data.push_str(&format!("BIREYSEL;MESAJ;HS_WEB;{};RET;{DATE}\n", phone(9999)));
    std::fs::write(&input, data).unwrap();
    let out = dir.path().join("up");

    let (code, o) = upload(&sim, &input, &out, &["--reconcile-after", "0"]);
    assert_eq!(code, 1, "{}", text(&o));
    let rep = report(&out);
    assert_eq!(rep.len(), 301);
    assert_eq!(states(&rep).get("accepted"), Some(&300));
    let refused = &rep[300];
    assert_eq!((refused["state"].as_str(), refused["ok"].clone()), (Some("refused"), json!(false)));
    assert_eq!(refused["code"], "H175");
    assert!(refused["message"].as_str().is_some_and(|m| !m.is_empty()));

    let posts = sim.requests("batch");
    let statuses: Vec<_> = posts.iter().map(|r| r["status"].as_u64().unwrap()).collect();
    // After the 500: the check whether the server honours Idempotency-Key (a POST of `[]` with an
    // over-long key), which meets the two 429s (retried) and then IYS's refusal of the empty list
    // (400), so the batch is looked up, not re-sent; then the rest of it goes.
    assert_eq!(statuses, [500, 429, 429, 400, 200]);
    assert_eq!(sim.requests("status").len(), 301, "the 500'd batch was looked up item by item first");
    assert_eq!(sim.received().len(), 301);
    assert!(sim.received().values().all(|&c| c == 1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("retrying"), "{err}");
}

#[test]
fn upload_never_sends_records_that_fail_local_validation() {
    let sim = Sim::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("consents.csv");
    let mut data = format!("{HEADER}\n");
    data.push_str(&format!("BIREYSEL;MESAJ;HS_WEB;{};ONAY;{DATE}\n", phone(0)));
    data.push_str(&format!("BIREYSEL;MESAJ;HS_WEB;0532 12a 45 67;ONAY;{DATE}\n"));
    data.push_str(&format!("BIREYSEL;MESAJ;HS_WEB;{};ONAY;2014-01-01 10:00:00\n", phone(2)));
    data.push_str(&format!("BIREYSEL;MESAJ;HS_WEB;{};ONAY;{DATE}\n", phone(0)));
    data.push_str(&format!("BIREYSEL;MESAJ;HS_WEB;{};ONAY;{DATE}\n", phone(4)));
    std::fs::write(&input, data).unwrap();
    let out = dir.path().join("up");

    let (code, o) = upload(&sim, &input, &out, &[]);
    assert_eq!(code, 1, "{}", text(&o));
    let rep = report(&out);
    let st: Vec<_> = rep.iter().map(|l| (l["index"].as_u64().unwrap(), l["state"].as_str().unwrap())).collect();
    assert_eq!(st, [(0, "accepted"), (1, "invalid"), (2, "invalid"), (3, "invalid"), (4, "accepted")]);
    assert_eq!(rep[1]["ok"], false);
    assert!(!rep[1]["errors"].as_array().unwrap().is_empty());
    assert_eq!(rep[2]["errors"][0]["iys_code"], "H156");
    assert_eq!(rep[3]["errors"][0]["code"], "batch/duplicate");
    let received = sim.received();
    assert_eq!(received.len(), 2);
    assert!(!received.contains_key(&phone(2)));
}

#[test]
fn upload_with_wrong_credentials_is_exit_2_with_a_clear_message_and_a_rerun_completes() {
    let sim = Sim::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("consents.csv");
    std::fs::write(&input, csv(3)).unwrap();
    let out = dir.path().join("up");
    let o = upload_cmd(&sim, &input, &out, &[]).env("IYS_PASSWORD", "wrong-secret").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("refused the password login") && err.contains("H251"), "{err}");
    assert!(!err.contains("wrong-secret"), "{err}");
    assert_eq!(states(&report(&out)).get("pending"), Some(&3));

    // Another input into the same --out is refused.
    let other = dir.path().join("other.csv");
    std::fs::write(&other, csv(4)).unwrap();
    let (code, o) = upload(&sim, &other, &out, &[]);
    assert_eq!(code, 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("another input"), "{}", text(&o));

    // The same input, now with the right password, completes.
    let (code, o) = upload(&sim, &input, &out, &[]);
    assert_eq!(code, 0, "{}", text(&o));
    assert_each_once(&sim, 3);
}

/// `iys batch` of `rows` generated consents into `dir/batches`, which it returns.
fn batch_dir(dir: &Path, rows: usize) -> std::path::PathBuf {
    let input = dir.join("consents.csv");
    std::fs::write(&input, csv(rows)).unwrap();
    let batches = dir.join("batches");
    let o = Command::new(env!("CARGO_BIN_EXE_iys"))
        .args(["batch", "--now", NOW, "--out"])
        .arg(&batches)
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    batches
}

#[test]
fn upload_of_an_iys_batch_directory_sends_its_batch_files() {
    let sim = Sim::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let batches = batch_dir(dir.path(), 1001);
    let out = dir.path().join("up");
    let (code, o) = upload(&sim, &batches, &out, &[]);
    assert_eq!(code, 0, "{}", text(&o));
    let rep = report(&out);
    assert_eq!(rep.len(), 1001);
    assert_eq!((rep[1000]["batch"].clone(), rep[1000]["item"].clone()), (json!(2), json!(0)));
    assert_eq!(sim.requests("batch").len(), 2);
    assert_each_once(&sim, 1001);
}

/// `iys upload` of batch directory `input`, with a relay nothing listens on: a refusal of the
/// directory comes before any network.
fn upload_offline(input: &Path, out: &Path) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_iys"))
        .args(["upload", "--relay", "http://127.0.0.1:9", "--user", "u", "--iys-code", "600001"])
        .args(["--brand-code", "600001", "--timeout", "2", "--out"])
        .arg(out)
        .arg(input)
        .env("IYS_PASSWORD", "p")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (o.status.code().unwrap(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn upload_refuses_a_batch_directory_without_its_manifest_or_with_files_changed_since() {
    let dir = tempfile::tempdir().unwrap();
    let batches = batch_dir(dir.path(), 2001);
    let manifest: Value = serde_json::from_slice(&std::fs::read(batches.join("manifest.json")).unwrap()).unwrap();
    let counts: Vec<&Value> = manifest["files"].as_array().unwrap().iter().map(|f| &f["count"]).collect();
    assert_eq!(counts, [&json!(1000), &json!(1000), &json!(1)]);
    assert_eq!((manifest["records"].clone(), manifest["valid"].clone()), (json!(2001), json!(2001)));

    // Each case on a copy of the directory: what an interrupted `iys batch` leaves (no
    // manifest), a file lost, a file edited (still a valid array), a stray file added.
    let copy = |name: &str| {
        let d = dir.path().join(name);
        std::fs::create_dir(&d).unwrap();
        for e in std::fs::read_dir(&batches).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), d.join(e.file_name())).unwrap();
        }
        d
    };
    let no_manifest = copy("no-manifest");
    std::fs::remove_file(no_manifest.join("manifest.json")).unwrap();
    let missing = copy("missing");
    std::fs::remove_file(missing.join("batch-00002.json")).unwrap();
    let edited = copy("edited");
    let first: Vec<Value> = serde_json::from_slice(&std::fs::read(edited.join("batch-00001.json")).unwrap()).unwrap();
    std::fs::write(edited.join("batch-00001.json"), serde_json::to_vec(&first[..999]).unwrap()).unwrap();
    let extra = copy("extra");
    std::fs::copy(extra.join("batch-00003.json"), extra.join("batch-00004.json")).unwrap();
    for (d, why) in [
        (&no_manifest, "no manifest.json"),
        (&missing, "batch-00002.json, named in manifest.json, is missing"),
        (&edited, "batch-00001.json does not match"),
        (&extra, "batch-00004.json is not named in manifest.json"),
    ] {
        let out = d.with_extension("out");
        let (code, err) = upload_offline(d, &out);
        assert_eq!(code, 2, "{}: {err}", d.display());
        assert!(err.contains(why) && err.contains("interrupted or failed `iys batch`"), "{}: {err}", d.display());
        assert!(!out.join("plan.json").exists() && !out.join("upload.journal").exists(), "{}", d.display());
    }
}
