//! # iys-wasm
//!
//! The thin shell that puts [`iys_core`] in JavaScript: the npm package `iys-validate`, built by
//! `cargo xtask npm` (see `npm/README.md` for the JS API).
//!
//! Every export has one shape: a string in (the input, or the payload as JSON text that the JS glue
//! made with `JSON.stringify`), small numbers for the options, the core call, and one JSON string out
//! (the types in [`api`]). So each call crosses the boundary once, a whole batch included, and no
//! serde is compiled in. Expected failures are data in that JSON; nothing here panics or throws on
//! any input. The JS wrapper (`npm/api.js`) turns options into the numbers below and the JSON into
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

pub mod api;
#[cfg(target_arch = "wasm32")]
mod arena;
#[cfg(test)]
mod dts;

use alloc::string::String;

use api::{BatchItem, BatchOutcome, ConsentPayload, Outcome, RecipientValue, WriteJson};
use iys_core::consent::Options;
use iys_core::diagnostic::Lang;
use iys_core::recipient::Mode;
use iys_core::time::{BusinessDays, LocalDateTime};
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
/// `flags` bit: messages in English (otherwise Turkish).
pub const FLAG_EN: u32 = 2;
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

fn lang(flags: u32) -> Lang {
    if flags & FLAG_EN != 0 {
        Lang::En
    } else {
        Lang::Tr
    }
}

/// Core options from the flags, the window length and "now" (Unix seconds; NaN reads as 0, and
/// out-of-range values saturate: the JS wrapper has already refused both).
pub fn options(flags: u32, days: u32, now: f64) -> Options {
    let window =
        (flags & FLAG_WINDOW != 0).then_some(BusinessDays { days, count_holidays: flags & FLAG_HOLIDAYS != 0 });
    Options { mode: mode(flags), now: now as i64, window }
}

fn to_json(v: &impl WriteJson) -> String {
    let mut out = String::with_capacity(256);
    v.write_json(&mut out);
    out
}

/// One recipient (phone number or e-mail address) → `Outcome<RecipientValue>` as JSON.
#[wasm_bindgen]
pub fn recipient(input: &str, flags: u32) -> String {
    let r = iys_core::validate_recipient(input, mode(flags));
    let value = r.value.as_ref().map(RecipientValue::of);
    to_json(&Outcome::of(&r, value, lang(flags)))
}

/// One consent as JSON text → `Outcome<ConsentPayload>` as JSON.
#[wasm_bindgen]
pub fn consent(json: &str, flags: u32, days: u32, now: f64) -> String {
    let r = iys_core::validate_consent(json, &options(flags, days, now));
    let value = r.value.as_ref().map(|v| ConsentPayload::of(v.consent()));
    to_json(&Outcome::of(&r, value, lang(flags)))
}

/// A batch (a JSON array of consents) as JSON text → `BatchOutcome` as JSON.
#[wasm_bindgen]
pub fn batch(json: &str, flags: u32, days: u32, now: f64) -> String {
    let r = iys_core::validate_batch(json, &options(flags, days, now));
    let lang = lang(flags);
    let items = r
        .items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let o = Outcome::of(item, item.value.as_ref().map(|v| ConsentPayload::of(v.consent())), lang);
            BatchItem { index, ok: o.ok, value: o.value, errors: o.errors, warnings: o.warnings }
        })
        .collect();
    let outcome = BatchOutcome {
        ok: r.is_ok(),
        errors: api::Diagnostic::split(&r.diagnostics, lang, true),
        warnings: api::Diagnostic::split(&r.diagnostics, lang, false),
        items,
    };
    to_json(&outcome)
}

/// A Turkish wall-clock time (`YYYY-MM-DD HH:mm:ss`, Europe/Istanbul) → Unix seconds, or NaN when
/// it is not one (bad format, not a real date, a skipped clock hour).
#[wasm_bindgen]
pub fn local_to_unix(s: &str) -> f64 {
    match LocalDateTime::parse(s).ok().and_then(LocalDateTime::to_unix) {
        Some(t) => t as f64,
        None => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> serde_json::Value {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
    }

    #[test]
    fn recipient_answers_are_json_of_the_declared_shape() {
        let ok = parse(&recipient("+905321234567", 0));
        assert_eq!(ok["ok"], true);
        assert_eq!(ok["value"]["kind"], "phone");
        assert_eq!(ok["value"]["wire"], "+905321234567");
        let bad = parse(&recipient("", FLAG_EN));
        assert_eq!(bad["ok"], false);
        assert!(bad.get("value").is_none());
        let e = &bad["errors"][0];
        assert_eq!(e["code"], "recipient/empty");
        assert_eq!(e["iysCode"], "H114");
        assert_eq!(e["severity"], "error");
        assert_eq!(e["path"], "");
        assert_eq!(e["message"], "The recipient is empty.");
        assert!(e["params"].is_object());
        assert_eq!(parse(&recipient("", 0))["errors"][0]["message"], "Alıcı boş.");
    }

    #[test]
    fn strings_are_escaped() {
        let d = iys_core::Diagnostic::new(iys_core::Code::PhoneLetters, "/a\"b").with("input", "x\"\\\n\u{1}");
        let mut out = String::new();
        api::Diagnostic::of(&d, Lang::En).write_json(&mut out);
        let v = parse(&out);
        assert_eq!(v["path"], "/a\"b");
        assert_eq!(v["params"]["input"], "x\"\\\n\u{1}");
    }

    #[test]
    fn consent_and_batch_always_answer_json() {
        for input in ["", "{", "[]", "{}", "[{}]", "null", "\"x\"", "[1,2]", "{\"a\":1,\"a\":2}"] {
            let c = parse(&consent(input, 0, 3, 1.8e9));
            assert!(c["ok"].is_boolean() && c["errors"].is_array() && c["warnings"].is_array(), "{input}: {c}");
            let b = parse(&batch(input, FLAG_WINDOW | FLAG_HOLIDAYS, 3, f64::NAN));
            assert!(b["ok"].is_boolean() && b["items"].is_array(), "{input}: {b}");
        }
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
