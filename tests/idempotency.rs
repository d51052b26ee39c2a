//! `Idempotency-Key` on the relay's `POST …/consents/request`, on real workerd (`wrangler dev`) with
//! iys-sim as IYS: a batch sent again with its key is answered with the stored answer and queued
//! once; the key with another batch is refused; a malformed key is refused; no key is as before.

#[path = "support/worker.rs"]
mod support;

#[path = "support/load.rs"]
mod load;

use load::provider;
use serde_json::{json, Value};
use support::{wait_for, Opts, Relay};

const IYS: u64 = 600001;
const BRAND: u64 = 600001;

fn consent(recipient: &str) -> Value {
    json!({"recipient": recipient, "recipientType": "BIREYSEL", "type": "MESAJ", "status": "ONAY",
           "source": "HS_WEB", "consentDate": load::consent_date()})
}

fn post(r: &Relay, token: &str, key: Option<&str>, body: &str) -> support::Resp {
    let auth = format!("Bearer {token}");
    let mut h = vec![("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    if let Some(k) = key {
        h.push(("Idempotency-Key", k));
    }
    r.req("POST", &format!("/sps/{IYS}/brands/{BRAND}/consents/request"), &h, Some(body))
}

/// Outbound rows the relay holds for `provider`.
fn queued(r: &Relay, provider: &str) -> u64 {
    let v = r.d1(&format!("SELECT COUNT(*) AS n FROM outbound WHERE provider_id = '{provider}'"));
    v[0]["results"][0]["n"].as_u64().unwrap_or(u64::MAX)
}

/// How many batch items the sim received for `recipient`.
fn sent_to_iys(r: &Relay, recipient: &str) -> usize {
    let batches = r.sim("GET", "/__sim/batches", None).json();
    batches
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|b| b["items"].as_array().cloned().unwrap_or_default())
        .filter(|i| i["consent"]["recipient"] == recipient)
        .count()
}

#[test]
fn a_batch_sent_again_with_its_key_gets_the_same_answer_and_is_queued_once() {
    let r = Relay::start(Opts::default());
    let (pid, token) = provider(&r, IYS, BRAND, 1000.0, 1000.0);
    let a: Vec<Value> = (0..3).map(|i| consent(&format!("+90534{:07}", 1_000_000 + i))).collect();
    let body = Value::Array(a.clone()).to_string();

    let first = post(&r, &token, Some("upload-run-1/batch-0"), &body);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.header("x-iys-edge-idempotent-replay"), None);
    let answer = first.json();
    assert_eq!(answer["subRequests"].as_array().map(Vec::len), Some(3), "{answer}");

    // The same batch with the same key, compact and pretty-printed: the stored answer, nothing queued.
    for again in [body.clone(), serde_json::to_string_pretty(&a).expect("json")] {
        let replay = post(&r, &token, Some("upload-run-1/batch-0"), &again);
        assert_eq!(replay.status, 200, "{}", replay.body);
        assert_eq!(replay.header("x-iys-edge-idempotent-replay"), Some("true"));
        assert_eq!(replay.json(), answer);
    }
    assert_eq!(queued(&r, &pid), 3);

    // The key with another batch: refused, nothing queued; its own answer is untouched.
    let mut other = a.clone();
    other[2] = consent("+905349999999");
    let refused = post(&r, &token, Some("upload-run-1/batch-0"), &Value::Array(other).to_string());
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.json()["errors"][0]["iysEdgeCode"], json!("request/idempotency-key"), "{}", refused.body);
    assert_eq!(queued(&r, &pid), 3);

    // Malformed keys: 400 with the same code, nothing queued.
    let long = "k".repeat(201);
    for bad in [long.as_str(), "anahtar-\u{e7}"] {
        let refused = post(&r, &token, Some(bad), &body);
        assert_eq!(refused.status, 400, "{bad}: {}", refused.body);
        assert_eq!(refused.json()["errors"][0]["iysEdgeCode"], json!("request/idempotency-key"));
    }
    let longest = post(&r, &token, Some(&"k".repeat(200)), &Value::Array(vec![consent("+905348888888")]).to_string());
    assert_eq!(longest.status, 200, "a 200-character key is accepted: {}", longest.body);
    assert_eq!(queued(&r, &pid), 4);

    // Without a key, as before: the same batch twice is two requests, queued twice.
    let b = Value::Array(vec![consent("+905347777777")]).to_string();
    let (x, y) = (post(&r, &token, None, &b), post(&r, &token, None, &b));
    assert_eq!((x.status, y.status), (200, 200), "{} {}", x.body, y.body);
    assert_ne!(x.json()["requestId"], y.json()["requestId"]);
    assert_eq!(y.header("x-iys-edge-idempotent-replay"), None);
    assert_eq!(queued(&r, &pid), 6);

    // IYS got each item of the keyed batch exactly once, once the queue has sent them all.
    let rid = answer["requestId"].as_str().unwrap_or_default().to_string();
    wait_for(60, "the keyed batch's outcomes", || {
        let s = r.req(
            "GET",
            &format!("/sps/{IYS}/brands/{BRAND}/consents/request/{rid}"),
            &[("Authorization", &format!("Bearer {token}"))],
            None,
        );
        let items = s.json().as_array().cloned().unwrap_or_default();
        (items.len() == 3 && items.iter().all(|i| i["status"] == "success")).then_some(())
    });
    for c in &a {
        assert_eq!(sent_to_iys(&r, c["recipient"].as_str().unwrap_or_default()), 1, "{c}");
    }

    // Every request, replays and refusals included, is an inbound ledger row; the chain holds.
    let n = r.d1(&format!("SELECT COUNT(*) AS n FROM ledger WHERE provider = '{pid}' AND kind = 'inbound:batch'"));
    assert_eq!(n[0]["results"][0]["n"], json!(9), "{n}");
    let verify = r.admin("GET", "/admin/ledger/verify", None);
    assert_eq!(verify.json()["ok"], json!(true), "{}", verify.body);

    // A claim without an answer (a request that died between claiming and queueing, planted here):
    // while fresh, the key is "in progress" (409, Retry-After) and nothing is queued; once stale
    // (over a minute), the next request takes it over and queues.
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let plant = |key: &str, at: u128| {
        r.d1(&format!(
            "INSERT INTO idempotency (provider_id, key, body_sha256, claim, answer, created_at) SELECT provider_id, \
             '{key}', body_sha256, 'planted', NULL, {at} FROM idempotency WHERE key = 'upload-run-1/batch-0'"
        ));
    };
    plant("fresh", now_ms);
    let busy = post(&r, &token, Some("fresh"), &body);
    assert_eq!((busy.status, busy.header("retry-after")), (409, Some("1")), "{}", busy.body);
    assert_eq!(busy.json()["errors"][0]["iysEdgeCode"], json!("request/idempotency-key"));
    assert_eq!(queued(&r, &pid), 6);
    plant("stale", now_ms - 120_000);
    let taken = post(&r, &token, Some("stale"), &body);
    assert_eq!(taken.status, 200, "{}", taken.body);
    assert_eq!(taken.header("x-iys-edge-idempotent-replay"), None);
    assert_ne!(taken.json()["requestId"], answer["requestId"]);
    assert_eq!(queued(&r, &pid), 9);
}
