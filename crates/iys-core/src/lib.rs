#![doc = include_str!("../README.md")]
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
