//! `cargo xtask` — the project's only entry point for building, testing and running.
//!
//! - `cargo xtask test`: installs what is missing, then every check CI runs.
//! - `cargo xtask dev [--port N] [--persist-to DIR]`: the local relay, IYS stand-in and demo pages.
//! - `cargo xtask codegen [--check]`: regenerates (or checks) generated files.
//! - `cargo xtask bench`: benchmarks (not tests).
//! - `cargo xtask backup [--out FILE] [--persist-to DIR]`, `cargo xtask restore FILE [--persist-to DIR]
//!   [--force]`: export the local D1 database to SQL, and load such an export into a fresh one.

mod backup;
mod bench;
mod codegen;
mod dev;
mod errors_doc;
mod fuzz;
mod load;
mod npm;
mod procs;
mod setup;
mod worker;
mod www;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = project_root();
    if let Err(e) = check_args(&args) {
        eprintln!("xtask: {e}\n{USAGE}");
        return ExitCode::from(2);
    }
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&root),
        Some("dev") => match flag_arg(&args, "--port").map(|p| p.parse::<u16>()) {
            Some(Err(_)) => Err("--port takes a port number".to_owned()),
            port => dev::run(
                &root,
                port.and_then(Result::ok).unwrap_or(dev::RELAY_PORT),
                flag_arg(&args, "--persist-to").as_deref().map(Path::new),
            ),
        },
        Some("codegen") => codegen_cmd(&root, args.iter().any(|a| a == "--check")),
        Some("setup") => setup::ensure(&root, setup::Needs::all()),
        Some("bench") => bench::run(&root),
        Some("npm") => npm::build(&root),
        Some("backup") => {
            let out = flag_arg(&args, "--out").map(PathBuf::from).unwrap_or_else(|| backup::default_out(&root));
            backup::backup(&root, &out, flag_arg(&args, "--persist-to").as_deref().map(Path::new))
        }
        Some("restore") => match args.get(1).filter(|a| !a.starts_with("--")) {
            Some(file) => backup::restore(
                &root,
                Path::new(file),
                flag_arg(&args, "--persist-to").as_deref().map(Path::new),
                args.iter().any(|a| a == "--force"),
            ),
            None => Err("usage: cargo xtask restore FILE [--persist-to DIR] [--force]".to_owned()),
        },
        Some("load") => match seconds_arg(&args) {
            Ok(n) => load::run(&root, n),
            Err(e) => Err(e),
        },
        Some("fuzz") => match seconds_arg(&args) {
            Ok(n) => fuzz::run(&root, n).map(|_| ()),
            Err(e) => Err(e),
        },
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The value after `flag`, if given.
const USAGE: &str = "usage: cargo xtask <command>
  test                                      everything CI checks (installs what is missing first)
  dev [--port N] [--persist-to DIR]         the local relay, IYS stand-in and demo pages
  codegen [--check]                         regenerate (or check) the phone tables and ERRORS.md
  npm                                       build the npm package into crates/iys-wasm/pkg/
  bench [worker]                            benchmarks against the peers (docs/benchmarks.md)
  fuzz [--seconds N]                        run each fuzz target for N seconds
  load [--seconds N]                        the load drill against wrangler dev
  backup [--out FILE] [--persist-to DIR]    export the local D1 (default: dev's .wrangler/dev-state)
  restore FILE [--persist-to DIR] [--force] load an export into a fresh local D1
  setup                                     install the toolchain pieces the other commands need";

/// Refuses an argument the command does not take (a mistyped flag would otherwise be ignored and
/// the command run with its defaults).
fn check_args(args: &[String]) -> Result<(), String> {
    // (flags that take a value, flags that stand alone, the positional words allowed: `None` any one)
    let (valued, plain, words): (&[&str], &[&str], &[Option<&str>]) = match args.first().map(String::as_str) {
        Some("test" | "npm" | "setup") => (&[], &[], &[]),
        Some("dev") => (&["--port", "--persist-to"], &[], &[]),
        Some("codegen") => (&[], &["--check"], &[]),
        Some("bench") => (&[], &[], &[Some("worker")]),
        Some("fuzz" | "load") => (&["--seconds"], &[], &[]),
        Some("backup") => (&["--out", "--persist-to"], &[], &[]),
        Some("restore") => (&["--persist-to"], &["--force"], &[None]),
        // Anything else gets the usage line.
        _ => return Ok(()),
    };
    let command = &args[0];
    let mut positional = 0;
    let mut rest = args[1..].iter();
    while let Some(a) = rest.next() {
        if valued.contains(&a.as_str()) {
            if rest.next().is_none() {
                return Err(format!("{a} needs a value"));
            }
        } else if plain.contains(&a.as_str()) {
            continue;
        } else if a.starts_with("--") {
            return Err(format!("`cargo xtask {command}` has no option {a}"));
        } else {
            match words.get(positional) {
                Some(None) => {}
                Some(Some(w)) if a == w => {}
                _ => return Err(format!("`cargo xtask {command}` takes no argument {a:?} here")),
            }
            positional += 1;
        }
    }
    Ok(())
}

fn flag_arg(args: &[String], flag: &str) -> Option<String> {
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned()
}

/// `--seconds N` (default 60).
fn seconds_arg(args: &[String]) -> Result<u64, String> {
    match args.iter().position(|a| a == "--seconds") {
        None => Ok(60),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| "--seconds takes a whole number of seconds".to_owned()),
    }
}

/// The workspace root (the folder holding the root Cargo.toml).
fn project_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(2).unwrap_or(here).to_path_buf()
}

/// Runs a command in `dir`, streaming its output; an error names the command.
pub(crate) fn run(dir: &Path, program: &str, args: &[&str]) -> Result<(), String> {
    run_env(dir, program, args, &[])
}

/// Like [`run`], with extra environment variables.
pub(crate) fn run_env(dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    let started = Instant::now();
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .status()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    eprintln!("  ({:.1} s)", started.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn test(root: &Path) -> Result<(), String> {
    let started = Instant::now();
    setup::ensure(root, setup::Needs::all())?;
    let cargo = cargo();
    run(root, &cargo, &["fmt", "--all", "--check"])?;
    codegen_cmd(root, true)?;
    run(root, &cargo, &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    // What the suites load: the Worker (wrangler dev in tests/worker.rs …), and the npm package with
    // its copy in www/pkg (the sign-up page in tests/www_submit.rs, the Node and browser suites).
    worker::build(root)?;
    npm::build(root)?;
    www::copy_to_www(root)?;
    run(root, &cargo, &["test", "--workspace"])?;
    npm::test(root)?;
    www::test(root)?;
    fuzz::short(root)?;
    eprintln!("xtask test: all green in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn codegen_cmd(root: &Path, check: bool) -> Result<(), String> {
    let files = [
        (root.join("crates/iys-core/src/recipient/phone_tables.rs"), codegen::phone_tables()),
        (root.join("crates/iys-core/ERRORS.md"), errors_doc::errors_md()),
    ];
    let mut stale = Vec::new();
    for (path, text) in files {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == text {
            continue;
        }
        if check {
            stale.push(path.display().to_string());
        } else {
            std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!("generated files are stale (run `cargo xtask codegen`): {}", stale.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::check_args;

    fn check(line: &str) -> Result<(), String> {
        check_args(&line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
    }

    #[test]
    fn arguments_a_command_does_not_take_are_refused() {
        for ok in [
            "test",
            "dev --port 8788 --persist-to x",
            "bench",
            "bench worker",
            "codegen --check",
            "backup --out f.sql --persist-to x",
            "restore f.sql --force --persist-to x",
            "fuzz --seconds 5",
            "unknown-command",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for bad in
            ["dev --persist x", "dev --port", "bench foo", "codegen --chek", "restore a b", "test --quick", "load 5"]
        {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
