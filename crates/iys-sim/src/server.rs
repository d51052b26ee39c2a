//! The accept loop: one thread per connection, faults applied before the routes, every request
//! logged (method, path, status, codes, time), `--state` written before a mutating answer.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use iys_core::wire::ErrorBody;

use crate::faults::{Fault, FaultKind};
use crate::http::{self, ReadError, Request, Response};
use crate::{admin, routes, App, LogEntry, MAX_LOG};

/// How long an idle keep-alive connection is kept.
const IDLE: Duration = Duration::from_secs(60);

/// Binds 127.0.0.1:`port` (0: any free port).
pub fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Serves forever: the batch ticker plus one thread per connection.
pub fn serve(app: Arc<App>, listener: TcpListener) {
    let ticker = Arc::clone(&app);
    thread::spawn(move || loop {
        ticker.tick();
        thread::sleep(Duration::from_millis(20));
    });
    for stream in listener.incoming() {
        match stream {
            Ok(s) => {
                let app = Arc::clone(&app);
                thread::spawn(move || connection(&app, s));
            }
            Err(e) => {
                eprintln!("iys-sim: accept failed: {e}");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn connection(app: &App, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(IDLE));
    let _ = stream.set_nodelay(true);
    let mut reader = http::Reader::default();
    loop {
        let req = match reader.next(&mut stream) {
            Ok(r) => r,
            Err(ReadError::Closed | ReadError::Io(_)) => return,
            Err(ReadError::Bad(status, why)) => {
                let resp =
                    Response::json(status, &serde_json::json!({ "errors": [{ "code": "H014", "message": why }] }));
                let _ = http::write_response(&mut stream, &resp, false);
                return;
            }
        };
        let started = Instant::now();
        let at_ms = app.clock.now_ms();
        let route = routes::route_name(&req.method, &req.path);
        let is_admin = req.path == "/__sim" || req.path.starts_with("/__sim/");
        let fault = match (is_admin, route) {
            (false, Some(r)) => {
                let mut sim = app.lock();
                let sim = &mut *sim;
                sim.faults.pick(r, &mut sim.fault_rng)
            }
            _ => None,
        };
        let outcome = answer(app, &req, is_admin, fault.as_ref());
        let keep = req.keep_alive;
        let status = match &outcome {
            Some(resp) => resp.status,
            None => 0,
        };
        if !is_admin || req.path != "/__sim/requests" {
            record(app, &req, route, status, outcome.as_ref(), fault.as_ref(), at_ms, started);
        }
        match outcome {
            None => {
                // Reset: RST instead of FIN, no answer.
                let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                return;
            }
            Some(resp) => {
                if http::write_response(&mut stream, &resp, keep).is_err() || !keep {
                    let _ = stream.flush();
                    return;
                }
            }
        }
    }
}

/// `None` means: reset the connection.
fn answer(app: &App, req: &Request, is_admin: bool, fault: Option<&Fault>) -> Option<Response> {
    if let Some(f) = fault {
        let err = |status: u16, code: &str, msg: &str| Some(routes::error(status, code, msg, None));
        match f.kind {
            FaultKind::Error500 => return err(500, "H015", "Beklenmeyen bir hata oluştu."),
            FaultKind::Error503 => return err(503, "H192", "İstek zaman aşımına uğradı."),
            FaultKind::RateLimit => return err(429, "H124", "Saniye başına istek limitine ulaşıldı."),
            FaultKind::Reset => return None,
            FaultKind::Code => {
                let code = f.code.as_deref().unwrap_or("H015");
                return err(f.status(), code, &crate::faults::message(code));
            }
            FaultKind::Hold => thread::sleep(Duration::from_millis(f.hold_ms)),
            // Never picked for a call (`Faults::pick` skips it): the batch route applies it per item.
            FaultKind::Item => {}
        }
    }
    let resp = if is_admin { admin::handle(app, req) } else { routes::handle(app, req) };
    if !is_admin {
        app.save();
    }
    Some(resp)
}

#[allow(clippy::too_many_arguments)]
fn record(
    app: &App,
    req: &Request,
    route: Option<&'static str>,
    status: u16,
    resp: Option<&Response>,
    fault: Option<&Fault>,
    at_ms: i64,
    started: Instant,
) {
    let codes: Vec<String> = resp
        .filter(|r| r.status >= 400)
        .and_then(|r| serde_json::from_slice::<ErrorBody>(&r.body).ok())
        .map(|b| b.errors.into_iter().map(|e| e.code).collect())
        .unwrap_or_default();
    let path = if req.query.is_empty() { req.path.clone() } else { format!("{}?{}", req.path, req.query) };
    let fault_name = fault.map(Fault::name);
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    if !app.quiet {
        // Paths carry codes and ids, never recipients, tokens or passwords.
        eprintln!(
            "iys-sim: {} {} {}{}{}",
            req.method,
            path,
            if status == 0 { "RESET".to_string() } else { status.to_string() },
            if codes.is_empty() { String::new() } else { format!(" {}", codes.join(",")) },
            fault_name.as_deref().map(|f| format!(" (fault {f})")).unwrap_or_default(),
        );
    }
    let mut sim = app.lock();
    let seq = sim.log_seq;
    sim.log_seq += 1;
    if sim.log.len() >= MAX_LOG {
        sim.log.drain(..MAX_LOG / 10);
    }
    sim.log.push(LogEntry {
        seq,
        method: req.method.clone(),
        path,
        route,
        status,
        codes,
        fault: fault_name,
        time: crate::clock::turkey_time(at_ms),
        at_ms,
        duration_ms,
    });
}
