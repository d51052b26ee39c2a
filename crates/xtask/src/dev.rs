//! `cargo xtask dev`: the whole local setup from a fresh machine — builds, starts `iys-sim` with its
//! default accounts, applies the D1 migrations locally, runs `wrangler dev` (serving `www/`), seeds a
//! demo provider, prints the URL and the demo credentials, and stops everything on Ctrl-C.
//!
//! `--port N` moves the relay off 8787 and `--persist-to DIR` keeps its local D1, Queues and Durable
//! Objects somewhere other than `.wrangler/dev-state` (tests/dev.rs uses both).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// Where `wrangler dev` keeps D1, Queues and Durable Objects between runs (git-ignored; also where
// `cargo xtask backup` and `restore` look by default).
use crate::backup::DEV_STATE_DIR as STATE_DIR;
use crate::{npm, setup, worker, www};

/// The relay's default port.
pub const RELAY_PORT: u16 = 8787;
/// The sim's default integrator account (crates/iys-sim/accounts.default.toml).
const IYS_USERNAME: &str = "integrator";
const IYS_PASSWORD: &str = "integrator-pass";
/// The demo provider's scope: service provider 600001, brand 600001 with every type and brand 600002
/// with calls and messages only (the sim's default accounts give the integrator no EPOSTA write on
/// 600002, so e-mail consents there would pass the relay and be refused by IYS with H353).
const DEMO_SCOPE: &str = r#""name":"demo","scopes":[{"iysCode":600001,"brands":[600001],"types":["ARAMA","MESAJ","EPOSTA"]},{"iysCode":600001,"brands":[600002],"types":["ARAMA","MESAJ"]}],"mode":"normalize","rate":20,"burst":40"#;
/// How long the relay waits before polling IYS for a batch's outcome. `wrangler.toml` says 30 s (IYS
/// settles batches in minutes); the sim settles them in `batch_delay_ms` (200 ms), so locally the
/// results show in seconds instead of half a minute.
const DEV_POLL_DELAY_S: &str = "2";

/// Kills its process and everything that process started when dropped, so every exit path stops the
/// children. (`node_modules/.bin/wrangler` is a wrapper that starts node, which starts workerd: a
/// SIGKILL to the wrapper alone would leave workerd holding the port. Ctrl-C needs none of this: it
/// reaches the whole foreground process group.)
struct Guard(Child, &'static str);

impl Drop for Guard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            eprintln!("stopping {}", self.1);
            // Found before the kill: once the wrapper is gone its children belong to init.
            let below = descendants(self.0.id());
            let _ = self.0.kill();
            if !below.is_empty() {
                let _ = Command::new("kill").arg("-KILL").args(below.iter().map(u32::to_string)).status();
            }
        }
        let _ = self.0.wait();
    }
}

/// Every process below `pid` (children, their children, …), from the parent ids in /proc (Linux;
/// elsewhere none are found and only the process itself is stopped).
fn descendants(pid: u32) -> Vec<u32> {
    let parent_of: Vec<(u32, u32)> = crate::procs::all().iter().map(|p| (p.pid, p.num(1) as u32)).collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let up = found[i];
        found.extend(parent_of.iter().filter(|&&(_, pp)| pp == up).map(|&(p, _)| p));
        i += 1;
    }
    found.remove(0);
    found
}

/// Runs everything until wrangler exits; `relay_port` for the relay, `persist` for its local state
/// (relative to the repository root unless absolute; default `.wrangler/dev-state`).
pub fn run(root: &Path, relay_port: u16, persist: Option<&Path>) -> Result<(), String> {
    setup::ensure(root, setup::Needs { wasm: true, worker: true, browser: false, npm: true })?;
    npm::build(root)?;
    www::copy_to_www(root)?;
    worker::build(root)?;
    let cargo = crate::cargo();
    crate::run(root, &cargo, &["build", "--quiet", "-p", "iys-sim", "--bin", "iys-sim"])?;

    let sim_bin = target_dir(root).join("debug/iys-sim");
    let mut sim = Command::new(&sim_bin)
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", sim_bin.display()))?;
    let mut first = String::new();
    if let Some(out) = sim.stdout.take() {
        let mut lines = BufReader::new(out);
        lines.read_line(&mut first).map_err(|e| format!("iys-sim: {e}"))?;
        // Keep draining the sim's stdout so it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
    }
    let sim = Guard(sim, "iys-sim");
    let sim_addr = first.trim().to_owned();
    if sim_addr.is_empty() {
        return Err("iys-sim printed no address".to_owned());
    }

    let state = root.join(persist.unwrap_or(Path::new(STATE_DIR)));
    let state_arg = state.to_string_lossy().into_owned();
    let wrangler = root.join("node_modules/.bin/wrangler");
    let status = worker::command(root, &wrangler)
        .args(["d1", "migrations", "apply", "iys-edge", "--local", "--persist-to", &state_arg])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot start wrangler: {e}"))?;
    if !status.success() {
        return Err("wrangler d1 migrations apply failed".to_owned());
    }

    let admin_secret = random_hex(16)?;
    // A fresh demo provider per run (its password is shown once); the sign-up page posts as it.
    let demo_id = format!("prv_demo_{}", random_hex(4)?);
    let port = relay_port.to_string();
    let vars = [
        format!("IYS_BASE_URL:http://{sim_addr}"),
        format!("IYS_USERNAME:{IYS_USERNAME}"),
        format!("IYS_PASSWORD:{IYS_PASSWORD}"),
        format!("ADMIN_SECRET:{admin_secret}"),
        format!("DEMO_PROVIDER:{demo_id}"),
        "DEMO_IYS_CODE:600001".to_owned(),
        "DEMO_BRAND_CODE:600001".to_owned(),
        format!("POLL_DELAY_S:{DEV_POLL_DELAY_S}"),
    ];
    let mut cmd = worker::command(root, &wrangler);
    cmd.args(["dev", "--local", "--ip", "127.0.0.1", "--port", &port, "--persist-to", &state_arg])
        .args(["--show-interactive-dev-session=false", "--test-scheduled"])
        .current_dir(root);
    for v in &vars {
        cmd.args(["--var", v]);
    }
    let relay = Guard(cmd.spawn().map_err(|e| format!("cannot start wrangler dev: {e}"))?, "wrangler dev");

    wait_until(Duration::from_secs(60), || {
        http("GET", relay_port, "/health", None, None).ok().filter(|(s, _)| *s == 200)
    })
    .ok_or("wrangler dev did not answer /health within 60 s")?;
    let seed = format!(r#"{{"id":"{demo_id}",{DEMO_SCOPE}}}"#);
    let (status, body) = http("POST", relay_port, "/admin/providers", Some(&admin_secret), Some(&seed))?;
    if status != 201 {
        return Err(format!("seeding the demo provider failed ({status}): {body}"));
    }
    let field = |name: &str| {
        body.split(&format!("\"{name}\":\"")).nth(1).and_then(|rest| rest.split('"').next()).unwrap_or("?").to_owned()
    };

    println!();
    println!("iys-edge is running.");
    println!("  relay + sign-up form:   http://127.0.0.1:{relay_port}/");
    println!("  payload playground:     http://127.0.0.1:{relay_port}/playground.html");
    println!("  local IYS (iys-sim):    http://{sim_addr}/  (inspect: /__sim/consents, /__sim/requests)");
    println!("  admin secret:           {admin_secret}");
    println!("  demo provider:          {demo_id}: username {}  password {}", field("username"), field("password"));
    println!("                          scope: iysCode 600001, brand 600001 (ARAMA, MESAJ, EPOSTA) and 600002 (ARAMA, MESAJ);");
    println!("                          the sign-up form posts as it");
    println!(
        "  try: curl -s http://127.0.0.1:{relay_port}/oauth2/token -H 'content-type: application/json' \\\n         -d '{{\"grant_type\":\"password\",\"username\":\"{}\",\"password\":\"{}\"}}'",
        field("username"),
        field("password")
    );
    println!("Ctrl-C stops everything.");

    // Ctrl-C reaches the whole foreground process group: wrangler exits, then the guards stop the rest.
    let mut relay = relay;
    let status = relay.0.wait().map_err(|e| format!("wrangler dev: {e}"))?;
    drop(sim);
    eprintln!("wrangler dev exited ({status})");
    Ok(())
}

fn target_dir(root: &Path) -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(Into::into).unwrap_or_else(|| root.join("target"))
}

fn random_hex(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn wait_until<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// A minimal HTTP/1.1 exchange with the relay on loopback: (status, body).
fn http(
    method: &str,
    port: u16,
    path: &str,
    bearer: Option<&str>,
    body: Option<&str>,
) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    let body = body.unwrap_or("");
    let auth = bearer.map(|t| format!("authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\ncontent-type: application/json\r\n{auth}content-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| format!("send: {e}"))?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).map_err(|e| format!("read: {e}"))?;
    let status = raw.split(' ').nth(1).and_then(|c| c.parse().ok()).ok_or("no HTTP status")?;
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::{descendants, Guard};
    use std::process::Command;
    use std::time::{Duration, Instant};

    fn alive(pid: u32) -> bool {
        // A killed child of ours that init has not reaped yet would still have a /proc entry: read
        // its state, `Z` is gone.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(')').map(|(_, rest)| !rest.trim_start().starts_with('Z')))
            .unwrap_or(false)
    }

    #[test]
    fn a_guard_stops_what_its_process_started() {
        // A wrapper that starts a grandchild and waits, as node_modules/.bin/wrangler starts node and
        // node starts workerd.
        let child = Command::new("sh").args(["-c", "sleep 30 & wait"]).spawn().expect("sh");
        let started = Instant::now();
        let mut below = descendants(child.id());
        while below.is_empty() && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
            below = descendants(child.id());
        }
        assert_eq!(below.len(), 1, "the shell's sleep is found below it");
        drop(Guard(child, "test"));
        let gone = Instant::now();
        while alive(below[0]) {
            assert!(gone.elapsed() < Duration::from_secs(5), "the grandchild outlived the guard");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
