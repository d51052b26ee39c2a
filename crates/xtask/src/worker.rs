//! Building the Worker (`crates/iys-worker`) with `worker-build`, offline.
//!
//! `worker-build` would download wasm-bindgen and wasm-opt from GitHub (unreachable here): we point it
//! at the cargo-installed wasm-bindgen (`WASM_BINDGEN_BIN`) and the crate sets
//! `[package.metadata.wasm-pack.profile.release] wasm-opt = false`. esbuild comes from the npm
//! registry, which works. wrangler runs on Node 22 from `node_modules/.bin` and must not phone home.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn cargo_bin() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_default();
    home.join("bin")
}

/// Variables every worker-build / wrangler call needs (build, `wrangler dev`, d1 migrations, tests).
/// `PATH` puts `node_modules/.bin` (Node 22, wrangler) and `~/.cargo/bin` first.
pub fn env(root: &Path) -> Vec<(String, String)> {
    let bin = cargo_bin();
    let mut path = root.join("node_modules").join(".bin").into_os_string();
    path.push(":");
    path.push(bin.as_os_str());
    if let Some(p) = std::env::var_os("PATH") {
        path.push(":");
        path.push(p);
    }
    vec![
        ("PATH".into(), path.to_string_lossy().into_owned()),
        ("WASM_BINDGEN_BIN".into(), bin.join("wasm-bindgen").to_string_lossy().into_owned()),
        ("WRANGLER_SEND_METRICS".into(), "false".into()),
        ("WRANGLER_SEND_ERROR_REPORTS".into(), "false".into()),
        ("CLOUDFLARE_CF_FETCH_ENABLED".into(), "false".into()),
    ]
}

/// Variables to remove for every wrangler call (no accidental remote calls with an account).
pub const UNSET: [&str; 3] = ["CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_API_KEY"];

/// A `Command` for `program` with [`env`] set and [`UNSET`] removed.
pub fn command(root: &Path, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.envs(env(root));
    for k in UNSET {
        cmd.env_remove(k);
    }
    cmd
}

/// `worker-build --release` in `crates/iys-worker` → `crates/iys-worker/build/{index.js, index_bg.wasm}`.
pub fn build(root: &Path) -> Result<(), String> {
    build_in(root, &root.join("crates").join("iys-worker"))
}

/// `worker-build --release` in the Worker crate `dir` → `dir/build/{index.js, index_bg.wasm}` (the
/// relay, or the bench's Rust proxy).
pub fn build_in(root: &Path, dir: &Path) -> Result<(), String> {
    let started = Instant::now();
    let program = cargo_bin().join("worker-build");
    let shown = dir.strip_prefix(root).unwrap_or(dir).display();
    eprintln!("$ worker-build --release   (in {shown})");
    let mut cmd = command(root, &program);
    cmd.arg("--release").current_dir(dir);
    let status = cmd.status().map_err(|e| {
        format!("cannot start {}: {e} (cargo install --locked worker-build --version 0.8.7)", program.display())
    })?;
    eprintln!("  ({:.1} s)", started.elapsed().as_secs_f64());
    if !status.success() {
        return Err(format!("worker-build failed in {shown} ({status})"));
    }
    let wasm = dir.join("build").join("index_bg.wasm");
    match std::fs::metadata(&wasm) {
        Ok(m) => {
            eprintln!("  worker wasm: {} bytes", m.len());
            Ok(())
        }
        Err(e) => Err(format!("worker-build produced no {}: {e}", wasm.display())),
    }
}
