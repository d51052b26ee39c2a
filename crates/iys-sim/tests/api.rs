//! The IYS routes over HTTP: tokens and limits, single adds and the state rules, status queries,
//! permissions, the async batch lifecycle, the pull cursor, brands and integrator discovery.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use iys_core::wire::{BatchResponse, BatchStatusItem, PullResponse, TokenResponse};
use serde_json::{json, Value};

#[test]
fn token_lifecycle_as_public_clients_send_it() {
    let sim = Sim::start(&[]);
    // Exactly the JSON body of IYS's token documentation.
    let r = sim.call(
        "POST",
        "/oauth2/token",
        None,
        Some(&json!({"username": "integrator", "password": "integrator-pass", "grant_type": "password"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let t: TokenResponse = serde_json::from_value(r.body.clone()).unwrap();
    assert_eq!((t.expires_in, t.refresh_expires_in, t.token_type.as_str()), (7200, 14400, "bearer"));
    assert_eq!(sim.call("GET", "/sps/600001/brands", Some(&t.access_token), None).status, 200);

    // Refresh grant gives a working token.
    let r = sim.call(
        "POST",
        "/oauth2/token",
        None,
        Some(&json!({"refresh_token": t.refresh_token, "grant_type": "refresh_token"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let fresh = r.body["access_token"].as_str().unwrap();
    assert_ne!(fresh, t.access_token);
    assert_eq!(sim.call("GET", "/sps/600001/brands", Some(fresh), None).status, 200);

    // Errors.
    let r = sim.login("integrator", "wrong");
    assert_eq!((r.status, codes(&r.body)), (401, vec!["H251".to_string()]));
    assert_eq!(r.body["code"], "H251", "top-level code for clients that read it");
    let r = sim.call("POST", "/oauth2/token", None, Some(&json!({"username": "integrator", "grant_type": "password"})));
    assert_eq!((r.status, codes(&r.body)), (400, vec!["H250".to_string()]));
    let r = sim.call("POST", "/oauth2/token", None, Some(&json!({"grant_type": "client_credentials"})));
    assert_eq!(r.status, 400);
    let r =
        sim.call("POST", "/oauth2/token", None, Some(&json!({"refresh_token": "nope", "grant_type": "refresh_token"})));
    assert_eq!((r.status, codes(&r.body)), (401, vec!["H251".to_string()]));
    let (status, body) = sim
        .raw(
            "POST",
            "/oauth2/token",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"grant_type=password&username=integrator&password=integrator-pass",
            std::time::Duration::from_secs(5),
        )
        .unwrap();
    assert_eq!(status, 400, "IYS takes JSON, not a form");
    let body: Value = serde_json::from_slice(&body).expect("JSON answer");
    assert_eq!(codes(&body), vec!["H014".to_string()]);
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("form gövdesi"), "the H014 message says why: {message}");

    // Bearer check.
    let r = sim.call("GET", "/sps/600001/brands", None, None);
    assert_eq!((r.status, codes(&r.body)), (401, vec!["H351".to_string()]));
    let r = sim.call("GET", "/sps/600001/brands", Some("not-a-token"), None);
    assert_eq!((r.status, codes(&r.body)), (401, vec!["H351".to_string()]));
    let r = sim.call(
        "POST",
        &consents_path(IYS, BRAND),
        Some("not-a-token"),
        Some(&consent("+905321234567", "MESAJ", "ONAY", 60)),
    );
    assert_eq!(r.status, 401);
}

#[test]
fn expired_tokens_are_refused() {
    let sim = Sim::start(&[]);
    sim.admin("POST", "/__sim/limits", json!({"accessTokenTtl": 60, "refreshTokenTtl": 120}));
    let r = sim.login("integrator", "integrator-pass");
    assert_eq!(r.body["expires_in"], 60);
    let access = r.body["access_token"].as_str().unwrap().to_string();
    let refresh = r.body["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(sim.call("GET", "/sps/600001/brands", Some(&access), None).status, 200);
    sim.advance(61);
    let r = sim.call("GET", "/sps/600001/brands", Some(&access), None);
    assert_eq!((r.status, codes(&r.body)), (401, vec!["H351".to_string()]));
    let r = sim.call(
        "POST",
        "/oauth2/token",
        None,
        Some(&json!({"refresh_token": refresh, "grant_type": "refresh_token"})),
    );
    assert_eq!(r.status, 200, "refresh still alive: {}", r.body);
    sim.advance(120);
    let r = sim.call(
        "POST",
        "/oauth2/token",
        None,
        Some(&json!({"refresh_token": refresh, "grant_type": "refresh_token"})),
    );
    assert_eq!((r.status, codes(&r.body)), (401, vec!["H251".to_string()]));
}

#[test]
fn hourly_token_limit_gives_h084_then_recovers() {
    let sim = Sim::start(&[]);
    // What GET answers (the accounts file's snake_case) can be posted back; camelCase works too.
    let mut limits = sim.admin("GET", "/__sim/limits", Value::Null);
    limits["tokens_per_hour"] = json!(5);
    assert_eq!(sim.admin("POST", "/__sim/limits", limits)["tokens_per_hour"], 5);
    sim.admin("POST", "/__sim/limits", json!({"tokensPerHour": 3}));
    for _ in 0..3 {
        assert_eq!(sim.login("integrator", "integrator-pass").status, 200);
    }
    let r = sim.login("integrator", "integrator-pass");
    assert_eq!((r.status, codes(&r.body)), (429, vec!["H084".to_string()]));
    // Another account has its own budget.
    assert_eq!(sim.login("sp600001", "sp600001-pass").status, 200);
    sim.advance(3601);
    assert_eq!(sim.login("integrator", "integrator-pass").status, 200);
}

#[test]
fn default_token_limit_is_ten_per_hour() {
    let sim = Sim::start(&[]);
    let ok = (0..12).filter(|_| sim.login("integrator", "integrator-pass").status == 200).count();
    assert_eq!(ok, 10);
}

#[test]
fn per_second_limit_gives_h124_with_429() {
    let sim = Sim::start(&[]);
    let token = sim.token();
    sim.admin("POST", "/__sim/limits", json!({"requestsPerSecond": 3}));
    let answers: Vec<Resp> = (0..10).map(|_| sim.call("GET", "/sps/600001/brands", Some(&token), None)).collect();
    let limited: Vec<&Resp> = answers.iter().filter(|r| r.status == 429).collect();
    assert!(limited.len() >= 4, "10 calls within at most two seconds, 3 allowed per second: {answers:?}");
    assert!(limited.iter().all(|r| codes(&r.body) == ["H124"]));
}

#[test]
fn single_add_and_the_state_rules() {
    let sim = Sim::start(&[]);
    let token = sim.token();
    let path = consents_path(IYS, BRAND);
    let add = |body: &Value| sim.call("POST", &path, Some(&token), Some(body));

    let r = add(&consent("+905321234567", "MESAJ", "ONAY", 600));
    assert_eq!(r.status, 200, "{}", r.body);
    let tx = r.body["transactionId"].as_str().unwrap();
    assert!(tx.len() == 64 && tx.bytes().all(|b| b.is_ascii_hexdigit()));
    let created = r.body["creationDate"].as_str().unwrap();
    assert_eq!(created.len(), 19);
    assert_eq!(&created[10..11], " ");

    // Same status again: H174.
    let r = add(&consent("+905321234567", "MESAJ", "ONAY", 300));
    assert_eq!((r.status, codes(&r.body)), (400, vec!["H174".to_string()]));
    assert_eq!(r.body["errors"][0]["location"], json!(["status"]));
    // Older consentDate: H178.
    let r = add(&consent("+905321234567", "MESAJ", "RET", 900));
    assert_eq!((r.status, codes(&r.body)), (400, vec!["H178".to_string()]));
    // A newer RET is fine.
    assert_eq!(add(&consent("+905321234567", "MESAJ", "RET", 60)).status, 200);
    // First record RET: H175 (per type: ARAMA has no record yet).
    let r = add(&consent("+905321234567", "ARAMA", "RET", 60));
    assert_eq!((r.status, codes(&r.body)), (400, vec!["H175".to_string()]));

    // TACIR: created without source and date, updated only with both.
    let tacir = json!({"recipient": "+905331112233", "recipientType": "TACIR", "type": "ARAMA", "status": "ONAY"});
    assert_eq!(add(&tacir).status, 200);
    let r = add(
        &json!({"recipient": "+905331112233", "recipientType": "TACIR", "type": "ARAMA", "status": "RET", "consentDate": date_ago(10)}),
    );
    assert_eq!((r.status, codes(&r.body)), (400, vec!["H463".to_string()]));
    let r = add(
        &json!({"recipient": "+905331112233", "recipientType": "TACIR", "type": "ARAMA", "status": "RET", "source": "HS_WEB"}),
    );
    assert_eq!((r.status, codes(&r.body)), (400, vec!["H462".to_string()]));
    // BIREYSEL and TACIR are separate records for one address.
    assert_eq!(add(&consent("+905331112233", "ARAMA", "ONAY", 60)).status, 200);

    // Status query.
    let q = |body: Value| sim.call("POST", &format!("{path}/status"), Some(&token), Some(&body));
    let r = q(json!({"recipient": "+905321234567", "recipientType": "BIREYSEL", "type": "MESAJ"}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.body["status"].as_str(), r.body["source"].as_str()), (Some("RET"), Some("HS_WEB")));
    assert!(r.body["transactionId"].is_string() && r.body["creationDate"].is_string());
    let r = q(json!({"recipient": "+905329999999", "recipientType": "BIREYSEL", "type": "MESAJ"}));
    assert_eq!(r.status, 404);
    let r = q(json!({"recipientType": "BIREYSEL", "type": "FAX"}));
    assert_eq!((r.status, codes(&r.body)), (422, vec!["H114".to_string(), "H117".to_string()]));

    // Multiple status: only ONAY recipients come back.
    assert_eq!(add(&consent("+905301112233", "MESAJ", "ONAY", 60)).status, 200);
    let r = sim.call(
        "POST",
        &format!("{path}/BIREYSEL/status/MESAJ"),
        Some(&token),
        Some(&json!({"recipients": ["+905321234567", "+905301112233", "+905309999999"]})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["list"], json!(["+905301112233"]));
    assert!(r.body["requestId"].is_string());
    let r = sim.call("POST", &format!("{path}/BIREYSEL/status/MESAJ"), Some(&token), Some(&json!({"recipients": []})));
    assert_eq!((r.status, codes(&r.body)), (422, vec!["H164".to_string()]));
    let r = sim.call("POST", &format!("{path}/BIREYSEL/status/MESAJ"), Some(&token), Some(&json!({})));
    assert_eq!((r.status, codes(&r.body)), (422, vec!["H168".to_string()]));
    let r = sim.call(
        "POST",
        &format!("{path}/KISI/status/MESAJ"),
        Some(&token),
        Some(&json!({"recipients": ["+905301112233"]})),
    );
    assert_eq!((r.status, codes(&r.body)), (422, vec!["H116".to_string()]));

    // Inspection lists what is stored.
    let stored = sim.admin("GET", "/__sim/consents?iysCode=600001&brandCode=600001", Value::Null);
    assert_eq!(stored.as_array().unwrap().len(), 4);
}

#[test]
fn stateless_checks_come_from_iys_core() {
    let sim = Sim::start(&[]);
    let token = sim.token();
    let path = consents_path(IYS, BRAND);
    let r = sim.call("POST", &path, Some(&token), Some(&consent("05321234567", "MESAJ", "ONAY", 60)));
    assert_eq!((r.status, codes(&r.body)), (422, vec!["H121".to_string()]), "{}", r.body);
    assert_eq!(r.body["errors"][0]["location"], json!(["recipient"]));
    assert_eq!(r.body["errors"][0]["value"], "05321234567");
    let mut extra = consent("+905321234567", "MESAJ", "ONAY", 60);
    extra["tenant"] = json!("x");
    let r = sim.call("POST", &path, Some(&token), Some(&extra));
    assert_eq!((r.status, codes(&r.body)), (422, vec!["H118".to_string()]), "{}", r.body);
    let r = sim.call("POST", &path, Some(&token), Some(&json!({"type": "MESAJ", "status": "ONAY", "recipientType": "BIREYSEL", "source": "HS_WEB", "consentDate": date_ago(60)})));
    assert_eq!((r.status, codes(&r.body)), (422, vec!["H114".to_string()]), "{}", r.body);
    let (status, body) = sim
        .raw(
            "POST",
            &path,
            &[("Authorization", &format!("Bearer {token}"))],
            b"{\"recipient\":",
            std::time::Duration::from_secs(5),
        )
        .unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((status, codes(&body)), (400, vec!["H014".to_string()]));
    // Nothing was stored by the refused calls.
    assert_eq!(sim.admin("GET", "/__sim/consents", Value::Null), json!([]));
}

#[test]
fn permissions_and_unknown_codes() {
    let sim = Sim::start(&[]);
    let token = sim.token();
    // Brand 600002: EPOSTA is read-only.
    let r = sim.call(
        "POST",
        &consents_path(600001, 600002),
        Some(&token),
        Some(&consent("ali@example.com", "EPOSTA", "ONAY", 60)),
    );
    assert_eq!((r.status, codes(&r.body)), (403, vec!["H353".to_string()]), "{}", r.body);
    assert_eq!(
        sim.call(
            "POST",
            &consents_path(600001, 600002),
            Some(&token),
            Some(&consent("+905321234567", "MESAJ", "ONAY", 60))
        )
        .status,
        200
    );
    let r = sim.call(
        "POST",
        &format!("{}/status", consents_path(600001, 600002)),
        Some(&token),
        Some(&json!({"recipient": "ali@example.com", "recipientType": "BIREYSEL", "type": "EPOSTA"})),
    );
    assert_eq!(r.status, 404, "read is allowed, the record just does not exist: {}", r.body);
    // Brand 600003: MESAJ read only; no ARAMA at all.
    let r = sim.call(
        "POST",
        &consents_path(600001, 600003),
        Some(&token),
        Some(&consent("+905321234567", "MESAJ", "ONAY", 60)),
    );
    assert_eq!((r.status, codes(&r.body)), (403, vec!["H353".to_string()]));
    let r = sim.call(
        "POST",
        &format!("{}/BIREYSEL/status/ARAMA", consents_path(600001, 600003)),
        Some(&token),
        Some(&json!({"recipients": ["+905321234567"]})),
    );
    assert_eq!((r.status, codes(&r.body)), (403, vec!["H353".to_string()]));
    // Unknown or malformed codes.
    let c = consent("+905321234567", "MESAJ", "ONAY", 60);
    let r = sim.call("POST", &consents_path(600001, 123), Some(&token), Some(&c));
    assert_eq!((r.status, codes(&r.body)), (403, vec!["H195".to_string()]));
    let r = sim.call("POST", &consents_path(999, 600001), Some(&token), Some(&c));
    assert_eq!((r.status, codes(&r.body)), (404, vec!["H268".to_string()]));
    let r = sim.call("POST", "/sps/abc/brands/600001/consents", Some(&token), Some(&c));
    assert_eq!((r.status, codes(&r.body)), (422, vec!["H190".to_string()]));
    let r = sim.call("POST", "/sps/600001/brands/x1/consents", Some(&token), Some(&c));
    assert_eq!((r.status, codes(&r.body)), (422, vec!["H191".to_string()]));
    // An SP's own account sees only its own iysCode, with every permission there.
    let sp = sim.login("sp600001", "sp600001-pass").body["access_token"].as_str().unwrap().to_string();
    assert_eq!(sim.call("POST", &consents_path(600001, 600003), Some(&sp), Some(&c)).status, 200);
    let r = sim.call("POST", &consents_path(600100, 600100), Some(&sp), Some(&c));
    assert_eq!((r.status, codes(&r.body)), (403, vec!["H353".to_string()]));
}

#[test]
fn brands_and_integrator_discovery() {
    let sim = Sim::start(&[]);
    let token = sim.token();
    assert_eq!(
        sim.call(
            "POST",
            &consents_path(600001, 600001),
            Some(&token),
            Some(&consent("+905321234567", "MESAJ", "ONAY", 60))
        )
        .status,
        200
    );
    let r = sim.call("GET", "/sps/600001/brands", Some(&token), None);
    assert_eq!(r.status, 200);
    let brands = r.body.as_array().unwrap();
    assert_eq!(brands.len(), 3);
    assert_eq!(brands[0]["brandCode"], 600001);
    assert_eq!(brands[0]["master"], true);
    assert_eq!(brands[0]["stats"]["consents"], json!({"approval": 1, "rejection": 0, "total": 1}));

    let r = sim.call("GET", "/integrator/700001/sps", Some(&token), None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["list"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["pagination"]["totalCount"], 2);
    let r = sim.call("GET", "/integrator/700001/sps/600001", Some(&token), None);
    assert_eq!(r.status, 200);
    let b2 = &r.body["brands"][1];
    assert_eq!(
        (b2["brandCode"].as_u64(), b2["MESAJ"].as_str(), b2["EPOSTA"].as_str()),
        (Some(600002), Some("write"), Some("read"))
    );
    assert!(r.body["brands"][2].get("ARAMA").is_none(), "no ARAMA permission on 600003");
    let r = sim.call("GET", "/integrator/1/sps", Some(&token), None);
    assert_eq!((r.status, codes(&r.body)), (404, vec!["H129".to_string()]));
    let r = sim.call("GET", "/integrator/700001/sps/42", Some(&token), None);
    assert_eq!((r.status, codes(&r.body)), (404, vec!["H268".to_string()]));
    let sp = sim.login("sp600001", "sp600001-pass").body["access_token"].as_str().unwrap().to_string();
    let r = sim.call("GET", "/integrator/700001/sps", Some(&sp), None);
    assert_eq!((r.status, codes(&r.body)), (400, vec!["H363".to_string()]));
    // Unknown route and wrong method.
    let r = sim.call("GET", "/sps/600001/nothing", Some(&token), None);
    assert_eq!((r.status, codes(&r.body)), (404, vec!["NOT_FOUND".to_string()]));
    let r = sim.call("GET", &consents_path(IYS, BRAND), Some(&token), None);
    assert_eq!((r.status, codes(&r.body)), (405, vec!["METHOD_NOT_ALLOWED".to_string()]));
}

#[test]
fn async_batch_lifecycle() {
    let sim = Sim::start(&["--batch-delay-ms", "300"]);
    let token = sim.token();
    let path = format!("{}/request", consents_path(IYS, BRAND));
    // A bare array, keys as public clients send them.
    let body = json!([
        consent("+905321234567", "MESAJ", "ONAY", 120),
        consent("+905321234567", "ARAMA", "RET", 120),
        consent("0532 123 45 67", "MESAJ", "ONAY", 120),
        consent("veli@example.com", "EPOSTA", "ONAY", 120),
    ]);
    let r = sim.call("POST", &path, Some(&token), Some(&body));
    assert_eq!(r.status, 200, "{}", r.body);
    let b: BatchResponse = serde_json::from_value(r.body.clone()).unwrap();
    assert_eq!(b.sub_requests.len(), 4);
    assert!(r.body["subRequests"][0]["subrequestId"].is_string(), "official spelling");
    assert_eq!(b.sub_requests[2].recipient, "0532 123 45 67", "echoed as sent");

    // Right after: every item is queued.
    let r = sim.call("GET", &format!("{path}/{}", b.request_id), Some(&token), None);
    let items: Vec<BatchStatusItem> = serde_json::from_value(r.body.clone()).unwrap();
    assert!(items.iter().all(|i| i.status == iys_core::wire::BatchItemStatus::Enqueue), "{}", r.body);
    // Nothing is stored until the items settle.
    assert_eq!(sim.admin("GET", "/__sim/consents", Value::Null), json!([]));

    let settled = wait_batch(&sim, &token, &b.request_id);
    let items: Vec<BatchStatusItem> = serde_json::from_value(Value::Array(settled.clone())).unwrap();
    let summary: Vec<(u64, &str, Option<&str>)> = items
        .iter()
        .map(|i| {
            (i.index, if i.error.is_some() { "failure" } else { "success" }, i.error.as_ref().map(|e| e.code.as_str()))
        })
        .collect();
    assert_eq!(
        summary,
        vec![(1, "success", None), (2, "failure", Some("H175")), (3, "failure", Some("H121")), (4, "success", None)]
    );
    assert_eq!(settled[0]["status"], "success");
    assert!(items[0].transaction_id.is_some() && items[0].creation_date.is_some());
    for (i, s) in items.iter().zip(&b.sub_requests) {
        assert_eq!(i.sub_request_id, s.sub_request_id);
        assert_eq!(i.request_id.as_deref(), Some(b.request_id.as_str()));
    }
    assert_eq!(sim.admin("GET", "/__sim/consents", Value::Null).as_array().unwrap().len(), 2);

    // requestId errors.
    let q = |id: &str| sim.call("GET", &format!("{path}/{id}"), Some(&token), None);
    for (id, code) in [
        ("0f8fad5b-d9cb-469f-a165-70867728950e", "H093"),
        ("1234567", "H400"),
        ("abcdef", "H199"),
        ("0f8fad5b-d9cb-469f-a165-70867728950e-0000", "H198"),
    ] {
        let r = q(id);
        assert_eq!((r.status, codes(&r.body)), (422, vec![code.to_string()]), "{id}");
    }
    // Another brand cannot see this batch.
    let r = sim.call("GET", &format!("{}/request/{}", consents_path(600001, 600002), b.request_id), Some(&token), None);
    assert_eq!(codes(&r.body), ["H093"]);
}

#[test]
fn batch_level_errors() {
    let sim = Sim::start(&[]);
    let token = sim.token();
    let path = format!("{}/request", consents_path(IYS, BRAND));
    let r = sim.call("POST", &path, Some(&token), Some(&json!([])));
    assert_eq!((r.status, codes(&r.body)), (400, vec!["H092".to_string()]));
    let r = sim.call(
        "POST",
        &path,
        Some(&token),
        Some(&json!({"consents": [consent("+905321234567", "MESAJ", "ONAY", 60)]})),
    );
    assert_eq!((r.status, codes(&r.body)), (400, vec!["H092".to_string()]), "no object wrapper");
    let many: Vec<Value> =
        (0..1001).map(|i| consent(&format!("+90532{:07}", 1_000_000 + i), "MESAJ", "ONAY", 60)).collect();
    let r = sim.call("POST", &path, Some(&token), Some(&Value::Array(many.clone())));
    assert_eq!((r.status, codes(&r.body)), (422, vec!["H125".to_string()]));
    let r = sim.call("POST", &path, Some(&token), Some(&Value::Array(many[..1000].to_vec())));
    assert_eq!(r.status, 200, "1000 is allowed");
    let dup = json!([consent("+905321234567", "MESAJ", "ONAY", 60), consent("+905321234567", "MESAJ", "ONAY", 30)]);
    let r = sim.call("POST", &path, Some(&token), Some(&dup));
    assert_eq!((r.status, codes(&r.body).first().map(String::as_str)), (422, Some("H194")), "{}", r.body);
    assert_eq!(r.body["errors"][0]["index"], 1);
    // A brand without EPOSTA write: the item fails with H353.
    let r = sim.call(
        "POST",
        &format!("{}/request", consents_path(600001, 600002)),
        Some(&token),
        Some(&json!([consent("ali@example.com", "EPOSTA", "ONAY", 60)])),
    );
    assert_eq!(r.status, 200);
    let id = r.body["requestId"].as_str().unwrap().to_string();
    let mut item = Value::Null;
    for _ in 0..100 {
        let r = sim.call("GET", &format!("{}/request/{id}", consents_path(600001, 600002)), Some(&token), None);
        item = r.body[0].clone();
        if item["status"] != "enqueue" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert_eq!((item["status"].as_str(), item["error"]["code"].as_str()), (Some("failure"), Some("H353")));
}

#[test]
fn pull_cursor_over_many_pages_and_the_window() {
    let sim = Sim::start(&["--batch-delay-ms", "0"]);
    let token = sim.token();
    let batch: Vec<Value> =
        (0..25).map(|i| consent(&format!("+90533{:07}", 2_000_000 + i), "MESAJ", "ONAY", 60)).collect();
    let r =
        sim.call("POST", &format!("{}/request", consents_path(IYS, BRAND)), Some(&token), Some(&Value::Array(batch)));
    assert_eq!(r.status, 200);
    wait_batch(&sim, &token, r.body["requestId"].as_str().unwrap());
    sim.admin(
        "POST",
        "/__sim/citizen",
        json!({"iysCode": IYS, "brandCode": BRAND, "recipient": "+905332000003", "recipientType": "BIREYSEL",
               "type": "MESAJ", "status": "RET", "source": "IYS_MOBIL", "citizenName": "Ayşe Yılmaz"}),
    );
    let changes = consents_path(IYS, BRAND) + "/changes";
    let pull = |q: &str| -> PullResponse {
        let r = sim.call("GET", &format!("{changes}?{q}"), Some(&token), None);
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        serde_json::from_value(r.body).unwrap()
    };
    // The most recent hour is left out.
    assert!(pull("source=HS&limit=10").list.is_empty());
    sim.advance(3601);

    let mut after: Option<String> = None;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let q = match &after {
            Some(a) => format!("source=HS&limit=10&after={a}"),
            None => "source=HS&limit=10".to_string(),
        };
        let page = pull(&q);
        if page.list.is_empty() {
            assert_eq!(page.after, after, "an empty page hands the cursor back");
            break;
        }
        assert!(page.list.len() <= 10);
        pages += 1;
        seen.extend(page.list.iter().map(|i| i.recipient.clone()));
        after = page.after;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 25);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 25, "no change twice");

    // source=IYS: only the citizen's change.
    let iys = pull("source=IYS");
    assert_eq!(iys.list.len(), 1);
    assert_eq!(
        (iys.list[0].source.as_deref(), iys.list[0].citizen_name.as_deref()),
        (Some("IYS_MOBIL"), Some("Ayşe Yılmaz"))
    );
    // The citizen's RET is now the record's state.
    let r = sim.call(
        "POST",
        &format!("{}/status", consents_path(IYS, BRAND)),
        Some(&token),
        Some(&json!({"recipient": "+905332000003", "recipientType": "BIREYSEL", "type": "MESAJ"})),
    );
    assert_eq!(r.body["status"], "RET");

    // Errors.
    for (q, status, code) in [
        ("limit=5", 400, "H098"),
        ("source=XX", 400, "H098"),
        ("source=HS&limit=0", 422, "H187"),
        ("source=HS&limit=abc", 422, "H183"),
        ("source=HS&after=garbage", 400, "H098"),
    ] {
        let r = sim.call("GET", &format!("{changes}?{q}"), Some(&token), None);
        assert_eq!((r.status, codes(&r.body)), (status, vec![code.to_string()]), "{q}");
    }
    // Seven days later everything has left the window (and the token has long expired).
    sim.advance(7 * 86_400);
    let token = sim.token();
    let r = sim.call("GET", &format!("{changes}?source=HS"), Some(&token), None);
    assert_eq!((r.status, r.body["list"].as_array().map(Vec::len)), (200, Some(0)), "{}", r.body);
}

#[test]
fn a_retailer_that_does_not_exist_on_the_brand_is_403_h180() {
    // Brand 600001 of the default accounts holds retailers 1001, 1002 and 1003; 600100 models none.
    let sim = Sim::start(&["--batch-delay-ms", "0"]);
    let token = sim.token();
    let add = |brand: u64, phone: &str, extra: Value| {
        let mut c = consent(phone, "MESAJ", "ONAY", 60);
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let iys = if brand == BRAND { IYS } else { 600100 };
        sim.call("POST", &consents_path(iys, brand), Some(&token), Some(&c))
    };
    let r = add(BRAND, "+905350000001", json!({"retailerCode": 1001, "retailerAccess": [1002, 1003]}));
    assert_eq!(r.status, 200, "{}", r.body);
    let r = add(BRAND, "+905350000002", json!({"retailerCode": 9999}));
    assert_eq!((r.status, codes(&r.body)), (403, vec!["H180".to_string()]), "{}", r.body);
    assert_eq!(
        (r.body["errors"][0]["location"].clone(), r.body["errors"][0]["value"].clone()),
        (json!(["retailerCode"]), json!(9999))
    );
    let r = add(BRAND, "+905350000003", json!({"retailerAccess": [1001, 4242]}));
    assert_eq!((r.status, codes(&r.body)), (403, vec!["H180".to_string()]), "{}", r.body);
    assert_eq!(r.body["errors"][0]["location"], json!(["retailerAccess", 1]));
    assert_eq!(r.body["errors"][0]["value"], json!(4242));
    // A brand without a retailer list takes any code.
    let r = add(600100, "+905350000004", json!({"retailerCode": 9999}));
    assert_eq!(r.status, 200, "{}", r.body);
    // In a batch, the item fails with H180 and the others land.
    let items = vec![consent("+905350000005", "MESAJ", "ONAY", 60), {
        let mut c = consent("+905350000006", "MESAJ", "ONAY", 60);
        c["retailerCode"] = json!(7);
        c
    }];
    let r =
        sim.call("POST", &format!("{}/request", consents_path(IYS, BRAND)), Some(&token), Some(&Value::Array(items)));
    assert_eq!(r.status, 200, "{}", r.body);
    let out = wait_batch(&sim, &token, r.body["requestId"].as_str().unwrap());
    let got: Vec<(&str, Option<&str>)> =
        out.iter().map(|i| (i["status"].as_str().unwrap(), i["error"]["code"].as_str())).collect();
    assert_eq!(got, [("success", None), ("failure", Some("H180"))]);
    let held = sim.admin("GET", "/__sim/consents", Value::Null).to_string();
    assert!(
        !held.contains("+905350000002") && !held.contains("+905350000003") && !held.contains("+905350000006"),
        "{held}"
    );
}
