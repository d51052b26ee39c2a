//! Installs what the build and tests need, idempotently, from package registries only:
//! the rustup target and components, cargo-installed tools at pinned versions, Debian packages,
//! and the npm dev-dependencies (`npm ci`). Each step checks first and does nothing when satisfied.

use std::path::Path;
use std::process::Command;

use crate::run;

/// The wasm-bindgen CLI version; it must equal the `wasm-bindgen = "=…"` pin (Cargo.lock).
pub const WASM_BINDGEN_VERSION: &str = "0.2.130";
/// worker-build, matching the `worker` crate 0.8.x.
pub const WORKER_BUILD_VERSION: &str = "0.8.7";

/// What a command needs installed.
#[derive(Clone, Copy, Debug)]
pub struct Needs {
    /// rustup target wasm32-unknown-unknown and wasm-bindgen-cli.
    pub wasm: bool,
    /// worker-build.
    pub worker: bool,
    /// Debian chromium (browser tests).
    pub browser: bool,
    /// `npm ci` at the root.
    pub npm: bool,
}

impl Needs {
    /// Everything `cargo xtask test` uses.
    pub fn all() -> Self {
        Needs { wasm: true, worker: true, browser: true, npm: true }
    }
}

/// Installs what `needs` asks for and is missing.
pub fn ensure(root: &Path, needs: Needs) -> Result<(), String> {
    rustup_components()?;
    if needs.wasm {
        rustup_target("wasm32-unknown-unknown")?;
        cargo_tool("wasm-bindgen", "wasm-bindgen-cli", WASM_BINDGEN_VERSION)?;
    }
    if needs.worker {
        cargo_tool("worker-build", "worker-build", WORKER_BUILD_VERSION)?;
    }
    if needs.browser {
        apt(&[("chromium", "chromium"), ("chromedriver", "chromium-driver")])?;
    }
    if needs.npm && root.join("package-lock.json").exists() {
        npm_ci(root)?;
    }
    Ok(())
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn rustup_components() -> Result<(), String> {
    let Some(installed) = output("rustup", &["component", "list", "--installed"]) else {
        return Ok(()); // no rustup: a toolchain installed some other way; cargo fmt/clippy will say if missing
    };
    for c in ["rustfmt", "clippy"] {
        if !installed.lines().any(|l| l.starts_with(c)) {
            run(Path::new("."), "rustup", &["component", "add", c])?;
        }
    }
    Ok(())
}

fn rustup_target(target: &str) -> Result<(), String> {
    let installed = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if installed.lines().any(|l| l.trim() == target) {
        return Ok(());
    }
    run(Path::new("."), "rustup", &["target", "add", target])
}

/// `cargo install` of `krate` at `version` unless `bin --version` already reports it.
pub(crate) fn cargo_tool(bin: &str, krate: &str, version: &str) -> Result<(), String> {
    if output(bin, &["--version"]).is_some_and(|v| v.contains(version)) {
        return Ok(());
    }
    let cargo = crate::cargo();
    // `--locked` first (reproducible); the registry mirror lacks some locked versions for
    // wasm-bindgen-cli, so fall back to a fresh resolution.
    run(Path::new("."), &cargo, &["install", "--locked", krate, "--version", version])
        .or_else(|_| run(Path::new("."), &cargo, &["install", krate, "--version", version]))
}

fn apt(pkgs: &[(&str, &str)]) -> Result<(), String> {
    let missing: Vec<&str> = pkgs
        .iter()
        .filter(|(bin, _)| output("sh", &["-c", &format!("command -v {bin}")]).is_none())
        .map(|p| p.1)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let env = [("DEBIAN_FRONTEND", "noninteractive")];
    crate::run_env(Path::new("."), "apt-get", &["update", "-q"], &env)?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(missing);
    crate::run_env(Path::new("."), "apt-get", &args, &env)
}

fn npm_ci(root: &Path) -> Result<(), String> {
    // npm writes node_modules/.package-lock.json on every install: newer than the lock means up to date.
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(lock), Some(installed)) =
        (modified(&root.join("package-lock.json")), modified(&root.join("node_modules/.package-lock.json")))
    {
        if installed >= lock {
            return Ok(());
        }
    }
    run(root, "npm", &["ci", "--no-audit", "--no-fund"])
}
