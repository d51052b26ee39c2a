//! `cargo xtask fuzz --seconds N`: the cargo-fuzz targets of iys-core (`crates/iys-core/fuzz`).
//!
//! 1. Makes sure cargo-fuzz [`CARGO_FUZZ_VERSION`] is installed (`cargo install` only when
//!    `cargo fuzz --version` says otherwise).
//! 2. Seeds `fuzz/corpus/<target>/` from the fixture corpus (`tests/fixtures/*.json`); libFuzzer keeps
//!    adding to these folders (gitignored) from run to run.
//! 3. Builds the targets once (`RUSTC_BOOTSTRAP=1`: cargo-fuzz needs nightly flags; no sanitizer, since
//!    iys-core forbids `unsafe`; release with debug assertions and overflow checks; own target dir
//!    `fuzz/target`), then runs each for N seconds (`-max_total_time`) and reads libFuzzer's final stats.
//!
//! A crash (panic, broken invariant, timeout, out of memory) fails the run and names the input libFuzzer
//! saved under `fuzz/artifacts/<target>/`. Inputs in `fuzz/regressions/<target>/` are run first on every
//! run, so a fixed crash stays fixed.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use iys_core::json::{self, Value};
use iys_core::time::LocalDateTime;

/// The cargo-fuzz release the project uses.
pub const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// Seconds per target in [`short`] (`cargo xtask test`).
pub const SHORT_SECONDS: u64 = 10;

/// One fuzz target: its name, the longest input libFuzzer makes, and its dictionary.
#[derive(Clone, Copy, Debug)]
struct Target {
    name: &'static str,
    max_len: usize,
    dict: &'static str,
}

const TARGETS: [Target; 3] = [
    Target { name: "recipient", max_len: 512, dict: "recipient.dict" },
    Target { name: "consent_json", max_len: 4096, dict: "consent.dict" },
    Target { name: "batch_json", max_len: 8192, dict: "consent.dict" },
];

/// 2025-03-12 15:00:00 in Turkey: the fixture corpus's default "now" and the fuzz header's base
/// (`BASE_NOW` in `crates/iys-core/fuzz/src/lib.rs`).
const BASE_NOW: i64 = 1_741_780_800;
const DEFAULT_NOW: &str = "2025-03-12 15:00:00";

/// What one target's run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetStats {
    /// The target's name.
    pub target: String,
    /// Inputs executed (libFuzzer's `stat::number_of_executed_units`).
    pub executions: u64,
    /// libFuzzer's `stat::average_exec_per_sec`.
    pub execs_per_sec: u64,
    /// New corpus entries found (`stat::new_units_added`).
    pub new_units: u64,
    /// Peak memory (`stat::peak_rss_mb`).
    pub peak_rss_mb: u64,
    /// Wall-clock seconds of the run.
    pub seconds: u64,
    /// Crashes found (a run stops at its first, so 0 or 1).
    pub crashes: u64,
}

/// What a whole fuzz run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuzzStats {
    /// `cargo-fuzz X.Y.Z`.
    pub cargo_fuzz: String,
    /// One entry per target, in run order.
    pub targets: Vec<TargetStats>,
}

impl FuzzStats {
    /// Executions over all targets.
    pub fn executions(&self) -> u64 {
        self.targets.iter().map(|t| t.executions).sum()
    }

    /// Crashes over all targets.
    pub fn crashes(&self) -> u64 {
        self.targets.iter().map(|t| t.crashes).sum()
    }
}

impl fmt::Display for FuzzStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "fuzz ({}):", self.cargo_fuzz)?;
        writeln!(
            f,
            "  {:<14} {:>14} {:>10} {:>8} {:>6} {:>8} {:>7}",
            "target", "executions", "exec/s", "seconds", "new", "rss MB", "crashes"
        )?;
        for t in &self.targets {
            writeln!(
                f,
                "  {:<14} {:>14} {:>10} {:>8} {:>6} {:>8} {:>7}",
                t.target, t.executions, t.execs_per_sec, t.seconds, t.new_units, t.peak_rss_mb, t.crashes
            )?;
        }
        write!(f, "  total: {} executions, {} crashes", self.executions(), self.crashes())
    }
}

/// Runs every target for `seconds` seconds each. Fails on any crash, naming the saved input.
pub fn run(root: &Path, seconds: u64) -> Result<FuzzStats, String> {
    let fuzz_dir = root.join("crates/iys-core/fuzz");
    let cargo_fuzz = ensure_cargo_fuzz()?;
    let seeded = seed(root)?;
    for (target, count) in TARGETS.iter().zip(seeded) {
        eprintln!(
            "fuzz: {count} seed inputs for {} in {}",
            target.name,
            fuzz_dir.join("corpus").join(target.name).display()
        );
    }
    let started = Instant::now();
    let status =
        fuzz_command(root, &["build"], &[]).status().map_err(|e| format!("cannot start cargo fuzz build: {e}"))?;
    if !status.success() {
        return Err(format!("cargo fuzz build failed ({status})"));
    }
    eprintln!("fuzz: targets built in {:.0} s", started.elapsed().as_secs_f64());
    let mut stats = FuzzStats { cargo_fuzz, targets: Vec::new() };
    for target in TARGETS {
        let t = run_target(root, &fuzz_dir, target, seconds)?;
        eprintln!(
            "fuzz: {}: {} executions in {} s ({}/s), {} new corpus entries, 0 crashes",
            t.target, t.executions, t.seconds, t.execs_per_sec, t.new_units
        );
        stats.targets.push(t);
    }
    eprintln!("{stats}");
    Ok(stats)
}

/// A short run (`SHORT_SECONDS` per target), for `cargo xtask test`.
pub fn short(root: &Path) -> Result<(), String> {
    run(root, SHORT_SECONDS).map(|_| ())
}

/// `cargo fuzz <args> --sanitizer none --target-dir fuzz/target -- <libfuzzer>`, run in `crates/iys-core`.
fn fuzz_command(root: &Path, args: &[&str], libfuzzer: &[&str]) -> Command {
    let core = root.join("crates/iys-core");
    let target_dir = core.join("fuzz/target");
    let mut cmd = Command::new(cargo());
    cmd.arg("fuzz")
        .args(args)
        .arg("--sanitizer")
        .arg("none")
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(&core)
        .env("RUSTC_BOOTSTRAP", "1")
        .env_remove("CARGO_TARGET_DIR");
    if !libfuzzer.is_empty() {
        cmd.arg("--").args(libfuzzer);
    }
    cmd
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// `cargo-fuzz X.Y.Z` once the pinned version is installed (installing it, as every pinned cargo
/// tool is, when it is not).
fn ensure_cargo_fuzz() -> Result<String, String> {
    crate::setup::cargo_tool("cargo-fuzz", "cargo-fuzz", CARGO_FUZZ_VERSION)?;
    Ok(format!("cargo-fuzz {CARGO_FUZZ_VERSION}"))
}

/// Runs one target; its libFuzzer output goes to `fuzz/target/logs/<target>.log`.
fn run_target(root: &Path, fuzz_dir: &Path, target: Target, seconds: u64) -> Result<TargetStats, String> {
    let corpus = fuzz_dir.join("corpus").join(target.name);
    let regressions = fuzz_dir.join("regressions").join(target.name);
    let artifacts = fuzz_dir.join("artifacts").join(target.name);
    let logs = fuzz_dir.join("target/logs");
    fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
    fs::create_dir_all(&artifacts).map_err(|e| format!("cannot create {}: {e}", artifacts.display()))?;
    let log_path = logs.join(format!("{}.log", target.name));
    let log = fs::File::create(&log_path).map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let log_err = log.try_clone().map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
    let before = list_files(&artifacts);

    let mut args: Vec<String> = vec!["run".into(), target.name.into(), path_arg(&corpus)];
    if regressions.is_dir() {
        args.push(path_arg(&regressions));
    }
    let libfuzzer = [
        format!("-max_total_time={seconds}"),
        format!("-max_len={}", target.max_len),
        format!("-dict={}", path_arg(&fuzz_dir.join("dict").join(target.dict))),
        // A slow input is a finding too: a validator that takes seconds on one input is a DoS.
        "-timeout=10".into(),
        "-rss_limit_mb=2048".into(),
        "-print_final_stats=1".into(),
    ];
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let libfuzzer_refs: Vec<&str> = libfuzzer.iter().map(String::as_str).collect();
    eprintln!("$ cargo fuzz {} -- {} (log: {})", arg_refs.join(" "), libfuzzer_refs.join(" "), log_path.display());
    let started = Instant::now();
    let status = fuzz_command(root, &arg_refs, &libfuzzer_refs)
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        .status()
        .map_err(|e| format!("cannot start cargo fuzz run {}: {e}", target.name))?;
    let elapsed = started.elapsed().as_secs();
    let output = fs::read_to_string(&log_path).unwrap_or_default();
    let new_artifacts: Vec<PathBuf> = list_files(&artifacts).into_iter().filter(|p| !before.contains(p)).collect();
    if !output.contains("INFO: Seed:") {
        let tail: Vec<&str> = output.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "fuzz target {} did not start ({status}); full log {}\n{}",
            target.name,
            log_path.display(),
            tail.join("\n")
        ));
    }
    let crashed = !status.success() || !new_artifacts.is_empty() || output.contains("SUMMARY: libFuzzer");
    if crashed {
        let tail: Vec<&str> = output.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let saved: Vec<String> = new_artifacts.iter().map(|p| p.display().to_string()).collect();
        return Err(format!(
            "fuzz target {} crashed ({status}) after {elapsed} s; saved input(s): [{}]; full log {}\n{}",
            target.name,
            saved.join(", "),
            log_path.display(),
            tail.join("\n")
        ));
    }
    let stats = parse_final_stats(&output)
        .ok_or_else(|| format!("no libFuzzer final stats in {} for {}", log_path.display(), target.name))?;
    Ok(TargetStats { target: target.name.to_owned(), seconds: elapsed, crashes: 0, ..stats })
}

fn path_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn list_files(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir).map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default()
}

/// Reads `stat::name: value` lines (printed by `-print_final_stats=1` when libFuzzer ends normally).
fn parse_final_stats(output: &str) -> Option<TargetStats> {
    let stat = |name: &str| -> Option<u64> {
        let prefix = format!("stat::{name}:");
        output.lines().rev().find_map(|l| l.trim().strip_prefix(prefix.as_str()).and_then(|v| v.trim().parse().ok()))
    };
    Some(TargetStats {
        target: String::new(),
        executions: stat("number_of_executed_units")?,
        execs_per_sec: stat("average_exec_per_sec")?,
        new_units: stat("new_units_added").unwrap_or(0),
        peak_rss_mb: stat("peak_rss_mb").unwrap_or(0),
        seconds: 0,
        crashes: 0,
    })
}

// ---- Seeding from the fixture corpus ----

/// One seed: which target (index into [`TARGETS`]) and the bytes.
type Seed = (usize, Vec<u8>);

const RECIPIENT: usize = 0;
const CONSENT: usize = 1;
const BATCH: usize = 2;

/// Writes the fixture corpus's cases into `fuzz/corpus/<target>/` (file name = content hash, so seeding
/// again adds nothing). Returns how many seeds each target got.
fn seed(root: &Path) -> Result<[usize; 3], String> {
    let fixtures = root.join("tests/fixtures");
    let mut files: Vec<PathBuf> =
        list_files(&fixtures).into_iter().filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no fixture files in {}", fixtures.display()));
    }
    let mut seeds: Vec<Seed> = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let doc = json::parse(&text).map_err(|d| format!("{}: not JSON ({d:?})", file.display()))?;
        let Some(Value::Array(cases)) = doc.get("cases") else {
            return Err(format!("{}: no \"cases\" array", file.display()));
        };
        for case in cases {
            seeds_of_case(case, &mut seeds).map_err(|e| format!("{}: {e}", file.display()))?;
        }
    }
    // Over the item limit in few bytes: 1001 empty objects (batch-large's own cases exceed max_len).
    let mut big = String::from("[{}");
    big.push_str(&",{}".repeat(1000));
    big.push(']');
    seeds.push((BATCH, with_header(0, BASE_NOW, &big)));

    let mut counts = [0; 3];
    for (i, target) in TARGETS.iter().enumerate() {
        let dir = root.join("crates/iys-core/fuzz/corpus").join(target.name);
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        for (_, bytes) in seeds.iter().filter(|(t, b)| *t == i && b.len() <= target.max_len) {
            let path = dir.join(format!("seed-{:016x}", fnv1a(bytes)));
            if !path.exists() {
                fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            if let Some(c) = counts.get_mut(i) {
                *c += 1;
            }
        }
    }
    Ok(counts)
}

/// The seeds one fixture case gives: its input for its own target, plus each consent as a one-item
/// batch and each batch item as a consent (both targets share the item grammar).
fn seeds_of_case(case: &Value, seeds: &mut Vec<Seed>) -> Result<(), String> {
    let name = case.get("name").and_then(Value::as_str).unwrap_or("?");
    let kind = case.get("kind").and_then(Value::as_str).ok_or_else(|| format!("case {name}: no kind"))?;
    let options = case.get("options");
    let opt = |key: &str| options.and_then(|o| o.get(key));
    let normalize = opt("mode").and_then(Value::as_str) == Some("normalize");
    if kind == "recipient" {
        if let Some(s) = case.get("input").and_then(Value::as_str) {
            seeds.push((RECIPIENT, s.as_bytes().to_vec()));
        }
        return Ok(());
    }
    let now_text = opt("now").and_then(Value::as_str).unwrap_or(DEFAULT_NOW);
    let now = LocalDateTime::parse(now_text)
        .ok()
        .and_then(LocalDateTime::to_unix)
        .ok_or_else(|| format!("case {name}: bad now {now_text:?}"))?;
    let window = !matches!(opt("window"), Some(Value::Bool(false)));
    let flags = u8::from(normalize) | if window { 0 } else { 2 };
    let text = match (case.get("text").and_then(Value::as_str), case.get("input")) {
        (Some(text), _) => text.to_owned(),
        (None, Some(input)) => input.to_json(),
        (None, None) => return Err(format!("case {name}: neither text nor input")),
    };
    let seed = |target: usize, text: &str| (target, with_header(flags, now, text));
    match kind {
        "consent" => {
            seeds.push(seed(CONSENT, &text));
            seeds.push(seed(BATCH, &format!("[{text}]")));
            if let Some(Value::String(r)) = case.get("input").and_then(|i| i.get("recipient")) {
                seeds.push((RECIPIENT, r.as_bytes().to_vec()));
            }
        }
        "batch" => {
            seeds.push(seed(BATCH, &text));
            if let Some(Value::Array(items)) = case.get("input") {
                for item in items.iter().take(20) {
                    seeds.push(seed(CONSENT, &item.to_json()));
                }
            }
        }
        other => return Err(format!("case {name}: unknown kind {other:?}")),
    }
    Ok(())
}

/// The 5-byte options header of `consent_json` / `batch_json` inputs (format in the fuzz crate's
/// `src/lib.rs`): flags, then "now" as a little-endian i32 offset from [`BASE_NOW`].
fn with_header(flags: u8, now: i64, text: &str) -> Vec<u8> {
    let offset = i32::try_from(now - BASE_NOW).unwrap_or(0);
    let mut out = Vec::with_capacity(5 + text.len());
    out.push(flags);
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out
}

/// 64-bit FNV-1a: a stable file name for a seed.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_stats_are_read() {
        let out = "Done 123 runs in 10 second(s)\nstat::number_of_executed_units: 1234567\n\
                   stat::average_exec_per_sec:     123456\nstat::new_units_added:          89\n\
                   stat::slowest_unit_time_sec:    0\nstat::peak_rss_mb:              71\n";
        let s = parse_final_stats(out).expect("stats");
        assert_eq!((s.executions, s.execs_per_sec, s.new_units, s.peak_rss_mb), (1_234_567, 123_456, 89, 71));
        assert_eq!(parse_final_stats("INFO: Seed: 1\n"), None);
    }

    #[test]
    fn header_is_flags_then_offset() {
        let h = with_header(3, BASE_NOW - 86_400, "[]");
        assert_eq!(h[0], 3);
        assert_eq!(i32::from_le_bytes([h[1], h[2], h[3], h[4]]), -86_400);
        assert_eq!(&h[5..], b"[]");
    }

    #[test]
    fn base_now_is_the_fixture_default() {
        let now = LocalDateTime::parse(DEFAULT_NOW).ok().and_then(LocalDateTime::to_unix);
        assert_eq!(now, Some(BASE_NOW));
    }

    #[test]
    fn every_fixture_case_seeds() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("root");
        let fixtures = root.join("tests/fixtures");
        let mut seeds = Vec::new();
        for file in list_files(&fixtures).into_iter().filter(|p| p.extension().is_some_and(|e| e == "json")) {
            let doc = json::parse(&fs::read_to_string(&file).expect("read")).expect("json");
            let Some(Value::Array(cases)) = doc.get("cases") else { panic!("{}: no cases", file.display()) };
            for case in cases {
                seeds_of_case(case, &mut seeds).expect("case");
            }
        }
        for target in [RECIPIENT, CONSENT, BATCH] {
            assert!(seeds.iter().filter(|(t, _)| *t == target).count() >= 10, "few seeds for {target}");
        }
    }
}
