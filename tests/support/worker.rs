//! Test support for the Worker suite: iys-sim on a free port, D1 migrations into a temp
//! `--persist-to` dir, `wrangler dev` (real workerd, local D1/Queues/DOs) pointed at the sim, a tiny
//! HTTP/1.1 client, and cleanup of the whole process group when the test binary exits.

#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The admin secret the fixtures use.
pub const ADMIN: &str = "test-admin-secret-0123456789";

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn cargo_bin() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_default()
        .join("bin")
}

/// The environment every wrangler / worker-build call gets (same as `xtask::worker::env`).
pub fn tool_env() -> Vec<(String, String)> {
    let root = root();
    let path = format!(
        "{}:{}:{}",
        root.join("node_modules/.bin").display(),
        cargo_bin().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    vec![
        ("PATH".into(), path),
        ("WASM_BINDGEN_BIN".into(), cargo_bin().join("wasm-bindgen").display().to_string()),
        ("WRANGLER_SEND_METRICS".into(), "false".into()),
        ("WRANGLER_SEND_ERROR_REPORTS".into(), "false".into()),
        ("CLOUDFLARE_CF_FETCH_ENABLED".into(), "false".into()),
        ("NO_COLOR".into(), "1".into()),
        ("CI".into(), "1".into()),
    ]
}

fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    for (k, v) in tool_env() {
        c.env(k, v);
    }
    for k in ["CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_API_KEY"] {
        c.env_remove(k);
    }
    c
}

fn newest_mtime(dir: &Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        let t = if p.is_dir() { newest_mtime(&p) } else { e.metadata().ok()?.modified().ok() };
        newest = newest.max(t);
    }
    newest
}

/// Builds the worker with worker-build when the build is missing or older than the sources, once per
/// test process (a rebuild under a running `wrangler dev` would reload it mid-test).
pub fn ensure_worker_built() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(build_if_stale);
}

fn build_if_stale() {
    let crate_dir = root().join("crates/iys-worker");
    let wasm = crate_dir.join("build/index_bg.wasm");
    let built = std::fs::metadata(&wasm).and_then(|m| m.modified()).ok();
    let src = [crate_dir.join("src"), root().join("crates/iys-core/src")].iter().filter_map(|d| newest_mtime(d)).max();
    if built.is_some() && built >= src {
        return;
    }
    let status = command(cargo_bin().join("worker-build"))
        .arg("--release")
        .current_dir(&crate_dir)
        .status()
        .expect("worker-build runs (cargo install --locked worker-build --version 0.8.7)");
    assert!(status.success(), "worker-build failed");
}

/// A binary of the workspace, built (debug) with cargo if needed.
fn workspace_binary(package: &str, bin: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", package, "--bin", bin])
        .current_dir(root())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build -p {package} failed");
    target.join("debug").join(bin)
}

/// The iys-sim binary (built with cargo if needed).
pub fn sim_binary() -> PathBuf {
    workspace_binary("iys-sim", "iys-sim")
}

/// The `iys` CLI binary (built with cargo if needed).
pub fn cli_binary() -> PathBuf {
    workspace_binary("iys-cli", "iys")
}

/// `iys upload --relay <relay> --user <user> --json --out <out> <extra…> <input>` with the password
/// in `IYS_PASSWORD`: (exit code, stdout, stderr).
pub fn upload(
    relay: &str,
    user: &str,
    password: &str,
    extra: &[&str],
    out: &Path,
    input: &Path,
) -> (Option<i32>, String, String) {
    let run = Command::new(cli_binary())
        .args(["upload", "--relay", relay, "--user", user, "--json"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .arg(input)
        .env("IYS_PASSWORD", password)
        .output()
        .expect("iys runs");
    (
        run.status.code(),
        String::from_utf8_lossy(&run.stdout).into_owned(),
        String::from_utf8_lossy(&run.stderr).into_owned(),
    )
}

/// A port nothing listens on right now, on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A process group that is killed on drop, and also when the test binary exits (a reaper watches
/// this process, because a `static` fixture is never dropped).
pub struct Group {
    child: Child,
}

impl Group {
    /// Spawns `cmd` in a new process group; when this test process exits, a reaper kills the group
    /// and removes `cleanup` (the state dir), if given.
    fn spawn(mut cmd: Command, cleanup: Option<&Path>) -> Group {
        cmd.process_group(0);
        let child = cmd.spawn().expect("spawn");
        let pgid = child.id();
        let me = std::process::id();
        let rm = cleanup.map(|d| format!("; rm -rf '{}'", d.display())).unwrap_or_default();
        let script = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 0.3; done; kill -TERM -{pgid} 2>/dev/null; sleep 2; kill -KILL -{pgid} 2>/dev/null{rm}"
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        Group { child }
    }

    fn pgid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", "--", &format!("-{}", self.pgid())]).status();
        let _ = self.child.wait();
    }
}

/// Options for one relay instance.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Extra `--var NAME:value` for the worker.
    pub vars: Vec<(&'static str, String)>,
    /// Extra iys-sim flags.
    pub sim_args: Vec<String>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            vars: vec![
                ("SYNC_TIMEOUT_MS", "3000".into()),
                ("POLL_DELAY_S", "1".into()),
                ("RETRY_BASE_S", "1".into()),
                ("IYS_MAX_RPS", "50".into()),
            ],
            sim_args: vec!["--batch-delay-ms".into(), "300".into()],
        }
    }
}

/// iys-sim + wrangler dev with a fresh local state.
pub struct Relay {
    /// `http://127.0.0.1:<port>` of the worker.
    pub base: String,
    /// `http://127.0.0.1:<port>` of the sim.
    pub sim: String,
    /// The `--persist-to` dir (D1, DOs, queues).
    pub state: PathBuf,
    /// How long wrangler dev took to answer.
    pub startup: Duration,
    _sim: Group,
    _wrangler: Group,
    vars: Vec<(&'static str, String)>,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

impl Relay {
    /// Starts everything; panics with the output when something does not come up.
    pub fn start(opts: Opts) -> Relay {
        ensure_worker_built();
        let root = root();
        // The sim.
        let mut cmd = Command::new(sim_binary());
        cmd.args(["--port", "0", "--quiet"]).args(&opts.sim_args).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut sim = Group::spawn(cmd, None);
        let mut line = String::new();
        let out = sim.child.stdout.take().expect("sim stdout");
        BufReader::new(out).read_line(&mut line).expect("sim prints its address");
        let sim_addr = format!("http://{}", line.trim());
        assert!(line.trim().starts_with("127.0.0.1:"), "iys-sim printed {line:?}");

        // Local state and migrations.
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let state = std::env::temp_dir().join(format!("iys-worker-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        std::fs::create_dir_all(&state).expect("state dir");
        let wrangler = root.join("node_modules/.bin/wrangler");
        let out = command(&wrangler)
            .args(["d1", "migrations", "apply", "iys-edge", "--local", "--persist-to"])
            .arg(&state)
            .current_dir(&root)
            .stdin(Stdio::null())
            .output()
            .expect("wrangler runs");
        assert!(
            out.status.success(),
            "d1 migrations failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );

        // wrangler dev.
        let (base, wrangler, startup) = spawn_wrangler(&state, &sim_addr, &opts.vars);
        Relay { base, sim: sim_addr, state, startup, _sim: sim, _wrangler: wrangler, vars: opts.vars }
    }

    /// Stops `wrangler dev` and starts it again on the same `--persist-to` dir (see
    /// [`Relay::kill_wrangler`], [`Relay::start_wrangler`]). `base` changes to the new port.
    pub fn restart(&mut self) {
        self.kill_wrangler();
        self.start_wrangler();
    }

    /// Kills `wrangler dev`'s whole process group with SIGKILL, as a crash would (in-flight requests
    /// and queue consumers are cut off), and waits until every process of it is gone. D1 and Durable
    /// Object state stay in the persist dir (local queue messages live in memory and are lost).
    pub fn kill_wrangler(&mut self) {
        let pgid = self._wrangler.pgid();
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pgid}")]).status();
        let _ = self._wrangler.child.wait();
        let gone = Instant::now();
        let alive = || {
            Command::new("kill")
                .args(["-0", "--", &format!("-{pgid}")])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        while alive() {
            assert!(gone.elapsed() < Duration::from_secs(20), "wrangler dev group {pgid} did not exit");
            std::thread::sleep(Duration::from_millis(100));
        }
        let old = std::fs::read_to_string(self.state.join("wrangler.log")).unwrap_or_default();
        let mut all = std::fs::read_to_string(self.state.join("wrangler.before-restart.log")).unwrap_or_default();
        all.push_str(&old);
        let _ = std::fs::write(self.state.join("wrangler.before-restart.log"), all);
    }

    /// Starts `wrangler dev` again over the same state (after [`Relay::kill_wrangler`]); `base`
    /// changes to the new port.
    pub fn start_wrangler(&mut self) {
        let (base, wrangler, startup) = spawn_wrangler(&self.state, &self.sim, &self.vars);
        // The old group is dead and reaped; dropping it sends a TERM to nobody.
        self._wrangler = wrangler;
        self.base = base;
        self.startup = startup;
    }

    /// The wrangler dev log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.state.join("wrangler.log")).unwrap_or_default()
    }

    /// Runs SQL against the local D1 (outside the worker, like an attacker with database access).
    /// The worker holds the same SQLite file open, so `wrangler d1 execute` now and then finds it
    /// busy and fails without a word on stderr; a failed statement changed nothing, so it is run
    /// again, up to five times.
    pub fn d1(&self, sql: &str) -> Value {
        let mut last = String::new();
        for attempt in 0..5u64 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(200 * attempt));
            }
            let out = command(root().join("node_modules/.bin/wrangler"))
                .args(["d1", "execute", "iys-edge", "--local", "--json", "--persist-to"])
                .arg(&self.state)
                .args(["--command", sql])
                .current_dir(root())
                .stdin(Stdio::null())
                .output()
                .expect("wrangler runs");
            if out.status.success() {
                return serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            }
            last = format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
        }
        panic!("d1 execute failed 5 times: {last}")
    }

    /// A request to the worker.
    pub fn req(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Resp {
        request(method, &format!("{}{path}", self.base), headers, body)
    }

    /// A new provider (`POST /admin/providers` with `body`, which must answer 201): (id, username,
    /// password).
    pub fn create_provider(&self, body: &Value) -> (String, String, String) {
        let c = self.admin("POST", "/admin/providers", Some(body));
        assert_eq!(c.status, 201, "{}", c.body);
        let c = c.json();
        let field = |k: &str| c[k].as_str().unwrap_or_default().to_string();
        (field("id"), field("username"), field("password"))
    }

    /// An admin request.
    pub fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        let auth = format!("Bearer {ADMIN}");
        let b = body.map(Value::to_string);
        self.req(method, path, &[("Authorization", &auth), ("Content-Type", "application/json")], b.as_deref())
    }

    /// A request to the sim.
    pub fn sim(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        let b = body.map(Value::to_string);
        request(method, &format!("{}{path}", self.sim), &[("Content-Type", "application/json")], b.as_deref())
    }
}

/// Starts `wrangler dev` on a free port over `state` (migrated already), pointed at the sim;
/// waits until `/health` answers.
fn spawn_wrangler(state: &Path, sim_addr: &str, vars: &[(&'static str, String)]) -> (String, Group, Duration) {
    let root = root();
    let wrangler = root.join("node_modules/.bin/wrangler");
    let port = free_port();
    let log = state.join("wrangler.log");
    let logf = std::fs::File::create(&log).expect("log file");
    let mut cmd = command(&wrangler);
    cmd.args(["dev", "--local", "--ip", "127.0.0.1", "--port", &port.to_string(), "--inspector-port", "0"])
        .args(["--show-interactive-dev-session=false", "--test-scheduled", "--log-level", "info", "--persist-to"])
        .arg(state)
        .args(["--var", &format!("IYS_BASE_URL:{sim_addr}")])
        .args(["--var", &format!("ADMIN_SECRET:{ADMIN}")])
        .args(["--var", "IYS_USERNAME:integrator", "--var", "IYS_PASSWORD:integrator-pass"]);
    for (k, v) in vars {
        cmd.args(["--var", &format!("{k}:{v}")]);
    }
    cmd.current_dir(&root).stdin(Stdio::null()).stdout(logf.try_clone().expect("log")).stderr(logf);
    let started = Instant::now();
    let wrangler = Group::spawn(cmd, Some(state));
    let base = format!("http://127.0.0.1:{port}");
    loop {
        if let Ok(r) = try_request("GET", &format!("{base}/health"), &[], None) {
            if r.status == 200 {
                break;
            }
        }
        if started.elapsed() > Duration::from_secs(90) {
            panic!("wrangler dev did not answer in 90 s:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let startup = started.elapsed();
    eprintln!("wrangler dev answered after {:.2} s ({base}, sim {sim_addr})", startup.as_secs_f64());
    (base, wrangler, startup)
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers (names lower-cased).
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: String,
}

impl Resp {
    /// The body as JSON (Null when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// A header.
    pub fn header(&self, name: &str) -> Option<&str> {
        let n = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str())
    }
}

/// Sends one request (HTTP/1.1, `Connection: close`); panics on transport errors.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Resp {
    try_request(method, url, headers, body).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// Sends one request; transport errors as `Err`.
pub fn try_request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> std::io::Result<Resp> {
    let rest = url.strip_prefix("http://").ok_or_else(|| std::io::Error::other("http only"))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut s = TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let b = body.unwrap_or("");
    if body.is_some() || method == "POST" || method == "PUT" {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    req.push_str(b);
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    if headers.iter().any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked")) {
        body = dechunk(&body);
    }
    Ok(Resp { status, headers, body: String::from_utf8_lossy(&body).into_owned() })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&b[..nl]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16).unwrap_or(0);
        b = &b[nl + 2..];
        if size == 0 || b.len() < size {
            break;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[(size + 2).min(b.len())..];
    }
    out
}

/// Polls `f` every 200 ms until it returns `Some`, for at most `secs` seconds.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(secs), "timed out after {secs} s waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
