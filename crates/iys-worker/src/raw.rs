//! Lean `fetch` for the hot path: the runtime's own `fetch` (global, or a Durable Object stub's) with
//! a plain init object (none for a Durable Object GET), and the answer read with the runtime's
//! `text()`, chained in JS so the wasm side awaits one promise per call. Durable Object ids are
//! derived once per isolate (`idFromName`), stubs per call.
//!
//! workers-rs's `Request`/`Response` wrappers build a `Headers` object and a `RequestInit`, and turn
//! every answer into a `worker::Response` (reading its headers, `cf` and WebSocket fields) that has
//! to be turned back into a JS `Response` to read its body in one call. On one workerd thread those
//! objects were a visible share of each relayed request (CPU profile through the inspector), so the
//! calls made on every request (the limiter, the upstream send, the ledger hand-over) use this.

use js_sys::{Object, Promise, Reflect};
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::prelude::*;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Env, Error, Result};

#[wasm_bindgen]
extern "C" {
    /// A Durable Object stub, as the runtime gives it.
    type RawStub;
    #[wasm_bindgen(method, js_name = fetch)]
    fn fetch(this: &RawStub, url: &str, init: &Object) -> Promise;
    /// `stub.fetch(url)`: a GET with no init object to build.
    #[wasm_bindgen(method, js_name = fetch)]
    fn fetch_get(this: &RawStub, url: &str) -> Promise;

    /// A Durable Object namespace binding, as the runtime gives it.
    type RawNamespace;
    #[wasm_bindgen(method, catch, js_name = idFromName)]
    fn id_from_name(this: &RawNamespace, name: &str) -> std::result::Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn get(this: &RawNamespace, id: &JsValue) -> std::result::Result<RawStub, JsValue>;

    /// The global `fetch`.
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(url: &str, init: &Object) -> Promise;

    /// `AbortSignal.timeout(ms)`: a signal the runtime aborts after `ms` (no timer in wasm).
    #[wasm_bindgen(js_namespace = AbortSignal, js_name = timeout)]
    fn abort_signal_timeout(ms: f64) -> JsValue;
}

/// A signal that aborts by itself after `ms` milliseconds (`AbortSignal.timeout`).
pub fn timeout_signal(ms: u64) -> JsValue {
    abort_signal_timeout(ms as f64)
}

/// Whether `signal` has aborted.
pub fn aborted(signal: &JsValue) -> bool {
    Reflect::get(signal, &JsValue::from_str("aborted")).ok().and_then(|v| v.as_bool()).unwrap_or(false)
}

fn set(o: &Object, k: &str, v: &JsValue) -> Result<()> {
    Reflect::set(o, &JsValue::from_str(k), v).map(|_| ()).map_err(Error::from)
}

/// A plain `RequestInit`: method, headers (name, value) and an optional text body and signal.
pub fn init(method: &str, headers: &[(&str, &str)], body: Option<&str>, signal: Option<&JsValue>) -> Result<Object> {
    let o = Object::new();
    set(&o, "method", &JsValue::from_str(method))?;
    if !headers.is_empty() {
        let h = Object::new();
        for (k, v) in headers {
            set(&h, k, &JsValue::from_str(v))?;
        }
        set(&o, "headers", &h)?;
    }
    if let Some(b) = body {
        set(&o, "body", &JsValue::from_str(b))?;
    }
    if let Some(s) = signal {
        set(&o, "signal", s)?;
    }
    Ok(o)
}

#[wasm_bindgen(inline_js = "
export function statusAndText(p) { return p.then((r) => r.text().then((t) => [r.status, t])); }
export function statusAndHeader(p, name) {
  return p.then((r) => {
    const h = r.headers.get(name);
    return h === null ? r.text().then((t) => [r.status, t]) : [r.status, h];
  });
}
")]
extern "C" {
    /// `[status, body text]` of a `fetch` promise, chained in JS: one promise for the wasm side to
    /// await per call instead of two (each await is a wake-up of the Rust task).
    #[wasm_bindgen(js_name = statusAndText)]
    fn status_and_text(p: &Promise) -> Promise;
    /// `[status, value of header name]` of a `fetch` promise whose answer carries that header (no
    /// body read); else `[status, body text]`.
    #[wasm_bindgen(js_name = statusAndHeader)]
    fn status_and_header(p: &Promise, name: &str) -> Promise;
}

/// Awaits a promise of `[status, text]` (from [`status_and_text`] or [`status_and_header`]).
async fn status_pair(p: Promise) -> Result<(u16, String)> {
    let pair: js_sys::Array = JsFuture::from(p).await.map_err(Error::from)?.unchecked_into();
    let status = pair.get(0).as_f64().unwrap_or(0.0) as u16;
    Ok((status, pair.get(1).as_string().unwrap_or_default()))
}

async fn answer(p: Promise) -> Result<(u16, String)> {
    status_pair(status_and_text(&p)).await
}

/// `fetch(url, init)`: (status, body text).
pub async fn fetch(url: &str, init: &Object) -> Result<(u16, String)> {
    answer(global_fetch(url, init)).await
}

/// Most object ids this isolate keeps per binding (one per provider's limiter; the others are singletons).
const MAX_IDS: usize = 4096;

thread_local! {
    /// Object ids by binding, then name: `idFromName` derives the same id from the same name every
    /// time, and an id is a plain value (not tied to the request that made it), so each isolate
    /// derives it once. The stub, which is tied to its request, is still made per call. (Two levels,
    /// so that a lookup borrows both names instead of allocating a key.)
    static IDS: RefCell<HashMap<String, HashMap<String, JsValue>>> = RefCell::new(HashMap::new());
}

fn stub(env: &Env, binding: &str, name: &str) -> Result<RawStub> {
    let ns = Reflect::get(env.as_ref(), &JsValue::from_str(binding)).map_err(Error::from)?;
    if ns.is_undefined() {
        return Err(Error::RustError(format!("no Durable Object binding {binding}")));
    }
    let ns: RawNamespace = ns.unchecked_into();
    let known = IDS.with(|m| m.borrow().get(binding).and_then(|ids| ids.get(name)).cloned());
    let id = match known {
        Some(id) => id,
        None => {
            let id = ns.id_from_name(name).map_err(Error::from)?;
            IDS.with(|m| {
                let mut m = m.borrow_mut();
                let ids = m.entry(binding.to_string()).or_default();
                if ids.len() >= MAX_IDS {
                    ids.clear();
                }
                ids.insert(name.to_string(), id.clone());
            });
            id
        }
    };
    ns.get(&id).map_err(Error::from)
}

/// `path` (with its query) on the Durable Object `name` of namespace `binding`: (status, body text).
pub async fn durable(
    env: &Env,
    binding: &str,
    name: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<(u16, String)> {
    answer(send(env, binding, name, method, path, body)?).await
}

fn send(env: &Env, binding: &str, name: &str, method: &str, path: &str, body: Option<&str>) -> Result<Promise> {
    let stub = stub(env, binding, name)?;
    let url = format!("https://do{path}");
    // A GET without a body needs no init object (GET is the default).
    if method == "GET" && body.is_none() {
        return Ok(stub.fetch_get(&url));
    }
    // The objects read their bodies as JSON text whatever the headers say: none are sent.
    Ok(stub.fetch(&url, &init(method, &[], body, None)?))
}

/// The header an object's answer comes in when the caller asks for it (`h=1` in the query, see
/// [`answer_in_header`]): its JSON in ASCII, with no body to stream across and read.
pub const ANSWER_HEADER: &str = "x-iys-answer";
/// Longest answer put in [`ANSWER_HEADER`]; a longer one is the body, as without `h=1`.
const MAX_HEADER_ANSWER: usize = 8 * 1024;

/// Like [`durable`], for a `path` that carries `h=1`: (status, the answer's JSON), read from
/// [`ANSWER_HEADER`] when the object answered there, else from the body.
pub async fn durable_h(
    env: &Env,
    binding: &str,
    name: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<(u16, String)> {
    status_pair(status_and_header(&send(env, binding, name, method, path, body)?, ANSWER_HEADER)).await
}

/// An object's JSON answer (status 200): in [`ANSWER_HEADER`] with no body when the caller asked
/// for it (`in_header`: `h=1` in its query) and it is short, else as the body.
pub fn answer_in_header(in_header: bool, json: String) -> Result<worker::Response> {
    if in_header && json.len() <= MAX_HEADER_ANSWER {
        return Ok(worker::Response::builder().with_header(ANSWER_HEADER, &ascii_json(&json))?.empty());
    }
    let mut r = worker::Response::ok(json)?;
    r.headers_mut().set("Content-Type", "application/json")?;
    Ok(r)
}

/// Whether a Durable Object request's query asks for the answer in [`ANSWER_HEADER`] (`h=1`).
pub fn wants_header(req: &worker::Request) -> bool {
    let url = req.inner().url();
    url.split_once('?').is_some_and(|(_, q)| q.split('&').any(|kv| kv == "h=1"))
}

/// `json` with every non-ASCII character (and DEL) written as a JSON `\uXXXX` escape (UTF-16,
/// surrogate pairs above U+FFFF): the same JSON value, and a valid HTTP header value (serde_json
/// already escapes the other control characters). serde_json writes such characters only inside
/// strings, where the escape means the same character.
pub fn ascii_json(json: &str) -> String {
    let plain = |c: char| c.is_ascii() && c != '\x7f';
    if json.chars().all(plain) {
        return json.to_string();
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if plain(c) {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::ascii_json;

    #[test]
    fn ascii_json_is_the_same_json_in_ascii() {
        let v = serde_json::json!({"name": "Şirket Ünal 😀 \"x\" \\ é \u{7f}\n", "n": 1});
        let text = serde_json::to_string(&v).unwrap_or_default();
        let a = ascii_json(&text);
        assert!(a.bytes().all(|b| (0x20..0x7f).contains(&b)), "{a}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&a).ok(), Some(v));
        assert_eq!(ascii_json(r#"{"a":1}"#), r#"{"a":1}"#);
    }
}
