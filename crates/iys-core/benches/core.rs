//! `cargo bench -p iys-core --bench core -- <gen|run> DIR` — the native half of `cargo xtask bench`.
//!
//! A benchmark, not a test: it asserts nothing about time. It runs the peer and iys-core on the
//! same corpus in the same process, interleaved pass by pass (so a burst of load from elsewhere
//! hits both), and reports medians and ratios.
//!
//! - `gen DIR` writes the shared corpus: `DIR/phones.txt` (100,000 Turkish phone inputs in the
//!   written forms of docs/anchors.md §0) and `DIR/consents.ndjson` (100,000 IYS consent payloads,
//!   about 80 % valid at [`NOW`]). The Node bench reads the same two files.
//! - `run DIR` measures and prints a table; the figures also go to `DIR/rust.tsv` (`key<TAB>value`)
//!   for `cargo xtask bench`.
//!
//! The phone generator is this file's own (deterministic xorshift). It overlaps in spirit with the
//! one in `tests/phone_differential.rs` (which is tuned to the differential test's categories) and
//! with `crates/xtask/src/gen.rs` (CSV rows); this one follows the anchors' corpus recipe so the
//! figures can be set next to the published peer figures.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use iys_core::consent::{Consent, Options};
use iys_core::recipient::{normalize_recipient, Phone, Recipient};
use phonenumber::country::Id;

/// "Now" for the consent corpus and the window rule: 2025-11-19 12:00:00 Turkey time (UTC+3).
const NOW: i64 = 1_763_542_800;
/// The same instant as IYS writes it (the Node bench passes this to `iys-validate`).
const NOW_LOCAL: &str = "2025-11-19 12:00:00";
const PHONES: usize = 100_000;
const CONSENTS: usize = 100_000;
/// Timed passes per measurement (after one warm-up pass).
const PASSES: usize = 7;

// ---------------------------------------------------------------------------------------------
// Corpus

#[path = "../tests/support/xorshift.rs"]
mod xorshift;
use xorshift::Rng;

/// 30 mobile prefixes, 561 among them, as in the anchors' corpus (561 is mostly outside
/// libphonenumber's blocks, so the peer refuses most of those numbers; iys-core's strict TR profile
/// takes every 5xx block).
const MOBILE: &[&str] = &[
    "501", "505", "506", "507", "530", "531", "532", "533", "534", "535", "536", "537", "538", "539", "541", "542",
    "543", "544", "545", "546", "549", "551", "552", "553", "554", "555", "559", "561", "516", "594",
];
const LANDLINE: &[&str] = &["212", "216", "232", "242", "312", "322", "850", "850", "392", "392"];

/// A 10-digit national number written in one of the 9 forms people use.
fn written(rng: &mut Rng, n: &str) -> String {
    let (p, a, b, c) = (&n[..3], &n[3..6], &n[6..8], &n[8..]);
    match rng.below(9) {
        0 => format!("0{p} {a} {b} {c}"),
        1 => format!("+90 {p} {a}{b}{c}"),
        2 => n.to_owned(),
        3 => format!("+90{n}"),
        4 => format!("0 ({p}) {a} {b} {c}"),
        5 => format!("0090 {p} {a} {b} {c}"),
        6 => format!("90{n}"),
        7 => format!("0{p}-{a}-{b}-{c}"),
        _ => format!("+90 ({p}) {a}-{b}-{c}"),
    }
}

fn phone_input(rng: &mut Rng) -> String {
    let roll = rng.below(100);
    if roll < 65 {
        let n = format!("{}{}", rng.pick(MOBILE), rng.digits(7));
        return written(rng, &n);
    }
    if roll < 80 {
        let n = format!("{}{}", rng.pick(LANDLINE), rng.digits(7));
        return written(rng, &n);
    }
    let n = format!("{}{}", rng.pick(MOBILE), rng.digits(7));
    match rng.below(6) {
        0 => {
            let w = written(rng, &n);
            let cut = 1 + rng.below(3);
            w[..w.len() - cut].to_owned()
        }
        1 => {
            let extra = 1 + rng.below(3);
            let w = written(rng, &n);
            format!("{w}{}", rng.digits(extra))
        }
        2 => {
            let n = format!("1{}", rng.digits(9));
            written(rng, &n)
        }
        3 => {
            let letters = rng.pick(&["ab", "xy", "cd", "tel", "k"]);
            format!("0{} {} {letters} {}", &n[..3], &n[3..6], &n[8..])
        }
        4 => rng
            .pick(&["", "-", "n/a", "yok", "0", "+90", "0000000000", "5", "+", "telefon", "05xx xxx xx xx"])
            .to_owned(),
        _ => format!("+1 {} {} {}", 201 + rng.below(700), 200 + rng.below(800), rng.digits(4)),
    }
}

fn email(rng: &mut Rng) -> String {
    let first = rng.pick(&["ali", "ayse", "mehmet", "fatma", "zeynep", "emre", "elif", "Can", "deniz", "SELIN"]);
    let last = rng.pick(&["yilmaz", "kaya", "demir", "sahin", "celik", "yildiz", "aydin", "ozturk"]);
    let domain =
        rng.pick(&["example.com", "example.com.tr", "posta.example.org", "mail.example.net", "firma.example.tr"]);
    let n = rng.below(1_000_000);
    match rng.below(4) {
        0 => format!("{first}.{last}{n}@{domain}"),
        1 => format!("{first}{n}@{domain}"),
        2 => format!("{first}_{last}.{n}@{domain}"),
        _ => format!("{first}.{last}{n}+kampanya@{domain}"),
    }
}

const SOURCES: &[&str] = &[
    "HS_WEB",
    "HS_FIZIKSEL_ORTAM",
    "HS_ISLAK_IMZA",
    "HS_CAGRI_MERKEZI",
    "HS_SOSYAL_MEDYA",
    "HS_EPOSTA",
    "HS_MESAJ",
    "HS_MOBIL",
    "HS_EORTAM",
    "HS_ETKINLIK",
    "HS_ATM",
];

/// A consentDate inside the 3-business-day window before [`NOW`] (Mon 00:00 .. Wed 11:59).
fn recent_date(rng: &mut Rng) -> String {
    let secs = rng.below(2 * 86_400 + 12 * 3_600);
    let day = 17 + secs / 86_400;
    let rest = secs % 86_400;
    format!("2025-11-{day:02} {:02}:{:02}:{:02}", rest / 3600, rest / 60 % 60, rest % 60)
}

/// One consent payload as compact JSON; about 80 % are valid at [`NOW`] with every rule on.
fn consent_line(rng: &mut Rng) -> String {
    let kind = match rng.below(10) {
        0..=4 => "MESAJ",
        5..=6 => "ARAMA",
        _ => "EPOSTA",
    };
    let mut recipient = match kind {
        "EPOSTA" => email(rng),
        "MESAJ" => format!("+90{}{}", rng.pick(&MOBILE[..27]), rng.digits(7)),
        _ => {
            let prefix = if rng.below(5) == 0 { rng.pick(&LANDLINE[..6]) } else { rng.pick(&MOBILE[..27]) };
            format!("+90{prefix}{}", rng.digits(7))
        }
    };
    let mut recipient_type = if rng.below(10) == 0 { "TACIR" } else { "BIREYSEL" };
    let mut status = if rng.below(8) == 0 { "RET" } else { "ONAY" };
    let mut source = Some(rng.pick(SOURCES).to_owned());
    let mut date = Some(recent_date(rng));
    let mut kind = kind;
    let mut retailer = None;
    let mut extra = None;
    if rng.below(10) == 0 {
        retailer = Some((1000 + rng.below(90_000), 1000 + rng.below(500), 2000 + rng.below(500)));
    }
    if recipient_type == "TACIR" && rng.below(4) == 0 {
        source = None;
        date = None;
    }
    if rng.below(100) < 20 {
        match rng.below(16) {
            0 => {
                recipient =
                    format!("0{} {} {} {}", &recipient[3..6], &recipient[6..9], &recipient[9..11], &recipient[11..])
            }
            1 => status = "RED",
            2 => date = Some("18.11.2025 10:30".to_owned()),
            3 => date = Some("2025-11-18T10:30:00".to_owned()),
            4 => date = Some("1990-01-01 00:00:00".to_owned()),
            5 => date = Some("2026-01-05 10:00:00".to_owned()),
            6 => date = Some("2025-11-10 09:00:00".to_owned()),
            7 => date = Some("2025-02-30 10:00:00".to_owned()),
            8 => extra = Some("\"name\":\"Ali Yilmaz\""),
            9 => {
                kind = "EPOSTA";
                recipient = format!("+90{}{}", rng.pick(&MOBILE[..27]), rng.digits(7));
            }
            10 => {
                kind = "EPOSTA";
                recipient = format!("{}şe.{}@örnek.com.tr", rng.pick(&["ay", "ali"]), rng.digits(3));
            }
            11 => {
                source = Some("HS_KARAR".to_owned());
                status = "ONAY";
            }
            12 => {
                kind = "MESAJ";
                recipient = format!("+90{}{}", rng.pick(&LANDLINE[..6]), rng.digits(7));
            }
            13 => {
                // Outside every range the strict TR profile takes (6xx, 7xx, 9xx).
                kind = "MESAJ";
                recipient = format!("+90{}{}", rng.pick(&["612", "701", "905"]), rng.digits(7));
            }
            14 => {
                recipient_type = "BIREYSEL";
                source = None;
            }
            _ => {
                kind = "ARAMA";
                recipient = email(rng);
            }
        }
    }
    let mut out = String::with_capacity(200);
    let _ = write!(out, "{{\"recipient\":\"{recipient}\",\"recipientType\":\"{recipient_type}\",\"type\":\"{kind}\"");
    let _ = write!(out, ",\"status\":\"{status}\"");
    if let Some(s) = source {
        let _ = write!(out, ",\"source\":\"{s}\"");
    }
    if let Some(d) = date {
        let _ = write!(out, ",\"consentDate\":\"{d}\"");
    }
    if let Some((code, a, b)) = retailer {
        let _ = write!(out, ",\"retailerCode\":{code},\"retailerAccess\":[{a},{b}]");
    }
    if let Some(e) = extra {
        let _ = write!(out, ",{e}");
    }
    out.push('}');
    out
}

fn gen(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    let mut rng = Rng(0x1975_0B0E_5EED_0001);
    let mut phones = String::new();
    for _ in 0..PHONES {
        phones.push_str(&phone_input(&mut rng));
        phones.push('\n');
    }
    let mut consents = String::new();
    for _ in 0..CONSENTS {
        consents.push_str(&consent_line(&mut rng));
        consents.push('\n');
    }
    write(&dir.join("phones.txt"), &phones)?;
    write(&dir.join("consents.ndjson"), &consents)?;
    eprintln!("wrote {} and {}", dir.join("phones.txt").display(), dir.join("consents.ndjson").display());
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("read {} (run `gen` first): {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Measurement

/// Per-pass durations of a measured closure (warm-up pass excluded) and what it returned.
struct Series {
    times: Vec<Duration>,
    result: usize,
}

impl Series {
    fn ops(&self, n: usize) -> Vec<f64> {
        let mut v: Vec<f64> = self.times.iter().map(|t| n as f64 / t.as_secs_f64()).collect();
        v.sort_by(f64::total_cmp);
        v
    }
}

fn median(sorted: &[f64]) -> f64 {
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs every closure once to warm up, then [`PASSES`] times, interleaved (A B C, A B C, …).
fn interleaved(fs: &mut [&mut dyn FnMut() -> usize]) -> Vec<Series> {
    let mut out: Vec<Series> = fs.iter().map(|_| Series { times: Vec::new(), result: 0 }).collect();
    for pass in 0..=PASSES {
        for (f, s) in fs.iter_mut().zip(out.iter_mut()) {
            let t = Instant::now();
            let r = black_box(f());
            let e = t.elapsed();
            if pass > 0 {
                s.times.push(e);
            }
            s.result = r;
        }
    }
    out
}

/// The peer's verdict, as the anchors define "accept": parses with region TR, valid, region TR; E.164.
fn peer_phone(s: &str) -> Option<String> {
    let n = phonenumber::parse(Some(Id::TR), s).ok()?;
    if !phonenumber::is_valid(&n) || n.country().id() != Some(Id::TR) {
        return None;
    }
    Some(n.format().mode(phonenumber::Mode::E164).to_string())
}

fn ours_phone(s: &str) -> Option<String> {
    match normalize_recipient(s).value {
        Some(Recipient::Phone(p)) => Some(p.e164().to_owned()),
        _ => None,
    }
}

/// The like-for-like call: human input → E.164 text, no diagnostics (what the peer does).
fn lean_phone(s: &str) -> Option<usize> {
    Phone::parse(s).ok().map(|p| black_box(p.e164()).len())
}

struct Out {
    table: String,
    tsv: String,
}

impl Out {
    fn kv(&mut self, key: &str, value: impl std::fmt::Display) {
        let _ = writeln!(self.tsv, "{key}\t{value}");
    }
    fn series(&mut self, key: &str, s: &Series, n: usize) {
        let ops = s.ops(n);
        self.kv(&format!("{key}.ops"), format!("{:.0}", median(&ops)));
        self.kv(&format!("{key}.min"), format!("{:.0}", ops.first().copied().unwrap_or(0.0)));
        self.kv(&format!("{key}.max"), format!("{:.0}", ops.last().copied().unwrap_or(0.0)));
        self.kv(&format!("{key}.accepted"), s.result);
    }
    fn row(&mut self, what: &str, s: &Series, n: usize, vs: Option<&Series>) {
        let ops = s.ops(n);
        let ratio = vs.map(|p| median(&ops) / median(&p.ops(n)));
        let _ = writeln!(
            self.table,
            "{what:<58} {:>12.0} {:>12.0} {:>12.0} {:>9} {:>8}",
            median(&ops),
            ops.first().copied().unwrap_or(0.0),
            ops.last().copied().unwrap_or(0.0),
            s.result,
            ratio.map(|r| format!("{r:.1}x")).unwrap_or_default(),
        );
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}

fn run(dir: &Path) -> Result<(), String> {
    let phones_text = read(&dir.join("phones.txt"))?;
    let phones: Vec<&str> = phones_text.lines().collect();
    let consents_text = read(&dir.join("consents.ndjson"))?;
    let consents: Vec<&str> = consents_text.lines().collect();
    let batches: Vec<String> = consents.chunks(1000).map(|c| format!("[{}]", c.join(","))).collect();
    let opts = Options::new(NOW);
    let mut out = Out { table: String::new(), tsv: String::new() };
    let load_before = loadavg();

    // Cold: the first call in the process (lazy tables, regex builds).
    let t = Instant::now();
    black_box(peer_phone("+90 532 123 45 67"));
    let peer_cold = t.elapsed();
    let t = Instant::now();
    black_box(ours_phone("+90 532 123 45 67"));
    let ours_cold = t.elapsed();

    // Agreement (once, outside timing): same verdict and same E.164.
    let mut disagree = 0usize;
    let mut example = None;
    for s in &phones {
        let (a, b) = (peer_phone(s), ours_phone(s));
        if a != b {
            disagree += 1;
            if example.is_none() {
                example = Some(format!("{s:?}: phonenumber {a:?}, iys-core {b:?}"));
            }
        }
    }

    let n = phones.len();
    let mut peer = || phones.iter().filter(|s| peer_phone(black_box(s)).is_some()).count();
    let mut lean = || phones.iter().filter(|s| lean_phone(black_box(s)).is_some()).count();
    let mut ours = || phones.iter().filter(|s| ours_phone(black_box(s)).is_some()).count();
    let phone = interleaved(&mut [&mut peer, &mut lean, &mut ours]);

    let m = consents.len();
    let mut serde_peer = || consents.iter().filter(|s| serde_json::from_str::<Consent>(black_box(s)).is_ok()).count();
    let mut single = || consents.iter().filter(|s| iys_core::validate_consent(black_box(s), &opts).is_ok()).count();
    let mut batch = || {
        batches
            .iter()
            .map(|b| iys_core::validate_batch(black_box(b), &opts).items.iter().filter(|i| i.is_ok()).count())
            .sum()
    };
    let consent = interleaved(&mut [&mut serde_peer, &mut single, &mut batch]);
    let load_after = loadavg();

    let _ = writeln!(
        out.table,
        "{:<58} {:>12} {:>12} {:>12} {:>9} {:>8}",
        "native, one thread (median of 7 passes)", "ops/s", "min", "max", "accepted", "ratio"
    );
    out.row("phonenumber 0.3.10: parse(TR) + is_valid + region TR + E.164", &phone[0], n, None);
    out.row("iys-core Phone::parse -> E.164 (no diagnostics)", &phone[1], n, Some(&phone[0]));
    out.row("iys-core normalize_recipient -> E.164 (+ diagnostics)", &phone[2], n, Some(&phone[0]));
    out.row("serde_json -> Consent (shape and enums only, no rules)", &consent[0], m, None);
    out.row("iys-core validate_consent, every rule (strict, window)", &consent[1], m, Some(&consent[0]));
    out.row("iys-core validate_batch, 1000 per batch, every rule", &consent[2], m, Some(&consent[0]));
    let _ = writeln!(
        out.table,
        "first call in the process: phonenumber {:.1} ms, iys-core {:.3} ms",
        peer_cold.as_secs_f64() * 1e3,
        ours_cold.as_secs_f64() * 1e3
    );
    let _ = writeln!(out.table, "phone verdict/E.164 disagreements: {disagree} of {n}");
    if let Some(e) = &example {
        let _ = writeln!(out.table, "  first: {e}");
    }
    let _ = writeln!(out.table, "load average before {load_before}, after {load_after}");

    out.kv("rust.phones", n);
    out.kv("rust.consents", m);
    out.kv("rust.passes", PASSES);
    out.series("rust.phone.peer", &phone[0], n);
    out.series("rust.phone.iys_parse", &phone[1], n);
    out.series("rust.phone.iys", &phone[2], n);
    out.series("rust.consent.serde", &consent[0], m);
    out.series("rust.consent.iys", &consent[1], m);
    out.series("rust.consent.iys_batch", &consent[2], m);
    out.kv("rust.phone.peer.cold_ms", format!("{:.2}", peer_cold.as_secs_f64() * 1e3));
    out.kv("rust.phone.iys.cold_ms", format!("{:.4}", ours_cold.as_secs_f64() * 1e3));
    out.kv("rust.phone.disagree", disagree);
    out.kv("rust.phone.disagree_example", example.unwrap_or_default().replace(['\t', '\n'], " "));
    out.kv("rust.load_before", &load_before);
    out.kv("rust.load_after", &load_after);
    out.kv("now_local", NOW_LOCAL);
    out.kv("now_unix", NOW);

    print!("{}", out.table);
    write(&dir.join("rust.tsv"), &out.tsv)
}

fn main() {
    // `cargo bench` appends `--bench`; ignore flags.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let dir = args.get(1).map_or_else(|| PathBuf::from("target/bench"), PathBuf::from);
    let result = match args.first().map(String::as_str) {
        Some("gen") => gen(&dir),
        Some("run") => run(&dir),
        _ => Err("usage: cargo bench -p iys-core --bench core -- <gen|run> [DIR]".to_owned()),
    };
    if let Err(e) = result {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
}
