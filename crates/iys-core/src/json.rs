//! A small, strict JSON reader and writer (RFC 8259, nothing more).
//!
//! Objects keep their keys in order *with duplicates* (so a validator can report them), numbers keep
//! their source text (so `1.0`, `1e3` and `18446744073709551616` can be judged exactly), nesting is
//! bounded by [`MAX_DEPTH`] and the reader never recurses, so no input can exhaust the stack. The
//! consent and batch validators read through the same reader without building a [`Value`].
//!
//! Refused: trailing commas, comments, leading zeros, `NaN`/`Infinity`, single quotes, unescaped control
//! characters in strings, lone UTF-16 surrogates in `\u` escapes, whitespace other than space, tab,
//! LF and CR (a byte-order mark included), numbers no `f64` can hold (`1e309`: a double-based reader
//! such as JavaScript's or `serde_json` would see infinity or fail), and anything after the value.
//!
//! ```
//! use iys_core::json::{parse, Value};
//! let v = parse(r#"{"a": [1, "x"], "a": null}"#).unwrap();
//! assert_eq!(v.get("a"), Some(&Value::Array(vec![Value::Number("1".into()), Value::String("x".into())])));
//! assert_eq!(v.to_json(), r#"{"a":[1,"x"],"a":null}"#);
//! let e = parse("[1,]").unwrap_err();
//! assert_eq!(e.code.as_str(), "request/invalid-json");
//! assert_eq!(e.param("offset"), Some("3"));
//! ```

use alloc::borrow::{Cow, ToOwned};
use alloc::string::String;
use alloc::vec::Vec;

use crate::diagnostic::{Code, Diagnostic};

/// Deepest nesting accepted: `[[…]]` with 64 brackets is fine, 65 is `request/json-too-deep`.
pub const MAX_DEPTH: usize = 64;

/// A parsed JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, as written in the source (already checked against the JSON grammar).
    Number(String),
    /// A string, unescaped.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object: entries in source order, duplicates kept.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// The name of the JSON type, for messages (`"a string"`, `"an array"`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The first value of `key`, if this is an object that has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Compact JSON text (no whitespace); object entries in order, duplicates included.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        write_value(&mut out, self);
        out
    }
}

/// The number as a `u64`, when it is written as a plain non-negative integer (no sign, fraction or
/// exponent) that fits.
pub fn plain_u64(raw: &str) -> Option<u64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

/// The digits of 2^1024 − 2^970, the halfway point between `f64::MAX` and the next power of two:
/// a decimal at or above it rounds to infinity.
const F64_OVERFLOW: &[u8; 309] = b"179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792";

/// Whether a syntactically valid JSON number has a finite `f64` value (as `serde_json` and every
/// double-based reader require). Decided on the decimal digits, without float parsing, which no_std
/// builds would pay for in size: numbers whose leading digit is above 10^308 overflow, those below
/// cannot, and those in between are compared digit by digit with the halfway point.
fn fits_f64(raw: &str) -> bool {
    // Split on bytes (a `char` pattern would bring a searcher into the wasm build).
    fn split(s: &[u8], at: Option<usize>) -> (&[u8], &[u8]) {
        match at {
            Some(i) => (s.get(..i).unwrap_or_default(), s.get(i + 1..).unwrap_or_default()),
            None => (s, &[]),
        }
    }
    let unsigned = raw.as_bytes().strip_prefix(b"-").unwrap_or(raw.as_bytes());
    let (mantissa, exponent) = split(unsigned, unsigned.iter().position(|&b| b == b'e' || b == b'E'));
    let (int, frac) = split(mantissa, mantissa.iter().position(|&b| b == b'.'));
    let digits = || int.iter().chain(frac).copied();
    let Some(lead) = digits().position(|b| b != b'0') else {
        return true; // zero, whatever the exponent
    };
    // Decimal exponent of the leading non-zero digit, saturating: anything past ±10^6 is decided anyway.
    let (sign, exp_digits) = match exponent.split_first() {
        Some((&sign @ (b'+' | b'-'), rest)) => (sign, rest),
        _ => (b'+', exponent),
    };
    let mut exp: i64 = 0;
    for &b in exp_digits {
        exp = (exp * 10 + i64::from(b.wrapping_sub(b'0'))).min(1_000_000);
    }
    if sign == b'-' {
        exp = -exp;
    }
    let magnitude = int.len() as i64 - 1 - lead as i64 + exp;
    if magnitude != 308 {
        return magnitude < 308;
    }
    let mut significant = digits().skip(lead);
    for &limit in F64_OVERFLOW {
        match significant.next() {
            Some(d) if d < limit => return true,
            Some(d) if d > limit => return false,
            Some(_) => {}
            None => return true, // a proper prefix of the halfway point (whose last digit is not 0)
        }
    }
    false // equal to the halfway point (ties round to even: infinity) or above it
}

/// The eight bytes of `bytes` from `at` as a little-endian word, when there are that many.
#[inline(always)]
pub(crate) fn word_at(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk = bytes.get(at..at.checked_add(8)?)?;
    <[u8; 8]>::try_from(chunk).ok().map(u64::from_le_bytes)
}

/// Up to eight bytes as a little-endian word, zero-padded (for comparing with [`word_at`] under a mask).
pub(crate) const fn word(s: &[u8]) -> u64 {
    let mut w = 0u64;
    let mut i = 0;
    while i < s.len() && i < 8 {
        w |= (s[i] as u64) << (8 * i);
        i += 1;
    }
    w
}

/// The mask of a word's first `n` bytes (`n` from 1 to 8).
pub(crate) const fn low_bytes(n: u32) -> u64 {
    u64::MAX >> (64 - 8 * n)
}

fn invalid(reason: &str, offset: usize) -> Diagnostic {
    Diagnostic::new(Code::InvalidJson, "").with("reason", reason).with_number("offset", offset as u64)
}

fn too_deep() -> Diagnostic {
    Diagnostic::new(Code::JsonTooDeep, "").with_number("limit", MAX_DEPTH as u64)
}

/// An open container while reading.
enum Frame {
    Array(Vec<Value>),
    /// Entries so far and the key whose value is being read.
    Object(Vec<(String, Value)>, String),
}

/// The end of the run of bytes from `i` that need no attention in a string (everything but `"`, `\\`
/// and controls): eight bytes at a time while none of them does, then byte by byte.
fn plain_run(bytes: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = bytes.get(i..i + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
        let w = u64::from_le_bytes(chunk);
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        // High bit set in a lane for a zero lane of `quote` or `backslash`, or a lane of `w` below 0x20
        // (a borrow can only run upwards from a true one).
        let special = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (w.wrapping_sub(ONES * 0x20) & !w);
        if special & HIGH != 0 {
            // The lowest flagged lane is the first such byte: a false flag can only sit above a true one.
            return i + (special & HIGH).trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            break;
        }
        i += 1;
    }
    i
}

/// The reader: a position in the text. Crate-visible so that the consent and batch validators can read
/// straight from the text (borrowing strings and numbers, building no [`Value`]) with the very checks,
/// in the very order, that [`parse`] makes; so both give the same first error.
pub(crate) struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Reader { text, bytes: text.as_bytes(), pos: 0 }
    }

    #[inline(always)]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline(always)]
    pub(crate) fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    pub(crate) fn unexpected(&self, what: &str) -> Diagnostic {
        match self.peek() {
            None => invalid("unexpected end of input", self.pos),
            Some(_) => invalid(what, self.pos),
        }
    }

    /// After a whole value: only whitespace may follow.
    pub(crate) fn end(&mut self) -> Result<(), Diagnostic> {
        self.skip_ws();
        if self.pos < self.bytes.len() {
            return Err(invalid("unexpected characters after the value", self.pos));
        }
        Ok(())
    }

    /// Opens the container at `pos` (`{` or `[`) inside `depth` open ones, and skips the whitespace
    /// after it. True when it closes right away (`{}`, `[]`).
    pub(crate) fn open(&mut self, depth: usize, close: u8) -> Result<bool, Diagnostic> {
        if depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(true);
        }
        Ok(false)
    }

    /// After an element of a container (whitespace skipped): `,` (true, whitespace after it skipped
    /// too), the closing byte (false), or the error [`parse`] reports.
    pub(crate) fn next(&mut self, close: u8) -> Result<bool, Diagnostic> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                self.skip_ws();
                Ok(true)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(self.unexpected(if close == b']' { "expected ',' or ']'" } else { "expected ',' or '}'" })),
        }
    }

    fn literal(&mut self, word: &[u8], value: Value) -> Result<Value, Diagnostic> {
        let end = self.pos + word.len();
        if self.bytes.get(self.pos..end) == Some(word) {
            self.pos = end;
            Ok(value)
        } else {
            Err(invalid("invalid literal", self.pos))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Reads a number; its source text.
    pub(crate) fn number(&mut self) -> Result<&'a str, Diagnostic> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(invalid("leading zero in number", start));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.unexpected("invalid number")),
        }
        let mut plain = true;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.unexpected("digit expected after decimal point"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            plain = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.unexpected("digit expected in exponent"));
            }
        }
        let raw = self.text.get(start..self.pos).ok_or_else(|| invalid("invalid number", start))?;
        // Without an exponent, fewer than 309 digits always fit.
        let fits = (plain && raw.len() < 309) || fits_f64(raw);
        if !fits {
            return Err(invalid("number out of range", start));
        }
        Ok(raw)
    }

    fn hex4(&mut self) -> Result<u32, Diagnostic> {
        let mut n = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                _ => return Err(self.unexpected("invalid \\u escape")),
            };
            n = n * 16 + u32::from(d);
            self.pos += 1;
        }
        Ok(n)
    }

    /// Reads a string; `pos` is on the opening quote. Borrowed from the text unless it has escapes.
    pub(crate) fn string(&mut self) -> Result<Cow<'a, str>, Diagnostic> {
        self.pos += 1;
        let mut out: Option<String> = None;
        let mut run = self.pos;
        loop {
            self.pos = plain_run(self.bytes, self.pos);
            // `run..pos` ends just before an ASCII byte (or at the end), so it is a char boundary.
            let chunk = self.text.get(run..self.pos).unwrap_or_default();
            match self.peek() {
                None => return Err(invalid("unterminated string", self.pos)),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(match out {
                        None => Cow::Borrowed(chunk),
                        Some(mut s) => {
                            s.push_str(chunk);
                            Cow::Owned(s)
                        }
                    });
                }
                Some(b'\\') => {
                    let out = out.get_or_insert_with(String::new);
                    out.push_str(chunk);
                    let at = self.pos;
                    self.pos += 1;
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let hi = self.hex4()?;
                            let code = match hi {
                                0xD800..=0xDBFF => {
                                    if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                        return Err(invalid("lone surrogate in \\u escape", at));
                                    }
                                    self.pos += 2;
                                    let lo = self.hex4()?;
                                    if !(0xDC00..=0xDFFF).contains(&lo) {
                                        return Err(invalid("lone surrogate in \\u escape", at));
                                    }
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                }
                                0xDC00..=0xDFFF => return Err(invalid("lone surrogate in \\u escape", at)),
                                c => c,
                            };
                            // Every code here is a scalar value; the fallback is unreachable.
                            out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                            run = self.pos;
                            continue;
                        }
                        _ => return Err(self.unexpected("invalid escape")),
                    };
                    out.push(c);
                    self.pos += 1;
                    run = self.pos;
                }
                Some(_) => return Err(invalid("control character in string", self.pos)),
            }
        }
    }

    /// Reads a string without escapes (`pos` on its opening quote), as [`Reader::string`] would; `None`,
    /// with `pos` unchanged, for any other string, which `string` then reads (and judges).
    #[inline]
    pub(crate) fn plain_string(&mut self) -> Option<&'a str> {
        let start = self.pos + 1;
        let end = plain_run(self.bytes, start);
        if self.bytes.get(end) != Some(&b'"') {
            return None;
        }
        // `start..end` lies between two quotes, ASCII bytes: char boundaries.
        let s = self.text.get(start..end)?;
        self.pos = end + 1;
        Some(s)
    }

    /// Reads `"key"` `:` and the whitespace after it.
    pub(crate) fn key(&mut self) -> Result<Cow<'a, str>, Diagnostic> {
        if self.peek() != Some(b'"') {
            return Err(self.unexpected("expected a string key"));
        }
        let key = self.string()?;
        self.colon()?;
        Ok(key)
    }

    /// After a key: whitespace, `:` and whitespace, or the error [`parse`] reports.
    pub(crate) fn colon(&mut self) -> Result<(), Diagnostic> {
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(self.unexpected("expected ':'"));
        }
        self.pos += 1;
        self.skip_ws();
        Ok(())
    }

    /// The 16 bytes after `pos` (which is on a `"`) as two little-endian words, when the text has
    /// them: a caller that knows the keys to expect can recognise one without reading it as a string.
    #[inline(always)]
    pub(crate) fn words_after_quote(&self) -> Option<(u64, u64)> {
        if self.peek() != Some(b'"') {
            return None;
        }
        let at = self.pos + 1;
        Some((word_at(self.bytes, at)?, word_at(self.bytes, at + 8)?))
    }

    /// Reads one value at `pos` (whitespace before it already skipped) inside `depth` open containers,
    /// without recursion. With `KEEP` false the value is only checked, not built (the result is
    /// `Null`, and nothing is allocated but for escaped strings and nesting).
    pub(crate) fn value<const KEEP: bool>(&mut self, depth: usize) -> Result<Value, Diagnostic> {
        let mut stack: Vec<Frame> = Vec::new();
        'value: loop {
            // Read one value, or open a container and go round again for its first element.
            let mut done = match self.peek() {
                Some(b'{') => {
                    if self.open(depth + stack.len(), b'}')? {
                        Value::Object(Vec::new())
                    } else {
                        let key = self.key()?;
                        let key = if KEEP { key.into_owned() } else { String::new() };
                        stack.push(Frame::Object(if KEEP { Vec::with_capacity(8) } else { Vec::new() }, key));
                        continue 'value;
                    }
                }
                Some(b'[') => {
                    if self.open(depth + stack.len(), b']')? {
                        Value::Array(Vec::new())
                    } else {
                        stack.push(Frame::Array(if KEEP { Vec::with_capacity(4) } else { Vec::new() }));
                        continue 'value;
                    }
                }
                Some(b'"') => {
                    let s = self.string()?;
                    if KEEP {
                        Value::String(s.into_owned())
                    } else {
                        Value::Null
                    }
                }
                Some(b'-' | b'0'..=b'9') => {
                    let raw = self.number()?;
                    if KEEP {
                        Value::Number(raw.to_owned())
                    } else {
                        Value::Null
                    }
                }
                Some(b't') => self.literal(b"true", Value::Bool(true))?,
                Some(b'f') => self.literal(b"false", Value::Bool(false))?,
                Some(b'n') => self.literal(b"null", Value::Null)?,
                _ => return Err(self.unexpected("expected a value")),
            };
            // Hand the finished value to its container; close containers as far as the input says.
            loop {
                match stack.last_mut() {
                    None => return Ok(done),
                    Some(Frame::Array(items)) => {
                        if KEEP {
                            items.push(done);
                        }
                        if self.next(b']')? {
                            continue 'value;
                        }
                        done = match stack.pop() {
                            Some(Frame::Array(items)) if KEEP => Value::Array(items),
                            _ => Value::Null,
                        };
                    }
                    Some(Frame::Object(entries, key)) => {
                        if KEEP {
                            entries.push((core::mem::take(key), done));
                        }
                        if self.next(b'}')? {
                            let next = self.key()?;
                            if let (true, Some(Frame::Object(_, key))) = (KEEP, stack.last_mut()) {
                                *key = next.into_owned();
                            }
                            continue 'value;
                        }
                        done = match stack.pop() {
                            Some(Frame::Object(entries, _)) if KEEP => Value::Object(entries),
                            _ => Value::Null,
                        };
                    }
                }
            }
        }
    }
}

/// Parses JSON text. Errors are `request/invalid-json` (with `reason` and `offset`, a byte offset) or
/// `request/json-too-deep` (with `limit`).
pub fn parse(text: &str) -> Result<Value, Diagnostic> {
    let mut r = Reader::new(text);
    r.skip_ws();
    let v = r.value::<true>(0)?;
    r.end()?;
    Ok(v)
}

/// Parses JSON bytes; non-UTF-8 input is `request/invalid-utf8`.
pub fn parse_bytes(bytes: &[u8]) -> Result<Value, Diagnostic> {
    match core::str::from_utf8(bytes) {
        Ok(s) => parse(s),
        Err(_) => Err(Diagnostic::new(Code::InvalidUtf8, "")),
    }
}

/// Appends `n` to `out` in decimal, as JSON writes a non-negative integer.
///
/// (Used instead of `to_string`, which would put `core::fmt` into the wasm build.)
pub fn write_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut start = buf.len();
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        start -= 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // ASCII digits: the fallback is unreachable.
    out.push_str(core::str::from_utf8(buf.get(start..).unwrap_or_default()).unwrap_or_default());
}

/// Appends `s` to `out` as a JSON string literal (quotes included).
pub fn write_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut run = 0;
    loop {
        // The bytes to escape are the ones a string scan stops at: `"`, `\` and controls.
        let i = plain_run(bytes, run);
        // `i` is on an ASCII byte or the end, so both slices end on char boundaries.
        out.push_str(s.get(run..i).unwrap_or_default());
        let Some(&b) = bytes.get(i) else { break };
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            _ => "",
        };
        if esc.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(esc);
        }
        run = i + 1;
    }
    out.push('"');
}

/// Appends `value` to `out` as compact JSON. Recurses once per level: values from [`parse`] are at most
/// [`MAX_DEPTH`] deep.
pub fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(raw) => out.push_str(raw),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write_value(out, v);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xorshift::Rng;

    fn ok(text: &str) -> Value {
        match parse(text) {
            Ok(v) => v,
            Err(d) => panic!("{text:?}: {d:?}"),
        }
    }

    /// (text, reason, offset)
    fn bad(text: &str) -> (String, String) {
        match parse(text) {
            Ok(v) => panic!("{text:?} parsed as {v:?}"),
            Err(d) => {
                assert_eq!(d.code, Code::InvalidJson, "{text:?}");
                (d.param("reason").unwrap_or("").to_owned(), d.param("offset").unwrap_or("").to_owned())
            }
        }
    }

    fn s(x: &str) -> Value {
        Value::String(x.into())
    }

    fn n(x: &str) -> Value {
        Value::Number(x.into())
    }

    #[test]
    fn numbers_outside_f64_are_refused_like_serde_json() {
        for (text, ok) in [
            ("0.1e501", false),
            ("1e309", false),
            ("-1e309", false),
            ("1e308", true),
            ("1.7976931348623157e308", true),
            ("1.7976931348623158e308", true),
            ("1.797693134862315808e308", false),
            ("179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791", true),
            ("179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792", false),
            ("0.0000000001e318", true),
            ("0.00000000001e320", false),
            ("1e-400", true),
            ("0e999999999999999999999", true),
            ("1e999999999999999999999", false),
            ("1e-999999999999999999999", true),
            ("123", true),
        ] {
            assert_eq!(parse(text).is_ok(), ok, "{text}");
            // std's parser rounds correctly; serde_json's default (no `float_roundtrip`) is a little off
            // right at the boundary, so it is only the oracle away from it.
            assert_eq!(text.parse::<f64>().is_ok_and(f64::is_finite), ok, "std on {text}");
            if !text.contains("e308") && text.len() < 300 {
                assert_eq!(serde_json::from_str::<serde_json::Value>(text).is_ok(), ok, "serde_json on {text}");
            }
        }
    }

    #[test]
    fn accepts_the_grammar() {
        let cases: &[(&str, Value)] = &[
            ("null", Value::Null),
            (" true ", Value::Bool(true)),
            ("\t\r\nfalse\n", Value::Bool(false)),
            ("0", n("0")),
            ("-0", n("-0")),
            ("-12.5e+3", n("-12.5e+3")),
            ("1E-2", n("1E-2")),
            ("18446744073709551616", n("18446744073709551616")),
            ("\"\"", s("")),
            (r#""a\"b\\c\/d\b\f\n\r\t""#, s("a\"b\\c/d\u{8}\u{c}\n\r\t")),
            (r#""\u00e7\u011F""#, s("çğ")),
            (r#""\ud83d\ude00""#, s("😀")),
            ("\"İstanbul ş 😀\"", s("İstanbul ş 😀")),
            ("[]", Value::Array(vec![])),
            ("{}", Value::Object(vec![])),
            ("[ 1 , [ ] , { } ]", Value::Array(vec![n("1"), Value::Array(vec![]), Value::Object(vec![])])),
            (
                r#"{"a":1,"b":{"c":[true]},"a":2}"#,
                Value::Object(vec![
                    ("a".into(), n("1")),
                    ("b".into(), Value::Object(vec![("c".into(), Value::Array(vec![Value::Bool(true)]))])),
                    ("a".into(), n("2")),
                ]),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&ok(text), want, "{text:?}");
        }
    }

    #[test]
    fn refuses_everything_else_with_reason_and_offset() {
        let cases: &[(&str, &str, &str)] = &[
            ("", "unexpected end of input", "0"),
            ("   ", "unexpected end of input", "3"),
            ("[1,]", "expected a value", "3"),
            ("{\"a\":1,}", "expected a string key", "7"),
            ("{\"a\" 1}", "expected ':'", "5"),
            ("{a:1}", "expected a string key", "1"),
            ("[1 2]", "expected ',' or ']'", "3"),
            ("{\"a\":1 \"b\":2}", "expected ',' or '}'", "7"),
            ("01", "leading zero in number", "0"),
            ("-01", "leading zero in number", "0"),
            ("1.", "unexpected end of input", "2"),
            ("1.e3", "digit expected after decimal point", "2"),
            ("1e", "unexpected end of input", "2"),
            ("+1", "expected a value", "0"),
            ("-", "unexpected end of input", "1"),
            ("-x", "invalid number", "1"),
            (".5", "expected a value", "0"),
            ("NaN", "expected a value", "0"),
            ("Infinity", "expected a value", "0"),
            ("nul", "invalid literal", "0"),
            ("tru e", "invalid literal", "0"),
            ("'a'", "expected a value", "0"),
            ("\"abc", "unterminated string", "4"),
            ("\"a\nb\"", "control character in string", "2"),
            ("\"a\u{7f}b\"x", "unexpected characters after the value", "5"),
            ("\"\\x\"", "invalid escape", "2"),
            ("\"\\u12\"", "invalid \\u escape", "5"),
            ("\"\\ud800\"", "lone surrogate in \\u escape", "1"),
            ("\"\\ud800\\u0041\"", "lone surrogate in \\u escape", "1"),
            ("\"\\udc00\"", "lone surrogate in \\u escape", "1"),
            ("1 2", "unexpected characters after the value", "2"),
            ("{} x", "unexpected characters after the value", "3"),
            ("// c\n1", "expected a value", "0"),
            ("[1]/*c*/", "unexpected characters after the value", "3"),
            ("\u{feff}{}", "expected a value", "0"),
            ("\u{a0}1", "expected a value", "0"),
            ("[", "unexpected end of input", "1"),
            ("{\"a\":", "unexpected end of input", "5"),
        ];
        for (text, reason, offset) in cases {
            assert_eq!(bad(text), ((*reason).to_owned(), (*offset).to_owned()), "{text:?}");
        }
    }

    #[test]
    fn plain_run_stops_where_the_byte_loop_would() {
        let naive =
            |b: &[u8], i: usize| i + b[i..].iter().take_while(|&&c| c != b'"' && c != b'\\' && c >= 0x20).count();
        for special in 0..=255u8 {
            for at in 0..20 {
                for start in 0..3 {
                    let mut text = vec![b'a'; 21];
                    text[at] = special;
                    text[(at + 7) % 21] = 0xC3;
                    assert_eq!(plain_run(&text, start), naive(&text, start), "byte {special:#x} at {at} from {start}");
                }
            }
        }
        // Several special and high bytes in one word.
        let alphabet = [b'a', b'"', b'\\', 0, 0x1f, 0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xff];
        let mut rng = Rng(0x0123_4567_89AB_CDEF);
        for _ in 0..200_000 {
            let x = rng.next();
            let len = 1 + (x % 19) as usize;
            let text: Vec<u8> = (0..len).map(|i| alphabet[((x >> (3 * i)) as usize) % alphabet.len()]).collect();
            let start = (x >> 60) as usize % len;
            assert_eq!(plain_run(&text, start), naive(&text, start), "{text:?} from {start}");
        }
    }

    #[test]
    fn depth_is_bounded_without_recursion() {
        let deep_ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&deep_ok).is_ok());
        let objects = format!("{}1{}", "{\"a\":".repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
        assert!(parse(&objects).is_ok());
        for text in [
            format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1)),
            "[".repeat(1_000_000),
            "{\"a\":".repeat(1_000_000),
        ] {
            let d = parse(&text).unwrap_err();
            assert_eq!(d.code, Code::JsonTooDeep);
            assert_eq!(d.param("limit"), Some("64"));
        }
    }

    #[test]
    fn bytes_must_be_utf8() {
        assert_eq!(parse_bytes(b"\"\xff\"").unwrap_err().code, Code::InvalidUtf8);
        assert_eq!(parse_bytes(b"[1]").unwrap(), Value::Array(vec![n("1")]));
    }

    #[test]
    fn writer_round_trips() {
        let mut out = String::new();
        write_str(&mut out, "a\"\\\n\r\t\u{1}\u{1f}ç😀/");
        assert_eq!(out, r#""a\"\\\n\r\t\u0001\u001fç😀/""#);
        assert_eq!(ok(&out), s("a\"\\\n\r\t\u{1}\u{1f}ç😀/"));
        for text in [r#"{"a":[1,-2.5e3,"x",null,true,false,{}],"a":{"b":[]}}"#, "[]", "\"\"", "0"] {
            assert_eq!(ok(text).to_json(), text);
        }
    }

    #[test]
    fn write_str_escapes_exactly_quotes_backslashes_and_controls() {
        fn reference(s: &str) -> String {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        let alphabet = ['a', '"', '\\', '\n', '\r', '\t', '\u{0}', '\u{1f}', ' ', '\u{7f}', 'ç', '😀', '/', 'Z'];
        let mut rng = Rng(0x5DEE_CE66_D1CE_4E5B);
        for _ in 0..50_000 {
            let x = rng.next();
            let len = (x % 21) as usize;
            let s: String = (0..len).map(|i| alphabet[((x >> (2 * i)) as usize) % alphabet.len()]).collect();
            let mut out = String::new();
            write_str(&mut out, &s);
            assert_eq!(out, reference(&s), "{s:?}");
            assert_eq!(ok(&out), Value::String(s));
        }
    }

    #[test]
    fn write_u64_is_decimal() {
        for n in [0, 7, 10, 99, 1_000, 4_294_967_296, u64::MAX] {
            let mut out = String::from("x");
            write_u64(&mut out, n);
            assert_eq!(out, format!("x{n}"));
        }
    }

    #[test]
    fn accessors() {
        let v = ok(r#"{"a":"x","a":"y"}"#);
        assert_eq!(v.get("a").and_then(Value::as_str), Some("x"));
        assert_eq!(v.get("b"), None);
        assert_eq!(s("x").get("a"), None);
        assert_eq!(plain_u64("42"), Some(42));
        for raw in ["", "-1", "1.0", "1e3", "18446744073709551616"] {
            assert_eq!(plain_u64(raw), None, "{raw}");
        }
        assert_eq!(plain_u64("18446744073709551615"), Some(u64::MAX));
    }
}
