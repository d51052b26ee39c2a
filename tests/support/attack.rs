//! Helpers for the attack suite (`tests/attacks.rs`): a byte-exact HTTP/1.1 client (the request
//! line, headers and body go on the wire exactly as written, so paths are not normalised and bodies
//! may be invalid UTF-8), a table row type, providers, and a consent date IYS accepts.

#![allow(dead_code)]

use crate::support::{Relay, Resp};
use iys_ledger::hex;
use serde_json::{json, Value};
use sha2::Digest;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One request, sent byte for byte.
#[derive(Debug, Clone)]
pub struct Req {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target exactly as sent (`/sps/600001/../600100/…`).
    pub target: String,
    /// Header lines (name, value), in order, after `Host` and `Connection`.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
    /// When set, these bytes are sent instead of anything built from the fields above.
    pub raw: Option<Vec<u8>>,
}

impl Req {
    /// A request with no headers and no body.
    pub fn new(method: &str, target: &str) -> Req {
        Req { method: method.into(), target: target.into(), headers: Vec::new(), body: Vec::new(), raw: None }
    }

    /// A POST with `Content-Type: application/json`, the bearer token (if any) and `body`.
    pub fn post(target: &str, token: Option<&str>, body: impl Into<Vec<u8>>) -> Req {
        let r = Req::new("POST", target).header("Content-Type", "application/json").body(body);
        match token {
            Some(t) => r.bearer(t),
            None => r,
        }
    }

    /// A GET with the bearer token (if any).
    pub fn get(target: &str, token: Option<&str>) -> Req {
        let r = Req::new("GET", target);
        match token {
            Some(t) => r.bearer(t),
            None => r,
        }
    }

    /// Appends a header (the value may hold any bytes).
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Req {
        self.headers.push((name.into(), value.as_ref().to_vec()));
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Req {
        self.header("Authorization", format!("Bearer {token}"))
    }

    /// Drops every header called `name` (case-insensitive).
    pub fn without(mut self, name: &str) -> Req {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self
    }

    /// Replaces the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Req {
        self.body = body.into();
        self
    }

    /// A request given as raw bytes (`{host}` is replaced by the worker's `host:port`).
    pub fn raw(bytes: impl Into<Vec<u8>>) -> Req {
        let mut r = Req::new("RAW", "");
        r.raw = Some(bytes.into());
        r
    }

    /// The bytes that go on the wire to `host`.
    pub fn wire(&self, host: &str) -> Vec<u8> {
        if let Some(raw) = &self.raw {
            let text = raw.clone();
            return replace_all(&text, b"{host}", host.as_bytes());
        }
        let mut out =
            format!("{} {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n", self.method, self.target).into_bytes();
        for (k, v) in &self.headers {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        if !self.body.is_empty() || self.method == "POST" || self.method == "PUT" {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

fn replace_all(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// Sends `req` to `base` (`http://127.0.0.1:port`) and reads every answer until the server closes
/// the connection (more than one when the bytes hold pipelined or smuggled requests).
pub fn send(base: &str, req: &Req) -> std::io::Result<Vec<Resp>> {
    let host = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    // A server may answer (and close) before it has read a large body; a failed write is then not
    // an error as long as an answer arrives.
    let _ = s.write_all(&req.wire(host));
    let mut raw = Vec::new();
    let read = s.read_to_end(&mut raw);
    if raw.is_empty() {
        read?;
        return Err(std::io::Error::other("no answer"));
    }
    let mut out = Vec::new();
    let mut rest = raw.as_slice();
    while !rest.is_empty() {
        let (resp, used) = parse_one(rest)?;
        out.push(resp);
        rest = &rest[used.min(rest.len())..];
    }
    Ok(out)
}

/// Parses one HTTP/1.1 answer at the start of `raw`; the answer and the bytes it took.
pub fn parse_one(raw: &[u8]) -> std::io::Result<(Resp, usize)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    let length = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse::<usize>().ok());
    let (body, used) = if chunked {
        unchunk(rest)
    } else if let Some(n) = length {
        (rest[..n.min(rest.len())].to_vec(), n)
    } else {
        (rest.to_vec(), rest.len())
    };
    Ok((Resp { status, headers, body: String::from_utf8_lossy(&body).into_owned() }, end + 4 + used))
}

/// A chunked body: the data and the bytes it took.
fn unchunk(all: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let rest = &all[at..];
        let Some(nl) = rest.windows(2).position(|w| w == b"\r\n") else { return (out, all.len()) };
        let size_line = String::from_utf8_lossy(&rest[..nl]).into_owned();
        let Ok(size) = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16) else {
            return (out, all.len());
        };
        at += nl + 2;
        if size == 0 {
            // The last chunk, then (no trailers) one empty line.
            return (out, (at + 2).min(all.len()));
        }
        if all.len() < at + size {
            out.extend_from_slice(&all[at..]);
            return (out, all.len());
        }
        out.extend_from_slice(&all[at..at + size]);
        at += size + 2;
    }
}

/// Where a refusal is expected to come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// The relay's `/sps/…` or `/oauth2/token` handler, or its admin gate (a refused secret is
    /// recorded too): one inbound ledger row, with this outcome.
    Relay,
    /// The relay, before any ledgered handler (an unknown route): no ledger row.
    Gate,
    /// The HTTP server in front of the Worker (malformed HTTP): no JSON body, no ledger row.
    Http,
}

/// One attack: what is sent, and the refusal expected.
#[derive(Debug, Clone)]
pub struct Case {
    /// A short name.
    pub name: &'static str,
    /// The request.
    pub req: Req,
    /// The expected status.
    pub status: u16,
    /// The expected `errors[0].iysEdgeCode` (ignored for [`By::Http`]).
    pub code: &'static str,
    /// Who refuses it.
    pub by: By,
    /// Further answers allowed on the same connection (pipelined or smuggled requests), in order,
    /// each ledgered: (status, code). Fewer may come; more may not.
    pub more: Vec<(u16, &'static str)>,
}

impl Case {
    /// One more answer allowed on the same connection.
    pub fn then(mut self, status: u16, code: &'static str) -> Case {
        self.more.push((status, code));
        self
    }
}

/// A table row.
pub fn case(name: &'static str, req: Req, status: u16, code: &'static str, by: By) -> Case {
    Case { name, req, status, code, by, more: Vec::new() }
}

/// Credentials the relay issued to one provider.
#[derive(Debug, Clone, Default)]
pub struct Creds {
    /// `prv_…`
    pub id: String,
    /// Login name.
    pub username: String,
    /// Password (shown once at creation).
    pub password: String,
    /// Access token.
    pub access: String,
    /// Refresh token.
    pub refresh: String,
}

/// Creates a provider with `scopes` and logs it in.
pub fn provider(r: &Relay, scopes: Value, rate: f64, burst: f64) -> Creds {
    let c = r.admin(
        "POST",
        "/admin/providers",
        Some(&json!({"name": "attack", "scopes": scopes, "rate": rate, "burst": burst})),
    );
    assert_eq!(c.status, 201, "{}", c.body);
    let c = c.json();
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let (username, password) = (s(&c["username"]), s(&c["password"]));
    let body = json!({"grant_type": "password", "username": username, "password": password}).to_string();
    let t = r.req("POST", "/oauth2/token", &[("Content-Type", "application/json")], Some(&body));
    assert_eq!(t.status, 200, "{}", t.body);
    let t = t.json();
    Creds { id: s(&c["id"]), username, password, access: s(&t["access_token"]), refresh: s(&t["refresh_token"]) }
}

/// Turkey's wall clock (UTC+3) `ago` seconds ago, as IYS writes `consentDate`.
pub fn consent_date(ago: u64) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let t = now + 3 * 3600 - ago;
    let (mut days, secs) = (t / 86_400, t % 86_400);
    let mut year = 1970;
    loop {
        let len = if is_leap(year) { 366 } else { 365 };
        if days < len {
            break;
        }
        days -= len;
        year += 1;
    }
    let feb = if is_leap(year) { 29 } else { 28 };
    let mut month = 1;
    for len in [31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] {
        if days < len {
            break;
        }
        days -= len;
        month += 1;
    }
    format!("{year:04}-{month:02}-{:02} {:02}:{:02}:{:02}", days + 1, secs / 3600, secs % 3600 / 60, secs % 60)
}

fn is_leap(y: u64) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

/// A consent IYS would accept.
pub fn consent(recipient: &str, kind: &str) -> Value {
    json!({"recipient": recipient, "recipientType": "BIREYSEL", "type": kind, "status": "ONAY",
           "source": "HS_WEB", "consentDate": consent_date(60)})
}

/// The rows of a `SELECT` on the relay's D1.
pub fn rows(r: &Relay, sql: &str) -> Vec<Value> {
    r.d1(sql)[0]["results"].as_array().cloned().unwrap_or_default()
}

/// SHA-256, through the crate the relay itself uses.
fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

/// HMAC-SHA256 (RFC 2104), through the crates the relay itself uses.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut m = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(key).expect("HMAC takes any key length");
    hmac::Mac::update(&mut m, msg);
    hmac::Mac::finalize(m).into_bytes().into()
}

/// A relay access token for `provider`, correctly signed under the key the relay derives from
/// `admin_secret` (no `RELAY_TOKEN_SECRET` set), that expired at `expires_at` (Unix seconds): the
/// format and key of `crates/iys-worker/src/auth.rs`.
pub fn signed_access_token(admin_secret: &str, provider: &str, expires_at: i64) -> String {
    let key = hmac_sha256(admin_secret.as_bytes(), b"iys-edge relay access tokens v1");
    let body = format!("{provider}.{expires_at}.00112233445566778899aabbccddeeff");
    let mac = hmac_sha256(&key, format!("iyse_at_{body}").as_bytes());
    format!("iyse_at_{body}.{}", hex(&mac))
}

#[test]
fn sha256_and_hmac_match_their_published_vectors() {
    assert_eq!(hex(&sha256(b"abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    // RFC 4231, test case 2.
    assert_eq!(
        hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}
