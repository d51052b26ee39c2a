//! Batches: 1..1000 consents, no duplicate (recipientType, type, recipient), a report per item.
//!
//! # Decisions
//!
//! - **Over 1000 items** is `batch/too-large` (param `count`) on the batch, and every item is still
//!   validated and reported, so a UI can show all problems at once. The batch is not ok either way.
//! - **Duplicates** are keyed by (recipientType, type, recipient in wire form): in
//!   [`Mode::Normalize`](crate::recipient::Mode) `0532 123 45 67` and `+905321234567` are the same
//!   recipient. E-mail addresses are compared exactly as written (IYS's case rule is unknown,
//!   iys-api.md OQ-4). The later item gets `batch/duplicate` at `/{i}` with `first`, the index of the
//!   first occurrence, after its own diagnostics. An item whose other fields are wrong still takes
//!   part, as long as those three are valid.
//! - Item paths are prefixed with `/{i}`; batch-level paths are `""`.
//!
//! ```
//! use iys_core::batch::validate_batch;
//! use iys_core::consent::Options;
//! let item = r#"{"recipient":"+905321234567","recipientType":"TACIR","type":"ARAMA","status":"ONAY"}"#;
//! let r = validate_batch(&format!("[{item},{item}]"), &Options::new(1_741_780_800));
//! assert!(r.items[0].is_ok());
//! assert_eq!(r.items[1].diagnostics[0].code.as_str(), "batch/duplicate");
//! assert_eq!(r.items[1].diagnostics[0].path, "/1");
//! assert_eq!(r.items[1].diagnostics[0].param("first"), Some("0"));
//! ```

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::consent::{examine, judge, read_fields, Clock, ConsentType, Examined, Options, RecipientType, ValidConsent};
use crate::diagnostic::{Code, Diagnostic, Report};
use crate::json::{write_u64, Reader, Value};

/// Most consents IYS takes in one request (H125).
pub const MAX_BATCH: usize = 1000;

/// The outcome of a batch: problems with the batch as a whole, and one report per item, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchReport {
    /// Batch-level problems (not an array, empty, too large). Paths are `""`.
    pub diagnostics: Vec<Diagnostic>,
    /// One report per item, index = position; item paths are prefixed with `/{index}`.
    pub items: Vec<Report<ValidConsent>>,
}

impl BatchReport {
    /// True when the batch itself is fine and every item is valid.
    pub fn is_ok(&self) -> bool {
        self.diagnostics.iter().all(|d| !d.is_error()) && self.items.iter().all(Report::is_ok)
    }
}

/// Validates a batch given as JSON text (a bare array, as IYS expects).
///
/// Reads the items straight from the text (see [`crate::consent::validate_consent`]); the answer is the
/// same as [`validate_batch_value`] on [`crate::json::parse`]'s value.
pub fn validate_batch(json: &str, opts: &Options) -> BatchReport {
    let mut r = Reader::new(json);
    r.skip_ws();
    if r.peek() != Some(b'[') {
        return match r.value(0, false).and_then(|_| r.end()) {
            Ok(()) => not_array(),
            Err(d) => BatchReport { diagnostics: vec![d], items: Vec::new() },
        };
    }
    let clock = Clock::new(opts);
    let mut items = Vec::new();
    let read = (|| {
        if !r.open(0, b']')? {
            loop {
                let examined = if r.peek() == Some(b'{') {
                    judge(read_fields(&mut r, 1)?, opts, &clock, true)
                } else {
                    r.value(1, false)?;
                    examine(&Value::Null, opts, &clock, true)
                };
                items.push(examined);
                if !r.next(b']')? {
                    break;
                }
            }
        }
        r.end()
    })();
    match read {
        Ok(()) => finish(items),
        Err(d) => BatchReport { diagnostics: vec![d], items: Vec::new() },
    }
}

/// Validates a batch given as a parsed JSON value.
pub fn validate_batch_value(value: &Value, opts: &Options) -> BatchReport {
    let Value::Array(list) = value else {
        return not_array();
    };
    let clock = Clock::new(opts);
    finish(list.iter().map(|item| examine(item, opts, &clock, true)).collect())
}

fn not_array() -> BatchReport {
    BatchReport { diagnostics: vec![Diagnostic::new(Code::BatchNotArray, "")], items: Vec::new() }
}

/// The batch report from its examined items: batch-level problems, item paths, duplicates.
fn finish(list: Vec<Examined>) -> BatchReport {
    let mut diagnostics = Vec::new();
    if list.is_empty() {
        diagnostics.push(Diagnostic::new(Code::BatchEmpty, ""));
    } else if list.len() > MAX_BATCH {
        diagnostics.push(Diagnostic::new(Code::BatchTooLarge, "").with_number("count", list.len() as u64));
    }
    let firsts = first_occurrences(&list);
    let items = list
        .into_iter()
        .zip(firsts)
        .enumerate()
        .map(|(i, (examined, first))| {
            let Report { value, mut diagnostics } = examined.report;
            if !diagnostics.is_empty() || first.is_some() {
                let prefix = item_path(i);
                for d in &mut diagnostics {
                    d.path.insert_str(0, &prefix);
                }
                if let Some(first) = first {
                    diagnostics.push(Diagnostic::new(Code::BatchDuplicate, prefix).with_number("first", first as u64));
                }
            }
            Report::from_parts(value, diagnostics)
        })
        .collect();
    BatchReport { diagnostics, items }
}

/// For each item, the index of the first earlier item with the same key, if any. An open-addressing
/// hash table of item indices, probed in item order, so each key's first occurrence is the one stored.
fn first_occurrences(list: &[Examined]) -> Vec<Option<usize>> {
    let mut firsts = vec![None; list.len()];
    let size = (2 * list.len()).next_power_of_two().max(2);
    let mut table: Vec<usize> = vec![usize::MAX; size];
    for (i, item) in list.iter().enumerate() {
        let Some(key) = item.key() else { continue };
        let mut at = hash(&key) as usize & (size - 1);
        while let Some(slot) = table.get_mut(at) {
            if *slot == usize::MAX {
                *slot = i;
                break;
            }
            if list.get(*slot).and_then(Examined::key) == Some(key) {
                if let Some(f) = firsts.get_mut(i) {
                    *f = Some(*slot);
                }
                break;
            }
            at = (at + 1) & (size - 1);
        }
    }
    firsts
}

/// FNV-1a over the key.
fn hash(key: &(RecipientType, ConsentType, &str)) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in [key.0 as u8, key.1 as u8].into_iter().chain(key.2.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The JSON Pointer of item `i`: `/{i}`.
fn item_path(i: usize) -> String {
    let mut path = String::from("/");
    write_u64(&mut path, i as u64);
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Code as C;
    use crate::recipient::Mode;

    const NOW: i64 = 1_741_780_800; // 2025-03-12 15:00:00 in Turkey

    fn item(recipient: &str, kind: &str, rt: &str) -> String {
        format!(r#"{{"recipient":"{recipient}","recipientType":"{rt}","type":"{kind}","status":"ONAY"}}"#)
    }

    /// Validates `json`; asserts batch-level codes and the flattened (code, path) list of the items.
    fn check(json: &str, opts: &Options, batch: &[Code], expect: &[(Code, &str)]) -> BatchReport {
        let r = validate_batch(json, opts);
        let got_batch: Vec<Code> = r.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(got_batch, batch, "{json}");
        let got: Vec<(Code, &str)> =
            r.items.iter().flat_map(|i| i.diagnostics.iter()).map(|d| (d.code, d.path.as_str())).collect();
        assert_eq!(got, expect, "{json}");
        assert_eq!(
            r.is_ok(),
            batch.is_empty() && expect.iter().all(|(c, _)| !c.severity().eq(&crate::Severity::Error))
        );
        r
    }

    #[test]
    fn shape() {
        let o = Options::new(NOW);
        check("{}", &o, &[C::BatchNotArray], &[]);
        check(r#"{"consents":[]}"#, &o, &[C::BatchNotArray], &[]);
        check("[]", &o, &[C::BatchEmpty], &[]);
        check("[1", &o, &[C::InvalidJson], &[]);
        let one = item("+905321234567", "ARAMA", "TACIR");
        let r = check(&format!("[{one}]"), &o, &[], &[]);
        assert_eq!(r.items.len(), 1);
        check(&format!("[{one}, 1, []]"), &o, &[], &[(C::ConsentNotObject, "/1"), (C::ConsentNotObject, "/2")]);
        check(
            &format!("[{one}, {{\"type\":\"ARAMA\"}}]"),
            &o,
            &[],
            &[
                (C::RecipientMissing, "/1/recipient"),
                (C::RecipientTypeMissing, "/1/recipientType"),
                (C::StatusMissing, "/1/status"),
            ],
        );
    }

    #[test]
    fn too_large_is_reported_and_items_still_checked() {
        let o = Options::new(NOW);
        let items: Vec<String> =
            (0..=MAX_BATCH).map(|i| item(&format!("+9053212{:05}", i), "ARAMA", "TACIR")).collect();
        let r = check(&format!("[{}]", items.join(",")), &o, &[C::BatchTooLarge], &[]);
        assert_eq!(r.diagnostics[0].param("count"), Some("1001"));
        assert_eq!(r.items.len(), 1001);
        assert!(r.items.iter().all(Report::is_ok));
        let exactly: Vec<String> = items.into_iter().take(MAX_BATCH).collect();
        check(&format!("[{}]", exactly.join(",")), &o, &[], &[]);
    }

    #[test]
    fn duplicates_by_type_recipient_type_and_wire_recipient() {
        let o = Options::new(NOW);
        let a = item("+905321234567", "ARAMA", "TACIR");
        let r = check(
            &format!(
                "[{a},{},{},{a},{}]",
                item("+905321234567", "MESAJ", "TACIR"),
                item("+905321234567", "ARAMA", "BIREYSEL"),
                item("+905321234567", "MESAJ", "TACIR")
            ),
            &o,
            &[],
            &[
                (C::SourceMissing, "/2/source"),
                (C::DateMissing, "/2/consentDate"),
                (C::BatchDuplicate, "/3"),
                (C::BatchDuplicate, "/4"),
            ],
        );
        assert_eq!(r.items[3].diagnostics[0].param("first"), Some("0"));
        assert_eq!(r.items[4].diagnostics[0].param("first"), Some("1"));
        assert!(r.items[0].is_ok() && r.items[1].is_ok());
        assert!(r.items[3].value.is_none());

        // In Normalize mode the recipient is compared in wire form.
        let n = Options { mode: Mode::Normalize, ..o };
        let b = item("0532 123 45 67", "ARAMA", "TACIR");
        check(&format!("[{a},{b}]"), &n, &[], &[(C::RecipientNormalized, "/1/recipient"), (C::BatchDuplicate, "/1")]);
        // An item with another error still counts as a duplicate.
        let bad = r#"{"recipient":"+905321234567","recipientType":"TACIR","type":"ARAMA","status":"RED"}"#;
        check(&format!("[{a},{bad}]"), &o, &[], &[(C::InvalidStatus, "/1/status"), (C::BatchDuplicate, "/1")]);
        // E-mails are compared as written.
        let m1 = item("ali@example.com", "EPOSTA", "TACIR");
        let m2 = item("Ali@example.com", "EPOSTA", "TACIR");
        check(&format!("[{m1},{m2},{m1}]"), &o, &[], &[(C::BatchDuplicate, "/2")]);
    }
}
