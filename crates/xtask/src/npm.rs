//! `cargo xtask npm`: builds the npm package `iys-validate` into `crates/iys-wasm/pkg/`, and its
//! test suites (Rust host tests of the boundary, `node --test`, `tsc --noEmit`, headless Chromium).
//! The wasm goes through `crates/iys-wasm/tools/shrink.mjs` (see [`shrink`]); the shipped JavaScript
//! is minified with esbuild (see [`minify`]); readable sources stay in `crates/iys-wasm/npm/`.
//!
//! The wasm builds use their own target dir (`target/wasm`), so they never wait on the lock of the
//! host builds.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The wasm-bindgen CLI must be exactly the version the crate pins.
const WASM_BINDGEN_VERSION: &str = "0.2.130";
/// Budget for what a browser downloads (wasm + wasm-bindgen glue + our wrapper), gzip -9 bytes.
pub const GZIP_BUDGET: u64 = 20_000;
/// Files of the package, copied from `crates/iys-wasm/npm/`.
/// (`api.js` is not among them: [`inline_tables`] writes it.)
const TEMPLATE: &[&str] = &["package.json", "README.md", "index.js", "node.mjs", "node.cjs", "worker.js"];
/// What a browser loads: counted against [`GZIP_BUDGET`].
const BROWSER_FILES: &[&str] = &["web/iys_validate_bg.wasm", "web/iys_validate.js", "index.js", "api.js"];

fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    eprintln!("$ {shown}");
    let status = cmd.status().map_err(|e| format!("cannot start {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

fn wasm_target_dir(root: &Path) -> PathBuf {
    root.join("target").join("wasm")
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The wasm-bindgen CLI: `$WASM_BINDGEN_BIN`, `~/.cargo/bin/wasm-bindgen`, or `wasm-bindgen` on PATH.
fn wasm_bindgen() -> Result<PathBuf, String> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("WASM_BINDGEN_BIN") {
        candidates.push(p.into());
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    if let Some(home) = cargo_home {
        candidates.push(home.join("bin").join("wasm-bindgen"));
    }
    candidates.push("wasm-bindgen".into());
    for c in candidates {
        if let Ok(out) = Command::new(&c).arg("--version").output() {
            let v = String::from_utf8_lossy(&out.stdout);
            if v.split_whitespace().nth(1) == Some(WASM_BINDGEN_VERSION) {
                return Ok(c);
            }
            return Err(format!(
                "{} is {}, but the crate pins {WASM_BINDGEN_VERSION}: cargo install wasm-bindgen-cli --version {WASM_BINDGEN_VERSION}",
                c.display(),
                v.trim()
            ));
        }
    }
    Err(format!("wasm-bindgen not found: cargo install wasm-bindgen-cli --version {WASM_BINDGEN_VERSION}"))
}

/// Size of `path` after `gzip -9`.
fn gzip9(path: &Path) -> Result<u64, String> {
    let out = Command::new("gzip")
        .args(["-9", "-n", "-c"])
        .arg(path)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run gzip: {e}"))?;
    if !out.status.success() {
        return Err(format!("gzip -9 {} failed", path.display()));
    }
    Ok(out.stdout.len() as u64)
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    fs::copy(from, to).map(drop).map_err(|e| format!("copy {} -> {}: {e}", from.display(), to.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))
}

/// `npm/api.js` with `npm/tables.js` in place of its one import (`import { … } from './tables.js';`),
/// the tables' `export`s dropped: the package ships one `api.js`, so a browser makes no extra request.
fn inline_tables(api: &str, tables: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut inlined = false;
    for line in api.lines() {
        if line.starts_with("import {") && line.ends_with(" from './tables.js';") && !inlined {
            for t in tables.lines() {
                out.push_str(t.strip_prefix("export ").unwrap_or(t));
                out.push('\n');
            }
            inlined = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if inlined {
        Ok(out)
    } else {
        Err("npm/api.js: no `import { … } from './tables.js';` line".into())
    }
}

/// `api.js` (tables inlined) as CommonJS: it has no imports, and only `export function` / `export
/// class` at the top.
fn api_cjs(esm: &str) -> Result<String, String> {
    let mut names = Vec::new();
    let mut out = String::from("'use strict';\n");
    for line in esm.lines() {
        let rest = line.strip_prefix("export function ").or_else(|| line.strip_prefix("export class "));
        if let Some(rest) = rest {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            names.push(name);
            out.push_str(&line["export ".len()..]);
        } else if line.starts_with("export ") || line.starts_with("import ") {
            return Err(format!("npm/api.js: cannot make CommonJS of `{line}`"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out.push_str(&format!("module.exports = {{ {} }};\n", names.join(", ")));
    Ok(out)
}

/// The JavaScript files of the package, minified in place by [`minify`] (readable sources stay in
/// `crates/iys-wasm/npm/`; the `.d.ts` files are not touched). Local names are minified too, so the
/// `.name` of the exported functions is not their export name (as after any minifying bundler);
/// `--keep-names` would cost about 420 B gzip.
const MINIFIED: &[&str] = &[
    "web/iys_validate.js",
    "node/iys_validate.cjs",
    "index.js",
    "api.js",
    "api.cjs",
    "node.mjs",
    "node.cjs",
    "worker.js",
];

fn esbuild(root: &Path) -> Result<PathBuf, String> {
    let esbuild = root.join("node_modules").join(".bin").join("esbuild");
    if !esbuild.exists() {
        run(Command::new("npm").current_dir(root).args(["ci", "--no-audit", "--no-fund"]))?;
    }
    Ok(esbuild)
}

/// `crates/iys-wasm/tools/shrink.mjs` on the wasm, in place: Rust's panic paths become `unreachable`
/// (so `core::fmt` drops out), binaryen `-Oz`, no name or producers section. binaryen is the npm
/// package pinned in package.json.
fn shrink(root: &Path, wasm: &Path) -> Result<(), String> {
    if !root.join("node_modules").join("binaryen").join("package.json").exists() {
        run(Command::new("npm").current_dir(root).args(["ci", "--no-audit", "--no-fund"]))?;
    }
    run(Command::new("node").current_dir(root).arg(root.join("crates/iys-wasm/tools/shrink.mjs")).arg(wasm))
}

/// The glue's start call, `wasm.__wbindgen_start()`, made a direct call of the import it stands for
/// (`shrink.mjs` removes that export: re-exporting an import costs V8 a wrapper per instantiation).
/// Fails when wasm-bindgen's glue no longer has the expected shape.
fn start_directly(glue: &str) -> Result<String, String> {
    const CALL: &str = "wasm.__wbindgen_start();";
    const DIRECT: &str = "__wbg_get_imports()[\"./iys_validate_bg.js\"].__wbindgen_init_externref_table();";
    let import_ok = glue.matches("__wbindgen_init_externref_table: function()").count() == 1;
    if glue.matches(CALL).count() != 1 || !import_ok || !glue.contains("function __wbg_get_imports()") {
        return Err("wasm-bindgen's glue changed shape (its start call); revisit npm::start_directly".to_owned());
    }
    Ok(glue.replacen(CALL, DIRECT, 1))
}

/// `node/iys_validate.cjs`: the `web` glue as CommonJS for `require` (node.cjs passes it the module,
/// so its `import.meta.url` default, which CommonJS lacks, is never used).
fn node_glue(root: &Path, pkg: &Path) -> Result<(), String> {
    fs::create_dir_all(pkg.join("node")).map_err(|e| format!("mkdir {}: {e}", pkg.join("node").display()))?;
    run(Command::new(esbuild(root)?)
        .arg(pkg.join("web").join("iys_validate.js"))
        .args(["--format=cjs", "--platform=node", "--target=es2020", "--log-level=error"])
        .arg(format!("--outfile={}", pkg.join("node").join("iys_validate.cjs").display())))
}

/// Minifies `pkg/<f>` in place with the repository's pinned esbuild (transform only: no bundling, the
/// module format, imports and exports stay as they are; `--target=es2020` so that minifying never
/// introduces newer syntax than the sources use).
fn minify(root: &Path, pkg: &Path) -> Result<(), String> {
    let esbuild = esbuild(root)?;
    for f in MINIFIED {
        let p = pkg.join(f);
        run(Command::new(&esbuild)
            .arg(&p)
            .args(["--minify", "--target=es2020", "--legal-comments=none", "--log-level=warning", "--allow-overwrite"])
            .arg(format!("--outfile={}", p.display())))?;
    }
    Ok(())
}

/// Crates that must never be compiled into the wasm (size: see crates/iys-wasm/Cargo.toml).
const BANNED: &[&str] = &["phonenumber", "regex", "regex-automata", "regex-syntax", "serde", "serde_json"];

/// Fails when a banned crate is among the wasm build's dependencies.
fn check_dependencies(root: &Path) -> Result<(), String> {
    let out = cargo()
        .current_dir(root)
        .env("CARGO_TARGET_DIR", wasm_target_dir(root))
        .args(["tree", "-p", "iys-wasm", "--target", "wasm32-unknown-unknown", "-e", "normal", "--prefix", "none"])
        .output()
        .map_err(|e| format!("cannot run cargo tree: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo tree failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let tree = String::from_utf8_lossy(&out.stdout);
    let found: Vec<&str> =
        tree.lines().filter_map(|l| l.split_whitespace().next()).filter(|name| BANNED.contains(name)).collect();
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!("the wasm build depends on {found:?}; keep them out of iys-wasm (size budget)"))
    }
}

/// The two wasm builds of the package: `(cargo profile, pkg/ subdirectory)`.
///
/// - `web/`, the `wasm-release` profile (`opt-level = "z"`): what browsers and bundlers load, where
///   the download and the first answer count.
/// - `server/`, the `release` profile (`opt-level = 3`): what Node (`import` and `require`) and
///   Workers load, where throughput counts and a few kB more cost nothing (about 1.9× the requests/s
///   of the size build for about 6 kB more gzip; docs/benchmarks.md).
///
/// Both come from the same crate and source, so wasm-bindgen writes the same glue for both;
/// [`build`] checks that and ships one glue (`web/iys_validate.js`) for both modules.
const BUILDS: &[(&str, &str)] = &[("wasm-release", "web"), ("release", "server")];

/// Builds `crates/iys-wasm/pkg/` and prints the raw and gzip -9 sizes.
pub fn build(root: &Path) -> Result<(), String> {
    let krate = root.join("crates").join("iys-wasm");
    let target = wasm_target_dir(root);
    let bindgen = wasm_bindgen()?;
    let pkg = krate.join("pkg");
    if pkg.exists() {
        fs::remove_dir_all(&pkg).map_err(|e| format!("remove {}: {e}", pkg.display()))?;
    }
    let mut glue: Option<String> = None;
    for (profile, dir) in BUILDS {
        run(cargo().current_dir(root).env("CARGO_TARGET_DIR", &target).args([
            "build",
            "--profile",
            profile,
            "--target",
            "wasm32-unknown-unknown",
            "-p",
            "iys-wasm",
        ]))?;
        let wasm = target.join("wasm32-unknown-unknown").join(profile).join("iys_wasm.wasm");
        let out = pkg.join(dir);
        // The name section stays for `shrink.mjs`, which finds the panic paths by name and then
        // removes it (and the producers section).
        run(Command::new(&bindgen)
            .args(["--target", "web", "--out-name", "iys_validate", "--no-typescript"])
            .args(["--remove-producers-section", "--out-dir"])
            .arg(&out)
            .arg(&wasm))?;
        shrink(root, &out.join("iys_validate_bg.wasm"))?;
        let this = read(&out.join("iys_validate.js"))?;
        match &glue {
            None => glue = Some(this),
            Some(first) if *first == this => {
                fs::remove_file(out.join("iys_validate.js")).map_err(|e| format!("remove glue of {dir}: {e}"))?;
            }
            Some(_) => return Err(format!("wasm-bindgen wrote different glue for `{dir}`; the package ships one")),
        }
    }
    check_dependencies(root)?;
    let glue_file = pkg.join("web").join("iys_validate.js");
    write(&glue_file, &start_directly(glue.as_deref().unwrap_or_default())?)?;
    for f in TEMPLATE {
        copy(&krate.join("npm").join(f), &pkg.join(f))?;
    }
    let api = inline_tables(&read(&krate.join("npm").join("api.js"))?, &read(&krate.join("npm").join("tables.js"))?)?;
    write(&pkg.join("api.js"), &api)?;
    write(&pkg.join("api.cjs"), &api_cjs(&api)?)?;
    node_glue(root, &pkg)?;
    minify(root, &pkg)?;
    let dts = read(&krate.join("types").join("index.d.ts"))?;
    write(&pkg.join("index.d.ts"), &dts)?;
    write(&pkg.join("index.d.cts"), &dts)?;

    let mut raw_total = 0;
    let mut gz_total = 0;
    let mut report = String::from("iys-validate: what a browser loads (bytes)\n");
    for f in BROWSER_FILES {
        let p = pkg.join(f);
        let raw = fs::metadata(&p).map_err(|e| format!("{}: {e}", p.display()))?.len();
        let gz = gzip9(&p)?;
        raw_total += raw;
        gz_total += gz;
        report.push_str(&format!("  {f:<28} {raw:>8} raw {gz:>7} gzip -9\n"));
    }
    report.push_str(&format!("  {:<28} {raw_total:>8} raw {gz_total:>7} gzip -9 (goal {GZIP_BUDGET})\n", "total"));
    let server = pkg.join("server").join("iys_validate_bg.wasm");
    let raw = fs::metadata(&server).map_err(|e| format!("{}: {e}", server.display()))?.len();
    report.push_str(&format!(
        "Node and Workers load server/iys_validate_bg.wasm: {raw} raw {} gzip -9\n",
        gzip9(&server)?
    ));
    let mut stderr = std::io::stderr();
    let _ = stderr.write_all(report.as_bytes());
    eprintln!("built {}", pkg.display());
    Ok(())
}

fn node_modules_ready(root: &Path) -> bool {
    ["playwright-core", "typescript"].iter().all(|m| root.join("node_modules").join(m).join("package.json").exists())
}

/// Makes `iys-validate` resolvable from the test files, through the package's own `exports`.
fn link_package(root: &Path) -> Result<(), String> {
    let dir = root.join("crates").join("iys-wasm").join("tests").join("node_modules");
    fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    let link = dir.join("iys-validate");
    if fs::symlink_metadata(&link).is_ok() {
        fs::remove_file(&link).map_err(|e| format!("remove {}: {e}", link.display()))?;
    }
    link_dir(Path::new("../../pkg"), &link)
}

#[cfg(unix)]
fn link_dir(to: &Path, link: &Path) -> Result<(), String> {
    std::os::unix::fs::symlink(to, link).map_err(|e| format!("symlink {}: {e}", link.display()))
}

#[cfg(not(unix))]
fn link_dir(_: &Path, link: &Path) -> Result<(), String> {
    Err(format!("{}: the npm tests need a unix symlink", link.display()))
}

/// Runs every suite of the package that [`build`] made: the Rust host tests of the boundary (including
/// the `.d.ts` freshness check), `node --test` (API, fixture corpus, package, size, memory,
/// workerd), `tsc --noEmit`, and the headless Chromium suite. Every suite runs; the error lists
/// the ones that failed.
pub fn test(root: &Path) -> Result<(), String> {
    let mut failed = Vec::new();
    let mut step = |name: &str, r: Result<(), String>| {
        if let Err(e) = r {
            eprintln!("npm test: {name} failed: {e}");
            failed.push(name.to_owned());
        }
    };
    step(
        "cargo test -p iys-wasm",
        run(cargo().current_dir(root).env("CARGO_TARGET_DIR", wasm_target_dir(root)).args(["test", "-p", "iys-wasm"])),
    );
    if !node_modules_ready(root) {
        run(Command::new("npm").current_dir(root).args(["ci", "--no-audit", "--no-fund"]))?;
    }
    link_package(root)?;
    let tests = root.join("crates").join("iys-wasm").join("tests");

    let mut files: Vec<PathBuf> = fs::read_dir(tests.join("js"))
        .map_err(|e| format!("{}: {e}", tests.join("js").display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".test.mjs"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err("no crates/iys-wasm/tests/js/*.test.mjs".into());
    }
    // One file at a time: memory.test.mjs watches the wasm memory and the suites share one package.
    step(
        "node --test",
        run(Command::new("node").current_dir(root).args(["--test", "--test-concurrency=1"]).args(&files)),
    );

    let tsc = root.join("node_modules").join(".bin").join("tsc");
    // A browser project (the "dom" lib) and a Node-only one (no DOM names to lean on).
    for (name, config) in [("tsc --noEmit", "tsconfig.json"), ("tsc --noEmit (Node, no DOM)", "tsconfig.node.json")] {
        step(
            name,
            run(Command::new(&tsc).current_dir(root).args(["--noEmit", "-p"]).arg(tests.join("ts").join(config))),
        );
    }
    step("browser", run(Command::new("node").current_dir(root).arg(tests.join("browser").join("run.mjs"))));
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("npm suites failed: {}", failed.join(", ")))
    }
}
