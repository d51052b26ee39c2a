//! Attack cases against the relay (issue 7), on real workerd (`wrangler dev`) with `iys-sim` as IYS.
//!
//! One table: each row is a request sent byte for byte (so paths are not normalised by the client
//! and bodies may be invalid UTF-8), the status and the stable `iysEdgeCode` expected, and who
//! refuses it (the relay's ledgered handlers, the relay's gate before them, or the HTTP server for
//! malformed HTTP). After every row has run, the test checks across all of them:
//!
//! - IYS (the sim's request log) received nothing;
//! - the ledger holds exactly one inbound row per ledgered case, with the refusal as its outcome, and
//!   no upstream exchange; the chain still verifies;
//! - no response (headers or body), no ledger row and no line of the wrangler/worker log contains a
//!   relay token, a provider password, the admin secret, the integrator's IYS password or a
//!   recipient used in the cases (a refusal may quote the caller's own input back in
//!   `errors[].value`; that field is left out of the recipient check);
//! - no admin action happened (no provider created, revoked or re-limited);
//! - every answer of the relay carries `x-iys-edge-request-id`, a fresh one each, and a ledgered
//!   refusal's ledger row has that request id.
//!
//! One relay for the whole binary; the cases run in order on one thread.

#[path = "support/worker.rs"]
mod support;

#[path = "support/attack.rs"]
mod attack;

use attack::{case, consent, provider, send, By, Case, Creds, Req};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use support::{Opts, Relay, Resp, ADMIN};

const ADD: &str = "/sps/600001/brands/600001/consents";
const BATCH: &str = "/sps/600001/brands/600001/consents/request";
const STATUS: &str = "/sps/600001/brands/600001/consents/status";
const MULTI: &str = "/sps/600001/brands/600001/consents/BIREYSEL/status/MESAJ";
const OTHER_ADD: &str = "/sps/600100/brands/600100/consents";

/// Valid recipients the cases carry; none may show up where it should not.
const PHONES: [&str; 6] =
    ["+905329870001", "+905329870002", "+905329870003", "+905329870004", "+905329870005", "+905329870006"];
const EMAIL: &str = "saldirgan.alici@example.com";
/// The integrator's IYS password (`Relay::start` passes it as a var).
const IYS_PASSWORD: &str = "integrator-pass";

fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn status_body(recipient: &str, kind: &str) -> String {
    json!({"recipient": recipient, "recipientType": "BIREYSEL", "type": kind}).to_string()
}

fn grant(fields: &[(&str, &str)]) -> String {
    let m: serde_json::Map<String, Value> = fields.iter().map(|(k, v)| ((*k).into(), json!(v))).collect();
    Value::Object(m).to_string()
}

struct World {
    a: Creds,
    b: Creds,
    revoked: Creds,
    expired: Creds,
}

/// Every attack, in order.
#[allow(clippy::too_many_lines)]
fn cases(w: &World) -> Vec<Case> {
    use By::{Gate, Http, Relay};
    let a = w.a.access.as_str();
    let b = w.b.access.as_str();
    let c1 = consent(PHONES[0], "MESAJ").to_string();
    let c2 = consent(PHONES[1], "MESAJ").to_string();
    let email = json!({"recipient": EMAIL, "recipientType": "BIREYSEL", "type": "EPOSTA", "status": "ONAY",
                       "source": "HS_WEB", "consentDate": attack::consent_date(60)})
    .to_string();
    let mut flipped = a.to_string();
    let last = if flipped.ends_with('0') { "1" } else { "0" };
    flipped.replace_range(flipped.len() - 1.., last);
    let truncated = &a[..a.len() - 8];
    let mixed_batch = format!("[{c1},{email}]");
    let big_batch = format!(
        "[{}]",
        (0..1001).map(|i| consent(&format!("+9053298{i:05}"), "MESAJ").to_string()).collect::<Vec<_>>().join(",")
    );
    let many = json!({"recipients": (0..1001).map(|i| format!("+9053297{i:05}")).collect::<Vec<_>>()}).to_string();
    let huge_body = format!("{{\"recipient\": \"{}\"}}", "9".repeat(2 * 1024 * 1024 + 10));
    let long_recipient = consent(&format!("+90{}", "5".repeat(100_000)), "MESAJ").to_string();
    let million = format!("[{}0]", "0,".repeat(999_999));
    let long_key = format!("{{\"{}\": 1, {}", "k".repeat(10_000), &c1[1..]);
    let deep_add = format!("{}{}", "[".repeat(65), "]".repeat(65));
    let deep_batch = "[".repeat(100_000);
    let deep_status = format!("{{\"recipient\": {}1{}}}", "[".repeat(200), "]".repeat(200));
    let deep_multi = format!("{{\"recipients\": {}\"{}\"{}}}", "[".repeat(200), PHONES[2], "]".repeat(200));
    let mut bad_utf8_add = br#"{"recipient": "+90532987"#.to_vec();
    bad_utf8_add.extend_from_slice(b"\xff\xfe");
    bad_utf8_add.extend_from_slice(format!("\", {}", &c1[1..]).as_bytes());
    let mut bad_utf8_batch = format!("[{c1},").into_bytes();
    bad_utf8_batch.extend_from_slice(b"{\"recipient\": \"\xc0\xaf\"}]");
    let mut bad_utf8_status = br#"{"recipient": ""#.to_vec();
    bad_utf8_status.extend_from_slice(b"\xed\xa0\x80\", \"recipientType\": \"BIREYSEL\", \"type\": \"MESAJ\"}");
    let lone_surrogate = consent("\\ud800", "MESAJ").to_string().replace("\\\\ud800", "\\ud800");
    let dup_add = format!("{{\"recipient\": \"{}\", {}", PHONES[3], &c1[1..]);
    let dup_batch = format!("[{{\"type\": \"EPOSTA\", {}]", &c2[1..]);
    // A fresh recipient: IYS answers an unknown recipient's status with 404 H097.
    let dup_status = format!(
        "{{\"recipient\": \"{}\", \"recipientType\": \"BIREYSEL\", \"type\": \"EPOSTA\", \"type\": \"MESAJ\"}}",
        PHONES[4]
    );
    let dup_multi = format!("{{\"recipients\": [\"{}\"], \"recipients\": []}}", PHONES[4]);
    let extra_status = format!("{}, \"extra\": 1}}", status_body(PHONES[4], "MESAJ").trim_end_matches('}'));
    let dup_grant = format!(
        "{{\"grant_type\": \"password\", \"username\": \"{}\", \"password\": \"{}\", \"username\": \"x\"}}",
        w.a.username, w.a.password
    );
    let form = format!("recipient={}&recipientType=BIREYSEL&type=MESAJ&status=ONAY", PHONES[0].replace('+', "%2B"));
    let multipart = format!(
        "--x\r\nContent-Disposition: form-data; name=\"file\"\r\nContent-Type: application/json\r\n\r\n[{c1}]\r\n--x--\r\n"
    );
    let basic_admin = format!("Basic {}", b64(format!("admin:{ADMIN}").as_bytes()));
    let basic_provider = format!("Basic {}", b64(format!("{}:{}", w.a.username, w.a.password).as_bytes()));
    let raw_post = |extra: &str, body: &str| -> Vec<u8> {
        format!(
            "POST {ADD} HTTP/1.1\r\nHost: {{host}}\r\nConnection: close\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    let mut nul_header = raw_post("", &c1);
    let at = nul_header.windows(14).position(|x| x == b"Content-Type: ").unwrap_or(0);
    nul_header.splice(at..at, format!("Authorization: Bearer {a}\0x\r\n").into_bytes());
    let smuggled = format!(
        "POST {OTHER_ADD} HTTP/1.1\r\nHost: {{host}}\r\nConnection: close\r\nAuthorization: Bearer {a}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{c1}",
        c1.len()
    );
    let smuggle = format!(
        "POST {ADD} HTTP/1.1\r\nHost: {{host}}\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"
    );
    let other_status = "/sps/600100/brands/600100/consents/status";

    vec![
        // ---- tokens -------------------------------------------------------------------------
        case("no Authorization header", Req::post(ADD, None, c1.clone()), 401, "auth/missing-token", Relay),
        case(
            "empty bearer",
            Req::post(ADD, None, c1.clone()).header("Authorization", "Bearer "),
            401,
            "auth/missing-token",
            Relay,
        ),
        case(
            "Basic with the provider's password",
            Req::post(ADD, None, c1.clone()).header("Authorization", &basic_provider),
            401,
            "auth/missing-token",
            Relay,
        ),
        case(
            "garbled token",
            Req::post(ADD, Some("iyse_at_!!not-a-token!!"), c1.clone()),
            401,
            "auth/invalid-token",
            Relay,
        ),
        case(
            "token with its last character changed",
            Req::post(ADD, Some(&flipped), c1.clone()),
            401,
            "auth/invalid-token",
            Relay,
        ),
        case("truncated token", Req::post(ADD, Some(truncated), c1.clone()), 401, "auth/invalid-token", Relay),
        case(
            "token with trailing junk",
            Req::post(ADD, Some(&format!("{a} x")), c1.clone()),
            401,
            "auth/invalid-token",
            Relay,
        ),
        case(
            "refresh token used as access token",
            Req::post(ADD, Some(&w.a.refresh), c1.clone()),
            401,
            "auth/invalid-token",
            Relay,
        ),
        case(
            "expired access token",
            Req::post(ADD, Some(&w.expired.access), c1.clone()),
            401,
            "auth/invalid-token",
            Relay,
        ),
        case(
            "revoked provider's token",
            Req::post(ADD, Some(&w.revoked.access), c1.clone()),
            401,
            "auth/invalid-token",
            Relay,
        ),
        case(
            "a valid and a junk Authorization header",
            Req::post(ADD, Some(a), c1.clone()).header("Authorization", "Bearer junk"),
            401,
            "auth/invalid-token",
            Relay,
        ),
        case(
            "token not UTF-8",
            Req::post(ADD, None, c1.clone()).header("Authorization", b"Bearer \xff\xfe\xfd"),
            401,
            "auth/invalid-token",
            Relay,
        ),
        // ---- the token endpoint ---------------------------------------------------------------
        case(
            "wrong password",
            Req::post(
                "/oauth2/token",
                None,
                grant(&[("grant_type", "password"), ("username", &w.a.username), ("password", "wrong-password-123")]),
            ),
            401,
            "auth/bad-credentials",
            Relay,
        ),
        case(
            "revoked provider logs in",
            Req::post(
                "/oauth2/token",
                None,
                grant(&[
                    ("grant_type", "password"),
                    ("username", &w.revoked.username),
                    ("password", &w.revoked.password),
                ]),
            ),
            401,
            "auth/revoked",
            Relay,
        ),
        case(
            "expired refresh token",
            Req::post(
                "/oauth2/token",
                None,
                grant(&[("grant_type", "refresh_token"), ("refresh_token", &w.expired.refresh)]),
            ),
            401,
            "auth/invalid-token",
            Relay,
        ),
        case(
            "access token as refresh token",
            Req::post("/oauth2/token", None, grant(&[("grant_type", "refresh_token"), ("refresh_token", a)])),
            401,
            "auth/invalid-token",
            Relay,
        ),
        case(
            "SQL in the username",
            Req::post(
                "/oauth2/token",
                None,
                grant(&[("grant_type", "password"), ("username", "' OR '1'='1' --"), ("password", "x' OR '1'='1")]),
            ),
            401,
            "auth/bad-credentials",
            Relay,
        ),
        case(
            "token grant as form data",
            Req::post(
                "/oauth2/token",
                None,
                format!("grant_type=password&username={}&password={}", w.a.username, w.a.password),
            )
            .without("Content-Type")
            .header("Content-Type", "application/x-www-form-urlencoded"),
            415,
            "request/unsupported-media-type",
            Relay,
        ),
        case(
            "token body not UTF-8",
            Req::post("/oauth2/token", None, b"{\"grant_type\": \"password\", \"username\": \"\xff\"}".to_vec()),
            400,
            "request/invalid-utf8",
            Relay,
        ),
        // text/plain is a CORS "simple" content type: a cross-site page could post it without a
        // preflight. A valid grant is still refused.
        case(
            "valid grant as text/plain",
            Req::post(
                "/oauth2/token",
                None,
                grant(&[("grant_type", "password"), ("username", &w.a.username), ("password", &w.a.password)]),
            )
            .without("Content-Type")
            .header("Content-Type", "text/plain"),
            415,
            "request/unsupported-media-type",
            Relay,
        ),
        case(
            "duplicate username key (token)",
            Req::post("/oauth2/token", None, dup_grant),
            422,
            "consent/duplicate-field",
            Relay,
        ),
        // ---- scope ----------------------------------------------------------------------------
        case(
            "another provider's iysCode and brand",
            Req::post(OTHER_ADD, Some(a), c1.clone()),
            403,
            "auth/out-of-scope",
            Relay,
        ),
        case(
            "another brand under the own iysCode",
            Req::post("/sps/600001/brands/600002/consents", Some(a), c1.clone()),
            403,
            "auth/out-of-scope",
            Relay,
        ),
        case(
            "a consent type outside the scope",
            Req::post(ADD, Some(a), email.clone()),
            403,
            "auth/out-of-scope",
            Relay,
        ),
        case(
            "a batch with one out-of-scope item",
            Req::post(BATCH, Some(a), mixed_batch),
            403,
            "auth/out-of-scope",
            Relay,
        ),
        case(
            "multi-status on another provider's brand",
            Req::post(
                "/sps/600100/brands/600100/consents/BIREYSEL/status/MESAJ",
                Some(a),
                json!({"recipients": [PHONES[2]]}).to_string(),
            ),
            403,
            "auth/out-of-scope",
            Relay,
        ),
        case(
            "status on another provider's brand",
            Req::post(other_status, Some(a), status_body(PHONES[2], "MESAJ")),
            403,
            "auth/out-of-scope",
            Relay,
        ),
        case(
            "changes of another provider's brand",
            Req::get("/sps/600100/brands/600100/consents/changes?source=IYS", Some(a)),
            403,
            "auth/out-of-scope",
            Relay,
        ),
        case("the other provider on this brand", Req::post(ADD, Some(b), c1.clone()), 403, "auth/out-of-scope", Relay),
        // ---- path tricks ------------------------------------------------------------------------
        case(
            "dot-dot into another iysCode",
            Req::post("/sps/600001/../600100/brands/600100/consents", Some(a), c1.clone()),
            403,
            "auth/out-of-scope",
            Relay,
        ),
        case(
            "%2e%2e into another iysCode",
            Req::post("/sps/600001/%2e%2e/600100/brands/600100/consents", Some(a), c1.clone()),
            403,
            "auth/out-of-scope",
            Relay,
        ),
        case(
            "backslash dot-dot into another iysCode",
            Req::post("/sps/600001/..\\600100/brands/600100/consents", Some(a), c1.clone()),
            403,
            "auth/out-of-scope",
            Relay,
        ),
        case(
            "double slash before sps",
            Req::post("//sps/600001/brands/600001/consents", Some(a), c1.clone()),
            404,
            "request/not-found",
            Gate,
        ),
        case(
            "double slash inside the path",
            Req::post("/sps/600001//brands/600001/consents", Some(a), c1.clone()),
            404,
            "request/not-found",
            Relay,
        ),
        case(
            "encoded slashes in iysCode",
            Req::post("/sps/600100%2Fbrands%2F600100/brands/600001/consents", Some(a), c1.clone()),
            422,
            "request/invalid-path-param",
            Relay,
        ),
        case(
            "encoded dot-dot in brandCode",
            Req::post("/sps/600001/brands/600001%2F..%2F..%2F600100/consents", Some(a), c1.clone()),
            422,
            "request/invalid-path-param",
            Relay,
        ),
        case(
            "encoded slash before consents",
            Req::post("/sps/600001/brands/600001%2Fconsents", Some(a), c1.clone()),
            404,
            "request/not-found",
            Relay,
        ),
        case(
            "leading plus in iysCode",
            Req::post("/sps/+600001/brands/600001/consents", Some(a), c1.clone()),
            422,
            "request/invalid-path-param",
            Relay,
        ),
        case(
            "iysCode beyond u64",
            Req::post("/sps/184467440737095516160/brands/600001/consents", Some(a), c1.clone()),
            422,
            "request/invalid-path-param",
            Relay,
        ),
        case(
            "NUL in brandCode",
            Req::post("/sps/600001/brands/600001%00/consents", Some(a), c1.clone()),
            422,
            "request/invalid-path-param",
            Relay,
        ),
        case(
            "upper-case SPS",
            Req::post("/SPS/600001/brands/600001/consents", Some(a), c1.clone()),
            404,
            "request/not-found",
            Gate,
        ),
        case(
            "dot-dot from sps into admin",
            Req::get("/sps/../admin/providers", Some(a)),
            401,
            "auth/admin-required",
            Relay,
        ),
        case("encoded slash in an admin path", Req::get("/admin%2Fproviders", Some(a)), 404, "request/not-found", Gate),
        // ---- sizes ----------------------------------------------------------------------------
        case("a batch of 1001 consents", Req::post(BATCH, Some(a), big_batch), 422, "batch/too-large", Relay),
        case(
            "multi-status with 1001 recipients",
            Req::post(MULTI, Some(a), many),
            422,
            "consent/recipients-too-many",
            Relay,
        ),
        case("a body over 2 MiB", Req::post(ADD, Some(a), huge_body), 413, "request/body-too-large", Relay),
        case("a 100 kB recipient", Req::post(ADD, Some(a), long_recipient), 422, "recipient/phone-too-long", Relay),
        case("a million-item array", Req::post(BATCH, Some(a), million), 422, "batch/too-large", Relay),
        case("a 10 kB key", Req::post(ADD, Some(a), long_key), 422, "consent/unknown-field", Relay),
        // ---- nesting --------------------------------------------------------------------------
        case("65 levels deep (add)", Req::post(ADD, Some(a), deep_add), 400, "request/json-too-deep", Relay),
        case("100000 levels deep (batch)", Req::post(BATCH, Some(a), deep_batch), 400, "request/json-too-deep", Relay),
        case("200 levels deep (status)", Req::post(STATUS, Some(a), deep_status), 400, "request/json-too-deep", Relay),
        case(
            "200 levels deep (multi-status)",
            Req::post(MULTI, Some(a), deep_multi),
            400,
            "request/json-too-deep",
            Relay,
        ),
        case(
            "not JSON (multi-status)",
            Req::post(MULTI, Some(a), format!("{{\"recipients\": [\"{}\"", PHONES[2])),
            400,
            "request/invalid-json",
            Relay,
        ),
        // ---- encodings ------------------------------------------------------------------------
        case("invalid UTF-8 (add)", Req::post(ADD, Some(a), bad_utf8_add), 400, "request/invalid-utf8", Relay),
        case("overlong UTF-8 (batch)", Req::post(BATCH, Some(a), bad_utf8_batch), 400, "request/invalid-utf8", Relay),
        case(
            "UTF-8-encoded surrogate (status)",
            Req::post(STATUS, Some(a), bad_utf8_status),
            400,
            "request/invalid-utf8",
            Relay,
        ),
        case("lone surrogate escape", Req::post(ADD, Some(a), lone_surrogate), 400, "request/invalid-json", Relay),
        // ---- duplicate keys -------------------------------------------------------------------
        case("duplicate recipient key (add)", Req::post(ADD, Some(a), dup_add), 422, "consent/duplicate-field", Relay),
        case(
            "duplicate type key in a batch item",
            Req::post(BATCH, Some(a), dup_batch),
            422,
            "consent/duplicate-field",
            Relay,
        ),
        // The status routes judged keys by serde_json (last key wins) and relayed the last value.
        case(
            "duplicate type key (status)",
            Req::post(STATUS, Some(a), dup_status),
            422,
            "consent/duplicate-field",
            Relay,
        ),
        case(
            "duplicate recipients key (multi-status)",
            Req::post(MULTI, Some(a), dup_multi),
            422,
            "consent/duplicate-field",
            Relay,
        ),
        case("unknown key (status)", Req::post(STATUS, Some(a), extra_status), 422, "consent/unknown-field", Relay),
        // ---- content types --------------------------------------------------------------------
        // Every body-taking route wants application/json (parameters and any case allowed) and
        // answers anything else 415 before the body is read.
        case(
            "form-encoded consent",
            Req::post(ADD, Some(a), form)
                .without("Content-Type")
                .header("Content-Type", "application/x-www-form-urlencoded"),
            415,
            "request/unsupported-media-type",
            Relay,
        ),
        case(
            "multipart batch",
            Req::post(BATCH, Some(a), multipart)
                .without("Content-Type")
                .header("Content-Type", "multipart/form-data; boundary=x"),
            415,
            "request/unsupported-media-type",
            Relay,
        ),
        // JSON bodies under another content type were relayed to IYS.
        case(
            "text/plain consent",
            Req::post(ADD, Some(a), consent(PHONES[5], "MESAJ").to_string())
                .without("Content-Type")
                .header("Content-Type", "text/plain"),
            415,
            "request/unsupported-media-type",
            Relay,
        ),
        case(
            "text/html status query",
            Req::post(STATUS, Some(a), status_body(PHONES[5], "ARAMA"))
                .without("Content-Type")
                .header("Content-Type", "text/html"),
            415,
            "request/unsupported-media-type",
            Relay,
        ),
        case(
            "text/plain multi-status",
            Req::post(MULTI, Some(a), json!({"recipients": [PHONES[5]]}).to_string())
                .without("Content-Type")
                .header("Content-Type", "text/plain; charset=utf-8"),
            415,
            "request/unsupported-media-type",
            Relay,
        ),
        case(
            "no Content-Type (add)",
            Req::post(ADD, Some(a), consent(PHONES[5], "MESAJ").to_string()).without("Content-Type"),
            415,
            "request/unsupported-media-type",
            Relay,
        ),
        case(
            "application/jsonp batch",
            Req::post(BATCH, Some(a), format!("[{c1}]"))
                .without("Content-Type")
                .header("Content-Type", "application/jsonp"),
            415,
            "request/unsupported-media-type",
            Relay,
        ),
        case(
            "application/json and text/plain headers",
            Req::post(STATUS, Some(a), status_body(PHONES[5], "MESAJ")).header("Content-Type", "text/plain"),
            415,
            "request/unsupported-media-type",
            Relay,
        ),
        // With the admin secret: the admin bodies are read the same way (no provider is created).
        case(
            "admin create as text/plain",
            Req::post(
                "/admin/providers",
                Some(ADMIN),
                json!({"name": "evil", "scopes": [{"iysCode": 600100, "brands": [600100], "types": ["MESAJ"]}]})
                    .to_string(),
            )
            .without("Content-Type")
            .header("Content-Type", "text/plain"),
            415,
            "request/unsupported-media-type",
            Gate,
        ),
        // ---- header injection -----------------------------------------------------------------
        case(
            "token split by an obsolete line fold",
            Req::raw(raw_post(&format!("Authorization: Bearer junk\r\n {a}\r\n"), &c1)),
            400,
            "",
            Http,
        ),
        case("NUL in a header value", Req::raw(nul_header), 400, "", Http),
        case(
            "bare CR smuggling a second header",
            Req::raw(raw_post(&format!("X-Note: a\rAuthorization: Bearer {a}\r\n"), &c1)),
            400,
            "",
            Http,
        ),
        case(
            "space before the colon",
            Req::raw(raw_post(&format!("Authorization : Bearer {a}\r\n"), &c1)),
            400,
            "",
            Http,
        ),
        // The server takes Transfer-Encoding over Content-Length (an empty chunked body) and answers
        // the first request; the rest of the bytes are either dropped with the connection or read as a
        // second, pipelined request, which is then authorised on its own and refused (it varies with
        // timing). Either way no third answer, and a ledger row only for what was answered.
        case(
            "Content-Length with Transfer-Encoding, smuggled request",
            Req::raw(smuggle.into_bytes()),
            401,
            "auth/missing-token",
            Relay,
        )
        .then(403, "auth/out-of-scope"),
        case(
            "CRLF in a request id (response splitting)",
            Req::get("/sps/600001/brands/600001/consents/request/x%0d%0aSet-Cookie:%20a=b", Some(a)),
            422,
            "request/not-found",
            Relay,
        ),
        case(
            "64 kB Authorization header",
            Req::post(ADD, Some(&"A".repeat(65_536)), c1.clone()),
            401,
            "auth/invalid-token",
            Relay,
        ),
        // ---- admin routes ---------------------------------------------------------------------
        case("admin list without a secret", Req::get("/admin/providers", None), 401, "auth/admin-required", Relay),
        case(
            "admin create without a secret",
            Req::post(
                "/admin/providers",
                None,
                json!({"name": "evil", "scopes": [{"iysCode": 600100, "brands": [600100], "types": ["MESAJ"]}]})
                    .to_string(),
            ),
            401,
            "auth/admin-required",
            Relay,
        ),
        case(
            "ledger export with a wrong secret",
            Req::get("/admin/ledger/export?after=0", Some("not-the-admin-secret-0000")),
            401,
            "auth/admin-required",
            Relay,
        ),
        case(
            "revoke with a provider token",
            Req::post(&format!("/admin/providers/{}/revoke", w.b.id), Some(a), ""),
            401,
            "auth/admin-required",
            Relay,
        ),
        case(
            "limits with a provider token",
            Req::new("PUT", &format!("/admin/providers/{}/limits", w.a.id))
                .bearer(b)
                .header("Content-Type", "application/json")
                .body(json!({"rate": 1e9, "burst": 1e9}).to_string()),
            401,
            "auth/admin-required",
            Relay,
        ),
        case(
            "token reset with the secret's first 16 characters",
            Req::post("/admin/iys-token/reset", Some(&ADMIN[..16]), ""),
            401,
            "auth/admin-required",
            Relay,
        ),
        case(
            "admin with Basic admin:secret",
            Req::get("/admin/iys-token", None).header("Authorization", &basic_admin),
            401,
            "auth/admin-required",
            Relay,
        ),
        case(
            "admin secret in another header",
            Req::get("/admin/providers", None).header("X-Admin-Secret", ADMIN),
            401,
            "auth/admin-required",
            Relay,
        ),
        case("pull without a secret", Req::post("/admin/pull", None, ""), 401, "auth/admin-required", Relay),
        // ---- methods --------------------------------------------------------------------------
        case("DELETE on consents", Req::new("DELETE", ADD).bearer(a), 405, "request/method-not-allowed", Relay),
        case(
            "PUT on a batch",
            Req::new("PUT", BATCH).bearer(a).header("Content-Type", "application/json").body(format!("[{c1}]")),
            405,
            "request/method-not-allowed",
            Relay,
        ),
    ]
}

fn first_code(r: &Resp) -> String {
    r.json()["errors"][0]["iysEdgeCode"].as_str().unwrap_or_default().to_string()
}

/// The response text for the recipient check; `errors[].value` (the caller's own input) removed.
fn without_values(r: &Resp) -> String {
    let mut v = r.json();
    if let Some(errs) = v.get_mut("errors").and_then(Value::as_array_mut) {
        for e in errs {
            if let Some(o) = e.as_object_mut() {
                o.remove("value");
            }
        }
        return v.to_string();
    }
    r.body.clone()
}

fn sim_log(r: &Relay) -> Vec<Value> {
    r.sim("GET", "/__sim/requests", None).json().as_array().cloned().unwrap_or_default()
}

fn ledger_after(r: &Relay, seq: i64) -> Vec<Value> {
    let ex = r.admin("GET", &format!("/admin/ledger/export?after={seq}&limit=5000"), None);
    assert_eq!(ex.status, 200, "{}", ex.body);
    ex.body.lines().map(|l| serde_json::from_str(l).unwrap_or(Value::Null)).collect()
}

fn check(name: &str, resp: &Resp, status: u16, code: &str, by: By, wrong: &mut Vec<String>) {
    let got = first_code(resp);
    let ok = resp.status == status && (by == By::Http || (got == code && resp.json()["errors"].is_array()));
    if !ok {
        let snippet: String = resp.body.chars().take(300).collect();
        wrong.push(format!("{name}: expected {status} {code}, got {} {got} {snippet}", resp.status));
    }
}

#[test]
fn attacks_are_refused_with_stable_codes_and_nothing_is_relayed_or_leaked() {
    let r = Relay::start(Opts::default());
    let scope_a = json!([{"iysCode": 600001, "brands": [600001], "types": ["MESAJ", "ARAMA"]}]);
    let a = provider(&r, scope_a.clone(), 1000.0, 1000.0);
    let b = provider(&r, json!([{"iysCode": 600100, "brands": [600100], "types": ["MESAJ"]}]), 1000.0, 1000.0);
    let revoked = provider(&r, scope_a.clone(), 1000.0, 1000.0);
    let mut expired = provider(&r, scope_a, 1000.0, 1000.0);
    assert_eq!(r.admin("POST", &format!("/admin/providers/{}/revoke", revoked.id), None).status, 200);
    // Expire E's refresh token (before any traffic: an outside `d1 execute` locks the local SQLite
    // file). Access tokens are signed, not stored: E's is one correctly signed under the relay's key
    // that expired at 1970-01-01T00:00:01Z.
    r.d1(&format!("UPDATE tokens SET expires_at = 1 WHERE provider_id = '{}'", expired.id));
    expired.access = attack::signed_access_token(ADMIN, &expired.id, 1);

    // Control: the relay does relay an in-scope query, and the sim's log shows it.
    let ok = r.req(
        "POST",
        STATUS,
        &[("Authorization", &format!("Bearer {}", a.access)), ("Content-Type", "application/json")],
        Some(&status_body("+905329870099", "MESAJ")),
    );
    assert!(ok.status < 500 && ok.header("x-iys-edge-request-id").is_some(), "{} {}", ok.status, ok.body);
    // The media type is matched without regard to case, and parameters are allowed.
    let ok = r.req(
        "POST",
        STATUS,
        &[("Authorization", &format!("Bearer {}", a.access)), ("Content-Type", "Application/JSON; Charset=UTF-8")],
        Some(&status_body("+905329870098", "MESAJ")),
    );
    assert!(ok.status < 500 && ok.header("x-iys-edge-request-id").is_some(), "{} {}", ok.status, ok.body);
    let before_sim = sim_log(&r);
    let controls = before_sim.iter().filter(|e| e["route"] == "status").count();
    assert_eq!(controls, 2, "both control queries reached the sim: {before_sim:?}");
    let head = r.admin("GET", "/admin/ledger/verify", None).json();
    assert_eq!(head["ok"], true, "{head}");
    let head_seq = head["headSeq"].as_i64().unwrap_or(0);
    let providers_before = r.admin("GET", "/admin/providers", None).json();

    let w = World { a, b, revoked, expired };
    let table = cases(&w);
    assert!(table.len() >= 40, "{} cases", table.len());
    let mut answers: Vec<(Case, Vec<Resp>)> = Vec::new();
    let mut wrong = Vec::new();
    for c in table {
        let resps = send(&r.base, &c.req)
            .unwrap_or_else(|e| vec![Resp { status: 0, headers: Vec::new(), body: format!("transport error: {e}") }]);
        check(c.name, &resps[0], c.status, c.code, c.by, &mut wrong);
        if resps.len() > 1 + c.more.len() {
            wrong.push(format!("{}: {} answers on the connection, at most {}", c.name, resps.len(), 1 + c.more.len()));
        }
        for (resp, (status, code)) in resps.iter().skip(1).zip(&c.more) {
            check(c.name, resp, *status, code, By::Relay, &mut wrong);
        }
        answers.push((c, resps));
    }
    let n = answers.len();
    eprintln!("{n} attack cases sent");
    assert!(wrong.is_empty(), "{} of {n} cases answered otherwise:\n{}", wrong.len(), wrong.join("\n"));
    for (c, resps) in &answers {
        for resp in resps {
            assert!((400..500).contains(&resp.status), "{}: {}", c.name, resp.status);
            assert!(
                !resp.headers.iter().any(|(k, _)| k == "set-cookie"),
                "{}: an injected header came back: {:?}",
                c.name,
                resp.headers
            );
        }
    }

    // Every answer of the relay carries a request id of its own (the HTTP server's 400s are not
    // the relay's).
    let mut ids = std::collections::BTreeSet::new();
    for (c, resps) in answers.iter().filter(|(c, _)| c.by != By::Http) {
        for resp in resps {
            let id = resp.header("x-iys-edge-request-id").unwrap_or_default();
            assert!(id.len() >= 32 && ids.insert(id.to_string()), "{}: request id {id:?}", c.name);
        }
    }

    // IYS received nothing.
    let after_sim = sim_log(&r);
    let new: Vec<&Value> = after_sim.iter().skip(before_sim.len()).collect();
    assert!(new.is_empty(), "the attacks reached IYS: {new:?}");

    // The ledger: one inbound refusal per ledgered answer, no upstream exchange, the chain intact.
    let ledger = ledger_after(&r, head_seq);
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    for (c, _) in answers.iter().filter(|(c, _)| c.by == By::Relay) {
        *want.entry(format!("{} {}", c.status, c.code)).or_default() += 1;
    }
    for (status, code) in answers.iter().flat_map(|(c, resps)| c.more.iter().take(resps.len() - 1)) {
        *want.entry(format!("{status} {code}")).or_default() += 1;
    }
    let mut got: BTreeMap<String, usize> = BTreeMap::new();
    for row in &ledger {
        assert!(row["kind"].as_str().is_some_and(|k| k.starts_with("inbound:")), "not an inbound refusal: {row}");
        *got.entry(row["outcome"].as_str().unwrap_or_default().to_string()).or_default() += 1;
    }
    assert_eq!(got, want, "ledger outcomes against the table");
    // And row by row: a ledgered answer's request id names its ledger row.
    let by_id: BTreeMap<&str, &str> = ledger
        .iter()
        .map(|row| (row["request_id"].as_str().unwrap_or_default(), row["outcome"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(by_id.len(), ledger.len(), "one ledger row per request id");
    for (c, resps) in answers.iter().filter(|(c, _)| c.by == By::Relay) {
        for (resp, (status, code)) in
            resps.iter().zip(std::iter::once((c.status, c.code)).chain(c.more.iter().copied()))
        {
            let id = resp.header("x-iys-edge-request-id").unwrap_or_default();
            assert_eq!(
                by_id.get(id).copied(),
                Some(format!("{status} {code}").as_str()),
                "{}: ledger row of {id}",
                c.name
            );
        }
    }
    let v = r.admin("GET", "/admin/ledger/verify", None).json();
    assert_eq!(v["ok"], true, "{v}");

    // No admin action took effect.
    let providers_after = r.admin("GET", "/admin/providers", None).json();
    assert_eq!(providers_after, providers_before, "the admin routes changed something");

    // No secret or recipient in any answer, ledger row or log line.
    let mut secrets: Vec<(&str, String)> = vec![("admin secret", ADMIN.into()), ("IYS password", IYS_PASSWORD.into())];
    for (who, c) in [("A", &w.a), ("B", &w.b), ("revoked", &w.revoked), ("expired", &w.expired)] {
        secrets.push((who, c.access.clone()));
        secrets.push((who, c.refresh.clone()));
        secrets.push((who, c.password.clone()));
        // A token's random part alone (a log might drop the prefix).
        secrets.push((who, c.access.trim_start_matches("iyse_at_").to_string()));
    }
    let mut recipients: Vec<String> = PHONES.iter().map(|p| (*p).to_string()).collect();
    recipients.push(EMAIL.into());
    recipients.extend(PHONES.iter().map(|p| p.trim_start_matches('+').to_string()));
    let log = r.log();
    assert!(log.contains("/sps/600001/brands/600001/consents"), "the log has the request lines: {log}");
    let ledger_text = Value::Array(ledger_after(&r, head_seq)).to_string();
    let all = answers.iter().flat_map(|(c, resps)| resps.iter().map(move |x| (c.name, x)));
    for (name, resp) in all {
        let headers = format!("{:?}", resp.headers);
        for (who, s) in &secrets {
            assert!(
                !resp.body.contains(s.as_str()) && !headers.contains(s.as_str()),
                "{name}: {who}'s secret in the answer"
            );
        }
        let text = without_values(resp) + &headers;
        for p in &recipients {
            assert!(!text.contains(p.as_str()), "{name}: recipient {p} in the answer");
        }
    }
    for (who, s) in &secrets {
        assert!(!log.contains(s.as_str()), "{who}'s secret in the wrangler log");
        assert!(!ledger_text.contains(s.as_str()), "{who}'s secret in the ledger");
    }
    for p in &recipients {
        assert!(!log.contains(p.as_str()), "recipient {p} in the wrangler log");
        assert!(!ledger_text.contains(p.as_str()), "recipient {p} in the ledger");
    }
    let by = |b: By| answers.iter().filter(|(c, _)| c.by == b).count();
    eprintln!(
        "{n} cases: {} refused by the relay's handlers (ledgered), {} by its gate, {} by the HTTP server",
        by(By::Relay),
        by(By::Gate),
        by(By::Http)
    );
}
