//! Plain HTTP to IYS with a timeout, and IYS's "worth resending" rules.

use serde_json::Value;
use worker::Method;

/// IYS answered (any status).
#[derive(Debug, Clone)]
pub struct UpResp {
    /// HTTP status.
    pub status: u16,
    /// Body text (usually JSON).
    pub text: String,
}

impl UpResp {
    /// The body as JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.text).ok()
    }

    /// The first IYS H-code in the body (`errors[0].code`, or a top-level `code`).
    pub fn first_code(&self) -> Option<String> {
        let v = self.json()?;
        first_code_of(&v)
    }

    /// 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The first H-code in an IYS error body.
pub fn first_code_of(v: &Value) -> Option<String> {
    if let Some(c) = v.get("errors").and_then(|e| e.get(0)).and_then(|e| e.get("code")).and_then(Value::as_str) {
        return Some(c.to_string());
    }
    v.get("code").and_then(Value::as_str).map(str::to_string)
}

/// IYS did not answer.
#[derive(Debug, Clone)]
pub enum UpErr {
    /// No answer within the timeout (the request may have reached IYS).
    Timeout,
    /// Connection failed (the request may or may not have reached IYS).
    Network(String),
    /// Nothing was sent: the token breaker is open or no token could be had (`retry_after` seconds).
    NotSent { code: &'static str, retry_after: u64, detail: String },
}

/// IYS's resend list, plus rate limits and 5xx: worth sending again later.
pub fn is_retryable(status: u16, code: Option<&str>) -> bool {
    const RESEND: [&str; 12] =
        ["H015", "H101", "H102", "H103", "H123", "H124", "H179", "H192", "H412", "H470", "H083", "H084"];
    if let Some(c) = code {
        if RESEND.contains(&c) {
            return true;
        }
    }
    status == 429 || status >= 500
}

/// Sends one request and reads the whole answer within `timeout_ms`.
pub async fn http(
    method: Method,
    url: &str,
    bearer: Option<&str>,
    body: Option<String>,
    timeout_ms: u64,
) -> Result<UpResp, UpErr> {
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let mut headers: Vec<(&str, &str)> = vec![("Accept", "application/json")];
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    if let Some(a) = &auth {
        headers.push(("Authorization", a));
    }
    // The runtime's own timeout signal covers the connection, the answer's headers and its body:
    // when it fires, the fetch (or the body read) fails and the signal says it was the timeout.
    let signal = crate::raw::timeout_signal(timeout_ms);
    let init = crate::raw::init(method.as_ref(), &headers, body.as_deref(), Some(&signal))
        .map_err(|e| UpErr::Network(e.to_string()))?;
    match crate::raw::fetch(url, &init).await {
        Ok((status, text)) => Ok(UpResp { status, text }),
        Err(_) if crate::raw::aborted(&signal) => Err(UpErr::Timeout),
        Err(e) => Err(UpErr::Network(e.to_string())),
    }
}
