//! # iys-wasm
//!
//! The thin shell that puts [`iys_core`] in JavaScript: the npm package `iys-validate`, built by
//! `cargo xtask npm` (see `npm/README.md` for the JS API).
//!
//! Every export has one shape: the input as UTF-8 bytes that the JS glue wrote into wasm memory
//! (the recipient, or the payload as JSON text), small numbers for the options, the core call, and
//! a compact answer of 32-bit words and one string table ([`encode`]), decoded in JS. So each call
//! crosses the boundary once, a whole batch included; no serde, no JSON writer and no message text
//! are compiled in (the messages live in the JS tables generated from iys-core's code table, see
//! `tables.rs`). Expected failures are data in that answer; nothing here panics or throws on any
//! input. The JS wrapper (`npm/api.js`) turns options into the numbers below and the answer into
//! objects, and throws only for misuse.
//!
//! **Invariant:** this crate validates nothing itself; every rule lives in `iys-core`.
//!
//! The wasm build is `no_std` (iys-core needs only `alloc`), with a panic handler that just traps:
//! std's handler formats every panic message, which keeps `core::fmt`, `Debug` and Unicode tables in
//! the module. A panic is a bug, never an input; it traps either way. Build this crate on its own
//! (`-p iys-wasm`, as `cargo xtask npm` does): a dependency that brings std along, such as iys-core's
//! default `serde` feature, would clash with this panic handler.

#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

#[cfg(test)]
pub mod api;
#[cfg(target_arch = "wasm32")]
mod arena;
#[cfg(test)]
mod dts;
pub mod encode;
#[cfg(target_arch = "wasm32")]
mod io;
#[cfg(test)]
mod tables;

/// Generated files kept in the repository (`types/index.d.ts`, `npm/tables.js`): the test fails when
/// `rel`'s committed text differs from `want`; with `IYS_BLESS` set it rewrites the file instead.
#[cfg(test)]
fn assert_fresh(rel: &str, want: &str, test: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    if std::env::var_os("IYS_BLESS").is_some() {
        std::fs::write(&path, want).unwrap_or_else(|e| panic!("write {rel}: {e}"));
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "crates/iys-wasm/{rel} is stale: run `IYS_BLESS=1 cargo test -p iys-wasm {test}` and commit it"
    );
}

use encode::Out;
use iys_core::consent::Options;
use iys_core::recipient::Mode;
use iys_core::time::{BusinessDays, LocalDateTime};
use iys_core::{BatchReport, Code, Diagnostic, Report};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen::prelude::wasm_bindgen;

// Nothing outlives a call, so a bump arena that empties between calls is enough (see arena.rs).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: arena::Arena = arena::Arena::new();

#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// `flags` bit: normalise human-written recipients (otherwise strict wire form, as IYS judges).
pub const FLAG_NORMALIZE: u32 = 1;
// (Bit 2 once chose English messages; the JS tables hold the messages now.)
/// `flags` bit: apply the business-day window to `consentDate`.
pub const FLAG_WINDOW: u32 = 4;
/// `flags` bit: Turkish public holidays are not business days (weekends never are).
pub const FLAG_HOLIDAYS: u32 = 8;

fn mode(flags: u32) -> Mode {
    if flags & FLAG_NORMALIZE != 0 {
        Mode::Normalize
    } else {
        Mode::Strict
    }
}

/// Core options from the flags, the window length and "now" (Unix seconds; NaN reads as 0, and
/// out-of-range values saturate: the JS wrapper has already refused both).
pub fn options(flags: u32, days: u32, now: f64) -> Options {
    let window =
        (flags & FLAG_WINDOW != 0).then_some(BusinessDays { days, count_holidays: flags & FLAG_HOLIDAYS != 0 });
    Options { mode: mode(flags), now: now as i64, window }
}

fn not_utf8() -> Diagnostic {
    Diagnostic::new(Code::InvalidUtf8, "")
}

/// One recipient (phone number or e-mail address) → a recipient answer.
pub fn recipient(input: &[u8], flags: u32) -> Out {
    let r = match utf8(input) {
        Some(s) => iys_core::validate_recipient(s, mode(flags)),
        None => Report::from_parts(None, alloc::vec![not_utf8()]),
    };
    let mut out = Out::new();
    out.recipient(&r);
    #[cfg(target_arch = "wasm32")]
    core::mem::forget(r); // (see `batch`)
    out
}

/// The input as text, or `None` when it is not UTF-8. What the JS glue writes (`encodeInto`) always
/// is; ASCII, the common case, is recognised by a short loop, so the first call does not make V8
/// compile `core::str::from_utf8` (each wasm function is compiled on its first call).
#[allow(unsafe_code)]
fn utf8(bytes: &[u8]) -> Option<&str> {
    if bytes.is_ascii() {
        // SAFETY: every ASCII byte sequence is valid UTF-8.
        return Some(unsafe { core::str::from_utf8_unchecked(bytes) });
    }
    core::str::from_utf8(bytes).ok()
}

/// One consent as JSON text → a consent answer.
pub fn consent(json: &[u8], flags: u32, days: u32, now: f64) -> Out {
    let r = match utf8(json) {
        Some(s) => iys_core::validate_consent(s, &options(flags, days, now)),
        None => Report::from_parts(None, alloc::vec![not_utf8()]),
    };
    let mut out = Out::new();
    out.consent_answer(&r, |v| v.consent());
    #[cfg(target_arch = "wasm32")]
    core::mem::forget(r); // (see `batch`)
    out
}

/// A batch (a JSON array of consents) as JSON text → a batch answer.
pub fn batch(json: &[u8], flags: u32, days: u32, now: f64) -> Out {
    let r = match utf8(json) {
        Some(s) => iys_core::validate_batch(s, &options(flags, days, now)),
        None => BatchReport { diagnostics: alloc::vec![not_utf8()], items: alloc::vec::Vec::new() },
    };
    let mut out = Out::new();
    out.batch(&r);
    // Dropping the report would walk every item to free its strings, one by one; in the wasm the
    // arena frees them all at once at the next call (natively, as in tests, it is dropped).
    #[cfg(target_arch = "wasm32")]
    core::mem::forget(r);
    out
}

/// A Turkish wall-clock time (`YYYY-MM-DD HH:mm:ss`, Europe/Istanbul) → Unix seconds, or NaN when
/// it is not one (bad format, not a real date, a skipped clock hour).
pub fn local_to_unix(s: &[u8]) -> f64 {
    match core::str::from_utf8(s).ok().and_then(|s| LocalDateTime::parse(s).ok()).and_then(LocalDateTime::to_unix) {
        Some(t) => t as f64,
        None => f64::NAN,
    }
}

/// The exports, as the JS glue calls them (see `io.rs` for the protocol).
#[cfg(target_arch = "wasm32")]
mod exports {
    use super::*;

    /// A buffer for the next input of up to `capacity` bytes (0 when memory cannot grow).
    #[wasm_bindgen]
    pub fn input(capacity: usize) -> usize {
        io::input(capacity)
    }

    /// [`super::recipient`] on the first `len` input bytes; returns the answer's address.
    #[wasm_bindgen]
    pub fn recipient(len: usize, flags: u32) -> usize {
        io::finish(super::recipient(io::bytes(len), flags))
    }

    /// [`super::consent`] on the first `len` input bytes; returns the answer's address.
    #[wasm_bindgen]
    pub fn consent(len: usize, flags: u32, days: u32, now: f64) -> usize {
        io::finish(super::consent(io::bytes(len), flags, days, now))
    }

    /// [`super::batch`] on the first `len` input bytes; returns the answer's address.
    #[wasm_bindgen]
    pub fn batch(len: usize, flags: u32, days: u32, now: f64) -> usize {
        io::finish(super::batch(io::bytes(len), flags, days, now))
    }

    /// [`super::local_to_unix`] on the first `len` input bytes.
    #[wasm_bindgen]
    pub fn local_to_unix(len: usize) -> f64 {
        super::local_to_unix(io::bytes(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iys_core::consent::{ConsentType, RecipientType, Source, Status};
    use iys_core::Lang;
    use serde_json::{json, Map, Value};

    /// Reads an answer back the way `npm/api.js` does (messages from the core's templates).
    struct Reader {
        w: Vec<u32>,
        s: Vec<u16>,
        at: usize,
        lang: Lang,
    }

    impl Reader {
        fn new(out: &Out, lang: Lang) -> Reader {
            Reader { w: out.words.clone(), s: out.strings.encode_utf16().collect(), at: encode::HEADER, lang }
        }
        fn word(&mut self) -> u32 {
            self.at += 1;
            self.w[self.at - 1]
        }
        fn u64(&mut self) -> u64 {
            let hi = self.word() as u64;
            hi << 32 | self.word() as u64
        }
        fn str(&mut self) -> String {
            let (start, len) = (self.word() as usize, self.word() as usize);
            String::from_utf16(&self.s[start..start + len]).expect("utf-16")
        }
        fn diagnostics(&mut self) -> (Vec<Value>, Vec<Value>) {
            let (mut errors, mut warnings) = (Vec::new(), Vec::new());
            for _ in 0..self.word() {
                let code = Code::ALL[self.word() as usize];
                let mut d = Diagnostic::new(code, self.str());
                for _ in 0..self.word() {
                    let name: &'static str = match self.word() {
                        0 => Box::leak(self.str().into_boxed_str()),
                        i => encode::PARAM_NAMES[i as usize - 1],
                    };
                    d = d.with(name, self.str());
                }
                let params: Map<String, Value> = d.params.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
                let v = json!({
                    "code": code.as_str(), "iysCode": code.iys_code(), "severity": code.severity().as_str(),
                    "path": d.path, "message": d.message(self.lang), "params": params,
                });
                if d.is_error() {
                    errors.push(v)
                } else {
                    warnings.push(v)
                }
            }
            (errors, warnings)
        }
        fn outcome(&mut self, value: Option<Value>, ok: bool) -> Value {
            let (errors, warnings) = self.diagnostics();
            let mut o = json!({ "ok": ok, "errors": errors, "warnings": warnings });
            if let Some(v) = value {
                o["value"] = v;
            }
            o
        }
        fn recipient(&mut self) -> Value {
            let flags = self.word();
            let value = (flags & 2 != 0).then(|| {
                let mut v = json!({ "kind": if flags & 4 != 0 { "email" } else { "phone" }, "wire": self.str() });
                if flags >> 4 != 0 {
                    v["phoneType"] = json!(encode::PHONE_TYPES[(flags >> 4) as usize - 1].as_str());
                }
                v
            });
            self.outcome(value, flags & 1 != 0)
        }
        fn consent(&mut self) -> Value {
            let flags = self.word();
            let value = (flags & 2 != 0).then(|| {
                let w = self.word();
                let mut v = json!({
                    "recipient": self.str(),
                    "recipientType": RecipientType::ALL[(w & 15) as usize].as_str(),
                    "type": ConsentType::ALL[(w >> 4 & 15) as usize].as_str(),
                    "status": Status::ALL[(w >> 8 & 15) as usize].as_str(),
                });
                if w >> 12 & 15 != 0 {
                    v["source"] = json!(Source::ALL[(w >> 12 & 15) as usize - 1].as_str());
                }
                if w & 1 << 16 != 0 {
                    v["consentDate"] = json!(self.str());
                }
                if w & 1 << 17 != 0 {
                    v["retailerCode"] = json!(self.u64());
                }
                if w & 1 << 18 != 0 {
                    let n = self.word();
                    v["retailerAccess"] = json!((0..n).map(|_| self.u64()).collect::<Vec<_>>());
                }
                v
            });
            self.outcome(value, flags & 1 != 0)
        }
        fn batch(&mut self) -> Value {
            let ok = self.word() != 0;
            let (errors, warnings) = self.diagnostics();
            let items: Vec<Value> = (0..self.word()).map(|_| self.consent()).collect();
            json!({ "ok": ok, "errors": errors, "warnings": warnings, "items": items })
        }
        fn done(&self) {
            assert_eq!(self.at, self.w.len(), "trailing words");
        }
    }

    fn read(out: Out, lang: Lang, f: impl FnOnce(&mut Reader) -> Value) -> Value {
        let mut r = Reader::new(&out, lang);
        let v = f(&mut r);
        r.done();
        v
    }

    #[test]
    fn recipient_answers_decode_to_the_declared_shape() {
        let ok = read(recipient(b"+905321234567", 0), Lang::Tr, Reader::recipient);
        assert_eq!(ok["ok"], true);
        assert_eq!(ok["value"], json!({ "kind": "phone", "wire": "+905321234567", "phoneType": "mobile" }));
        let bad = read(recipient(b"", 0), Lang::En, Reader::recipient);
        assert_eq!(bad["ok"], false);
        assert!(bad.get("value").is_none());
        let e = &bad["errors"][0];
        assert_eq!(e["code"], "recipient/empty");
        assert_eq!(e["iysCode"], "H114");
        assert_eq!(e["message"], "The recipient is empty.");
        let mail = read(recipient("ali@example.com".as_bytes(), 0), Lang::Tr, Reader::recipient);
        assert_eq!(mail["value"], json!({ "kind": "email", "wire": "ali@example.com" }));
    }

    #[test]
    fn strings_keep_their_utf16_offsets() {
        // Non-ASCII strings in the table move every later offset: the char, then the path after it.
        let r = read(recipient("ayşe@örnek.com".as_bytes(), FLAG_NORMALIZE), Lang::En, Reader::recipient);
        assert_eq!(r["ok"], false);
        assert_eq!(r["errors"][0]["code"], "recipient/email-non-ascii");
        assert_eq!(r["errors"][0]["params"]["char"], "ş, ö", "{r}");
        let b = read(
            batch(
                r#"[{"recipient":"😀ş@x.com","recipientType":"TACIR","type":"EPOSTA","status":"ONAY"},1]"#.as_bytes(),
                0,
                3,
                0.0,
            ),
            Lang::En,
            Reader::batch,
        );
        assert_eq!(b["items"][1]["errors"][0]["path"], "/1", "{b}");
        let mut out = Out::new();
        out.str("a😀ş\"\n");
        out.str("tail");
        let mut reader = Reader::new(&out, Lang::En);
        assert_eq!(reader.str(), "a😀ş\"\n");
        assert_eq!(reader.str(), "tail");
    }

    #[test]
    fn consents_round_trip_every_field() {
        let json = br#"{"recipient":"+905321234567","recipientType":"BIREYSEL","type":"MESAJ","status":"ONAY",
            "source":"HS_WEB","consentDate":"2025-11-18 10:00:00","retailerCode":9007199254740993,"retailerAccess":[1,4294967297]}"#;
        let v = read(consent(json, 0, 3, 1_763_553_600.0), Lang::Tr, Reader::consent);
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(v["value"]["source"], "HS_WEB");
        assert_eq!(v["value"]["consentDate"], "2025-11-18 10:00:00");
        assert_eq!(v["value"]["retailerCode"], json!(9_007_199_254_740_993u64));
        assert_eq!(v["value"]["retailerAccess"], json!([1, 4_294_967_297u64]));
    }

    #[test]
    fn consent_and_batch_always_answer() {
        for input in ["", "{", "[]", "{}", "[{}]", "null", "\"x\"", "[1,2]", "{\"a\":1,\"a\":2}"] {
            let c = read(consent(input.as_bytes(), 0, 3, 1.8e9), Lang::En, Reader::consent);
            assert!(c["ok"].is_boolean() && c["errors"].is_array() && c["warnings"].is_array(), "{input}: {c}");
            let b = read(batch(input.as_bytes(), FLAG_WINDOW | FLAG_HOLIDAYS, 3, f64::NAN), Lang::Tr, Reader::batch);
            assert!(b["ok"].is_boolean() && b["items"].is_array(), "{input}: {b}");
        }
        let b = read(batch(b"\xff", 0, 3, 0.0), Lang::En, Reader::batch);
        assert_eq!(b["errors"][0]["code"], "request/invalid-utf8");
        let r = read(recipient(b"\xff", 0), Lang::En, Reader::recipient);
        assert_eq!(r["errors"][0]["code"], "request/invalid-utf8");
        assert!(local_to_unix(b"\xff").is_nan());
        assert_eq!(local_to_unix(b"2025-11-19 12:00:00"), 1_763_542_800.0);
    }

    #[test]
    fn options_map_flags() {
        let o = options(FLAG_NORMALIZE | FLAG_WINDOW, 5, 1.5e9);
        assert_eq!(o.mode, Mode::Normalize);
        assert_eq!(o.now, 1_500_000_000);
        assert_eq!(o.window, Some(BusinessDays { days: 5, count_holidays: false }));
        assert_eq!(options(0, 3, f64::NAN).window, None);
        assert_eq!(options(0, 3, f64::NAN).now, 0);
    }
}
