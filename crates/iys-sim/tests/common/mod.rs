//! Starts the built `iys-sim` on a free loopback port and talks HTTP/1.1 to it (std only).
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

pub const IYS: u64 = 600001;
pub const BRAND: u64 = 600001;

pub struct Sim {
    child: Child,
    pub addr: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
}

impl Sim {
    pub fn start(args: &[&str]) -> Sim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_iys-sim"))
            .args(["--port", "0", "--quiet"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn iys-sim");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("first line");
        let addr = line.trim().to_string();
        assert!(addr.starts_with("127.0.0.1:"), "first line is the address: {addr:?}");
        Sim { child, addr }
    }

    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// One request on a fresh connection; raw body bytes; `Err` on I/O problems (resets, timeouts).
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> std::io::Result<(u16, Vec<u8>)> {
        let mut s = TcpStream::connect(&self.addr)?;
        s.set_read_timeout(Some(timeout))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes())?;
        s.write_all(body)?;
        let mut out = Vec::new();
        s.read_to_end(&mut out)?;
        parse_response(&out)
    }

    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Resp {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(b) = &bearer {
            headers.push(("Authorization", b.as_str()));
        }
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
        let (status, body) = self.raw(method, path, &headers, &bytes, Duration::from_secs(10)).expect("http");
        let body = if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).expect("JSON answer") };
        Resp { status, body }
    }

    pub fn admin(&self, method: &str, path: &str, body: Value) -> Value {
        let r = self.call(method, path, None, Some(&body));
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        r.body
    }

    pub fn login(&self, username: &str, password: &str) -> Resp {
        self.call(
            "POST",
            "/oauth2/token",
            None,
            Some(&json!({"username": username, "password": password, "grant_type": "password"})),
        )
    }

    pub fn token(&self) -> String {
        let r = self.login("integrator", "integrator-pass");
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["access_token"].as_str().unwrap().to_string()
    }

    pub fn advance(&self, secs: i64) {
        self.admin("POST", "/__sim/clock", json!({ "advanceSeconds": secs }));
    }
}

pub fn parse_response(out: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "bad response");
    let end = out.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(bad)?;
    let head = std::str::from_utf8(&out[..end]).map_err(|_| bad())?;
    let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    Ok((status, out[end + 4..].to_vec()))
}

/// Turkey time `secs_ago` seconds before now, as consentDate.
pub fn date_ago(secs_ago: i64) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    iys_sim::clock::turkey_time(now - secs_ago * 1000)
}

pub fn consent(recipient: &str, kind: &str, status: &str, secs_ago: i64) -> Value {
    json!({
        "recipient": recipient,
        "recipientType": "BIREYSEL",
        "type": kind,
        "status": status,
        "source": "HS_WEB",
        "consentDate": date_ago(secs_ago),
    })
}

pub fn codes(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .map(|a| a.iter().map(|e| e["code"].as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

pub fn consents_path(iys: u64, brand: u64) -> String {
    format!("/sps/{iys}/brands/{brand}/consents")
}

/// Polls a batch until no item is `enqueue`.
pub fn wait_batch(sim: &Sim, token: &str, request_id: &str) -> Vec<Value> {
    for _ in 0..200 {
        let r = sim.call("GET", &format!("{}/request/{request_id}", consents_path(IYS, BRAND)), Some(token), None);
        assert_eq!(r.status, 200, "{}", r.body);
        let items = r.body.as_array().unwrap().clone();
        if items.iter().all(|i| i["status"] != "enqueue") {
            return items;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("batch {request_id} never settled");
}

pub fn temp_path(name: &str) -> std::path::PathBuf {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("iys-sim-test-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}
