//! `cargo xtask load [--seconds 60]`: the load drill at full length.
//!
//! Runs `load_drill` of `tests/load.rs` (real workerd via `wrangler dev`, iys-sim as IYS, three
//! providers with different limits on keep-alive loopback connections) with `IYS_LOAD_SECONDS`, and
//! prints its table: throughput, p50/p99 latency, 429s, 5xx, and whether the limiter's decisions
//! were exact. The drill fails on any 5xx, a 429 without `Retry-After`, or a limiter decision a
//! token bucket cannot explain; throughput is reported, never asserted.

use std::path::Path;

/// Runs the drill for `seconds` and prints the report.
pub fn run(root: &Path, seconds: u64) -> Result<(), String> {
    let report = std::env::temp_dir().join(format!("iys-load-{}.md", std::process::id()));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let secs = seconds.to_string();
    let path = report.display().to_string();
    let result = crate::run_env(
        root,
        &cargo,
        &["test", "-p", "iys-tests", "--test", "load", "--", "--exact", "load_drill", "--nocapture"],
        &[("IYS_LOAD_SECONDS", &secs), ("IYS_LOAD_REPORT", &path)],
    );
    match std::fs::read_to_string(&report) {
        Ok(text) => {
            println!("{text}");
            let _ = std::fs::remove_file(&report);
        }
        Err(_) => eprintln!("xtask load: the drill wrote no report"),
    }
    result
}
