//! A small HTTP/1.1 server side: read one request (Content-Length or chunked body, keep-alive,
//! pipelining), write one response. Small on purpose: the sim must be able to hold a request,
//! answer anything, or reset the connection, which a framework makes awkward.

use std::io::{self, Read, Write};
use std::net::TcpStream;

/// Largest header block accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest body accepted (a 1000-item batch is ~200 KB).
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// One request.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path without the query, percent-decoding not applied.
    pub path: String,
    /// The query string (after `?`), raw.
    pub query: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Whether the client wants the connection kept.
    pub keep_alive: bool,
}

impl Request {
    /// A header's value by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// A query parameter (first occurrence), percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').filter(|p| !p.is_empty()).find_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k) == name).then(|| percent_decode(v))
        })
    }
}

/// One response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body (JSON unless a header says otherwise).
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, body: &impl serde::Serialize) -> Response {
        let body = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
        Response { status, headers: Vec::new(), body }
    }
}

/// Why reading a request stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed the connection between requests.
    Closed,
    /// I/O failure or timeout.
    Io(io::Error),
    /// Not HTTP we can read; answer with this status and close.
    Bad(u16, &'static str),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Reads requests from one connection; bytes past one request are kept for the next.
#[derive(Debug)]
pub struct Reader {
    buf: Vec<u8>,
}

impl Default for Reader {
    fn default() -> Self {
        Reader { buf: Vec::with_capacity(8192) }
    }
}

impl Reader {
    fn fill(&mut self, stream: &mut TcpStream) -> Result<usize, ReadError> {
        let mut chunk = [0u8; 16 * 1024];
        let n = stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads the next request.
    pub fn next(&mut self, stream: &mut TcpStream) -> Result<Request, ReadError> {
        // Head.
        let head_len = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(ReadError::Bad(431, "header too large"));
            }
            if self.fill(stream)? == 0 {
                return Err(if self.buf.is_empty() { ReadError::Closed } else { ReadError::Bad(400, "truncated") });
            }
        };
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&self.buf[..head_len]) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => return Err(ReadError::Bad(400, "bad request")),
        }
        let method = req.method.unwrap_or("GET").to_string();
        let target = req.path.unwrap_or("/");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let (path, query) = (path.to_string(), query.to_string());
        let version = req.version.unwrap_or(1);
        let headers: Vec<(String, String)> = req
            .headers
            .iter()
            .map(|h| (h.name.to_ascii_lowercase(), String::from_utf8_lossy(h.value).trim().to_string()))
            .collect();
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.to_ascii_lowercase());
        let keep_alive = match get("connection") {
            Some(c) if c.contains("close") => false,
            Some(c) if c.contains("keep-alive") => true,
            _ => version == 1,
        };
        let chunked = get("transfer-encoding").is_some_and(|t| t.contains("chunked"));
        self.buf.drain(..head_len);

        let body = if chunked {
            self.read_chunked(stream)?
        } else {
            let len = match get("content-length") {
                None => 0,
                Some(v) => v.parse::<usize>().map_err(|_| ReadError::Bad(400, "bad content-length"))?,
            };
            if len > MAX_BODY {
                return Err(ReadError::Bad(413, "body too large"));
            }
            while self.buf.len() < len {
                if self.fill(stream)? == 0 {
                    return Err(ReadError::Bad(400, "truncated body"));
                }
            }
            self.buf.drain(..len).collect()
        };
        Ok(Request { method, path, query, headers, body, keep_alive })
    }

    fn read_chunked(&mut self, stream: &mut TcpStream) -> Result<Vec<u8>, ReadError> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf, b"\r\n") {
                    break i;
                }
                if self.buf.len() > MAX_HEAD || self.fill(stream)? == 0 {
                    return Err(ReadError::Bad(400, "bad chunk"));
                }
            };
            let line = String::from_utf8_lossy(&self.buf[..line_end]).to_string();
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16).map_err(|_| ReadError::Bad(400, "bad chunk size"))?;
            self.buf.drain(..line_end + 2);
            if size == 0 {
                // Trailers, then an empty line.
                loop {
                    if let Some(i) = find(&self.buf, b"\r\n") {
                        self.buf.drain(..i + 2);
                        if i == 0 {
                            return Ok(body);
                        }
                    } else if self.fill(stream)? == 0 {
                        return Err(ReadError::Bad(400, "bad chunk trailer"));
                    }
                }
            }
            if body.len() + size > MAX_BODY {
                return Err(ReadError::Bad(413, "body too large"));
            }
            while self.buf.len() < size + 2 {
                if self.fill(stream)? == 0 {
                    return Err(ReadError::Bad(400, "truncated chunk"));
                }
            }
            body.extend_from_slice(&self.buf[..size]);
            self.buf.drain(..size + 2);
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Writes a response.
pub fn write_response(stream: &mut TcpStream, resp: &Response, keep_alive: bool) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    if !resp.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-type")) {
        head.push_str("Content-Type: application/json;charset=UTF-8\r\n");
    }
    for (n, v) in &resp.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
    head.push_str(if keep_alive { "Connection: keep-alive\r\n\r\n" } else { "Connection: close\r\n\r\n" });
    let mut out = head.into_bytes();
    out.extend_from_slice(&resp.body);
    stream.write_all(&out)?;
    stream.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Decodes `%XX` and `+` in a query component.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Bb+c"), "a+b c");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%BC"), "ü");
    }
}
