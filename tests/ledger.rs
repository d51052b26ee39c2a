//! The ledger's end (issue: "verification fails after any row is edited or deleted"), end to end
//! against a real relay (`wrangler dev` + `iys-sim`, local D1 and Durable Objects). The writer
//! object records the chain's head in its own storage with every commit; `/admin/ledger/verify`
//! compares D1 with it, and the writer refuses to append onto a D1 chain that ends before it. Rows
//! are deleted with `wrangler d1 execute` from outside, as someone with database access would.
//! Each test has its own relay: an outside `d1 execute` locks the local SQLite file.

#[path = "support/worker.rs"]
mod support;

use serde_json::{json, Value};
use std::process::Command;
use support::{wait_for, Opts, Relay};

const COLS: [&str; 10] =
    ["seq", "at", "provider", "request_id", "kind", "payload_sha256", "outcome", "iys_ids", "prev_hash", "hash"];

/// A provider's access token.
fn provider(r: &Relay) -> String {
    let scopes = json!([{"iysCode": 600100, "brands": [600100], "types": ["MESAJ"]}]);
    let c = r.admin(
        "POST",
        "/admin/providers",
        Some(&json!({"name": "ledger", "scopes": scopes, "rate": 1000, "burst": 1000})),
    );
    assert_eq!(c.status, 201, "{}", c.body);
    let c = c.json();
    let grant = json!({"grant_type": "password", "username": c["username"], "password": c["password"]}).to_string();
    let t = r.req("POST", "/oauth2/token", &[("Content-Type", "application/json")], Some(&grant));
    assert_eq!(t.status, 200, "{}", t.body);
    t.json()["access_token"].as_str().unwrap_or_default().to_string()
}

/// One ledgered request (a status query the relay refuses: one inbound row, nothing upstream).
fn relayed(r: &Relay, token: &str) {
    let auth = format!("Bearer {token}");
    let a = r.req(
        "POST",
        "/sps/600100/brands/600100/consents/status",
        &[("Authorization", &auth), ("Content-Type", "application/json")],
        Some(r#"{"recipient": "x"}"#),
    );
    assert_eq!(a.status, 422, "{}", a.body);
}

fn verify(r: &Relay) -> Value {
    let v = r.admin("GET", "/admin/ledger/verify", None);
    assert_eq!(v.status, 200, "{}", v.body);
    v.json()
}

fn rows(r: &Relay, sql: &str) -> Vec<Value> {
    r.d1(sql)[0]["results"].as_array().cloned().unwrap_or_default()
}

fn max_seq(r: &Relay) -> i64 {
    rows(r, "SELECT COALESCE(MAX(seq), 0) AS n FROM ledger")[0]["n"].as_i64().unwrap_or(-1)
}

fn sql_str(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => other.to_string(),
    }
}

/// Puts deleted rows back exactly as they were.
fn reinsert(r: &Relay, deleted: &[Value]) {
    for row in deleted {
        let vals: Vec<String> = COLS.iter().map(|c| sql_str(&row[*c])).collect();
        r.d1(&format!("INSERT INTO ledger ({}) VALUES ({})", COLS.join(", "), vals.join(", ")));
    }
}

/// `iys ledger verify --json --head-seq N --head-hash H` on the relay's export.
fn cli_verify(r: &Relay, head_seq: i64, head_hash: &str) -> (i32, Value) {
    let ex = r.admin("GET", "/admin/ledger/export?after=0&limit=5000", None);
    assert_eq!(ex.status, 200);
    let f = r.state.join("ledger-export.jsonl");
    std::fs::write(&f, &ex.body).expect("write export");
    let out = Command::new(support::cli_binary())
        .args(["ledger", "verify", "--json", "--head-seq", &head_seq.to_string(), "--head-hash", head_hash])
        .arg(&f)
        .output()
        .expect("iys runs");
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("iys said {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), v)
}

/// Asserts the verdict is the tail reason: D1 ends at `d1_seq`, the writer recorded `head_seq`.
/// The chain verifies and ends at `seq`, which is also the writer's recorded head.
fn assert_intact(v: &Value, seq: i64) {
    assert_eq!(
        (v["ok"].clone(), v["headSeq"].clone(), v["recordedHeadSeq"].clone()),
        (json!(true), json!(seq), json!(seq)),
        "{v}"
    );
}

fn assert_tail(v: &Value, d1_seq: i64, head_seq: i64) {
    assert_eq!(
        (
            v["ok"].clone(),
            v["reason"].clone(),
            v["firstBroken"].clone(),
            v["headSeq"].clone(),
            v["recordedHeadSeq"].clone()
        ),
        (json!(false), json!("tail"), json!(d1_seq + 1), json!(d1_seq), json!(head_seq)),
        "{v}"
    );
}

#[test]
fn deleting_the_last_rows_fails_verify_and_the_writer_does_not_chain_onto_the_shortened_end() {
    let r = &Relay::start(Opts::default());
    let token = provider(r);
    for _ in 0..4 {
        relayed(r, &token);
    }
    let v = verify(r);
    assert_eq!(v["ok"], true, "{v}");
    let n = v["headSeq"].as_i64().unwrap_or(0);
    assert!(n >= 6, "{v}"); // admin:create-provider, inbound:token, 4 inbound:status
    assert_eq!((v["recordedHeadSeq"].clone(), v["recordedHeadHash"].clone()), (json!(n), v["headHash"].clone()), "{v}");
    let head_hash = v["headHash"].as_str().unwrap_or_default().to_string();

    // The last row deleted: a valid, shorter chain, but it ends before the writer's recorded head.
    let last = rows(r, &format!("SELECT * FROM ledger WHERE seq = {n}"));
    r.d1(&format!("DELETE FROM ledger WHERE seq = {n}"));
    assert_tail(&verify(r), n - 1, n);
    // `iys ledger verify` with the head the relay printed finds the same on an export.
    let (code, c) = cli_verify(r, n, &head_hash);
    assert_eq!((code, c["reason"].clone(), c["firstBroken"].clone()), (1, json!("tail"), json!(n)), "{c}");

    // The next relayed request is answered, but its row is not chained onto the shortened end:
    // the writer refuses, and says why in the log.
    relayed(r, &token);
    assert_tail(&verify(r), n - 1, n);
    assert_eq!(max_seq(r), n - 1);
    wait_for(20, "the refusal in the log", || {
        let log = r.log();
        (log.contains("ledger/truncated") && log.contains("ledger/append-failed")).then_some(())
    });
    // An admin action, whose row is awaited, fails instead of being recorded out of the chain.
    let create = r.admin(
        "POST",
        "/admin/providers",
        Some(&json!({"name": "x", "scopes": [{"iysCode": 600100, "brands": [600100], "types": ["MESAJ"]}]})),
    );
    assert_eq!(create.status, 500, "{}", create.body);
    assert_eq!(max_seq(r), n - 1);

    // The last few rows deleted (from an earlier point): `tail` at the first missing seq.
    let more = rows(r, &format!("SELECT * FROM ledger WHERE seq > {} ORDER BY seq", n - 4));
    r.d1(&format!("DELETE FROM ledger WHERE seq > {}", n - 4));
    assert_tail(&verify(r), n - 4, n);
    relayed(r, &token);
    assert_tail(&verify(r), n - 4, n);

    // Put back, the rows reach the recorded head again: the chain verifies and appends resume after it.
    reinsert(r, &more);
    reinsert(r, &last);
    assert_eq!(verify(r)["ok"], true);
    relayed(r, &token);
    let v = verify(r);
    assert_intact(&v, n + 1);
    let (code, c) = cli_verify(r, n, &head_hash);
    assert_eq!((code, c["headSeq"].clone()), (0, json!(n + 1)), "an export that grew past the head is fine: {c}");

    // An edit and a middle deletion are still found, with the recorded head in place.
    let row2 = rows(r, "SELECT * FROM ledger WHERE seq = 2");
    r.d1("UPDATE ledger SET outcome = '9' || outcome WHERE seq = 2");
    let v = verify(r);
    assert_eq!(
        (v["ok"].clone(), v["reason"].clone(), v["firstBroken"].clone()),
        (json!(false), json!("hash"), json!(2)),
        "{v}"
    );
    r.d1("DELETE FROM ledger WHERE seq = 2");
    let v = verify(r);
    assert_eq!((v["reason"].clone(), v["firstBroken"].clone()), (json!("seq-gap"), json!(2)), "{v}");
    reinsert(r, &row2);
    assert_eq!(verify(r)["ok"], true);

    // A restore that legitimately rewinds D1: the operator accepts D1's head, and only that one.
    r.d1(&format!("DELETE FROM ledger WHERE seq > {}", n - 1));
    assert_tail(&verify(r), n - 1, n + 1);
    let d1_head = rows(r, &format!("SELECT hash FROM ledger WHERE seq = {}", n - 1))[0]["hash"].clone();
    let wrong = r.admin("POST", "/admin/ledger/accept-head", Some(&json!({"headSeq": n, "headHash": head_hash})));
    assert_eq!(wrong.status, 409, "{}", wrong.body);
    assert_tail(&verify(r), n - 1, n + 1);
    let ok = r.admin("POST", "/admin/ledger/accept-head", Some(&json!({"headSeq": n - 1, "headHash": d1_head})));
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json()["before"]["seq"], n + 1, "{}", ok.body);
    relayed(r, &token);
    let v = verify(r);
    // The acceptance is itself a row of the chain (seq n), then the relayed request's (n + 1).
    assert_intact(&v, n + 1);
    assert_eq!(rows(r, &format!("SELECT kind FROM ledger WHERE seq = {n}"))[0]["kind"], "admin:ledger-accept-head");
}

#[test]
fn many_appends_verify_across_a_restart_and_a_cut_made_while_the_relay_is_down_is_found() {
    let mut relay = Relay::start(Opts::default());
    let token = provider(&relay);
    // Concurrent requests: the writer commits them in groups, each group's head recorded.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..10 {
                    relayed(&relay, &token);
                }
            });
        }
    });
    let v = verify(&relay);
    let n = v["headSeq"].as_i64().unwrap_or(0);
    assert_eq!((v["ok"].clone(), v["recordedHeadSeq"].clone()), (json!(true), json!(n)), "{v}");
    assert!(n >= 42, "{v}");

    // A restart (the writer object starts afresh and reads its recorded head back).
    relay.restart();
    let v = verify(&relay);
    assert_intact(&v, n);
    relayed(&relay, &token);
    let v = verify(&relay);
    assert_intact(&v, n + 1);

    // The last two rows deleted while the relay is down: the writer's in-memory head is gone, but
    // its recorded head is not.
    relay.kill_wrangler();
    relay.d1(&format!("DELETE FROM ledger WHERE seq >= {n}"));
    relay.start_wrangler();
    assert_tail(&verify(&relay), n - 1, n + 1);
    relayed(&relay, &token);
    assert_tail(&verify(&relay), n - 1, n + 1);
    assert_eq!(max_seq(&relay), n - 1);
}
