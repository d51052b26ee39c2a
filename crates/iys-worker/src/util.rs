//! Small helpers: clock, ids, hashing, constant-time comparison, masking.

pub use iys_ledger::{hex, sha256_hex};

/// Milliseconds since the Unix epoch (the Workers clock).
pub fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

/// Seconds since the Unix epoch.
pub fn now_s() -> i64 {
    (now_ms() / 1000) as i64
}

/// ISO-8601 UTC timestamp with milliseconds (`2026-11-28T15:44:33.123Z`).
pub fn iso_now() -> String {
    let d = js_sys::Date::new_0();
    String::from(d.to_iso_string())
}

/// `n` random bytes from the platform CSPRNG (`crypto.getRandomValues`).
pub fn random_bytes(n: usize) -> Result<Vec<u8>, String> {
    let mut v = vec![0u8; n];
    getrandom::getrandom(&mut v).map_err(|e| format!("random: {e}"))?;
    Ok(v)
}

/// A number in 0..=1 from the CSPRNG (0.5 when it fails): the jitter of a backoff.
pub fn jitter01() -> f64 {
    random_bytes(1).map(|b| f64::from(b[0]) / 255.0).unwrap_or(0.5)
}

/// `f`'s output, unless `deadline` (Unix ms) comes first: then `None`, and `f` is dropped (with the
/// timer, which is cleared). No deadline: `f` as it is.
pub async fn within<T>(deadline: Option<u64>, f: impl std::future::Future<Output = T>) -> Option<T> {
    let Some(d) = deadline else { return Some(f.await) };
    let left = d.saturating_sub(now_ms());
    if left == 0 {
        return None;
    }
    let f = std::pin::pin!(f);
    let timer = std::pin::pin!(worker::Delay::from(std::time::Duration::from_millis(left)));
    match futures_util::future::select(f, timer).await {
        futures_util::future::Either::Left((v, _)) => Some(v),
        futures_util::future::Either::Right(_) => None,
    }
}

/// A random opaque token (`prefix` + 32 random bytes, hex).
pub fn random_token(prefix: &str) -> Result<String, String> {
    Ok(format!("{prefix}{}", hex(&random_bytes(32)?)))
}

/// A random id shaped like a UUID v4 (IYS's requestId/subrequestId look like this; ≤ 36 chars, H198).
pub fn uuid() -> Result<String, String> {
    let mut b = random_bytes(16)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    Ok(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
}

/// Constant-time equality of two byte strings (length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    diff == 0
}

/// A recipient as it may appear in logs: `+90532*****67`, `a***@example.com`.
pub fn mask_recipient(r: &str) -> String {
    if let Some((local, domain)) = r.split_once('@') {
        let first: String = local.chars().take(1).collect();
        return format!("{first}***@{domain}");
    }
    // At least 4 characters are masked, and all of a short one: up to 6 shown at the head (the
    // country and operator code of a phone number) and 2 at the tail.
    let chars: Vec<char> = r.chars().collect();
    let n = chars.len();
    if n <= 8 {
        return "*".repeat(n);
    }
    let head = (n - 6).min(6);
    let shown: String = chars[..head].iter().collect();
    let tail: String = chars[n - 2..].iter().collect();
    format!("{shown}{}{tail}", "*".repeat(n - head - 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_what_a_log_needs() {
        assert_eq!(mask_recipient("+905321234567"), "+90532*****67");
        assert_eq!(mask_recipient("ali.veli@example.com"), "a***@example.com");
        assert_eq!(mask_recipient("12345"), "*****");
        assert_eq!(mask_recipient("1234567"), "*******");
        assert_eq!(mask_recipient("12345678"), "********");
        assert_eq!(mask_recipient("123456789"), "123****89");
        assert_eq!(mask_recipient("ş23456789ö"), "ş234****9ö");
        assert_eq!(hex(&[0, 255, 16]), "00ff10");
        assert!(ct_eq(b"abc", b"abc") && !ct_eq(b"abc", b"abd") && !ct_eq(b"abc", b"ab"));
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
