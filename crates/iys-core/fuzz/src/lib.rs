//! Shared input decoding and invariant checks for the iys-core fuzz targets.
//!
//! Each check panics (which libFuzzer reports as a crash) when iys-core panics or when one of the
//! invariants below does not hold. The checks are plain functions so an input can also be replayed by
//! hand: `cargo fuzz run <target> <file>`.
//!
//! # Input format
//!
//! - `recipient`: the bytes, as UTF-8 (other inputs are skipped), judged in both modes.
//! - `consent_json`, `batch_json`: a 5-byte options header, then the JSON text (UTF-8; other inputs are
//!   skipped). The header:
//!   - byte 0, flags: bit 0 = [`Mode::Normalize`] (else Strict); bit 1 = no business-day window;
//!     bit 2 = public holidays not counted; bits 3–5 = index into [`WINDOW_DAYS`]; bits 6–7 unused.
//!   - bytes 1..5: "now" as a little-endian `i32` offset in seconds from [`BASE_NOW`]
//!     (2025-03-12 15:00:00 in Turkey, the fixture corpus's default), so "now" covers 1957–2093,
//!     Turkey's clock changes included.
//!
//!   `cargo xtask fuzz` writes the fixture corpus's cases with this header (`crates/xtask/src/fuzz.rs`
//!   encodes it the same way).

use std::collections::HashSet;

use iys_core::batch::{validate_batch, validate_batch_value, MAX_BATCH};
use iys_core::consent::{validate_consent, validate_consent_value, Options};
use iys_core::diagnostic::{Code, Diagnostic, Lang, Report};
use iys_core::json::{self, Value};
use iys_core::recipient::{guess_kind, validate_recipient, Mode, Recipient};
use iys_core::time::BusinessDays;

/// 2025-03-12 15:00:00 in Turkey (UTC+3), as Unix seconds.
pub const BASE_NOW: i64 = 1_741_780_800;

/// Business-day windows a header can pick (index in flag bits 3–5); IYS's rule is 3.
pub const WINDOW_DAYS: [u32; 8] = [3, 0, 1, 2, 4, 5, 10, 30];

/// Length of the options header of `consent_json` and `batch_json` inputs.
pub const HEADER_LEN: usize = 5;

/// Decodes the options header.
pub fn options(header: [u8; HEADER_LEN]) -> Options {
    let [flags, a, b, c, d] = header;
    let mode = if flags & 1 != 0 { Mode::Normalize } else { Mode::Strict };
    let days = WINDOW_DAYS[usize::from((flags >> 3) & 7)];
    let window = (flags & 2 == 0).then_some(BusinessDays { days, count_holidays: flags & 4 == 0 });
    let now = BASE_NOW + i64::from(i32::from_le_bytes([a, b, c, d]));
    Options { mode, now, window }
}

/// Splits a `consent_json` / `batch_json` input into options and UTF-8 text.
pub fn split(data: &[u8]) -> Option<(Options, &str)> {
    let (header, text) = data.split_first_chunk::<HEADER_LEN>()?;
    Some((options(*header), std::str::from_utf8(text).ok()?))
}

/// Invariants of every report: diagnostics render in both languages without panicking, and a report
/// with no value says why (at least one error).
fn check_report<T>(report: &Report<T>, what: &str, input: &str) {
    for d in &report.diagnostics {
        check_diagnostic(d, input);
    }
    if report.value.is_none() {
        assert!(
            report.diagnostics.iter().any(Diagnostic::is_error),
            "{what}: no value but no error either: {:?} for {input:?}",
            report.diagnostics
        );
    }
}

fn check_diagnostic(d: &Diagnostic, input: &str) {
    assert!(d.path.is_empty() || d.path.starts_with('/'), "path {:?} is not a JSON Pointer for {input:?}", d.path);
    let tr = d.message(Lang::Tr);
    let en = d.message(Lang::En);
    assert!(!tr.is_empty() && !en.is_empty(), "empty message for {d:?}");
    assert_eq!(d.code.as_str().parse::<Code>().ok(), Some(d.code), "code does not round-trip: {d:?}");
}

/// `recipient`: any string, both modes.
///
/// - validation is deterministic and never panics; every report passes [`check_report`]; paths are `""`;
/// - a value's kind is the kind the input looks like ([`guess_kind`]);
/// - Strict accepts only the wire form itself, and then Normalize gives the same value;
/// - a normalised recipient's wire form passes Strict (with the same value) and normalises to itself.
pub fn check_recipient(input: &str) {
    let strict = validate_recipient(input, Mode::Strict);
    let normal = validate_recipient(input, Mode::Normalize);
    assert_eq!(strict, validate_recipient(input, Mode::Strict), "Strict not deterministic for {input:?}");
    assert_eq!(normal, validate_recipient(input, Mode::Normalize), "Normalize not deterministic for {input:?}");
    for (mode, report) in [("Strict", &strict), ("Normalize", &normal)] {
        check_report(report, mode, input);
        for d in &report.diagnostics {
            assert_eq!(d.path, "", "{mode}: recipient diagnostic with a path for {input:?}: {d:?}");
        }
        if let Some(r) = &report.value {
            assert_eq!(r.kind(), guess_kind(input), "{mode}: kind of {input:?} became {r:?}");
        }
    }
    if let Some(r) = &strict.value {
        assert_eq!(r.wire(), input, "Strict accepted {input:?}, which is not its wire form {:?}", r.wire());
        assert_eq!(normal.value.as_ref(), Some(r), "Strict accepts {input:?} but Normalize disagrees: {normal:?}");
    }
    if let Some(r) = &normal.value {
        check_wire(r, input);
        let again = validate_recipient(r.wire(), Mode::Normalize);
        assert_eq!(again.value.as_ref(), Some(r), "normalising the wire form of {input:?} changed it: {again:?}");
    }
}

/// A recipient's wire form passes Strict and parses back to the same recipient.
fn check_wire(r: &Recipient, input: &str) {
    let strict = validate_recipient(r.wire(), Mode::Strict);
    assert!(strict.is_ok(), "wire form {:?} of {input:?} fails Strict: {:?}", r.wire(), strict.diagnostics);
    assert_eq!(strict.value.as_ref(), Some(r), "wire form {:?} of {input:?} reads back differently", r.wire());
}

/// The same options in another mode.
fn with_mode(opts: &Options, mode: Mode) -> Options {
    Options { mode, ..*opts }
}

/// `consent_json`: any text as one consent.
///
/// - validation is deterministic, agrees with parse-then-[`validate_consent_value`], and every report
///   passes [`check_report`]; text that does not parse gives exactly the reader's diagnostic;
/// - the JSON reader's output writes back to text that reads back to the same value;
/// - a valid consent's recipient is in wire form (and passes Strict); the consent's own wire JSON
///   passes Strict with the same options and gives the same consent;
/// - what Strict accepts, Normalize accepts as the same consent.
pub fn check_consent(opts: &Options, text: &str) {
    let report = validate_consent(text, opts);
    assert_eq!(report, validate_consent(text, opts), "validate_consent not deterministic for {text:?}");
    check_report(&report, "consent", text);
    match json::parse(text) {
        Ok(value) => {
            check_json_round_trip(&value, text);
            assert_eq!(report, validate_consent_value(&value, opts), "text and value disagree for {text:?}");
        }
        Err(d) => {
            assert!(report.value.is_none() && report.diagnostics == [d], "unparsable {text:?} gave {report:?}");
            return;
        }
    }
    let Some(valid) = &report.value else { return };
    let consent = valid.consent();
    assert_eq!(consent.recipient, valid.recipient().wire(), "consent recipient not in wire form for {text:?}");
    check_wire(valid.recipient(), text);
    let wire_json = consent.to_json();
    let strict = validate_consent(&wire_json, &with_mode(opts, Mode::Strict));
    assert!(strict.is_ok(), "wire JSON {wire_json} of {text:?} fails Strict: {:?}", strict.diagnostics);
    assert_eq!(
        strict.value.as_ref().map(|v| v.consent()),
        Some(consent),
        "wire JSON {wire_json} reads back differently"
    );
    if opts.mode == Mode::Strict {
        let normal = validate_consent(text, &with_mode(opts, Mode::Normalize));
        assert_eq!(
            normal.value.as_ref().map(|v| v.consent()),
            Some(consent),
            "Strict accepts {text:?} but Normalize gives {normal:?}"
        );
    }
}

/// `json::parse(v.to_json()) == v`.
fn check_json_round_trip(value: &Value, text: &str) {
    let written = value.to_json();
    match json::parse(&written) {
        Ok(back) => assert_eq!(&back, value, "{text:?} → {written:?} reads back differently"),
        Err(d) => panic!("{text:?} → {written:?}, which the reader refuses: {d:?}"),
    }
}

/// `batch_json`: any text as a batch.
///
/// - validation is deterministic, agrees with parse-then-[`validate_batch_value`]; every item report
///   passes [`check_report`]; text that does not parse gives exactly the reader's diagnostic;
/// - batch-level diagnostics have path `""`: `batch/not-array` exactly when the value is not an array,
///   `batch/empty` and `batch/too-large` exactly when the array is empty or over [`MAX_BATCH`];
/// - one item report per element, its paths under `/{i}`; a valid item is the consent that element
///   gives on its own, with its recipient in wire form; no two valid items share
///   (recipientType, type, recipient).
pub fn check_batch(opts: &Options, text: &str) {
    let report = validate_batch(text, opts);
    assert_eq!(report, validate_batch(text, opts), "validate_batch not deterministic for {text:?}");
    for d in &report.diagnostics {
        check_diagnostic(d, text);
    }
    let value = match json::parse(text) {
        Ok(value) => value,
        Err(d) => {
            assert!(report.items.is_empty() && report.diagnostics == [d], "unparsable {text:?} gave {report:?}");
            return;
        }
    };
    assert_eq!(report, validate_batch_value(&value, opts), "text and value disagree for {text:?}");
    let codes: Vec<Code> = report.diagnostics.iter().map(|d| d.code).collect();
    assert!(report.diagnostics.iter().all(|d| d.path.is_empty()), "batch-level path in {report:?}");
    let Value::Array(list) = &value else {
        assert_eq!(codes, [Code::BatchNotArray], "not an array: {text:?}");
        assert!(report.items.is_empty());
        return;
    };
    let expected: &[Code] = if list.is_empty() {
        &[Code::BatchEmpty]
    } else if list.len() > MAX_BATCH {
        &[Code::BatchTooLarge]
    } else {
        &[]
    };
    assert_eq!(codes, expected, "batch-level diagnostics for {} items", list.len());
    assert_eq!(report.items.len(), list.len(), "one report per item for {text:?}");
    let mut keys = HashSet::new();
    for (i, (item, element)) in report.items.iter().zip(list).enumerate() {
        check_report(item, "batch item", text);
        let prefix = format!("/{i}");
        for d in &item.diagnostics {
            let rest = d.path.strip_prefix(&prefix);
            assert!(
                rest.is_some_and(|r| r.is_empty() || r.starts_with('/')),
                "item {i} diagnostic outside {prefix}: {d:?} in {text:?}"
            );
        }
        let Some(valid) = &item.value else { continue };
        let alone = validate_consent_value(element, opts);
        assert_eq!(alone.value.as_ref(), Some(valid), "item {i} is valid in the batch but not alone: {alone:?}");
        let c = valid.consent();
        assert_eq!(c.recipient, valid.recipient().wire(), "item {i}: recipient not in wire form");
        let key = (c.recipient_type.as_str(), c.kind.as_str(), c.recipient.clone());
        assert!(keys.insert(key), "item {i} duplicates an earlier valid item in {text:?}");
    }
}
