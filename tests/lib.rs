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
