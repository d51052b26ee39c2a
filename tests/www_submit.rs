//! The demo route (`POST /demo/consents`) and the sign-up page end to end: one relay (real workerd
//! via `wrangler dev`, iys-sim as IYS) whose vars name a demo provider that admin creates with a
//! chosen id; the route's contract (`www/README.md`) checked over HTTP, then the browser suite
//! `www/tests/submit.mjs` (headless Chromium) submits the form the Worker serves.

#[path = "support/worker.rs"]
mod support;

use iys_tests::consent_date;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use support::{root, Opts, Relay, Resp};

const DEMO_ID: &str = "prv_demo";
const IYS: u64 = 600100;
const BRAND: u64 = 600101;

/// The relay, with the demo provider created (MESAJ, ARAMA, EPOSTA on the demo brand).
fn relay() -> &'static Relay {
    static R: OnceLock<Relay> = OnceLock::new();
    R.get_or_init(|| {
        let mut opts = Opts::default();
        opts.vars.push(("DEMO_PROVIDER", DEMO_ID.into()));
        opts.vars.push(("DEMO_IYS_CODE", IYS.to_string()));
        opts.vars.push(("DEMO_BRAND_CODE", BRAND.to_string()));
        let r = Relay::start(opts);
        // Before admin creates the provider the route does not exist.
        let off = demo(&r, "tr", &json!({"consents": [consent("+905320000001", "MESAJ")]}).to_string());
        assert_eq!(off.status, 404, "{}", off.body);
        let c = r.admin(
            "POST",
            "/admin/providers",
            Some(&json!({"id": DEMO_ID, "name": "sign-up page", "rate": 20, "burst": 40,
                         "scopes": [{"iysCode": IYS, "brands": [BRAND], "types": ["MESAJ", "ARAMA", "EPOSTA"]}]})),
        );
        assert_eq!((c.status, c.json()["id"].clone()), (201, json!(DEMO_ID)), "{}", c.body);
        let again = r.admin(
            "POST",
            "/admin/providers",
            Some(&json!({"id": DEMO_ID, "name": "x", "scopes": [{"iysCode": 1, "brands": [1], "types": ["MESAJ"]}]})),
        );
        assert_eq!(again.status, 409, "{}", again.body);
        r
    })
}

/// The tests share the demo provider's limiter: the rate-limit test must not run beside the others.
static LIMITER: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    LIMITER.lock().unwrap_or_else(|e| e.into_inner())
}

fn demo(r: &Relay, lang: &str, body: &str) -> Resp {
    r.req("POST", "/demo/consents", &[("Content-Type", "application/json"), ("Accept-Language", lang)], Some(body))
}

fn consent(recipient: &str, kind: &str) -> Value {
    json!({"recipient": recipient, "recipientType": "BIREYSEL", "type": kind, "status": "ONAY",
           "source": "HS_WEB", "consentDate": consent_date()})
}

fn sim_consents(r: &Relay) -> Vec<Value> {
    let v = r.sim("GET", &format!("/__sim/consents?iysCode={IYS}&brandCode={BRAND}"), None).json();
    v.as_array().cloned().unwrap_or_default()
}

/// The ledger rows of `kind`, from the admin export (reading the local D1 from outside while the
/// worker writes could lock it).
fn ledger_rows(r: &Relay, kind: &str) -> Vec<Value> {
    let e = r.admin("GET", "/admin/ledger/export?after=0&limit=1000", None);
    assert_eq!(e.status, 200, "{}", e.body);
    e.body.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter(|v| v["kind"] == kind).collect()
}

#[test]
fn the_demo_route_relays_each_consent_as_the_demo_provider() {
    let r = relay();
    let _g = lock();
    let before = ledger_rows(r, "inbound:demo").len();
    // One valid consent, one a provider in strict mode could not send (human-written number), one
    // outside the demo provider's scope is impossible here (all three types are in scope), so the
    // third is an e-mail consent with a bad address.
    let body = json!({"consents": [
        consent("+905320000011", "MESAJ"),
        consent("0532 000 00 12", "ARAMA"),
        consent("not-an-address@", "EPOSTA"),
    ]});
    let a = demo(r, "en", &body.to_string());
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.header("x-iys-edge-request-id").is_some());
    let items = a.json()["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 3, "{}", a.body);
    assert_eq!(
        (items[0]["index"].clone(), items[0]["ok"].clone(), items[0]["status"].clone()),
        (json!(0), json!(true), json!(200))
    );
    assert!(items[0]["transactionId"].is_string(), "{}", a.body);
    assert_eq!((items[1]["ok"].clone(), items[1]["status"].clone()), (json!(false), json!(422)));
    assert_eq!(items[1]["errors"][0]["code"], "H121", "{}", a.body);
    assert!(items[1]["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", a.body);
    assert_eq!((items[2]["ok"].clone(), items[2]["status"].clone()), (json!(false), json!(422)));

    // Only the valid one reached IYS.
    let stored = sim_consents(r);
    assert!(stored.iter().any(|c| c["recipient"] == "+905320000011" && c["type"] == "MESAJ"), "{stored:?}");
    let never = ["+905320000012", "0532 000 00 12", "not-an-address@"];
    assert!(!stored.iter().any(|c| never.iter().any(|n| c["recipient"] == *n)), "{stored:?}");

    // A bare array works too; whole-request failures are the relay's usual errors.
    let bare = demo(r, "tr", &json!([consent("+905320000013", "MESAJ")]).to_string());
    assert_eq!((bare.status, bare.json()["items"][0]["ok"].clone()), (200, json!(true)), "{}", bare.body);
    let bad = demo(r, "tr", "{\"consents\": [");
    assert_eq!(bad.status, 400, "{}", bad.body);
    let empty = demo(r, "tr", "{\"consents\": []}");
    assert_eq!((empty.status, empty.json()["errors"][0]["iysEdgeCode"].clone()), (422, json!("batch/empty")));
    let not_list = demo(r, "tr", "{\"consents\": {}}");
    assert_eq!((not_list.status, not_list.json()["errors"][0]["iysEdgeCode"].clone()), (422, json!("batch/not-array")));
    // The wrapper's keys are read like any fixed-shape body's (`relay::read_json`).
    let typo = demo(r, "tr", "{\"consent\": {}}");
    assert_eq!((typo.status, typo.json()["errors"][0]["iysEdgeCode"].clone()), (422, json!("consent/unknown-field")));
    let text = r.req("POST", "/demo/consents", &[("Content-Type", "text/plain")], Some("{\"consents\": []}"));
    assert_eq!(
        (text.status, text.json()["errors"][0]["iysEdgeCode"].clone()),
        (415, json!("request/unsupported-media-type"))
    );

    // Every request is one ledger row under the demo provider, with IYS's transaction ids.
    let rows = ledger_rows(r, "inbound:demo");
    assert_eq!(rows.len(), before + 7, "{rows:?}");
    let first = &rows[before];
    assert_eq!((first["provider"].clone(), first["outcome"].clone()), (json!(DEMO_ID), json!("200")));
    assert_eq!(first["iys_ids"], items[0]["transactionId"]);
    let verify = r.admin("GET", "/admin/ledger/verify", None);
    assert_eq!(verify.json()["ok"], json!(true), "{}", verify.body);
}

#[test]
fn the_demo_route_is_rate_limited_by_the_demo_providers_limiter() {
    let r = relay();
    let _g = lock();
    let set = r.admin("PUT", &format!("/admin/providers/{DEMO_ID}/limits"), Some(&json!({"rate": 0.001, "burst": 2})));
    assert_eq!(set.status, 200, "{}", set.body);
    // Two tokens, three consents: the third item is refused by the limiter (and never relayed);
    // the next request finds the bucket empty and is refused whole.
    let body = json!([
        consent("+905320000021", "MESAJ"),
        consent("+905320000022", "MESAJ"),
        consent("+905320000023", "MESAJ")
    ]);
    let a = demo(r, "tr", &body.to_string());
    let b = demo(r, "tr", &json!([consent("+905320000024", "MESAJ")]).to_string());
    let restore =
        r.admin("PUT", &format!("/admin/providers/{DEMO_ID}/limits"), Some(&json!({"rate": 20, "burst": 40})));
    assert_eq!(restore.status, 200, "{}", restore.body);
    assert_eq!(a.status, 200, "{}", a.body);
    let statuses: Vec<Value> =
        a.json()["items"].as_array().cloned().unwrap_or_default().iter().map(|i| i["status"].clone()).collect();
    assert_eq!(statuses, vec![json!(200), json!(200), json!(429)], "{}", a.body);
    assert_eq!(a.json()["items"][2]["errors"][0]["iysEdgeCode"], "request/rate-limited");
    assert_eq!(
        (b.status, b.json()["errors"][0]["iysEdgeCode"].clone()),
        (429, json!("request/rate-limited")),
        "{}",
        b.body
    );
    assert!(b.header("retry-after").is_some());
    let stored = sim_consents(r);
    assert!(!stored.iter().any(|c| c["recipient"] == "+905320000023" || c["recipient"] == "+905320000024"));
    // Let the bucket refill (20/s) for the other tests.
    std::thread::sleep(std::time::Duration::from_millis(500));
}

/// `www/pkg/` is the npm package's browser build, copied by `cargo xtask test` (or `cargo xtask dev`)
/// before the suites run.
fn ensure_www_pkg(root: &Path) {
    for f in ["index.js", "api.js", "web/iys_validate.js", "web/iys_validate_bg.wasm"] {
        assert!(
            root.join("www/pkg").join(f).is_file(),
            "www/pkg/{f} is missing: run `cargo xtask npm` and copy it, or run this through `cargo xtask test`"
        );
    }
}

#[test]
fn the_sign_up_page_submits_through_the_demo_route_into_iys_sim() {
    let r = relay();
    let _g = lock();
    let root = root();
    ensure_www_pkg(&root);
    assert!(
        root.join("node_modules/playwright-core/package.json").is_file(),
        "node_modules/playwright-core is missing: npm ci"
    );
    let before = ledger_rows(r, "inbound:demo").len();
    let out = Command::new(root.join("node_modules/.bin/node"))
        .arg(root.join("www/tests/submit.mjs"))
        .env("IYS_RELAY_URL", &r.base)
        .env("IYS_SIM_URL", &r.sim)
        .current_dir(&root)
        .output()
        .expect("node runs");
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "www/tests/submit.mjs failed:\n{text}");
    assert!(text.contains("www submit: 3 passed, 0 failed"), "{text}");

    // The page's three consents (the script checked them field by field) are in the sim under the
    // demo brand, and the submit was one ledger request of the demo provider (the ahead-clock test
    // adds two more: its refused first post and the one dated at the relay's time).
    let stored = sim_consents(r);
    let has = |kind: &str, pred: &dyn Fn(&str) -> bool| {
        stored.iter().any(|c| c["type"] == kind && c["recipient"].as_str().is_some_and(pred) && c["source"] == "HS_WEB")
    };
    assert!(has("MESAJ", &|s| s == "+905321234567"), "{stored:?}");
    assert!(has("ARAMA", &|s| s == "+905321234567"), "{stored:?}");
    assert!(has("EPOSTA", &|s| s.starts_with("web-") && s.ends_with("@example.com")), "{stored:?}");
    let rows = ledger_rows(r, "inbound:demo");
    assert_eq!(rows.len(), before + 3, "{rows:?}");
    for row in &rows[before..] {
        assert_eq!((row["provider"].clone(), row["outcome"].clone()), (json!(DEMO_ID), json!("200")), "{row}");
    }
}
