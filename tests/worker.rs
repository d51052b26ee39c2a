//! The relay Worker end to end: real workerd (`wrangler dev`, local D1, Queues and Durable
//! Objects) with `iys-sim` as IYS. No fetch mocks. One shared relay + sim for most tests (each test
//! has its own providers, brands and recipients); the token refresh/breaker/governor test gets its
//! own pair because it changes the sim's limits, and the governor's `within` test because it slows
//! the send rate to one every 5 s.

#[path = "support/worker.rs"]
mod support;

use iys_tests::consent_date;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::{wait_for, Opts, Relay, Resp};

fn relay() -> &'static Relay {
    static R: OnceLock<Relay> = OnceLock::new();
    R.get_or_init(|| Relay::start(Opts::default()))
}

/// Tests that send single adds hold this: sim faults apply to the next add of *any* caller.
static ADD_LOCK: Mutex<()> = Mutex::new(());
/// The same for batches.
static BATCH_LOCK: Mutex<()> = Mutex::new(());

fn add_lock() -> std::sync::MutexGuard<'static, ()> {
    ADD_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh Turkish mobile number per call.
fn phone() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("+90532{:07}", 1_000_000 + N.fetch_add(1, Ordering::SeqCst))
}

fn consent(recipient: &str, status: &str) -> Value {
    json!({"recipient": recipient, "recipientType": "BIREYSEL", "type": "MESAJ", "status": status,
           "source": "HS_WEB", "consentDate": consent_date()})
}

/// A provider with credentials and a relay access token.
struct Provider {
    id: String,
    username: String,
    password: String,
    token: String,
    refresh: String,
}

fn provider(r: &Relay, scopes: Value, extra: Value) -> Provider {
    // Not ASCII on purpose: the limiter object answers with the provider's row in a header
    // (`raw::ANSWER_HEADER`), which must carry any name.
    let mut body = json!({"name": "Test Sağlayıcı Şirketi \u{1F600} \u{7f}", "scopes": scopes});
    if let Some(o) = extra.as_object() {
        for (k, v) in o {
            body[k] = v.clone();
        }
    }
    let c = r.admin("POST", "/admin/providers", Some(&body));
    assert_eq!(c.status, 201, "{}", c.body);
    let c = c.json();
    let (username, password) = (c["username"].as_str().unwrap_or_default(), c["password"].as_str().unwrap_or_default());
    let t = token(r, json!({"username": username, "password": password, "grant_type": "password"}));
    assert_eq!(t.status, 200, "{}", t.body);
    let t = t.json();
    Provider {
        id: c["id"].as_str().unwrap_or_default().into(),
        username: username.into(),
        password: password.into(),
        token: t["access_token"].as_str().unwrap_or_default().into(),
        refresh: t["refresh_token"].as_str().unwrap_or_default().into(),
    }
}

fn token(r: &Relay, body: Value) -> Resp {
    r.req("POST", "/oauth2/token", &[("Content-Type", "application/json")], Some(&body.to_string()))
}

fn call(r: &Relay, p: &Provider, method: &str, path: &str, body: Option<&Value>) -> Resp {
    let auth = format!("Bearer {}", p.token);
    let b = body.map(Value::to_string);
    r.req(method, path, &[("Authorization", &auth), ("Content-Type", "application/json")], b.as_deref())
}

fn scope(iys: u64, brand: u64, types: &[&str]) -> Value {
    json!([{"iysCode": iys, "brands": [brand], "types": types}])
}

/// The sim's request log entries whose path starts with `prefix`.
fn sim_requests(r: &Relay, prefix: &str) -> Vec<Value> {
    let v = r.sim("GET", "/__sim/requests", None).json();
    v.as_array()
        .map(|a| a.iter().filter(|e| e["path"].as_str().is_some_and(|p| p.starts_with(prefix))).cloned().collect())
        .unwrap_or_default()
}

fn first_error(resp: &Resp) -> Value {
    resp.json()["errors"][0].clone()
}

#[test]
fn health_and_static_assets() {
    let r = relay();
    let h = r.req("GET", "/health", &[], None);
    assert_eq!((h.status, h.json()["ok"].clone()), (200, json!(true)));
    let page = r.req("GET", "/", &[], None);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<html") || page.body.contains("<!doctype"), "{}", page.body);
    let none = r.req("GET", "/no/such/route", &[], None);
    assert_eq!((none.status, first_error(&none)["iysEdgeCode"].clone()), (404, json!("request/not-found")));
    // A known path with a method it does not take: 405 with `Allow` (these were 404), its message
    // in the caller's language.
    for (method, path, allow) in [("POST", "/health", "GET"), ("GET", "/oauth2/token", "POST")] {
        let w = r.req(method, path, &[("Accept-Language", "en")], None);
        assert_eq!((w.status, w.header("allow")), (405, Some(allow)), "{path}: {}", w.body);
        let e = first_error(&w);
        assert_eq!(
            (e["iysEdgeCode"].clone(), e["message"].clone()),
            (json!("request/method-not-allowed"), json!("This route does not accept that method."))
        );
    }
}

#[test]
fn the_demo_route_does_not_exist_without_its_vars() {
    // DEMO_PROVIDER / DEMO_IYS_CODE / DEMO_BRAND_CODE are unset here (production): 404, nothing relayed.
    let r = relay();
    let body = json!({"consents": [consent("+905329999999", "ONAY")]}).to_string();
    let d = r.req("POST", "/demo/consents", &[("Content-Type", "application/json")], Some(&body));
    assert_eq!((d.status, first_error(&d)["iysEdgeCode"].clone()), (404, json!("request/not-found")), "{}", d.body);
    // Its path is still a known one: a wrong method is 405, as on every route.
    let g = r.req("GET", "/demo/consents", &[], None);
    assert_eq!((g.status, g.header("allow")), (405, Some("POST")), "{}", g.body);
    let v = r.sim("GET", "/__sim/consents", None).body;
    assert!(!v.contains("+905329999999"), "{v}");
}

#[test]
fn admin_routes_need_the_secret_and_manage_providers() {
    let r = relay();
    let no = r.req("GET", "/admin/providers", &[], None);
    assert_eq!(no.status, 401);
    assert_eq!(first_error(&no)["iysEdgeCode"], "auth/admin-required");
    let wrong = r.req("GET", "/admin/providers", &[("Authorization", "Bearer not-the-admin-secret-at-all")], None);
    assert_eq!(wrong.status, 401);

    let bad =
        r.admin("POST", "/admin/providers", Some(&json!({"name": "x", "scopes": scope(600001, 600001, &["FAKS"])})));
    assert_eq!(bad.status, 400, "{}", bad.body);

    let p = provider(r, scope(600001, 600001, &["MESAJ"]), json!({"rate": 2, "burst": 4}));
    let list = r.admin("GET", "/admin/providers", None).json();
    let mine = list["providers"].as_array().and_then(|a| a.iter().find(|x| x["id"] == p.id.as_str()).cloned());
    let mine = mine.expect("the new provider is listed");
    assert_eq!(
        (mine["rate"].clone(), mine["burst"].clone(), mine["revokedAt"].clone()),
        (json!(2.0), json!(4.0), Value::Null)
    );
    assert!(!list.to_string().contains(&p.password), "list must not show passwords");
    assert!(!list.to_string().contains("pbkdf2"), "list must not show hashes");

    let l = r.admin("PUT", &format!("/admin/providers/{}/limits", p.id), Some(&json!({"rate": 5, "burst": 9})));
    assert_eq!((l.status, l.json()["burst"].clone()), (200, json!(9.0)));
    let missing = r.admin("PUT", "/admin/providers/prv_nope/limits", Some(&json!({"rate": 5, "burst": 9})));
    assert_eq!(missing.status, 404);

    // Usage shows what the provider did.
    let _ = call(r, &p, "POST", "/sps/600001/brands/600001/consents/status", Some(&json!({"recipient": "bad"})));
    let u = r.admin("GET", &format!("/admin/providers/{}/usage", p.id), None).json();
    assert_eq!(u["ledger"]["inbound:token"]["200"], 1, "{u}");
    assert_eq!(u["ledger"]["inbound:status"]["422"], 1, "{u}");
    assert_eq!(u["limiter"]["allowedTotal"], 1, "{u}");

    // Revocation: tokens die at once, and the password no longer works.
    let rv = r.admin("POST", &format!("/admin/providers/{}/revoke", p.id), None);
    assert_eq!(rv.status, 200);
    assert!(rv.json()["revokedAt"].is_string());
    let after = call(r, &p, "POST", "/sps/600001/brands/600001/consents", Some(&consent(&phone(), "ONAY")));
    assert_eq!((after.status, first_error(&after)["code"].clone()), (401, json!("H351")));
    let login = token(r, json!({"username": p.username, "password": p.password, "grant_type": "password"}));
    assert_eq!((login.status, first_error(&login)["iysEdgeCode"].clone()), (401, json!("auth/revoked")));
}

#[test]
fn admin_changes_a_provider_and_rotates_its_credentials() {
    let r = relay();
    // (Not 600100: other tests here require that nothing of theirs reaches IYS on that brand.)
    let mut p = provider(r, scope(600001, 600001, &["MESAJ"]), json!({}));
    // A status query for a recipient IYS has no consent of: relayed, IYS answers 404.
    let status = |p: &Provider, brand: u64| {
        let q = json!({"recipient": "+905329876543", "recipientType": "BIREYSEL", "type": "MESAJ"});
        call(r, p, "POST", &format!("/sps/600001/brands/{brand}/consents/status"), Some(&q))
    };
    assert_eq!(status(&p, 600001).status, 404);
    assert_eq!(status(&p, 600002).status, 403);

    // A change applies to the next request.
    let path = format!("/admin/providers/{}", p.id);
    let ch = r.admin(
        "PATCH",
        &path,
        Some(&json!({"scopes": scope(600001, 600002, &["MESAJ"]), "mode": "normalize", "name": "renamed"})),
    );
    assert_eq!(ch.status, 200, "{}", ch.body);
    assert_eq!((ch.json()["name"].clone(), ch.json()["mode"].clone()), (json!("renamed"), json!("normalize")));
    assert_eq!(status(&p, 600002).status, 404);
    let old = status(&p, 600001);
    assert_eq!((old.status, first_error(&old)["iysEdgeCode"].clone()), (403, json!("auth/out-of-scope")));
    // Bad changes are refused and change nothing.
    for body in
        [json!({}), json!({"mode": "lenient"}), json!({"scopes": []}), json!({"scopes": scope(1, 1, &["FAKS"])})]
    {
        let bad = r.admin("PATCH", &path, Some(&body));
        assert_eq!(bad.status, 400, "{body}: {}", bad.body);
    }
    let unknown = r.admin("PATCH", &path, Some(&json!({"password": "mine"})));
    assert_eq!((unknown.status, first_error(&unknown)["iysEdgeCode"].clone()), (422, json!("consent/unknown-field")));
    assert_eq!(r.admin("PATCH", "/admin/providers/prv_nope", Some(&json!({"name": "x"}))).status, 404);
    let now = r.admin("GET", &path, None).json();
    assert_eq!((now["name"].clone(), now["mode"].clone()), (json!("renamed"), json!("normalize")));

    // Rotation: a new password, shown once; the old password, the old access token and the old
    // refresh token stop at once, and the new password works.
    let rot = r.admin("POST", &format!("{path}/rotate"), None);
    assert_eq!(rot.status, 200, "{}", rot.body);
    let new_password = rot.json()["password"].as_str().unwrap_or_default().to_string();
    assert!(new_password.len() >= 32 && new_password != p.password, "{}", rot.body);
    assert!(rot.json()["rotatedAt"].is_i64(), "{}", rot.body);
    let stale = status(&p, 600002);
    assert_eq!((stale.status, first_error(&stale)["iysEdgeCode"].clone()), (401, json!("auth/invalid-token")));
    let old_login = token(r, json!({"username": p.username, "password": p.password, "grant_type": "password"}));
    assert_eq!(
        (old_login.status, first_error(&old_login)["iysEdgeCode"].clone()),
        (401, json!("auth/bad-credentials"))
    );
    let old_refresh = token(r, json!({"grant_type": "refresh_token", "refresh_token": p.refresh}));
    assert_eq!(old_refresh.status, 401, "{}", old_refresh.body);
    let login = token(r, json!({"username": p.username, "password": new_password, "grant_type": "password"}));
    assert_eq!(login.status, 200, "{}", login.body);
    p.token = login.json()["access_token"].as_str().unwrap_or_default().to_string();
    assert_eq!(status(&p, 600002).status, 404);
    assert!(!r.admin("GET", "/admin/providers", None).body.contains(&new_password), "the list shows a password");
    let u = r.admin("GET", &format!("{path}/usage"), None).json();
    assert_eq!(u["ledger"]["inbound:status"]["401"], 1, "{u}");

    // A revoked provider cannot be rotated back to life.
    assert_eq!(r.admin("POST", &format!("{path}/revoke"), None).status, 200);
    assert_eq!(r.admin("POST", &format!("{path}/rotate"), None).status, 409);
    assert_eq!(r.admin("POST", "/admin/providers/prv_nope/rotate", None).status, 404);
}

#[test]
fn token_grants_use_iys_shapes() {
    let r = relay();
    let p = provider(r, scope(600001, 600001, &["MESAJ"]), json!({}));
    let t = token(r, json!({"username": p.username, "password": p.password, "grant_type": "password"})).json();
    for k in ["access_token", "refresh_token", "expires_in", "refresh_expires_in", "token_type"] {
        assert!(!t[k].is_null(), "{k} missing in {t}");
    }
    assert_eq!(
        (t["expires_in"].clone(), t["refresh_expires_in"].clone(), t["token_type"].clone()),
        (json!(7200), json!(14400), json!("bearer"))
    );

    let wrong = token(r, json!({"username": p.username, "password": "nope", "grant_type": "password"}));
    assert_eq!((wrong.status, first_error(&wrong)["code"].clone()), (401, json!("H251")));
    let nobody = token(r, json!({"username": "nobody", "password": "nope", "grant_type": "password"}));
    assert_eq!(nobody.status, 401);
    let no_grant = token(r, json!({"username": p.username, "password": p.password}));
    assert_eq!((no_grant.status, first_error(&no_grant)["code"].clone()), (400, json!("H250")));

    // Refresh: a new pair; the used refresh token is spent.
    let rt = token(r, json!({"refresh_token": p.refresh, "grant_type": "refresh_token"}));
    assert_eq!(rt.status, 200, "{}", rt.body);
    assert_ne!(rt.json()["access_token"], json!(p.token));
    let again = token(r, json!({"refresh_token": p.refresh, "grant_type": "refresh_token"}));
    assert_eq!((again.status, first_error(&again)["iysEdgeCode"].clone()), (401, json!("auth/invalid-token")));
    // One use, even for grants that race: of four concurrent refreshes with one token, one wins.
    let spent = rt.json()["refresh_token"].as_str().unwrap_or_default().to_string();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| token(r, json!({"refresh_token": spent, "grant_type": "refresh_token"})).status))
            .collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    assert_eq!(
        (statuses.iter().filter(|s| **s == 200).count(), statuses.iter().filter(|s| **s == 401).count()),
        (1, 3),
        "{statuses:?}"
    );
    let fresh = Provider { token: rt.json()["access_token"].as_str().unwrap_or_default().into(), ..p };
    let ok = call(r, &fresh, "POST", "/sps/600001/brands/600001/consents/status", Some(&json!({})));
    assert_eq!(ok.status, 422, "the refreshed token authenticates: {}", ok.body);

    let none = r.req("POST", "/sps/600001/brands/600001/consents", &[], Some("{}"));
    assert_eq!((none.status, first_error(&none)["iysEdgeCode"].clone()), (401, json!("auth/missing-token")));
    let junk = r.req("POST", "/sps/600001/brands/600001/consents", &[("Authorization", "Bearer junk")], Some("{}"));
    assert_eq!(
        (junk.status, first_error(&junk)["iysEdgeCode"].clone(), first_error(&junk)["code"].clone()),
        (401, json!("auth/invalid-token"), json!("H351"))
    );
}

#[test]
fn scopes_are_enforced_and_nothing_out_of_scope_is_relayed() {
    let r = relay();
    let p = provider(r, scope(600001, 600003, &["MESAJ"]), json!({}));
    let cases = [
        ("/sps/600999/brands/600003/consents", consent(&phone(), "ONAY"), "iysCode 600999"),
        ("/sps/600001/brands/600199/consents", consent(&phone(), "ONAY"), "brandCode 600199"),
        (
            "/sps/600001/brands/600003/consents",
            json!({"recipient": "ali@example.com", "recipientType": "BIREYSEL", "type": "EPOSTA", "status": "ONAY", "source": "HS_WEB", "consentDate": consent_date()}),
            "type EPOSTA",
        ),
    ];
    for (path, body, what) in cases {
        let a = call(r, &p, "POST", path, Some(&body));
        assert_eq!(a.status, 403, "{path}: {}", a.body);
        let e = first_error(&a);
        assert_eq!(
            (e["code"].clone(), e["iysEdgeCode"].clone()),
            (json!("H353"), json!("auth/out-of-scope")),
            "{path}"
        );
        assert!(e["message"].as_str().unwrap_or_default().contains(what), "{e}");
    }
    let b = call(
        r,
        &p,
        "POST",
        "/sps/600001/brands/600003/consents/request",
        Some(
            &json!([{"recipient": "ali@example.com", "recipientType": "BIREYSEL", "type": "EPOSTA", "status": "ONAY", "source": "HS_WEB", "consentDate": consent_date()}]),
        ),
    );
    assert_eq!(b.status, 403, "{}", b.body);
    let s = call(
        r,
        &p,
        "POST",
        "/sps/600001/brands/600003/consents/BIREYSEL/status/ARAMA",
        Some(&json!({"recipients": [phone()]})),
    );
    assert_eq!(s.status, 403, "{}", s.body);
    // (The cron may pull the in-scope brand's changes; nothing else may reach IYS.)
    let relayed: Vec<Value> = ["/sps/600001/brands/600003", "/sps/600001/brands/600199", "/sps/600999"]
        .iter()
        .flat_map(|p| sim_requests(r, p))
        .filter(|e| e["route"] != "changes")
        .collect();
    assert!(relayed.is_empty(), "nothing out of scope reaches IYS: {relayed:?}");
}

#[test]
fn invalid_payloads_get_iys_shaped_errors_and_are_never_relayed() {
    let r = relay();
    let strict = provider(r, scope(600100, 600100, &["MESAJ", "ARAMA", "EPOSTA"]), json!({}));
    let path = "/sps/600100/brands/600100/consents";
    let mut c = consent("0532 123 45 67", "ONAY");
    let a = call(r, &strict, "POST", path, Some(&c));
    assert_eq!(a.status, 422, "{}", a.body);
    let e = first_error(&a);
    assert_eq!(e["code"], "H121");
    assert_eq!(e["iysEdgeCode"], "recipient/phone-not-wire-form");
    assert_eq!(e["wire"], "+905321234567");
    assert_eq!(e["location"], json!(["recipient"]));
    assert_eq!(e["value"], "0532 123 45 67");

    c["recipient"] = json!(phone());
    c["status"] = json!("RED");
    c["extra"] = json!(1);
    let a = call(r, &strict, "POST", path, Some(&c));
    assert_eq!(a.status, 422);
    let codes: Vec<Value> =
        a.json()["errors"].as_array().map(|v| v.iter().map(|e| e["code"].clone()).collect()).unwrap_or_default();
    assert!(codes.contains(&json!("H115")) && codes.contains(&json!("H118")), "{codes:?}");

    let a = r.req(
        "POST",
        path,
        &[("Authorization", &format!("Bearer {}", strict.token)), ("Content-Type", "application/json")],
        Some("{\"recipient\": "),
    );
    assert_eq!(
        (a.status, first_error(&a)["code"].clone(), first_error(&a)["iysEdgeCode"].clone()),
        (400, json!("H014"), json!("request/invalid-json"))
    );

    let en = r.req(
        "POST",
        path,
        &[
            ("Authorization", &format!("Bearer {}", strict.token)),
            ("Content-Type", "application/json"),
            ("Accept-Language", "en"),
        ],
        Some("{\"recipient\": "),
    );
    assert!(
        first_error(&en)["message"].as_str().unwrap_or_default().starts_with("The body is not valid JSON"),
        "{}",
        en.body
    );

    let bad_path = call(r, &strict, "POST", "/sps/600100/brands/abc/consents", Some(&consent(&phone(), "ONAY")));
    assert_eq!((bad_path.status, first_error(&bad_path)["code"].clone()), (422, json!("H191")));

    // A batch: every problem with its index; nothing is queued.
    let batch = json!([consent(&phone(), "ONAY"), consent("05321234567", "ONAY"), consent(&phone(), "ONAY")]);
    let b = call(r, &strict, "POST", &format!("{path}/request"), Some(&batch));
    assert_eq!(b.status, 422, "{}", b.body);
    assert_eq!(first_error(&b)["index"], 1);
    assert_eq!(first_error(&b)["location"], json!([1, "recipient"]));
    let empty = call(r, &strict, "POST", &format!("{path}/request"), Some(&json!([])));
    assert_eq!((empty.status, first_error(&empty)["code"].clone()), (422, json!("H092")));

    let st = call(
        r,
        &strict,
        "POST",
        &format!("{path}/status"),
        Some(&json!({"recipient": "+90 532 123 45 67", "recipientType": "BIREYSEL", "type": "MESAJ"})),
    );
    assert_eq!((st.status, first_error(&st)["code"].clone()), (422, json!("H121")));
    // (The cron may pull this brand's changes meanwhile; only writes and status queries count here.)
    let relayed: Vec<Value> =
        sim_requests(r, "/sps/600100/brands/600100").into_iter().filter(|e| e["route"] != "changes").collect();
    assert!(relayed.is_empty(), "invalid payloads never reach IYS: {relayed:?}");

    // A provider that opted in to normalisation: the same human-written number is relayed in wire form.
    let _g = add_lock();
    let norm = provider(r, scope(600100, 600100, &["MESAJ"]), json!({"mode": "normalize"}));
    let written = "0532 765 43 21";
    let ok = call(r, &norm, "POST", path, Some(&consent(written, "ONAY")));
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.json()["transactionId"].is_string());
    assert_eq!(ok.json()["iysEdgeWarnings"][0]["iysEdgeCode"], "recipient/normalized");
    let stored = r.sim("GET", "/__sim/consents?iysCode=600100&brandCode=600100", None).json();
    assert!(stored.to_string().contains("+905327654321"), "{stored}");
}

#[test]
fn single_add_is_relayed_synchronously_with_one_cached_iys_token() {
    let r = relay();
    let _g = add_lock();
    let p = provider(r, scope(600001, 600001, &["MESAJ"]), json!({"burst": 20}));
    let phones: Vec<String> = (0..5).map(|_| phone()).collect();
    let answers: Vec<Resp> = std::thread::scope(|s| {
        let hs: Vec<_> = phones
            .iter()
            .map(|ph| {
                let p = &p;
                s.spawn(move || call(r, p, "POST", "/sps/600001/brands/600001/consents", Some(&consent(ph, "ONAY"))))
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(a.json()["transactionId"].as_str().is_some_and(|t| !t.is_empty()), "{}", a.body);
        assert!(a.json()["creationDate"].is_string());
    }
    let stored = r.sim("GET", "/__sim/consents?iysCode=600001&brandCode=600001", None).json().to_string();
    for ph in &phones {
        assert!(stored.contains(ph.as_str()), "{ph} stored by IYS");
    }
    // A duplicate is answered with IYS's own error, verbatim.
    let dup = call(r, &p, "POST", "/sps/600001/brands/600001/consents", Some(&consent(&phones[0], "ONAY")));
    assert_eq!(
        (dup.status, first_error(&dup)["code"].clone(), dup.header("x-iys-edge-code")),
        (400, json!("H174"), Some("upstream/rejected"))
    );
    // One IYS token for everything this relay did (single flight, cached).
    let tokens = sim_requests(r, "/oauth2/token");
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    let holder = r.admin("GET", "/admin/iys-token", None).json();
    assert_eq!((holder["passwordGrants"].clone(), holder["refreshGrants"].clone()), (json!(1), json!(0)), "{holder}");
    // The status route relays too.
    let st = call(
        r,
        &p,
        "POST",
        "/sps/600001/brands/600001/consents/status",
        Some(&json!({"recipient": phones[1], "recipientType": "BIREYSEL", "type": "MESAJ"})),
    );
    assert_eq!((st.status, st.json()["status"].clone()), (200, json!("ONAY")), "{}", st.body);
    let ms = call(
        r,
        &p,
        "POST",
        "/sps/600001/brands/600001/consents/BIREYSEL/status/MESAJ",
        Some(&json!({"recipients": [phones[2], phone()]})),
    );
    assert_eq!(ms.status, 200, "{}", ms.body);
    assert_eq!(ms.json()["list"], json!([phones[2]]), "{}", ms.body);
}

#[test]
fn the_per_provider_limiter_counts_exactly() {
    let r = relay();
    let p = provider(r, scope(600100, 600100, &["MESAJ"]), json!({"rate": 0.001, "burst": 3}));
    let answers: Vec<Resp> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let p = &p;
                s.spawn(move || {
                    call(r, p, "POST", "/sps/600100/brands/600100/consents/status", Some(&json!({"recipient": "x"})))
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    let limited: Vec<&Resp> = answers.iter().filter(|a| a.status == 429).collect();
    assert_eq!(limited.len(), 5, "exactly burst (3) pass: {:?}", answers.iter().map(|a| a.status).collect::<Vec<_>>());
    for a in &limited {
        let e = first_error(a);
        assert_eq!((e["code"].clone(), e["iysEdgeCode"].clone()), (json!("H124"), json!("request/rate-limited")));
        let ra: u64 = a.header("retry-after").and_then(|v| v.parse().ok()).unwrap_or(0);
        assert!(ra >= 1, "Retry-After {ra}");
    }
    let u = r.admin("GET", &format!("/admin/providers/{}/usage", p.id), None).json();
    assert_eq!(
        (u["limiter"]["allowedTotal"].clone(), u["limiter"]["deniedTotal"].clone()),
        (json!(3), json!(5)),
        "{u}"
    );
    assert_eq!(
        (u["ledger"]["inbound:status"]["422"].clone(), u["ledger"]["inbound:status"]["429"].clone()),
        (json!(3), json!(5)),
        "{u}"
    );
    // New limits apply to the next request.
    let l = r.admin("PUT", &format!("/admin/providers/{}/limits", p.id), Some(&json!({"rate": 1000, "burst": 5})));
    assert_eq!(l.status, 200);
    std::thread::sleep(Duration::from_millis(20));
    let a = call(r, &p, "POST", "/sps/600100/brands/600100/consents/status", Some(&json!({"recipient": "x"})));
    assert_eq!(a.status, 422, "{}", a.body);
}

fn d1_rows(r: &Relay, sql: &str) -> Vec<Value> {
    r.d1(sql)[0]["results"].as_array().cloned().unwrap_or_default()
}

fn sql_str(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        Value::Null => "NULL".into(),
        other => other.to_string(),
    }
}

#[test]
fn ledger_verify_detects_an_edited_and_a_deleted_row() {
    // Its own relay: `wrangler d1 execute` from outside locks the local SQLite file, which would
    // make concurrent writes of other tests fail with SQLITE_BUSY (a local-only artefact).
    let r = &Relay::start(Opts::default());
    let p = provider(r, scope(600100, 600100, &["MESAJ"]), json!({}));
    for _ in 0..3 {
        let _ = call(r, &p, "POST", "/sps/600100/brands/600100/consents/status", Some(&json!({"recipient": "x"})));
    }
    let v = r.admin("GET", "/admin/ledger/verify", None).json();
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["rows"].as_u64().unwrap_or(0) >= 4);

    // No recipient or token is in the ledger.
    let all = d1_rows(r, "SELECT * FROM ledger");
    let text = Value::Array(all).to_string();
    assert!(
        !text.contains(&p.token) && !text.contains(&p.password) && !text.contains("+90532"),
        "ledger leaks secrets"
    );

    // Edit row 2.
    let row = d1_rows(r, "SELECT * FROM ledger WHERE seq = 2").remove(0);
    r.d1("UPDATE ledger SET outcome = '200' || outcome WHERE seq = 2");
    let v = r.admin("GET", "/admin/ledger/verify", None).json();
    assert_eq!(
        (v["ok"].clone(), v["firstBroken"].clone(), v["reason"].clone()),
        (json!(false), json!(2), json!("hash")),
        "{v}"
    );
    r.d1(&format!("UPDATE ledger SET outcome = {} WHERE seq = 2", sql_str(&row["outcome"])));
    assert_eq!(r.admin("GET", "/admin/ledger/verify", None).json()["ok"], true);

    // Delete row 3.
    let row = d1_rows(r, "SELECT * FROM ledger WHERE seq = 3").remove(0);
    r.d1("DELETE FROM ledger WHERE seq = 3");
    let v = r.admin("GET", "/admin/ledger/verify", None).json();
    assert_eq!(
        (v["ok"].clone(), v["firstBroken"].clone(), v["reason"].clone()),
        (json!(false), json!(3), json!("seq-gap")),
        "{v}"
    );
    let cols =
        ["seq", "at", "provider", "request_id", "kind", "payload_sha256", "outcome", "iys_ids", "prev_hash", "hash"];
    let vals: Vec<String> = cols.iter().map(|c| sql_str(&row[*c])).collect();
    r.d1(&format!("INSERT INTO ledger ({}) VALUES ({})", cols.join(", "), vals.join(", ")));
    let v = r.admin("GET", "/admin/ledger/verify", None).json();
    assert_eq!(v["ok"], true, "{v}");

    // The export is one row per line, in order, for `iys ledger verify`.
    let ex = r.admin("GET", "/admin/ledger/export?after=0&limit=5000", None);
    assert_eq!(ex.status, 200);
    let lines: Vec<Value> = ex.body.lines().map(|l| serde_json::from_str(l).unwrap_or(Value::Null)).collect();
    assert!(lines.len() as u64 >= v["rows"].as_u64().unwrap_or(0));
    assert_eq!(lines[0]["seq"], 1);
    assert_eq!(lines[0]["prev_hash"], "0".repeat(64));
    assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);

    // `iys ledger verify` reads the same export: intact, edited, and cut at the end.
    let dir = r.state.join("export");
    std::fs::create_dir_all(&dir).expect("dir");
    let head = lines.last().map(|l| l["hash"].as_str().unwrap_or_default().to_string()).unwrap_or_default();
    let cli = support::cli_binary();
    let verify = |name: &str, text: &str| -> Value {
        let f = dir.join(name);
        std::fs::write(&f, text).expect("write export");
        let out = std::process::Command::new(&cli)
            .args(["ledger", "verify", "--json", "--head", &head])
            .arg(&f)
            .output()
            .expect("iys runs");
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("iys said {}", String::from_utf8_lossy(&out.stderr)))
    };
    let v = verify("intact.jsonl", &ex.body);
    assert_eq!(v["ok"], true, "{v}");
    let mut rows: Vec<String> = ex.body.lines().map(str::to_string).collect();
    let original = rows[1].clone();
    rows[1] = rows[1].replacen("\"outcome\":\"", "\"outcome\":\"9", 1);
    assert_ne!(rows[1], original);
    let v = verify("edited.jsonl", &(rows.join("\n") + "\n"));
    assert_eq!(
        (v["ok"].clone(), v["firstBroken"].clone(), v["reason"].clone()),
        (json!(false), json!(2), json!("hash")),
        "{v}"
    );
    rows[1] = original;
    rows.pop();
    let v = verify("cut.jsonl", &(rows.join("\n") + "\n"));
    assert_eq!((v["ok"].clone(), v["reason"].clone()), (json!(false), json!("head")), "{v}");
}

fn poll_final(r: &Relay, p: &Provider, path: &str, secs: u64) -> Vec<Value> {
    wait_for(secs, "final outcomes", || {
        let a = call(r, p, "GET", path, None);
        assert_eq!(a.status, 200, "{}", a.body);
        let items = a.json().as_array().cloned().unwrap_or_default();
        (!items.is_empty() && items.iter().all(|i| i["status"] != "enqueue")).then_some(items)
    })
}

#[test]
fn batches_go_through_the_queue_with_retries_and_final_outcomes() {
    let r = relay();
    let _g = BATCH_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let p = provider(r, scope(600001, 600002, &["MESAJ"]), json!({}));
    // The first batch IYS sees is refused with 503/H192 (worth resending).
    let f = r.sim("POST", "/__sim/faults", Some(&json!({"kind": "503", "route": "batch", "count": 1})));
    assert_eq!(f.status, 200, "{}", f.body);
    let phones: Vec<String> = (0..3).map(|_| phone()).collect();
    let never = phone();
    let mut items: Vec<Value> = phones.iter().map(|ph| consent(ph, "ONAY")).collect();
    items.push(consent(&never, "RET")); // a first-ever RET: H175, permanent
    let a = call(r, &p, "POST", "/sps/600001/brands/600002/consents/request", Some(&Value::Array(items)));
    assert_eq!(a.status, 200, "{}", a.body);
    let body = a.json();
    let rid = body["requestId"].as_str().unwrap_or_default().to_string();
    let subs = body["subRequests"].as_array().cloned().unwrap_or_default();
    assert_eq!(subs.len(), 4);
    assert!(subs.iter().all(|s| s["subrequestId"].is_string()));

    let out = poll_final(r, &p, &format!("/sps/600001/brands/600002/consents/request/{rid}"), 60);
    assert_eq!(out.len(), 4);
    for (i, item) in out.iter().enumerate() {
        assert_eq!(item["index"], i);
        assert_eq!(item["subrequestId"], subs[i]["subrequestId"]);
        if i < 3 {
            assert_eq!(item["status"], "success", "{item}");
            assert!(item["transactionId"].is_string(), "{item}");
        } else {
            assert_eq!(
                (item["status"].clone(), item["error"]["code"].clone()),
                (json!("failure"), json!("H175")),
                "{item}"
            );
        }
    }
    // Exactly two batches reached IYS: the refused one and its resend; H175 was not resent.
    let batches: Vec<Value> = sim_requests(r, "/sps/600001/brands/600002/consents/request")
        .into_iter()
        .filter(|e| e["route"] == "batch")
        .collect();
    assert_eq!(batches.len(), 2, "{batches:?}");
    assert_eq!((batches[0]["status"].clone(), batches[1]["status"].clone()), (json!(503), json!(200)));
    let stored = r.sim("GET", "/__sim/consents?iysCode=600001&brandCode=600002", None).json().to_string();
    assert!(phones.iter().all(|ph| stored.contains(ph.as_str())) && !stored.contains(&never));
    // Another provider cannot read this request.
    let other = provider(r, scope(600001, 600002, &["MESAJ"]), json!({}));
    let o = call(r, &other, "GET", &format!("/sps/600001/brands/600002/consents/request/{rid}"), None);
    assert_eq!((o.status, first_error(&o)["code"].clone()), (422, json!("H093")));
}

#[test]
fn a_timed_out_add_is_queued_and_lands_exactly_once() {
    let r = relay();
    let _g = add_lock();
    let p = provider(r, scope(600001, 600001, &["MESAJ"]), json!({}));
    // IYS holds the next add for 8 s; the relay waits 3 s (SYNC_TIMEOUT_MS).
    let f = r.sim("POST", "/__sim/faults", Some(&json!({"kind": "hold", "route": "add", "count": 1, "holdMs": 8000})));
    assert_eq!(f.status, 200, "{}", f.body);
    let ph = phone();
    let a = call(r, &p, "POST", "/sps/600001/brands/600001/consents", Some(&consent(&ph, "ONAY")));
    assert_eq!(a.status, 202, "{}", a.body);
    let body = a.json();
    assert_eq!(
        (body["queued"].clone(), first_error(&a)["code"].clone(), first_error(&a)["iysEdgeCode"].clone()),
        (json!(true), json!("H192"), json!("upstream/timeout"))
    );
    let rid = body["requestId"].as_str().unwrap_or_default().to_string();
    let out = poll_final(r, &p, &format!("/sps/600001/brands/600001/consents/request/{rid}"), 60);
    assert_eq!(out[0]["status"], "success", "{out:?}");
    assert!(out[0]["transactionId"].is_string());
    let stored = r.sim("GET", "/__sim/consents?iysCode=600001&brandCode=600001", None).json();
    let mine: Vec<&Value> =
        stored.as_array().map(|a| a.iter().filter(|c| c.to_string().contains(&ph)).collect()).unwrap_or_default();
    assert_eq!(mine.len(), 1, "one record: {mine:?}");
}

#[test]
fn a_single_add_refused_400_h123_is_answered_verbatim_and_not_queued() {
    let r = relay();
    let _g = add_lock();
    let p = provider(r, scope(600001, 600001, &["MESAJ"]), json!({}));
    // IYS answers the next add 400 H123 ("busy, try later"), a code on its resend list.
    let rule = json!({"kind": "code", "code": "H123", "status": 400, "route": "add", "count": 1});
    let f = r.sim("POST", "/__sim/faults", Some(&rule));
    assert_eq!(f.status, 200, "{}", f.body);
    let ph = phone();
    let body = consent(&ph, "ONAY").to_string();
    let add = |b: &str| {
        let auth = format!("Bearer {}", p.token);
        r.req(
            "POST",
            "/sps/600001/brands/600001/consents",
            &[("Authorization", &auth), ("Content-Type", "application/json")],
            Some(b),
        )
    };
    // As the README says: IYS answered, so its answer goes back verbatim (status and body) and the
    // relay keeps nothing; only an add IYS did not answer is queued (202). The provider holds the
    // consent and IYS's own code tells it to send it again.
    let a = add(&body);
    assert_eq!((a.status, a.header("x-iys-edge-code")), (400, Some("upstream/rejected")), "{}", a.body);
    assert_eq!(
        a.json(),
        json!({"errors": [{"code": "H123", "message": "Servis şu anda yoğun, lütfen daha sonra tekrar deneyin."}]})
    );
    let stored = r.sim("GET", "/__sim/consents?iysCode=600001&brandCode=600001", None).json().to_string();
    assert!(!stored.contains(ph.as_str()), "IYS holds nothing");
    let queued =
        r.d1(&format!("SELECT COUNT(*) AS n FROM outbound WHERE json_extract(consent, '$.recipient') = '{ph}'"));
    assert_eq!(queued[0]["results"][0]["n"], 0, "nothing queued: {queued}");
    // The ledger has the request and the exchange, with IYS's refusal.
    let (inbound, up) = wait_for(30, "the inbound and upstream rows of the add", || {
        rows_of_request(r, "add", body.as_bytes()).filter(|(_, up)| !up.is_empty())
    });
    assert_eq!(inbound["outcome"], "400 upstream/rejected", "{inbound}");
    let outcomes: Vec<&Value> = up.iter().map(|u| &u["outcome"]).collect();
    assert_eq!(outcomes, [&json!("400 H123")], "{up:?}");
    // The provider sends it again, as H123 says: it lands, once.
    let again = add(&body);
    assert_eq!(again.status, 200, "{}", again.body);
    let stored = r.sim("GET", "/__sim/consents?iysCode=600001&brandCode=600001", None).json();
    let mine: Vec<&Value> =
        stored.as_array().map(|a| a.iter().filter(|c| c["recipient"] == ph.as_str()).collect()).unwrap_or_default();
    assert_eq!(mine.len(), 1, "one record: {mine:?}");
    assert_eq!(mine[0]["transactionId"], again.json()["transactionId"]);
}

/// SHA-256 of `data`, lowercase hex (the ledger's `payload_sha256`).
fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// The ledger as exported (`/admin/ledger/export`), one JSON object per row.
fn ledger_rows(r: &Relay) -> Vec<Value> {
    let ex = r.admin("GET", "/admin/ledger/export?after=0&limit=5000", None);
    assert_eq!(ex.status, 200, "{}", ex.body);
    ex.body.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// The inbound row of the request whose body was `body`, and the request's upstream rows.
fn rows_of_request(r: &Relay, kind: &str, body: &[u8]) -> Option<(Value, Vec<Value>)> {
    let rows = ledger_rows(r);
    let sha = sha256_hex(body);
    let inbound =
        rows.iter().find(|row| row["kind"] == format!("inbound:{kind}") && row["payload_sha256"] == sha.as_str())?;
    let up: Vec<Value> = rows
        .iter()
        .filter(|row| row["request_id"] == inbound["request_id"] && row["kind"] == format!("upstream:{kind}"))
        .cloned()
        .collect();
    Some((inbound.clone(), up))
}

#[test]
fn a_single_add_whose_client_goes_away_still_lands_and_is_ledgered() {
    use std::io::Write;
    let r = relay();
    let _g = add_lock();
    let p = provider(r, scope(600001, 600001, &["MESAJ"]), json!({}));
    // IYS holds the next add for 2 s (within SYNC_TIMEOUT_MS, 3 s): it records the consent then
    // answers 200 to a client (the relay) that is still there.
    let f = r.sim("POST", "/__sim/faults", Some(&json!({"kind": "hold", "route": "add", "count": 1, "holdMs": 2000})));
    assert_eq!(f.status, 200, "{}", f.body);
    let ph = phone();
    let body = consent(&ph, "ONAY").to_string();
    let addr = r.base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the relay");
    let head = format!(
        "POST /sps/600001/brands/600001/consents HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        p.token,
        body.len()
    );
    s.write_all(head.as_bytes()).and_then(|_| s.write_all(body.as_bytes())).expect("send the add");
    // A provider client with a short timeout: it gives up while IYS still holds the add.
    std::thread::sleep(Duration::from_millis(800));
    let _ = s.shutdown(std::net::Shutdown::Both);
    drop(s);
    // IYS recorded it, once, and the relay ledgered the request and its exchange with IYS.
    let (inbound, up) = wait_for(30, "the inbound and upstream rows of the add", || {
        rows_of_request(r, "add", body.as_bytes()).filter(|(_, up)| !up.is_empty())
    });
    assert_eq!(inbound["provider"], p.id.as_str(), "{inbound}");
    assert_eq!(inbound["outcome"], "200", "{inbound}");
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(up[0]["outcome"], "200", "{up:?}");
    assert!(up[0]["iys_ids"].as_str().is_some_and(|t| !t.is_empty()), "{up:?}");
    let stored = r.sim("GET", "/__sim/consents?iysCode=600001&brandCode=600001", None).json();
    let mine: Vec<&Value> =
        stored.as_array().map(|a| a.iter().filter(|c| c.to_string().contains(&ph)).collect()).unwrap_or_default();
    assert_eq!(mine.len(), 1, "one record: {mine:?}");
}

/// Sends `raw` (the start of an HTTP/1.1 request) on a new connection and leaves it open.
fn send_open(addr: &str, raw: &[u8]) -> std::net::TcpStream {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the relay");
    s.write_all(raw).expect("send the request");
    s
}

/// The inbound rows (`inbound:{kind}`) whose outcome is 413 `request/body-too-large`.
fn too_large_rows(r: &Relay, kind: &str) -> Vec<Value> {
    let kind = format!("inbound:{kind}");
    ledger_rows(r)
        .into_iter()
        .filter(|row| row["kind"] == kind.as_str() && row["outcome"] == "413 request/body-too-large")
        .collect()
}

#[test]
fn a_body_over_the_limit_is_refused_without_waiting_for_it() {
    // A body over MAX_BODY is refused before it is read, so the relay never waits for bytes that may
    // never come. Locally the answer cannot be seen: wrangler dev's proxy holds the worker's answer
    // until the client has sent the whole body it declared. So this asserts the worker's side: the
    // refusal's ledger row (written once the worker has answered) appears while the client still
    // holds the connection with the body unsent. Before, the worker sat in reading the body.
    let r = relay();
    let addr = r.base.trim_start_matches("http://");
    let p = provider(r, scope(600001, 600001, &["MESAJ"]), json!({}));
    let bearer = format!("Authorization: Bearer {}\r\n", p.token);
    // 100 MB declared, 2 bytes sent. Each /sps path is its own (the row of a refused body hashes
    // the path); the size is judged before authentication and before the path, whoever sends it.
    for (path, auth, kind) in [
        ("/sps/610001/brands/610001/consents", bearer.as_str(), "add"),
        ("/sps/610002/brands/610002/consents/request", bearer.as_str(), "batch"),
        ("/sps/610003/brands/610003/consents", "", "add"),
        ("/oauth2/token", "", "token"),
    ] {
        let before = too_large_rows(r, kind).len();
        let raw = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\n\
             Content-Length: 100000000\r\n\r\n{{}}"
        );
        let conn = send_open(addr, raw.as_bytes());
        wait_for(20, &format!("the 413 row of {path}"), || {
            let rows = too_large_rows(r, kind);
            (rows.len() > before).then_some(())
        });
        let rows = too_large_rows(r, kind);
        if kind != "token" {
            assert!(rows.iter().any(|row| row["payload_sha256"] == sha256_hex(path.as_bytes())), "{path}: {rows:?}");
        }
        drop(conn);
    }
    // A chunked body (no Content-Length) is read up to the limit and refused there, without
    // waiting for its end (the final chunk never comes).
    let path = "/sps/610004/brands/610004/consents";
    let mut raw = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{bearer}Content-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..40 {
        raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        raw.extend_from_slice(&chunk);
        raw.extend_from_slice(b"\r\n");
    }
    let conn = send_open(addr, &raw);
    wait_for(20, "the 413 row of the chunked body", || {
        too_large_rows(r, "add").iter().any(|row| row["payload_sha256"] == sha256_hex(path.as_bytes())).then_some(())
    });
    drop(conn);
    // Within the limit a body is read as before: the query reaches IYS (which has no such consent).
    let ok = call(
        r,
        &p,
        "POST",
        "/sps/600001/brands/600001/consents/status",
        Some(&json!({"recipient": phone(),
        "recipientType": "BIREYSEL", "type": "MESAJ"})),
    );
    assert_eq!((ok.status, first_error(&ok)["code"].clone()), (404, json!("H097")), "{}", ok.body);
}

#[test]
fn a_burst_of_single_adds_beyond_the_send_rate_is_answered_within_the_budget_and_lands_once() {
    // Its own relay: IYS_MAX_RPS 2 (a slot every 500 ms) with SYNC_TIMEOUT_MS 3000, so a burst of
    // 12 cannot all be sent within the budget; before, the last ones waited ~6 s for their slots.
    let mut opts = Opts::default();
    opts.vars.retain(|(k, _)| *k != "IYS_MAX_RPS");
    opts.vars.push(("IYS_MAX_RPS", "2".into()));
    let r = Relay::start(opts);
    let p = provider(&r, scope(600001, 600001, &["MESAJ"]), json!({"burst": 50, "rate": 50}));
    let phones: Vec<String> = (0..12).map(|_| phone()).collect();
    let answers: Vec<Resp> = std::thread::scope(|s| {
        let hs: Vec<_> = phones
            .iter()
            .map(|ph| {
                let (r, p) = (&r, &p);
                s.spawn(move || call(r, p, "POST", "/sps/600001/brands/600001/consents", Some(&consent(ph, "ONAY"))))
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    let mut queued = Vec::new();
    for a in &answers {
        match a.status {
            200 => assert!(a.json()["transactionId"].is_string(), "{}", a.body),
            202 => {
                let v = a.json();
                assert_eq!(v["queued"], true, "{}", a.body);
                assert_eq!(first_error(a)["iysEdgeCode"], "upstream/timeout", "{}", a.body);
                queued.push(v["requestId"].as_str().unwrap_or_default().to_string());
            }
            s => panic!("{s}: {}", a.body),
        }
    }
    // 12 sends need 5.5 s of slots at 2/s: some could not go within the 3 s budget.
    assert!(!queued.is_empty(), "{:?}", answers.iter().map(|a| a.status).collect::<Vec<_>>());
    // Those were not sent (no slot, no exchange): their upstream rows say so.
    let rows = ledger_rows(&r);
    let not_sent =
        rows.iter().filter(|row| row["kind"] == "upstream:add" && row["outcome"] == "not-sent upstream/timeout");
    assert_eq!(not_sent.count(), queued.len(), "{rows:?}");
    // The queue delivers each once.
    for rid in &queued {
        let out = poll_final(&r, &p, &format!("/sps/600001/brands/600001/consents/request/{rid}"), 60);
        assert_eq!(out[0]["status"], "success", "{out:?}");
    }
    let stored = r.sim("GET", "/__sim/consents?iysCode=600001&brandCode=600001", None).json();
    for ph in &phones {
        let n = stored.as_array().map(|a| a.iter().filter(|c| c.to_string().contains(ph.as_str())).count());
        assert_eq!(n, Some(1), "{ph}: {stored}");
    }
}

#[test]
fn the_cron_pulls_iys_side_changes_for_providers() {
    let r = relay();
    let p = provider(r, scope(600100, 600100, &["MESAJ", "ARAMA"]), json!({}));
    let lim = r.sim("POST", "/__sim/limits", Some(&json!({"pullExcludeRecentSecs": 0})));
    assert_eq!(lim.status, 200, "{}", lim.body);
    let ph = phone();
    let c = r.sim(
        "POST",
        "/__sim/citizen",
        Some(&json!({"iysCode": 600100, "brandCode": 600100, "recipient": ph, "recipientType": "BIREYSEL", "type": "MESAJ", "status": "ONAY", "source": "IYS_MOBIL"})),
    );
    assert_eq!(c.status, 200, "{}", c.body);
    // The cron trigger, as wrangler dev --test-scheduled exposes it.
    let s = r.req("GET", "/__scheduled?cron=*/30+*+*+*+*", &[], None);
    assert!(s.status < 300, "{} {}", s.status, s.body);
    let first = wait_for(30, "the pulled change", || {
        let a = call(r, &p, "GET", "/sps/600100/brands/600100/consents/changes?source=IYS", None);
        assert_eq!(a.status, 200, "{}", a.body);
        let v = a.json();
        v["list"].to_string().contains(&ph).then_some(v)
    });
    let item = first["list"]
        .as_array()
        .and_then(|l| l.iter().find(|i| i["recipient"] == ph.as_str()).cloned())
        .unwrap_or_default();
    assert_eq!((item["source"].clone(), item["status"].clone()), (json!("IYS_MOBIL"), json!("ONAY")), "{item}");
    let cursor = first["after"].as_str().unwrap_or_default().to_string();
    let next =
        call(r, &p, "GET", &format!("/sps/600100/brands/600100/consents/changes?source=IYS&after={cursor}"), None)
            .json();
    assert_eq!(next["list"], json!([]), "{next}");
    // A second pull keeps IYS's cursor: nothing is stored twice.
    let again = r.admin("POST", "/admin/pull", None).json();
    let brand = again["brands"]
        .as_array()
        .and_then(|b| b.iter().find(|x| x["brandCode"] == 600100).cloned())
        .unwrap_or_default();
    assert_eq!(brand["stored"], 0, "{again}");
    let cur = d1_rows(r, "SELECT after FROM pull_cursors WHERE iys_code = '600100' AND brand_code = '600100'");
    assert!(cur[0]["after"].is_string(), "{cur:?}");
    // Every run is on record under its request id, with each IYS exchange: a brand IYS refuses is
    // reported, the run goes on with the others, and the run's row says how many failed.
    let f = r.sim("POST", "/__sim/faults", Some(&json!({"kind": "500", "route": "changes", "count": 1})));
    assert_eq!(f.status, 200, "{}", f.body);
    let run = r.admin("POST", "/admin/pull", None);
    assert_eq!(run.status, 200, "{}", run.body);
    let rid = run.header("x-iys-edge-request-id").unwrap_or_default().to_string();
    let brands = run.json()["brands"].as_array().cloned().unwrap_or_default();
    let failed = brands.iter().filter(|b| !b["error"].is_null()).count();
    assert_eq!(failed, 1, "{brands:?}");
    let rows: Vec<Value> = ledger_rows(r).into_iter().filter(|row| row["request_id"] == rid.as_str()).collect();
    let kinds: Vec<&str> = rows.iter().map(|row| row["kind"].as_str().unwrap_or_default()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "admin:pull").count(), 1, "{rows:?}");
    assert!(kinds.iter().filter(|k| **k == "upstream:changes").count() >= brands.len(), "{rows:?}");
    let own = rows.iter().find(|row| row["kind"] == "admin:pull").cloned().unwrap_or_default();
    assert_eq!(own["outcome"], json!(format!("502 1/{} brands failed", brands.len())), "{own}");
    // Out of scope for another provider.
    let other = provider(r, scope(600001, 600001, &["MESAJ"]), json!({}));
    let o = call(r, &other, "GET", "/sps/600100/brands/600100/consents/changes?source=IYS", None);
    assert_eq!(o.status, 403);
}

#[test]
fn iys_token_refresh_breaker_and_upstream_governor() {
    // Its own relay and sim: this test changes the sim's token lifetime, hourly cap and rate limit.
    // (Status queries share the synchronous budget with their slot wait: 8 at 2/s take about 4 s, so
    // the budget is 10 s here and every one of them is sent.)
    let mut opts = Opts::default();
    opts.vars.retain(|(k, _)| !matches!(*k, "IYS_MAX_RPS" | "SYNC_TIMEOUT_MS"));
    opts.vars.extend([("IYS_MAX_RPS", "2".into()), ("SYNC_TIMEOUT_MS", "10000".into())]);
    let r = Relay::start(opts);
    let lim = r.sim("POST", "/__sim/limits", Some(&json!({"accessTokenTtl": 6, "requestsPerSecond": 4})));
    assert_eq!(lim.status, 200, "{}", lim.body);
    let p = provider(&r, scope(600001, 600001, &["MESAJ"]), json!({"burst": 50, "rate": 50}));
    let add = |ph: &str| call(&r, &p, "POST", "/sps/600001/brands/600001/consents", Some(&consent(ph, "ONAY")));
    assert_eq!(add(&phone()).status, 200);
    assert_eq!(sim_requests(&r, "/oauth2/token").len(), 1);

    // Governor: 8 concurrent relayed calls; IYS (4/s) never answers H124 because the relay sends ≤ 2/s.
    let answers: Vec<Resp> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let (r, p) = (&r, &p);
                s.spawn(move || {
                    call(
                        r,
                        p,
                        "POST",
                        "/sps/600001/brands/600001/consents/status",
                        Some(&json!({"recipient": phone(), "recipientType": "BIREYSEL", "type": "MESAJ"})),
                    )
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    assert!(answers.iter().all(|a| a.status != 429), "{:?}", answers.iter().map(|a| a.status).collect::<Vec<_>>());
    let limited: Vec<Value> = sim_requests(&r, "/sps/").into_iter().filter(|e| e["status"] == 429).collect();
    assert!(limited.is_empty(), "IYS rate-limited the relay: {limited:?}");
    let g = r.admin("GET", "/admin/governor", None).json();
    assert!(g["grantedTotal"].as_u64().unwrap_or(0) >= 9, "{g}");

    // Refresh before expiry: 6 s tokens are refreshed min(300 s, 6/4 s) ahead, with the refresh grant.
    let holder = r.admin("GET", "/admin/iys-token", None).json();
    let refreshed_before = holder["refreshGrants"].as_u64().unwrap_or(0);
    let exp = holder["accessExpiresAtMs"].as_f64().unwrap_or(0.0) as u64;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    std::thread::sleep(Duration::from_millis(exp.saturating_sub(now).saturating_sub(1000).max(1)));
    assert_eq!(add(&phone()).status, 200);
    let holder = r.admin("GET", "/admin/iys-token", None).json();
    assert_eq!(
        (holder["passwordGrants"].clone(), holder["refreshGrants"].clone()),
        (json!(1), json!(refreshed_before + 1)),
        "{holder}"
    );
    let grants = sim_requests(&r, "/oauth2/token");
    assert_eq!(grants.len() as u64, 2 + refreshed_before, "{grants:?}");

    // Backoff: one failed token request (a 503 from IYS's token endpoint) holds the next one off;
    // the adds meanwhile are queued with the holder's wait, and none of them asks IYS for a token.
    assert_eq!(r.admin("POST", "/admin/iys-token/reset", None).status, 200);
    let f = r.sim("POST", "/__sim/faults", Some(&json!({"kind": "503", "route": "token", "count": 1})));
    assert_eq!(f.status, 200, "{}", f.body);
    let before = grants.len();
    for _ in 0..3 {
        let a = add(&phone());
        assert_eq!(
            (a.status, first_error(&a)["iysEdgeCode"].clone()),
            (202, json!("upstream/unavailable")),
            "{}",
            a.body
        );
        assert_eq!(a.json()["queued"], true);
    }
    let grants = sim_requests(&r, "/oauth2/token");
    assert_eq!(grants.len(), before + 1, "one failed token request, then none during the backoff: {grants:?}");
    assert_eq!(grants[before]["status"], json!(503));
    let holder = r.admin("GET", "/admin/iys-token", None).json();
    assert_eq!(holder["failedInARow"], json!(1), "{holder}");
    let wait_until = holder["nextRequestNotBeforeMs"].as_f64().unwrap_or(0.0) as u64;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    assert!(wait_until > now && wait_until < now + 7_000, "5 s ± 25 %: {holder}");
    // The failed exchange is on record: an `upstream:token` row with its status, no credentials.
    let all = ledger_rows(&r);
    let token_rows: Vec<&Value> = all.iter().filter(|row| row["kind"] == "upstream:token").collect();
    assert!(
        token_rows.iter().any(|row| row["outcome"].as_str().is_some_and(|o| o.starts_with("503"))),
        "{token_rows:?}"
    );
    assert!(!all.iter().any(|row| row.to_string().contains("integrator-pass")), "the ledger never holds the password");
    // Once the wait is over, the next add gets a token and goes through.
    std::thread::sleep(Duration::from_millis(wait_until.saturating_sub(now) + 200));
    assert_eq!(add(&phone()).status, 200);
    let holder = r.admin("GET", "/admin/iys-token", None).json();
    assert_eq!((holder["failedInARow"].clone(), holder["nextRequestNotBeforeMs"].clone()), (json!(0), json!(0.0)));
    let grants = sim_requests(&r, "/oauth2/token");

    // Breaker: IYS answers H084 to the next token request; the relay stops asking for an hour.
    // (The sim counts the token requests it answered; the faulted one never reached it.)
    let used = grants.iter().filter(|g| g["status"] != 503).count() as u64;
    let lim = r.sim("POST", "/__sim/limits", Some(&json!({"tokensPerHour": used})));
    assert_eq!(lim.status, 200, "{}", lim.body);
    assert_eq!(r.admin("POST", "/admin/iys-token/reset", None).status, 200);
    let a = add(&phone());
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(
        (first_error(&a)["code"].clone(), first_error(&a)["iysEdgeCode"].clone()),
        (json!("H084"), json!("auth/token-rate-limited"))
    );
    assert_eq!(a.json()["queued"], true);
    let b = add(&phone());
    assert_eq!(b.status, 202, "{}", b.body);
    let st = call(
        &r,
        &p,
        "POST",
        "/sps/600001/brands/600001/consents/status",
        Some(&json!({"recipient": phone(), "recipientType": "BIREYSEL", "type": "MESAJ"})),
    );
    assert_eq!((st.status, first_error(&st)["code"].clone()), (503, json!("H084")), "{}", st.body);
    assert!(st.header("retry-after").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) > 3000);
    let tokens = sim_requests(&r, "/oauth2/token");
    assert_eq!(tokens.len(), grants.len() + 1, "one H084, then no more token requests: {tokens:?}");
    assert_eq!(tokens[grants.len()]["codes"], json!(["H084"]));
    let holder = r.admin("GET", "/admin/iys-token", None).json();
    assert_eq!(holder["breakerOpen"], true, "{holder}");
    eprintln!("second relay: wrangler dev answered after {:.2} s", r.startup.as_secs_f64());
}

#[test]
fn a_single_add_whose_budget_ends_before_the_next_send_slot_takes_no_slot() {
    // Its own relay: one send to IYS every 5 s (IYS_MAX_RPS 0.2), a 1.5 s synchronous budget, and
    // a queue that waits 60 s before it sends what it was given (so it takes no slot meanwhile).
    let mut opts = Opts::default();
    opts.vars.retain(|(k, _)| !matches!(*k, "IYS_MAX_RPS" | "SYNC_TIMEOUT_MS" | "RETRY_BASE_S"));
    opts.vars.extend([
        ("IYS_MAX_RPS", "0.2".into()),
        ("SYNC_TIMEOUT_MS", "1500".into()),
        ("RETRY_BASE_S", "60".into()),
    ]);
    let r = Relay::start(opts);
    let p = provider(&r, scope(600001, 600001, &["MESAJ"]), json!({"burst": 50, "rate": 50}));
    let granted = || r.admin("GET", "/admin/governor", None).json()["grantedTotal"].clone();
    let status = || {
        let body = json!({"recipient": phone(), "recipientType": "BIREYSEL", "type": "MESAJ"});
        call(&r, &p, "POST", "/sps/600001/brands/600001/consents/status", Some(&body))
    };
    // The first status query takes the first slot (free at once), and the next one is 5 s off.
    // (IYS holds nothing for a fresh number: its H097 says it was asked.)
    let first = status();
    assert_eq!((first.status, first_error(&first)["code"].clone()), (404, json!("H097")), "{}", first.body);
    assert_eq!(granted(), json!(1));
    // A single add has 1.5 s: the governor is asked only for a slot within what is left (`within`),
    // has none, and books none; the add is queued unsent, as a timeout.
    let a = call(&r, &p, "POST", "/sps/600001/brands/600001/consents", Some(&consent(&phone(), "ONAY")));
    assert_eq!((a.status, first_error(&a)["iysEdgeCode"].clone()), (202, json!("upstream/timeout")), "{}", a.body);
    assert_eq!(a.json()["queued"], true);
    assert_eq!(granted(), json!(1), "the add took no slot");
    let adds = sim_requests(&r, "/sps/").into_iter().filter(|e| e["path"] == "/sps/600001/brands/600001/consents");
    assert_eq!(adds.count(), 0, "the add did not reach IYS");
    // A status query has the same budget: the next slot is still about 5 s off, so it is not sent
    // at all (503 upstream/timeout, Retry-After RETRY_BASE_S) and books nothing either.
    let second = status();
    assert_eq!(
        (second.status, first_error(&second)["iysEdgeCode"].clone()),
        (503, json!("upstream/timeout")),
        "{}",
        second.body
    );
    assert_eq!(second.header("retry-after"), Some("60"));
    assert_eq!(granted(), json!(1), "the status query took no slot");
    let queries =
        sim_requests(&r, "/sps/").into_iter().filter(|e| e["path"] == "/sps/600001/brands/600001/consents/status");
    assert_eq!(queries.count(), 1, "only the first status query reached IYS");
}

#[test]
fn a_batch_cut_off_by_a_connection_reset_is_status_checked_then_resent() {
    let r = relay();
    let _g = BATCH_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let p = provider(r, scope(600100, 600101, &["ARAMA"]), json!({}));
    let f = r.sim("POST", "/__sim/faults", Some(&json!({"kind": "reset", "route": "batch", "count": 1})));
    assert_eq!(f.status, 200, "{}", f.body);
    let phones: Vec<String> = (0..2).map(|_| phone()).collect();
    let items: Vec<Value> = phones
        .iter()
        .map(|ph| json!({"recipient": ph, "recipientType": "BIREYSEL", "type": "ARAMA", "status": "ONAY", "source": "HS_CAGRI_MERKEZI", "consentDate": consent_date()}))
        .collect();
    let a = call(r, &p, "POST", "/sps/600100/brands/600101/consents/request", Some(&Value::Array(items)));
    assert_eq!(a.status, 200, "{}", a.body);
    let rid = a.json()["requestId"].as_str().unwrap_or_default().to_string();
    let out = poll_final(r, &p, &format!("/sps/600100/brands/600101/consents/request/{rid}"), 60);
    assert!(out.iter().all(|i| i["status"] == "success" && i["transactionId"].is_string()), "{out:?}");
    let log = sim_requests(r, "/sps/600100/brands/600101/consents");
    let routes: Vec<(String, u64)> = log
        .iter()
        .map(|e| (e["route"].as_str().unwrap_or_default().to_string(), e["status"].as_u64().unwrap_or(0)))
        .collect();
    // The reset batch (status 0), a status check per item (IYS does not hold them: 404 or similar),
    // then one resend.
    assert_eq!(routes.iter().filter(|(r, _)| r == "batch").count(), 2, "{routes:?}");
    assert_eq!(routes.iter().find(|(r, _)| r == "batch").map(|x| x.1), Some(0), "{routes:?}");
    assert_eq!(routes.iter().filter(|(r, _)| r == "status").count(), 2, "{routes:?}");
    let stored = r.sim("GET", "/__sim/consents?iysCode=600100&brandCode=600101", None).json().to_string();
    assert!(phones.iter().all(|ph| stored.contains(ph.as_str())));
}
