//! `cargo xtask bench`: the benchmarks (not tests — nothing here asserts a time). Every figure is
//! measured in the same run as its peer, on the same corpus, and reported as a median and a ratio.
//!
//! 1. Builds `iys` (release) and the native bench (`crates/iys-core/benches/core.rs`).
//! 2. The native bench writes the shared corpus into `target/bench/` (100k phone inputs, 100k
//!    consent payloads), then measures iys-core next to the `phonenumber` crate → `rust.tsv`.
//! 3. Builds the npm package (`crate::npm::build`) and runs the Node bench
//!    (`crates/iys-wasm/bench/bench.mjs`) on the same corpus, next to libphonenumber-js/max, an ajv
//!    standalone schema, and esbuild bundles for size → `node.tsv`.
//! 4. Generates a 1,000,000-row consent CSV (`gen.rs`) and times `iys check` (on a pseudo-terminal,
//!    so the progress bar is drawn) and the Node peer script (`check-csv.mjs`), alternating, under
//!    `/usr/bin/time -v` for peak RSS.
//! 5. Writes `docs/benchmarks.md` and `docs/benchmarks.svg` (keeping the hand-written notes between
//!    `<!-- bench:notes:start -->` and `<!-- bench:notes:end -->` at the end of the file).
//! 6. The Worker section (`bench_worker.rs`): relay requests/s next to a pass-through proxy Worker
//!    on workerd, and the CPU time of validating a 1000-item batch. `cargo xtask bench worker` runs
//!    only this and replaces only its section of `docs/benchmarks.md`.

#[path = "gen.rs"]
mod gen;
#[path = "bench_worker.rs"]
mod worker_bench;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Rows in the `iys check` CSV.
const CSV_ROWS: u64 = 1_000_000;
/// Alternating runs of each CSV checker; the median is reported.
const CSV_RUNS: usize = 3;

const TARGET_CORE_PHONE: f64 = 50.0;
const TARGET_NPM_PHONE: f64 = 10.0;
const TARGET_NPM_CONSENT: f64 = 1.0;
const TARGET_FIRST_MS: f64 = 1.0;
const TARGET_GZ: f64 = 20_000.0;
const TARGET_CSV: f64 = 10.0;

type Figures = BTreeMap<String, String>;

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn exec(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    eprintln!("$ {shown}");
    let started = Instant::now();
    let status = cmd.status().map_err(|e| format!("cannot start {shown}: {e}"))?;
    eprintln!("  ({:.1} s)", started.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))
}

fn read_tsv(path: &Path, into: &mut Figures) -> Result<(), String> {
    for line in read(path)?.lines() {
        if let Some((k, v)) = line.split_once('\t') {
            into.insert(k.to_owned(), v.to_owned());
        }
    }
    Ok(())
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}

fn num(f: &Figures, key: &str) -> Result<f64, String> {
    f.get(key).and_then(|v| v.parse().ok()).ok_or_else(|| format!("bench figure `{key}` is missing"))
}

fn text<'a>(f: &'a Figures, key: &str) -> &'a str {
    f.get(key).map_or("?", String::as_str)
}

/// One line of output of a command (trimmed), or "?".
fn output_of(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(|l| l.trim().to_owned()))
        .unwrap_or_else(|| "?".to_owned())
}

/// One run from a `/usr/bin/time -v -o FILE` report.
#[derive(Debug, Clone, Copy)]
struct Timed {
    wall: f64,
    /// User + system CPU seconds.
    cpu: f64,
    /// Peak RSS, kB.
    rss: u64,
}

/// Wall and CPU seconds and peak RSS from a `/usr/bin/time -v -o FILE` report.
fn time_report(path: &Path) -> Result<Timed, String> {
    let text = read(path)?;
    let mut wall = None;
    let mut rss = None;
    let mut cpu = 0.0;
    for line in text.lines() {
        let line = line.trim();
        if let Some(v) =
            line.strip_prefix("User time (seconds): ").or_else(|| line.strip_prefix("System time (seconds): "))
        {
            cpu += v.parse::<f64>().unwrap_or(0.0);
        } else if let Some(v) = line.strip_prefix("Elapsed (wall clock) time (h:mm:ss or m:ss): ") {
            let mut secs = 0.0;
            for part in v.split(':') {
                secs = secs * 60.0 + part.parse::<f64>().map_err(|e| format!("{v}: {e}"))?;
            }
            wall = Some(secs);
        } else if let Some(v) = line.strip_prefix("Maximum resident set size (kbytes): ") {
            rss = v.parse().ok();
        }
    }
    match (wall, rss) {
        (Some(wall), Some(rss)) => Ok(Timed { wall, cpu, rss }),
        _ => Err(format!("{}: no wall time or peak RSS", path.display())),
    }
}

/// Drops ANSI escapes and carriage-return overdraws: what the terminal shows at the end.
fn screen_lines(raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in raw.split('\n') {
        let last = line.rsplit('\r').find(|s| !s.trim().is_empty()).unwrap_or("");
        let mut clean = String::new();
        let mut chars = last.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                // CSI: ESC [ params final-byte
                if chars.next() == Some('[') {
                    for d in chars.by_ref() {
                        if ('@'..='~').contains(&d) {
                            break;
                        }
                    }
                }
            } else {
                clean.push(c);
            }
        }
        if !clean.trim().is_empty() {
            out.push(clean.trim_end().to_owned());
        }
    }
    out
}

#[derive(Debug, Default)]
struct CsvRuns {
    walls: Vec<f64>,
    cpus: Vec<f64>,
    rss: Vec<u64>,
}

fn median_of(xs: &[f64]) -> f64 {
    let mut w = xs.to_vec();
    w.sort_by(f64::total_cmp);
    w.get(w.len() / 2).copied().unwrap_or(f64::NAN)
}

impl CsvRuns {
    fn push(&mut self, t: Timed) {
        self.walls.push(t.wall);
        self.cpus.push(t.cpu);
        self.rss.push(t.rss);
    }
    fn median_wall(&self) -> f64 {
        median_of(&self.walls)
    }
    fn median_cpu(&self) -> f64 {
        median_of(&self.cpus)
    }
    fn max_rss_mb(&self) -> f64 {
        self.rss.iter().copied().max().unwrap_or(0) as f64 / 1024.0
    }
}

/// `iys check` on a pseudo-terminal (`script`), so the progress bar is drawn as a user sees it.
fn iys_check(iys: &Path, csv: &Path, dir: &Path, threads: Option<&str>) -> Result<(Timed, String), String> {
    let time_file = dir.join("time-iys.txt");
    let cmd = format!(
        "/usr/bin/time -v -o '{}' '{}' check --lang en --now '{}' '{}' >/dev/null",
        time_file.display(),
        iys.display(),
        gen::REFERENCE_NOW,
        csv.display()
    );
    let mut script = Command::new("script");
    script.args(["-qec", &cmd, "/dev/null"]).stdin(Stdio::null());
    if let Some(t) = threads {
        script.env("RAYON_NUM_THREADS", t);
    }
    eprintln!("$ {cmd}{}", threads.map(|t| format!("  (RAYON_NUM_THREADS={t})")).unwrap_or_default());
    let out = script.output().map_err(|e| format!("cannot run script: {e}"))?;
    // `iys check` exits 1 when some records are invalid, which the generated file has on purpose.
    if !matches!(out.status.code(), Some(0 | 1)) {
        return Err(format!("iys check failed ({}): {}", out.status, String::from_utf8_lossy(&out.stdout)));
    }
    let screen = screen_lines(&String::from_utf8_lossy(&out.stdout));
    // The bar's last frame and the closing `N records in S s` line, as the terminal shows them.
    let last = screen.iter().rev().find(|l| l.contains("records in") || l.contains('%')).cloned().unwrap_or_default();
    Ok((time_report(&time_file)?, last))
}

fn node_check(root: &Path, csv: &Path, dir: &Path) -> Result<(Timed, String), String> {
    let time_file = dir.join("time-node.txt");
    let script = root.join("crates/iys-wasm/bench/check-csv.mjs");
    let schema = dir.join("consent-schema.standalone.cjs");
    eprintln!("$ /usr/bin/time -v node {} {}", script.display(), csv.display());
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg("-o")
        .arg(&time_file)
        .arg("node")
        .arg(&script)
        .arg(csv)
        .arg(&schema)
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run node: {e}"))?;
    if !out.status.success() {
        return Err(format!("check-csv.mjs failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    let summary = String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("").to_owned();
    Ok((time_report(&time_file)?, summary))
}

/// Markers around the notes at the end of docs/benchmarks.md that a run keeps as they are.
const NOTES_START: &str = "<!-- bench:notes:start -->";
const NOTES_END: &str = "<!-- bench:notes:end -->";

/// Builds, measures, and writes docs/benchmarks.md and docs/benchmarks.svg.
pub fn run(root: &Path) -> Result<(), String> {
    if std::env::args().nth(2).as_deref() == Some("worker") {
        return worker_bench::run(root);
    }
    let started = Instant::now();
    let dir = root.join("target").join("bench");
    fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    let dir_s = dir.to_string_lossy().into_owned();
    let load_start = loadavg();
    let mut f = Figures::new();

    // 1. Native.
    exec(cargo().current_dir(root).args(["build", "--release", "-p", "iys-cli", "--bin", "iys"]))?;
    exec(cargo().current_dir(root).args(["bench", "-p", "iys-core", "--bench", "core", "--no-run"]))?;
    exec(cargo().current_dir(root).args(["bench", "-q", "-p", "iys-core", "--bench", "core", "--", "gen", &dir_s]))?;
    exec(cargo().current_dir(root).args(["bench", "-q", "-p", "iys-core", "--bench", "core", "--", "run", &dir_s]))?;
    read_tsv(&dir.join("rust.tsv"), &mut f)?;

    // 2. Node.
    crate::npm::build(root)?;
    let peers = ["libphonenumber-js", "email-validator", "ajv", "esbuild"];
    if !peers.iter().all(|p| root.join("node_modules").join(p).join("package.json").exists()) {
        exec(Command::new("npm").current_dir(root).args(["ci", "--no-audit", "--no-fund"]))?;
    }
    exec(Command::new("node").current_dir(root).arg(root.join("crates/iys-wasm/bench/bench.mjs")).arg(&dir))?;
    read_tsv(&dir.join("node.tsv"), &mut f)?;

    // 3. One million CSV rows.
    let csv = dir.join("consents-1m.csv");
    eprintln!("generating {} ({CSV_ROWS} rows)", csv.display());
    gen::write_consents_csv(&csv, CSV_ROWS, 42).map_err(|e| format!("write {}: {e}", csv.display()))?;
    let csv_bytes = fs::metadata(&csv).map(|m| m.len()).unwrap_or(0);
    let iys = root.join("target").join("release").join("iys");
    let (mut ours, mut ours1, mut node) = (CsvRuns::default(), CsvRuns::default(), CsvRuns::default());
    let mut bar = String::new();
    let mut node_summary = String::new();
    let load_csv = loadavg();
    for _ in 0..CSV_RUNS {
        let (t, b) = iys_check(&iys, &csv, &dir, None)?;
        ours.push(t);
        bar = b;
        let (t, s) = node_check(root, &csv, &dir)?;
        node.push(t);
        node_summary = s;
        ours1.push(iys_check(&iys, &csv, &dir, Some("1"))?.0);
    }
    let load_end = loadavg();

    let ctx = Context {
        f,
        ours,
        ours1,
        node,
        bar,
        node_summary,
        csv_bytes,
        load: [load_start, load_csv, load_end],
        cpu: fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines()
                    .find(|l| l.starts_with("model name"))
                    .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
            })
            .unwrap_or_default(),
        cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        rustc: output_of("rustc", &["--version"]),
        date: output_of("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
    };
    let (mut md, rows) = report(&ctx)?;
    let docs = root.join("docs");
    fs::create_dir_all(&docs).map_err(|e| format!("mkdir {}: {e}", docs.display()))?;
    // Hand-written notes on figures measured outside this run stay at the end, between their markers.
    let old = fs::read_to_string(docs.join("benchmarks.md")).unwrap_or_default();
    if let (Some(a), Some(b)) = (old.find(NOTES_START), old.find(NOTES_END)) {
        if a < b {
            md.push('\n');
            md.push_str(&old[a..b + NOTES_END.len()]);
            md.push('\n');
        }
    }
    write(&docs.join("benchmarks.md"), &md)?;
    write(&docs.join("benchmarks.svg"), &svg(&rows))?;
    println!("{md}");
    eprintln!("wrote docs/benchmarks.md and docs/benchmarks.svg in {:.0} s", started.elapsed().as_secs_f64());
    worker_bench::run(root)
}

struct Context {
    f: Figures,
    ours: CsvRuns,
    ours1: CsvRuns,
    node: CsvRuns,
    bar: String,
    node_summary: String,
    csv_bytes: u64,
    load: [String; 3],
    cpu: String,
    cores: usize,
    rustc: String,
    date: String,
}

/// One bar of the chart: measured/target, normalised so that ≥ 1 meets the target.
struct Row {
    label: String,
    score: f64,
    shown: String,
}

fn group(n: f64) -> String {
    let s = format!("{:.0}", n.round());
    let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

fn verdict(met: bool) -> &'static str {
    if met {
        "**met**"
    } else {
        "**missed**"
    }
}

fn report(c: &Context) -> Result<(String, Vec<Row>), String> {
    let f = &c.f;
    let mut md = String::new();
    let mut rows = Vec::new();
    let w = &mut md;
    let _ = writeln!(w, "# Benchmarks\n");
    let _ = writeln!(
        w,
        "Written by `cargo xtask bench` ({}). Benchmarks are not tests: every figure below was measured in \
         one run, next to its peer, on the same generated corpus, and is a median. Targets come from the issues; \
         the peers' published figures are in `anchors.md`.\n",
        c.date
    );
    let _ = writeln!(
        w,
        "Machine: {} × {} (shared with other builds), {}, Node {}. Load average (1/5/15 min) at the start {}, \
         before the CSV runs {}, at the end {}.\n",
        c.cores,
        c.cpu,
        c.rustc,
        text(f, "node.version"),
        c.load[0],
        c.load[1],
        c.load[2]
    );
    let _ = writeln!(w, "![ratios against targets](benchmarks.svg)\n");

    // --- core
    let phones = num(f, "rust.phones")?;
    let peer = num(f, "rust.phone.peer.ops")?;
    // The target compares like with like: the peer parses, validates and formats E.164 with no
    // diagnostics, as `Phone::parse` does; `normalize_recipient` also builds the warning.
    let ours = num(f, "rust.phone.iys_parse.ops")?;
    let ratio = ours / peer;
    let with_diagnostics = num(f, "rust.phone.iys.ops")? / peer;
    rows.push(Row {
        label: "core: recipients/s vs phonenumber".into(),
        score: ratio / TARGET_CORE_PHONE,
        shown: format!("{ratio:.1}× (target ≥ {TARGET_CORE_PHONE:.0}×)"),
    });
    let _ = writeln!(w, "## iys-core (native, one thread)\n");
    let _ = writeln!(
        w,
        "{} phone inputs and {} consent payloads (`target/bench/phones.txt`, `consents.ndjson`, written by \
         `crates/iys-core/benches/core.rs`). {} timed passes after one warm-up, peer and iys-core interleaved \
         pass by pass; ops/s median (min–max).\n",
        group(phones),
        group(num(f, "rust.consents")?),
        text(f, "rust.passes")
    );
    let _ = writeln!(w, "| what | ops/s median (min–max) | accepted | ratio | target | |");
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---|");
    let line = |w: &mut String, what: &str, key: &str, ratio: Option<f64>, target: &str, met: Option<bool>| {
        let _ = writeln!(
            w,
            "| {what} | {} ({}–{}) | {} | {} | {target} | {} |",
            group(num(f, &format!("{key}.ops")).unwrap_or(f64::NAN)),
            group(num(f, &format!("{key}.min")).unwrap_or(f64::NAN)),
            group(num(f, &format!("{key}.max")).unwrap_or(f64::NAN)),
            group(num(f, &format!("{key}.accepted")).unwrap_or(f64::NAN)),
            ratio.map(|r| format!("{r:.2}×")).unwrap_or_else(|| "peer".into()),
            met.map(verdict).unwrap_or(""),
        );
    };
    line(w, "`phonenumber` 0.3.10: parse(TR) + is_valid + region TR + E.164", "rust.phone.peer", None, "", None);
    line(
        w,
        "iys-core `Phone::parse` → E.164 and type (no diagnostics; like for like)",
        "rust.phone.iys_parse",
        Some(ratio),
        "≥ 50×",
        Some(ratio >= TARGET_CORE_PHONE),
    );
    line(
        w,
        "iys-core `normalize_recipient` → E.164 (with the `recipient/normalized` warning and its message params; context)",
        "rust.phone.iys",
        Some(with_diagnostics),
        "",
        None,
    );
    let serde = num(f, "rust.consent.serde.ops")?;
    line(
        w,
        "`serde_json` → `Consent` (shape and enums only; context, not a target)",
        "rust.consent.serde",
        None,
        "",
        None,
    );
    line(
        w,
        "iys-core `validate_consent`, every rule (strict, 3-business-day window with holidays)",
        "rust.consent.iys",
        Some(num(f, "rust.consent.iys.ops")? / serde),
        "—",
        None,
    );
    line(
        w,
        "iys-core `validate_batch`, 1000 per batch, every rule",
        "rust.consent.iys_batch",
        Some(num(f, "rust.consent.iys_batch.ops")? / serde),
        "—",
        None,
    );
    let _ = writeln!(
        w,
        "\nFirst call in the process: `phonenumber` {} ms (its lazy metadata decode and regex builds), iys-core {} ms. \
         Verdict or E.164 differs on {} of {} inputs (first: {}): inputs with letters, which the crate reads as \
         keypad digits and iys-core rejects, and numbers where iys-core's strict TR profile and libphonenumber's \
         block list differ, e.g. 561 numbers outside the listed blocks (see `tests/phone_differential.rs`).\n",
        text(f, "rust.phone.peer.cold_ms"),
        text(f, "rust.phone.iys.cold_ms"),
        text(f, "rust.phone.disagree"),
        group(phones),
        text(f, "rust.phone.disagree_example"),
    );

    // --- iys check
    let rows_f = CSV_ROWS as f64;
    let (ow, o1w, nw) = (c.ours.median_wall(), c.ours1.median_wall(), c.node.median_wall());
    let csv_ratio = nw / ow;
    rows.push(Row {
        label: "CLI: iys check rows/s vs Node script".into(),
        score: csv_ratio / TARGET_CSV,
        shown: format!("{csv_ratio:.1}× (target ≥ {TARGET_CSV:.0}×)"),
    });
    let _ = writeln!(w, "## `iys check` on 1,000,000 CSV rows\n");
    let _ = writeln!(
        w,
        "`gen.rs` `write_consents_csv(…, 1_000_000, 42)` ({:.1} MiB), checked with `--now '{}'` (normalise mode, \
         every rule). {CSV_RUNS} runs of each, alternating; median wall time from `/usr/bin/time -v`, peak RSS the \
         largest of the runs. `iys check` runs on a pseudo-terminal (`script`) so that its progress bar is drawn; \
         its report goes to /dev/null, as the Node script's does.\n",
        c.csv_bytes as f64 / 1_048_576.0,
        gen::REFERENCE_NOW
    );
    let _ = writeln!(
        w,
        "| checker | wall s (median; runs) | rows/s | CPU s (user+sys) | peak RSS | ratio (wall) | target | |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|---:|---|");
    let runs = |r: &CsvRuns| r.walls.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(", ");
    let _ = writeln!(
        w,
        "| Node {}: libphonenumber-js/max + email-validator + ajv standalone schema (`check-csv.mjs`) | {nw:.2} ({}) | {} | {:.2} | {:.1} MB | peer | | |",
        text(f, "node.version"),
        runs(&c.node),
        group(rows_f / nw),
        c.node.median_cpu(),
        c.node.max_rss_mb()
    );
    let _ = writeln!(
        w,
        "| `iys check` (all cores: rayon, {} here) | {ow:.2} ({}) | {} | {:.2} | {:.1} MB | {csv_ratio:.1}× | ≥ 10× | {} |",
        c.cores,
        runs(&c.ours),
        group(rows_f / ow),
        c.ours.median_cpu(),
        c.ours.max_rss_mb(),
        verdict(csv_ratio >= TARGET_CSV)
    );
    let _ = writeln!(
        w,
        "| `iys check`, `RAYON_NUM_THREADS=1` (one worker thread + the reader) | {o1w:.2} ({}) | {} | {:.2} | {:.1} MB | {:.1}× | (context) | |",
        runs(&c.ours1),
        group(rows_f / o1w),
        c.ours1.median_cpu(),
        c.ours1.max_rss_mb(),
        nw / o1w
    );
    let _ = writeln!(
        w,
        "\nCPU seconds are less sensitive to the shared machine than wall time: by CPU time per row, `iys check` \
         is {:.1}× the Node script.\n",
        c.node.median_cpu() / c.ours.median_cpu()
    );
    let _ = writeln!(
        w,
        "The terminal's last line after the last `iys check` run (the bar's final frame, then its closing \
         line):\n\n```\n{}\n```\n",
        c.bar.trim()
    );
    let _ = writeln!(w, "Node script summary (its own clock): `{}`\n", c.node_summary.trim());
    let _ = writeln!(
        w,
        "The Node script does what npm packages can: phone (libphonenumber-js/max, region TR, E.164), e-mail \
         (email-validator), then the JSON schema. It does not check calendar-valid dates, the 2015 floor, dates in \
         the future, the business-day window with Turkish holidays, MESAJ to mobiles only or HS_KARAR/RET, which \
         `iys check` does; so the peer does less work per row, and passes rows that `iys check` rejects (compare \
         the invalid counts above).\n"
    );

    // --- npm
    let np = num(f, "node.phone.lpjs_max.ops")?;
    let nb = num(f, "node.phone.iys_batch.ops")?;
    let ns = num(f, "node.phone.iys_single.ops")?;
    let nw = num(f, "node.phone.iys_batch_web.ops")?;
    let cw = num(f, "node.consent.iys_batch_json_web.ops")?;
    let ca = num(f, "node.consent.ajv.ops")?;
    let cb = num(f, "node.consent.iys_batch.ops")?;
    let cj = num(f, "node.consent.iys_batch_json.ops")?;
    let caj = num(f, "node.consent.ajv_json.ops")?;
    let first = num(f, "node.start.first_ms")?;
    let gz = num(f, "size.iys.files_gz")?;
    let peer_gz = num(f, "size.peer.gz")?;
    rows.push(Row {
        label: "npm: recipients/s vs libphonenumber-js/max".into(),
        score: nb / np / TARGET_NPM_PHONE,
        shown: format!("{:.2}× (target ≥ {TARGET_NPM_PHONE:.0}×)", nb / np),
    });
    // The consent target is judged from JSON text (see the text under the npm table for why).
    rows.push(Row {
        label: "npm: consents/s vs JSON.parse + ajv standalone".into(),
        score: cj / caj / TARGET_NPM_CONSENT,
        shown: format!("{:.3}× (target ≥ {TARGET_NPM_CONSENT:.1}×; from objects {:.3}×)", cj / caj, cb / ca),
    });
    rows.push(Row {
        label: "npm: instantiate → first answer".into(),
        score: TARGET_FIRST_MS / first,
        shown: format!("{first:.2} ms (target ≤ {TARGET_FIRST_MS:.0} ms)"),
    });
    rows.push(Row {
        label: "npm: gzip -9 wasm + JS".into(),
        score: TARGET_GZ / gz,
        shown: format!("{} B (target ≤ {})", group(gz), group(TARGET_GZ)),
    });
    let _ = writeln!(w, "## npm package `iys-validate` (Node, wasm)\n");
    let _ = writeln!(
        w,
        "`crates/iys-wasm/bench/bench.mjs`, one Node {} process, same corpus files as above; `crates/iys-wasm/pkg` \
         as built by `cargo xtask npm`, imported through its Node entry (`node.mjs`, which loads the `server` \
         build, opt-level 3; the browser entry with the `web` build, opt-level \"z\", is timed beside it as \
         context). {} timed passes after a warm-up, peers and iys-validate interleaved; ops/s median (min–max).\n",
        text(f, "node.version"),
        text(f, "node.passes")
    );
    let _ = writeln!(w, "| what | ops/s median (min–max) | accepted | ratio | target | |");
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---|");
    line(
        w,
        "libphonenumber-js/max: `parsePhoneNumberFromString(s,'TR')` + `isValid()` + country TR + `.number`",
        "node.phone.lpjs_max",
        None,
        "",
        None,
    );
    line(
        w,
        "`validateBatch` (1000 per call; each input as `{recipient, TACIR, ARAMA, ONAY}`, `mode: 'normalize'`)",
        "node.phone.iys_batch",
        Some(nb / np),
        "≥ 10×",
        Some(nb / np >= TARGET_NPM_PHONE),
    );
    line(w, "`normalizeRecipient` per input (context)", "node.phone.iys_single", Some(ns / np), "", None);
    line(
        w,
        "`validateBatch`, the browser's `web` build (context)",
        "node.phone.iys_batch_web",
        Some(nw / np),
        "",
        None,
    );
    line(
        w,
        "from JSON text (1000 per batch): `JSON.parse` + ajv 8.20.0 standalone (precompiled) consent schema, schema only",
        "node.consent.ajv_json",
        None,
        "",
        None,
    );
    line(
        w,
        "from JSON text: `validateBatchJson` (the same batch texts), every IYS rule (strict, window, holidays)",
        "node.consent.iys_batch_json",
        Some(cj / caj),
        "≥ 1.0×",
        Some(cj / caj >= TARGET_NPM_CONSENT),
    );
    line(
        w,
        "from JSON text: `validateBatchJson`, the browser's `web` build (context)",
        "node.consent.iys_batch_json_web",
        Some(cw / caj),
        "",
        None,
    );
    line(w, "from objects: ajv standalone on the parsed objects (context)", "node.consent.ajv", None, "", None);
    line(
        w,
        "from objects: `validateBatch` (1000 objects per call, written as JSON text for the wasm; context)",
        "node.consent.iys_batch",
        Some(cb / ca),
        "",
        None,
    );
    let _ = writeln!(
        w,
        "\nPhone verdict or E.164 differs between libphonenumber-js/max and `normalizeRecipient` on {} of {} inputs{}. \
         The ratios compare work of different scope: iys-validate also hands every item back as a consent in \
         wire form with its diagnostics and messages, and reports every problem, where ajv stops at the first. \
         The consent target is judged on the JSON-text pair: a Worker or server receives a request body as JSON \
         text, and from there both sides do the whole job (`JSON.parse` + ajv; `validateBatchJson`). From JS \
         objects ajv gets the parsing for free while `validateBatch` must first `JSON.stringify` them for the \
         wasm, so that pair (context) measures the copy across the boundary more than the validation.\n",
        text(f, "node.phone.disagree"),
        group(phones),
        match text(f, "node.phone.disagree_example") {
            "" | "?" => String::new(),
            e => format!(" (first: {e})"),
        }
    );
    let _ = writeln!(w, "| cold start ({} fresh Node processes, median) | ms | target | |", text(f, "node.start.runs"));
    let _ = writeln!(w, "|---|---:|---:|---|");
    let _ = writeln!(
        w,
        "| iys-validate, browser entry and `web` build: instantiate (`initSync` with a compiled `WebAssembly.Module`) + first `validateRecipient` answer | {first:.3} (min {}, max {}) | ≤ 1 ms | {} |",
        text(f, "node.start.first_min_ms"),
        text(f, "node.start.first_max_ms"),
        verdict(first <= TARGET_FIRST_MS)
    );
    let _ = writeln!(
        w,
        "| iys-validate: `new WebAssembly.Module(bytes)` (compile; not part of the target) | {} | | |",
        text(f, "node.start.compile_ms")
    );
    let _ = writeln!(
        w,
        "| … the same with the `server` build that Node and Workers load (context; its compile {}) | {} | | |",
        text(f, "node.start.server_compile_ms"),
        text(f, "node.start.server_first_ms")
    );
    let _ = writeln!(w, "| libphonenumber-js/max: `import` (context) | {} | | |", text(f, "node.start.peer_import_ms"));
    let _ = writeln!(
        w,
        "| libphonenumber-js/max: first parse + isValid + E.164 after import (context) | {} | | |",
        text(f, "node.start.peer_first_ms")
    );
    let _ = writeln!(w);
    let _ = writeln!(w, "| what a browser downloads | gzip -9 bytes | target | |");
    let _ = writeln!(w, "|---|---:|---:|---|");
    let _ = writeln!(
        w,
        "| iys-validate: `web/iys_validate_bg.wasm` + `web/iys_validate.js` + `index.js` + `api.js` (with the code and message tables of both languages; {} raw) | {} | ≤ 20,000 | {} |",
        group(num(f, "size.iys.files_raw")?),
        group(gz),
        verdict(gz <= TARGET_GZ)
    );
    let _ = writeln!(w, "| … of which the .wasm | {} | | |", group(num(f, "size.iys.wasm_gz")?));
    let _ = writeln!(
        w,
        "| (not downloaded by browsers: `server/iys_validate_bg.wasm`, which Node and Workers load) | {} | | |",
        group(num(f, "size.iys.server_wasm_gz")?)
    );
    let _ = writeln!(
        w,
        "| iys-validate bundled like the peer (esbuild JS {} + the .wasm asset) | {} | | |",
        group(num(f, "size.iys.bundle_js_gz")?),
        group(num(f, "size.iys.bundle_gz")?)
    );
    let _ = writeln!(
        w,
        "| libphonenumber-js/min + email-validator, `esbuild --bundle --minify --format=esm --platform=browser` ({} raw) | {} | (peer; anchors: 29,730) | |\n",
        group(num(f, "size.peer.raw")?),
        group(peer_gz)
    );

    // --- method and misses
    let _ = writeln!(w, "## How it is measured\n");
    let _ = writeln!(
        w,
        "- Corpus: `phones.txt` follows anchors.md §0 (65 % mobile-looking over 30 prefixes including 561, 15 % \
         landline incl. 850 and 392, 9 written forms, 20 % invalid: short, long, 1xx, letters, junk, US numbers); \
         `consents.ndjson` holds IYS payloads in wire form, about 80 % valid at {} (bad enums, dates, formats, \
         extra fields, wrong recipient for the type, MESAJ to landlines, unallocated numbers…). Deterministic \
         xorshift; the same files feed the Rust and the Node bench.\n\
         - Throughput: one warm-up pass, then the timed passes, peer and ours interleaved in the same process so \
         that load from the shared machine hits both; the table shows the median and the min–max spread. Only the \
         call is timed: reading files and building the input arrays happen before.\n\
         - \"First answer\": a fresh Node process reads the .wasm and compiles it (`new WebAssembly.Module`, timed \
         separately: browsers overlap it with the download, Workers receive it precompiled); the target covers \
         `initSync({{module}})` (instantiation) plus the first `validateRecipient('+905321234567')`, including \
         V8's lazy compilation of what that call runs.\n\
         - Size: gzip -9 (`gzip -9 -n`) of each file a browser loads from the package, summed; the peer is one \
         esbuild bundle of `parsePhoneNumberFromString` from libphonenumber-js/min and `validate` from \
         email-validator.\n\
         - Peers: ajv runs with default options (stops at the first error); iys-validate reports every problem \
         with messages. `phonenumber` 0.3.10, libphonenumber-js 1.13.16, email-validator 2.0.4, ajv 8.20.0, \
         esbuild 0.28.2.\n",
        text(f, "now_local")
    );
    let missed: Vec<&Row> = rows.iter().filter(|r| r.score < 1.0).collect();
    let _ = writeln!(w, "## Targets\n");
    for r in &rows {
        let _ = writeln!(w, "- {}: {} — {}", r.label, r.shown, verdict(r.score >= 1.0));
    }
    if !missed.is_empty() {
        let _ = writeln!(w, "\n{} of {} targets missed in this run.", missed.len(), rows.len());
    }
    Ok((md, rows))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A horizontal bar chart of measured/target on a log scale (0.01 … 100); the line at 1 is the target.
fn svg(rows: &[Row]) -> String {
    let (left, width, bar_h, gap, top) = (300.0, 420.0, 22.0, 12.0, 40.0);
    let height = top + rows.len() as f64 * (bar_h + gap) + 40.0;
    let total = left + width + 230.0;
    let x = |v: f64| left + (v.clamp(0.01, 100.0).log10() + 2.0) / 4.0 * width;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {total:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        s,
        "<text x=\"10\" y=\"18\" font-weight=\"bold\">share of the target reached: measured ÷ target, or target ÷ measured for ≤ targets (log scale; ≥ 1 = met)</text>"
    );
    for (v, label) in [(0.01, "0.01"), (0.1, "0.1"), (1.0, "1"), (10.0, "10"), (100.0, "100")] {
        let xv = x(v);
        let (stroke, w) = if v == 1.0 { ("#000", 2) } else { ("#ccc", 1) };
        let _ = writeln!(
            s,
            "<line x1=\"{xv:.1}\" y1=\"{:.0}\" x2=\"{xv:.1}\" y2=\"{:.0}\" stroke=\"{stroke}\" stroke-width=\"{w}\"/>",
            top - 8.0,
            height - 30.0
        );
        let _ = writeln!(
            s,
            "<text x=\"{xv:.1}\" y=\"{:.0}\" text-anchor=\"middle\" fill=\"#555\">{label}</text>",
            height - 14.0
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let y = top + i as f64 * (bar_h + gap);
        let (x0, x1) = (x(0.01), x(r.score));
        let color = if r.score >= 1.0 { "#2e7d32" } else { "#c62828" };
        let _ = writeln!(
            s,
            "<text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 8.0,
            y + bar_h * 0.7,
            escape(&r.label)
        );
        let _ = writeln!(
            s,
            "<rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bar_h}\" fill=\"{color}\" opacity=\"0.85\"/>",
            (x1 - x0).max(1.0)
        );
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            left + width + 8.0,
            y + bar_h * 0.7,
            escape(&r.shown)
        );
    }
    s.push_str("</svg>\n");
    s
}
