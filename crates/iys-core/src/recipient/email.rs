//! E-mail addresses by IYS's rules (H120).
//!
//! IYS publishes its rule only as a regex link and a list of examples, so this module implements the
//! documented rules, narrowed to what is safe everywhere (RFC 5321 lengths):
//!
//! | rule | code |
//! |---|---|
//! | ASCII only: no Turkish letters (ç ğ ı İ ö ş ü, upper and lower case), so no Unicode domains | `recipient/email-non-ascii` (`char`: the letters found) |
//! | no space or other blank inside | `recipient/email-whitespace` |
//! | exactly one `@` (so no quoted local parts with `@` in them) | `recipient/email-missing-at` |
//! | local part of `A–Z a–z 0–9 . _ + -` only (`+` is allowed for plus-addressing); no `{ [ ( ! ' ^ % & / ) = ? , "` … | `recipient/email-invalid-char` (`char`) |
//! | local part not empty, not starting or ending with `.` | `recipient/email-local-invalid` |
//! | no `..` anywhere | `recipient/email-consecutive-dots` |
//! | local part at most 64 characters | `recipient/email-local-too-long` (`length`) |
//! | whole address at most 254 characters (IYS allows 265; RFC 5321 allows 254) | `recipient/email-too-long` (`length`) |
//! | domain labels of `A–Z a–z 0–9 -`, 1 to 63 characters, no `-` at either end (so no `_` in a domain); punycode `xn--` labels are fine | `recipient/email-domain-label` (`label`) |
//! | at least two labels, the last a top-level domain of 2+ ASCII letters (so no IP address, no `a@b`, no `user@example.c`) | `recipient/email-tld` |
//! | IYS's minimum shape `x@yy.zz`: with only two labels, the first has 2+ characters | `recipient/email-domain-label` (`label`) |
//!
//! A character that is not allowed anywhere (`!`, `'`, `"`, `[`, …) is reported once as
//! `email-invalid-char`, wherever it is; `_` and `+`, allowed in the local part only, make a domain
//! label invalid. Every distinct problem is reported, at most one diagnostic per code, in the order of
//! the table.
//!
//! **Case.** Upper case is accepted and never rewritten: [`Email::as_str`] is the address as written.
//! [`Email::canonical`] (the whole address in ASCII lower case) is there for a caller that chooses to
//! compare or store addresses case-insensitively; whether IYS itself does is not documented.
//!
//! **Modes.** [`Mode::Normalize`] trims blanks and invisible characters (zero-width, bidi marks, NBSP,
//! BOM) around the address and maps a full-width `＠` to `@`; it never changes case or anything inside
//! the address. When that changed the input and the result is valid, a `recipient/normalized` warning
//! carries `input` and `wire`. [`Mode::Strict`] refuses surrounding blanks with
//! `recipient/email-not-wire-form` (`wire`: the trimmed address) and judges the rest as usual.
//!
//! ```
//! use iys_core::recipient::email::validate;
//! use iys_core::recipient::Mode;
//! let r = validate("User.Name+tag@Example.COM", Mode::Strict);
//! assert_eq!(r.value.unwrap().wire(), "User.Name+tag@Example.COM");
//! let r = validate("ayşe@örnek.com.tr", Mode::Strict);
//! assert_eq!(r.diagnostics[0].code.as_str(), "recipient/email-non-ascii");
//! assert_eq!(r.diagnostics[0].param("char"), Some("ş, ö"));
//! let r = validate(" ali@example.com\u{200b}", Mode::Normalize);
//! assert_eq!(r.value.unwrap().wire(), "ali@example.com");
//! assert_eq!(r.diagnostics[0].code.as_str(), "recipient/normalized");
//! ```

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;

use super::phone::is_invisible;
use super::{shown, Mode, Recipient};
use crate::diagnostic::{Code, Diagnostic, Report};

/// Longest local part (RFC 5321).
const LOCAL_MAX: usize = 64;
/// Longest address (RFC 5321 path limit less the angle brackets; IYS allows 265).
const TOTAL_MAX: usize = 254;
/// Longest domain label (RFC 1035).
const LABEL_MAX: usize = 63;
/// At most this many distinct non-ASCII characters are named in `email-non-ascii`.
const NAMED_CHARS_MAX: usize = 8;

/// An e-mail address that passes IYS's rules, as written (case is never rewritten).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// The address exactly as accepted.
    ///
    /// ```
    /// use iys_core::recipient::{email::validate, Mode, Recipient};
    /// let Some(Recipient::Email(e)) = validate("Ali@Example.com", Mode::Strict).value else { panic!() };
    /// assert_eq!(e.as_str(), "Ali@Example.com");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The documented canonical form: the whole address in ASCII lower case. Never applied unless asked.
    ///
    /// Lower-casing the local part is a policy, not a fact: RFC 5321 lets a mail server treat `Ali` and
    /// `ali` as different mailboxes (almost none do), and IYS does not say whether it does. Use this
    /// form to find duplicates or to key a store; send [`Email::as_str`] unless you chose otherwise.
    ///
    /// ```
    /// use iys_core::recipient::{email::validate, Mode, Recipient};
    /// let Some(Recipient::Email(e)) = validate("User.Name+tag@Example.COM", Mode::Strict).value else { panic!() };
    /// assert_eq!(e.canonical(), "user.name+tag@example.com");
    /// ```
    pub fn canonical(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// Blanks and invisible characters that Normalize trims from both ends (NBSP is whitespace too).
fn is_blank(c: char) -> bool {
    c.is_whitespace() || is_invisible(c)
}

/// Whether `c` may appear in a local part.
fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-')
}

/// How a character is named in a param: itself when visible, `U+XXXX` for controls and invisibles.
fn char_name(c: char) -> String {
    shown(c, c.is_control() || is_blank(c))
}

/// The diagnostics found so far, at most one per code.
struct Found(Vec<Diagnostic>);

impl Found {
    fn has(&self, code: Code) -> bool {
        self.0.iter().any(|d| d.code == code)
    }

    fn add(&mut self, code: Code, params: &[(&'static str, String)]) {
        if !self.has(code) {
            let mut d = Diagnostic::new(code, "");
            for (name, value) in params {
                d = d.with(name, value.clone());
            }
            self.0.push(d);
        }
    }
}

/// Judges an e-mail input (see the module docs for the rules). Paths are `""`.
///
/// ```
/// use iys_core::recipient::{email::validate, Mode};
/// let codes = |s| validate(s, Mode::Strict).diagnostics.iter().map(|d| d.code.as_str()).collect::<Vec<_>>();
/// assert_eq!(codes("user@ex..com"), ["recipient/email-consecutive-dots"]);
/// assert_eq!(codes("o'neil@example.ie"), ["recipient/email-invalid-char"]);
/// assert_eq!(codes("a@b"), ["recipient/email-tld"]);
/// assert_eq!(codes(" a@bc.de"), ["recipient/email-not-wire-form"]);
/// ```
pub fn validate(input: &str, mode: Mode) -> Report<Recipient> {
    if plainly_valid(input) {
        // What the rules below conclude for such an address, in either mode: valid as written.
        return Report::from_parts(Some(Recipient::Email(Email(input.to_owned()))), Vec::new());
    }
    validate_closely(input, mode)
}

/// [`validate`] without its shortcut.
fn validate_closely(input: &str, mode: Mode) -> Report<Recipient> {
    let mut found = Found(Vec::new());
    let trimmed = input.trim_matches(is_blank);
    let wire = match mode {
        Mode::Strict => {
            if trimmed.len() != input.len() {
                found.add(Code::EmailNotWireForm, &[("wire", trimmed.to_owned())]);
            }
            trimmed.to_owned()
        }
        Mode::Normalize => trimmed.chars().map(|c| if c == '＠' { '@' } else { c }).collect(),
    };
    check(&wire, &mut found);
    let mut diagnostics = found.0;
    if diagnostics.is_empty() && wire != input {
        diagnostics
            .push(Diagnostic::new(Code::RecipientNormalized, "").with("input", input).with("wire", wire.clone()));
    }
    Report::from_parts(Some(Recipient::Email(Email(wire))), diagnostics)
}

/// The common case in one pass over the bytes: an ASCII address, one `@`, a local part of allowed
/// characters (not empty, no dot at either end, no `..`, at most 64), at least two domain labels of
/// `A–Z a–z 0–9 -` (1 to 63, no hyphen at either end), a TLD of 2+ letters, not `x@y.zz`, at most 254
/// in all. Such an address breaks no rule of [`check`] and needs no trimming; `false` only means
/// "look closer".
fn plainly_valid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() > TOTAL_MAX {
        return false;
    }
    // The local part, up to the first `@`; `prev` starts as a dot so that a leading one fails as `..`.
    let mut i = 0;
    let mut prev = b'.';
    loop {
        let Some(&c) = b.get(i) else { return false };
        if c == b'@' {
            break;
        }
        if c == b'.' {
            if prev == b'.' {
                return false;
            }
        } else if !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'+' | b'-')) {
            return false;
        }
        prev = c;
        i += 1;
    }
    if i == 0 || i > LOCAL_MAX || prev == b'.' {
        return false;
    }
    // The domain, label by label: `start` is where the current one began, `letters` whether it has
    // nothing but letters so far (the TLD must).
    let (mut labels, mut first_len) = (0usize, 0usize);
    let mut start = i + 1;
    let mut letters = true;
    let mut j = start;
    loop {
        let c = b.get(j).copied();
        match c {
            None | Some(b'.') => {
                let len = j - start;
                let hyphen_end = b.get(start) == Some(&b'-') || j.checked_sub(1).and_then(|k| b.get(k)) == Some(&b'-');
                if len == 0 || len > LABEL_MAX || hyphen_end {
                    return false;
                }
                labels += 1;
                if labels == 1 {
                    first_len = len;
                }
                if c.is_none() {
                    return labels >= 2 && len >= 2 && letters && !(labels == 2 && first_len == 1);
                }
                start = j + 1;
                letters = true;
            }
            Some(c) if c.is_ascii_alphabetic() => {}
            Some(c) if c.is_ascii_digit() || c == b'-' => letters = false,
            Some(_) => return false,
        }
        j += 1;
    }
}

/// The earlier, several-pass form of [`plainly_valid`], which it must agree with.
#[cfg(test)]
fn plainly_valid_reference(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(at) = b.iter().position(|&c| c == b'@') else { return false };
    let (Some(local), Some(domain)) = (b.get(..at), b.get(at + 1..)) else { return false };
    if b.len() > TOTAL_MAX || local.is_empty() || local.len() > LOCAL_MAX {
        return false;
    }
    if local.first() == Some(&b'.') || local.last() == Some(&b'.') || local.windows(2).any(|w| w == b"..") {
        return false;
    }
    if !local.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'+' | b'-')) {
        return false;
    }
    let (mut labels, mut first_len, mut tld): (usize, usize, &[u8]) = (0, 0, &[]);
    for label in domain.split(|&c| c == b'.') {
        labels += 1;
        if labels == 1 {
            first_len = label.len();
        }
        let hyphen_end = label.first() == Some(&b'-') || label.last() == Some(&b'-');
        if label.is_empty() || label.len() > LABEL_MAX || hyphen_end {
            return false;
        }
        if !label.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-') {
            return false;
        }
        tld = label;
    }
    labels >= 2 && tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic) && !(labels == 2 && first_len == 1)
}

/// Every rule of the module docs, on an address without surrounding blanks.
fn check(s: &str, found: &mut Found) {
    // Characters: non-ASCII letters (named), blanks, characters IYS forbids everywhere.
    let mut non_ascii: Vec<char> = Vec::new();
    let mut has_blank = false;
    for c in s.chars() {
        if c.is_whitespace() {
            has_blank = true;
        } else if !c.is_ascii() && !non_ascii.contains(&c) {
            non_ascii.push(c);
        }
    }
    if !non_ascii.is_empty() {
        let mut names = String::new();
        for (i, &c) in non_ascii.iter().take(NAMED_CHARS_MAX).enumerate() {
            if i > 0 {
                names.push_str(", ");
            }
            names.push_str(&char_name(c));
        }
        if non_ascii.len() > NAMED_CHARS_MAX {
            names.push_str(", …");
        }
        found.add(Code::EmailNonAscii, &[("char", names)]);
    }
    if has_blank {
        found.add(Code::EmailWhitespace, &[]);
    }

    let Some((local, domain)) = split_once_at(s) else {
        found.add(Code::EmailMissingAt, &[]);
        // Without the one `@`, only characters that are wrong anywhere can be named.
        if let Some(c) = s.chars().find(|&c| c.is_ascii() && !c.is_ascii_whitespace() && c != '@' && !is_local_char(c))
        {
            found.add(Code::EmailInvalidChar, &[("char", char_name(c))]);
        }
        if has_two_dots(s) {
            found.add(Code::EmailConsecutiveDots, &[]);
        }
        check_total_length(s, found);
        return;
    };

    // A character IYS forbids: first one in the local part, then one in the domain that is not allowed
    // in a local part either (`_` and `+` in a domain are label errors instead).
    let forbidden = |c: char| c.is_ascii() && !c.is_ascii_whitespace() && !is_local_char(c);
    if let Some(c) = local.chars().chain(domain.chars()).find(|&c| forbidden(c)) {
        found.add(Code::EmailInvalidChar, &[("char", char_name(c))]);
    }

    // Local part.
    if local.is_empty() || local.starts_with('.') || local.ends_with('.') {
        found.add(Code::EmailLocalInvalid, &[]);
    }
    if has_two_dots(s) {
        found.add(Code::EmailConsecutiveDots, &[]);
    }
    let local_len = char_len(local);
    if local_len > LOCAL_MAX {
        found.add(Code::EmailLocalTooLong, &[("length", decimal(local_len))]);
    }
    check_total_length(s, found);

    // Domain: labels between dots, the last one the TLD (walked without collecting them).
    let last = domain.bytes().filter(|&b| b == b'.').count();
    let mut rest = domain;
    let (mut first, mut tld) = ("", "");
    for i in 0..=last {
        let (label, tail) = crate::split_once_byte(rest, b'.').unwrap_or((rest, ""));
        rest = tail;
        if i == 0 {
            first = label;
        }
        if i == last {
            tld = label;
        }
        if label.is_empty() {
            // Between `..` (reported above) or at the end (a missing TLD, below): not a label error.
            // At the start (`user@.example.com`) it is.
            if i == 0 && last > 0 {
                found.add(Code::EmailDomainLabel, &[("label", domain.to_owned())]);
            }
            continue;
        }
        if i == last {
            // The TLD gets its own check below.
            continue;
        }
        if !is_valid_label(label) {
            found.add(Code::EmailDomainLabel, &[("label", label.to_owned())]);
        }
    }
    let tld_ok = last >= 1 && tld.len() >= 2 && tld.len() <= LABEL_MAX && tld.bytes().all(|b| b.is_ascii_alphabetic());
    if !tld_ok {
        found.add(Code::EmailTld, &[]);
    }
    // IYS's minimum shape x@yy.zz: `yy` has 2+ characters.
    if last == 1 && char_len(first) == 1 && is_valid_label(first) {
        found.add(Code::EmailDomainLabel, &[("label", first.to_owned())]);
    }
}

/// `(local, domain)` when `s` has exactly one `@`.
fn split_once_at(s: &str) -> Option<(&str, &str)> {
    let (local, domain) = crate::split_once_byte(s, b'@')?;
    if domain.bytes().any(|b| b == b'@') {
        None
    } else {
        Some((local, domain))
    }
}

fn check_total_length(s: &str, found: &mut Found) {
    let len = char_len(s);
    if len > TOTAL_MAX {
        found.add(Code::EmailTooLong, &[("length", decimal(len))]);
    }
}

/// `..` anywhere (a byte scan: a `&str` pattern would bring in a substring-search engine).
fn has_two_dots(s: &str) -> bool {
    s.as_bytes().windows(2).any(|w| w == b"..")
}

/// How many characters `s` has. (`chars().count()` is a bulk counter of about 1 kB of wasm; a plain
/// loop is enough for an e-mail address.)
fn char_len(s: &str) -> usize {
    s.chars().fold(0, |n, _| n + 1)
}

fn decimal(n: usize) -> String {
    let mut out = String::new();
    crate::json::write_u64(&mut out, n as u64);
    out
}

/// A domain label: `A–Z a–z 0–9 -`, 1..=63 characters, no hyphen at either end. Characters that are
/// not ASCII or forbidden everywhere are reported on their own and do not make the label wrong here.
fn is_valid_label(label: &str) -> bool {
    !label.is_empty()
        && char_len(label) <= LABEL_MAX
        && !label.starts_with('-')
        && !label.ends_with('-')
        && !label.chars().any(|c| matches!(c, '_' | '+'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xorshift::Rng;

    const OK: &[&str] = &[];

    #[test]
    fn the_shortcut_only_takes_addresses_the_rules_accept_as_written() {
        // Random short strings over the characters that matter, plus a few real shapes.
        let alphabet = b"a.-_+@1Z";
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut taken = 0;
        for n in 0..400_000u32 {
            let x = rng.next();
            let len = 3 + (n % 12) as usize;
            let s: String = (0..len).map(|i| char::from(alphabet[((x >> (i * 3)) & 7) as usize])).collect();
            for s in [s.clone(), format!("{s}.com"), format!("ab{s}"), format!("{s}@ex.tr")] {
                if plainly_valid(&s) {
                    taken += 1;
                    for mode in [Mode::Strict, Mode::Normalize] {
                        let r = validate_closely(&s, mode);
                        assert!(r.diagnostics.is_empty(), "{s:?}: {:?}", r.diagnostics);
                        assert_eq!(r.value.as_ref().map(Recipient::wire), Some(s.as_str()));
                    }
                }
            }
        }
        assert!(taken > 10_000, "{taken}");
        for s in ["ali@example.com", "a.b+c_d-e@x-y.example.com.tr", "ab@cd.ef"] {
            assert!(plainly_valid(s), "{s}");
        }
        for s in [
            "a@b.cd",
            "a@bc.d",
            "a@bc.d1",
            "a@-b.cd",
            "a@b-.cd",
            ".a@bc.de",
            "a.@bc.de",
            "a..b@bc.de",
            "a@bc..de",
            "a@b_c.de",
        ] {
            assert!(!plainly_valid(s), "{s}");
        }
    }

    #[test]
    fn the_one_pass_shortcut_agrees_with_the_several_pass_one() {
        let alphabet = ["a", ".", "-", "_", "+", "@", "1", "Z", " ", "ş", "＠", "x", "co", "q"];
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let mut next = || rng.next();
        let mut agreed_true = 0;
        for n in 0..300_000u32 {
            let len = 1 + (n % 24) as usize;
            let s: String = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            let pad = |c: &str, k: usize| c.repeat(k);
            let k = (next() % 300) as usize;
            for s in [
                s.clone(),
                format!("{s}.com"),
                format!("ab{s}"),
                format!("{s}@ex.tr"),
                format!("ab@{s}.tr"),
                format!("{}@{s}", pad("a", k)),
                format!("a@{}.{s}", pad("b", k)),
                format!("{s}@{}.com", pad("b.", k / 2)),
            ] {
                let want = plainly_valid_reference(&s);
                assert_eq!(plainly_valid(&s), want, "{s:?}");
                agreed_true += usize::from(want);
            }
        }
        assert!(agreed_true > 10_000, "{agreed_true}");
        for n in [60usize, 63, 64, 65, 250, 254, 255] {
            for s in [
                format!("{}@ex.com", "a".repeat(n)),
                format!("a@{}.com", "b".repeat(n)),
                format!("a@{}", "b".repeat(n)),
                format!("a@b.{}", "c".repeat(n)),
                format!("{}@{}.com", "a".repeat(64), "b".repeat(n.min(63))),
            ] {
                assert_eq!(plainly_valid(&s), plainly_valid_reference(&s), "{s:?}");
            }
        }
    }

    /// Judges `input` and compares the codes (in order) and the value.
    fn check_case(input: &str, mode: Mode, want: &[&str], wire: Option<&str>) {
        let r = validate(input, mode);
        let got: Vec<&str> = r.diagnostics.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(got, want, "codes for {input:?} ({mode:?})");
        assert_eq!(r.value.as_ref().map(Recipient::wire), wire, "value for {input:?} ({mode:?})");
        for d in &r.diagnostics {
            assert_eq!(d.path, "", "{input:?}");
        }
    }

    fn strict(input: &str, want: &[&str]) {
        let valid = want.is_empty();
        check_case(input, Mode::Strict, want, valid.then_some(input));
    }

    fn param(input: &str, code: &str, name: &str) -> Option<String> {
        validate(input, Mode::Strict)
            .diagnostics
            .iter()
            .find(|d| d.code.as_str() == code)
            .and_then(|d| d.param(name).map(str::to_owned))
    }

    #[test]
    fn valid_addresses() {
        for s in [
            "ali@example.com",
            "x@yy.zz",
            "User.Name+tag@Example.COM",
            "user+@example.com",
            "user_name@example.com",
            "first.last-name@sub.example.com.tr",
            "1234@123.com",
            "a-b@a-b.co",
            "user@xn--bcher-kva.example",
            "user@xn--rnek-zoa.com.tr",
            "-user-@example.com",
            "_@example.com",
            "a@x.co.uk",
        ] {
            strict(s, OK);
        }
    }

    #[test]
    fn anchors_tricky_cases() {
        strict("user@ex..com", &["recipient/email-consecutive-dots"]);
        strict("user@xn--bcher-kva.example", OK);
        strict("ü@örnek.com.tr", &["recipient/email-non-ascii"]);
        strict("a@b", &["recipient/email-tld"]);
        strict("user@örnek.com.tr", &["recipient/email-non-ascii"]);
        strict("User.Name+tag@Example.COM", OK);
        strict("user@example.com.", &["recipient/email-tld"]);
        strict(".user@example.com", &["recipient/email-local-invalid"]);
        strict("us..er@example.com", &["recipient/email-consecutive-dots"]);
        strict("user.@example.com", &["recipient/email-local-invalid"]);
        strict("\"quoted local\"@example.com", &["recipient/email-whitespace", "recipient/email-invalid-char"]);
        strict("user@[192.168.1.1]", &["recipient/email-invalid-char", "recipient/email-tld"]);
        strict("user@192.168.1.1", &["recipient/email-tld"]);
        strict("user@localhost", &["recipient/email-tld"]);
        strict("user@-example.com", &["recipient/email-domain-label"]);
        strict("user@example-.com", &["recipient/email-domain-label"]);
        strict("user name@example.com", &["recipient/email-whitespace"]);
        strict("user@example.c", &["recipient/email-tld"]);
        strict("user@exam_ple.com", &["recipient/email-domain-label"]);
        strict("user+@example.com", OK);
        strict("o'neil@example.ie", &["recipient/email-invalid-char"]);
        strict("user@example.com ", &["recipient/email-not-wire-form"]);
        strict(" user@example.com", &["recipient/email-not-wire-form"]);
    }

    #[test]
    fn lengths() {
        let l64 = "a".repeat(64);
        let l65 = "a".repeat(65);
        strict(&format!("{l64}@example.com"), OK);
        strict(&format!("{l65}@example.com"), &["recipient/email-local-too-long"]);
        assert_eq!(
            param(&format!("{l65}@example.com"), "recipient/email-local-too-long", "length").as_deref(),
            Some("65")
        );

        let label63 = "b".repeat(63);
        let label64 = "b".repeat(64);
        strict(&format!("user@{label63}.com"), OK);
        strict(&format!("user@{label64}.com"), &["recipient/email-domain-label"]);
        assert_eq!(
            param(&format!("user@{label64}.com"), "recipient/email-domain-label", "label"),
            Some(label64.clone())
        );
        strict(&format!("user@example.{}", "c".repeat(64)), &["recipient/email-tld"]);

        // 249 and 254 characters are fine, 255 is not.
        let addr = |total: usize| {
            let domain_len = total - 1 - 64;
            let mut labels = Vec::new();
            let mut left = domain_len - 4; // ".com"
            while left > 0 {
                let n = left.min(63);
                if left - n == 1 {
                    labels.push("d".repeat(n - 2));
                    left -= n - 2;
                } else {
                    labels.push("d".repeat(n));
                    left -= n;
                }
                left = left.saturating_sub(1); // the dot
            }
            let a = format!("{l64}@{}.com", labels.join("."));
            assert_eq!(a.len(), total);
            a
        };
        strict(&addr(249), OK);
        strict(&addr(254), OK);
        strict(&addr(255), &["recipient/email-too-long"]);
        assert_eq!(param(&addr(255), "recipient/email-too-long", "length").as_deref(), Some("255"));
    }

    #[test]
    fn each_rule() {
        // Non-ASCII, Turkish letters named.
        strict("ayşe@example.com", &["recipient/email-non-ascii"]);
        assert_eq!(param("ayşe@örnek.com", "recipient/email-non-ascii", "char").as_deref(), Some("ş, ö"));
        assert_eq!(param("çğıİöşü@x.com", "recipient/email-non-ascii", "char").as_deref(), Some("ç, ğ, ı, İ, ö, ş, ü"));
        assert_eq!(param("ÇĞIÖŞÜ@xx.com", "recipient/email-non-ascii", "char").as_deref(), Some("Ç, Ğ, Ö, Ş, Ü"));
        assert_eq!(param("a\u{200b}b@xx.com", "recipient/email-non-ascii", "char").as_deref(), Some("U+200B"));
        assert_eq!(param("ab@xx.com\u{2122}", "recipient/email-non-ascii", "char").as_deref(), Some("™"));
        // Blanks inside.
        strict("a b@xx.com", &["recipient/email-whitespace"]);
        strict("ab@xx .com", &["recipient/email-whitespace"]);
        strict("ab@xx\t.com", &["recipient/email-whitespace"]);
        strict("a\u{a0}b@xx.com", &["recipient/email-whitespace"]);
        // @ count.
        strict("ali.example.com", &["recipient/email-missing-at"]);
        strict("ali@@example.com", &["recipient/email-missing-at"]);
        strict("a@b@example.com", &["recipient/email-missing-at"]);
        strict("", &["recipient/email-missing-at"]);
        strict("ali!example.com", &["recipient/email-missing-at", "recipient/email-invalid-char"]);
        // Forbidden characters, IYS's list.
        for c in [
            '{', '[', '(', '!', '\'', '^', '%', '&', '/', ')', '=', '?', ',', '"', '}', ']', '*', '#', '$', '|', '~',
            '`', ';', ':', '<', '>', '\\',
        ] {
            let s = format!("a{c}b@example.com");
            strict(&s, &["recipient/email-invalid-char"]);
            assert_eq!(param(&s, "recipient/email-invalid-char", "char"), Some(c.to_string()), "{s}");
        }
        for c in ['½', '²', '³', '°', '¶', '”'] {
            strict(&format!("a{c}b@example.com"), &["recipient/email-non-ascii"]);
        }
        strict("a\u{0}b@example.com", &["recipient/email-invalid-char"]);
        assert_eq!(param("a\u{7f}b@example.com", "recipient/email-invalid-char", "char").as_deref(), Some("U+007F"));
        strict("ab@exa!mple.com", &["recipient/email-invalid-char"]);
        // Local part shape.
        strict("@example.com", &["recipient/email-local-invalid"]);
        strict(".@example.com", &["recipient/email-local-invalid"]);
        strict("a..b@example.com", &["recipient/email-consecutive-dots"]);
        strict("..a@example.com", &["recipient/email-local-invalid", "recipient/email-consecutive-dots"]);
        // Domain labels.
        strict("ab@ex_ample.com", &["recipient/email-domain-label"]);
        strict("ab@ex+ample.com", &["recipient/email-domain-label"]);
        strict("ab@.example.com", &["recipient/email-domain-label"]);
        strict("ab@-.com", &["recipient/email-domain-label"]);
        strict("ab@sub.-x.com", &["recipient/email-domain-label"]);
        assert_eq!(param("ab@sub.x-.com", "recipient/email-domain-label", "label").as_deref(), Some("x-"));
        // The x@yy.zz minimum.
        strict("a@b.co", &["recipient/email-domain-label"]);
        strict("a@bb.co", OK);
        strict("a@b.bb.co", OK);
        // TLD.
        strict("ab@", &["recipient/email-tld"]);
        strict("ab@example", &["recipient/email-tld"]);
        strict("ab@example.c0m", &["recipient/email-tld"]);
        strict("ab@example.co-", &["recipient/email-tld"]);
        strict("ab@example.xn--p1ai", &["recipient/email-tld"]);
        strict("ab@example.123", &["recipient/email-tld"]);
        strict("ab@example.com.", &["recipient/email-tld"]);
    }

    #[test]
    fn every_distinct_problem_once() {
        let r = validate(" \"Ayşe Öz\"!.@-exa_mple..c ", Mode::Strict);
        let got: Vec<&str> = r.diagnostics.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(
            got,
            [
                "recipient/email-not-wire-form",
                "recipient/email-non-ascii",
                "recipient/email-whitespace",
                "recipient/email-invalid-char",
                "recipient/email-local-invalid",
                "recipient/email-consecutive-dots",
                "recipient/email-domain-label",
                "recipient/email-tld",
            ]
        );
        assert_eq!(r.value, None);
    }

    #[test]
    fn normalize_mode() {
        let n = Mode::Normalize;
        check_case("ali@example.com", n, OK, Some("ali@example.com"));
        check_case(" ali@example.com\t", n, &["recipient/normalized"], Some("ali@example.com"));
        check_case("\u{202a}ali@example.com\u{202c}", n, &["recipient/normalized"], Some("ali@example.com"));
        check_case("\u{feff}\u{a0}ali@example.com\u{200b}", n, &["recipient/normalized"], Some("ali@example.com"));
        check_case("ali＠example.com", n, &["recipient/normalized"], Some("ali@example.com"));
        check_case("Ali@Example.COM", n, OK, Some("Ali@Example.COM"));
        check_case(" ali@exam ple.com ", n, &["recipient/email-whitespace"], None);
        check_case("ayşe@example.com ", n, &["recipient/email-non-ascii"], None);
        check_case("ali@\u{200b}example.com", n, &["recipient/email-non-ascii"], None);
        let r = validate(" ali＠example.com", n);
        assert_eq!(r.diagnostics[0].param("input"), Some(" ali＠example.com"));
        assert_eq!(r.diagnostics[0].param("wire"), Some("ali@example.com"));
    }

    #[test]
    fn strict_mode_wire_param() {
        check_case(" ali@example.com", Mode::Strict, &["recipient/email-not-wire-form"], None);
        assert_eq!(
            param("\u{200b}ali@example.com ", "recipient/email-not-wire-form", "wire").as_deref(),
            Some("ali@example.com")
        );
        check_case(
            "ali＠example.com",
            Mode::Strict,
            &["recipient/email-non-ascii", "recipient/email-missing-at"],
            None,
        );
        check_case(" ab@c ", Mode::Strict, &["recipient/email-not-wire-form", "recipient/email-tld"], None);
    }

    #[test]
    fn canonical_lowercases_ascii_only_on_request() {
        let r = validate("User.Name+tag@Example.COM", Mode::Normalize);
        let Some(Recipient::Email(e)) = r.value else { panic!("valid") };
        assert_eq!(e.as_str(), "User.Name+tag@Example.COM");
        assert_eq!(e.canonical(), "user.name+tag@example.com");
        assert!(r.diagnostics.is_empty());
    }
}
