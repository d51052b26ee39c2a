//! Lean `fetch` for the hot path: the runtime's own `fetch` (global, or a Durable Object stub's) with
//! a plain init object, and the answer read with the runtime's `text()`.
//!
//! workers-rs's `Request`/`Response` wrappers build a `Headers` object and a `RequestInit`, and turn
//! every answer into a `worker::Response` (reading its headers, `cf` and WebSocket fields) that has
//! to be turned back into a JS `Response` to read its body in one call. On one workerd thread those
//! objects were a visible share of each relayed request (CPU profile through the inspector), so the
//! calls made on every request (the limiter, the upstream send, the ledger hand-over) use this.

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Env, Error, Result};

#[wasm_bindgen]
extern "C" {
    /// A Durable Object stub, as the runtime gives it.
    type RawStub;
    #[wasm_bindgen(method, js_name = fetch)]
    fn fetch(this: &RawStub, url: &str, init: &Object) -> Promise;

    /// A `Response`, as the runtime gives it.
    type RawResponse;
    #[wasm_bindgen(method, getter)]
    fn status(this: &RawResponse) -> u16;
    #[wasm_bindgen(method)]
    fn text(this: &RawResponse) -> Promise;

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

async fn answer(p: Promise) -> Result<(u16, String)> {
    let r: RawResponse = JsFuture::from(p).await.map_err(Error::from)?.unchecked_into();
    let status = r.status();
    let text = JsFuture::from(r.text()).await.map_err(Error::from)?;
    Ok((status, text.as_string().unwrap_or_default()))
}

/// `fetch(url, init)`: (status, body text).
pub async fn fetch(url: &str, init: &Object) -> Result<(u16, String)> {
    answer(global_fetch(url, init)).await
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
    let stub: RawStub = env.durable_object(binding)?.id_from_name(name)?.get_stub()?.into_rpc();
    // The objects read their bodies as JSON text whatever the headers say: none are sent.
    answer(stub.fetch(&format!("https://do{path}"), &init(method, &[], body, None)?)).await
}
