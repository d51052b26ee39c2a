//! Recipients: Turkish phone numbers and e-mail addresses.
//!
//! Two ways to judge an input:
//! - [`Mode::Normalize`] reads what a person wrote (`0532 123 45 67`, `+90 (532) 123-45-67`, Arabic-Indic
//!   digits, NBSP, bidi marks…) and returns the wire form, with a `recipient/normalized` warning when the
//!   input was not already in that form.
//! - [`Mode::Strict`] judges as IYS does: only the exact wire form passes (`+905321234567`, H121
//!   otherwise). When the input is a valid number written another way, the error carries the wire form
//!   in its `wire` param, so a relay can say "you sent 0532… — the wire form is +90532…".

pub mod email;
pub mod phone;
#[rustfmt::skip]
mod phone_tables;

use alloc::string::String;
use alloc::vec;

use crate::diagnostic::{Code, Diagnostic, Report};
pub use email::Email;
pub use phone::{Phone, PhoneType};

/// How an input is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Only the exact wire form IYS accepts (the relay's default).
    #[default]
    Strict,
    /// Human-written input is normalised to the wire form; each change is reported as a warning.
    Normalize,
}

/// Phone or e-mail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecipientKind {
    /// A phone number (consent types ARAMA and MESAJ).
    Phone,
    /// An e-mail address (consent type EPOSTA).
    Email,
}

impl RecipientKind {
    /// `"phone"` or `"email"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            RecipientKind::Phone => "phone",
            RecipientKind::Email => "email",
        }
    }
}

/// A parsed recipient in its wire form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Recipient {
    /// A Turkish phone number.
    Phone(Phone),
    /// An e-mail address.
    Email(Email),
}

impl Recipient {
    /// The exact string IYS accepts (`+905321234567`, `ali@example.com`).
    pub fn wire(&self) -> &str {
        match self {
            Recipient::Phone(p) => p.e164(),
            Recipient::Email(e) => e.as_str(),
        }
    }

    /// [`Recipient::wire`]'s bytes (without the UTF-8 check a phone's `&str` costs).
    pub(crate) fn wire_bytes(&self) -> &[u8] {
        match self {
            Recipient::Phone(p) => p.e164_bytes(),
            Recipient::Email(e) => e.as_str().as_bytes(),
        }
    }

    /// Phone or e-mail.
    pub fn kind(&self) -> RecipientKind {
        match self {
            Recipient::Phone(_) => RecipientKind::Phone,
            Recipient::Email(_) => RecipientKind::Email,
        }
    }
}

/// Which kind an input looks like: anything with an `@` is read as an e-mail address.
pub fn guess_kind(input: &str) -> RecipientKind {
    // One byte scan first: `＠` (U+FF20) is not ASCII, so ASCII input needs no char decoding.
    let mut ascii = true;
    for &b in input.as_bytes() {
        if b == b'@' {
            return RecipientKind::Email;
        }
        ascii &= b.is_ascii();
    }
    if !ascii && input.chars().any(|c| c == '＠') {
        RecipientKind::Email
    } else {
        RecipientKind::Phone
    }
}

/// Judges one recipient. Paths in the diagnostics are `""` (the input itself).
///
/// ```
/// use iys_core::recipient::{validate_recipient, Mode};
/// assert!(validate_recipient("+905321234567", Mode::Strict).is_ok());
/// assert!(validate_recipient("ali@example.com", Mode::Strict).is_ok());
/// let r = validate_recipient("ayşe@örnek.com", Mode::Normalize);
/// assert_eq!(r.diagnostics[0].code.as_str(), "recipient/email-non-ascii");
/// ```
pub fn validate_recipient(input: &str, mode: Mode) -> Report<Recipient> {
    if input.chars().all(|c| c.is_whitespace() || phone::is_invisible(c)) {
        return Report::from_parts(None, vec![Diagnostic::new(Code::RecipientEmpty, "")]);
    }
    match guess_kind(input) {
        RecipientKind::Email => email::validate(input, mode),
        RecipientKind::Phone => phone::validate(input, mode),
    }
}

/// A character as a message names it: itself, or `U+XXXX` (at least four upper-case hex digits)
/// when `hidden` says it would not be visible.
fn shown(c: char, hidden: bool) -> String {
    if !hidden {
        return String::from(c);
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let code = u32::from(c);
    let mut out = String::from("U+");
    let mut digits = 4;
    while code >> (4 * digits) != 0 {
        digits += 1;
    }
    for i in (0..digits).rev() {
        out.push(char::from(HEX[((code >> (4 * i)) & 0xF) as usize]));
    }
    out
}

/// Human input → wire form: [`validate_recipient`] in [`Mode::Normalize`].
pub fn normalize_recipient(input: &str) -> Report<Recipient> {
    validate_recipient(input, Mode::Normalize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_names_hidden_characters_by_code_point() {
        assert_eq!(shown('x', false), "x");
        assert_eq!(shown('ş', false), "ş");
        for c in ['\u{7}', '\u{a0}', '\u{200b}', '\u{feff}', '\u{1f600}', '\u{10ffff}'] {
            assert_eq!(shown(c, true), format!("U+{:04X}", u32::from(c)));
        }
    }
}
