//! A provider's scope and the status routes' request checks, end to end (real workerd with
//! `iys-sim` as IYS): a token covers its own iysCode(s), brands and consent types and nothing else,
//! with every scope entry counted on its own; `consents/changes` answers only the changes of the
//! provider's types (both sides, paging intact); status queries whose recipient cannot take the type
//! or whose fields are missing are refused with iys-core's codes. Whatever is refused never reaches
//! IYS (the sim's request log). One relay + sim for the binary; each test has its own brands.

#[path = "support/worker.rs"]
mod support;

use iys_tests::consent_date;
use serde_json::{json, Value};
use std::sync::OnceLock;
use support::{Opts, Relay, Resp};

fn relay() -> &'static Relay {
    static R: OnceLock<Relay> = OnceLock::new();
    R.get_or_init(|| {
        let r = Relay::start(Opts::default());
        // Changes are pullable at once (IYS leaves out the last hour).
        let lim = r.sim("POST", "/__sim/limits", Some(&json!({"pullExcludeRecentSecs": 0})));
        assert_eq!(lim.status, 200, "{}", lim.body);
        r
    })
}

/// A provider's relay access token. Its limiter is out of the way: these tests look at scopes and
/// refusals, several to a second.
fn provider(r: &Relay, scopes: Value) -> String {
    let body = json!({"name": "scope test", "scopes": scopes, "rate": 1000, "burst": 1000});
    let c = r.admin("POST", "/admin/providers", Some(&body));
    assert_eq!(c.status, 201, "{}", c.body);
    let c = c.json();
    let grant = json!({"grant_type": "password", "username": c["username"], "password": c["password"]});
    let t = r.req("POST", "/oauth2/token", &[("Content-Type", "application/json")], Some(&grant.to_string()));
    assert_eq!(t.status, 200, "{}", t.body);
    t.json()["access_token"].as_str().unwrap_or_default().to_string()
}

fn call(r: &Relay, token: &str, method: &str, path: &str, body: Option<&Value>) -> Resp {
    let auth = format!("Bearer {token}");
    let b = body.map(Value::to_string);
    r.req(method, path, &[("Authorization", &auth), ("Content-Type", "application/json")], b.as_deref())
}

/// (status, errors[0].code, errors[0].iysEdgeCode).
fn refusal(resp: &Resp) -> (u16, String, String) {
    let e = &resp.json()["errors"][0];
    let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
    (resp.status, s("code"), s("iysEdgeCode"))
}

/// The sim's request log entries on `route` whose path starts with `prefix`.
fn sim_log(r: &Relay, route: &str, prefix: &str) -> Vec<Value> {
    let v = r.sim("GET", "/__sim/requests", None).json();
    v.as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["route"] == route && e["path"].as_str().is_some_and(|p| p.starts_with(prefix)))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn recipients(page: &Value) -> Vec<String> {
    page["list"]
        .as_array()
        .map(|l| l.iter().map(|i| i["recipient"].as_str().unwrap_or_default().to_string()).collect())
        .unwrap_or_default()
}

fn types(page: &Value) -> Vec<String> {
    page["list"]
        .as_array()
        .map(|l| l.iter().map(|i| i["type"].as_str().unwrap_or_default().to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn changes_carry_only_the_providers_consent_types_on_both_sides() {
    let r = relay();
    const BRAND: &str = "/sps/600100/brands/600101/consents";
    let mesaj = provider(r, json!([{"iysCode": 600100, "brands": [600101], "types": ["MESAJ"]}]));
    let all = provider(r, json!([{"iysCode": 600100, "brands": [600101], "types": ["ARAMA", "MESAJ", "EPOSTA"]}]));

    // IYS's side: citizens' changes of three types, pulled by the cron's pull.
    let citizen = [
        ("+905320000101", "MESAJ"),
        ("vatandas.bir@example.com", "EPOSTA"),
        ("+905320000102", "ARAMA"),
        ("+905320000103", "MESAJ"),
        ("vatandas.iki@example.com", "EPOSTA"),
    ];
    for (recipient, kind) in citizen {
        let c = r.sim(
            "POST",
            "/__sim/citizen",
            Some(&json!({"iysCode": 600100, "brandCode": 600101, "recipient": recipient, "recipientType": "BIREYSEL",
                         "type": kind, "status": "ONAY", "source": "IYS_MOBIL"})),
        );
        assert_eq!(c.status, 200, "{}", c.body);
    }
    let pulled = r.admin("POST", "/admin/pull", None);
    assert_eq!(pulled.status, 200, "{}", pulled.body);

    let everything = call(r, &all, "GET", &format!("{BRAND}/changes?source=IYS"), None).json();
    assert_eq!(recipients(&everything), citizen.iter().map(|(x, _)| (*x).to_string()).collect::<Vec<_>>());

    // The MESAJ provider pages through its own type only, one change a page, and the cursor goes on
    // past the changes it may not read.
    let mut seen = Vec::new();
    let mut after = String::new();
    for _ in 0..5 {
        let page = call(r, &mesaj, "GET", &format!("{BRAND}/changes?source=IYS&limit=1&after={after}"), None);
        assert_eq!(page.status, 200, "{}", page.body);
        let page = page.json();
        assert!(types(&page).iter().all(|t| t == "MESAJ"), "{page}");
        let got = recipients(&page);
        assert!(got.len() <= 1, "{page}");
        after = page["after"].as_str().unwrap_or_default().to_string();
        if got.is_empty() {
            break;
        }
        seen.extend(got);
    }
    assert_eq!(seen, ["+905320000101", "+905320000103"]);

    // Bad cursors and limits are refused, never read as "from the start" or "999": each with the
    // query parameter's own code, IYS's H-code and IYS's status for it (as iys-sim answers: H098
    // 400, H183/H187 422), the parameter named in `location` and the message in the caller's
    // language.
    for (query, status, code, param) in [
        ("source=IYS&after=abc", 400, "H098", "after"),
        ("source=IYS&after=-1", 400, "H098", "after"),
        ("source=IYS&after=1604423100000_ab", 400, "H098", "after"),
        ("source=IYS&limit=0", 422, "H187", "limit"),
        ("source=IYS&limit=-5", 422, "H183", "limit"),
        ("source=IYS&limit=ten", 422, "H183", "limit"),
        ("source=HS&limit=0", 422, "H187", "limit"),
        ("source=HS&limit=1.5", 422, "H183", "limit"),
        ("source=XX", 400, "H098", "source"),
    ] {
        let a = call(r, &mesaj, "GET", &format!("{BRAND}/changes?{query}"), None);
        assert_eq!(refusal(&a), (status, code.into(), "request/invalid-query-param".into()), "{query}: {}", a.body);
        let e = &a.json()["errors"][0];
        assert_eq!(e["location"], json!([param]), "{query}: {}", a.body);
        assert_eq!(e["message"], format!("{param} sorgu parametresinin değeri geçersiz."), "{query}");
    }
    let en = r.req(
        "GET",
        &format!("{BRAND}/changes?source=XX"),
        &[("Authorization", &format!("Bearer {mesaj}")), ("Accept-Language", "en")],
        None,
    );
    assert_eq!(en.json()["errors"][0]["message"], "The query parameter source has an invalid value.", "{}", en.body);
    assert!(sim_log(r, "changes", "/sps/600100/brands/600101/consents/changes?source=HS").is_empty());

    // The provider's own side (source=HS), asked of IYS live: consents added through the relay.
    for (recipient, kind) in [("+905320000201", "MESAJ"), ("hizmet.alici@example.com", "EPOSTA")] {
        let c = json!({"recipient": recipient, "recipientType": "BIREYSEL", "type": kind, "status": "ONAY",
                       "source": "HS_WEB", "consentDate": consent_date()});
        let a = call(r, &all, "POST", BRAND, Some(&c));
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let hs_all = call(r, &all, "GET", &format!("{BRAND}/changes?source=HS"), None);
    assert_eq!(hs_all.status, 200, "{}", hs_all.body);
    assert_eq!(recipients(&hs_all.json()), ["+905320000201", "hizmet.alici@example.com"]);
    let hs = call(r, &mesaj, "GET", &format!("{BRAND}/changes?source=HS"), None);
    assert_eq!(hs.status, 200, "{}", hs.body);
    let hs = hs.json();
    assert_eq!(recipients(&hs), ["+905320000201"], "{hs}");
    assert!(hs["after"].is_string(), "IYS's cursor is passed on: {hs}");
    assert!(!hs.to_string().contains("hizmet.alici"), "{hs}");

    // Paging one at a time past another type: an IYS page holding only changes the provider may not
    // read is read past within the same request, so a page comes back empty only at the end of the
    // feed, and a client that stops at its first empty page misses nothing.
    let c = json!({"recipient": "+905320000202", "recipientType": "BIREYSEL", "type": "MESAJ", "status": "ONAY",
                   "source": "HS_WEB", "consentDate": consent_date()});
    assert_eq!(call(r, &all, "POST", BRAND, Some(&c)).status, 200);
    let mut seen = Vec::new();
    let mut after = String::new();
    for _ in 0..5 {
        let cursor = if after.is_empty() { String::new() } else { format!("&after={after}") };
        let page = call(r, &mesaj, "GET", &format!("{BRAND}/changes?source=HS&limit=1{cursor}"), None);
        assert_eq!(page.status, 200, "{}", page.body);
        let page = page.json();
        after = page["after"].as_str().unwrap_or_default().to_string();
        let got = recipients(&page);
        if got.is_empty() {
            break;
        }
        seen.extend(got);
    }
    assert_eq!(seen, ["+905320000201", "+905320000202"]);
}

#[test]
fn every_scope_entry_counts_on_its_own() {
    let r = relay();
    let split = provider(
        r,
        json!([{"iysCode": 600001, "brands": [600001], "types": ["MESAJ"]},
               {"iysCode": 600001, "brands": [600002], "types": ["EPOSTA"]}]),
    );
    let status = |brand: u64, recipient: &str, kind: &str| {
        call(
            r,
            &split,
            "POST",
            &format!("/sps/600001/brands/{brand}/consents/status"),
            Some(&json!({"recipient": recipient, "recipientType": "BIREYSEL", "type": kind})),
        )
    };
    // Allowed: each entry's own brand with its own type (the second entry was ignored before).
    for (brand, recipient, kind) in [(600001, "+905320000301", "MESAJ"), (600002, "kapsam.alici@example.com", "EPOSTA")]
    {
        let a = status(brand, recipient, kind);
        assert!(a.status != 403 && a.status != 422 && a.status < 500, "{brand} {kind}: {} {}", a.status, a.body);
        assert_eq!(sim_log(r, "status", &format!("/sps/600001/brands/{brand}/")).len(), 1, "{brand} relayed");
    }
    let changes = call(r, &split, "GET", "/sps/600001/brands/600002/consents/changes?source=IYS", None);
    assert_eq!(changes.status, 200, "{}", changes.body);
    // Refused: one entry's type on the other entry's brand, and a brand no entry names.
    for (brand, recipient, kind, what) in [
        (600001, "kapsam.iki@example.com", "EPOSTA", "type EPOSTA"),
        (600002, "+905320000302", "MESAJ", "type MESAJ"),
        (600003, "+905320000303", "MESAJ", "brandCode 600003"),
    ] {
        let a = status(brand, recipient, kind);
        assert_eq!(refusal(&a), (403, "H353".into(), "auth/out-of-scope".into()), "{brand} {kind}: {}", a.body);
        assert!(a.body.contains(what), "{what}: {}", a.body);
    }
    let multi = call(
        r,
        &split,
        "POST",
        "/sps/600001/brands/600002/consents/BIREYSEL/status/MESAJ",
        Some(&json!({"recipients": ["+905320000304"]})),
    );
    assert_eq!(refusal(&multi), (403, "H353".into(), "auth/out-of-scope".into()), "{}", multi.body);
    let add = call(
        r,
        &split,
        "POST",
        "/sps/600001/brands/600001/consents",
        Some(&json!({"recipient": "kapsam.uc@example.com", "recipientType": "BIREYSEL", "type": "EPOSTA",
                     "status": "ONAY", "source": "HS_WEB", "consentDate": consent_date()})),
    );
    assert_eq!(refusal(&add), (403, "H353".into(), "auth/out-of-scope".into()), "{}", add.body);
    // Nothing refused reached IYS: still one status query per allowed brand, no other request.
    for brand in [600001, 600002, 600003] {
        let prefix = format!("/sps/600001/brands/{brand}/");
        let n = if brand == 600003 { 0 } else { 1 };
        assert_eq!(sim_log(r, "status", &prefix).len(), n, "{brand}");
        for route in ["multi-status", "add"] {
            assert!(sim_log(r, route, &prefix).is_empty(), "{route} on {brand} reached IYS");
        }
    }
}

/// (what, path under the brand's consents, body, (H-code, iysEdgeCode), errors[0].location).
type Case = (&'static str, &'static str, Value, (&'static str, &'static str), Value);

#[test]
fn status_queries_are_checked_like_consents_and_refusals_never_reach_iys() {
    let r = relay();
    const BASE: &str = "/sps/600100/brands/600100/consents";
    let p = provider(r, json!([{"iysCode": 600100, "brands": [600100], "types": ["ARAMA", "MESAJ", "EPOSTA"]}]));
    let post = |path: &str, body: Value, en: bool| {
        let auth = format!("Bearer {p}");
        let mut h = vec![("Authorization", auth.as_str()), ("Content-Type", "application/json")];
        if en {
            h.push(("Accept-Language", "en"));
        }
        r.req("POST", &format!("{BASE}{path}"), &h, Some(&body.to_string()))
    };
    let one = |recipient: Value, rt: Option<&str>, ty: Option<Value>| {
        let mut b = json!({"recipient": recipient});
        if let Some(rt) = rt {
            b["recipientType"] = json!(rt);
        }
        if let Some(ty) = ty {
            b["type"] = ty;
        }
        b
    };
    let cases: Vec<Case> = vec![
        (
            "an e-mail address for MESAJ",
            "/status",
            one(json!("durum.alici@example.com"), Some("BIREYSEL"), Some(json!("MESAJ"))),
            ("H464", "consent/email-needs-eposta"),
            json!(["type"]),
        ),
        (
            "a phone number for EPOSTA",
            "/status",
            one(json!("+905320000401"), Some("BIREYSEL"), Some(json!("EPOSTA"))),
            ("H459", "consent/phone-needs-arama-or-mesaj"),
            json!(["type"]),
        ),
        (
            "recipientType missing",
            "/status",
            one(json!("+905320000402"), None, Some(json!("MESAJ"))),
            ("H170", "consent/recipient-type-missing"),
            json!(["recipientType"]),
        ),
        (
            "type missing",
            "/status",
            one(json!("+905320000403"), Some("BIREYSEL"), None),
            ("H111", "consent/type-missing"),
            json!(["type"]),
        ),
        (
            "type not a string",
            "/status",
            one(json!("+905320000404"), Some("BIREYSEL"), Some(json!(1))),
            ("H085", "consent/wrong-field-type"),
            json!(["type"]),
        ),
        (
            "type misspelt",
            "/status",
            one(json!("+905320000405"), Some("BIREYSEL"), Some(json!("SMS"))),
            ("H117", "consent/invalid-type"),
            json!(["type"]),
        ),
        (
            "recipient not a string",
            "/status",
            one(json!(905320000406_u64), Some("BIREYSEL"), Some(json!("MESAJ"))),
            ("H085", "consent/wrong-field-type"),
            json!(["recipient"]),
        ),
        (
            "phones for EPOSTA (multi)",
            "/BIREYSEL/status/EPOSTA",
            json!({"recipients": ["+905320000407"]}),
            ("H459", "consent/phone-needs-arama-or-mesaj"),
            json!(["recipients", 0]),
        ),
        (
            "an e-mail address among phones for MESAJ (multi)",
            "/BIREYSEL/status/MESAJ",
            json!({"recipients": ["+905320000408", "coklu.alici@example.com"]}),
            ("H464", "consent/email-needs-eposta"),
            json!(["recipients", 1]),
        ),
        (
            "a type in the path that is none (multi)",
            "/BIREYSEL/status/SMS",
            json!({"recipients": ["+905320000409"]}),
            ("H117", "consent/invalid-type"),
            json!(["type"]),
        ),
        (
            "a recipientType in the path that is none (multi)",
            "/KURUMSAL/status/MESAJ",
            json!({"recipients": ["+905320000410"]}),
            ("H116", "consent/invalid-recipient-type"),
            json!(["recipientType"]),
        ),
        (
            "recipients not a list (multi)",
            "/BIREYSEL/status/MESAJ",
            json!({"recipients": "+905320000411"}),
            ("H085", "consent/wrong-field-type"),
            json!(["recipients"]),
        ),
        (
            "recipients missing (multi)",
            "/BIREYSEL/status/MESAJ",
            json!({}),
            ("H168", "consent/recipients-missing"),
            json!(["recipients"]),
        ),
        (
            "recipients null (multi)",
            "/BIREYSEL/status/MESAJ",
            json!({"recipients": null}),
            ("H168", "consent/recipients-missing"),
            json!(["recipients"]),
        ),
        (
            "recipients empty (multi)",
            "/BIREYSEL/status/MESAJ",
            json!({"recipients": []}),
            ("H164", "consent/recipients-empty"),
            json!(["recipients"]),
        ),
        (
            "1001 recipients (multi)",
            "/BIREYSEL/status/MESAJ",
            json!({"recipients": vec!["+905320000415"; 1001]}),
            ("H127", "consent/recipients-too-many"),
            json!(["recipients"]),
        ),
    ];
    for (name, path, body, (h, code), location) in &cases {
        let a = post(path, body.clone(), false);
        assert_eq!(refusal(&a), (422, (*h).to_string(), (*code).to_string()), "{name}: {}", a.body);
        assert_eq!(a.json()["errors"][0]["location"], *location, "{name}: {}", a.body);
        assert_eq!(a.json()["errors"].as_array().map(Vec::len), Some(1), "{name}: one error: {}", a.body);
    }
    // The codes' messages, in the language asked for.
    let en = post("/status", one(json!("durum.alici@example.com"), Some("BIREYSEL"), Some(json!("ARAMA"))), true);
    assert_eq!(
        en.json()["errors"][0]["message"],
        "Type ARAMA needs a phone number; an e-mail address takes type EPOSTA.",
        "{}",
        en.body
    );
    let en = post("/status", one(json!("+905320000412"), None, Some(json!("MESAJ"))), true);
    assert_eq!(en.json()["errors"][0]["message"], "recipientType is missing.", "{}", en.body);
    let tr = post("/status", one(json!("+905320000413"), Some("BIREYSEL"), None), false);
    assert_eq!(tr.json()["errors"][0]["message"], "type (izin tipi) eksik.", "{}", tr.body);
    // The `recipients` list's codes too (they were Turkish whatever the caller asked).
    let multi = "/BIREYSEL/status/MESAJ";
    for (body, en, tr) in [
        (json!({}), "recipients is missing.", "recipients (alıcı listesi) eksik."),
        (json!({"recipients": []}), "recipients must not be an empty list.", "recipients boş bir liste olamaz."),
        (
            json!({"recipients": vec!["+905320000416"; 1001]}),
            "recipients may hold at most 1000 recipients; this list holds 1001.",
            "recipients listesinde en fazla 1000 alıcı olabilir; bu listede 1001 var.",
        ),
    ] {
        let a = post(multi, body.clone(), true);
        assert_eq!(a.json()["errors"][0]["message"], en, "{}", a.body);
        let a = post(multi, body, false);
        assert_eq!(a.json()["errors"][0]["message"], tr, "{}", a.body);
    }
    // None of them reached IYS; a valid query does.
    assert!(sim_log(r, "status", BASE).is_empty(), "{:?}", sim_log(r, "status", BASE));
    assert!(sim_log(r, "multi-status", BASE).is_empty(), "{:?}", sim_log(r, "multi-status", BASE));
    let ok = post("/status", one(json!("durum.alici@example.com"), Some("BIREYSEL"), Some(json!("EPOSTA"))), false);
    assert!(ok.status < 500 && ok.status != 422, "{} {}", ok.status, ok.body);
    let ok = post("/BIREYSEL/status/ARAMA", json!({"recipients": ["+905320000414"]}), false);
    assert!(ok.status < 500 && ok.status != 422, "{} {}", ok.status, ok.body);
    assert_eq!(sim_log(r, "status", BASE).len(), 1);
    assert_eq!(sim_log(r, "multi-status", BASE).len(), 1);
}
