//! How diagnostics are written: JSON objects (`--json`) and human lines.

use std::borrow::Cow;

use iys_core::diagnostic::{Diagnostic, Lang};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

/// A diagnostic as the JSON output carries it.
#[derive(Debug, Serialize)]
pub struct DiagnosticJson<'a> {
    /// The stable `area/reason` code.
    pub code: &'static str,
    /// IYS's own H-code for the problem, or null.
    pub iys_code: Option<&'static str>,
    /// JSON Pointer into the record (`/recipient`), `""` for the record itself.
    pub path: &'a str,
    /// The message in the chosen language.
    pub message: String,
    /// The named values the message was built from.
    pub params: Params<'a>,
}

/// A diagnostic's params as a JSON object.
#[derive(Debug)]
pub struct Params<'a>(&'a [(&'static str, String)]);

impl Serialize for Params<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'a> DiagnosticJson<'a> {
    /// The JSON form of `d`, with its message in `lang`.
    pub fn new(d: &'a Diagnostic, lang: Lang) -> Self {
        DiagnosticJson {
            code: d.code.as_str(),
            iys_code: d.code.iys_code(),
            path: &d.path,
            message: d.message(lang),
            params: Params(&d.params),
        }
    }
}

/// The errors of `diags`, as JSON.
pub fn errors_json(diags: &[Diagnostic], lang: Lang) -> Vec<DiagnosticJson<'_>> {
    diags.iter().filter(|d| d.is_error()).map(|d| DiagnosticJson::new(d, lang)).collect()
}

/// The warnings of `diags`, as JSON.
pub fn warnings_json(diags: &[Diagnostic], lang: Lang) -> Vec<DiagnosticJson<'_>> {
    diags.iter().filter(|d| !d.is_error()).map(|d| DiagnosticJson::new(d, lang)).collect()
}

/// Most characters of an input value a human line echoes; a longer one is cut there and ends
/// in `…` (a stray `"` can make a cell of a whole megabyte, which helps no one on a terminal).
pub const ECHO_CHARS: usize = 80;

/// `value` as a human line shows it: at most [`ECHO_CHARS`] characters, [`escaped`].
pub fn shown(value: &str) -> Cow<'_, str> {
    match value.char_indices().nth(ECHO_CHARS) {
        None => escaped(value),
        Some((cut, _)) => Cow::Owned(format!("{}…", escaped(&value[..cut]))),
    }
}

/// `value` with its control characters (C0, DEL, C1) written out as `\n`, `\r`, `\t` or
/// `\u{1b}`: a crafted cell echoed to a terminal could otherwise forge report lines with a line
/// break, or send escape sequences (`ESC [`, or C1's one-byte CSI).
pub fn escaped(value: &str) -> Cow<'_, str> {
    if !value.chars().any(char::is_control) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `error consent/date-before-2015 [H156] at /consentDate: <message>`, with the input values
/// in the message and path as [`shown`] makes them.
pub fn human(out: &mut String, d: &Diagnostic, lang: Lang) {
    let trimmed;
    let d =
        if d.params.iter().any(|(_, v)| matches!(shown(v), Cow::Owned(_))) || matches!(shown(&d.path), Cow::Owned(_)) {
            let mut copy = d.clone();
            for (_, v) in &mut copy.params {
                if let Cow::Owned(s) = shown(v) {
                    *v = s;
                }
            }
            if let Cow::Owned(s) = shown(&copy.path) {
                copy.path = s;
            }
            trimmed = copy;
            &trimmed
        } else {
            d
        };
    out.push_str(d.severity().as_str());
    out.push(' ');
    out.push_str(d.code.as_str());
    if let Some(h) = d.code.iys_code() {
        out.push_str(" [");
        out.push_str(h);
        out.push(']');
    }
    if !d.path.is_empty() {
        out.push_str(" at ");
        out.push_str(&d.path);
    }
    out.push_str(": ");
    out.push_str(&d.message(lang));
}

/// Appends `n` in decimal.
pub fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&digits[i..]).unwrap_or_default());
}

/// Appends `value` as one JSON line to `out`.
pub fn json_line(out: &mut Vec<u8>, value: &impl Serialize) {
    // Serializing these plain structs into a Vec cannot fail.
    if serde_json::to_writer(&mut *out, value).is_ok() {
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iys_core::diagnostic::Code;

    #[test]
    fn control_characters_in_a_value_are_written_out() {
        let d = Diagnostic::new(Code::InvalidType, "/ty\npe")
            .with("value", "x\nrecord 5 (line 9): error \x1b[2J\u{9b}1m\x7f\t\r");
        let mut line = String::new();
        human(&mut line, &d, Lang::En);
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert!(line.contains("at /ty\\npe:"), "{line}");
        assert!(line.contains(r"not x\nrecord 5 (line 9): error \u{1b}[2J\u{9b}1m\u{7f}\t\r."), "{line}");
        assert_eq!(escaped("ali@example.com ş"), "ali@example.com ş");
    }

    #[test]
    fn a_long_value_is_cut_in_the_human_line() {
        let long = "x".repeat(2_000_000);
        let d = Diagnostic::new(Code::InvalidType, "/type").with("value", long);
        let mut line = String::new();
        human(&mut line, &d, Lang::En);
        assert!(line.len() < 300, "{} bytes", line.len());
        assert!(line.contains(&format!("not {}….", "x".repeat(ECHO_CHARS))), "{line}");
        // Cut on a char boundary; short values as they are.
        assert_eq!(shown(&"ş".repeat(81)), format!("{}…", "ş".repeat(80)));
        assert_eq!(shown("MESAJX"), "MESAJX");
    }
}
