//! `iys ledger verify` on exports written here with the relay's row format and hash chain
//! (`crates/iys-worker/src/ledger.rs`): intact, an edited row, a deleted row, a cut-off tail.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `n` rows chained as the relay does: hash = hex(SHA-256(prev_hash + canonical)).
fn chain(n: i64) -> Vec<Value> {
    let mut prev = GENESIS.to_string();
    (1..=n)
        .map(|seq| {
            let (at, provider, request_id, kind, payload, outcome, ids) = (
                format!("2026-11-28T10:00:{:02}.000Z", seq % 60),
                "acme",
                format!("req-{seq}"),
                if seq % 2 == 1 { "inbound:batch" } else { "upstream:batch" },
                hex(&Sha256::digest(seq.to_string())),
                if seq == 3 { "422 H175".to_string() } else { "200".to_string() },
                if seq % 2 == 0 { format!("tx-{seq},rq-{seq}") } else { String::new() },
            );
            let canonical = json!([seq.to_string(), at, provider, request_id, kind, payload, outcome, ids]).to_string();
            let hash = hex(&Sha256::digest(format!("{prev}{canonical}")));
            let row = json!({"seq": seq, "at": at, "provider": provider, "request_id": request_id, "kind": kind,
                "payload_sha256": payload, "outcome": outcome, "iys_ids": ids, "prev_hash": prev, "hash": hash});
            prev = hash;
            row
        })
        .collect()
}

fn write(path: &Path, rows: &[Value]) {
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(path, text).unwrap();
}

fn verify(path: &Path, extra: &[&str]) -> (i32, Value) {
    let o = Command::new(env!("CARGO_BIN_EXE_iys"))
        .args(["ledger", "verify", "--json"])
        .args(extra)
        .arg(path)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&o.stderr)));
    (o.status.code().unwrap(), v)
}

#[test]
fn an_intact_export_verifies_with_its_head() {
    let dir = tempfile::tempdir().unwrap();
    let rows = chain(6);
    let f = dir.path().join("ledger.ndjson");
    write(&f, &rows);
    let head = rows[5]["hash"].as_str().unwrap();
    let (code, v) = verify(&f, &["--head", head]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v, json!({"ok": true, "rows": 6, "headSeq": 6, "headHash": head}));
}

#[test]
fn an_edited_row_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = chain(6);
    rows[2]["outcome"] = json!("200");
    let f = dir.path().join("ledger.ndjson");
    write(&f, &rows);
    let (code, v) = verify(&f, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        (v["ok"].clone(), v["firstBroken"].clone(), v["reason"].clone()),
        (json!(false), json!(3), json!("hash"))
    );
    assert_eq!(v["headSeq"], 2);

    // Re-hashing the edited row does not help: the next row no longer follows it.
    let mut rows = chain(6);
    rows[2]["outcome"] = json!("200");
    rows[2]["hash"] = json!("f".repeat(64));
    write(&f, &rows);
    let (code, v) = verify(&f, &[]);
    assert_eq!(code, 1);
    assert_eq!(v["firstBroken"], 3);
}

#[test]
fn a_deleted_row_is_found_and_a_cut_tail_needs_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let rows = chain(6);
    let f = dir.path().join("ledger.ndjson");
    let mut deleted = rows.clone();
    deleted.remove(3);
    write(&f, &deleted);
    let (code, v) = verify(&f, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        (v["firstBroken"].clone(), v["reason"].clone(), v["line"].clone()),
        (json!(4), json!("seq-gap"), json!(4))
    );

    write(&f, &rows[..5]);
    assert_eq!(verify(&f, &[]).0, 0, "a shorter chain is a valid chain on its own");
    let (code, v) = verify(&f, &["--head", rows[5]["hash"].as_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!((v["firstBroken"].clone(), v["reason"].clone()), (json!(6), json!("head")));
}

#[test]
fn a_missing_file_is_exit_2_and_human_output_names_the_break() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_iys"))
        .args(["ledger", "verify"])
        .arg(dir.path().join("nope.ndjson"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot open"));

    let mut rows = chain(3);
    rows[1]["kind"] = json!("inbound:add");
    let f = dir.path().join("ledger.ndjson");
    write(&f, &rows);
    let o = Command::new(env!("CARGO_BIN_EXE_iys")).args(["ledger", "verify"]).arg(&f).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("broken at seq 2") && out.contains("changed"), "{out}");
}
