//! Backup and restore of the relay's D1 (issue 7): traffic through a real relay (`wrangler dev` +
//! `iys-sim`), `xtask`'s `backup` (`wrangler d1 export --local`) from its state directory,
//! `restore` (`wrangler d1 execute --local --file`) into a fresh directory, and the restored ledger
//! checked with `iys ledger verify --head <the relay's head hash>`: the chain is intact and every
//! row equals the relay's own export. A backup with one ledger value edited, and one with a ledger
//! row dropped, restore fine but fail verification. A restore into a non-empty directory is refused.

#[path = "support/worker.rs"]
mod support;

#[path = "../crates/xtask/src/backup.rs"]
mod backup;

// backup.rs runs wrangler through xtask's offline environment (`crate::worker::command`).
#[allow(dead_code)] // only `command` is used here
#[path = "../crates/xtask/src/worker.rs"]
mod worker;

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use support::{tool_env, Opts, Relay};

/// `SELECT * FROM ledger` on a local D1 state directory, in seq order.
fn ledger_rows(state: &Path) -> Vec<Value> {
    let mut cmd = Command::new(support::root().join("node_modules/.bin/wrangler"));
    for (k, v) in tool_env() {
        cmd.env(k, v);
    }
    let out = cmd
        .args(["d1", "execute", "iys-edge", "--local", "--json", "--persist-to"])
        .arg(state)
        .args(["--command", "SELECT * FROM ledger ORDER BY seq"])
        .current_dir(support::root())
        .stdin(Stdio::null())
        .output()
        .expect("wrangler runs");
    assert!(out.status.success(), "d1 execute: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v[0]["results"].as_array().cloned().unwrap_or_default()
}

/// `iys ledger verify --json --head HEAD` on rows written as JSON lines.
fn verify(rows: &[Value], head: &str, file: &Path) -> Value {
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(file, text).expect("write rows");
    let out = Command::new(support::cli_binary())
        .args(["ledger", "verify", "--json", "--head", head])
        .arg(file)
        .output()
        .expect("iys runs");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("iys said {}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn a_backup_restores_into_a_fresh_database_with_an_intact_ledger_and_tampering_is_caught() {
    let root = support::root();
    let r = Relay::start(Opts::default());
    // Traffic: a provider, relayed status queries (inbound + upstream rows), a refusal, a revocation.
    let c = r.admin(
        "POST",
        "/admin/providers",
        Some(&json!({"name": "backup", "scopes": [{"iysCode": 600001, "brands": [600001], "types": ["MESAJ"]}]})),
    );
    assert_eq!(c.status, 201, "{}", c.body);
    let c = c.json();
    let grant = json!({"grant_type": "password", "username": c["username"], "password": c["password"]}).to_string();
    let t = r.req("POST", "/oauth2/token", &[("Content-Type", "application/json")], Some(&grant)).json();
    let auth = format!("Bearer {}", t["access_token"].as_str().unwrap_or_default());
    let path = "/sps/600001/brands/600001/consents/status";
    for i in 0..3 {
        let body = json!({"recipient": format!("+90532876000{i}"), "recipientType": "BIREYSEL", "type": "MESAJ"});
        let a = r.req(
            "POST",
            path,
            &[("Authorization", &auth), ("Content-Type", "application/json")],
            Some(&body.to_string()),
        );
        assert!(a.status < 500, "{} {}", a.status, a.body);
    }
    let bad = r.req(
        "POST",
        path,
        &[("Authorization", &auth), ("Content-Type", "application/json")],
        Some("{\"recipient\": \"x\"}"),
    );
    assert_eq!(bad.status, 422, "{}", bad.body);
    let id = c["id"].as_str().unwrap_or_default();
    assert_eq!(r.admin("POST", &format!("/admin/providers/{id}/revoke"), None).status, 200);
    let head = r.admin("GET", "/admin/ledger/verify", None).json();
    assert_eq!(head["ok"], true, "{head}");
    let (head_seq, head_hash) =
        (head["headSeq"].as_i64().unwrap_or(0), head["headHash"].as_str().unwrap_or_default().to_string());
    assert!(head_seq >= 10, "{head}");
    let export = r.admin("GET", "/admin/ledger/export?after=0&limit=5000", None);
    let exported: Vec<Value> = export.body.lines().map(|l| serde_json::from_str(l).unwrap_or(Value::Null)).collect();
    assert_eq!(exported.len() as i64, head_seq);

    // Backup from the live relay's state directory (`cargo xtask backup` without --out writes under
    // the git-ignored .wrangler/).
    assert!(backup::default_out(&root).starts_with(root.join(".wrangler")));
    let work = r.state.join("backup-test");
    let file = work.join("iys-edge.sql");
    backup::backup(&root, &file, Some(&r.state)).expect("backup");
    let sql = std::fs::read_to_string(&file).expect("the backup");
    assert!(
        sql.contains("CREATE TABLE ledger") || sql.contains("CREATE TABLE \"ledger\""),
        "{}",
        &sql[..sql.len().min(500)]
    );

    // Restore into a fresh directory; the ledger there is the relay's, row for row, and verifies.
    let fresh = work.join("restored");
    backup::restore(&root, &file, Some(&fresh), false).expect("restore");
    let restored = ledger_rows(&fresh);
    assert_eq!(restored, exported, "the restored ledger is the relay's");
    let v = verify(&restored, &head_hash, &work.join("restored.jsonl"));
    assert_eq!(
        (v["ok"].clone(), v["rows"].clone(), v["headHash"].clone()),
        (json!(true), json!(head_seq), json!(head_hash)),
        "{v}"
    );
    // The rest came along too (the revoked provider stays revoked).
    let mut cmd = Command::new(root.join("node_modules/.bin/wrangler"));
    for (k, val) in tool_env() {
        cmd.env(k, val);
    }
    let out = cmd
        .args(["d1", "execute", "iys-edge", "--local", "--json", "--persist-to"])
        .arg(&fresh)
        .args(["--command", &format!("SELECT revoked_at FROM providers WHERE id = '{id}'")])
        .current_dir(&root)
        .stdin(Stdio::null())
        .output()
        .expect("wrangler runs");
    let p: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(p[0]["results"][0]["revoked_at"].is_string(), "{p}");

    // A non-empty target is refused (and left alone).
    let again = backup::restore(&root, &file, Some(&fresh), false);
    assert!(again.as_ref().is_err_and(|e| e.contains("not empty")), "{again:?}");
    assert_eq!(ledger_rows(&fresh).len() as i64, head_seq);

    // A backup with one ledger value edited: it restores, but the chain breaks at that row.
    let victim = restored[1]["payload_sha256"].as_str().unwrap_or_default().to_string();
    assert_eq!(sql.matches(victim.as_str()).count(), 1, "the row's payload hash is unique in the dump");
    let forged = victim.chars().rev().collect::<String>();
    let tampered = work.join("tampered.sql");
    std::fs::write(&tampered, sql.replace(&victim, &forged)).expect("write");
    let dir = work.join("restored-tampered");
    backup::restore(&root, &tampered, Some(&dir), false).expect("restore the tampered backup");
    let rows = ledger_rows(&dir);
    let v = verify(&rows, &head_hash, &work.join("tampered.jsonl"));
    assert_eq!(
        (v["ok"].clone(), v["firstBroken"].clone(), v["reason"].clone()),
        (json!(false), json!(2), json!("hash")),
        "{v}"
    );

    // A backup with a ledger row dropped: the gap is found.
    let seq3 = format!("VALUES({},", 3);
    let kept: Vec<&str> =
        sql.lines().filter(|l| !(l.starts_with("INSERT INTO \"ledger\"") && l.contains(&seq3))).collect();
    assert_eq!(kept.len() + 1, sql.lines().count(), "exactly one ledger row dropped");
    let cut = work.join("cut.sql");
    std::fs::write(&cut, kept.join("\n")).expect("write");
    let dir = work.join("restored-cut");
    backup::restore(&root, &cut, Some(&dir), false).expect("restore the cut backup");
    let v = verify(&ledger_rows(&dir), &head_hash, &work.join("cut.jsonl"));
    assert_eq!(
        (v["ok"].clone(), v["firstBroken"].clone(), v["reason"].clone()),
        (json!(false), json!(3), json!("seq-gap")),
        "{v}"
    );
}
