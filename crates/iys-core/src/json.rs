//! A small, strict JSON reader and writer. PLACEHOLDER — being replaced by the consent work.
//!
//! Objects keep their keys in order *with duplicates* (so a validator can report them), numbers keep
//! their source text, nesting is bounded by [`MAX_DEPTH`].

use crate::diagnostic::{Code, Diagnostic};

/// Deepest nesting accepted.
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
}

/// Parses JSON text. Errors are `request/invalid-json` (with `reason` and `offset`) or `request/json-too-deep`.
pub fn parse(text: &str) -> Result<Value, Diagnostic> {
    let _ = text;
    Err(Diagnostic::new(Code::InvalidJson, "").with("reason", "not implemented").with("offset", "0"))
}

/// Parses JSON bytes; non-UTF-8 input is `request/invalid-utf8`.
pub fn parse_bytes(bytes: &[u8]) -> Result<Value, Diagnostic> {
    match core::str::from_utf8(bytes) {
        Ok(s) => parse(s),
        Err(_) => Err(Diagnostic::new(Code::InvalidUtf8, "")),
    }
}

/// Appends `s` to `out` as a JSON string literal (quotes included).
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
