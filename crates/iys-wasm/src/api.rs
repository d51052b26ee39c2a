//! The shapes that cross the JS boundary, as Rust types.
//!
//! These types are the schema of the npm package: the writer below turns them into the JSON the JS
//! glue parses, and (host-side, in tests) `ts-rs` turns them into `types/index.d.ts`. Field names are
//! camelCase on the JS side. Optional fields are omitted, never `null` (except `iysCode`, which is
//! always present so that a missing H-code is visible).

use alloc::string::String;
use alloc::vec::Vec;

use iys_core::consent::Consent;
use iys_core::diagnostic::Lang;
use iys_core::json::{write_str, write_u64};
use iys_core::recipient::Recipient;

/// Appends the JSON form of a value.
pub trait WriteJson {
    /// Appends `self` as JSON to `out`.
    fn write_json(&self, out: &mut String);
}

/// Writes `{"k":v,...}` from a list of already-written members.
struct Obj<'o> {
    out: &'o mut String,
    first: bool,
}

impl<'o> Obj<'o> {
    fn new(out: &'o mut String) -> Self {
        out.push('{');
        Obj { out, first: true }
    }
    fn key(&mut self, k: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        write_str(self.out, k);
        self.out.push(':');
        self.out
    }
    fn str(&mut self, k: &str, v: &str) {
        let out = self.key(k);
        write_str(out, v);
    }
    fn raw(&mut self, k: &str, v: &str) {
        self.key(k).push_str(v);
    }
    fn val(&mut self, k: &str, v: &impl WriteJson) {
        let out = self.key(k);
        v.write_json(out);
    }
    fn end(self) {
        self.out.push('}');
    }
}

impl<T: WriteJson> WriteJson for [T] {
    fn write_json(&self, out: &mut String) {
        out.push('[');
        for (i, v) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            v.write_json(out);
        }
        out.push(']');
    }
}

impl<T: WriteJson> WriteJson for Vec<T> {
    fn write_json(&self, out: &mut String) {
        self.as_slice().write_json(out);
    }
}

/// One problem found in the input: a stable code, where, and a message in the chosen language.
#[derive(Debug)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(rename_all = "camelCase"))]
pub struct Diagnostic<'a> {
    /// The permanent machine code (`area/reason`); switch on this, never on `message`.
    #[cfg_attr(test, ts(type = "Code"))]
    pub code: &'static str,
    /// The H-code IYS itself answers for the same problem, or `null` when IYS has none.
    #[cfg_attr(test, ts(type = "IysCode | null"))]
    pub iys_code: Option<&'static str>,
    /// `"error"` rejects the value; a `"warning"` never does.
    #[cfg_attr(test, ts(type = "Severity"))]
    pub severity: &'static str,
    /// Where: a JSON Pointer into the input (`""` for the whole input, `/3/recipient` in a batch).
    pub path: &'a str,
    /// Human text in the chosen language (`tr` or `en`), built from `code` and `params`.
    pub message: String,
    /// The named values the message uses (e.g. `wire`, `field`, `count`), all strings.
    #[cfg_attr(test, ts(type = "Record<string, string>"))]
    pub params: &'a [(&'static str, String)],
}

impl<'a> Diagnostic<'a> {
    /// A core diagnostic, with its message in `lang`.
    pub fn of(d: &'a iys_core::Diagnostic, lang: Lang) -> Self {
        Diagnostic {
            code: d.code.as_str(),
            iys_code: d.code.iys_code(),
            severity: d.code.severity().as_str(),
            path: &d.path,
            message: d.message(lang),
            params: &d.params,
        }
    }

    /// The errors (`errors == true`) or the warnings of `all`, in order.
    pub fn split(all: &'a [iys_core::Diagnostic], lang: Lang, errors: bool) -> Vec<Self> {
        all.iter().filter(|d| d.is_error() == errors).map(|d| Diagnostic::of(d, lang)).collect()
    }
}

impl WriteJson for Diagnostic<'_> {
    fn write_json(&self, out: &mut String) {
        let mut o = Obj::new(out);
        o.str("code", self.code);
        match self.iys_code {
            Some(h) => o.str("iysCode", h),
            None => o.raw("iysCode", "null"),
        }
        o.str("severity", self.severity);
        o.str("path", self.path);
        o.str("message", &self.message);
        let out = o.key("params");
        out.push('{');
        for (i, (k, v)) in self.params.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_str(out, k);
            out.push(':');
            write_str(out, v);
        }
        out.push('}');
        o.end();
    }
}

/// A recipient in the exact form IYS accepts.
#[derive(Debug)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(rename_all = "camelCase"))]
pub struct RecipientValue<'a> {
    /// `"phone"` or `"email"`.
    #[cfg_attr(test, ts(type = "RecipientKind"))]
    pub kind: &'static str,
    /// The wire form: `+905321234567` or the e-mail address.
    pub wire: &'a str,
    /// For a phone number: its type in Turkey's numbering plan (`mobile`, `fixed-line`, …).
    #[cfg_attr(test, ts(optional, type = "PhoneType"))]
    pub phone_type: Option<&'static str>,
}

impl<'a> RecipientValue<'a> {
    /// The JS view of a parsed recipient.
    pub fn of(r: &'a Recipient) -> Self {
        let phone_type = match r {
            Recipient::Phone(p) => Some(p.number_type().as_str()),
            Recipient::Email(_) => None,
        };
        RecipientValue { kind: r.kind().as_str(), wire: r.wire(), phone_type }
    }
}

impl WriteJson for RecipientValue<'_> {
    fn write_json(&self, out: &mut String) {
        let mut o = Obj::new(out);
        o.str("kind", self.kind);
        o.str("wire", self.wire);
        if let Some(t) = self.phone_type {
            o.str("phoneType", t);
        }
        o.end();
    }
}

/// A consent exactly as IYS's JSON carries it, with the recipient in wire form.
#[derive(Debug)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(rename_all = "camelCase"))]
pub struct ConsentPayload<'a> {
    /// `+905321234567` or an e-mail address.
    pub recipient: &'a str,
    /// `BIREYSEL` or `TACIR`.
    #[cfg_attr(test, ts(type = "RecipientType"))]
    pub recipient_type: &'static str,
    /// `ARAMA`, `MESAJ` or `EPOSTA`.
    #[cfg_attr(test, ts(rename = "type", type = "ConsentType"))]
    pub kind: &'static str,
    /// `ONAY` or `RET`.
    #[cfg_attr(test, ts(type = "Status"))]
    pub status: &'static str,
    /// One of the 13 `HS_*` sources (optional for a new TACIR record).
    #[cfg_attr(test, ts(optional, type = "Source"))]
    pub source: Option<&'static str>,
    /// `YYYY-MM-DD HH:mm:ss`, Turkey time (optional for a new TACIR record).
    #[cfg_attr(test, ts(optional))]
    pub consent_date: Option<&'a str>,
    /// The retailer that obtained the consent.
    #[cfg_attr(test, ts(optional, type = "number"))]
    pub retailer_code: Option<u64>,
    /// Retailers allowed to use the consent.
    #[cfg_attr(test, ts(optional, type = "number[]"))]
    pub retailer_access: Option<&'a [u64]>,
}

impl<'a> ConsentPayload<'a> {
    /// The JS view of a wire consent.
    pub fn of(c: &'a Consent) -> Self {
        ConsentPayload {
            recipient: &c.recipient,
            recipient_type: c.recipient_type.as_str(),
            kind: c.kind.as_str(),
            status: c.status.as_str(),
            source: c.source.map(|s| s.as_str()),
            consent_date: c.consent_date.as_deref(),
            retailer_code: c.retailer_code,
            retailer_access: c.retailer_access.as_deref(),
        }
    }
}

impl WriteJson for ConsentPayload<'_> {
    fn write_json(&self, out: &mut String) {
        let mut o = Obj::new(out);
        o.str("recipient", self.recipient);
        o.str("recipientType", self.recipient_type);
        o.str("type", self.kind);
        o.str("status", self.status);
        if let Some(s) = self.source {
            o.str("source", s);
        }
        if let Some(d) = self.consent_date {
            o.str("consentDate", d);
        }
        if let Some(n) = self.retailer_code {
            write_u64(o.key("retailerCode"), n);
        }
        if let Some(list) = self.retailer_access {
            let out = o.key("retailerAccess");
            out.push('[');
            for (i, &n) in list.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_u64(out, n);
            }
            out.push(']');
        }
        o.end();
    }
}

/// The answer for one value: `ok` with the normalised `value`, or not `ok` with its `errors`.
/// `warnings` never make a value invalid (e.g. `recipient/normalized`).
#[derive(Debug)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(rename_all = "camelCase"))]
pub struct Outcome<'a, T> {
    /// True when there is a value and no error.
    pub ok: bool,
    /// The parsed, normalised value; present exactly when `ok`.
    #[cfg_attr(test, ts(optional))]
    pub value: Option<T>,
    /// Every error, in the order found; empty exactly when `ok`.
    pub errors: Vec<Diagnostic<'a>>,
    /// Warnings, in the order found.
    pub warnings: Vec<Diagnostic<'a>>,
}

impl<'a, T> Outcome<'a, T> {
    /// The outcome of a core report, `value` already converted.
    pub fn of<U>(r: &'a iys_core::Report<U>, value: Option<T>, lang: Lang) -> Self {
        let ok = r.is_ok();
        Outcome {
            ok,
            value: if ok { value } else { None },
            errors: Diagnostic::split(&r.diagnostics, lang, true),
            warnings: Diagnostic::split(&r.diagnostics, lang, false),
        }
    }
}

impl<T: WriteJson> WriteJson for Outcome<'_, T> {
    fn write_json(&self, out: &mut String) {
        let mut o = Obj::new(out);
        o.raw("ok", if self.ok { "true" } else { "false" });
        if let Some(v) = &self.value {
            o.val("value", v);
        }
        o.val("errors", &self.errors);
        o.val("warnings", &self.warnings);
        o.end();
    }
}

/// One item of a batch: its `index` in the input array, then the same fields as an `Outcome`.
#[derive(Debug)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(rename_all = "camelCase"))]
pub struct BatchItem<'a> {
    /// Position in the input array (paths in `errors` start with `/{index}`).
    #[cfg_attr(test, ts(type = "number"))]
    pub index: usize,
    /// True when this consent is valid.
    pub ok: bool,
    /// The consent in wire form; present exactly when `ok`.
    #[cfg_attr(test, ts(optional))]
    pub value: Option<ConsentPayload<'a>>,
    /// This item's errors.
    pub errors: Vec<Diagnostic<'a>>,
    /// This item's warnings.
    pub warnings: Vec<Diagnostic<'a>>,
}

impl WriteJson for BatchItem<'_> {
    fn write_json(&self, out: &mut String) {
        let mut o = Obj::new(out);
        write_u64(o.key("index"), self.index as u64);
        o.raw("ok", if self.ok { "true" } else { "false" });
        if let Some(v) = &self.value {
            o.val("value", v);
        }
        o.val("errors", &self.errors);
        o.val("warnings", &self.warnings);
        o.end();
    }
}

/// The answer for a batch: problems with the batch as a whole, then one item per input element.
#[derive(Debug)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(rename_all = "camelCase"))]
pub struct BatchOutcome<'a> {
    /// True when the batch itself is fine and every item is valid.
    pub ok: bool,
    /// Batch-level errors (not an array, empty, more than 1000 items, invalid JSON); paths are `""`.
    pub errors: Vec<Diagnostic<'a>>,
    /// Batch-level warnings.
    pub warnings: Vec<Diagnostic<'a>>,
    /// One result per input element, in input order.
    pub items: Vec<BatchItem<'a>>,
}

impl WriteJson for BatchOutcome<'_> {
    fn write_json(&self, out: &mut String) {
        let mut o = Obj::new(out);
        o.raw("ok", if self.ok { "true" } else { "false" });
        o.val("errors", &self.errors);
        o.val("warnings", &self.warnings);
        o.val("items", &self.items);
        o.end();
    }
}
