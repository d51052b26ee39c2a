//! The Worker section of `cargo xtask bench` (also alone: `cargo xtask bench worker`).
//!
//! 1. **Throughput.** iys-sim (release) as IYS, then two `wrangler dev` (same wrangler, same
//!    workerd binary, local mode, 127.0.0.1): the relay (root `wrangler.toml`) and a pass-through
//!    proxy Worker (`crates/iys-worker/bench/proxy/`, a few lines of JS that forward every request
//!    to the sim). A bounded load client (threads × blocking HTTP/1.1, `Connection: close`, a
//!    fixed duration) sends the same single add — `POST /sps/600001/brands/600001/consents`, a
//!    fresh phone number each time — to the relay (relay token) and to the proxy (the sim's own
//!    token), alternating phases; requests/s = 2xx answers / phase seconds, median of the rounds.
//!    Each phase also takes the CPU (user + system, /proc) of every workerd process of that
//!    `wrangler dev` and divides it by the 2xx answers: workerd CPU per answered request, which
//!    moves much less with the machine's other load than requests/s do.
//! 2. **Validation CPU.** `bench/validate.mjs`: iys-core's batch validation built the way the
//!    Worker is (profile `release`, wasm32), called from Node 22 (V8) through iys-wasm's raw
//!    `input`/`batch` exports, 1000-item batch, `process.cpuUsage` per call, median of 200 calls
//!    after a warm-up.
//!
//! Writes its rows between markers in `docs/benchmarks.md`, leaving the other sections as they are.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Seconds of one load phase.
const PHASE_SECS: u64 = 5;
/// Alternating rounds (relay, proxy) per run.
const ROUNDS: usize = 3;
/// Concurrent connections of the load client.
const CONCURRENCY: usize = 8;
/// Target: relay requests/s ≥ this × the proxy's.
pub const TARGET_RATIO: f64 = 0.8;
/// Target: CPU to validate a 1000-item batch, ms.
pub const TARGET_VALIDATE_MS: f64 = 2.0;
const ADMIN: &str = "bench-admin-secret-0123456789";
const START: &str = "<!-- bench:worker:start -->";
const END: &str = "<!-- bench:worker:end -->";

/// One Worker's phases: requests/s and workerd CPU per answer, a value per round.
#[derive(Debug, Default)]
struct Series {
    rps: Vec<f64>,
    /// workerd CPU (user + system, every workerd process of that `wrangler dev`) per 2xx answer, ms.
    cpu_ms: Vec<f64>,
    /// Non-2xx answers and failed requests.
    errors: u64,
}

impl Series {
    fn rps(&self) -> f64 {
        median(&self.rps)
    }
    fn cpu(&self) -> f64 {
        median(&self.cpu_ms)
    }
    fn rounds(&self) -> String {
        self.rps.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(", ")
    }
    fn cpu_rounds(&self) -> String {
        self.cpu_ms.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(", ")
    }
}

/// The figures of one run.
#[derive(Debug, Default)]
pub struct WorkerFigures {
    relay: Series,
    /// The JS pass-through proxy: the target's peer.
    proxy: Series,
    /// The same proxy in Rust (workers-rs, worker-build): what the relay's runtime costs alone.
    proxy_rs: Series,
    validate: Vec<(String, String)>,
    load: String,
}

/// A process group killed on drop.
struct Group(Child);

impl Group {
    fn spawn(mut cmd: Command) -> Result<Group, String> {
        cmd.process_group(0);
        cmd.spawn().map(Group).map_err(|e| format!("spawn {cmd:?}: {e}"))
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", "--", &format!("-{}", self.0.id())]).status();
        let _ = self.0.wait();
    }
}

/// CPU seconds (user + system) so far of every `workerd` process in the process group `pgid` (a
/// `wrangler dev` started by [`Group::spawn`]: its workerd processes stay in its group), from /proc.
fn workerd_cpu_s(pgid: u32) -> f64 {
    let tick = 100.0; // USER_HZ: the unit of utime/stime in /proc/<pid>/stat on Linux
    crate::procs::all()
        .iter()
        .filter(|p| p.comm == "workerd" && p.num(2) == u64::from(pgid))
        .map(|p| (p.num(11) + p.num(12)) as f64 / tick)
        .sum()
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).map_err(|e| e.to_string())
}

/// One HTTP/1.1 request (`Connection: close`); (status, body).
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

fn json_field(body: &str, key: &str) -> Option<String> {
    // Enough for the flat answers here (`"key":"value"`), and avoids a JSON dependency in xtask.
    let at = body.find(&format!("\"{key}\""))?;
    let rest = &body[at + key.len() + 2..];
    let start = rest.find('"')? + 1;
    let end = rest[start..].find('"')?;
    Some(rest[start..start + end].to_string())
}

/// Turkey's wall clock a minute ago (`YYYY-MM-DD HH:MM:SS`).
fn consent_date() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    iys_core::time::LocalDateTime::from_unix(now - 60).to_string()
}

fn wait_ready(addr: &str, log: &Path) -> Result<(), String> {
    let started = Instant::now();
    loop {
        if let Ok((s, _)) = http(addr, "GET", "/health", &[], "") {
            if s != 0 {
                return Ok(());
            }
        }
        if started.elapsed() > Duration::from_secs(90) {
            return Err(format!(
                "wrangler dev did not answer in 90 s:\n{}",
                fs::read_to_string(log).unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn wrangler_dev(
    root: &Path,
    config: Option<&Path>,
    port: u16,
    state: &Path,
    vars: &[String],
    log: &Path,
) -> Result<Group, String> {
    let logf = fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut cmd = crate::worker::command(root, root.join("node_modules/.bin/wrangler"));
    cmd.arg("dev");
    if let Some(c) = config {
        cmd.arg("-c").arg(c);
    }
    cmd.args(["--local", "--ip", "127.0.0.1", "--port", &port.to_string(), "--inspector-port", "0"])
        .args(["--show-interactive-dev-session=false", "--log-level", "warn", "--persist-to"])
        .arg(state);
    for v in vars {
        cmd.args(["--var", v]);
    }
    cmd.current_dir(root).stdin(Stdio::null()).stdout(logf.try_clone().map_err(|e| e.to_string())?).stderr(logf);
    Group::spawn(cmd)
}

/// Sends single adds to `addr` with `token` for `secs` from `CONCURRENCY` threads: (2xx, others).
fn load(addr: &str, token: &str, secs: u64, phones: &Arc<AtomicU64>) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let date = consent_date();
    let threads: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (addr, auth, date, phones) = (addr.to_string(), format!("Bearer {token}"), date.clone(), phones.clone());
            std::thread::spawn(move || {
                let (mut ok, mut bad) = (0u64, 0u64);
                while Instant::now() < deadline {
                    let n = phones.fetch_add(1, Ordering::Relaxed);
                    let body = format!(
                        "{{\"recipient\":\"+90532{n:07}\",\"recipientType\":\"BIREYSEL\",\"type\":\"MESAJ\",\"status\":\"ONAY\",\"source\":\"HS_WEB\",\"consentDate\":\"{date}\"}}"
                    );
                    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
                    match http(&addr, "POST", "/sps/600001/brands/600001/consents", &headers, &body) {
                        Ok((s, _)) if (200..300).contains(&s) => ok += 1,
                        _ => bad += 1,
                    }
                }
                (ok, bad)
            })
        })
        .collect();
    threads.into_iter().filter_map(|t| t.join().ok()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

fn throughput(root: &Path, dir: &Path, f: &mut WorkerFigures) -> Result<(), String> {
    crate::worker::build(root)?;
    let proxy_rs_dir = root.join("crates/iys-worker/bench/proxy-rs");
    crate::worker::build_in(root, &proxy_rs_dir)?;
    super::exec(super::cargo().current_dir(root).args([
        "build",
        "--release",
        "-q",
        "-p",
        "iys-sim",
        "--bin",
        "iys-sim",
    ]))?;
    let mut sim_cmd = Command::new(root.join("target/release/iys-sim"));
    sim_cmd.args(["--port", "0", "--quiet"]).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut sim = Group::spawn(sim_cmd)?;
    let mut line = String::new();
    let out = sim.0.stdout.take().ok_or("sim stdout")?;
    BufReader::new(out).read_line(&mut line).map_err(|e| e.to_string())?;
    let sim_addr = line.trim().to_string();
    if !sim_addr.starts_with("127.0.0.1:") {
        return Err(format!("iys-sim printed {line:?}"));
    }
    // No sim-side per-second limit: the client, not H124, must be what bounds both runs.
    http(
        &sim_addr,
        "POST",
        "/__sim/limits",
        &[("Content-Type", "application/json")],
        "{\"requestsPerSecond\":1000000,\"tokensPerHour\":1000}",
    )
    .map_err(|e| e.to_string())?;

    let state = dir.join("worker-state");
    let _ = fs::remove_dir_all(&state);
    fs::create_dir_all(&state).map_err(|e| e.to_string())?;
    let wrangler = root.join("node_modules/.bin/wrangler");
    let st = crate::worker::command(root, &wrangler)
        .args(["d1", "migrations", "apply", "iys-edge", "--local", "--persist-to"])
        .arg(&state)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    if !st.success() {
        return Err("d1 migrations apply failed".into());
    }
    let (rp, pp, qp) = (free_port()?, free_port()?, free_port()?);
    let relay_vars = vec![
        format!("IYS_BASE_URL:http://{sim_addr}"),
        format!("ADMIN_SECRET:{ADMIN}"),
        "IYS_USERNAME:integrator".into(),
        "IYS_PASSWORD:integrator-pass".into(),
        "IYS_MAX_RPS:100000".into(),
    ];
    let relay_log = dir.join("relay.log");
    let relay_group = wrangler_dev(root, None, rp, &state, &relay_vars, &relay_log)?;
    let proxy_log = dir.join("proxy.log");
    let proxy_cfg = root.join("crates/iys-worker/bench/proxy/wrangler.toml");
    let proxy_group = wrangler_dev(
        root,
        Some(&proxy_cfg),
        pp,
        &state.join("proxy"),
        &[format!("UPSTREAM:http://{sim_addr}")],
        &proxy_log,
    )?;
    let proxy_rs_log = dir.join("proxy-rs.log");
    let proxy_rs_group = wrangler_dev(
        root,
        Some(&proxy_rs_dir.join("wrangler.toml")),
        qp,
        &state.join("proxy-rs"),
        &[format!("UPSTREAM:http://{sim_addr}")],
        &proxy_rs_log,
    )?;
    let (relay, proxy, proxy_rs) = (format!("127.0.0.1:{rp}"), format!("127.0.0.1:{pp}"), format!("127.0.0.1:{qp}"));
    wait_ready(&relay, &relay_log)?;
    wait_ready(&proxy, &proxy_log)?;
    wait_ready(&proxy_rs, &proxy_rs_log)?;

    // A provider without a practical limit, its relay token, and the sim's own token for the proxy.
    let json = [("Content-Type", "application/json"), ("Authorization", &format!("Bearer {ADMIN}"))];
    let body = "{\"name\":\"bench\",\"rate\":1000000,\"burst\":1000000,\"scopes\":[{\"iysCode\":600001,\"brands\":[600001],\"types\":[\"MESAJ\"]}]}";
    let (s, created) = http(&relay, "POST", "/admin/providers", &json, body).map_err(|e| e.to_string())?;
    let (Some(user), Some(pass)) = (json_field(&created, "username"), json_field(&created, "password")) else {
        return Err(format!("admin create provider: {s}"));
    };
    let grant = |u: &str, p: &str| format!("{{\"grant_type\":\"password\",\"username\":\"{u}\",\"password\":\"{p}\"}}");
    let ct = [("Content-Type", "application/json")];
    let (_, t) = http(&relay, "POST", "/oauth2/token", &ct, &grant(&user, &pass)).map_err(|e| e.to_string())?;
    let relay_token = json_field(&t, "access_token").ok_or("no relay token")?;
    let (_, t) = http(&sim_addr, "POST", "/oauth2/token", &ct, &grant("integrator", "integrator-pass"))
        .map_err(|e| e.to_string())?;
    let sim_token = json_field(&t, "access_token").ok_or("no sim token")?;

    let phones = Arc::new(AtomicU64::new(1_000_000));
    // Warm-up (compiles the wasm, fills the token caches), not counted.
    load(&relay, &relay_token, 1, &phones);
    load(&proxy, &sim_token, 1, &phones);
    load(&proxy_rs, &sim_token, 1, &phones);
    for round in 0..ROUNDS {
        for (name, addr, token, group) in [
            ("relay", &relay, &relay_token, &relay_group),
            ("proxy", &proxy, &sim_token, &proxy_group),
            ("proxy-rs", &proxy_rs, &sim_token, &proxy_rs_group),
        ] {
            let cpu0 = workerd_cpu_s(group.0.id());
            let (ok, bad) = load(addr, token, PHASE_SECS, &phones);
            let cpu_ms = (workerd_cpu_s(group.0.id()) - cpu0) * 1000.0 / ok.max(1) as f64;
            let rps = ok as f64 / PHASE_SECS as f64;
            eprintln!(
                "  round {} {name}: {ok} ok, {bad} other in {PHASE_SECS} s = {rps:.0} req/s, workerd {cpu_ms:.2} ms CPU each",
                round + 1
            );
            let series = match name {
                "relay" => &mut f.relay,
                "proxy" => &mut f.proxy,
                _ => &mut f.proxy_rs,
            };
            series.rps.push(rps);
            series.cpu_ms.push(cpu_ms);
            series.errors += bad;
        }
    }
    Ok(())
}

fn validate_cpu(root: &Path, dir: &Path, f: &mut WorkerFigures) -> Result<(), String> {
    // The Worker is built by `worker-build --release`: cargo's `release` profile (opt-level 3, LTO,
    // one codegen unit, panic=abort). Build iys-wasm the same way.
    let target = root.join("target").join("wasm");
    super::exec(super::cargo().current_dir(root).env("CARGO_TARGET_DIR", &target).args([
        "build",
        "--release",
        "-q",
        "--target",
        "wasm32-unknown-unknown",
        "-p",
        "iys-wasm",
    ]))?;
    let wasm = target.join("wasm32-unknown-unknown/release/iys_wasm.wasm");
    let out = dir.join("worker-wasm");
    let bindgen = std::env::var_os("WASM_BINDGEN_BIN").map(PathBuf::from).unwrap_or_else(|| {
        crate::worker::env(root)
            .into_iter()
            .find(|(k, _)| k == "WASM_BINDGEN_BIN")
            .map(|(_, v)| v.into())
            .unwrap_or_default()
    });
    super::exec(
        Command::new(bindgen)
            .args(["--target", "web", "--out-name", "iys_wasm", "--no-typescript", "--out-dir"])
            .arg(&out)
            .arg(&wasm),
    )?;
    let tsv = dir.join("worker-validate.tsv");
    super::exec(
        Command::new(root.join("node_modules/.bin/node"))
            .arg(root.join("crates/iys-worker/bench/validate.mjs"))
            .arg(&out)
            .arg(&tsv),
    )?;
    for l in fs::read_to_string(&tsv).map_err(|e| e.to_string())?.lines() {
        if let Some((k, v)) = l.split_once('\t') {
            f.validate.push((k.to_string(), v.to_string()));
        }
    }
    Ok(())
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Runs both measurements and writes the section into `docs/benchmarks.md`.
pub fn run(root: &Path) -> Result<(), String> {
    let dir = root.join("target").join("bench");
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut f = WorkerFigures::default();
    let load0 = super::loadavg();
    throughput(root, &dir, &mut f)?;
    validate_cpu(root, &dir, &mut f)?;
    f.load = format!("{load0} → {}", super::loadavg());
    let section = section(&f);
    println!("{section}");
    let path = root.join("docs").join("benchmarks.md");
    let current = fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".into());
    fs::write(&path, splice(&current, &section)).map_err(|e| format!("write {}: {e}", path.display()))?;
    eprintln!("wrote the Worker section of {}", path.display());
    Ok(())
}

/// `doc` with the Worker section replaced (or put before `## How it is measured`, else appended).
pub fn splice(doc: &str, section: &str) -> String {
    let block = format!("{START}\n{section}{END}\n");
    if let (Some(a), Some(b)) = (doc.find(START), doc.find(END)) {
        let end = b + END.len() + usize::from(doc[b + END.len()..].starts_with('\n'));
        return format!("{}{block}{}", &doc[..a], &doc[end..]);
    }
    match doc.find("## How it is measured") {
        Some(i) => format!("{}{block}\n{}", &doc[..i], &doc[i..]),
        None => format!("{}\n{block}", doc.trim_end()),
    }
}

fn section(f: &WorkerFigures) -> String {
    let (r, p, q) = (f.relay.rps(), f.proxy.rps(), f.proxy_rs.rps());
    let over = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let ratio = over(r, p);
    let v = |k: &str| f.validate.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.clone()).unwrap_or_else(|| "?".into());
    let vmed: f64 = v("worker_validate_median_ms").parse().unwrap_or(f64::NAN);
    let met = |b: bool| if b { "met" } else { "**missed**" };
    let mut s = String::new();
    s.push_str("## Relay Worker (workerd via `wrangler dev`)\n\n");
    s.push_str("| figure | value | target |\n|---|---:|---|\n");
    s.push_str(&format!("| relay, single add, requests/s (median of {ROUNDS}) | {r:.0} | |\n"));
    s.push_str(&format!("| pass-through proxy Worker (JS), same request, requests/s | {p:.0} | |\n"));
    s.push_str(&format!("| relay / proxy | {ratio:.2}× | ≥ {TARGET_RATIO}× — {} |\n", met(ratio >= TARGET_RATIO)));
    let (rc, pc, qc) = (f.relay.cpu(), f.proxy.cpu(), f.proxy_rs.cpu());
    s.push_str(&format!(
        "| workerd CPU per answered request (median of {ROUNDS}): relay / proxy | {rc:.2} / {pc:.2} ms ({:.2}×) | |\n",
        over(pc, rc)
    ));
    s.push_str(&format!(
        "| the same proxy in Rust (workers-rs, worker-build; context): requests/s, workerd CPU per request | {q:.0}, {qc:.2} ms | |\n"
    ));
    s.push_str(&format!(
        "| … its ratio to the JS proxy (what the Rust runtime costs a Worker that only forwards; context) | {:.2}× requests/s, {:.2}× by CPU | |\n",
        over(q, p),
        over(pc, qc)
    ));
    s.push_str(&format!(
        "| relay / Rust proxy (what the relay's own work costs; context) | {:.2}× requests/s, {:.2}× by CPU | |\n",
        over(r, q),
        over(qc, rc)
    ));
    s.push_str(&format!(
        "| CPU to validate a 1000-item batch (median, p90 {} ms, mean {} ms) | {} ms | ≤ {TARGET_VALIDATE_MS} ms — {} |\n\n",
        v("worker_validate_p90_ms"),
        v("worker_validate_mean_ms"),
        v("worker_validate_median_ms"),
        met(vmed <= TARGET_VALIDATE_MS)
    ));
    s.push_str(&format!(
        "Rounds (req/s): relay {}; proxy {}; Rust proxy {}. workerd CPU per answered request (ms): relay {}; \
         proxy {}; Rust proxy {}. Non-2xx or failed: relay {}, proxy {}, Rust proxy {}. Load average {}.\n\n",
        f.relay.rounds(),
        f.proxy.rounds(),
        f.proxy_rs.rounds(),
        f.relay.cpu_rounds(),
        f.proxy.cpu_rounds(),
        f.proxy_rs.cpu_rounds(),
        f.relay.errors,
        f.proxy.errors,
        f.proxy_rs.errors,
        f.load
    ));
    s.push_str(&format!(
        "How: iys-sim (release) is IYS. The relay, a pass-through proxy Worker \
         (`crates/iys-worker/bench/proxy/`, JS, forwards each request to the sim unchanged) and the same \
         proxy written with workers-rs (`crates/iys-worker/bench/proxy-rs/`, built by worker-build like \
         the relay) each run under their own `wrangler dev --local` (same wrangler and workerd binary) on \
         127.0.0.1. A load client in xtask ({CONCURRENCY} threads, blocking HTTP/1.1, `Connection: close`) \
         sends the same single add (`POST /sps/600001/brands/600001/consents`, a fresh phone each time) \
         for {PHASE_SECS} s to the relay, then {PHASE_SECS} s to each proxy, {ROUNDS} rounds, after a 1 s \
         warm-up each; requests/s counts 2xx answers. The relay does its whole path per request (the signed relay \
         token checked in the isolate; one call to the provider's limiter Durable Object, which holds \
         the provider's row and both authorises and admits; iys-core validation; a send slot from the \
         isolate's lease of governor slots, the governor object asked once per lease; the IYS token from \
         the isolate's copy, the holder object only near expiry; the upstream call; the inbound and \
         upstream ledger rows handed from `waitUntil` to the ledger writer object, in one call shared \
         with the isolate's other pending appends, and committed to D1 before the isolate is \
         released); the proxies only forward. The load client, the three \
         workerd processes and the sim share this machine's {} cores with other work, so the figures are \
         relative, not capacity. The CPU row is the user + system CPU of every workerd process of that \
         `wrangler dev` (its own and wrangler's proxy in front of it; from /proc) during each phase, divided by \
         the 2xx answers: it moves far less with the machine's other load than requests/s do, and its \
         ratio (proxy / relay) is what the relay / proxy requests/s would be if workerd's CPU were all \
         that bound both.\n\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    ));
    s.push_str(
        "Validation CPU: the Worker's own `index_bg.wasm` cannot run outside workerd, and timers inside a \
         Worker are coarsened, so the same code is measured outside it: iys-core's batch validation \
         (`iys-wasm`'s `batch` export, called as its npm glue calls it: the JSON text written into the \
         input buffer with `encodeInto`, parsed, 1000 consents validated in strict mode with the \
         3-business-day window, the answer written in iys-wasm's word format) compiled with the Worker's \
         profile (`cargo build --release`, opt-level 3, LTO, panic=abort, wasm32-unknown-unknown), run in \
         Node 22 (V8, the engine workerd embeds) by `crates/iys-worker/bench/validate.mjs`: 20 warm-up calls, then 200 calls each timed \
         with `process.cpuUsage` (user + system CPU). Differences from the Worker: iys-wasm is `no_std` \
         with a bump allocator (the Worker uses std's allocator and also copies the body across the JS \
         boundary), so this is the validation's cost, not the request's.\n\n",
    );
    s
}
