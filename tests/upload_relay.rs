//! `iys upload` through the relay: the real CLI binary against real workerd (`wrangler dev`) with
//! iys-sim as IYS, as a provider created through admin. The report must account for every record
//! and the sim must hold each valid consent exactly once.

#[path = "support/worker.rs"]
mod support;

use iys_tests::consent_date;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use support::{upload, Opts, Relay};

const IYS: u64 = 600001;
const BRAND: u64 = 600001;

#[test]
fn iys_upload_sends_a_file_through_the_relay_and_each_consent_lands_once() {
    let r = Relay::start(Opts::default());
    let (_, user, password) = r.create_provider(&json!({"name": "upload provider", "rate": 50, "burst": 100,
                     "scopes": [{"iysCode": IYS, "brands": [BRAND], "types": ["MESAJ", "EPOSTA"]}]}));
    let (user, password) = (user.as_str(), password.as_str());

    // 30 valid consents (phones and e-mails) and one the CLI refuses locally (not sent).
    let date = consent_date();
    let mut records: Vec<Value> = (0..20)
        .map(|i| {
            json!({"recipient": format!("+90533{:07}", 2_000_000 + i), "recipientType": "BIREYSEL",
                        "type": "MESAJ", "status": "ONAY", "source": "HS_WEB", "consentDate": date})
        })
        .collect();
    records.extend((0..10).map(|i| {
        json!({"recipient": format!("upload{i}@example.com"), "recipientType": "BIREYSEL", "type": "EPOSTA",
               "status": "ONAY", "source": "HS_WEB", "consentDate": date})
    }));
    records.push(json!({"recipient": "+90533", "recipientType": "BIREYSEL", "type": "MESAJ", "status": "ONAY",
                        "source": "HS_WEB", "consentDate": date}));
    let dir = r.state.join("upload");
    std::fs::create_dir_all(&dir).expect("upload dir");
    let input = dir.join("consents.json");
    std::fs::write(&input, serde_json::to_string(&records).expect("json")).expect("write input");
    let out = dir.join("out");

    let (iys, brand) = (IYS.to_string(), BRAND.to_string());
    let (code, stdout, stderr) = upload(
        &r.base,
        user,
        password,
        &["--iys-code", &iys, "--brand-code", &brand, "--wait-max", "120"],
        &out,
        &input,
    );
    // Exit 1: one record is invalid (all others accepted).
    assert_eq!(code, Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!stderr.contains(password), "the password must not appear on stderr");
    let summary: Value = serde_json::from_str(stdout.trim().lines().last().unwrap_or("")).unwrap_or(Value::Null);
    let s = &summary["summary"];
    assert_eq!(
        (s["records"].clone(), s["accepted"].clone(), s["refused"].clone(), s["invalid"].clone(), s["pending"].clone()),
        (json!(31), json!(30), json!(0), json!(1), json!(0)),
        "{stdout}"
    );

    // The report: one line per record, in input order; accepted ones carry IYS's transactionId.
    let report = std::fs::read_to_string(out.join("report.ndjson")).expect("report.ndjson");
    let lines: Vec<Value> = report.lines().map(|l| serde_json::from_str(l).unwrap_or(Value::Null)).collect();
    assert_eq!(lines.len(), 31);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["index"], json!(i), "{l}");
        if i < 30 {
            assert_eq!((l["ok"].clone(), l["state"].clone()), (json!(true), json!("accepted")), "{l}");
            assert!(l["transactionId"].as_str().is_some_and(|t| !t.is_empty()), "{l}");
            assert_eq!(l["recipient"], records[i]["recipient"], "{l}");
        } else {
            assert_eq!((l["ok"].clone(), l["state"].clone()), (json!(false), json!("invalid")), "{l}");
        }
    }

    // The sim holds each valid consent exactly once, and IYS saw each in exactly one batch item.
    let stored = r.sim("GET", &format!("/__sim/consents?iysCode={IYS}&brandCode={BRAND}"), None).json();
    let stored = stored.as_array().cloned().unwrap_or_default();
    assert_eq!(stored.len(), 30, "{stored:?}");
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for b in r.sim("GET", "/__sim/batches", None).json().as_array().cloned().unwrap_or_default() {
        if b["iysCode"] != json!(IYS) || b["brandCode"] != json!(BRAND) {
            continue;
        }
        for it in b["items"].as_array().cloned().unwrap_or_default() {
            let rec = it["consent"]["recipient"].as_str().unwrap_or_default().to_string();
            *seen.entry(rec).or_default() += 1;
        }
    }
    for rec in &records[..30] {
        let want = rec["recipient"].as_str().unwrap_or_default();
        let n = stored.iter().filter(|c| c["recipient"] == want && c["type"] == rec["type"]).count();
        assert_eq!(n, 1, "{want} stored {n} times");
        assert_eq!(seen.get(want), Some(&1), "{want} sent to IYS {:?} times", seen.get(want));
    }
    assert!(!seen.contains_key("+90533"), "the invalid record never left the machine");

    // The relay's ledger recorded the provider's batch and the chain is intact.
    let verify = r.admin("GET", "/admin/ledger/verify", None);
    assert_eq!(verify.json()["ok"], json!(true), "{}", verify.body);
}
