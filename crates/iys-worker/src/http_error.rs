//! The one error shape and the one `Code` → HTTP status map.
//!
//! Every error body is IYS's own shape, extended:
//!
//! ```json
//! {"errors": [{
//!   "code": "H121",                       // the IYS H-code IYS would answer (IYS clients read this)
//!   "message": "…",                       // Turkish by default, English with `Accept-Language: en`
//!   "location": ["recipient"],            // IYS-style location (array; batch items start with the index)
//!   "value": "0532 123 45 67",            // the offending input value, when there is one
//!   "index": 3,                           // batch item index, for batch requests
//!   "iysEdgeCode": "recipient/phone-not-wire-form",   // our stable code
//!   "path": "/recipient",                 // JSON Pointer into the request body
//!   "wire": "+905321234567"               // the wire form, when the value was valid but mis-written
//! }]}
//! ```
//!
//! When IYS itself has no code for a problem (`auth/admin-required`, `request/not-found`, …) `code` is
//! `"IYSEDGE"` so IYS clients still find a string there. Upstream (IYS) errors are never remapped: the
//! relay answers IYS's own status and body verbatim, with `x-iys-edge-code: upstream/rejected`.

use iys_core::json::Value as JValue;
use iys_core::{Code, Diagnostic, Lang};
use serde_json::{json, Map, Value};
use worker::{Headers, Response};

/// The HTTP status for a code. Validation is 422, auth 401/403, rate limits 429, upstream 502/504.
pub fn status_for(code: Code) -> u16 {
    let s = code.as_str();
    match s {
        "request/invalid-json" | "request/json-too-deep" | "request/invalid-utf8" => 400,
        // IYS's status for its change query's H098; `pull::bad_query` answers 422 where IYS does
        // (a bad `limit`).
        "request/invalid-query-param" => 400,
        "request/body-too-large" => 413,
        "request/unsupported-media-type" => 415,
        "request/rate-limited" | "auth/token-rate-limited" => 429,
        "request/not-found" => 404,
        "request/method-not-allowed" => 405,
        "auth/bad-grant" => 400,
        "auth/out-of-scope" => 403,
        "upstream/timeout" => 504,
        "upstream/unavailable" => 503,
        "upstream/rejected" => 502,
        _ if s.starts_with("auth/") => 401,
        _ if s.starts_with("upstream/") => 502,
        // recipient/*, consent/*, batch/*, request/invalid-path-param and anything new.
        _ => 422,
    }
}

/// An error answer: status, items, optional Retry-After.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// The `errors` items.
    pub errors: Vec<Value>,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
    /// The methods for `Allow` (a 405).
    pub allow: Option<&'static str>,
}

impl ApiError {
    /// One error for `code`, with params for the message.
    pub fn code(code: Code, params: &[(&'static str, String)], lang: Lang) -> Self {
        let mut d = Diagnostic::new(code, "");
        for (k, v) in params {
            d = d.with(k, v.clone());
        }
        let retry_after = d.param("retry_after").and_then(|v| v.parse().ok());
        ApiError {
            status: status_for(code),
            errors: vec![diagnostic_json(&d, None, lang, false)],
            retry_after,
            allow: None,
        }
    }

    /// Validation errors (only the errors; warnings are not reported here).
    pub fn diagnostics<'a>(
        diags: impl IntoIterator<Item = &'a Diagnostic>,
        input: Option<&JValue>,
        lang: Lang,
        batch: bool,
    ) -> Self {
        let errors: Vec<Value> =
            diags.into_iter().filter(|d| d.is_error()).map(|d| diagnostic_json(d, input, lang, batch)).collect();
        ApiError::unprocessable(errors)
    }

    /// A 422 with these `errors` (already in IYS's shape): the request was read but cannot be done.
    pub fn unprocessable(errors: Vec<Value>) -> Self {
        ApiError { status: 422, errors, retry_after: None, allow: None }
    }

    /// An internal failure (never carries details to the caller).
    pub fn internal(what: &str) -> Self {
        worker::console_error!("internal error: {what}");
        ApiError {
            status: 500,
            errors: vec![
                json!({"code": "H015", "message": "Beklenmeyen bir hata oluştu.", "iysEdgeCode": "internal/error"}),
            ],
            retry_after: None,
            allow: None,
        }
    }

    /// 405 `request/method-not-allowed` on a known path, with `Allow` naming the methods it takes
    /// (`"GET"`, `"GET, PATCH"`). The one answer for a wrong method on every route; an unknown path
    /// is 404 `request/not-found`.
    pub fn method_not_allowed(allow: &'static str, lang: Lang) -> Self {
        let mut e = ApiError::code(Code::MethodNotAllowed, &[("allow", allow.to_string())], lang);
        e.allow = Some(allow);
        e
    }

    /// For a path with the methods `allow` (`None`: no such path): 405 or 404.
    pub fn wrong_method_or_not_found(allow: Option<&'static str>, lang: Lang) -> Self {
        match allow {
            Some(a) => ApiError::method_not_allowed(a, lang),
            None => ApiError::code(Code::NotFound, &[], lang),
        }
    }

    /// The HTTP response.
    pub fn into_response(self) -> worker::Result<Response> {
        let mut r = Response::from_json(&json!({ "errors": self.errors }))?.with_status(self.status);
        if let Some(s) = self.retry_after {
            r.headers_mut().set("Retry-After", &s.to_string())?;
        }
        if let Some(a) = self.allow {
            r.headers_mut().set("Allow", a)?;
        }
        Ok(r)
    }
}

impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        ApiError::internal(&e.to_string())
    }
}

/// The language the caller asked for (`Accept-Language`), Turkish by default like IYS.
pub fn lang_of(headers: &Headers) -> Lang {
    match headers.get("Accept-Language").ok().flatten() {
        Some(v) if v.trim_start().to_ascii_lowercase().starts_with("en") => Lang::En,
        _ => Lang::Tr,
    }
}

/// One diagnostic as an `errors[]` item.
pub fn diagnostic_json(d: &Diagnostic, input: Option<&JValue>, lang: Lang, batch: bool) -> Value {
    let mut o = Map::new();
    o.insert("code".into(), Value::String(d.code.iys_code().unwrap_or("IYSEDGE").into()));
    o.insert("message".into(), Value::String(d.message(lang)));
    let tokens: Vec<String> = if d.path.is_empty() {
        Vec::new()
    } else {
        d.path.trim_start_matches('/').split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect()
    };
    if !tokens.is_empty() {
        let loc: Vec<Value> = tokens
            .iter()
            .map(|t| match t.parse::<u64>() {
                Ok(n) if !t.starts_with('0') || t == "0" => Value::from(n),
                _ => Value::String(t.clone()),
            })
            .collect();
        o.insert("location".into(), Value::Array(loc));
        if batch {
            if let Ok(i) = tokens[0].parse::<u64>() {
                o.insert("index".into(), Value::from(i));
            }
        }
        if let Some(v) = input.and_then(|i| lookup(i, &tokens)) {
            o.insert("value".into(), to_serde(v));
        }
    }
    o.insert("iysEdgeCode".into(), Value::String(d.code.as_str().into()));
    o.insert("path".into(), Value::String(d.path.clone()));
    if let Some(w) = d.param("wire") {
        o.insert("wire".into(), Value::String(w.into()));
    }
    if !d.params.is_empty() {
        let p: Map<String, Value> =
            d.params.iter().map(|(k, v)| ((*k).to_string(), Value::String(v.clone()))).collect();
        o.insert("params".into(), Value::Object(p));
    }
    Value::Object(o)
}

fn lookup<'a>(v: &'a JValue, tokens: &[String]) -> Option<&'a JValue> {
    let mut cur = v;
    for t in tokens {
        cur = match cur {
            JValue::Array(a) => a.get(t.parse::<usize>().ok()?)?,
            JValue::Object(_) => cur.get(t)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// iys-core's JSON value → serde_json (numbers keep their value when they fit, else their text).
pub fn to_serde(v: &JValue) -> Value {
    match v {
        JValue::Null => Value::Null,
        JValue::Bool(b) => Value::Bool(*b),
        JValue::Number(n) => serde_json::from_str::<Value>(n).unwrap_or_else(|_| Value::String(n.clone())),
        JValue::String(s) => Value::String(s.clone()),
        JValue::Array(a) => Value::Array(a.iter().map(to_serde).collect()),
        JValue::Object(o) => {
            let mut m = Map::new();
            for (k, x) in o {
                m.entry(k.clone()).or_insert_with(|| to_serde(x));
            }
            Value::Object(m)
        }
    }
}
