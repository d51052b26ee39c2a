//! Turkish phone numbers. PLACEHOLDER — being replaced by the phone work (tables generated from
//! libphonenumber's Turkish metadata).

use super::{Mode, Recipient};
use crate::diagnostic::{Code, Diagnostic, Report};

/// The number type, as libphonenumber's Turkish metadata assigns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PhoneType {
    /// 5xx mobile numbers.
    Mobile,
    /// Geographic numbers (2xx, 3xx, 4xx).
    FixedLine,
    /// 800 toll-free numbers.
    TollFree,
    /// 900 premium-rate numbers.
    PremiumRate,
    /// Shared-cost numbers.
    SharedCost,
    /// 850 numbers (VoIP in libphonenumber's terms).
    Voip,
    /// Personal numbers.
    PersonalNumber,
    /// Pager numbers (512…).
    Pager,
    /// Universal access numbers (444 xxxx).
    Uan,
    /// Voicemail access numbers.
    Voicemail,
}

impl PhoneType {
    /// Stable lower-case name (`mobile`, `fixed-line`, `toll-free`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            PhoneType::Mobile => "mobile",
            PhoneType::FixedLine => "fixed-line",
            PhoneType::TollFree => "toll-free",
            PhoneType::PremiumRate => "premium-rate",
            PhoneType::SharedCost => "shared-cost",
            PhoneType::Voip => "voip",
            PhoneType::PersonalNumber => "personal-number",
            PhoneType::Pager => "pager",
            PhoneType::Uan => "uan",
            PhoneType::Voicemail => "voicemail",
        }
    }
}

/// A valid Turkish number in E.164 form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Phone {
    e164: String,
    number_type: PhoneType,
}

impl Phone {
    /// `+90` and the national number, e.g. `+905321234567`.
    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// Mobile, fixed line, …
    pub fn number_type(&self) -> PhoneType {
        self.number_type
    }
}

/// Characters that are dropped silently: zero-width and bidi marks.
pub fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{00AD}')
}

/// Judges a phone input.
pub fn validate(input: &str, mode: Mode) -> Report<Recipient> {
    let _ = mode;
    let b = input.as_bytes();
    if b.len() == 13 && input.starts_with("+90") && b[3..].iter().all(u8::is_ascii_digit) {
        let p = Phone { e164: input.to_owned(), number_type: PhoneType::Mobile };
        return Report::from_parts(Some(Recipient::Phone(p)), Vec::new());
    }
    Report::from_parts(None, vec![Diagnostic::new(Code::PhoneNotAssigned, "").with("number", input)])
}
