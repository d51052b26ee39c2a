//! # iys-core
//!
//! The validation core of iys-edge: everything IYS (İleti Yönetim Sistemi) checks about a consent,
//! checked before the request leaves the provider.
//!
//! - [`recipient`]: Turkish phone numbers in every way people write them, normalised to E.164, and
//!   e-mail addresses by IYS's rules; a strict check of the exact wire form IYS accepts.
//! - [`consent`]: the consent payload (the wire type) and every stateless IYS rule.
//! - [`batch`]: 1..1000 consents, no duplicates, a report per item.
//! - [`diagnostic`]: stable codes (`recipient/phone-letters`), IYS H-codes, Turkish and English text.
//! - [`time`]: Turkey's wall clock (Europe/Istanbul, with the 2015–2016 clock changes) and business days.
//! - [`json`]: a small strict JSON reader (duplicate keys kept, depth bounded) and writer.
//!
//! **Invariant:** this crate is pure. No I/O, no clock, no environment: the caller passes "now".
//!
//! ```
//! use iys_core::recipient::{validate_recipient, Mode};
//! let r = validate_recipient("0532 123 45 67", Mode::Normalize);
//! assert_eq!(r.value.unwrap().wire(), "+905321234567");
//! let r = validate_recipient("0532 123 45 67", Mode::Strict);
//! assert_eq!(r.diagnostics[0].code.as_str(), "recipient/phone-not-wire-form");
//! assert_eq!(r.diagnostics[0].param("wire"), Some("+905321234567"));
//! ```
#![forbid(unsafe_code)]

pub mod batch;
pub mod consent;
pub mod diagnostic;
pub mod json;
pub mod recipient;
pub mod time;
#[cfg(feature = "serde")]
pub mod wire;

pub use batch::{validate_batch, BatchReport};
pub use consent::{validate_consent, Consent, Options, ValidConsent};
pub use diagnostic::{Code, Diagnostic, Lang, Report, Severity};
pub use recipient::{normalize_recipient, validate_recipient, Mode, Recipient};
