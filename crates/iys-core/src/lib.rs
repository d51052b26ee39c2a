#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
// Only `alloc` is needed, so the wasm build can leave std (and its panic machinery) out.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod batch;
pub mod consent;
pub mod diagnostic;
pub mod json;
pub mod recipient;
pub mod time;
#[cfg(feature = "serde")]
pub mod wire;
/// The seeded xorshift64 the unit tests draw random inputs from (shared with the integration tests
/// and the bench).
#[cfg(test)]
#[path = "../tests/support/xorshift.rs"]
mod xorshift;

pub use batch::{validate_batch, BatchReport};

/// `s` split around the first `byte` (ASCII), like `str::split_once` with a `char`. A byte scan:
/// the `char` pattern searcher costs about 1 kB of wasm.
pub(crate) fn split_once_byte(s: &str, byte: u8) -> Option<(&str, &str)> {
    let at = s.bytes().position(|b| b == byte)?;
    Some((s.get(..at)?, s.get(at + 1..)?))
}
pub use consent::{validate_consent, Consent, Options, ValidConsent};
pub use diagnostic::{Code, Diagnostic, Lang, Report, Severity};
pub use recipient::{normalize_recipient, validate_recipient, Mode, Recipient};
