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

use crate::{npm, setup, worker, www};

/// Where `wrangler dev` keeps D1, Queues and Durable Objects between runs (gitignored).
const STATE_DIR: &str = ".wrangler/dev-state";
/// The relay's default port.
pub const RELAY_PORT: u16 = 8787;
/// The sim's default integrator account (crates/iys-sim/accounts.default.toml).
const IYS_USERNAME: &str = "integrator";
const IYS_PASSWORD: &str = "integrator-pass";
/// The demo provider's scope: service provider 600001, brands 600001 and 600002.
const DEMO_SCOPE: &str = r#""name":"demo","scopes":[{"iysCode":600001,"brands":[600001,600002],"types":["ARAMA","MESAJ","EPOSTA"]}],"mode":"normalize","rate":20,"burst":40"#;

/// Kills its process when dropped, so every exit path stops the children.
struct Guard(Child, &'static str);

impl Drop for Guard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            eprintln!("stopping {}", self.1);
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
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
    println!("                          scope: iysCode 600001, brands 600001 and 600002; the sign-up form posts as it");
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
