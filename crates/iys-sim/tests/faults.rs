//! Fault injection (admin route and flags), the request log, `--state` across restarts, keep-alive.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

#[test]
fn each_fault_mode_by_admin_route() {
    let sim = Sim::start(&[]);
    let token = sim.token();
    let add = consents_path(IYS, BRAND);
    let body = consent("+905321234567", "MESAJ", "ONAY", 60);

    for (kind, status, code) in [("500", 500, "H015"), ("503", 503, "H192"), ("429", 429, "H124")] {
        sim.admin("POST", "/__sim/faults", json!({"kind": kind, "route": "add", "count": 1}));
        // Other routes are untouched.
        assert_eq!(sim.call("GET", "/sps/600001/brands", Some(&token), None).status, 200);
        let r = sim.call("POST", &add, Some(&token), Some(&body));
        assert_eq!((r.status, codes(&r.body)), (status, vec![code.to_string()]), "{kind}");
    }
    // The counted rules are spent; nothing was stored by the faulted calls.
    assert_eq!(sim.admin("GET", "/__sim/faults", Value::Null), json!([]));
    assert_eq!(sim.admin("GET", "/__sim/consents", Value::Null), json!([]));

    // Reset: the connection is cut without an answer.
    sim.admin("POST", "/__sim/faults", json!({"kind": "reset", "route": "add", "count": 1}));
    let b = serde_json::to_vec(&body).unwrap();
    let auth = format!("Bearer {token}");
    let err = sim.raw("POST", &add, &[("Authorization", &auth)], &b, Duration::from_secs(5)).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe),
        "{err:?}"
    );

    // Hold: the answer comes after the client's timeout; the call itself then goes through.
    sim.admin("POST", "/__sim/faults", json!({"kind": "hold", "holdMs": 1200, "route": "add", "count": 1}));
    let err = sim.raw("POST", &add, &[("Authorization", &auth)], &b, Duration::from_millis(300)).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut), "{err:?}");
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(
        sim.admin("GET", "/__sim/consents", Value::Null).as_array().unwrap().len(),
        1,
        "held call was processed"
    );

    // The request log shows every call with its status and fault.
    let log = sim.admin("GET", "/__sim/requests", Value::Null);
    let faults: Vec<(u64, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["fault"].is_string())
        .map(|e| (e["status"].as_u64().unwrap(), e["fault"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        faults,
        vec![
            (500, "500".into()),
            (503, "503".into()),
            (429, "429".into()),
            (0, "reset".into()),
            (200, "hold=1200".into())
        ]
    );
    let first = &log[0];
    assert_eq!(
        (first["method"].as_str(), first["path"].as_str(), first["status"].as_u64()),
        (Some("POST"), Some("/oauth2/token"), Some(200))
    );
    assert!(first["time"].is_string() && first["route"] == "token");
    assert!(log.as_array().unwrap().iter().all(|e| !e["path"].as_str().unwrap().starts_with("/__sim/requests")));

    // Faults can be cleared; an invalid one is refused.
    sim.admin("POST", "/__sim/faults", json!({"kind": "500"}));
    assert_eq!(sim.call("GET", "/sps/600001/brands", Some(&token), None).status, 500);
    sim.admin("DELETE", "/__sim/faults", Value::Null);
    assert_eq!(sim.call("GET", "/sps/600001/brands", Some(&token), None).status, 200);
    assert_eq!(sim.call("POST", "/__sim/faults", None, Some(&json!({"kind": "500", "route": "nowhere"}))).status, 400);
    assert_eq!(sim.call("POST", "/__sim/faults", None, Some(&json!({"kind": "500", "fraction": 1.5}))).status, 400);
}

#[test]
fn faults_by_flag_with_a_fraction_and_a_seed() {
    let sim = Sim::start(&["--fault", "503@token#1", "--fault", "500:0.3@brands", "--seed", "42"]);
    let r = sim.login("integrator", "integrator-pass");
    assert_eq!((r.status, codes(&r.body)), (503, vec!["H192".to_string()]));
    sim.admin("POST", "/__sim/limits", json!({"requestsPerSecond": 10_000}));
    let token = sim.token();
    let failed = (0..200).filter(|_| sim.call("GET", "/sps/600001/brands", Some(&token), None).status == 500).count();
    assert!((30..=90).contains(&failed), "about 30% of 200: {failed}");
}

#[test]
fn any_iys_code_with_any_status() {
    let sim = Sim::start(&["--fault", "H412@add#1"]);
    let token = sim.token();
    let add = consents_path(IYS, BRAND);
    let body = consent("+905321234567", "MESAJ", "ONAY", 60);
    // The flag form without a status: IYS's own for the code (H412: 500).
    let r = sim.call("POST", &add, Some(&token), Some(&body));
    assert_eq!((r.status, codes(&r.body)), (500, vec!["H412".to_string()]));
    // The JSON form: a 4xx IYS marks as worth resending, with IYS's error shape and a Turkish text.
    let rules = sim.admin(
        "POST",
        "/__sim/faults",
        json!({"kind": "code", "code": "H123", "status": 400, "route": "add", "count": 1}),
    );
    assert_eq!(
        rules,
        json!([{"kind": "code", "code": "H123", "status": 400, "route": "add", "count": 1, "fraction": 1.0, "holdMs": 35000}])
    );
    let r = sim.call("POST", &add, Some(&token), Some(&body));
    assert_eq!((r.status, codes(&r.body)), (400, vec!["H123".to_string()]));
    assert_eq!(r.body["errors"][0]["message"], "Servis şu anda yoğun, lütfen daha sonra tekrar deneyin.");
    assert_eq!(sim.admin("GET", "/__sim/consents", Value::Null), json!([]), "a faulted add stores nothing");
    // Spent: the next add goes through.
    assert_eq!(sim.call("POST", &add, Some(&token), Some(&body)).status, 200);
    let log = sim.admin("GET", "/__sim/requests", Value::Null);
    let faults: Vec<&str> = log.as_array().unwrap().iter().filter_map(|e| e["fault"].as_str()).collect();
    assert_eq!(faults, ["H412=500", "H123=400"]);
    // Refused: no code, a bad code, a status outside 4xx/5xx, a code on a fixed kind.
    for bad in [
        json!({"kind": "code"}),
        json!({"kind": "code", "code": "123"}),
        json!({"kind": "code", "code": "H123", "status": 302}),
        json!({"kind": "503", "code": "H123"}),
    ] {
        assert_eq!(sim.call("POST", "/__sim/faults", None, Some(&bad)).status, 400, "{bad}");
    }
}

#[test]
fn batch_items_settle_as_failures_with_a_chosen_code() {
    let sim = Sim::start(&["--batch-delay-ms", "0", "--fault", "item=H179#2"]);
    let token = sim.token();
    sim.admin("POST", "/__sim/faults", json!({"kind": "item", "code": "H175", "count": 1}));
    let phones: Vec<String> = (0..4).map(|i| format!("+90535{:07}", 4_000_000 + i)).collect();
    let items: Vec<Value> = phones.iter().map(|p| consent(p, "MESAJ", "ONAY", 60)).collect();
    let batch = format!("{}/request", consents_path(IYS, BRAND));
    let r = sim.call("POST", &batch, Some(&token), Some(&Value::Array(items.clone())));
    assert_eq!(r.status, 200, "the list itself is taken");
    let rid = r.body["requestId"].as_str().unwrap().to_string();
    let out = wait_batch(&sim, &token, &rid);
    let got: Vec<(&str, Option<&str>)> =
        out.iter().map(|i| (i["status"].as_str().unwrap(), i["error"]["code"].as_str())).collect();
    assert_eq!(
        got,
        [("failure", Some("H179")), ("failure", Some("H179")), ("failure", Some("H175")), ("success", None)]
    );
    assert_eq!(out[0]["error"]["message"], "İzin tarihi karşılaştırması yapılamadı.");
    assert!(out[0]["transactionId"].is_null());
    // Only the item that succeeded is stored.
    let held = sim.admin("GET", "/__sim/consents", Value::Null);
    let held: Vec<&str> = held.as_array().unwrap().iter().map(|c| c["recipient"].as_str().unwrap()).collect();
    assert_eq!(held, [phones[3].as_str()]);
    // The rules are spent: the failed items sent again land.
    assert_eq!(sim.admin("GET", "/__sim/faults", Value::Null), json!([]));
    let r = sim.call("POST", &batch, Some(&token), Some(&Value::Array(items[..3].to_vec())));
    let out = wait_batch(&sim, &token, r.body["requestId"].as_str().unwrap());
    assert!(out.iter().all(|i| i["status"] == "success"), "{out:?}");
    // An item rule is about batch items only.
    let bad = json!({"kind": "item", "code": "H179", "route": "add"});
    assert_eq!(sim.call("POST", "/__sim/faults", None, Some(&bad)).status, 400);
    let bad = json!({"kind": "item", "code": "H179", "status": 500});
    assert_eq!(sim.call("POST", "/__sim/faults", None, Some(&bad)).status, 400);
}

#[test]
fn restart_with_state_keeps_every_record() {
    let state = temp_path("state.json");
    let state_arg = state.to_str().unwrap().to_string();
    let (tx, request_id, access) = {
        let sim = Sim::start(&["--state", &state_arg, "--batch-delay-ms", "0"]);
        let token = sim.token();
        let r = sim.call(
            "POST",
            &consents_path(IYS, BRAND),
            Some(&token),
            Some(&consent("+905321234567", "MESAJ", "ONAY", 120)),
        );
        assert_eq!(r.status, 200);
        let tx = r.body["transactionId"].as_str().unwrap().to_string();
        let items: Vec<Value> =
            (0..50).map(|i| consent(&format!("+90534{:07}", 3_000_000 + i), "ARAMA", "ONAY", 60)).collect();
        let r = sim.call(
            "POST",
            &format!("{}/request", consents_path(IYS, BRAND)),
            Some(&token),
            Some(&Value::Array(items)),
        );
        let request_id = r.body["requestId"].as_str().unwrap().to_string();
        wait_batch(&sim, &token, &request_id);
        sim.admin(
            "POST",
            "/__sim/citizen",
            json!({"iysCode": IYS, "brandCode": BRAND, "recipient": "ali@example.com", "recipientType": "BIREYSEL",
                   "type": "EPOSTA", "status": "ONAY", "source": "IYS_WEB"}),
        );
        assert_eq!(sim.admin("GET", "/__sim/consents", Value::Null).as_array().unwrap().len(), 52);
        sim.kill();
        (tx, request_id, token)
    };
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_ok(), "the state file is whole JSON");
    let leftovers: Vec<_> = std::fs::read_dir(state.parent().unwrap())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name() != "state.json")
        .collect();
    assert!(leftovers.is_empty(), "no temporary files left: {leftovers:?}");

    let sim = Sim::start(&["--state", &state_arg]);
    assert_eq!(sim.admin("GET", "/__sim/consents", Value::Null).as_array().unwrap().len(), 52);
    // The token issued before the restart still works; records, batches and rules carry on.
    let r = sim.call(
        "POST",
        &format!("{}/status", consents_path(IYS, BRAND)),
        Some(&access),
        Some(&json!({"recipient": "+905321234567", "recipientType": "BIREYSEL", "type": "MESAJ"})),
    );
    assert_eq!((r.status, r.body["transactionId"].as_str()), (200, Some(tx.as_str())), "{}", r.body);
    let items = wait_batch(&sim, &access, &request_id);
    assert_eq!(items.len(), 50);
    assert!(items.iter().all(|i| i["status"] == "success"));
    let r = sim.call(
        "POST",
        &consents_path(IYS, BRAND),
        Some(&access),
        Some(&consent("+905321234567", "MESAJ", "ONAY", 30)),
    );
    assert_eq!(codes(&r.body), ["H174"], "the stored state still decides");
    sim.advance(3601);
    let r = sim.call("GET", &format!("{}/changes?source=IYS", consents_path(IYS, BRAND)), Some(&access), None);
    assert_eq!(r.body["list"][0]["source"], "IYS_WEB");
    sim.kill();
    let _ = std::fs::remove_dir_all(state.parent().unwrap());
}

#[test]
fn a_broken_state_file_is_refused_not_overwritten() {
    let state = temp_path("state.json");
    std::fs::write(&state, b"{\"consents\": [").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_iys-sim"))
        .args(["--port", "0", "--state", state.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(std::fs::read(&state).unwrap(), b"{\"consents\": [");
    let _ = std::fs::remove_dir_all(state.parent().unwrap());
}

#[test]
fn keep_alive_and_chunked_bodies() {
    let sim = Sim::start(&[]);
    let mut s = TcpStream::connect(&sim.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let body = br#"{"username":"integrator","password":"integrator-pass","grant_type":"password"}"#;
    // Two requests on one connection, the second with a chunked body.
    let first = format!(
        "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(first.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let second = format!(
        "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{}\r\n0\r\n\r\n",
        body.len(),
        std::str::from_utf8(body).unwrap()
    );
    s.write_all(second.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    assert_eq!(text.matches("access_token").count(), 2);
}
