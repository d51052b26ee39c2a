//! The shapes the JS API returns, as Rust types (host-side only, in tests).
//!
//! These types are the schema of the npm package: `ts-rs` turns them into `types/index.d.ts`, and
//! `npm/api.js` builds exactly these objects from the wasm's compact answer (`encode.rs`). Field
//! names are camelCase on the JS side. Optional fields are absent, never `null` (except `iysCode`,
//! which is always present so that a missing H-code is visible).

use alloc::string::String;
use alloc::vec::Vec;

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
