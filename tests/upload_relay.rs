//! `iys upload` through the relay: the real CLI binary against real workerd (`wrangler dev`) with
//! iys-sim as IYS, as a provider created through admin. The report must account for every record
//! and the sim must hold each valid consent exactly once.

#[path = "support/worker.rs"]
mod support;

use iys_tests::{consent_date, date_ago, write_batch_dir};
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

fn journal(out: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(out.join("upload.journal")).expect("journal");
    text.lines().map(|l| serde_json::from_str(l).unwrap_or(Value::Null)).collect()
}

/// How many batch items the sim received for each recipient (of this test's iysCode/brandCode).
fn received(r: &Relay) -> BTreeMap<String, usize> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for b in r.sim("GET", "/__sim/batches", None).json().as_array().cloned().unwrap_or_default() {
        for it in b["items"].as_array().cloned().unwrap_or_default() {
            *seen.entry(it["consent"]["recipient"].as_str().unwrap_or_default().to_string()).or_default() += 1;
        }
    }
    seen
}

/// A planned batch (an `iys batch` directory, sent as it is) that holds, next to valid consents,
/// items the relay refuses by index: one dated before 2015 (H156) and one that left the
/// consentDate window since it was planned. Only those two are refused, each with its own code;
/// the others go again as a new attempt with a new key and land once. Without `--no-window` the
/// CLI re-checks the window itself before sending and never sends the expired item.
#[test]
fn iys_upload_refuses_only_the_items_a_batch_refusal_names_and_sends_the_rest() {
    let r = Relay::start(Opts::default());
    let (_, user, password) = r.create_provider(&json!({"name": "partial refusal", "rate": 50, "burst": 100,
                     "scopes": [{"iysCode": IYS, "brands": [BRAND], "types": ["MESAJ"]}]}));
    let (user, password) = (user.as_str(), password.as_str());
    let (iys, brand) = (IYS.to_string(), BRAND.to_string());
    let consent = |n: u32, date: &str| {
        json!({"recipient": format!("+90536{n:07}"), "recipientType": "BIREYSEL", "type": "MESAJ",
               "status": "ONAY", "source": "HS_WEB", "consentDate": date})
    };
    let (fresh, old) = (consent_date(), date_ago(10 * 86_400));
    let dir = r.state.join("partial");

    // 1. The relay's 422 names items 1 (H156) and 4 (consent/date-too-old); --no-window keeps the
    //    CLI from judging the window itself, so the relay does.
    let batch: Vec<Value> = (0..8)
        .map(|i| match i {
            1 => consent(4_000_000 + i, "2014-06-01 10:00:00"),
            4 => consent(4_000_000 + i, &old),
            _ => consent(4_000_000 + i, &fresh),
        })
        .collect();
    let input = dir.join("in1");
    write_batch_dir(&input, std::slice::from_ref(&batch)).expect("write");
    let out = dir.join("out1");
    let extra = ["--iys-code", &iys, "--brand-code", &brand, "--wait-max", "120", "--no-window"];
    let (code, stdout, stderr) = upload(&r.base, user, password, &extra, &out, &input);
    assert_eq!(code, Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let report: Vec<Value> = std::fs::read_to_string(out.join("report.ndjson"))
        .expect("report")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or(Value::Null))
        .collect();
    assert_eq!(report.len(), 8);
    for (i, l) in report.iter().enumerate() {
        match i {
            1 => assert_eq!((l["state"].clone(), l["code"].clone()), (json!("refused"), json!("H156")), "{l}"),
            4 => assert_eq!(
                (l["state"].clone(), l["code"].clone()),
                (json!("refused"), json!("consent/date-too-old")),
                "{l}"
            ),
            _ => assert_eq!(l["state"], json!("accepted"), "{l}"),
        }
    }
    let j = journal(&out);
    let kinds: Vec<&str> = j.iter().map(|e| e["e"].as_str().unwrap_or_default()).collect();
    assert_eq!(kinds, ["send", "refused-items", "send", "sent", "done"], "{j:?}");
    assert_eq!(j[1]["status"], json!(422));
    assert_eq!(j[2]["items"], json!([0, 2, 3, 5, 6, 7]), "{j:?}");
    assert_ne!(j[2]["key"], j[0]["key"], "the second attempt has its own key");

    // The sim holds each valid consent once and received each once; the refused ones never.
    let stored = r.sim("GET", &format!("/__sim/consents?iysCode={IYS}&brandCode={BRAND}"), None).json();
    let stored = stored.as_array().cloned().unwrap_or_default();
    let seen = received(&r);
    for (i, c) in batch.iter().enumerate() {
        let rec = c["recipient"].as_str().unwrap_or_default();
        let n = stored.iter().filter(|s| s["recipient"] == rec).count();
        let want = usize::from(i != 1 && i != 4);
        assert_eq!((n, seen.get(rec).copied().unwrap_or(0)), (want, want), "item {i}: {rec}");
    }

    // 2. The same with the window checked locally: the expired item is refused before any POST.
    let batch: Vec<Value> =
        (0..4).map(|i| consent(4_100_000 + i, if i == 2 { old.as_str() } else { fresh.as_str() })).collect();
    let input = dir.join("in2");
    write_batch_dir(&input, std::slice::from_ref(&batch)).expect("write");
    let out = dir.join("out2");
    let (code, stdout, stderr) = upload(&r.base, user, password, &extra[..6], &out, &input);
    assert_eq!(code, Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let report = std::fs::read_to_string(out.join("report.ndjson")).expect("report");
    let states: Vec<(Value, Value)> = report
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or(Value::Null))
        .map(|l| (l["state"].clone(), l["code"].clone()))
        .collect();
    assert_eq!(states[2], (json!("refused"), json!("consent/date-too-old")), "{report}");
    assert!(states.iter().enumerate().all(|(i, s)| i == 2 || s.0 == "accepted"), "{report}");
    let j = journal(&out);
    let kinds: Vec<&str> = j.iter().map(|e| e["e"].as_str().unwrap_or_default()).collect();
    assert_eq!(kinds, ["refused-items", "send", "sent", "done"], "{j:?}");
    assert_eq!((j[0]["attempt"].clone(), j[0].get("status")), (json!(0), None), "{j:?}");
    assert_eq!(j[1]["items"], json!([0, 1, 3]), "{j:?}");
    let seen = received(&r);
    assert_eq!(seen.get(batch[2]["recipient"].as_str().unwrap_or_default()), None, "the expired item never left");
}
