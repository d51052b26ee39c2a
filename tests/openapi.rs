//! `crates/iys-worker/openapi.json` against the relay itself.
//!
//! 1. Without a relay: the description is well formed (every `$ref` resolves, every schema
//!    compiles as JSON Schema 2020-12, every answer declares `x-iys-edge-request-id`, operation ids
//!    are unique), and its routes are exactly those of the route tables in
//!    `crates/iys-worker/README.md` (both directions), so a route added to the router and its
//!    README without the description (or the other way round) fails here.
//! 2. With a real relay (`wrangler dev` + iys-sim): every route is driven through its successes
//!    and main refusals, and every answer is checked against the description: the path and
//!    method are described, the status is documented, the declared headers are there (and match
//!    their schemas), the media type is documented and the body validates against the documented
//!    schema. At the end every described operation (and every path item's "other methods"
//!    answer, and the unmatched-path answer) must have been exercised.

#[path = "support/worker.rs"]
mod support;

use iys_tests::consent_date;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use support::{Opts, Relay, Resp, ADMIN};

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];
/// The prefix the README's route table abbreviates as `…`.
const SPS: &str = "/sps/{iysCode}/brands/{brandCode}";

fn description() -> Value {
    let path = support::root().join("crates/iys-worker/openapi.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

/// Follows `$ref`s (`#/…` pointers into the description) until a non-reference object.
fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..16 {
        let Some(r) = v.get("$ref").and_then(Value::as_str) else { return v };
        let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("only local refs: {r}"));
        v = doc.pointer(pointer).unwrap_or_else(|| panic!("unresolved $ref {r}"));
    }
    panic!("$ref chain too long")
}

/// Every `$ref` string anywhere in `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("$ref", Value::String(s)) => out.push(s.clone()),
                    _ => refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// The described operations: (METHOD, path template).
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if item.get(m).is_some() {
                out.insert((m.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// The routes of the README's tables: each table row's first cell, every `` `METHOD /path` ``
/// span in it (`…` standing for `/sps/{iysCode}/brands/{brandCode}`, the query dropped).
fn readme_routes() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(support::root().join("crates/iys-worker/README.md")).expect("README");
    let mut out = BTreeSet::new();
    for line in text.lines().filter(|l| l.starts_with('|')) {
        let cell = line.split('|').nth(1).unwrap_or("");
        for (i, span) in cell.split('`').enumerate() {
            if i % 2 == 0 {
                continue;
            }
            let Some((method, path)) = span.split_once(' ') else { continue };
            if !METHODS.contains(&method.to_ascii_lowercase().as_str()) || method != method.to_ascii_uppercase() {
                continue;
            }
            let path = path.split('?').next().unwrap_or("").trim();
            let path = match path.strip_prefix('…') {
                Some(rest) => format!("{SPS}{rest}"),
                None => path.to_string(),
            };
            out.insert((method.to_string(), path));
        }
    }
    out
}

/// A validator for `schema`, whose `#/components/…` refs resolve against the description: the
/// schema is validated as the root of a document that also holds the description's components.
fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let mut root = json!({"$schema": "https://json-schema.org/draft/2020-12/schema",
                          "components": doc["components"].clone(), "allOf": [schema]});
    root["$id"] = json!("urn:iys-edge:openapi");
    jsonschema::draft202012::new(&root).unwrap_or_else(|e| panic!("schema does not compile: {e}\n{schema}"))
}

#[test]
fn the_description_is_well_formed_and_lists_the_readme_routes() {
    let doc = description();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in &all {
        let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("only local refs: {r}"));
        assert!(doc.pointer(pointer).is_some(), "unresolved $ref {r}");
    }
    for name in doc["components"]["securitySchemes"].as_object().expect("security schemes").keys() {
        assert!(["relayToken", "adminSecret"].contains(&name.as_str()), "{name}");
    }

    // Every answer, of every operation and extension, declares the request id and compiles.
    let mut ids = BTreeSet::new();
    let mut response_sets: Vec<(String, &Value)> = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{m} {path}: no operationId"));
                assert!(ids.insert(id.to_string()), "operationId {id} twice");
                assert!(op["summary"].is_string() && op["description"].is_string(), "{m} {path}: describe it");
                response_sets.push((format!("{m} {path}"), &op["responses"]));
            }
        }
        if let Some(other) = item.get("x-iys-edge-other-methods") {
            response_sets.push((format!("other methods of {path}"), &other["responses"]));
        }
    }
    response_sets.push(("unmatched paths".into(), &doc["x-iys-edge-unmatched"]["responses"]));
    for (what, responses) in response_sets {
        let responses = responses.as_object().unwrap_or_else(|| panic!("{what}: no responses"));
        assert!(!responses.is_empty(), "{what}");
        for (status, r) in responses {
            assert!(status.len() == 3 && status.parse::<u16>().is_ok(), "{what}: status {status}");
            let r = resolve(&doc, r);
            let headers = r["headers"].as_object().unwrap_or_else(|| panic!("{what} {status}: no headers"));
            let rid = headers.get("x-iys-edge-request-id").map(|h| resolve(&doc, h));
            assert_eq!(rid.map(|h| h["required"].clone()), Some(json!(true)), "{what} {status}: x-iys-edge-request-id");
            for (media, c) in r["content"].as_object().into_iter().flatten() {
                let _ = validator(&doc, &c["schema"]);
                if let Some(line) = c["schema"].get("x-iys-edge-line-schema") {
                    let _ = validator(&doc, line);
                }
                assert!(["application/json", "application/x-ndjson"].contains(&media.as_str()), "{what}: {media}");
            }
        }
    }

    // The description and the README's route tables list the same routes.
    let described = operations(&doc);
    let readme = readme_routes();
    assert!(readme.len() >= 20, "the README's route tables were not found: {readme:?}");
    let missing: Vec<_> = readme.difference(&described).collect();
    let extra: Vec<_> = described.difference(&readme).collect();
    assert!(missing.is_empty(), "routes in crates/iys-worker/README.md but not in openapi.json: {missing:?}");
    assert!(extra.is_empty(), "routes in openapi.json but not in crates/iys-worker/README.md: {extra:?}");
}

/// Checks real answers against the description and records what was exercised.
struct Checker {
    doc: Value,
    validators: BTreeMap<String, jsonschema::Validator>,
    relay_error: jsonschema::Validator,
    /// (METHOD, template) of described operations answered.
    ops: BTreeSet<(String, String)>,
    /// Path templates whose `x-iys-edge-other-methods` answered.
    other: BTreeSet<String>,
    unmatched: bool,
    checked: usize,
}

impl Checker {
    fn new() -> Checker {
        let doc = description();
        let relay_error = validator(&doc, &json!({"$ref": "#/components/schemas/RelayErrorBody"}));
        Checker {
            doc,
            validators: BTreeMap::new(),
            relay_error,
            ops: BTreeSet::new(),
            other: BTreeSet::new(),
            unmatched: false,
            checked: 0,
        }
    }

    /// The described path template `path` falls under (a literal segment beats a parameter).
    fn template(&self, path: &str) -> Option<String> {
        let segs: Vec<&str> = path.split('/').collect();
        let mut best: Option<(usize, &String)> = None;
        for t in self.doc["paths"].as_object().expect("paths").keys() {
            let ts: Vec<&str> = t.split('/').collect();
            if ts.len() != segs.len() {
                continue;
            }
            let mut literal = 0;
            let fits = ts.iter().zip(&segs).all(|(t, s)| {
                if t.starts_with('{') && t.ends_with('}') {
                    !s.is_empty()
                } else {
                    literal += 1;
                    t == s
                }
            });
            if fits && best.is_none_or(|(n, _)| literal > n) {
                best = Some((literal, t));
            }
        }
        best.map(|(_, t)| t.clone())
    }

    fn validate(&mut self, schema: &Value, body: &Value, what: &str) {
        let key = schema.to_string();
        if !self.validators.contains_key(&key) {
            let v = validator(&self.doc, schema);
            self.validators.insert(key.clone(), v);
        }
        let v = &self.validators[&key];
        let errors: Vec<String> = v.iter_errors(body).map(|e| format!("{}: {e}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{what}: the body does not match the description:\n{}\n{body:#}", errors.join("\n"));
    }

    fn check(&mut self, method: &str, path: &str, resp: &Resp) {
        let bare = path.split('?').next().unwrap_or(path);
        let what = format!("{method} {path} -> {}", resp.status);
        let responses = match self.template(bare) {
            Some(t) => {
                let item = &self.doc["paths"][&t];
                match item.get(method.to_ascii_lowercase()) {
                    Some(op) => {
                        self.ops.insert((method.to_string(), t.clone()));
                        op["responses"].clone()
                    }
                    None => {
                        let other = item
                            .get("x-iys-edge-other-methods")
                            .unwrap_or_else(|| panic!("{what}: {method} is not described for {t}"));
                        self.other.insert(t.clone());
                        other["responses"].clone()
                    }
                }
            }
            None => {
                self.unmatched = true;
                self.doc["x-iys-edge-unmatched"]["responses"].clone()
            }
        };
        let status = resp.status.to_string();
        let r = responses.get(&status).unwrap_or_else(|| {
            panic!(
                "{what}: status {status} is not documented ({:?})\n{}",
                responses.as_object().map(|o| o.keys().collect::<Vec<_>>()),
                resp.body
            )
        });
        let r = resolve(&self.doc, r).clone();
        for (name, h) in r["headers"].as_object().into_iter().flatten() {
            let h = resolve(&self.doc, h).clone();
            match resp.header(name) {
                Some(v) => self.validate(&h["schema"], &json!(v), &format!("{what}: header {name}")),
                None => assert!(h["required"] != json!(true), "{what}: header {name} is missing\n{:?}", resp.headers),
            }
        }
        let upstream = resp.header("x-iys-edge-code") == Some("upstream/rejected");
        if let Some(content) = r["content"].as_object() {
            let ct = resp.header("content-type").unwrap_or("");
            let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            let c = content.get(&media).unwrap_or_else(|| panic!("{what}: content type {ct:?} is not documented"));
            if media == "application/x-ndjson" {
                let line_schema = c["schema"]["x-iys-edge-line-schema"].clone();
                for line in resp.body.lines().filter(|l| !l.is_empty()) {
                    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{what}: line not JSON: {e}"));
                    self.validate(&line_schema, &v, &what);
                }
            } else {
                let body: Value = serde_json::from_str(&resp.body)
                    .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", resp.body));
                self.validate(&c["schema"], &body, &what);
                // The relay's own refusals (all but IYS's, passed through) are the relay's error
                // shape, and its own 429s say when to come back.
                if resp.status >= 400 && !upstream {
                    let errors: Vec<String> = self.relay_error.iter_errors(&body).map(|e| e.to_string()).collect();
                    assert!(
                        errors.is_empty(),
                        "{what}: a relay-made error must be a RelayErrorBody: {errors:?}\n{body:#}"
                    );
                }
            }
        }
        if resp.status == 429 && !upstream {
            assert!(resp.header("retry-after").is_some(), "{what}: the relay's 429 has no Retry-After");
        }
        self.checked += 1;
    }

    fn assert_everything_exercised(&self) {
        let missing: Vec<_> = operations(&self.doc).difference(&self.ops).cloned().collect();
        assert!(missing.is_empty(), "described but never exercised: {missing:?}");
        for (path, item) in self.doc["paths"].as_object().expect("paths") {
            if item.get("x-iys-edge-other-methods").is_some() {
                assert!(self.other.contains(path), "the other-methods answer of {path} was never exercised");
            }
        }
        assert!(self.unmatched, "no unmatched path was exercised");
    }
}

/// One relay, one checker: every answer goes through [`Checker::check`].
struct Api {
    r: Relay,
    c: Checker,
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

impl Api {
    /// A request whose answer must have status `want` and match the description.
    fn go(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>, want: u16) -> Resp {
        let resp = self.r.req(method, path, headers, body);
        assert_eq!(resp.status, want, "{method} {path}: {}", resp.body);
        self.c.check(method, path, &resp);
        resp
    }

    fn admin(&mut self, method: &str, path: &str, body: Option<&Value>, want: u16) -> Resp {
        let auth = format!("Bearer {ADMIN}");
        let b = body.map(Value::to_string);
        self.go(method, path, &[("Authorization", &auth), JSON], b.as_deref(), want)
    }

    /// A provider's request with its token and a JSON body.
    fn call(&mut self, token: &str, method: &str, path: &str, body: Option<&Value>, want: u16) -> Resp {
        let auth = format!("Bearer {token}");
        let b = body.map(Value::to_string);
        self.go(method, path, &[("Authorization", &auth), JSON], b.as_deref(), want)
    }

    fn token(&mut self, body: &Value, want: u16) -> Resp {
        self.go("POST", "/oauth2/token", &[JSON], Some(&body.to_string()), want)
    }

    /// A sim fault for the next `route` call (`/__sim/faults`).
    fn fault(&self, kind: &str, route: &str, extra: Value) {
        let mut f = json!({"kind": kind, "route": route, "count": 1});
        for (k, v) in extra.as_object().into_iter().flatten() {
            f[k] = v.clone();
        }
        let r = self.r.sim("POST", "/__sim/faults", Some(&f));
        assert!(r.status < 300, "sim fault: {}", r.body);
    }
}

fn code_of(r: &Resp) -> String {
    r.json()["errors"][0]["iysEdgeCode"].as_str().unwrap_or("").to_string()
}

fn phone(n: u32) -> String {
    format!("+90532{:07}", 4_000_000 + n)
}

fn consent(recipient: &str, status: &str) -> Value {
    json!({"recipient": recipient, "recipientType": "BIREYSEL", "type": "MESAJ", "status": status,
           "source": "HS_WEB", "consentDate": consent_date()})
}

#[test]
fn every_route_answers_as_described() {
    let mut opts = Opts::default();
    // Short, so the timeout case (504) costs about 2 s.
    opts.vars.retain(|(k, _)| *k != "SYNC_TIMEOUT_MS");
    opts.vars.extend([
        ("SYNC_TIMEOUT_MS", "2000".to_string()),
        ("DEMO_PROVIDER", "prv_openapi_demo".to_string()),
        ("DEMO_IYS_CODE", "600100".to_string()),
        ("DEMO_BRAND_CODE", "600100".to_string()),
    ]);
    let mut a = Api { r: Relay::start(opts), c: Checker::new() };
    let big = format!("[\"{}\"]", "x".repeat(2 * 1024 * 1024 + 1));
    let text = ("Content-Type", "text/plain");

    // Liveness, unmatched paths, the demo before its provider exists.
    a.go("GET", "/health", &[], None, 200);
    // A known path with a method it does not take is 405 with `Allow` on every route (the demo's
    // path too, configured or not); an unknown path is 404.
    for (method, path, allow) in
        [("POST", "/health", "GET"), ("GET", "/oauth2/token", "POST"), ("GET", "/demo/consents", "POST")]
    {
        let r = a.go(method, path, &[], None, 405);
        assert_eq!((code_of(&r), r.header("allow")), ("request/method-not-allowed".into(), Some(allow)), "{path}");
    }
    a.go("GET", "/no/such/route", &[], None, 404);
    a.go("GET", "/admin/no-such-thing", &[], None, 401);
    a.admin("GET", "/admin/no-such-thing", None, 404);
    a.go("POST", "/sps/600001/nothing", &[], Some("{}"), 404);
    let demo_one = json!({"consents": [consent(&phone(900), "ONAY")]}).to_string();
    a.go("POST", "/demo/consents", &[JSON], Some(&demo_one), 404);
    a.go("GET", "/admin/providers", &[("Authorization", "Bearer not-the-admin-secret-at-all")], None, 401);

    // Providers.
    let scope = |iys: u64, brand: u64, types: &[&str]| json!([{"iysCode": iys, "brands": [brand], "types": types}]);
    let main = json!({"id": "prv_openapi_main", "name": "Main", "scopes": scope(600001, 600001, &["MESAJ", "ARAMA"]),
                      "mode": "normalize", "rate": 100, "burst": 200});
    let created = a.admin("POST", "/admin/providers", Some(&main), 201).json();
    a.admin("POST", "/admin/providers", Some(&main), 409);
    a.admin("POST", "/admin/providers", Some(&json!({"name": "x", "scopes": scope(600001, 600001, &["FAKS"])})), 400);
    let r = a.admin("POST", "/admin/providers", Some(&json!({"name": "x", "scopes": [], "colour": "red"})), 422);
    assert_eq!(code_of(&r), "consent/unknown-field");
    let auth = format!("Bearer {ADMIN}");
    a.go("POST", "/admin/providers", &[("Authorization", &auth), text], Some("{}"), 415);
    a.go("POST", "/admin/providers", &[("Authorization", &auth), JSON], Some(&big), 413);
    a.go("POST", "/admin/providers", &[("Authorization", &auth), JSON], Some("{"), 400);
    let limited = a
        .admin(
            "POST",
            "/admin/providers",
            Some(&json!({"name": "Limited", "scopes": scope(600001, 600001, &["MESAJ"]), "rate": 0, "burst": 1})),
            201,
        )
        .json();
    let demo = json!({"id": "prv_openapi_demo", "name": "Demo", "scopes": scope(600100, 600100, &["MESAJ"]), "rate": 0, "burst": 4});
    a.admin("POST", "/admin/providers", Some(&demo), 201);

    // Tokens.
    let (user, pass) = (created["username"].as_str().unwrap_or(""), created["password"].as_str().unwrap_or(""));
    let t = a.token(&json!({"grant_type": "password", "username": user, "password": pass}), 200).json();
    let refresh = t["refresh_token"].as_str().unwrap_or("").to_string();
    let t = a.token(&json!({"grant_type": "refresh_token", "refresh_token": refresh}), 200).json();
    let tok = t["access_token"].as_str().unwrap_or("").to_string();
    a.token(&json!({"grant_type": "refresh_token", "refresh_token": refresh}), 401);
    a.token(&json!({"grant_type": "password", "username": user, "password": "wrong"}), 401);
    a.token(&json!({"username": user, "password": pass}), 400);
    a.token(&json!({"grant_type": "password", "username": user, "password": pass, "extra": 1}), 422);
    a.go(
        "POST",
        "/oauth2/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some("grant_type=password"),
        415,
    );
    a.go("POST", "/oauth2/token", &[JSON], Some(&big), 413);
    a.go("POST", "/oauth2/token", &[JSON], Some("{\"grant_type\":"), 400);

    // Single add.
    let base = "/sps/600001/brands/600001/consents";
    let spaced = "0532 400 00 01";
    let r = a.call(&tok, "POST", base, Some(&consent(spaced, "ONAY")), 200);
    assert!(r.json()["iysEdgeWarnings"].is_array(), "normalize mode warns: {}", r.body);
    let r = a.call(&tok, "POST", base, Some(&consent(&phone(1), "ONAY")), 400);
    assert_eq!(
        (r.header("x-iys-edge-code"), r.json()["errors"][0]["code"].clone()),
        (Some("upstream/rejected"), json!("H174"))
    );
    a.call(&tok, "POST", base, Some(&consent("not a recipient", "ONAY")), 422);
    a.go("POST", base, &[JSON], Some(&consent(&phone(2), "ONAY").to_string()), 401);
    a.call("iyse_at_prv_x.1.2.3", "POST", base, Some(&consent(&phone(2), "ONAY")), 401);
    a.call(&tok, "POST", "/sps/600001/brands/600002/consents", Some(&consent(&phone(2), "ONAY")), 403);
    let r = a.call(&tok, "POST", "/sps/abc/brands/600001/consents", Some(&consent(&phone(2), "ONAY")), 422);
    assert_eq!(r.json()["errors"][0]["code"], "H190");
    let mut mail = consent("ali@example.com", "ONAY");
    mail["type"] = json!("EPOSTA");
    a.call(&tok, "POST", base, Some(&mail), 403);
    let bearer = format!("Bearer {tok}");
    a.go("POST", base, &[("Authorization", &bearer), text], Some(&consent(&phone(2), "ONAY").to_string()), 415);
    a.go("POST", base, &[("Authorization", &bearer), JSON], Some(&big), 413);
    a.go("POST", base, &[("Authorization", &bearer), JSON], Some("{\"recipient\""), 400);
    a.call(&tok, "GET", base, None, 405);
    // IYS's own refusals, passed through verbatim.
    for (kind, status) in [("500", 500), ("503", 503), ("429", 429)] {
        a.fault(kind, "add", json!({}));
        let r = a.call(&tok, "POST", base, Some(&consent(&phone(3), "ONAY")), status);
        assert_eq!(r.header("x-iys-edge-code"), Some("upstream/rejected"), "{}", r.body);
    }

    // One consent's status.
    let status = format!("{base}/status");
    let q = |p: &str| json!({"recipient": p, "recipientType": "BIREYSEL", "type": "MESAJ"});
    let r = a.call(&tok, "POST", &status, Some(&q(&phone(1))), 200);
    assert_eq!(r.json()["status"], "ONAY");
    let r = a.call(&tok, "POST", &status, Some(&q(&phone(99))), 404);
    assert_eq!(r.header("x-iys-edge-code"), Some("upstream/rejected"));
    a.call(&tok, "POST", &status, Some(&json!({"recipient": phone(1), "recipientType": "X", "type": "MESAJ"})), 422);
    a.call(
        &tok,
        "POST",
        &status,
        Some(&json!({"recipient": phone(1), "recipientType": "BIREYSEL", "type": "MESAJ", "x": 1})),
        422,
    );
    a.call(
        &tok,
        "POST",
        &status,
        Some(&json!({"recipient": "ali@example.com", "recipientType": "BIREYSEL", "type": "EPOSTA"})),
        403,
    );
    let r = a.call(&tok, "GET", &status, None, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    a.fault("hold", "status", json!({"holdMs": 4000}));
    let r = a.call(&tok, "POST", &status, Some(&q(&phone(1))), 504);
    assert_eq!((code_of(&r), r.header("retry-after")), ("upstream/timeout".to_string(), Some("1")));
    a.fault("reset", "status", json!({}));
    let r = a.call(&tok, "POST", &status, Some(&q(&phone(1))), 503);
    assert_eq!(code_of(&r), "upstream/unavailable");
    // A network error says when to come back, like every other 503 of the relay's own: after
    // RETRY_BASE_S (1 s in the suites' options).
    assert_eq!(r.header("retry-after"), Some("1"), "{:?}", r.headers);

    // Many recipients' status.
    let multi = format!("{base}/BIREYSEL/status/MESAJ");
    let r = a.call(&tok, "POST", &multi, Some(&json!({"recipients": [phone(1), phone(98)]})), 200);
    assert_eq!(r.json()["list"], json!([phone(1)]));
    a.call(&tok, "POST", &format!("{base}/NOBODY/status/MESAJ"), Some(&json!({"recipients": [phone(1)]})), 422);
    for (body, code) in [
        (json!({"recipients": []}), "consent/recipients-empty"),
        (json!({}), "consent/recipients-missing"),
        (json!({"recipients": vec![phone(1); 1001]}), "consent/recipients-too-many"),
    ] {
        let r = a.call(&tok, "POST", &multi, Some(&body), 422);
        assert_eq!(code_of(&r), code, "{}", r.body);
    }
    let r = a.call(&tok, "GET", &multi, None, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    a.fault("429", "multi-status", json!({}));
    let r = a.call(&tok, "POST", &multi, Some(&json!({"recipients": [phone(1)]})), 429);
    assert_eq!(r.header("x-iys-edge-code"), Some("upstream/rejected"));

    // A single add IYS does not answer: queued (after the status faults, so the queue's own status
    // check cannot take one of them).
    a.fault("reset", "add", json!({}));
    let r = a.call(&tok, "POST", base, Some(&consent(&phone(4), "ONAY")), 202);
    assert_eq!(r.header("x-iys-edge-code"), Some("upstream/unavailable"));
    let queued = r.json()["requestId"].as_str().unwrap_or("").to_string();

    // Batches and their status.
    let batch = format!("{base}/request");
    let r = a.call(&tok, "POST", &batch, Some(&json!([consent(&phone(5), "ONAY"), consent(&phone(6), "ONAY")])), 200);
    let rid = r.json()["requestId"].as_str().unwrap_or("").to_string();
    let r = a.call(&tok, "POST", &batch, Some(&json!([consent(&phone(7), "ONAY"), consent("bad", "ONAY")])), 422);
    assert_eq!(r.json()["errors"][0]["index"], 1, "{}", r.body);
    a.call(&tok, "POST", &batch, Some(&json!({"consents": []})), 422);
    a.call(&tok, "GET", &batch, None, 405);
    let r = a.call(&tok, "GET", &format!("{batch}/{rid}"), None, 200);
    assert_eq!(r.json().as_array().map(Vec::len), Some(2));
    a.call(&tok, "GET", &format!("{batch}/{queued}"), None, 200);
    a.call(&tok, "GET", &format!("{batch}/no-such-request"), None, 422);
    let r = a.call(&tok, "POST", &format!("{batch}/{rid}"), Some(&json!({})), 405);
    assert_eq!(r.header("allow"), Some("GET"));
    a.call(&tok, "GET", &format!("{batch}/{rid}/more"), None, 404);

    // A batch with an Idempotency-Key: queued, then replayed; the key with another batch, a
    // malformed key, and a key whose first request is still queueing (a claim planted in D1).
    let tok_auth = format!("Bearer {tok}");
    let keyed = json!([consent(&phone(9), "ONAY")]).to_string();
    let with_key = |k: &'static str| {
        [
            ("Authorization", tok_auth.clone()),
            ("Content-Type", "application/json".into()),
            ("Idempotency-Key", k.into()),
        ]
    };
    let h = with_key("openapi-1");
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let first = a.go("POST", &batch, &h, Some(&keyed), 200);
    let again = a.go("POST", &batch, &h, Some(&keyed), 200);
    assert_eq!((again.header("x-iys-edge-idempotent-replay"), again.json()), (Some("true"), first.json()));
    let r = a.go("POST", &batch, &h, Some(&json!([consent(&phone(10), "ONAY")]).to_string()), 422);
    assert_eq!(code_of(&r), "request/idempotency-key");
    let bad = [("Authorization", tok_auth.as_str()), JSON, ("Idempotency-Key", "\u{e7}")];
    let r = a.go("POST", &batch, &bad, Some(&keyed), 400);
    assert_eq!(code_of(&r), "request/idempotency-key");
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    a.r.d1(&format!(
        "INSERT INTO idempotency (provider_id, key, body_sha256, claim, answer, created_at) \
         SELECT provider_id, 'openapi-pending', body_sha256, 'planted', NULL, {now_ms} FROM idempotency WHERE key = 'openapi-1'"
    ));
    let h = with_key("openapi-pending");
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = a.go("POST", &batch, &h, Some(&keyed), 409);
    assert_eq!((code_of(&r), r.header("retry-after")), ("request/idempotency-key".to_string(), Some("1")));

    // Changes: a citizen's change on IYS's side, old enough to be pulled (the window leaves out the
    // last hour), pulled by the cron's route, then read.
    let citizen = json!({"iysCode": 600001, "brandCode": 600001, "recipient": phone(8), "recipientType": "BIREYSEL",
                         "type": "MESAJ", "status": "ONAY", "source": "IYS_MOBIL", "citizenName": "Ayşe Yılmaz"});
    assert!(a.r.sim("POST", "/__sim/citizen", Some(&citizen)).status < 300);
    assert!(a.r.sim("POST", "/__sim/clock", Some(&json!({"advanceSeconds": 3700}))).status < 300);
    let report = a.admin("POST", "/admin/pull", None, 200).json();
    let stored: u64 = report["brands"].as_array().into_iter().flatten().filter_map(|b| b["stored"].as_u64()).sum();
    assert!(stored >= 1, "{report}");
    let changes = format!("{base}/changes");
    let r = a.call(&tok, "GET", &format!("{changes}?source=IYS&after=0&limit=10"), None, 200);
    assert_eq!(r.json()["list"][0]["citizenName"], "Ayşe Yılmaz", "{}", r.body);
    let r = a.call(&tok, "GET", &format!("{changes}?source=HS"), None, 200);
    assert!(r.json()["list"].as_array().is_some_and(|l| !l.is_empty()), "{}", r.body);
    // Bad query parameters: IYS's status and H-code for each (H098 400, H183/H187 422).
    for (query, status, h) in
        [("source=ELSEWHERE", 400, "H098"), ("source=IYS&after=x", 400, "H098"), ("source=IYS&limit=0", 422, "H187")]
    {
        let r = a.call(&tok, "GET", &format!("{changes}?{query}"), None, status);
        assert_eq!(
            (code_of(&r), r.json()["errors"][0]["code"].clone()),
            ("request/invalid-query-param".into(), json!(h))
        );
    }
    a.call(&tok, "POST", &changes, Some(&json!({})), 405);

    // The limiter: rate 0, burst 1.
    let (lu, lp) = (limited["username"].as_str().unwrap_or(""), limited["password"].as_str().unwrap_or(""));
    let lt = a.token(&json!({"grant_type": "password", "username": lu, "password": lp}), 200).json();
    let ltok = lt["access_token"].as_str().unwrap_or("").to_string();
    a.call(&ltok, "GET", &format!("{changes}?source=IYS"), None, 200);
    let r = a.call(&ltok, "GET", &format!("{changes}?source=IYS"), None, 429);
    assert_eq!(code_of(&r), "request/rate-limited");

    // The demo route (rate 0, burst 4): refusals that take no limiter token first.
    let demo_path = "/demo/consents";
    a.go("POST", demo_path, &[text], Some(&demo_one), 415);
    a.go("POST", demo_path, &[JSON], Some(&big), 413);
    a.go("POST", demo_path, &[JSON], Some("[{"), 400);
    a.go("POST", demo_path, &[JSON], Some("{\"consents\": []}"), 422);
    a.go("POST", demo_path, &[JSON], Some("{\"list\": []}"), 422);
    let r = a.go("POST", demo_path, &[JSON], Some(&demo_one), 200);
    assert_eq!(r.json()["items"][0]["ok"], true, "{}", r.body);
    let four = json!([
        consent(&phone(901), "ONAY"),
        consent("bad", "ONAY"),
        consent(&phone(902), "RET"),
        consent(&phone(903), "ONAY")
    ]);
    let r = a.go("POST", demo_path, &[JSON], Some(&four.to_string()), 200);
    let got: Vec<Value> = r.json()["items"].as_array().into_iter().flatten().map(|i| i["status"].clone()).collect();
    assert_eq!(got, [json!(200), json!(422), json!(502), json!(429)], "{}", r.body);
    a.go("POST", demo_path, &[JSON], Some(&demo_one), 429);

    // Admin reads and changes.
    a.admin("GET", "/admin/providers", None, 200);
    a.admin("GET", "/admin/providers/prv_openapi_main", None, 200);
    a.admin("GET", "/admin/providers/prv_nope", None, 404);
    a.admin("PUT", "/admin/providers/prv_openapi_main/limits", Some(&json!({"rate": 50, "burst": 100})), 200);
    a.admin("PUT", "/admin/providers/prv_nope/limits", Some(&json!({"rate": 50, "burst": 100})), 404);
    a.admin("PUT", "/admin/providers/prv_openapi_main/limits", Some(&json!({"rate": -1, "burst": 1})), 400);
    a.admin("PUT", "/admin/providers/prv_openapi_main/limits", Some(&json!({"rate": 1, "burst": 1, "x": 1})), 422);
    a.go("PUT", "/admin/providers/prv_openapi_main/limits", &[("Authorization", &auth), text], Some("{}"), 415);
    let u = a.admin("GET", "/admin/providers/prv_openapi_main/usage", None, 200).json();
    assert!(u["ledger"]["inbound:add"]["200"].as_u64().is_some_and(|n| n >= 1), "{u}");
    a.admin("GET", "/admin/providers/prv_nope/usage", None, 404);
    let v = a.admin("GET", "/admin/ledger/verify", None, 200).json();
    assert_eq!(v["ok"], true, "{v}");
    let e = a.admin("GET", "/admin/ledger/export?after=0&limit=50", None, 200);
    assert_eq!(e.body.lines().count(), 50, "the ledger has more than 50 rows by now");
    a.admin("GET", "/admin/iys-token", None, 200);
    a.admin("POST", "/admin/iys-token/reset", None, 200);
    a.admin("GET", "/admin/governor", None, 200);
    // Every admin path with a method it does not take: 405 with `Allow` (after the secret).
    for (method, path, allow) in [
        ("DELETE", "/admin/providers", "GET, POST"),
        ("DELETE", "/admin/providers/prv_openapi_main", "GET, PATCH"),
        ("GET", "/admin/providers/prv_openapi_main/rotate", "POST"),
        ("GET", "/admin/providers/prv_openapi_main/revoke", "POST"),
        ("GET", "/admin/providers/prv_openapi_main/limits", "PUT"),
        ("POST", "/admin/providers/prv_openapi_main/usage", "GET"),
        ("POST", "/admin/ledger/verify", "GET"),
        ("POST", "/admin/ledger/export", "GET"),
        ("GET", "/admin/ledger/accept-head", "POST"),
        ("POST", "/admin/iys-token", "GET"),
        ("GET", "/admin/iys-token/reset", "POST"),
        ("POST", "/admin/governor", "GET"),
        ("GET", "/admin/pull", "POST"),
    ] {
        let r = a.admin(method, path, None, 405);
        assert_eq!((code_of(&r), r.header("allow")), ("request/method-not-allowed".into(), Some(allow)), "{path}");
    }
    a.go("DELETE", "/admin/providers", &[], None, 401);
    let lid = limited["id"].as_str().unwrap_or("").to_string();
    a.admin("POST", &format!("/admin/providers/{lid}/revoke"), None, 200);
    a.admin("POST", "/admin/providers/prv_nope/revoke", None, 404);
    a.call(&ltok, "GET", &format!("{changes}?source=IYS"), None, 401);
    let r = a.token(&json!({"grant_type": "password", "username": lu, "password": lp}), 401);
    assert_eq!(code_of(&r), "auth/revoked");

    // Changes in place, and a credential rotation (the main provider's last use).
    let main_path = "/admin/providers/prv_openapi_main";
    a.admin("PATCH", main_path, Some(&json!({"name": "Main, renamed", "mode": "strict"})), 200);
    a.admin("PATCH", main_path, Some(&json!({})), 400);
    a.admin("PATCH", main_path, Some(&json!({"password": "mine"})), 422);
    a.admin("PATCH", "/admin/providers/prv_nope", Some(&json!({"name": "x"})), 404);
    a.admin("POST", &format!("/admin/providers/{lid}/rotate"), None, 409);
    a.admin("POST", "/admin/providers/prv_nope/rotate", None, 404);
    a.admin("POST", &format!("{main_path}/rotate"), None, 200);

    // Re-anchoring the ledger: a head that is not D1's is refused; D1's own is accepted. (Rows
    // handed over from `waitUntil` may still land between the verify and the accept: then D1's
    // head has moved, and the accept is refused and tried again with the new one.)
    let zeros = "0".repeat(64);
    a.admin("POST", "/admin/ledger/accept-head", Some(&json!({"headSeq": 1, "headHash": zeros})), 409);
    let auth = format!("Bearer {ADMIN}");
    let accepted = (0..5).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let v = a.admin("GET", "/admin/ledger/verify", None, 200).json();
        let body = json!({"headSeq": v["headSeq"], "headHash": v["headHash"]}).to_string();
        let resp = a.r.req("POST", "/admin/ledger/accept-head", &[("Authorization", &auth), JSON], Some(&body));
        a.c.check("POST", "/admin/ledger/accept-head", &resp);
        resp.status == 200
    });
    assert!(accepted, "D1's own head was never accepted");

    a.c.assert_everything_exercised();
    eprintln!("{} answers checked against openapi.json", a.c.checked);
}
