//! A small blocking HTTP client for the relay (ureq with rustls; `http://` for local drills).
//!
//! Every call opens a fresh connection (no pool), so a failure on a POST is never a stale pooled
//! socket, and a transport failure is sorted into two kinds that the upload treats differently:
//! [`Failure::NotSent`] (the request cannot have reached the server: refused connection, unknown
//! host, connect timeout) and [`Failure::Unknown`] (it may have been received and acted on).
//! Errors carry no headers or bodies, so no token, password or recipient reaches a message.

use std::time::Duration;

use crate::error::CliError;

/// The largest answer read (a 1000-item batch result is about 250 KB).
const MAX_BODY: u64 = 64 << 20;

/// An HTTP answer, whatever its status.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After` in seconds, when present and numeric.
    pub retry_after: Option<Duration>,
    /// The body.
    pub body: Vec<u8>,
    /// `x-iys-edge-queued` (the relay's status answers): the relay request that still holds a
    /// consent of the caller for the recipient and type asked about.
    pub queued: Option<String>,
}

/// A transport failure (no HTTP answer).
#[derive(Debug, Clone)]
pub enum Failure {
    /// The request cannot have reached the server.
    NotSent(String),
    /// The request may have reached the server (reset, timeout after sending, broken answer).
    Unknown(String),
}

impl Failure {
    /// What happened, for messages.
    pub fn text(&self) -> &str {
        match self {
            Failure::NotSent(t) | Failure::Unknown(t) => t,
        }
    }
}

/// A client for one base URL.
#[derive(Debug)]
pub struct Http {
    agent: ureq::Agent,
    base: String,
}

impl Http {
    /// A client for `base` (`https://…`, or `http://…`), with a per-call `timeout`.
    pub fn new(base: &str, timeout: Duration) -> Result<Http, CliError> {
        let base = base.trim_end_matches('/');
        if !(base.starts_with("https://") || base.starts_with("http://")) || base.contains(char::is_whitespace) {
            return Err(CliError::usage(format!("--relay {base:?} is not an http:// or https:// URL")));
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(Duration::from_secs(10))))
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .user_agent(concat!("iys-cli/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Http { agent: ureq::Agent::new_with_config(config), base: base.to_string() })
    }

    /// `POST {base}{path}` with a JSON body.
    pub fn post_json(&self, path: &str, bearer: Option<&str>, body: &[u8]) -> Result<Answer, Failure> {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json");
        if let Some(t) = bearer {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        answer(req.send(body))
    }

    /// `POST {base}{path}` with a JSON body and an `Idempotency-Key` header (the relay's batch route).
    pub fn post_json_keyed(&self, path: &str, bearer: Option<&str>, body: &[u8], key: &str) -> Result<Answer, Failure> {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .header("Idempotency-Key", key);
        if let Some(t) = bearer {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        answer(req.send(body))
    }

    /// `GET {base}{path}`.
    pub fn get(&self, path: &str, bearer: Option<&str>) -> Result<Answer, Failure> {
        let mut req = self.agent.get(format!("{}{path}", self.base)).header("Accept", "application/json");
        if let Some(t) = bearer {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        answer(req.call())
    }
}

fn answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Answer, Failure> {
    let mut resp = r.map_err(classify)?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let queued = resp.headers().get("x-iys-edge-queued").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = resp.body_mut().with_config().limit(MAX_BODY).read_to_vec().map_err(|e| {
        // The server answered, so it received the request: whatever it did stands.
        Failure::Unknown(format!("the answer ({status}) could not be read: {}", describe(&e)))
    })?;
    Ok(Answer { status, retry_after, body, queued })
}

fn classify(e: ureq::Error) -> Failure {
    use ureq::Error as E;
    let text = describe(&e);
    match &e {
        E::ConnectionFailed
        | E::HostNotFound
        | E::BadUri(_)
        | E::Http(_)
        | E::TlsRequired
        | E::Tls(_)
        | E::Rustls(_) => Failure::NotSent(text),
        E::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => Failure::NotSent(text),
        E::Io(io) if matches!(io.kind(), std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound) => {
            Failure::NotSent(text)
        }
        _ => Failure::Unknown(text),
    }
}

fn describe(e: &ureq::Error) -> String {
    // ureq's messages name the failure (and at most the host), never headers or bodies.
    e.to_string()
}
