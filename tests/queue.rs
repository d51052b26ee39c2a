//! The relay's outbound queue on real workerd (`wrangler dev`) with iys-sim as IYS: consents the
//! relay accepted are never lost by it.
//!
//! - Two requests with the same recipient key (recipientType, type, recipient), queued together:
//!   IYS refuses a list holding a key twice (H194) as a whole, so the consumer sends a key's rows in
//!   separate lists, oldest first; every item of both requests lands.
//! - An IYS outage longer than the old attempt cap (6 sends, `MAX_ATTEMPTS`): the rows stay
//!   `enqueue` while IYS refuses them and land exactly once when it is back; an undated TACIR row
//!   accepted more than 3 business days ago ends as `upstream/expired`.
//! - The H084 token breaker open: nothing is sent, the rows are looked at again without using
//!   attempts, and go once the breaker is reset.
//! - IYS's resend list (upstream.rs `is_retryable`), with the sim's `code` and `item` faults: a list
//!   refused 400 H123 (a 4xx on the list) is sent again and lands once; a list refused with a code
//!   not on it is not sent again and its items end with that code; items that settle `failure`
//!   H179 are sent again (only they), an item's final H175 is not.

#[path = "support/worker.rs"]
mod support;

#[path = "support/load.rs"]
mod load;

use iys_tests::date_ago;
use load::{provider, sim_consents, sim_log};
use serde_json::{json, Value};
use support::{wait_for, Opts, Relay};

const IYS: u64 = 600001;
const BRAND: u64 = 600001;

/// The suites' quick polls and retries (no attempt cap of any kind is set), plus `extra`.
fn opts(extra: &[(&'static str, &str)]) -> Opts {
    let mut o = Opts::default();
    o.vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    o
}

fn consent(recipient: &str, status: &str, date: &str) -> Value {
    json!({"recipient": recipient, "recipientType": "BIREYSEL", "type": "MESAJ", "status": status,
           "source": "HS_WEB", "consentDate": date})
}

fn post_batch(r: &Relay, token: &str, items: &[Value]) -> String {
    let a = r.req(
        "POST",
        &format!("/sps/{IYS}/brands/{BRAND}/consents/request"),
        &[("Authorization", &format!("Bearer {token}")), ("Content-Type", "application/json")],
        Some(&Value::Array(items.to_vec()).to_string()),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    a.json()["requestId"].as_str().unwrap_or_default().to_string()
}

fn status_of(r: &Relay, token: &str, rid: &str) -> Vec<Value> {
    let a = r.req(
        "GET",
        &format!("/sps/{IYS}/brands/{BRAND}/consents/request/{rid}"),
        &[("Authorization", &format!("Bearer {token}"))],
        None,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    a.json().as_array().cloned().unwrap_or_default()
}

/// `POST …/consents/status` for a BIREYSEL MESAJ recipient: (status, `x-iys-edge-queued`).
fn queued_header(r: &Relay, token: &str, recipient: &str) -> (u16, Option<String>) {
    let a = r.req(
        "POST",
        &format!("/sps/{IYS}/brands/{BRAND}/consents/status"),
        &[("Authorization", &format!("Bearer {token}")), ("Content-Type", "application/json")],
        Some(&json!({"recipient": recipient, "recipientType": "BIREYSEL", "type": "MESAJ"}).to_string()),
    );
    (a.status, a.header("x-iys-edge-queued").map(str::to_string))
}

fn final_status(r: &Relay, token: &str, rid: &str, secs: u64) -> Vec<Value> {
    wait_for(secs, "final outcomes", || {
        let items = status_of(r, token, rid);
        (!items.is_empty() && items.iter().all(|i| i["status"] != "enqueue")).then_some(items)
    })
}

/// Every batch item the sim got for `recipient`, in the order it received the batches:
/// (the consent's status, the item's outcome).
fn sim_items(r: &Relay, recipient: &str) -> Vec<(String, String)> {
    // The sim lists batches by requestId; `submittedMs` is when it took each.
    let mut batches = r.sim("GET", "/__sim/batches", None).json().as_array().cloned().unwrap_or_default();
    batches.sort_by_key(|b| b["submittedMs"].as_i64());
    let mut out = Vec::new();
    for b in &batches {
        for item in b["items"].as_array().into_iter().flatten() {
            if item["consent"]["recipient"] == recipient {
                let s = |v: &Value| v.as_str().unwrap_or("").to_string();
                out.push((s(&item["consent"]["status"]), s(&item["status"])));
            }
        }
    }
    out
}

#[test]
fn a_repeated_recipient_in_two_queued_requests_never_sinks_a_list() {
    let r = Relay::start(opts(&[]));
    let (_, a_token) = provider(&r, IYS, BRAND, 1000.0, 1000.0);
    let (_, b_token) = provider(&r, IYS, BRAND, 1000.0, 1000.0);
    let shared = load::phone(538);
    let others: Vec<String> = (0..5).map(|_| load::phone(538)).collect();
    // Provider A: ONAY for the shared number among five unrelated consents; provider B, right after
    // (within the consumer's 1 s batching window, so both are queued when it claims): RET for it.
    let mut a_items = vec![consent(&shared, "ONAY", &date_ago(60))];
    a_items.extend(others.iter().map(|p| consent(p, "ONAY", &date_ago(60))));
    let a_rid = post_batch(&r, &a_token, &a_items);
    let b_rid = post_batch(&r, &b_token, &[consent(&shared, "RET", &date_ago(30))]);

    let a_out = final_status(&r, &a_token, &a_rid, 60);
    let b_out = final_status(&r, &b_token, &b_rid, 60);
    for item in a_out.iter().chain(&b_out) {
        assert_eq!(item["status"], "success", "{item}");
        assert!(item["transactionId"].is_string(), "{item}");
    }
    // IYS never saw a list with the number twice (no H194), and saw ONAY before RET.
    let log = sim_log(&r);
    let h194: Vec<&Value> = log.iter().filter(|e| e["codes"].to_string().contains("H194")).collect();
    assert!(h194.is_empty(), "lists refused for a repeat: {h194:?}");
    let got = sim_items(&r, &shared);
    let want = [("ONAY".to_string(), "success".to_string()), ("RET".to_string(), "success".to_string())];
    assert_eq!(got, want, "the shared number's items as IYS got them");
    // The sim holds the RET (the later consent) for the shared number and every other consent.
    let held = sim_consents(&r, IYS, BRAND);
    let rec = |p: &str| held.iter().find(|c| c["recipient"] == p).cloned().unwrap_or(Value::Null);
    assert_eq!(rec(&shared)["status"], "RET", "{held:?}");
    assert_eq!(rec(&shared)["transactionId"], b_out[0]["transactionId"]);
    for (i, p) in others.iter().enumerate() {
        assert_eq!(rec(p)["status"], "ONAY", "{p}: {held:?}");
        assert_eq!(rec(p)["transactionId"], a_out[i + 1]["transactionId"]);
    }
}

#[test]
fn an_outage_longer_than_six_attempts_loses_no_consent() {
    // The backoff's cap at 2 s keeps the wait short; the attempt count is what the test looks at.
    let r = Relay::start(opts(&[("RETRY_MAX_S", "2")]));
    let (_, token) = provider(&r, IYS, BRAND, 1000.0, 1000.0);
    // IYS down for batches: every list is refused 503 H192 until the fault is cleared.
    let f = r.sim("POST", "/__sim/faults", Some(&json!({"kind": "503", "route": "batch"})));
    assert_eq!(f.status, 200, "{}", f.body);
    let phones: Vec<String> = (0..6).map(|_| load::phone(539)).collect();
    let first =
        post_batch(&r, &token, &phones[..3].iter().map(|p| consent(p, "ONAY", &date_ago(60))).collect::<Vec<_>>());
    let second =
        post_batch(&r, &token, &phones[3..].iter().map(|p| consent(p, "ONAY", &date_ago(60))).collect::<Vec<_>>());
    // An undated TACIR consent has no consentDate window of its own: it is given up 3 business days
    // after the relay accepted it. Accepted "in 2024" here (its row backdated), it ends at its next
    // look as `upstream/expired`, not as `upstream/unavailable` (which says IYS is down right now
    // and a retry may help).
    let tacir = json!({"recipient": load::phone(539), "recipientType": "TACIR", "type": "MESAJ", "status": "ONAY"});
    let old = post_batch(&r, &token, &[tacir]);
    r.d1("UPDATE outbound SET created_at = '2024-01-01T00:00:00.000Z' WHERE json_extract(consent, '$.recipientType') = 'TACIR'");
    let ended = final_status(&r, &token, &old, 60);
    assert_eq!(ended[0]["status"], "failure", "{ended:?}");
    assert_eq!(
        (ended[0]["error"]["code"].clone(), ended[0]["error"]["iysEdgeCode"].clone()),
        (json!("IYSEDGE"), json!("upstream/expired")),
        "{ended:?}"
    );
    let msg = ended[0]["error"]["message"].as_str().unwrap_or("");
    assert!(msg.starts_with("IYS bu izni kabul edildiği andan itibaren 3 iş günü içinde almadı"), "{msg}");

    // Wait until every row has been sent (and refused) more than six times: the old cap would
    // have ended them all as failures by now.
    let attempts = wait_for(120, "every row tried 7 times", || {
        let v = r.d1("SELECT MIN(attempts) AS lo, COUNT(*) AS n, SUM(state = 'failure') AS failed FROM outbound \
             WHERE json_extract(consent, '$.recipientType') = 'BIREYSEL'");
        let row = v[0]["results"][0].clone();
        assert_eq!(row["failed"], 0, "a row failed during the outage: {row}");
        (row["n"] == 6 && row["lo"].as_u64().unwrap_or(0) >= 7).then_some(row)
    });
    let refused = sim_log(&r).iter().filter(|e| e["route"] == "batch" && e["status"] == 503).count();
    assert!(refused >= 7, "{refused} lists refused");
    // Meanwhile the provider sees every item waiting, none failed.
    for (rid, n) in [(&first, 3), (&second, 3)] {
        let items = status_of(&r, &token, rid);
        assert_eq!(items.len(), n);
        assert!(items.iter().all(|i| i["status"] == "enqueue"), "{items:?}");
    }
    // IYS does not hold them yet; the status answer names the relay request that does, so a client
    // does not take "not held" for "never sent" and send them again.
    assert_eq!(queued_header(&r, &token, &phones[0]), (404, Some(first.clone())));
    assert_eq!(queued_header(&r, &token, &phones[3]), (404, Some(second.clone())));

    // IYS is back: every consent lands, once.
    assert_eq!(r.sim("DELETE", "/__sim/faults", None).status, 200);
    let mut out = final_status(&r, &token, &first, 60);
    out.extend(final_status(&r, &token, &second, 60));
    for item in &out {
        assert_eq!(item["status"], "success", "{item}");
    }
    let held = sim_consents(&r, IYS, BRAND);
    for (p, item) in phones.iter().zip(&out) {
        let recs: Vec<&Value> = held.iter().filter(|c| c["recipient"] == p.as_str()).collect();
        assert_eq!(recs.len(), 1, "{p}: {held:?}");
        assert_eq!(recs[0]["transactionId"], item["transactionId"], "{p}");
        let accepted = sim_items(&r, p).into_iter().filter(|(_, outcome)| outcome == "success").count();
        assert_eq!(accepted, 1, "{p} written {accepted} times");
    }
    assert_eq!(queued_header(&r, &token, &phones[0]), (200, None), "held by IYS, no longer queued");
    eprintln!("outage: rows at {attempts} when IYS came back, {refused} lists refused");
}

#[test]
fn rows_wait_out_the_token_breaker_without_using_attempts() {
    let r = Relay::start(opts(&[("RETRY_MAX_S", "2")]));
    let (_, token) = provider(&r, IYS, BRAND, 1000.0, 1000.0);
    // IYS refuses the relay's first token request with H084: the holder's breaker opens for an hour.
    let lim = r.sim("POST", "/__sim/limits", Some(&json!({"tokensPerHour": 0})));
    assert_eq!(lim.status, 200, "{}", lim.body);
    let phones: Vec<String> = (0..3).map(|_| load::phone(540)).collect();
    let rid = post_batch(&r, &token, &phones.iter().map(|p| consent(p, "ONAY", &date_ago(60))).collect::<Vec<_>>());

    // The consumer looks at the rows again and again (every RETRY_MAX_S), sending nothing.
    let looks = wait_for(60, "three looks while the breaker is open", || {
        let v = r.d1(
            "SELECT COUNT(*) AS n FROM ledger WHERE kind = 'upstream:batch' AND outcome = 'not-sent auth/token-rate-limited'",
        );
        let n = v[0]["results"][0]["n"].as_u64().unwrap_or(0);
        (n >= 3).then_some(n)
    });
    let v = r.d1("SELECT state, attempts, error_code FROM outbound");
    for row in v[0]["results"].as_array().into_iter().flatten() {
        assert_eq!(row["attempts"], 0, "a look with nothing sent counted as an attempt: {row}");
        assert!(row["state"] == "queued" || row["state"] == "sending", "{row}");
    }
    let items = status_of(&r, &token, &rid);
    assert!(items.len() == 3 && items.iter().all(|i| i["status"] == "enqueue"), "{items:?}");
    let asked: Vec<Value> = sim_log(&r).into_iter().filter(|e| e["route"] == "token").collect();
    assert_eq!(asked.len(), 1, "the breaker keeps the relay from asking again: {asked:?}");
    assert!(sim_log(&r).iter().all(|e| e["route"] != "batch"), "nothing was sent while the breaker was open");

    // IYS lets the account have tokens again; the operator resets the breaker: the rows go.
    let lim = r.sim("POST", "/__sim/limits", Some(&json!({"tokensPerHour": 10})));
    assert_eq!(lim.status, 200, "{}", lim.body);
    assert_eq!(r.admin("POST", "/admin/iys-token/reset", None).status, 200);
    let out = final_status(&r, &token, &rid, 60);
    let held = sim_consents(&r, IYS, BRAND);
    for (p, item) in phones.iter().zip(&out) {
        assert_eq!(item["status"], "success", "{item}");
        let recs: Vec<&Value> = held.iter().filter(|c| c["recipient"] == p.as_str()).collect();
        assert_eq!(recs.len(), 1, "{p}: {held:?}");
        assert_eq!(recs[0]["transactionId"], item["transactionId"]);
    }
    eprintln!("breaker: {looks} looks with nothing sent, then every consent landed once");
}

#[test]
fn a_row_whose_status_check_fails_is_checked_again_before_it_is_sent_again() {
    let r = Relay::start(opts(&[]));
    let (_, token) = provider(&r, IYS, BRAND, 1000.0, 1000.0);
    // The list's connection is cut (it may have landed), and the first status check cannot be made.
    for fault in
        [json!({"kind": "reset", "route": "batch", "count": 1}), json!({"kind": "503", "route": "status", "count": 1})]
    {
        let f = r.sim("POST", "/__sim/faults", Some(&fault));
        assert_eq!(f.status, 200, "{}", f.body);
    }
    let phone = load::phone(539);
    let rid = post_batch(&r, &token, &[consent(&phone, "ONAY", &date_ago(60))]);
    let out = final_status(&r, &token, &rid, 60);
    assert_eq!(out[0]["status"], "success", "{out:?}");
    // The failed check sends nothing: the row waits, is checked again (IYS: no such record), and
    // only then goes again. Before, a failed check counted as "not there" and the row went at once.
    let routes: Vec<(String, u64)> = sim_log(&r)
        .iter()
        .filter(|e| e["route"] == "batch" || e["route"] == "status")
        .map(|e| (e["route"].as_str().unwrap_or_default().to_string(), e["status"].as_u64().unwrap_or(0)))
        .collect();
    let seq: Vec<(&str, u64)> = routes.iter().map(|(r, s)| (r.as_str(), *s)).collect();
    assert_eq!(seq, [("batch", 0), ("status", 503), ("status", 404), ("batch", 200)], "{routes:?}");
    assert_eq!(sim_items(&r, &phone).len(), 1);
}

/// The sim's answers to the relay's batch submissions, in order.
fn batch_posts(r: &Relay) -> Vec<(u64, Vec<Value>)> {
    sim_log(r)
        .iter()
        .filter(|e| e["route"] == "batch")
        .map(|e| (e["status"].as_u64().unwrap_or(0), e["codes"].as_array().cloned().unwrap_or_default()))
        .collect()
}

/// The outcomes of the relay's `upstream:batch` ledger rows, in order.
fn batch_ledger(r: &Relay) -> Vec<String> {
    let v = r.d1("SELECT outcome FROM ledger WHERE kind = 'upstream:batch' ORDER BY seq");
    v[0]["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|row| row["outcome"].as_str().unwrap_or("").to_string())
        .collect()
}

fn fault(r: &Relay, rule: Value) {
    let f = r.sim("POST", "/__sim/faults", Some(&rule));
    assert_eq!(f.status, 200, "{}", f.body);
}

#[test]
fn a_list_refused_400_h123_is_sent_again_and_lands_once() {
    let r = Relay::start(opts(&[]));
    let (_, token) = provider(&r, IYS, BRAND, 1000.0, 1000.0);
    // H123 ("service busy, try later") is answered with 400, yet it is on IYS's resend list.
    fault(&r, json!({"kind": "code", "code": "H123", "status": 400, "route": "batch", "count": 1}));
    let phones: Vec<String> = (0..3).map(|_| load::phone(541)).collect();
    let rid = post_batch(&r, &token, &phones.iter().map(|p| consent(p, "ONAY", &date_ago(60))).collect::<Vec<_>>());
    let out = final_status(&r, &token, &rid, 60);
    for item in &out {
        assert_eq!(item["status"], "success", "{item}");
    }
    assert_eq!(batch_posts(&r), [(400, vec![json!("H123")]), (200, vec![])]);
    // Each consent is held once, by the transaction the relay reports, and IYS took each once.
    let held = sim_consents(&r, IYS, BRAND);
    for (p, item) in phones.iter().zip(&out) {
        let recs: Vec<&Value> = held.iter().filter(|c| c["recipient"] == p.as_str()).collect();
        assert_eq!(recs.len(), 1, "{p}: {held:?}");
        assert_eq!(recs[0]["transactionId"], item["transactionId"], "{p}");
        assert_eq!(sim_items(&r, p), [("ONAY".to_string(), "success".to_string())], "{p}");
    }
    // The ledger has both exchanges: the refusal and the accepted list.
    assert_eq!(batch_ledger(&r), ["400 H123", "200"]);
}

#[test]
fn a_list_refused_with_a_code_not_worth_resending_is_not_sent_again() {
    let r = Relay::start(opts(&[]));
    let (_, token) = provider(&r, IYS, BRAND, 1000.0, 1000.0);
    // A refusal of the whole list that names no row, with a code IYS does not mark for resending:
    // the same list would be refused again, so every row ends with it. (Counted once: a resend
    // would be taken, and the test would see it.)
    fault(&r, json!({"kind": "code", "code": "H085", "status": 400, "route": "batch", "count": 1}));
    let phones: Vec<String> = (0..2).map(|_| load::phone(542)).collect();
    let rid = post_batch(&r, &token, &phones.iter().map(|p| consent(p, "ONAY", &date_ago(60))).collect::<Vec<_>>());
    let out = final_status(&r, &token, &rid, 60);
    for item in &out {
        assert_eq!(
            (item["status"].clone(), item["error"]["code"].clone()),
            (json!("failure"), json!("H085")),
            "{item}"
        );
        assert_eq!(item["error"]["message"], "İstek işlenemedi (H085).");
    }
    // A final row is never claimed again (only `queued` rows are), so this log is the whole story.
    assert_eq!(batch_posts(&r), [(400, vec![json!("H085")])], "the list was sent once");
    assert!(sim_consents(&r, IYS, BRAND).is_empty());
    assert_eq!(batch_ledger(&r), ["400 H085"]);
}

#[test]
fn items_failed_with_a_resend_code_go_again_and_a_final_code_ends_its_item() {
    let r = Relay::start(opts(&[]));
    let (_, token) = provider(&r, IYS, BRAND, 1000.0, 1000.0);
    // The first two items the sim takes settle `failure` H179 (on IYS's resend list); the third is a
    // RET for a number IYS holds no consent of, which IYS refuses for good (H175).
    fault(&r, json!({"kind": "item", "code": "H179", "count": 2}));
    let phones: Vec<String> = (0..4).map(|_| load::phone(543)).collect();
    let items: Vec<Value> = phones
        .iter()
        .enumerate()
        .map(|(i, p)| consent(p, if i == 2 { "RET" } else { "ONAY" }, &date_ago(60)))
        .collect();
    let rid = post_batch(&r, &token, &items);
    let out = final_status(&r, &token, &rid, 60);
    let got: Vec<(&str, Option<&str>)> =
        out.iter().map(|i| (i["status"].as_str().unwrap_or(""), i["error"]["code"].as_str())).collect();
    assert_eq!(got, [("success", None), ("success", None), ("failure", Some("H175")), ("success", None)]);
    // IYS got two lists: all four, then only the two H179 items.
    assert_eq!(batch_posts(&r), [(200, vec![]), (200, vec![])]);
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    for p in &phones[..2] {
        assert_eq!(sim_items(&r, p), [s("ONAY", "failure"), s("ONAY", "success")], "{p}");
    }
    assert_eq!(sim_items(&r, &phones[2]), [s("RET", "failure")]);
    assert_eq!(sim_items(&r, &phones[3]), [s("ONAY", "success")]);
    // IYS holds the three that succeeded, once each, by the transactions the relay reports.
    let held = sim_consents(&r, IYS, BRAND);
    assert_eq!(held.len(), 3, "{held:?}");
    for i in [0, 1, 3] {
        let rec = held.iter().find(|c| c["recipient"] == phones[i].as_str()).cloned().unwrap_or(Value::Null);
        assert_eq!(rec["transactionId"], out[i]["transactionId"], "{}", phones[i]);
    }
}
