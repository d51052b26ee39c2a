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

use crate::consent::{
    examine, judge, not_object, read_fields, Clock, ConsentType, Examined, Fields, Options, RecipientType, ValidConsent,
};
use crate::diagnostic::{Code, Diagnostic, Report};
use crate::json::{Reader, Value};
use crate::recipient::Recipient;

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
        return match r.value::<false>(0).and_then(|_| r.end()) {
            Ok(()) => not_array(),
            Err(d) => BatchReport { diagnostics: vec![d], items: Vec::new() },
        };
    }
    let clock = Clock::new(opts);
    // Room for the items a text of this length likely holds (a consent takes 150-250 bytes), so the
    // list is seldom moved while it grows.
    let mut items = Items::with_capacity((json.len() / 128).min(MAX_BATCH + 1));
    let read = (|| {
        if !r.open(0, b']')? {
            loop {
                let base = items.next_path();
                // One call of `push` for both kinds of item (less code).
                let examined = if r.peek() == Some(b'{') {
                    let mut fields = Fields::new();
                    read_fields(&mut r, 1, &mut fields)?;
                    judge(&mut fields, opts, &clock, true, base)
                } else {
                    r.value::<false>(1)?;
                    not_object(base)
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
        Ok(()) => items.finish(),
        Err(d) => BatchReport { diagnostics: vec![d], items: Vec::new() },
    }
}

/// Validates a batch given as a parsed JSON value.
pub fn validate_batch_value(value: &Value, opts: &Options) -> BatchReport {
    let Value::Array(list) = value else {
        return not_array();
    };
    let clock = Clock::new(opts);
    let mut items = Items::with_capacity(list.len());
    for item in list {
        let examined = examine(item, opts, &clock, true, items.next_path());
        items.push(examined);
    }
    items.finish()
}

fn not_array() -> BatchReport {
    BatchReport { diagnostics: vec![Diagnostic::new(Code::BatchNotArray, "")], items: Vec::new() }
}

/// The items of a batch as they are judged: their reports, and beside them what finding duplicates
/// needs (recipientType and type when the key is known, and the recipient when the report has none).
/// Duplicates are found as items arrive, while their reports are at hand.
struct Items {
    reports: Vec<Report<ValidConsent>>,
    keys: Vec<Option<(RecipientType, ConsentType, Option<Recipient>)>>,
    /// An open-addressing hash table of item indices (`usize::MAX` for a free slot) beside the low
    /// bits of their key's hash (so most other keys are told apart without reading them), a power
    /// of two long and at most half full, probed in item order: each key's first occurrence is the
    /// one stored.
    table: Vec<(usize, u32)>,
    /// How many indices `table` holds.
    stored: usize,
    /// The JSON Pointer of the next item, `/{i}` (its diagnostics' paths start with it).
    path: String,
}

impl Items {
    fn with_capacity(n: usize) -> Self {
        Items {
            reports: Vec::with_capacity(n),
            keys: Vec::with_capacity(n),
            table: vec![FREE; (2 * n).next_power_of_two().max(2)],
            stored: 0,
            path: String::from("/0"),
        }
    }

    /// The path of the item about to be pushed.
    fn next_path(&self) -> &str {
        &self.path
    }

    /// Adds the next item; when an earlier one has the same key, its report gets `batch/duplicate`
    /// (after its own diagnostics) and loses its value.
    fn push(&mut self, examined: Examined) {
        let Examined { mut report, key, recipient } = examined;
        let i = self.reports.len();
        let wire = match (&recipient, &report.value) {
            (Some(r), _) => Some(r.wire_bytes()),
            (None, Some(v)) => Some(v.recipient().wire_bytes()),
            (None, None) => None,
        };
        if let (Some((rt, kind)), Some(wire)) = (key, wire) {
            if let Some(first) = self.first_of(i, (rt, kind, wire)) {
                let d = Diagnostic::new(Code::BatchDuplicate, self.path.as_str()).with_number("first", first as u64);
                report.diagnostics.push(d);
                report.value = None;
            }
        }
        self.keys.push(key.map(|(rt, kind)| (rt, kind, recipient)));
        self.reports.push(report);
        advance(&mut self.path);
    }

    /// Item `i`'s key: (recipientType, type, recipient in wire form).
    fn key(&self, i: usize) -> Option<(RecipientType, ConsentType, &[u8])> {
        let (rt, kind, spare) = self.keys.get(i)?.as_ref()?;
        let recipient = match spare {
            Some(r) => r,
            None => self.reports.get(i)?.value.as_ref()?.recipient(),
        };
        Some((*rt, *kind, recipient.wire_bytes()))
    }

    /// The index of the first earlier item with item `i`'s `key`; `None` (and `i` stored) when it is
    /// the first.
    fn first_of(&mut self, i: usize, key: (RecipientType, ConsentType, &[u8])) -> Option<usize> {
        if 2 * (self.stored + 1) > self.table.len() {
            self.grow();
        }
        let mask = self.table.len() - 1;
        let h = hash(key);
        let tag = h as u32;
        let mut at = (h >> (64 - self.table.len().trailing_zeros())) as usize;
        loop {
            let (slot, slot_tag) = *self.table.get(at)?;
            if slot == usize::MAX {
                if let Some(s) = self.table.get_mut(at) {
                    *s = (i, tag);
                }
                self.stored += 1;
                return None;
            }
            if slot_tag == tag && self.key(slot) == Some(key) {
                return Some(slot);
            }
            at = (at + 1) & mask;
        }
    }

    /// Doubles the table, placing every stored index anew.
    fn grow(&mut self) {
        let size = 2 * self.table.len();
        let shift = 64 - size.trailing_zeros();
        let mut table = vec![FREE; size];
        for &(i, _) in self.table.iter().filter(|(i, _)| *i != usize::MAX) {
            let Some(key) = self.key(i) else { continue };
            let h = hash(key);
            let mut at = (h >> shift) as usize;
            while let Some(slot) = table.get_mut(at) {
                if slot.0 == usize::MAX {
                    *slot = (i, h as u32);
                    break;
                }
                at = (at + 1) & (size - 1);
            }
        }
        self.table = table;
    }

    /// The batch report: batch-level problems and the items' reports.
    fn finish(self) -> BatchReport {
        let mut diagnostics = Vec::new();
        let n = self.reports.len();
        if n == 0 {
            diagnostics.push(Diagnostic::new(Code::BatchEmpty, ""));
        } else if n > MAX_BATCH {
            diagnostics.push(Diagnostic::new(Code::BatchTooLarge, "").with_number("count", n as u64));
        }
        BatchReport { diagnostics, items: self.reports }
    }
}

/// A free slot of [`Items`]'s table.
const FREE: (usize, u32) = (usize::MAX, 0);

/// `/{i}` → `/{i + 1}`, in place.
fn advance(path: &mut String) {
    let mut nines = 0;
    while path.ends_with('9') {
        path.pop();
        nines += 1;
    }
    match path.pop() {
        Some(d @ '0'..='8') => path.push(char::from(d as u8 + 1)),
        Some(other) => {
            // The `/` before all nines: one digit more.
            path.push(other);
            path.push('1');
        }
        None => path.push('1'),
    }
    for _ in 0..nines {
        path.push('0');
    }
}

/// A multiplicative hash of the key, eight bytes at a time; the table uses its high bits.
fn hash((rt, kind, wire): (RecipientType, ConsentType, &[u8])) -> u64 {
    let mix = |h: u64, word: u64| (h.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    let mut h = (rt as u64) << 8 | kind as u64;
    let mut rest = wire;
    while let Some((word, tail)) = rest.split_first_chunk::<8>() {
        h = mix(h, u64::from_le_bytes(*word));
        rest = tail;
    }
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        for (w, b) in word.iter_mut().zip(rest) {
            *w = *b;
        }
        h = mix(h, u64::from_le_bytes(word));
    }
    h
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
    fn duplicates_survive_the_table_growing() {
        // Items pushed into a table that starts at two slots: the same report as with room for all.
        let o = Options { mode: Mode::Normalize, ..Options::new(NOW) };
        let list: Vec<String> = (0..700)
            .map(|i| match i % 3 {
                0 => item(&format!("+9053212{:05}", i % 97), "ARAMA", "TACIR"),
                1 => item(&format!("0532 12{:05}", i % 89), "ARAMA", "TACIR"),
                _ => item(&format!("a{}@example.com", i % 13), "EPOSTA", "BIREYSEL"),
            })
            .collect();
        let value = crate::json::parse(&format!("[{}]", list.join(","))).expect("json");
        let Value::Array(values) = &value else { panic!("array") };
        let clock = Clock::new(&o);
        let mut items = Items::with_capacity(0);
        for v in values {
            let examined = examine(v, &o, &clock, true, items.next_path());
            items.push(examined);
        }
        let grown = items.finish();
        let roomy = validate_batch_value(&value, &o);
        assert_eq!(grown, roomy);
        assert!(grown.items.iter().filter(|r| r.diagnostics.iter().any(|d| d.code == C::BatchDuplicate)).count() > 400);
    }

    #[test]
    fn item_paths_count_up() {
        let mut path = String::from("/0");
        for i in 1..=10_001u64 {
            advance(&mut path);
            assert_eq!(path, format!("/{i}"));
        }
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
