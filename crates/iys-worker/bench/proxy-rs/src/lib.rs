//! The Worker bench's second peer (`cargo xtask bench worker`): the pass-through proxy of
//! `../proxy/index.js`, line for line, but written with workers-rs and built by worker-build, as
//! the relay is. Every request goes to `UPSTREAM` (iys-sim) with its method, headers and body, as
//! `new Request(url, request)` does in the JS proxy, and the answer comes back unchanged.
//!
//! The relay pays for the Rust runtime (worker-build's JS shim, the `#[event(fetch)]` conversions,
//! the wasm instance) on every request; this peer pays for that and nothing else, so the relay's
//! ratio to it is what the relay's own work costs, and its ratio to the JS proxy is what the
//! runtime costs.

use worker::wasm_bindgen::JsCast;
use worker::{event, web_sys, Context, Env, Fetch, Request, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let url = req.url()?;
    let mut target = env.var("UPSTREAM")?.to_string();
    target.push_str(url.path());
    if let Some(q) = url.query() {
        target.push('?');
        target.push_str(q);
    }
    // `new Request(target, request)`: the request itself as the init (method, headers, body), as the
    // JS proxy does; the body is streamed through, never copied into wasm memory.
    let init: &web_sys::RequestInit = req.inner().unchecked_ref();
    let upstream = web_sys::Request::new_with_str_and_init(&target, init)?;
    Fetch::Request(Request::from(upstream)).send().await
}
