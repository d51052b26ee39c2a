//! Shared test support: the fixture corpus and helpers that start servers on loopback.

pub mod fixture;

/// Turkey's wall clock a minute ago, as IYS writes consentDate (`YYYY-MM-DD HH:mm:ss`): a date
/// every relay test can send without tripping the future or the business-day checks.
pub fn consent_date() -> String {
    date_ago(60)
}

/// Turkey's wall clock `secs` seconds ago, as consentDate.
pub fn date_ago(secs: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    iys_core::time::LocalDateTime::from_unix(now - secs).to_string()
}

/// Writes `batches` into `dir` as `iys batch` would leave them (`batch-00001.json`, … and the
/// `manifest.json` naming each file's item count and SHA-256), so `iys upload DIR` sends them as
/// they are: items `iys batch` itself would reject (an old date) reach the relay's checks.
pub fn write_batch_dir(dir: &std::path::Path, batches: &[Vec<serde_json::Value>]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut files = Vec::new();
    for (n, items) in (1..).zip(batches) {
        let name = format!("batch-{n:05}.json");
        let bytes = serde_json::Value::Array(items.clone()).to_string();
        std::fs::write(dir.join(&name), &bytes)?;
        files.push(serde_json::json!({"name": name, "count": items.len(),
            "sha256": iys_ledger::sha256_hex(bytes.as_bytes())}));
    }
    let count: usize = batches.iter().map(Vec::len).sum();
    let manifest = serde_json::json!({"version": 1, "tool": "iys-tests", "records": count, "valid": count,
        "rejected": 0, "duplicates": 0, "files": files});
    std::fs::write(dir.join("manifest.json"), manifest.to_string())
}
