//! Turkish phone numbers: human-written input → E.164 (`+90` and the national number).
//!
//! Validity is the strict Turkish profile of the IYS spec (§3.3, §7 item 5): `+90` and exactly
//! 10 national digits, the first of them 2, 3 or 4 (geographic) or 5 (mobile), or an 850
//! (non-geographic) or 800 (toll-free) number, which are valid with a
//! `recipient/phone-non-geographic` warning. Individual blocks are deliberately not whitelisted:
//! Turkey keeps opening new 5xx blocks (51x, 56x, 58x, 59x …) and IYS checks only the format.
//! libphonenumber's Turkish metadata, compiled at codegen time (`cargo xtask codegen`) into
//! `phone_tables.rs`, a small digit automaton, gives only the number *type* ([`PhoneType`]); a
//! number the profile takes that the metadata does not know is typed by its first digit (5:
//! mobile, 2–4: fixed line). The run time needs neither `phonenumber` nor `regex`. Parsing mirrors
//! libphonenumber's handling of a number read with Turkey as the default region, judged by the
//! profile:
//!
//! - `+` (or full-width `＋`) then a country calling code; `00` (the Turkish international
//!   prefix) works like `+` (and `+00` like `+`) when the next digit is not `0`. A code other than 90 is
//!   `recipient/phone-not-turkish`.
//! - Without either, a leading `90` is read as the country code when the digits are not a valid
//!   number by themselves but are without it (`905321234567`), or when they are longer than 10
//!   digits; `9001234567` stays as written and is refused (900 premium rate is not in the profile).
//! - One national prefix `0` is then dropped (`0532…`, `+90 0532…`), unless that leaves fewer
//!   than 7 digits.
//!
//! What a person may write around the digits: blanks (every Unicode space, NBSP included),
//! `-` and the Unicode dashes, `.`, `/`, parentheses and brackets, a leading `tel:`,
//! zero-width and bidi marks ([`is_invisible`], dropped silently), and digits in ASCII,
//! Arabic-Indic (U+0660–0669), Persian (U+06F0–06F9) or full-width (U+FF10–FF19) form.
//!
//! Decisions where we are deliberately stricter or more explicit than libphonenumber:
//! - **Letters are never turned into digits.** Any letter outside `tel:` and an extension
//!   marker is `recipient/phone-letters` (libphonenumber maps `0800-FLOWERS` to digits, and
//!   the `phonenumber` crate does so even for two letters).
//! - **Other characters** (`*`, `!`, `,`, `;`, …) are `recipient/phone-invalid-char`;
//!   libphonenumber silently skips leading text and trims trailing punctuation.
//! - **Extensions** (`ext. 12`, `ext 12`, `extn 12`, `x12`, `#12`, `;ext=12`, Turkish
//!   `dahili 12`, at most 7 digits, at the end) are accepted: the number is kept, the extension
//!   is dropped, and a `recipient/phone-extension-dropped` warning (params `extension`, `wire`)
//!   says so. IYS records lines, not extensions, and the line is what the consent is about.
//! - **444 numbers** (`444 1 234` → `+904441234`, 7 national digits) are refused as
//!   `phone-too-short`: they are service numbers without an area code, not full subscriber numbers
//!   (libphonenumber takes them). So are 900/888/898 premium-rate and 811 numbers
//!   (`phone-not-assigned`) and 800 numbers of 12–13 digits (`phone-too-long`; IYS takes at most 15
//!   characters with the `+`). Callers that need a mobile number check [`Phone::number_type`].
//!
//! Errors: `phone-too-short` when more digits could still make a valid number,
//! `phone-too-long` when the first 10 national digits already are one (param `digits`: national
//! digits), `phone-not-assigned` otherwise (param `number`, e.g. `+906121234567`).
//!
//! ```
//! use iys_core::recipient::{phone, Mode, Recipient};
//! let r = phone::validate("0532 123 45 67", Mode::Normalize);
//! assert_eq!(r.value.map(|v| v.wire().to_owned()).as_deref(), Some("+905321234567"));
//! assert!(!phone::validate("0532 123 45 67", Mode::Strict).is_ok());
//! assert!(phone::validate("+905321234567", Mode::Strict).is_ok());
//! ```

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::phone_tables as tables;
use super::{shown, Mode, Recipient};
use crate::diagnostic::{Code, Diagnostic, Report};

/// The number type, as libphonenumber's Turkish metadata assigns it; a valid number the metadata
/// does not know is [`PhoneType::Mobile`] when it starts with 5, [`PhoneType::FixedLine`] otherwise.
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

    /// The E.164 text's bytes.
    pub(crate) fn e164_bytes(&self) -> &[u8] {
        self.e164.as_bytes()
    }

    /// Mobile, fixed line, …
    pub fn number_type(&self) -> PhoneType {
        self.number_type
    }

    /// Reads a phone number as a person writes it (`0532 123 45 67`, `+90 (532) 123-45-67`, …)
    /// into E.164 and its type, without diagnostics: the lean call for code that only needs the
    /// number (no message, no `recipient/normalized` warning, nothing allocated on the common
    /// path but the E.164 string).
    ///
    /// The same parser as [`validate`]: `Ok` exactly when `validate(input, Mode::Normalize)` has
    /// a value, with the same [`Phone`]; `Err` carries the code of the error `validate` reports
    /// (`recipient/phone-too-short`, `recipient/phone-letters`, …).
    ///
    /// ```
    /// use iys_core::diagnostic::Code;
    /// use iys_core::recipient::{Phone, PhoneType};
    /// let p = Phone::parse("0532 123 45 67").unwrap();
    /// assert_eq!((p.e164(), p.number_type()), ("+905321234567", PhoneType::Mobile));
    /// assert_eq!(Phone::parse("0532 123"), Err(Code::PhoneTooShort));
    /// ```
    pub fn parse(input: &str) -> Result<Phone, Code> {
        parse(input).map(|parsed| parsed.phone).map_err(|d| d.code)
    }
}

/// Characters that are dropped silently: zero-width and bidi marks.
pub fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{00AD}')
}

/// Judges a phone input.
///
/// [`Mode::Normalize`] returns the E.164 number, with a `recipient/normalized` warning when the
/// input was written another way (and `recipient/phone-extension-dropped` when an extension
/// was removed). [`Mode::Strict`] accepts only the exact wire form; a valid number written any
/// other way is `recipient/phone-not-wire-form` with the wire form in `wire`. In both modes an
/// 850 or 800 number carries a `recipient/phone-non-geographic` warning (param `wire`).
///
/// ```
/// use iys_core::recipient::{phone, Mode};
/// let r = phone::validate("+90 (532) 123-45-67", Mode::Strict);
/// assert_eq!(r.diagnostics[0].code.as_str(), "recipient/phone-not-wire-form");
/// assert_eq!(r.diagnostics[0].param("wire"), Some("+905321234567"));
/// ```
pub fn validate(input: &str, mode: Mode) -> Report<Recipient> {
    let parsed = match parse(input) {
        Ok(p) => p,
        Err(d) => return Report::from_parts(None, vec![d]),
    };
    // An input already in wire form allocates nothing here: no diagnostic, no copy of the wire form.
    let mut diagnostics = Vec::new();
    let rewritten = input.as_bytes() != parsed.phone.e164_bytes();
    match mode {
        Mode::Strict => {
            if rewritten {
                let wire = parsed.phone.e164();
                diagnostics.push(Diagnostic::new(Code::PhoneNotWireForm, "").with("wire", wire));
            }
        }
        Mode::Normalize => {
            let wire = parsed.phone.e164();
            if rewritten {
                diagnostics
                    .push(Diagnostic::new(Code::RecipientNormalized, "").with("input", input).with("wire", wire));
            }
            if let Some(ext) = parsed.extension {
                diagnostics
                    .push(Diagnostic::new(Code::PhoneExtensionDropped, "").with("extension", ext).with("wire", wire));
            }
        }
    }
    if non_geographic(parsed.phone.e164_bytes().get(3..).unwrap_or_default()) {
        diagnostics.push(Diagnostic::new(Code::PhoneNonGeographic, "").with("wire", parsed.phone.e164()));
    }
    Report::from_parts(Some(Recipient::Phone(parsed.phone)), diagnostics)
}

/// A number read from an input, with the extension that was dropped.
struct Parsed {
    phone: Phone,
    extension: Option<String>,
}

/// The longest national number libphonenumber reads (`MAX_LENGTH_FOR_NSN`): longer input is
/// `phone-too-long` before anything else is looked at.
const MAX_NSN: usize = 17;

/// The length of every valid national number (the spec's strict profile: `+90` and 10 digits).
const NSN: usize = 10;

/// A national `0` is dropped only when at least this many digits follow it, as libphonenumber
/// does with Turkey's shortest number (444 xxxx): a short `0532 123` is reported with the digits
/// written, 0 included.
const KEEP_PREFIX_BELOW: usize = 7;

/// Room for the digits [`read_plain`] collects on the stack: more than any number needs (a longer
/// input takes the general path, which reports it).
const PLAIN_DIGITS: usize = 24;

/// `+90` and the national digits of `input`, or the one diagnostic that explains why not.
fn parse(input: &str) -> Result<Parsed, Diagnostic> {
    // The wire form of a 10-digit number: `+90` then a national number with no prefix `0`. What
    // `national_number` makes of its digits is those 10 digits (`9` is no country code, `90` is).
    if let Some(national) = input.strip_prefix("+90") {
        let b = national.as_bytes();
        if b.len() == 10 && b.first() != Some(&b'0') && b.iter().all(u8::is_ascii_digit) {
            return phone_of(national, None);
        }
    }
    parse_written(input)
}

/// [`parse`] for input not already in wire form. A function of its own, never inlined, so that the
/// wasm engine compiles this larger reading only when some input needs it: V8 compiles each wasm
/// function on its first call, and a first answer about a wire-form number skips it.
#[inline(never)]
fn parse_written(input: &str) -> Result<Parsed, Diagnostic> {
    let mut buf = [0u8; PLAIN_DIGITS];
    match read_plain(input, &mut buf) {
        Some((plus, digits)) => number(digits, plus, None),
        None => {
            let written = read(input)?;
            number(&written.digits, written.plus, written.extension)
        }
    }
}

/// The phone number of the `digits` that were written (after a `+` when `plus`).
fn number(digits: &str, plus: bool, extension: Option<String>) -> Result<Parsed, Diagnostic> {
    phone_of(national_number(digits, plus)?, extension)
}

/// The phone number of a national number.
fn phone_of(national: &str, extension: Option<String>) -> Result<Parsed, Diagnostic> {
    let mut e164 = String::with_capacity(3 + national.len());
    e164.push_str("+90");
    e164.push_str(national);
    let digits = national.as_bytes();
    if !in_profile(digits) {
        return Err(why_not(digits, &e164));
    }
    let number_type = number_type(digits).unwrap_or(if digits.first() == Some(&b'5') {
        PhoneType::Mobile
    } else {
        PhoneType::FixedLine
    });
    Ok(Parsed { phone: Phone { e164, number_type }, extension })
}

/// Whether a national number is one the strict TR profile takes: 10 ASCII digits starting with
/// 2–5 (geographic or mobile), or an 850 / 800 number.
fn in_profile(national: &[u8]) -> bool {
    national.len() == NSN
        && national.iter().all(u8::is_ascii_digit)
        && (matches!(national.first(), Some(b'2'..=b'5')) || non_geographic(national))
}

/// Whether a national number starts 850 (non-geographic) or 800 (toll-free).
fn non_geographic(national: &[u8]) -> bool {
    national.starts_with(b"850") || national.starts_with(b"800")
}

/// Whether more digits after `national` (shorter than 10) could make a number of the profile.
fn could_grow(national: &[u8]) -> bool {
    national.len() < NSN
        && match national {
            [] | [b'2'..=b'5', ..] | [b'8'] | [b'8', b'0' | b'5'] => true,
            [b'8', b'0' | b'5', third, ..] => *third == b'0',
            _ => false,
        }
}

/// The fast path of [`read`] for the common shape of input: ASCII digits, at most one leading
/// `+`, and the separators ` -./()[]`, at most [`PLAIN_DIGITS`] digits. For such input `read`
/// gives the same digits (it has no letters, so no extension or `tel:`), without its `Vec<char>`
/// and `String`s. `None` for anything else, which `read` then handles (and explains).
fn read_plain<'b>(input: &str, buf: &'b mut [u8; PLAIN_DIGITS]) -> Option<(bool, &'b str)> {
    let mut plus = false;
    let mut n = 0;
    for &b in input.as_bytes() {
        match b {
            b'0'..=b'9' => {
                *buf.get_mut(n)? = b;
                n += 1;
            }
            b'+' if !plus && n == 0 => plus = true,
            b' ' | b'-' | b'.' | b'/' | b'(' | b')' | b'[' | b']' => {}
            _ => return None,
        }
    }
    let digits = core::str::from_utf8(buf.get(..n)?).ok()?;
    Some((plus, digits))
}

/// What was written: the digits (ASCII), whether a `+` came first, and an extension.
#[derive(Debug)]
struct Written {
    plus: bool,
    digits: String,
    extension: Option<String>,
}

/// The ASCII value of a decimal digit in one of the scripts we read.
fn digit(c: char) -> Option<u8> {
    let base = match c {
        '0'..='9' => '0',
        '\u{0660}'..='\u{0669}' => '\u{0660}',
        '\u{06F0}'..='\u{06F9}' => '\u{06F0}',
        '\u{FF10}'..='\u{FF19}' => '\u{FF10}',
        _ => return None,
    };
    u8::try_from(u32::from(c) - u32::from(base)).ok().map(|d| b'0' + d)
}

/// Grouping characters people write between digits.
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '\u{2010}'
                ..='\u{2015}'
                    | '\u{2212}'
                    | '\u{FF0D}'
                    | '.'
                    | '\u{FF0E}'
                    | '/'
                    | '\u{FF0F}'
                    | '('
                    | ')'
                    | '\u{FF08}'
                    | '\u{FF09}'
                    | '['
                    | ']'
                    | '\u{FF3B}'
                    | '\u{FF3D}'
        )
}

fn is_plus(c: char) -> bool {
    c == '+' || c == '\u{FF0B}'
}

/// Does `chars` end with `word` (ASCII, case-insensitive)?
fn ends_with_word(chars: &[char], word: &str) -> bool {
    let n = word.len();
    match chars.len().checked_sub(n).and_then(|start| chars.get(start..)) {
        Some(tail) => tail.iter().zip(word.chars()).all(|(a, b)| a.to_ascii_lowercase() == b),
        None => false,
    }
}

/// Splits an extension off the end: `<number><blanks><marker>[.:]<blanks><1–7 digits>[#]`.
/// Returns the number part and the extension digits.
fn split_extension(chars: &[char]) -> (&[char], Option<String>) {
    let mut end = chars.len();
    if end > 0 && chars.get(end - 1) == Some(&'#') {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && chars.get(start - 1).copied().and_then(digit).is_some() {
        start -= 1;
    }
    let count = end - start;
    if count == 0 || count > 7 {
        return (chars, None);
    }
    let ext: String =
        chars.get(start..end).unwrap_or_default().iter().filter_map(|&c| digit(c).map(char::from)).collect();
    let before = chars.get(..start).unwrap_or_default();
    if ends_with_word(before, ";ext=") {
        return (before.get(..before.len() - 5).unwrap_or_default(), Some(ext));
    }
    let mut at = before.len();
    while at > 0 && before.get(at - 1).is_some_and(|&c| c.is_whitespace() || c == '-') {
        at -= 1;
    }
    if at > 0 && matches!(before.get(at - 1), Some('.' | ':')) {
        at -= 1;
    }
    let head = before.get(..at).unwrap_or_default();
    for marker in ["extension", "extn", "ext", "dahili", "x", "#"] {
        if ends_with_word(head, marker) {
            // (Markers are ASCII: their byte length is their length in chars.)
            let rest = head.get(..head.len() - marker.len()).unwrap_or_default();
            // The marker must be a word of its own: not glued to letters before it.
            if rest.last().is_some_and(|c| c.is_alphabetic()) {
                return (chars, None);
            }
            return (rest, Some(ext));
        }
    }
    (chars, None)
}

/// Reads the characters of `input` (see the module docs for what is allowed).
fn read(input: &str) -> Result<Written, Diagnostic> {
    let chars: Vec<char> = input.chars().filter(|&c| !is_invisible(c)).collect();
    let mut body: &[char] = &chars;
    while let Some((first, rest)) = body.split_first() {
        if !first.is_whitespace() {
            break;
        }
        body = rest;
    }
    while let Some((last, rest)) = body.split_last() {
        if !last.is_whitespace() {
            break;
        }
        body = rest;
    }
    if body.len() >= 4
        && body.get(..4).is_some_and(|p| p.iter().zip("tel:".chars()).all(|(a, b)| a.to_ascii_lowercase() == b))
    {
        body = body.get(4..).unwrap_or_default();
    }
    let (number, extension) = split_extension(body);

    if number.iter().any(|c| c.is_alphabetic()) {
        return Err(Diagnostic::new(Code::PhoneLetters, "").with("input", input));
    }
    let mut plus = false;
    let mut digits = String::new();
    for &c in number {
        if let Some(d) = digit(c) {
            digits.push(char::from(d));
        } else if is_plus(c) && !plus && digits.is_empty() {
            plus = true;
        } else if !is_separator(c) {
            let hidden = c.is_control() || c.is_whitespace();
            return Err(Diagnostic::new(Code::PhoneInvalidChar, "").with("char", shown(c, hidden)));
        }
    }
    Ok(Written { plus, digits, extension })
}

/// libphonenumber's `maybeStripNationalPrefixAndCarrierCode` for Turkey: drop one leading `0`
/// unless the number is valid with it and not without it, which never happens with the profile
/// (no valid number starts with 0), so the `0` always goes.
fn strip_national_prefix(national: &str) -> &str {
    national.strip_prefix('0').unwrap_or(national)
}

/// Country code and national prefix: the national (significant) number, or why there is none.
fn national_number(digits: &str, plus: bool) -> Result<&str, Diagnostic> {
    let too_short = |n: usize| Diagnostic::new(Code::PhoneTooShort, "").with_number("digits", n as u64);
    // International: `+` or the international prefix 00 (only when no 0 follows it).
    // `+00 90…` counts as `+90…` (libphonenumber accepts it too).
    let after_idd = digits.strip_prefix("00").filter(|rest| !rest.is_empty() && !rest.starts_with('0'));
    let international = if plus { Some(after_idd.unwrap_or(digits)) } else { after_idd };
    let national = match international {
        Some(full) => {
            if full.len() <= 2 {
                return Err(too_short(full.len()));
            }
            let code = (1..=3).filter_map(|n| full.get(..n)).find(|c| is_country_code(c));
            match code {
                Some("90") => full.get(2..).unwrap_or_default(),
                Some(code) => return Err(Diagnostic::new(Code::PhoneNotTurkish, "").with("country", code)),
                // No country calling code starts the number (`+0…`, `+999…`).
                None => {
                    let mut number = String::from("+");
                    number.push_str(full);
                    return Err(Diagnostic::new(Code::PhoneNotAssigned, "").with("number", number));
                }
            }
        }
        None => match digits.strip_prefix("90") {
            // libphonenumber's `maybeExtractCountryCode` with Turkey as the default region (its
            // general pattern replaced by the profile).
            Some(rest)
                if (!in_profile(digits.as_bytes()) && in_profile(strip_national_prefix(rest).as_bytes()))
                    || digits.len() > NSN =>
            {
                strip_national_prefix(rest)
            }
            _ => digits,
        },
    };
    let stripped = strip_national_prefix(national);
    let national = if stripped.len() >= KEEP_PREFIX_BELOW { stripped } else { national };
    if national.len() < 2 {
        return Err(too_short(national.len()));
    }
    if national.len() > MAX_NSN {
        return Err(Diagnostic::new(Code::PhoneTooLong, "").with_number("digits", national.len() as u64));
    }
    Ok(national)
}

/// Whether `code` (1 to 3 ASCII digits) is a country calling code.
fn is_country_code(code: &str) -> bool {
    if code.starts_with('0') {
        return false;
    }
    let c = code.bytes().fold(0usize, |n, d| n * 10 + usize::from(d.wrapping_sub(b'0')));
    tables::COUNTRY_CODES.get(c / 8).is_some_and(|b| b & (1 << (c % 8)) != 0)
}

/// The automaton state after `digits` (state 0: nothing can match any more).
fn walk(digits: &[u8]) -> u8 {
    let mut state = tables::START;
    for &d in digits {
        state = next(state, d);
        if state == 0 {
            break;
        }
    }
    state
}

/// The automaton state after `state` and the digit `d` (ASCII).
#[inline(always)]
fn next(state: u8, d: u8) -> u8 {
    let row = tables::NEXT.get(usize::from(state));
    row.and_then(|r| r.get(usize::from(d.wrapping_sub(b'0')))).copied().unwrap_or(0)
}

fn accept(state: u8) -> u16 {
    tables::ACCEPT.get(usize::from(state)).copied().unwrap_or(0)
}

/// Which patterns match `digits`, with libphonenumber's possible-length check.
fn matching(digits: &[u8]) -> u16 {
    matching_at(walk(digits), digits.len())
}

/// Which patterns match digits that lead to `state` and are `len` long.
fn matching_at(state: u8, len: usize) -> u16 {
    if len >= 32 {
        return 0;
    }
    let length = 1u32 << len;
    // Only the patterns the automaton accepts (few: a type and the general one) need their lengths.
    let mut mask = accept(state);
    let mut out = 0u16;
    while mask != 0 {
        let bit = mask.trailing_zeros() as usize;
        mask &= mask - 1;
        if tables::LENGTHS.get(bit).is_some_and(|&lengths| lengths & length != 0) {
            out |= 1 << bit;
        }
    }
    out
}

/// libphonenumber's `getNumberTypeHelper`: the general description first, then the types in
/// its order (premium rate before toll free, …, fixed line, mobile).
fn number_type(national: &[u8]) -> Option<PhoneType> {
    type_of(matching(national))
}

/// The number type of digits that the patterns `m` match ([`matching`]).
fn type_of(m: u16) -> Option<PhoneType> {
    if m & (1 << tables::GENERAL) == 0 {
        return None;
    }
    // The common case: a fixed-line or mobile number and no type that comes before them.
    const BEFORE_FIXED_AND_MOBILE: u16 = 0b11_1111_1100;
    if m & BEFORE_FIXED_AND_MOBILE == 0 {
        return if m & 1 != 0 {
            Some(PhoneType::FixedLine)
        } else if m & 2 != 0 {
            Some(PhoneType::Mobile)
        } else {
            None
        };
    }
    const ORDER: [(usize, PhoneType); 10] = [
        (3, PhoneType::PremiumRate),
        (2, PhoneType::TollFree),
        (4, PhoneType::SharedCost),
        (6, PhoneType::Voip),
        (5, PhoneType::PersonalNumber),
        (7, PhoneType::Pager),
        (8, PhoneType::Uan),
        (9, PhoneType::Voicemail),
        (0, PhoneType::FixedLine),
        (1, PhoneType::Mobile),
    ];
    ORDER.iter().find(|(bit, _)| m & (1 << bit) != 0).map(|&(_, t)| t)
}

/// Why `national` (not in the profile) is not a valid number: too long when its first 10 digits
/// are one, too short when more digits could make one (or a national `0` was kept because too few
/// digits follow it: `0532 123`), not in a range IYS takes otherwise.
fn why_not(national: &[u8], e164: &str) -> Diagnostic {
    let digits = national.len() as u64;
    let prefix_kept = national.first() == Some(&b'0') && national.len() <= KEEP_PREFIX_BELOW;
    if national.len() > MAX_NSN || national.get(..NSN).is_some_and(in_profile) {
        Diagnostic::new(Code::PhoneTooLong, "").with_number("digits", digits)
    } else if could_grow(national) || prefix_kept {
        Diagnostic::new(Code::PhoneTooShort, "").with_number("digits", digits)
    } else {
        Diagnostic::new(Code::PhoneNotAssigned, "").with("number", e164)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xorshift::Rng;

    /// `wire type | code k=v …` for a value, `code k=v` for an error (the `input` param,
    /// which repeats the input, is left out).
    fn summary(r: &Report<Recipient>) -> String {
        let mut parts = Vec::new();
        if let Some(Recipient::Phone(p)) = &r.value {
            parts.push(format!("{} {}", p.e164(), p.number_type().as_str()));
        }
        for d in &r.diagnostics {
            let mut s = d.code.as_str().trim_start_matches("recipient/").to_owned();
            for (k, v) in &d.params {
                if *k != "input" {
                    s.push_str(&format!(" {k}={v}"));
                }
            }
            parts.push(s);
        }
        parts.join(" | ")
    }

    /// One case: `input` in `mode` gives `expect` (see [`summary`]).
    fn check(mode: Mode, input: &str, expect: &str) {
        let r = validate(input, mode);
        assert_eq!(summary(&r), expect, "input {input:?} ({mode:?})");
        for d in &r.diagnostics {
            assert_eq!(d.path, "");
        }
    }

    const W: &str = "normalized wire=+905321234567";

    /// The profile by its definition in the spec (§7 item 5), written out again as plainly as
    /// possible: `^\+90[0-9]{10}$` with the first national digit 2–5, or 850 / 800.
    fn spec_valid(national: &[u8]) -> bool {
        national.len() == 10
            && national.iter().all(u8::is_ascii_digit)
            && (b"2345".contains(&national[0]) || national.starts_with(b"850") || national.starts_with(b"800"))
    }

    #[test]
    fn validity_and_errors_follow_their_definitions() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut seen = [0usize; 4];
        for _ in 0..100_000 {
            let x = rng.next();
            let len = 2 + (x % 16) as usize;
            let mut national: Vec<u8> = (0..len).map(|i| b'0' + ((x >> (3 * i)) % 10) as u8).collect();
            // Half start with a prefix the rule treats specially.
            let heads: [&[u8]; 8] = [b"800", b"850", b"801", b"811", b"900", b"444", b"5", b"0"];
            if x.is_multiple_of(2) {
                let head = heads[(x >> 60) as usize % heads.len()];
                let n = head.len().min(national.len());
                national[..n].copy_from_slice(&head[..n]);
            }
            let mut e164 = String::from("+90");
            e164.push_str(std::str::from_utf8(&national).unwrap_or_default());
            let got = phone_of(std::str::from_utf8(&national).unwrap_or_default(), None);
            assert_eq!(got.is_ok(), spec_valid(&national), "{e164}");
            let Err(d) = got else {
                seen[0] += 1;
                continue;
            };
            // Too long: the first 10 digits are a number. Too short: some longer number starts
            // with these digits (or the national 0 was kept before a handful of digits).
            let k = national.len().min(3);
            let grows = national.len() < 10
                && (b"2345".contains(&national[0]) || [b"800", b"850"].iter().any(|h| national[..k] == h[..k]));
            let want = if national.len() > 10 && spec_valid(&national[..10]) {
                Code::PhoneTooLong
            } else if grows || (national[0] == b'0' && national.len() <= 7) {
                Code::PhoneTooShort
            } else {
                Code::PhoneNotAssigned
            };
            assert_eq!(d.code, want, "{e164}");
            seen[match d.code {
                Code::PhoneTooLong => 1,
                Code::PhoneTooShort => 2,
                _ => 3,
            }] += 1;
        }
        assert!(seen.iter().all(|&n| n > 2_000), "{seen:?}");
    }

    #[test]
    fn wire_shortcut_agrees_with_the_general_reading() {
        assert!(!is_country_code("9") && is_country_code("90"));
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        for _ in 0..50_000 {
            let x = rng.next();
            let national = format!("{:010}", x % 10_000_000_000);
            let mut buf = [0u8; PLAIN_DIGITS];
            let digits = format!("90{national}");
            let general = number(&digits, true, None).map(|p| p.phone);
            let input = format!("+90{national}");
            assert_eq!(read_plain(&input, &mut buf), Some((true, digits.as_str())));
            assert_eq!(parse(&input).map(|p| p.phone), general, "{input}");
        }
    }

    #[test]
    fn read_plain_reads_what_read_reads() {
        // Every string over the fast path's alphabet, up to length 4, and longer pseudo-random ones.
        const ALPHABET: &[u8] = b"0123456789+ -./()[]";
        let mut inputs: Vec<String> = vec![String::new()];
        for _ in 0..4 {
            let last: Vec<String> =
                inputs.iter().filter(|s| s.len() == inputs.last().map_or(0, String::len)).cloned().collect();
            for s in last {
                for &b in ALPHABET {
                    inputs.push(format!("{s}{}", char::from(b)));
                }
            }
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let len = (rng.0 % 30) as usize;
            let mut s = String::new();
            for _ in 0..len {
                let x = rng.next();
                let b = if x.is_multiple_of(3) {
                    ALPHABET[(x / 3 % ALPHABET.len() as u64) as usize]
                } else {
                    b'0' + (x % 10) as u8
                };
                s.push(char::from(b));
            }
            inputs.push(s);
        }
        for input in &inputs {
            let mut buf = [0u8; PLAIN_DIGITS];
            let slow = read(input);
            match read_plain(input, &mut buf) {
                Some((plus, digits)) => {
                    let slow = slow.unwrap_or_else(|d| panic!("{input:?}: read refused it: {d:?}"));
                    assert_eq!((plus, digits, None), (slow.plus, slow.digits.as_str(), slow.extension), "{input:?}");
                }
                // Declined: a second `+`, a `+` after digits, or too many digits.
                None => assert!(
                    input.matches('+').count() > 0 || input.bytes().filter(u8::is_ascii_digit).count() > PLAIN_DIGITS,
                    "{input:?}"
                ),
            }
            assert_eq!(parse(input).map(|p| p.phone), parse_general(input).map(|p| p.phone), "{input:?}");
        }
    }

    /// [`parse`] without its fast path.
    fn parse_general(input: &str) -> Result<Parsed, Diagnostic> {
        let written = read(input)?;
        number(&written.digits, written.plus, written.extension)
    }

    #[test]
    fn normalize_written_forms() {
        let m = Mode::Normalize;
        let ok = format!("+905321234567 mobile | {W}");
        for input in [
            "0532 123 45 67",
            "+90 (532) 123-45-67",
            "5321234567",
            "905321234567",
            "00905321234567",
            "0090 532 123 45 67",
            "00 90 532 123 45 67",
            "tel:+90-532-123-45-67",
            "TEL:+905321234567",
            "0532.123.45.67",
            "0532/123 45 67",
            "+90 532 1234567",
            " +905321234567 ",
            "0532\u{a0}123\u{a0}45\u{a0}67",
            "0532\u{2009}123\u{202f}45\u{3000}67",
            "\u{202a}+90 532 123 45 67\u{202c}",
            "+90 532 123 45 67\u{200b}",
            "+90\u{200e}532\u{200f}1234567",
            "\u{660}\u{665}\u{663}\u{662}\u{661}\u{662}\u{663}\u{664}\u{665}\u{666}\u{667}",
            "\u{6f0}\u{6f5}\u{6f3}\u{6f2}\u{6f1}\u{6f2}\u{6f3}\u{6f4}\u{6f5}\u{6f6}\u{6f7}",
            "\u{ff10}\u{ff15}\u{ff13}\u{ff12}\u{ff11}\u{ff12}\u{ff13}\u{ff14}\u{ff15}\u{ff16}\u{ff17}",
            "\u{ff0b}\u{ff19}\u{ff10}\u{ff15}\u{ff13}\u{ff12}\u{ff11}\u{ff12}\u{ff13}\u{ff14}\u{ff15}\u{ff16}\u{ff17}",
            "+\u{669}\u{660}\u{665}\u{663}\u{662}\u{661}\u{662}\u{663}\u{664}\u{665}\u{666}\u{667}",
            "+90 0532 123 45 67",
            "90 0532 123 45 67",
            "90 00 532 123 45 67",
            "+0090 532 123 45 67",
            "0532 \u{2013} 123 \u{2013} 45 67",
            "[0532] 123 45 67",
        ] {
            check(m, input, &ok);
        }
        check(m, "+905321234567", "+905321234567 mobile");
    }

    #[test]
    fn number_types() {
        let m = Mode::Normalize;
        check(m, "+908501234567", "+908501234567 voip | phone-non-geographic wire=+908501234567");
        check(
            m,
            "0800 123 45 67",
            "+908001234567 toll-free | normalized wire=+908001234567 | phone-non-geographic wire=+908001234567",
        );
        check(m, "+903922234567", "+903922234567 fixed-line");
        check(m, "0 (212) 555 12 12", "+902125551212 fixed-line | normalized wire=+902125551212");
        check(m, "+905123456789", "+905123456789 pager");
        check(m, "+905922121234", "+905922121234 personal-number");
        check(m, "+905610111234", "+905610111234 mobile");
        // Blocks libphonenumber's metadata does not list are valid all the same (the spec's own
        // examples among them), typed by their first digit.
        check(m, "+905992000000", "+905992000000 mobile");
        check(m, "+905813334455", "+905813334455 mobile");
        check(m, "+905111234567", "+905111234567 mobile");
        check(m, "+905611234567", "+905611234567 mobile");
        check(m, "+902221234567", "+902221234567 fixed-line");
        check(m, "+902111234567", "+902111234567 fixed-line");
        check(m, "+904441234567", "+904441234567 fixed-line");
        check(m, "0599 200 00 00", "+905992000000 mobile | normalized wire=+905992000000");
        check(m, "0581 333 44 55", "+905813334455 mobile | normalized wire=+905813334455");
    }

    #[test]
    fn extensions() {
        let m = Mode::Normalize;
        let ok = |ext: &str| {
            format!("+905321234567 mobile | {W} | phone-extension-dropped extension={ext} wire=+905321234567")
        };
        check(m, "0532 123 45 67 ext. 12", &ok("12"));
        check(m, "0532 123 45 67 ext 12", &ok("12"));
        check(m, "0532 123 45 67 EXT:12", &ok("12"));
        check(m, "0532 123 45 67 extension 1234567", &ok("1234567"));
        check(m, "0532 123 45 67 x12", &ok("12"));
        check(m, "05321234567x12", &ok("12"));
        check(m, "0532 123 45 67 #12", &ok("12"));
        check(m, "tel:+90-532-123-45-67;ext=12", &ok("12"));
        check(m, "+905321234567;ext=12", &ok("12"));
        check(m, "0532 123 45 67 dahili 12", &ok("12"));
        check(m, "0532 123 45 67 Dahili: 12", &ok("12"));
        check(Mode::Strict, "+905321234567 ext 12", "phone-not-wire-form wire=+905321234567");
        check(m, "0532 123 45 67 ext 12345678", "phone-letters");
        check(m, "0532 123 45 67 next 12", "phone-letters");
    }

    #[test]
    fn errors() {
        let m = Mode::Normalize;
        check(m, "05321234567abc", "phone-letters");
        check(m, "0507 113 ab 90", "phone-letters");
        check(m, "0800-FLOWERS", "phone-letters");
        check(m, "0532 123 45 67!", "phone-invalid-char char=!");
        check(m, "0532*123*45*67", "phone-invalid-char char=*");
        check(m, "0532 123 45 67, 12", "phone-invalid-char char=,");
        check(m, "05321+234567", "phone-invalid-char char=+");
        check(m, "0532\u{7}1234567", "phone-invalid-char char=U+0007");
        check(m, "+1 202 555 0143", "phone-not-turkish country=1");
        check(m, "+44 20 7946 0958", "phone-not-turkish country=44");
        check(m, "0044 20 7946 0958", "phone-not-turkish country=44");
        check(m, "+0532 123 45 67", "phone-not-assigned number=+05321234567");
        check(m, "+999 123 45 67", "phone-not-assigned number=+9991234567");
        check(m, "+0044 20 7946 0958", "phone-not-turkish country=44");
        check(m, "+90 532 123 45 6", "phone-too-short digits=9");
        check(m, "0532", "phone-too-short digits=4");
        check(m, "0532 123", "phone-too-short digits=7");
        check(m, "+90 0532 123", "phone-too-short digits=7");
        check(m, "0444 123", "phone-too-short digits=7");
        check(m, "+90", "phone-too-short digits=2");
        check(m, "+", "phone-too-short digits=0");
        check(m, "()", "phone-too-short digits=0");
        check(m, "5", "phone-too-short digits=1");
        check(m, "+90 532 123 45 678", "phone-too-long digits=11");
        check(m, "444 12345", "phone-too-short digits=8");
        check(m, "+90 532 123 45 67 89 01 23 45", "phone-too-long digits=18");
        check(m, "+90 612 123 45 67", "phone-not-assigned number=+906121234567");
        check(m, "+90 712 123 45 67", "phone-not-assigned number=+907121234567");
        // 444 service numbers have no area code: not full subscriber numbers.
        check(m, "444 1 234", "phone-too-short digits=7");
        check(m, "+90 444 1 234", "phone-too-short digits=7");
        check(m, "0444 1234", "phone-too-short digits=7");
        // Premium rate (900, 888, 898) and 811 are not ranges IYS takes.
        check(m, "0900 123 45 67", "phone-not-assigned number=+909001234567");
        // Ten digits starting 90 are read as written (libphonenumber's reading), and refused.
        check(m, "9001234567", "phone-not-assigned number=+909001234567");
        check(m, "+908881234567", "phone-not-assigned number=+908881234567");
        check(m, "+908981234567", "phone-not-assigned number=+908981234567");
        check(m, "+908111234567", "phone-not-assigned number=+908111234567");
        // 800 numbers of 12-13 digits: more than IYS's 15 characters with the +.
        check(m, "+90800123456789", "phone-too-long digits=12");
        check(m, "+90 8", "phone-too-short digits=1");
        check(m, "+90 85", "phone-too-short digits=2");
        check(m, "+90 850 123", "phone-too-short digits=6");
        check(m, "+90 851 123", "phone-not-assigned number=+90851123");
        // libphonenumber drops one national prefix, not two.
        check(m, "+90 00532 123 45 67", "phone-not-assigned number=+9005321234567");
        check(m, "0 0532 123 45 67", "phone-not-turkish country=53");
        check(m, "+90 123 456 78 90", "phone-not-assigned number=+901234567890");
        check(m, "0123 456 78 90", "phone-not-assigned number=+901234567890");
        check(m, "+90 811 123 45 67 89", "phone-not-assigned number=+90811123456789");
    }

    #[test]
    fn strict() {
        let s = Mode::Strict;
        check(s, "+905321234567", "+905321234567 mobile");
        check(s, "+904441234", "phone-too-short digits=7");
        check(s, "+905992000000", "+905992000000 mobile");
        check(s, "+905813334455", "+905813334455 mobile");
        check(s, "+908001234567", "+908001234567 toll-free | phone-non-geographic wire=+908001234567");
        check(s, "+908501234567", "+908501234567 voip | phone-non-geographic wire=+908501234567");
        check(s, "+908001234567890", "phone-too-long digits=13");
        check(s, "+909001234567", "phone-not-assigned number=+909001234567");
        check(s, "+908881234567", "phone-not-assigned number=+908881234567");
        check(s, "+908981234567", "phone-not-assigned number=+908981234567");
        check(s, "+908111234567", "phone-not-assigned number=+908111234567");
        check(s, "0599 200 00 00", "phone-not-wire-form wire=+905992000000");
        check(s, "0850 123 45 67", "phone-not-wire-form wire=+908501234567 | phone-non-geographic wire=+908501234567");
        check(s, "905321234567", "phone-not-wire-form wire=+905321234567");
        check(s, "05321234567", "phone-not-wire-form wire=+905321234567");
        check(s, "00905321234567", "phone-not-wire-form wire=+905321234567");
        check(s, "+90 532 123 45 67", "phone-not-wire-form wire=+905321234567");
        check(s, "+90532123456\u{667}", "phone-not-wire-form wire=+905321234567");
        check(s, "+905321234567\u{200b}", "phone-not-wire-form wire=+905321234567");
        check(s, "+905611234567", "+905611234567 mobile");
        check(s, "+1 202 555 0143", "phone-not-turkish country=1");
    }
}
