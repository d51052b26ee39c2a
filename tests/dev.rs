//! `cargo xtask dev` itself, as a developer runs it: the command builds what it needs, starts iys-sim
//! and `wrangler dev`, seeds the demo provider and prints the URLs and credentials; the test uses only
//! what it printed (the sign-up page, a stock token + single add as the demo provider, the page's
//! `/demo/consents` route, the sim's inspection route, the admin ledger check), then sends Ctrl-C to
//! the command's process group as a terminal would and checks that the relay and the sim are gone.
//!
//! The relay runs on a free port with its state in a temp dir (`--port`, `--persist-to`), so a
//! developer's own `cargo xtask dev` on 8787 is untouched.

#[path = "support/worker.rs"]
mod support;

use iys_tests::consent_date;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::{free_port, request, root, wait_for, Resp};

/// The command's process group, killed outright if the test fails before its Ctrl-C.
struct Dev {
    child: Child,
    state: PathBuf,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.child.id())]).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// What `cargo xtask dev` printed that a developer would copy.
struct Printed {
    relay: String,
    sim: String,
    admin_secret: String,
    username: String,
    password: String,
}

/// The word after `label` on the first line that has it.
fn after(lines: &[String], label: &str) -> String {
    lines
        .iter()
        .find_map(|l| l.split_once(label).map(|(_, rest)| rest))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("`{label}` not printed:\n{}", lines.join("\n")))
        .to_owned()
}

fn post(url: &str, bearer: Option<&str>, body: &Value) -> Resp {
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a));
    }
    request("POST", url, &headers, Some(&body.to_string()))
}

fn consent(recipient: &str) -> Value {
    json!({"recipient": recipient, "recipientType": "BIREYSEL", "type": "MESAJ", "status": "ONAY",
           "source": "HS_WEB", "consentDate": consent_date()})
}

fn refuses(addr: &str) -> bool {
    TcpStream::connect_timeout(&addr.parse().expect("an address"), Duration::from_secs(1)).is_err()
}

#[test]
fn xtask_dev_serves_the_whole_stack_and_ctrl_c_stops_it() {
    let port = free_port();
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let state = target.join(format!("dev-test-state-{}", std::process::id()));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let child = Command::new(cargo)
        .args(["xtask", "dev", "--port", &port.to_string(), "--persist-to"])
        .arg(&state)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("cargo xtask dev starts");
    let mut dev = Dev { child, state };

    // Read what it prints until it says how to stop it (the builds are warm inside `cargo xtask test`).
    // Both streams are drained to the end, so the command never blocks on a full pipe.
    let (tx, rx) = mpsc::channel();
    let out: Box<dyn std::io::Read + Send> = Box::new(dev.child.stdout.take().expect("stdout"));
    let err: Box<dyn std::io::Read + Send> = Box::new(dev.child.stderr.take().expect("stderr"));
    for stream in [out, err] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    drop(tx);
    let mut lines = Vec::new();
    let started = Instant::now();
    while !lines.iter().any(|l: &String| l.contains("Ctrl-C stops everything")) {
        let left = Duration::from_secs(600).saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(e) => panic!("cargo xtask dev did not come up ({e:?}); it printed:\n{}", lines.join("\n")),
        }
    }
    let printed = Printed {
        relay: after(&lines, "relay + sign-up form:").trim_end_matches('/').to_owned(),
        sim: after(&lines, "local IYS (iys-sim):").trim_end_matches('/').to_owned(),
        admin_secret: after(&lines, "admin secret:"),
        username: after(&lines, "username"),
        password: after(&lines, "password"),
    };
    assert_eq!(printed.relay, format!("http://127.0.0.1:{port}"));

    // The sign-up form and the playground, served from www/ with the npm package beside them.
    let page = request("GET", &format!("{}/", printed.relay), &[], None);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<form"), "{}", page.body);
    let mut playground = request("GET", &after(&lines, "payload playground:"), &[], None);
    if let (307 | 308, Some(to)) = (playground.status, playground.header("location")) {
        // Workers static assets drop `.html` from page URLs.
        playground = request("GET", &format!("{}{to}", printed.relay), &[], None);
    }
    assert_eq!(playground.status, 200);
    assert!(playground.body.contains("<textarea"), "{}", playground.body);

    // A stock IYS client flow with the printed demo credentials: token, then a single add.
    let token = post(
        &format!("{}/oauth2/token", printed.relay),
        None,
        &json!({"grant_type": "password", "username": printed.username, "password": printed.password}),
    );
    assert_eq!(token.status, 200, "{}", token.body);
    let access = token.json()["access_token"].as_str().expect("an access token").to_owned();
    let add =
        post(&format!("{}/sps/600001/brands/600001/consents", printed.relay), Some(&access), &consent("+905321112233"));
    assert_eq!(add.status, 200, "{}", add.body);
    assert!(add.json()["transactionId"].as_str().is_some_and(|t| !t.is_empty()), "{}", add.body);

    // What the sign-up form posts, relayed as the demo provider.
    let form =
        post(&format!("{}/demo/consents", printed.relay), None, &json!({"consents": [consent("+905321112244")]}));
    assert_eq!(form.status, 200, "{}", form.body);

    // Both reached the local IYS; the ledger the admin secret opens verifies.
    let held = request("GET", &format!("{}/__sim/consents?iysCode=600001&brandCode=600001", printed.sim), &[], None);
    for phone in ["+905321112233", "+905321112244"] {
        assert!(held.body.contains(phone), "{phone} not in the sim: {}", held.body);
    }
    let auth = format!("Bearer {}", printed.admin_secret);
    let verify = request("GET", &format!("{}/admin/ledger/verify", printed.relay), &[("Authorization", &auth)], None);
    assert_eq!((verify.status, verify.json()["ok"].clone()), (200, json!(true)), "{}", verify.body);

    // Ctrl-C, as a terminal sends it: SIGINT to the foreground process group.
    let pgid = dev.child.id();
    let status = Command::new("kill").args(["-INT", "--", &format!("-{pgid}")]).status().expect("kill runs");
    assert!(status.success());
    wait_for(60, "cargo xtask dev to exit after Ctrl-C", || dev.child.try_wait().ok().flatten());
    let relay_addr = printed.relay.trim_start_matches("http://").to_owned();
    let sim_addr = printed.sim.trim_start_matches("http://").to_owned();
    wait_for(30, "the relay and the sim to stop listening", || {
        (refuses(&relay_addr) && refuses(&sim_addr)).then_some(())
    });
    // Nothing of the group is left running, workerd included (zombies awaiting their reaper aside).
    wait_for(30, "the process group to be empty", || {
        let ps = Command::new("ps").args(["-eo", "pgid=,stat=,comm="]).output().ok()?;
        let left: Vec<String> = String::from_utf8_lossy(&ps.stdout)
            .lines()
            .filter(|l| {
                let mut f = l.split_whitespace();
                f.next() == Some(pgid.to_string().as_str()) && !f.next().is_some_and(|s| s.starts_with('Z'))
            })
            .map(str::to_owned)
            .collect();
        left.is_empty().then_some(())
    });
}
