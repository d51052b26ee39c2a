//! The compact answer the wasm hands to JS: 32-bit words plus one UTF-8 string table.
//!
//! No JSON and no message text cross the boundary. Codes, severities, H-codes and the messages in
//! both languages live in JS tables (`npm/tables.js`, generated from iys-core's code table by
//! `tables.rs`); the wasm writes indexes into them, and the strings it must hand over (wire forms,
//! dates, paths, param names and values) go into one string table that JS decodes once per call.
//!
//! Layout (every item a `u32`; the JS reader is `npm/api.js`):
//!
//! - header, words 0..3: string table address, its length in bytes, the number of words.
//! - *string*: 2 words, start and length in UTF-16 units within the decoded string table.
//! - *diagnostic*: code index (into [`iys_core::Code::ALL`]), path *string*, param count `n`, then
//!   `n` × (name, value *string*), the name as its index + 1 in [`PARAM_NAMES`], or 0 and a *string*.
//! - *diagnostics*: count, then each *diagnostic*, in the core's order (JS splits errors from
//!   warnings by the code's severity).
//! - *recipient answer*: flags (bit 0 ok, bit 1 value present, bit 2 e-mail, bits 4..8 phone type
//!   index + 1 or 0), the wire *string* when a value is present, *diagnostics*.
//! - *consent answer*: flags (bit 0 ok, bit 1 value present), the *consent* when present,
//!   *diagnostics*.
//! - *consent*: a word with recipientType (bits 0..4), type (4..8), status (8..12), source index + 1
//!   or 0 (12..16) as indexes into the core's `ALL` tables, and bit 16 consentDate, bit 17
//!   retailerCode, bit 18 retailerAccess present; the recipient *string*; the consentDate *string*;
//!   retailerCode as high, low word; retailerAccess as a count then high, low words each.
//! - *batch answer*: ok, the batch's *diagnostics*, item count, each item's *consent answer*.

use alloc::string::String;
use alloc::vec::Vec;

use iys_core::consent::{Consent, ConsentType, RecipientType, Source, Status};
use iys_core::recipient::{PhoneType, Recipient};
use iys_core::{Code, Diagnostic, Report};

/// Words before the body: string table address, its byte length, the word count.
pub const HEADER: usize = 3;

/// Phone types in the order of the JS table `PHONE_TYPES`.
pub const PHONE_TYPES: [PhoneType; 10] = [
    PhoneType::Mobile,
    PhoneType::FixedLine,
    PhoneType::TollFree,
    PhoneType::PremiumRate,
    PhoneType::SharedCost,
    PhoneType::Voip,
    PhoneType::PersonalNumber,
    PhoneType::Pager,
    PhoneType::Uan,
    PhoneType::Voicemail,
];

/// The params' names the messages use (every `{name}` of every template; a test checks), in the
/// order of the JS table `PARAM_NAMES`. A name outside it crosses as a string. [`param_index`]
/// finds a name's place (a test checks it against this list).
pub const PARAM_NAMES: [&str; 26] = [
    "char",
    "country",
    "count",
    "cutoff",
    "days",
    "digits",
    "expected",
    "extension",
    "field",
    "first",
    "input",
    "iys_code",
    "kind",
    "label",
    "length",
    "limit",
    "now",
    "number",
    "offset",
    "param",
    "reason",
    "retry_after",
    "scope",
    "type",
    "value",
    "wire",
];

/// The index of `name` in [`PARAM_NAMES`] (a `match`, which compiles to a switch on the length and
/// few compares, where a search would compare against every name before it).
pub(crate) fn param_index(name: &str) -> Option<u32> {
    Some(match name {
        "char" => 0,
        "country" => 1,
        "count" => 2,
        "cutoff" => 3,
        "days" => 4,
        "digits" => 5,
        "expected" => 6,
        "extension" => 7,
        "field" => 8,
        "first" => 9,
        "input" => 10,
        "iys_code" => 11,
        "kind" => 12,
        "label" => 13,
        "length" => 14,
        "limit" => 15,
        "now" => 16,
        "number" => 17,
        "offset" => 18,
        "param" => 19,
        "reason" => 20,
        "retry_after" => 21,
        "scope" => 22,
        "type" => 23,
        "value" => 24,
        "wire" => 25,
        _ => return None,
    })
}

fn index<T: PartialEq>(all: &[T], v: &T) -> u32 {
    all.iter().position(|x| x == v).unwrap_or(0) as u32
}

/// The answer being written.
#[derive(Debug)]
pub struct Out {
    /// The words, header first.
    pub words: Vec<u32>,
    /// The string table.
    pub strings: String,
    /// Length of `strings` in UTF-16 units.
    units: u32,
}

impl Default for Out {
    fn default() -> Self {
        Self::new()
    }
}

impl Out {
    /// An empty answer (header zeroed).
    pub fn new() -> Self {
        let mut words = Vec::with_capacity(64);
        words.extend_from_slice(&[0; HEADER]);
        Out { words, strings: String::new(), units: 0 }
    }

    fn word(&mut self, w: u32) {
        self.words.push(w);
    }

    fn u64(&mut self, n: u64) {
        self.words.push((n >> 32) as u32);
        self.words.push(n as u32);
    }

    /// A *string*.
    pub fn str(&mut self, s: &str) {
        let units = if s.is_ascii() { s.len() } else { s.chars().map(char::len_utf16).sum() } as u32;
        self.words.push(self.units);
        self.words.push(units);
        self.strings.push_str(s);
        self.units += units;
    }

    fn diagnostics(&mut self, all: &[Diagnostic]) {
        self.word(all.len() as u32);
        for d in all {
            self.word(index(Code::ALL, &d.code));
            self.str(&d.path);
            self.word(d.params.len() as u32);
            for (name, value) in &d.params {
                match param_index(name) {
                    Some(i) => self.word(i + 1),
                    None => {
                        self.word(0);
                        self.str(name);
                    }
                }
                self.str(value);
            }
        }
    }

    /// A *recipient answer*.
    pub fn recipient(&mut self, r: &Report<Recipient>) {
        let ok = r.is_ok();
        let value = r.value.as_ref().filter(|_| ok);
        let mut flags = ok as u32;
        if let Some(v) = value {
            flags |= 2;
            match v {
                Recipient::Phone(p) => flags |= (index(&PHONE_TYPES, &p.number_type()) + 1) << 4,
                Recipient::Email(_) => flags |= 4,
            }
        }
        self.word(flags);
        if let Some(v) = value {
            self.str(v.wire());
        }
        self.diagnostics(&r.diagnostics);
    }

    fn consent(&mut self, c: &Consent) {
        let mut w = index(RecipientType::ALL, &c.recipient_type)
            | index(ConsentType::ALL, &c.kind) << 4
            | index(Status::ALL, &c.status) << 8;
        if let Some(s) = &c.source {
            w |= (index(Source::ALL, s) + 1) << 12;
        }
        w |= (c.consent_date.is_some() as u32) << 16
            | (c.retailer_code.is_some() as u32) << 17
            | (c.retailer_access.is_some() as u32) << 18;
        self.word(w);
        self.str(&c.recipient);
        if let Some(d) = &c.consent_date {
            self.str(d);
        }
        if let Some(n) = c.retailer_code {
            self.u64(n);
        }
        if let Some(list) = &c.retailer_access {
            self.word(list.len() as u32);
            for &n in list {
                self.u64(n);
            }
        }
    }

    /// A *consent answer*.
    pub fn consent_answer<T>(&mut self, r: &Report<T>, consent: impl Fn(&T) -> &Consent) {
        let ok = r.is_ok();
        let value = r.value.as_ref().filter(|_| ok);
        self.word(ok as u32 | (value.is_some() as u32) << 1);
        if let Some(v) = value {
            self.consent(consent(v));
        }
        self.diagnostics(&r.diagnostics);
    }

    /// A *batch answer*.
    pub fn batch(&mut self, r: &iys_core::BatchReport) {
        self.word(r.is_ok() as u32);
        self.diagnostics(&r.diagnostics);
        self.word(r.items.len() as u32);
        for item in &r.items {
            self.consent_answer(item, |v| v.consent());
        }
    }
}
