//! The consent payload (IYS's wire type) and every stateless rule IYS enforces on it
//! (iys-api.md §3 and §7).
//!
//! [`validate_consent`] reads JSON text, [`validate_consent_value`] an already parsed [`Value`]. Every
//! problem is collected; a [`ValidConsent`] comes back only when none of them is an error.
//!
//! # Decisions
//!
//! - **`null` is the same as a missing field.** `"source": null` on a BIREYSEL consent is
//!   `consent/source-missing`; `"retailerCode": null` is simply no retailer code, and it is left out of
//!   the normalised consent.
//! - **Missing fields are reported at the field's path** (`/recipient`), like IYS's `location`, so a form
//!   can mark the field.
//! - **source and consentDate are required only when recipientType is BIREYSEL.** When recipientType
//!   is missing or invalid, that error is reported and the two fields are not demanded on top of it.
//! - **Wrong JSON types** are `consent/wrong-field-type` with `field` and `expected`, where `expected`
//!   is a language-neutral token: `string`, `integer` or `array`. Items of `retailerAccess` are never
//!   type errors: anything but a positive integer there is `consent/retailer-access-invalid` at
//!   `/retailerAccess/{i}`.
//! - **A key given twice** is `consent/duplicate-field` on each later occurrence; the first one is
//!   the one validated. An unknown key is `consent/unknown-field` at every occurrence.
//! - **HS_2015 dates are fixed by law** at 2015-05-01 00:00:00, so for HS_2015 that equality is the
//!   only rule on the date besides its format: the 2015 floor, the future check and the business-day
//!   window do not apply.
//! - **The business-day window** (`Options::window`) applies to every other consent, ONAY and RET
//!   alike (IYS does not say otherwise, iys-api.md OQ-2). A date before 2015 is reported as such, not
//!   also as too old; a date in the future is not "too old" either.
//! - **Rules across fields are skipped when one side is already wrong**: a recipient that did not
//!   parse is not also checked against `type`, and so on, so each mistake is reported once.
//!
//! # Order and paths
//!
//! Paths are JSON Pointers relative to the consent (`/recipient`, `/retailerAccess/2`; `""` for the
//! consent itself). Diagnostics come in a fixed order: first problems with keys (unknown, repeated),
//! in input order; then field by field in the order of [`Consent`] (recipient, recipientType, type,
//! status, source, consentDate, retailerCode, retailerAccess). Within a field, its own checks come
//! first, then rules that involve another field, which sit on the field they constrain:
//! recipient kind vs type on `/type`, MESAJ to a non-mobile number on `/recipient`, the HS_2015 date on
//! `/consentDate`, HS_KARAR needing RET on `/status`.
//!
//! ```
//! use iys_core::consent::{validate_consent, Options};
//! let now = 1_741_780_800; // 2025-03-12 15:00:00 in Turkey
//! let r = validate_consent(
//!     r#"{"recipient":"ali@example.com","recipientType":"TACIR","type":"MESAJ","status":"ONAY","extra":1}"#,
//!     &Options::new(now),
//! );
//! let codes: Vec<_> = r.diagnostics.iter().map(|d| (d.code.as_str(), d.path.as_str())).collect();
//! assert_eq!(codes, [("consent/unknown-field", "/extra"), ("consent/email-needs-eposta", "/type")]);
//! assert!(r.value.is_none());
//! ```

use alloc::borrow::{Cow, ToOwned};
use alloc::collections::BinaryHeap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;

use crate::diagnostic::{push_pointer_token, Code, Diagnostic, Report};
use crate::json::{plain_u64, write_u64, Reader, Value};
use crate::recipient::{validate_recipient, Mode, PhoneType, Recipient};
use crate::time::{business_day_cutoff, BusinessDays, DateError, LocalDateTime};

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        pub enum $name { $($(#[$vm])* #[cfg_attr(feature = "serde", serde(rename = $s))] $v),* }

        impl $name {
            /// Every value, in IYS's order.
            pub const ALL: &'static [$name] = &[$($name::$v),*];
            /// The exact IYS spelling.
            pub const fn as_str(self) -> &'static str { match self { $($name::$v => $s),* } }
            /// Exact, case-sensitive match on the IYS spelling.
            pub fn from_wire(s: &str) -> Option<Self> { match s { $($s => Some($name::$v),)* _ => None } }
        }
    };
}

wire_enum!(
    /// The channel a consent covers.
    ConsentType {
        /// Voice calls.
        Arama = "ARAMA",
        /// Short messages (SMS).
        Mesaj = "MESAJ",
        /// E-mail.
        Eposta = "EPOSTA",
    }
);

wire_enum!(
    /// Individual or merchant recipient.
    RecipientType {
        /// An individual.
        Bireysel = "BIREYSEL",
        /// A merchant or craftsman (source and consentDate optional on first record).
        Tacir = "TACIR",
    }
);

wire_enum!(
    /// Consent or rejection.
    Status {
        /// Consent.
        Onay = "ONAY",
        /// Rejection.
        Ret = "RET",
    }
);

wire_enum!(
    /// Where the service provider obtained the consent: the 13 values a provider may send.
    Source {
        /// In a physical setting.
        HsFizikselOrtam = "HS_FIZIKSEL_ORTAM",
        /// A signed form (wet signature).
        HsIslakImza = "HS_ISLAK_IMZA",
        /// The provider's website.
        HsWeb = "HS_WEB",
        /// The provider's call centre.
        HsCagriMerkezi = "HS_CAGRI_MERKEZI",
        /// The provider's social media.
        HsSosyalMedya = "HS_SOSYAL_MEDYA",
        /// The provider's e-mail.
        HsEposta = "HS_EPOSTA",
        /// The provider's short-message number.
        HsMesaj = "HS_MESAJ",
        /// The provider's mobile app.
        HsMobil = "HS_MOBIL",
        /// Another electronic medium of the provider.
        HsEortam = "HS_EORTAM",
        /// An event the provider organised.
        HsEtkinlik = "HS_ETKINLIK",
        /// The provider's ATM.
        HsAtm = "HS_ATM",
        /// On record before 2015-05-01 (date fixed at 2015-05-01 00:00:00).
        Hs2015 = "HS_2015",
        /// The provider's own decision to reject (status must be RET).
        HsKarar = "HS_KARAR",
    }
);

/// The 8 keys IYS allows in a consent, in IYS's H118 order.
pub const ALLOWED_FIELDS: [&str; 8] =
    ["recipientType", "retailerAccess", "recipient", "retailerCode", "source", "type", "consentDate", "status"];

/// A consent exactly as IYS's JSON carries it (`POST …/consents`, batch items).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase", deny_unknown_fields))]
pub struct Consent {
    /// `+905321234567` or an e-mail address.
    pub recipient: String,
    /// BIREYSEL or TACIR.
    pub recipient_type: RecipientType,
    /// ARAMA, MESAJ or EPOSTA.
    #[cfg_attr(feature = "serde", serde(rename = "type"))]
    pub kind: ConsentType,
    /// ONAY or RET.
    pub status: Status,
    /// One of the 13 HS_* sources (optional for a new TACIR record).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub source: Option<Source>,
    /// `YYYY-MM-DD HH:mm:ss`, Turkey time (optional for a new TACIR record).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub consent_date: Option<String>,
    /// The retailer that obtained the consent.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub retailer_code: Option<u64>,
    /// Retailers allowed to use the consent.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub retailer_access: Option<Vec<u64>>,
}

/// A consent that passed every rule: the only kind a relay may forward.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidConsent {
    consent: Consent,
    recipient: Recipient,
}

impl ValidConsent {
    /// Private on purpose: only [`validate_consent_value`] makes one.
    fn new(consent: Consent, recipient: Recipient) -> Self {
        ValidConsent { consent, recipient }
    }

    /// The consent in wire form (recipient normalised when the mode allowed it).
    pub fn consent(&self) -> &Consent {
        &self.consent
    }

    /// The parsed recipient.
    pub fn recipient(&self) -> &Recipient {
        &self.recipient
    }

    /// The consent, by value.
    pub fn into_consent(self) -> Consent {
        self.consent
    }
}

/// Everything a caller can choose about validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Strict wire form (as IYS judges) or normalisation of human-written recipients.
    pub mode: Mode,
    /// "Now", as Unix seconds; the core has no clock.
    pub now: i64,
    /// The business-day window for consentDate; `None` turns it off.
    pub window: Option<BusinessDays>,
}

impl Options {
    /// Strict mode, the 3-business-day window with holidays, at `now` (Unix seconds).
    pub fn new(now: i64) -> Self {
        Options { mode: Mode::Strict, now, window: Some(BusinessDays::default()) }
    }
}

/// Validates one consent given as JSON text.
///
/// Reads the fields straight from the text (nothing is built but what the rules need); the answer is
/// the same as [`validate_consent_value`] on [`crate::json::parse`]'s value, including the first JSON
/// error when the text is not JSON.
pub fn validate_consent(json: &str, opts: &Options) -> Report<ValidConsent> {
    let mut r = Reader::new(json);
    r.skip_ws();
    let mut fields = Fields::new();
    let object = r.peek() == Some(b'{');
    let read = if object { read_fields(&mut r, 0, &mut fields) } else { r.value::<false>(0).map(drop) };
    match read.and_then(|()| r.end()) {
        Ok(()) if object => judge(&mut fields, opts, &Clock::new(opts), false, "").report,
        Ok(()) => not_object("").report,
        Err(d) => Report::from_parts(None, vec![d]),
    }
}

/// Validates one consent given as a parsed JSON value. Paths are relative to the consent (`/recipient`).
pub fn validate_consent_value(value: &Value, opts: &Options) -> Report<ValidConsent> {
    examine(value, opts, &Clock::new(opts), false, "").report
}

/// What `now` means for consentDate, worked out once per call (a batch shares it across items).
pub(crate) struct Clock {
    now: i64,
    /// Now on Turkey's wall clock, worked out on first need (messages, the cutoff).
    local: Cell<Option<LocalDateTime>>,
    /// A time no earlier than the business-day cutoff, as wall-clock seconds
    /// ([`LocalDateTime::naive_seconds`]): `days` × 24 h before now, plus 2 h for any clock change in
    /// between. A date at or after it is inside the window without computing the cutoff.
    surely_recent: Option<i64>,
    /// The cutoff itself, computed on first need (walking back over holidays costs about a microsecond).
    cutoff: Cell<Option<LocalDateTime>>,
}

impl Clock {
    pub(crate) fn new(opts: &Options) -> Self {
        let surely_recent = opts.window.map(|rule| {
            let back = i64::from(rule.days).saturating_mul(86_400).saturating_sub(7_200);
            LocalDateTime::naive_seconds_at(opts.now.saturating_sub(back))
        });
        Clock { now: opts.now, local: Cell::new(None), surely_recent, cutoff: Cell::new(None) }
    }

    /// Now on Turkey's wall clock.
    fn local(&self) -> LocalDateTime {
        match self.local.get() {
            Some(t) => t,
            None => {
                let t = LocalDateTime::from_unix(self.now);
                self.local.set(Some(t));
                t
            }
        }
    }

    /// The oldest date `rule` accepts, or `None` when `date` (wall-clock seconds `naive`) is certainly
    /// recent enough.
    fn cutoff_for(&self, date: LocalDateTime, naive: i64, rule: BusinessDays) -> Option<LocalDateTime> {
        if self.surely_recent.is_some_and(|recent| naive >= recent) {
            return None;
        }
        let cutoff = match self.cutoff.get() {
            Some(c) => c,
            None => {
                let c = business_day_cutoff(self.local(), rule);
                self.cutoff.set(Some(c));
                c
            }
        };
        (date < cutoff).then_some(cutoff)
    }
}

impl Consent {
    /// Compact JSON in IYS's spelling, fields in struct order, absent optional fields left out
    /// (the same text serde produces, without needing serde).
    pub fn to_json(&self) -> String {
        use crate::json::write_str;
        let mut out = String::with_capacity(160);
        out.push_str("{\"recipient\":");
        write_str(&mut out, &self.recipient);
        out.push_str(",\"recipientType\":\"");
        out.push_str(self.recipient_type.as_str());
        out.push_str("\",\"type\":\"");
        out.push_str(self.kind.as_str());
        out.push_str("\",\"status\":\"");
        out.push_str(self.status.as_str());
        out.push('"');
        if let Some(source) = self.source {
            out.push_str(",\"source\":\"");
            out.push_str(source.as_str());
            out.push('"');
        }
        if let Some(date) = &self.consent_date {
            out.push_str(",\"consentDate\":");
            write_str(&mut out, date);
        }
        if let Some(code) = self.retailer_code {
            out.push_str(",\"retailerCode\":");
            write_u64(&mut out, code);
        }
        if let Some(access) = &self.retailer_access {
            out.push_str(",\"retailerAccess\":[");
            for (i, code) in access.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_u64(&mut out, *code);
            }
            out.push(']');
        }
        out.push('}');
        out
    }
}

/// A consent's report plus what a batch needs to find duplicates: recipientType and type, known
/// whenever those two and the recipient are valid on their own (even if something else in the consent
/// is wrong); the recipient is then in the report's value, or else in `recipient`.
pub(crate) struct Examined {
    pub(crate) report: Report<ValidConsent>,
    pub(crate) key: Option<(RecipientType, ConsentType)>,
    pub(crate) recipient: Option<Recipient>,
}

pub(crate) fn not_object(base: &str) -> Examined {
    Examined {
        report: Report::from_parts(None, vec![Diagnostic::new(Code::ConsentNotObject, base)]),
        key: None,
        recipient: None,
    }
}

/// The earliest consentDate IYS accepts, and the one HS_2015 must carry.
const MIN_DATE: LocalDateTime = LocalDateTime { year: 2015, month: 5, day: 1, hour: 0, minute: 0, second: 0 };

// Field slots, in `Consent` order (the order diagnostics are reported in).
const RECIPIENT: usize = 0;
const RECIPIENT_TYPE: usize = 1;
const TYPE: usize = 2;
const STATUS: usize = 3;
const SOURCE: usize = 4;
const CONSENT_DATE: usize = 5;
const RETAILER_CODE: usize = 6;
const RETAILER_ACCESS: usize = 7;
const NAMES: [&str; 8] =
    ["recipient", "recipientType", "type", "status", "source", "consentDate", "retailerCode", "retailerAccess"];
const PATHS: [&str; 8] =
    ["/recipient", "/recipientType", "/type", "/status", "/source", "/consentDate", "/retailerCode", "/retailerAccess"];

fn slot_of(key: &str) -> Option<usize> {
    Some(match key {
        "recipient" => RECIPIENT,
        "recipientType" => RECIPIENT_TYPE,
        "type" => TYPE,
        "status" => STATUS,
        "source" => SOURCE,
        "consentDate" => CONSENT_DATE,
        "retailerCode" => RETAILER_CODE,
        "retailerAccess" => RETAILER_ACCESS,
        _ => return None,
    })
}

/// The slot of the allowed key that starts the 16 bytes `head`, `tail` (little-endian words) and ends
/// with a `"` inside them, if one does.
#[inline(always)]
fn known_key(head: u64, tail: u64) -> Option<usize> {
    use crate::json::{low_bytes, word};
    // Keys of up to 7 bytes: the key and its quote fit in `head`.
    const TYPE_Q: u64 = word(b"type\"");
    const STATUS_Q: u64 = word(b"status\"");
    const SOURCE_Q: u64 = word(b"source\"");
    // Longer keys: their first eight bytes, then the rest and the quote in `tail`.
    const RECIPIEN: u64 = word(b"recipien");
    const CONSENT_D: u64 = word(b"consentD");
    const RETAILER: u64 = word(b"retailer");
    const T_Q: u64 = word(b"t\"");
    const T_TYPE_Q: u64 = word(b"tType\"");
    const ATE_Q: u64 = word(b"ate\"");
    const CODE_Q: u64 = word(b"Code\"");
    const ACCESS_Q: u64 = word(b"Access\"");
    let short = head & low_bytes(7);
    Some(if head & low_bytes(5) == TYPE_Q {
        TYPE
    } else if short == STATUS_Q {
        STATUS
    } else if short == SOURCE_Q {
        SOURCE
    } else if head == RECIPIEN && tail & low_bytes(2) == T_Q {
        RECIPIENT
    } else if head == RECIPIEN && tail & low_bytes(6) == T_TYPE_Q {
        RECIPIENT_TYPE
    } else if head == CONSENT_D && tail & low_bytes(4) == ATE_Q {
        CONSENT_DATE
    } else if head == RETAILER && tail & low_bytes(5) == CODE_Q {
        RETAILER_CODE
    } else if head == RETAILER && tail & low_bytes(7) == ACCESS_Q {
        RETAILER_ACCESS
    } else {
        return None;
    })
}

/// The diagnostics of a consent, kept in report order as they are found: those about keys first, then
/// field by field in slot order, so rules that span fields can file theirs in the right place.
struct Found<'b> {
    /// The JSON Pointer every path starts with (`/3` for a batch's fourth item, `""` for a consent).
    base: &'b str,
    list: Vec<Diagnostic>,
    /// `ends[slot]`: how many diagnostics in `list` are about keys or a field up to `slot`, i.e. where
    /// the next one of `slot` goes.
    ends: [usize; 8],
}

impl<'b> Found<'b> {
    /// Starts with the diagnostics about keys.
    fn new(base: &'b str, keys: Vec<Diagnostic>) -> Self {
        Found { base, ends: [keys.len(); 8], list: keys }
    }

    /// `base` then `tail`, in one allocation.
    fn path(&self, tail: &str) -> String {
        let mut path = String::with_capacity(self.base.len() + tail.len());
        path.push_str(self.base);
        path.push_str(tail);
        path
    }

    fn push(&mut self, slot: usize, d: Diagnostic) {
        let Some(&at) = self.ends.get(slot) else { return };
        if at >= self.list.len() {
            self.list.push(d);
        } else {
            // A rule across fields filing on an earlier field (MESAJ to a non-mobile number).
            self.list.insert(at, d);
        }
        for end in self.ends.iter_mut().skip(slot) {
            *end += 1;
        }
    }

    /// Files the diagnostics of `slot`'s own checks, in their order.
    fn push_all(&mut self, slot: usize, list: Vec<Diagnostic>) {
        if self.list.is_empty() {
            // Nothing before them: the list as it is, no copy.
            for end in self.ends.iter_mut().skip(slot) {
                *end = list.len();
            }
            self.list = list;
        } else {
            for d in list {
                self.push(slot, d);
            }
        }
    }

    /// Files a diagnostic at the field's own path.
    fn add(&mut self, slot: usize, code: Code, params: &[(&'static str, &str)]) {
        let mut d = Diagnostic::new(code, self.path(PATHS.get(slot).copied().unwrap_or("")));
        for (name, value) in params {
            d = d.with(name, *value);
        }
        self.push(slot, d);
    }

    fn wrong_type(&mut self, slot: usize, expected: &'static str) {
        let field = NAMES.get(slot).copied().unwrap_or("");
        self.add(slot, Code::ConsentWrongFieldType, &[("field", field), ("expected", expected)]);
    }

    fn has_error(&self) -> bool {
        self.list.iter().any(Diagnostic::is_error)
    }
}

/// A field's value, as far as the rules look at it.
pub(crate) enum Field<'a> {
    /// `null`: the same as absent.
    Null,
    Str(Cow<'a, str>),
    /// A number's source text.
    Number(&'a str),
    /// An array: for retailerAccess, each item as a positive integer or not (empty for other fields).
    Array(Vec<Option<u64>>),
    /// A boolean or an object.
    Other,
}

/// The first occurrence of each allowed key, and the problems with keys, in input order.
pub(crate) struct Fields<'a> {
    slots: [Option<Field<'a>>; 8],
    /// Slots whose key has been seen (a later occurrence is a duplicate).
    seen: u8,
    keys: Vec<Diagnostic>,
}

impl<'a> Fields<'a> {
    pub(crate) fn new() -> Self {
        Fields { slots: Default::default(), seen: 0, keys: Vec::new() }
    }

    /// The slot `key` fills when it is the first occurrence of an allowed key; otherwise the key's
    /// diagnostic is recorded.
    fn claim(&mut self, key: &str) -> Option<usize> {
        self.claim_slot(slot_of(key), key)
    }

    /// [`Fields::claim`] for a key already looked up: `slot` is [`slot_of`]`(key)`.
    #[inline]
    fn claim_slot(&mut self, slot: Option<usize>, key: &str) -> Option<usize> {
        match slot {
            Some(slot) if self.seen & (1 << slot) == 0 => {
                self.seen |= 1 << slot;
                Some(slot)
            }
            _ => {
                self.refuse(slot.is_some(), key);
                None
            }
        }
    }

    /// Records the diagnostic of a key that fills no slot: a repeated allowed key, or an unknown one.
    #[cold]
    fn refuse(&mut self, repeated: bool, key: &str) {
        let code = if repeated { Code::ConsentDuplicateField } else { Code::ConsentUnknownField };
        let mut path = String::from("/");
        push_pointer_token(&mut path, key);
        self.keys.push(Diagnostic::new(code, path).with("field", key));
    }

    fn set(&mut self, slot: usize, field: Field<'a>) {
        if let Some(s) = self.slots.get_mut(slot) {
            *s = Some(field);
        }
    }
}

/// The fields of a parsed object.
fn fields_of_value(entries: &[(String, Value)]) -> Fields<'_> {
    let mut fields = Fields::new();
    for (key, v) in entries {
        if let Some(slot) = fields.claim(key) {
            let field = match v {
                Value::Null => Field::Null,
                Value::String(s) => Field::Str(Cow::Borrowed(s)),
                Value::Number(raw) => Field::Number(raw),
                Value::Array(items) if slot == RETAILER_ACCESS => {
                    Field::Array(items.iter().map(positive_integer).collect())
                }
                Value::Array(_) => Field::Array(Vec::new()),
                Value::Bool(_) | Value::Object(_) => Field::Other,
            };
            fields.set(slot, field);
        }
    }
    fields
}

/// Reads an object's fields from the text; `r` is on its `{`, inside `depth` open containers.
pub(crate) fn read_fields<'a>(r: &mut Reader<'a>, depth: usize, fields: &mut Fields<'a>) -> Result<(), Diagnostic> {
    if r.open(depth, b'}')? {
        return Ok(());
    }
    loop {
        let claimed = match r.words_after_quote().and_then(|(head, tail)| known_key(head, tail)) {
            Some(slot) => {
                // The key, its closing quote and nothing else were recognised: the same as `key`
                // reading it, without the string.
                r.pos += NAMES.get(slot).map_or(0, |name| name.len()) + 2;
                r.colon()?;
                fields.claim_slot(Some(slot), NAMES.get(slot).copied().unwrap_or(""))
            }
            None => {
                let key = r.key()?;
                fields.claim(&key)
            }
        };
        match claimed {
            Some(slot) => {
                let field = read_field(r, depth + 1, slot)?;
                fields.set(slot, field);
            }
            None => {
                r.value::<false>(depth + 1)?;
            }
        }
        if !r.next(b'}')? {
            return Ok(());
        }
    }
}

/// Reads the value of a field, inside `depth` open containers.
fn read_field<'a>(r: &mut Reader<'a>, depth: usize, slot: usize) -> Result<Field<'a>, Diagnostic> {
    Ok(match r.peek() {
        Some(b'"') => match r.plain_string() {
            Some(s) => Field::Str(Cow::Borrowed(s)),
            None => Field::Str(r.string()?),
        },
        Some(b'-' | b'0'..=b'9') => Field::Number(r.number()?),
        Some(b'[') if slot == RETAILER_ACCESS => {
            let mut items = Vec::new();
            if !r.open(depth, b']')? {
                loop {
                    let item = match r.peek() {
                        Some(b'-' | b'0'..=b'9') => plain_u64(r.number()?).filter(|n| *n > 0),
                        _ => {
                            r.value::<false>(depth + 1)?;
                            None
                        }
                    };
                    items.push(item);
                    if !r.next(b']')? {
                        break;
                    }
                }
            }
            Field::Array(items)
        }
        Some(b'n') => {
            r.value::<false>(depth)?;
            Field::Null
        }
        Some(b'[') => {
            r.value::<false>(depth)?;
            Field::Array(Vec::new())
        }
        _ => {
            r.value::<false>(depth)?;
            Field::Other
        }
    })
}

/// A field's JSON value, as far as the rules for a string or enum field look at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Given<'a> {
    /// Absent, or `null` (the same thing).
    Absent,
    /// A string.
    Text(&'a str),
    /// Any other JSON type.
    Other,
}

impl<'a> Given<'a> {
    #[inline(always)]
    fn of(v: &'a Option<Field<'_>>) -> Self {
        match v {
            None | Some(Field::Null) => Given::Absent,
            Some(Field::Str(s)) => Given::Text(s),
            Some(_) => Given::Other,
        }
    }
}

// The rules below, which a status query (the relay) shares with a consent, hand each problem to
// `report` as a code and its parameters, for the caller to place at its own path (`judge` files it
// on the field with `Found::add`, building nothing more than before). `#[inline(always)]` and the
// two steps of `enum_field` keep the wasm as it was: the web build's size guard
// (crates/iys-wasm/tests/js/size.test.mjs) had some 40 bytes to spare.

/// The rule for a string field `field`: absent or null reports `missing` (when the field is
/// required), another JSON type `consent/wrong-field-type` with `field` and `expected: string`.
/// The string, if it is one.
#[inline(always)]
pub fn string_value<'a>(
    given: Given<'a>,
    field: &'static str,
    missing: Option<Code>,
    mut report: impl FnMut(Code, &[(&'static str, &str)]),
) -> Option<&'a str> {
    match given {
        Given::Text(s) => Some(s),
        Given::Absent => {
            if let Some(code) = missing {
                report(code, &[]);
            }
            None
        }
        Given::Other => {
            report(Code::ConsentWrongFieldType, &[("field", field), ("expected", "string")]);
            None
        }
    }
}

/// The rule for an enum field (recipientType, type, status, source): [`string_value`]'s, then
/// [`wire_value`]'s. (A consent's fields take the two steps apart: the first is one copy for every
/// field in the wasm.)
pub fn enum_value<T>(
    given: Given<'_>,
    field: &'static str,
    missing: Option<Code>,
    invalid: Code,
    from_wire: fn(&str) -> Option<T>,
    mut report: impl FnMut(Code, &[(&'static str, &str)]),
) -> Option<T> {
    let s = string_value(given, field, missing, &mut report)?;
    wire_value(s, invalid, from_wire, report)
}

/// The spelling rule of an enum field: exactly IYS's (`from_wire`), or `invalid` with the `value`
/// (`consent/iys-source` for a source of IYS's own, `IYS_…`).
#[inline(always)]
pub fn wire_value<T>(
    s: &str,
    invalid: Code,
    from_wire: fn(&str) -> Option<T>,
    mut report: impl FnMut(Code, &[(&'static str, &str)]),
) -> Option<T> {
    let parsed = from_wire(s);
    if parsed.is_none() {
        let code = if invalid == Code::InvalidSource && s.starts_with("IYS_") { Code::IysSource } else { invalid };
        report(code, &[("value", s)]);
    }
    parsed
}

/// The recipient's kind against the consent type: a phone number takes ARAMA or MESAJ (else
/// `consent/phone-needs-arama-or-mesaj`, H459), an e-mail address EPOSTA (else
/// `consent/email-needs-eposta` with the `type`, H464).
pub fn kind_mismatch(recipient: &Recipient, kind: ConsentType, mut report: impl FnMut(Code, &[(&'static str, &str)])) {
    match (recipient, kind) {
        (Recipient::Phone(_), ConsentType::Eposta) => report(Code::PhoneNeedsCallOrMessage, &[]),
        (Recipient::Email(_), ConsentType::Arama | ConsentType::Mesaj) => {
            report(Code::EmailNeedsEposta, &[("type", kind.as_str())])
        }
        _ => {}
    }
}

/// A string field ([`string_value`]), its problems filed on `slot`.
fn string_field<'f>(
    found: &mut Found,
    v: &'f Option<Field<'_>>,
    slot: usize,
    missing: Option<Code>,
) -> Option<&'f str> {
    let field = NAMES.get(slot).copied().unwrap_or("");
    string_value(Given::of(v), field, missing, |code, params| found.add(slot, code, params))
}

/// An enum field ([`enum_value`]'s two steps), its problems filed on `slot`.
fn enum_field<T>(
    found: &mut Found,
    v: &Option<Field<'_>>,
    slot: usize,
    missing: Option<Code>,
    invalid: Code,
    from_wire: fn(&str) -> Option<T>,
) -> Option<T> {
    let s = string_field(found, v, slot, missing)?;
    wire_value(s, invalid, from_wire, |code, params| found.add(slot, code, params))
}

/// A positive integer written plainly (no sign, fraction or exponent) that fits in a `u64`.
fn positive_integer(v: &Value) -> Option<u64> {
    match v {
        Value::Number(raw) => plain_u64(raw).filter(|n| *n > 0),
        _ => None,
    }
}

/// Judges one consent; keeps what its batch key needs when `want_key` (a single consent needs none).
/// Every path starts with `base`.
pub(crate) fn examine(value: &Value, opts: &Options, clock: &Clock, want_key: bool, base: &str) -> Examined {
    match value {
        Value::Object(entries) => judge(&mut fields_of_value(entries), opts, clock, want_key, base),
        _ => not_object(base),
    }
}

/// Judges the fields of one consent. Every path starts with `base`.
pub(crate) fn judge(fields: &mut Fields<'_>, opts: &Options, clock: &Clock, want_key: bool, base: &str) -> Examined {
    let mut keys = core::mem::take(&mut fields.keys);
    if !base.is_empty() {
        for d in &mut keys {
            d.path.insert_str(0, base);
        }
    }
    let mut found = Found::new(base, keys);
    let [v_recipient, v_recipient_type, v_type, v_status, v_source, v_date, v_retailer_code, v_retailer_access] =
        &fields.slots;

    // recipient
    let recipient = string_field(&mut found, v_recipient, RECIPIENT, Some(Code::RecipientMissing)).and_then(|s| {
        let mut report = validate_recipient(s, opts.mode);
        if !report.diagnostics.is_empty() {
            for d in &mut report.diagnostics {
                // (Recipient diagnostics are at `""`, the recipient itself.)
                let prefix = found.path("/recipient");
                if d.path.is_empty() {
                    d.path = prefix;
                } else {
                    d.path.insert_str(0, &prefix);
                }
            }
            found.push_all(RECIPIENT, core::mem::take(&mut report.diagnostics));
        }
        report.value
    });

    // recipientType, type, status
    let recipient_type = enum_field(
        &mut found,
        v_recipient_type,
        RECIPIENT_TYPE,
        Some(Code::RecipientTypeMissing),
        Code::InvalidRecipientType,
        RecipientType::from_wire,
    );
    let kind = enum_field(&mut found, v_type, TYPE, Some(Code::TypeMissing), Code::InvalidType, ConsentType::from_wire);
    if let (Some(r), Some(kind)) = (&recipient, kind) {
        kind_mismatch(r, kind, |code, params| found.add(TYPE, code, params));
        match (r, kind) {
            (Recipient::Phone(p), ConsentType::Mesaj) if p.number_type() != PhoneType::Mobile => {
                let d = Diagnostic::new(Code::PhoneNotMobile, found.path("/recipient"))
                    .with("number", p.e164())
                    .with("kind", p.number_type().as_str());
                found.push(RECIPIENT, d);
            }
            _ => {}
        }
    }
    let status =
        enum_field(&mut found, v_status, STATUS, Some(Code::StatusMissing), Code::InvalidStatus, Status::from_wire);

    // source and consentDate: required for BIREYSEL only.
    let bireysel = recipient_type == Some(RecipientType::Bireysel);
    let source = enum_field(
        &mut found,
        v_source,
        SOURCE,
        bireysel.then_some(Code::SourceMissing),
        Code::InvalidSource,
        Source::from_wire,
    );
    if source == Some(Source::HsKarar) && status == Some(Status::Onay) {
        found.add(STATUS, Code::KararNeedsRet, &[]);
    }
    let date = string_field(&mut found, v_date, CONSENT_DATE, bireysel.then_some(Code::DateMissing));
    let date_ok = date.is_some_and(|s| check_date(&mut found, s, source, opts, clock));

    // retailerCode
    let retailer_code = match v_retailer_code {
        None | Some(Field::Null) => None,
        Some(Field::Number(raw)) => {
            let n = plain_u64(raw).filter(|n| *n > 0);
            if n.is_none() {
                found.add(RETAILER_CODE, Code::RetailerCodeInvalid, &[("value", raw)]);
            }
            n
        }
        Some(_) => {
            found.wrong_type(RETAILER_CODE, "integer");
            None
        }
    };

    // retailerAccess
    let retailer_access = match v_retailer_access {
        None | Some(Field::Null) => None,
        Some(Field::Array(items)) if items.is_empty() => {
            found.add(RETAILER_ACCESS, Code::RetailerAccessEmpty, &[]);
            None
        }
        Some(Field::Array(numbers)) => {
            let repeated = repeats(numbers);
            let mut codes = Vec::with_capacity(numbers.len());
            for (i, (&n, repeat)) in numbers.iter().zip(repeated).enumerate() {
                let code = match n {
                    Some(n) if !repeat => {
                        codes.push(n);
                        continue;
                    }
                    Some(_) => Code::RetailerAccessDuplicate,
                    None => Code::RetailerAccessInvalid,
                };
                let mut path = found.path("/retailerAccess/");
                write_u64(&mut path, i as u64);
                let mut d = Diagnostic::new(code, path);
                if let Some(n) = n {
                    d = d.with_number("value", n);
                }
                found.push(RETAILER_ACCESS, d);
            }
            Some(codes)
        }
        Some(_) => {
            found.wrong_type(RETAILER_ACCESS, "array");
            None
        }
    };

    let key = match (recipient_type, kind, &recipient) {
        (Some(rt), Some(k), Some(_)) if want_key => Some((rt, k)),
        _ => None,
    };
    let mut spare = None;
    let valid = match (found.has_error(), recipient, recipient_type, kind, status) {
        (false, Some(recipient), Some(recipient_type), Some(kind), Some(status)) => {
            let consent = Consent {
                recipient: recipient.wire().to_owned(),
                recipient_type,
                kind,
                status,
                source,
                consent_date: date.filter(|_| date_ok).map(str::to_owned),
                retailer_code,
                retailer_access,
            };
            Some(ValidConsent::new(consent, recipient))
        }
        (_, recipient, ..) => {
            if key.is_some() {
                spare = recipient;
            }
            None
        }
    };
    Examined { report: Report::from_parts(valid, found.list), key, recipient: spare }
}

/// Which items repeat an earlier one (`None`s never do).
fn repeats(numbers: &[Option<u64>]) -> Vec<bool> {
    // Sorted (value, index) pairs, where each value's first occurrence leads its run (heapsort through
    // `BinaryHeap`: O(n log n) however long the list is, for little wasm code).
    let order: Vec<(u64, usize)> = numbers.iter().enumerate().filter_map(|(i, n)| n.map(|n| (n, i))).collect();
    let order = BinaryHeap::from(order).into_sorted_vec();
    let mut repeated = vec![false; numbers.len()];
    for pair in order.windows(2) {
        if let [(a, _), (b, i)] = pair {
            if a == b {
                if let Some(r) = repeated.get_mut(*i) {
                    *r = true;
                }
            }
        }
    }
    repeated
}

/// Checks a consentDate string; true when it passed.
fn check_date(found: &mut Found, s: &str, source: Option<Source>, opts: &Options, clock: &Clock) -> bool {
    let (date, unix) = match LocalDateTime::parse_unix(s) {
        Ok(parsed) => parsed,
        Err(err) => {
            let code = match err {
                DateError::Format => Code::DateFormat,
                DateError::Invalid => Code::DateInvalid,
            };
            found.add(CONSENT_DATE, code, &[("value", s)]);
            return false;
        }
    };
    if source == Some(Source::Hs2015) {
        // Fixed by law: nothing else about the date matters.
        if date != MIN_DATE {
            found.add(CONSENT_DATE, Code::Hs2015Date, &[("value", s)]);
            return false;
        }
        return true;
    }
    if date < MIN_DATE {
        found.add(CONSENT_DATE, Code::DateBefore2015, &[("value", s)]);
        return false;
    }
    if unix > opts.now {
        found.add(CONSENT_DATE, Code::DateInFuture, &[("value", s), ("now", &clock.local().to_wire())]);
        return false;
    }
    if let Some(rule) = opts.window {
        if let Some(cutoff) = clock.cutoff_for(date, LocalDateTime::naive_seconds_at(unix), rule) {
            let mut days = String::new();
            write_u64(&mut days, u64::from(rule.days));
            let cutoff = cutoff.to_wire();
            found.add(CONSENT_DATE, Code::DateTooOld, &[("value", s), ("days", &days), ("cutoff", &cutoff)]);
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Code as C;

    /// 2025-03-12 15:00:00 in Turkey, a Wednesday; 3 business days back is Friday 2025-03-07.
    const NOW: i64 = 1_741_780_800;

    fn strict() -> Options {
        Options::new(NOW)
    }

    fn no_window() -> Options {
        Options { window: None, ..Options::new(NOW) }
    }

    fn normalize() -> Options {
        Options { mode: Mode::Normalize, ..Options::new(NOW) }
    }

    const BASE: [(&str, &str); 6] = [
        ("recipient", r#""+905321234567""#),
        ("recipientType", r#""BIREYSEL""#),
        ("type", r#""MESAJ""#),
        ("status", r#""ONAY""#),
        ("source", r#""HS_WEB""#),
        ("consentDate", r#""2025-03-11 10:00:00""#),
    ];

    /// The base consent with fields replaced (raw JSON), removed (`""`) or appended (new keys, in order).
    fn c(changes: &[(&str, &str)]) -> String {
        let mut fields: Vec<(&str, &str)> = BASE.to_vec();
        for &(k, v) in changes {
            match fields.iter_mut().find(|(fk, _)| *fk == k) {
                Some(f) => f.1 = v,
                None => fields.push((k, v)),
            }
        }
        let body: Vec<String> =
            fields.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", body.join(","))
    }

    /// Input, options, expected (code, path) list.
    type Case = (String, Options, Vec<(Code, &'static str)>);

    /// Validates `json` and asserts the exact (code, path) list; the value must exist iff no error.
    fn check(json: &str, opts: &Options, expect: &[(Code, &str)]) -> Report<ValidConsent> {
        let r = validate_consent(json, opts);
        let got: Vec<(Code, &str)> = r.diagnostics.iter().map(|d| (d.code, d.path.as_str())).collect();
        assert_eq!(got, expect, "{json}");
        assert_eq!(r.value.is_some(), !r.diagnostics.iter().any(Diagnostic::is_error), "{json}");
        r
    }

    #[test]
    fn shape_keys_and_missing_fields() {
        let s = strict();
        let cases: Vec<(String, Vec<(Code, &str)>)> = vec![
            (c(&[]), vec![]),
            ("[]".into(), vec![(C::ConsentNotObject, "")]),
            ("\"+905321234567\"".into(), vec![(C::ConsentNotObject, "")]),
            ("null".into(), vec![(C::ConsentNotObject, "")]),
            ("{".into(), vec![(C::InvalidJson, "")]),
            (
                "{}".into(),
                vec![
                    (C::RecipientMissing, "/recipient"),
                    (C::RecipientTypeMissing, "/recipientType"),
                    (C::TypeMissing, "/type"),
                    (C::StatusMissing, "/status"),
                ],
            ),
            (c(&[("extra", "1")]), vec![(C::ConsentUnknownField, "/extra")]),
            (c(&[("a/b~", "1")]), vec![(C::ConsentUnknownField, "/a~1b~0")]),
            (
                c(&[("recipient", ""), ("Recipient", r#""+905321234567""#)]),
                vec![(C::ConsentUnknownField, "/Recipient"), (C::RecipientMissing, "/recipient")],
            ),
            (
                c(&[("status", ""), ("status", "")]).replace('}', r#","status":"ONAY","status":"RET"}"#),
                vec![(C::ConsentDuplicateField, "/status")],
            ),
            (c(&[("recipient", "")]), vec![(C::RecipientMissing, "/recipient")]),
            (c(&[("recipientType", "")]), vec![(C::RecipientTypeMissing, "/recipientType")]),
            (c(&[("type", "")]), vec![(C::TypeMissing, "/type")]),
            (c(&[("status", "")]), vec![(C::StatusMissing, "/status")]),
            (c(&[("source", "")]), vec![(C::SourceMissing, "/source")]),
            (c(&[("consentDate", "")]), vec![(C::DateMissing, "/consentDate")]),
            (c(&[("recipientType", r#""TACIR""#), ("source", ""), ("consentDate", "")]), vec![]),
            // null is the same as missing
            (c(&[("recipient", "null")]), vec![(C::RecipientMissing, "/recipient")]),
            (
                c(&[("source", "null"), ("consentDate", "null")]),
                vec![(C::SourceMissing, "/source"), (C::DateMissing, "/consentDate")],
            ),
            (c(&[("retailerCode", "null"), ("retailerAccess", "null")]), vec![]),
            // unknown recipientType: source and date are not demanded on top
            (
                c(&[("recipientType", r#""X""#), ("source", ""), ("consentDate", "")]),
                vec![(C::InvalidRecipientType, "/recipientType")],
            ),
        ];
        for (json, expect) in cases {
            check(&json, &s, &expect);
        }
    }

    #[test]
    fn wrong_types_and_enums() {
        let s = strict();
        let cases: Vec<(String, Vec<(Code, &str)>)> = vec![
            (c(&[("recipient", "5321234567")]), vec![(C::ConsentWrongFieldType, "/recipient")]),
            (c(&[("recipientType", "[]")]), vec![(C::ConsentWrongFieldType, "/recipientType")]),
            (c(&[("type", "1")]), vec![(C::ConsentWrongFieldType, "/type")]),
            (c(&[("status", "true")]), vec![(C::ConsentWrongFieldType, "/status")]),
            (c(&[("source", "{}")]), vec![(C::ConsentWrongFieldType, "/source")]),
            (c(&[("consentDate", "20250311")]), vec![(C::ConsentWrongFieldType, "/consentDate")]),
            (c(&[("retailerCode", r#""12""#)]), vec![(C::ConsentWrongFieldType, "/retailerCode")]),
            (c(&[("retailerAccess", "1")]), vec![(C::ConsentWrongFieldType, "/retailerAccess")]),
            (c(&[("type", r#""mesaj""#)]), vec![(C::InvalidType, "/type")]),
            (c(&[("type", r#""SMS""#)]), vec![(C::InvalidType, "/type")]),
            (c(&[("status", r#""RED""#)]), vec![(C::InvalidStatus, "/status")]),
            (c(&[("recipientType", r#""TACİR""#)]), vec![(C::InvalidRecipientType, "/recipientType")]),
            (c(&[("source", r#""IYS_WEB""#)]), vec![(C::IysSource, "/source")]),
            (c(&[("source", r#""HS_FOO""#)]), vec![(C::InvalidSource, "/source")]),
            (c(&[("source", r#""hs_web""#)]), vec![(C::InvalidSource, "/source")]),
            (c(&[("source", r#""HS_KARAR""#)]), vec![(C::KararNeedsRet, "/status")]),
            (c(&[("source", r#""HS_KARAR""#), ("status", r#""RET""#)]), vec![]),
        ];
        for (json, expect) in cases {
            check(&json, &s, &expect);
        }
        let r = check(&c(&[("type", r#""SMS""#)]), &s, &[(C::InvalidType, "/type")]);
        assert_eq!(r.diagnostics[0].param("value"), Some("SMS"));
        let r = check(&c(&[("retailerCode", r#""12""#)]), &s, &[(C::ConsentWrongFieldType, "/retailerCode")]);
        assert_eq!(r.diagnostics[0].param("field"), Some("retailerCode"));
        assert_eq!(r.diagnostics[0].param("expected"), Some("integer"));
        let r = check(&c(&[("extra", "1")]), &s, &[(C::ConsentUnknownField, "/extra")]);
        assert_eq!(r.diagnostics[0].param("field"), Some("extra"));
    }

    #[test]
    fn recipient_kind_and_type() {
        let s = strict();
        let mail = r#""ali@example.com""#;
        let cases: Vec<Case> = vec![
            (c(&[("type", r#""EPOSTA""#)]), s, vec![(C::PhoneNeedsCallOrMessage, "/type")]),
            (c(&[("recipient", mail), ("type", r#""ARAMA""#)]), s, vec![(C::EmailNeedsEposta, "/type")]),
            (c(&[("recipient", mail), ("type", r#""MESAJ""#)]), s, vec![(C::EmailNeedsEposta, "/type")]),
            (c(&[("recipient", mail), ("type", r#""EPOSTA""#)]), s, vec![]),
            (c(&[("type", r#""ARAMA""#)]), s, vec![]),
            // landline: fine for ARAMA, a warning for MESAJ
            (c(&[("recipient", r#""+902121234567""#), ("type", r#""ARAMA""#)]), s, vec![]),
            (c(&[("recipient", r#""+902121234567""#)]), s, vec![(C::PhoneNotMobile, "/recipient")]),
            // strict wants the wire form; normalize rewrites it with a warning
            (c(&[("recipient", r#""0532 123 45 67""#)]), s, vec![(C::PhoneNotWireForm, "/recipient")]),
            (c(&[("recipient", r#""0532 123 45 67""#)]), normalize(), vec![(C::RecipientNormalized, "/recipient")]),
            (c(&[("recipient", r#""""#)]), s, vec![(C::RecipientEmpty, "/recipient")]),
            // a recipient that did not parse is not also compared with type
            (
                c(&[("recipient", r#""0532 123 45 67""#), ("type", r#""EPOSTA""#)]),
                s,
                vec![(C::PhoneNotWireForm, "/recipient")],
            ),
        ];
        for (json, opts, expect) in cases {
            check(&json, &opts, &expect);
        }
        let r = check(&c(&[("recipient", mail), ("type", r#""ARAMA""#)]), &s, &[(C::EmailNeedsEposta, "/type")]);
        assert_eq!(r.diagnostics[0].param("type"), Some("ARAMA"));
        let r = check(&c(&[("recipient", r#""+902121234567""#)]), &s, &[(C::PhoneNotMobile, "/recipient")]);
        assert_eq!(r.diagnostics[0].param("number"), Some("+902121234567"));
        assert_eq!(r.diagnostics[0].param("kind"), Some("fixed-line"));
        let r =
            check(&c(&[("recipient", r#""0532 123 45 67""#)]), &normalize(), &[(C::RecipientNormalized, "/recipient")]);
        let v = r.value.expect("valid");
        assert_eq!(v.consent().recipient, "+905321234567");
        assert_eq!(v.recipient().wire(), "+905321234567");
    }

    #[test]
    fn consent_date_rules() {
        let s = strict();
        let date = |d: &str| c(&[("consentDate", d)]);
        let cases: Vec<Case> = vec![
            (date(r#""2025-03-11T10:00:00""#), s, vec![(C::DateFormat, "/consentDate")]),
            (date(r#""2025-03-11 10:00""#), s, vec![(C::DateFormat, "/consentDate")]),
            (date(r#""2025-03-11 10:00:00.000""#), s, vec![(C::DateFormat, "/consentDate")]),
            (date(r#""11.03.2025 10:00:00""#), s, vec![(C::DateFormat, "/consentDate")]),
            (date(r#""""#), s, vec![(C::DateFormat, "/consentDate")]),
            (date(r#""2025-02-29 10:00:00""#), s, vec![(C::DateInvalid, "/consentDate")]),
            (date(r#""2025-03-11 24:00:00""#), s, vec![(C::DateInvalid, "/consentDate")]),
            (date(r#""2015-04-30 23:59:59""#), s, vec![(C::DateBefore2015, "/consentDate")]),
            (date(r#""2015-04-30 23:59:59""#), no_window(), vec![(C::DateBefore2015, "/consentDate")]),
            (date(r#""2015-05-01 00:00:00""#), no_window(), vec![]),
            (date(r#""2025-03-12 15:00:00""#), s, vec![]),
            (date(r#""2025-03-12 15:00:01""#), s, vec![(C::DateInFuture, "/consentDate")]),
            (date(r#""2030-01-01 00:00:00""#), no_window(), vec![(C::DateInFuture, "/consentDate")]),
            (date(r#""2025-03-10 09:00:00""#), s, vec![]),
            (date(r#""2025-02-20 10:00:00""#), s, vec![(C::DateTooOld, "/consentDate")]),
            (date(r#""2025-02-20 10:00:00""#), no_window(), vec![]),
            // HS_2015: exactly 2015-05-01 00:00:00, whatever the window
            (c(&[("source", r#""HS_2015""#), ("consentDate", r#""2015-05-01 00:00:00""#)]), s, vec![]),
            (
                c(&[("source", r#""HS_2015""#), ("consentDate", r#""2015-05-01 00:00:01""#)]),
                s,
                vec![(C::Hs2015Date, "/consentDate")],
            ),
            (
                c(&[("source", r#""HS_2015""#), ("consentDate", r#""2014-01-01 00:00:00""#)]),
                s,
                vec![(C::Hs2015Date, "/consentDate")],
            ),
            (c(&[("source", r#""HS_2015""#)]), s, vec![(C::Hs2015Date, "/consentDate")]),
            // TACIR dates, when given, follow the same rules
            (
                c(&[("recipientType", r#""TACIR""#), ("consentDate", r#""2025-03-13 00:00:00""#)]),
                s,
                vec![(C::DateInFuture, "/consentDate")],
            ),
        ];
        for (json, opts, expect) in cases {
            check(&json, &opts, &expect);
        }
        let r = check(&date(r#""2025-03-12 15:00:01""#), &s, &[(C::DateInFuture, "/consentDate")]);
        assert_eq!(r.diagnostics[0].param("value"), Some("2025-03-12 15:00:01"));
        assert_eq!(r.diagnostics[0].param("now"), Some("2025-03-12 15:00:00"));
        let r = check(&date(r#""2025-02-20 10:00:00""#), &s, &[(C::DateTooOld, "/consentDate")]);
        assert_eq!(r.diagnostics[0].param("days"), Some("3"));
        assert_eq!(r.diagnostics[0].param("value"), Some("2025-02-20 10:00:00"));
        assert!(r.diagnostics[0].param("cutoff").is_some());
    }

    #[test]
    fn retailers() {
        let s = strict();
        let cases: Vec<(String, Vec<(Code, &str)>)> = vec![
            (c(&[("retailerCode", "12"), ("retailerAccess", "[1,2,3]")]), vec![]),
            (c(&[("retailerCode", "18446744073709551615")]), vec![]),
            (c(&[("retailerCode", "0")]), vec![(C::RetailerCodeInvalid, "/retailerCode")]),
            (c(&[("retailerCode", "-1")]), vec![(C::RetailerCodeInvalid, "/retailerCode")]),
            (c(&[("retailerCode", "1.5")]), vec![(C::RetailerCodeInvalid, "/retailerCode")]),
            (c(&[("retailerCode", "1.0")]), vec![(C::RetailerCodeInvalid, "/retailerCode")]),
            (c(&[("retailerCode", "1e3")]), vec![(C::RetailerCodeInvalid, "/retailerCode")]),
            (c(&[("retailerCode", "18446744073709551616")]), vec![(C::RetailerCodeInvalid, "/retailerCode")]),
            (c(&[("retailerAccess", "[]")]), vec![(C::RetailerAccessEmpty, "/retailerAccess")]),
            (
                c(&[("retailerAccess", r#"[1,"2",0,1,2.5,null,1]"#)]),
                vec![
                    (C::RetailerAccessInvalid, "/retailerAccess/1"),
                    (C::RetailerAccessInvalid, "/retailerAccess/2"),
                    (C::RetailerAccessDuplicate, "/retailerAccess/3"),
                    (C::RetailerAccessInvalid, "/retailerAccess/4"),
                    (C::RetailerAccessInvalid, "/retailerAccess/5"),
                    (C::RetailerAccessDuplicate, "/retailerAccess/6"),
                ],
            ),
        ];
        for (json, expect) in cases {
            check(&json, &s, &expect);
        }
        let r = check(&c(&[("retailerAccess", "[7,7]")]), &s, &[(C::RetailerAccessDuplicate, "/retailerAccess/1")]);
        assert_eq!(r.diagnostics[0].param("value"), Some("7"));
    }

    #[test]
    fn everything_is_collected_in_field_order() {
        let json = r#"{"zzz":1,"consentDate":"2030-01-01 00:00:00","status":"ONAY","source":"HS_KARAR","type":"EPOSTA","recipient":"+905321234567","retailerAccess":[],"recipientType":"BIREYSEL","zzz":2,"retailerCode":"1"}"#;
        check(
            json,
            &strict(),
            &[
                (C::ConsentUnknownField, "/zzz"),
                (C::ConsentUnknownField, "/zzz"),
                (C::PhoneNeedsCallOrMessage, "/type"),
                (C::KararNeedsRet, "/status"),
                (C::DateInFuture, "/consentDate"),
                (C::ConsentWrongFieldType, "/retailerCode"),
                (C::RetailerAccessEmpty, "/retailerAccess"),
            ],
        );
    }

    #[test]
    fn valid_consent_is_the_normalised_wire_form() {
        let json = c(&[("retailerCode", "12"), ("retailerAccess", "[3,1]"), ("retailerCode", "12")]);
        let r = check(&json, &strict(), &[]);
        let v = r.value.expect("valid");
        let want = Consent {
            recipient: "+905321234567".into(),
            recipient_type: RecipientType::Bireysel,
            kind: ConsentType::Mesaj,
            status: Status::Onay,
            source: Some(Source::HsWeb),
            consent_date: Some("2025-03-11 10:00:00".into()),
            retailer_code: Some(12),
            retailer_access: Some(vec![3, 1]),
        };
        assert_eq!(v.consent(), &want);
        let text = want.to_json();
        assert_eq!(
            text,
            r#"{"recipient":"+905321234567","recipientType":"BIREYSEL","type":"MESAJ","status":"ONAY","source":"HS_WEB","consentDate":"2025-03-11 10:00:00","retailerCode":12,"retailerAccess":[3,1]}"#
        );
        assert_eq!(serde_json::to_string(&want).unwrap(), text);
        // TACIR without source and date: those stay absent
        let r = check(&c(&[("recipientType", r#""TACIR""#), ("source", "null"), ("consentDate", "")]), &strict(), &[]);
        let v = r.value.expect("valid").into_consent();
        assert_eq!((v.source, v.consent_date.as_deref(), v.retailer_code), (None, None, None));
        assert_eq!(
            v.to_json(),
            r#"{"recipient":"+905321234567","recipientType":"TACIR","type":"MESAJ","status":"ONAY"}"#
        );
    }

    #[test]
    fn known_keys_are_recognised_exactly() {
        use crate::json::Reader;
        // Each allowed key, near misses, escapes and prefixes, followed by enough text for both words.
        let mut keys: Vec<String> = NAMES.iter().map(|k| (*k).to_owned()).collect();
        for name in NAMES {
            keys.push(format!("{name}x"));
            keys.push(format!("x{name}"));
            keys.push(name[..name.len() - 1].to_owned());
            keys.push(name.to_uppercase());
            keys.push(format!("{}\\u0041", &name[..name.len() - 1]));
        }
        keys.extend(["", "t", "recipientTyp", "recipien", "retailer", "retailerAcces", "consentD"].map(String::from));
        for key in keys {
            let text = format!("\"{key}\": 1, \"padding padding\"");
            let r = Reader::new(&text);
            let fast = r.words_after_quote().and_then(|(head, tail)| known_key(head, tail));
            assert_eq!(fast, slot_of(&key), "{key}");
            // A key with too little text after it is left to the general path.
            let short = format!("\"{key}\"");
            if short.len() < 17 {
                assert_eq!(Reader::new(&short).words_after_quote(), None, "{key}");
            }
        }
    }

    #[test]
    fn window_fast_path_agrees_with_the_cutoff() {
        // Across the 2015-2016 clock changes and later, with and without holidays.
        for rule in [
            BusinessDays::default(),
            BusinessDays { days: 3, count_holidays: false },
            BusinessDays { days: 0, count_holidays: true },
        ] {
            let mut now = 1_430_438_400; // 2015-05-01 00:00:00 UTC
            while now < 1_500_000_000 {
                let opts = Options { window: Some(rule), ..Options::new(now) };
                let clock = Clock::new(&opts);
                let cutoff = business_day_cutoff(LocalDateTime::from_unix(now), rule);
                for back in [0, 3_599, 3_600, 86_400, 2 * 86_400 + 3_600, 3 * 86_400 - 1, 3 * 86_400, 5 * 86_400] {
                    let date = LocalDateTime::from_unix(now - back);
                    assert_eq!(
                        clock.cutoff_for(date, date.naive_seconds(), rule).is_some(),
                        date < cutoff,
                        "now {now} back {back}"
                    );
                }
                now += 97_777;
            }
        }
    }
}
